"""Data bigger than one chunk: every stage streams, and the data does not depend on the chunking."""

import json
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from rnn_retrain.data.demo import generate_reviews
from rnn_retrain.errors import RetrainError
from rnn_retrain.flows.retrain import retrain
from rnn_retrain.store.artifacts import ArtifactStore

pytestmark = pytest.mark.usefixtures("prefect_server")

SAME_WHATEVER_THE_CHUNKS = [
    "ingest/snapshot.parquet",
    "tokenize/vocabulary.parquet",
    "tokenize/token_ids.parquet",
]


def weekly_folder(tmp_path: Path) -> Path:
    """600 reviews sorted by label (as IMDB's files are), one Parquet file per 'week'."""
    reviews = generate_reviews(600, seed=3).sort_by("label")
    folder = tmp_path / "weeks"
    folder.mkdir()
    for week, start in enumerate(range(0, 600, 250)):
        pq.write_table(reviews.slice(start, 250), folder / f"week-{week}.parquet")
    return folder


@pytest.mark.slow
def test_streaming_in_small_chunks_prepares_the_same_data_as_one_chunk(tiny_config, tmp_path):
    folder = weekly_folder(tmp_path)
    whole = retrain(tiny_config(data=str(folder), artifact_root=str(tmp_path / "whole")))
    streamed = retrain(
        tiny_config(data=str(folder), artifact_root=str(tmp_path / "streamed"), chunk_rows=70)
    )
    stores = ArtifactStore(str(tmp_path / "whole")), ArtifactStore(str(tmp_path / "streamed"))

    for name in SAME_WHATEVER_THE_CHUNKS:
        one, many = (
            store.read_table(run.artifacts[name]) for store, run in zip(stores, (whole, streamed))
        )
        assert many.equals(one), name
    profiles = [
        json.loads(store.read_bytes(run.artifacts["validate/data_profile.json"]))
        for store, run in zip(stores, (whole, streamed))
    ]
    assert profiles[0] == profiles[1]
    assert streamed.rows == whole.rows and streamed.rows["total"] == 600

    # Padded: the same rows, shuffled into row groups of about 70 that each mix both labels.
    padded = [
        store.read_table(run.artifacts["pad/padded.parquet"])
        for store, run in zip(stores, (whole, streamed))
    ]
    assert padded[1].sort_by("row_id").equals(padded[0].sort_by("row_id"))
    with stores[1].open_parquet(streamed.artifacts["pad/padded.parquet"]) as parquet:
        groups = [parquet.read_row_group(i) for i in range(parquet.metadata.num_row_groups)]
    assert len(groups) == 9  # ceil(600 / 70)
    for group in groups:
        assert 0 < np.mean(group["label"].to_numpy()) < 1
        assert group.num_rows < 2 * 70
    ids = padded[1]["row_id"].to_numpy()
    assert not (np.diff(ids) > 0).all()  # Shuffled, not in row order.
    lengths = pc.list_value_length(
        stores[1]
        .read_table(streamed.artifacts["tokenize/token_ids.parquet"])
        .sort_by("row_id")["token_ids"]
    )
    expected = np.minimum(lengths.to_numpy(), 20)
    np.testing.assert_array_equal(padded[1].sort_by("row_id")["length"].to_numpy(), expected)

    # Training held out the same validation rows; evaluation scored every test row once.
    assert (streamed.train_rows, streamed.validation_rows) == (
        whole.train_rows,
        whole.validation_rows,
    )
    predictions = stores[1].read_table(streamed.artifacts["evaluate/predictions.parquet"])
    test_ids = padded[0].filter(pc.equal(padded[0]["split"], "test"))["row_id"]
    assert predictions["row_id"].to_pylist() == sorted(test_ids.to_pylist())
    assert streamed.metrics["rows"] == whole.rows["test"]


def test_a_broken_file_in_a_weekly_folder_stops_ingest_and_stores_nothing(tiny_config, tmp_path):
    folder = weekly_folder(tmp_path)
    (folder / "week-9.parquet").write_bytes(b"PAR1 not really parquet")
    with pytest.raises(RetrainError, match=f"{folder}: not a readable Parquet source"):
        retrain(tiny_config(data=str(folder), chunk_rows=70))
    # The chunks ingest had written before reaching the broken file were not kept.
    assert list((Path(tiny_config().registry.artifact_root) / "runs").rglob("*.parquet*")) == []
