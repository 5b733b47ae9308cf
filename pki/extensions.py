"""Extensions pyca/cryptography cannot write in the shape Korean certificates use.

pyca writes a userNotice's explicitText as a UTF8String; real Korean certificates use a
BMPString, so certificatePolicies is encoded here with asn1crypto and handed to pyca as an
``UnrecognizedExtension`` carrying the certificatePolicies OID. Everything else goes through
pyca's typed extensions.
"""

from __future__ import annotations

from typing import cast

from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.x509.oid import ExtensionOID, ObjectIdentifier

from . import oids

__all__ = ["certificate_policies", "identify_data_san"]


def certificate_policies(policy: ObjectIdentifier, *, notice: str,
                         cps_url: str | None) -> x509.UnrecognizedExtension:
    """certificatePolicies with one policy: a userNotice (BMPString) then a CPS URI."""
    qualifiers: list[dict[str, object]] = [{
        "policy_qualifier_id": "user_notice",
        "qualifier": {"explicit_text": ax509.DisplayText(name="bmp_string", value=notice)},
    }]
    if cps_url:
        qualifiers.append({
            "policy_qualifier_id": "certification_practice_statement",
            "qualifier": cps_url,
        })
    value = ax509.CertificatePolicies([
        {"policy_identifier": policy.dotted_string, "policy_qualifiers": qualifiers}
    ])
    return x509.UnrecognizedExtension(ExtensionOID.CERTIFICATE_POLICIES,
                                      cast(bytes, value.dump()))


def identify_data_san(identify_data_der: bytes) -> x509.SubjectAlternativeName:
    """subjectAltName with the single otherName identifyData."""
    return x509.SubjectAlternativeName([x509.OtherName(oids.IDENTIFY_DATA, identify_data_der)])

