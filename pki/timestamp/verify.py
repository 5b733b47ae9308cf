"""Verifying time-stamp tokens: a time a relying party can trust, or the reason why not.

The one entry point (it needs nothing from :mod:`pki.signing.verify`; revocation data is
read by :mod:`pki.signing.status`, the signing verifier's own sources)::

    verify_timestamp_token(
        token: bytes,                       # DER ContentInfo: the token itself
        *,
        signature_value: bytes,             # the stamped bytes; for a signature time stamp
                                            # (id-aa-signatureTimeStampToken) the
                                            # SignerInfo's signature value
        trust: Iterable[x509.Certificate],  # trust anchors (a home's root)
        intermediates: Iterable[x509.Certificate] = (),  # CA / TSA certificates the token
                                            # may not carry (openssl's -untrusted)
        at: datetime | None = None,         # validation time; default: clock.now()
        clock: Clock | None = None,
        crls: Iterable[bytes | x509.CertificateRevocationList] = (),  # full CRLs (PEM/DER)
        ocsp_responses: Iterable[bytes] = (),    # DER OCSP responses
        fetch_crls: bool = False,           # fetch the CRL at each certificate's CRL DP
        http: Callable[[str, bytes | None], bytes] | None = None,  # for fetch_crls;
                                            # default pki.signing.fetch.fetch: one
                                            # deadline per fetch, a size cap
        check_revocation: bool = True,      # False: reported as skipped, never silent
        allow_stale: bool = False,          # accept revocation data past nextUpdate
        nonce: int | None = None,           # require this nonce (a fresh request's)
        policy: str | None = None,          # require this TSA policy OID
    ) -> TokenVerification                  # frozen; .ok, .trusted_time, .checks, .failure

It never raises for bad input: a malformed token, a token over other data, a TSA
certificate without the critical timeStamping extended key usage, a TSA outside the trust
anchors, a nonce or policy mismatch, a revoked TSA, missing or stale revocation data are
each a failed :class:`TokenCheck` with its reason. ``trusted_time`` is the token's genTime
only when every check passed.

The checks, in order: ``token`` (a SignedData over a TSTInfo), ``imprint`` (SHA-256/384/
512 of ``signature_value``), ``nonce`` and ``policy`` when asked, ``tsa-certificate`` (the
signer's certificate is found and is the one the signed signingCertificate(V2) attribute
names), ``token-signature`` (contentType TSTInfo, messageDigest, the RSA signature),
``tsa-usage`` (extendedKeyUsage critical and id-kp-timeStamping alone, RFC 3161 2.3; a
keyUsage, if present, allows signing), ``tsa-chain`` (a path of CA certificates to a trust
anchor), ``tsa-validity`` (every certificate valid at the validation time, the TSA's at
genTime too, genTime not after the validation time) and ``tsa-revocation`` (each
certificate below the anchor, through an OCSP response or the CRLs of its issuer, read by
the signing verifier's rules in :mod:`pki.signing.status`: current at the validation time,
thisUpdate <= time <= nextUpdate, in scope, a delta CRL only beside its full base CRL).

Revocation and genTime (genTime is the TSA's own claim): a certificate revoked at or before
genTime, or with an invalidityDate at or before it, fails; one revoked later passes only for
reasons that cannot mean a misused key (superseded, affiliationChanged,
cessationOfOperation, privilegeWithdrawn); keyCompromise, cACompromise, unspecified, no
reason and certificateHold fail, since whoever held the key could have made the token.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar, cast

from asn1crypto import cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from .. import oids
from ..clock import KST, Clock, SystemClock
from ..errors import RevocationDataError, TimestampError
from ..parsing import PARSE_WARNINGS, load_certificate
from ..signing.fetch import fetch
from ..signing.status import (
    CRLIndex,
    CRLSource,
    FetchedCRLSource,
    RevocationUnavailable,
    Status,
    check_ocsp_response,
)
from .authority import ACCEPTED_HASHES
from .protocol import TokenInfo, _info, load_token

__all__ = [
    "BENIGN_REASONS",
    "SignatureTimestamp",
    "TokenCheck",
    "TokenOutcome",
    "TokenVerification",
    "signature_timestamps",
    "timestamp_tokens",
    "verify_timestamp_token",
]

_T = TypeVar("_T")
_PARSE_ERRORS: tuple[type[BaseException], ...] = (
    ValueError, TypeError, KeyError, IndexError, OverflowError, UnsupportedAlgorithm,
    x509.DuplicateExtension, x509.UnsupportedGeneralNameType, x509.InvalidVersion,
    *PARSE_WARNINGS)
"""What asn1crypto and pyca raise for damaged input, some of it only when a field is read,
and what pyca only warns about, raised inside :func:`pki.parsing.strict_parsing`."""

BENIGN_REASONS = frozenset({
    x509.ReasonFlags.superseded, x509.ReasonFlags.affiliation_changed,
    x509.ReasonFlags.cessation_of_operation, x509.ReasonFlags.privilege_withdrawn})
"""Revocation reasons that cannot mean the key was misused."""
MAX_CHAIN = 8
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
_RSA_WITH = {"sha256_rsa": "sha256", "sha384_rsa": "sha384", "sha512_rsa": "sha512"}


class TokenOutcome(enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"  # turned off by the caller, and said so


@dataclass(frozen=True)
class TokenCheck:
    name: str
    outcome: TokenOutcome
    detail: str

    @property
    def passed(self) -> bool:
        return self.outcome is TokenOutcome.PASSED


@dataclass(frozen=True)
class TokenVerification:
    """Every check made on one token, and what the token states."""

    checks: tuple[TokenCheck, ...]
    info: TokenInfo | None
    """What the TSTInfo states (genTime, serial, policy, ...); None if it did not parse."""
    tsa: x509.Certificate | None
    checked_at: dt.datetime
    """The validation time."""

    @property
    def ok(self) -> bool:
        return all(c.outcome is not TokenOutcome.FAILED for c in self.checks)

    @property
    def failure(self) -> TokenCheck | None:
        return next((c for c in self.checks if c.outcome is TokenOutcome.FAILED), None)

    @property
    def trusted_time(self) -> dt.datetime | None:
        """genTime, when every check passed; otherwise None."""
        return self.info.gen_time if self.ok and self.info is not None else None

    def check(self, name: str) -> TokenCheck | None:
        return next((c for c in self.checks if c.name == name), None)

    def summary(self) -> str:
        failed = self.failure
        if failed is not None:
            return f"time stamp invalid: {failed.name}: {failed.detail}"
        assert self.info is not None
        return f"time stamp valid: {_kst(self.info.gen_time)} by {_name(self.tsa)}"


@dataclass(frozen=True)
class SignatureTimestamp:
    """A signature time-stamp token and the signature value it should stamp."""

    token: bytes
    signature_value: bytes = field(repr=False)


def timestamp_tokens(info: cms.SignerInfo) -> tuple[bytes, ...]:
    """The DER tokens in a SignerInfo's id-aa-signatureTimeStampToken attributes."""
    attrs = info["unsigned_attrs"]
    if isinstance(attrs, core.Void):
        return ()
    return tuple(value.dump() for attr in attrs
                 if attr["type"].dotted == oids.SIGNATURE_TIME_STAMP_TOKEN.dotted_string
                 for value in attr["values"])


def signature_timestamps(data: bytes) -> tuple[SignatureTimestamp, ...]:
    """The signature time stamps of every signer of a DER CMS signature (ContentInfo or
    bare SignedData); :class:`TimestampError` if ``data`` is not one."""
    try:
        try:
            info = cms.ContentInfo.load(bytes(data), strict=True)
            signed = info["content"] if info["content_type"].native == "signed_data" else None
        except ValueError:
            signed = cms.SignedData.load(bytes(data), strict=True)
        if not isinstance(signed, cms.SignedData):
            raise TimestampError("not CMS SignedData")
        return tuple(SignatureTimestamp(token, info["signature"].native)
                     for info in signed["signer_infos"] for token in timestamp_tokens(info))
    except TimestampError:
        raise
    except Exception as exc:  # asn1crypto raises many exception types for malformed input
        raise TimestampError(f"not a CMS signature: {exc}".splitlines()[0]) from None


def verify_timestamp_token(
    token: bytes, *, signature_value: bytes, trust: Iterable[x509.Certificate],
    intermediates: Iterable[x509.Certificate] = (), at: dt.datetime | None = None,
    clock: Clock | None = None, crls: Iterable[bytes | x509.CertificateRevocationList] = (),
    ocsp_responses: Iterable[bytes] = (), fetch_crls: bool = False,
    http: Callable[[str, bytes | None], bytes] | None = None, check_revocation: bool = True,
    allow_stale: bool = False, nonce: int | None = None, policy: str | None = None,
) -> TokenVerification:
    """Verify one time-stamp token; see the module documentation."""
    if not isinstance(token, bytes | bytearray | memoryview):
        raise TypeError("token is the DER bytes of a time-stamp token")
    if not isinstance(signature_value, bytes | bytearray | memoryview):
        raise TypeError("signature_value is the bytes the token should stamp")
    when = (at or (clock or SystemClock()).now()).astimezone(dt.UTC)
    run = _Run(trust=list(trust), intermediates=list(intermediates), when=when,
               crls=list(crls), ocsp_responses=list(ocsp_responses), fetch_crls=fetch_crls,
               http=http or fetch, allow_stale=allow_stale)
    checks: list[TokenCheck] = []
    info: TokenInfo | None = None
    tsa: x509.Certificate | None = None
    try:
        info, tsa = run.verify(bytes(token), bytes(signature_value), checks, nonce=nonce,
                               policy=policy, check_revocation=check_revocation)
    except _Stop:
        pass
    except _PARSE_ERRORS as exc:
        # asn1crypto and pyca parse lazily: damage deep inside the token shows up here.
        text = str(exc).splitlines()[0] if str(exc) else ""
        checks.append(TokenCheck("token", TokenOutcome.FAILED,
                                 f"malformed: {type(exc).__name__}" + (f": {text}" if text
                                                                       else "")))
    return TokenVerification(tuple(checks), info, tsa, when)


class _Stop(Exception):
    """The checks that follow cannot be made."""


def _fail(checks: list[TokenCheck], name: str, detail: str) -> _Stop:
    checks.append(TokenCheck(name, TokenOutcome.FAILED, detail))
    return _Stop()


def _pass(checks: list[TokenCheck], name: str, detail: str) -> None:
    checks.append(TokenCheck(name, TokenOutcome.PASSED, detail))


@dataclass
class _Run:
    trust: list[x509.Certificate]
    intermediates: list[x509.Certificate]
    when: dt.datetime
    crls: list[bytes | x509.CertificateRevocationList]
    ocsp_responses: list[bytes]
    fetch_crls: bool
    http: Callable[[str, bytes | None], bytes]
    allow_stale: bool
    _sources: list[CRLSource | FetchedCRLSource] | None = None
    _bad_crls: list[str] = field(default_factory=list)

    def verify(self, token: bytes, value: bytes, checks: list[TokenCheck], *,
               nonce: int | None, policy: str | None, check_revocation: bool
               ) -> tuple[TokenInfo, x509.Certificate]:
        info, tsa, embedded = _token_checks(token, value, checks,
                                            known=[*self.intermediates, *self.trust],
                                            nonce=nonce, policy=policy)
        path = self._chain(tsa, [*embedded, *self.intermediates, *self.trust], checks)
        self._validity(path, info.gen_time, checks)
        if not check_revocation:
            checks.append(TokenCheck("tsa-revocation", TokenOutcome.SKIPPED,
                                     "not checked: turned off by the caller"))
        else:
            self._revocation(path, info.gen_time, checks)
        return info, tsa

    # -- the chain -------------------------------------------------------------------

    def _chain(self, tsa: x509.Certificate, pool: list[x509.Certificate],
               checks: list[TokenCheck]) -> list[x509.Certificate]:
        key = ("chain", tsa.signature, tuple(c.signature for c in pool),
               tuple(t.signature for t in self.trust))
        path, failure = _remember(key, lambda: self._build_chain(tsa, pool))
        if failure:
            raise _fail(checks, "tsa-chain", failure)
        _pass(checks, "tsa-chain", " <- ".join(_name(c) for c in path) + " (trusted)")
        return path

    def _build_chain(self, tsa: x509.Certificate, pool: list[x509.Certificate]
                     ) -> tuple[list[x509.Certificate], str]:
        """The path from ``tsa`` to a trust anchor, or why there is none."""
        path = [tsa]
        current = tsa
        while len(path) <= MAX_CHAIN:
            if any(current == anchor for anchor in self.trust):
                return path, ""
            if current.subject == current.issuer and _issued_by(current, current):
                break
            issuer = next((c for c in pool if c.subject == current.issuer
                           and _issued_by(current, c)), None)
            if issuer is None:
                break
            if not _is_ca(issuer):
                return path, f"{_name(issuer)} is not a CA certificate"
            path.append(issuer)
            current = issuer
        else:
            return path, "the chain is too long"
        return path, ("untrusted TSA: no path to a trust anchor (the chain ends at "
                      f"{_name(path[-1])})")

    def _validity(self, path: list[x509.Certificate], gen_time: dt.datetime,
                  checks: list[TokenCheck]) -> None:
        for cert in path:
            if not cert.not_valid_before_utc <= self.when <= cert.not_valid_after_utc:
                raise _fail(checks, "tsa-validity",
                            f"{_name(cert)} is not valid at {_kst(self.when)}")
        tsa = path[0]
        if not tsa.not_valid_before_utc <= gen_time <= tsa.not_valid_after_utc:
            raise _fail(checks, "tsa-validity",
                        f"the TSA certificate was not valid at genTime {_kst(gen_time)}")
        if gen_time > self.when:
            raise _fail(checks, "tsa-validity",
                        f"genTime {_kst(gen_time)} lies after the validation time "
                        f"{_kst(self.when)}")
        _pass(checks, "tsa-validity", f"valid at {_kst(self.when)} and at genTime")

    # -- revocation ------------------------------------------------------------------

    def _revocation(self, path: list[x509.Certificate], gen_time: dt.datetime,
                    checks: list[TokenCheck]) -> None:
        notes = [] if len(path) > 1 else ["the TSA certificate is itself a trust anchor"]
        for cert, issuer in itertools.pairwise(path):
            try:
                status = self._status(cert, issuer)
            except RevocationUnavailable as exc:
                raise _fail(checks, "tsa-revocation", f"{_name(cert)}: {exc}") from None
            source = status.source + (" (stale, allowed)" if status.stale else "")
            if status.revoked_at is None:
                notes.append(f"{_name(cert)} not revoked ({source})")
                continue
            reason = status.reason.value if status.reason else "no reason"
            said = f"{_name(cert)} was revoked on {_kst(status.revoked_at)} ({reason})"
            if status.reason is x509.ReasonFlags.certificate_hold:
                raise _fail(checks, "tsa-revocation",
                            f"{_name(cert)} is suspended since {_kst(status.revoked_at)} "
                            f"({source})")
            if status.revoked_at <= gen_time:
                raise _fail(checks, "tsa-revocation",
                            f"{said}, before the token's genTime ({source})")
            invalid = status.invalidity_date
            if invalid is not None and invalid <= gen_time:
                raise _fail(checks, "tsa-revocation",
                            f"{said}, invalid since {_kst(invalid)}, before the token's "
                            f"genTime ({source})")
            if status.reason not in BENIGN_REASONS:
                raise _fail(checks, "tsa-revocation",
                            f"{said}: its key may have made this token, whose genTime is "
                            f"only the TSA's claim ({source})")
            notes.append(f"{said}, after genTime, for a reason that is not key misuse "
                         f"({source})")
        _pass(checks, "tsa-revocation", "; ".join(notes))

    def _status(self, cert: x509.Certificate, issuer: x509.Certificate) -> Status:
        """The first answer of the OCSP responses given, the CRLs given and (with
        ``fetch_crls``) the CRL at the distribution point, each read by the signing
        verifier's rules (:mod:`pki.signing.status`)."""
        reasons: list[str] = []
        for der in self.ocsp_responses:
            try:
                return check_ocsp_response(bytes(der), cert, issuer, at=self.when,
                                           allow_stale=self.allow_stale)
            except RevocationUnavailable as exc:
                reasons.append(str(exc))
        for source in self._crl_sources():
            try:
                return source.status(cert, issuer, at=self.when, allow_stale=self.allow_stale)
            except RevocationUnavailable as exc:
                reasons.append(str(exc))
        reasons.extend(self._bad_crls)
        if not reasons:
            reasons.append(f"no CRL or OCSP response from {_name(issuer)} was given")
        raise RevocationUnavailable("; ".join(dict.fromkeys(reasons)))

    def _crl_sources(self) -> list[CRLSource | FetchedCRLSource]:
        """The CRLs given (loaded once; a malformed one is a reason, not a crash), then
        the distribution point's."""
        if self._sources is None:
            loaded: list[CRLIndex] = []
            for item in self.crls:
                try:
                    loaded.append(CRLIndex(item) if isinstance(
                        item, x509.CertificateRevocationList) else CRLIndex.load(bytes(item)))
                except RevocationDataError as exc:
                    self._bad_crls.append(f"a CRL given is malformed: {exc}")
            self._sources = [CRLSource(loaded)] if loaded else []
            if self.fetch_crls:
                self._sources.append(FetchedCRLSource(self.http))
        return self._sources


def _token_checks(token: bytes, value: bytes, checks: list[TokenCheck], *,
                  known: list[x509.Certificate], nonce: int | None, policy: str | None
                  ) -> tuple[TokenInfo, x509.Certificate, list[x509.Certificate]]:
    """The checks on the token itself, up to the TSA certificate's extended key usage;
    returns what it states, the TSA certificate and the certificates it carries."""
    try:
        signed, tst_der, tst = load_token(token)
        info = _info(tst)
        signer_infos = list(signed["signer_infos"])
        carried = [c.chosen.dump() for c in signed["certificates"]
                   if c.name == "certificate"] if _present(signed["certificates"]) else []
        embedded = [_certificate(der) for der in carried]
    except (TimestampError, ValueError) as exc:
        raise _fail(checks, "token", str(exc)) from None
    if len(signer_infos) != 1:
        raise _fail(checks, "token", f"a token has one signer, not {len(signer_infos)}")
    _pass(checks, "token", f"serial {info.serial_number:X}, policy {info.policy}, "
                           f"genTime {_kst(info.gen_time)}")

    if info.hash_algorithm not in ACCEPTED_HASHES:
        raise _fail(checks, "imprint", f"the imprint hash {info.hash_algorithm} is not "
                                       f"accepted ({', '.join(ACCEPTED_HASHES)} are)")
    if hashlib.new(info.hash_algorithm, value).digest() != info.hashed_message:
        raise _fail(checks, "imprint", "the token stamps other data (its message imprint "
                                       "is not the hash of the signature value)")
    _pass(checks, "imprint", f"{info.hash_algorithm} of the signature value")
    if nonce is not None:
        if info.nonce != nonce:
            raise _fail(checks, "nonce", "the token's nonce is not the request's")
        _pass(checks, "nonce", "the request's nonce")
    if policy is not None:
        if info.policy != policy:
            raise _fail(checks, "policy", f"TSA policy {info.policy} is not the required "
                                          f"{policy}")
        _pass(checks, "policy", f"TSA policy {policy}")

    signer_info = signer_infos[0]
    # The signed attributes exactly as received, before asn1crypto touches them (it
    # re-encodes a structure once a default field has been read).
    attrs = signer_info["signed_attrs"]
    signed_bytes = b"\x31" + attrs.dump()[1:] if _present(attrs) else None
    attributes = _signed_attributes(signer_info)
    tsa = _find_signer(signer_info, [*embedded, *known])
    if tsa is None:
        raise _fail(checks, "tsa-certificate",
                    "the TSA certificate is neither in the token nor given")
    tsa_der = next((der for der, cert in zip(carried, embedded, strict=True) if cert is tsa),
                   None) or tsa.public_bytes(serialization.Encoding.DER)
    bound = _signing_certificate_matches(attributes, tsa, tsa_der)
    if bound is not None:
        raise _fail(checks, "tsa-certificate", bound)
    _pass(checks, "tsa-certificate", f"{_name(tsa)} (serial {tsa.serial_number:X})")

    problem = _token_signature(signer_info, attributes, signed_bytes, tsa, tst_der)
    if problem is not None:
        raise _fail(checks, "token-signature", problem)
    _pass(checks, "token-signature", "intact")

    problem = _remember(("usage", tsa.signature), lambda: _tsa_usage(tsa))
    if problem is not None:
        raise _fail(checks, "tsa-usage", problem)
    _pass(checks, "tsa-usage", "extendedKeyUsage timeStamping only, critical")

    return info, tsa, embedded






















# -- the token's signer ------------------------------------------------------------------

def _certificate(der: bytes) -> x509.Certificate:
    try:
        return load_certificate(der)  # what pyca only warns about is malformed too
    except ValueError as exc:
        raise ValueError(f"a certificate in the token is malformed: {exc}") from None


def _find_signer(info: cms.SignerInfo, pool: Sequence[x509.Certificate]
                 ) -> x509.Certificate | None:
    sid = info["sid"]
    if sid.name == "issuer_and_serial_number":
        serial = sid.chosen["serial_number"].native
        issuer = sid.chosen["issuer"].dump()
        return next((cert for cert in pool if cert.serial_number == serial
                     and cert.issuer.public_bytes() == issuer), None)
    key_id = sid.chosen.native
    for cert in pool:
        try:
            ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        except x509.ExtensionNotFound:
            continue
        if ski.value.digest == key_id:
            return cert
    return None


def _signed_attributes(info: cms.SignerInfo) -> dict[str, list[object]]:
    attrs = info["signed_attrs"]
    if isinstance(attrs, core.Void):
        return {}
    return {attr["type"].native: list(attr["values"]) for attr in attrs}


def _signing_certificate_matches(attrs: dict[str, list[object]], tsa: x509.Certificate,
                                 der: bytes) -> str | None:
    """Why the signed signingCertificate(V2) attribute does not bind ``tsa`` (whose DER
    is ``der``), or None."""
    if "signing_certificate_v2" in attrs:
        first = attrs["signing_certificate_v2"][0]["certs"][0]  # type: ignore[index]
        if first.dump() == _remember(("ess-v2", tsa.signature), lambda: _ess_v2(tsa, der)):
            return None  # exactly what names this certificate (what kpki's TSA writes)
        algorithm = first["hash_algorithm"]["algorithm"].native
        if algorithm not in ("sha256", "sha384", "sha512"):
            return f"the signingCertificateV2 hash {algorithm} is not accepted"
        expected = hashlib.new(algorithm, der).digest()
    elif "signing_certificate" in attrs:
        first = attrs["signing_certificate"][0]["certs"][0]  # type: ignore[index]
        expected = hashlib.sha1(der).digest()  # ESSCertID is SHA-1 by definition
    else:
        return "the token names no signing certificate (signingCertificate or V2)"
    if first["cert_hash"].native != expected:
        return "the signing-certificate attribute names another certificate"
    issuer_serial = first["issuer_serial"]
    if _present(issuer_serial):
        if issuer_serial["serial_number"].native != tsa.serial_number:
            return "the signing-certificate attribute names another serial"
        names = [n.chosen.untag() for n in issuer_serial["issuer"]
                 if n.name == "directory_name"]
        issuer = tsa.issuer.public_bytes()
        # The same bytes, or failing that the same name under RFC 5280's comparison.
        if names and all(n.dump() != issuer for n in names) and \
                asn1_x509.Name.load(issuer) not in names:
            return "the signing-certificate attribute names another issuer"
    return None


def _ess_v2(tsa: x509.Certificate, der: bytes) -> bytes:
    """The ESSCertIDv2 naming ``tsa`` (SHA-256, issuer and serial) in DER."""
    issuer = asn1_x509.Name.load(tsa.issuer.public_bytes())
    return cast(bytes, tsp.ESSCertIDv2({
        "cert_hash": hashlib.sha256(der).digest(),
        "issuer_serial": {
            "issuer": [asn1_x509.GeneralName(name="directory_name", value=issuer)],
            "serial_number": tsa.serial_number}}).dump())


def _token_signature(info: cms.SignerInfo, attrs: dict[str, list[object]],
                     signed_bytes: bytes | None, tsa: x509.Certificate, tst_der: bytes
                     ) -> str | None:
    """Why the token's signature does not hold, or None."""
    digest_name = info["digest_algorithm"]["algorithm"].native
    if digest_name not in _HASHES:
        return f"the digest {digest_name} is not accepted"
    if not attrs or signed_bytes is None:
        return "a token must carry signed attributes"
    content_type = attrs.get("content_type", [None])[0]
    if content_type is None or content_type.native != "tst_info":  # type: ignore[attr-defined]
        return "the signed content type is not TSTInfo"
    digest = attrs.get("message_digest", [None])[0]
    if digest is None or digest.native != hashlib.new(  # type: ignore[attr-defined]
            digest_name, tst_der).digest():
        return "the TSTInfo does not match the signed message digest"
    algorithm = info["signature_algorithm"]
    name = algorithm["algorithm"].native
    pad: padding.AsymmetricPadding
    if name == "rsassa_pss":
        params = algorithm["parameters"]
        if (params["hash_algorithm"]["algorithm"].native != digest_name
                or params["mask_gen_algorithm"]["parameters"]["algorithm"].native
                != digest_name):
            return "the PSS hashes are not the digest algorithm"
        pad = padding.PSS(mgf=padding.MGF1(_HASHES[digest_name]()),
                          salt_length=params["salt_length"].native)
    elif name == "rsassa_pkcs1v15" or _RSA_WITH.get(name) == digest_name:
        pad = padding.PKCS1v15()
    else:
        return f"the signature algorithm {name} is not accepted"
    try:
        key = tsa.public_key()
    except (UnsupportedAlgorithm, ValueError) as exc:
        return f"the TSA certificate's key cannot be read: {exc}"
    if not isinstance(key, rsa.RSAPublicKey):
        return "the TSA key is not RSA"
    try:
        key.verify(info["signature"].native, signed_bytes, pad, _HASHES[digest_name]())
    except InvalidSignature:
        return "the token's signature does not verify with the TSA certificate's key"
    except (ValueError, UnsupportedAlgorithm) as exc:
        return f"the token's signature cannot be checked: {exc}"
    return None


def _tsa_usage(tsa: x509.Certificate) -> str | None:
    try:
        eku = tsa.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        return "the certificate has no extendedKeyUsage: it is not a TSA certificate"
    if list(eku.value) != [oids.TIME_STAMPING]:
        return "the extendedKeyUsage is not id-kp-timeStamping alone"
    if not eku.critical:
        return "the timeStamping extendedKeyUsage is not critical"
    try:
        usage = tsa.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None
    if not (usage.digital_signature or usage.content_commitment):
        return "the keyUsage does not allow signing"
    return None


_MEMO: dict[tuple[object, ...], object] = {}
"""What was already worked out about certificates and CRLs that do not depend on the time:
signature checks, chains, usages, CRL scopes. Keys are the signatures of the objects
involved, which identify what they sign (another object with the same signature under the
same key would be a forgery), so the memo is safe to share between calls; verifying many
signatures from one TSA then costs the token's own checks only."""


def _remember(key: tuple[object, ...], compute: Callable[[], _T]) -> _T:
    if key in _MEMO:
        return cast(_T, _MEMO[key])
    if len(_MEMO) > 8192:
        _MEMO.clear()
    value = _MEMO[key] = compute()
    return value


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    def check() -> bool:
        try:
            cert.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
            return False
        return True

    return _remember(("issued", cert.signature, issuer.signature), check)


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _present(value: object) -> bool:
    return not isinstance(value, core.Void)


def _name(cert: x509.Certificate | None) -> str:
    if cert is None:
        return "an unknown TSA"
    return _remember(("name", cert.signature), lambda: _common_name(cert))


def _common_name(cert: x509.Certificate) -> str:
    try:
        cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(cn[0].value) if cn else cert.subject.rfc4514_string()
    except ValueError:
        return f"(serial {cert.serial_number:X}, an unreadable name)"


def _kst(value: dt.datetime) -> str:
    return f"{value.astimezone(KST):%Y-%m-%d %H:%M:%S} KST"

