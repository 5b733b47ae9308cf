"""Verifying CMS signatures: signature, time stamp, chain, validity, key usage, revocation,
policy and VID, with verdicts never kinder than a strict relying party's.

:func:`verify` (or a reusable :class:`Verifier`) returns a frozen
:class:`VerificationResult` listing every check with its outcome, and the time it used
with where that time came from. It raises :class:`CannotEvaluateError` only when there is
nothing to evaluate: the data is not CMS SignedData, has no signer, is detached and no
content was given, or is too damaged to read. Everything else (a changed document, a wrong
key, a revoked or expired signer, a path to no trusted root, missing or stale revocation
data, a VID that does not match) is a failed check with its reason. No exception from
cryptography or asn1crypto reaches the caller.

**Times** (:class:`TimeSource`). The *validation time* is the caller's ``at`` (GIVEN) or
the clock's now (NOW): revocation data must be current then. The *signing time* is the
time of a verified time-stamp token (TRUSTED), else the signer's own signingTime attribute
(ASSERTED: a claim anyone holding the key can make), else there is none and the
validation time stands in. Certificates must be valid at the signing time; with an
asserted one, also at the validation time (the claim cannot bring back an expired
certificate).

**Revocation** is checked by default, for the signer and for every CA certificate of its
path below the trust anchor (the licensed CA's against the root's data), as a strict
relying party does; without data to check one of them against, the check fails.
``revocation=False`` turns it off, and the result says so. The sources
(:mod:`pki.signing.status`) are CRLs given (full, with delta CRLs only beside their base),
a kpki home's records, OCSP, and the CRL at the distribution point, asked in that order;
OCSP and the distribution point are fetched only for a certificate whose chain already
validates. A certificate revoked after the signing time passes as *signed before
revocation* only when the signing time is trusted, or when the reason cannot mean that
someone else used the key (superseded, affiliationChanged, cessationOfOperation,
privilegeWithdrawn). With keyCompromise, unspecified, no reason or a suspension, an
asserted signing time before the revocation fails; an invalidityDate at or before the
signing time fails in every case.

**Time stamps**: a signature time-stamp token (the unsigned attribute
``1.2.840.113549.1.9.16.2.14``) is handed to a :class:`TimeStampChecker`, which returns
the verified time or why there is none.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import importlib.util
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, cast

from asn1crypto import cms, core
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from .. import oids
from ..clock import KST, Clock, SystemClock
from ..errors import CannotEvaluateError, PKIError
from ..parsing import load_certificate
from ..rrn import RRN
from ..vid import VIDError, identify_data_of, vid_matches
from .status import (
    PARSE_ERRORS,
    SIGNATURE_ERRORS,
    CRLIndex,
    CRLSource,
    FetchedCRLSource,
    OCSPSource,
    RecordsSource,
    RevocationSource,
    RevocationUnavailable,
    Status,
)

if TYPE_CHECKING:
    from ..home import Home

__all__ = [
    "HARMLESS_REASONS",
    "CRLIndex",
    "CannotEvaluateError",
    "Check",
    "CheckName",
    "CheckTime",
    "Outcome",
    "SignedBeforeRevocation",
    "TimeSource",
    "TimeStampChecker",
    "TimeStampVerdict",
    "VerificationResult",
    "Verifier",
    "check_time_stamp",
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
_SIGNATURE_TIME_STAMP_TOKEN = oids.SIGNATURE_TIME_STAMP_TOKEN.dotted_string
HARMLESS_REASONS = frozenset({
    x509.ReasonFlags.superseded, x509.ReasonFlags.affiliation_changed,
    x509.ReasonFlags.cessation_of_operation, x509.ReasonFlags.privilege_withdrawn})
"""Revocation reasons that cannot mean someone else used the key: a signature whose
asserted signing time is before such a revocation stays valid."""


_EXTENSION_ERRORS: tuple[type[BaseException], ...] = (x509.ExtensionNotFound, *PARSE_ERRORS)
_NAME_ERRORS: tuple[type[BaseException], ...] = (VIDError, *_EXTENSION_ERRORS)


class Outcome(enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"  # not asked for, or turned off explicitly


class CheckName(enum.StrEnum):
    """The checks a verification reports. The values are the names ``kpki sign verify``
    shows and writes in its JSON."""

    CONTENT = "content"
    SIGNER_CERTIFICATE = "signer-certificate"
    SIGNATURE = "signature"
    TIME_STAMP = "time-stamp"
    CHAIN = "chain"
    VALIDITY = "validity"
    KEY_USAGE = "key-usage"
    REVOCATION = "revocation"
    POLICY = "policy"
    VID = "vid"


class TimeSource(enum.Enum):
    """Where a time used by a check came from."""

    ASSERTED = "asserted"
    """The signer's own signingTime attribute: a claim, not evidence."""
    TRUSTED = "trusted"
    """A verified time-stamp token."""
    GIVEN = "given"
    """The caller's ``at`` (``kpki verify --at``)."""
    NOW = "now"
    """The verifier's clock."""


_TIME_LABELS = {TimeSource.ASSERTED: "signingTime, asserted by the signer",
                TimeSource.TRUSTED: "time-stamp", TimeSource.GIVEN: "given",
                TimeSource.NOW: "now"}


@dataclass(frozen=True)
class CheckTime:
    """A time a check used, and where it came from."""

    at: dt.datetime
    source: TimeSource

    def __str__(self) -> str:
        return f"{_kst(self.at)} ({_TIME_LABELS[self.source]})"


@dataclass(frozen=True)
class Check:
    name: CheckName
    outcome: Outcome
    detail: str
    time: CheckTime | None = None
    """The time the check was made at (None for checks that do not depend on time)."""

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.PASSED


@dataclass(frozen=True)
class SignedBeforeRevocation:
    """A certificate of the signature's path revoked (or suspended) after the signing
    time, by the rules that keep the signature valid: a trusted time before any
    revocation, or the signer's claimed time before a revocation whose reason cannot mean
    the key was misused. The data of the "signed before revocation" note."""

    revoked_at: dt.datetime
    reason: x509.ReasonFlags | None
    """As the revocation data gave it (``certificate_hold``: suspended); None: none given."""
    serial: int
    """The revoked certificate's serial number."""
    ca: bool
    """True when it is a CA certificate of the path, not the signer's."""
    signing_time_source: TimeSource
    """What showed the signature older: TRUSTED (a time stamp) or ASSERTED (signingTime,
    with a harmless reason)."""

    def to_json(self) -> dict[str, Any]:
        return {"revoked_at": self.revoked_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "reason": None if self.reason is None else self.reason.value,
                "serial": format(self.serial, "X"), "ca": self.ca,
                "signing_time_source": self.signing_time_source.value}


@dataclass(frozen=True)
class VerificationResult:
    """Every check made, in order, and what the signature says about itself."""

    checks: tuple[Check, ...]
    signer: x509.Certificate | None
    signing_time: dt.datetime | None
    """The signing time used: the time-stamp's when one verified, else signingTime."""
    checked_at: dt.datetime
    """The validation time: revocation data had to be current then."""
    content: bytes | None = field(repr=False, default=None)
    """The signed content, when the signature carries it."""
    signing_time_source: TimeSource | None = None
    checked_at_source: TimeSource = TimeSource.NOW
    notes: tuple[str, ...] = ()
    """What a reader of a "valid" verdict must know: signed before a revocation,
    revocation not checked, stale revocation data allowed."""
    revocation_checked: bool = True
    """False when revocation was turned off explicitly."""
    allow_stale: bool = False
    """True when revocation data outside its validity window was accepted."""
    signed_before_revocation: SignedBeforeRevocation | None = None
    """Set by the revocation check when the revocation check passed because the signature
    predates a certificate's revocation (the signer's own first, else the first CA
    certificate of the path); None otherwise. ``notes`` says the same in words."""

    @property
    def ok(self) -> bool:
        """No check failed (skipped checks were not asked for or turned off)."""
        return all(c.outcome is not Outcome.FAILED for c in self.checks)

    def check(self, name: CheckName | str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)

    @property
    def intact(self) -> bool:
        c = self.check(CheckName.SIGNATURE)
        return c is not None and c.passed

    @property
    def trusted(self) -> bool:
        c = self.check(CheckName.CHAIN)
        return c is not None and c.passed

    @property
    def signer_name(self) -> str:
        if self.signer is None:
            return "an unknown signer"
        try:
            data = identify_data_of(self.signer)
        except _NAME_ERRORS:
            data = None
        return _name(self.signer) if data is None else data.real_name

    def summary(self) -> str:
        notes = f" ({'; '.join(self.notes)})" if self.notes else ""
        if self.ok:
            when = ""
            if self.signing_time is not None:
                kind = ("time-stamped" if self.signing_time_source is TimeSource.TRUSTED
                        else "asserted")
                when = f" on {_kst(self.signing_time)} ({kind})"
            return f"valid: signed by {self.signer_name}{when}{notes}"
        failed = next(c for c in self.checks if c.outcome is Outcome.FAILED)
        return f"invalid: {failed.name}: {failed.detail}{notes}"

    def to_json(self) -> dict[str, Any]:
        def stamp(value: dt.datetime | None) -> str | None:
            return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")

        return {
            "ok": self.ok,
            "summary": self.summary(),
            "signer": None if self.signer is None else _rfc4514(self.signer),
            "signer_serial": None if self.signer is None else format(
                self.signer.serial_number, "X"),
            "signing_time": stamp(self.signing_time),
            "signing_time_source": None if self.signing_time_source is None else
            self.signing_time_source.value,
            "checked_at": stamp(self.checked_at),
            "checked_at_source": self.checked_at_source.value,
            "revocation_checked": self.revocation_checked,
            "allow_stale": self.allow_stale,
            "notes": list(self.notes),
            "signed_before_revocation": None if self.signed_before_revocation is None
            else self.signed_before_revocation.to_json(),
            "checks": [{"check": c.name, "outcome": c.outcome.value, "detail": c.detail,
                        "time": None if c.time is None else stamp(c.time.at),
                        "time_source": None if c.time is None else c.time.source.value}
                       for c in self.checks],
        }


@dataclass(frozen=True)
class TimeStampVerdict:
    """What a :class:`TimeStampChecker` found: the verified time, or why there is none."""

    time: dt.datetime | None
    """The token's genTime when the token verified; None when it did not."""
    detail: str
    """What was checked (TSA, policy), or why the token fails."""


class TimeStampChecker(Protocol):
    """Verifies a signature time-stamp token (RFC 3161): that it is a token over
    ``signature`` (the SignerInfo's signature value), from a TSA certificate with the
    timeStamping purpose that ``verifier`` trusts (:meth:`Verifier.certificate_checks`
    checks its chain, validity and revocation at ``at``, the validation time)."""

    def __call__(self, token: bytes, signature: bytes, verifier: Verifier, at: CheckTime
                 ) -> TimeStampVerdict: ...


def _default_time_stamps() -> TimeStampChecker | None:
    """The checker built on :mod:`pki.timestamp`, when this kpki has it (looked for, not
    imported: a signature without a time stamp never pays for it)."""
    if importlib.util.find_spec(f"{__package__.rpartition('.')[0]}.timestamp") is None:
        return None
    return check_time_stamp


def _fetch(url: str, body: bytes | None) -> bytes:
    """:func:`pki.signing.fetch.fetch`, imported when a verification first goes to the
    network (its HTTP and TLS modules are a good part of a one-shot verification's
    start-up)."""
    from .fetch import fetch

    return fetch(url, body)


def check_time_stamp(token: bytes, signature: bytes, verifier: Verifier, at: CheckTime
                     ) -> TimeStampVerdict:
    """A :class:`TimeStampChecker` on :func:`pki.timestamp.verify_timestamp_token`: the
    token (imprint over ``signature``, TSA signature, TSA certificate with the critical
    timeStamping purpose, its chain to ``verifier``'s trust anchors and its validity), then
    the TSA certificate's revocation through ``verifier``'s own sources, judged at the
    token's genTime as an asserted time (genTime is the TSA's own claim)."""
    from ..timestamp import verify_timestamp_token

    checked = verify_timestamp_token(
        token, signature_value=signature, trust=verifier.trust,
        intermediates=verifier.intermediates, at=at.at, check_revocation=False)
    failure = checked.failure
    if failure is not None or checked.info is None or checked.tsa is None:
        what = "the token does not verify" if failure is None else (
            f"{failure.name}: {failure.detail}")
        return TimeStampVerdict(None, what)
    gen_time = checked.info.gen_time.astimezone(dt.UTC)
    revocation = verifier.certificate_checks(
        checked.tsa, when=CheckTime(gen_time, TimeSource.ASSERTED), validation=at)[2]
    if revocation.outcome is Outcome.FAILED:
        return TimeStampVerdict(None, f"the TSA certificate {_name(checked.tsa)}: "
                                f"{revocation.detail}")
    return TimeStampVerdict(gen_time, f"TSA {_name(checked.tsa)}, policy "
                            f"{checked.info.policy}; its revocation: {revocation.detail}")


def _name(cert: x509.Certificate) -> str:
    try:
        cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(cn[0].value) if cn else cert.subject.rfc4514_string()
    except PARSE_ERRORS:
        return f"(serial {cert.serial_number:X}, an unreadable name)"


def _rfc4514(cert: x509.Certificate) -> str:
    try:
        return cert.subject.rfc4514_string()
    except PARSE_ERRORS:
        return "(an unreadable name)"


def _kst(value: dt.datetime) -> str:
    return f"{value.astimezone(KST):%Y-%m-%d %H:%M:%S} KST"


def _malformed(name: CheckName, exc: BaseException) -> Check:
    text = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
    return Check(name, Outcome.FAILED, f"cannot be checked: malformed data ({text})")


class Verifier:
    """Verifies many signatures against the same trust anchors and revocation sources.

    Revocation is checked for the signer and for every CA certificate of its path below
    the trust anchor (a licensed CA's against the root's CRL, say). ``crls`` are loaded
    CRLs (:class:`CRLIndex`, full and delta); ``sources`` further
    :class:`pki.signing.status.RevocationSource` objects (a home's records, say); with
    ``use_ocsp`` the OCSP responder at each certificate's AIA URL is asked, with
    ``fetch_crls`` the CRL at its distribution point is fetched; ``ca_sources`` are asked
    about CA certificates only, after all others. ``revocation=False``
    turns the revocation check off (reported); ``allow_stale`` accepts revocation data
    outside its validity window (reported). ``http`` fetches a URL (with a body: POST an
    OCSP request) and is replaceable for tests; by default :func:`pki.signing.fetch.fetch`
    with its deadline and size cap. ``time_stamps`` checks time-stamp tokens (by default
    :mod:`pki.timestamp`'s checker when there is one).
    """

    def __init__(self, *, trust: Iterable[x509.Certificate] = (),
                 intermediates: Iterable[x509.Certificate] = (),
                 crls: Iterable[CRLIndex] = (), fetch_crls: bool = False,
                 use_ocsp: bool = False, sources: Iterable[RevocationSource] = (),
                 ca_sources: Iterable[RevocationSource] = (), revocation: bool = True,
                 allow_stale: bool = False,
                 policy: str | None = None, clock: Clock | None = None,
                 http: Callable[[str, bytes | None], bytes] | None = None,
                 time_stamps: TimeStampChecker | bool | None = True) -> None:
        self.trust = list(trust)
        self._trust_der = {t.public_bytes(serialization.Encoding.DER) for t in self.trust}
        self.intermediates = list(intermediates)
        self.crls = list(crls)
        self.fetch_crls = fetch_crls
        self.use_ocsp = use_ocsp
        self.revocation = revocation
        self.allow_stale = allow_stale
        self.policy = policy
        self.clock: Clock = clock or SystemClock()
        self.http: Callable[[str, bytes | None], bytes] = http or _fetch
        if time_stamps is True:
            self.time_stamps: TimeStampChecker | None = _default_time_stamps()
        elif time_stamps is False or time_stamps is None:
            self.time_stamps = None
        else:
            self.time_stamps = time_stamps
        self._fetched_crls = FetchedCRLSource(self._get)
        self.sources: list[RevocationSource] = []
        if self.crls:
            self.sources.append(CRLSource(self.crls))
        self.sources.extend(sources)
        self.ca_sources: list[RevocationSource] = list(ca_sources)
        if use_ocsp:
            self.sources.append(OCSPSource(self._get))
        if fetch_crls:
            self.sources.append(self._fetched_crls)
        self._links: dict[tuple[bytes, bytes], bool] = {}
        # Verifications repeat the same certificates: parse each once, and remember the
        # paths built (they depend only on the certificates, not on the time).
        self._certs: dict[bytes, x509.Certificate] = {}
        self._paths: dict[tuple[bytes, frozenset[bytes]],
                          tuple[list[x509.Certificate], Check]] = {}
        self._usages: dict[bytes, Check] = {}
        self._issuers: dict[x509.Certificate, bytes] = {}

    @classmethod
    def for_home(cls, home: Home, **options: Any) -> Verifier:
        """A verifier for what a kpki home issued: trusting its root(s), knowing its CAs
        as intermediates, and checking revocation against the home's records unless other
        revocation sources (``crls``, ``use_ocsp``, ``fetch_crls``, ``sources``) are given
        or ``revocation=False``. With other sources the home's records still answer for
        its CA certificates when those sources do not (a CA CRL alone, OCSP, which kpki's
        licensed CA certificates do not name). Other ``options`` as for :class:`Verifier`."""
        records = home.list_cas()
        options.setdefault("trust", [r.certificate for r in records if r.is_root])
        options["intermediates"] = [*(r.certificate for r in records if not r.is_root),
                                    *options.get("intermediates", ())]
        explicit = any(options.get(k) for k in ("crls", "fetch_crls", "use_ocsp", "sources"))
        if options.get("revocation", True):
            if not explicit:
                options["sources"] = [RecordsSource(home.store)]
            else:
                options.setdefault("ca_sources", [RecordsSource(home.store)])
        options.setdefault("clock", home.clock)
        return cls(**options)

    def _get(self, url: str, body: bytes | None) -> bytes:
        return self.http(url, body)

    def refresh(self) -> None:
        """Forget fetched CRLs (after a revocation, say)."""
        self._fetched_crls.forget()

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
            except ValueError:
                raise CannotEvaluateError("not PEM: the armour does not parse") from None
        try:
            info = cms.ContentInfo.load(data, strict=True)
            if info["content_type"].native != "signed_data":
                raise CannotEvaluateError(
                    f"not SignedData but {info['content_type'].native}")
            return info["content"]
        except CannotEvaluateError:
            raise
        except PARSE_ERRORS:
            pass
        try:
            signed = cms.SignedData.load(data, strict=True)
            signed["version"].native  # noqa: B018 - a bare SignedData starts with its version
            return signed
        except PARSE_ERRORS:
            # The parser's own words (byte counts, class names) would not help a user.
            raise CannotEvaluateError("not CMS SignedData: the DER does not parse") from None

    def verify(self, data: bytes, *, content: bytes | None = None, at: dt.datetime | None = None,
               rrn: RRN | str | None = None, r: bytes | None = None,
               r_envelope: bytes | None = None,
               recipient_key: rsa.RSAPrivateKey | None = None) -> VerificationResult:
        """Verify one signature; see the module documentation. ``at`` is the validation
        time (default: the clock's now)."""
        try:
            return self._verify(data, content=content, at=at, rrn=rrn, r=r,
                                r_envelope=r_envelope, recipient_key=recipient_key)
        except PKIError:
            raise
        except PARSE_ERRORS:
            # asn1crypto parses lazily: a damaged structure shows up here.
            raise CannotEvaluateError("malformed CMS: a part of the SignedData does not "
                                      "parse") from None

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
            raise CannotEvaluateError("a detached signature: give the signed content",
                                      needs="content")
        if attached is not None and not isinstance(attached, bytes):
            raise CannotEvaluateError("the signed content is not an OCTET STRING")
        checks: list[Check] = []
        document = bytes(content) if content is not None else cast(bytes, attached)
        if attached is not None and content is not None and attached != content:
            checks.append(Check(CheckName.CONTENT, Outcome.FAILED,
                                "the given content differs from the content inside the signature"))

        validation = (CheckTime(at.astimezone(dt.UTC), TimeSource.GIVEN) if at is not None
                      else CheckTime(self.clock.now(), TimeSource.NOW))
        cert_ders = [c.chosen.dump() for c in signed["certificates"]
                     if c.name == "certificate"] if _present(signed["certificates"]) else []
        certs = [self._certificate(der) for der in cert_ders]
        index = self._find_signer(info, certs)
        signer = None if index is None else certs[index]
        asserted = self._signing_time(info)
        signing = None if asserted is None else CheckTime(asserted, TimeSource.ASSERTED)
        result = _Result(validation, self)

        if signer is None:
            checks.append(Check(CheckName.SIGNER_CERTIFICATE, Outcome.FAILED,
                                "the signature does not carry the signer's certificate"))
            checks.append(Check(CheckName.SIGNATURE, Outcome.FAILED,
                                "cannot be checked without the signer's certificate"))
            return result.build(checks, None, signing, attached)
        checks.append(Check(CheckName.SIGNER_CERTIFICATE, Outcome.PASSED,
                            f"{_name(signer)} (serial {signer.serial_number:X})"))
        signature_check = _guard(CheckName.SIGNATURE,
                                 lambda: self._signature(info, signer, document))
        checks.append(signature_check)
        token = self._time_stamp_token(info)
        if token is not None:
            stamp_check, trusted = self._time_stamp(token, info, validation)
            checks.append(stamp_check)
            if trusted is not None:
                signing = CheckTime(trusted, TimeSource.TRUSTED)

        assert index is not None
        signer_der = cert_ders[index]
        path, chain_check = self._path(signer, signer_der, certs, frozenset(cert_ders))
        checks.append(chain_check)
        checks.append(self._validity(path, signing, validation))
        usage = self._usages.get(signer_der)
        if usage is None:
            usage = _guard(CheckName.KEY_USAGE, lambda: self._key_usage(signer))
            if len(self._usages) > 4096:
                self._usages.clear()
            self._usages[signer_der] = usage
        checks.append(usage)
        revocation, notes, before = self._revocation(signer, path, chain_check.passed,
                                                     signing or validation, validation)
        checks.append(revocation)
        result.notes.extend(notes)
        result.before = before
        if self.policy is not None:
            checks.append(_guard(CheckName.POLICY, lambda: self._policy(signer)))
        if rrn is not None or r is not None or r_envelope is not None:
            checks.append(_guard(CheckName.VID, lambda: self._vid(signer, rrn, r, r_envelope,
                                                          recipient_key)))
        return result.build(checks, signer, signing, attached)

    def _certificate(self, der: bytes) -> x509.Certificate:
        cert = self._certs.get(der)
        if cert is None:
            if len(self._certs) > 4096:
                self._certs.clear()
            try:
                # Read strictly: what pyca only warns about (a serial that is not
                # positive, a country name that is not two letters) is malformed input.
                cert = load_certificate(der)
            except PARSE_ERRORS as exc:
                raise CannotEvaluateError(
                    f"a certificate in the signature is malformed: {exc}") from None
            self._certs[der] = cert
        return cert

    def _find_signer(self, info: cms.SignerInfo, certs: list[x509.Certificate]
                     ) -> int | None:
        """The index of the signer's certificate among ``certs``."""
        sid = info["sid"]
        if sid.name == "issuer_and_serial_number":
            serial = sid.chosen["serial_number"].native
            issuer = sid.chosen["issuer"].dump()
            for n, cert in enumerate(certs):
                if cert.serial_number == serial and self._issuer_der(cert) == issuer:
                    return n
            return None
        wanted = sid.chosen.native
        for n, cert in enumerate(certs):
            try:
                ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
            except _EXTENSION_ERRORS:
                continue
            if ski.value.digest == wanted:
                return n
        return None

    def _issuer_der(self, cert: x509.Certificate) -> bytes:
        known = self._issuers.get(cert)
        if known is None:
            if len(self._issuers) > 4096:
                self._issuers.clear()
            known = self._issuers[cert] = cert.issuer.public_bytes()
        return known

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

    @staticmethod
    def _time_stamp_token(info: cms.SignerInfo) -> bytes | None:
        attrs = info["unsigned_attrs"]
        if not _present(attrs):
            return None
        for attr in attrs:
            if attr["type"].dotted == _SIGNATURE_TIME_STAMP_TOKEN:
                values = attr["values"]
                return bytes(values[0].dump()) if len(values) else b""
        return None

    # -- the checks -------------------------------------------------------------------

    def _time_stamp(self, token: bytes, info: cms.SignerInfo, validation: CheckTime
                    ) -> tuple[Check, dt.datetime | None]:
        if self.time_stamps is None:
            return Check(CheckName.TIME_STAMP, Outcome.SKIPPED,
                         "the signature carries a time-stamp token, but no time-stamp "
                         "checker is configured: the signing time stays as asserted",
                         validation), None
        signature = bytes(info["signature"].native)
        try:
            verdict = self.time_stamps(token, signature, self, validation)
        except PKIError as exc:
            verdict = TimeStampVerdict(None, str(exc))
        except PARSE_ERRORS as exc:
            return _malformed(CheckName.TIME_STAMP, exc), None
        if verdict.time is None:
            return Check(CheckName.TIME_STAMP, Outcome.FAILED, verdict.detail, validation), None
        when = verdict.time.astimezone(dt.UTC)
        return Check(CheckName.TIME_STAMP, Outcome.PASSED,
                     f"signed by {_kst(when)} at the latest: {verdict.detail}",
                     CheckTime(when, TimeSource.TRUSTED)), when

    @staticmethod
    def _signature(info: cms.SignerInfo, signer: x509.Certificate, document: bytes) -> Check:
        digest_name = info["digest_algorithm"]["algorithm"].native
        if digest_name not in _HASHES:
            return Check(CheckName.SIGNATURE, Outcome.FAILED, f"unsupported digest {digest_name}")
        digest_algorithm = _HASHES[digest_name]()
        algorithm = info["signature_algorithm"]
        name = algorithm["algorithm"].native
        pad: padding.AsymmetricPadding
        if name == "rsassa_pss":
            params = algorithm["parameters"]
            pss_hash = params["hash_algorithm"]["algorithm"].native
            mgf_hash = params["mask_gen_algorithm"]["parameters"]["algorithm"].native
            if pss_hash != digest_name or mgf_hash != digest_name:
                return Check(CheckName.SIGNATURE, Outcome.FAILED,
                             f"the PSS hash ({pss_hash}/{mgf_hash}) is not the digest "
                             f"algorithm ({digest_name})")
            pad = padding.PSS(mgf=padding.MGF1(_HASHES[mgf_hash]()),
                              salt_length=params["salt_length"].native)
        elif name == "rsassa_pkcs1v15":
            pad = padding.PKCS1v15()
        elif name in _RSA_WITH:
            if _RSA_WITH[name] != digest_name:
                return Check(CheckName.SIGNATURE, Outcome.FAILED,
                             f"the signature algorithm {name} does not match the digest "
                             f"algorithm {digest_name}")
            pad = padding.PKCS1v15()
        else:
            return Check(CheckName.SIGNATURE, Outcome.FAILED,
                         f"unsupported signature algorithm {name}")

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
                return Check(CheckName.SIGNATURE, Outcome.FAILED, "the signed attributes have no "
                             "message digest")
            if content_type not in ("data", None):
                return Check(CheckName.SIGNATURE, Outcome.FAILED,
                             f"signed content type {content_type} is not data")
            if digest != hashlib.new(digest_name, document).digest():
                return Check(CheckName.SIGNATURE, Outcome.FAILED,
                             "the document does not match the signed message digest "
                             "(it was changed, or it is not the signed content)")
            signed_bytes = b"\x31" + attrs.dump()[1:]
        else:
            signed_bytes = document
        public_key = signer.public_key()
        if not isinstance(public_key, rsa.RSAPublicKey):
            return Check(CheckName.SIGNATURE, Outcome.FAILED, "the signer's key is not RSA")
        try:
            public_key.verify(info["signature"].native, signed_bytes, pad, digest_algorithm)
        except InvalidSignature:
            return Check(CheckName.SIGNATURE, Outcome.FAILED,
                         "the signature does not verify with the signer's key")
        except (ValueError, UnsupportedAlgorithm) as exc:
            return Check(CheckName.SIGNATURE, Outcome.FAILED,
                         f"the signature cannot be checked: {exc}")
        kind = "PSS" if name == "rsassa_pss" else "PKCS #1 v1.5"
        attrs_text = "signed attributes" if _present(attrs) else "no signed attributes"
        return Check(CheckName.SIGNATURE, Outcome.PASSED,
                     f"intact ({kind}, {digest_name}, {attrs_text})")

    def _issued_by(self, cert: x509.Certificate, issuer: x509.Certificate) -> bool:
        key = (cert.tbs_certificate_bytes, issuer.public_bytes(serialization.Encoding.DER))
        known = self._links.get(key)
        if known is None:
            try:
                cert.verify_directly_issued_by(issuer)
                known = True
            except SIGNATURE_ERRORS:
                known = False
            if len(self._links) > 4096:
                self._links.clear()
            self._links[key] = known
        return known

    def _path(self, signer: x509.Certificate, signer_der: bytes,
              certs: list[x509.Certificate], cert_ders: frozenset[bytes]
              ) -> tuple[list[x509.Certificate], Check]:
        key = (signer_der, cert_ders)
        cached = self._paths.get(key)
        if cached is None:
            if len(self._paths) > 1024:
                self._paths.clear()
            try:
                cached = self._chain(signer, certs)
            except PARSE_ERRORS as exc:
                cached = [signer], _malformed(CheckName.CHAIN, exc)
            self._paths[key] = cached
        return cached

    def _chain(self, signer: x509.Certificate, certs: Sequence[x509.Certificate]
               ) -> tuple[list[x509.Certificate], Check]:
        pool = [*certs, *self.intermediates, *self.trust]
        path = [signer]
        current = signer
        while len(path) <= MAX_CHAIN:
            if current.public_bytes(serialization.Encoding.DER) in self._trust_der:
                return path, Check(CheckName.CHAIN, Outcome.PASSED,
                                   " <- ".join(_name(c) for c in path) + " (trusted)")
            if current.subject == current.issuer:
                break  # a root, but not one of ours
            issuer = next((c for c in pool if c.subject == current.issuer
                           and self._issued_by(current, c)), None)
            if issuer is None:
                break
            if not _is_ca(issuer):
                return path, Check(CheckName.CHAIN, Outcome.FAILED,
                                   f"{_name(issuer)} is not a CA certificate")
            path.append(issuer)
            current = issuer
        else:
            return path, Check(CheckName.CHAIN, Outcome.FAILED, "the chain is too long")
        top = path[-1]
        if not self.trust:
            return path, Check(CheckName.CHAIN, Outcome.FAILED,
                               f"untrusted: no trust anchor configured (the chain ends at "
                               f"{_name(top)})")
        return path, Check(CheckName.CHAIN, Outcome.FAILED,
                           f"untrusted: no path to a configured root (the chain ends at "
                           f"{_name(top)})")

    @staticmethod
    def _validity(path: list[x509.Certificate], signing: CheckTime | None,
                  validation: CheckTime) -> Check:
        when = signing or validation
        times = [when]
        if signing is not None and signing.source is TimeSource.ASSERTED:
            times.append(validation)  # a claimed time cannot revive an expired certificate
        for cert in path:
            for t in times:
                claim = ("; the signing time is only asserted by the signer, and only a "
                         "time-stamp could show the signature is older"
                         if t is validation and len(times) > 1 else "")
                if t.at < cert.not_valid_before_utc:
                    return Check(CheckName.VALIDITY, Outcome.FAILED,
                                 f"{_name(cert)} was not yet valid at {t}{claim}", when)
                if t.at > cert.not_valid_after_utc:
                    return Check(CheckName.VALIDITY, Outcome.FAILED,
                                 f"{_name(cert)} had expired at {t}{claim}", when)
        at = " and at ".join(str(t) for t in times)
        return Check(CheckName.VALIDITY, Outcome.PASSED, f"every certificate valid at {at}", when)

    @staticmethod
    def _key_usage(signer: x509.Certificate) -> Check:
        try:
            usage = signer.extensions.get_extension_for_class(x509.KeyUsage).value
        except x509.ExtensionNotFound:
            return Check(CheckName.KEY_USAGE, Outcome.PASSED, "no keyUsage restriction")
        if usage.digital_signature or usage.content_commitment:
            return Check(CheckName.KEY_USAGE, Outcome.PASSED, "digitalSignature/nonRepudiation")
        return Check(CheckName.KEY_USAGE, Outcome.FAILED,
                     "the certificate is not for signing (no digitalSignature or "
                     "nonRepudiation)")

    def certificate_checks(self, cert: x509.Certificate, *,
                           certificates: Sequence[x509.Certificate] = (),
                           when: CheckTime, validation: CheckTime) -> tuple[Check, ...]:
        """Chain, validity (at ``when``) and revocation (data current at ``validation``)
        of any certificate, with ``certificates`` as extra intermediates: what a
        :class:`TimeStampChecker` needs for a TSA certificate."""
        try:
            path, chain = self._chain(cert, certificates)
        except PARSE_ERRORS as exc:
            path, chain = [cert], _malformed(CheckName.CHAIN, exc)
        return (chain, self._validity(path, when, validation),
                self._revocation(cert, path, chain.passed, when, validation)[0])

    def _revocation(self, cert: x509.Certificate, path: list[x509.Certificate],
                    chain_ok: bool, when: CheckTime, validation: CheckTime
                    ) -> tuple[Check, list[str], SignedBeforeRevocation | None]:
        """The revocation check of ``cert`` and of every CA certificate of its path below
        the trust anchor, each against its issuer's data by the same rules (a strict
        relying party checks them all: ``openssl verify -crl_check_all``, PKIX); the
        notes a "valid" verdict must carry; and, when it passed, the first certificate
        of the path the signature predates the revocation of."""
        if not self.revocation:
            return (Check(CheckName.REVOCATION, Outcome.SKIPPED, "not checked: turned off"),
                    [], None)
        if not self.sources and not self.ca_sources:
            return Check(CheckName.REVOCATION, Outcome.FAILED,
                         "no revocation data: no CRL, OCSP responder or CA records to ask "
                         "(give some, or turn the check off explicitly)", validation), [], None
        if len(path) < 2:
            if chain_ok:
                return Check(CheckName.REVOCATION, Outcome.PASSED,
                             "a trust anchor: not subject to revocation", validation), [], None
            return Check(CheckName.REVOCATION, Outcome.FAILED,
                         "cannot check revocation without the issuer's certificate",
                         validation), [], None
        details: list[str] = []
        notes: list[str] = []
        first: SignedBeforeRevocation | None = None
        # The last certificate of the path is the trust anchor (or, on a chain that does
        # not validate, the one whose issuer is missing: the chain check fails for it).
        for depth, subject in enumerate(path[:-1]):
            what = "" if depth == 0 else f"the CA certificate {_name(subject)}: "
            check, found, before = self._status_check(subject, path[depth + 1], chain_ok,
                                                      when, validation, ca=depth > 0)
            if check.outcome is Outcome.FAILED:
                return Check(CheckName.REVOCATION, Outcome.FAILED, what + check.detail,
                             check.time), [], None
            details.append(what + check.detail)
            notes.extend(note if not what or note.startswith("stale") else what + note
                         for note in found if note)
            first = first or before
        return (Check(CheckName.REVOCATION, Outcome.PASSED, "; ".join(details), when),
                list(dict.fromkeys(notes)), first)

    def _status_check(self, cert: x509.Certificate, issuer: x509.Certificate,
                      chain_ok: bool, when: CheckTime, validation: CheckTime, *, ca: bool
                      ) -> tuple[Check, list[str], SignedBeforeRevocation | None]:
        """The revocation verdict on one certificate from the first source that answers
        (for a CA certificate, :attr:`ca_sources` after the others)."""
        reasons: list[str] = []
        live = validation.source is TimeSource.NOW  # fetched answers judged when checked
        for source in [*self.sources, *self.ca_sources] if ca else self.sources:
            if source.fetches and not chain_ok:
                reasons.append("not fetched: the chain does not validate to a trusted root, "
                               "and kpki fetches nothing a certificate names until it does")
                continue
            try:
                if live and isinstance(source, OCSPSource | FetchedCRLSource):
                    status = source.status(cert, issuer, at=validation.at,
                                           allow_stale=self.allow_stale, now=self.clock.now)
                else:
                    status = source.status(cert, issuer, at=validation.at,
                                           allow_stale=self.allow_stale)
            except RevocationUnavailable as exc:
                reasons.append(str(exc))
                continue
            except PARSE_ERRORS as exc:
                reasons.append(f"malformed revocation data ({type(exc).__name__}: {exc})")
                continue
            return _judge(status, when, serial=cert.serial_number, ca=ca)
        if not reasons:
            reasons.append("no revocation source answers for this certificate")
        unique = list(dict.fromkeys(reasons))
        return (Check(CheckName.REVOCATION, Outcome.FAILED, "; ".join(unique), validation),
                [], None)

    def _policy(self, signer: x509.Certificate) -> Check:
        try:
            policies = signer.extensions.get_extension_for_class(x509.CertificatePolicies)
        except x509.ExtensionNotFound:
            return Check(CheckName.POLICY, Outcome.FAILED, "the certificate carries no policy")
        found = [p.policy_identifier.dotted_string for p in policies.value]
        if self.policy in found:
            return Check(CheckName.POLICY, Outcome.PASSED, f"policy {self.policy}")
        return Check(CheckName.POLICY, Outcome.FAILED,
                     f"policy {', '.join(found)} is not the required {self.policy}")

    @staticmethod
    def _vid(signer: x509.Certificate, rrn: RRN | str | None, r: bytes | None,
             r_envelope: bytes | None, recipient_key: rsa.RSAPrivateKey | None) -> Check:
        if rrn is None:
            return Check(CheckName.VID, Outcome.FAILED, "the VID check needs the resident number")
        holder = rrn if isinstance(rrn, RRN) else RRN.parse(rrn)
        if r is None and r_envelope is not None:
            if recipient_key is None:
                return Check(CheckName.VID, Outcome.FAILED, "the R envelope needs the relying "
                             "party's private key")
            try:
                from .envelope import open_r_envelope

                r = open_r_envelope(r_envelope, recipient_key)
            except PKIError as exc:
                return Check(CheckName.VID, Outcome.FAILED, f"cannot open the R envelope: {exc}")
        if r is None:
            return Check(CheckName.VID, Outcome.FAILED, "the VID check needs R")
        try:
            data = identify_data_of(signer)
        except VIDError:
            data = None
        if data is None or data.vid is None:
            return Check(CheckName.VID, Outcome.FAILED, "the certificate carries no VID")
        if vid_matches(data, holder, r):
            return Check(CheckName.VID, Outcome.PASSED,
                         f"the signer is the holder of {holder} ({data.real_name})")
        return Check(CheckName.VID, Outcome.FAILED,
                     "the VID does not match this resident number and R (not the holder)")


class _Result:
    """Collects what goes into a :class:`VerificationResult` besides the checks."""

    def __init__(self, validation: CheckTime, verifier: Verifier) -> None:
        self.validation = validation
        self.verifier = verifier
        self.notes: list[str] = []
        self.before: SignedBeforeRevocation | None = None

    def build(self, checks: list[Check], signer: x509.Certificate | None,
              signing: CheckTime | None, content: bytes | None) -> VerificationResult:
        notes = list(self.notes)
        verifier = self.verifier
        if not verifier.revocation:
            notes.append("revocation not checked: turned off")
        return VerificationResult(
            tuple(checks), signer, None if signing is None else signing.at,
            self.validation.at, content,
            signing_time_source=None if signing is None else signing.source,
            checked_at_source=self.validation.source, notes=tuple(notes),
            revocation_checked=verifier.revocation, allow_stale=verifier.allow_stale,
            signed_before_revocation=self.before)


_BEFORE = "signed before revocation"


def _judge(status: Status, when: CheckTime, *, serial: int, ca: bool
           ) -> tuple[Check, list[str], SignedBeforeRevocation | None]:
    """The revocation verdict from a source's status on the certificate ``serial`` (``ca``:
    a CA certificate of the path), by the rules of the module documentation, the notes a
    "valid" verdict must carry, and the signature's precedence over the revocation when
    that is what let it pass."""
    source = status.source + (f"; stale data allowed: {status.stale}" if status.stale else "")
    notes = [] if status.stale is None else ["stale revocation data allowed"]
    if status.revoked_at is None:
        return (Check(CheckName.REVOCATION, Outcome.PASSED, f"not revoked ({source})", when),
                notes, None)
    revoked_at = status.revoked_at
    hold = status.reason is x509.ReasonFlags.certificate_hold
    what = "suspended" if hold else "revoked"
    reason = ("certificateHold" if hold else
              status.reason.value if status.reason is not None else "no reason given")
    event = f"{what} on {_kst(status.revoked_at)} ({reason})"

    def failed(detail: str) -> tuple[Check, list[str], None]:
        return (Check(CheckName.REVOCATION, Outcome.FAILED, f"{detail} ({source})", when),
                notes, None)

    def before(detail: str) -> tuple[Check, list[str], SignedBeforeRevocation]:
        note = f"{_BEFORE}: {what} on {_kst(revoked_at)}"
        return (Check(CheckName.REVOCATION, Outcome.PASSED, f"{_BEFORE}: {detail} ({source})",
                      when),
                [note, *notes],
                SignedBeforeRevocation(revoked_at, status.reason, serial, ca, when.source))

    if status.invalidity_date is not None and status.invalidity_date <= when.at:
        return failed(f"{event}, invalid since {_kst(status.invalidity_date)} (its "
                      f"invalidityDate), which is not after the signing time {when}")
    if status.revoked_at <= when.at:
        return failed(f"the certificate was {event}, not after {when}")
    if when.source is TimeSource.TRUSTED:
        return before(f"{event}, after the time-stamped signing time {when}")
    if when.source is TimeSource.ASSERTED:
        if status.reason in HARMLESS_REASONS:
            return before(f"{event}, after the signing time {when}, and {reason} cannot "
                          "mean the key was misused")
        return failed(f"{event}, and the signing time before it, {when}, is only the "
                      f"signer's claim: {reason} may mean someone else used the key, and "
                      "only a time-stamp can show the signature is older")
    return (Check(CheckName.REVOCATION, Outcome.PASSED,
                  f"not {what} at {when}: {event} later ({source})", when), notes, None)


def _guard(name: CheckName, make: Callable[[], Check]) -> Check:
    """Run a check; malformed data in what it reads is a failed check, not a crash."""
    try:
        return make()
    except PKIError as exc:
        return Check(name, Outcome.FAILED, str(exc))
    except PARSE_ERRORS as exc:
        return _malformed(name, exc)


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
    the verifier (crls, fetch_crls, use_ocsp, sources, revocation, allow_stale, policy,
    clock, intermediates, http, time_stamps) and the call (at, rrn, r, r_envelope,
    recipient_key)."""
    call_keys = {"at", "rrn", "r", "r_envelope", "recipient_key"}
    call = {k: v for k, v in options.items() if k in call_keys}
    setup = {k: v for k, v in options.items() if k not in call_keys}
    return Verifier(trust=trust, **setup).verify(data, content=content, **call)
