"""The `retrain` command: flags generated from the config, one-line errors, a full local run."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rnn_retrain.config.retrain import RetrainConfig
from rnn_retrain.errors import EXIT_BAD_DATA, EXIT_NOT_PROMOTED, EXIT_UNAVAILABLE
from rnn_retrain.interface.cli import build_parser, config_fields, main


def test_run_help_lists_every_config_field_with_its_default(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--help"])
    assert exit_info.value.code == 0
    output = capsys.readouterr().out
    help_text = " ".join(output.split())
    # Without any whitespace: argparse wraps long defaults, at hyphens too.
    unwrapped = "".join(output.split())
    assert "Training:" in help_text and "Data gate:" in help_text  # Flags grouped by section.
    for name, field in config_fields(RetrainConfig).items():
        assert f"--{name.replace('_', '-')}" in help_text
        assert "".join(f"(default: {field.default!r})".split()) in unwrapped


# What a command that only parses flags or prints help must not load: each costs a fraction of a
# second to seconds of imports (benchmarks/overhead.py measures `retrain --help`).
HEAVY = ("tensorflow", "keras", "mlflow", "sklearn", "scipy", "dask", "distributed", "prefect")
HEAVY += ("pyarrow", "httpx", "sqlalchemy")


@pytest.mark.parametrize("command", [["--help"], ["run", "--help"], ["models", "--help"]])
def test_help_loads_none_of_the_heavy_libraries(command):
    probe = (
        "import sys\n"
        "from rnn_retrain.interface.cli import main\n"
        "try:\n"
        f"    main({command!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(' '.join({name.split('.')[0] for name in sys.modules}), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    loaded = set(result.stderr.split()) & set(HEAVY)  # The help text is on stdout.
    assert loaded == set(), f"retrain {' '.join(command)} imported {sorted(loaded)}"


def test_bad_flag_values_give_one_line_naming_each_flag(capsys):
    assert main(["run", "--maxlen", "0", "--cell", "transformer"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert error.startswith("error: --")  # One line, the flags in the form's section order.
    assert "--maxlen: Input should be greater than or equal to 1 (got '0')" in error
    assert "--cell: Input should be 'simplernn', 'gru' or 'lstm' (got 'transformer')" in error


@pytest.mark.slow  # Trains through the whole flow.
@pytest.mark.usefixtures("prefect_server")
def test_run_trains_and_prints_the_metrics_table(tmp_path: Path, reviews_csv: Path, capsys):
    import pyarrow as pa
    import pyarrow.csv as pacsv

    # Five reviews per movie: the validation split (and the test split) keep movies whole.
    table = pacsv.read_csv(reviews_csv)
    movies = pa.array([f"tt{index // 5:05d}" for index in range(table.num_rows)])
    pacsv.write_csv(table.append_column("movie", movies), reviews_csv)
    code = main(
        [
            "run",
            "--data",
            str(reviews_csv),
            "--text-column",
            "review",
            "--label-column",
            "sentiment",
            "--group-column",
            "movie",
            "--epochs",
            "1",
            "--maxlen",
            "30",
            "--units",
            "8",
            "--artifact-root",
            str(tmp_path / "a"),
            "--no-xla",
        ]
    )
    assert code == 0
    output = capsys.readouterr().out
    assert "Test metrics" in output and "accuracy" in output and "roc_auc" in output
    output = " ".join(output.split())
    assert "registry: review-sentiment v1" in output
    assert (
        "split by hash of column 'movie', test_fraction=0.2, validation grouped by 'movie'"
        in output
    )
    # The validation/test gap, in the summary and as MLflow metrics of the run.
    line = re.search(
        r"validation accuracy (\d\.\d{4}), (\d+\.\d) points (above|below) test", output
    )
    assert line is not None, output
    from rnn_retrain.registry.versions import ModelRegistry

    registry = ModelRegistry("", "review-sentiment")
    run = registry.tracking.client.get_run(registry.get_version(version="1").run_id)
    accuracy = run.data.metrics["validation_accuracy"]
    assert f"{accuracy:.4f}" == line.group(1)
    gap = run.data.metrics["validation_test_gap"]
    assert gap == pytest.approx(accuracy - run.data.metrics["test_accuracy"])
    assert f"{abs(gap) * 100:.1f}" == line.group(2)


@pytest.mark.slow
def test_installed_command_reports_a_missing_file_in_one_line(tmp_path: Path):
    # The real entry point in a fresh process, with Prefect's ephemeral API as a user gets it.
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect")}
    env.pop("PREFECT_API_URL", None)
    result = subprocess.run(
        [Path(sys.executable).with_name("retrain"), "run", "--data", str(tmp_path / "nope.csv")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == EXIT_BAD_DATA
    assert "Traceback" not in result.stderr + result.stdout
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert error_lines == [
        f"error: {tmp_path / 'nope.csv'}: file not found (pass 'demo', 'imdb', or a CSV/Parquet path)"
    ]
    # Told before anything started: Prefect's local API never created its database.
    assert not (tmp_path / "prefect" / "prefect.db").exists()


def test_sweep_refuses_a_bad_grid_value_before_any_work(capsys):
    assert main(["sweep", "--cells", "gru", "lstm", "--dropout-grid", "0.1", "1.5"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert error.startswith("error: sweep candidate cell=gru dropout=1.5: dropout: Input should be")


@pytest.mark.slow  # Dask's client waits out its 10 s connect timeout.
def test_sweep_refuses_an_unreachable_dask_scheduler_in_one_line(capsys):
    code = main(["sweep", "--task-runner", "dask", "--dask-address", "tcp://127.0.0.1:9"])
    assert code == EXIT_UNAVAILABLE
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "dask_address 'tcp://127.0.0.1:9': no Dask scheduler answers there" in error


def test_version_names_the_distribution(capsys):
    from rnn_retrain import __version__

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"rnn-retrain {__version__}"


@pytest.mark.parametrize("command", [["score", "in.parquet"], ["predict", "x"], ["models", "show"]])
def test_a_model_version_is_chosen_with_one_spelling(command, capsys):
    args = build_parser().parse_args([*command, "--model-version", "3"])
    assert str(args.model_version) == "3"
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([*command, "--version", "3"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --version 3" in capsys.readouterr().err


def test_an_unreachable_tracking_server_stops_before_any_work(capsys, tmp_path):
    code = main(
        ["run", "--tracking-uri", "http://127.0.0.1:9", "--artifact-root", str(tmp_path / "a")]
    )
    assert code == EXIT_UNAVAILABLE
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "tracking server http://127.0.0.1:9 is unreachable" in error
    assert not (tmp_path / "a").exists()


TINY_RUN = ["--epochs", "1", "--maxlen", "20", "--units", "4", "--demo-size", "200", "--no-xla"]


@pytest.mark.slow  # Trains through the whole flow.
@pytest.mark.usefixtures("prefect_server")
def test_json_output_and_the_exit_status_of_a_kept_model(tmp_path: Path, capsys):
    import json

    root = ["--artifact-root", str(tmp_path / "a"), "--min-accuracy", "0"]
    assert main(["run", *TINY_RUN, *root, "--json", "--fail-if-not-promoted"]) == 0
    first = json.loads(capsys.readouterr().out)  # One document: stdout holds nothing else.
    assert first["registration"]["decision"]["promote"] is True
    assert first["config"]["model"]["cell"] == "lstm" and first["metrics"]["rows"] > 0
    # A gain of 1.0 is out of reach: the second model is kept, and the caller asked to know.
    kept = ["--seed", "2", "--min-accuracy-gain", "1", "--json", "--fail-if-not-promoted"]
    assert main(["run", *TINY_RUN, *root, *kept]) == EXIT_NOT_PROMOTED
    second = json.loads(capsys.readouterr().out)
    assert second["registration"]["version"] == "2"
    assert second["registration"]["decision"]["promote"] is False


def test_models_list_of_an_empty_registry(tmp_path: Path, capsys):
    uri = f"sqlite:///{tmp_path / 'empty.db'}"
    assert main(["models", "list", "--json", "--tracking-uri", uri]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["versions"] == [] and document["model_name"] == "review-sentiment"
    # A person reading the table gets the friendly line instead.
    assert main(["models", "list", "--tracking-uri", uri]) == 2
    error = capsys.readouterr().err
    assert error == "error: model 'review-sentiment' has no versions yet; run `retrain run` first\n"
