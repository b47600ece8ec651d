"""Shared fixtures: a Prefect test server for the session and small review corpora."""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import socket
import sys
import tempfile
import urllib.request

# Before TensorFlow or Prefect load: quiet TensorFlow, and keep Prefect's test server offline.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# Subprocess tests start their own ephemeral Prefect API; on a busy 2-core machine that can take
# longer than Prefect's 20 s default.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
# Prefect keeps the stage cache's result records (and its local database) under PREFECT_HOME.
# Each test process (an xdist worker too) gets a home of its own, removed at exit: no test meets
# a record that an earlier session or another worker left in the developer's ~/.prefect. Such
# leftovers failed the remote-checkpoint test once its fixed root, s3://bucket/root, had gathered
# records of six sessions' lost artifacts (rnn_retrain/orchestration/caching.py, _healthy_key).
os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="rnn-retrain-tests-prefect-")
atexit.register(shutil.rmtree, os.environ["PREFECT_HOME"], ignore_errors=True)

from collections import Counter  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import absl.logging  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.csv as pacsv  # noqa: E402
import pytest  # noqa: E402

from rnn_retrain.data.demo import generate_reviews  # noqa: E402

# absl's log handler (made once, when absl.logging is first imported, as TensorFlow does; attached
# to no logger) keeps the sys.stderr of that moment and closes it on shutdown unless it is a
# standard stream; Prefect's logging set-up (dictConfig) shuts every handler down. Under pytest
# that stream was a capture file, and its closing failed every later test on the worker with
# "I/O operation on closed file" (the CLI's run test, then the unit tests after it, with -n 2).
absl.logging.get_absl_handler().python_handler.stream = sys.__stderr__

# The xdist group of every test that uses the team's servers (tests/e2e/conftest.py): they run
# on one worker, so the servers start once per run, not once per worker.
TEAM_SERVERS = "team-servers"


# A `long` test (a minute or more: servers, several processes) weighs as much as this many slow
# tests of the usual 10-20 s when the tests are handed out (`schedule_heaviest_first`).
LONG_WEIGHT = 5


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto`` (pyproject's addopts): one worker per core, at most four.

    Each worker is a process with TensorFlow, Prefect's test server and its own copy of the
    session's servers. On 2 idle cores, from a fresh clone, `-n 2` ran the suite in 1,310 s and
    `-n 4 --dist worksteal` in 1,348 s, with 1.2 and 1.7 cores busy on average: the tests are
    CPU-bound, so more workers than cores only add contention.
    """
    return max(1, min(4, os.cpu_count() or 1))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark flow tests slow, keep tests that share costly fixtures together, heaviest first.

    A test that needs Prefect's test server runs flows: it is slow. Starting that server took
    25 s, a fifth of the fast subset (`-m "not slow"`), which proves each stage's logic and the
    CLI's error paths without it.
    """
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "prefect_server" in fixtures:
            item.add_marker(pytest.mark.slow)
        if "team_session" in fixtures:
            item.add_marker(pytest.mark.xdist_group(TEAM_SERVERS))
    schedule_heaviest_first(items)


def schedule_heaviest_first(items: list[pytest.Item]) -> None:
    """Order the tests for pytest-xdist's ``loadgroup`` scheduling: the heaviest unit first.

    A unit is an ``xdist_group`` (a module whose tests share a module-scoped fixture, or the
    tests on the team's servers), which one worker runs whole, or else a single test. Its weight
    is its number of slow tests, a ``long`` test (a minute or more) counting `LONG_WEIGHT`.
    Handing out the heaviest units first keeps a long one from starting last while the other
    workers sit idle: unweighted, a 2-minute benchmark test drawn late left a worker idle at the
    end (pytest took 1,052 s and 1,155 s in two orders of the same suite). The sort is stable:
    inside each weight the order stays pytest-randomly's shuffle, reproducible from the printed
    seed.
    """

    def unit(item: pytest.Item) -> str:  # As xdist names it: its groups' names, joined.
        names = {
            str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
            for mark in item.iter_markers("xdist_group")
        }
        return "_".join(sorted(names)) or item.nodeid

    weights: Counter[str] = Counter()
    for item in items:
        if item.get_closest_marker("slow"):
            weights[unit(item)] += LONG_WEIGHT if item.get_closest_marker("long") else 1
    items.sort(key=lambda item: -weights[unit(item)])


@pytest.fixture(scope="session")
def prefect_server():
    """A throw-away Prefect API (temporary SQLite database) for flow tests.

    Flow heartbeats are off for the flows these tests run in-process. Prefect's heartbeat
    thread sleeps in whole seconds and each flow's end waits for it (`_send_heartbeats` in
    prefect/flow_engine.py): about 1 s of a 6-7 s tiny run, the retrain flow and its
    prepare-data subflow (cProfile and wall time of warm runs). No test is about heartbeats,
    which tell Prefect's server that a run still lives; runs in processes of their own
    (subprocess and server tests) keep them, as users' runs do.
    """
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with (
        prefect_test_harness(server_startup_timeout=120),
        temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        yield


@pytest.fixture(scope="session")
def empty_mlflow_store(tmp_path_factory) -> Path:
    """An MLflow SQLite store with its tables created, once per session.

    Creating a store runs MLflow's migrations, seconds each time; each test's store starts as a
    copy of this one instead, which is what an existing, empty store is. The tests of a store's
    first creation (tests/test_first_use.py) start from an empty home of their own.
    """
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    client = MlflowClient(tracking_uri=f"sqlite:///{path}")
    client.search_experiments(max_results=1)
    client.search_registered_models(max_results=1)
    return path


@pytest.fixture(autouse=True)
def retrain_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_mlflow_store: Path) -> Path:
    """A temporary project home (artifacts, dataset cache) and MLflow store for every test.

    MLFLOW_TRACKING_URI is set explicitly because `mlflow.set_tracking_uri` exports it to the
    environment, which would otherwise leak one test's store into the next. ``COLUMNS`` goes:
    the CLI's tables are checked at their piped width, whatever terminal runs pytest.
    """
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(empty_mlflow_store, home / "mlflow.db")
    monkeypatch.setenv("RETRAIN_HOME", str(home))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
    monkeypatch.delenv("COLUMNS", raising=False)
    return home


@pytest.fixture(autouse=True)
def prefect_console_follows_capture() -> None:
    """Point Prefect's console log handlers (and any stream handler left on a closed stream) at
    this test's stderr.

    The handler keeps the stream it was created with; under pytest's capture that is an earlier
    test's, already closed stream, and logging would print "--- Logging error ---" tracebacks.
    """
    loggers = [logging.getLogger(), *map(logging.getLogger, list(logging.root.manager.loggerDict))]
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):
            console = getattr(handler, "console", None)
            if console is not None:
                console.file = sys.stderr
            elif isinstance(handler, logging.StreamHandler) and getattr(
                handler.stream, "closed", False
            ):
                # TensorFlow's handler keeps its first stream (setStream would flush the closed one).
                handler.stream = sys.stderr


@pytest.fixture
def s3_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An artifact root on an S3-compatible server (moto) on loopback: ``s3://bucket/root``.

    The server runs in this process; the environment points pyarrow's S3 filesystem at it, for
    this process and any it starts (an ``s3://`` URI carries no endpoint of its own). Nothing
    from this machine's own AWS set-up (profiles, ~/.aws, instance metadata) is used.
    """
    import pyarrow.fs as pafs
    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    # moto keeps its buckets in module state shared by every server in this process: start empty,
    # or a bucket an earlier test filled (run folders, archives) shows up in this one.
    reset = urllib.request.Request(f"http://127.0.0.1:{port}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset, timeout=30).close()
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    settings = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    # pyarrow's own constructor ignores AWS_ENDPOINT_URL (its URI parser reads it): say it here.
    admin = pafs.S3FileSystem(
        endpoint_override=f"127.0.0.1:{port}", scheme="http", allow_bucket_creation=True
    )
    admin.create_dir("bucket")
    try:
        yield "s3://bucket/root"
    finally:
        server.stop()


@pytest.fixture
def tiny_config(tmp_path: Path):
    """A factory of small, fast configurations (`RetrainConfig` or `SweepConfig`, by flag names).

    Artifacts go under this test's folder; the accuracy floor is 0 so every first model becomes
    champion, whatever two epochs on a tiny corpus give. XLA is off: compiling the training
    step costs more than the tiny fit (tests/flows/test_retrain_flow.py trains with it on).
    """
    from rnn_retrain.config.retrain import RetrainConfig

    def build(model: type = RetrainConfig, **overrides):
        defaults = {
            "demo_size": 200,
            "epochs": 1,
            "maxlen": 20,
            "units": 4,
            "embedding_dim": 4,
            "min_accuracy": 0.0,
            "artifact_root": str(tmp_path / "artifacts"),
            # XLA compiles each bucket's step (seconds per run): a cost, not a subject, here.
            "xla": False,
        }
        return model.from_flat(**{**defaults, **overrides})

    return build


@pytest.fixture
def demo_table() -> pa.Table:
    """300 generated reviews (text, label)."""
    return generate_reviews(300, seed=7)


@pytest.fixture
def reviews_csv(tmp_path: Path, demo_table: pa.Table) -> Path:
    """The demo reviews as a CSV with non-default column names and string labels."""
    labels = pa.array(
        ["positive" if label else "negative" for label in demo_table["label"].to_pylist()]
    )
    table = pa.table({"review": demo_table["text"], "sentiment": labels})
    path = tmp_path / "reviews.csv"
    pacsv.write_csv(table, path)
    return path
