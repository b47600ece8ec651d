"""One promotion decision at a time, per model and registry, on one machine or on many.

Registering a version and judging it against the champion must not interleave with another
run's: both would compare with the same old champion, and both could promote. With a Prefect
server configured, every worker on every host talks to it, so the decisions are serialised by a
Prefect global concurrency limit of one slot, created on first use. Its slot is leased: a process
that dies holding it frees it when the lease runs out (`LEASE_SECONDS`). A purely local run
(Prefect's ephemeral API) keeps the registry's file lock, which is enough on one machine.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.asyncio import ConcurrencySlotAcquisitionError
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.settings import get_current_settings

from rnn_retrain.environment.faults import describe_fault
from rnn_retrain.errors import ServiceUnavailableError
from rnn_retrain.registry.champion import PROMOTION_LOCK_SECONDS, promotion_lock
from rnn_retrain.registry.versions import ModelRegistry

# How long a holder's slot outlives it if the process dies without releasing it.
LEASE_SECONDS = 300.0
# Tries at acquiring the slot when the server answers 503 (1 + 2 + 4 + 8 s of backoff).
ACQUIRE_ATTEMPTS = 5


def limit_name(registry: ModelRegistry) -> str:
    """The global concurrency limit for one model in one registry."""
    digest = hashlib.sha256(registry.tracking_uri.encode()).hexdigest()[:8]
    return f"rnn-retrain-promotion-{registry.model_name}-{digest}"


def ensure_limit(name: str) -> None:
    """Create the one-slot limit unless it exists (two runs may race to create it)."""
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            with contextlib.suppress(ObjectAlreadyExists):
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=name, limit=1)
                )


@contextlib.contextmanager
def promotion_decision(
    registry: ModelRegistry, timeout: float = PROMOTION_LOCK_SECONDS
) -> Iterator[str]:
    """Hold the right to register and judge a version of this model; yield what holds it."""
    if not get_current_settings().api.url:
        with promotion_lock(registry, timeout):
            yield "the registry's file lock (no Prefect server configured)"
        return
    name = limit_name(registry)
    slot = _acquire(name, registry.model_name, timeout)
    with slot:
        yield f"the Prefect global concurrency limit {name}"


def _acquire(name: str, model_name: str, timeout: float) -> contextlib.ExitStack:
    """Hold the limit's slot (released when the returned stack closes).

    A busy server may answer 503 (SQLite under load); the request is tried again with backoff,
    as Prefect's own client does for its other calls. A server that is gone is told by
    `rnn_retrain.environment.faults` as a lost connection, like any other request of the run.
    """
    for attempt in range(ACQUIRE_ATTEMPTS):
        stack = contextlib.ExitStack()
        try:
            ensure_limit(name)
            stack.enter_context(
                concurrency(
                    name,
                    occupy=1,
                    timeout_seconds=timeout,
                    lease_duration=LEASE_SECONDS,
                    strict=True,
                )
            )
            return stack
        except TimeoutError:
            raise ServiceUnavailableError(
                f"another run held the promotion decision on {model_name} (global concurrency "
                f"limit {name}) for over {timeout:.0f} s; try again when it has finished"
            ) from None
        except (ConcurrencySlotAcquisitionError, httpx.HTTPStatusError) as error:
            if describe_fault(error) is not None:
                raise  # The server is gone: told like any other lost request of the run.
            if attempt == ACQUIRE_ATTEMPTS - 1:
                raise ServiceUnavailableError(
                    f"the Prefect server did not grant the promotion decision's slot on {name} "
                    f"({error}); try again when it answers"
                ) from error
            time.sleep(2**attempt)
    raise AssertionError("unreachable")
