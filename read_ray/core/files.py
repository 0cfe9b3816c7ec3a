"""The one atomic file writer of read_ray: run directories, probe reference caches, comparison results.

stdlib only.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write"]


def atomic_write(path: str | os.PathLike[str], data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8) to ``path``: readers see the old file or the whole new one, never part.

    The data go to a uniquely named temporary sibling (so concurrent writers never share one), are fsynced,
    and the sibling is renamed over ``path`` (mode 0644), the folder fsynced after the rename. Missing parent
    folders are created. On any failure the temporary file is removed and the old file is left as it was; an
    ``OSError`` (a full disk, a read-only folder) is raised again naming the path and what to do.
    """
    path = Path(path)
    blob = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(blob)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        _fsync_folder(path.parent)              # the rename itself survives a power loss
    except BaseException as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if isinstance(exc, OSError):
            raise OSError(f"could not write {path}: {exc.strerror or exc}; free disk space and run again "
                          "(the run resumes from its last complete round)") from exc
        raise


def _fsync_folder(folder: Path) -> None:
    """fsync a folder's entry list (where the platform allows opening a folder; a no-op elsewhere)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
