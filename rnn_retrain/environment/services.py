"""Checks that the services a command needs answer, and take its credentials, before any work.

Each check turns "nothing answers there" or "it refused these credentials" into one
`ServiceUnavailableError` line that names the service, its address and what to set, instead of
a client retrying for minutes or a traceback from deep inside a run. Health end points answer
anyone, so each check then makes one request that needs the credentials: a locked server (Prefect
basic auth, MLflow's basic-auth app; docs/operations.md, "Locked doors") refuses it with 401
when they are missing or wrong.
"""

from __future__ import annotations

import base64
import os
from typing import Any

from rnn_retrain.config.secrets import redacted
from rnn_retrain.errors import RetrainError, ServiceUnavailableError


def require_prefect_server(required: bool = True, timeout: float = 5.0) -> str | None:
    """The configured Prefect API URL, checked to answer; a one-line error otherwise.

    With ``required=False`` no URL is fine (a local run then uses Prefect's ephemeral API).
    """
    import httpx  # Here and below on use: `retrain --help` does without it.
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
            f"Prefect server {redacted(url)} is not answering ({type(error).__name__}); start "
            "it with `prefect server start` or fix PREFECT_API_URL"
        ) from None
    require_prefect_credentials(url, timeout)
    return url


def _secret(value: Any) -> str:
    """A setting's value, whether Prefect keeps it as a `SecretStr` or a plain string."""
    if value is None:
        return ""
    return str(value.get_secret_value() if hasattr(value, "get_secret_value") else value)


def require_prefect_credentials(url: str, timeout: float = 5.0) -> None:
    """Refuse, in one line, a Prefect server with basic auth on that refuses this client.

    An API key (Prefect Cloud) is not checked here: Cloud answers for it itself.
    """
    import httpx
    from prefect.settings import get_current_settings

    settings = get_current_settings().api
    if _secret(settings.key):
        return
    auth_string = _secret(settings.auth_string)
    headers = {}
    if auth_string:
        headers["Authorization"] = "Basic " + base64.b64encode(auth_string.encode()).decode()
    try:
        answer = httpx.get(f"{url.rstrip('/')}/admin/version", headers=headers, timeout=timeout)
    except httpx.HTTPError as error:
        raise ServiceUnavailableError(
            f"Prefect server {redacted(url)} is not answering ({type(error).__name__})"
        ) from None
    if answer.status_code == httpx.codes.UNAUTHORIZED:
        if auth_string:
            raise ServiceUnavailableError(
                f"Prefect server {redacted(url)} refused PREFECT_API_AUTH_STRING (401): it is "
                "not the user:password the server was started with "
                "(PREFECT_SERVER_API_AUTH_STRING)"
            )
        raise ServiceUnavailableError(
            f"Prefect server {redacted(url)} requires credentials (401): set "
            "PREFECT_API_AUTH_STRING to the user:password it was started with "
            "(PREFECT_SERVER_API_AUTH_STRING)"
        )


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


# Connect within 5 s, answer within 30 s: a server that took the connection is up, and a cold
# single-worker server's first answer (lazy imports, a password hash) can take seconds on a busy
# host; a weekly run must not fail on that.
TRACKING_TIMEOUT = (5.0, 30.0)


def require_tracking_server(
    tracking_uri: str, timeout: float | tuple[float, float] = TRACKING_TIMEOUT
) -> None:
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
            f"tracking server {redacted(tracking_uri)} is unreachable "
            f"({type(error).__name__}); start it, or set --tracking-uri / MLFLOW_TRACKING_URI "
            "to a running one"
        ) from None
    require_tracking_credentials(tracking_uri, timeout)


def require_tracking_credentials(
    tracking_uri: str, timeout: float | tuple[float, float] = TRACKING_TIMEOUT
) -> None:
    """Refuse, in one line, an MLflow tracking server (basic-auth app) that refuses this client.

    The credentials are MLflow's own: ``MLFLOW_TRACKING_USERNAME`` and
    ``MLFLOW_TRACKING_PASSWORD``, or a bearer ``MLFLOW_TRACKING_TOKEN``.
    """
    import requests

    user = os.environ.get("MLFLOW_TRACKING_USERNAME", "")
    password = os.environ.get("MLFLOW_TRACKING_PASSWORD", "")
    token = os.environ.get("MLFLOW_TRACKING_TOKEN", "")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        answer = requests.get(
            tracking_uri.rstrip("/") + "/api/2.0/mlflow/experiments/search",
            params={"max_results": 1},
            auth=(user, password) if user and not token else None,
            headers=headers,
            timeout=timeout,
        )
    except requests.RequestException as error:
        raise ServiceUnavailableError(
            f"tracking server {redacted(tracking_uri)} is unreachable ({type(error).__name__})"
        ) from None
    if answer.status_code == requests.codes.unauthorized:
        if user or token:
            raise ServiceUnavailableError(
                f"tracking server {redacted(tracking_uri)} refused the credentials (401): "
                f"{'MLFLOW_TRACKING_TOKEN' if token else f'user {user!r} or its password'} is "
                "not known there"
            )
        raise ServiceUnavailableError(
            f"tracking server {redacted(tracking_uri)} requires credentials (401): set "
            "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
        )
    if answer.status_code == requests.codes.forbidden:
        raise ServiceUnavailableError(
            f"tracking server {redacted(tracking_uri)} refused user {user!r} (403): grant it the "
            'permissions of docs/operations.md ("Locked doors")'
        )
