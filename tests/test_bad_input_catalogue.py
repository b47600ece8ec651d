"""A catalogue of bad input files: each ends in a correct run or a one-line error, never a
traceback, and the current champion stays where it was."""

from pathlib import Path

import pytest

from rnn_retrain.data.demo import generate_reviews
from rnn_retrain.interface.cli import main
from rnn_retrain.registry.champion import ChampionHistory
from rnn_retrain.registry.versions import ModelRegistry

pytestmark = pytest.mark.usefixtures("prefect_server")

TINY = ["--epochs", "1", "--maxlen", "20", "--units", "4", "--embedding-dim", "4", "--no-xla"]


def reviews(count: int = 120) -> list[tuple[str, int]]:
    table = generate_reviews(count, seed=11)
    return list(zip(table["text"].to_pylist(), table["label"].to_pylist()))


def csv_rows(rows, header: str = "text,label") -> str:
    return header + "\n" + "".join(f'"{text}",{label}\n' for text, label in rows)


ERRORS = {
    "empty.csv": (b"", "empty.csv: not a readable CSV file (Empty CSV file)"),
    "header_only.csv": (b"text,label\n", "header_only.csv: the dataset is empty"),
    "latin1.csv": (
        csv_rows([("caf\xe9 cr\xe8me", 1)] + reviews(20)).encode("latin-1"),
        "latin1.csv: column 'text' is not valid UTF-8 text",
    ),
    # One review of a third label, which the hash split sends to test: never seen in training.
    "three_labels.csv": (
        csv_rows(reviews(20) + [("a third kind of review", 2)]).encode(),
        "three_labels.csv: label '2' is seen only in the test rows (1), never in train",
    ),
    "one_train_row.csv": (
        (
            "text,label,split\n"
            + "".join(f'"{text}",{label},train\n' for text, label in reviews(20))
            + '"an odd review",neutral,train\n'
            + "".join(f'"odd review {n}",neutral,test\n' for n in range(3))
        ).encode(),
        "one_train_row.csv: label 'neutral' has 1 train row(s), fewer than 2",
    ),
    "too_many_labels.csv": (
        csv_rows((text, f"user-{n}") for n, (text, _) in enumerate(reviews(120))).encode(),
        "too_many_labels.csv: label column 'label' has 120 distinct values, more than "
        "max_classes=100",
    ),
    "nan_labels.csv": (
        csv_rows(reviews(20) + [("no label here", "nan")]).encode(),
        "nan_labels.csv: 1 rows have no value in label column 'label'",
    ),
    "int_text.csv": (
        b"text,label\n" + b"".join(b"%d,%d\n" % (n, n % 2) for n in range(30)),
        "int_text.csv: text column 'text' holds int64, not text",
    ),
    "duplicate_columns.csv": (
        b"text,text,label\n" + b"".join(b"a,b,%d\n" % (n % 2) for n in range(30)),
        "duplicate_columns.csv: column name(s) 'text' appear more than once",
    ),
}


@pytest.fixture
def champion() -> ModelRegistry:
    """A registry (the test's default store) whose champion is version 1."""
    registry = ModelRegistry("", "review-sentiment")
    run = registry.tracking.client.create_run(registry.tracking.experiment_id())
    registry.create_version("file:///nowhere/model", None, run.info.run_id, {})
    ChampionHistory(registry).move("1", "promotion", "set up by the test", None)
    return registry


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_bad_files_give_one_line_and_leave_the_champion(name, tmp_path, capsys, champion):
    content, message = ERRORS[name]
    path = tmp_path / name
    path.write_bytes(content)
    assert main(["run", "--data", str(path), *TINY]) == 3  # Bad data (rnn_retrain.errors).
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {path.parent}/{message}")
    assert "Traceback" not in captured.out + captured.err
    assert str(champion.champion().version) == "1" and len(champion.versions()) == 1


def correct_files(tmp_path: Path) -> dict[str, Path]:
    rows = reviews(120)
    files = {
        "bom.csv": b"\xef\xbb\xbf" + csv_rows(rows).encode(),
        "float_labels.csv": csv_rows([(text, f"{label:.1f}") for text, label in rows]).encode(),
        # Two labels that are no binary spelling: two named classes, "no" = 0 and "yes" = 1.
        "yes_no.csv": csv_rows([(text, "yes" if label else "no") for text, label in rows]).encode(),
        "huge_review.csv": csv_rows(rows + [("it was great " * 400_000, 1)]).encode(),
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    return {name: tmp_path / name for name in files}


@pytest.mark.parametrize(
    "name",
    [
        "bom.csv",
        "yes_no.csv",
        pytest.param("float_labels.csv", marks=pytest.mark.slow),
        pytest.param("huge_review.csv", marks=pytest.mark.slow),
    ],
)
@pytest.mark.slow  # Trains through the whole flow.
def test_odd_but_valid_files_train(name, tmp_path, capsys):
    path = correct_files(tmp_path)[name]
    if name == "huge_review.csv":
        assert path.stat().st_size > 5_000_000
    assert main(["run", "--data", str(path), *TINY]) == 0
    output = " ".join(capsys.readouterr().out.split())
    assert "Test metrics" in output and "registry: review-sentiment v1" in output
