"""``retrain serve-model``: MLflow's own scoring server on a model that follows its alias.

Each uvicorn worker builds MLflow's scoring app (`mlflow.pyfunc.scoring_server.init`, the app
`mlflow models serve` runs: the same routes, parsing, answers and errors) around a
`rnn_retrain.registry.following.FollowingModel`, which swaps in the version the alias points
at when it moves. In front of MLflow's app, a small ASGI layer of ours does two things MLflow's
cannot: it refuses a review that is not text in the body as sent
(`rnn_retrain.model.requests`), before MLflow converts it to a string, and it names the version
that answered each request in the ``X-Model-Version`` header.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Awaitable, Callable
from typing import Any

from rnn_retrain.errors import EXIT_OK, RetrainError

# What the command hands its workers (uvicorn's factory takes no arguments).
ALIAS_VARIABLE = "RETRAIN_SERVE_ALIAS"
POLL_VARIABLE = "RETRAIN_SERVE_POLL_SECONDS"
# How often each worker reads the alias by default: every answer is the new version's within
# this and one load of the model (`rnn_retrain.registry.following`).
POLL_SECONDS = 2.0
# The header that names the version that gave an answer (and, on /ping, the one serving now).
VERSION_HEADER = b"x-model-version"
INVOCATIONS = "/invocations"

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class ReviewGuard:
    """ASGI middleware: malformed reviews refused from the raw body, answers named by version."""

    def __init__(self, app: Any, following: Any) -> None:
        self.app = app
        self.following = following

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        from rnn_retrain.model.requests import refused_review
        from rnn_retrain.registry.following import ANSWERED_BY

        if scope["type"] != "http" or scope["path"] != INVOCATIONS or scope["method"] != "POST":
            await self.app(scope, receive, _naming(send, [self.following.served.version]))
            return
        body = await _read_body(receive)
        problem = refused_review(body, _header(scope, b"content-type"))
        if problem is not None:
            await _refuse(send, problem)
            return
        answered: list[str] = []  # Filled in MLflow's handler thread, which copies this context.
        token = ANSWERED_BY.set(answered)
        try:
            await self.app(scope, _replaying(body, receive), _naming(send, answered))
        finally:
            ANSWERED_BY.reset(token)


async def _read_body(receive: Receive) -> bytes:
    parts = []
    while True:
        message = await receive()
        parts.append(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body", False):
            return b"".join(parts)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """The body read once, handed to the app as one message; then the client's own messages."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> dict[str, Any]:
        return pending.pop() if pending else await receive()

    return replayed


def _naming(send: Send, versions: list[str]) -> Send:
    """``send`` with the version header added to the answer, once a version has answered."""

    async def named(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and versions:
            headers = [*message.get("headers", []), (VERSION_HEADER, versions[-1].encode())]
            message = {**message, "headers": headers}
        await send(message)

    return named


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


async def _refuse(send: Send, message: str) -> None:
    """A 400 in MLflow's error format (its code and message), as MLflow answers a bad input."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

    error = MlflowException(message, error_code=INVALID_PARAMETER_VALUE)
    content = error.serialize_as_json().encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(content))]
    await send({"type": "http.response.start", "status": 400, "headers": headers})
    await send({"type": "http.response.body", "body": content})


def create_app() -> ReviewGuard:
    """uvicorn's factory, run in each worker: load the alias's version, follow it, serve it."""
    from mlflow.pyfunc import scoring_server

    from rnn_retrain.model.serving import FOLLOWING_SERVER_VARIABLE
    from rnn_retrain.registry.following import FollowingModel
    from rnn_retrain.registry.versions import ModelRegistry

    name = os.environ[FOLLOWING_SERVER_VARIABLE].rsplit("@", 1)[0]
    registry = ModelRegistry(os.environ.get("MLFLOW_TRACKING_URI", ""), name)
    poll_seconds = float(os.environ[POLL_VARIABLE])
    following = FollowingModel(registry, os.environ[ALIAS_VARIABLE], poll_seconds)
    app = scoring_server.init(following)
    if poll_seconds > 0:
        following.follow()
    return ReviewGuard(app, following)


def serve_model_command(args: argparse.Namespace) -> int:
    """``retrain serve-model``: check the alias names a version, then run uvicorn's workers."""
    import uvicorn

    from rnn_retrain.model.serving import FOLLOWING_SERVER_VARIABLE
    from rnn_retrain.registry.versions import ModelRegistry

    if args.workers < 1 or args.poll_seconds < 0:
        raise RetrainError("--workers must be at least 1 and --poll-seconds at least 0")
    registry = ModelRegistry(args.tracking_uri, args.model_name)
    version = registry.get_version(alias=args.alias).version  # A one-line error when none.
    os.environ.update(
        {
            "MLFLOW_TRACKING_URI": registry.tracking_uri,
            FOLLOWING_SERVER_VARIABLE: f"{args.model_name}@{args.alias}",
            ALIAS_VARIABLE: args.alias,
            POLL_VARIABLE: str(args.poll_seconds),
            # MLflow's handler answers 504 to a request still running after this long.
            "MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT": str(args.timeout),
        }
    )
    print(
        f"serving {args.model_name}@{args.alias} (version {version} now) on "
        f"http://{args.host}:{args.port} with {args.workers} worker(s); "
        + (f"reading the alias every {args.poll_seconds:g} s" if args.poll_seconds > 0 else
           "not following the alias"),
        flush=True,
    )  # fmt: skip
    uvicorn.run(
        "rnn_retrain.interface.model_server:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="info",
    )
    return EXIT_OK


def add_serve_model_command(commands: argparse._SubParsersAction) -> None:
    """Register ``serve-model`` with the top-level parser."""
    from rnn_retrain.interface.model_commands import add_registry_flags

    serve = commands.add_parser(
        "serve-model",
        help="serve a registered model over HTTP (MLflow's scoring server), following its alias",
    )
    serve.add_argument(
        "--alias", default="champion", help="the alias to serve and follow (default: %(default)s)"
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: %(default)s, loopback only)",
    )
    serve.add_argument("--port", "-p", type=int, default=5000, help="port (default: %(default)s)")
    serve.add_argument(
        "--workers",
        "-w",
        type=int,
        default=1,
        help="uvicorn worker processes, one per core (default: %(default)s)",
    )
    serve.add_argument(
        "--poll-seconds",
        type=float,
        default=POLL_SECONDS,
        help="how often each worker reads the alias; 0 to serve the version of the start only (default: %(default)s)",
    )
    serve.add_argument(
        "--timeout",
        "-t",
        type=int,
        default=60,
        help="seconds before a request gets 504 (default: %(default)s)",
    )
    add_registry_flags(serve)
    serve.set_defaults(handler=serve_model_command)
