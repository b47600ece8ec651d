"""The sections of the configuration: one frozen pydantic model per part of a run.

Each section is drawn by the Prefect UI as a titled part of the run form, and each field becomes
a ``retrain`` flag of the same name, so field names are unique across the sections.
`rnn_retrain.config.retrain` puts them together.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rnn_retrain.config.secrets import Location

Cell = Literal["simplernn", "gru", "lstm"]
Side = Literal["pre", "post"]
Policy = Literal["better", "not_worse"]
DataCheck = Literal[
    "duplicates", "class_balance", "leakage", "truncation", "oov_rate", "length_drift"
]
TaskRunnerName = Literal["local", "dask"]
Recipe = Literal["tutorial", "strong", "hybrid"]
Pooling = Literal["last", "max_mean"]
Schedule = Literal["constant", "cosine"]

FROZEN = ConfigDict(frozen=True, extra="forbid")
# The registered model every flow, flag and watcher names unless told otherwise.
DEFAULT_MODEL_NAME = "review-sentiment"


def normalise_cell(value: object) -> object:
    """Accept the Keras class names too: SimpleRNN, simple_rnn, GRU, LSTM."""
    if isinstance(value, str):
        return value.strip().lower().replace("_", "").replace("-", "")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value.strip()


class DataSettings(BaseModel):
    """Where the reviews come from and how they are split."""

    model_config = FROZEN

    data: Location = Field(
        "demo",
        description=(
            "Where the reviews come from: 'demo' (built-in generated corpus, offline), 'imdb' "
            "(downloads the Stanford aclImdb archive), or a path/URI to a Parquet file, folder or "
            "glob, a CSV file, or a local aclImdb_v1.tar.gz."
        ),
    )
    text_column: str = Field("text", description="Column holding the review text (own files only).")
    label_column: str = Field(
        "label",
        description=(
            "Column holding the label: 0/1, true/false, pos/neg or positive/negative (binary), "
            "or K classes: integers (ordered by value) or strings (ordered as text)."
        ),
    )
    split_column: str = Field(
        "split",
        description=(
            "Column with 'train'/'test' per row. If the file has no such column, rows are split "
            "by a hash of their text, so a review keeps its split when new rows are appended."
        ),
    )
    group_column: str = Field(
        "",
        description=(
            "Column naming the group each row belongs to (a movie or product id), or empty for "
            "none. Rows of one group stay together: all in validation or all in training (and, "
            "with no split column, all in train or all in test). Reviews of one movie resemble "
            "each other, so a split that shares movies between its sides reads optimistic."
        ),
    )
    test_fraction: float = Field(
        0.2, gt=0.0, lt=1.0, description="Share of rows sent to test by the hash split."
    )
    demo_size: int = Field(
        8000, ge=100, le=1_000_000, description="Number of reviews generated for data='demo'."
    )
    demo_classes: int = Field(
        2,
        ge=2,
        le=8,
        description=(
            "Classes of data='demo': 2 is the sentiment corpus (labels 0/1); more generates "
            "topic-labelled reviews with string labels (which aspect of the film a review is "
            "about)."
        ),
    )
    max_classes: int = Field(
        100,
        ge=2,
        le=128,
        description=(
            "Most distinct labels accepted: a label column with more is refused, as it is more "
            "likely an id or free text than a set of classes."
        ),
    )
    chunk_rows: int = Field(
        100_000,
        ge=1,
        le=10_000_000,
        description=(
            "Most rows a data stage holds in memory at once. Ingest, tokenize, validate, pad, "
            "train and evaluate stream larger data in chunks of this many rows (pad shuffles the "
            "rows so each chunk is a random sample). Lower it when the data does not fit in memory."
        ),
    )

    @field_validator("data", "text_column", "label_column", "split_column")
    @classmethod
    def _required(cls, value: str) -> str:
        return _not_blank(value)


class ModelSettings(BaseModel):
    """The network: the tutorial's Embedding → recurrent layer(s) → Dropout → Dense."""

    model_config = FROZEN

    recipe: Recipe = Field(
        "tutorial",
        description=(
            "'tutorial': the Keras IMDB tutorial's recipe (the defaults below). 'strong': a "
            "measured better recipe of the recurrent network alone. 'hybrid': the strong "
            "network beside an n-gram branch, trained together (wide and deep). A preset puts "
            "its value in every field still at its tutorial default (see docs/configuration.md, "
            "'Recipes'); a field set to anything else keeps the value given."
        ),
    )
    cell: Cell = Field("lstm", description="Recurrent cell: simplernn, gru or lstm.")
    units: int = Field(32, ge=1, le=4096, description="Units in each recurrent layer.")
    embedding_dim: int = Field(32, ge=1, le=4096, description="Size of the word embedding.")
    dropout: float = Field(
        0.2, ge=0.0, lt=1.0, description="Dropout rate after the recurrent layers."
    )
    rnn_layers: int = Field(
        1, ge=1, le=8, title="RNN layers", description="Number of stacked recurrent layers."
    )
    bidirectional: bool = Field(False, description="Wrap each recurrent layer in Bidirectional.")
    pooling: Pooling = Field(
        "last",
        description=(
            "What the classifier reads from the last recurrent layer: 'last', its final state "
            "(the tutorial); 'max_mean', the max and the mean of its outputs over the review's "
            "real tokens (padding left out)."
        ),
    )
    embedding_dropout: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="Share of embedding channels dropped while training (SpatialDropout1D).",
    )
    ngrams: int = Field(
        0,
        ge=0,
        le=5,
        title="N-grams",
        description=(
            "Wide and deep: 0 is the recurrent network alone; n adds a branch over each "
            "review's 1- to n-grams of token ids (each counted once, weighted by naive Bayes "
            "log-count ratios fitted on the training rows), whose logit is added to the "
            "network's and learnt with it."
        ),
    )
    ngram_buckets: int = Field(
        4_194_304,
        ge=2,
        le=67_108_864,
        title="N-gram buckets",
        description=(
            "Ids of the n-gram branch: unigrams keep their token ids, longer n-grams are hashed "
            "into the rest. Fewer buckets, more collisions; each costs 5 floats while training."
        ),
    )

    @field_validator("cell", mode="before")
    @classmethod
    def _normalise_cell(cls, value: object) -> object:
        return normalise_cell(value)


class TrainingSettings(BaseModel):
    """How the network is fitted."""

    model_config = FROZEN

    epochs: int = Field(10, ge=1, le=1000, description="Maximum number of training epochs.")
    learning_rate: float = Field(1e-3, gt=0.0, le=1.0, description="Adam learning rate.")
    learning_rate_schedule: Schedule = Field(
        "constant",
        description=(
            "'constant': learning_rate throughout; 'cosine': from learning_rate down along a "
            "cosine to near 0 at the last planned epoch, set per epoch."
        ),
    )
    batch_size: int = Field(60, ge=1, le=65536, description="Training batch size.")
    validation_fraction: float = Field(
        0.2,
        gt=0.0,
        lt=1.0,
        description=(
            "Share of the (shuffled) train split held out for validation and early stopping."
        ),
    )
    early_stopping_patience: int = Field(
        3,
        ge=0,
        description=(
            "Epochs without validation-loss improvement before training stops; the best weights "
            "are restored. 0 turns early stopping off."
        ),
    )
    seed: int = Field(
        1337,
        ge=0,
        description="Seed for the demo corpus, the validation split, shuffling and weight init.",
    )
    length_buckets: int = Field(
        8,
        ge=1,
        le=64,
        description=(
            "Train and score in batches of similar-length reviews, each padded to one of this "
            "many bucket lengths (quantiles of the train lengths; the longest is maxlen) instead "
            "of all to maxlen. 1 pads every review to maxlen, as the tutorial does."
        ),
    )
    xla: bool = Field(
        True,
        title="XLA",
        description=(
            "Compile the training step with XLA on CPU (about twice as fast here). Ignored on a "
            "GPU, where Keras uses the cuDNN kernels for LSTM and GRU instead."
        ),
    )
    warm_start: Literal["none", "champion"] = Field(
        "none",
        description=(
            "'champion': start from the current champion's weights when its architecture and "
            "classes match this run's: tokens both vocabularies hold keep their embedding rows, "
            "new tokens start fresh, and the fit runs warm_start_epochs. Otherwise, or 'none', "
            "start from random weights; a run that cannot start warm says why and starts cold."
        ),
    )
    # One: on IMDB a warm fit's validation loss was lowest after its first epoch, and one epoch
    # beat the cold fit's accuracy (benchmarks/RESULTS.md#warm-starts-on-imdb).
    warm_start_epochs: int = Field(
        1,
        ge=1,
        le=1000,
        description="Maximum training epochs of a warm-started fit (epochs applies to a cold one).",
    )
    training_threads: int = Field(
        0,
        ge=0,
        le=256,
        description=(
            "CPU threads TensorFlow may use to train (0: all cores). A sweep sets it per "
            "candidate so parallel candidates do not fight for cores."
        ),
    )
    baseline: bool = Field(
        True,
        description=(
            "Also fit a bag-of-words baseline (baseline_kind) on the same train rows, score it "
            "on the same test rows and compare it with the RNN (exact McNemar test). Takes "
            "seconds; false skips it."
        ),
    )
    baseline_kind: Literal["nb-logistic-regression", "tfidf-logistic-regression"] = Field(
        "nb-logistic-regression",
        description=(
            "The baseline: binary 1-3-grams weighted by naive Bayes log-count ratios, then "
            "logistic regression (two classes; K classes fit the TF-IDF one), or TF-IDF over "
            "1-2-grams, then logistic regression."
        ),
    )
    baseline_max_features: int = Field(
        800_000,
        ge=1,
        le=10_000_000,
        description="Most n-grams the baseline keeps, the most frequent first.",
    )
    baseline_min_df: int = Field(
        2,
        ge=1,
        title="Baseline min DF",
        description=(
            "Least number of train reviews a term must occur in to be a baseline feature (a "
            "corpus too small for it uses every term)."
        ),
    )


class TextSettings(BaseModel):
    """How texts become fixed-length rows of integer ids."""

    model_config = FROZEN

    vocab_size: int = Field(
        5000,
        ge=3,
        description="Vocabulary size, including id 0 (padding) and id 1 (out-of-vocabulary).",
    )
    maxlen: int = Field(500, ge=1, description="Length every sequence is padded or truncated to.")
    padding: Side = Field(
        "pre", description="Pad short sequences at the start (pre) or end (post)."
    )
    truncating: Side = Field(
        "pre", description="Cut long sequences at the start (pre, keeps the end) or end (post)."
    )


class DataGateSettings(BaseModel):
    """The checks on the data before any training; see docs/registry-and-gate.md."""

    model_config = FROZEN

    max_duplicate_share: float = Field(
        0.05,
        ge=0.0,
        le=1.0,
        description="Data gate: most of the rows whose text repeats an earlier row's text.",
    )
    min_class_share: float = Field(
        0.1,
        ge=0.0,
        le=0.5,
        description=(
            "Data gate: least share of the rarer label among the train rows; with K > 2 "
            "classes, of the rarest, against this limit times 2/K."
        ),
    )
    max_leakage_share: float = Field(
        0.01,
        ge=0.0,
        le=1.0,
        description="Data gate: most of the test rows whose text also appears in the train split.",
    )
    max_truncated_share: float = Field(
        0.25,
        ge=0.0,
        le=1.0,
        description="Data gate: most of the reviews that are longer than maxlen tokens (cut).",
    )
    max_oov_increase: float = Field(
        0.05,
        ge=0.0,
        le=1.0,
        description=(
            "Data gate: most the out-of-vocabulary token rate of the new data under the "
            "champion's vocabulary may exceed the champion's rate on its own training data."
        ),
    )
    max_length_psi: float = Field(
        0.25,
        ge=0.0,
        title="Max length PSI",
        description=(
            "Data gate: most population stability index of the train token lengths against the "
            "champion's training data (0.1: minor shift, 0.25: major)."
        ),
    )
    data_gate_errors: tuple[DataCheck, ...] = Field(
        ("class_balance", "leakage"),
        description=(
            "Data checks whose violation stops the run before training; the other checks only "
            "warn in the run report."
        ),
    )


class RegistrySettings(BaseModel):
    """Where models and artifacts are stored, and the champion/challenger gate."""

    model_config = FROZEN

    model_name: str = Field(
        DEFAULT_MODEL_NAME, description="Name of the registered model in the MLflow registry."
    )
    min_accuracy: float = Field(
        0.6,
        ge=0.0,
        le=1.0,
        description="Absolute floor: a model below this test accuracy never becomes champion.",
    )
    promotion_policy: Policy = Field(
        "better",
        description=(
            "'better': promote only when the challenger is significantly better than the champion "
            "(exact McNemar test on the same test rows); 'not_worse': promote unless it is "
            "significantly worse."
        ),
    )
    min_accuracy_gain: float = Field(
        0.0,
        ge=-1.0,
        le=1.0,
        description=(
            "The challenger's test accuracy minus the champion's must be at least this for a "
            "promotion (negative values allow a small loss under 'not_worse')."
        ),
    )
    significance_level: float = Field(
        0.05, gt=0.0, lt=1.0, description="Significance level of the McNemar test."
    )
    require_beat_baseline: bool = Field(
        False,
        description=(
            "Refuse to promote an RNN that is significantly worse than the bag-of-words "
            "baseline (exact McNemar test on the test rows at significance_level). Needs the "
            "baseline on."
        ),
    )
    approval: Literal["none", "required"] = Field(
        "none",
        description=(
            "'required': a challenger the gate would promote becomes champion only once a "
            "person approves it. The run pauses, and its page in the Prefect UI shows a form "
            "with the figures to approve or reject it, with a comment. Needs a Prefect server "
            "(PREFECT_API_URL) that the reviewer can reach. 'none': the gate promotes on its own."
        ),
    )
    approval_timeout_seconds: int = Field(
        86_400,
        ge=10,
        le=30 * 86_400,
        description=(
            "How long a run waits for approval. Unanswered by then, the champion is kept and "
            "the run log, the version's tags and the kept event say so."
        ),
    )
    tracking_uri: Location = Field(
        "",
        title="Tracking URI",
        description=(
            "MLflow tracking and registry URI. Empty means $MLFLOW_TRACKING_URI if set, else a "
            "SQLite store in $RETRAIN_HOME (sqlite:///~/.rnn-retrain/mlflow.db)."
        ),
    )
    artifact_root: Location = Field(
        "",
        description=(
            "Where run artifacts go: a local folder or a pyarrow filesystem URI (e.g. s3://bucket/"
            "prefix). Empty means $RETRAIN_HOME/artifacts (default ~/.rnn-retrain/artifacts)."
        ),
    )

    @field_validator("model_name")
    @classmethod
    def _required(cls, value: str) -> str:
        return _not_blank(value)


class SweepSettings(BaseModel):
    """The sweep's candidates and where they train."""

    model_config = FROZEN

    cells: tuple[Cell, ...] = Field(
        ("simplernn", "gru", "lstm"), min_length=1, description="Recurrent cells to try."
    )
    units_grid: tuple[int, ...] = Field(
        (), description="Units to try (empty: the units field alone)."
    )
    embedding_dim_grid: tuple[int, ...] = Field(
        (), description="Embedding sizes to try (empty: the embedding_dim field alone)."
    )
    dropout_grid: tuple[float, ...] = Field(
        (), description="Dropout rates to try (empty: the dropout field alone)."
    )
    task_runner: TaskRunnerName = Field(
        "local",
        description=(
            "Where candidates train: 'local' (threads in this process) or 'dask' (prefect-dask's "
            "DaskTaskRunner: a local cluster, or the scheduler at dask_address)."
        ),
    )
    dask_address: str = Field(
        "",
        description=(
            "Address of a running Dask scheduler (tcp://host:8786). Empty starts a local cluster "
            "of worker processes."
        ),
    )
    dask_workers: int = Field(
        0,
        ge=0,
        le=256,
        description="Workers of the local Dask cluster (0: one per candidate, at most the cores).",
    )
    threads_per_candidate: int = Field(
        1,
        ge=0,
        le=256,
        description="CPU threads each candidate trains with (0: TensorFlow's default, all cores).",
    )

    @field_validator("cells", mode="before")
    @classmethod
    def _normalise_cells(cls, value: object) -> object:
        if isinstance(value, (list, tuple)):
            return tuple(normalise_cell(cell) for cell in value)
        return value
