"""`retrain predict` and `retrain models ...` against a registry filled by two real runs."""

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from rnn_retrain.config.retrain import RetrainConfig
from rnn_retrain.flows.retrain import retrain
from rnn_retrain.interface.cli import main
from rnn_retrain.registry.versions import ModelRegistry

# Two models that must learn (8 epochs each), shared by the module.
# One xdist group: the module-scoped fixture trains once, on the one worker that runs them.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(__name__)]


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory, prefect_server) -> str:
    root = tmp_path_factory.mktemp("cli-registry")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    for seed in (1, 2):
        retrain(
            RetrainConfig.from_flat(
                demo_size=3000,  # Enough to learn the demo's negations (see test_register_flow).
                maxlen=40,
                units=16,
                embedding_dim=16,
                learning_rate=0.01,
                cell="gru",
                epochs=8,
                seed=seed,
                # XLA compiles each length bucket's step: a cost, not a subject, here.
                xla=False,
                artifact_root=str(root / "artifacts"),
                tracking_uri=uri,
            )
        )
    return uri


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, " ".join(captured.out.split()), captured.err


def test_predict_scores_texts_with_the_champion(tracking_uri, capsys):
    texts = {
        "the acting was not good": "negative",
        "although the plot was dull , the cast was brilliant": "positive",
    }
    assert main(["predict", *texts, "--tracking-uri", tracking_uri]) == 0
    lines = capsys.readouterr().out.splitlines()
    for text, label in texts.items():
        row = next(line for line in lines if text in line)
        assert label in row


def test_predict_a_file_into_parquet_with_a_chosen_version(tracking_uri, tmp_path, capsys):
    reviews = tmp_path / "reviews.csv"
    pacsv.write_csv(
        pa.table({"review": ["the story was wonderful", "the score was far from memorable"]}),
        reviews,
    )
    out = tmp_path / "scores.parquet"
    # Chosen by number: the champion's, the better of the two fixture models.
    best = str(ModelRegistry(tracking_uri, "review-sentiment").champion().version)
    code, printed, _ = run_cli(
        capsys,
        "predict",
        "--file",
        str(reviews),
        "--text-column",
        "review",
        "--out",
        str(out),
        "--model-version",
        best,
        "--tracking-uri",
        tracking_uri,
    )
    assert code == 0 and f"scored 2 reviews with review-sentiment v{best}" in printed
    scores = pq.read_table(out)
    assert scores.column_names == ["review", "probability", "prediction"]
    assert scores["prediction"].to_pylist() == [1, 0]
    assert not [path for path in tmp_path.iterdir() if ".tmp-" in path.name]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["predict", "   "], "error: command line: review 1 is empty"),
        (["predict"], "error: nothing to score"),
        (
            ["predict", "x", "--model-version", "9"],
            "error: model 'review-sentiment' has no version 9",
        ),
        (
            ["predict", "x", "--alias", "staging"],
            "error: model 'review-sentiment' has no alias 'staging'",
        ),
        (["predict", "x", "--model-name", "other"], "error: model 'other' has no champion yet"),
    ],
)
def test_predict_bad_input_is_one_line(tracking_uri, capsys, args, message):
    code, _, err = run_cli(capsys, *args, "--tracking-uri", tracking_uri)
    assert code == 2 and err.count("\n") == 1 and err.startswith(message)


def test_predict_refuses_a_non_text_column(tracking_uri, tmp_path, capsys):
    numbers = tmp_path / "numbers.parquet"
    pq.write_table(pa.table({"text": [1, 2]}), numbers)
    code, _, err = run_cli(
        capsys, "predict", "--file", str(numbers), "--tracking-uri", tracking_uri
    )
    assert code == 3 and "text column 'text' holds int64, not text" in err


def test_models_list_show_and_history(tracking_uri, capsys):
    code, listing, _ = run_cli(capsys, "models", "list", "--tracking-uri", tracking_uri)
    assert code == 0 and "champion" in listing and "challenger" in listing
    code, document, _ = run_cli(capsys, "models", "list", "--json", "--tracking-uri", tracking_uri)
    versions = json.loads(document)["versions"]
    assert code == 0 and [item["version"] for item in versions] == ["1", "2"]
    assert [item for item in versions if "champion" in item["aliases"]]
    assert all(item["tags"]["gate.decision"] == "promote" for item in versions[:1])
    code, document, _ = run_cli(capsys, "models", "show", "--json", "--tracking-uri", tracking_uri)
    shown = json.loads(document)
    assert code == 0 and "champion" in shown["aliases"] and shown["tags"]["lineage_key"]
    assert "promote" in listing
    code, shown, _ = run_cli(
        capsys, "models", "show", "--model-version", "1", "--tracking-uri", tracking_uri
    )
    assert (
        code == 0
        and "review-sentiment v1" in shown
        and "lineage_key" in shown
        and "data.snapshot_sha256" in shown
    )
    code, history, _ = run_cli(capsys, "models", "history", "--tracking-uri", tracking_uri)
    assert code == 0 and "promotion" in history
    code, serving, _ = run_cli(
        capsys, "models", "history", "--at", "2000-01-01", "--tracking-uri", tracking_uri
    )
    assert code == 2


def test_predict_works_from_a_fresh_process(tracking_uri):
    result = subprocess.run(
        [
            Path(sys.executable).with_name("retrain"),
            "predict",
            "it was well worth watching",
            "--tracking-uri",
            tracking_uri,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "positive" in result.stdout and "Traceback" not in result.stderr
