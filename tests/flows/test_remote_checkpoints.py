"""Checkpoints on a remote artifact root: a training killed on one machine resumes on another.

The artifact root is ``s3://bucket/root`` on an S3-compatible server on loopback (the `s3_root`
fixture); each "machine" is its own ``$RETRAIN_HOME`` (and Prefect home, with its own result
records), so nothing but the artifact root and the Prefect server, as in a team, is shared
between them.
"""

import json
import signal
import tarfile

import pyarrow.fs as pafs
import pytest
from test_fault_tolerance import KILL_AFTER_EPOCH_TWO, finish, start_flow_process, tiny

from rnn_retrain.flows.retrain import retrain
from rnn_retrain.interface.cli import main
from rnn_retrain.store.artifacts import ArtifactStore

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_server")]


def stored_checkpoints(s3_root: str) -> list[str]:
    """Every object under the root's checkpoints/ folder."""
    filesystem, base = pafs.FileSystem.from_uri(s3_root)
    selector = pafs.FileSelector(f"{base}/checkpoints", recursive=True, allow_not_found=True)
    return [info.path for info in filesystem.get_file_info(selector) if info.is_file]


def archive_contents(s3_root: str, path: str) -> tuple[list[str], dict]:
    """The member names of a checkpoint archive, and the backup's training metadata."""
    filesystem, _ = pafs.FileSystem.from_uri(s3_root)
    with filesystem.open_input_file(path) as stream, tarfile.open(fileobj=stream) as archive:
        metadata = json.load(archive.extractfile("backup/training_metadata.json"))
        return sorted(archive.getnames()), metadata


def on_machine(home, monkeypatch) -> None:
    """This process, and those it starts, as another machine: its own home and MLflow store."""
    monkeypatch.setenv("RETRAIN_HOME", str(home))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")


def test_training_killed_on_one_machine_resumes_on_another(tmp_path, s3_root, monkeypatch, capsys):
    config = tiny(tmp_path, artifact_root=s3_root, epochs=4, early_stopping_patience=0)
    on_machine(tmp_path / "machine-a", monkeypatch)
    killed = start_flow_process(KILL_AFTER_EPOCH_TWO, config, tmp_path, "killed", shared_api=True)
    returncode = finish(killed)
    assert returncode == -signal.SIGKILL, (tmp_path / "killed.log").read_text()[-2000:]
    [archive] = stored_checkpoints(s3_root)
    assert archive.startswith("bucket/root/checkpoints/") and archive.endswith("/checkpoint.tar")
    names, metadata = archive_contents(s3_root, archive)
    assert {"epochs.csv", "backup/latest.weights.h5", "backup/training_metadata.json"} <= set(names)
    assert metadata["epoch"] == 2  # The snapshot of the last finished epoch, backup and log.

    on_machine(tmp_path / "machine-b", monkeypatch)
    # `retrain gc` sees the archive of an unfinished training (a dry run: it stays).
    key = archive.split("/")[-2]
    gc = ["gc", "--dry-run", "--older-than-days", "0", "--artifact-root", s3_root, "--json"]
    assert main(gc) == 0
    plan = json.loads(capsys.readouterr().out)
    going = {(item["kind"], item["name"]) for item in plan["remove"]}
    assert ("checkpoint archive", key) in going
    assert stored_checkpoints(s3_root) == [archive]

    summary = retrain(config)
    history = ArtifactStore(s3_root).read_table(summary.artifacts["train/history.parquet"])
    history = history.to_pydict()
    assert history["epoch"] == [1, 2, 3, 4]
    killed_pid, resumed_pid = history["process_id"][0], history["process_id"][2]
    assert history["process_id"] == [killed_pid, killed_pid, resumed_pid, resumed_pid]
    assert killed_pid != resumed_pid
    assert summary.epochs_run == 4 and summary.resumed_from_epoch == 2
    assert stored_checkpoints(s3_root) == []
    staging = tmp_path / "machine-b" / "checkpoints"
    assert not [path for path in staging.iterdir() if path.is_dir()]
