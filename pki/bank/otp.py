"""One-time passwords (OTP): the shared OTP centre's hardware tokens, a bank's mobile OTP
and the shared digital OTP (korean-pki.md section 9; issue 14 item 3).

**Codes.** RFC 6238 TOTP: HOTP (RFC 4226, HMAC-SHA1 by default) of the time step, computed
by ``cryptography``'s two-factor module; 6 digits and a 60-second step by default
(:class:`OtpSettings`). Time steps count from the Unix epoch.

**The rules**, the same at every institution because a token is one record of the centre
(:class:`pki.store.OtpToken`) whatever number of institutions it is registered with:

* A code is compared with the codes of the token's expected step and one step either side
  (:attr:`OtpSettings.drift_window`), the expected step being the clock's step moved by the
  token's *learned drift*: an accepted code of step ``s`` at clock step ``T`` sets the
  drift to ``s - T``, so a token whose clock runs a minute fast keeps working.
* A code is accepted once: an accepted code's step becomes the token's ``last_step``, and
  a code matching that step or an earlier one is a replay (:class:`OtpReplayError`), never
  counted as wrong.
* A code matching no step of the window is a *verified* wrong code: it is counted, in the
  same transaction as the comparison, on the token itself, so wrong codes at every
  institution add up; the 10th in a row (:attr:`OtpSettings.lock_after`, a *setting*: no
  primary source states the number) locks the token everywhere (:class:`OtpLockedError`).
  A right code clears the count. Only a branch clears a lock
  (:meth:`OtpCentre.reset_failures`, an audited RA action).
* Resynchronisation (:meth:`OtpCentre.resynchronise`): two consecutive codes found within
  :attr:`OtpSettings.resync_window` steps of the expected step set the drift anew; a pair
  found nowhere is one verified wrong attempt.
* A loss reported at any institution stops the token everywhere (:class:`OtpLostError`).

**Kinds** (:class:`pki.store.OtpKind`):

* *hardware*: active when issued; registered at further institutions by its holder
  with a right code (:meth:`OtpCentre.register`).
* *mobile*: usable only at its bank; bound to the device it was last issued to
  (:class:`OtpDeviceError` from another); issuing one disables the customer's earlier
  media at that bank (an earlier mobile OTP, the hardware or digital OTP's registration
  there, the security card); it must be activated with a right code within 3 days counting
  the issue day (the issuing bank's
  :attr:`pki.bank.institutions.BankSettings.mobile_otp_activation_days`: a bank's own
  token follows its bank's setting, while the shared tokens' numbers are the centre's
  :class:`OtpSettings`), else it is reissued; a new phone is a reissue.
* *digital*: one app per person on one phone (a new issue disables the earlier app
  everywhere); registered at participating institutions only (the institution's
  ``digital_otp`` setting, :class:`pki.bank.institutions.BankSettings`).

**As a medium.** :meth:`OtpCentre.medium` gives a token as a
:class:`pki.bank.media.Medium` (what a transfer's authorisation calls), and
:func:`otp_media` is the limits' source of a customer's usable OTP kinds
(:mod:`pki.bank.limits`): a lost, locked, replaced or not yet activated token gives no
limits.

**Concurrency and crashes.** Every decision is made inside one store transaction, which
holds the store's write lock from its first read (SQLite: ``BEGIN IMMEDIATE``): the token
is read, its seed opened and the code compared, and the verdict (an accepted step, a
counted failure, a lock) written with its audit row, with no other writer in between, in
this process or another. A comparison costs a few HMACs, so unlike the cloud's PIN checks
(:mod:`pki.cloud.pin`, whose KDF takes 0.1 s) nothing needs to be reserved outside the
lock: twenty wrong codes at once are twenty counted failures in some order, locking at the
tenth; twenty copies of one right code are one acceptance and nineteen replays. A crash
before the commit leaves nothing: the attempt was neither counted nor accepted.

**Seeds** are never stored in the clear: each is sealed with AES-256-GCM under a key
derived from the centre's secret (the vault secret of :mod:`pki.cloud.vault` in a home),
bound to the token's serial; :class:`OtpGenerator` and :class:`IssuedOtp` hide the seed from
``repr`` and no audit row or error names it. The holder is kept as a keyed hash of the
RRN (:func:`person_of`), never the RRN.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.twofactor.hotp import HOTP, HOTPHashTypes

from ..clock import Clock, kst_day_end, kst_today
from ..entropy import Entropy, SystemEntropy
from ..errors import (
    BankError,
    BankNotFoundError,
    BankRequestError,
    BankSettingsError,
    OtpActivationExpiredError,
    OtpDeviceError,
    OtpDisabledError,
    OtpLockedError,
    OtpLostError,
    OtpNotActivatedError,
    OtpNotUsableHereError,
    OtpReplayError,
    OtpSealedUnderOtherSecretError,
    WrongOtpError,
)
from ..faults import fault_point
from ..store import (
    AuditAction,
    BankCustomer,
    OtpKind,
    OtpRegistration,
    OtpToken,
    Store,
    StoreTransaction,
)
from ..store.protocols import BankLookups
from .institutions import BankSettings, settings_of
from .limits import MediaLookups
from .media import MediumKind, MediumOutcome, decision_time

__all__ = [
    "Holder",
    "IssuedOtp",
    "OtpAccepted",
    "OtpCentre",
    "OtpGenerator",
    "OtpKind",
    "OtpMedium",
    "OtpSettings",
    "OtpStatus",
    "medium_kind",
    "otp_media",
    "person_of",
]

_ALGORITHMS: dict[str, Callable[[], HOTPHashTypes]] = {
    "SHA1": hashes.SHA1, "SHA256": hashes.SHA256, "SHA512": hashes.SHA512}
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class OtpSettings:
    """How the OTP centre's codes and counters work. The defaults are those of the bank
    and OTP-centre pages, except where a field says *setting* (no primary source)."""

    digits: int = 6
    """Digits of a code."""
    step: dt.timedelta = dt.timedelta(seconds=60)
    """A new code every step."""
    algorithm: str = "SHA1"
    """The HMAC hash: ``SHA1`` (hardware tokens), ``SHA256`` or ``SHA512``."""
    drift_window: int = 1
    """Steps either side of the expected one that a code is compared with."""
    lock_after: int = 10
    """Verified wrong codes in a row, over every institution, that lock a token (*setting*:
    the centre's pages say 10, no primary source)."""
    resync_window: int = 60
    """Steps either side of the expected one that resynchronisation searches (*setting*)."""
    seed_bytes: int = 20
    """Length of a drawn seed (RFC 4226 recommends 160 bits)."""

    def __post_init__(self) -> None:
        checks = {
            "digits": 6 <= self.digits <= 8,
            "step": (self.step >= dt.timedelta(seconds=1)
                     and self.step.microseconds == 0),
            "algorithm": self.algorithm in _ALGORITHMS,
            "drift_window": 0 <= self.drift_window <= 10,
            "lock_after": 1 <= self.lock_after <= 100,
            "resync_window": self.drift_window <= self.resync_window <= 1440,
            "seed_bytes": 16 <= self.seed_bytes <= 64,
        }
        for key, good in checks.items():
            if not good:
                raise BankSettingsError(f"the OTP setting {key} is out of range", key=key)

    def step_of(self, at: dt.datetime) -> int:
        """The time step at ``at`` (RFC 6238's T)."""
        return int((at - _EPOCH) // self.step)

    def code(self, seed: bytes, step: int) -> str:
        """The code of ``step`` (RFC 4226 HOTP of the step as counter)."""
        return self.coder(seed)(step)

    def coder(self, seed: bytes) -> Callable[[int], str]:
        """The codes of one seed, step by step (one HOTP key set up for several steps)."""
        hotp = HOTP(seed, self.digits, _ALGORITHMS[self.algorithm](),
                    enforce_key_length=False)
        return lambda step: hotp.generate(step).decode("ascii")


class Holder(Protocol):
    """A customer of an institution, as the OTP centre needs one
    (:class:`pki.store.BankCustomer` is one)."""

    @property
    def id(self) -> str: ...

    @property
    def institution_id(self) -> int: ...

    @property
    def rrn(self) -> str: ...


@dataclass(frozen=True)
class OtpGenerator:
    """What the token in the holder's hand computes: the code at a time. For tests and
    fixtures; ``clock_offset`` makes a token whose own clock runs fast (or slow)."""

    seed: bytes = field(repr=False)
    settings: OtpSettings = OtpSettings()
    clock_offset: dt.timedelta = dt.timedelta(0)

    def code(self, at: dt.datetime) -> str:
        """The code the token shows at ``at``."""
        return self.settings.code(self.seed, self.settings.step_of(at + self.clock_offset))

    def code_at_step(self, step: int) -> str:
        return self.settings.code(self.seed, step)

    def drifted(self, offset: dt.timedelta) -> OtpGenerator:
        """The same token with its clock ``offset`` off."""
        return dataclasses.replace(self, clock_offset=offset)


@dataclass(frozen=True)
class IssuedOtp:
    """A token just issued: its serial, kind and what the holder's token computes."""

    serial: str
    kind: OtpKind
    generator: OtpGenerator

    def code(self, at: dt.datetime) -> str:
        return self.generator.code(at)


@dataclass(frozen=True)
class OtpAccepted:
    """A code accepted: the step it was of and the drift learned from it."""

    serial: str
    kind: OtpKind
    step: int
    drift: int
    at: dt.datetime


@dataclass(frozen=True)
class OtpStatus:
    """A token as one institution sees it (never where else it is registered)."""

    serial: str
    kind: OtpKind
    customer_id: str
    failures: int
    attempts_left: int
    locked: bool
    lost: bool
    disabled: bool
    activated: bool
    activate_by: dt.datetime | None
    """The end of a mobile OTP's activation period while it is not activated."""
    device: str | None
    drift: int


def person_of(secret: bytes, rrn: str) -> str:
    """The key that names one person at every institution: a keyed hash of the RRN, so a
    stolen store does not give the RRN back."""
    return hmac.new(_subkey(secret, b"person"), rrn.encode("ascii"),
                    hashlib.sha256).hexdigest()[:32]


def _subkey(secret: bytes, label: bytes) -> bytes:
    return hmac.new(secret, b"kpki-otp-" + label + b"-v1", hashlib.sha256).digest()


class OtpCentre:
    """The OTP rules of the module doc over one store.

    ``secret`` (at least 32 bytes) seals the seeds and keys the holders' person hash;
    ``entropy`` draws seeds, serials and nonces.
    """

    def __init__(self, store: Store, clock: Clock, *, secret: bytes,
                 settings: OtpSettings = OtpSettings(), entropy: Entropy | None = None
                 ) -> None:
        if len(secret) < 32:
            raise BankSettingsError("the OTP centre's secret is at least 32 bytes", key="secret")
        self.store = store
        self.clock = clock
        self.settings = settings
        self.entropy: Entropy = entropy or SystemEntropy()
        self._secret = secret
        self._aead = AESGCM(_subkey(secret, b"seal"))

    # -- issuing -----------------------------------------------------------------------------

    def issue_hardware(self, holder: Holder, *, seed: bytes | None = None,
                       serial: str | None = None) -> IssuedOtp:
        """A hardware token (its ``serial`` and ``seed`` as the maker delivered them, else
        drawn) issued to ``holder`` at its institution; active at once."""
        return self._issue(holder, OtpKind.HARDWARE, seed=seed, serial=serial, device=None)

    def issue_mobile(self, holder: Holder, *, device: str, seed: bytes | None = None
                     ) -> IssuedOtp:
        """A mobile OTP of ``holder``'s bank on ``device``, to be activated within the
        bank's ``mobile_otp_activation_days``; disables the holder's earlier media at that
        bank. Issuing again (a new phone, an activation period missed) is the reissue."""
        return self._issue(holder, OtpKind.MOBILE, seed=seed, serial=None,
                           device=_device(device))

    def issue_digital(self, holder: Holder, *, device: str, seed: bytes | None = None
                      ) -> IssuedOtp:
        """The person's digital OTP app on ``device``, registered at ``holder``'s
        institution (which must participate); the person's earlier app, on any phone, is
        disabled everywhere."""
        if not _participates(self.store, holder.institution_id):
            raise OtpNotUsableHereError(kind=OtpKind.DIGITAL.value)
        return self._issue(holder, OtpKind.DIGITAL, seed=seed, serial=None,
                           device=_device(device))

    def _issue(self, holder: Holder, kind: OtpKind, *, seed: bytes | None,
               serial: str | None, device: str | None) -> IssuedOtp:
        settings = self.settings
        if seed is None:
            seed = self.entropy.token_bytes(settings.seed_bytes)
        elif not isinstance(seed, bytes) or not 16 <= len(seed) <= 64:
            raise BankRequestError("an OTP seed is 16 to 64 bytes", field="seed")
        if serial is None:
            serial = self._serial()
        elif not (isinstance(serial, str) and serial.isascii() and serial.isdigit()
                  and 6 <= len(serial) <= 20):
            raise BankRequestError("an OTP serial is 6 to 20 digits", field="serial")
        now = self.clock.now()
        person = person_of(self._secret, holder.rrn)
        token = OtpToken(serial=serial, kind=kind, person=person,
                         issuer_id=holder.institution_id, sealed_seed=self._seal(serial, seed),
                         issued_at=now, device=device,
                         activated_at=None if kind is OtpKind.MOBILE else now)
        with self.store.transaction() as tx:
            if tx.otp_token(serial) is not None:
                raise BankRequestError(f"an OTP token with serial {serial} exists",
                                       field="serial")
            if kind is OtpKind.MOBILE:
                self._disable_earlier_media(tx, holder, now)
            elif kind is OtpKind.DIGITAL:
                for earlier in tx.otp_tokens(person=person):
                    if earlier.kind is OtpKind.DIGITAL and earlier.disabled_at is None:
                        self._disable(tx, earlier, now, because=serial)
            tx.put_otp_token(token)
            tx.register_otp(OtpRegistration(serial, holder.institution_id, holder.id, now))
            tx.audit(AuditAction.BANK_OTP_ISSUED, at=now, detail={
                "otp": serial, "kind": kind.value, "institution": holder.institution_id,
                "customer": holder.id})
        return IssuedOtp(serial, kind, OtpGenerator(seed, settings))

    def _disable_earlier_media(self, tx: StoreTransaction, holder: Holder,
                               now: dt.datetime) -> None:
        """What a new mobile OTP replaces at its bank: an earlier mobile OTP (disabled),
        a hardware or digital OTP (its registration there ends; it still works
        elsewhere), the security card (retired)."""
        for earlier in tx.otp_tokens(institution_id=holder.institution_id,
                                     customer_id=holder.id):
            if earlier.kind is OtpKind.MOBILE:
                if earlier.disabled_at is None:
                    self._disable(tx, earlier, now, because="mobile OTP issued")
            elif tx.unregister_otp(earlier.serial, holder.institution_id):
                tx.audit(AuditAction.BANK_OTP_UNREGISTERED, at=now, detail={
                    "otp": earlier.serial, "institution": holder.institution_id,
                    "because": "mobile OTP issued"})
        card = tx.active_security_card(holder.id)
        if card is not None and tx.retire_security_card(card.id, at=now):
            tx.audit(AuditAction.BANK_CARD_RETIRED, at=now, detail={
                "card": card.serial, "institution": holder.institution_id,
                "because": "mobile OTP issued"})

    def _disable(self, tx: StoreTransaction, token: OtpToken, now: dt.datetime, *,
                 because: str) -> None:
        tx.update_otp_token(dataclasses.replace(token, disabled_at=now))
        tx.audit(AuditAction.BANK_OTP_DISABLED, at=now,
                 detail={"otp": token.serial, "because": because})

    def _serial(self) -> str:
        bound = (2**64 // 10**12) * 10**12
        while True:
            value = int.from_bytes(self.entropy.token_bytes(8), "big")
            if value < bound:
                return f"{value % 10**12:012d}"

    # -- sealing -----------------------------------------------------------------------------

    def _seal(self, serial: str, seed: bytes) -> bytes:
        nonce = self.entropy.token_bytes(12)
        return nonce + self._aead.encrypt(nonce, seed, _aad(serial))

    def _open(self, token: OtpToken) -> bytes:
        sealed = token.sealed_seed
        try:
            return self._aead.decrypt(sealed[:12], sealed[12:], _aad(token.serial))
        except InvalidTag:
            raise OtpSealedUnderOtherSecretError(serial=token.serial) from None

    # -- registering at further institutions ---------------------------------------------------

    def register(self, holder: Holder, serial: str, code: str) -> OtpAccepted:
        """Register the holder's hardware OTP or digital OTP at ``holder``'s institution
        (another one than where it was issued), proven with a right code (which is then
        used up; a wrong one counts). A mobile OTP is its bank's alone and a digital OTP
        goes only to participating institutions (:class:`OtpNotUsableHereError`); a token
        of someone else is not found."""
        code = self._check_code(code)
        now = self.clock.now()
        with self.store.transaction() as tx:
            token = tx.otp_token(_serial_text(serial))
            if token is None or token.person != person_of(self._secret, holder.rrn):
                raise BankNotFoundError("OTP token")
            if any(r.institution_id == holder.institution_id
                   for r in tx.otp_registrations(token.serial)):
                raise BankRequestError("the OTP token is registered here already",
                                       field="serial")
            if token.kind is OtpKind.MOBILE or (
                    token.kind is OtpKind.DIGITAL
                    and not _participates(tx, holder.institution_id)):
                raise OtpNotUsableHereError(kind=token.kind.value)
            self._check_usable(token, device=token.device, now=now)
            verdict = self._decide(tx, token, code, now)
            if isinstance(verdict, OtpAccepted):
                tx.register_otp(OtpRegistration(token.serial, holder.institution_id,
                                                holder.id, now))
                tx.audit(AuditAction.BANK_OTP_REGISTERED, at=now, detail={
                    "otp": token.serial, "institution": holder.institution_id,
                    "customer": holder.id})
        return _outcome(verdict)

    # -- verifying ------------------------------------------------------------------------------

    def verify(self, holder: Holder, serial: str, code: str, *, device: str | None = None,
               at: dt.datetime | None = None) -> OtpAccepted:
        """Accept ``code`` from the holder's token ``serial`` at the holder's institution
        (from ``device`` for a mobile or digital OTP), now by the bank's clock (``at`` only
        when later: :func:`pki.bank.media.decision_time`, so no caller gets an old code
        accepted by naming its time). Raises :class:`WrongOtpError` (counted),
        :class:`OtpLockedError` (the count reached the limit, now or before),
        :class:`OtpReplayError`, :class:`OtpLostError`, :class:`OtpDisabledError`,
        :class:`OtpNotActivatedError`, :class:`OtpActivationExpiredError`,
        :class:`OtpDeviceError`, :class:`OtpSealedUnderOtherSecretError` (nothing
        counted), :class:`BankNotFoundError` or :class:`BankRequestError`."""
        code = self._check_code(code)
        now = decision_time(self.clock, at)
        with self.store.transaction() as tx:
            verdict = self.verify_in(tx, holder, serial, code, device=device, now=now)
        return _outcome(verdict)

    def verify_in(self, tx: StoreTransaction, holder: Holder, serial: str, code: str, *,
                  device: str | None, now: dt.datetime, audited: bool = True,
                  token: OtpToken | None = None) -> OtpAccepted | BankError:
        """:meth:`verify` inside ``tx`` at ``now`` (the decision time): the acceptance, or
        the refusal of a counted wrong code (written in ``tx``: the caller commits, then
        raises or reports it). The refusals that count nothing are raised at once, having
        written nothing. ``audited=False``: an accepted code writes no audit row (the
        caller's row in ``tx`` names it). ``token``: the holder's token ``serial`` as
        ``tx`` has read it already (:meth:`registered_in`, under this same lock); None
        reads it."""
        code = self._check_code(code)
        if token is None or token.serial != serial:
            token = self._registered(tx, holder, serial)
        self._check_usable(token, device=device, now=now, active=True)
        return self._decide(tx, token, code, now, audited=audited)

    def activate(self, holder: Holder, serial: str, code: str, *, device: str) -> OtpAccepted:
        """Activate a mobile OTP with a right code from its device, within its activation
        period (:class:`OtpActivationExpiredError` after it: reissue). Activating an
        active token is verifying a code."""
        code = self._check_code(code)
        now = self.clock.now()
        with self.store.transaction() as tx:
            token = self._registered(tx, holder, serial)
            self._check_usable(token, device=device, now=now)
            activating = token.activated_at is None
            verdict = self._decide(tx, token, code, now, activate=activating)
            if activating and isinstance(verdict, OtpAccepted):
                tx.audit(AuditAction.BANK_OTP_ACTIVATED, at=now, detail={
                    "otp": token.serial, "institution": holder.institution_id})
        return _outcome(verdict)

    def resynchronise(self, holder: Holder, serial: str, first: str, second: str, *,
                      device: str | None = None) -> OtpAccepted:
        """Learn a token's drift anew from two consecutive codes (``first``, then the
        next), searched within :attr:`OtpSettings.resync_window` steps. A pair found
        nowhere counts as one wrong code; a pair at or before the last accepted step is a
        replay."""
        first, second = self._check_code(first), self._check_code(second, field="second")
        now = self.clock.now()
        settings = self.settings
        with self.store.transaction() as tx:
            token = self._registered(tx, holder, serial)
            self._check_usable(token, device=device, now=now, active=True)
            code_of = settings.coder(self._open(token))
            expected = settings.step_of(now) + token.drift
            found = [s for s in _by_distance(expected, settings.resync_window)
                     if hmac.compare_digest(code_of(s), first)
                     and hmac.compare_digest(code_of(s + 1), second)]
            fault_point("bank.otp.checked")
            fresh = [s for s in found if token.last_step is None or s > token.last_step]
            if not fresh:
                if found:
                    raise OtpReplayError(serial=token.serial)
                verdict: OtpAccepted | BankError = self._charge(tx, token, now)
            else:
                step = fresh[0] + 1
                drift = step - settings.step_of(now)
                tx.update_otp_token(dataclasses.replace(token, drift=drift, last_step=step,
                                                        failures=0))
                tx.audit(AuditAction.BANK_OTP_RESYNCHRONISED, at=now, detail={
                    "otp": token.serial, "drift": drift,
                    "institution": holder.institution_id})
                verdict = OtpAccepted(token.serial, token.kind, step, drift, now)
        return _outcome(verdict)

    def _decide(self, tx: StoreTransaction, token: OtpToken, code: str, now: dt.datetime,
                *, activate: bool = False, audited: bool = True) -> OtpAccepted | BankError:
        """Compare ``code`` and write the verdict, inside ``tx``: returns the acceptance,
        or the refusal of a counted wrong code (written: the caller lets the transaction
        commit, then raises it with :func:`_outcome`). A replay is raised at once
        (nothing written)."""
        settings = self.settings
        code_of = settings.coder(self._open(token))
        clock_step = settings.step_of(now)
        expected = clock_step + token.drift
        matches = [s for s in _by_distance(expected, settings.drift_window)
                   if hmac.compare_digest(code_of(s), code)]
        fault_point("bank.otp.checked")
        fresh = [s for s in matches if token.last_step is None or s > token.last_step]
        if not fresh:
            if matches:
                raise OtpReplayError(serial=token.serial)
            return self._charge(tx, token, now)
        step = fresh[0]
        drift = step - clock_step
        tx.use_otp_step(token.serial, step=step, drift=drift,
                        activated_at=now if activate else token.activated_at)
        if audited:
            tx.audit(AuditAction.BANK_OTP_ACCEPTED, at=now, detail={
                "otp": token.serial, "step": step, "drift": drift})
        return OtpAccepted(token.serial, token.kind, step, drift, now)

    def _charge(self, tx: StoreTransaction, token: OtpToken, now: dt.datetime) -> BankError:
        """Count a verified wrong code on the token (locking it at the limit) with its
        audit row; returns the refusal to raise once the transaction has committed."""
        failures = token.failures + 1
        locked = failures >= self.settings.lock_after
        tx.update_otp_token(dataclasses.replace(token, failures=failures,
                                                locked_at=now if locked else None))
        tx.audit(AuditAction.BANK_OTP_LOCKED if locked else AuditAction.BANK_OTP_WRONG,
                 at=now, detail={"otp": token.serial, "failures": failures})
        if locked:
            return OtpLockedError(serial=token.serial, failures=failures)
        return WrongOtpError(serial=token.serial,
                             attempts_left=self.settings.lock_after - failures)

    # -- the branch and the holder ----------------------------------------------------------------

    def report_lost(self, holder: Holder, serial: str) -> None:
        """The holder reports the token lost at its institution: it stops everywhere.
        Reporting it twice changes nothing."""
        now = self.clock.now()
        with self.store.transaction() as tx:
            token = self._registered(tx, holder, serial)
            if token.lost_at is not None:
                return
            tx.update_otp_token(dataclasses.replace(token, lost_at=now))
            tx.audit(AuditAction.BANK_OTP_LOST, at=now, detail={
                "otp": token.serial, "institution": holder.institution_id})

    def reset_failures(self, holder: Holder, serial: str, *, operator: str) -> None:
        """A branch clears the token's failures and lock (an RA action, audited with the
        ``operator``). A lost or disabled token stays so."""
        if not isinstance(operator, str) or not operator.strip():
            raise BankRequestError("a branch reset names its operator", field="operator")
        now = self.clock.now()
        with self.store.transaction() as tx:
            token = self._registered(tx, holder, serial)
            tx.update_otp_token(dataclasses.replace(token, failures=0, locked_at=None))
            tx.audit(AuditAction.BANK_OTP_RESET, at=now, detail={
                "otp": token.serial, "institution": holder.institution_id,
                "operator": operator, "failures": token.failures})

    def status(self, holder: Holder, serial: str) -> OtpStatus:
        """The token as the holder's institution sees it."""
        token = self.store.otp_token(_serial_text(serial))
        if token is None or not any(
                r.institution_id == holder.institution_id and r.customer_id == holder.id
                for r in self.store.otp_registrations(token.serial)):
            raise BankNotFoundError("OTP token")
        return OtpStatus(
            serial=token.serial, kind=token.kind, customer_id=holder.id,
            failures=token.failures,
            attempts_left=max(self.settings.lock_after - token.failures, 0),
            locked=token.locked, lost=token.lost_at is not None,
            disabled=token.disabled_at is not None,
            activated=token.activated_at is not None,
            activate_by=None if token.activated_at else self._activate_by(token),
            device=token.device, drift=token.drift)

    def tokens_of(self, holder: Holder) -> Sequence[OtpStatus]:
        """The holder's tokens registered at its institution, oldest first."""
        return tuple(self.status(holder, t.serial) for t in self.store.otp_tokens(
            institution_id=holder.institution_id, customer_id=holder.id))

    def generator(self, holder: Holder, serial: str) -> OtpGenerator:
        """What the holder's token computes, its seed opened: for the faces that play the
        token in the holder's hand (``kpki bank otp code``, fixtures) in a later process
        than the one that issued it. Raises :class:`BankNotFoundError` as :meth:`status`
        does, :class:`OtpSealedUnderOtherSecretError` under another secret."""
        self.status(holder, serial)
        token = self.store.otp_token(_serial_text(serial))
        assert token is not None
        return OtpGenerator(self._open(token), self.settings)

    def medium(self, holder: Holder, serial: str, *, device: str | None = None,
               token: OtpToken | None = None) -> OtpMedium:
        """The token as a security medium of ``holder`` (what a transfer checks);
        ``token`` as :class:`OtpMedium` takes it."""
        return OtpMedium(self, holder, serial, device, token=token)

    def registered_in(self, lookups: StoreTransaction, holder: Holder, serial: str
                      ) -> OtpToken:
        """The token ``serial`` as ``lookups`` (a transaction, under its lock) reads it,
        if it is registered to ``holder`` at its institution; :class:`BankNotFoundError`
        otherwise."""
        return self._registered(lookups, holder, serial)

    # -- checks ----------------------------------------------------------------------------------

    def _registered(self, tx: StoreTransaction, holder: Holder, serial: str) -> OtpToken:
        found = tx.otp_token_of(_serial_text(serial), institution_id=holder.institution_id,
                                customer_id=holder.id)
        if found is None or not found[1]:
            raise BankNotFoundError("OTP token")
        return found[0]

    def _check_usable(self, token: OtpToken, *, device: str | None, now: dt.datetime,
                      active: bool = False) -> None:
        """Refuse a token that cannot take a code now; ``active``: one not yet activated
        too (:class:`OtpNotActivatedError`)."""
        if token.lost_at is not None:
            raise OtpLostError(serial=token.serial)
        if token.disabled_at is not None:
            raise OtpDisabledError(serial=token.serial)
        if token.locked:
            raise OtpLockedError(serial=token.serial, failures=token.failures)
        if token.device is not None and device != token.device:
            raise OtpDeviceError(serial=token.serial, device=device)
        if token.activated_at is None and now > self._activate_by(token):
            raise OtpActivationExpiredError(serial=token.serial,
                                            deadline=self._activate_by(token))
        if active and token.activated_at is None:
            raise OtpNotActivatedError(serial=token.serial, activate_by=self._activate_by(token))

    def _activate_by(self, token: OtpToken) -> dt.datetime:
        """The end (23:59:59 KST) of the last day of the activation period, the issue day
        counting as the first: the issuing bank's ``mobile_otp_activation_days``."""
        issuer = self.store.institution(token.issuer_id)
        days = (settings_of(issuer).mobile_otp_activation_days if issuer is not None
                else BankSettings().mobile_otp_activation_days)
        return kst_day_end(kst_today(token.issued_at) + dt.timedelta(days=days - 1))

    def _check_code(self, code: object, *, field: str = "code") -> str:
        digits = self.settings.digits
        if not (isinstance(code, str) and len(code) == digits and code.isascii()
                and code.isdigit()):
            raise BankRequestError(f"an OTP code is {digits} digits", field=field)
        return code


def _outcome(verdict: OtpAccepted | BankError) -> OtpAccepted:
    """The acceptance, or the counted refusal raised once its transaction committed."""
    fault_point("bank.otp.committed")
    if isinstance(verdict, BankError):
        raise verdict
    return verdict


def _by_distance(centre: int, window: int) -> list[int]:
    """``centre``, then one step either side, two steps ... up to ``window``; earlier
    before later at each distance."""
    steps = [centre]
    for k in range(1, window + 1):
        steps += [centre - k, centre + k]
    return steps


def _aad(serial: str) -> bytes:
    return b"kpki-otp-seed-v1|" + serial.encode("ascii")


def _device(device: object) -> str:
    if not isinstance(device, str) or not device.strip() or len(device) > 200:
        raise BankRequestError("a device is named by a non-empty id", field="device")
    return device


def _serial_text(serial: object) -> str:
    if not isinstance(serial, str) or not serial.isascii() or not serial.isdigit():
        raise BankNotFoundError("OTP token")
    return serial


def medium_kind(kind: OtpKind) -> MediumKind:
    """The kind of security medium a token of ``kind`` is (what limit tables grade)."""
    return {OtpKind.HARDWARE: MediumKind.HARDWARE_OTP, OtpKind.MOBILE: MediumKind.MOBILE_OTP,
            OtpKind.DIGITAL: MediumKind.DIGITAL_OTP}[kind]


def _participates(lookups: BankLookups, institution_id: int) -> bool:
    institution = lookups.institution(institution_id)
    return institution is not None and settings_of(institution).digital_otp


def otp_media(lookups: MediaLookups, customer: BankCustomer) -> Iterable[MediumKind]:
    """The kinds of the customer's OTP tokens usable at its institution now: registered
    there for the customer, activated, not lost, locked or replaced (a
    :data:`pki.bank.limits.MediaSource`)."""
    return tuple(medium_kind(token.kind) for token in lookups.otp_tokens(
        institution_id=customer.institution_id, customer_id=customer.id)
        if token.activated_at is not None and not token.locked
        and token.lost_at is None and token.disabled_at is None)


class OtpMedium:
    """An OTP token as one of a customer's security media (:class:`pki.bank.media.Medium`):
    what a transfer authorisation calls, ``verify(response, at=...)``, to check the code.
    Refusals come back as outcomes with their stable code; it raises only when it cannot
    evaluate: :class:`BankNotFoundError` (no such token of the customer here),
    :class:`OtpSealedUnderOtherSecretError` (the centre's secret is not the seed's)."""

    def __init__(self, centre: OtpCentre, holder: Holder, serial: str,
                 device: str | None, *, token: OtpToken | None = None) -> None:
        self.centre = centre
        self.holder = holder
        self.serial = serial
        self.device = device
        self.token = token
        """The token as the transaction that :meth:`verify_in` will be given has read it
        (:meth:`OtpCentre.registered_in`); None: read it there. :meth:`verify`, in a
        transaction of its own, always reads it."""

    @property
    def kind(self) -> MediumKind:
        return medium_kind(self.centre.status(self.holder, self.serial).kind)

    def verify(self, response: str, *, at: dt.datetime | None = None) -> MediumOutcome:
        """:meth:`OtpCentre.verify` of this token, as an outcome."""
        with self.centre.store.transaction() as tx:
            return self._verify_in(tx, response, at=at, audited=True, token=None)

    def verify_in(self, tx: StoreTransaction, response: str, *,
                  at: dt.datetime | None = None, audited: bool = True) -> MediumOutcome:
        """:meth:`verify` inside ``tx`` (:meth:`OtpCentre.verify_in`)."""
        return self._verify_in(tx, response, at=at, audited=audited, token=self.token)

    def _verify_in(self, tx: StoreTransaction, response: str, *, at: dt.datetime | None,
                   audited: bool, token: OtpToken | None) -> MediumOutcome:
        token = token or self.centre.registered_in(tx, self.holder, self.serial)
        kind = medium_kind(token.kind)
        try:
            verdict = self.centre.verify_in(tx, self.holder, self.serial, response,
                                            device=self.device,
                                            now=decision_time(self.centre.clock, at),
                                            audited=audited, token=token)
        except (BankNotFoundError, OtpSealedUnderOtherSecretError):
            raise
        except BankError as exc:
            return MediumOutcome(kind, False, exc.code)
        if isinstance(verdict, WrongOtpError):
            return MediumOutcome(kind, False, verdict.code, verdict.attempts_left)
        if isinstance(verdict, BankError):
            return MediumOutcome(kind, False, verdict.code)
        return MediumOutcome(kind, True)
