"""How a process that ran the pipeline ends: without a last walk over its heap."""

from __future__ import annotations

import atexit
import functools
import gc


@functools.cache
def exit_without_final_collection() -> None:
    """Freeze every live object at exit (`gc.freeze`), so the interpreter's final collections
    skip them; once per process.

    What is alive at exit is garbage for the OS. Without this, the last collections walk every
    TensorFlow, Prefect, MLflow and pyarrow object: about 2 s at the end of each `retrain`
    process, of each flow-run process Prefect starts and of each test worker (benchmarks/
    overhead.py, "teardown"). Reference counting still frees what it frees; only cycles are
    left to the OS.
    """
    atexit.register(gc.freeze)
