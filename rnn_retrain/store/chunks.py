"""Working on data in chunks: regrouping record batches, and seeded per-row hashes.

Stages hold about ``chunk_rows`` rows at a time (a shuffled shard may hold a few more). Where a
decision must be the same whatever the chunking (which shard a row is shuffled into, whether a
train row is held out for validation), it is a function of the row's id and the seed alone:
`row_hash`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def rechunk(batches: Iterable[pa.RecordBatch | pa.Table], rows: int) -> Iterator[pa.Table]:
    """Regroup batches of any sizes into tables of ``rows`` rows (the last may be shorter).

    Parquet datasets yield one batch per row group or file, often small (a folder of weekly
    files) or large; stages want chunks of a predictable size.
    """
    pending: list[pa.Table] = []
    held = 0
    for batch in batches:
        table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
        while table.num_rows:
            taken = table.slice(0, rows - held)
            pending.append(taken)
            held += taken.num_rows
            table = table.slice(taken.num_rows)
            if held == rows:
                yield pa.concat_tables(pending).combine_chunks()
                pending, held = [], 0
    if held:
        yield pa.concat_tables(pending).combine_chunks()


def read_chunks(
    parquet: pq.ParquetFile, columns: list[str] | None, rows: int
) -> Iterator[pa.Table]:
    """Read a Parquet file ``rows`` rows at a time (only ``columns``, if given)."""
    for batch in parquet.iter_batches(batch_size=rows, columns=columns):
        yield pa.Table.from_batches([batch])


def read_row_groups(parquet: pq.ParquetFile, columns: list[str]) -> Iterator[pa.Table]:
    """Read a Parquet file one row group at a time (only ``columns``)."""
    for group in range(parquet.metadata.num_row_groups):
        yield parquet.read_row_group(group, columns=columns)


def row_hash(row_ids: np.ndarray, seed: int) -> np.ndarray:
    """A seeded 64-bit hash of each row id (SplitMix64's finaliser).

    It is a bijection of the 64-bit integers, so distinct row ids never share a hash: ranking
    rows by it is a seeded random permutation that needs no other row to compute.
    """
    with np.errstate(over="ignore"):
        mixed = np.asarray(row_ids, dtype=np.int64).astype(np.uint64) + _GOLDEN * np.uint64(
            seed + 1
        )
        mixed = (mixed ^ (mixed >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        mixed = (mixed ^ (mixed >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return mixed ^ (mixed >> np.uint64(31))


def shuffle_rows(table: pa.Table, seed: int) -> pa.Table:
    """The rows of ``table`` (which has a ``row_id`` column) in a seeded random order."""
    return table.take(np.argsort(row_hash(table["row_id"].to_numpy(), seed), kind="stable"))


def shuffle_into_chunks(
    chunks: Iterable[pa.Table], total_rows: int, rows: int, seed: int, scratch: str
) -> Iterator[pa.Table]:
    """Shuffle tables too big for memory into chunks that are each a random sample of all rows.

    A two-pass external shuffle over ``shards = ceil(total_rows / rows)`` shards, a row's shard
    given by its `row_hash` (so about ``rows`` rows each). First each input chunk is sorted by
    shard and written once to a local Arrow IPC file under ``scratch``, one record batch per
    shard. Then, shard by shard, that batch is read from every file, and the rows shuffled and
    yielded. Readers that hold one chunk at a time (the training batches) then see rows in a
    random order even when the source was sorted, by split and label say. Data that fits one
    chunk is shuffled in memory.

    One file is written at a time; the second pass keeps one open (memory-mapped) per input
    chunk.
    """
    shards = max(1, -(-total_rows // rows))
    if shards == 1:
        tables = list(chunks)  # Every row fits in one chunk.
        if tables:
            yield shuffle_rows(pa.concat_tables(tables).combine_chunks(), seed)
        return
    options = pa.ipc.IpcWriteOptions(compression="lz4")
    paths = []
    for number, chunk in enumerate(chunks):
        shard = row_hash(chunk["row_id"].to_numpy(), seed) % np.uint64(shards)
        order = np.argsort(shard, kind="stable")
        bounds = np.searchsorted(shard[order], np.arange(shards + 1, dtype=np.uint64))
        batches = chunk.take(order).combine_chunks().to_batches()
        ordered = batches[0] if batches else pa.RecordBatch.from_pylist([], schema=chunk.schema)
        paths.append(f"{scratch}/chunk-{number:06d}.arrow")
        with pa.ipc.new_file(paths[-1], chunk.schema, options=options) as writer:
            for index in range(shards):  # Batch i holds shard i's rows, even when there are none.
                start, stop = int(bounds[index]), int(bounds[index + 1])
                writer.write_batch(ordered.slice(start, stop - start))
    with contextlib.ExitStack() as stack:
        readers = [pa.ipc.open_file(stack.enter_context(pa.memory_map(path))) for path in paths]
        for index in range(shards):
            shard_rows = pa.Table.from_batches(
                [reader.get_batch(index) for reader in readers], schema=readers[0].schema
            )
            yield shuffle_rows(shard_rows.combine_chunks(), seed)


def validation_cutoff(hashes: np.ndarray, fraction: float) -> np.uint64:
    """The hash at or below which a train row is held out for validation.

    Exactly ``round(len(hashes) * fraction)`` rows are held out (at least one, and never all),
    whatever order or chunks the rows come in: the ones with the smallest `row_hash`.
    """
    if len(hashes) < 2:
        raise ValueError(f"cannot hold out validation rows from {len(hashes)} train row(s)")
    held_out = min(max(int(round(len(hashes) * fraction)), 1), len(hashes) - 1)
    return np.partition(hashes, held_out - 1)[held_out - 1]
