"""The source watcher's listings: its last look at each watched source, as a Parquet file.

A listing lives at ``<root>/watch/<source key>/<sha256>.parquet``, outside the run folders so
`retrain gc` leaves it, and is named by its content; the watcher's Prefect Variable holds only
the `ArtifactRef` pointing at it (Prefect caps a Variable's size, a listing has no bound).
"""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pyarrow.fs as pafs

from rnn_retrain.store import paths
from rnn_retrain.store.artifacts import ArtifactRef, ArtifactStore, parquet_bytes
from rnn_retrain.store.atomic import write_atomically


class SourceListings:
    """The watched sources' listings under an artifact store's root, one folder per source.

    A listing is complete before its reference exists (written under a temporary name, then
    moved), and it is read back, sha256 checked, with the store's `ArtifactStore.read_table`;
    once the Variable points at a new listing, the source's older ones are pruned.
    """

    def __init__(self, store: ArtifactStore) -> None:
        self._store = store

    def write(self, key: str, table: pa.Table) -> ArtifactRef:
        """Store a watched source's listing under ``watch/<key>/``, named by its sha256."""
        data = parquet_bytes(table)
        digest = hashlib.sha256(memoryview(data)).hexdigest()
        path = paths.watch_listing(self._store.root_path, key, digest)
        write_atomically(path, data, self._store.filesystem)
        uri = self._store.uri_for(path)
        return ArtifactRef(name=f"watch/{key}", uri=uri, sha256=digest, rows=table.num_rows)

    def prune(self, key: str, keep: ArtifactRef) -> None:
        """Delete a source's listings other than ``keep`` (the one its Variable points at)."""
        filesystem = self._store.filesystem
        folder = paths.watch_listing(self._store.root_path, key)
        selector = pafs.FileSelector(folder, allow_not_found=True)
        for info in filesystem.get_file_info(selector):
            if info.base_name != f"{keep.sha256}.parquet":
                filesystem.delete_file(info.path)
