"""Finding NPKI certificates the way Korean software does (korean-pki.md section 6).

Readers walk ``<base>/NPKI/*/USER/cn=*`` folders. The default base depends on the operating
system: ``%USERPROFILE%\\AppData\\LocalLow`` on Windows, ``~/Library/Preferences`` on
macOS, the home folder elsewhere.
"""

from __future__ import annotations

import datetime as dt
import enum
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from ..errors import KeyFileError
from ..profiles import PolicyClass, policy_class
from .npki import CERT_FILE, KEY_FILE, KM_CERT_FILE, read_certificate

__all__ = ["EXPIRING_DAYS", "CertificateStatus", "NPKIEntry", "default_base", "scan"]

EXPIRING_DAYS = 30


class CertificateStatus(enum.Enum):
    VALID = "valid"
    EXPIRING = "expiring"  # within EXPIRING_DAYS of notAfter
    EXPIRED = "expired"
    NOT_YET_VALID = "not-yet-valid"
    UNREADABLE = "unreadable"


@dataclass(frozen=True)
class NPKIEntry:
    """One ``USER/cn=...`` folder found under a base."""

    folder: Path
    certificate: x509.Certificate | None
    status: CertificateStatus
    policy: str | None
    policy_class: PolicyClass
    has_key: bool
    has_km: bool
    error: str | None = None

    @property
    def common_name(self) -> str:
        if self.certificate is None:
            return self.folder.name
        attrs = self.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(attrs[0].value) if attrs else self.certificate.subject.rfc4514_string()


def default_base(platform: str | None = None, env: dict[str, str] | None = None) -> Path:
    """Where NPKI software keeps certificates on this operating system."""
    platform = platform or sys.platform
    env = dict(os.environ) if env is None else env
    if platform.startswith("win"):
        return Path(env.get("USERPROFILE", str(Path.home()))) / "AppData" / "LocalLow"
    if platform == "darwin":
        return Path.home() / "Library" / "Preferences"
    return Path(env.get("HOME", str(Path.home())))


def _status(cert: x509.Certificate, now: dt.datetime) -> CertificateStatus:
    if now < cert.not_valid_before_utc:
        return CertificateStatus.NOT_YET_VALID
    if now > cert.not_valid_after_utc:
        return CertificateStatus.EXPIRED
    if cert.not_valid_after_utc - now <= dt.timedelta(days=EXPIRING_DAYS):
        return CertificateStatus.EXPIRING
    return CertificateStatus.VALID


def _policy(cert: x509.Certificate) -> str | None:
    try:
        policies = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    except (x509.ExtensionNotFound, ValueError):
        return None
    return policies[0].policy_identifier.dotted_string if len(policies) else None


def scan(base: Path, now: dt.datetime) -> list[NPKIEntry]:
    """Every ``<base>/NPKI/*/USER/cn=*`` folder, sorted; unreadable ones are reported, not
    skipped."""
    entries = []
    for folder in sorted(Path(base).glob("NPKI/*/USER/cn=*")):
        if not folder.is_dir():
            continue
        has_key = (folder / KEY_FILE).is_file()
        has_km = (folder / KM_CERT_FILE).is_file()
        try:
            cert = read_certificate(folder / CERT_FILE)
        except KeyFileError as exc:
            entries.append(NPKIEntry(folder, None, CertificateStatus.UNREADABLE, None,
                                     PolicyClass.UNKNOWN, has_key, has_km, str(exc)))
            continue
        oid = _policy(cert)
        entries.append(NPKIEntry(folder, cert, _status(cert, now), oid,
                                 policy_class(oid) if oid else PolicyClass.UNKNOWN,
                                 has_key, has_km))
    return entries
