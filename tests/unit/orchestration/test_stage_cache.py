"""The stage cache's repair chain: a key handed to Prefect never holds a result that fails to verify."""

import json
from types import SimpleNamespace

from rnn_retrain.orchestration.caching import MAX_HEALS, _healthy_key
from rnn_retrain.orchestration.serializer import StageResultSerializer
from rnn_retrain.store.artifacts import ArtifactRef, ArtifactStore


class RecordStorage:
    """Result records by key, read as Prefect's LocalFileSystem reads them (missing: ValueError)."""

    def __init__(self) -> None:
        self.records: dict[str, bytes] = {}

    def read_path(self, path: str) -> bytes:
        if path not in self.records:
            raise ValueError(f"Path {path} does not exist.")
        return self.records[path]

    def write(self, key: str, ref: ArtifactRef) -> None:
        result = StageResultSerializer().dumps(ref).decode()
        metadata = {"serializer": {"type": "rnn-retrain-json"}}
        self.records[key] = json.dumps({"metadata": metadata, "result": result}).encode()


def test_a_stage_whose_repairs_keep_being_lost_never_gets_a_key_with_a_bad_record(tmp_path):
    """Week after week the run's artifacts vanish (a bucket emptied, say) while the records stay.

    Each run repairs under a new key; past MAX_HEALS repairs the chain is not followed further,
    and the key handed over must still be one without a record, or Prefect would return that
    record's lost artifacts as a Cached result.
    """
    store = ArtifactStore(str(tmp_path))
    storage = RecordStorage()
    result_store = SimpleNamespace(result_storage=storage, metadata_storage=None)
    base = "retrain-pad-0123456789"
    for week in range(MAX_HEALS + 3):
        key, problem, found = _healthy_key(base, result_store, store)
        assert not found and key not in storage.records, week
        assert (problem is None) == (week == 0)
        if week > MAX_HEALS:
            assert f"{MAX_HEALS} earlier repairs were lost too" in problem
        # The stage runs under that key; its artifact is lost before the next run.
        lost = tmp_path / f"runs/week-{week}/pad/padded.parquet"
        storage.write(key, ArtifactRef(name="pad/padded.parquet", uri=str(lost), sha256="0" * 64))

    # A repair whose artifact is still there is a cache hit, at the end of its chain.
    kept = tmp_path / "kept.parquet"
    kept.write_bytes(b"rows")
    storage.records.clear()
    storage.write(base, ArtifactRef(name="a", uri=str(tmp_path / "gone"), sha256="0" * 64))
    repair, problem, found = _healthy_key(base, result_store, store)
    assert not found and "is missing" in problem
    ref = store.write_file("run", "pad", "padded.parquet", kept)
    storage.write(repair, ref)
    assert _healthy_key(base, result_store, store) == (repair, None, True)
