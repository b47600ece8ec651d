"""The artifact store: reads and writes artifacts at the paths `rnn_retrain.store.paths` lays out.

Artifacts live under ``<root>/runs/<run_id>/<stage>/<name>`` next to a ``<name>.manifest.json``
that records the sha256, row count, schema, producing stage and parameters. The root is a local
folder or any URI pyarrow's filesystem layer understands (``s3://``, ``gs://``, ``file://``).

Every file is written to a temporary name and then renamed, and the manifest is written last, so a
crash never leaves a file that a reader could take for a complete artifact. Readers go through an
`ArtifactRef` and check the sha256 before trusting the bytes.

Tables can be written and read whole (`write_table`, `read_table`) or streamed
(`write_batches`, `open_parquet`), so stages can work on data bigger than memory chunk by chunk.

The root also holds what is not a run's artifact, each kept by its own class over the store's
public surface (`ArtifactStore.filesystem`, `root_path`, `is_local`, `uri_for`):
the stage cache's records (`rnn_retrain.store.cache_records`), the source watcher's listings
(`rnn_retrain.store.listings`) and training checkpoints (`rnn_retrain.store.checkpoints`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict

from rnn_retrain.environment.faults import describe_fault
from rnn_retrain.errors import RetrainError
from rnn_retrain.store import paths
from rnn_retrain.store.atomic import replace_atomically, write_atomically

HASH_CHUNK_BYTES = 8 << 20
MANIFEST_SUFFIX = ".manifest.json"


class IntegrityError(RetrainError):
    """An artifact's bytes no longer match the sha256 in its reference."""


class ArtifactRef(BaseModel):
    """A small, serialisable pointer to one stored artifact: what tasks pass to each other."""

    model_config = ConfigDict(frozen=True)

    name: str
    uri: str
    sha256: str
    rows: int | None = None


def parquet_bytes(table: pa.Table) -> pa.Buffer:
    """``table`` as zstd-compressed Parquet, in memory."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def hash_stream(stream: Any, digest: Any) -> None:
    """Feed a readable stream into ``digest`` in chunks (large files are never read whole)."""
    while chunk := stream.read(HASH_CHUNK_BYTES):
        digest.update(chunk)


def _problem(ref: ArtifactRef, digest: str | None) -> str | None:
    """Why ``ref`` cannot be used given its file's sha256 (None: the file is missing)."""
    if digest is None:
        return f"artifact {ref.name!r} is missing at {ref.uri}"
    if digest != ref.sha256:
        return (
            f"artifact {ref.name!r} at {ref.uri} has sha256 {digest[:12]}…, "
            f"expected {ref.sha256[:12]}…"
        )
    return None


class ArtifactStore:
    """A run's artifacts under one root folder or URI, each checked against its manifest.

    A write puts the file at ``runs/<run_id>/<stage>/<name>`` (or at a user's chosen output) and
    then, beside it, the manifest with its sha256, rows, schema, producing stage and parameters;
    a read refuses, with an `IntegrityError`, a file whose bytes no longer match its
    `ArtifactRef`. The root is parsed once, here: the parts of the store that keep other files
    under it (cache records, listings, checkpoints) go through `filesystem`, `root_path`,
    `is_local` and `uri_for`.
    """

    def __init__(self, root: str = "") -> None:
        root = root or paths.default_artifact_root()
        if "://" not in root:
            root = os.path.abspath(os.path.expanduser(root))
        try:
            self._filesystem, self._base = pafs.FileSystem.from_uri(root)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as error:
            raise RetrainError(
                f"artifact_root {root!r} is not a usable location: {error}"
            ) from None
        self._scheme = root.split("://", 1)[0] if "://" in root else ""
        self.root = root
        if self.is_local:
            self._require_local_root()

    def _require_local_root(self) -> None:
        """Create a local root up front, so a path that cannot hold it fails in one line."""
        try:
            self._filesystem.create_dir(self._base, recursive=True)
        except OSError as error:
            if describe_fault(error) is not None:
                raise  # A full or read-only disk: told as such by the CLI.
            reason = " ".join(str(error).split())
            raise RetrainError(
                f"artifact_root {self.root!r} cannot be created ({reason}); pass a folder this "
                "user can create, or leave it empty for $RETRAIN_HOME/artifacts"
            ) from None

    # Where the root is, for the parts of the store that keep other files under it.

    @property
    def filesystem(self) -> pafs.FileSystem:
        """The pyarrow filesystem that holds the root (local, S3, GCS, …)."""
        return self._filesystem

    @property
    def root_path(self) -> str:
        """The root's path inside `filesystem`: what `rnn_retrain.store.paths` joins onto."""
        return self._base

    @property
    def is_local(self) -> bool:
        """Whether the root is a folder on this machine."""
        return isinstance(self._filesystem, pafs.LocalFileSystem)

    def uri_for(self, path: str) -> str:
        """The URI of a path under this root (the path itself for a local root)."""
        return f"{self._scheme}://{path}" if self._scheme else path

    # Writing.

    def write_table(
        self,
        run_id: str,
        stage: str,
        name: str,
        table: pa.Table,
        params: dict[str, Any] | None = None,
    ) -> ArtifactRef:
        """Write ``table`` as Parquet and return its reference."""
        schema = [{"name": field.name, "type": str(field.type)} for field in table.schema]
        return self._commit(
            run_id, stage, f"{name}.parquet", parquet_bytes(table), table.num_rows, schema, params
        )

    def write_batches(
        self,
        run_id: str,
        stage: str,
        name: str,
        schema: pa.Schema,
        chunks: Iterable[pa.Table | pa.RecordBatch],
        params: dict[str, Any] | Callable[[], dict[str, Any]] | None = None,
        target: str = "",
    ) -> ArtifactRef:
        """Stream ``chunks`` into one Parquet artifact, one row group per chunk.

        Only one chunk is held at a time. If iterating ``chunks`` raises, nothing is stored.
        ``params`` may be a function, called after the last chunk, for figures known only then.
        ``target`` (a ``.parquet`` path or URI) puts the artifact, and its manifest beside it,
        there instead of in the run's folder: a user's chosen output, such as batch predictions.
        """
        filesystem, path, uri = (
            self._locate_target(target)
            if target
            else (self._filesystem, *self._locate(run_id, stage, f"{name}.parquet"))
        )
        rows = 0
        with replace_atomically(path, filesystem) as temporary:
            with filesystem.open_output_stream(temporary) as stream:
                with pq.ParquetWriter(stream, schema, compression="zstd") as writer:
                    for chunk in chunks:
                        if chunk.num_rows:
                            writer.write(chunk, row_group_size=chunk.num_rows)
                            rows += chunk.num_rows
            digest = hashlib.sha256()
            with filesystem.open_input_stream(temporary) as stream:
                hash_stream(stream, digest)
            size = filesystem.get_file_info(temporary).size
        ref = ArtifactRef(
            name=f"{stage}/{name}.parquet", uri=uri, sha256=digest.hexdigest(), rows=rows
        )
        columns = [{"name": field.name, "type": str(field.type)} for field in schema]
        params = params() if callable(params) else params
        self._write_manifest(path, ref, size, columns, run_id, stage, params, filesystem)
        return ref

    def write_file(
        self,
        run_id: str,
        stage: str,
        filename: str,
        local_path: str | os.PathLike[str],
        params: dict[str, Any] | None = None,
    ) -> ArtifactRef:
        """Copy a local file (e.g. a saved ``.keras`` model) into the store."""
        data = Path(local_path).read_bytes()
        return self._commit(run_id, stage, filename, data, None, None, params)

    def write_json(
        self,
        run_id: str,
        stage: str,
        name: str,
        payload: dict[str, Any],
        params: dict[str, Any] | None = None,
    ) -> ArtifactRef:
        """Write a small JSON document (a run summary, say)."""
        data = json.dumps(payload, indent=2, sort_keys=True, default=str).encode()
        return self._commit(run_id, stage, f"{name}.json", data, None, None, params)

    # Reading.

    def read_table(self, ref: ArtifactRef, columns: list[str] | None = None) -> pa.Table:
        """Read a Parquet artifact (only ``columns``, if given) after checking its sha256."""
        with self.open_parquet(ref) as parquet:
            return parquet.read(columns=columns)

    @contextlib.contextmanager
    def open_parquet(self, ref: ArtifactRef) -> Iterator[pq.ParquetFile]:
        """Check a Parquet artifact's sha256, then open it to read by row group or batch.

        Raises:
            IntegrityError: if the file is missing or its bytes changed.
        """
        if problem := self.check(ref):
            raise IntegrityError(f"{problem}: it was changed after it was written")
        filesystem, path = pafs.FileSystem.from_uri(ref.uri)
        with filesystem.open_input_file(path) as stream, pq.ParquetFile(stream) as parquet:
            yield parquet

    def read_bytes(self, ref: ArtifactRef) -> bytes:
        """Return an artifact's bytes, or raise `IntegrityError` if they changed or vanished."""
        filesystem, path = pafs.FileSystem.from_uri(ref.uri)
        try:
            with filesystem.open_input_stream(path) as stream:
                data = stream.read()
        except FileNotFoundError:
            raise IntegrityError(_problem(ref, None)) from None
        if problem := _problem(ref, hashlib.sha256(data).hexdigest()):
            raise IntegrityError(f"{problem}: it was changed after it was written")
        return data

    def check(self, ref: ArtifactRef) -> str | None:
        """Say why ``ref`` cannot be used (missing, or its bytes changed), or None if it verifies.

        The file is hashed in chunks, so checking a large artifact does not load it whole.
        """
        filesystem, path = pafs.FileSystem.from_uri(ref.uri)
        digest = hashlib.sha256()
        try:
            with filesystem.open_input_stream(path) as stream:
                hash_stream(stream, digest)
        except FileNotFoundError:
            return _problem(ref, None)
        return _problem(ref, digest.hexdigest())

    def copy_to_local(self, ref: ArtifactRef, directory: str | os.PathLike[str]) -> Path:
        """Verify an artifact and copy it into a local directory (Keras loads from paths)."""
        target = Path(directory) / ref.uri.rsplit("/", 1)[-1]
        target.write_bytes(self.read_bytes(ref))
        return target

    def read_manifest(self, ref: ArtifactRef) -> dict[str, Any]:
        """Return the manifest written next to an artifact."""
        filesystem, path = pafs.FileSystem.from_uri(ref.uri + MANIFEST_SUFFIX)
        with filesystem.open_input_stream(path) as stream:
            return json.loads(stream.read())

    # Internals.

    def _commit(
        self,
        run_id: str,
        stage: str,
        filename: str,
        data: bytes | pa.Buffer,
        rows: int | None,
        schema: list[dict[str, str]] | None,
        params: dict[str, Any] | None,
    ) -> ArtifactRef:
        path, uri = self._locate(run_id, stage, filename)
        digest = hashlib.sha256(memoryview(data)).hexdigest()
        ref = ArtifactRef(name=f"{stage}/{filename}", uri=uri, sha256=digest, rows=rows)
        write_atomically(path, data, self._filesystem)
        self._write_manifest(path, ref, len(data), schema, run_id, stage, params)
        return ref

    def _locate(self, run_id: str, stage: str, filename: str) -> tuple[str, str]:
        path = paths.run_artifact(self._base, run_id, stage, filename)
        return path, self.uri_for(path)

    def _locate_target(self, target: str) -> tuple[pafs.FileSystem, str, str]:
        """The filesystem, path and URI of an explicitly chosen artifact location."""
        uri = paths.output_file(target)
        try:
            filesystem, path = pafs.FileSystem.from_uri(uri)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as error:
            raise RetrainError(f"output {target!r} is not a usable location: {error}") from None
        return filesystem, path, uri if "://" in target else path

    def _write_manifest(
        self,
        path: str,
        ref: ArtifactRef,
        size: int,
        schema: list[dict[str, str]] | None,
        run_id: str,
        stage: str,
        params: dict[str, Any] | None,
        filesystem: pafs.FileSystem | None = None,
    ) -> None:
        # Written after the data file: a manifest means the artifact is complete.
        manifest = {
            **ref.model_dump(),
            "bytes": size,
            "schema": schema,
            "producer": stage,
            "run_id": run_id,
            "params": params or {},
            "created_at": datetime.now(timezone.utc).isoformat(),
        }
        write_atomically(
            path + MANIFEST_SUFFIX,
            json.dumps(manifest, indent=2, default=str).encode(),
            filesystem or self._filesystem,
        )
