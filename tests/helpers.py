"""Assertion helpers shared by the profile, CLI and interop tests."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from pathlib import Path

from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from pki.clock import KST
from pki.vid import register_with_asn1crypto

SUBSCRIBER_EXTENSIONS = [
    ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
    ExtensionOID.SUBJECT_KEY_IDENTIFIER,
    ExtensionOID.KEY_USAGE,
    ExtensionOID.CERTIFICATE_POLICIES,
    ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
    ExtensionOID.CRL_DISTRIBUTION_POINTS,
    ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
]
SUBSCRIBER_CRITICAL = [False, False, True, True, False, False, False]


def extension_layout(cert: x509.Certificate) -> list[tuple[str, bool]]:
    return [(e.oid.dotted_string, e.critical) for e in cert.extensions]


STRING_TAGS = {0x13: "PrintableString", 0x0C: "UTF8String", 0x1E: "BMPString"}


def subject_layout(cert: x509.Certificate) -> list[tuple[str, str]]:
    """(attribute OID, string type) in DER order, read from the encoding itself."""
    parsed = ax509.Certificate.load(_der(cert))
    out = []
    for rdn in parsed["tbs_certificate"]["subject"].chosen:
        for attr in rdn:
            tag = attr["value"].dump()[0]
            out.append((attr["type"].dotted, STRING_TAGS.get(tag, hex(tag))))
    return out


def _der(cert: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    return cert.public_bytes(Encoding.DER)


def policy_notice_type(cert: x509.Certificate) -> str:
    parsed = ax509.Certificate.load(_der(cert))
    for ext in parsed["tbs_certificate"]["extensions"]:
        if ext["extn_id"].native == "certificate_policies":
            for info in ext["extn_value"].parsed:
                for qualifier in info["policy_qualifiers"]:
                    if qualifier["policy_qualifier_id"].native == "user_notice":
                        return str(qualifier["qualifier"]["explicit_text"].name)
    raise AssertionError("no user notice")


def assert_kst_day_aligned(cert: x509.Certificate) -> None:
    nb = cert.not_valid_before_utc.astimezone(KST)
    na = cert.not_valid_after_utc.astimezone(KST)
    assert (nb.hour, nb.minute, nb.second) == (0, 0, 0)
    assert (na.hour, na.minute, na.second) == (23, 59, 59)
    assert cert.not_valid_before_utc.time() == dt.time(15, 0, 0)
    assert cert.not_valid_after_utc.time() == dt.time(14, 59, 59)


def assert_subscriber_profile(cert: x509.Certificate) -> None:
    """The structure every joint and financial certificate shares (section 3)."""
    assert cert.version is x509.Version.v3
    assert cert.signature_algorithm_oid == x509.oid.SignatureAlgorithmOID.RSA_WITH_SHA256
    assert cert.public_key().key_size == 2048  # type: ignore[union-attr]
    assert [e.oid for e in cert.extensions] == SUBSCRIBER_EXTENSIONS
    assert [e.critical for e in cert.extensions] == SUBSCRIBER_CRITICAL
    assert policy_notice_type(cert) == "bmp_string"
    assert_kst_day_aligned(cert)
    assert cert.serial_number > 0


def pyhanko_validate(folder: Path, name: str) -> str:
    """pyhanko-certvalidator's answer ("valid" or "revoked") for ``<folder>/<name>.der``,
    trusting ``root.der`` with ``ca.der`` as intermediate, fetching revocation information
    from the URLs in the certificates (hard-fail)."""
    from pyhanko_certvalidator import CertificateValidator, ValidationContext
    from pyhanko_certvalidator.errors import RevokedError

    register_with_asn1crypto()  # identifyData: see docs/lifecycle.md

    def load(label: str) -> ax509.Certificate:
        return ax509.Certificate.load((folder / f"{label}.der").read_bytes())

    async def validate() -> str:
        context = ValidationContext(trust_roots=[load("root")], other_certs=[load("ca")],
                                    allow_fetching=True, revocation_mode="hard-fail")
        async with contextlib.aclosing(context) as ctx:
            validator = CertificateValidator(load(name), validation_context=ctx)
            try:
                await validator.async_validate_usage(set())
            except RevokedError:
                return "revoked"
            return "valid"

    return asyncio.run(validate())
