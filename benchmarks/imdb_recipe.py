"""Train the tutorial recipe with each recurrent cell on IMDB and print accuracy and wall time.

Every cell runs through the real retraining flow (ingest → tokenize → pad → train → evaluate),
so the wall time includes Parquet I/O and orchestration, not only ``model.fit``.

    python benchmarks/imdb_recipe.py --data ../shared/datasets/imdb/reviews.parquet

Use ``--cells lstm`` to run one cell, ``--epochs`` to shorten the runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

from rich.console import Console
from rich.table import Table

from rnn_retrain.config import RetrainConfig
from rnn_retrain.quiet import load_tensorflow_quietly, prepare_environment


def main() -> None:
    """Run the recipe once per cell and print one table row per run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="IMDB Parquet (text, label, split)")
    parser.add_argument("--cells", nargs="+", default=["simplernn", "gru", "lstm"])
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    prepare_environment()
    load_tensorflow_quietly()
    from flows.retrain import retrain  # After the environment is set: it loads TensorFlow.

    table = Table(title=f"Tutorial recipe on {os.path.basename(args.data)}")
    for column in ("cell", "test accuracy", "f1", "roc_auc", "epochs (best)", "train s", "wall s"):
        table.add_column(column, justify="right")
    with tempfile.TemporaryDirectory() as root:
        for cell in args.cells:
            config = RetrainConfig.from_flat(
                data=args.data, cell=cell, epochs=args.epochs, artifact_root=root
            )
            started = time.perf_counter()
            summary = retrain(config)
            wall = time.perf_counter() - started
            metrics = summary.metrics
            table.add_row(
                cell,
                f"{metrics['accuracy']:.4f}",
                f"{metrics['f1']:.4f}",
                f"{metrics['roc_auc']:.4f}",
                f"{summary.epochs_run} ({summary.best_epoch})",
                f"{summary.train_seconds:.0f}",
                f"{wall:.0f}",
            )
    console = Console()
    console.print(table)
    console.print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}"
    )


if __name__ == "__main__":
    main()
