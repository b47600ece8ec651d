import errno
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from rnn_retrain.store.atomic import replace_atomically, write_atomically
from rnn_retrain.store.paths import temporary_name


def names_in(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_the_temporary_name_is_hidden_beside_its_file():
    name = temporary_name("bucket/root/runs/r/pad/padded.parquet")
    assert name.startswith("bucket/root/runs/r/pad/.padded.parquet.tmp-")
    assert temporary_name("padded.parquet").startswith(".padded.parquet.tmp-")


def test_a_local_file_is_written_whole_and_its_folder_created(tmp_path):
    target = tmp_path / "new" / "folder" / "scores.parquet"
    with replace_atomically(target) as temporary:
        assert Path(temporary).parent == target.parent and not target.exists()
        Path(temporary).write_bytes(b"scores")
    assert target.read_bytes() == b"scores"
    assert names_in(target.parent) == ["scores.parquet"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out" / "scores.csv"
    target.parent.mkdir()
    target.write_text("the last good scores")
    with pytest.raises(ValueError), replace_atomically(target) as temporary:
        Path(temporary).write_text("half")
        raise ValueError("the writer failed")
    assert target.read_text() == "the last good scores"
    assert names_in(target.parent) == ["scores.csv"]


def test_a_relative_path_is_written_where_it_points(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_atomically("cache.json", b"{}")
    assert (tmp_path / "cache.json").read_bytes() == b"{}"


def test_a_folder_replaces_a_folder_that_holds_files(tmp_path):
    target = tmp_path / "checkpoints" / "key"
    target.mkdir(parents=True)
    (target / "stale.txt").write_text("an earlier training's")
    with replace_atomically(target, folder=True) as staging:
        Path(staging).mkdir()
        (Path(staging) / "epochs.csv").write_text("epoch,loss\n")
    assert names_in(target) == ["epochs.csv"]
    assert names_in(target.parent) == ["key"]


def test_a_failed_folder_leaves_the_old_one(tmp_path):
    target = tmp_path / "checkpoints" / "key"
    target.mkdir(parents=True)
    (target / "epochs.csv").write_text("kept")
    with pytest.raises(ValueError), replace_atomically(target, folder=True) as staging:
        Path(staging).mkdir()
        (Path(staging) / "part").write_text("half")
        raise ValueError("damaged archive")
    assert names_in(target.parent) == ["key"] and (target / "epochs.csv").read_text() == "kept"


def test_a_full_disk_error_names_the_file_it_stopped(tmp_path):
    target = tmp_path / "runs" / "snapshot.parquet"
    with pytest.raises(OSError) as raised, replace_atomically(str(target)):
        raise OSError(errno.ENOSPC, "No space left on device")  # As pyarrow raises it: no file.
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(target)


def test_bytes_on_s3_are_one_object_once_written(s3_root):
    filesystem, root = pafs.FileSystem.from_uri(s3_root)
    write_atomically(f"{root}/cache/pad/key.json", b"{}", filesystem)
    write_atomically(f"{root}/cache/pad/key.json", b'{"again": 1}', filesystem)
    selector = pafs.FileSelector(root, recursive=True)
    stored = [info.path for info in filesystem.get_file_info(selector) if info.is_file]
    assert stored == [f"{root}/cache/pad/key.json"]
    with filesystem.open_input_stream(stored[0]) as stream:
        assert stream.read() == b'{"again": 1}'
