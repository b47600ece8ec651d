"""The score flow and `retrain score` with a real champion trained by the real pipeline."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from uuid import UUID

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from rnn_retrain.config.scoring import ScoreConfig
from rnn_retrain.data.demo import generate_reviews
from rnn_retrain.errors import DataError
from rnn_retrain.flows.score import score
from rnn_retrain.interface.cli import main
from rnn_retrain.orchestration.ui_artifacts import SCORE_REPORT_ARTIFACT_KEY
from rnn_retrain.registry.versions import ModelRegistry

# Trains a model and starts flow runs.
# One xdist group: the module-scoped fixture trains once, on the one worker that runs them.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(__name__)]

TINY = ["--demo-size", "200", "--epochs", "1", "--maxlen", "20", "--units", "4", "--no-xla"]
SIZES = {"a.parquet": 90, "b.parquet": 70, "c.csv": 40}


@pytest.fixture(scope="module")
def champion(tmp_path_factory, prefect_server) -> dict[str, str]:
    """A registry whose champion a tiny `retrain run` trained; module-wide (it takes a while)."""
    root = tmp_path_factory.mktemp("score-champion")
    with pytest.MonkeyPatch.context() as patch:  # The function-scoped home is not set up yet.
        patch.setenv("RETRAIN_HOME", str(root / "home"))
        uri = f"sqlite:///{root / 'mlflow.db'}"
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        args = ["run", *TINY, "--min-accuracy", "0", "--tracking-uri", uri]
        assert main([*args, "--artifact-root", str(root / "artifacts")]) == 0
    version = ModelRegistry(uri, "review-sentiment").champion().version
    return {"tracking_uri": uri, "version": str(version)}


@pytest.fixture
def reviews(tmp_path: Path) -> Path:
    """A folder of two Parquet files and a CSV of demo reviews, numbered 0-199 in name order."""
    folder = tmp_path / "reviews"
    folder.mkdir()
    texts = generate_reviews(sum(SIZES.values()), seed=11)["text"].to_pylist()
    start = 0
    for name, rows in SIZES.items():
        table = pa.table(
            {"review_id": pa.array(range(start, start + rows)), "text": texts[start : start + rows]}
        )
        if name.endswith(".parquet"):
            pq.write_table(table, folder / name)
        else:
            pacsv.write_csv(table, folder / name)
        start += rows
    return folder


def ui_artifacts(flow_run_id: str) -> dict[str, str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(flow_run_id)])
            )
        )
    return {artifact.key: artifact.data for artifact in found}


def test_a_folder_is_scored_once_in_order_as_retrain_predict_scores_it(
    champion, reviews, tmp_path, capsys
):
    config = ScoreConfig(
        input=str(reviews),
        id_column="review_id",
        chunk_rows=37,
        tracking_uri=champion["tracking_uri"],
        artifact_root=str(tmp_path / "artifacts"),
    )
    result = score(config)

    predictions = pq.read_table(result.predictions.uri)
    assert predictions.column_names == ["review_id", "probability", "prediction"]
    assert predictions["review_id"].to_pylist() == list(range(200))
    # Chunks of 37 rows cross the files' boundaries: row groups of 37, the last one 15.
    assert pq.ParquetFile(result.predictions.uri).metadata.row_group(0).num_rows == 37

    # `retrain predict` on the same texts, in one piece, gives the same probabilities.
    texts = pa.concat_tables(
        [pq.read_table(reviews / name) for name in ("a.parquet", "b.parquet")]
        + [pacsv.read_csv(reviews / "c.csv")]
    )
    pq.write_table(texts.select(["text"]), tmp_path / "texts.parquet")
    args = ["predict", "--file", str(tmp_path / "texts.parquet"), "--out"]
    args += [str(tmp_path / "one-piece.parquet"), "--tracking-uri", champion["tracking_uri"]]
    assert main(args) == 0
    capsys.readouterr()
    one_piece = pq.read_table(tmp_path / "one-piece.parquet")
    np.testing.assert_allclose(
        predictions["probability"].to_numpy(), one_piece["probability"].to_numpy(), atol=1e-6
    )
    assert predictions["prediction"].to_pylist() == one_piece["prediction"].to_pylist()

    # The manifest: the resolved version behind the alias, and what exactly was scored.
    manifest = json.loads(Path(result.predictions.uri + ".manifest.json").read_text())
    params = manifest["params"]
    assert params["model_version"] == result.model_version == champion["version"]
    assert params["model_alias"] == "champion" and manifest["rows"] == 200
    digests = [hashlib.sha256((reviews / name).read_bytes()).hexdigest() for name in SIZES]
    assert [file["sha256"] for file in params["input_files"]] == digests
    assert (
        params["input_sha256"]
        == hashlib.sha256("".join(f"{d}\n" for d in digests).encode()).hexdigest()
    )
    assert (
        manifest["sha256"] == hashlib.sha256(Path(result.predictions.uri).read_bytes()).hexdigest()
    )
    assert f"/runs/{result.run_id}/score/predictions.parquet" in result.predictions.uri

    report = ui_artifacts(result.run_id)[SCORE_REPORT_ARTIFACT_KEY]
    assert "| rows scored | 200 |" in report and f"v{champion['version']}" in report


def test_a_bad_file_leaves_no_output(champion, reviews, tmp_path):
    pacsv.write_csv(pa.table({"review_id": [1, 2], "text": ["fine", " "]}), reviews / "c.csv")
    out = tmp_path / "out" / "predictions.parquet"
    config = ScoreConfig(
        input=str(reviews),
        chunk_rows=37,
        output=str(out),
        tracking_uri=champion["tracking_uri"],
        artifact_root=str(tmp_path / "artifacts"),
    )
    with pytest.raises(DataError, match=r"c\.csv: review 2 is empty"):
        score(config)
    assert not out.parent.exists() or not list(out.parent.iterdir())


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, " ".join(captured.out.split()), captured.err


def test_retrain_score_writes_where_asked_and_says_what_it_did(champion, reviews, tmp_path, capsys):
    out = tmp_path / "scores.parquet"
    uri = champion["tracking_uri"]
    code, printed, _ = run_cli(
        capsys, "score", str(reviews / "*.parquet"), "--chunk-rows", "37", "--out", str(out),
        "--model-version", champion["version"], "--tracking-uri", uri,
        "--artifact-root", str(tmp_path / "artifacts"),
    )  # fmt: skip
    assert code == 0, printed
    assert (
        f"scored 160 reviews from 2 file(s) with review-sentiment v{champion['version']}" in printed
    )
    assert pq.read_table(out).column_names == ["text", "probability", "prediction"]
    assert Path(f"{out}.manifest.json").is_file()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["missing.parquet"], 3, "missing.parquet: file not found"),
        (["{reviews}", "--alias", "staging"], 2, "model 'review-sentiment' has no alias 'staging'"),
        (["{reviews}", "--text-column", "body"], 3, "no text column 'body'"),
        (["{reviews}", "--chunk-rows", "0"], 2, "--chunk-rows: Input should be greater than"),
        (["{reviews}", "--out", "scores.csv"], 2, "--out: Value error, must be a path ending in"),
    ],
)
def test_retrain_score_bad_input_is_one_line(
    champion, reviews, tmp_path, capsys, args, code, message
):
    args = [arg.format(reviews=reviews) for arg in args]
    root = tmp_path / "artifacts"
    given = [
        "score",
        *args,
        "--tracking-uri",
        champion["tracking_uri"],
        "--artifact-root",
        str(root),
    ]
    exit_code, _, err = run_cli(capsys, *given)
    assert exit_code == code and err.count("\n") == 1 and err.startswith("error: ")
    assert message in err
    assert not list(root.rglob("*.parquet"))
