"""Move a key between an NPKI folder and PKCS #12 (``kpki key export|import``).

Export reads the folder and returns the bytes to write (a PFX with R as a key attribute,
or unencrypted PKCS #8 PEM when asked for): the face writes them where its user asked
(a file, standard output). Import writes the NPKI folder itself, as issuance does.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from ..errors import FolderExistsError
from ..fsutil import check_writable_dir
from ..keys import npki, pkcs12
from ..keys.password import check_password

__all__ = ["ExportFormat", "ExportedKey", "ImportedKey", "export_folder", "import_pfx"]


class ExportFormat(enum.Enum):
    PFX = "pfx"
    """PKCS #12 with AES-256 and a SHA-256 MAC."""
    PFX_LEGACY = "pfx-legacy"
    """PKCS #12 with 3DES and a SHA-1 MAC, as the real yessign PFX."""
    PEM = "pem"
    """Unencrypted PKCS #8 PEM of the private key (an explicit opt-out)."""


@dataclass(frozen=True)
class ExportedKey:
    data: bytes
    """What to write: the PFX, or the PEM."""
    format: ExportFormat
    serial: int
    r_included: bool
    """Whether R travels with the key (PFX only)."""


def export_folder(folder: Path, *, password: str, format: ExportFormat,
                  pfx_password: str | None = None) -> ExportedKey:
    """The certificate and key of the NPKI ``folder`` as ``format``; the PFX is encrypted
    under ``pfx_password`` (default: the key password). Raises
    :class:`pki.errors.WrongPasswordError` or :class:`pki.errors.KeyFileError`."""
    credential = npki.load(folder, password)
    if format is ExportFormat.PEM:
        data = credential.private_key.private_bytes(serialization.Encoding.PEM,
                                                    serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption())
        return ExportedKey(data, format, credential.serial, r_included=False)
    data = pkcs12.dumps(credential.certificate, credential.private_key,
                        pfx_password or password, r=credential.r,
                        legacy=format is ExportFormat.PFX_LEGACY)
    return ExportedKey(data, format, credential.serial,
                       r_included=credential.r is not None)


@dataclass(frozen=True)
class ImportedKey:
    files: npki.NPKIFiles
    serial: int
    r_included: bool


def import_pfx(pfx: Path, out: Path, *, password: str, new_password: str | None = None,
               replace: bool = False) -> ImportedKey:
    """Write the PFX's certificate and key into ``out/NPKI/<CA org>/USER/<dn>/`` as
    signCert.der and signPri.key (R kept), the key under ``new_password`` (default: the
    PFX password; joint-certificate password rules). Raises
    :class:`pki.errors.PasswordPolicyError`, :class:`WrongPasswordError`,
    :class:`KeyFileError`, or :class:`pki.errors.FolderExistsError` when the folder holds a
    key already and ``replace`` is not set."""
    check_writable_dir(out)
    new = check_password(new_password if new_password is not None else password)
    credential = pkcs12.load(pfx, password)
    folder = npki.folder_for(out, credential.certificate)
    if (folder / npki.KEY_FILE).exists() and not replace:
        raise FolderExistsError(str(folder))
    files = npki.dump(folder, credential.certificate, credential.private_key, new,
                      r=credential.r)
    return ImportedKey(files, credential.serial, r_included=credential.r is not None)

