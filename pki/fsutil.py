"""Files and folders kpki writes: atomic writes, folders with exact modes, durable renames.

Modes never depend on the umask: a file is created 0600 and then given its mode with
``fchmod``; a folder kpki creates is given its mode with ``chmod`` right after ``mkdir``
(``mkdir``'s own mode is masked by the umask, so under ``umask 000`` it alone would make
key folders world-writable). Folders that existed before are left as they are.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from .errors import OutputError

__all__ = [
    "PRIVATE_DIR_MODE",
    "PUBLIC_DIR_MODE",
    "atomic_write",
    "check_writable_dir",
    "ensure_writable_dir",
    "fsync_dir",
    "make_dirs",
]

PRIVATE_DIR_MODE = 0o700
"""Folders holding keys: NPKI folders, a home, key staging folders."""
PUBLIC_DIR_MODE = 0o755
"""Folders holding what anyone may read but only kpki may change (published CRLs)."""


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new, never a part.

    The file is created with ``mode`` from the start (key files: 0600), never wider,
    whatever the umask.
    """
    import tempfile  # here: it imports shutil and its compressors, costly at start-up

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


def make_dirs(path: Path, *, mode: int) -> Path:
    """Create ``path`` and any missing parents, each new one with exactly ``mode``.

    Raises :class:`OutputError` if a folder cannot be created or a component is not one.
    """
    path = Path(path)
    missing = []
    probe = path
    while not probe.is_dir():
        if probe.exists() or probe.is_symlink():
            raise OutputError(f"cannot create {path}: {probe} is not a folder", path=str(path))
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=mode)
        except FileExistsError:
            if not folder.is_dir():
                raise OutputError(f"cannot create {path}: {folder} is not a folder",
                                  path=str(path)) from None
            continue  # made meanwhile by someone else: theirs to keep as it is
        except OSError as exc:
            raise OutputError(f"cannot create {folder}: {exc.strerror}",
                              path=str(folder)) from None
        try:
            os.chmod(folder, mode)
        except OSError as exc:
            raise OutputError(f"cannot set the mode of {folder}: {exc.strerror}",
                              path=str(folder)) from None
    return path


def ensure_writable_dir(path: Path, *, mode: int = PUBLIC_DIR_MODE) -> Path:
    """Create ``path`` (and parents, each new one with ``mode``) if needed and check that
    files can be made in it."""
    import tempfile

    path = make_dirs(Path(path), mode=mode)
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise OutputError(f"cannot write in {path}: {exc.strerror}", path=str(path)) from None
    return path


def fsync_dir(path: Path) -> None:
    """Make the renames and creations inside folder ``path`` durable (best effort where a
    file system cannot sync a folder)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


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
