"""The one error type for problems a user can cause and fix (bad data, bad configuration)."""


class RetrainError(ValueError):
    """A user-facing error: the message names the file or field, the problem and the fix.

    It subclasses `ValueError` so callers that already treat bad input as a `ValueError`
    keep working, and so retry policies can tell it apart from transient I/O failures.
    """
