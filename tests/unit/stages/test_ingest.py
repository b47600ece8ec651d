import dataclasses

import pyarrow as pa
import pytest

from rnn_retrain.data.labels import BINARY_CLASSES, distinct_labels, fit_classes
from rnn_retrain.data.sources import RawSource
from rnn_retrain.errors import RetrainError
from rnn_retrain.stages.ingest import (
    SnapshotTally,
    assign_hash_split,
    check_snapshot,
    count_rows,
    normalize_splits,
    snapshot_chunks,
    text_hashes,
)

BINARY = list(BINARY_CLASSES)


def test_split_values_other_than_train_and_test_are_refused():
    assert normalize_splits(
        pa.chunked_array([pa.array(["Train ", "TEST"])]), "f", "s"
    ).to_pylist() == [
        "train",
        "test",
    ]
    with pytest.raises(RetrainError, match="split column 's' must hold 'train' or 'test'"):
        normalize_splits(pa.chunked_array([pa.array(["train", "valid"])]), "f", "s")


def test_hash_split_is_stable_when_rows_are_appended_and_keeps_duplicates_together():
    texts = [f"review number {index}" for index in range(2000)]
    before = assign_hash_split(text_hashes(pa.array(texts)), 0.2).to_pylist()
    after = assign_hash_split(
        text_hashes(pa.array(["new review"] * 3 + texts[::-1])), 0.2
    ).to_pylist()
    assert after[3:][::-1] == before
    assert len(set(after[:3])) == 1
    assert 0.15 < before.count("test") / len(before) < 0.25


def source(**columns) -> RawSource:
    table = pa.table(columns)
    split = "split" if "split" in columns else None
    return RawSource(table, "f.csv", "text", "label", split)


def build_snapshot(raw: RawSource, chunk_rows: int = 1000) -> tuple[pa.Table, SnapshotTally]:
    tally = SnapshotTally()
    classes = fit_classes(distinct_labels(raw.iter_labels(chunk_rows)), raw.origin, "label", 100)
    chunks = list(snapshot_chunks(raw, classes, 0.5, chunk_rows, tally))
    return pa.concat_tables(chunks), tally


@pytest.mark.parametrize("chunk_rows", [1000, 2, 1])
def test_snapshot_drops_and_counts_empty_texts_and_numbers_rows(chunk_rows):
    snapshot, tally = build_snapshot(
        source(
            text=["good", None, "  ", "bad", "fine", "ok"],
            label=[1, 0, 1, 0, 1, 0],
            split=["train", "train", "test", "test", "test", "train"],
        ),
        chunk_rows,
    )
    assert tally.dropped == 2 and tally.read == 6
    assert snapshot.to_pydict() == {
        "row_id": [0, 1, 2, 3],
        "text": ["good", "bad", "fine", "ok"],
        "label": [1, 0, 1, 0],
        "split": ["train", "test", "test", "train"],
        "group_key": [0, 1, 2, 3],  # No group column: each row is a group of its own.
    }
    assert tally.counts == count_rows(snapshot, BINARY)


@pytest.mark.parametrize("chunk_rows", [10_000, 7])
def test_a_group_column_keeps_each_group_on_one_side_of_the_hash_split(chunk_rows):
    movies = [f"tt{index % 40:04d}" if index % 10 else None for index in range(400)]
    table = pa.table(
        {
            "text": [f"review {index} of {movie}" for index, movie in enumerate(movies)],
            "label": [index % 2 for index in range(400)],
            "movie": movies,
        }
    )
    raw = dataclasses.replace(
        RawSource(table, "reviews.parquet", "text", "label", None), group_column="movie"
    )
    snapshot, _ = build_snapshot(raw, chunk_rows)
    sides: dict[str, set[str]] = {}
    keys: dict[str, set[int]] = {}
    for row, movie in zip(snapshot.to_pylist(), movies):
        if movie is not None:
            sides.setdefault(movie, set()).add(row["split"])
            keys.setdefault(movie, set()).add(row["group_key"])
    assert all(len(side) == 1 for side in sides.values())  # No movie straddles the split.
    assert {len(key) for key in keys.values()} == {1} and len(set.union(*keys.values())) == 36
    splits = [next(iter(side)) for side in sides.values()]
    assert 0 < splits.count("test") < len(splits)  # Half the movies (test_fraction 0.5) in test.
    # A row without a group is a group of its own, split by its text as before.
    unnamed = [row for row, movie in zip(snapshot.to_pylist(), movies) if movie is None]
    assert [row["group_key"] for row in unnamed] == [row["row_id"] for row in unnamed]
    assert {row["split"] for row in unnamed} == {"train", "test"}


def test_a_hash_split_is_the_same_whatever_the_chunks(demo_table):
    raw = RawSource(demo_table, "demo", "text", "label", None)
    whole, _ = build_snapshot(raw, chunk_rows=10_000)
    chunked, tally = build_snapshot(raw, chunk_rows=7)
    assert chunked.equals(whole)
    assert tally.counts["train"] > 0 and tally.counts["test"] > 0


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        (
            {"text": pa.array([], pa.string()), "label": pa.array([], pa.int64())},
            "the dataset is empty",
        ),
        ({"text": ["", None], "label": [0, 1]}, "every text is empty"),
        ({"text": [1, 2], "label": [0, 1]}, "text column 'text' holds int64, not text"),
    ],
)
def test_unusable_sources_are_refused(columns, message):
    with pytest.raises(RetrainError, match=f"f.csv: {message}"):
        build_snapshot(source(**columns))


def counts_for(labels, splits, classes=BINARY):
    snapshot = pa.table({"label": pa.array(labels, pa.int8()), "split": splits})
    return count_rows(snapshot, classes)


def test_counts_per_split_and_label():
    counts = counts_for([1, 0, 1, 1], ["train", "train", "test", "train"])
    assert counts == {
        "total": 4,
        "train": 3,
        "train_pos": 2,
        "train_neg": 1,
        "test": 1,
        "test_pos": 1,
        "test_neg": 0,
    }


@pytest.mark.parametrize(
    ("labels", "splits", "message"),
    [
        ([1, 0], ["test", "test"], "no train rows"),
        ([1, 0], ["train", "train"], "no test rows"),
        ([1, 1, 0], ["train", "train", "test"], "single class"),
    ],
)
def test_snapshots_that_cannot_train_or_evaluate_are_refused(labels, splits, message):
    with pytest.raises(RetrainError, match=message):
        check_snapshot(counts_for(labels, splits), BINARY, "f.csv")


def test_k_class_counts_are_per_class_id():
    counts = counts_for([0, 2, 1, 2], ["train", "train", "test", "train"], ["a", "b", "c"])
    assert counts == {
        "total": 4,
        "train": 3,
        "train_class_0": 1,
        "train_class_1": 0,
        "train_class_2": 2,
        "test": 1,
        "test_class_0": 0,
        "test_class_1": 1,
        "test_class_2": 0,
    }


@pytest.mark.parametrize(
    ("labels", "splits", "message"),
    [
        (
            ["a", "a", "b", "b", "c", "a"],
            ["train", "train", "train", "train", "test", "test"],
            r"f.csv: label 'c' is seen only in the test rows \(1\), never in train",
        ),
        (
            ["a", "a", "b", "b", "c", "c"],
            ["train", "train", "train", "train", "train", "test"],
            r"f.csv: label 'c' has 1 train row\(s\), fewer than 2",
        ),
    ],
)
def test_k_class_snapshots_need_two_train_rows_of_every_class(labels, splits, message):
    raw = source(text=[f"review {i}" for i in range(len(labels))], label=labels, split=splits)
    with pytest.raises(RetrainError, match=message):
        build_snapshot(raw)


@pytest.mark.parametrize("chunk_rows", [1000, 2])
def test_string_labels_map_to_ids_in_text_order_whatever_the_chunks(chunk_rows):
    raw = source(
        text=[f"review {i}" for i in range(8)],
        label=["sports", "arts", "news", "arts", "sports", "news", "news", "arts"],
        split=["train"] * 6 + ["test"] * 2,
    )
    snapshot, tally = build_snapshot(raw, chunk_rows)
    # arts=0, news=1, sports=2, the same in every chunk because the classes come first.
    assert snapshot["label"].to_pylist() == [2, 0, 1, 0, 2, 1, 1, 0]
    assert tally.counts["train_class_0"] == 2 and tally.counts["test_class_1"] == 1
