"""What `pip install` puts on a user's machine: one top-level package, every module and data file."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
# The design card's folders and the package each one is in the wheel.
MAPPED = {"tasks": "rnn_retrain/tasks", "flows": "rnn_retrain/flows"}
MAPPED |= {"interface": "rnn_retrain/interface", "deployments": "rnn_retrain/deployments"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """A wheel built from the checkout's files (as a fresh clone has them)."""
    source = tmp_path_factory.mktemp("clone")
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in listed:
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(source),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    (built,) = out.glob("rnn_retrain-*.whl")
    with zipfile.ZipFile(built) as archive:
        yield archive


@pytest.mark.slow
def test_the_wheel_installs_only_the_rnn_retrain_namespace(wheel: zipfile.ZipFile):
    top = {name.split("/", 1)[0] for name in wheel.namelist()}
    assert {name for name in top if not name.endswith(".dist-info")} == {"rnn_retrain"}
    entry_points = next(name for name in wheel.namelist() if name.endswith("entry_points.txt"))
    assert "retrain = rnn_retrain.interface.cli:main" in wheel.read(entry_points).decode()


@pytest.mark.slow
def test_the_wheel_holds_every_module_and_data_file_of_the_folders(wheel: zipfile.ZipFile):
    expected = {path.relative_to(ROOT).as_posix() for path in (ROOT / "rnn_retrain").rglob("*.py")}
    for folder, package in MAPPED.items():
        for path in (ROOT / folder).iterdir():
            if path.suffix in {".py", ".yaml"}:
                expected.add(f"{package}/{path.name}")
    assert expected - set(wheel.namelist()) == set()
    assert "rnn_retrain/deployments/prefect.yaml" in expected
