"""The stage cache's records: what each cache key of a stage was computed from.

`rnn_retrain.orchestration.caching` keys a stage on its inputs' content and config; the record
kept here for each key, ``<root>/cache/<stage>/<key>.json``, is what lets a later run say *why*
a stage recomputed (which field or input changed since the last key). Prefect keeps the stage's
result itself; these records only explain.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow.fs as pafs

from rnn_retrain.store import paths
from rnn_retrain.store.artifacts import ArtifactStore
from rnn_retrain.store.atomic import write_atomically


class CacheRecords:
    """The stage cache's records under an artifact store's root, one JSON file per stage and key.

    Each record is written whole under a temporary name and then moved into place, so a reader
    never sees half a record; they are read back oldest first, so the newest other key is the one
    a recompute is compared with.
    """

    def __init__(self, store: ArtifactStore) -> None:
        self._store = store

    def write(self, stage: str, key: str, entry: dict[str, Any]) -> None:
        """Record what a stage's cache ``key`` was computed from."""
        path = paths.cache_index(self._store.root_path, stage, key)
        data = json.dumps(entry, sort_keys=True, default=str).encode()
        write_atomically(path, data, self._store.filesystem)

    def read(self, stage: str) -> dict[str, dict[str, Any]]:
        """Every recorded cache key of ``stage`` with its entry, oldest first."""
        filesystem = self._store.filesystem
        folder = paths.cache_index(self._store.root_path, stage)
        selector = pafs.FileSelector(folder, allow_not_found=True)
        infos = [i for i in filesystem.get_file_info(selector) if i.path.endswith(".json")]
        entries = {}
        for info in sorted(infos, key=lambda i: (i.mtime_ns or 0, i.path)):
            with filesystem.open_input_stream(info.path) as stream:
                entries[info.base_name.removesuffix(".json")] = json.loads(stream.read())
        return entries

    def delete(self, stage: str, key: str) -> None:
        """Delete the record of one cache ``key`` (`retrain gc`); none there is no error."""
        path = paths.cache_index(self._store.root_path, stage, key)
        if self._store.filesystem.get_file_info(path).type == pafs.FileType.File:
            self._store.filesystem.delete_file(path)
