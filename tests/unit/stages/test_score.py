"""Batch scoring's logic on real small Parquet and CSV files: input, chunks, manifest, failures.

The model here is a stand-in `predict` (the length of each text, squashed): these tests are about
which rows reach the model, in what order and chunks, and what is written. Scoring with a real
registered model is tested in tests/flows/test_score_flow.py.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from rnn_retrain.config.scoring import ScoreConfig
from rnn_retrain.errors import DataError
from rnn_retrain.stages.score import (
    first_blank,
    prepare_input,
    read_input_chunks,
    resolve_input,
    score_table,
    write_predictions,
)
from rnn_retrain.store.artifacts import HASH_CHUNK_BYTES, ArtifactStore


class CountingModel:
    """A deterministic stand-in model that records the size of every batch it is given."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def predict(self, texts: list[str]) -> list[float]:
        self.batches.append(len(texts))
        return [1.0 - 1.0 / (1 + len(text)) for text in texts]


def texts(start: int, count: int) -> list[str]:
    return [f"review number {i} " + "good " * (i % 3) for i in range(start, start + count)]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Two Parquet files (100 + 50 rows) and a CSV (30 rows), with ids; plus files to skip."""
    folder = tmp_path / "reviews"
    folder.mkdir()
    for name, start, count in (("a.parquet", 0, 100), ("b.parquet", 100, 50)):
        ids = pa.array(range(start, start + count), pa.int64())
        pq.write_table(pa.table({"review_id": ids, "text": texts(start, count)}), folder / name)
    ids = pa.array(range(150, 180), pa.int64())
    pacsv.write_csv(pa.table({"review_id": ids, "text": texts(150, 30)}), folder / "c.csv")
    (folder / "_SUCCESS").write_text("")
    (folder / "notes.txt").write_text("not reviews")
    (folder / ".a.parquet.tmp-1").write_text("half written")
    return folder


def config(input: Path | str, tmp_path: Path, **overrides) -> ScoreConfig:
    return ScoreConfig(input=str(input), artifact_root=str(tmp_path / "artifacts"), **overrides)


def test_a_folder_resolves_to_its_parquet_and_csv_files_by_name(folder):
    assert [Path(f).name for f in resolve_input(str(folder))] == ["a.parquet", "b.parquet", "c.csv"]
    assert [Path(f).name for f in resolve_input(str(folder / "*.parquet"))] == [
        "a.parquet",
        "b.parquet",
    ]


@pytest.mark.parametrize(
    ("spec", "message"),
    [("missing.parquet", "missing.parquet: file not found"), ("*.nothing", "no Parquet or CSV")],
)
def test_a_missing_input_is_a_data_error_naming_it(tmp_path, spec, message):
    with pytest.raises(DataError, match=message):
        resolve_input(str(tmp_path / spec))


@pytest.mark.parametrize("rows", [1, 37, 100, 1000])
def test_chunks_hold_every_row_once_in_order_whatever_their_size(folder, rows):
    files = resolve_input(str(folder))
    chunks = list(read_input_chunks(files, "text", rows, {"id": "review_id", "text": "text"}))
    assert [chunk.num_rows for chunk in chunks[:-1]] == [rows] * (len(chunks) - 1)
    table = pa.concat_tables(chunks)
    assert table.column_names == ["review_id", "text"]
    assert table["review_id"].to_pylist() == list(range(180))
    assert table["text"].to_pylist() == texts(0, 180)


def test_the_manifest_holds_the_resolved_version_and_each_input_sha256(folder, tmp_path):
    chosen = config(folder, tmp_path, id_column="review_id", chunk_rows=37)
    scoring_input = prepare_input(chosen)
    store = ArtifactStore(chosen.artifact_root)
    model = CountingModel()
    result = write_predictions(store, "run-1", chosen, scoring_input, model.predict, "3")

    assert model.batches == [37, 37, 37, 37, 32]  # The model sees one chunk at a time.
    predictions = store.read_table(result.predictions)
    assert predictions.column_names == ["review_id", "probability", "prediction"]
    assert predictions["review_id"].to_pylist() == list(range(180))
    expected = np.array(CountingModel().predict(texts(0, 180)))
    np.testing.assert_allclose(predictions["probability"].to_numpy(), expected)
    assert predictions["prediction"].to_pylist() == [int(p >= 0.5) for p in expected]
    assert result.predictions.uri.endswith("/runs/run-1/score/predictions.parquet")

    manifest = store.read_manifest(result.predictions)
    params = manifest["params"]
    assert manifest["rows"] == result.rows == 180
    assert params["model_version"] == "3" and params["model_alias"] == "champion"
    digests = [hashlib.sha256(Path(f).read_bytes()).hexdigest() for f in resolve_input(str(folder))]
    assert [file["sha256"] for file in params["input_files"]] == digests
    combined = hashlib.sha256("".join(f"{d}\n" for d in digests).encode()).hexdigest()
    assert params["input_sha256"] == result.input_sha256 == combined


def test_one_file_is_its_own_sha256_and_the_text_is_the_key(folder, tmp_path):
    chosen = config(
        folder / "c.csv", tmp_path, model_version=2, output=str(tmp_path / "out.parquet")
    )
    result = write_predictions(
        ArtifactStore(chosen.artifact_root),
        "run-2",
        chosen,
        prepare_input(chosen),
        CountingModel().predict,
        "2",
    )
    assert result.input_sha256 == hashlib.sha256((folder / "c.csv").read_bytes()).hexdigest()
    assert result.model_alias is None and result.predictions.uri == str(tmp_path / "out.parquet")
    written = pq.read_table(tmp_path / "out.parquet")
    assert written.column_names == ["text", "probability", "prediction"]
    assert written["text"].to_pylist() == texts(150, 30)
    assert (tmp_path / "out.parquet.manifest.json").is_file()


@pytest.mark.parametrize(
    ("name", "bad", "message"),
    [
        ("c.csv", pa.table({"text": ["fine", "  ", "fine"]}), r"c\.csv: review 2 is empty"),
        ("c.parquet", pa.table({"text": ["fine", None]}), r"c\.parquet: review 2 is empty"),
        ("c.csv", pa.table({"review": ["no text column"]}), r"c\.csv: no text column 'text'"),
    ],
)
def test_a_bad_file_part_way_leaves_no_output(folder, tmp_path, name, bad, message):
    # The bad file is read last, after chunks of the good ones were scored and written.
    (folder / "c.csv").unlink()
    if name.endswith(".csv"):
        pacsv.write_csv(bad, folder / name)
    else:
        pq.write_table(bad, folder / name)
    chosen = config(folder, tmp_path, chunk_rows=37, output=str(tmp_path / "out" / "p.parquet"))
    store = ArtifactStore(chosen.artifact_root)
    scoring_input = prepare_input(chosen)
    with pytest.raises(DataError, match=message):
        write_predictions(store, "run-3", chosen, scoring_input, CountingModel().predict, "1")
    assert not [path for path in tmp_path.rglob("*") if path.is_file() and "out" in path.parts]


def test_a_parquet_file_without_the_column_fails_before_scoring(folder, tmp_path):
    pq.write_table(pa.table({"body": ["x"]}), folder / "b.parquet")
    with pytest.raises(DataError, match=r"b\.parquet: no text column 'text'"):
        prepare_input(config(folder, tmp_path))
    with pytest.raises(DataError, match=r"no id column 'rid'.*--id-column"):
        prepare_input(config(folder / "a.parquet", tmp_path, id_column="rid"))


def test_a_non_text_column_and_an_empty_input_are_data_errors(tmp_path):
    pq.write_table(pa.table({"text": [1, 2]}), tmp_path / "numbers.parquet")
    chosen = config(tmp_path / "numbers.parquet", tmp_path)
    with pytest.raises(DataError, match="text column 'text' holds int64, not text"):
        write_predictions(
            ArtifactStore(chosen.artifact_root), "r", chosen, prepare_input(chosen), len, "1"
        )
    pq.write_table(pa.table({"text": pa.array([], pa.string())}), tmp_path / "empty.parquet")
    chosen = config(tmp_path / "empty.parquet", tmp_path)
    with pytest.raises(DataError, match="no reviews to score"):
        write_predictions(
            ArtifactStore(chosen.artifact_root), "r", chosen, prepare_input(chosen), len, "1"
        )


def test_later_files_are_cast_to_the_first_files_types(tmp_path):
    pq.write_table(pa.table({"text": pa.array(["a"], pa.large_string())}), tmp_path / "1.parquet")
    pq.write_table(pa.table({"text": pa.array(["b"], pa.string())}), tmp_path / "2.parquet")
    files = resolve_input(str(tmp_path))
    table = pa.concat_tables(read_input_chunks(files, "text", 10))
    assert (
        table["text"].to_pylist() == ["a", "b"]
        and table.schema.field("text").type == pa.large_string()
    )


def test_score_table_appends_probability_and_prediction():
    table = pa.table({"text": ["a", "abc"], "other": [1, 2]})
    scored = score_table(table, "text", CountingModel().predict)
    assert scored.column_names == ["text", "other", "probability", "prediction"]
    assert scored["prediction"].to_pylist() == [1, 1] and scored["prediction"].type == pa.int8()
    with pytest.raises(ValueError, match="returned 1 scores for 2 texts"):
        score_table(table, "text", lambda texts: [0.5])


def test_first_blank():
    assert first_blank(pa.array(["a", "b"])) is None
    assert first_blank(pa.array(["a", " \t", None])) == 1


@pytest.mark.parametrize(
    "overrides",
    [
        {"output": "predictions.csv"},
        {"chunk_rows": 0},
        {"model_version": 0},
        {"input": " "},
        {"x": 1},
    ],
)
def test_the_config_refuses_bad_values(overrides):
    with pytest.raises(ValidationError):
        ScoreConfig(**{"input": "reviews.parquet", **overrides})


# Scores a file in a fresh interpreter and prints the peak bytes held by Arrow's memory pool and
# by Python objects: the two places a chunk's rows live.
PEAK_PROBE = """
import sys, tracemalloc
import pyarrow as pa
from rnn_retrain.store.artifacts import HASH_CHUNK_BYTES, ArtifactStore
from rnn_retrain.config.scoring import ScoreConfig
from rnn_retrain.stages.score import prepare_input, write_predictions

tracemalloc.start()
config = ScoreConfig(input=sys.argv[1], chunk_rows=2000, artifact_root=sys.argv[2])
model = lambda texts: [0.5] * len(texts)
store = ArtifactStore(config.artifact_root)
write_predictions(store, "memory", config, prepare_input(config), model, "1")
print(pa.default_memory_pool().max_memory(), tracemalloc.get_traced_memory()[1])
"""


def peak_bytes(path: Path, root: Path) -> tuple[int, int]:
    done = subprocess.run(
        [sys.executable, "-c", PEAK_PROBE, str(path), str(root)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[3],
    )
    arrow, python = done.stdout.split()
    return int(arrow), int(python)


def write_reviews(path: Path, rows: int) -> int:
    """``rows`` reviews of about 300 characters, in row groups of 5,000; returns the text bytes."""
    filler = "the plot was not good although the acting was wonderful " * 5
    with pq.ParquetWriter(path, pa.schema([("text", pa.string())])) as writer:
        for start in range(0, rows, 5000):
            writer.write_table(
                pa.table({"text": [f"{i} {filler}" for i in range(start, start + 5000)]})
            )
    return rows * (len(filler) + 7)


@pytest.mark.slow
def test_memory_stays_bounded_by_the_chunk_not_the_input(tmp_path):
    # 300,000 reviews (about 85 MB of text) against 30,000, in chunks of 2,000 either way: what
    # is held at the peak must not follow the input's size. Besides a chunk, the store's sha256
    # reads of the input and of the predictions hold up to HASH_CHUNK_BYTES each.
    small, large = tmp_path / "small.parquet", tmp_path / "large.parquet"
    write_reviews(small, 30_000)
    text_bytes = write_reviews(large, 300_000)
    small_arrow, small_python = peak_bytes(small, tmp_path / "a")
    large_arrow, large_python = peak_bytes(large, tmp_path / "b")
    assert large_arrow - small_arrow < 2 * HASH_CHUNK_BYTES + (4 << 20), (small_arrow, large_arrow)
    assert large_arrow < text_bytes / 2, (large_arrow, text_bytes)
    assert large_python - small_python < 8 << 20 and large_python < text_bytes / 4
