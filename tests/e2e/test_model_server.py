"""End to end: the champion behind MLflow's own scoring server, over real HTTP on loopback.

A tiny model is trained with the real pipeline against the team's Prefect and MLflow servers (on
PostgreSQL, tests/e2e/conftest.py), `mlflow models serve` serves the `@champion`
alias, and its answers are compared with `retrain predict` on the same texts. Malformed requests
must get a 4xx with a message and leave the server up. Then a second run takes the alias, and
restarting the server (the documented reload path, docs/serving.md) serves the new champion.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import mlflow
import numpy as np
import pyarrow.parquet as pq
import pytest
from servers import BIN, basic_auth_proxy, free_port, start, stop

from rnn_retrain.interface.cli import main
from rnn_retrain.registry.versions import ModelRegistry

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

TINY = ["--demo-size", "200", "--epochs", "1", "--maxlen", "20", "--units", "4", "--no-xla"]
# Any second model takes the alias, so the reload path has something to show.
TINY += ["--min-accuracy", "0", "--promotion-policy", "not_worse", "--min-accuracy-gain", "-1"]
TEXTS = [
    "the plot was not good",
    "although the acting was bad , the story was wonderful",
    "a wonderful film , the acting was great",
    "boring",
]
TOLERANCE = 1e-5
CHAMPION = "models:/review-sentiment@champion"


@contextlib.contextmanager
def serving_champion(log: Path) -> Iterator[httpx.Client]:
    """`mlflow models serve` on the champion, as docs/serving.md starts it; stopped on exit."""
    port = free_port()
    # The CLI starts `uvicorn` by name, so the virtual environment's bin must be on PATH.
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = [
        str(BIN / "mlflow"), "models", "serve", "-m", CHAMPION,
        "--env-manager", "local", "--host", "127.0.0.1", "-p", str(port),
    ]  # fmt: skip
    server = start(command, env, log)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
    try:
        deadline = time.monotonic() + 180
        while not answers_ping(client):
            assert server.poll() is None, f"the server exited:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no /ping after 180 s:\n{log.read_text()[-3000:]}"
            time.sleep(0.5)
        yield client
    finally:
        client.close()
        stop(server)


def answers_ping(client: httpx.Client) -> bool:
    try:
        return client.get("/ping", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def retrain_predict(capsys, tmp_path: Path, texts: list[str]) -> np.ndarray:
    """The champion's probabilities from `retrain predict`, the command users score with."""
    out = tmp_path / f"scores-{time.monotonic_ns()}.parquet"
    assert main(["predict", *texts, "--out", str(out)]) == 0, capsys.readouterr().err
    capsys.readouterr()
    return pq.read_table(out)["probability"].to_numpy()


def served(client: httpx.Client, body: dict) -> np.ndarray:
    response = client.post("/invocations", json=body)
    assert response.status_code == 200, response.text[:1000]
    return np.array(response.json()["predictions"], dtype=np.float64)


def train_champion(capsys, seed: int) -> str:
    assert main(["run", *TINY, "--seed", str(seed)]) == 0, capsys.readouterr().err[-3000:]
    capsys.readouterr()
    return str(ModelRegistry("", "review-sentiment").champion().version)


# Each malformed request, the status it gets and a phrase its message must contain.
MALFORMED = {
    "no text field": ({"dataframe_records": [{"review": "great film"}]}, "missing inputs ['text']"),
    "a number instead of text": ({"dataframe_records": [{"text": 5}]}, "review 1 is int 5"),
    "an empty list of rows": ({"dataframe_split": {"columns": ["text"], "data": []}}, "no reviews"),
    "an empty inputs list": ({"inputs": []}, "no reviews"),
    "no records at all": ({"dataframe_records": []}, "missing inputs ['text']"),
    "no input field": ({"text": ["great film"]}, "exactly one of the input fields"),
}


@pytest.mark.long
def test_the_served_champion_answers_like_retrain_predict_and_rejects_malformed_requests(
    capsys, tmp_path, team
):
    # The registry is the team's MLflow server (PostgreSQL backend, served artifacts): the
    # scoring server downloads the champion through it.
    first = train_champion(capsys, seed=1)
    expected = retrain_predict(capsys, tmp_path, TEXTS)
    # What a server in the model's own environment installs (build-docker, virtualenv): the
    # bundled code's imports and the fast event loop and HTTP parser.
    requirements = Path(mlflow.pyfunc.get_model_dependencies(CHAMPION)).read_text()
    for name in ("tensorflow==", "google-re2==", "uvloop==", "httptools=="):
        assert name in requirements, requirements
    with serving_champion(tmp_path / "server-1.log") as client:
        # The same texts in every request shape MLflow's scoring server takes.
        for body in (
            {"dataframe_split": {"columns": ["text"], "data": [[text] for text in TEXTS]}},
            {"dataframe_records": [{"text": text} for text in TEXTS]},
            {"inputs": {"text": TEXTS}},
            {"instances": [{"text": text} for text in TEXTS]},
        ):
            assert np.max(np.abs(served(client, body) - expected)) <= TOLERANCE, body

        for what, (body, phrase) in MALFORMED.items():
            response = client.post("/invocations", json=body)
            assert 400 <= response.status_code < 500, (what, response.status_code, response.text)
            assert phrase in response.json()["message"], (what, response.text[:1000])
            assert answers_ping(client), f"the server stopped answering after {what}"
        response = client.post(
            "/invocations", content=b"not json", headers={"content-type": "application/json"}
        )
        assert response.status_code == 400 and "valid JSON" in response.json()["message"]

        # 10 MB of text in one row: preprocessing keeps the last maxlen tokens, so it is scored.
        started = time.monotonic()
        huge = served(client, {"dataframe_records": [{"text": "great film " * 950_000}]})
        assert huge.shape == (1,) and 0.0 <= huge[0] <= 1.0
        assert time.monotonic() - started < 30
        assert answers_ping(client)

    # A new promotion: the running server keeps the model it loaded; a restart re-resolves
    # the alias and serves the new champion.
    second = train_champion(capsys, seed=2)
    assert second != first, "the second run did not take the champion alias"
    promoted = retrain_predict(capsys, tmp_path, TEXTS)
    assert np.max(np.abs(promoted - expected)) > TOLERANCE, "both champions score alike"
    with serving_champion(tmp_path / "server-2.log") as client:
        body = {"dataframe_split": {"columns": ["text"], "data": [[text] for text in TEXTS]}}
        assert np.max(np.abs(served(client, body) - promoted)) <= TOLERANCE


@pytest.mark.nginx
def test_the_champion_behind_a_proxy_with_basic_auth(capsys, tmp_path, team):
    # `mlflow models serve` has no authentication: it listens on loopback only, and nginx in
    # front asks for a user and password (docs/serving.md, "Locked doors").
    train_champion(capsys, seed=3)
    expected = retrain_predict(capsys, tmp_path, TEXTS)
    body = {"dataframe_records": [{"text": text} for text in TEXTS]}
    user, password = "scoring-client", "proxy-Pw-2b7e0"
    with (
        serving_champion(tmp_path / "server.log") as direct,
        basic_auth_proxy(direct.base_url.port, user, password, tmp_path / "nginx") as url,
        httpx.Client(base_url=url, timeout=60) as proxied,
    ):
        assert proxied.post("/invocations", json=body).status_code == 401
        assert proxied.post("/invocations", json=body, auth=(user, "wrong")).status_code == 401
        assert proxied.get("/ping").status_code == 401
        answer = proxied.post("/invocations", json=body, auth=(user, password))
        assert answer.status_code == 200, answer.text[:1000]
        scores = np.array(answer.json()["predictions"], dtype=np.float64)
        assert np.max(np.abs(scores - expected)) <= TOLERANCE
