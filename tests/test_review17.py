"""A hostile review of the local signing agent (issue 17 item 2): each test here failed on
the agent as it was before the fix committed with it (pki/agent/)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from asn1crypto import core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID

from pki.agent import SigningAgent
from pki.agent.service import envelope_recipient
from pki.clock import FixedClock
from pki.errors import AgentRequestError

from .test_agent import (
    Material,
    make_agent,
    npki_material,
    page_post,
    served,
)


@pytest.fixture
def material(home, tmp_path: Path) -> Material:  # type: ignore[no-untyped-def]
    return npki_material(home, tmp_path)


@pytest.fixture
def agent(material: Material, clock: FixedClock) -> SigningAgent:
    return make_agent(material, clock)


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    size = bytes([n]) if n < 0x80 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) \
        + n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag]) + size + content


def _certificate(material: Material, spki: bytes) -> bytes:
    """A certificate (DER) whose subject public key info is ``spki`` (DER), signed by the
    general certificate's key (no key is generated)."""
    signer = material.general.private_key  # type: ignore[attr-defined]
    placeholder = material.general.certificate.public_key()  # type: ignore[attr-defined]
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "site.example"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Site")])
    now = material.home.clock.now()
    built = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
             .public_key(placeholder).serial_number(4242)
             .not_valid_before(now - dt.timedelta(days=1))
             .not_valid_after(now + dt.timedelta(days=30))
             .sign(signer, hashes.SHA256()))
    cert = asn1_x509.Certificate.load(built.public_bytes(Encoding.DER))
    old = placeholder.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    contents = cert["tbs_certificate"].contents
    assert contents.count(old) == 1
    tbs = _der(0x30, contents.replace(old, spki))
    signature = signer.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    return _der(0x30, tbs + cert["signature_algorithm"].dump()
                + _der(0x03, b"\x00" + signature))


def _pem(der: bytes) -> str:
    return x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM).decode()


def _tiny_rsa_spki() -> bytes:
    """An RSA public key of 256 bits: too small to carry a 32-byte content key."""
    key = rsa.RSAPublicNumbers(65537, (1 << 255) | 0x2F).public_key()
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def _unknown_algorithm_spki() -> bytes:
    """A public key of an algorithm pyca does not know (KCDSA's OID, as old NPKI
    certificates carry)."""
    oid = core.ObjectIdentifier("1.2.410.200004.1.21").dump()
    return _der(0x30, _der(0x30, oid) + _der(0x03, b"\x00" + b"\x01" * 64))


# -- the site's certificate (envelopeTo) -----------------------------------------------------

def test_envelope_to_a_key_of_an_unknown_algorithm_is_a_bad_request(material: Material,
                                                                    clock: FixedClock) -> None:
    """A site certificate with a key pyca cannot read (KCDSA) was a 500 at open."""
    pem = _pem(_certificate(material, _unknown_algorithm_spki()))
    with pytest.raises(AgentRequestError) as refused:
        envelope_recipient(pem)
    assert refused.value.field == "envelopeTo"
    with served(make_agent(material, clock)) as client:
        answer = page_post(client, "/requests", {"content": {"text": "x"}, "envelopeTo": pem})
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"] | {"message": ""} == {  # type: ignore[operator]
            "code": "bad_request", "message": "", "field": "envelopeTo"}
        assert page_post(client, "/requests", {"content": {"text": "x"}}).status_code == 201


def test_envelope_to_a_key_too_small_to_carry_the_content_key_is_refused_at_once(
        material: Material, clock: FixedClock) -> None:
    """A 256-bit RSA key cannot carry the 32-byte AES key: it was accepted, and the user's
    OK then failed with a 500 (the request left open, nothing the page could act on)."""
    pem = _pem(_certificate(material, _tiny_rsa_spki()))
    with pytest.raises(AgentRequestError) as refused:
        envelope_recipient(pem)
    assert refused.value.field == "envelopeTo"
    with served(make_agent(material, clock)) as client:
        answer = page_post(client, "/requests", {"content": {"text": "x"}, "envelopeTo": pem})
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["field"] == "envelopeTo"  # type: ignore[index]
    # the smallest key the agent takes still carries it
    assert envelope_recipient(material.root.public_bytes(Encoding.PEM).decode())
