"""End to end: the plain tutorial script against ``retrain run``; a cached re-run; overhead.

- e2e: the tutorial script (legacy ``Tokenizer(num_words=5000)``, ``pad_sequences(maxlen=500)``,
  the tutorial model, ``fit(batch_size=60, validation_split=0.5)`` on shuffled train rows,
  ``evaluate`` on test) against ``retrain run`` with the same data, cell and epochs, as a fresh
  process with a fresh ``RETRAIN_HOME``: Parquet I/O, orchestration, data gate and registry
  included. Both read the same Parquet file.
- re-run: the same ``retrain run`` again: every stage comes from the cache (target ≤ 10 s).
- overhead: the flow's wall time minus the time inside its task bodies (from the Prefect API),
  on a run of the built-in demo corpus, and the start-up of Prefect's ephemeral API.

    python benchmarks/pipeline.py --data ../shared/datasets/imdb/reviews.parquet
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from rnn_retrain.environment.quiet import load_tensorflow_quietly, prepare_environment

RETRAIN = str(Path(sys.executable).with_name("retrain"))
# Dropped for every run with a home of its own: an exported registry would get every benchmark
# model, and its champion's files would go with the temporary home.
REGISTRY_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


def fresh_home_env(home: str | Path) -> dict[str, str]:
    """This environment for a ``retrain run`` with its own home: project files, Prefect, MLflow."""
    env = {**os.environ, "RETRAIN_HOME": str(home), "PREFECT_HOME": f"{home}/prefect"}
    for name in REGISTRY_VARIABLES:
        env.pop(name, None)
    return env


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    """``--run-flags``: more ``retrain run`` flags for every run a benchmark starts."""
    parser.add_argument(
        "--run-flags",
        type=shlex.split,
        default=[],
        metavar="FLAGS",
        help="more retrain run flags for every run, last (they win), e.g. a small model for a "
        "quick try: --run-flags='--maxlen 30 --units 4 --no-xla' (figures then describe it)",
    )


def plain_script(path: str, cell: str, epochs: int) -> tuple[float, float]:
    """The tutorial script, timed from reading the data to the test accuracy."""
    load_tensorflow_quietly()
    import keras
    from tf_keras.preprocessing.text import Tokenizer

    from rnn_retrain.config.retrain import ModelSettings, TrainingSettings
    from rnn_retrain.model.network import build_model

    started = time.perf_counter()
    table = pq.read_table(path, columns=["text", "label", "split"])
    train = table.filter(pc.equal(table["split"], "train"))
    train = train.take(np.random.default_rng(0).permutation(train.num_rows))
    test = table.filter(pc.equal(table["split"], "test"))
    tokenizer = Tokenizer(num_words=5000)
    tokenizer.fit_on_texts(train["text"].to_pylist())

    def padded(part):
        sequences = tokenizer.texts_to_sequences(part["text"].to_pylist())
        return keras.utils.pad_sequences(sequences, maxlen=500)

    x_train, x_test = padded(train), padded(test)
    model = build_model(5000, ModelSettings(cell=cell), TrainingSettings(xla=False))
    model.fit(
        x_train,
        train["label"].to_numpy().astype("float32"),
        batch_size=60,
        epochs=epochs,
        validation_split=0.5,
        verbose=0,
    )
    _, accuracy = model.evaluate(
        x_test, test["label"].to_numpy().astype("float32"), batch_size=1024, verbose=0
    )
    return time.perf_counter() - started, float(accuracy)


def retrain_run(
    path: str, cell: str, epochs: int, home: str, flags: Sequence[str] = ()
) -> tuple[float, str]:
    """``retrain run`` as a fresh process (``flags`` last); its wall time and its output."""
    command = [RETRAIN, "run", "--data", path, "--cell", cell, "--epochs", str(epochs), *flags]
    started = time.perf_counter()
    result = subprocess.run(
        command,
        env=fresh_home_env(home),
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"retrain run failed: {result.stderr.strip()[-2000:]}")
    return seconds, result.stdout


def accuracy_from(output: str) -> float:
    """The test accuracy printed by ``retrain run``."""
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.strip("│┃ ").split("│")]
        if len(cells) == 2 and cells[0] == "accuracy":
            return float(cells[1])
    raise ValueError("no accuracy in the output of retrain run")


def orchestration_overhead(home: str, flags: Sequence[str] = ()) -> tuple[float, float, float]:
    """Ephemeral API start-up, then flow wall time and time inside tasks, on a demo run.

    ``flags`` are ``retrain run`` flags for that run, read by the CLI's own parser.
    """
    os.environ["RETRAIN_HOME"] = home
    os.environ["PREFECT_HOME"] = f"{home}/prefect-overhead"
    for name in REGISTRY_VARIABLES:
        os.environ.pop(name, None)
    from prefect.server.api.server import SubprocessASGIServer

    started = time.perf_counter()
    SubprocessASGIServer().start()
    startup = time.perf_counter() - started
    from prefect import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        FlowRunFilterParentFlowRunId,
    )

    from rnn_retrain.flows.retrain import retrain
    from rnn_retrain.interface.cli import build_parser, config_from_args

    config = config_from_args(build_parser().parse_args(["run", "--epochs", "2", *flags]))
    started = time.perf_counter()
    summary = retrain(config)
    wall = time.perf_counter() - started
    with get_client(sync_client=True) as client:
        # The data stages run in the prepare-data subflow: its task runs count too.
        subflows = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[summary.run_id])
            )
        )
        run_ids = [summary.run_id, *(str(run.id) for run in subflows)]
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=run_ids))
        )
    inside = sum(run.total_run_time.total_seconds() for run in runs)
    return startup, wall, inside


def pipeline_rows(path: str, cell: str, epochs: int, flags: Sequence[str] = ()) -> list[list[str]]:
    """The rows of the results table: figure, baseline, ours, ratio, target, met?.

    ``flags`` go to both ``retrain run`` processes and to the overhead run.
    """
    with tempfile.TemporaryDirectory() as home:
        plain_seconds, plain_accuracy = plain_script(path, cell, epochs)
        ours_seconds, output = retrain_run(path, cell, epochs, home, flags)
        rerun_seconds, _ = retrain_run(path, cell, epochs, home, flags)
        startup, wall, inside = orchestration_overhead(home, flags)
    ours_accuracy = accuracy_from(output)
    ratio = plain_seconds / ours_seconds
    return [
        [f"e2e wall, {cell} {epochs} epochs", f"{plain_seconds:.0f} s", f"{ours_seconds:.0f} s",
         f"{ratio:.2f}×", "≥ 1×", "yes" if ratio >= 1 else "NO"],
        [f"e2e test accuracy, {cell}", f"{plain_accuracy:.4f}", f"{ours_accuracy:.4f}",
         f"{(ours_accuracy - plain_accuracy) * 100:+.2f} pt", "report", "—"],
        ["re-run, unchanged data and config", "n/a", f"{rerun_seconds:.1f} s", "n/a", "≤ 10 s",
         "yes" if rerun_seconds <= 10 else "NO"],
        ["orchestration overhead (demo run)", "n/a", f"{wall - inside:.1f} s",
         f"flow {wall:.1f} s, tasks {inside:.1f} s", "< 5 s",
         "yes" if wall - inside < 5 else "NO"],
        ["Prefect ephemeral API start-up", "n/a", f"{startup:.1f} s", "n/a", "report", "—"],
    ]  # fmt: skip


def main() -> None:
    """Run the end-to-end comparison and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="IMDB Parquet (text, label, split)")
    parser.add_argument("--cell", default="lstm")
    parser.add_argument("--epochs", type=int, default=10)
    add_run_flags(parser)
    args = parser.parse_args()
    prepare_environment()
    table = Table(title="End to end")
    for column in ("figure", "baseline", "ours", "ratio", "target", "met?"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    for row in pipeline_rows(args.data, args.cell, args.epochs, args.run_flags):
        table.add_row(*row)
    Console().print(table)


if __name__ == "__main__":
    main()
