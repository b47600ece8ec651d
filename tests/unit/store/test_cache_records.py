import os
from pathlib import Path

from rnn_retrain.store.artifacts import ArtifactStore
from rnn_retrain.store.cache_records import CacheRecords


def test_records_are_read_back_oldest_first(tmp_path: Path):
    records = CacheRecords(ArtifactStore(str(tmp_path / "artifacts")))
    records.write("pad", "retrain-pad-b", {"run_id": "run-1", "components": {"seed": 1}})
    records.write("pad", "retrain-pad-a", {"run_id": "run-2", "components": {"seed": 2}})
    folder = tmp_path / "artifacts" / "cache" / "pad"
    os.utime(folder / "retrain-pad-b.json", ns=(1, 1))  # Older, whatever the clock's resolution.
    (folder / ".retrain-pad-c.json.tmp-0123").write_text("half written")

    entries = records.read("pad")
    assert list(entries) == ["retrain-pad-b", "retrain-pad-a"]
    assert entries["retrain-pad-a"] == {"run_id": "run-2", "components": {"seed": 2}}
    assert records.read("train") == {}


def test_a_deleted_record_is_gone_and_deleting_again_is_no_error(tmp_path: Path):
    records = CacheRecords(ArtifactStore(str(tmp_path)))
    records.write("ingest", "retrain-ingest-a", {"run_id": "run-1"})
    records.delete("ingest", "retrain-ingest-a")
    records.delete("ingest", "retrain-ingest-a")
    assert records.read("ingest") == {}


def test_records_on_s3(s3_root: str):
    records = CacheRecords(ArtifactStore(s3_root))
    records.write("pad", "retrain-pad-a", {"run_id": "run-1"})
    assert records.read("pad") == {"retrain-pad-a": {"run_id": "run-1"}}
