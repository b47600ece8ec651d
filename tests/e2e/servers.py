"""The production set-up of the end-to-end tests, started for real on loopback.

Teams run the Prefect server and the MLflow tracking server on PostgreSQL, and so do these tests:
`prefect server start` with its database on PostgreSQL (all its services: triggers, late runs,
the scheduler), and `mlflow server` with a PostgreSQL backend store and a served artifact store.
Both are locked, as docs/operations.md ("Locked doors") tells a team to lock them: Prefect's basic
auth (PREFECT_SERVER_API_AUTH_STRING), and MLflow's basic-auth app with its users on PostgreSQL,
nothing granted by default, and a ``pipeline`` user for the runs (it owns the experiments and
models it creates). The commands are the ones docs/operations.md gives ("For a team").

Both servers start once per test session, on fresh databases dropped at its end; `clear` gives
each test a clean slate on them (what one test creates on a server never reaches the next).

They need PostgreSQL (`RETRAIN_TEST_POSTGRES`, default postgresql://postgres@127.0.0.1:5432):
where it does not answer they skip with a message naming it, and `.ci/run`
(RETRAIN_REQUIRE_SERVICES=1) turns that skip into a failure, so CI always runs them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from databases import postgres_database

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    # A process group of its own, so stopping it stops everything it started.
    return subprocess.Popen(
        command, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_until_healthy(
    url: str, process: subprocess.Popen, log: Path, timeout: float = 180
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise AssertionError(f"{url} did not answer: {log.read_text()[-2000:]}")


# The credentials of the locked servers: distinctive, so a test can search for them.
PREFECT_AUTH = "retrain-team:prefect-Pw-7f3c9"
MLFLOW_ADMIN = ("admin", "mlflow-Admin-Pw-51be2")
MLFLOW_PIPELINE = ("pipeline", "mlflow-Pipeline-Pw-c48d1")
MLFLOW_AUTH_CONFIG = """[mlflow]
default_permission = NO_PERMISSIONS
database_uri = {database}
admin_username = {admin}
admin_password = {password}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
auth_cache_ttl_seconds = 60
"""


@dataclass
class ServerProcesses:
    """The servers' processes by name ("prefect", "mlflow"), with what starts each again: the
    fault tests stop one and start it on the same port and databases."""

    commands: dict[str, tuple[list[str], dict[str, str], Path, str]]  # command, env, log, health
    running: dict[str, subprocess.Popen] = dataclasses.field(default_factory=dict)
    logs: dict[str, Path] = dataclasses.field(default_factory=dict)
    starts: int = 0

    def start(self, name: str, wait: bool = True) -> None:
        command, env, log, _ = self.commands[name]
        self.starts += 1
        self.logs[name] = log.with_suffix(f".{self.starts}.log")
        self.running[name] = start(command, env, self.logs[name])
        if wait:
            self.wait(name)

    def wait(self, name: str) -> None:
        wait_until_healthy(self.commands[name][3], self.running[name], self.logs[name])

    def stop(self, name: str) -> None:
        stop(self.running.pop(name))

    def stop_all(self) -> None:
        for name in list(self.running):
            self.stop(name)


@dataclass(frozen=True)
class TeamServers:
    """A Prefect server and an MLflow tracking server, both on PostgreSQL, both locked."""

    prefect_api: str
    tracking_uri: str
    env: dict[str, str]  # For a process that runs flows against them (a worker, `retrain`).
    processes: ServerProcesses | None = dataclasses.field(default=None, compare=False)

    @property
    def credentials(self) -> dict[str, str]:
        """The pipeline's credentials, as environment variables (in ``env`` already)."""
        return {
            "PREFECT_API_AUTH_STRING": PREFECT_AUTH,
            "MLFLOW_TRACKING_USERNAME": MLFLOW_PIPELINE[0],
            "MLFLOW_TRACKING_PASSWORD": MLFLOW_PIPELINE[1],
        }


def create_pipeline_user(tracking_uri: str) -> None:
    """The MLflow user the runs use, created by the admin (the basic-auth app's REST API)."""
    import requests

    answer = requests.post(
        f"{tracking_uri}/api/2.0/mlflow/users/create",
        json={"username": MLFLOW_PIPELINE[0], "password": MLFLOW_PIPELINE[1]},
        auth=MLFLOW_ADMIN,
        timeout=30,
    )
    answer.raise_for_status()


@contextlib.contextmanager
def team_servers(folder: Path) -> Iterator[TeamServers]:
    """Start both servers on fresh databases (exactly the commands of docs/operations.md)."""
    prefect_port, mlflow_port = free_port(), free_port()
    prefect_api = f"http://127.0.0.1:{prefect_port}/api"
    tracking_uri = f"http://127.0.0.1:{mlflow_port}"
    base = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    base.pop("MLFLOW_TRACKING_URI", None)
    with (
        postgres_database("prefect") as prefect_db,
        postgres_database("mlflow") as mlflow_db,
        postgres_database("mlflowauth") as users_db,
    ):
        prefect_env = {
            **base,
            "PREFECT_HOME": str(folder / "prefect"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_API_AUTH_STRING": PREFECT_AUTH,
            "PREFECT_API_DATABASE_CONNECTION_URL": prefect_db.replace(
                "postgresql://", "postgresql+asyncpg://"
            ),
            # A run counts as Late one second after its slot, checked every second (15 s and
            # 5 s by default), so the late-run alert fires within a test's time.
            "PREFECT_SERVER_SERVICES_LATE_RUNS_AFTER_SECONDS": "1",
            "PREFECT_SERVER_SERVICES_LATE_RUNS_LOOP_SECONDS": "1",
        }
        prefect_command = [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1"]
        mlflow_command = [str(BIN / "mlflow"), "server", "--backend-store-uri", mlflow_db]
        mlflow_command += ["--artifacts-destination", str(folder / "mlartifacts")]
        mlflow_command += ["--host", "127.0.0.1", "--port", str(mlflow_port), "--workers", "1"]
        mlflow_command += ["--app-name", "basic-auth"]
        auth_config = folder / "basic_auth.ini"
        auth_config.write_text(
            MLFLOW_AUTH_CONFIG.format(
                database=users_db, admin=MLFLOW_ADMIN[0], password=MLFLOW_ADMIN[1]
            )
        )
        # `mlflow server` starts uvicorn by name: the environment's bin goes first on PATH.
        mlflow_env = {
            **base,
            "PATH": f"{BIN}:{base.get('PATH', '')}",
            "MLFLOW_AUTH_CONFIG_PATH": str(auth_config),
            "MLFLOW_FLASK_SERVER_SECRET_KEY": "retrain-tests-csrf-key",
        }
        processes = ServerProcesses(
            {
                "prefect": (
                    [*prefect_command, "--port", str(prefect_port)],
                    prefect_env,
                    folder / "prefect.log",
                    f"{prefect_api}/health",
                ),
                "mlflow": (
                    mlflow_command,
                    mlflow_env,
                    folder / "mlflow.log",
                    f"{tracking_uri}/health",
                ),
            }
        )
        try:
            processes.start("prefect", wait=False)
            processes.start("mlflow", wait=False)
            processes.wait("prefect")
            processes.wait("mlflow")
            create_pipeline_user(tracking_uri)
            client_env = {
                **base,
                "PREFECT_HOME": str(folder / "prefect-client"),
                "PREFECT_API_URL": prefect_api,
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "MLFLOW_TRACKING_URI": tracking_uri,
                # `retrain serve` (Prefect's runner) asks for scheduled runs every 10 s by
                # default: up to 10 s idle before each run the tests start. A team tunes it too.
                "PREFECT_RUNNER_POLL_FREQUENCY": "1",
                "PREFECT_API_AUTH_STRING": PREFECT_AUTH,
                "MLFLOW_TRACKING_USERNAME": MLFLOW_PIPELINE[0],
                "MLFLOW_TRACKING_PASSWORD": MLFLOW_PIPELINE[1],
            }
            yield TeamServers(prefect_api, tracking_uri, client_env, processes)
        finally:
            processes.stop_all()


def clear(servers: TeamServers) -> None:
    """Remove what earlier tests left on the servers: a clean slate for the next one.

    Prefect: automations (deployment triggers included), deployments, flow runs, variables and
    global concurrency limits. MLflow: every registered model (the registry's deletes are
    permanent, so version numbers start at 1 again). Runs in MLflow experiments stay: no test
    counts them.
    """
    from mlflow import MlflowClient
    from prefect.client.orchestration import SyncPrefectClient

    with SyncPrefectClient(servers.prefect_api, auth_string=PREFECT_AUTH) as client:
        for automation in client.read_automations():
            client.delete_automation(automation.id)
        for deployment in client.read_deployments():
            client.delete_deployment(deployment.id)
        while runs := client.read_flow_runs(limit=200):
            for run in runs:
                client.delete_flow_run(run.id)
        for variable in client.read_variables():
            client.delete_variable_by_name(variable.name)
        for limit in client.read_global_concurrency_limits(limit=200, offset=0):
            client.delete_global_concurrency_limit_by_name(limit.name)
    registry = MlflowClient(tracking_uri=servers.tracking_uri, registry_uri=servers.tracking_uri)
    with as_mlflow_user(MLFLOW_ADMIN):
        for model in registry.search_registered_models():
            registry.delete_registered_model(model.name)


@contextlib.contextmanager
def as_mlflow_user(user: tuple[str, str]) -> Iterator[None]:
    """MLflow's client in this process as ``user`` (its credentials are read from the
    environment at each request), then as before."""
    names = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
    before = {name: os.environ.get(name) for name in names}
    os.environ.update(dict(zip(names, user)))
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def slate(servers: TeamServers, folder: Path) -> TeamServers:
    """The servers cleared (`clear`), with a Prefect client home of its own under ``folder``."""
    clear(servers)
    return dataclasses.replace(
        servers, env={**servers.env, "PREFECT_HOME": str(folder / "prefect-client")}
    )


@contextlib.contextmanager
def webhook_receiver() -> Iterator[tuple[str, list[dict]]]:
    """A loopback HTTP endpoint that keeps every JSON body POSTed to it: its URL and the list."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(json.loads(body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/alerts", received
    finally:
        server.shutdown()


def wait_for_alert(received: list[dict], words: str, timeout: float = 90) -> dict:
    """The first alert whose subject holds ``words``, waiting up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for alert in received:
            if words in alert["subject"]:
                return alert
        time.sleep(0.5)
    raise AssertionError(f"no alert with {words!r} in {timeout} s; received: {received}")


# nginx in front of `mlflow models serve`, which has no authentication of its own: basic auth
# over loopback, as docs/serving.md ("Locked doors") configures it (with TLS in production).
NGINX_CONFIG = """{user}
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log {folder}/access.log;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    client_max_body_size 64m;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            auth_basic "rnn-retrain model server";
            auth_basic_user_file {folder}/htpasswd;
            proxy_pass http://127.0.0.1:{upstream};
            proxy_read_timeout 120s;
        }}
    }}
}}
"""


def nginx_binary() -> str:
    """Debian's nginx; a skip naming it where it is not installed (a failure under
    RETRAIN_REQUIRE_SERVICES=1: .ci/run installs it)."""
    import shutil

    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found:
        return found
    message = "needs nginx (Debian's package nginx: apt-get install nginx)"
    if os.environ.get("RETRAIN_REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    pytest.skip(message)


@contextlib.contextmanager
def basic_auth_proxy(upstream: int, user: str, password: str, folder: Path) -> Iterator[str]:
    """nginx on loopback asking for ``user``:``password`` before it passes a request to port
    ``upstream``; its URL. Stopped on exit."""
    binary = nginx_binary()
    folder.mkdir(parents=True, exist_ok=True)
    hashed = subprocess.run(
        ["openssl", "passwd", "-apr1", password], capture_output=True, text=True, check=True
    ).stdout.strip()
    (folder / "htpasswd").write_text(f"{user}:{hashed}\n")
    port = free_port()
    # As root, nginx's workers would run as nobody, who cannot read a test's private folder.
    config = NGINX_CONFIG.format(
        user="user root;" if os.geteuid() == 0 else "",
        folder=folder,
        port=port,
        upstream=upstream,
    )
    (folder / "nginx.conf").write_text(config)
    command = [binary, "-p", str(folder), "-e", str(folder / "error.log")]
    command += ["-c", str(folder / "nginx.conf"), "-g", "daemon off;"]
    proxy = start(command, dict(os.environ), folder / "nginx.log")
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url, timeout=2)
                break
            except httpx.TransportError:
                assert proxy.poll() is None, (folder / "error.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "nginx did not answer in 30 s"
                time.sleep(0.2)
        yield url
    finally:
        stop(proxy)
