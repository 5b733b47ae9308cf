"""Every parse returns a result (issue 11 item 5): exhaustive, deterministic mutations.

For each input, every byte position gets the same fixed edits, so CI finds what random
seeds would find only sometimes:

* flip bit 0 and flip bit 7 of the byte (``^ 0x01``, ``^ 0x80``): a changed value, a
  changed tag class or constructed bit, a length switching between short and long form;
* truncate the input at the position;
* and at every DER length octet (found by walking the DER, into OCTET and BIT STRINGs that
  hold DER themselves): the octet ``+ 1``, ``- 1``, ``0x80`` (indefinite) and ``0xff``.

The inputs are the committed fixtures (``fixtures/``: the same bytes on every machine)
plus two RSASSA-PSS signatures made from the fixture key (PSS is randomised, so these
differ per run only in their signature value, where every edit means "does not verify"):

* CMS signatures in every shape with the chain embedded (attached or detached, with or
  without signed attributes, ContentInfo or bare, PKCS #1 v1.5 or PSS). The two embedded
  certificates are the same bytes in every shape and are parsed the same way whatever the
  shape, so their 2,714 bytes are edited in one shape (attached, signed attributes,
  ContentInfo, PKCS #1 v1.5: the Korean clients' usual one) and the rest of every shape in
  all ten;
* ``signPri.key`` (npki.decrypt), a PFX (pkcs12.loads: one without MAC, so that edits reach
  the bags, and the committed one around its MAC), the full CRL (CRLIndex.load and a
  verification against it), an OCSP request (the responder) and an OCSP response (a
  verification through OCSP).

The promise checked: a verification returns a result or raises CannotEvaluateError; a
reader or loader returns or raises its typed kpki error; nothing from cryptography or
asn1crypto escapes. Measured on the development machine: about 40 s for the whole set
(see the durations pytest reports with ``--durations``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from pki.errors import KeyFileError, PKIError, RevocationDataError, WrongPasswordError
from pki.keys import npki, pkcs12
from pki.revocation.ocsp import OCSPResponder
from pki.signing import CannotEvaluateError, KeySigner, sign
from pki.signing.status import CRLIndex, RevocationUnavailable, check_ocsp_response
from pki.signing.verify import Verifier
from pki.store import CertStatus

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
NOW = dt.datetime.fromisoformat(MANIFEST["now"])
PASSWORD = MANIFEST["key_password"]
JOINT = MANIFEST["certificates"]["joint"]
DOCUMENT = (FIXTURES / "signatures" / "document.txt").read_bytes()
DER = serialization.Encoding.DER


# -- the edits -----------------------------------------------------------------------------


def _tlvs(der: bytes, start: int = 0, end: int | None = None
          ) -> list[tuple[int, list[int], int, int]] | None:
    """Every TLV in ``der[start:end]``, nested ones included (into OCTET and BIT STRINGs
    that hold DER themselves), as (tag, positions of its length octets, where its value
    starts, the value's length); None where the bytes are not DER."""
    end = len(der) if end is None else end
    found: list[tuple[int, list[int], int, int]] = []
    i = start
    try:
        while i < end:
            tag = der[i]
            i += 1
            if tag & 0x1F == 0x1F:
                while der[i] & 0x80:
                    i += 1
                i += 1
            first = der[i]
            if first == 0x80:
                return None
            here = [i]
            i += 1
            if first & 0x80:
                count = first & 0x7F
                here += range(i, i + count)
                length = int.from_bytes(der[i:i + count], "big")
                i += count
            else:
                length = first
            if i + length > end:
                return None
            found.append((tag, here, i, length))
            if tag & 0x20:
                inner = _tlvs(der, i, i + length)
                if inner is None or (length and not inner):
                    return None
                found += inner
            elif tag in (0x04, 0x03) and length > 2:
                skip = 1 if tag == 0x03 else 0  # a BIT STRING's unused-bits octet
                if der[i + skip] & 0x20:  # DER inside: one constructed value, filling it
                    found += _tlvs(der, i + skip, i + length) or []
            i += length
    except IndexError:
        return None
    return found


def length_octets(der: bytes) -> list[int]:
    """Positions of every DER length octet in ``der``, nested ones included; [] where the
    bytes are not DER."""
    return [pos for _, lengths, _, _ in _tlvs(der) or [] for pos in lengths]


def oid_swaps(der: bytes) -> list[tuple[int, bytes]]:
    """Where each OBJECT IDENTIFIER's value starts, and every other OID value of the same
    length found in ``der`` to put there: a well-formed input that means something else (an
    organisation name read as a country code, one extension read as another)."""
    oids = [(value, der[value:value + length]) for tag, _, value, length in _tlvs(der) or []
            if tag == 0x06]
    known = sorted({oid for _, oid in oids})
    return [(pos, other) for pos, oid in oids for other in known
            if len(other) == len(oid) and other != oid]


def mutations(data: bytes, positions: Sequence[int] | None = None) -> Iterator[bytes]:
    """The fixed edits at every position of ``positions`` (default: all of ``data``)."""
    where = range(len(data)) if positions is None else positions
    for pos in where:
        for bit in (0x01, 0x80):
            edited = bytearray(data)
            edited[pos] ^= bit
            yield bytes(edited)
        yield data[:pos]
    for pos in length_octets(data):
        if pos not in where:
            continue
        for value in ((data[pos] + 1) & 0xFF, (data[pos] - 1) & 0xFF, 0x80, 0xFF):
            if value != data[pos]:
                edited = bytearray(data)
                edited[pos] = value
                yield bytes(edited)
    for pos, oid in oid_swaps(data):
        if pos in where:
            yield data[:pos] + oid + data[pos + len(oid):]


def test_the_length_walker_finds_every_tlv():
    der = bytes.fromhex("3009" "0201" "05" "0404" "3002" "0500")
    assert length_octets(der) == [1, 3, 6, 8, 10]
    big = b"\x04\x82\x01\x00" + bytes(256)
    assert length_octets(big) == [1, 2, 3]
    assert length_octets(b"\x30\x05\x02\x01") == []


def test_oid_swaps_relabel_each_oid_as_the_others_of_its_length():
    # SEQUENCE { OID 2.5.4.10 (organizationName), OID 2.5.4.6 (countryName), OID 1.2 }
    der = bytes.fromhex("300d" "060355040a" "0603550406" "06012a")
    assert oid_swaps(der) == [(4, bytes.fromhex("550406")), (9, bytes.fromhex("55040a"))]


def _exhaust(inputs: Iterator[bytes], attempt: Callable[[bytes], object]) -> int:
    count = 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for data in inputs:
            attempt(data)
            count += 1
    return count


# -- signatures ----------------------------------------------------------------------------


def _cert(path: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((FIXTURES / path).read_bytes())


def _signatures() -> dict[str, bytes]:
    shapes = {p.stem: p.read_bytes() for p in sorted((FIXTURES / "signatures").glob("*.p7s"))}
    credential = npki.load(FIXTURES / JOINT["folder"], PASSWORD)
    signer = KeySigner(credential.certificate, credential.private_key, (_cert("yessign-ca.pem"),))
    for detached, attrs, wrapped in ((False, True, True), (True, False, False)):
        name = (f"{'detached' if detached else 'attached'}-{'attrs' if attrs else 'noattrs'}-"
                f"{'contentinfo' if wrapped else 'bare'}-pss")
        shapes[name] = sign(DOCUMENT, signer, detached=detached, signed_attributes=attrs,
                            content_info=wrapped, pss=True, include_chain=True,
                            signing_time=NOW).der
    return shapes


SIGNATURES = _signatures()
CERTIFICATE_SHAPES = ("attached-attrs-contentinfo",)


def _root_crl() -> CRLIndex:
    return CRLIndex.load((FIXTURES / "crl" / "root.crl").read_bytes())


def _verifier() -> Verifier:
    crl = CRLIndex.load((FIXTURES / "crl" / "yessign-full.crl").read_bytes())
    return Verifier(trust=[_cert("root.pem")], crls=[crl, _root_crl()])


def _certificate_span(signature: bytes) -> range:
    """Where the embedded certificates sit in ``signature``."""
    ders = [_cert("yessign-ca.pem").public_bytes(DER),
            x509.load_der_x509_certificate(
                next((FIXTURES / JOINT["folder"]).glob("signCert.der")).read_bytes()
            ).public_bytes(DER)]
    starts = [signature.index(d) for d in ders]
    ends = [s + len(d) for s, d in zip(starts, ders, strict=True)]
    return range(min(starts), max(ends))


def _outside(span: range, size: int) -> Iterator[int]:
    yield from range(span.start)
    yield from range(span.stop, size)


@pytest.mark.parametrize("shape", sorted(SIGNATURES))
def test_every_edit_of_a_signature_gives_a_result(shape):
    original = SIGNATURES[shape]
    verifier = _verifier()
    content = None if shape.startswith("attached") else DOCUMENT
    assert verifier.verify(original, content=content, at=NOW, rrn=JOINT["rrn"],
                           r=bytes.fromhex(JOINT["r"])).ok
    span = _certificate_span(original)
    positions = (range(len(original)) if shape in CERTIFICATE_SHAPES
                 else list(_outside(span, len(original))))
    failures = 0

    def attempt(data: bytes) -> None:
        nonlocal failures
        try:
            result = verifier.verify(data, content=content, at=NOW, rrn=JOINT["rrn"],
                                     r=bytes.fromhex(JOINT["r"]))
        except CannotEvaluateError:
            return
        assert result.summary()
        failures += not result.ok

    count = _exhaust(mutations(original, positions), attempt)
    assert count > 2 * len(positions)
    assert failures > 0


def test_a_country_name_that_is_not_two_letters_is_malformed():
    # What Hypothesis found on some seeds (tests/test_signing.py): an organizationName
    # relabelled as countryName ("yessign" as a country) made pyca warn when the name was
    # read, and under -W error the warning escaped the verifier.
    original = SIGNATURES["attached-attrs-contentinfo"]
    organization = bytes.fromhex("060355040a")
    pos = original.index(organization) + 4
    edited = original[:pos] + b"\x06" + original[pos + 1:]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(CannotEvaluateError, match="length must be >= 2 and <= 2"):
            _verifier().verify(edited, at=NOW)


# -- key files -----------------------------------------------------------------------------


def test_every_edit_of_a_signpri_key_is_a_key_or_a_key_file_error():
    original = next((FIXTURES / JOINT["folder"]).glob("signPri.key")).read_bytes()
    assert npki.decrypt(original, PASSWORD)

    def attempt(data: bytes) -> None:
        with contextlib.suppress(KeyFileError, WrongPasswordError):
            npki.decrypt(data, PASSWORD)

    assert _exhaust(mutations(original), attempt) > 2 * len(original)


def test_every_edit_of_a_sign_cert_is_a_certificate_or_a_key_file_error(tmp_path):
    original = next((FIXTURES / JOINT["folder"]).glob("signCert.der")).read_bytes()
    path = tmp_path / "signCert.der"

    def attempt(data: bytes) -> None:
        path.write_bytes(data)
        try:
            cert = npki.read_certificate(path)
        except KeyFileError:
            return
        _read_names(cert)

    assert _exhaust(mutations(original), attempt) > 2 * len(original)


def _pfx_without_mac() -> bytes:
    """The joint fixture as a PFX without MAC data (as ``openssl pkcs12 -nomac`` writes)
    and one PBKDF2 iteration: every edit then reaches the bags and the key, where a MAC
    would stop all of them at its check, and costs microseconds, not a KDF. Seeded, so
    the same bytes on every run."""
    from asn1crypto import pkcs12 as asn1_pkcs12

    from pki.entropy import SeededEntropy
    from pki.keys.atrest import load_private_key_file

    credential = npki.load(FIXTURES / JOINT["folder"], PASSWORD)
    key = load_private_key_file(FIXTURES / "keys" / "joint.key.pem", None)
    data = pkcs12.dumps(credential.certificate, key, PASSWORD,  # type: ignore[arg-type]
                        r=credential.r, iterations=1, entropy=SeededEntropy("mutation"))
    pfx = asn1_pkcs12.Pfx.load(data)
    return asn1_pkcs12.Pfx({"version": pfx["version"], "auth_safe": pfx["auth_safe"]}).dump()


def _read_names(cert: x509.Certificate) -> None:
    """Read what every caller reads: a certificate a reader returned must not warn later."""
    assert cert.subject.rfc4514_string() is not None
    assert cert.issuer.rfc4514_string() is not None


def _attempt_pfx(data: bytes) -> None:
    try:
        credential = pkcs12.loads(data, PASSWORD)
    except PKIError:
        return
    for cert in (credential.certificate, *credential.additional_certificates):
        _read_names(cert)


def test_every_edit_of_a_pfx_is_a_credential_or_a_typed_error():
    original = _pfx_without_mac()
    assert pkcs12.loads(original, PASSWORD).r == bytes.fromhex(JOINT["r"])
    assert _exhaust(mutations(original), _attempt_pfx) > 2 * len(original)


def test_every_edit_of_a_pfx_mac_is_a_typed_error():
    # The committed PFX, outside the authenticated safe (whose edits all end at the MAC
    # check, each costing a 2,048-iteration KDF): the envelope and the MAC data.
    original = (FIXTURES / "pfx" / "joint.pfx").read_bytes()
    from asn1crypto import pkcs12 as asn1_pkcs12

    safe = asn1_pkcs12.Pfx.load(original)["auth_safe"]["content"].contents
    start = original.index(safe)
    positions = [*range(start), *range(start + len(safe), len(original))]
    assert _exhaust(mutations(original, positions), _attempt_pfx) > 2 * len(positions)


# -- revocation data -----------------------------------------------------------------------


def _joint_signature() -> bytes:
    return SIGNATURES["attached-attrs-contentinfo"]


def test_every_edit_of_a_crl_is_a_crl_or_a_revocation_data_error():
    original = (FIXTURES / "crl" / "yessign-full.crl").read_bytes()
    root, signature = _cert("root.pem"), _joint_signature()
    revoked = int(MANIFEST["certificates"]["revoked"]["serial"], 16)
    ca, root_crl = _cert("yessign-ca.pem"), _root_crl()

    def attempt(data: bytes) -> None:
        try:
            index = CRLIndex.load(data)
        except RevocationDataError:
            return
        with contextlib.suppress(RevocationDataError):
            index.lookup(revoked)
        index.signed_by(ca)
        result = Verifier(trust=[root], crls=[index, root_crl]).verify(signature, at=NOW)
        assert result.check("revocation") is not None

    assert _exhaust(mutations(original), attempt) > 2 * len(original)


class _Records:
    """Just enough of a store for the responder: every serial is valid."""

    def status_of(self, ca, serial):
        return (CertStatus.VALID, None, None)


def test_every_edit_of_an_ocsp_request_gets_an_ocsp_response():
    from pki.keys.atrest import load_private_key_file
    from pki.store import CARecord

    ca = _cert("yessign-ca.pem")
    record = CARecord(label="yessign", parent="root", style="yessign",
                      der=ca.public_bytes(DER), crl_url="http://127.0.0.1/crl",
                      ocsp_url=None, cps_url=None, created_at=NOW)
    key = load_private_key_file(FIXTURES / "keys" / "ocsp.key.pem", None)
    from pki.clock import FixedClock

    responder = OCSPResponder(record, _cert("ocsp-responder.pem"), key,  # type: ignore[arg-type]
                              _Records(), FixedClock(NOW))  # type: ignore[arg-type]
    original = (FIXTURES / "ocsp" / "good.req").read_bytes()

    def attempt(data: bytes) -> None:
        answer = ocsp.load_der_ocsp_response(responder.respond(data))
        assert answer.response_status in ocsp.OCSPResponseStatus

    assert _exhaust(mutations(original), attempt) > 2 * len(original)


def test_every_edit_of_an_ocsp_response_is_a_status_or_a_reason():
    original = (FIXTURES / "ocsp" / "good.resp").read_bytes()
    cert = x509.load_der_x509_certificate(
        next((FIXTURES / JOINT["folder"]).glob("signCert.der")).read_bytes())
    ca, root, signature = _cert("yessign-ca.pem"), _cert("root.pem"), _joint_signature()
    assert check_ocsp_response(original, cert, ca, at=NOW).revoked_at is None

    def attempt(data: bytes) -> None:
        with contextlib.suppress(RevocationUnavailable):
            check_ocsp_response(data, cert, ca, at=NOW)

    assert _exhaust(mutations(original), attempt) > 2 * len(original)
    # The verifier asks through the same function: through it, every edit at a length octet.
    answers: list[bytes] = []
    verifier = Verifier(trust=[root], crls=[_root_crl()], use_ocsp=True,  # root CRL: the CA
                        http=lambda url, body: answers[-1])

    def through_verifier(data: bytes) -> None:
        answers.append(data)
        assert verifier.verify(signature, at=NOW).check("revocation") is not None

    lengths = length_octets(original)
    assert _exhaust(mutations(original, lengths), through_verifier) > 3 * len(lengths)


def test_an_ocsp_request_built_from_the_fixture_matches_the_committed_one():
    # The committed request is what the responder test mutates: keep them the same shape.
    cert = x509.load_der_x509_certificate(
        next((FIXTURES / JOINT["folder"]).glob("signCert.der")).read_bytes())
    request = ocsp.load_der_ocsp_request((FIXTURES / "ocsp" / "good.req").read_bytes())
    assert request.serial_number == cert.serial_number
    assert isinstance(request.hash_algorithm, hashes.SHA256)
