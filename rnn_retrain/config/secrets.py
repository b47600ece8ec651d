"""Secrets stay out of run parameters, and out of what a run writes.

A run's parameters are shown in the Prefect UI's run page and forms, stored on the server, logged
to MLflow and written beside every artifact: no place for a password. A location with one in it
(``postgresql://user:password@db/mlflow``, ``s3://KEY:SECRET@bucket``) is refused as a parameter
(`no_password`), with a line naming where it goes instead: the environment of the process that
needs it (``MLFLOW_TRACKING_URI``, ``AWS_SECRET_ACCESS_KEY``, ``MLFLOW_TRACKING_PASSWORD``) or a
Prefect Secret block. A location read from the environment may still hold one: what a run
writes or shows of it goes through `redacted` first.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

REDACTED = "***"
# A URI's user and password: ``scheme://user:password@``, the password up to the authority's
# last "@" (as `urllib.parse.urlsplit` reads it). One expression for the check, the redaction and
# the parameter schema.
CREDENTIALS = r"([A-Za-z][A-Za-z0-9+.-]*://[^/?#@:]*):[^/?#]+@"
# The same refusal in the parameter schema: a Prefect server enforcing deployment parameter
# schemas refuses such a run before it stores its parameters, and the UI's form flags the field.
NO_PASSWORD_PATTERN = f"^(?!{CREDENTIALS})"
_CREDENTIALS = re.compile(CREDENTIALS)


def has_password(location: str) -> bool:
    """Whether a URI holds a password (``scheme://user:password@host``)."""
    return _CREDENTIALS.match(location) is not None


def redacted(location: str) -> str:
    """``location`` with the password of its URI, if any, replaced by ``***``."""
    return _CREDENTIALS.sub(rf"\1:{REDACTED}@", location, count=1)


def no_password(location: str) -> str:
    """A validator: refuse a location that holds a password."""
    if has_password(location):
        raise ValueError(
            "holds a password, which a run parameter would show in the UI, the run's "
            "parameters and MLflow; give the location without it and the credentials through "
            "the environment (MLFLOW_TRACKING_URI, MLFLOW_TRACKING_USERNAME/PASSWORD, "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) or a Prefect Secret block"
        )
    return location


# A run parameter that names a location: a path or URI without a password.
Location = Annotated[
    str, AfterValidator(no_password), Field(json_schema_extra={"pattern": NO_PASSWORD_PATTERN})
]
