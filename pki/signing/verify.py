"""Verifying CMS signatures: signature, chain, validity, revocation, policy and VID.

:func:`verify` (or a reusable :class:`Verifier`) returns a frozen
:class:`VerificationResult` listing every check with its outcome and a one-line summary.
It raises :class:`CannotEvaluateError` only when there is nothing to evaluate: the data
is not CMS SignedData, has no signer, or is detached and no content was given. Everything
else (a changed document, a wrong key, a revoked or expired signer, a path to no trusted
root, a VID that does not match) is a failed check with its reason.

Times: certificates are checked at the signing time (the signed signingTime attribute),
else at the time the caller gives, else now. A certificate revoked *after* that time still
passes the revocation check, reported as signed before revocation.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from asn1crypto import cms, core
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from ..clock import KST, Clock, SystemClock
from ..errors import PKIError, RevocationDataError
from ..rrn import RRN
from ..vid import VIDError, decode_identify_data, vid_matches
from .envelope import open_r_envelope

__all__ = [
    "CRLIndex",
    "CannotEvaluateError",
    "Check",
    "Outcome",
    "VerificationResult",
    "Verifier",
    "verify",
]

_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256,
    "sha384": hashes.SHA384, "sha512": hashes.SHA512,
}
_RSA_WITH = {"sha1_rsa": "sha1", "sha224_rsa": "sha224", "sha256_rsa": "sha256",
             "sha384_rsa": "sha384", "sha512_rsa": "sha512"}
MAX_CMS_BYTES = 64 * 1024 * 1024
MAX_CHAIN = 8


class CannotEvaluateError(PKIError):
    """There is nothing to verify: not SignedData, no signer, or detached without content."""


class Outcome(enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"  # not asked for


@dataclass(frozen=True)
class Check:
    name: str
    outcome: Outcome
    detail: str

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.PASSED


@dataclass(frozen=True)
class VerificationResult:
    """Every check made, in order, and what the signature says about itself."""

    checks: tuple[Check, ...]
    signer: x509.Certificate | None
    signing_time: dt.datetime | None
    checked_at: dt.datetime
    content: bytes | None = field(repr=False, default=None)
    """The signed content, when the signature carries it."""

    @property
    def ok(self) -> bool:
        """No check failed (skipped checks were not asked for)."""
        return all(c.outcome is not Outcome.FAILED for c in self.checks)

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)

    @property
    def intact(self) -> bool:
        c = self.check("signature")
        return c is not None and c.passed

    @property
    def trusted(self) -> bool:
        c = self.check("chain")
        return c is not None and c.passed

    @property
    def signer_name(self) -> str:
        if self.signer is None:
            return "an unknown signer"
        try:
            san = self.signer.extensions.get_extension_for_class(
                x509.SubjectAlternativeName).value
            for other in san.get_values_for_type(x509.OtherName):
                return decode_identify_data(other.value).real_name
        except (x509.ExtensionNotFound, VIDError, ValueError):
            pass
        cn = self.signer.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(cn[0].value) if cn else self.signer.subject.rfc4514_string()

    def summary(self) -> str:
        when = (f" on {self.signing_time.astimezone(KST):%Y-%m-%d %H:%M:%S} KST"
                if self.signing_time else "")
        if self.ok:
            notes = [c.detail for c in self.checks
                     if c.passed and "before revocation" in c.detail]
            extra = f" ({notes[0]})" if notes else ""
            return f"valid: signed by {self.signer_name}{when}{extra}"
        failed = next(c for c in self.checks if c.outcome is Outcome.FAILED)
        return f"invalid: {failed.name}: {failed.detail}"

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "summary": self.summary(),
            "signer": None if self.signer is None else self.signer.subject.rfc4514_string(),
            "signer_serial": None if self.signer is None else format(
                self.signer.serial_number, "X"),
            "signing_time": None if self.signing_time is None else
            self.signing_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "checked_at": self.checked_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "checks": [{"check": c.name, "outcome": c.outcome.value, "detail": c.detail}
                       for c in self.checks],
        }


@dataclass(frozen=True)
class _Revocation:
    at: dt.datetime
    reason: x509.ReasonFlags | None


class CRLIndex:
    """A CRL loaded once, with O(1) look-ups by serial however long it is."""

    def __init__(self, crl: x509.CertificateRevocationList) -> None:
        self.crl = crl
        self.issuer = crl.issuer
        with warnings.catch_warnings():
            warnings.simplefilter("error", CryptographyDeprecationWarning)
            try:
                self._entries: dict[int, x509.RevokedCertificate] = {
                    r.serial_number: r for r in crl}
            except CryptographyDeprecationWarning as exc:
                raise PKIError(f"the CRL is malformed: {exc}") from None
        self._signers: dict[bytes, bool] = {}
        try:
            self.number: int | None = crl.extensions.get_extension_for_class(
                x509.CRLNumber).value.crl_number
        except x509.ExtensionNotFound:
            self.number = None

    @classmethod
    def load(cls, data: bytes) -> CRLIndex:
        """A CRL from DER or PEM bytes; :class:`RevocationDataError` if it is not one."""
        try:
            if data.lstrip().startswith(b"-----BEGIN"):
                return cls(x509.load_pem_x509_crl(data))
            return cls(x509.load_der_x509_crl(data))
        except (ValueError, x509.InvalidVersion) as exc:
            raise RevocationDataError(f"not a CRL: {exc}") from None

    def __len__(self) -> int:
        return len(self._entries)

    def signed_by(self, issuer: x509.Certificate) -> bool:
        """Whether ``issuer`` signed this CRL; checked once per issuer, the CRL may be
        tens of megabytes."""
        key = issuer.public_bytes(serialization.Encoding.DER)
        known = self._signers.get(key)
        if known is None:
            try:
                known = self.crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
            except (TypeError, ValueError, UnsupportedAlgorithm):
                known = False
            self._signers[key] = known
        return known

    def lookup(self, serial: int) -> _Revocation | None:
        entry = self._entries.get(serial)
        if entry is None:
            return None
        try:
            reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        except x509.ExtensionNotFound:
            reason = None
        except (ValueError, x509.DuplicateExtension) as exc:  # e.g. an unassigned reason code
            raise RevocationDataError(
                f"the CRL has a malformed entry for serial {serial:X}: {exc}") from None
        if reason is x509.ReasonFlags.remove_from_crl:
            return None
        return _Revocation(entry.revocation_date_utc, reason)


def _http(url: str, body: bytes | None = None) -> bytes:
    if not url.startswith(("http://", "https://")):
        raise PKIError(f"only http(s) URLs are fetched, not {url!r}")
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/ocsp-request"} if body else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return bytes(response.read(32 * 1024 * 1024))
    except (urllib.error.URLError, OSError) as exc:
        raise PKIError(f"cannot fetch {url}: {exc}") from None


def _name(cert: x509.Certificate) -> str:
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(cn[0].value) if cn else cert.subject.rfc4514_string()


def _kst(value: dt.datetime) -> str:
    return f"{value.astimezone(KST):%Y-%m-%d %H:%M:%S} KST"


class Verifier:
    """Verifies many signatures against the same trust anchors and revocation sources.

    ``crls`` are loaded CRLs (:class:`CRLIndex`); with ``fetch_crls`` the CRL at each
    certificate's distribution point is fetched (once per URL); with ``use_ocsp`` the OCSP
    responder at its AIA URL is asked. ``http`` fetches a URL (with a body: POST) and is
    replaceable for tests.
    """

    def __init__(self, *, trust: Iterable[x509.Certificate] = (),
                 intermediates: Iterable[x509.Certificate] = (),
                 crls: Iterable[CRLIndex] = (), fetch_crls: bool = False,
                 use_ocsp: bool = False, policy: str | None = None,
                 clock: Clock | None = None,
                 http: Callable[[str, bytes | None], bytes] = _http) -> None:
        self.trust = list(trust)
        self._trust_der = {t.public_bytes(serialization.Encoding.DER) for t in self.trust}
        self.intermediates = list(intermediates)
        self.crls = list(crls)
        self.fetch_crls = fetch_crls
        self.use_ocsp = use_ocsp
        self.policy = policy
        self.clock: Clock = clock or SystemClock()
        self.http = http
        self._fetched: dict[str, CRLIndex] = {}
        self._links: dict[tuple[bytes, bytes], bool] = {}
        # Verifications repeat the same certificates: parse each once, and remember the
        # paths built (they depend only on the certificates, not on the time).
        self._certs: dict[bytes, x509.Certificate] = {}
        self._paths: dict[tuple[bytes, frozenset[bytes]],
                          tuple[list[x509.Certificate], Check]] = {}
        self._usages: dict[bytes, Check] = {}

    # -- the CMS ----------------------------------------------------------------------

    @staticmethod
    def _parse(data: bytes) -> cms.SignedData:
        if not isinstance(data, bytes | bytearray) or not data:
            raise CannotEvaluateError("no signature data")
        if len(data) > MAX_CMS_BYTES:
            raise CannotEvaluateError("the signature is too large")
        data = bytes(data)
        if data.lstrip().startswith(b"-----BEGIN"):
            from asn1crypto import pem

            try:
                _, _, data = pem.unarmor(data)
            except ValueError as exc:
                raise CannotEvaluateError(f"not PEM: {exc}") from None
        try:
            info = cms.ContentInfo.load(data, strict=True)
            if info["content_type"].native != "signed_data":
                raise CannotEvaluateError(
                    f"not SignedData but {info['content_type'].native}")
            return info["content"]
        except CannotEvaluateError:
            raise
        except (ValueError, TypeError, KeyError):
            pass
        try:
            signed = cms.SignedData.load(data, strict=True)
            signed["version"].native  # noqa: B018 - a bare SignedData starts with its version
            return signed
        except (ValueError, TypeError, KeyError) as exc:
            raise CannotEvaluateError(f"not CMS SignedData: {exc}".splitlines()[0]) from None

    def verify(self, data: bytes, *, content: bytes | None = None, at: dt.datetime | None = None,
               rrn: RRN | str | None = None, r: bytes | None = None,
               r_envelope: bytes | None = None,
               recipient_key: rsa.RSAPrivateKey | None = None) -> VerificationResult:
        """Verify one signature; see the module documentation."""
        try:
            return self._verify(data, content=content, at=at, rrn=rrn, r=r,
                                r_envelope=r_envelope, recipient_key=recipient_key)
        except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
            # asn1crypto parses lazily: a damaged structure shows up here.
            if isinstance(exc, PKIError):
                raise
            raise CannotEvaluateError(f"malformed CMS: {exc}".splitlines()[0]) from None

    def _verify(self, data: bytes, *, content: bytes | None, at: dt.datetime | None,
                rrn: RRN | str | None, r: bytes | None, r_envelope: bytes | None,
                recipient_key: rsa.RSAPrivateKey | None) -> VerificationResult:
        signed = self._parse(data)
        infos = list(signed["signer_infos"])
        if not infos:
            raise CannotEvaluateError("the SignedData has no signer")
        info = infos[0]
        attached = signed["encap_content_info"]["content"].native
        if attached is None and content is None:
            raise CannotEvaluateError("a detached signature: give the signed content")
        checks: list[Check] = []
        document = attached if content is None else bytes(content)
        if attached is not None and content is not None and attached != content:
            checks.append(Check("content", Outcome.FAILED,
                                "the given content differs from the content inside the signature"))

        cert_ders = [c.chosen.dump() for c in signed["certificates"]
                     if c.name == "certificate"] if _present(signed["certificates"]) else []
        certs = [self._certificate(der) for der in cert_ders]
        signer = self._find_signer(info, certs)
        signing_time = self._signing_time(info)
        when = signing_time or at or self.clock.now()

        if signer is None:
            checks.append(Check("signer-certificate", Outcome.FAILED,
                                "the signature does not carry the signer's certificate"))
            checks.append(Check("signature", Outcome.FAILED,
                                "cannot be checked without the signer's certificate"))
            return VerificationResult(tuple(checks), None, signing_time, when, attached)
        checks.append(Check("signer-certificate", Outcome.PASSED,
                            f"{_name(signer)} (serial {signer.serial_number:X})"))
        checks.append(self._signature(info, signer, document))
        signer_der = signer.public_bytes(serialization.Encoding.DER)
        path_key = (signer_der, frozenset(cert_ders))
        cached = self._paths.get(path_key)
        if cached is None:
            if len(self._paths) > 1024:
                self._paths.clear()
            cached = self._paths[path_key] = self._chain(signer, certs)
        path, chain_check = cached
        checks.append(chain_check)
        checks.append(self._validity(path, when))
        usage = self._usages.get(signer_der)
        if usage is None:
            usage = self._usages[signer_der] = self._key_usage(signer)
            if len(self._usages) > 4096:
                self._usages.clear()
        checks.append(usage)
        checks.append(self._revocation(signer, path, when))
        if self.policy is not None:
            checks.append(self._policy(signer))
        if rrn is not None or r is not None or r_envelope is not None:
            checks.append(self._vid(signer, rrn, r, r_envelope, recipient_key))
        return VerificationResult(tuple(checks), signer, signing_time, when, attached)

    def _certificate(self, der: bytes) -> x509.Certificate:
        cert = self._certs.get(der)
        if cert is None:
            if len(self._certs) > 4096:
                self._certs.clear()
            with warnings.catch_warnings():
                # pyca only warns (lazily, on access) about a certificate RFC 5280 forbids,
                # such as one with a non-positive serial: treat it as the malformed input
                # it is, once, here.
                warnings.simplefilter("error", CryptographyDeprecationWarning)
                try:
                    cert = x509.load_der_x509_certificate(der)
                    cert.serial_number  # noqa: B018
                except (CryptographyDeprecationWarning, x509.InvalidVersion, ValueError) as exc:
                    raise CannotEvaluateError(
                        f"a certificate in the signature is malformed: {exc}") from None
            self._certs[der] = cert
        return cert

    @staticmethod
    def _find_signer(info: cms.SignerInfo, certs: list[x509.Certificate]
                     ) -> x509.Certificate | None:
        sid = info["sid"]
        for cert in certs:
            if sid.name == "issuer_and_serial_number":
                if (cert.serial_number == sid.chosen["serial_number"].native
                        and cert.issuer.public_bytes() == sid.chosen["issuer"].dump()):
                    return cert
            else:
                try:
                    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
                except x509.ExtensionNotFound:
                    continue
                if ski.value.digest == sid.chosen.native:
                    return cert
        return None

    @staticmethod
    def _signing_time(info: cms.SignerInfo) -> dt.datetime | None:
        attrs = info["signed_attrs"]
        if not _present(attrs):
            return None
        for attr in attrs:
            if attr["type"].native == "signing_time":
                value = attr["values"][0].native
                return value.astimezone(dt.UTC) if isinstance(value, dt.datetime) else None
        return None

    # -- the checks -------------------------------------------------------------------

    @staticmethod
    def _signature(info: cms.SignerInfo, signer: x509.Certificate, document: bytes) -> Check:
        digest_name = info["digest_algorithm"]["algorithm"].native
        if digest_name not in _HASHES:
            return Check("signature", Outcome.FAILED, f"unsupported digest {digest_name}")
        digest_algorithm = _HASHES[digest_name]()
        algorithm = info["signature_algorithm"]
        name = algorithm["algorithm"].native
        pad: padding.AsymmetricPadding
        if name == "rsassa_pss":
            params = algorithm["parameters"]
            pss_hash = params["hash_algorithm"]["algorithm"].native
            mgf_hash = params["mask_gen_algorithm"]["parameters"]["algorithm"].native
            if pss_hash != digest_name or mgf_hash != digest_name:
                return Check("signature", Outcome.FAILED,
                             f"the PSS hash ({pss_hash}/{mgf_hash}) is not the digest "
                             f"algorithm ({digest_name})")
            pad = padding.PSS(mgf=padding.MGF1(_HASHES[mgf_hash]()),
                              salt_length=params["salt_length"].native)
        elif name == "rsassa_pkcs1v15":
            pad = padding.PKCS1v15()
        elif name in _RSA_WITH:
            if _RSA_WITH[name] != digest_name:
                return Check("signature", Outcome.FAILED,
                             f"the signature algorithm {name} does not match the digest "
                             f"algorithm {digest_name}")
            pad = padding.PKCS1v15()
        else:
            return Check("signature", Outcome.FAILED, f"unsupported signature algorithm {name}")

        attrs = info["signed_attrs"]
        if _present(attrs):
            digest = None
            content_type = None
            for attr in attrs:
                kind = attr["type"].native
                if kind == "message_digest":
                    digest = attr["values"][0].native
                elif kind == "content_type":
                    content_type = attr["values"][0].native
            if digest is None:
                return Check("signature", Outcome.FAILED, "the signed attributes have no "
                             "message digest")
            if content_type not in ("data", None):
                return Check("signature", Outcome.FAILED,
                             f"signed content type {content_type} is not data")
            if digest != hashlib.new(digest_name, document).digest():
                return Check("signature", Outcome.FAILED,
                             "the document does not match the signed message digest "
                             "(it was changed, or it is not the signed content)")
            signed_bytes = b"\x31" + attrs.dump()[1:]
        else:
            signed_bytes = document
        public_key = signer.public_key()
        if not isinstance(public_key, rsa.RSAPublicKey):
            return Check("signature", Outcome.FAILED, "the signer's key is not RSA")
        try:
            public_key.verify(info["signature"].native, signed_bytes, pad, digest_algorithm)
        except InvalidSignature:
            return Check("signature", Outcome.FAILED,
                         "the signature does not verify with the signer's key")
        except (ValueError, UnsupportedAlgorithm) as exc:
            return Check("signature", Outcome.FAILED, f"the signature cannot be checked: {exc}")
        kind = "PSS" if name == "rsassa_pss" else "PKCS #1 v1.5"
        attrs_text = "signed attributes" if _present(attrs) else "no signed attributes"
        return Check("signature", Outcome.PASSED,
                     f"intact ({kind}, {digest_name}, {attrs_text})")

    def _issued_by(self, cert: x509.Certificate, issuer: x509.Certificate) -> bool:
        key = (cert.tbs_certificate_bytes, issuer.public_bytes(serialization.Encoding.DER))
        known = self._links.get(key)
        if known is None:
            try:
                cert.verify_directly_issued_by(issuer)
                known = True
            except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
                known = False
            if len(self._links) > 4096:
                self._links.clear()
            self._links[key] = known
        return known

    def _chain(self, signer: x509.Certificate, certs: list[x509.Certificate]
               ) -> tuple[list[x509.Certificate], Check]:
        pool = [*certs, *self.intermediates, *self.trust]
        path = [signer]
        current = signer
        while len(path) <= MAX_CHAIN:
            if current.public_bytes(serialization.Encoding.DER) in self._trust_der:
                return path, Check("chain", Outcome.PASSED,
                                   " <- ".join(_name(c) for c in path) + " (trusted)")
            if current.subject == current.issuer:
                break  # a root, but not one of ours
            issuer = next((c for c in pool if c.subject == current.issuer
                           and self._issued_by(current, c)), None)
            if issuer is None:
                break
            if not _is_ca(issuer):
                return path, Check("chain", Outcome.FAILED,
                                   f"{_name(issuer)} is not a CA certificate")
            path.append(issuer)
            current = issuer
        else:
            return path, Check("chain", Outcome.FAILED, "the chain is too long")
        top = path[-1]
        if not self.trust:
            return path, Check("chain", Outcome.FAILED,
                               f"untrusted: no trust anchor configured (the chain ends at "
                               f"{_name(top)})")
        return path, Check("chain", Outcome.FAILED,
                           f"untrusted: no path to a configured root (the chain ends at "
                           f"{_name(top)})")

    @staticmethod
    def _validity(path: list[x509.Certificate], when: dt.datetime) -> Check:
        for cert in path:
            if when < cert.not_valid_before_utc:
                return Check("validity", Outcome.FAILED,
                             f"{_name(cert)} was not yet valid at {_kst(when)}")
            if when > cert.not_valid_after_utc:
                return Check("validity", Outcome.FAILED,
                             f"{_name(cert)} had expired at {_kst(when)}")
        return Check("validity", Outcome.PASSED, f"every certificate valid at {_kst(when)}")

    @staticmethod
    def _key_usage(signer: x509.Certificate) -> Check:
        try:
            usage = signer.extensions.get_extension_for_class(x509.KeyUsage).value
        except x509.ExtensionNotFound:
            return Check("key-usage", Outcome.PASSED, "no keyUsage restriction")
        if usage.digital_signature or usage.content_commitment:
            return Check("key-usage", Outcome.PASSED, "digitalSignature/nonRepudiation")
        return Check("key-usage", Outcome.FAILED,
                     "the certificate is not for signing (no digitalSignature or "
                     "nonRepudiation)")

    def _revocation(self, signer: x509.Certificate, path: list[x509.Certificate],
                    when: dt.datetime) -> Check:
        if not (self.crls or self.fetch_crls or self.use_ocsp):
            return Check("revocation", Outcome.SKIPPED, "not checked (no CRL or OCSP asked for)")
        issuer = path[1] if len(path) > 1 else None
        if issuer is None:
            return Check("revocation", Outcome.FAILED,
                         "cannot check revocation without the issuer's certificate")
        try:
            if self.use_ocsp:
                status = self._ocsp_status(signer, issuer)
                source = "OCSP"
            else:
                index = self._crl_for(signer, issuer)
                status = index.lookup(signer.serial_number)
                source = f"CRL {index.number}" if index.number is not None else "CRL"
        except PKIError as exc:
            return Check("revocation", Outcome.FAILED, str(exc))
        if status is None:
            return Check("revocation", Outcome.PASSED, f"not revoked ({source})")
        reason = status.reason.value if status.reason else "unspecified"
        if status.reason is x509.ReasonFlags.certificate_hold:
            if status.at > when:
                return Check("revocation", Outcome.PASSED,
                             f"suspended on {_kst(status.at)}, after it signed ({source})")
            return Check("revocation", Outcome.FAILED,
                         f"the certificate is suspended since {_kst(status.at)} ({source})")
        if status.at > when:
            return Check("revocation", Outcome.PASSED,
                         f"signed before revocation: revoked on {_kst(status.at)} ({reason}), "
                         f"after the signing time ({source})")
        return Check("revocation", Outcome.FAILED,
                     f"the certificate was revoked on {_kst(status.at)} ({reason}) ({source})")

    def _crl_for(self, signer: x509.Certificate, issuer: x509.Certificate) -> CRLIndex:
        for index in self.crls:
            if index.issuer == signer.issuer:
                if not index.signed_by(issuer):
                    raise PKIError("the CRL's signature does not verify with the issuer's key")
                return index
        if not self.fetch_crls:
            raise PKIError(f"no CRL from {_name(issuer)} was given")
        try:
            points = signer.extensions.get_extension_for_class(x509.CRLDistributionPoints)
        except x509.ExtensionNotFound:
            raise PKIError("the certificate names no CRL distribution point") from None
        urls = [n.value for p in points.value for n in (p.full_name or [])
                if isinstance(n, x509.UniformResourceIdentifier)]
        if not urls:
            raise PKIError("the certificate names no CRL URL")
        url = urls[0]
        cached = self._fetched.get(url)
        if cached is not None:
            return cached
        index = CRLIndex.load(self.http(url, None))
        if index.issuer != signer.issuer or not index.signed_by(issuer):
            raise PKIError(f"the CRL at {url} is not signed by {_name(issuer)}")
        self._fetched[url] = index
        return index

    def refresh(self) -> None:
        """Forget fetched CRLs (after a revocation, say)."""
        self._fetched.clear()

    def _ocsp_status(self, signer: x509.Certificate, issuer: x509.Certificate
                     ) -> _Revocation | None:
        try:
            aia = signer.extensions.get_extension_for_class(x509.AuthorityInformationAccess)
        except x509.ExtensionNotFound:
            raise PKIError("the certificate names no OCSP responder") from None
        urls = [d.access_location.value for d in aia.value
                if d.access_method == x509.oid.AuthorityInformationAccessOID.OCSP]
        if not urls:
            raise PKIError("the certificate names no OCSP responder")
        request = ocsp.OCSPRequestBuilder().add_certificate(signer, issuer, hashes.SHA256())
        try:
            response = ocsp.load_der_ocsp_response(self.http(
                urls[0], request.build().public_bytes(serialization.Encoding.DER)))
        except ValueError as exc:
            raise PKIError(f"the OCSP response is malformed: {exc}") from None
        if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
            raise PKIError(f"the OCSP responder answered {response.response_status.name}")
        responder = next((c for c in response.certificates
                          if c.subject == issuer.subject or self._issued_by(c, issuer)), issuer)
        if responder is not issuer:
            try:
                eku = responder.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            except x509.ExtensionNotFound:
                eku = None
            if eku is None or x509.oid.ExtendedKeyUsageOID.OCSP_SIGNING not in eku:
                raise PKIError("the OCSP responder is not authorised by the issuer")
        responder_key = responder.public_key()
        hash_algorithm = response.signature_hash_algorithm
        if not isinstance(responder_key, rsa.RSAPublicKey) or hash_algorithm is None:
            raise PKIError("the OCSP response is not signed with RSA")
        try:
            responder_key.verify(response.signature, response.tbs_response_bytes,
                                 padding.PKCS1v15(), hash_algorithm)
        except InvalidSignature:
            raise PKIError("the OCSP response's signature does not verify") from None
        if response.serial_number != signer.serial_number:
            raise PKIError("the OCSP response is about another certificate")
        if response.certificate_status is ocsp.OCSPCertStatus.GOOD:
            return None
        if response.certificate_status is ocsp.OCSPCertStatus.UNKNOWN:
            raise PKIError("the OCSP responder does not know the certificate")
        revoked_at = response.revocation_time_utc
        assert revoked_at is not None
        return _Revocation(revoked_at, response.revocation_reason)

    def _policy(self, signer: x509.Certificate) -> Check:
        try:
            policies = signer.extensions.get_extension_for_class(x509.CertificatePolicies)
        except x509.ExtensionNotFound:
            return Check("policy", Outcome.FAILED, "the certificate carries no policy")
        found = [p.policy_identifier.dotted_string for p in policies.value]
        if self.policy in found:
            return Check("policy", Outcome.PASSED, f"policy {self.policy}")
        return Check("policy", Outcome.FAILED,
                     f"policy {', '.join(found)} is not the required {self.policy}")

    @staticmethod
    def _vid(signer: x509.Certificate, rrn: RRN | str | None, r: bytes | None,
             r_envelope: bytes | None, recipient_key: rsa.RSAPrivateKey | None) -> Check:
        if rrn is None:
            return Check("vid", Outcome.FAILED, "the VID check needs the resident number")
        holder = rrn if isinstance(rrn, RRN) else RRN.parse(rrn)
        if r is None and r_envelope is not None:
            if recipient_key is None:
                return Check("vid", Outcome.FAILED, "the R envelope needs the relying "
                             "party's private key")
            try:
                r = open_r_envelope(r_envelope, recipient_key)
            except PKIError as exc:
                return Check("vid", Outcome.FAILED, f"cannot open the R envelope: {exc}")
        if r is None:
            return Check("vid", Outcome.FAILED, "the VID check needs R")
        try:
            san = signer.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            others = san.get_values_for_type(x509.OtherName)
            data = decode_identify_data(others[0].value) if others else None
        except (x509.ExtensionNotFound, VIDError):
            data = None
        if data is None or data.vid is None:
            return Check("vid", Outcome.FAILED, "the certificate carries no VID")
        if vid_matches(data, holder, r):
            return Check("vid", Outcome.PASSED,
                         f"the signer is the holder of {holder} ({data.real_name})")
        return Check("vid", Outcome.FAILED,
                     "the VID does not match this resident number and R (not the holder)")


def _present(value: object) -> bool:
    return not isinstance(value, core.Void)


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False



def verify(data: bytes, *, content: bytes | None = None,
           trust: Sequence[x509.Certificate] = (), **options: Any) -> VerificationResult:
    """Verify one signature with a fresh :class:`Verifier`; ``options`` are split between
    the verifier (crls, fetch_crls, use_ocsp, policy, clock, intermediates) and the call
    (at, rrn, r, r_envelope, recipient_key)."""
    call_keys = {"at", "rrn", "r", "r_envelope", "recipient_key"}
    call = {k: v for k, v in options.items() if k in call_keys}
    setup = {k: v for k, v in options.items() if k not in call_keys}
    return Verifier(trust=trust, **setup).verify(data, content=content, **call)
