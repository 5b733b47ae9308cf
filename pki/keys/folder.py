"""NPKI folders (korean-pki.md section 6): ``<base>/NPKI/<CA org>/USER/<subject DN>/``.

Until the ``signPri.key`` writer lands, the private key is written beside ``signCert.der``
as ``signPri.pem``: PKCS #8 encrypted under the holder's password (PBES2, PBKDF2-HMAC-SHA256,
AES-256-CBC). No unencrypted key is ever written.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization

from ..errors import OutputError
from ..fsutil import atomic_write, ensure_writable_dir
from .atrest import encrypt_private_key

if TYPE_CHECKING:
    from ..authority import IssuedCertificate

__all__ = [
    "CERT_FILE",
    "KEY_PEM_FILE",
    "NPKIFiles",
    "npki_user_dir",
    "remove_npki_folder",
    "write_npki_folder",
]

CERT_FILE = "signCert.der"
KEY_PEM_FILE = "signPri.pem"


@dataclass(frozen=True)
class NPKIFiles:
    """Where an issued certificate's files were written."""

    folder: Path
    certificate: Path
    private_key: Path | None


def npki_user_dir(base: Path, issued: IssuedCertificate) -> Path:
    return Path(base) / "NPKI" / issued.organization / "USER" / issued.npki_folder_name


def write_npki_folder(issued: IssuedCertificate, base: Path, *,
                      password: bytes | None) -> NPKIFiles:
    """Write ``signCert.der`` (and the encrypted key, if kpki generated one) under ``base``.

    Each file is written atomically; if the second write fails the first is removed, so
    the folder is complete or absent. Raises :class:`OutputError`.
    """
    if issued.private_key is not None and not password:
        raise ValueError("a password is needed to write the private key")
    folder = npki_user_dir(base, issued)
    if folder.exists():
        raise OutputError(f"{folder} exists already", path=str(folder))
    ensure_writable_dir(folder)
    cert_path = folder / CERT_FILE
    key_path = folder / KEY_PEM_FILE if issued.private_key is not None else None
    try:
        atomic_write(cert_path, issued.certificate.public_bytes(serialization.Encoding.DER))
        if key_path is not None and issued.private_key is not None and password:
            atomic_write(key_path, encrypt_private_key(issued.private_key, password),
                         mode=0o600)
    except BaseException:
        for path in (cert_path, key_path):
            if path is not None:
                with contextlib.suppress(OSError):
                    os.unlink(path)
        with contextlib.suppress(OSError):
            folder.rmdir()
        raise
    return NPKIFiles(folder, cert_path, key_path)


def remove_npki_folder(files: NPKIFiles) -> None:
    """Undo :func:`write_npki_folder` (when the issuance it belonged to did not commit)."""
    for path in (files.certificate, files.private_key):
        if path is not None:
            with contextlib.suppress(OSError):
                os.unlink(path)
    with contextlib.suppress(OSError):
        files.folder.rmdir()
