"""Training checkpoints: where a fit backs up its state, and, on a remote root, that folder's copy.

A fit checkpoints into a local folder per data-and-recipe key (`Checkpoints.folder`), so a
training killed part-way resumes from its last finished epoch. A run claims the folder while it
trains (`claimed_checkpoints`): a second run training the same data and recipe at once keeps its
own.

Keras writes its backups to local paths, so on a remote root (``s3://…``) a fit checkpoints into a
staging folder on this machine (`rnn_retrain.store.paths.checkpoint_folder`) and `CheckpointMirror`
copies that folder, whole, to ``<root>/checkpoints/<name>/checkpoint.tar`` each time it changes.
One object is one consistent snapshot: the backup and the epoch log in it always belong to the
same epoch, and since it is written under a temporary name and then moved, an upload cut short
leaves the previous snapshot in place. A run on another machine whose staging folder has nothing
to resume unpacks the archive first, and so resumes where the killed run stopped.

`pack_folder` and `unpack_folder` are the archive format alone; `CheckpointMirror` moves the bytes;
`mirrored_checkpoints` keeps the copy for the length of a training. This module knows nothing of
the model: what a folder holds to resume from is the caller's to say (a function of the folder).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import pyarrow.fs as pafs

from rnn_retrain.errors import RetrainError
from rnn_retrain.store import paths
from rnn_retrain.store.artifacts import ArtifactStore
from rnn_retrain.store.atomic import replace_atomically
from rnn_retrain.store.locks import lock_if_free

logger = logging.getLogger(__name__)

COPY_CHUNK_BYTES = 8 << 20


class CheckpointArchiveError(RetrainError):
    """A checkpoint archive that cannot be unpacked safely: damaged, or a member points outside."""


def pack_folder(folder: Path, stream: BinaryIO) -> None:
    """Write every file under ``folder`` to ``stream`` as an uncompressed tar archive.

    Members are named relative to ``folder``; the weights inside barely compress, so the archive
    is not compressed.
    """
    with tarfile.open(fileobj=stream, mode="w") as archive:
        for path in sorted(folder.iterdir()):
            archive.add(path, arcname=path.name)


def unpack_folder(stream: BinaryIO, folder: Path, source: str) -> None:
    """Replace ``folder`` with the contents of the tar archive in ``stream``.

    The archive is unpacked beside ``folder`` and then moved into its place
    (`rnn_retrain.store.atomic.replace_atomically`), so a process killed half-way never leaves a
    partial backup that a later fit would try to resume from.

    Args:
        stream: The archive, as `pack_folder` wrote it.
        folder: The folder to replace (its parent is created if needed).
        source: Where the archive came from, for the error message.

    Raises:
        CheckpointArchiveError: If the archive is damaged, or a member has an absolute name, a
            ``..`` part, or is a link, device or other member that would reach outside
            ``folder`` (Python's ``data`` extraction filter).
    """
    with replace_atomically(folder, folder=True) as staging:
        unpacked = Path(staging)
        unpacked.mkdir()  # Even an empty archive makes a folder to move into place.
        try:
            with tarfile.open(fileobj=stream, mode="r:") as archive:
                outside = [name for name in archive.getnames() if _points_outside(name)]
                if outside:
                    raise CheckpointArchiveError(
                        f"checkpoint archive {source} has a member outside its folder "
                        f"({outside[0]!r}); delete it, and the training starts again from its "
                        "first epoch"
                    )
                archive.extractall(unpacked, filter="data")
        except tarfile.TarError as error:
            reason = " ".join(str(error).split())
            raise CheckpointArchiveError(
                f"checkpoint archive {source} cannot be unpacked ({reason}); delete it, and the "
                "training starts again from its first epoch"
            ) from None


def _points_outside(name: str) -> bool:
    """An absolute name, or one with a ``..`` part: the ``data`` filter would strip a leading
    slash and extract the member anyway, and a checkpoint folder never holds such a name."""
    return name.startswith("/") or ".." in PurePosixPath(name).parts


@dataclass(frozen=True)
class CheckpointMirror:
    """A local checkpoint folder and its one-archive copy on the artifact root's filesystem."""

    folder: Path
    filesystem: pafs.FileSystem
    remote_folder: str  # Inside ``filesystem``: the archive and any upload cut short.
    archive: str  # The archive, inside ``filesystem``.
    uri: str  # The archive's URI, for messages.

    def save(self) -> None:
        """Copy the folder as it is now over the archive: packed locally, uploaded, moved."""
        with tempfile.TemporaryFile(dir=paths.scratch_folder()) as packed:
            pack_folder(self.folder, packed)
            packed.seek(0)
            with (
                replace_atomically(self.archive, self.filesystem) as temporary,
                self.filesystem.open_output_stream(temporary) as stream,
            ):
                shutil.copyfileobj(packed, stream, COPY_CHUNK_BYTES)

    def restore(self) -> bool:
        """Replace the local folder with the archive's contents; False if there is no archive.

        Raises:
            CheckpointArchiveError: If the archive cannot be unpacked safely.
        """
        with tempfile.TemporaryFile(dir=paths.scratch_folder()) as local:
            try:
                with self.filesystem.open_input_stream(self.archive) as stream:
                    shutil.copyfileobj(stream, local, COPY_CHUNK_BYTES)
            except FileNotFoundError:
                return False
            local.seek(0)
            unpack_folder(local, self.folder, self.uri)
        return True

    def discard(self) -> None:
        """Delete the archive's folder: the archive and any upload a killed process left."""
        with contextlib.suppress(FileNotFoundError):
            self.filesystem.delete_dir(self.remote_folder)


class Checkpoints:
    """Where one artifact store's trainings keep their checkpoints: a folder per key, a mirror.

    A local root holds the folders itself (``<root>/checkpoints/<key>/``), where every later run
    looks. Keras writes its backups to local paths, so for a remote root the folder is local
    staging under ``$RETRAIN_HOME/checkpoints`` and its `CheckpointMirror` on the root is what a
    run on any machine resumes from.
    """

    def __init__(self, store: ArtifactStore) -> None:
        self._store = store

    def folder(self, key: str) -> Path:
        """A local folder for the training checkpoints of one data-and-recipe ``key``."""
        return paths.checkpoint_folder(self._store.root_path if self._store.is_local else None, key)

    def mirror(self, folder: Path) -> CheckpointMirror | None:
        """The copy under a remote root of a local checkpoint folder, that any machine resumes from.

        None for a local root: its checkpoint folder already is where every later run looks.
        """
        if self._store.is_local:
            return None
        root_path = self._store.root_path
        archive = paths.checkpoint_archive(root_path, folder.name)
        remote_folder = paths.remote_checkpoint_folder(root_path, folder.name)
        uri = self._store.uri_for(archive)
        return CheckpointMirror(folder, self._store.filesystem, remote_folder, archive, uri)


@contextlib.contextmanager
def claimed_checkpoints(folder: Path, run_id: str) -> Iterator[Path]:
    """The checkpoint folder this run may use, removed once training's results are stored.

    Two runs training the same data and recipe at once must not share it: the first holds a lock
    on it (the OS frees the lock if the process dies), a second keeps its own folder.

    Args:
        folder: The shared folder of the data-and-recipe key (`Checkpoints.folder`).
        run_id: This run's id, naming its own folder when another run holds the shared one.

    Yields:
        The folder to train into. It is removed when the block ends without an error; a failed
        block leaves it, for the next run to resume from.
    """
    with lock_if_free(paths.checkpoint_lock(folder)) as owner:
        if not owner:
            logger.warning(
                "Another run is training the same data and recipe; this run keeps its own "
                "checkpoints"
            )
            folder = paths.private_checkpoint_folder(folder, run_id)
        yield folder
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def mirrored_checkpoints(
    store: ArtifactStore, folder: Path, resumable_epochs: Callable[[Path], int]
) -> Iterator[Callable[[], None] | None]:
    """For a remote artifact root, the checkpoint folder's copy there, so any machine resumes.

    A folder with nothing to resume first takes the copy's contents (a training killed on
    another machine). The copy is deleted once the block ends without an error.

    Args:
        store: The artifact store whose root holds the copy.
        folder: The local checkpoint folder (`claimed_checkpoints`).
        resumable_epochs: How many epochs ``folder`` resumes after, 0 for none
            (`rnn_retrain.model.fitting.resumable_epochs`); called only for a remote root.

    Yields:
        The function that refreshes the copy, for the fit to call whenever the folder changed;
        None for a local root, whose folder every run already shares.

    Raises:
        CheckpointArchiveError: If the copy cannot be unpacked safely.
    """
    mirror = Checkpoints(store).mirror(folder)
    if mirror is None:
        yield None
        return
    if not resumable_epochs(folder) and mirror.restore():
        logger.info("Took the checkpoints of an interrupted training from %s", mirror.uri)
    yield functools.partial(_refresh, mirror)
    try:
        mirror.discard()
    except OSError as error:
        # The results are stored: failing now would train again. What is left resumes nothing.
        logger.warning("Could not delete the checkpoint copy %s (%s)", mirror.uri, error)


def _refresh(mirror: CheckpointMirror) -> None:
    """Copy the folder over its mirror, with a warning if the copy fails."""
    # A failed copy must not fail the training: this machine's folder still resumes it.
    try:
        mirror.save()
    except OSError as error:
        logger.warning(
            "Could not copy the checkpoints to %s (%s); training goes on", mirror.uri, error
        )
