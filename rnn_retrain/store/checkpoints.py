"""Training checkpoints on a remote artifact root: a local folder and its copy as one archive.

Keras writes its backups to local paths, so on a remote root (``s3://…``) a fit checkpoints into a
staging folder on this machine (`rnn_retrain.store.paths.checkpoint_folder`) and `CheckpointMirror`
copies that folder, whole, to ``<root>/checkpoints/<name>/checkpoint.tar`` each time it changes.
One object is one consistent snapshot: the backup and the epoch log in it always belong to the
same epoch, and since it is written under a temporary name and then moved, an upload cut short
leaves the previous snapshot in place. A run on another machine whose staging folder has nothing
to resume unpacks the archive first, and so resumes where the killed run stopped.

`pack_folder` and `unpack_folder` are the archive format alone; `CheckpointMirror` moves the bytes.
"""

from __future__ import annotations

import contextlib
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import pyarrow.fs as pafs

from rnn_retrain.errors import RetrainError
from rnn_retrain.store import paths

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

    The archive is unpacked beside ``folder`` and then moved into its place, so a process killed
    half-way never leaves a partial backup that a later fit would try to resume from.

    Args:
        stream: The archive, as `pack_folder` wrote it.
        folder: The folder to replace (its parent is created if needed).
        source: Where the archive came from, for the error message.

    Raises:
        CheckpointArchiveError: If the archive is damaged, or a member has an absolute name, a
            ``..`` part, or is a link, device or other member that would reach outside
            ``folder`` (Python's ``data`` extraction filter).
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent) as staging:
        unpacked = Path(staging) / "unpacked"
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
        shutil.rmtree(folder, ignore_errors=True)
        unpacked.rename(folder)


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
            temporary = paths.upload_name(self.archive)
            try:
                self.filesystem.create_dir(self.remote_folder, recursive=True)
                with self.filesystem.open_output_stream(temporary) as stream:
                    shutil.copyfileobj(packed, stream, COPY_CHUNK_BYTES)
                self.filesystem.move(temporary, self.archive)
            except BaseException:
                with contextlib.suppress(Exception):
                    self.filesystem.delete_file(temporary)
                raise

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
