"""Peak memory on data ten times IMDB: every row in one chunk against streamed chunks.

Builds a dataset ``--copies`` times the given reviews (the rows replicated, one Parquet file per
copy, like a folder of weekly files; the data gate warns about the duplicates) and runs
``retrain run`` on it twice, one epoch each, in fresh processes with fresh homes:

- in memory: ``--chunk-rows`` at least the row count, so every stage holds every row at once
  (what the pipeline did before it streamed);
- streamed: ``--chunk-rows 50000`` (about one IMDB; the benchmark's ``--chunk-rows``), so every
  stage holds one chunk at a time;

and, for scale, once on the reviews as given (one chunk). It reports each run's peak resident
memory (of the largest process: the flow's, not Prefect's API server), wall time and test
accuracy, and the streamed/in-memory ratios. Most of a run's memory is TensorFlow's (about
1.5 GiB here whatever the data): the data's share is what differs between the runs.

    python benchmarks/memory.py --data ../shared/datasets/imdb/reviews.parquet
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))

from pipeline import RETRAIN, accuracy_from, add_run_flags, fresh_home_env  # noqa: E402

STREAMED_CHUNK_ROWS = 50_000


def replicate(path: str, copies: int, folder: Path) -> int:
    """Write ``copies`` copies of the reviews as one file each; the number of rows written."""
    table = pq.read_table(path)
    folder.mkdir(parents=True)
    for copy in range(copies):
        pq.write_table(table, folder / f"week-{copy:02d}.parquet")
    return table.num_rows * copies


def measured_run(
    data: Path, chunk_rows: int, epochs: int, home: Path, flags: Sequence[str]
) -> dict[str, float]:
    """``retrain run`` in a fresh process: peak RSS (GiB), wall seconds and test accuracy."""
    command = [
        RETRAIN, "run", "--data", str(data), "--epochs", str(epochs),
        "--chunk-rows", str(chunk_rows), *flags,
    ]  # fmt: skip
    home.mkdir(parents=True)
    env = fresh_home_env(home)
    with open(home / "output.txt", "w") as output:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        # wait4's usage covers the process and its waited-for children; ru_maxrss (KiB on
        # Linux) is the peak of the largest of them.
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    text = (home / "output.txt").read_text()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"retrain run failed:\n{text[-3000:]}")
    return {
        "peak_gib": usage.ru_maxrss / 2**20,
        "seconds": seconds,
        "accuracy": accuracy_from(text),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="Parquet with text, label, split")
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--chunk-rows", type=int, default=STREAMED_CHUNK_ROWS)
    add_run_flags(parser)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "reviews"
        rows = replicate(args.data, args.copies, folder)
        runs = {
            "input as is": measured_run(
                Path(args.data), rows, args.epochs, Path(scratch) / "one", args.run_flags
            ),
            f"{args.copies}× in memory": measured_run(
                folder, rows, args.epochs, Path(scratch) / "in-memory", args.run_flags
            ),
            f"{args.copies}× streamed": measured_run(
                folder, args.chunk_rows, args.epochs, Path(scratch) / "streamed", args.run_flags
            ),
        }
    in_memory, streamed = runs[f"{args.copies}× in memory"], runs[f"{args.copies}× streamed"]
    title = f"retrain run, {args.epochs} epoch(s): {rows:,} rows ({args.copies}× the input)"
    table = Table(title=title)
    for column in ("", *runs, "streamed / in memory"):
        table.add_column(column, justify="right" if column else "left")
    table.add_row("chunk rows", f"{rows:,}", f"{rows:,}", f"{args.chunk_rows:,}", "")
    for label, key, unit in (("peak RSS GiB", "peak_gib", ".2f"), ("wall s", "seconds", ".0f")):
        ratio = f"{streamed[key] / in_memory[key]:.2f}"
        table.add_row(label, *(f"{run[key]:{unit}}" for run in runs.values()), ratio)
    table.add_row("test accuracy", *(f"{run['accuracy']:.4f}" for run in runs.values()), "")
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
