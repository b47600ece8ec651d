"""Every location the project uses: the folders under ``$RETRAIN_HOME``, the artifact root's layout.

No other module joins these paths. ``$RETRAIN_HOME`` (default ``~/.rnn-retrain``) holds:

```
artifacts/            the default artifact root (see below)
mlflow.db             the embedded MLflow tracking and registry store (SQLite)
mlartifacts/          that store's model files
datasets/             downloaded datasets (the IMDB archive and its Parquet copy)
scratch/              large temporary files of a stage (pad's shuffle), on local disk
locks/                lock files of runs that must not overlap (promotion decisions)
checkpoints/          training checkpoints when the artifact root is remote: Keras' local staging,
                      copied to the root after every epoch (below)
```

An artifact root (a local folder or a pyarrow filesystem URI) holds:

```
runs/<run_id>/<stage>/<file>      an artifact, with <file>.manifest.json beside it
cache/<stage>/<key>.json          what a stage's cache key was computed from
checkpoints/<key>/                training checkpoints, for a local root
checkpoints/<key>/checkpoint.tar  for a remote root: the staging folder after its last finished
                                  epoch, as one archive, so a run on any machine resumes from it
watch/<source key>/<sha256>.parquet  the source watcher's last listing of a source, named by its
                                  content; the watcher's Prefect Variable points at it
```
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from pathlib import Path


def retrain_home() -> Path:
    """The project's home folder: ``$RETRAIN_HOME``, or ``~/.rnn-retrain``."""
    return Path(os.environ.get("RETRAIN_HOME") or Path.home() / ".rnn-retrain")


def default_artifact_root() -> str:
    """The artifact root when none is configured: ``$RETRAIN_HOME/artifacts``."""
    return str(retrain_home() / "artifacts")


def embedded_tracking_uri() -> str:
    """The embedded MLflow store: SQLite at ``$RETRAIN_HOME/mlflow.db`` (the folder is created)."""
    home = retrain_home()
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{home.resolve() / 'mlflow.db'}"


def embedded_model_location() -> str:
    """Where the embedded store keeps model files (else MLflow writes to ./mlruns)."""
    return (retrain_home().resolve() / "mlartifacts").as_uri()


def dataset_cache() -> Path:
    """The folder under which downloads are kept, as ``datasets/<file>`` (Keras' layout)."""
    return retrain_home()


def scratch_folder() -> Path:
    """Local disk for a stage's temporary files, ``$RETRAIN_HOME/scratch`` (created).

    Not the system temp folder: that is often memory (tmpfs), and scratch files can be as big
    as the data.
    """
    folder = retrain_home() / "scratch"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def lock_file(purpose: str, identity: str) -> Path:
    """The lock file for ``purpose`` (e.g. "registry") on one resource, named by a digest."""
    name = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return retrain_home() / "locks" / f"{purpose}-{name}.lock"


def checkpoint_folder(local_root: str | None, key: str) -> Path:
    """Training checkpoints for one data-and-recipe ``key``.

    Under a local artifact root; under ``$RETRAIN_HOME/checkpoints`` when the root is remote
    (``local_root`` None), because Keras writes its backups to local paths: a staging folder,
    copied to the root after every epoch (`checkpoint_archive`).
    """
    base = Path(local_root) if local_root is not None else retrain_home()
    return base / "checkpoints" / key


def remote_checkpoint_folder(root_path: str, name: str = "") -> str:
    """A remote root's checkpoint folder (``name`` empty), or one checkpoint folder's copy in it."""
    folder = f"{root_path.rstrip('/')}/checkpoints"
    return f"{folder}/{name}" if name else folder


def checkpoint_archive(root_path: str, name: str) -> str:
    """The one-object copy of the local checkpoint folder ``name`` under a remote root."""
    return f"{remote_checkpoint_folder(root_path, name)}/checkpoint.tar"


def temporary_name(path: str) -> str:
    """A unique name beside ``path`` to write it under, before it is moved into place.

    It starts with a dot, as dataset readers (pyarrow's, Spark's) skip such names: a half-written
    file in a folder of data is never read as data.
    """
    folder, slash, name = path.rpartition("/")
    return f"{folder}{slash}.{name}.tmp-{uuid.uuid4().hex}"


def checkpoint_lock(folder: Path) -> Path:
    """The lock file a run holds while it trains into a checkpoint folder."""
    return folder.with_name(f"{folder.name}.lock")


def private_checkpoint_folder(folder: Path, run_id: str) -> Path:
    """A run's own checkpoint folder, when another run holds the shared one."""
    return folder.with_name(f"{folder.name}-{run_id}")


def runs_folder(root_path: str, run_id: str = "") -> str:
    """The folder of every run's artifacts, or of one run's."""
    folder = f"{root_path.rstrip('/')}/runs"
    return f"{folder}/{run_id}" if run_id else folder


def run_artifact(root_path: str, run_id: str, stage: str, filename: str) -> str:
    """An artifact's path inside the artifact root's filesystem."""
    return f"{root_path.rstrip('/')}/runs/{run_id}/{stage}/{filename}"


def output_file(target: str) -> str:
    """A file the user named for an output: a URI as given, a local path made absolute."""
    if "://" in target:
        return target
    return os.path.abspath(os.path.expanduser(target))


def cache_index(root_path: str, stage: str, key: str | None = None) -> str:
    """A stage's cache index folder, or one key's entry in it."""
    folder = f"{root_path.rstrip('/')}/cache/{stage}"
    return folder if key is None else f"{folder}/{key}.json"


def watch_listing(root_path: str, key: str, digest: str | None = None) -> str:
    """The folder of a watched source's listings, or the listing of one sha256 in it."""
    folder = f"{root_path.rstrip('/')}/watch/{key}"
    return folder if digest is None else f"{folder}/{digest}.parquet"


def stage_folder(stage: str, candidate: str = "") -> str:
    """A stage's folder within a run; a sweep candidate gets its own below it."""
    if not candidate:
        return stage
    return f"{stage}/{re.sub(r'[^A-Za-z0-9.]+', '-', candidate).strip('-')}"
