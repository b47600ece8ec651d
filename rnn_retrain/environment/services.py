"""Checks that the services a command needs answer, before any work starts.

Each check turns "nothing answers there" into one `ServiceUnavailableError` line that names the
service, its address and how to start it, instead of a client retrying for minutes.
"""

from __future__ import annotations

import httpx

from rnn_retrain.errors import RetrainError, ServiceUnavailableError


def require_prefect_server(required: bool = True, timeout: float = 5.0) -> str | None:
    """The configured Prefect API URL, checked to answer; a one-line error otherwise.

    With ``required=False`` no URL is fine (a local run then uses Prefect's ephemeral API).
    """
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    if not url and not required:
        return None
    if not url:
        raise RetrainError(
            "no Prefect server configured: start one with `prefect server start`, then "
            "`prefect config set PREFECT_API_URL=http://127.0.0.1:4200/api`"
        )
    try:
        httpx.get(f"{url.rstrip('/')}/health", timeout=timeout).raise_for_status()
    except httpx.HTTPError as error:
        raise ServiceUnavailableError(
            f"Prefect server {url} is not answering ({type(error).__name__}); start it with "
            "`prefect server start` or fix PREFECT_API_URL"
        ) from None
    return url


def require_dask_scheduler(address: str, timeout: float = 10.0) -> None:
    """Refuse, in one line, a Dask scheduler address that does not answer."""
    from distributed import Client

    try:
        with Client(address, timeout=timeout):
            pass
    except (OSError, TimeoutError, ValueError) as error:
        raise ServiceUnavailableError(
            f"dask_address {address!r}: no Dask scheduler answers there "
            f"({type(error).__name__}: {error}); start one with `dask scheduler` or leave "
            "dask_address empty for a local cluster"
        ) from None


def require_tracking_server(tracking_uri: str, timeout: float = 5.0) -> None:
    """Fail fast, in one line, when an HTTP MLflow tracking server does not answer.

    MLflow's own client retries for minutes before it gives up. Other URIs (a SQLite or
    PostgreSQL store) are not checked here.
    """
    if not tracking_uri.startswith(("http://", "https://")):
        return
    import requests  # As MLflow's own client: redirects followed, REQUESTS_CA_BUNDLE honoured.

    try:
        requests.get(tracking_uri.rstrip("/") + "/health", timeout=timeout).raise_for_status()
    except requests.RequestException as error:
        raise ServiceUnavailableError(
            f"tracking server {tracking_uri} is unreachable ({type(error).__name__}); start it, "
            "or set --tracking-uri / MLFLOW_TRACKING_URI to a running one"
        ) from None
