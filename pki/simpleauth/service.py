"""Simple authentication (간편인증) as e-government sites use it: kpki plays every
provider (:mod:`pki.simpleauth.providers`) with this one service over a home's store.

**The people.** A person's app at a provider (:meth:`SimpleAuth.register`) is their
private certificate on their device (:mod:`pki.keys.devicekeystore`), registered with
their name, phone and birth date. The resident number is never kept: the person is known
by their **CI** (``person``), the keyed hash of the RRN that phone verification gives
(:meth:`pki.bank.phone.PhoneVerification.ci`, the same secret), so the same person has the
same CI at every provider and in phone verification. One app per person at a provider:
registering again replaces the first (its device token stops working). Registering needs
a proof signed with the certificate's key (:class:`pki.simpleauth.content.Registration`):
whoever registers holds the device and its PIN. The RRN given is checked against the
certificate's VID with the R the device keeps in its keystore (sent beside the proof, kept
nowhere): a private certificate in the same name does not bind another person's CI
(``identity_mismatch``).

**The relying party** (an institution with an API key, as the cloud's and the bank's)
asks :meth:`~SimpleAuth.request` with the provider, name, phone, and RRN or birth date,
an optional nonce (else one is drawn) and a text to show; it gets a request id and polls
:meth:`~SimpleAuth.status`: ``pending``, ``approved``, ``declined``, ``expired`` (no
answer within :attr:`SimpleAuthSettings.timeout`, a *setting*: 5 minutes by default),
``failed`` (with a ``reason``: ``pin_locked``, ``certificate_revoked``,
``certificate_invalid``) or ``collected``. After the person approved on the phone, the
relying party "resumes" with :meth:`~SimpleAuth.result`, once: the CMS the app signed,
the CI and the certificate chain. **A relying party cannot tell who has an app**: a
request for a person with no app at the provider, or with a name, phone or birth date
that does not match the app's, is stored the same, answers ``pending`` the same and
expires the same as one the person never answers. A request belongs to the relying party
that made it: to any other its id is not found.

**The app** proves itself with its device token (:meth:`~SimpleAuth.app_token`, given at
registration and kept in the device folder): an HMAC under the provider's secret of the
provider, the person, the registered certificate, phone and time of registration, so a
token names its app and stops working when the app is registered again (kept nowhere: the
store holds no token); a phone number alone proves nothing. With it,
the app lists its pending requests (:meth:`~SimpleAuth.pending`), declines one, reports
one it cannot answer (a locked PIN: :meth:`~SimpleAuth.fail`), or approves one with a
signature (:meth:`~SimpleAuth.approve`): a CMS SignedData by the registered private
certificate over the approval (:class:`pki.simpleauth.content.Approval`), which the PIN
opened on the device. The provider verifies it (intact, the registered certificate, the
request's id, nonce and the person's CI, a time within the request's life, the chain to
a trusted root and revocation) and keeps it. A signature by a revoked or no longer
valid certificate fails the request (``failed``, with the reason); a signature that does
not approve this request is refused and changes nothing.

Every answer is decided under the store's write lock, the request re-read there: of two
approvals at once (or an approval and a decline) one wins, the other is refused
``request_answered``; a result is handed over once. Each change is one transaction with
its audit row (``simpleauth.requested``, ``simpleauth.approved`` ...); no RRN, token or
nonce is in one.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import enum
import hashlib
import hmac
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ..clock import Clock
from ..entropy import Entropy, SystemEntropy
from ..errors import (
    InvalidNameError,
    InvalidRegistrationError,
    InvalidRRNError,
    SimpleAuthAppError,
    SimpleAuthExpiredError,
    SimpleAuthNotFoundError,
    SimpleAuthRegistrationError,
    SimpleAuthRequestError,
    SimpleAuthSignatureError,
    SimpleAuthStateError,
)
from ..hierarchy import chain_of
from ..names import check_holder_name
from ..profiles import PRIVATE_PROFILE
from ..registration import normalize_phone
from ..rrn import RRN
from ..signing.verify import (
    CannotEvaluateError,
    CheckName,
    Outcome,
    VerificationResult,
    Verifier,
)
from ..store import (
    AuditAction,
    Institution,
    SimpleAuthRequestRecord,
    SimpleAuthState,
    SimpleAuthUser,
    Store,
    StoreTransaction,
)
from ..vid import identify_data_of, vid_matches
from .content import read_approval, read_registration
from .providers import provider

__all__ = ["AppRegistration", "FailReason", "PendingRequest", "SimpleAuth",
           "SimpleAuthResult", "SimpleAuthSettings", "SimpleAuthStatus", "StatusView"]

_TOKEN_LABEL = b"kpki-simpleauth-app-v1"
_NONCE = re.compile(r"[A-Za-z0-9._~+/=-]{8,128}")
MAX_TEXT = 500


@dataclass(frozen=True)
class SimpleAuthSettings:
    timeout: dt.timedelta = dt.timedelta(minutes=5)
    """How long a request waits for the person's answer before it expires (a *setting*:
    the providers' apps show about five minutes; no primary source fixes it)."""
    skew: dt.timedelta = dt.timedelta(minutes=1)
    """How far before the request's creation an approval's own time may be (the phone's
    clock may run behind the provider's)."""

    def __post_init__(self) -> None:
        if not dt.timedelta(seconds=10) <= self.timeout <= dt.timedelta(hours=1):
            raise ValueError("the simple-authentication timeout is 10 seconds to an hour")



class SimpleAuthStatus(enum.Enum):
    """A request's status as the relying party sees it."""

    PENDING = "pending"
    APPROVED = "approved"
    DECLINED = "declined"
    EXPIRED = "expired"
    """Pending past its expiry: nobody answered (or nobody could)."""
    FAILED = "failed"
    COLLECTED = "collected"
    """Approved, and the result handed to the relying party."""


class FailReason(enum.Enum):
    """Why a request failed."""

    PIN_LOCKED = "pin_locked"
    """The app reported that its PIN is locked (the device keystore refused)."""
    CERTIFICATE_REVOKED = "certificate_revoked"
    CERTIFICATE_INVALID = "certificate_invalid"
    """Expired, or no longer chaining to a trusted root, or not usable for signing."""


_APP_REASONS = frozenset({FailReason.PIN_LOCKED})
"""What an app may report by itself; the others are the provider's findings."""


@dataclass(frozen=True)
class StatusView:
    """A request as its relying party sees it."""

    id: str
    provider: int
    status: SimpleAuthStatus
    created_at: dt.datetime
    expires_at: dt.datetime
    answered_at: dt.datetime | None = None
    reason: str | None = None
    """Why it failed (a :class:`FailReason` value), for ``failed``."""


@dataclass(frozen=True)
class PendingRequest:
    """A request as the person's app shows it."""

    id: str
    provider: int
    relying_party: str
    text: str
    nonce: str
    created_at: dt.datetime
    expires_at: dt.datetime


@dataclass(frozen=True)
class SimpleAuthResult:
    """What the relying party collects once the person approved: the CMS SignedData
    (DER) the app made over the approval (:class:`pki.simpleauth.content.Approval`, the
    CI inside), the person's CI, and the certificate chain, signer first, up to the root."""

    id: str
    provider: int
    nonce: str
    cms: bytes = field(repr=False)
    ci: str = field(repr=False)
    chain: tuple[x509.Certificate, ...]
    approved_at: dt.datetime


@dataclass(frozen=True)
class AppRegistration:
    """A person's app as registered: its device token (a secret: keep it in the device
    folder), and what the provider keeps."""

    token: str = field(repr=False)
    user: SimpleAuthUser


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SimpleAuth:
    """Every provider's simple authentication over one store (see the module doc).

    ``ci`` gives the CI of a resident number (13 digits): phone verification's, so both
    give the same; ``secret`` (at least 16 bytes) keys the apps' device tokens;
    ``verifier`` makes the verifier of the apps' signatures (a home's: its roots, its
    revocation records), made at the first use."""

    def __init__(self, store: Store, *, clock: Clock, ci: Callable[[str], str], secret: bytes,
                 verifier: Callable[[], Verifier], entropy: Entropy | None = None,
                 settings: SimpleAuthSettings | None = None) -> None:
        if not isinstance(secret, bytes) or len(secret) < 16:
            raise ValueError("the simple-authentication secret is at least 16 bytes")
        self.store = store
        self.clock = clock
        self._ci = ci
        self._token_key = hmac.new(secret, _TOKEN_LABEL, hashlib.sha256).digest()
        self._make_verifier = verifier
        self._verifier: Verifier | None = None
        self.entropy: Entropy = entropy or SystemEntropy()
        self.settings = settings or SimpleAuthSettings()

    @property
    def verifier(self) -> Verifier:
        if self._verifier is None:
            self._verifier = self._make_verifier()
        return self._verifier

    def ci(self, rrn: RRN | str) -> str:
        """The CI of the person with resident number ``rrn`` (what phone verification
        gives)."""
        return self._ci(_rrn(rrn).digits)

    # -- the provider: registering apps -------------------------------------------------

    def register(self, code: int | str, *, name: str, rrn: RRN | str, phone: str,
                 proof: bytes, r: bytes) -> AppRegistration:
        """Register the app of the person ``name`` with ``rrn`` and ``phone`` at provider
        ``code``: its private certificate is the signer of ``proof``, a CMS SignedData
        over a :class:`~pki.simpleauth.content.Registration` of this provider, name and
        phone made in the last :attr:`SimpleAuthSettings.timeout`, and ``rrn`` is the
        certificate's: its VID is ``rrn`` under ``r``, the R the device keeps with the key
        (:class:`pki.simpleauth.app.RegistrationProof`; used for this check, kept
        nowhere). So the CI bound is the certificate holder's own, not that of whoever
        shares the name. Replaces the person's earlier app there. Raises
        :class:`SimpleAuthRequestError` (bad input) and
        :class:`SimpleAuthRegistrationError` (``certificate_not_private``,
        ``certificate_revoked``, ``certificate_invalid``, ``name_mismatch``,
        ``identity_mismatch``, ``proof_invalid``); a refusal registers nothing."""
        chosen = provider(code)
        name, phone, holder = _name(name), _phone(phone), _rrn(rrn)
        now = self.clock.now()
        result = self._verified(proof, registration=True)
        assert result.signer is not None and result.content is not None
        asked = read_registration(result.content)
        if (asked is None or asked.provider != chosen.code or asked.name != name
                or asked.phone != phone
                or not now - self.settings.timeout <= asked.at <= now + self.settings.skew):
            raise SimpleAuthRegistrationError("the proof does not ask to register this app "
                                              "now", reason="proof_invalid")
        record = self._certificate_record(result.signer)
        if record is None or record.profile != PRIVATE_PROFILE.name:
            raise SimpleAuthRegistrationError("an app is registered with a private "
                                              "certificate this home issued",
                                              reason="certificate_not_private")
        failure = _trust_failure(result)
        if failure is not None:
            raise SimpleAuthRegistrationError(f"the certificate is not usable: {failure.value}",
                                              reason=failure.value)
        data = identify_data_of(result.signer)
        if data is None or data.real_name != name:
            raise SimpleAuthRegistrationError("the certificate is not in this name",
                                              reason="name_mismatch")
        if not isinstance(r, bytes) or not vid_matches(data, holder, r):
            raise SimpleAuthRegistrationError("the resident number is not the certificate's "
                                              "(its VID under the device's R)",
                                              reason="identity_mismatch")
        user = SimpleAuthUser(provider=chosen.code, person=self._ci(holder.digits), name=name,
                              phone=phone, birth_date=holder.birth_date, ca=record.ca,
                              serial=record.serial, device=_device_of(record.der),
                              registered_at=now)
        with self.store.transaction() as tx:
            tx.put_simpleauth_user(user)
            tx.audit(AuditAction.SIMPLEAUTH_USER_REGISTERED, at=now, ca=record.ca,
                     serial=record.serial, detail={"provider": chosen.code})
        return AppRegistration(self.app_token(user), user)

    def unregister(self, token: str) -> None:
        """Remove the app whose device token is ``token`` (its requests stay, and expire
        unanswered)."""
        user = self.app(token)
        with self.store.transaction() as tx:
            tx.remove_simpleauth_user(user.provider, user.person)
            tx.audit(AuditAction.SIMPLEAUTH_USER_REMOVED, at=self.clock.now(), ca=user.ca,
                     serial=user.serial, detail={"provider": user.provider})

    def app_token(self, user: SimpleAuthUser) -> str:
        """The device token of ``user``'s app: ``<provider>.<person>.<mac>``."""
        return f"{user.provider}.{_b64url(user.person.encode())}.{_b64url(self._mac(user))}"

    def app(self, token: str | None) -> SimpleAuthUser:
        """The app whose device token is ``token``; :class:`SimpleAuthAppError` for none
        (malformed, unknown, or registered again since)."""
        if not isinstance(token, str) or len(token) > 512:
            raise SimpleAuthAppError
        parts = token.split(".")
        try:
            if (len(parts) != 3 or not parts[0].isascii() or not parts[0].isdigit()
                    or len(parts[0]) > 4):  # a provider code; SQLite takes 64 bits at most
                raise SimpleAuthAppError
            person = _unb64url(parts[1]).decode()
            mac = _unb64url(parts[2])
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise SimpleAuthAppError from None
        user = self.store.simpleauth_user(int(parts[0]), person)
        if user is None or not hmac.compare_digest(mac, self._mac(user)):
            raise SimpleAuthAppError
        return user

    def _mac(self, user: SimpleAuthUser) -> bytes:
        text = (f"{user.provider}|{user.person}|{user.ca}|{user.serial:x}|{user.device}|"
                f"{user.phone}|{user.registered_at.isoformat()}")
        return hmac.new(self._token_key, text.encode(), hashlib.sha256).digest()

    # -- the relying party --------------------------------------------------------------

    def request(self, rp: Institution, code: int | str, *, name: str, phone: str,
                rrn: RRN | str | None = None, birth_date: dt.date | str | None = None,
                nonce: str | None = None, text: str | None = None) -> StatusView:
        """Push a request to the app of the person ``name`` with ``phone`` and ``rrn``
        (or ``birth_date``) at provider ``code``, for the relying party ``rp``. ``nonce``
        (8 to 128 characters of ``A-Za-z0-9._~+/=-``; drawn when not given) is signed back
        in the approval; ``text`` is shown in the app. The answer is the same whether
        such an app exists or not (the module doc). Raises
        :class:`SimpleAuthRequestError` naming the field."""
        chosen = provider(code)
        name, phone = _name(name), _phone(phone)
        if (rrn is None) == (birth_date is None):
            raise SimpleAuthRequestError("give the RRN or the birth date (one of them)",
                                         field="rrn")
        holder = None if rrn is None else _rrn(rrn)
        born = holder.birth_date if holder is not None else _birth_date(birth_date)
        if nonce is None:
            nonce = self.entropy.token_bytes(16).hex()
        elif not isinstance(nonce, str) or not _NONCE.fullmatch(nonce):
            raise SimpleAuthRequestError("a nonce is 8 to 128 characters of A-Z a-z 0-9 and "
                                         "._~+/=-", field="nonce")
        if text is not None and (not isinstance(text, str) or len(text) > MAX_TEXT):
            raise SimpleAuthRequestError(f"the text is at most {MAX_TEXT} characters",
                                         field="text")
        now = self.clock.now()
        record = SimpleAuthRequestRecord(
            id="sar_" + self.entropy.token_bytes(12).hex(), provider=chosen.code,
            institution_id=rp.id, person=None, nonce=nonce, state=SimpleAuthState.PENDING,
            created_at=now, expires_at=now + self.settings.timeout,
            data={"text": text or f"{rp.name} 본인인증", "rp": rp.name})
        with self.store.transaction() as tx:
            person = self._match(tx, chosen.code, name=name, phone=phone, born=born,
                                 person=None if holder is None else self._ci(holder.digits))
            tx.add_simpleauth_request(_with(record, person=person))
            tx.audit(AuditAction.SIMPLEAUTH_REQUESTED, at=now,
                     detail={"request": record.id, "provider": chosen.code, "rp": rp.name})
        return _view(record, now)

    @staticmethod
    def _match(tx: StoreTransaction, provider_code: int, *, name: str, phone: str,
               born: dt.date, person: str | None) -> str | None:
        """The person whose app the request reaches, or None: name, phone and birth date
        must all be the app's."""
        if person is not None:
            user = tx.simpleauth_user(provider_code, person)
            found = [] if user is None else [user]
        else:
            found = list(tx.simpleauth_users_with_phone(provider_code, phone))
        matching = [u for u in found if (u.name, u.phone, u.birth_date) == (name, phone, born)]
        return matching[0].person if len(matching) == 1 else None

    def status(self, rp: Institution, request_id: str) -> StatusView:
        """The request's status as ``rp`` sees it; :class:`SimpleAuthNotFoundError` for a
        request that is not ``rp``'s."""
        return _view(self._own(rp, request_id), self.clock.now())

    def result(self, rp: Institution, request_id: str) -> SimpleAuthResult:
        """The signed result of an approved request, handed over once (the request is
        then ``collected``). Raises :class:`SimpleAuthNotFoundError`,
        :class:`SimpleAuthExpiredError` (nobody answered in time),
        :class:`SimpleAuthStateError` (``not_approved`` with the state, or
        ``result_collected``)."""
        now = self.clock.now()
        with self.store.transaction() as tx:
            record = tx.simpleauth_request(request_id)
            if record is None or record.institution_id != rp.id:
                raise SimpleAuthNotFoundError("request")
            seen = _view(record, now).status
            if seen is SimpleAuthStatus.EXPIRED:
                raise SimpleAuthExpiredError(request=record.id, expired_at=record.expires_at)
            if seen is SimpleAuthStatus.COLLECTED:
                raise SimpleAuthStateError("the result was collected already",
                                           code="result_collected", request=record.id,
                                           state=seen.value)
            if seen is not SimpleAuthStatus.APPROVED:
                raise SimpleAuthStateError(f"the request is {seen.value}: no result",
                                           code="not_approved", request=record.id,
                                           state=seen.value)
            assert record.result is not None and record.ci is not None
            assert record.answered_at is not None
            tx.update_simpleauth_request(_with(record, state=SimpleAuthState.COLLECTED))
            tx.audit(AuditAction.SIMPLEAUTH_COLLECTED, at=now,
                     detail={"request": record.id, "rp": rp.name})
        signer = x509.load_der_x509_certificate(bytes.fromhex(record.data["signer"]))
        return SimpleAuthResult(id=record.id, provider=record.provider, nonce=record.nonce,
                                cms=record.result, ci=record.ci,
                                chain=(signer, *self._issuers(signer)),
                                approved_at=record.answered_at)

    def _own(self, rp: Institution, request_id: str) -> SimpleAuthRequestRecord:
        record = (self.store.simpleauth_request(request_id)
                  if isinstance(request_id, str) else None)
        if record is None or record.institution_id != rp.id:
            raise SimpleAuthNotFoundError("request")
        return record

    # -- the app ------------------------------------------------------------------------

    def pending(self, token: str | None) -> Sequence[PendingRequest]:
        """The requests waiting for the app's answer, oldest first (expired ones not)."""
        user = self.app(token)
        now = self.clock.now()
        return tuple(
            PendingRequest(id=r.id, provider=r.provider, relying_party=str(r.data["rp"]),
                           text=str(r.data["text"]), nonce=r.nonce, created_at=r.created_at,
                           expires_at=r.expires_at)
            for r in self.store.simpleauth_pending(user.provider, user.person)
            if now < r.expires_at)

    def decline(self, token: str | None, request_id: str) -> StatusView:
        """The person declined the request in the app."""
        user = self.app(token)
        return self._answer(user, request_id, SimpleAuthState.DECLINED,
                            AuditAction.SIMPLEAUTH_DECLINED)

    def fail(self, token: str | None, request_id: str, reason: FailReason | str) -> StatusView:
        """The app cannot answer the request: ``reason`` (``pin_locked``: the device
        keystore locked)."""
        user = self.app(token)
        try:
            why = FailReason(reason)
        except ValueError:
            why = None
        if why not in _APP_REASONS:
            raise SimpleAuthRequestError("an app reports pin_locked", field="reason")
        assert why is not None
        return self._answer(user, request_id, SimpleAuthState.FAILED,
                            AuditAction.SIMPLEAUTH_FAILED, data={"reason": why.value})

    def approve(self, token: str | None, request_id: str, signature: bytes) -> StatusView:
        """Approve the request with ``signature``: the app's CMS SignedData over the
        approval (module doc). Raises :class:`SimpleAuthAppError`,
        :class:`SimpleAuthNotFoundError`, :class:`SimpleAuthExpiredError`,
        :class:`SimpleAuthStateError` (``request_answered``) and
        :class:`SimpleAuthSignatureError` (the request then failed for
        ``certificate_revoked`` and ``certificate_invalid``)."""
        user = self.app(token)
        record = self._for_app(user, request_id, self.store.simpleauth_request(request_id))
        self._still_open(record, self.clock.now())
        if not isinstance(signature, bytes):
            raise SimpleAuthRequestError("the signature is bytes", field="signature")
        result = self._verified(signature, registration=False)
        assert result.signer is not None and result.content is not None
        signer = self._certificate_record(result.signer)
        if signer is None or (signer.ca, signer.serial) != (user.ca, user.serial):
            raise SimpleAuthSignatureError("the signer is not the app's registered "
                                           "certificate", reason="certificate_not_registered")
        approval = read_approval(result.content)
        if (approval is None or approval.decision != "approve"
                or (approval.request, approval.provider, approval.nonce, approval.ci)
                != (record.id, record.provider, record.nonce, user.person)
                or not (record.created_at - self.settings.skew <= approval.approved_at
                        <= record.expires_at)):
            raise SimpleAuthSignatureError("the signature does not approve this request",
                                           reason="content_mismatch")
        failure = _trust_failure(result)
        if failure is not None:
            self._answer(user, request_id, SimpleAuthState.FAILED,
                         AuditAction.SIMPLEAUTH_FAILED, data={"reason": failure.value})
            raise SimpleAuthSignatureError(f"the certificate is not usable: {failure.value}",
                                           reason=failure.value)
        signer_der = result.signer.public_bytes(_DER)
        return self._answer(user, request_id, SimpleAuthState.APPROVED,
                            AuditAction.SIMPLEAUTH_APPROVED, result=signature,
                            data={"signer": signer_der.hex()})

    # -- inside -------------------------------------------------------------------------

    def _answer(self, user: SimpleAuthUser, request_id: str, state: SimpleAuthState,
                action: AuditAction, *, result: bytes | None = None,
                data: dict[str, str] | None = None) -> StatusView:
        """Record the app's answer under the write lock, the request re-read there: only
        a pending, unexpired request of this app takes one."""
        now = self.clock.now()
        with self.store.transaction() as tx:
            record = self._for_app(user, request_id, tx.simpleauth_request(request_id))
            self._still_open(record, now)
            answered = _with(record, state=state, answered_at=now, result=result,
                             ci=user.person if result is not None else None,
                             data={**record.data, **(data or {})})
            tx.update_simpleauth_request(answered)
            tx.audit(action, at=now, ca=user.ca, serial=user.serial,
                     detail={"request": record.id, "provider": record.provider,
                             **({"reason": data["reason"]} if data and "reason" in data
                                else {})})
        return _view(answered, now)

    @staticmethod
    def _for_app(user: SimpleAuthUser, request_id: str,
                 record: SimpleAuthRequestRecord | None) -> SimpleAuthRequestRecord:
        if (record is None or record.person != user.person
                or record.provider != user.provider):
            raise SimpleAuthNotFoundError("request")
        return record

    @staticmethod
    def _still_open(record: SimpleAuthRequestRecord, now: dt.datetime) -> None:
        if record.state is not SimpleAuthState.PENDING:
            raise SimpleAuthStateError(f"the request was {record.state.value} already",
                                       code="request_answered", request=record.id,
                                       state=record.state.value)
        if now >= record.expires_at:
            raise SimpleAuthExpiredError(request=record.id, expired_at=record.expires_at)

    def _verified(self, signature: bytes, *, registration: bool) -> VerificationResult:
        """The verification of an app's signature; refused unless it is an intact,
        attached CMS signature by one certificate."""
        refusal: Exception
        if registration:
            refusal = SimpleAuthRegistrationError("the proof is not an intact CMS signature",
                                                  reason="proof_invalid")
        else:
            refusal = SimpleAuthSignatureError("not an intact CMS signature",
                                               reason="signature_invalid")
        try:
            result = self.verifier.verify(signature)
        except CannotEvaluateError:
            raise refusal from None
        if not result.intact or result.signer is None or result.content is None:
            raise refusal
        return result

    def _certificate_record(self, certificate: x509.Certificate) -> _CertRecord | None:
        der = certificate.public_bytes(_DER)
        for found in self.store.find_certificates(certificate.serial_number):
            if found.der == der:
                return _CertRecord(found.ca, found.serial, found.profile, found.der)
        return None

    def _issuers(self, certificate: x509.Certificate) -> tuple[x509.Certificate, ...]:
        """The CA certificates above ``certificate``, nearest first, from the store."""
        found = self._certificate_record(certificate)
        if found is None:
            return ()
        return (self.store.get_ca(found.ca).certificate, *chain_of(self.store, found.ca))


@dataclass(frozen=True)
class _CertRecord:
    ca: str
    serial: int
    profile: str
    der: bytes


_DER = Encoding.DER


def _trust_failure(result: VerificationResult) -> FailReason | None:
    """Why the signer's certificate cannot be trusted, or None."""
    revocation = result.check(CheckName.REVOCATION)
    if revocation is not None and revocation.outcome is Outcome.FAILED:
        return FailReason.CERTIFICATE_REVOKED
    if not result.ok or any(result.check(name) is None for name in
                            (CheckName.CHAIN, CheckName.VALIDITY)):
        return FailReason.CERTIFICATE_INVALID
    return None


def _view(record: SimpleAuthRequestRecord, now: dt.datetime) -> StatusView:
    if record.state is SimpleAuthState.PENDING:
        status = (SimpleAuthStatus.EXPIRED if now >= record.expires_at
                  else SimpleAuthStatus.PENDING)
    else:
        status = SimpleAuthStatus(record.state.value)
    reason = record.data.get("reason") if status is SimpleAuthStatus.FAILED else None
    return StatusView(id=record.id, provider=record.provider, status=status,
                      created_at=record.created_at, expires_at=record.expires_at,
                      answered_at=record.answered_at,
                      reason=None if reason is None else str(reason))


def _with(record: SimpleAuthRequestRecord, **changes: object) -> SimpleAuthRequestRecord:
    import dataclasses

    return dataclasses.replace(record, **changes)  # type: ignore[arg-type]


def _device_of(der: bytes) -> str:
    """The name an app's device is kept under: its certificate's fingerprint, short."""
    return hashlib.sha256(der).hexdigest()[:16]


def _name(name: object) -> str:
    if not isinstance(name, str):
        raise SimpleAuthRequestError("the name is text", field="name")
    try:
        return check_holder_name(name)
    except InvalidNameError as exc:
        raise SimpleAuthRequestError(str(exc), field="name") from None


def _phone(phone: object) -> str:
    try:
        return normalize_phone(phone)
    except InvalidRegistrationError as exc:
        raise SimpleAuthRequestError(str(exc), field="phone") from None


def _rrn(rrn: object) -> RRN:
    if isinstance(rrn, RRN):
        return rrn
    if not isinstance(rrn, str):
        raise SimpleAuthRequestError("the RRN is text", field="rrn")
    try:
        return RRN.parse(rrn)
    except InvalidRRNError as exc:
        raise SimpleAuthRequestError(str(exc), field="rrn") from None


def _birth_date(value: object) -> dt.date:
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}|\d{8}", value):
        try:
            return dt.date.fromisoformat(value if "-" in value
                                         else f"{value[:4]}-{value[4:6]}-{value[6:]}")
        except ValueError:
            pass
    raise SimpleAuthRequestError("a birth date is YYYY-MM-DD (or YYYYMMDD)",
                                 field="birth_date")
