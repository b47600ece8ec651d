"""Load on the served champion: concurrent clients against ``mlflow models serve`` on loopback.

Trains a champion with ``retrain run`` (defaults, the built-in demo corpus) in a fresh
``RETRAIN_HOME`` and serves it with ``mlflow models serve -m models:/review-sentiment@champion
--env-manager local`` (or, with ``--url``, loads a server that is already running). Then
``--clients`` threads each send one request at a time, for ``--seconds``, with ``--batch``
reviews per request (demo reviews, in the ``dataframe_split`` format), and it reports the
latency percentiles, requests and reviews per second, and the errors (any answer but 200, or
no answer). Every request waits for its answer before the client sends the next one: this
measures a closed loop of clients, like a service calling the model, not an open arrival rate.

    python benchmarks/serve_load.py                     # 8 clients, 60 s, 1 review a request
    python benchmarks/serve_load.py --url http://127.0.0.1:5000 --clients 8 --seconds 60
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table

from rnn_retrain.data.demo import generate_reviews

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def train_champion(home: Path) -> dict[str, str]:
    """``retrain run`` with its defaults in a fresh home; the environment that finds its store."""
    env = {
        **os.environ,
        "RETRAIN_HOME": str(home),
        "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
        # The server starts `uvicorn` by name: this virtual environment's must come first.
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    home.mkdir(parents=True)
    with open(home / "run.log", "w") as log:
        subprocess.run(
            [str(BIN / "retrain"), "run"], env=env, stdout=log, stderr=subprocess.STDOUT, check=True
        )
    return env


def start_server(env: dict[str, str], log: Path) -> tuple[subprocess.Popen, str]:
    """``mlflow models serve`` on the champion, as docs/serving.md starts it, once it answers."""
    port = free_port()
    command = [
        str(BIN / "mlflow"), "models", "serve", "-m", "models:/review-sentiment@champion",
        "--env-manager", "local", "--host", "127.0.0.1", "-p", str(port),
    ]  # fmt: skip
    server = subprocess.Popen(
        command, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/ping", timeout=5).status_code == 200:
                return server, url
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the server did not answer /ping in 180 s:\n{log.read_text()[-3000:]}")


def stop_server(server: subprocess.Popen) -> None:
    # Its own process group: the uvicorn process it started goes with it.
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def client_loop(
    url: str, bodies: list[dict], stop_at: float, latencies: list[float], errors: list[str]
) -> None:
    """One client: a request, its answer, the next request, until ``stop_at``."""
    with httpx.Client(base_url=url, timeout=60) as client:
        sent = 0
        while time.monotonic() < stop_at:
            body = bodies[sent % len(bodies)]
            sent += 1
            started = time.perf_counter()
            try:
                response = client.post("/invocations", json=body)
                ok = response.status_code == 200
                problem = f"HTTP {response.status_code}"
            except httpx.HTTPError as error:
                ok, problem = False, type(error).__name__
            # list.append is atomic under the GIL: the threads share these lists safely.
            latencies.append(time.perf_counter() - started)
            if not ok:
                errors.append(problem)


def measure(url: str, clients: int, seconds: float, batch: int) -> dict[str, float]:
    """Run the clients against ``url``; latency percentiles (ms), throughput and errors."""
    texts = generate_reviews(max(batch * 50, 200), seed=11)["text"].to_pylist()
    bodies = [
        {"dataframe_split": {"columns": ["text"], "data": [[t] for t in texts[i : i + batch]]}}
        for i in range(0, len(texts) - batch + 1, batch)
    ]
    # One request first, so the first client's latency is not the server's warm-up.
    httpx.post(f"{url}/invocations", json=bodies[0], timeout=60).raise_for_status()
    latencies: list[float] = []
    errors: list[str] = []
    stop_at = time.monotonic() + seconds
    threads = [
        threading.Thread(target=client_loop, args=(url, bodies, stop_at, latencies, errors))
        for _ in range(clients)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    milliseconds = np.array(latencies) * 1000
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "p50_ms": float(np.percentile(milliseconds, 50)),
        "p99_ms": float(np.percentile(milliseconds, 99)),
        "max_ms": float(milliseconds.max()),
        "requests_per_s": len(latencies) / elapsed,
        "reviews_per_s": len(latencies) * batch / elapsed,
        "seconds": elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running scoring server (default: train and start one)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--batch", type=int, default=1, help="reviews per request")
    args = parser.parse_args()

    server = None
    with tempfile.TemporaryDirectory(prefix="serve-load-") as folder:
        try:
            url = args.url
            if url is None:
                env = train_champion(Path(folder) / "home")
                server, url = start_server(env, Path(folder) / "server.log")
            result = measure(url, args.clients, args.seconds, args.batch)
        finally:
            if server is not None:
                stop_server(server)

    table = Table(title=f"Served champion: {args.clients} clients, {args.seconds:g} s, loopback")
    for name in ("figure", "value"):
        table.add_column(name, justify="right" if name == "value" else "left")
    table.add_row("reviews per request", str(args.batch))
    table.add_row("requests", f"{result['requests']}")
    table.add_row("errors", f"{result['errors']}")
    table.add_row("latency p50", f"{result['p50_ms']:.1f} ms")
    table.add_row("latency p99", f"{result['p99_ms']:.1f} ms")
    table.add_row("latency max", f"{result['max_ms']:.1f} ms")
    table.add_row("requests per second", f"{result['requests_per_s']:.1f}")
    table.add_row("reviews per second", f"{result['reviews_per_s']:.1f}")
    Console().print(table)


if __name__ == "__main__":
    main()
