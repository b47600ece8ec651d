"""The project's error types for problems a user can cause and fix, and the exit status of each.

Every error a user can fix is a `RetrainError` whose message names the file, field or service,
the problem and the fix. The ``retrain`` command prints it as one ``error:`` line and exits with
the subclass's status, so scripts and schedulers can tell the causes apart:

| status | meaning |
| --- | --- |
| 0 | done (with ``--fail-if-not-promoted``: done, and the model became champion) |
| 1 | an unexpected failure (a bug): the traceback is printed |
| 2 | usage or configuration error: a bad flag or value, a model version or alias that does not exist |
| 3 | bad data: the source (or a file to score) is missing or cannot make a usable snapshot |
| 4 | the data gate stopped the run before training |
| 5 | a service or shared resource is unavailable (Prefect, MLflow, Dask, a download, a lock) |
| 6 | ``--fail-if-not-promoted`` was given and the model was kept as challenger |
| 7 | this machine failed the run: a full disk, a read-only or missing folder, out of memory |
| 130 | interrupted (Ctrl-C) |
"""

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_BAD_DATA = 3
EXIT_DATA_GATE = 4
EXIT_UNAVAILABLE = 5
EXIT_NOT_PROMOTED = 6
EXIT_ENVIRONMENT = 7
EXIT_INTERRUPTED = 130


class RetrainError(ValueError):
    """A user-facing error: the message names the file or field, the problem and the fix.

    It subclasses `ValueError` so callers that already treat bad input as a `ValueError`
    keep working, and so retry policies can tell it apart from transient I/O failures.
    """

    exit_code = EXIT_USAGE


class DataError(RetrainError):
    """The source data cannot make a usable snapshot (a file, a column, a label, the split)."""

    exit_code = EXIT_BAD_DATA


class DataGateError(RetrainError):
    """The data gate found a violation that must stop the run before training."""

    exit_code = EXIT_DATA_GATE


class ServiceUnavailableError(RetrainError):
    """A service or shared resource does not answer: try again once it is back."""

    exit_code = EXIT_UNAVAILABLE
