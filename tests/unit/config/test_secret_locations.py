"""Passwords stay out of run parameters, and out of what a run shows of a location."""

import re

import pytest
from pydantic import ValidationError

from rnn_retrain.config.retrain import RetrainConfig
from rnn_retrain.config.scoring import ScoreConfig
from rnn_retrain.config.secrets import NO_PASSWORD_PATTERN, has_password, redacted
from rnn_retrain.errors import EXIT_USAGE
from rnn_retrain.interface.cli import main
from rnn_retrain.reports import mlflow_run_link, mlflow_version_link
from rnn_retrain.stages.watch import WatchSettings

WITH_PASSWORDS = [
    "postgresql://mlflow:Pw-9d1e@db:5432/mlflow",
    "s3://AKIAEXAMPLE:wJalrXUtnFEMI@bucket/rnn-retrain",
    "http://pipeline:Pw-9d1e@mlflow:5000",
]
WITHOUT = [
    "",
    "demo",
    "/data/reviews.parquet",
    "s3://bucket/a@b",
    "http://mlflow:5000",
    "http://u@h",
]


def test_passwords_are_found_and_redacted():
    assert all(has_password(location) for location in WITH_PASSWORDS)
    assert not any(has_password(location) for location in WITHOUT)
    assert redacted(WITH_PASSWORDS[0]) == "postgresql://mlflow:***@db:5432/mlflow"
    assert redacted(WITH_PASSWORDS[1]) == "s3://AKIAEXAMPLE:***@bucket/rnn-retrain"
    assert all(redacted(location) == location for location in WITHOUT)
    assert "Pw-9d1e" not in mlflow_run_link(WITH_PASSWORDS[2], "1", "abc")
    assert "Pw-9d1e" not in mlflow_run_link(WITH_PASSWORDS[0], "1", "abc")
    assert "Pw-9d1e" not in mlflow_version_link(WITH_PASSWORDS[2], "m", "3")


@pytest.mark.parametrize("location", WITH_PASSWORDS)
def test_a_location_with_a_password_is_refused_as_a_run_parameter(location):
    for build in (
        lambda: RetrainConfig.model_validate({"registry": {"tracking_uri": location}}),
        lambda: RetrainConfig.model_validate({"registry": {"artifact_root": location}}),
        lambda: RetrainConfig.model_validate({"source": {"data": location}}),
        lambda: ScoreConfig(input=location),
        lambda: ScoreConfig(input="x.parquet", tracking_uri=location),
        lambda: WatchSettings(source=location),
    ):
        with pytest.raises(ValidationError, match="holds a password"):
            build()
    # The parameter schema says the same, for the Prefect server and the UI's form.
    schema = RetrainConfig.model_json_schema()["$defs"]["RegistrySettings"]["properties"]
    assert schema["tracking_uri"]["pattern"] == NO_PASSWORD_PATTERN
    assert not re.match(NO_PASSWORD_PATTERN, location)
    assert all(re.match(NO_PASSWORD_PATTERN, plain) for plain in WITHOUT)


def test_the_cli_refuses_it_without_echoing_the_password(capsys):
    assert main(["run", "--tracking-uri", WITH_PASSWORDS[0]]) == EXIT_USAGE
    error = capsys.readouterr().err
    assert "holds a password" in error and "Pw-9d1e" not in error
    assert "postgresql://mlflow:***@db:5432/mlflow" in error
