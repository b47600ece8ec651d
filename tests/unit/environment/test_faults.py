"""Environmental faults are recognised in an exception chain or a log line, and told in one line."""

import errno

import pytest

from rnn_retrain.environment.faults import describe_fault, describe_text
from rnn_retrain.errors import EXIT_ENVIRONMENT, EXIT_UNAVAILABLE


def chained(outer: Exception, inner: BaseException) -> Exception:
    outer.__cause__ = inner
    return outer


@pytest.mark.parametrize(
    ("error", "start", "status"),
    [
        (
            OSError(errno.ENOSPC, "No space left", "/d/a.parquet"),
            "no space left on the device holding /d/a.parquet",
            EXIT_ENVIRONMENT,
        ),
        (
            OSError(errno.EROFS, "Read-only", "/ro/x"),
            "/ro/x is on a read-only file system",
            EXIT_ENVIRONMENT,
        ),
        (
            OSError(errno.EACCES, "Permission denied", "/p"),
            "/p cannot be written by this user",
            EXIT_ENVIRONMENT,
        ),
        (
            chained(RuntimeError("register failed"), MemoryError()),
            "out of memory while training",
            EXIT_ENVIRONMENT,
        ),
        (
            chained(
                ValueError("wrapped"), RuntimeError("(sqlite3.OperationalError) database is locked")
            ),
            "the registry database is locked",
            EXIT_UNAVAILABLE,
        ),
        (
            RuntimeError(
                "API request to http://10.0.0.5:5000/api/2.0/mlflow/runs/create failed with "
                "exception HTTPConnectionPool(host='10.0.0.5', port=5000): Max retries exceeded"
            ),
            "the MLflow tracking server http://10.0.0.5:5000 stopped answering",
            EXIT_UNAVAILABLE,
        ),
    ],
)
def test_faults_are_found_anywhere_in_the_chain(error, start, status):
    fault = describe_fault(error)
    assert fault is not None and fault.message.startswith(start) and fault.exit_code == status


def test_a_bug_is_not_a_fault():
    assert describe_fault(KeyError("x")) is None
    assert describe_fault(OSError(errno.ENOENT, "No such file", "/x")) is None


def test_prefects_log_lines_are_recognised_by_their_text():
    line = "Finished in state Failed(\"Task run encountered an exception OSError: [Errno 28] No space left on device: '/d/x'\")"
    fault = describe_text(line)
    assert fault is not None and "/d/x" in fault.message
    assert describe_text("Finished in state Completed()") is None
