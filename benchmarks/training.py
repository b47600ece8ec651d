"""Training throughput and accuracy: the tutorial's plain ``model.fit`` against our fit, per cell.

Both sides train the tutorial model (Embedding(5000, 32) → cell(32) → Dropout(0.2) → Dense(1))
on the same padded IMDB arrays (our tokenize + pad, vocabulary 5000, maxlen 500), with Adam 1e-3,
batch 60, up to 10 epochs and half of the shuffled train split held out for validation, then
score the test split:

- plain: ``model.fit(x, y, batch_size=60, epochs=10, validation_split=0.5)`` on fixed-length rows;
- ours: `rnn_retrain.model.fitting.fit_model` with the project defaults: length buckets, XLA, early stopping.

Throughput is train rows × epochs run / fit seconds (validation included on both sides, XLA
compilation included on ours).

    python benchmarks/training.py --data ../shared/datasets/imdb/reviews.parquet

``--rows N`` trains on N train rows (and scores N test rows) for a quick check.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from rnn_retrain.environment.quiet import load_tensorflow_quietly, prepare_environment

TUTORIAL_VALIDATION = 0.5


def padded_arrays(path: str, rows: int | None) -> dict[str, np.ndarray]:
    """Train and test matrices from our own tokenize + pad, train rows shuffled."""
    from rnn_retrain.data.preprocessing import encode_tokens, pad_token_ids, tokenize_texts
    from rnn_retrain.stages.tokenize import fit_vocabulary

    table = pq.read_table(path, columns=["text", "label", "split"])
    arrays = {}
    vocabulary = None
    for split in ("train", "test"):
        part = table.filter(pc.equal(table["split"], split))
        order = np.random.default_rng(0).permutation(part.num_rows)[:rows]
        part = part.take(order)
        tokens = tokenize_texts(part["text"])
        if vocabulary is None:
            vocabulary = fit_vocabulary(tokens, 5000)
        arrays[f"x_{split}"] = pad_token_ids(encode_tokens(tokens, vocabulary), 500)
        arrays[f"y_{split}"] = part["label"].to_numpy().astype(np.float32)
    return arrays


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean((probabilities >= 0.5) == (labels >= 0.5)))


def run_plain(cell: str, data: dict[str, np.ndarray], epochs: int) -> dict[str, float]:
    """The tutorial script's fit and evaluate."""
    from rnn_retrain.config.retrain import ModelSettings, TrainingSettings
    from rnn_retrain.model.network import build_model

    model = build_model(5000, ModelSettings(cell=cell), TrainingSettings(xla=False))
    started = time.perf_counter()
    history = model.fit(
        data["x_train"],
        data["y_train"],
        batch_size=60,
        epochs=epochs,
        validation_split=TUTORIAL_VALIDATION,
        verbose=0,
    )
    seconds = time.perf_counter() - started
    trained_rows = len(data["x_train"]) - int(len(data["x_train"]) * TUTORIAL_VALIDATION)
    epochs_run = len(history.history["loss"])
    scores = model.predict(data["x_test"], batch_size=1024, verbose=0).reshape(-1)
    return {
        "seconds": seconds,
        "epochs": epochs_run,
        "throughput": trained_rows * epochs_run / seconds,
        "accuracy": accuracy(scores, data["y_test"]),
    }


def run_ours(cell: str, data: dict[str, np.ndarray], epochs: int) -> dict[str, float]:
    """The project's fit (defaults: length buckets, XLA, early stopping) and bucketed scoring."""
    from rnn_retrain.config.retrain import RetrainConfig
    from rnn_retrain.model.batching import FIT, bucket_boundaries, rows_in_memory
    from rnn_retrain.model.fitting import FitHooks, fit_model
    from rnn_retrain.model.network import build_model
    from rnn_retrain.model.serving import predict_probabilities

    config = RetrainConfig.from_flat(
        cell=cell, epochs=epochs, validation_fraction=TUTORIAL_VALIDATION
    )
    training, text = config.training, config.text
    rows = rows_in_memory(
        data["x_train"], data["y_train"], training.validation_fraction, training.seed
    )
    boundaries = bucket_boundaries(rows.role_lengths(FIT), training.length_buckets, text.maxlen)
    model = build_model(5000, config.model, training)
    started = time.perf_counter()
    outcome = fit_model(
        model, rows, training, text.padding, boundaries, FitHooks(report=lambda line: None)
    )
    seconds = time.perf_counter() - started
    scores = predict_probabilities(model, data["x_test"], boundaries, text.padding)
    return {
        "seconds": seconds,
        "epochs": outcome.epochs_run,
        "throughput": outcome.fit_rows * outcome.epochs_run / seconds,
        "accuracy": accuracy(scores, data["y_test"]),
        "buckets": boundaries,
    }


def comparison_rows(cell: str, plain: dict, ours: dict) -> list[list[str]]:
    """Table rows for one cell: throughput, test accuracy and fit time, plain against ours."""
    speedup = ours["throughput"] / plain["throughput"]
    drop = plain["accuracy"] - ours["accuracy"]
    return [
        [f"{cell} train rows/s", f"{plain['throughput']:.0f}", f"{ours['throughput']:.0f}",
         f"{speedup:.2f}×", "≥ 2×", "yes" if speedup >= 2 else "NO"],
        [f"{cell} test accuracy", f"{plain['accuracy']:.4f}", f"{ours['accuracy']:.4f}",
         f"{-drop * 100:+.2f} pt", "≥ -0.5 pt", "yes" if drop <= 0.005 else "NO"],
        [f"{cell} fit s (epochs)", f"{plain['seconds']:.0f} ({plain['epochs']})",
         f"{ours['seconds']:.0f} ({ours['epochs']})", "", "", ""],
    ]  # fmt: skip


def main() -> None:
    """Run plain and ours for each cell and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="IMDB Parquet (text, label, split)")
    parser.add_argument("--cells", nargs="+", default=["simplernn", "gru", "lstm"])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--rows", type=int, default=None, help="train/test rows (default all)")
    args = parser.parse_args()
    prepare_environment()
    load_tensorflow_quietly()
    import keras

    data = padded_arrays(args.data, args.rows)
    table = Table(title=f"Training, plain model.fit vs ours, {len(data['x_train'])} train rows")
    for column in ("figure", "baseline", "ours", "ratio", "target", "met?"):
        table.add_column(column, justify="right")
    for cell in args.cells:
        keras.utils.set_random_seed(1337)
        plain = run_plain(cell, data, args.epochs)
        keras.utils.set_random_seed(1337)
        ours = run_ours(cell, data, args.epochs)
        for row in comparison_rows(cell, plain, ours):
            table.add_row(*row)
        print(f"{cell}: plain {plain} ours {ours}", flush=True)
    console = Console()
    console.print(table)
    console.print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}; ours uses bucket lengths {ours['buckets']}"
    )


if __name__ == "__main__":
    main()
