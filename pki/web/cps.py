"""The page at a CA's CPS URL: what the CA is (a kpki test CA) and the policies it issues.

Every certificate kpki issues names its issuer's certification practice statement in
certificatePolicies (a CPS URI beside the "시험용" notice, korean-pki.md sections 2 and 3), and
``kpki serve`` answers that URL with this page instead of a 404. A person who follows the
link from a certificate viewer learns at once that the CA is a test CA and not a licensed
one, and reads the policies it issues under: OID, profile, term, notice, where revocation
is published. The page is built from the store's CA records and the profiles, so it cannot
drift from what the CA actually issues.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa

from ..clock import KST
from ..oids import ANY_POLICY
from ..profiles import LICENSED_CA_PROFILE, PROFILES, TEST_NOTICE, Profile, policy_class
from ..store import CARecord

__all__ = ["cps_page"]

_NOTICE_EN = ("This is a test certification authority made by kpki, not a licensed "
              "certification authority: no one has checked the identities in the certificates "
              "it issues, and nothing it signs has legal effect. Trust its certificates only in "
              "a test environment, never in production.")
_NOTICE_KO = ("이 인증기관은 kpki로 만든 시험용 인증기관이며 공인된 인증기관이 아닙니다. 발급한 "
              "인증서는 시험용이므로 실제 서비스에서 신뢰하면 안 됩니다.")


def _e(value: object) -> str:
    return html.escape(str(value))


def _when(at: dt.datetime) -> str:
    return at.astimezone(KST).strftime("%Y-%m-%d %H:%M:%S KST")


def _years(count: int) -> str:
    return f"{count} year" if count == 1 else f"{count} years"


def _name_cn(name: x509.Name) -> str:
    values = name.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(values[0].value) if values else name.rfc4514_string()


def _facts(record: CARecord) -> str:
    cert = record.certificate
    key = cert.public_key()
    bits = f"RSA {key.key_size} bits" if isinstance(key, rsa.RSAPublicKey) else "other key"
    rows = [
        ("Subject", cert.subject.rfc4514_string()),
        ("Issuer", cert.issuer.rfc4514_string()),
        ("Role", "root CA (issues licensed CA certificates)" if record.is_root
         else f"licensed CA, {record.style} style (issues subscriber certificates)"),
        ("Serial", format(cert.serial_number, "X")),
        ("Valid", f"{_when(cert.not_valid_before_utc)} to {_when(cert.not_valid_after_utc)}"),
        ("Key", bits),
        ("SHA-256 fingerprint", cert.fingerprint(hashes.SHA256()).hex(":").upper()),
        ("CRL", record.crl_url),
        ("OCSP", record.ocsp_url or "none"),
    ]
    return "<dl>\n" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>\n" for k, v in rows) + "</dl>\n"


def _profiles_of(record: CARecord) -> list[Profile]:
    return [p for p in PROFILES.values() if record.style in p.policy_oids]


def _policies(record: CARecord) -> str:
    if record.is_root:
        return (f"<p>It issues licensed CA certificates only, for "
                f"{_years(LICENSED_CA_PROFILE.term_years)}, under the policy anyPolicy "
                f"({_e(ANY_POLICY.dotted_string)}) with the notice “{_e(TEST_NOTICE)}” "
                "(a test certificate).</p>\n")
    rows = []
    for profile in _profiles_of(record):
        oid = profile.policy_oids[record.style].dotted_string
        rows.append(
            f"<tr><td>{_e(oid)}</td><td>{_e(profile.name)}</td>"
            f"<td>{_e(profile.description)}</td><td>{_e(policy_class(oid).value)}</td>"
            f"<td>{_years(profile.term_years)}, from 00:00 KST on the day of issue to "
            f"23:59:59 KST; {profile.renewal_rule}"
            f"</td><td>{_e(profile.notice)}</td></tr>\n")
    return ("<table>\n<tr><th>Policy OID</th><th>Profile</th><th>Certificate</th>"
            "<th>Class</th><th>Validity</th><th>Notice</th></tr>\n" + "".join(rows) +
            "</table>\n<p>Revocations and suspensions are published on the CRL above (with a "
            "delta CRL beside it) and answered by the OCSP responder, signed by a delegated "
            "responder certificate. Holders' resident registration numbers are never stored: "
            "only the VID in each certificate binds it.</p>\n")


def _section(record: CARecord) -> str:
    name = _name_cn(record.certificate.subject)
    return (f"<section id=\"{_e(record.label)}\">\n<h2>{_e(name)}</h2>\n{_facts(record)}"
            f"<h3>Policies</h3>\n{_policies(record)}</section>\n")


def cps_page(records: Sequence[CARecord]) -> str:
    """The HTML page for the CAs whose certificates name one CPS URL (usually one CA)."""
    if not records:
        raise ValueError("a CPS page needs at least one CA")
    names = ", ".join(_name_cn(r.certificate.subject) for r in records)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">\n"
            f"<title>{_e(names)}: certification practice statement of a test CA</title>\n"
            "</head>\n<body>\n"
            f"<h1>{_e(names)}: a test CA</h1>\n"
            f"<p><strong>{_e(_NOTICE_EN)}</strong></p>\n<p lang=\"ko\">{_e(_NOTICE_KO)}</p>\n"
            + "".join(_section(r) for r in records) + "</body>\n</html>\n")
