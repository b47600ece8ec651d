"""Fixtures of the end-to-end tests: a real Prefect server with all its services."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def prefect_api(tmp_path):
    """A real `prefect server start` with all its services (triggers, late runs), on loopback."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        # A run counts as Late one second after its slot, checked every second (15 s and 5 s by
        # default), so the late-run alert fires within the test's time.
        PREFECT_SERVER_SERVICES_LATE_RUNS_AFTER_SECONDS="1",
        PREFECT_SERVER_SERVICES_LATE_RUNS_LOOP_SECONDS="1",
    )
    log = (tmp_path / "server.log").open("w")
    command = [str(Path(sys.executable).parent / "prefect"), "server", "start"]
    server = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        for _ in range(180):
            try:
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(1)
        else:
            raise AssertionError((tmp_path / "server.log").read_text()[-2000:])
        with temporary_settings({PREFECT_API_URL: api}):
            yield api
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
