"""Atomic file writes: a temporary name in the same folder, fsync, then rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from .errors import OutputError

__all__ = ["atomic_write", "check_writable_dir", "ensure_writable_dir"]


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new, never a part.

    The file is created with ``mode`` from the start (key files: 0600), never wider.
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise OutputError(f"cannot write in {path.parent}: {exc.strerror}",
                          path=str(path.parent)) from None
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise OutputError(f"cannot write {path}: {exc.strerror}", path=str(path)) from None


def ensure_writable_dir(path: Path) -> Path:
    """Create ``path`` (and parents) if needed and check that files can be made in it."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {path}: {exc.strerror}", path=str(path)) from None
    if not path.is_dir():
        raise OutputError(f"{path} is not a folder", path=str(path))
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise OutputError(f"cannot write in {path}: {exc.strerror}", path=str(path)) from None
    return path


def check_writable_dir(path: Path) -> Path:
    """Check, without creating anything, that ``path`` is or could become a writable folder.

    The nearest existing ancestor must be a folder this process may write into.
    """
    path = Path(path).absolute()
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise OutputError(f"cannot write to {path}: {probe} is not a folder", path=str(path))
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write to {path}: {probe} is not writable", path=str(path))
    return path
