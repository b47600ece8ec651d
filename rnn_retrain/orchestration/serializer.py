"""Stage results persisted as JSON, never pickle: what Prefect stores for the stage cache.

Prefect's default result serializer pickles a task's return value into its result storage
(``~/.prefect/storage``), and reading a record unpickles whatever it holds: anyone who can write
there could run code in the next retraining. The stages return small pydantic models of artifact
references and figures (`rnn_retrain.results`), so `StageResultSerializer` writes them as JSON
with the model's name, and reads back only the models it knows. `read_vetted_record` reads a
record without Prefect's deserializer, so a record that names another serializer (pickle) is
refused before anything in it is decoded.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from prefect.serializers import Serializer
from pydantic import BaseModel

from rnn_retrain.results import (
    BaselineResult,
    EvaluateResult,
    IngestResult,
    TokenizeResult,
    TrainResult,
    ValidationResult,
)
from rnn_retrain.store.artifacts import ArtifactRef

SERIALIZER_TYPE = "rnn-retrain-json"
# The only types a cached stage result may be: what the cached stages return.
STAGE_RESULTS: dict[str, type[BaseModel]] = {
    model.__name__: model
    for model in (ArtifactRef, IngestResult, TokenizeResult, ValidationResult, TrainResult)
    + (EvaluateResult, BaselineResult)
}


class UnsafeRecordError(ValueError):
    """A cache record that is not a JSON stage result: it is never decoded."""


class MissingRecordError(LookupError):
    """No cache record under the key."""


class StageResultSerializer(Serializer):
    """JSON of a stage result model, tagged with the model's name (see `STAGE_RESULTS`)."""

    type: Literal["rnn-retrain-json"] = SERIALIZER_TYPE

    def dumps(self, obj: BaseModel | BaseException) -> bytes:
        if isinstance(obj, BaseException):
            # A failed stage's error, which Prefect persists with the failed state: kept as its
            # type and message, never as the object, and never read back as a stage result.
            return json.dumps({"error": type(obj).__name__, "message": str(obj)}).encode()
        name = type(obj).__name__
        if STAGE_RESULTS.get(name) is not type(obj):
            raise TypeError(f"{name} is not a stage result the cache may store")
        return json.dumps({"model": name, "data": obj.model_dump(mode="json")}).encode()

    def loads(self, blob: bytes) -> BaseModel | BaseException:
        document = json.loads(blob)
        if isinstance(document, dict) and set(document) == {"error", "message"}:
            return RuntimeError(f"{document['error']}: {document['message']}")
        model = STAGE_RESULTS.get(document.get("model")) if isinstance(document, dict) else None
        if model is None:
            raise UnsafeRecordError("the cached record holds no known stage result")
        return model.model_validate(document["data"])


def decode_record(content: bytes) -> BaseModel:
    """The stage result in a cache record's bytes, decoded by `StageResultSerializer` only.

    Raises:
        UnsafeRecordError: if the record is not JSON, names another serializer (pickle, say),
            or holds anything but a known stage result.
    """
    try:
        record = json.loads(content)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise UnsafeRecordError("the cached record is not JSON (a pickle, say)") from None
    metadata = record.get("metadata") if isinstance(record, dict) else None
    serializer = metadata.get("serializer") if isinstance(metadata, dict) else None
    kind = serializer.get("type") if isinstance(serializer, dict) else None
    if kind != SERIALIZER_TYPE:
        raise UnsafeRecordError(f"the cached record is serialised with {kind!r}, not JSON")
    result = record.get("result")
    if not isinstance(result, str):
        raise UnsafeRecordError("the cached record holds no JSON result")
    decoded = StageResultSerializer().loads(result.encode())
    if not isinstance(decoded, BaseModel):
        raise UnsafeRecordError("the cached record holds a failed stage's error, not a result")
    return decoded


def read_vetted_record(result_store: Any, key: str) -> BaseModel:
    """Read the record at ``key`` from the task's result storage, raw, and decode it safely.

    Prefect's own `ResultStore.read`, and even `ResultStore.exists`, hand the bytes to whatever
    serializer the record names, pickle included; this reads the files itself and decodes them
    with `decode_record`.

    Raises:
        MissingRecordError: if there is no record under ``key``.
        UnsafeRecordError: if the record is not a JSON stage result.
    """
    from prefect.results import get_default_result_storage

    storage = result_store.result_storage or get_default_result_storage(_sync=True)
    if result_store.metadata_storage is None:
        return decode_record(_read(storage, key))
    # Metadata and result stored apart: the metadata names the serializer and the result's key.
    metadata = json.loads(_read(result_store.metadata_storage, key))
    result = _read(storage, metadata.get("storage_key") or key)
    return decode_record(json.dumps({"metadata": metadata, "result": result.decode()}).encode())


def _read(storage: Any, path: str) -> bytes:
    from prefect.utilities.asyncutils import run_coro_as_sync

    try:
        content = storage.read_path(path)
        # A storage block called from async code hands back a coroutine.
        content = content if isinstance(content, bytes) else run_coro_as_sync(content)
    except (OSError, ValueError):  # Prefect's LocalFileSystem: ValueError("... does not exist").
        raise MissingRecordError(path) from None
    if content is None:
        raise MissingRecordError(path)
    return content
