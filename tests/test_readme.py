"""The README's configuration reference and commands stay in step with the code."""

import re
from pathlib import Path

from rnn_retrain.config import RetrainConfig

README = (Path(__file__).parents[1] / "README.md").read_text()


def test_every_config_field_is_in_the_reference_with_its_default():
    reference = README.split("## Configuration reference", 1)[1].split("\n## ", 1)[0]
    for name, field in RetrainConfig.model_fields.items():
        row = re.search(rf"^\| `--{name.replace('_', '-')}`.*$", reference, re.MULTILINE)
        assert row, f"--{name} missing from the README's configuration reference"
        assert f"`{field.default!r}`" in row.group(0)


def test_ci_runs_the_readme_test_command():
    ci = (Path(__file__).parents[1] / ".ci" / "run").read_text()
    test_command = next(line for line in README.splitlines() if line.endswith("-m pytest"))
    assert test_command in ci.splitlines()
