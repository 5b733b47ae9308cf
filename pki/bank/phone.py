"""Phone verification (본인확인): the carriers' lines as test data, and the verification
channel integrators call (korean-pki.md section 9, issue 14 item 5).

**The carrier side** (:class:`Subscribers`) is test data: a line is a phone number with
its carrier (SKT, KT, LG U+, or an MVNO on one of them), its holder's name and resident
number, its type (postpaid, prepaid, corporate), its state (active, suspended, lost),
whether it is in another person's name than its user's, and whether the phone blocks the
ARS number. Tests and fixtures add and change lines; nothing else does.

**The channel** (:class:`PhoneVerification`) has the shape integrators know: a site
(an :class:`pki.store.Institution`) sends name, phone, the first 7 RRN digits, carrier and
method (:meth:`~PhoneVerification.request`), gets a verification id, then
:meth:`~PhoneVerification.confirm` with the code the person read, or
:meth:`~PhoneVerification.resend`, or :meth:`~PhoneVerification.status`. The rules:

* *Who may be verified.* Name, RRN digits and carrier must match the line; a mismatch (or
  a number without a line) is one refusal that does not say which field differed, so a
  stranger cannot learn who holds a number (:class:`IdentityMismatchError`). Mismatches
  are counted per phone and KST day, from every site, the same for a number with a line
  and one without (so the budget tells no more than the refusal); at
  :attr:`PhonePolicy.mismatches_per_phone_day` the phone takes no request until the day
  turns, its holder's neither (:class:`MismatchLimitError`): a budget that only wrong
  guesses spent would let the right one through. Only then is the line's eligibility
  told: prepaid, corporate, suspended and lost lines are refused
  (:class:`LineIneligibleError`, code ``line_prepaid`` ...). Every later step (a
  confirm, a key press, a resend) checks the line again: suspended or lost since, or
  given to another holder than the one matched (``line_reassigned``), it is refused
  before any code is compared.
* *Codes.* 6 digits, valid 3 minutes, at most 5 wrong tries each; at most 5 codes per
  verification (the first and the resends) and 10 per phone per KST day, from every site
  (all :class:`PhonePolicy`; the numbers after the 6 digits and the 3 minutes are
  *settings* without a primary source). Each try is decided under the store's write lock
  and a wrong one is counted in the same transaction, so 20 parallel wrong codes count
  exactly 5 and 20 parallel right ones verify once (the rest: ``verification_used``). A
  crash before the commit counts nothing; only compared codes are charged.
* *Methods.* ``SMS`` (the code by SMS), ``PUSH`` (the code to the carrier app, which
  needs push protection), ``ARS`` (a call-back: the site shows a 2-digit number, the
  person keys it in on the call that site placed: :meth:`~PhoneVerification.press`
  names the site, and a verification of another site is not found; a phone that blocks
  the ARS number is :class:`ArsBlockedError`, which says how to unblock it).
* *Push protection* (the carrier app that replaces the SMS): enrolled with an app
  password (:meth:`~PhoneVerification.enrol_app`); refused to minors and to lines in
  another person's name; while it is on, every SMS code goes to the app instead and the
  request says SMS auto-fill is unavailable. The app keeps the last 20 verifications,
  readable with its password (:meth:`~PhoneVerification.app_history`); wrong passwords
  are counted and lock the app after 5 (a *setting*). The password's KDF (scrypt) runs
  before the store's write lock is taken; the check is decided, and counted, under it.
* *The result* (:class:`VerificationResult`): name, birth date, sex, foreigner flag,
  CI and DI. The CI is the same for one person at every site, the DI differs per site.
  Real CI and DI come from an algorithm the verification agencies do not publish; kpki's
  have the real values' shape (CI: 88 base64 characters of 64 bytes, DI: 64 base64
  characters of 48 bytes) and are HMACs (SHA-512, SHA-384) under the service secret of
  the holder's resident number (and, for the DI, the site's stable code: its 3-digit
  institution code, else its id in the store, never its name, so renaming a site changes
  no DI). Nothing else about them is real.
* *The test channel.* Every SMS, push and call is kept in the store with the site that
  caused it; :meth:`~PhoneVerification.messages` shows a site only its own, as the
  cloud's test channel does.

Every change is one transaction with its audit row (``phone.code.sent``,
``phone.code.wrong``, ``phone.verified`` ...); no code, RRN or app password is ever in
one. Codes and app passwords are kept only hashed. Every refusal is a
:class:`pki.errors.PhoneVerificationError` with a stable ``code``.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import enum
import hashlib
import hmac as std_hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from cryptography.hazmat.primitives import hashes, hmac

from ..clock import Clock, kst_day_start, kst_today
from ..entropy import Entropy, SystemEntropy
from ..errors import (
    AppLockedError,
    ArsBlockedError,
    BankNotFoundError,
    BankRequestError,
    BankSettingsError,
    CodeTriesExhaustedError,
    CustomerExistsError,
    IdentityMismatchError,
    InvalidNameError,
    InvalidRegistrationError,
    InvalidRRNError,
    LineIneligibleError,
    MismatchLimitError,
    PhoneCodeExpiredError,
    PhoneVerificationError,
    PushIneligibleError,
    PushNotEnrolledError,
    SendLimitError,
    VerificationUsedError,
    WrongAppPasswordError,
    WrongPhoneCodeError,
)
from ..faults import fault_point
from ..names import check_holder_name
from ..registration import draw_code, normalize_phone
from ..rrn import RRN, SEVENTH_DIGITS
from ..store import (
    AuditAction,
    Carrier,
    Institution,
    LineState,
    LineType,
    Message,
    PhoneApp,
    PhoneVerificationRecord,
    Store,
    StoreTransaction,
    SubscriberLine,
    VerificationMethod,
    Via,
)
from .passwords import hash_password, password_matches

__all__ = [
    "ARS_NUMBER",
    "AppEntry",
    "PhonePolicy",
    "PhoneVerification",
    "Sex",
    "Subscribers",
    "VerificationRequest",
    "VerificationResult",
    "VerificationState",
    "VerificationStatus",
    "parse_carrier",
]

ARS_NUMBER = "1600-0000"
"""The number the ARS call comes from (not a real one)."""

_CARRIER_CODES: Mapping[str, tuple[Carrier, bool]] = {
    "SKT": (Carrier.SKT, False), "KT": (Carrier.KT, False), "KTF": (Carrier.KT, False),
    "LGU+": (Carrier.LGU, False), "LGT": (Carrier.LGU, False),
    "SKM": (Carrier.SKT, True), "KTM": (Carrier.KT, True), "LGM": (Carrier.LGU, True),
}


def parse_carrier(code: object) -> tuple[Carrier, bool]:
    """The carrier codes integrators send: ``SKT``, ``KT`` (``KTF``), ``LGU+`` (``LGT``),
    and an MVNO on one of them: ``SKM``, ``KTM``, ``LGM``. Returns (host network, whether
    an MVNO's line); :class:`BankRequestError` (``field="carrier"``) for anything else."""
    if isinstance(code, Carrier):
        return code, False
    found = _CARRIER_CODES.get(code.strip().upper()) if isinstance(code, str) else None
    if found is None:
        raise BankRequestError("a carrier is SKT, KT, LGU+, or an MVNO on one of them: SKM, "
                               "KTM, LGM", field="carrier")
    return found


@dataclass(frozen=True)
class PhonePolicy:
    """How phone verification counts. Only the 6 digits and the 3 minutes come from the
    carriers' pages; every other number is a *setting* without a primary source."""

    code_digits: int = 6
    code_seconds: int = 180
    """How long a code is accepted."""
    tries_per_code: int = 5
    """Wrong tries of one code that are compared; later ones are refused uncompared."""
    sends_per_verification: int = 5
    """Codes one verification may send: the first and the resends."""
    sends_per_phone_day: int = 10
    """Codes one phone may receive per KST day, from every site."""
    mismatches_per_phone_day: int = 5
    """Requests per KST day, from every site, whose name, RRN digits or carrier did not
    match the phone's line (or that named a number without a line); then the phone takes
    no request until the day turns, not even its holder's."""
    ars_digits: int = 2
    """Digits of the number an ARS call asks for."""
    app_password_tries: int = 5
    """Wrong carrier-app passwords in a row that lock the app."""
    app_history: int = 20
    """Verifications the carrier app keeps."""
    adult_age: int = 19
    """Age (in full years) from which a holder is no minor (the Civil Act's 19)."""

    _BOUNDS = {"code_digits": (4, 8), "code_seconds": (10, 3600), "tries_per_code": (1, 20),
               "sends_per_verification": (1, 20), "sends_per_phone_day": (1, 1000),
               "mismatches_per_phone_day": (1, 1000), "ars_digits": (1, 6),
               "app_password_tries": (1, 20), "app_history": (1, 100), "adult_age": (14, 25)}

    def __post_init__(self) -> None:
        for key, (low, high) in self._BOUNDS.items():
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise BankSettingsError(f"{key} is a whole number from {low} to {high}",
                                        key=key)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PhonePolicy:
        """A policy from a mapping of field names to values (missing keys keep their
        defaults); :class:`BankSettingsError` naming the key for an unknown one or a value
        out of bounds."""
        if not isinstance(config, Mapping):
            raise BankSettingsError("settings are a mapping of names to values", key="")
        known = {f.name for f in dataclasses.fields(cls)}
        for key in config:
            if key not in known:
                raise BankSettingsError(f"unknown phone verification setting {key!r} "
                                        f"(known: {', '.join(sorted(known))})", key=str(key))
        return cls(**config)

    @property
    def code_lifetime(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.code_seconds)


class Sex(enum.Enum):
    MALE = "M"
    FEMALE = "F"


class VerificationState(enum.Enum):
    """Where a verification stands (:meth:`PhoneVerification.status`)."""

    PENDING = "pending"
    """Its code may be tried."""
    VERIFIED = "verified"
    EXPIRED = "expired"
    """Its code is too old: resend (within the limits) or start again."""
    EXHAUSTED = "exhausted"
    """Its code had all its tries: resend (within the limits) or start again."""


@dataclass(frozen=True)
class VerificationResult:
    """Who was verified, as a site receives it."""

    name: str
    birth_date: dt.date
    sex: Sex
    foreigner: bool
    ci: str
    """Connecting information: the same for this person at every site (88 characters)."""
    di: str
    """Duplication information: the same for this person at this site only (64
    characters)."""
    phone: str
    carrier: Carrier
    mvno: bool


@dataclass(frozen=True)
class VerificationRequest:
    """What a site gets back when a code was sent (or a call placed)."""

    id: str
    method: VerificationMethod
    via: Via
    """Where the code went: an SMS, the carrier app, a call."""
    expires_at: dt.datetime
    autofill: bool
    """Whether the phone may fill the code in from the SMS: never while push protection
    is on (the code is in the app)."""
    display_code: str | None = None
    """ARS: the number the site shows, which the person keys in on the call."""
    sends_left: int = 0


@dataclass(frozen=True)
class VerificationStatus:
    id: str
    state: VerificationState
    method: VerificationMethod
    via: Via
    expires_at: dt.datetime
    tries_left: int
    """Wrong tries the current code may still take."""
    sends_left: int
    """Resends this verification may still make (the phone's daily bound aside)."""
    result: VerificationResult | None = None
    """Who was verified, once :attr:`state` is ``VERIFIED``."""


@dataclass(frozen=True)
class AppEntry:
    """A verification as the carrier app lists it."""

    verification: str
    site: str
    at: dt.datetime
    verified: bool


@dataclass(frozen=True)
class _Rrn7:
    digits: str
    birth_date: dt.date
    sex: Sex
    foreigner: bool


def _rrn7(text: object) -> _Rrn7:
    """The first 7 RRN digits (birth date and the seventh digit), ``YYMMDD-S`` or
    ``YYMMDDS``; :class:`BankRequestError` (``field="rrn7"``) else."""
    raw = text.strip().replace("-", "", 1) if isinstance(text, str) else ""
    seventh = SEVENTH_DIGITS.get(raw[6:7]) if len(raw) == 7 and raw.isascii() else None
    try:
        if seventh is None or not raw.isdigit():
            raise ValueError
        born = dt.date(seventh.century + int(raw[:2]), int(raw[2:4]), int(raw[4:6]))
    except ValueError:
        raise BankRequestError("rrn7 is the birth date and the next digit of the resident "
                               "number: YYMMDD-S (900517-1)", field="rrn7") from None
    return _Rrn7(raw, born, Sex.FEMALE if seventh.female else Sex.MALE, seventh.foreigner)


def _phone(phone: object) -> str:
    try:
        return normalize_phone(phone)
    except InvalidRegistrationError as exc:
        raise BankRequestError(str(exc), field="phone") from None


def _name(name: object) -> str:
    try:
        return check_holder_name(name if isinstance(name, str) else "", field="name")
    except InvalidNameError as exc:
        raise BankRequestError(str(exc), field="name") from None


_E = TypeVar("_E", bound=enum.Enum)


def _enum(kind: type[_E], value: object, field: str) -> _E:
    try:
        return value if isinstance(value, kind) else kind(value)
    except ValueError:
        raise BankRequestError(f"{field} is one of {', '.join(str(m.value) for m in kind)}",
                               field=field) from None


def _age(born: dt.date, today: dt.date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


class Subscribers:
    """The carrier side: lines as test data (see the module doc)."""

    def __init__(self, store: Store, *, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def add(self, phone: str, *, name: str, rrn: str, carrier: Carrier | str,
            mvno: str | None = None, line_type: LineType | str = LineType.POSTPAID,
            state: LineState | str = LineState.ACTIVE, other_name: bool = False,
            ars_blocked: bool = False) -> SubscriberLine:
        """Add a line; one transaction. ``carrier`` is the network (an MVNO's line names
        its host network and ``mvno``). Raises :class:`BankRequestError` naming the field
        for bad input, :class:`CustomerExistsError` (``field="phone"``) when the number
        has a line."""
        try:
            holder = RRN.parse(rrn)
        except (InvalidRRNError, TypeError):
            raise BankRequestError("rrn is a valid 13-digit resident registration number",
                                   field="rrn") from None
        if mvno is not None and not (isinstance(mvno, str) and mvno.strip()):
            raise BankRequestError("mvno is the MVNO's name, or None", field="mvno")
        line = SubscriberLine(
            phone=_phone(phone), carrier=_enum(Carrier, carrier, "carrier"), mvno=mvno,
            name=_name(name), rrn=holder.digits, line_type=self._type(line_type),
            state=_enum(LineState, state, "state"), added_at=self.clock.now(),
            other_name=bool(other_name), ars_blocked=bool(ars_blocked))
        with self.store.transaction() as tx:
            if tx.subscriber_line(line.phone) is not None:
                raise CustomerExistsError("this phone number has a line already",
                                          field="phone")
            tx.add_subscriber_line(line)
            tx.audit(AuditAction.PHONE_LINE_ADDED, at=line.added_at,
                     detail={"phone": line.phone, "carrier": line.carrier.value,
                             "mvno": line.mvno, "line_type": line.line_type.value})
        return line

    @staticmethod
    def _type(line_type: object) -> LineType:
        chosen = _enum(LineType, line_type, "line_type")
        if chosen not in (LineType.POSTPAID, LineType.PREPAID, LineType.CORPORATE):
            raise BankRequestError("line_type is postpaid, prepaid or corporate (a suspended "
                                   "or lost line is a state)", field="line_type")
        return chosen

    def line(self, phone: str) -> SubscriberLine:
        """The line of ``phone``; :class:`BankNotFoundError` (``line``) if none."""
        line = self.store.subscriber_line(_phone(phone))
        if line is None:
            raise BankNotFoundError("line")
        return line

    def change(self, phone: str, *, state: LineState | str | None = None,
               line_type: LineType | str | None = None, other_name: bool | None = None,
               ars_blocked: bool | None = None) -> SubscriberLine:
        """Change what is given of a line (suspend it, report it lost, unblock the ARS
        number ...); one transaction. Raises as :meth:`add` and :meth:`line` do."""
        digits = _phone(phone)
        changes: dict[str, Any] = {}
        if state is not None:
            changes["state"] = _enum(LineState, state, "state")
        if line_type is not None:
            changes["line_type"] = self._type(line_type)
        if other_name is not None:
            changes["other_name"] = bool(other_name)
        if ars_blocked is not None:
            changes["ars_blocked"] = bool(ars_blocked)
        with self.store.transaction() as tx:
            current = tx.subscriber_line(digits)
            if current is None:
                raise BankNotFoundError("line")
            line = dataclasses.replace(current, **changes)
            tx.update_subscriber_line(line)
            tx.audit(AuditAction.PHONE_LINE_CHANGED, at=self.clock.now(),
                     detail={"phone": digits, **{k: v.value if isinstance(v, enum.Enum)
                                                 else v for k, v in changes.items()}})
        return line


def _code_hash(verification_id: str, code: str) -> str:
    return hashlib.sha256(f"{verification_id}:{code}".encode()).hexdigest()


def _mac(secret: bytes, algorithm: hashes.HashAlgorithm, *parts: bytes) -> str:
    mac = hmac.HMAC(secret, algorithm)
    for part in parts:  # length-prefixed, so no two inputs run together the same way
        mac.update(len(part).to_bytes(4, "big") + part)
    return base64.b64encode(mac.finalize()).decode("ascii")


def _app_password(password: object) -> str:
    if not (isinstance(password, str) and len(password) == 6 and password.isascii()
            and password.isdigit()):
        raise BankRequestError("an app password is 6 digits", field="password")
    return password


class PhoneVerification:
    """The verification channel over one store (see the module doc).

    ``secret`` is the service secret the CI and DI are computed under (the same secret,
    the same values across runs); ``entropy`` draws ids, codes and salts (codes are
    secrets: never a seeded source outside tests).
    """

    def __init__(self, store: Store, *, clock: Clock, secret: bytes,
                 policy: PhonePolicy | None = None, entropy: Entropy | None = None,
                 sender: str = "kpki 본인확인") -> None:
        if not isinstance(secret, bytes) or len(secret) < 16:
            raise BankSettingsError("the service secret is at least 16 bytes", key="secret")
        self.store = store
        self.clock = clock
        self._secret = secret
        self.policy = policy or PhonePolicy()
        self.entropy: Entropy = entropy or SystemEntropy()
        self.sender = sender

    # -- CI and DI ----------------------------------------------------------------------

    def ci(self, rrn: str) -> str:
        """The CI of the person with resident number ``rrn`` (88 characters)."""
        return _mac(self._secret, hashes.SHA512(), b"kpki-ci", rrn.encode())

    def di(self, rrn: str, site: Institution) -> str:
        """The DI of that person at ``site`` (64 characters), under the site's stable
        code: its 3-digit institution code when it has one, else its id in the store, so
        renaming a site changes no DI."""
        site_code = f"code:{site.code}" if site.code else f"id:{site.id}"
        return _mac(self._secret, hashes.SHA384(), b"kpki-di", site_code.encode(),
                    rrn.encode())

    # -- the channel --------------------------------------------------------------------

    def request(self, site: Institution, *, name: str, phone: str, rrn7: str,
                carrier: Carrier | str, mvno: bool = False,
                method: VerificationMethod | str = VerificationMethod.SMS
                ) -> VerificationRequest:
        """Send a code (or place the ARS call) to verify that ``name`` with ``rrn7``
        holds ``phone`` on ``carrier`` (a code of :func:`parse_carrier`, or a
        :class:`Carrier` with ``mvno``); one transaction. Raises
        :class:`BankRequestError` (bad input), :class:`IdentityMismatchError` (counted
        against the phone's daily budget, whether the number has a line or not),
        :class:`MismatchLimitError` (the budget is spent: nothing compared),
        :class:`LineIneligibleError`, :class:`PushNotEnrolledError`,
        :class:`PushIneligibleError`, :class:`ArsBlockedError` or
        :class:`SendLimitError`; nothing else is recorded then."""
        name = _name(name)
        digits = _phone(phone)
        person = _rrn7(rrn7)
        network, on_mvno = parse_carrier(carrier)
        on_mvno = on_mvno or bool(mvno)
        chosen = _enum(VerificationMethod, method, "method")
        now = self.clock.now()
        verification_id = "pv_" + self.entropy.token_bytes(12).hex()
        code = draw_code(self.entropy, self.policy.ars_digits if chosen is
                         VerificationMethod.ARS else self.policy.code_digits)
        with self.store.transaction() as tx:
            mismatches = self._check_mismatches(tx, digits, now)
            line = tx.subscriber_line(digits)
            if line is None or not (line.name == name and line.rrn[:7] == person.digits
                                    and line.carrier is network
                                    and (line.mvno is not None) == on_mvno):
                matched = False  # counted: this transaction commits, the refusal follows
                tx.count_phone_mismatch(digits, site.id, at=now)
                tx.audit(AuditAction.PHONE_IDENTITY_MISMATCH, at=now,
                         detail={"phone": digits, "site": site.name,
                                 "mismatches": mismatches + 1})
            else:
                matched = True
                record = self._send_first(tx, site, line, verification_id, chosen, name,
                                          person, code, now)
        if not matched:
            raise IdentityMismatchError()
        fault_point("bank.phone.sent")
        return VerificationRequest(
            id=record.id, method=chosen, via=record.via, expires_at=record.expires_at,
            autofill=record.via is Via.SMS,
            display_code=code if chosen is VerificationMethod.ARS else None,
            sends_left=self.policy.sends_per_verification - 1)

    def _send_first(self, tx: StoreTransaction, site: Institution, line: SubscriberLine,
                    verification_id: str, chosen: VerificationMethod, name: str,
                    person: _Rrn7, code: str, now: dt.datetime) -> PhoneVerificationRecord:
        """A request that matched its line: the line's eligibility, the way the code
        goes, the phone's daily sends, then the verification and its first code."""
        digits = line.phone
        self._check_line(line)
        via = self._via(tx, line, chosen, now)
        self._check_phone_sends(tx, digits, now)
        record = PhoneVerificationRecord(
            id=verification_id, institution_id=site.id, phone=digits, method=chosen,
            via=via, name=name, rrn7=person.digits,
            code_hash=_code_hash(verification_id, code),
            expires_at=now + self.policy.code_lifetime, created_at=now)
        tx.add_phone_verification(record)
        self._deliver(tx, record, site, code, now)
        return record

    def resend(self, site: Institution, verification_id: str) -> VerificationRequest:
        """A new code for the verification (the old one is no longer accepted), with its
        own tries and lifetime; one transaction. Raises :class:`BankNotFoundError`,
        :class:`VerificationUsedError`, :class:`LineIneligibleError` (the line is no
        longer eligible, or has another holder now), :class:`SendLimitError` or (the phone
        blocks the ARS number now) :class:`ArsBlockedError`."""
        record = self._own(site, verification_id)
        now = self.clock.now()
        code = draw_code(self.entropy, self.policy.ars_digits if record.method is
                         VerificationMethod.ARS else self.policy.code_digits)
        with self.store.transaction() as tx:
            current = tx.phone_verification(record.id)
            assert current is not None
            if current.verified_at is not None:
                raise VerificationUsedError(verification=record.id)
            if current.sends >= self.policy.sends_per_verification:
                raise SendLimitError(scope="verification",
                                     limit=self.policy.sends_per_verification)
            line = self._line_of(tx, current)
            if current.via is Via.CALL and line.ars_blocked:
                raise ArsBlockedError(number=ARS_NUMBER)
            self._check_phone_sends(tx, current.phone, now)
            expires_at = now + self.policy.code_lifetime
            tx.resend_phone_code(record.id, _code_hash(record.id, code),
                                 expires_at=expires_at, at=now)
            self._deliver(tx, current, site, code, now)
        return VerificationRequest(
            id=record.id, method=record.method, via=record.via, expires_at=expires_at,
            autofill=record.via is Via.SMS,
            display_code=code if record.method is VerificationMethod.ARS else None,
            sends_left=self.policy.sends_per_verification - current.sends - 1)

    def confirm(self, site: Institution, verification_id: str, code: str
                ) -> VerificationResult:
        """Check the code the person read (SMS or app); returns who was verified. Raises
        :class:`BankNotFoundError`, :class:`BankRequestError` (not 6 digits, or an ARS
        verification, which a key press confirms), :class:`WrongPhoneCodeError`
        (counted), :class:`CodeTriesExhaustedError`, :class:`PhoneCodeExpiredError`,
        :class:`VerificationUsedError` or :class:`LineIneligibleError` (the line was
        suspended, reported lost or given to another holder since the request: nothing
        compared)."""
        record = self._own(site, verification_id)
        if record.method is VerificationMethod.ARS:
            raise BankRequestError("an ARS verification is confirmed by a key press on the "
                                   "call", field="method")
        self._try(record, code, self.policy.code_digits, site)
        result = self.status(site, record.id).result
        assert result is not None
        return result

    def press(self, site: Institution, verification_id: str, digits: str) -> None:
        """The person keys ``digits`` in on the ARS call that ``site`` placed for the
        verification (the test drives the phone). Raises as :meth:`confirm` does
        (:class:`BankNotFoundError` for a verification of another site); the site learns
        the outcome from :meth:`status`."""
        record = self._own(site, verification_id)
        if record.method is not VerificationMethod.ARS:
            raise BankRequestError("only an ARS verification calls the phone",
                                   field="method")
        self._try(record, digits, self.policy.ars_digits, site)

    def status(self, site: Institution, verification_id: str) -> VerificationStatus:
        """Where the verification stands, with its result once verified;
        :class:`BankNotFoundError` for one of another site."""
        record = self._own(site, verification_id)
        policy = self.policy
        if record.verified_at is not None:
            state = VerificationState.VERIFIED
        elif record.tries >= policy.tries_per_code:
            state = VerificationState.EXHAUSTED
        elif self.clock.now() > record.expires_at:
            state = VerificationState.EXPIRED
        else:
            state = VerificationState.PENDING
        return VerificationStatus(
            id=record.id, state=state, method=record.method, via=record.via,
            expires_at=record.expires_at,
            tries_left=max(0, policy.tries_per_code - record.tries),
            sends_left=max(0, policy.sends_per_verification - record.sends),
            result=self._result(record) if state is VerificationState.VERIFIED else None)

    def messages(self, site: Institution, phone: str) -> tuple[Message, ...]:
        """The test channel: every SMS, push and call to ``phone`` that ``site`` caused."""
        return tuple(self.store.messages(_phone(phone), site.id))

    # -- push protection (the carrier app) -----------------------------------------------

    def enrol_app(self, phone: str, *, password: str) -> PhoneApp:
        """Turn push protection on for ``phone`` with the carrier app's ``password`` (6
        digits); enrolling again replaces the app (its history and failures start again).
        Raises :class:`BankNotFoundError` (``line``), :class:`LineIneligibleError`,
        :class:`PushIneligibleError` or :class:`BankRequestError`."""
        digits = _phone(phone)
        secret = _app_password(password)
        now = self.clock.now()
        app = PhoneApp(phone=digits, enrolled_at=now,
                       password_hash=hash_password(secret, self.entropy.token_bytes(16)))
        with self.store.transaction() as tx:
            line = tx.subscriber_line(digits)
            if line is None:
                raise BankNotFoundError("line")
            self._check_line(line)
            self._check_push(line, now)
            tx.put_phone_app(app)
            tx.audit(AuditAction.PHONE_APP_ENROLLED, at=now, detail={"phone": digits})
        return app

    def remove_app(self, phone: str, *, password: str) -> None:
        """Turn push protection off (the app's password is needed); codes go by SMS
        again. Raises as :meth:`app_history` does."""
        digits = _phone(phone)
        self._unlock_app(digits, password)
        with self.store.transaction() as tx:
            if tx.remove_phone_app(digits):
                tx.audit(AuditAction.PHONE_APP_REMOVED, at=self.clock.now(),
                         detail={"phone": digits})

    def app_history(self, phone: str, *, password: str) -> tuple[AppEntry, ...]:
        """The verifications the carrier app keeps (the last 20, newest first), read with
        its password. Raises :class:`PushNotEnrolledError`, :class:`BankRequestError`,
        :class:`WrongAppPasswordError` (counted) or :class:`AppLockedError`."""
        digits = _phone(phone)
        app = self._unlock_app(digits, password)
        records = self.store.phone_verifications(digits, via=Via.APP, since=app.enrolled_at,
                                                 limit=self.policy.app_history)
        names: dict[int, str] = {}
        for record in records:
            if record.institution_id not in names:
                site = self.store.institution(record.institution_id)
                names[record.institution_id] = site.name if site else "?"
        return tuple(AppEntry(verification=r.id, site=names[r.institution_id],
                              at=r.created_at, verified=r.verified_at is not None)
                     for r in records)

    def _unlock_app(self, phone: str, password: object) -> PhoneApp:
        """Check the app password: the KDF runs before the write lock is taken (it costs
        tens of milliseconds), against the app as read then; under the lock the app is
        read again and, still the same enrolment, the check is decided and a wrong one
        counted in the same transaction (the last allowed one locks the app). An app
        enrolled again in between is checked anew against its own hash."""
        secret = _app_password(password)
        now = self.clock.now()
        app = self.store.phone_app(phone)
        while True:
            if app is None:
                raise PushNotEnrolledError()
            if app.locked:  # a lock ends only with a new enrolment: nothing to derive
                raise AppLockedError()
            right = password_matches(secret, app.password_hash)
            with self.store.transaction() as tx:
                current = tx.phone_app(phone)
                if current is not None and current.password_hash == app.password_hash:
                    refusal = self._count_app_try(tx, current, right, now)
                    break
            app = current
        if refusal is not None:
            raise refusal
        return current

    def _count_app_try(self, tx: StoreTransaction, app: PhoneApp, right: bool,
                       now: dt.datetime) -> PhoneVerificationError | None:
        """Decide a checked app password under the lock; the refusal of a counted wrong
        one is returned, to raise once the transaction has committed."""
        if app.locked:
            raise AppLockedError()
        if right:
            if app.failures:
                tx.set_phone_app_failures(app.phone, 0, locked_at=None)
            return None
        limit = self.policy.app_password_tries
        failures = app.failures + 1
        locked_at = now if failures >= limit else None
        tx.set_phone_app_failures(app.phone, failures, locked_at=locked_at)
        tx.audit(AuditAction.PHONE_APP_LOCKED if locked_at
                 else AuditAction.PHONE_APP_PASSWORD_WRONG, at=now,
                 detail={"phone": app.phone, "failures": failures})
        return (AppLockedError() if locked_at
                else WrongAppPasswordError(attempts_left=limit - failures))

    # -- the rules -------------------------------------------------------------------------

    @staticmethod
    def _check_line(line: SubscriberLine) -> None:
        if line.state is not LineState.ACTIVE:
            raise LineIneligibleError(line=line.state.value)
        if line.line_type is not LineType.POSTPAID:
            raise LineIneligibleError(line=line.line_type.value)

    def _check_push(self, line: SubscriberLine, now: dt.datetime) -> None:
        if _age(RRN(line.rrn).birth_date, kst_today(now)) < self.policy.adult_age:
            raise PushIneligibleError(reason="minor")
        if line.other_name:
            raise PushIneligibleError(reason="other_name")

    def _via(self, tx: StoreTransaction, line: SubscriberLine, method: VerificationMethod,
             now: dt.datetime) -> Via:
        if method is VerificationMethod.ARS:
            if line.ars_blocked:
                raise ArsBlockedError(number=ARS_NUMBER)
            return Via.CALL
        if tx.phone_app(line.phone) is not None:
            self._check_push(line, now)
            return Via.APP
        if method is VerificationMethod.PUSH:
            raise PushNotEnrolledError()
        return Via.SMS

    @classmethod
    def _line_of(cls, tx: StoreTransaction, record: PhoneVerificationRecord
                 ) -> SubscriberLine:
        """The verification's line as it is now: still the holder's who was matched at
        the request (else ``line_reassigned``), and still eligible."""
        line = tx.subscriber_line(record.phone)
        if line is None or line.name != record.name or line.rrn[:7] != record.rrn7:
            raise LineIneligibleError(line="reassigned")
        cls._check_line(line)
        return line

    def _check_mismatches(self, tx: StoreTransaction, phone: str, now: dt.datetime) -> int:
        """The phone's mismatches this KST day; :class:`MismatchLimitError` when they
        have reached the budget."""
        limit = self.policy.mismatches_per_phone_day
        mismatches = tx.phone_mismatches(phone, kst_day_start(kst_today(now)))
        if mismatches >= limit:
            raise MismatchLimitError(limit=limit)
        return mismatches

    def _check_phone_sends(self, tx: StoreTransaction, phone: str, now: dt.datetime) -> None:
        limit = self.policy.sends_per_phone_day
        if tx.phone_sends(phone, kst_day_start(kst_today(now))) >= limit:
            raise SendLimitError(scope="phone", limit=limit)

    def _deliver(self, tx: StoreTransaction, record: PhoneVerificationRecord,
                 site: Institution, code: str, now: dt.datetime) -> None:
        minutes = self.policy.code_seconds // 60 or 1
        if record.via is Via.CALL:
            text = (f"[{self.sender} ARS {ARS_NUMBER}] {site.name}: key in the "
                    f"{self.policy.ars_digits} digits shown on the screen")
        else:
            text = (f"[{self.sender}] {site.name}: verification code {code} (valid "
                    f"{minutes} min)")
        tx.record_message(Message(phone=record.phone, text=text, at=now,
                                  institution_id=site.id, via=record.via))
        tx.audit(AuditAction.PHONE_CODE_SENT, at=now,
                 detail={"verification": record.id, "site": site.name,
                         "via": record.via.value})

    def _own(self, site: Institution, verification_id: object) -> PhoneVerificationRecord:
        record = (self.store.phone_verification(verification_id)
                  if isinstance(verification_id, str) else None)
        if record is None or record.institution_id != site.id:
            raise BankNotFoundError("verification")
        return record

    def _try(self, record: PhoneVerificationRecord, code: object, digits: int,
             site: Institution) -> None:
        """Compare ``code`` with the current one under the write lock; a wrong one is
        counted in the same transaction, a right one verifies (once)."""
        if not (isinstance(code, str) and len(code) == digits and code.isascii()
                and code.isdigit()):
            raise BankRequestError(f"a code is {digits} digits", field="code")
        now = self.clock.now()
        limit = self.policy.tries_per_code
        refusal: PhoneVerificationError | None = None
        with self.store.transaction() as tx:
            current = tx.phone_verification(record.id)
            assert current is not None
            if current.verified_at is not None:
                raise VerificationUsedError(verification=record.id)
            if current.tries >= limit:
                raise CodeTriesExhaustedError(verification=record.id)
            if now > current.expires_at:
                raise PhoneCodeExpiredError(verification=record.id,
                                            expired_at=current.expires_at)
            line = self._line_of(tx, current)
            if std_hmac.compare_digest(current.code_hash, _code_hash(record.id, code)):
                tx.verify_phone(record.id, at=now, ci=self.ci(line.rrn),
                                di=self.di(line.rrn, site))
                tx.audit(AuditAction.PHONE_VERIFIED, at=now,
                         detail={"verification": record.id, "site": site.name})
            else:  # counted: this transaction commits, the refusal follows
                tx.count_phone_try(record.id)
                tx.audit(AuditAction.PHONE_CODE_WRONG, at=now,
                         detail={"verification": record.id, "tries": current.tries + 1})
                refusal = WrongPhoneCodeError(verification=record.id,
                                              tries_left=limit - current.tries - 1)
            fault_point("bank.phone.decided")
        fault_point("bank.phone.committed")
        if refusal is not None:
            raise refusal

    def _result(self, record: PhoneVerificationRecord) -> VerificationResult:
        person = _rrn7(record.rrn7)
        line = self.store.subscriber_line(record.phone)
        assert line is not None and record.ci is not None and record.di is not None
        return VerificationResult(
            name=record.name, birth_date=person.birth_date, sex=person.sex,
            foreigner=person.foreigner, ci=record.ci, di=record.di, phone=record.phone,
            carrier=line.carrier, mvno=line.mvno is not None)
