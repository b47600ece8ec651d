import io
import logging
import shutil
import tarfile
import time
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from rnn_retrain.store.artifacts import ArtifactStore
from rnn_retrain.store.checkpoints import (
    CheckpointArchiveError,
    Checkpoints,
    claimed_checkpoints,
    mirrored_checkpoints,
    pack_folder,
    unpack_folder,
)


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
    checkpoints = Checkpoints(ArtifactStore(str(tmp_path / "artifacts")))
    folder = checkpoints.folder("key")
    assert folder == tmp_path / "artifacts" / "checkpoints" / "key"
    assert checkpoints.mirror(folder) is None


def test_the_mirror_on_s3_saves_restores_elsewhere_and_discards(tmp_path, s3_root):
    checkpoints = Checkpoints(ArtifactStore(s3_root))
    folder = checkpoints.folder("key")  # Under $RETRAIN_HOME: Keras' local staging.
    mirror = checkpoints.mirror(checkpoint_folder(folder, epochs=2))
    assert mirror.uri == "s3://bucket/root/checkpoints/key/checkpoint.tar"
    mirror.save()
    (folder / "epochs.csv").write_text("epoch,loss\n0,0.5\n1,0.4\n2,0.3\n")
    mirror.save()  # Replaces the archive, leaving no temporary object.
    filesystem, _ = pafs.FileSystem.from_uri(s3_root)
    selector = pafs.FileSelector("bucket/root/checkpoints", recursive=True)
    stored = [info.path for info in filesystem.get_file_info(selector) if info.is_file]
    assert stored == ["bucket/root/checkpoints/key/checkpoint.tar"]

    elsewhere = Checkpoints(ArtifactStore(s3_root)).mirror(tmp_path / "machine-b" / "key")
    assert elsewhere.restore()
    assert files_in(tmp_path / "machine-b" / "key") == files_in(folder)

    mirror.discard()
    assert not elsewhere.restore()
    mirror.discard()  # Nothing left to delete is no error.


def test_gc_removes_a_remote_archive_older_than_the_limit(tmp_path, s3_root):
    from rnn_retrain.orchestration.housekeeping import DAY_SECONDS, collect, plan_collection
    from rnn_retrain.registry.versions import ModelRegistry

    store = ArtifactStore(s3_root)
    checkpoints = Checkpoints(store)
    mirror = checkpoints.mirror(checkpoint_folder(checkpoints.folder("key"), epochs=1))
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


def test_a_run_claims_the_shared_folder_and_removes_it_once_done(tmp_path):
    shared = tmp_path / "checkpoints" / "key"
    with claimed_checkpoints(shared, "run-1") as folder:
        assert folder == shared
        checkpoint_folder(folder, epochs=1)
    assert not shared.exists()


def test_a_second_run_on_the_same_key_keeps_its_own_folder(tmp_path, caplog):
    shared = tmp_path / "checkpoints" / "key"
    with claimed_checkpoints(shared, "run-1") as first:
        checkpoint_folder(first, epochs=2)
        with caplog.at_level(logging.WARNING, logger="rnn_retrain.store.checkpoints"):
            with claimed_checkpoints(shared, "run-2") as second:
                assert second == tmp_path / "checkpoints" / "key-run-2"
                checkpoint_folder(second, epochs=1)
        assert "this run keeps its own checkpoints" in caplog.text
        assert not second.exists()
        assert files_in(first)["epochs.csv"].count(b"\n") == 3  # The first run's, untouched.


def test_a_training_that_fails_leaves_its_folder_to_resume_from(tmp_path):
    shared = tmp_path / "checkpoints" / "key"
    with pytest.raises(RuntimeError), claimed_checkpoints(shared, "run-1") as folder:
        checkpoint_folder(folder, epochs=1)
        raise RuntimeError("killed mid-fit")
    assert (shared / "epochs.csv").exists()
    with claimed_checkpoints(shared, "run-2") as folder:  # The lock went with the first run.
        assert folder == shared


def never_called(folder: Path) -> int:
    raise AssertionError("a local root has nothing to take from a copy")


def test_a_local_root_mirrors_nothing(tmp_path):
    store = ArtifactStore(str(tmp_path / "artifacts"))
    folder = Checkpoints(store).folder("key")
    with mirrored_checkpoints(store, folder, never_called) as refresh:
        assert refresh is None


def test_an_empty_folder_takes_the_copy_of_a_training_killed_elsewhere(tmp_path, s3_root, caplog):
    store = ArtifactStore(s3_root)
    killed = checkpoint_folder(tmp_path / "machine-a" / "key", epochs=2)
    Checkpoints(store).mirror(killed).save()
    folder = tmp_path / "machine-b" / "key"

    with caplog.at_level(logging.INFO, logger="rnn_retrain.store.checkpoints"):
        with mirrored_checkpoints(store, folder, lambda folder: 0) as refresh:
            assert files_in(folder) == files_in(killed)
            (folder / "epochs.csv").write_text("epoch,loss\n0,0.5\n1,0.4\n2,0.3\n")
            refresh()
            elsewhere = tmp_path / "machine-c" / "key"
            assert Checkpoints(store).mirror(elsewhere).restore()
            assert files_in(elsewhere) == files_in(folder)  # The refreshed copy.
    assert "Took the checkpoints of an interrupted training from s3://bucket/root" in caplog.text
    assert not Checkpoints(store).mirror(folder).restore()  # Deleted once training is done.


def test_a_folder_that_resumes_keeps_its_own_checkpoints(tmp_path, s3_root):
    store = ArtifactStore(s3_root)
    Checkpoints(store).mirror(checkpoint_folder(tmp_path / "a" / "key", epochs=1)).save()
    folder = checkpoint_folder(tmp_path / "b" / "key", epochs=3)
    before = files_in(folder)
    with mirrored_checkpoints(store, folder, lambda folder: 3):
        assert files_in(folder) == before


def test_a_failed_copy_warns_and_a_failed_training_keeps_the_copy(tmp_path, s3_root, caplog):
    store = ArtifactStore(s3_root)
    folder = checkpoint_folder(tmp_path / "key", epochs=1)
    with pytest.raises(RuntimeError), mirrored_checkpoints(store, folder, lambda f: 1) as refresh:
        refresh()
        shutil.rmtree(folder)  # Nothing to pack: the copy fails.
        with caplog.at_level(logging.WARNING, logger="rnn_retrain.store.checkpoints"):
            refresh()
        raise RuntimeError("killed mid-fit")
    assert "Could not copy the checkpoints to s3://bucket/root/checkpoints/key" in caplog.text
    assert "training goes on" in caplog.text
    assert Checkpoints(store).mirror(tmp_path / "elsewhere" / "key").restore()
