"""The README guides and the reference in docs/ stays in step with the code."""

import re
from pathlib import Path

from rnn_retrain.interface.config_reference import REFERENCE, render_reference

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()
DOCS = sorted((ROOT / "docs").glob("*.md"))


def test_the_configuration_reference_is_generated_from_the_code():
    assert REFERENCE.read_text() == render_reference(), (
        "docs/configuration.md is stale: run `python -m rnn_retrain.interface.config_reference`"
    )


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    test_command = next(line for line in README.splitlines() if line.endswith("-m pytest"))
    assert test_command in ci.splitlines()


def test_the_readme_is_a_short_guide_that_links_every_doc():
    assert len(README.splitlines()) <= 210
    for doc in DOCS:
        assert f"docs/{doc.name}" in README, f"README does not link docs/{doc.name}"
    assert "benchmarks/RESULTS.md" in README


def test_every_relative_link_and_named_path_exists():
    broken = []
    for page in [ROOT / "README.md", *DOCS, ROOT / "benchmarks" / "RESULTS.md"]:
        text = page.read_text()
        for target in re.findall(r"\]\(([^)#:|\s]+)(?:#[^)]*)?\)", text):
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    # Paths the README's "where to change what" table points a newcomer at.
    for path in re.findall(
        r"`((?:rnn_retrain|tasks|flows|interface|deployments)/[\w/.]+)`", README
    ):
        if not (ROOT / path).exists():
            broken.append(f"README.md names {path}")
    assert broken == []
