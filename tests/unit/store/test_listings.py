import hashlib
from pathlib import Path

import pyarrow as pa
import pytest

from rnn_retrain.store.artifacts import ArtifactStore, IntegrityError
from rnn_retrain.store.listings import SourceListings


def listing(*paths: str) -> pa.Table:
    return pa.table({"path": list(paths), "size": [1] * len(paths)})


def test_a_listing_is_named_by_its_content_and_read_back_checked(tmp_path: Path):
    store = ArtifactStore(str(tmp_path / "artifacts"))
    ref = SourceListings(store).write("source-key", listing("a.csv", "b.csv"))
    assert ref.name == "watch/source-key" and ref.rows == 2
    assert (
        Path(ref.uri) == tmp_path / "artifacts" / "watch" / "source-key" / f"{ref.sha256}.parquet"
    )
    assert hashlib.sha256(Path(ref.uri).read_bytes()).hexdigest() == ref.sha256
    assert store.read_table(ref).equals(listing("a.csv", "b.csv"))


def test_pruning_keeps_only_the_listing_the_variable_points_at(tmp_path: Path):
    store = ArtifactStore(str(tmp_path))
    listings = SourceListings(store)
    old = listings.write("source-key", listing("a.csv"))
    new = listings.write("source-key", listing("a.csv", "b.csv"))
    other = listings.write("other-key", listing("c.csv"))
    listings.prune("source-key", keep=new)
    assert [path.name for path in (tmp_path / "watch" / "source-key").iterdir()] == [
        f"{new.sha256}.parquet"
    ]
    with pytest.raises(IntegrityError, match="is missing"):
        store.read_table(old)
    assert store.read_table(other).num_rows == 1  # Another source's listings stay.
    listings.prune("never-watched", keep=new)  # No folder yet: nothing to do.


def test_a_listing_on_s3_has_an_s3_uri(s3_root: str):
    store = ArtifactStore(s3_root)
    ref = SourceListings(store).write("source-key", listing("a.csv"))
    assert ref.uri == f"s3://bucket/root/watch/source-key/{ref.sha256}.parquet"
    assert store.read_table(ref).num_rows == 1
