"""The IMDB downloader and converter, on a tiny archive in the aclImdb layout built here."""

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from rnn_retrain.data.imdb import download_imdb_archive, load_imdb, read_imdb_archive
from rnn_retrain.data.sources import read_source
from rnn_retrain.errors import RetrainError

REVIEWS = {
    "aclImdb/train/pos/10_9.txt": "A wonderful film.<br /><br />Loved it.",
    "aclImdb/train/pos/2_7.txt": "Good enough.",
    "aclImdb/train/neg/0_1.txt": "Dreadful, from start to finish.",
    "aclImdb/test/pos/0_10.txt": "Café scenes were magnifique.",
    "aclImdb/test/neg/3_2.txt": "Not worth it.",
    "aclImdb/train/unsup/0_0.txt": "Unlabelled review that must be skipped.",
    "aclImdb/README": "Large Movie Review Dataset v1.0",
    "aclImdb/imdb.vocab": "the\nand\n",
}


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    path = tmp_path / "aclImdb_v1.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, text in REVIEWS.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_archive_is_read_in_official_order_with_labels_and_splits(archive):
    table = read_imdb_archive(archive)
    assert table.column("source_id").to_pylist() == [
        "train/neg/0_1.txt",
        "train/pos/2_7.txt",
        "train/pos/10_9.txt",
        "test/neg/3_2.txt",
        "test/pos/0_10.txt",
    ]
    assert table.column("label").to_pylist() == [0, 1, 1, 0, 1]
    assert table.column("split").to_pylist() == ["train", "train", "train", "test", "test"]
    assert table.column("text").to_pylist()[2] == REVIEWS["aclImdb/train/pos/10_9.txt"]
    assert table.column("text").to_pylist()[4] == "Café scenes were magnifique."


def test_download_checks_the_hash_caches_and_converts(archive, tmp_path: Path):
    cache = tmp_path / "cache"
    table = load_imdb(cache, origin=archive.as_uri(), file_hash=sha256(archive))
    assert table.num_rows == 5
    assert (cache / "datasets" / "aclImdb_v1.tar.gz").exists()
    assert list((cache / "datasets").glob("aclImdb_v1.*.parquet"))
    # Once cached, the origin is not needed any more.
    again = load_imdb(cache, origin="http://127.0.0.1:9/gone.tar.gz", file_hash=sha256(archive))
    assert again.equals(table)


def test_a_download_with_the_wrong_hash_is_refused(archive, tmp_path: Path):
    with pytest.raises(RetrainError, match="could not download"):
        download_imdb_archive(tmp_path / "cache", origin=archive.as_uri(), file_hash="0" * 64)
    assert not (tmp_path / "cache" / "datasets" / "aclImdb_v1.tar.gz").exists()


def test_offline_download_says_how_to_pass_a_local_file(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("RETRAIN_IMDB_URL", "http://127.0.0.1:9/aclImdb_v1.tar.gz")
    with pytest.raises(
        RetrainError, match=r"data 'imdb': could not download .*--data /path/to/aclImdb_v1\.tar\.gz"
    ):
        read_source(
            "imdb",
            text_column="text",
            label_column="label",
            split_column="split",
            demo_size=100,
            seed=0,
        )


def test_a_local_archive_can_be_passed_as_data(archive):
    source = read_source(
        str(archive),
        text_column="ignored",
        label_column="ignored",
        split_column="ignored",
        demo_size=100,
        seed=0,
    )
    assert (
        sum(chunk.num_rows for chunk in source.iter_chunks(2)) == 5
        and source.split_column == "split"
    )


def test_a_broken_archive_is_refused(tmp_path: Path):
    path = tmp_path / "aclImdb_v1.tar.gz"
    path.write_bytes(b"this is not gzip")
    with pytest.raises(RetrainError, match="not a readable aclImdb archive"):
        read_imdb_archive(path)


def test_an_interrupted_download_leaves_nothing_and_the_next_one_succeeds(archive, tmp_path):
    import http.server
    import threading

    from rnn_retrain.errors import ServiceUnavailableError

    payload = archive.read_bytes()
    cut = {"short": True}

    class HalfThenHang(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the name http.server calls)
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            # The connection drops half-way through, as a flaky network would.
            self.wfile.write(payload[: len(payload) // 2] if cut["short"] else payload)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HalfThenHang)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/aclImdb_v1.tar.gz"
    cache = tmp_path / "cache"
    try:
        with pytest.raises(ServiceUnavailableError, match="could not download"):
            download_imdb_archive(cache, origin=url, file_hash=sha256(archive))
        assert list((cache / "datasets").glob("aclImdb_v1.tar.gz*")) == []
        cut["short"] = False
        assert download_imdb_archive(cache, origin=url, file_hash=sha256(archive)).exists()
    finally:
        server.shutdown()
