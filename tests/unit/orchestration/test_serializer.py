"""Stage results are stored as JSON of known models; anything else in a cache record is refused."""

import base64
import json
import pickle

import pytest

from rnn_retrain.orchestration.serializer import (
    StageResultSerializer,
    UnsafeRecordError,
    decode_record,
)
from rnn_retrain.results import TokenizeResult
from rnn_retrain.store.artifacts import ArtifactRef

REF = ArtifactRef(name="tokenize/vocabulary.parquet", uri="/a/v.parquet", sha256="ab" * 32, rows=7)
RESULT = TokenizeResult(vocabulary=REF, token_ids=REF, vocabulary_size=9)


def record(serializer: dict, result: str) -> bytes:
    return json.dumps({"metadata": {"serializer": serializer}, "result": result}).encode()


def test_a_stage_result_round_trips_as_tagged_json():
    serializer = StageResultSerializer()
    blob = serializer.dumps(RESULT)
    assert json.loads(blob)["model"] == "TokenizeResult"
    assert serializer.loads(blob) == RESULT
    assert decode_record(record({"type": "rnn-retrain-json"}, blob.decode())) == RESULT


def test_only_stage_results_are_written_or_read():
    with pytest.raises(TypeError, match="not a stage result"):
        StageResultSerializer().dumps({"a": 1})
    forged = json.dumps({"model": "Popen", "data": {"args": ["true"]}})
    with pytest.raises(UnsafeRecordError, match="no known stage result"):
        decode_record(record({"type": "rnn-retrain-json"}, forged))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            record({"type": "pickle", "picklelib": "pickle"}, base64.b64encode(b"x").decode()),
            "serialised with 'pickle', not JSON",
        ),
        (pickle.dumps(RESULT), "not JSON"),
        (b"\x00garbage", "not JSON"),
        (b"[1, 2]", "serialised with None, not JSON"),
        (record({"type": "rnn-retrain-json"}, None), "no JSON result"),  # type: ignore[arg-type]
    ],
    # Named ids: a pickle's bytes hold a set, whose order differs between processes, and every
    # pytest-xdist worker must collect the same test ids.
    ids=["pickle serializer", "raw pickle", "garbage", "a JSON list", "no result"],
)
def test_a_record_that_is_not_a_json_stage_result_is_refused_undecoded(content, message):
    with pytest.raises(UnsafeRecordError, match=message):
        decode_record(content)


def test_a_failed_stages_error_is_kept_as_text_and_never_read_as_a_cached_result():
    serializer = StageResultSerializer()
    blob = serializer.dumps(OSError(28, "No space left on device"))
    assert json.loads(blob) == {"error": "OSError", "message": "[Errno 28] No space left on device"}
    loaded = serializer.loads(blob)
    assert isinstance(loaded, RuntimeError) and "No space left" in str(loaded)
    with pytest.raises(UnsafeRecordError, match="a failed stage's error"):
        decode_record(record({"type": "rnn-retrain-json"}, blob.decode()))
