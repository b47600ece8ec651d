"""The hybrid and strong recipes on full IMDB, per cell and seed, beside the tutorial script and
the baselines.

Every run is a whole ``retrain run`` in a fresh process with a fresh ``RETRAIN_HOME`` (ingest,
tokenize, the data gate, pad, train, evaluate, the bag-of-words baseline and the registry), so
its wall time is what a user waits. The tutorial script's LSTM (the legacy ``Tokenizer``, fixed
length 500, ten epochs; `pipeline.plain_script`) is timed first in the same run: the strong
and hybrid LSTMs' target is to need no more wall time than it. Each run also records the
McNemar verdict against its own baseline (`--require-beat-baseline` passes where it is
"better").

    python benchmarks/imdb_recipe.py --data ../shared/datasets/imdb/reviews.parquet

Each run prints one line as it ends (and appends it as JSON to ``--out``), so a run cut short
still reports what it measured. ``--cells``, ``--recipes`` and ``--seeds`` choose the cells;
``--variant LABEL=FLAGS`` adds a row of runs with more ``retrain run`` flags, e.g.
``--variant "strong, bidirectional, 3 epochs=--recipe strong --bidirectional --epochs 3"``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))

from pipeline import RETRAIN, accuracy_from, add_run_flags, fresh_home_env, plain_script  # noqa: E402

from rnn_retrain.environment.quiet import prepare_environment  # noqa: E402

BASELINE_LINE = re.compile(r"^baseline: .*? accuracy ([0-9.]+)", re.MULTILINE)
VERDICT = re.compile(
    r"(RNN significantly better|RNN significantly worse|no significant difference)"
)


def fit_both_baselines(data: str, max_features: int, min_df: int) -> list[dict]:
    """Each kind of bag-of-words baseline fitted on the train rows and scored on the test rows,
    in this process (`rnn_retrain.stages.baseline`): the comparison that chose the default."""
    import numpy as np
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from rnn_retrain.stages.baseline import KINDS, fit_baseline

    table = pq.read_table(data, columns=["text", "label", "split"])
    train = table.filter(pc.equal(table["split"], "train"))
    test = table.filter(pc.equal(table["split"], "test"))
    fitted = []
    for kind in KINDS:
        started = time.perf_counter()
        baseline = fit_baseline(
            train["text"], train["label"].to_numpy(), max_features, min_df, kind
        )
        seconds = time.perf_counter() - started
        predictions = baseline.positive_probabilities(test["text"]) >= 0.5
        accuracy = float(np.mean(predictions == test["label"].to_numpy().astype(bool)))
        fitted.append({"kind": baseline.describe(), "accuracy": accuracy, "seconds": seconds})
    return fitted


def one_run(data: str, cell: str, label: str, flags: list[str], seed: int, epochs: int) -> dict:
    """``retrain run`` of one cell, recipe (or variant) and seed in a fresh process and home.

    ``flags`` come after ``--epochs``, so a variant's own ``--epochs`` wins.
    """
    command = [RETRAIN, "run", "--data", data, "--cell", cell, "--seed", str(seed)]
    command += ["--epochs", str(epochs), *flags]
    with tempfile.TemporaryDirectory() as home:
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        result = subprocess.run(
            command,
            env={**fresh_home_env(home), "HOME": home},
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - started
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stderr.strip()[-2000:]}")
    baseline = BASELINE_LINE.search(result.stdout)
    verdict = VERDICT.search(result.stdout)
    return {
        "cell": cell,
        "recipe": label,
        "seed": seed,
        "accuracy": accuracy_from(result.stdout),
        "baseline_accuracy": float(baseline.group(1)) if baseline else None,
        "against_baseline": verdict.group(1) if verdict else None,
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round(
            cpu_after.ru_utime + cpu_after.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime, 1
        ),
    }


def spread(values: list[float], digits: int) -> str:
    """Mean ± half the range (the spread), and the number of runs."""
    mean = statistics.fmean(values)
    half_range = (max(values) - min(values)) / 2
    return f"{mean:.{digits}f} ± {half_range:.{digits}f} (n={len(values)})"


def summary_table(runs: list[dict], script: dict, baselines: list[dict]) -> Table:
    """One row per recipe and cell, the tutorial script and the baselines: the figures asked
    for. ``baselines``: `fit_both_baselines`."""
    table = Table(title="Recipes on IMDB (25,000 train / 25,000 test)")
    for column in ("recipe", "cell", "test accuracy", "wall s (whole retrain run)", "CPU s"):
        table.add_column(column, justify="right")
    table.add_row(
        "tutorial script",
        "lstm",
        f"{script['accuracy']:.4f}",
        f"{script['wall_seconds']:.0f}",
        "—",
    )
    for recipe in dict.fromkeys(run["recipe"] for run in runs):
        for cell in dict.fromkeys(run["cell"] for run in runs):
            chosen = [run for run in runs if (run["recipe"], run["cell"]) == (recipe, cell)]
            if chosen:
                accuracy = spread([run["accuracy"] for run in chosen], 4)
                wall = spread([run["wall_seconds"] for run in chosen], 0)
                cpu = spread([run["cpu_seconds"] for run in chosen], 0)
                table.add_row(recipe, cell, accuracy, wall, cpu)
    for baseline in baselines:
        table.add_row(
            baseline["kind"],
            "—",
            f"{baseline['accuracy']:.4f}",
            f"{baseline['seconds']:.0f} (fit)",
            "—",
        )
    in_runs = [run["baseline_accuracy"] for run in runs if run["baseline_accuracy"]]
    if in_runs:
        table.add_row("the runs' own baseline", "—", spread(in_runs, 4), "in every run", "—")
    return table


def main() -> None:
    """Time the tutorial script, then run every recipe, cell and seed; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="IMDB Parquet (text, label, split)")
    parser.add_argument("--cells", nargs="+", default=["lstm", "gru", "simplernn"])
    parser.add_argument("--recipes", nargs="*", default=["hybrid", "strong"])
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="LABEL=FLAGS",
        help="a row of runs with these retrain run flags (repeatable)",
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[1337, 1338, 1339])
    parser.add_argument("--epochs", type=int, default=10, help="shorter runs for a quick try")
    parser.add_argument("--out", default="imdb_recipe.jsonl", help="one JSON line per run")
    parser.add_argument("--no-script", action="store_true", help="skip the tutorial script")
    parser.add_argument(
        "--baseline-max-features", type=int, default=800_000, help="both baselines' n-grams"
    )
    parser.add_argument(
        "--baselines-only", action="store_true", help="fit and print the two baselines, then stop"
    )
    add_run_flags(parser)
    args = parser.parse_args()
    prepare_environment()
    console = Console()
    script = {"accuracy": float("nan"), "wall_seconds": float("nan")}
    if not (args.no_script or args.baselines_only):
        seconds, accuracy = plain_script(args.data, "lstm", args.epochs)
        script = {"accuracy": accuracy, "wall_seconds": seconds}
        console.print(f"tutorial script, lstm: accuracy {accuracy:.4f}, {seconds:.0f} s")
    baselines = fit_both_baselines(args.data, args.baseline_max_features, min_df=2)
    for baseline in baselines:
        console.print(
            f"baseline, {baseline['kind']}: accuracy {baseline['accuracy']:.4f}, "
            f"fitted in {baseline['seconds']:.0f} s"
        )
    if args.baselines_only:
        return
    rows = [(recipe, ["--recipe", recipe]) for recipe in args.recipes]
    for variant in args.variant:
        label, separator, flags = variant.partition("=")
        if not separator:
            parser.error(f"--variant {variant!r}: expected LABEL=FLAGS")
        rows.append((label, shlex.split(flags)))
    rows = [(label, [*flags, *args.run_flags]) for label, flags in rows]
    runs = []
    # The target cell first, every row, so that a run cut short has answered the question.
    for cell in args.cells:
        for seed in args.seeds:
            for label, flags in rows:
                run = one_run(args.data, cell, label, flags, seed, args.epochs)
                runs.append(run)
                console.print(json.dumps(run))
                with open(args.out, "a") as out:
                    out.write(json.dumps({**run, "script": script}) + "\n")
    console.print(summary_table(runs, script, baselines))
    console.print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}"
    )


if __name__ == "__main__":
    main()
