import json
from pathlib import Path

import pyarrow as pa
import pytest

from rnn_retrain.store.artifacts import ArtifactStore, IntegrityError
from rnn_retrain.store.paths import default_artifact_root


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(str(tmp_path / "artifacts"))


def test_tables_round_trip_with_a_manifest(store: ArtifactStore, tmp_path: Path):
    table = pa.table({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    ref = store.write_table("run-1", "ingest", "snapshot", table, {"source": "demo"})
    assert ref.rows == 3 and ref.name == "ingest/snapshot.parquet"
    assert ref.uri == str(tmp_path / "artifacts/runs/run-1/ingest/snapshot.parquet")
    assert store.read_table(ref).equals(table)
    manifest = store.read_manifest(ref)
    assert manifest["sha256"] == ref.sha256
    assert manifest["schema"] == [{"name": "a", "type": "int64"}, {"name": "b", "type": "string"}]
    assert manifest["producer"] == "ingest" and manifest["params"] == {"source": "demo"}


def test_writes_leave_no_temporary_files(store: ArtifactStore, tmp_path: Path):
    store.write_table("run-1", "pad", "padded", pa.table({"a": [1]}))
    names = sorted(path.name for path in (tmp_path / "artifacts/runs/run-1/pad").iterdir())
    assert names == ["padded.parquet", "padded.parquet.manifest.json"]


def test_an_altered_artifact_is_detected(store: ArtifactStore):
    ref = store.write_table("run-1", "pad", "padded", pa.table({"a": [1, 2]}))
    Path(ref.uri).write_bytes(Path(ref.uri).read_bytes()[:-8])
    with pytest.raises(IntegrityError, match="changed after it was written"):
        store.read_table(ref)


def test_a_missing_artifact_is_detected(store: ArtifactStore):
    ref = store.write_table("run-1", "pad", "padded", pa.table({"a": [1, 2]}))
    Path(ref.uri).unlink()
    with pytest.raises(IntegrityError, match="is missing"):
        store.read_table(ref)


def test_files_and_json_are_stored_and_verified(store: ArtifactStore, tmp_path: Path):
    model = tmp_path / "model.keras"
    model.write_bytes(b"weights")
    ref = store.write_file("run-1", "train", "model.keras", model)
    (tmp_path / "out").mkdir()
    assert store.copy_to_local(ref, tmp_path / "out").read_bytes() == b"weights"
    summary = store.write_json("run-1", "report", "summary", {"accuracy": 0.9})
    assert json.loads(store.read_bytes(summary)) == {"accuracy": 0.9}


def test_file_uris_are_accepted(tmp_path: Path):
    store = ArtifactStore((tmp_path / "by-uri").as_uri())
    ref = store.write_table("r", "s", "t", pa.table({"a": [1]}))
    assert ref.uri.startswith("file://") and store.read_table(ref).num_rows == 1


def test_default_root_follows_retrain_home(retrain_home: Path):
    assert default_artifact_root() == str(retrain_home / "artifacts")
    assert ArtifactStore().root == str(retrain_home / "artifacts")


def test_batches_stream_into_one_artifact_with_a_row_group_each(store: ArtifactStore):
    schema = pa.schema([("row_id", pa.int64())])
    chunks = (pa.table({"row_id": list(range(start, start + 3))}) for start in (0, 3, 6))
    ref = store.write_batches("run-1", "pad", "padded", schema, chunks, lambda: {"done": True})
    assert ref.rows == 9 and store.read_manifest(ref)["params"] == {"done": True}
    with store.open_parquet(ref) as parquet:
        assert parquet.metadata.num_row_groups == 3
        assert parquet.read_row_group(1)["row_id"].to_pylist() == [3, 4, 5]
    assert store.read_table(ref)["row_id"].to_pylist() == list(range(9))


def test_a_stream_that_fails_stores_nothing(store: ArtifactStore, tmp_path: Path):
    def chunks():
        yield pa.table({"a": [1, 2]})
        raise ValueError("bad chunk")

    with pytest.raises(ValueError, match="bad chunk"):
        store.write_batches("run-1", "ingest", "snapshot", pa.schema([("a", pa.int64())]), chunks())
    assert [path.name for path in (tmp_path / "artifacts").rglob("*") if path.is_file()] == []


def test_opening_an_altered_parquet_artifact_is_refused(store: ArtifactStore):
    ref = store.write_table("run-1", "pad", "padded", pa.table({"a": [1, 2]}))
    with open(ref.uri, "ab") as file:
        file.write(b"tampered")
    with pytest.raises(IntegrityError, match="padded.parquet"):
        with store.open_parquet(ref):
            pass


def test_the_root_is_told_to_the_other_parts_of_the_store(store: ArtifactStore, tmp_path: Path):
    assert store.is_local and store.root_path == str(tmp_path / "artifacts")
    assert store.uri_for(f"{store.root_path}/x") == str(tmp_path / "artifacts" / "x")


def test_an_s3_root_gives_s3_uris(s3_root: str):
    store = ArtifactStore(s3_root)
    assert not store.is_local and store.root_path == "bucket/root"
    assert store.uri_for("bucket/root/x") == "s3://bucket/root/x"
