"""The typed contracts between stages, flows and reports: small frozen models of references and figures.

Tasks return these (never tables), Prefect persists them as the stages' cached results, flows
pass them on, and the terminal and UI reports read them. They hold artifact references, counts
and metrics, so they stay a few kilobytes whatever the data.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from rnn_retrain.config.retrain import RetrainConfig, SweepConfig
from rnn_retrain.config.scoring import ScoreConfig
from rnn_retrain.store.artifacts import ArtifactRef

Metrics = dict[str, float | int | None]
_FROZEN = ConfigDict(frozen=True)
Approval = Literal["not_required", "pending", "approved", "rejected", "timed_out"]


class IngestResult(BaseModel):
    """What ingest hands on: the snapshot reference and its counts."""

    model_config = _FROZEN

    snapshot: ArtifactRef
    rows: dict[str, int]
    dropped_empty: int
    split_method: str
    # The class names in id order (`rnn_retrain.data.labels`), and where ingest stored them.
    classes: list[str]
    labels: ArtifactRef


class TokenizeResult(BaseModel):
    """What tokenize hands on."""

    model_config = _FROZEN

    vocabulary: ArtifactRef
    token_ids: ArtifactRef
    vocabulary_size: int  # Ids in use, padding and OOV included: the embedding's input size.


class Finding(BaseModel):
    """One data check's figure, its limit and what it means."""

    model_config = _FROZEN

    check: str
    severity: Literal["ok", "warning", "error", "skipped"]
    value: float | None
    limit: float | None
    message: str


class ValidationResult(BaseModel):
    """What validate hands on: its findings and this run's data profile."""

    model_config = _FROZEN

    findings: list[Finding]
    profile: ArtifactRef


class PreparedData(BaseModel):
    """The data stages' results, shared by every model trained on them (the prepare_data subflow)."""

    model_config = _FROZEN

    ingested: IngestResult
    tokens: TokenizeResult
    validated: ValidationResult
    padded: ArtifactRef


class StartingPoint(BaseModel):
    """Where a fit starts: the champion's weights (warm) or random ones (cold), and why.

    Identified by the champion's version and its network's sha256, so a new champion is a new
    input to train's cache key and to the registered version's lineage.
    """

    model_config = _FROZEN

    version: str | None = None  # The champion version the weights come from; None: cold.
    model_sha256: str | None = None
    reason: str
    # The champion's network and vocabulary, copied into this run's artifacts (warm only).
    network: ArtifactRef | None = None
    vocabulary: ArtifactRef | None = None

    @property
    def warm(self) -> bool:
        return self.version is not None

    def describe(self) -> str:
        """One line for the run log and the summary."""
        return f"{'warm' if self.warm else 'cold'} start: {self.reason}"


class TrainResult(BaseModel):
    """What train hands on."""

    model_config = _FROZEN

    model: ArtifactRef
    history: ArtifactRef
    epochs_run: int
    best_epoch: int
    resumed_from_epoch: int = 0  # Epochs restored from a checkpoint of an interrupted attempt.
    train_rows: int
    validation_rows: int
    seconds: float
    length_buckets: list[int]  # The bucket lengths the model was trained at; scoring uses them.
    best_validation_loss: float  # Of the kept weights: what a sweep chooses on.
    classes: list[str]  # The class names of the network's outputs.
    validation_accuracy: float  # The kept weights' accuracy on the validation rows.
    # Where the fit started, with --warm-start champion (None: a cold start, not asked to warm).
    start: StartingPoint | None = None


class EvaluateResult(BaseModel):
    """What evaluate hands on."""

    model_config = _FROZEN

    metrics: Metrics
    predictions: ArtifactRef
    metrics_table: ArtifactRef
    classes: list[str]
    confusion: list[list[int]]  # Row: true class id; column: predicted class id.
    confusion_table: ArtifactRef


# Each kind of bag-of-words baseline (`rnn_retrain.stages.baseline`), in a few words.
BASELINE_DESCRIPTIONS = {
    "nb-logistic-regression": "NB-weighted logistic regression over binary 1–3-grams",
    "tfidf-logistic-regression": "TF-IDF over unigrams and bigrams plus logistic regression",
}


class BaselineResult(BaseModel):
    """The bag-of-words baseline: its test metrics, stored files, and how the RNN compares.

    The baseline stage fills in everything but the comparison; the comparison with the RNN's
    test predictions (exact McNemar test, b and c as in `mcnemar_exact`) comes after evaluate.
    """

    model_config = _FROZEN

    metrics: Metrics
    terms: ArtifactRef  # term, column, idf and the class weights: see `stages.baseline`.
    model: ArtifactRef  # Intercepts, classes and settings, as JSON.
    predictions: ArtifactRef  # Per test row, like evaluate's.
    train_rows: int
    features: int
    seconds: float
    kind: str  # The kind fitted: a key of `BASELINE_DESCRIPTIONS`.
    rnn_only_correct: int | None = None  # McNemar b: rows only the RNN got right.
    baseline_only_correct: int | None = None  # McNemar c: rows only the baseline got right.
    p_value: float | None = None

    def verdict(self, level: float) -> str:
        """How the RNN compares with the baseline, in one line, at significance level ``level``."""
        if self.p_value is None:
            return "not compared with the RNN"
        b, c = self.rnn_only_correct or 0, self.baseline_only_correct or 0
        if self.p_value >= level:
            verdict = "no significant difference between the RNN and the baseline"
        else:
            verdict = f"RNN significantly {'better' if b > c else 'worse'} than the baseline"
        return f"{verdict} (McNemar b={b} c={c} p={self.p_value:.4g}, level {level})"


class GateDecision(BaseModel):
    """The promotion decision and the numbers behind it."""

    model_config = _FROZEN

    promote: bool
    reason: str
    policy: str
    challenger_accuracy: float
    min_accuracy: float
    champion_version: str | None = None
    champion_accuracy: float | None = None
    accuracy_gain: float | None = None
    challenger_only_correct: int | None = None
    champion_only_correct: int | None = None
    p_value: float | None = None
    # With registry.approval "required": "pending" while a reviewer is asked (promote is then
    # false), then "approved", "rejected" or "timed_out"; who answered, their comment and when.
    approval: Approval = "not_required"
    reviewer: str | None = None
    reviewer_comment: str | None = None
    reviewed_at: str | None = None


class RegisterResult(BaseModel):
    """What register hands back to the flow."""

    model_config = _FROZEN

    model_name: str
    version: str
    decision: GateDecision
    mlflow_run_id: str
    tracking_uri: str
    experiment_id: str
    reused: bool


class StageDecision(BaseModel):
    """Whether a stage reused a cached result or ran, and why."""

    model_config = _FROZEN

    stage: str
    status: str  # "cached" or "ran"
    reason: str
    key: str


class RetrainSummary(BaseModel):
    """What a retraining run returns: its data counts, training facts, metrics and artifacts."""

    model_config = _FROZEN

    run_id: str | None
    config: RetrainConfig
    rows: dict[str, int]
    dropped_empty: int
    split_method: str
    vocabulary_size: int
    epochs_run: int
    best_epoch: int
    resumed_from_epoch: int = 0
    start: StartingPoint | None = None  # With --warm-start champion: where the fit began.
    train_rows: int
    validation_rows: int
    train_seconds: float
    validation_accuracy: float  # The kept weights', on the validation rows.
    metrics: Metrics
    classes: list[str]  # The label's class names, in id order.
    confusion: list[list[int]]  # Test rows by true (row) and predicted class.
    artifacts: dict[str, ArtifactRef]
    findings: list[Finding]  # The data gate's checks (warnings included; errors stop the run).
    stages: dict[str, StageDecision]  # Per cached stage: reused ("cached") or recomputed ("ran").
    registration: RegisterResult
    baseline: BaselineResult | None = None  # None when the run fitted no baseline.

    @property
    def validation_test_gap(self) -> float:
        """Validation accuracy minus test accuracy, in points of accuracy (0-1).

        Well above zero, the validation figure was optimistic: the validation rows resemble the
        train rows more than the test rows do (reviews of the same movies in both, for example:
        `source.group_column` keeps each group on one side).
        """
        return validation_test_gap(self.validation_accuracy, self.metrics)


def validation_test_gap(validation_accuracy: float, metrics: Metrics) -> float:
    """The kept weights' validation accuracy minus the test accuracy."""
    return validation_accuracy - float(metrics["accuracy"])


class CandidateOutcome(BaseModel):
    """One sweep candidate's configuration and what became of it."""

    model_config = _FROZEN

    name: str
    config: RetrainConfig
    trained: TrainResult | None = None
    evaluated: EvaluateResult | None = None
    error: str | None = None


class SweepSummary(BaseModel):
    """What a sweep returns: every candidate's outcome, the comparison, the registration."""

    model_config = _FROZEN

    run_id: str | None
    config: SweepConfig
    outcomes: list[CandidateOutcome]
    comparison: list[dict]
    chosen: str
    registration: RegisterResult
    baseline: BaselineResult | None = None  # Compared with the chosen candidate.


class WatchResult(BaseModel):
    """One look at a watched source: what changed since the last look, and whether a run starts."""

    model_config = _FROZEN

    source: str
    files: int
    first_look: bool = False
    changed: list[str] = []
    removed: list[str] = []
    settling: list[str] = []  # Changed, but touched less than settle_seconds ago.
    start_run: bool = False
    # With drift on, the changed files' drift from the champion's data (`rnn_retrain.tasks.watch`).
    drift: list[Finding] = []
    drift_report: ArtifactRef | None = None


class InputFile(BaseModel):
    """One scored input file: where it was and the sha256 of its bytes when it was read."""

    model_config = _FROZEN

    path: str
    sha256: str
    bytes: int


class ScoreResult(BaseModel):
    """What a batch-scoring run returns: the model it used, its input and the predictions."""

    model_config = _FROZEN

    run_id: str | None
    config: ScoreConfig
    model_name: str
    model_version: str  # The resolved number, also when the model was chosen by alias.
    model_alias: str | None  # The alias it was chosen by, if any.
    inputs: list[InputFile]
    input_sha256: str  # One file's sha256; for several, the sha256 of theirs (see stages.score).
    rows: int
    predictions: ArtifactRef
    # The drift report against the model's training profile and test scores (stages.drift);
    # None for a version registered without them.
    drift: list[Finding] | None = None
    drift_report: ArtifactRef | None = None
