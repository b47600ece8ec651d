"""Batch scoring's logic: reviews in Parquet or CSV files in, a predictions Parquet artifact out.

The input (a file, a folder or a glob) is resolved to files in name order and each file hashed;
the files are then read through `rnn_retrain.data.sources` and regrouped into chunks of ``chunk_rows``
rows (`rnn_retrain.store.chunks.rechunk`), each chunk is scored with the model's ``predict`` and
appended to the predictions Parquet through the artifact store, so one chunk is held at a time.
A bad file stops the write before anything is stored. The model is passed in as its ``predict``
function (the registered pyfunc's, in `rnn_retrain.tasks.score` and ``retrain predict``), so nothing here
imports Prefect, MLflow or TensorFlow.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs

from rnn_retrain.config.scoring import ScoreConfig
from rnn_retrain.data.sources import (
    CSV_SUFFIXES,
    open_table_files,
    read_column_batches,
    require_columns,
    require_text,
    source_files,
)
from rnn_retrain.errors import DataError
from rnn_retrain.model.serving import LABEL_COLUMN, THRESHOLD, class_probability_columns
from rnn_retrain.results import InputFile, ScoreResult
from rnn_retrain.store.artifacts import ArtifactRef, ArtifactStore, hash_stream
from rnn_retrain.store.chunks import rechunk

logger = logging.getLogger(__name__)

STAGE = "score"
PREDICTIONS = "predictions"
PARQUET_SUFFIXES = (".parquet", ".parq", ".pq")
# Texts in, scores out (`rnn_retrain.model.package.predict_reviews`): the positive class's
# probability per text for two classes, a texts × K matrix for K classes.
Predict = Callable[[list[str]], Sequence[float] | np.ndarray]


@dataclass(frozen=True)
class ScoringInput:
    """The files behind a scoring input, in the order their rows are scored, with digests."""

    spec: str
    files: list[InputFile]

    @property
    def sha256(self) -> str:
        """One file's sha256; for several, the sha256 of their sha256s, one per line in order."""
        if len(self.files) == 1:
            return self.files[0].sha256
        return hashlib.sha256(
            "".join(f"{file.sha256}\n" for file in self.files).encode()
        ).hexdigest()


def resolve_input(spec: str) -> list[str]:
    """The Parquet and CSV files behind a file, folder or glob (local or a URI), by name.

    Names starting with ``.`` or ``_`` (temporary files, ``_SUCCESS`` markers) are skipped, as
    pyarrow's dataset reader does.

    Raises:
        DataError: naming ``spec``, if it does not exist or holds no Parquet or CSV file.
    """
    _, found = source_files(spec)
    scheme = spec.split("://", 1)[0] if "://" in spec else ""
    files = [
        f"{scheme}://{path}" if scheme else path
        for path in found
        if path.lower().endswith(PARQUET_SUFFIXES + CSV_SUFFIXES)
        and not path.rsplit("/", 1)[-1].startswith((".", "_"))
    ]
    if not files:
        others = f" (only {len(found)} other file(s))" if found else ""
        raise DataError(f"{spec}: no Parquet or CSV files to score{others}")
    return files


def hash_input_file(location: str) -> InputFile:
    """The sha256 and size of one input file, read in chunks."""
    if "://" in location:
        filesystem, path = pafs.FileSystem.from_uri(location)
    else:
        filesystem, path = pafs.LocalFileSystem(), os.path.abspath(location)
    digest = hashlib.sha256()
    with filesystem.open_input_stream(path) as stream:
        hash_stream(stream, digest)
    return InputFile(
        path=location, sha256=digest.hexdigest(), bytes=filesystem.get_file_info(path).size
    )


def check_parquet_columns(files: Iterable[str], columns: dict[str, str]) -> None:
    """Refuse a Parquet file without the named columns (role to name) before any scoring.

    Only the files' footers are read; CSV files are checked as they are read.
    """
    for location in files:
        if location.lower().endswith(PARQUET_SUFFIXES):
            require_columns(open_table_files(location).schema, location, columns)


def prepare_input(config: ScoreConfig) -> ScoringInput:
    """Resolve, check and hash the input: everything that can fail before the model loads.

    The files are hashed before they are read; the manifest's digests describe their bytes at
    that moment.
    """
    files = resolve_input(config.input)
    check_parquet_columns(files, input_columns(config))
    return ScoringInput(config.input, [hash_input_file(location) for location in files])


def input_columns(config: ScoreConfig) -> dict[str, str]:
    """The columns scoring reads, by role: the id if one is configured, and the text."""
    return {**({"id": config.id_column} if config.id_column else {}), "text": config.text_column}


def first_blank(texts: pa.Array | pa.ChunkedArray) -> int | None:
    """The index of the first missing or blank text, or None when every text has content."""
    blank = pc.fill_null(pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(texts)), 0), True)
    return pc.index(blank, True).as_py() if pc.any(blank).as_py() else None


def _checked_batches(
    files: Sequence[str], text_column: str, roles: dict[str, str] | None, rows: int
) -> Iterator[pa.RecordBatch]:
    """Every file's rows in order, in batches, each checked and cast to the first file's schema."""
    schema = None
    columns = list(dict.fromkeys(roles.values())) if roles else None
    for location in files:
        opened = open_table_files(location)
        require_columns(opened.schema, location, {**(roles or {}), "text": text_column})
        scanned = 0
        for batch in read_column_batches(opened, columns, rows, location):
            require_text(batch.column(text_column), location, text_column)
            if (blank := first_blank(batch.column(text_column))) is not None:
                raise DataError(
                    f"{location}: review {scanned + blank + 1} is empty; remove it or give it text"
                )
            if schema is None:
                schema = batch.schema
            elif batch.schema != schema:
                batch = _conform(batch, schema, location)
            scanned += batch.num_rows
            yield batch


def _conform(batch: pa.RecordBatch, schema: pa.Schema, location: str) -> pa.RecordBatch:
    """A later file's batch in the first file's schema (e.g. large_string text to string)."""
    try:
        return batch.select(schema.names).cast(schema)
    except (KeyError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise DataError(
            f"{location}: its columns do not match the first file's "
            f"({', '.join(schema.names)}): {error}"
        ) from None


def read_input_chunks(
    files: Sequence[str], text_column: str, rows: int, columns: dict[str, str] | None = None
) -> Iterator[pa.Table]:
    """The files' rows in order, ``rows`` at a time (across file boundaries), checked as read.

    Args:
        files: Parquet or CSV files, from `resolve_input`.
        text_column: Must be text, with no missing or blank value, in every file.
        rows: Rows per chunk; Parquet is scanned as chunks are consumed (CSV is read whole).
        columns: The columns to keep by role (``{"id": "review_id", "text": "text"}``), in this
            order; a missing one is named by its role's flag. None keeps every column.

    Raises:
        DataError: naming the file and the column or review, for a bad file.
    """
    return rechunk(_checked_batches(files, text_column, columns, rows), rows)


def answer_columns(scores: np.ndarray, classes: Sequence[str] | None = None) -> dict[str, pa.Array]:
    """The columns a model's ``scores`` (`Predict`) become, in order.

    Two classes: ``probability`` (float64, of the positive class) and ``prediction`` (int8,
    1 = positive). K classes (``classes`` in id order): ``label`` (the most probable class's
    name), ``probability`` (its probability), ``prediction`` (its id), then one
    ``probability_<class>`` column per class.
    """
    if scores.ndim == 1:
        scored = pa.array(scores, pa.float64())
        return {
            "probability": scored,
            "prediction": pc.greater_equal(scored, THRESHOLD).cast(pa.int8()),
        }
    names = list(classes) if classes is not None else [str(i) for i in range(scores.shape[1])]
    best = scores.argmax(axis=1)
    columns = {
        LABEL_COLUMN: pa.array(np.asarray(names)[best], pa.string()),
        "probability": pa.array(scores.max(axis=1), pa.float64()),
        "prediction": pa.array(best, pa.int8()),
    }
    for column, values in zip(class_probability_columns(names), scores.T):
        columns[column] = pa.array(values, pa.float64())
    return columns


def score_table(
    table: pa.Table, text_column: str, predict: Predict, classes: Sequence[str] | None = None
) -> pa.Table:
    """``table`` with the model's answer for each text appended (`answer_columns`)."""
    scores = np.asarray(predict(table[text_column].to_pylist()), dtype=np.float64)
    if len(scores) != table.num_rows:
        raise ValueError(f"the model returned {len(scores)} scores for {table.num_rows} texts")
    for name, column in answer_columns(scores, classes).items():
        table = table.append_column(name, column)
    return table


def score_chunks(
    chunks: Iterable[pa.Table],
    text_column: str,
    key_column: str,
    predict: Predict,
    classes: Sequence[str] | None = None,
) -> Iterator[pa.Table]:
    """Each chunk's predictions: its key column (the id, or the text), then the answer's
    columns (`score_table`)."""
    for chunk in chunks:
        scored = score_table(chunk, text_column, predict, classes)
        answer = scored.column_names[chunk.num_columns :]
        yield scored.select([key_column, *answer])


def predictions_manifest(
    config: ScoreConfig, scoring_input: ScoringInput, model_version: str
) -> dict[str, object]:
    """The parameters recorded in the predictions' manifest: model, input digests, settings."""
    return {
        "model_name": config.model_name,
        "model_version": model_version,
        "model_alias": config.model_choice().get("alias"),
        "input": scoring_input.spec,
        "input_sha256": scoring_input.sha256,
        "input_files": [file.model_dump() for file in scoring_input.files],
        "text_column": config.text_column,
        "id_column": config.id_column or None,
        "threshold": THRESHOLD,
        "chunk_rows": config.chunk_rows,
    }


def write_predictions(
    store: ArtifactStore,
    run_id: str,
    config: ScoreConfig,
    scoring_input: ScoringInput,
    predict: Predict,
    model_version: str,
    classes: Sequence[str] | None = None,
) -> ScoreResult:
    """Score every input row, chunk by chunk, into one predictions Parquet artifact.

    Rows keep the input's order (files by name, rows within a file). The artifact is committed
    only after the last chunk, so a bad file part-way leaves no predictions behind.

    Raises:
        DataError: naming the file, for a missing column, a non-text or blank review, or an
            input with no rows.
    """
    key_column = config.id_column or config.text_column
    files = [file.path for file in scoring_input.files]
    chunks = read_input_chunks(files, config.text_column, config.chunk_rows, input_columns(config))
    scored = score_chunks(chunks, config.text_column, key_column, predict, classes)
    # The writer needs the schema up front: the first chunk's (its key column type comes from
    # the file).
    first = next(scored, None)
    if first is None:
        raise DataError(f"{config.input}: no reviews to score")
    predictions = store.write_batches(
        run_id,
        STAGE,
        PREDICTIONS,
        first.schema,
        itertools.chain([first], scored),
        params=predictions_manifest(config, scoring_input, model_version),
        target=config.output,
    )
    logger.info(
        "scored %d reviews from %d file(s) with %s v%s → %s",
        predictions.rows,
        len(files),
        config.model_name,
        model_version,
        predictions.uri,
    )
    return _result(run_id, config, scoring_input, model_version, predictions)


def _result(
    run_id: str,
    config: ScoreConfig,
    scoring_input: ScoringInput,
    model_version: str,
    predictions: ArtifactRef,
) -> ScoreResult:
    return ScoreResult(
        run_id=run_id,
        config=config,
        model_name=config.model_name,
        model_version=model_version,
        model_alias=config.model_choice().get("alias"),
        inputs=scoring_input.files,
        input_sha256=scoring_input.sha256,
        rows=predictions.rows or 0,
        predictions=predictions,
    )
