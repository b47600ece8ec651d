"""The Stanford Large Movie Review Dataset (aclImdb v1.0): download, verify, convert to Parquet.

The archive is fetched with `keras.utils.get_file`, which caches it and checks its sha256. The
labelled reviews (``aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt``) are read straight from the
tar stream, without unpacking 100,000 small files, into the project's raw schema: ``text``,
``label`` (1 = pos), ``split`` and ``source_id``. The converted table is cached next to the archive.
"""

from __future__ import annotations

import logging
import os
import re
import tarfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from rnn_retrain.errors import DataError, ServiceUnavailableError
from rnn_retrain.store.atomic import replace_atomically

logger = logging.getLogger(__name__)

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
IMDB_SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"
ARCHIVE_NAME = "aclImdb_v1.tar.gz"
_MEMBER = re.compile(r"^aclImdb/(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")


def download_imdb_archive(
    cache_dir: str | os.PathLike[str], origin: str = IMDB_URL, file_hash: str = IMDB_SHA256
) -> Path:
    """Download (or reuse the cached copy of) the aclImdb archive and check its hash.

    Args:
        cache_dir: Folder under which ``datasets/aclImdb_v1.tar.gz`` is kept.
        origin: URL of the archive; a mirror or a ``file://`` URL works too.
        file_hash: Expected sha256 of the archive.

    Returns:
        The local path of the verified archive.
    """
    import keras  # Imported here: TensorFlow's start-up is only paid by the callers that download.

    # get_file silently falls back to /tmp/.keras when the cache folder is not writable yet.
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    try:
        path = keras.utils.get_file(
            fname=ARCHIVE_NAME,
            origin=origin,
            file_hash=file_hash,
            cache_dir=os.fspath(cache_dir),
            cache_subdir="datasets",
        )
    except Exception as error:  # get_file raises bare Exception for network failures.
        # A download that failed or did not match the hash must not be found as "cached" later.
        (Path(cache_dir) / "datasets" / ARCHIVE_NAME).unlink(missing_ok=True)
        reason = " ".join(str(error).split())
        raise ServiceUnavailableError(
            f"data 'imdb': could not download {origin} ({reason}). If this machine is offline, "
            f"download {ARCHIVE_NAME} elsewhere and pass --data /path/to/{ARCHIVE_NAME}, or pass "
            "a Parquet/CSV file of reviews with --data"
        ) from None
    return Path(path)


def read_imdb_archive(path: str | os.PathLike[str]) -> pa.Table:
    """Read the labelled reviews of an aclImdb archive into a table.

    Rows are ordered by split (train, test), label (neg, pos) and numeric review id, the order of
    the official release. Unlabelled reviews (``train/unsup``) are skipped.
    """
    rows: list[tuple[int, int, int, str, str, str]] = []
    try:
        with tarfile.open(path, mode="r:*") as archive:
            for member in archive:
                match = _MEMBER.match(member.name)
                if not member.isfile() or match is None:
                    continue
                split, polarity, review_id, _rating = match.groups()
                handle = archive.extractfile(member)
                text = handle.read().decode("utf-8") if handle is not None else ""
                source_id = member.name.removeprefix("aclImdb/")
                rows.append(
                    (split != "train", polarity == "pos", int(review_id), text, split, source_id)
                )
    except (tarfile.TarError, OSError, EOFError) as error:
        raise DataError(f"{path}: not a readable aclImdb archive ({error})") from None
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: a review is not valid UTF-8 ({error})") from None
    if not rows:
        raise DataError(f"{path}: no reviews found; expected files like aclImdb/train/pos/0_9.txt")
    rows.sort(key=lambda row: row[:3])
    return pa.table(
        {
            "text": pa.array([row[3] for row in rows], pa.string()),
            "label": pa.array([int(row[1]) for row in rows], pa.int8()),
            "split": pa.array([row[4] for row in rows], pa.string()),
            "source_id": pa.array([row[5] for row in rows], pa.string()),
        }
    )


def load_imdb(
    cache_dir: str | os.PathLike[str], origin: str = IMDB_URL, file_hash: str = IMDB_SHA256
) -> pa.Table:
    """Return the 50,000 labelled IMDB reviews, downloading and converting them on first use."""
    archive = download_imdb_archive(cache_dir, origin=origin, file_hash=file_hash)
    converted = archive.with_name(f"aclImdb_v1.{file_hash[:16]}.parquet")
    if converted.exists():
        return pq.read_table(converted)
    logger.info("Converting %s to Parquet (once)", archive)
    table = read_imdb_archive(archive)
    with replace_atomically(converted) as temporary:
        pq.write_table(table, temporary, compression="zstd")
    return table
