"""Labels: which classes a label column holds, the class ids they map to, and back.

Two kinds of label column:

- **binary**, as the tutorial has it: 0/1, true/false, pos/neg or positive/negative (any case).
  The classes are always ``["negative", "positive"]`` with ids 0 and 1, whatever spelling the
  file used, and the network ends in one sigmoid unit.
- **K classes** (K ≥ 2), anything else: integers (star ratings, topic ids) are ordered by value
  and named by it (``"1"`` … ``"5"``); strings (topics, routes) are ordered as text. The id is
  the position in that order, and a network for K > 2 ends in a K-way softmax.

The class names in id order are the mapping: ingest stores them as an artifact, the model
carries them to serving, and every prediction is told as a class name, so a champion trained on
last week's file and a challenger trained on this week's compare by name, not by id.

Pure functions of pyarrow arrays: no files, no Prefect.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rnn_retrain.errors import DataError

BINARY_CLASSES = ("negative", "positive")
POSITIVE_LABELS = ("1", "true", "pos", "positive")
NEGATIVE_LABELS = ("0", "false", "neg", "negative")
# Class ids are stored as int8 in the snapshot and the padded rows.
MAX_CLASS_ID = 127
_INTEGER = r"^[+-]?[0-9]+$"


def is_binary(classes: Iterable[str]) -> bool:
    """Whether ``classes`` are the binary pair (one sigmoid unit, a 0.5 threshold)."""
    return tuple(classes) == BINARY_CLASSES


def _as_text(labels: pa.Array) -> pa.Array:
    """Labels as trimmed text; floats read from CSV files as ``3.0`` lose the ``.0``."""
    text = pc.utf8_trim_whitespace(labels.cast(pa.string()))
    if pa.types.is_floating(labels.type):
        text = pc.replace_substring_regex(text, r"\.0+$", "")
    return text


def _binary_keys(labels: pa.Array) -> pa.Array:
    return pc.utf8_lower(_as_text(labels))


def _integers(text: pa.Array) -> pa.Array:
    """Integer labels as int64 (Arrow's cast does not take a leading ``+``)."""
    return pc.cast(pc.replace_substring_regex(text, r"^\+", ""), pa.int64())


def _integer_keys(text: pa.Array) -> pa.Array:
    """Integer labels spelled canonically: ``"+3"`` and ``"03"`` are both ``"3"``."""
    return pc.cast(_integers(text), pa.string())


def _all_integers(text: pa.Array) -> bool:
    return bool(pc.all(pc.match_substring_regex(text, _INTEGER)).as_py())


def distinct_labels(chunks: Iterable[pa.Array | pa.ChunkedArray]) -> pa.Array:
    """The distinct non-null values of a label column read chunk by chunk."""
    seen: list[pa.Array] = []
    for chunk in chunks:
        chunk = chunk.combine_chunks() if isinstance(chunk, pa.ChunkedArray) else chunk
        seen.append(pc.unique(chunk.drop_null()))
    if not seen:
        return pa.array([], pa.string())
    return pc.unique(pa.concat_arrays(seen))


def fit_classes(distinct: pa.Array, origin: str, column: str, max_classes: int) -> list[str]:
    """The class names, in id order, for a label column's distinct values.

    Args:
        distinct: The column's distinct non-null values (`distinct_labels`).
        origin: The source, for messages.
        column: The label column's name, for messages.
        max_classes: The most classes allowed (the ``max_classes`` setting).

    Raises:
        DataError: if there are more than ``max_classes`` classes.
    """
    if pa.types.is_boolean(distinct.type):
        return list(BINARY_CLASSES)
    known = pc.is_in(_binary_keys(distinct), value_set=pa.array(POSITIVE_LABELS + NEGATIVE_LABELS))
    if bool(pc.all(known).as_py()):
        return list(BINARY_CLASSES)
    text = _as_text(distinct)
    if _all_integers(text):
        values = np.unique(_integers(text).to_numpy())
        classes = [str(value) for value in values]
    else:
        classes = sorted(set(text.to_pylist()))
    limit = min(max_classes, MAX_CLASS_ID + 1)
    if len(classes) > limit:
        raise DataError(
            f"{origin}: label column {column!r} has {len(classes)} distinct values, more than "
            f"max_classes={limit} (e.g. {classes[:5]}); is {column!r} the label column? Raise "
            "max_classes if these really are classes"
        )
    return classes


def encode_labels(labels: pa.Array, classes: list[str], origin: str, column: str) -> pa.Array:
    """Each label's class id (int8) under ``classes``.

    Raises:
        DataError: if a label is missing, or outside the classes (for binary classes, outside
            0/1, true/false, pos/neg, positive/negative).
    """
    labels = labels.combine_chunks() if isinstance(labels, pa.ChunkedArray) else labels
    if labels.null_count:
        raise DataError(
            f"{origin}: {labels.null_count} rows have no value in label column {column!r}"
        )
    if is_binary(classes):
        return _encode_binary(labels, origin, column)
    text = _as_text(labels)
    # The classes say how labels are spelled, not the chunk: integer classes come from a column
    # of integers only, so every chunk's labels are read as integers alike.
    keys = _integer_keys(text) if _all_integers(pa.array(classes, pa.string())) else text
    ids = pc.index_in(keys, value_set=pa.array(classes, pa.string()))
    if ids.null_count:
        bad = pc.unique(labels.filter(pc.is_null(ids))).slice(0, 5).to_pylist()
        raise DataError(
            f"{origin}: label column {column!r} has values outside its classes {classes}: {bad}"
        )
    return ids.cast(pa.int8())


def _encode_binary(labels: pa.Array, origin: str, column: str) -> pa.Array:
    if pa.types.is_boolean(labels.type):
        return labels.cast(pa.int8())
    keys = _binary_keys(labels)
    positive = pc.is_in(keys, value_set=pa.array(POSITIVE_LABELS))
    negative = pc.is_in(keys, value_set=pa.array(NEGATIVE_LABELS))
    unknown = pc.invert(pc.or_(positive, negative))
    if pc.any(unknown).as_py():
        bad = pc.unique(labels.filter(unknown)).slice(0, 5).to_pylist()
        raise DataError(
            f"{origin}: label column {column!r} has values outside the binary set, e.g. {bad}; "
            "use 0/1, true/false, pos/neg or positive/negative"
        )
    return positive.cast(pa.int8())


def predicted_ids(probabilities: np.ndarray, threshold: float) -> np.ndarray:
    """Each row's predicted class id.

    ``probabilities`` is a vector (binary: the positive class's probability, positive at or
    above ``threshold``) or a rows × K matrix (the most probable class).
    """
    if probabilities.ndim == 1:
        return (probabilities >= threshold).astype(np.int64)
    return np.argmax(probabilities, axis=1).astype(np.int64)


def headline_f1(metrics: dict[str, float | int | None]) -> float | None:
    """The F1 a summary shows: binary F1, or macro F1 for K classes."""
    value = metrics.get("f1", metrics.get("f1_macro"))
    return None if value is None else float(value)


def metric_name(name: str) -> str:
    """A class name as MLflow accepts it in a metric key (letters, digits, ``_-. /``)."""
    cleaned = "".join(char if char.isalnum() or char in "_-." else "_" for char in name)
    return cleaned or "_"
