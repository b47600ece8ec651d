import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rnn_retrain.data.sources import grouped_by, read_source, require_local_source
from rnn_retrain.errors import RetrainError


def read(data, group_column="", **overrides):
    options = {
        "text_column": "text",
        "label_column": "label",
        "split_column": "split",
        "demo_size": 200,
        "seed": 1,
    }
    return grouped_by(read_source(str(data), **{**options, **overrides}), group_column)


def read_all(source, chunk_rows=64) -> pa.Table:
    """Every row the source yields, read in chunks of ``chunk_rows``."""
    chunks = list(source.iter_chunks(chunk_rows))
    assert all(chunk.num_rows == chunk_rows for chunk in chunks[:-1])
    return pa.concat_tables(chunks)


def test_csv_with_custom_column_names(reviews_csv):
    source = read(reviews_csv, text_column="review", label_column="sentiment")
    table = read_all(source)
    assert table.column_names == ["review", "sentiment"]
    assert table.num_rows == 300
    assert source.split_column is None


def test_parquet_folder_and_glob_are_read_as_one_table_in_even_chunks(tmp_path: Path, demo_table):
    folder = tmp_path / "weeks"
    folder.mkdir()
    pq.write_table(demo_table.slice(0, 100), folder / "week-01.parquet", row_group_size=30)
    pq.write_table(demo_table.slice(100), folder / "week-02.parquet")
    # Chunks cross row groups and files: 64-row chunks out of 30-, 10- and 200-row pieces.
    assert read_all(read(folder)).equals(demo_table)
    assert read_all(read(folder / "week-*.parquet"), chunk_rows=7).equals(demo_table)


def test_split_column_is_used_when_present(tmp_path: Path):
    path = tmp_path / "r.parquet"
    pq.write_table(
        pa.table({"text": ["a", "b"], "label": [0, 1], "split": ["train", "test"]}), path
    )
    assert read(path).split_column == "split"


def test_missing_file_names_the_path(tmp_path: Path):
    with pytest.raises(RetrainError, match=r"missing\.csv: file not found"):
        read(tmp_path / "missing.csv")


def test_the_pre_flight_check_refuses_only_local_paths_that_match_nothing(tmp_path: Path):
    (tmp_path / "week-01.parquet").touch()
    for present in ("demo", "imdb", "s3://bucket/none.parquet", str(tmp_path / "week-*.parquet")):
        require_local_source(present)
    for missing in (tmp_path / "missing.csv", tmp_path / "month-*.parquet"):
        with pytest.raises(RetrainError, match=re.escape(f"{missing.name}: file not found")):
            require_local_source(str(missing))


def test_missing_column_names_the_file_the_column_and_the_flag(reviews_csv):
    with pytest.raises(
        RetrainError,
        match=r"reviews\.csv: no text column 'text' \(columns: review, sentiment\); set --text-column",
    ):
        read(reviews_csv)


def test_a_group_column_is_read_with_the_rows_or_refused_naming_the_file(
    tmp_path, demo_table, reviews_csv
):
    data = tmp_path / "reviews.parquet"
    pq.write_table(demo_table.append_column("movie", pa.array(["tt1", "tt2"] * 150)), data)
    source = read(data, group_column="movie")
    assert source.group_column == "movie"
    assert read_all(source).column_names == ["text", "label", "movie"]
    with pytest.raises(
        RetrainError,
        match=r"reviews\.csv: no group column 'movie' \(columns: review, sentiment\); set "
        r"--group-column to one of them, or leave it empty",
    ):
        read(
            tmp_path / "reviews.csv",
            text_column="review",
            label_column="sentiment",
            group_column="movie",
        )
    with pytest.raises(RetrainError, match=r"demo: no group column 'movie'"):
        read("demo", group_column="movie")


def test_non_utf8_csv_is_refused(tmp_path: Path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("text,label\ncaf\xe9 au lait,1\n".encode("latin-1"))
    with pytest.raises(RetrainError, match=r"latin1\.csv: column 'text' is not valid UTF-8 text"):
        read(path)


def test_corrupt_parquet_is_refused(tmp_path: Path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(
        RetrainError, match=r"broken\.parquet: not a readable Parquet or CSV source"
    ):
        read(path)


def test_demo_source_is_generated(tmp_path: Path):
    source = read("demo")
    assert source.origin == "demo" and read_all(source).num_rows == 200


def test_a_folder_per_week_is_one_source_whose_fingerprint_sees_a_new_week(
    tmp_path: Path, demo_table
):
    from rnn_retrain.data.sources import fingerprint_source

    root = tmp_path / "reviews"
    for week, rows in (("2026-11-16", slice(0, 100)), ("2026-11-23", slice(100, 200))):
        (root / f"week={week}").mkdir(parents=True)
        pq.write_table(demo_table[rows], root / f"week={week}" / "part-0.parquet")
    before = fingerprint_source(str(root), demo_size=0, seed=0)
    assert read_all(read(root)).num_rows == 200
    assert fingerprint_source(str(root), demo_size=0, seed=0) == before  # Same bytes, same key.

    (root / "week=2026-11-30").mkdir()
    pq.write_table(demo_table[200:300], root / "week=2026-11-30" / "part-0.parquet")
    assert read_all(read(root)).num_rows == 300
    assert fingerprint_source(str(root), demo_size=0, seed=0) != before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty.csv: not a readable CSV file (Empty CSV file)"),
        (
            b"text,text,label\n" + b"".join(b"a,b,%d\n" % (n % 2) for n in range(30)),
            "empty.csv: column name(s) 'text' appear more than once",
        ),
    ],
    ids=["empty", "duplicate columns"],
)
def test_an_unreadable_csv_is_named_with_its_problem(tmp_path: Path, content, message):
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    with pytest.raises(RetrainError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_all(read(path))
