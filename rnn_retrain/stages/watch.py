"""Watch's logic: has a training source changed since the last look, and has it settled?

A source (a folder of weekly Parquet files, a glob, an ``s3://`` prefix) is fingerprinted from
its listing alone: each file's size and modification time. Comparing two fingerprints says which
files are new, changed or gone. The last fingerprint is kept as a Parquet table (`listing_table`)
under the artifact root, whatever the number of files: a Prefect Variable holds at most 5,000
JSON characters, which a listing of a few dozen paths already exceeds. A change is reported only once the newest of those files has
not been touched for ``settle_seconds``: files that land together (or one still being copied)
then start one run, not one run each.
"""

from __future__ import annotations

import hashlib
import json

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from rnn_retrain.config.scoring import MaxClassShareChange, MaxOovIncrease, MaxPsi
from rnn_retrain.config.secrets import Location
from rnn_retrain.config.sections import DEFAULT_MODEL_NAME
from rnn_retrain.results import WatchResult

# What a fingerprint holds for each file: its size in bytes and modification time in ns.
Fingerprint = dict[str, tuple[int, int]]


class WatchSettings(BaseModel):
    """Parameters of the source watcher (the ``watch-source`` flow)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: Location = Field(
        description="The training data to watch: a Parquet or CSV file, a folder, a glob, or a "
        "filesystem URI such as s3://bucket/prefix/."
    )
    model_name: str = Field(
        DEFAULT_MODEL_NAME, description="The registered model that this source trains."
    )
    settle_seconds: float = Field(
        60.0,
        ge=0.0,
        le=86_400.0,
        description="Report a change only when its newest file is at least this old, so that "
        "files landing together start one run.",
    )
    artifact_root: Location = Field(
        "",
        description="Where the watcher keeps each source's last listing (under watch/): a folder "
        "or filesystem URI; empty: $RETRAIN_HOME/artifacts, the runs' default root.",
    )
    drift: bool = Field(
        False,
        description="On a change, also score the new and changed files with the champion and "
        "report their drift from its data (a table artifact; rnn-retrain.data.drifted above the "
        "limits below). Reads those files and loads the model, on a change only.",
    )
    text_column: str = Field("text", description="Drift: the column holding the review text.")
    tracking_uri: Location = Field(
        "",
        title="Tracking URI",
        description="Drift: the MLflow registry of the champion. Empty means $MLFLOW_TRACKING_URI "
        "if set, else the SQLite store in $RETRAIN_HOME.",
    )
    max_oov_increase: MaxOovIncrease = 0.05
    max_psi: MaxPsi = 0.25
    max_class_share_change: MaxClassShareChange = 0.15


def compare_fingerprints(
    source: str, previous: Fingerprint | None, current: Fingerprint, now_ns: int, settle_ns: int
) -> WatchResult:
    """What changed between two looks at a source, and whether it should start a run.

    The first look (no ``previous``) only records the source: the files already there are the
    ones the last scheduled run trained on.
    """
    if previous is None:
        return WatchResult(source=source, files=len(current), first_look=True)
    changed = sorted(path for path, stat in current.items() if previous.get(path) != stat)
    removed = sorted(set(previous) - set(current))
    recent = [path for path in changed if now_ns - current[path][1] < settle_ns]
    return WatchResult(
        source=source,
        files=len(current),
        changed=changed,
        removed=removed,
        settling=sorted(recent),
        start_run=bool((changed or removed) and not recent),
    )


LISTING_SCHEMA = pa.schema([("path", pa.string()), ("size", pa.int64()), ("mtime_ns", pa.int64())])


def listing_table(fingerprint: Fingerprint) -> pa.Table:
    """A fingerprint as a table of path, size and mtime_ns, sorted by path."""
    paths = sorted(fingerprint)
    return pa.table(
        [
            pa.array(paths, pa.string()),
            pa.array([fingerprint[path][0] for path in paths], pa.int64()),
            pa.array([fingerprint[path][1] for path in paths], pa.int64()),
        ],
        schema=LISTING_SCHEMA,
    )


def listing_fingerprint(table: pa.Table) -> Fingerprint:
    """The fingerprint a `listing_table` holds."""
    columns = [table[name].to_pylist() for name in LISTING_SCHEMA.names]
    return {path: (size, mtime) for path, size, mtime in zip(*columns, strict=True)}


def fingerprint_digest(fingerprint: Fingerprint) -> str:
    """A short digest of a whole fingerprint, for the event (which run saw which state)."""
    text = json.dumps(sorted(fingerprint.items()), separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
