"""The retry policy every stage task uses: transient I/O and network errors only."""

from __future__ import annotations

from typing import Any

import httpx

from rnn_retrain.environment.faults import describe_fault

# Failures worth another attempt: I/O and network errors (OSError covers ConnectionError,
# TimeoutError and requests' errors). Anything else (bad data, bad configuration, a bug) fails
# the same way every time, so retrying would only delay the error.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OSError, httpx.TransportError)


def retry_on_transient_errors(task: Any, task_run: Any, state: Any) -> bool:
    """Retry condition: retry I/O and network errors, never a user error or a bug.

    A full disk, a read-only folder or memory running out are I/O errors too, but they do not
    clear in seconds: they fail at once, with the one-line message of `rnn_retrain.environment.faults`.
    """
    error = state.result(raise_on_failure=False)
    return isinstance(error, TRANSIENT_ERRORS) and describe_fault(error) is None


# Every stage task uses these settings: a transient failure is retried twice with growing,
# jittered delays, while any other failure ends the run at once so the user sees it without
# waiting.
RETRY_SETTINGS: dict[str, Any] = {
    "retries": 2,
    "retry_delay_seconds": [2, 10],
    "retry_jitter_factor": 0.5,
    "retry_condition_fn": retry_on_transient_errors,
}
