"""Reading review sources: the built-in demo corpus, IMDB, and users' Parquet or CSV files.

This is the file-reading half of ingest; the checks and normalisation that follow are pure
functions in `rnn_retrain.stages.ingest`. A source comes back as a table or, for Parquet, a lazily
scanned dataset (a file, a folder such as one file per week, or a glob), plus the names of its
text, label and (optional) split and group columns; ingest reads it chunk by chunk, so it may be
bigger than memory.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as pads
import pyarrow.fs as pafs

from rnn_retrain.data.demo import GENERATOR_VERSION, generate_reviews, generate_topic_reviews
from rnn_retrain.data.imdb import IMDB_SHA256, IMDB_URL, load_imdb, read_imdb_archive
from rnn_retrain.errors import DataError, RetrainError
from rnn_retrain.store import paths
from rnn_retrain.store.artifacts import hash_stream
from rnn_retrain.store.chunks import rechunk

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz")
CSV_SUFFIXES = (".csv", ".csv.gz")
CSV_BLOCK_BYTES = 64 << 20


@dataclass(frozen=True)
class RawSource:
    """A source as opened, with the columns that hold text, label and split."""

    data: pa.Table | pads.Dataset
    origin: str
    text_column: str
    label_column: str
    split_column: str | None
    group_column: str | None = None  # Rows that stay on one side of a split (a movie id).

    @property
    def schema(self) -> pa.Schema:
        return self.data.schema

    def iter_chunks(self, rows: int) -> Iterator[pa.Table]:
        """The text, label, split and group columns, ``rows`` rows at a time, read as needed."""
        named = (self.text_column, self.label_column, self.split_column, self.group_column)
        columns = list(dict.fromkeys(column for column in named if column))
        yield from rechunk(read_column_batches(self.data, columns, rows, self.origin), rows)

    def iter_labels(self, rows: int) -> Iterator[pa.Array]:
        """The label column alone, ``rows`` rows at a time: a cheap first look at the classes."""
        batches = read_column_batches(self.data, [self.label_column], rows, self.origin)
        yield from (batch.column(0) for batch in batches)


def read_column_batches(
    data: pa.Table | pads.Dataset, columns: list[str] | None, rows: int, origin: str
) -> Iterator[pa.RecordBatch]:
    """The ``columns`` (all, if None) of an opened source in batches of at most ``rows`` rows.

    Parquet is scanned as the batches are consumed, so only about one batch is held at a time.

    Raises:
        DataError: naming ``origin``, if a Parquet file turns out unreadable during the scan.
    """
    if isinstance(data, pa.Table):
        yield from (data if columns is None else data.select(columns)).to_batches(
            max_chunksize=rows
        )
        return
    # The scanner's default read-ahead (16 batches) would hold many chunks at once. Even with
    # one, its threads and pre-buffering race ahead of a slow consumer (a model scoring each
    # chunk) and held much of the file in memory; tests/unit/stages/test_score.py checks that
    # the peak follows the chunk, not the file.
    # Pre-buffering saves round trips to remote storage, so it stays on there.
    local = isinstance(getattr(data, "filesystem", None), pafs.LocalFileSystem)
    batches = data.to_batches(
        columns=columns,
        batch_size=rows,
        batch_readahead=1,
        fragment_readahead=1,
        use_threads=False,
        fragment_scan_options=pads.ParquetFragmentScanOptions(pre_buffer=not local),
    )
    try:
        yield from batches
    except (pa.ArrowException, OSError) as error:
        # A dataset reads each file when it gets there: a broken one fails mid-scan.
        raise _unreadable_parquet(origin, error) from None


def grouped_by(source: RawSource, group_column: str) -> RawSource:
    """``source`` with its rows grouped by ``group_column`` (none when it is empty).

    Raises:
        DataError: naming the source and its columns, if it has no such column.
    """
    if not group_column:
        return source
    if group_column not in source.schema.names:
        raise DataError(
            f"{source.origin}: no group column {group_column!r} (columns: "
            f"{', '.join(source.schema.names)}); set --group-column to one of them, or leave it "
            "empty"
        )
    return dataclasses.replace(source, group_column=group_column)


def read_source(
    data: str,
    *,
    text_column: str,
    label_column: str,
    split_column: str,
    demo_size: int,
    seed: int,
    demo_classes: int = 2,
) -> RawSource:
    """Read the source named by ``data`` (see `RetrainConfig.data`)."""
    if data == "demo":
        table = (
            generate_reviews(demo_size, seed)
            if demo_classes == 2
            else generate_topic_reviews(demo_size, seed, demo_classes)
        )
        return RawSource(table, "demo", "text", "label", None)
    if data == "imdb":
        origin = os.environ.get("RETRAIN_IMDB_URL", IMDB_URL)
        table = load_imdb(paths.dataset_cache(), origin=origin)
        return RawSource(table, "imdb", "text", "label", "split")
    if data.lower().endswith(ARCHIVE_SUFFIXES):
        if not Path(data).is_file():
            raise DataError(f"{data}: file not found")
        return RawSource(read_imdb_archive(data), data, "text", "label", "split")
    opened = open_table_files(data)
    names = opened.schema.names
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise DataError(
            f"{data}: column name(s) {', '.join(map(repr, repeated))} appear more than once; "
            "give every column its own name"
        )
    require_columns(opened.schema, data, {"text": text_column, "label": label_column})
    present_split = split_column if split_column in names else None
    return RawSource(opened, data, text_column, label_column, present_split)


def fingerprint_source(data: str, *, demo_size: int, seed: int, demo_classes: int = 2) -> str:
    """A digest of the source's content: it changes exactly when the data would.

    The demo corpus is a function of its size, seed and generator version; IMDB is pinned by the
    archive's published sha256; files are hashed byte for byte (a folder or glob, file by file in
    name order), so a rewritten file with the same name is still seen as new data.
    """
    if data == "demo":
        classes = "" if demo_classes == 2 else f":classes={demo_classes}"
        return f"demo:v{GENERATOR_VERSION}:{demo_size}:{seed}{classes}"
    if data == "imdb":
        return f"imdb:{os.environ.get('RETRAIN_IMDB_URL', IMDB_URL)}:{IMDB_SHA256}"
    filesystem, paths = source_files(data)
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.encode() + b"\0")
        with filesystem.open_input_stream(path) as stream:
            hash_stream(stream, digest)
    return f"files:{digest.hexdigest()}"


def stat_source_files(data: str) -> dict[str, tuple[int, int]]:
    """Each file behind a path, folder, glob or URI, with its size and modification time (ns).

    Only the file system's listing is read, never the files: cheap enough to poll an object
    store every few minutes.
    """
    filesystem, paths = source_files(data)
    return {
        info.path: (info.size or 0, info.mtime_ns or 0)
        for info in filesystem.get_file_info(paths)
        if info.type == pafs.FileType.File
    }


def source_files(data: str) -> tuple[pafs.FileSystem, list[str]]:
    """The files behind a path, folder (recursively), glob or URI, sorted by name.

    Raises:
        DataError: if a path (not a glob) does not exist.
    """
    if "://" in data:
        filesystem, path = pafs.FileSystem.from_uri(data)
    else:
        filesystem, path = pafs.LocalFileSystem(), os.path.abspath(os.path.expanduser(data))
        if glob.has_magic(data):
            return filesystem, sorted(glob.glob(path))
    info = filesystem.get_file_info(path)
    if info.type == pafs.FileType.Directory:
        selector = pafs.FileSelector(path, recursive=True)
        files = [i.path for i in filesystem.get_file_info(selector) if i.type == pafs.FileType.File]
        return filesystem, sorted(files)
    if info.type == pafs.FileType.NotFound:
        raise DataError(f"{data}: file not found")
    return filesystem, [path]


def require_local_source(data: str) -> None:
    """Fail now, in one line, when ``data`` names local files that are not there.

    The CLI calls it before it starts anything (Prefect's local API takes seconds to start, and
    a typo should not wait for it). Sources that are not local paths are checked when read.

    Raises:
        DataError: if ``data`` is a local path or glob that matches no file.
    """
    if data in ("demo", "imdb") or "://" in data:
        return
    if not glob.glob(os.path.expanduser(data)):
        raise DataError(f"{data}: file not found (pass 'demo', 'imdb', or a CSV/Parquet path)")


def read_table_files(data: str) -> pa.Table:
    """Read a Parquet file, folder or glob, or a CSV file, local or behind a filesystem URI."""
    opened = open_table_files(data)
    if isinstance(opened, pa.Table):
        return opened
    try:
        return opened.to_table()
    except (pa.ArrowException, OSError) as error:
        raise _unreadable_parquet(data, error) from None


def open_table_files(data: str) -> pa.Table | pads.Dataset:
    """Open a Parquet file, folder or glob as a dataset (scanned lazily), or read a CSV file."""
    if "://" in data:
        try:
            filesystem, path = pafs.FileSystem.from_uri(data)
        except (pa.ArrowInvalid, OSError) as error:
            raise DataError(f"{data}: cannot open ({error})") from None
        paths: str | list[str] = path
    else:
        filesystem = None
        matches = sorted(glob.glob(os.path.expanduser(data)))
        if not matches:
            raise DataError(f"{data}: file not found (pass 'demo', 'imdb', or a CSV/Parquet path)")
        paths = matches if glob.has_magic(data) else matches[0]
    first = paths[0] if isinstance(paths, list) else paths
    try:
        if first.lower().endswith(CSV_SUFFIXES):
            return _read_csv(paths, filesystem, data)
        return pads.dataset(paths, format="parquet", filesystem=filesystem)
    except RetrainError:
        raise
    except (pa.ArrowException, OSError) as error:
        raise DataError(
            f"{data}: not a readable Parquet or CSV source ({_first_line(error)})"
        ) from None


def _read_csv(paths: str | list[str], filesystem: pafs.FileSystem | None, data: str) -> pa.Table:
    if isinstance(paths, list) and len(paths) > 1:
        raise DataError(f"{data}: matches {len(paths)} CSV files; pass one CSV file or Parquet")
    path = paths[0] if isinstance(paths, list) else paths
    # Blocks must hold the longest row: pyarrow's 1 MiB default refuses a long review.
    options = pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES)
    try:
        if filesystem is not None:
            with filesystem.open_input_stream(path) as stream:
                table = pacsv.read_csv(stream, read_options=options)
        else:
            table = pacsv.read_csv(path, read_options=options)
    except pa.ArrowInvalid as error:
        raise DataError(f"{data}: not a readable CSV file ({_first_line(error)})") from None
    # pyarrow reads a column that is not valid UTF-8 as binary instead of failing.
    for field in table.schema:
        if pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type):
            raise DataError(
                f"{data}: column {field.name!r} is not valid UTF-8 text; save the CSV as UTF-8"
            )
    return table


def require_text(column: pa.ChunkedArray | pa.Array, origin: str, name: str) -> None:
    """Refuse a text column that does not hold strings."""
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        raise DataError(f"{origin}: text column {name!r} holds {column.type}, not text")


def require_columns(schema: pa.Schema, data: str, columns: dict[str, str]) -> None:
    """Refuse a table without the named columns (role to name), naming the flag that fixes it."""
    for role, name in columns.items():
        if name not in schema.names:
            available = ", ".join(schema.names) or "none"
            raise DataError(
                f"{data}: no {role} column {name!r} (columns: {available}); "
                f"set --{role}-column to the right name"
            )


def _unreadable_parquet(origin: str, error: BaseException) -> DataError:
    return DataError(f"{origin}: not a readable Parquet source ({_first_line(error)})")


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
