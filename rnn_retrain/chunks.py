"""Working on data in chunks: regrouping record batches, and seeded per-row hashes.

Stages hold at most ``chunk_rows`` rows at a time. Where a decision must be the same whatever the
chunking (which shard a row is shuffled into, whether a train row is held out for validation),
it is a function of the row's id and the seed alone: `row_hash`.
"""

from __future__ import annotations

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

    A two-pass external shuffle: each row goes to one of ``ceil(total_rows / rows)`` shard files
    under the local folder ``scratch`` (by its `row_hash`, so about ``rows`` rows each); then
    each shard is read back, shuffled and yielded. Readers that hold one chunk at a time (the
    training batches) then see rows in a random order even when the source was sorted, by split
    and label say. Data that fits one chunk is shuffled in memory.
    """
    shards = max(1, -(-total_rows // rows))
    if shards == 1:
        tables = list(chunks)  # Every row fits in one chunk.
        if tables:
            yield shuffle_rows(pa.concat_tables(tables).combine_chunks(), seed)
        return
    paths = [f"{scratch}/shard-{index:05d}.parquet" for index in range(shards)]
    writers: list[pq.ParquetWriter] = []
    try:
        for chunk in chunks:
            if not writers:
                writers = [pq.ParquetWriter(path, chunk.schema) for path in paths]
            shard = row_hash(chunk["row_id"].to_numpy(), seed) % np.uint64(shards)
            for index, writer in enumerate(writers):
                writer.write_table(chunk.filter(pa.array(shard == np.uint64(index))))
    finally:
        for writer in writers:
            writer.close()
    if not writers:
        return  # No chunks came.
    for path in paths:
        yield shuffle_rows(pq.read_table(path), seed)


def validation_cutoff(hashes: np.ndarray, fraction: float) -> np.uint64:
    """The hash at or below which a train row is held out for validation.

    Exactly ``round(len(hashes) * fraction)`` rows are held out (at least one, and never all),
    whatever order or chunks the rows come in: the ones with the smallest `row_hash`.
    """
    held_out = min(max(int(round(len(hashes) * fraction)), 1), len(hashes) - 1)
    return np.partition(hashes, held_out - 1)[held_out - 1]
