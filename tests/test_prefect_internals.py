"""What the project relies on that Prefect does not publish, pinned so an upgrade fails here.

Two behaviours have no public API:
- `interface/flow_start.py` starts Prefect's ephemeral API early with `SubprocessASGIServer`,
  counting on it being the one server Prefect's client would start (one per process);
- `rnn_retrain/orchestration/serializer.py` reads Prefect's result records from storage itself
  (Prefect's own reader would unpickle whatever a record names), so it parses their layout.
Each assertion says which file to revisit when it fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from prefect.filesystems import LocalFileSystem
from prefect.results import ResultStore

from rnn_retrain.orchestration.serializer import (
    SERIALIZER_TYPE,
    StageResultSerializer,
    UnsafeRecordError,
    read_vetted_record,
)
from rnn_retrain.store.artifacts import ArtifactRef

REF = ArtifactRef(name="ingest/snapshot.parquet", uri="/tmp/x.parquet", sha256="ab" * 32, rows=3)


@pytest.mark.parametrize("separate_metadata", [False, True], ids=["one-file", "metadata-apart"])
def test_the_result_record_reader_reads_what_prefects_result_store_writes(
    tmp_path, separate_metadata
):
    storage = LocalFileSystem(basepath=str(tmp_path / "results"))
    metadata = LocalFileSystem(basepath=str(tmp_path / "metadata")) if separate_metadata else None
    store = ResultStore(
        result_storage=storage, metadata_storage=metadata, serializer=StageResultSerializer()
    )
    store.write(REF, key="stage-key")
    assert read_vetted_record(store, "stage-key") == REF, (
        "Prefect's result record layout changed: revisit read_vetted_record in "
        "rnn_retrain/orchestration/serializer.py"
    )
    # A record Prefect writes with its default serializer (pickle) is refused, not decoded.
    pickled = ResultStore(result_storage=storage, metadata_storage=metadata)
    pickled.write(REF, key="pickled-key")
    with pytest.raises(UnsafeRecordError, match="serialised with 'pickle', not JSON"):
        read_vetted_record(pickled, "pickled-key")
    assert StageResultSerializer().type == SERIALIZER_TYPE


@pytest.mark.slow  # Starts Prefect's ephemeral API in a new process (seconds of migrations).
def test_the_ephemeral_api_started_early_is_the_one_prefects_client_uses(tmp_path):
    script = textwrap.dedent(
        """
        from prefect.client.orchestration import get_client
        from prefect.server.api.server import SubprocessASGIServer

        early = SubprocessASGIServer()
        early.start()
        with get_client(sync_client=True) as client:
            assert str(client.api_url).rstrip("/") == early.api_url.rstrip("/"), (client.api_url, early.api_url)
            client.hello()
        assert SubprocessASGIServer() is early and len(SubprocessASGIServer._instances) == 1
        print("one server", early.api_url)
        """
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "180"
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0 and "one server" in done.stdout, (
        "Prefect's client no longer uses the ephemeral server interface/flow_start.py starts "
        f"early: revisit load_flow_while_api_starts\n{done.stderr[-3000:]}"
    )
