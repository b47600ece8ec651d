"""A scoring request's reviews checked in the body the caller sent, before MLflow parses it.

MLflow's scoring server converts the ``inputs`` and ``instances`` shapes to the signature's type
before the model sees them: ``{"inputs": [42]}`` reaches the model as the review ``"42"``, and
``null`` as ``"None"``, so a caller's bug would get a score. Only the body still says what the
caller sent. `refused_review` reads it the way MLflow does (the same five shapes) and names the
first review that is not text; `retrain serve-model` answers it with a 400 before MLflow's
parsing runs. What is not a scoring request at all (not JSON, none of the shapes) is left to
MLflow, whose own messages list the shapes it takes.

CSV has no types: a cell is text, whatever it holds (``pandas.DataFrame.to_csv`` writes the
review "10" as an unquoted 10), so a CSV request is refused for what CSV can say is missing: the
``text`` column, a row's field, or its value (an empty cell, which pandas reads as a null).
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from rnn_retrain.model.serving import TEXT_COLUMN

# The JSON shapes of MLflow's scoring protocol that carry reviews.
SHAPES = ("dataframe_split", "dataframe_records", "inputs", "instances")
NO_ROWS = "no reviews to score: the request has no rows"
_FIELD = f'{{"{TEXT_COLUMN}": "..."}}'
# A bad value, shown to this many characters in the message.
SHOWN = 40


class _Marker:
    """A review that is not a value: its record or row has no ``text``, or its CSV cell is empty."""


MISSING = _Marker()
EMPTY_CELL = _Marker()


def refused_review(body: bytes, content_type: str | None) -> str | None:
    """Why a scoring request cannot be scored, naming the review, or None to let MLflow go on.

    Args:
        body: the request body, as sent.
        content_type: its ``Content-Type`` header (``application/json`` or ``text/csv``).

    Returns:
        A one-line message (``review 2 is the number 42, not text; ...``), or None when every
        review is text, or when the body is for MLflow to refuse (not JSON, no known shape).
    """
    mime = (content_type or "").split(";")[0].strip().lower()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if mime == "application/json":
        reviews = _json_reviews(text)
    elif mime == "text/csv":
        reviews = _csv_reviews(text)
    else:
        return None
    if reviews is None or isinstance(reviews, str):
        return reviews
    if not reviews:
        return NO_ROWS
    for position, value in enumerate(reviews, start=1):
        if value is MISSING:
            return f"review {position} has no {TEXT_COLUMN!r} field; send each review as {_FIELD}"
        if not isinstance(value, str):
            return f"review {position} {_described(value)}, not text; send each review as {_FIELD}"
    return None


def _described(value: Any) -> str:
    if value is EMPTY_CELL:
        return "is an empty cell, which CSV readers take for a null"
    if value is None:
        return "is null"
    shown = json.dumps(value)[:SHOWN]
    if isinstance(value, bool):
        return f"is the boolean {shown}"
    if isinstance(value, int | float):
        return f"is the number {shown}"
    return f"is a list {shown}" if isinstance(value, list) else f"is an object {shown}"


def _json_reviews(text: str) -> list[Any] | str | None:
    """The values sent as reviews, a message when the shape itself has none, or None for MLflow."""
    try:
        document = json.loads(text)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    shapes = [shape for shape in SHAPES if shape in document]
    if len(shapes) != 1:
        return None
    payload = document[shapes[0]]
    if shapes[0] == "dataframe_split":
        return _split_reviews(payload)
    if shapes[0] == "dataframe_records":
        return _record_reviews(payload) if isinstance(payload, list) else None
    # `inputs` and `instances`: a column mapping, a list of records, a list of reviews or one.
    if isinstance(payload, dict):
        return _column_reviews(payload)
    if isinstance(payload, list):
        if payload and all(isinstance(item, dict) for item in payload):
            return _record_reviews(payload)
        return payload
    return [payload]


def _split_reviews(payload: Any) -> list[Any] | str | None:
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        return None
    columns = payload.get("columns")
    if not isinstance(columns, list):
        return None
    if TEXT_COLUMN not in columns:
        return _no_text_field(columns)
    where = columns.index(TEXT_COLUMN)
    return [
        row[where] if isinstance(row, list) and len(row) > where else MISSING
        for row in payload["data"]
    ]


def _record_reviews(records: list[Any]) -> list[Any]:
    return [
        record.get(TEXT_COLUMN, MISSING) if isinstance(record, dict) else record
        for record in records
    ]


def _column_reviews(columns: dict[str, Any]) -> list[Any] | str:
    if TEXT_COLUMN not in columns:
        return _no_text_field(list(columns))
    values = columns[TEXT_COLUMN]
    return values if isinstance(values, list) else [values]


def _csv_reviews(text: str) -> list[Any] | str | None:
    # Blank lines are skipped, as pandas' reader skips them, so review N is the Nth row MLflow sees.
    rows = [row for row in csv.reader(io.StringIO(text)) if row]
    if not rows:
        return None
    header, data = rows[0], rows[1:]
    if TEXT_COLUMN not in header:
        return _no_text_field(header)
    where = header.index(TEXT_COLUMN)
    return [MISSING if len(row) <= where else row[where] or EMPTY_CELL for row in data]


def _no_text_field(fields: list[Any]) -> str:
    return (
        f"no {TEXT_COLUMN!r} field in the request (fields: {fields}); send each review as {_FIELD}"
    )
