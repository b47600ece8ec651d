"""The benchmark command runs end to end on a tiny corpus (figures not asserted: no timing tests).

The scripts' ``retrain run`` processes use the session's Prefect test server (PREFECT_API_URL,
as a team's runs use theirs) instead of each starting and migrating a temporary one: about 35 s
a process here. What a new user's first run costs is measured by the scripts' own Prefect
start-up figure, which starts a server of its own, and proved by tests/test_first_use.py.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rnn_retrain.data.demo import generate_reviews

ROOT = Path(__file__).parents[1]
# A tiny model for every retrain run the scripts start: the scripts' runs, tables and JSON lines
# are the subject here, not the figures. With the default model (maxlen 500, 32 units, XLA) the
# three tests took 874 s of a 3,097 s suite (junit durations, a fresh clone on this machine).
# The demo size reaches the runs on the demo corpus (all.py's orchestration overhead); the runs
# on --data files ignore it.
VERDICTS = ("RNN significantly better", "RNN significantly worse", "no significant difference")
RUN_FLAGS = [
    "--run-flags=--maxlen 20 --units 4 --embedding-dim 4 --no-xla --min-accuracy 0 --demo-size 300"
    " --ngram-buckets 16384"
]


def run_benchmark(script: str, arguments: list[str], folder: Path) -> str:
    """Run a benchmark script in ``folder``; its output, whitespace collapsed."""
    from prefect.settings import PREFECT_API_URL

    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *arguments],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=folder,
        env={**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return " ".join(result.stdout.split())


@pytest.mark.long
@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.usefixtures("prefect_server")
def test_benchmark_command_prints_every_target_on_a_tiny_corpus(tmp_path):
    table = generate_reviews(400, seed=3)
    # One row per text: the data gate stops a run whose test reviews also sit in train.
    table = table.take(
        np.unique(table["text"].to_numpy(zero_copy_only=False), return_index=True)[1]
    )
    splits = np.where(np.arange(table.num_rows) % 2 == 0, "train", "test")
    data = tmp_path / "reviews.parquet"
    pq.write_table(table.append_column("split", pa.array(splits)), data)
    arguments = ["--data", str(data), "--rows", "150", "--scales", "1", "2", "--epochs", "1"]
    output = run_benchmark("all.py", [*arguments, "--cells", "simplernn", *RUN_FLAGS], tmp_path)
    for figure in (
        "tokenize+pad 1× wall, vs legacy",
        "tokenize+pad 1× wall, vs TextVectorization",
        "tokenize+pad 2× wall, ours",
        "simplernn train rows/s",
        "simplernn test accuracy",
        "e2e wall, lstm 1 epochs",
        "re-run, unchanged data and config",
        "orchestration overhead",
        "Prefect ephemeral API start-up",
    ):
        assert figure in output, figure


@pytest.mark.long
@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.usefixtures("prefect_server")
def test_memory_benchmark_compares_streamed_and_in_memory_runs_on_a_tiny_corpus(tmp_path):
    table = generate_reviews(300, seed=4)
    data = tmp_path / "reviews.parquet"
    pq.write_table(table, data)
    arguments = ["--data", str(data), "--copies", "3", "--chunk-rows", "200", *RUN_FLAGS]
    output = run_benchmark("memory.py", arguments, tmp_path)
    assert "900 rows (3× the input)" in output
    for figure in ("peak RSS GiB", "wall s", "test accuracy", "3× streamed", "3× in memory"):
        assert figure in output


@pytest.mark.long
@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.usefixtures("prefect_server")
def test_recipe_benchmark_compares_both_recipes_with_the_script_and_baseline(tmp_path):
    """The default recipes (hybrid, strong) beside the script and both baselines, each run with
    its McNemar verdict against its own baseline."""
    table = generate_reviews(400, seed=5)
    table = table.take(
        np.unique(table["text"].to_numpy(zero_copy_only=False), return_index=True)[1]
    )
    splits = np.where(np.arange(table.num_rows) % 2 == 0, "train", "test")
    data = tmp_path / "reviews.parquet"
    pq.write_table(table.append_column("split", pa.array(splits)), data)
    # One seed: the runs, the table and the JSON lines are what is proved here, not a spread.
    arguments = ["--data", str(data), "--cells", "gru", "--seeds", "1", "--epochs", "1", *RUN_FLAGS]
    output = run_benchmark("imdb_recipe.py", arguments, tmp_path)
    assert "tutorial script, lstm: accuracy" in output and "Recipes on IMDB" in output
    for kind in ("NB-weighted logistic regression", "TF-IDF over unigrams and bigrams"):
        assert f"baseline, {kind}" in output
    runs = [json.loads(line) for line in (tmp_path / "imdb_recipe.jsonl").read_text().splitlines()]
    assert sorted((run["recipe"], run["seed"]) for run in runs) == [("hybrid", 1), ("strong", 1)]
    for run in runs:
        assert run["cell"] == "gru" and 0 <= run["accuracy"] <= 1
        assert 0 <= run["baseline_accuracy"] <= 1 and run["wall_seconds"] > 0
        assert run["against_baseline"] in VERDICTS


def test_the_few_reviews_benchmark_checks_both_paths_agree_before_timing_them(tmp_path):
    texts = generate_reviews(60, seed=2)["text"].to_pylist()
    texts[3] = "Café <br />naïve, not ASCII"  # Left out: the benchmark times ASCII reviews.
    data = tmp_path / "reviews.parquet"
    pq.write_table(pa.table({"text": texts, "split": ["train", "test"] * 30}), data)
    output = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "tokenise_few.py"), "--data", str(data)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert output.returncode == 0, output.stderr[-3000:]
    assert "29 ASCII IMDB test reviews" in output.stdout and "Python path:" in output.stdout
