"""Issued certificates into NPKI folders (korean-pki.md section 6).

``<base>/NPKI/<CA org>/USER/<subject DN>/`` receives ``signCert.der`` and ``signPri.key``
(with R inside), and ``kmCert.der`` + ``kmPri.key`` when a key-management certificate was
issued with it. No unencrypted key is ever written; folders are 0700 and keys 0600.

:func:`write_npki_folder` writes the files of a certificate already recorded (a test
fixture, a demo). To issue and deliver in one step, so that no file ever exists for a
certificate the store does not have, give an :class:`pki.delivery.NPKIDelivery` to the
issuing method instead.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import OutputError
from . import npki
from .npki import NPKIFiles

if TYPE_CHECKING:
    from ..authority import IssuedCertificate

__all__ = ["npki_user_dir", "remove_npki_folder", "write_npki_folder"]


def npki_user_dir(base: Path, issued: IssuedCertificate) -> Path:
    return npki.folder_for(base, issued.certificate)


def write_npki_folder(issued: IssuedCertificate, base: Path, *,
                      password: str | None) -> list[NPKIFiles]:
    """Write the certificate (and its key, if kpki generated it) under ``base``.

    The password must follow the joint-certificate rules. Returns the files written: the
    signing pair, then the key-management pair if there is one. If any write fails, what
    was written is removed. Raises :class:`OutputError` or :class:`PasswordPolicyError`.
    """
    folder = npki_user_dir(base, issued)
    if folder.exists():
        raise OutputError(f"{folder} exists already", path=str(folder))
    written: list[NPKIFiles] = []
    try:
        written.append(npki.dump(folder, issued.certificate, issued.private_key, password,
                                 r=issued.r))
        km = issued.key_management
        if km is not None:
            written.append(npki.dump(folder, km.certificate, km.private_key, password,
                                     r=km.r, key_management=True))
    except BaseException:
        remove_npki_folder(written, folder)
        raise
    return written


def remove_npki_folder(written: list[NPKIFiles], folder: Path | None = None) -> None:
    """Undo :func:`write_npki_folder` (when the issuance it belonged to did not commit)."""
    folders = {f.folder for f in written} | ({folder} if folder else set())
    for files in written:
        for path in (files.certificate, files.private_key):
            if path is not None:
                with contextlib.suppress(OSError):
                    path.unlink()
    for path in folders:
        with contextlib.suppress(OSError):
            path.rmdir()
