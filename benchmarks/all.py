"""Every performance target in one run and one table: text stages, training, end to end.

Runs, in this order and in this process tree, on the same Parquet file:

1. `text_stages`: tokenize + pad, ours against the legacy Tokenizer and TextVectorization, and
   ours at larger scales (each measurement in a fresh child process, for its peak memory);
2. `training`: train rows per second and test accuracy, plain ``model.fit`` against ours, for
   each cell;
3. `pipeline`: the plain tutorial script against ``retrain run``, a cached re-run, the
   orchestration overhead and Prefect's start-up.

    python benchmarks/all.py --data ../shared/datasets/imdb/reviews.parquet

The full run takes about an hour on 2 cores; ``--rows``, ``--epochs`` and ``--cells`` shorten it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))

import pipeline  # noqa: E402
import text_stages  # noqa: E402
import training  # noqa: E402

from rnn_retrain.environment.quiet import load_tensorflow_quietly, prepare_environment  # noqa: E402


def text_stage_rows(args: argparse.Namespace) -> list[list[str]]:
    """Tokenize + pad rows, from fresh child processes of `text_stages`."""
    options = argparse.Namespace(
        data=args.data,
        rows=args.rows,
        scales=args.scales,
        repeats=3,
        scale_repeats=2,
        memory_fraction=0.8,
    )
    scales = sorted(set(args.scales) | {1})
    limit = options.memory_fraction * text_stages.available_mebibytes()
    jobs = [(name, 1) for name in text_stages.PIPELINES]
    jobs += [("ours", scale) for scale in scales if scale != 1]
    measurements = {job: text_stages.measure(*job, options, limit) for job in jobs}
    rows = text_stages.baseline_rows(measurements) + text_stages.scale_rows(measurements, scales)
    return [["tokenize+pad " + row[0], *row[1:]] for row in rows]


def training_rows(args: argparse.Namespace) -> list[list[str]]:
    """Training rows: throughput and accuracy per cell."""
    load_tensorflow_quietly()
    import keras

    data = training.padded_arrays(args.data, args.rows)
    rows = []
    for cell in args.cells:
        keras.utils.set_random_seed(1337)
        plain = training.run_plain(cell, data, args.epochs)
        keras.utils.set_random_seed(1337)
        ours = training.run_ours(cell, data, args.epochs)
        rows += training.comparison_rows(cell, plain, ours)
    return rows


def main() -> None:
    """Run the three benchmarks and print their rows as one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="IMDB Parquet (text, label, split)")
    parser.add_argument("--scales", nargs="+", type=int, default=[1, 4, 10])
    parser.add_argument("--cells", nargs="+", default=["simplernn", "gru", "lstm"])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--rows", type=int, default=None, help="sample rows (a quick run)")
    pipeline.add_run_flags(parser)
    args = parser.parse_args()
    prepare_environment()
    console = Console(width=160)
    started = time.perf_counter()
    sections = [
        ("text stages", lambda: text_stage_rows(args)),
        ("training", lambda: training_rows(args)),
        (
            "end to end",
            lambda: pipeline.pipeline_rows(args.data, "lstm", args.epochs, args.run_flags),
        ),
    ]
    rows = []
    for title, measure in sections:
        console.log(f"measuring {title}")
        rows += measure()
    table = Table(title=f"rnn-retrain benchmarks on {os.path.basename(args.data)}")
    for column in ("figure", "baseline", "ours", "ratio", "target", "met?"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print(text_stages.machine_line())
    console.print(f"total: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
