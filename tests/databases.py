"""Fresh PostgreSQL databases for tests of the production set-up.

They need PostgreSQL (`RETRAIN_TEST_POSTGRES`, default postgresql://postgres@127.0.0.1:5432):
where it does not answer, a test skips with a message naming it, and `.ci/run`
(RETRAIN_REQUIRE_SERVICES=1) turns that skip into a failure, so CI always runs it.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest

POSTGRES = os.environ.get("RETRAIN_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")


def _admin(statement: str) -> None:
    import psycopg

    # CREATE/DROP DATABASE cannot run inside a transaction.
    with psycopg.connect(f"{POSTGRES}/postgres", connect_timeout=5, autocommit=True) as connection:
        connection.execute(statement)


@contextlib.contextmanager
def postgres_database(purpose: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for one test; its URL (no driver), dropped afterwards."""
    import psycopg

    name = f"retrain_{purpose}_{uuid.uuid4().hex[:10]}"
    try:
        _admin(f"CREATE DATABASE {name}")
    except psycopg.OperationalError as error:
        message = f"needs PostgreSQL at {POSTGRES} ({str(error).strip().splitlines()[0]})"
        if os.environ.get("RETRAIN_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield f"{POSTGRES}/{name}"
    finally:
        _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
