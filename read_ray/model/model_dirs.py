"""Model directories built once, atomically, safe across processes (the converted teacher, the tiny test
model, pruned students).

A directory is built in a temporary sibling (same file system) and renamed into place only when complete,
so an interrupted build never leaves a half directory behind; :func:`build_once` also serialises
concurrent builders with a lock file and skips the build when a complete directory (one holding the
:data:`MARKER` file of the current :data:`MARKER_FORMAT`) is already there. Stdlib only.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["MARKER", "MARKER_FORMAT", "build_once", "is_complete", "publish"]

MARKER = "read_ray_conversion.json"
"""Written last into a directory that :func:`build_once` builds; a directory without it (or with another
format) is rebuilt."""
MARKER_FORMAT = 1


def is_complete(final: Path) -> bool:
    try:
        return json.loads((final / MARKER).read_text()).get("format") == MARKER_FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def build_once(final: Path, build: Callable[[Path], None]) -> None:
    """Make ``final`` with ``build(tmp_dir)`` unless it is already complete; safe across processes.

    ``build`` writes into a temporary directory beside ``final`` (same file system), which is renamed into
    place only when complete (``build`` must write the :data:`MARKER` file), so an interrupted build never
    leaves a half directory behind. A lock file serialises concurrent builders and the completeness check is
    repeated under it, so the second of two simultaneous callers just uses the first one's result.
    """
    if is_complete(final):
        return
    final.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(final.parent / f".{final.name}.lock"):
        if is_complete(final):
            return
        # Anything temporary left here belongs to a builder that died: only the lock holder creates them.
        for stale in final.parent.glob(f".{final.name}.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
        try:
            build(tmp)
            if not is_complete(tmp):
                raise RuntimeError(f"building {final} did not finish (no {MARKER} written)")
            _make_readable(tmp)
            _swap_into_place(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock (``flock``) held for the block; a no-op where fcntl does not exist."""
    try:
        import fcntl
    except ImportError:  # Windows: rely on the atomic rename alone
        yield
        return
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _make_readable(directory: Path) -> None:
    """mkdtemp (and safetensors) create owner-only entries; a model directory is meant to be shared."""
    os.chmod(directory, 0o755)
    for entry in directory.rglob("*"):
        os.chmod(entry, 0o755 if entry.is_dir() else 0o644)


def _swap_into_place(tmp: Path, final: Path) -> None:
    """Rename the finished directory ``tmp`` to ``final``, replacing any directory already there."""
    for _ in range(5):
        try:
            os.replace(tmp, final)
            return
        except OSError:
            if not final.exists():
                raise
        if not final.is_dir():
            raise FileExistsError(f"{final} exists and is not a directory")
        # os.replace cannot replace a non-empty directory: move the old one aside, then swap.
        old = final.parent / f".{final.name}.old-{uuid.uuid4().hex[:8]}"
        with contextlib.suppress(FileNotFoundError):  # another writer moved it first: just retry
            os.replace(final, old)
            shutil.rmtree(old, ignore_errors=True)
    raise RuntimeError(f"could not move {tmp} into place as {final}: another process keeps replacing it")


def publish(out_dir: str | os.PathLike[str], build: Callable[[Path], None]) -> str:
    """Build a directory with ``build(tmp)`` and rename it to ``out_dir`` (replacing an older one)."""
    final = Path(out_dir).expanduser().absolute()
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        build(tmp)
        _make_readable(tmp)
        _swap_into_place(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return os.fspath(out_dir)
