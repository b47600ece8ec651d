"""The served champion against its own in-process floor, in one run.

Trains a champion with ``retrain run`` in a fresh ``RETRAIN_HOME`` (on a sample of IMDB when
the shared data set is there, else on the built-in demo corpus), then measures:

1. the in-process floor: the same registered model, loaded with ``mlflow.pyfunc.load_model``,
   predicting one review at a time in a loop, and 32 at a time;
2. the served model, ``mlflow models serve -m models:/review-sentiment@champion`` on loopback,
   with 1 and with 2 workers (``-w``), under 1, 8 and 32 concurrent clients sending one review
   a request, and 8 clients sending 32 reviews a request;
3. the set-up of the image ``mlflow models build-docker`` makes, without Docker: nginx with
   MLflow's own configuration for that image in front of one uvicorn worker per core, under 8
   clients (when nginx is installed).

The reviews are whole IMDB test reviews (about 230 tokens on average) when the data is there,
demo texts otherwise. Each client sends a request, waits for its answer, sends the next: a
closed loop, like services calling the model. Clients run in processes of their own (at most 8,
threads beyond that), never in the server's interpreter or the one that measures the floor.

It prints p50 and p99 latency, requests and reviews per second, errors, and the ratio of served
to in-process reviews per second; ``--json FILE`` appends the rows as JSON lines. A second table
says where one request of one review spends its time: each stage of the scoring server's
handler, timed in process with MLflow's own functions, and what the HTTP exchange adds to it.

    python benchmarks/serve_load.py                                 # IMDB sample when present
    python benchmarks/serve_load.py --seconds 10 --workers 1 --clients 8
    python benchmarks/serve_load.py --tracking-uri sqlite:///path/mlflow.db   # an existing champion
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))

from pipeline import RETRAIN, add_run_flags, fresh_home_env  # noqa: E402
from text_stages import machine_line  # noqa: E402

from rnn_retrain.data.demo import generate_reviews  # noqa: E402
from rnn_retrain.environment.quiet import prepare_environment  # noqa: E402

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]
IMDB = ROOT.parent / "shared" / "datasets" / "imdb" / "reviews.parquet"
MODEL_URI = "models:/review-sentiment@champion"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
BATCH = 32
# The champion's training: the default recipe, 2 epochs (the speed measured does not depend on
# the accuracy); --run-flags come after, and win.
TRAIN_FLAGS = ["--epochs", "2"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def sample_imdb(path: Path, train_rows: int, seed: int) -> tuple[pa.Table, list[str]]:
    """A random sample of IMDB's train rows (with its test rows to evaluate on) and the whole
    test reviews the clients send."""
    table = pq.read_table(path, columns=["text", "label", "split"])
    rng = np.random.default_rng(seed)
    train = np.flatnonzero(pc.equal(table["split"], "train").to_numpy(zero_copy_only=False))
    test = np.flatnonzero(pc.equal(table["split"], "test").to_numpy(zero_copy_only=False))
    test = rng.permutation(test)
    rows = np.concatenate([rng.choice(train, train_rows, replace=False), test[: train_rows // 4]])
    reviews = table["text"].take(test[train_rows // 4 : train_rows // 4 + 2000]).to_pylist()
    return table.take(np.sort(rows)), reviews


def train_champion(home: Path, data: Path | None, flags: list[str]) -> dict[str, str]:
    """``retrain run`` in a fresh home; the environment that finds its registry."""
    # The home's own store, named: the in-process floor and the server read the same one.
    env = {**fresh_home_env(home), "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}"}
    home.mkdir(parents=True)
    data_flags = ["--data", str(data)] if data else []
    command = [RETRAIN, "run", *data_flags, *TRAIN_FLAGS, *flags]
    with open(home / "run.log", "w") as log:
        done = subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise RuntimeError(f"retrain run failed:\n{(home / 'run.log').read_text()[-3000:]}")
    return env


def start_server(env: dict[str, str], workers: int, log: Path) -> tuple[subprocess.Popen, str]:
    """``mlflow models serve`` on the champion, as docs/serving.md starts it, once it answers."""

    port = free_port()
    command = [
        str(BIN / "mlflow"), "models", "serve", "-m", MODEL_URI, "--env-manager", "local",
        "--host", "127.0.0.1", "-p", str(port), "-w", str(workers),
    ]  # fmt: skip
    # The server starts `uvicorn` by name: this virtual environment's must come first.
    env = {**env, "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}"}
    server = subprocess.Popen(
        command, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    if not answers_ping(server, url, 300):
        stop_server(server)
        raise RuntimeError(f"the server did not answer /ping:\n{log.read_text()[-3000:]}")
    return server, url


def answers_ping(process: subprocess.Popen, url: str, seconds: float) -> bool:
    """Whether ``url`` answers ``/ping`` within ``seconds``, while ``process`` runs."""
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}/ping", timeout=5).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    return False


def start_image_proxy(upstream: str, folder: Path) -> tuple[subprocess.Popen, str]:
    """nginx in front of ``upstream`` as the image of ``mlflow models build-docker`` runs it:
    MLflow's own ``nginx.conf`` for that image, from the installed MLflow, with its two ports
    (8080 and the upstream's 8000) and its file paths moved to loopback ports and ``folder``."""
    import mlflow.models

    original = Path(mlflow.models.__file__).parent / "container" / "scoring_server" / "nginx.conf"
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    config = (
        original.read_text()
        .replace("listen 8080", f"listen 127.0.0.1:{port}")
        .replace("server 127.0.0.1:8000", f"server {upstream.removeprefix('http://')}")
        .replace("/tmp/nginx.pid", str(folder / "nginx.pid"))
        .replace("/var/log/nginx/", f"{folder}/")
    )
    # As root, nginx's workers would run as nobody, who may not read the benchmark's folder.
    config = ("user root;\n" if os.geteuid() == 0 else "") + config
    (folder / "nginx.conf").write_text(config)
    command = [NGINX, "-p", str(folder), "-e", str(folder / "error.log"), "-c", "nginx.conf"]
    proxy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    if not answers_ping(proxy, url, 30):
        proxy.kill()
        raise RuntimeError(
            f"nginx did not answer /ping: {(folder / 'error.log').read_text()[-2000:]}"
        )
    return proxy, url


def stop_server(server: subprocess.Popen) -> None:
    # Its own process group: the uvicorn workers go with it.
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def summary(latencies: list[float], errors: int, seconds: float, batch: int) -> dict:
    """Latency percentiles (ms) and throughput of a measured loop."""
    milliseconds = np.array(latencies or [np.nan]) * 1000
    return {
        "requests": len(latencies),
        "errors": errors,
        "p50_ms": float(np.percentile(milliseconds, 50)),
        "p99_ms": float(np.percentile(milliseconds, 99)),
        "requests_per_s": len(latencies) / seconds,
        "reviews_per_s": len(latencies) * batch / seconds,
    }


def in_process_floor(env: dict[str, str], reviews: list[str], seconds: float, batch: int) -> dict:
    """The registered model's own predict in this process, ``batch`` reviews a call, in a loop."""
    import mlflow
    import pandas as pd

    os.environ["MLFLOW_TRACKING_URI"] = env["MLFLOW_TRACKING_URI"]
    model = mlflow.pyfunc.load_model(MODEL_URI)
    frames = [
        pd.DataFrame({"text": reviews[start : start + batch]})
        for start in range(0, len(reviews) - batch + 1, batch)
    ]
    # Warm-up, not measured: XLA compiles each new input shape once (about 0.35 s).
    for frame in frames[:64]:
        model.predict(frame)
    latencies, started = [], time.perf_counter()
    while time.perf_counter() - started < seconds:
        began = time.perf_counter()
        model.predict(frames[len(latencies) % len(frames)])
        latencies.append(time.perf_counter() - began)
    return summary(latencies, 0, time.perf_counter() - started, batch)


def request_breakdown(env: dict[str, str], reviews: list[str], seconds: float) -> dict[str, float]:
    """Where one request of one review spends its time inside the scoring server's worker, stage
    by stage, with MLflow's own functions (those its ``/invocations`` handler calls, in order):
    the median milliseconds of each over a loop of requests, in this process."""
    import io

    import mlflow
    from mlflow.pyfunc import scoring_server

    os.environ["MLFLOW_TRACKING_URI"] = env["MLFLOW_TRACKING_URI"]
    model = mlflow.pyfunc.load_model(MODEL_URI)  # The logged config: warmed up, as served.
    scorer = model.unwrap_python_model().scorer
    schema = model.metadata.get_input_schema()
    bodies = [
        json.dumps({"dataframe_split": {"columns": ["text"], "data": [[review]]}}).encode()
        for review in reviews
    ]
    stages: dict[str, list[float]] = {}

    def timed(stage: str, function, *arguments):
        began = time.perf_counter()
        result = function(*arguments)
        stages.setdefault(stage, []).append(time.perf_counter() - began)
        return result

    started, sent = time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        body = bodies[sent % len(bodies)]
        sent += 1
        parsed = timed("JSON body to a DataFrame (MLflow)", scoring_server._parse_json_data,
                       body, model.metadata, schema)  # fmt: skip
        answer = timed("pyfunc predict, whole (MLflow + ours)", model.predict, parsed.data)
        texts = list(parsed.data["text"])
        x = timed("  tokenise and pad (ours)", scorer.padded_ids, texts)
        timed("  forward pass (ours)", scorer.probabilities, x)
        timed("answer to JSON (MLflow)", scoring_server.predictions_to_json, answer, io.StringIO())
    medians = {stage: float(np.median(times)) * 1000 for stage, times in stages.items()}
    whole = medians["pyfunc predict, whole (MLflow + ours)"]
    ours = medians["  tokenise and pad (ours)"] + medians["  forward pass (ours)"]
    medians["  schema check and the rest (MLflow)"] = whole - ours
    return medians


def client_process(url, bodies, threads, start_at, stop_at, results) -> None:
    """``threads`` closed-loop clients in this process, from ``start_at`` to ``stop_at``."""
    import httpx

    latencies: list[float] = []
    errors: list[str] = []

    def loop(offset: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            sent = offset
            while time.time() < stop_at:
                body = bodies[sent % len(bodies)]
                sent += threads
                began = time.perf_counter()
                try:
                    ok = client.post("/invocations", json=body).status_code == 200
                except httpx.HTTPError:
                    ok = False
                # list.append is atomic under the GIL: the threads share these lists safely.
                latencies.append(time.perf_counter() - began)
                if not ok:
                    errors.append(url)

    time.sleep(max(0.0, start_at - time.time()))
    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    results.put((latencies, len(errors)))


def served_load(
    url: str, reviews: list[str], clients: int, seconds: float, batch: int, warm_up: float = 5
) -> dict:
    """``clients`` concurrent closed-loop clients against ``url``, ``batch`` reviews a request."""
    import httpx

    bodies = [
        {"dataframe_split": {"columns": ["text"], "data": [[t] for t in reviews[i : i + batch]]}}
        for i in range(0, len(reviews) - batch + 1, batch)
    ]
    httpx.post(f"{url}/invocations", json=bodies[0], timeout=120).raise_for_status()
    if warm_up:  # The same load first, not measured: each worker compiles its input shapes.
        served_load(url, reviews, clients, warm_up, batch, warm_up=0)
    processes = min(clients, 8)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    # The processes start their interpreters before the window opens.
    start_at = time.time() + 5
    stop_at = start_at + seconds
    spawned = []
    for index in range(processes):
        share = clients // processes + (index < clients % processes)
        bodies_of = bodies[index::processes] or bodies
        arguments = (url, bodies_of, share, start_at, stop_at, results)
        spawned.append(context.Process(target=client_process, args=arguments))
    for process in spawned:
        process.start()
    collected = [results.get(timeout=seconds + 120) for _ in spawned]
    for process in spawned:
        process.join()
    latencies = [value for part, _ in collected for value in part]
    return summary(latencies, sum(errors for _, errors in collected), seconds, batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=IMDB if IMDB.exists() else None,
                        help="IMDB Parquet (text, label, split); default: the shared copy, if any")  # fmt: skip
    parser.add_argument("--train-rows", type=int, default=5000, help="IMDB train rows to train on")
    parser.add_argument("--seconds", type=float, default=20.0, help="each measurement's window")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument(
        "--tracking-uri", help="serve this store's champion instead of training one"
    )
    parser.add_argument(
        "--tf-threads", type=int,
        help="also serve with TensorFlow's intra- and inter-op threads at this many (8 clients)",
    )  # fmt: skip
    parser.add_argument(
        "--no-image-setup", dest="image_setup", action="store_false",
        help="skip the set-up of mlflow models build-docker's image (nginx, a worker per core)",
    )  # fmt: skip
    add_run_flags(parser)
    parser.add_argument("--json", type=Path, help="append each row as a JSON line to this file")
    args = parser.parse_args()
    prepare_environment()

    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="serve-load-") as folder:
        folder = Path(folder)
        if args.data is not None:
            sample, reviews = sample_imdb(args.data, args.train_rows, seed=0)
            data = folder / "sample.parquet"
            pq.write_table(sample, data)
            source = f"IMDB: {len(sample)} rows sampled to train, whole test reviews sent"
        else:
            data, reviews = None, generate_reviews(2000, seed=11)["text"].to_pylist()
            source = "demo corpus (no IMDB data found): demo texts sent"
        if args.tracking_uri:
            env = {**os.environ, "MLFLOW_TRACKING_URI": args.tracking_uri}
            source = f"champion of {args.tracking_uri}; {source.split(':')[0]} reviews sent"
        else:
            env = train_champion(folder / "home", data, args.run_flags)
        tokens = np.mean([len(review.split()) for review in reviews])

        breakdown = request_breakdown(env, reviews, args.seconds)
        floors = {}
        for batch in (1, BATCH):
            floors[batch] = in_process_floor(env, reviews, args.seconds, batch)
            rows.append({"setup": "in process", "clients": 1, "batch": batch, **floors[batch]})

        def measure(url: str, setup: str, loads: list[tuple[int, int]]) -> None:
            for clients, batch in loads:
                result = served_load(url, reviews, clients, args.seconds, batch)
                ratio = result["reviews_per_s"] / floors[batch]["reviews_per_s"]
                row = {"setup": setup, "clients": clients, "batch": batch, **result}
                rows.append({**row, "ratio": ratio})

        def named(workers: int) -> str:
            return f"{workers} worker{'s' * (workers > 1)}"

        for workers in args.workers:
            server, url = start_server(env, workers, folder / f"server-{workers}.log")
            try:
                loads = [(clients, 1) for clients in args.clients] + [(8, BATCH)]
                measure(url, f"served, {named(workers)}", loads)
            finally:
                stop_server(server)
            if args.tf_threads:
                threads = str(args.tf_threads)
                limited = {
                    **env,
                    "TF_NUM_INTRAOP_THREADS": threads,
                    "TF_NUM_INTEROP_THREADS": threads,
                }
                server, url = start_server(limited, workers, folder / f"server-{workers}-t.log")
                try:
                    measure(url, f"served, {named(workers)}, TF threads {threads}", [(8, 1)])
                finally:
                    stop_server(server)
        # The image's set-up: nginx in front, one uvicorn worker per core (its default).
        cores = os.cpu_count() or 1
        if args.image_setup and NGINX:
            server, upstream = start_server(env, cores, folder / "server-image.log")
            proxy = None
            try:
                proxy, url = start_image_proxy(upstream, folder / "nginx")
                measure(url, f"nginx, {named(cores)} (the image's)", [(8, 1), (8, BATCH)])
            finally:
                if proxy is not None:
                    proxy.terminate()
                    proxy.wait()
                stop_server(server)
        elif args.image_setup:
            print("no nginx found: the image's set-up (nginx in front) is not measured")

    table = Table(
        title=f"Served champion against in process ({source}; {tokens:.0f} words a review on average)"
    )
    for column in ("setup", "clients", "reviews/request", "p50 ms", "p99 ms", "requests/s",
                   "reviews/s", "errors", "served ÷ in process"):  # fmt: skip
        table.add_column(column, justify="left" if column == "setup" else "right")
    for row in rows:
        ratio = f"{row['ratio']:.2f}" if "ratio" in row else ""
        table.add_row(
            row["setup"], str(row["clients"]), str(row["batch"]), f"{row['p50_ms']:.1f}",
            f"{row['p99_ms']:.1f}", f"{row['requests_per_s']:.1f}", f"{row['reviews_per_s']:.1f}",
            str(row["errors"]), ratio,
        )  # fmt: skip
    console = Console(width=160)
    console.print(table)
    served_one = next(
        (row for row in rows if row["setup"] == "served, 1 worker" and row["clients"] == 1
         and row["batch"] == 1), None,
    )  # fmt: skip
    stages = Table(title="One request of one review in the worker (median ms, in process)")
    stages.add_column("stage")
    stages.add_column("ms", justify="right")
    for stage, milliseconds in breakdown.items():
        stages.add_row(stage, f"{milliseconds:.3f}")
    inside = sum(value for stage, value in breakdown.items() if not stage.startswith(" "))
    stages.add_row("inside the handler, in all", f"{inside:.3f}")
    if served_one is not None:
        stages.add_row("HTTP, uvicorn, FastAPI, thread hand-off and the client (p50 at 1 client, "
                       "1 worker, less the above)", f"{served_one['p50_ms'] - inside:.3f}")  # fmt: skip
    console.print(stages)
    console.print(f"{args.seconds:g} s a measurement, {time.strftime('%Y-%m-%d')}")
    console.print(machine_line())
    if args.json:
        with args.json.open("a") as out:
            for row in rows:
                out.write(json.dumps({**row, "source": source, "seconds": args.seconds}) + "\n")
            out.write(json.dumps({"breakdown_ms": breakdown, "source": source}) + "\n")


if __name__ == "__main__":
    main()
