"""Writing a file or folder so that no reader ever finds it half-written.

What is written goes under a temporary name beside its place (`paths.temporary_name`) and is
moved there only once it is complete; if writing fails, the temporary is deleted and whatever was
at the place before is still there. The same helper serves the artifact root's pyarrow filesystem
(local or ``s3://``) and plain local paths (the IMDB cache, ``--out`` files).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.fs as pafs

from rnn_retrain.environment.faults import describe_fault
from rnn_retrain.store import paths


@contextlib.contextmanager
def replace_atomically(
    path: str | os.PathLike[str], filesystem: pafs.FileSystem | None = None, *, folder: bool = False
) -> Iterator[str]:
    """A temporary name to write ``path`` under: moved onto ``path`` if the block succeeds.

    Args:
        path: Where the result belongs, inside ``filesystem``; its folder is created if needed.
        filesystem: The filesystem holding ``path``; None for a path on this machine.
        folder: The block writes a folder there, not a file: it replaces a folder already at
            ``path`` (one rename cannot replace a folder that holds files, so the old one is
            deleted first).

    Yields:
        The temporary name, in ``filesystem``. If the block raises, it is deleted.

    Raises:
        OSError: As the filesystem raised it; one with no file name that reports a full or
            read-only disk is raised again naming ``path``, so the CLI says which file it stopped.
    """
    if filesystem is None:
        filesystem, path = pafs.LocalFileSystem(), os.path.abspath(os.fspath(path))
    path = os.fspath(path)
    temporary = paths.temporary_name(path)
    try:
        if parent := path.rpartition("/")[0]:
            filesystem.create_dir(parent, recursive=True)
        yield temporary
        if folder:
            with contextlib.suppress(FileNotFoundError):
                filesystem.delete_dir(path)
        filesystem.move(temporary, path)
    except BaseException as error:
        with contextlib.suppress(Exception):
            (filesystem.delete_dir if folder else filesystem.delete_file)(temporary)
        if isinstance(error, OSError) and not error.filename and describe_fault(error):
            # pyarrow's write errors name no file: say which one a full disk stopped.
            raise OSError(error.errno, str(error), path) from error
        raise


def write_atomically(
    path: str, data: bytes | pa.Buffer, filesystem: pafs.FileSystem | None = None
) -> None:
    """Write ``data`` to ``path`` under a temporary name, then move it into place."""
    filesystem = filesystem or pafs.LocalFileSystem()
    with replace_atomically(path, filesystem) as temporary:
        with filesystem.open_output_stream(temporary) as stream:
            stream.write(data)
