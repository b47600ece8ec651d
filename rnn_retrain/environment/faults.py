"""Faults from the environment, told in one line: what failed, where, and what to do about it.

Bad input raises our own `RetrainError`s. The machine can fail a run too: a full disk, a
read-only folder, a registry database another process holds, memory running out. Those arrive as
the libraries' own exceptions (`OSError`, SQLite's and SQLAlchemy's `OperationalError` inside an
`MlflowException`, TensorFlow's `ResourceExhaustedError`), often wrapped, and with tracebacks that
tell a user nothing. `describe_fault` recognises them in an exception chain or in a log line and
gives the one-line message and exit status the CLI prints; the traceback stays in the run log.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Iterator
from dataclasses import dataclass

from rnn_retrain.errors import EXIT_ENVIRONMENT, EXIT_UNAVAILABLE

NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
NOT_WRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)
_PATH = re.compile(r"'(/[^']+)'|\"(/[^\"]+)\"")
# MLflow's REST client: "API request to http://host:port/api/2.0/... failed with exception ...".
_SERVER_REQUEST = re.compile(r"API request to (https?://[^/\s]+)")
_CONNECTION_LOST = ("connection refused", "max retries exceeded", "connectionerror")
_LOST = {"ConnectError", "ConnectTimeout", "ReadError", "ReadTimeout", "RemoteProtocolError"}


@dataclass(frozen=True)
class Fault:
    """A recognised environmental fault: the line to print and the exit status."""

    message: str
    exit_code: int


def describe_fault(error: BaseException) -> Fault | None:
    """The fault behind ``error`` (or anything in its cause chain), None when it is not one."""
    for cause in _chain(error):
        fault = _from_os_error(cause) if isinstance(cause, OSError) else None
        fault = fault or _from_kind(cause) or _from_lost_connection(cause)
        fault = fault or describe_text(f"{type(cause).__name__}: {cause}")
        if fault is not None:
            return fault
    return None


def describe_text(text: str) -> Fault | None:
    """The fault a log line or error message reports, None when it reports none."""
    lowered = text.lower()
    where = _path_in(text)
    if "no space left on device" in lowered or "database or disk is full" in lowered:
        return no_space(where)
    if "read-only file system" in lowered:
        return not_writable(where, "is on a read-only file system")
    if "database is locked" in lowered:
        return Fault(
            "the registry database is locked by another process (a run creating or upgrading "
            "it, or an open SQLite shell); try again when it has finished, or use a tracking "
            "server (docs/operations.md)",
            EXIT_UNAVAILABLE,
        )
    if "resourceexhaustederror" in lowered or "memoryerror" in lowered:
        return out_of_memory()
    server = _SERVER_REQUEST.search(text)
    if server and any(sign in lowered for sign in _CONNECTION_LOST):
        return Fault(
            f"the MLflow tracking server {server.group(1)} stopped answering during the run; "
            "start it again and run the same command (the stages done so far come from the "
            "cache)",
            EXIT_UNAVAILABLE,
        )
    return None


def no_space(where: str | None) -> Fault:
    return Fault(
        f"no space left on the device holding {where or 'a folder the run writes to'}: free "
        "space there, or point --artifact-root, RETRAIN_HOME or MLFLOW_TRACKING_URI at a disk "
        "with room, then run the same command again",
        EXIT_ENVIRONMENT,
    )


def not_writable(where: str | None, problem: str) -> Fault:
    return Fault(
        f"{where or 'a folder the run writes to'} {problem}: make it writable, or point "
        "--artifact-root (or RETRAIN_HOME) at a folder this user can write",
        EXIT_ENVIRONMENT,
    )


def out_of_memory() -> Fault:
    return Fault(
        "out of memory while training: lower --batch-size, --maxlen, --units or "
        "--embedding-dim, or --chunk-rows for the data stages, then run again",
        EXIT_ENVIRONMENT,
    )


def _from_os_error(error: OSError) -> Fault | None:
    where = error.filename if isinstance(error.filename, str) else _path_in(str(error))
    if error.errno in NO_SPACE:
        return no_space(where)
    if error.errno == errno.EROFS:
        return not_writable(where, "is on a read-only file system")
    if error.errno in NOT_WRITABLE:
        return not_writable(where, "cannot be written by this user")
    return None


def _from_kind(error: BaseException) -> Fault | None:
    if isinstance(error, MemoryError) or type(error).__name__ == "ResourceExhaustedError":
        return out_of_memory()
    return None


def _from_lost_connection(error: BaseException) -> Fault | None:
    """Prefect's client (httpx) losing its server: the request says which server."""
    if type(error).__name__ not in _LOST:
        return None
    try:
        url = error.request.url  # type: ignore[attr-defined]
    except (AttributeError, RuntimeError):  # httpx raises RuntimeError when there is none.
        return None
    return Fault(
        f"the Prefect server at {url.scheme}://{url.netloc.decode()} stopped answering during the "
        f"run ({type(error).__name__}); start it again and run the same command (the stages "
        "done so far come from the cache)",
        EXIT_UNAVAILABLE,
    )


def _path_in(text: str) -> str | None:
    found = _PATH.search(text)
    return next(filter(None, found.groups()), None) if found else None


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__
