import io
import tarfile
import time
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from rnn_retrain.store.artifacts import ArtifactStore
from rnn_retrain.store.checkpoints import CheckpointArchiveError, pack_folder, unpack_folder


def checkpoint_folder(folder: Path, epochs: int) -> Path:
    """A folder laid out as fit_model leaves it after ``epochs`` epochs."""
    (folder / "backup").mkdir(parents=True)
    (folder / "backup" / "latest.weights.h5").write_bytes(bytes(range(256)) * 4)
    (folder / "backup" / "training_metadata.json").write_text(f'{{"epoch": {epochs}}}')
    (folder / "epochs.csv").write_text(
        "epoch,loss\n" + "".join(f"{e},0.5\n" for e in range(epochs))
    )
    return folder


def files_in(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def archive_with(name: str) -> io.BytesIO:
    """A tar archive with one small member called ``name``."""
    stream = io.BytesIO()
    with tarfile.open(fileobj=stream, mode="w") as archive:
        member = tarfile.TarInfo(name)
        member.size = 4
        archive.addfile(member, io.BytesIO(b"evil"))
    stream.seek(0)
    return stream


def test_a_packed_folder_unpacks_to_the_same_files_replacing_what_was_there(tmp_path):
    source = checkpoint_folder(tmp_path / "machine-a" / "key", epochs=2)
    packed = io.BytesIO()
    pack_folder(source, packed)
    target = tmp_path / "machine-b" / "key"
    target.mkdir(parents=True)
    (target / "epochs.csv").write_text("a finished fit's log\n")  # Stale: must not survive.
    (target / "stray.txt").write_text("left over")

    packed.seek(0)
    unpack_folder(packed, target, "s3://bucket/root/checkpoints/key/checkpoint.tar")

    assert files_in(target) == files_in(source)
    assert [path.name for path in target.parent.iterdir()] == ["key"]  # No staging left behind.


@pytest.mark.parametrize("name", ["../outside.txt", "backup/../../outside.txt", "/tmp/outside.txt"])
def test_a_member_outside_the_folder_is_refused_and_nothing_is_written(tmp_path, name):
    target = checkpoint_folder(tmp_path / "checkpoints" / "key", epochs=1)
    before = files_in(target)
    with pytest.raises(CheckpointArchiveError, match="member outside its folder") as refused:
        unpack_folder(archive_with(name), target, "s3://bucket/checkpoint.tar")
    assert "s3://bucket/checkpoint.tar" in str(refused.value)
    assert len(str(refused.value).splitlines()) == 1
    assert files_in(target) == before  # The local checkpoint is untouched.
    assert not list(tmp_path.rglob("outside.txt"))


def test_a_link_out_of_the_folder_is_refused(tmp_path):
    stream = io.BytesIO()
    with tarfile.open(fileobj=stream, mode="w") as archive:
        link = tarfile.TarInfo("backup")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc"
        archive.addfile(link)
    stream.seek(0)
    with pytest.raises(CheckpointArchiveError, match="cannot be unpacked"):
        unpack_folder(stream, tmp_path / "key", "the archive")
    assert not (tmp_path / "key").exists()


def test_a_damaged_archive_is_one_line_naming_it(tmp_path):
    packed = io.BytesIO()
    pack_folder(checkpoint_folder(tmp_path / "a", epochs=1), packed)
    damaged = io.BytesIO(packed.getvalue()[:700])  # Cut inside the first member.
    with pytest.raises(CheckpointArchiveError, match=r"s3://b/c\.tar cannot be unpacked"):
        unpack_folder(damaged, tmp_path / "b", "s3://b/c.tar")


def test_a_local_root_has_no_mirror(tmp_path):
    store = ArtifactStore(str(tmp_path / "artifacts"))
    assert store.checkpoint_mirror(store.checkpoint_dir("key")) is None


def test_the_mirror_on_s3_saves_restores_elsewhere_and_discards(tmp_path, s3_root):
    store = ArtifactStore(s3_root)
    folder = store.checkpoint_dir("key")  # Under $RETRAIN_HOME: Keras' local staging.
    mirror = store.checkpoint_mirror(checkpoint_folder(folder, epochs=2))
    assert mirror.uri == "s3://bucket/root/checkpoints/key/checkpoint.tar"
    mirror.save()
    (folder / "epochs.csv").write_text("epoch,loss\n0,0.5\n1,0.4\n2,0.3\n")
    mirror.save()  # Replaces the archive, leaving no temporary object.
    filesystem, _ = pafs.FileSystem.from_uri(s3_root)
    selector = pafs.FileSelector("bucket/root/checkpoints", recursive=True)
    stored = [info.path for info in filesystem.get_file_info(selector) if info.is_file]
    assert stored == ["bucket/root/checkpoints/key/checkpoint.tar"]

    elsewhere = ArtifactStore(s3_root).checkpoint_mirror(tmp_path / "machine-b" / "key")
    assert elsewhere.restore()
    assert files_in(tmp_path / "machine-b" / "key") == files_in(folder)

    mirror.discard()
    assert not elsewhere.restore()
    mirror.discard()  # Nothing left to delete is no error.


def test_gc_removes_a_remote_archive_older_than_the_limit(tmp_path, s3_root):
    from rnn_retrain.orchestration.housekeeping import DAY_SECONDS, collect, plan_collection
    from rnn_retrain.registry import ModelRegistry

    store = ArtifactStore(s3_root)
    mirror = store.checkpoint_mirror(checkpoint_folder(store.checkpoint_dir("key"), epochs=1))
    mirror.save()
    registry, no_records = ModelRegistry("", "review-sentiment"), tmp_path / "no-records"

    fresh = plan_collection(store, registry, no_records, run_days=1, version_days=1)
    assert [(item.kind, item.name) for item in fresh.keep] == [("checkpoint archive", "key")]
    later = time.time() + 2 * DAY_SECONDS
    stale = plan_collection(store, registry, no_records, run_days=1, version_days=1, now=later)
    [item] = stale.remove
    assert (item.kind, item.name) == ("checkpoint archive", "key") and item.bytes > 1024
    collect(stale, store, registry, no_records)
    assert not mirror.restore()


def test_an_empty_archive_leaves_an_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    packed = io.BytesIO()
    pack_folder(tmp_path / "empty", packed)
    packed.seek(0)
    unpack_folder(packed, tmp_path / "restored", "the archive")
    assert list((tmp_path / "restored").iterdir()) == []
