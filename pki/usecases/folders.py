"""Check an NPKI folder as a holder's software would use it (``kpki npki check``).

The checks: the password opens ``signPri.key``, the key belongs to ``signCert.der``, the
key file holds R (randomNum), and, given the holder's resident number, the certificate's
VID matches it with that R. A failed check is a result, not an error.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from ..errors import KeyFileError, KeyMismatchError, WrongPasswordError
from ..keys import npki
from ..rrn import RRN
from ..vid import VIDError, identify_data_of, vid_matches

__all__ = ["FolderCheck", "FolderCheckName", "FolderReport", "check_folder"]


class FolderCheckName(enum.StrEnum):
    FILES = "files"
    PASSWORD = "password"
    KEY_MATCHES_CERTIFICATE = "key-matches-certificate"
    RANDOM_NUM = "random-num"
    VID = "vid"


@dataclass(frozen=True)
class FolderCheck:
    name: FolderCheckName
    ok: bool
    detail: str


@dataclass(frozen=True)
class FolderReport:
    """What :func:`check_folder` found, check by check, in the order they ran."""

    folder: Path
    checks: tuple[FolderCheck, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


def check_folder(folder: Path, *, password: str, rrn: RRN | None = None) -> FolderReport:
    """Check the NPKI folder ``folder`` with the key ``password`` (and the VID against
    ``rrn`` when given)."""
    checks: list[FolderCheck] = []

    def record(name: FolderCheckName, ok: bool, detail: str) -> None:
        checks.append(FolderCheck(name, ok, detail))

    credential = None
    try:
        credential = npki.load(folder, password)
        record(FolderCheckName.PASSWORD, True, "the password opens signPri.key")
        record(FolderCheckName.KEY_MATCHES_CERTIFICATE, True,
               "signPri.key belongs to signCert.der")
    except WrongPasswordError:
        record(FolderCheckName.PASSWORD, False, "the password does not open signPri.key")
    except KeyMismatchError:
        record(FolderCheckName.PASSWORD, True, "the password opens signPri.key")
        record(FolderCheckName.KEY_MATCHES_CERTIFICATE, False,
               "signPri.key does not belong to signCert.der")
    except KeyFileError as exc:
        record(FolderCheckName.FILES, False, str(exc))
    if credential is not None:
        record(FolderCheckName.RANDOM_NUM, credential.r is not None,
               "signPri.key holds R" if credential.r else "signPri.key holds no randomNum")
        if rrn is not None:
            checks.append(_vid_check(credential, rrn))
    return FolderReport(folder, tuple(checks))


def _vid_check(credential: npki.NPKICredential, holder: RRN) -> FolderCheck:
    try:
        data = identify_data_of(credential.certificate)
    except VIDError:
        data = None
    if data is None or data.vid is None:
        return FolderCheck(FolderCheckName.VID, False, "the certificate carries no VID")
    if credential.r is None:
        return FolderCheck(FolderCheckName.VID, False, "no R to check the VID with")
    ok = vid_matches(data, holder, credential.r)
    return FolderCheck(FolderCheckName.VID, ok,
                       "the VID matches the resident number" if ok
                       else "the VID does not match the resident number")
