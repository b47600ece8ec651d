"""Faults from the environment, caused for real: one `error:` line, a documented exit status,
nothing half-written, the champion untouched, and the same command succeeds once the cause is gone.

The disk faults mount small tmpfs file systems, which needs root: where that is not allowed the
tests skip with a message, and `.ci/run` (RETRAIN_REQUIRE_PRIVILEGED=1) turns the skip into a
failure, so CI always runs them.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from rnn_retrain.errors import EXIT_ENVIRONMENT, EXIT_UNAVAILABLE, EXIT_USAGE
from rnn_retrain.interface.cli import main
from rnn_retrain.registry.versions import ModelRegistry

TINY = ["--demo-size", "200", "--epochs", "1", "--maxlen", "20", "--units", "4", "--no-xla"]
TINY += ["--min-accuracy", "0", "--promotion-policy", "not_worse", "--min-accuracy-gain", "-1"]


@pytest.fixture
def mount_tmpfs(tmp_path: Path):
    """Mount a small tmpfs under this test's folder: ``mount(name, size, read_only)``."""
    mounted: list[Path] = []

    def mount(name: str, size: str = "4m", read_only: bool = False) -> Path:
        target = tmp_path / name
        target.mkdir()
        options = f"size={size},mode=0777" + (",ro" if read_only else "")
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            message = f"needs root to mount a small tmpfs ({done.stderr.strip() or 'mount failed'})"
            if os.environ.get("RETRAIN_REQUIRE_PRIVILEGED") == "1":
                pytest.fail(message)
            pytest.skip(message)
        mounted.append(target)
        return target

    yield mount
    for target in reversed(mounted):
        subprocess.run(["umount", "-l", str(target)], check=False)


def run(capsys, *args: str) -> tuple[int, list[str], str]:
    code = main(["run", *TINY, *args])
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("error:")]
    return code, errors, captured.out + captured.err


def champion_version() -> str | None:
    champion = ModelRegistry("", "review-sentiment").champion()
    return None if champion is None else str(champion.version)


def half_written(root: Path) -> list[str]:
    """Temporary files left behind, and data files without the manifest that completes them."""
    left = [str(path) for path in root.rglob("*.tmp-*")]
    for path in (root / "runs").rglob("*"):
        if path.is_file() and not path.name.endswith(".manifest.json"):
            if not path.with_name(path.name + ".manifest.json").exists():
                left.append(str(path))
    return left


@pytest.mark.slow
@pytest.mark.privileged
@pytest.mark.usefixtures("prefect_server")
def test_a_full_artifact_root_is_one_line_and_the_same_command_succeeds_after(
    capsys, tmp_path, mount_tmpfs
):
    assert run(capsys, "--artifact-root", str(tmp_path / "first"))[0] == 0
    disk = mount_tmpfs("disk", "4m")
    filler = disk / "filler"
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    filler.write_bytes(b"\0" * (free - 16 * 1024))  # 16 KiB left: the snapshot does not fit.
    root = disk / "artifacts"

    code, errors, output = run(capsys, "--seed", "2", "--artifact-root", str(root))
    assert code == EXIT_ENVIRONMENT, output[-3000:]
    assert len(errors) == 1 and errors[0].startswith("error: no space left on the device")
    assert "Traceback" not in output
    assert half_written(root) == []
    assert champion_version() == "1" and len(ModelRegistry("", "review-sentiment").versions()) == 1

    filler.unlink()
    code, errors, output = run(capsys, "--seed", "2", "--artifact-root", str(root))
    assert code == 0 and errors == [], output[-3000:]


@pytest.mark.slow
@pytest.mark.privileged
@pytest.mark.usefixtures("prefect_server")
def test_a_read_only_artifact_root_is_one_line(capsys, mount_tmpfs):
    disk = mount_tmpfs("read-only", read_only=True)
    code, errors, output = run(capsys, "--artifact-root", str(disk / "artifacts"))
    assert code == EXIT_ENVIRONMENT, output[-3000:]
    assert errors == [
        f"error: {disk / 'artifacts'} is on a read-only file system: make it writable, or point "
        "--artifact-root (or RETRAIN_HOME) at a folder this user can write"
    ]
    assert champion_version() is None


def test_an_artifact_root_that_cannot_be_created_is_one_line(capsys, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, errors, output = run(capsys, "--artifact-root", str(blocker / "artifacts"))
    assert code == EXIT_USAGE
    assert len(errors) == 1 and "cannot be created" in errors[0] and "Traceback" not in output


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_server")
def test_a_locked_registry_database_is_one_line_and_the_same_command_succeeds_after(
    capsys, tmp_path, retrain_home
):
    root = str(tmp_path / "artifacts")
    assert run(capsys, "--artifact-root", root)[0] == 0
    database = sqlite3.connect(retrain_home / "mlflow.db", timeout=1)
    # Another process writing to the registry database: it holds the write lock (readers may
    # still read, as in SQLite's default journal mode), so the run's first write waits out
    # MLflow's 20 s busy timeout. An exclusive lock would make every read of the run wait too.
    database.execute("BEGIN IMMEDIATE")
    try:
        code, errors, output = run(capsys, "--seed", "2", "--artifact-root", root)
    finally:
        database.rollback()
        database.close()
    assert code == EXIT_UNAVAILABLE, output[-3000:]
    assert len(errors) == 1 and errors[0].startswith("error: the registry database is locked")
    assert "Traceback" not in output
    registry = ModelRegistry("", "review-sentiment")
    assert [str(v.version) for v in registry.versions()] == ["1"] and champion_version() == "1"

    code, errors, output = run(capsys, "--seed", "2", "--artifact-root", root)
    assert code == 0 and errors == [], output[-3000:]


def test_an_unreachable_prefect_server_stops_before_any_work(capsys, tmp_path, monkeypatch):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        code, errors, _ = run(capsys, "--artifact-root", str(tmp_path / "a"))
    assert code == EXIT_UNAVAILABLE
    assert errors == [
        "error: Prefect server http://127.0.0.1:9/api is not answering (ConnectError); start it "
        "with `prefect server start` or fix PREFECT_API_URL"
    ]


@pytest.mark.slow  # A `retrain` process of its own.
def test_a_temporary_prefect_api_that_does_not_start_in_time_is_one_line(tmp_path):
    # A busy machine: Prefect's temporary API is not answering when its start-up time is up.
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env.update(HOME=str(tmp_path), PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="0")
    for name in ("RETRAIN_HOME", "MLFLOW_TRACKING_URI"):
        env.pop(name, None)
    command = str(Path(sys.executable).with_name("retrain"))
    result = subprocess.run(
        [command, "run", *TINY], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == EXIT_UNAVAILABLE, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: Prefect's temporary API did not answer within 0 s of its start (a busy machine?): "
        "run again, raise PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, or start `prefect "
        "server start` and set PREFECT_API_URL"
    ]
    assert not (tmp_path / ".rnn-retrain" / "artifacts" / "runs").exists()  # No work began.


def fill(disk: Path, leave: int) -> Path:
    """Fill ``disk`` but for ``leave`` bytes; return the filler to delete later."""
    filler = disk / "filler"
    stats = os.statvfs(disk)
    filler.write_bytes(b"\0" * max(stats.f_bavail * stats.f_frsize - leave, 0))
    return filler


@pytest.mark.slow
@pytest.mark.privileged
@pytest.mark.usefixtures("prefect_server")
@pytest.mark.parametrize("full", ["scratch folder", "MLflow store"])
def test_a_full_scratch_folder_or_mlflow_store_is_one_line_and_keeps_the_champion(
    capsys, tmp_path, mount_tmpfs, monkeypatch, full
):
    disk = mount_tmpfs("disk", "8m")
    root = str(tmp_path / "artifacts")
    if full == "MLflow store":
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{disk / 'mlflow.db'}")
    assert run(capsys, "--artifact-root", root)[0] == 0  # v1, the champion.
    if full == "scratch folder":
        monkeypatch.setenv("RETRAIN_HOME", str(disk))  # Pad shuffles through $RETRAIN_HOME/scratch.
    filler = fill(disk, leave=0)
    # Data in chunks: pad shuffles them through scratch files (one chunk needs none).
    second = ["--seed", "2", "--artifact-root", root, "--chunk-rows", "70"]

    code, errors, output = run(capsys, *second)
    assert code == EXIT_ENVIRONMENT, output[-3000:]
    assert len(errors) == 1 and errors[0].startswith("error: no space left on the device")
    assert "Traceback" not in output
    filler.unlink()
    registry = ModelRegistry("", "review-sentiment")
    assert champion_version() == "1"
    # No version is left without a gate decision.
    assert all("gate.json" in version.tags for version in registry.versions())

    code, errors, output = run(capsys, *second)
    assert code == 0 and errors == [], output[-3000:]


def start_mlflow_server(root: Path, port: int, template: Path) -> subprocess.Popen:
    """A real `mlflow server` on loopback, with its own SQLite store and artifact folder.

    A new store starts as a copy of ``template``, an empty store with its tables made (the
    session's `empty_mlflow_store`): the server need not run MLflow's migrations first.
    """
    import shutil
    import sys
    import time

    import httpx

    if not (root / "server.db").exists():
        shutil.copyfile(template, root / "server.db")

    command = [
        str(Path(sys.executable).with_name("mlflow")),
        "server",
        "--backend-store-uri",
        f"sqlite:///{root / 'server.db'}",
        "--artifacts-destination",
        str(root / "server-artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    log = (root / "mlflow-server.log").open("a")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(1)
    stop_server(server)
    raise AssertionError(f"mlflow server did not start: {(root / 'mlflow-server.log').read_text()}")


def stop_server(server: subprocess.Popen) -> None:
    import signal

    if server.poll() is None:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


@pytest.mark.long
@pytest.mark.slow
@pytest.mark.usefixtures("prefect_server")
def test_a_tracking_server_that_stops_mid_run_is_one_line_and_keeps_the_champion(
    capsys, tmp_path, monkeypatch, empty_mlflow_store
):
    import socket
    import threading
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    uri = f"http://127.0.0.1:{port}"
    # MLflow's client retries a refused request for minutes by default; the test has no time.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    root = tmp_path / "artifacts"
    server = start_mlflow_server(tmp_path, port, empty_mlflow_store)
    try:
        assert run(capsys, "--tracking-uri", uri, "--artifact-root", str(root))[0] == 0
        checkpoints_before = set((root / "checkpoints").glob("*"))

        def stop_when_training_starts() -> None:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                if set((root / "checkpoints").glob("*")) - checkpoints_before:
                    stop_server(server)  # The server goes away while the model trains.
                    return
                time.sleep(0.05)

        watcher = threading.Thread(target=stop_when_training_starts, daemon=True)
        watcher.start()
        second = ["--seed", "2", "--tracking-uri", uri, "--artifact-root", str(root)]
        code, errors, output = run(capsys, *second)
        watcher.join(timeout=1)
        assert server.poll() is not None, "the server was still up when the run ended"
        assert code == EXIT_UNAVAILABLE, output[-3000:]
        # Register checks the server before it writes: "tracking server <uri> is unreachable".
        assert len(errors) == 1 and f"tracking server {uri}" in errors[0]
        assert "Traceback" not in output

        server = start_mlflow_server(tmp_path, port, empty_mlflow_store)
        registry = ModelRegistry(uri, "review-sentiment")
        assert [str(v.version) for v in registry.versions()] == ["1"]
        assert str(registry.champion().version) == "1"
        code, errors, output = run(capsys, *second)
        assert code == 0 and errors == [], output[-3000:]
    finally:
        stop_server(server)


@pytest.mark.long
@pytest.mark.slow
@pytest.mark.usefixtures("prefect_server")  # For the first run only, in this process.
def test_a_prefect_server_that_stops_mid_run_is_one_line_and_keeps_the_champion(capsys, tmp_path):
    import signal
    import socket
    import sys
    import time

    import httpx

    bin_dir = Path(sys.executable).parent
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api = f"http://127.0.0.1:{port}/api"
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect"),
        PREFECT_API_URL=api,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        # Prefect's client retries a lost server with backoff (about 6 minutes here): not now.
        PREFECT_CLIENT_MAX_RETRIES="0",
    )

    def start_server() -> subprocess.Popen:
        command = [str(bin_dir / "prefect"), "server", "start", "--host", "127.0.0.1"]
        log = (tmp_path / "server.log").open("a")
        server = subprocess.Popen(
            [*command, "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for _ in range(180):
            try:
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                    return server
            except httpx.HTTPError:
                time.sleep(1)
        raise AssertionError((tmp_path / "server.log").read_text()[-2000:])

    root = tmp_path / "artifacts"
    command = [str(bin_dir / "retrain"), "run", *TINY, "--artifact-root", str(root)]
    # The champion comes from a first run in this process, on the session's Prefect server: the
    # registry is what the stopped server must leave alone, whichever server that run used.
    assert run(capsys, "--artifact-root", str(root))[0] == 0
    server = start_server()
    try:
        before = set((root / "checkpoints").glob("*"))
        second = subprocess.Popen(
            [*command, "--seed", "2", "--epochs", "3"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 300
        while not set((root / "checkpoints").glob("*")) - before and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(server.pid, signal.SIGKILL)  # The server goes away while the model trains.
        server.wait()
        output = second.communicate(timeout=600)[0]
        errors = [line for line in output.splitlines() if line.startswith("error:")]
        assert second.returncode == EXIT_UNAVAILABLE, output[-3000:]
        assert errors == [
            f"error: the Prefect server at http://127.0.0.1:{port} stopped answering during the "
            "run (ConnectError); start it again and run the same command (the stages done so far "
            "come from the cache)"
        ]
        assert "Traceback" not in output
        assert champion_version() == "1"
        assert len(ModelRegistry("", "review-sentiment").versions()) == 1

        server = start_server()
        again = subprocess.run(
            [*command, "--seed", "2", "--epochs", "3"],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert again.returncode == 0, again.stderr[-3000:]
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)


def memory_cgroup(tmp_path: Path, limit: int) -> Path:
    """A new memory cgroup (v2, else v1 under this process's own) limited to ``limit`` bytes;
    returns its ``cgroup.procs`` file, which a child joins by writing its pid there."""
    root = Path("/sys/fs/cgroup")
    controllers = root / "cgroup.controllers"
    if controllers.exists() and "memory" in controllers.read_text().split():
        group, limit_file = root / f"retrain-test-{tmp_path.name}", "memory.max"
    else:
        own = next(
            line.split(":", 2)[2]
            for line in Path("/proc/self/cgroup").read_text().splitlines()
            if "memory" in line.split(":", 2)[1].split(",")
        )
        group = root / "memory" / own.lstrip("/") / f"retrain-test-{tmp_path.name}"
        limit_file = "memory.limit_in_bytes"
    try:
        group.mkdir()
        (group / limit_file).write_text(str(limit))
    except OSError as error:
        message = f"needs root to create a memory cgroup ({error})"
        if os.environ.get("RETRAIN_REQUIRE_PRIVILEGED") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return group / "cgroup.procs"


@pytest.mark.slow
@pytest.mark.privileged
@pytest.mark.usefixtures("prefect_server")
def test_a_recipe_too_big_for_the_memory_limit_is_one_line_and_keeps_the_champion(tmp_path):
    import sys

    from prefect.settings import PREFECT_API_URL

    root = str(tmp_path / "artifacts")
    assert main(["run", *TINY, "--artifact-root", root]) == 0  # Champion v1.
    procs = memory_cgroup(tmp_path, 1536 * 2**20)  # A container of 1.5 GiB.
    # Eight stacked LSTMs of 4096 units need about 16 GiB to train; without the check, the
    # kernel kills the process (SIGKILL) when the cgroup runs out, with nothing printed.
    command = [
        sys.executable,
        "-m",
        "rnn_retrain.interface.cli",
        "run",
        *TINY,
        "--artifact-root",
        root,
    ]
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    try:
        done = subprocess.run(
            [*command, "--units", "4096", "--rnn-layers", "8"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            preexec_fn=lambda: procs.write_text(str(os.getpid())),
        )
    finally:
        procs.parent.rmdir()  # The child has exited: the group is empty.
    output = done.stdout + done.stderr
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert done.returncode == EXIT_ENVIRONMENT, output[-3000:]
    assert len(errors) == 1
    assert errors[0].startswith("error: out of memory for training: this recipe needs at least ")
    assert "this container's (cgroup's) memory limit leaves" in errors[0]
    assert "Traceback" not in output
    assert champion_version() == "1"
    assert len(ModelRegistry("", "review-sentiment").versions()) == 1
    assert half_written(Path(root)) == []
