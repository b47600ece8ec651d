"""Warm-started against cold-started retraining on IMDB, as a weekly refresh sees it.

A champion is trained on 20,000 of the 25,000 IMDB train reviews ("last week"). The other 5,000
then arrive: on all 25,000, for each seed, a cold ``retrain run`` and a ``retrain run --warm-start
champion`` are timed whole (fresh process; ingest, tokenize, the data gate, pad, train, evaluate,
the baseline and the gate), each on an artifact root of its own so that neither reuses the
other's cached stages. Both are judged by the gate against that champion, which the script puts
back after every run so each starts from the same one. Test accuracy is on the official 25,000
test reviews.

    python benchmarks/warm_start.py --data ../shared/datasets/imdb/reviews.parquet

Each run prints one JSON line as it ends (and appends it to ``--out``). The target: the warm
start in at most half the cold start's wall time, at no more than 0.3 points less accuracy.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))

from pipeline import RETRAIN, accuracy_from, add_run_flags, fresh_home_env  # noqa: E402

from rnn_retrain.environment.quiet import prepare_environment  # noqa: E402

EPOCHS_LINE = re.compile(r"training: .*?; (\d+) epochs in ([0-9.]+)s")
START_LINE = re.compile(r"(warm start: [^\n]*|cold start: [^\n]*)")
LAST_WEEK_ROWS = 20_000
MODEL_NAME = "review-sentiment"


def write_weeks(data: str, folder: Path, seed: int) -> tuple[Path, Path]:
    """Last week's data (a seeded 20,000 of the train reviews, every test review) and this
    week's (every train and test review), as two Parquet files."""
    import numpy as np
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(data, columns=["text", "label", "split"])
    train = np.flatnonzero(pc.equal(table["split"], "train").to_numpy(zero_copy_only=False))
    test = np.flatnonzero(pc.equal(table["split"], "test").to_numpy(zero_copy_only=False))
    kept = np.random.default_rng(seed).choice(train, LAST_WEEK_ROWS, replace=False)
    last_week, this_week = folder / "last_week.parquet", folder / "this_week.parquet"
    pq.write_table(table.take(np.sort(np.concatenate([kept, test]))), last_week)
    pq.write_table(table, this_week)
    return last_week, this_week


def timed_run(home: str, data: Path, label: str, flags: list[str]) -> dict:
    """One ``retrain run`` on ``data`` in a fresh process, on an artifact root of its own."""
    command = [RETRAIN, "run", "--data", str(data), "--artifact-root", f"{home}/{label}", *flags]
    started = time.perf_counter()
    result = subprocess.run(
        command, env=fresh_home_env(home), capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stderr.strip()[-2000:]}")
    epochs = EPOCHS_LINE.search(result.stdout)
    start = START_LINE.search(result.stdout)
    return {
        "run": label,
        "accuracy": accuracy_from(result.stdout),
        "wall_seconds": round(wall, 1),
        "epochs": int(epochs.group(1)) if epochs else None,
        "train_seconds": float(epochs.group(2)) if epochs else None,
        "start": start.group(1).strip() if start else "cold",
    }


def restore_champion(home: str, version: str) -> None:
    """Point the champion alias back at ``version``, whatever the last gate decided."""
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{home}/mlflow.db")
    client.set_registered_model_alias(MODEL_NAME, "champion", version)


def spread(values: list[float], digits: int) -> str:
    mean = statistics.mean(values)
    deviation = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.{digits}f} ± {deviation:.{digits}f}"


def summary_table(runs: list[dict]) -> Table:
    table = Table(title="This week's retrain on 25,000 reviews, from last week's champion")
    for column in ("start", "seeds", "test accuracy", "wall s", "epochs", "train s"):
        table.add_column(column, justify="left" if column == "start" else "right")
    for kind in ("cold", "warm"):
        chosen = [run for run in runs if run["run"].startswith(kind)]
        if not chosen:
            continue
        table.add_row(
            kind,
            str(len(chosen)),
            spread([run["accuracy"] for run in chosen], 4),
            spread([run["wall_seconds"] for run in chosen], 0),
            spread([run["epochs"] for run in chosen], 1),
            spread([run["train_seconds"] for run in chosen], 0),
        )
    return table


def main() -> None:
    """Train last week's champion, then time cold and warm retrains for every seed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="IMDB Parquet (text, label, split)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1337, 1338, 1339])
    parser.add_argument("--out", default="warm_start.jsonl", help="one JSON line per run")
    add_run_flags(parser)
    args = parser.parse_args()
    prepare_environment()
    console = Console()
    runs = []
    with tempfile.TemporaryDirectory() as home:
        last_week, this_week = write_weeks(args.data, Path(home), seed=0)
        champion = timed_run(home, last_week, "champion", args.run_flags)
        console.print(json.dumps(champion))
        for seed in args.seeds:
            for kind, flags in (("cold", []), ("warm", ["--warm-start", "champion"])):
                run_flags = ["--seed", str(seed), *flags, *args.run_flags]
                run = {**timed_run(home, this_week, f"{kind}-{seed}", run_flags), "seed": seed}
                restore_champion(home, "1")
                runs.append(run)
                console.print(json.dumps(run))
                with open(args.out, "a") as out:
                    out.write(json.dumps({**run, "champion": champion}) + "\n")
    console.print(summary_table(runs))
    cold = [run for run in runs if run["run"].startswith("cold")]
    warm = [run for run in runs if run["run"].startswith("warm")]
    if cold and warm:
        ratio = statistics.mean(r["wall_seconds"] for r in warm) / statistics.mean(
            r["wall_seconds"] for r in cold
        )
        change = statistics.mean(r["accuracy"] for r in warm) - statistics.mean(
            r["accuracy"] for r in cold
        )
        console.print(
            f"warm / cold wall time {ratio:.2f} (target ≤ 0.50); accuracy change "
            f"{change * 100:+.2f} points (target ≥ -0.30); champion (20,000 reviews) "
            f"{champion['accuracy']:.4f} in {champion['wall_seconds']:.0f} s"
        )


if __name__ == "__main__":
    main()
