"""The financial-certificate SDK's server side: what the iframe that ``fincert.js`` opens
asks kpki for (``pki.web.sdk`` puts it on the wire under ``/sdk/v1``).

A bank's page loads ``fincert.js`` and calls ``FinCert.Sdk.init`` with the institution's
organisation code (``D`` for test, ``R`` for production, then digits) and its **SDK key**:
a public key (it is in the page's source) bound to the institution's list of allowed page
origins; never the secret ``X-API-Key`` of ``/cloud/v1``. The SDK puts an iframe from
kpki's origin over the page; the iframe, and only it, talks to these operations. The rules:

* **Sessions.** :meth:`FinCertSdk.open_session` checks the organisation code, the SDK key
  and the page's origin (which the iframe read from the page's messages, as the browser
  gives it) against the institution's list, and returns a session token bound to that
  institution, origin and device (kept only hashed). Every later call names its origin
  and device, and a session answers only to the same three; an unknown, ended or expired
  session, one asked for from another origin or device, or one whose origin has been taken
  off the list since, is one answer (:class:`SdkSessionError`).
* **Connection.** A session is connected to the cloud by the registration of
  :mod:`pki.registration` (name, phone, birth date, then the 2-digit code sent to the
  phone), as the institution's own registration: the person's certificates are then
  those of the cloud users with the same name, phone and birth date that are registered at
  that institution. An institution sees only its own users' certificates, and before the
  code nothing tells a stranger whether a person has any.
* **PIN pads.** A PIN is never sent as digits: :meth:`FinCertSdk.new_pad` deals a
  shuffled pad (twelve keys, ten digits and two blanks; kept in the store, bound to the
  session, valid :data:`PAD_LIFETIME`) and the iframe sends the positions pressed. A pad
  is answered once: the answer marks it used in its own transaction before any PIN is
  tried, so a replayed answer is :class:`PadError` (``pad_used``), nothing signed and no
  PIN attempt charged. The PIN then goes through the cloud's gate
  (:mod:`pki.cloud.pin`: five wrong in a row lock the certificate).
* **Signing** is :meth:`pki.cloud.service.Cloud.sign`, one signature per content, the key
  never leaving the vault. ``PKCS1`` is the signature value of a CMS made without signed
  attributes (the RSA signature over the content itself, PKCS #1 v1.5 or PSS).

Sessions and pads are short-lived state, not audited; a connection and a disconnection
are (``sdk.connected``, ``sdk.disconnected``), as is an institution's set-up. They do not
pile up: each new session or pad purges, in its transaction, up to :data:`PURGE_BATCH`
expired pads (answered or not) and expired or ended sessions with no pad left (a purged
pad answered is ``pad_unknown``, a purged session ``session_invalid``).
"""

from __future__ import annotations

import datetime as dt
import enum
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass

from asn1crypto import cms
from cryptography import x509

from ..authority import IssuedCertificate
from ..devices import check_device_id
from ..entropy import Entropy, SystemEntropy, below
from ..errors import (
    CloudNotFoundError,
    CloudRequestError,
    InvalidOriginError,
    NotConnectedError,
    OriginNotAllowedError,
    PadError,
    PKIError,
    RenewalNotDueError,
    SdkSessionError,
    UnauthorizedError,
    UnencodableContentError,
    UnknownEncodingError,
)
from ..origins import normalise_origin
from ..purposes import Purpose
from ..rrn import RRN
from ..store import AuditAction, CertificateRecord, CertStatus, Institution, Store
from ..store.sdkrecords import SdkInstitution, SdkPad, SdkSession
from .service import RENEWAL_WINDOW, Cloud, _hash

__all__ = ["ENCODINGS", "PAD_KEYS", "PAD_LIFETIME", "PURGE_BATCH", "SESSION_LIFETIME", "Algorithm",
           "CertificateInfo", "FinCertSdk", "PadAnswer", "SdkSignature", "SignFormat",
           "SignRequest", "add_sdk_institution", "allow_origin", "check_org_code",
           "disallow_origin", "normalize_origin"]

SESSION_LIFETIME = dt.timedelta(days=30)
"""How long a connected browser stays connected (``checkCloudConn``)."""
PAD_LIFETIME = dt.timedelta(minutes=5)
PURGE_BATCH = 64
"""Expired pads (and expired or ended sessions) a write of a new session or pad deletes at
most: the tables hold what is live plus a little, at a bounded cost per write."""
PAD_KEYS = 12
"""Keys of a pad: the ten digits and two blanks, shuffled."""
ENCODINGS = {"UTF-8": "utf-8", "EUC-KR": "cp949"}
"""The SDK's names of text encodings -> Python's codecs. EUC-KR is what browsers mean by
that label (WHATWG's EUC-KR is Windows code page 949): KS X 1001's syllables as EUC-KR has
them, the other 8,822 as CP949's two bytes, never Python's 8-byte ``euc_kr``
compositions."""

_ORG_CODE = re.compile(r"[DR][0-9]{4,15}")


def check_org_code(code: object) -> str:
    """``code`` if it is an organisation code (``D`` test or ``R`` production, then 4-15
    digits); :class:`CloudRequestError` (``field="org_code"``) otherwise."""
    if not isinstance(code, str) or not _ORG_CODE.fullmatch(code):
        raise CloudRequestError("an organisation code is D (test) or R (production) and "
                                "4-15 digits (D0000001)", field="org_code")
    return code


def normalize_origin(origin: object) -> str:
    """A web origin as browsers write it (:func:`pki.origins.normalise_origin`:
    ``http://localhost:8000``); :class:`CloudRequestError` (``field="origin"``) for anything
    else."""
    try:
        return normalise_origin(origin)
    except InvalidOriginError as exc:
        raise CloudRequestError(f"an origin is http(s)://host[:port] as a browser sends it: "
                                f"{exc.reason}", field="origin") from None


def add_sdk_institution(store: Store, institution: Institution, org_code: str, *,
                        origins: Sequence[str], at: dt.datetime,
                        entropy: Entropy | None = None) -> str:
    """Give ``institution`` its organisation code and allowed page origins; returns its
    SDK key (public: it goes in the page; kept only hashed). One transaction with its
    audit rows. Raises :class:`CloudRequestError` for a malformed code or origin, or a
    code another institution has (or this one has a code already)."""
    check_org_code(org_code)
    allowed = [normalize_origin(o) for o in origins]
    key = "sdk_" + (entropy or SystemEntropy()).token_bytes(24).hex()
    with store.transaction() as tx:
        if (tx.sdk_institution(institution.id) is not None
                or tx.sdk_institution_by_org_code(org_code) is not None):
            raise CloudRequestError("this institution or this organisation code is set up "
                                    "for the SDK already", field="org_code")
        tx.add_sdk_institution(institution.id, org_code, _hash(key), at=at)
        tx.audit(AuditAction.SDK_INSTITUTION_ADDED, at=at,
                 detail={"institution": institution.name, "org_code": org_code})
        for origin in allowed:
            if tx.add_sdk_origin(institution.id, origin, at=at):
                tx.audit(AuditAction.SDK_ORIGIN_ADDED, at=at,
                         detail={"org_code": org_code, "origin": origin})
    return key


def _set_up(store: Store, org_code: str) -> SdkInstitution:
    found = store.sdk_institution_by_org_code(check_org_code(org_code))
    if found is None:
        raise CloudRequestError(f"no institution has the organisation code {org_code}",
                                field="org_code")
    return found


def allow_origin(store: Store, org_code: str, origin: str, *, at: dt.datetime) -> bool:
    """Add a page origin to the institution's list; False if it was on it."""
    allowed = normalize_origin(origin)
    with store.transaction() as tx:
        set_up = _set_up(store, org_code)
        added = tx.add_sdk_origin(set_up.institution_id, allowed, at=at)
        if added:
            tx.audit(AuditAction.SDK_ORIGIN_ADDED, at=at,
                     detail={"org_code": org_code, "origin": allowed})
    return added


def disallow_origin(store: Store, org_code: str, origin: str, *, at: dt.datetime) -> bool:
    """Take a page origin off the institution's list; False if it was not on it."""
    allowed = normalize_origin(origin)
    with store.transaction() as tx:
        set_up = _set_up(store, org_code)
        removed = tx.remove_sdk_origin(set_up.institution_id, allowed)
        if removed:
            tx.audit(AuditAction.SDK_ORIGIN_REMOVED, at=at,
                     detail={"org_code": org_code, "origin": allowed})
    return removed


class SignFormat(enum.Enum):
    """``signFormat.type``."""

    CMS = "CMS"
    PKCS1 = "PKCS1"


class Algorithm(enum.Enum):
    """``algorithms``."""

    PKCS1_V15_SHA256 = "RSASSA-PKCS1-v1_5_SHA256"
    PSS_SHA256 = "RSASSA-PSS_SHA256_MGF1_SHA256"


@dataclass(frozen=True)
class SignRequest:
    """What a page asked to sign, checked (:meth:`of`)."""

    contents: tuple[bytes, ...]
    """The exact bytes of each plain text (in its encoding) or binary."""
    format: SignFormat = SignFormat.CMS
    algorithm: Algorithm = Algorithm.PKCS1_V15_SHA256
    purpose: Purpose = Purpose.OTHER
    detached: bool = False
    """``CMSInfo.withoutContent``."""
    content_info: bool = True
    """``CMSInfo.generalSyntax``: ContentInfo-wrapped (else bare SignedData)."""
    signing_time: bool = True
    """``CMSInfo.time``: signed attributes with the signing time (else none)."""
    include_r: bool = False
    ssn: RRN | None = None
    """``CMSInfo.ssn``: the holder's RRN, checked against the certificate's VID."""

    @classmethod
    def of(cls, *, texts: Sequence[str] | None = None, encoding: str | None = None,
           binaries: Sequence[bytes] | None = None, format: str, algorithm: str,
           purpose: str, detached: bool = False, content_info: bool = True,
           signing_time: bool = True, include_r: bool = False,
           ssn: str | None = None) -> SignRequest:
        """Check a request as the SDK names it. Raises :class:`UnknownEncodingError`,
        :class:`UnencodableContentError` or :class:`CloudRequestError` naming the field."""
        if (texts is None) == (binaries is None):
            raise CloudRequestError("content is plainText or binary", field="content")
        if texts is not None:
            codec = ENCODINGS.get(encoding or "UTF-8")
            if codec is None:
                raise UnknownEncodingError(str(encoding))
            try:
                contents = tuple(text.encode(codec) for text in texts)
            except UnicodeEncodeError:
                raise UnencodableContentError(str(encoding or "UTF-8")) from None
        else:
            assert binaries is not None
            contents = tuple(binaries)
        if not contents:
            raise CloudRequestError("nothing to sign: give at least one content",
                                    field="content")
        try:
            kind = SignFormat(format)
        except ValueError:
            raise CloudRequestError("signFormat.type is CMS or PKCS1", field="type") from None
        try:
            algo = Algorithm(algorithm)
        except ValueError:
            raise CloudRequestError(
                "algorithms is RSASSA-PKCS1-v1_5_SHA256 or RSASSA-PSS_SHA256_MGF1_SHA256",
                field="algorithms") from None
        try:
            code = Purpose.parse(purpose)
        except ValueError as exc:
            raise CloudRequestError(str(exc), field="signType") from None
        holder = None
        if ssn:
            try:
                holder = RRN.parse(ssn)
            except (PKIError, ValueError):
                raise CloudRequestError("ssn is a resident registration number",
                                        field="ssn") from None
        return cls(contents, kind, algo, code, detached, content_info, signing_time,
                   include_r, holder)


@dataclass(frozen=True)
class SdkSignature:
    """The answer to ``sign``."""

    values: tuple[bytes, ...]
    """One per content: the CMS (DER) or the bare signature value (PKCS1)."""
    certificate: x509.Certificate
    r: bytes | None = None

    @property
    def serial(self) -> int:
        return self.certificate.serial_number


@dataclass(frozen=True)
class PadAnswer:
    """The positions pressed on pad ``pad`` (0-11, left to right, top to bottom)."""

    pad: str
    positions: tuple[int, ...]


@dataclass(frozen=True)
class CertificateInfo:
    """A certificate as ``getCertInfoList`` shows it."""

    record: CertificateRecord
    locked: bool
    """Five wrong PINs locked it."""
    renewable: bool
    """Within its renewal window (``renew`` renews it)."""


def shuffled_layout(entropy: Entropy) -> str:
    """Twelve keys, the ten digits and two blanks (``-``), in a uniform random order."""
    keys = list("0123456789--")
    for i in range(len(keys) - 1, 0, -1):  # Fisher-Yates
        j = below(i + 1, entropy)
        keys[i], keys[j] = keys[j], keys[i]
    return "".join(keys)


class FinCertSdk:
    """The SDK's operations over one :class:`Cloud` (one instance per thread, as the
    cloud). ``entropy`` draws session tokens, pad ids and pad layouts."""

    def __init__(self, cloud: Cloud, *, entropy: Entropy | None = None) -> None:
        self.cloud = cloud
        self.store: Store = cloud.store
        self.clock = cloud.clock
        self.entropy: Entropy = entropy or SystemEntropy()

    # sessions --------------------------------------------------------------------------

    def open_session(self, *, org_code: str, sdk_key: str, origin: str, device: str,
                     resume: str | None = None) -> tuple[str, SdkSession]:
        """A session for the page at ``origin`` (as the browser gave it to the iframe) on
        ``device``: ``resume``'s, when that token names a live session of the same
        institution, origin and device (a browser that stays connected), else a new one.
        Returns (token, session). Raises :class:`UnauthorizedError` (an unknown code, or a
        key that is not the code's: one answer) or :class:`OriginNotAllowedError`."""
        set_up = self.store.sdk_institution_by_org_code(check_org_code(org_code))
        if set_up is None or not hmac.compare_digest(set_up.key_hash, _hash(str(sdk_key))):
            raise UnauthorizedError("unknown organisation code or SDK key")
        page = normalize_origin(origin)
        if page not in set_up.origins:
            raise OriginNotAllowedError(f"the origin {page} may not use this organisation "
                                        "code's SDK key", origin=page)
        try:
            check_device_id(device)
        except ValueError as exc:
            raise CloudRequestError(str(exc), field="device") from None
        if resume:
            with_resumed = self._live(resume)
            if (with_resumed is not None and _bound(with_resumed, page, device)
                    and with_resumed.institution_id == set_up.institution_id):
                return resume, with_resumed
        now = self.clock.now()
        token = "sdks_" + self.entropy.token_bytes(32).hex()
        session = SdkSession(id=_hash(token), institution_id=set_up.institution_id,
                             origin=page, device=device, created_at=now,
                             expires_at=now + SESSION_LIFETIME)
        with self.store.transaction() as tx:
            tx.purge_sdk(now=now, limit=PURGE_BATCH)
            tx.add_sdk_session(session)
        return token, session

    def _live(self, token: str | None) -> SdkSession | None:
        """The session of ``token`` if it has neither ended nor expired."""
        found = self.store.sdk_session(_hash(token)) if isinstance(token, str) else None
        return found if _ongoing(found, self.clock.now()) else None

    def session(self, token: str | None, *, origin: str | None, device: str | None
                ) -> tuple[SdkSession, Institution]:
        """The live session of ``token`` asked for from ``origin`` and ``device``, and its
        institution; :class:`SdkSessionError` for anything else."""
        found = self._live(token)
        if (found is None or origin is None or device is None
                or not _bound(found, origin, device)):
            raise SdkSessionError()
        set_up = self.store.sdk_institution(found.institution_id)
        institution = (None if set_up is None
                       or found.origin not in set_up.origins  # taken off the list since
                       else self.store.institution(found.institution_id))
        if institution is None:
            raise SdkSessionError()
        return found, institution

    def institution_of_token(self, token: str | None) -> Institution:
        """The institution of a live session (the cheap check made before a request's
        body is read; :meth:`session` checks origin and device)."""
        found = self._live(token)
        institution = None if found is None else self.store.institution(found.institution_id)
        if institution is None:
            raise SdkSessionError()
        return institution

    # connection ------------------------------------------------------------------------

    def connect(self, session: SdkSession, institution: Institution, *, name: str,
                phone: str, birth_date: str) -> None:
        """Start connecting: register the person with the session's institution, which
        sends the code to the phone (:meth:`pki.registration.Registrar.register`)."""
        user = self.cloud.register_user(institution, name=name, phone=phone,
                                        birth_date=birth_date)
        with self.store.transaction() as tx:
            tx.set_sdk_pending_user(session.id, user)

    def confirm(self, session: SdkSession, institution: Institution, code: str) -> None:
        """Finish connecting with the code (the registrar's limits apply); one audit row
        however many calls confirm it at once."""
        if session.pending_user is None:
            raise NotConnectedError()
        self.cloud.confirm(institution, session.pending_user, code)
        now = self.clock.now()
        with self.store.transaction() as tx:
            if not tx.connect_sdk_session(session.id, session.pending_user):
                return  # a call at the same moment connected it (and audited that)
            tx.audit(AuditAction.SDK_CONNECTED, at=now,
                     detail={"institution": institution.name, "user": session.pending_user,
                             "origin": session.origin})

    def disconnect(self, session: SdkSession, institution: Institution) -> None:
        """End the session (the browser is no longer connected)."""
        now = self.clock.now()
        with self.store.transaction() as tx:
            if tx.end_sdk_session(session.id, at=now) and session.user_id is not None:
                tx.audit(AuditAction.SDK_DISCONNECTED, at=now,
                         detail={"institution": institution.name, "user": session.user_id})

    def _person(self, session: SdkSession) -> str:
        if session.user_id is None:
            raise NotConnectedError()
        return session.user_id

    # certificates ----------------------------------------------------------------------

    def _serials(self, session: SdkSession) -> list[int]:
        user = self.store.cloud_user(self._person(session))
        if user is None:
            raise NotConnectedError()
        label = self.cloud.authority.label
        return [serial for ca, serial in self.store.sdk_person_certificates(
            session.institution_id, name=user.name, phone=user.phone,
            birth_date=user.birth_date) if ca == label]

    def certificates(self, session: SdkSession) -> list[CertificateInfo]:
        """The connected person's certificates at the session's institution, renewed ones
        left out (their successors are listed)."""
        label = self.cloud.authority.label
        found = []
        for serial in self._serials(session):
            if self.store.renewals_of(label, serial):
                continue
            record = self._record(serial)
            vault = self.store.vault_record(label, serial)
            if record is not None and vault is not None:
                found.append(CertificateInfo(
                    record, vault.locked,
                    self.clock.now() >= record.not_after - RENEWAL_WINDOW))
        return found

    def _record(self, serial: int) -> CertificateRecord | None:
        found = self.store.find_certificates(serial, ca=self.cloud.authority.label)
        return found[0] if found else None

    def _mine(self, session: SdkSession, serial: int) -> int:
        if serial not in self._serials(session):
            raise CloudNotFoundError()
        return serial

    # PIN pads --------------------------------------------------------------------------

    def new_pad(self, session: SdkSession) -> SdkPad:
        """Deal a shuffled pad for this session (one answer, :data:`PAD_LIFETIME`);
        :class:`SdkSessionError` if the session is no longer live."""
        now = self.clock.now()
        pad = SdkPad(id="pad_" + self.entropy.token_bytes(16).hex(), session_id=session.id,
                     layout=shuffled_layout(self.entropy), created_at=now,
                     expires_at=now + PAD_LIFETIME)
        with self.store.transaction() as tx:
            tx.purge_sdk(now=now, limit=PURGE_BATCH)
            if not _ongoing(tx.sdk_session(session.id), now):  # ended or purged meanwhile
                raise SdkSessionError()
            tx.add_sdk_pad(pad)
        return pad

    def pin_of(self, session: SdkSession, answer: PadAnswer) -> str:
        """The PIN an answer spells, the pad marked used first (in its own transaction:
        a replay is refused before any PIN is tried). Raises :class:`PadError` or
        :class:`CloudRequestError` (``field="positions"``: not six keys, or a blank)."""
        positions = answer.positions
        if len(positions) != 6 or any(not 0 <= p < PAD_KEYS for p in positions):
            raise CloudRequestError("a PIN is six positions 0-11 of its pad",
                                    field="positions")
        now = self.clock.now()
        with self.store.transaction() as tx:
            pad = tx.sdk_pad(answer.pad) if isinstance(answer.pad, str) else None
            if pad is None or pad.session_id != session.id:
                raise PadError("no such PIN pad for this session", reason="pad_unknown")
            if pad.used_at is not None or not tx.use_sdk_pad(pad.id, at=now):
                raise PadError("this PIN pad was answered already: ask for a new one",
                               reason="pad_used")
        if now >= pad.expires_at:  # used up all the same: a pad is answered once
            raise PadError("this PIN pad has expired: ask for a new one",
                           reason="pad_expired")
        digits = [pad.layout[p] for p in positions]
        if "-" in digits:
            raise CloudRequestError("a blank key is not a digit", field="positions")
        return "".join(digits)

    # operations ------------------------------------------------------------------------

    def sign(self, session: SdkSession, institution: Institution, serial: int,
             pin: PadAnswer, request: SignRequest) -> SdkSignature:
        """Sign each content with the certificate (:meth:`Cloud.sign`, the session's
        device named). Raises what the cloud raises, :class:`PadError`, or
        :class:`SsnMismatchError` (nothing signed)."""
        return self._sign(session, institution, self._mine(session, serial), pin, request)

    def _sign(self, session: SdkSession, institution: Institution, serial: int,
              pin: PadAnswer, request: SignRequest) -> SdkSignature:
        """:meth:`sign` of a certificate known to be the person's: the key opened once
        for all the contents (:meth:`Cloud.sign_all`), the ``ssn`` checked before any is
        signed."""
        secret = self.pin_of(session, pin)
        pkcs1 = request.format is SignFormat.PKCS1
        made = self.cloud.sign_all(
            institution, serial, pin=secret, contents=request.contents,
            purpose=request.purpose, device=session.device,
            detached=pkcs1 or request.detached, bare=pkcs1 or not request.content_info,
            pss=request.algorithm is Algorithm.PSS_SHA256, include_r=request.include_r,
            signed_attributes=not pkcs1 and request.signing_time, holder=request.ssn)
        values = tuple(_signature_value(m.signature) if pkcs1 else m.signature for m in made)
        return SdkSignature(values, made[-1].certificate, made[-1].r)

    def issue(self, session: SdkSession, institution: Institution, *, ssn: str,
              kind: str, pin: PadAnswer, pin_confirm: PadAnswer) -> IssuedCertificate:
        """Issue a financial certificate to the connected person under a new PIN (entered
        twice, on two pads) (:meth:`Cloud.issue`)."""
        user = self._person(session)
        secret = self.pin_of(session, pin)
        again = self.pin_of(session, pin_confirm)
        return self.cloud.issue(institution, user, rrn=ssn, pin=secret, pin_confirm=again,
                                kind=kind)

    def renew(self, session: SdkSession, institution: Institution, serial: int,
              pin: PadAnswer) -> SdkSignature:
        """Renew a certificate within its renewal window: the cloud renews on use, so
        this signs a management record (purpose 08) with the PIN; the answer's
        certificate is the successor. :class:`RenewalNotDueError` before the window."""
        self._mine(session, serial)
        record = self._record(serial)
        if record is None:
            raise CloudNotFoundError()
        if self.clock.now() < record.not_after - RENEWAL_WINDOW:
            raise RenewalNotDueError(serial=serial)
        return self._sign(session, institution, serial, pin, SignRequest(
            (f"renew {serial:X}".encode(),), purpose=Purpose.AUTH_MANAGEMENT))

    def change_pin(self, session: SdkSession, institution: Institution, serial: int, *,
                   old: PadAnswer, new: PadAnswer, confirm: PadAnswer) -> None:
        self._mine(session, serial)
        old_pin, new_pin, again = (self.pin_of(session, a) for a in (old, new, confirm))
        self.cloud.change_pin(institution, serial, old_pin=old_pin, new_pin=new_pin,
                              new_pin_confirm=again)

    def revoke(self, session: SdkSession, institution: Institution, serial: int,
               pin: PadAnswer) -> None:
        """Revoke the certificate (the holder proves it with the PIN: a signature of a
        management record, purpose 08, through the gate)."""
        self._mine(session, serial)
        record = self._record(serial)
        if record is None or record.status is CertStatus.REVOKED:
            raise CloudNotFoundError()
        self._sign(session, institution, serial, pin, SignRequest(
            (f"revoke {serial:X}".encode(),), purpose=Purpose.AUTH_MANAGEMENT))
        self.cloud.revoke(institution, serial)


def _ongoing(session: SdkSession | None, now: dt.datetime) -> bool:
    """Whether ``session`` exists and has neither ended nor expired at ``now``."""
    return session is not None and session.ended_at is None and now < session.expires_at


def _bound(session: SdkSession, origin: str, device: str) -> bool:
    """Whether ``session`` is the one of the page at ``origin`` on ``device``."""
    return (hmac.compare_digest(session.origin, origin)
            and hmac.compare_digest(session.device, device))


def _signature_value(der: bytes) -> bytes:
    """The signature value of the one SignerInfo of a bare SignedData."""
    signed = cms.SignedData.load(der)
    value: bytes = signed["signer_infos"][0]["signature"].native
    return value
