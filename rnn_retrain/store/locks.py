"""Inter-process locks on local lock files, for runs that overlap on one machine.

The locks are `fcntl.flock` locks: the operating system releases them when the holding process
exits, even on SIGKILL, so a crashed run never leaves a lock behind that blocks the next one.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

from rnn_retrain.errors import ServiceUnavailableError

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.5


@contextlib.contextmanager
def exclusive_lock(path: str | os.PathLike[str], timeout: float, purpose: str) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` for the duration of the block, waiting up to ``timeout``.

    Args:
        path: The lock file; its folder is created if needed.
        timeout: Seconds to wait for another holder before giving up.
        purpose: What the lock guards, for the waiting message and the timeout error.

    Raises:
        RetrainError: If the lock is still held by another process after ``timeout`` seconds.
    """
    with _open_lock_file(path) as handle:
        deadline = time.monotonic() + timeout
        if not _try_flock(handle):
            logger.warning("Waiting for another run to finish its %s (lock %s)", purpose, path)
            while not _try_flock(handle):
                if time.monotonic() > deadline:
                    raise ServiceUnavailableError(
                        f"{path}: another run held the {purpose} lock for over {timeout:.0f} s; "
                        "try again when it has finished"
                    )
                time.sleep(POLL_SECONDS)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def lock_if_free(path: str | os.PathLike[str]) -> Iterator[bool]:
    """Try once to lock ``path``; yield whether this process holds the lock."""
    with _open_lock_file(path) as handle:
        held = _try_flock(handle)
        try:
            yield held
        finally:
            if held:
                fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def _open_lock_file(path: str | os.PathLike[str]) -> Iterator[int]:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        yield handle
    finally:
        os.close(handle)


def _try_flock(handle: int) -> bool:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
