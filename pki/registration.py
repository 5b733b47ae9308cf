"""Registration: an institution registers a person (name, phone, birth date), and the
person confirms the phone with a code the institution cannot see.

Used by the cloud (:mod:`pki.cloud.service`) to know who a user is; made to serve the
identity proofing of joint-certificate issuance and a bank's phone verification the same
way. The rules (:class:`CodePolicy`):

* A registration sends a 2-digit code through a :class:`Channel`, valid 3 minutes.
* At most five guesses of one code are ever compared, however many arrive at once: each
  guess is decided under the store's write lock, and a compared wrong guess is counted in
  the same transaction (:class:`WrongCodeError`); after five, the registration is over
  (:class:`CodeExhaustedError`).
* An institution gets ten wrong codes a day for one phone, over all its registrations of
  that phone; then it can neither confirm nor register that phone until the day is over
  (:class:`CodeLimitError`). A fresh registration is a fresh code, not five fresh guesses:
  without this bound a stranger could register the victim's phone again and again until a
  guess held (a 2-digit code is 1 in 100).
* Only the institution that registered a user confirms it; to anyone else the user does
  not exist (:class:`UnknownUserError`).

Every change is one transaction with its audit row (``cloud.user.registered``,
``cloud.code.wrong``, ``cloud.user.confirmed``). Codes are kept only hashed, bound to
their user.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass
from typing import Protocol

from .clock import Clock
from .entropy import Entropy, SystemEntropy
from .errors import (
    CodeExhaustedError,
    CodeExpiredError,
    CodeLimitError,
    InvalidRegistrationError,
    NoCodePendingError,
    PKIError,
    RegistrationError,
    UnknownUserError,
    WrongCodeError,
)
from .names import check_holder_name
from .store import AuditAction, CloudUser, Institution, Message, Store
from .store.protocols import RegistrationWrites

__all__ = ["Channel", "CodePolicy", "Registrar", "StoreChannel", "draw_code", "normalize_phone"]


@dataclass(frozen=True)
class CodePolicy:
    """How confirmation codes work."""

    digits: int = 2
    """Digits of a code (the real service sends two)."""
    lifetime: dt.timedelta = dt.timedelta(minutes=3)
    attempts: int = 5
    """Wrong guesses of one code that are compared; the next ends the registration."""
    phone_attempts: int = 10
    """Wrong codes an institution may send for one phone in :attr:`phone_window`, over all
    its registrations of that phone."""
    phone_window: dt.timedelta = dt.timedelta(days=1)


class Channel(Protocol):
    """Carries a confirmation code to a phone."""

    def send(self, tx: RegistrationWrites, message: Message) -> None:
        """Send ``message``; called inside the registering transaction, so a channel that
        talks to the outside world queues the message there and sends it after the
        commit (a registration that rolls back sends nothing)."""
        ...


class StoreChannel:
    """The built-in stand-in for SMS: messages are kept in the store, where the test
    channel (``kpki serve --test-channel``) shows each institution the ones it caused."""

    def send(self, tx: RegistrationWrites, message: Message) -> None:
        tx.record_message(message)


def _code_hash(user_id: str, code: str) -> str:
    return hashlib.sha256((user_id + code).encode()).hexdigest()


_PHONE_SEPARATORS = str.maketrans("", "", " -.()")


def normalize_phone(phone: object) -> str:
    """A Korean phone number as the store keeps it: the domestic digits alone
    (``01012345678``), however it was written: ``010-1234-5678``, ``010 1234 5678``,
    ``+82 10 1234 5678`` (the country code for the leading 0) are one phone. Raises
    :class:`InvalidRegistrationError` (``field="phone"``) for anything else: a number must
    come to 9 to 11 ASCII digits starting with 0, and the only country code is +82."""
    text = phone.strip().translate(_PHONE_SEPARATORS) if isinstance(phone, str) else ""
    if text.startswith("+82"):
        text = "0" + text[3:].removeprefix("0")
    if not (text.isascii() and text.isdigit() and text.startswith("0")
            and 9 <= len(text) <= 11):
        raise InvalidRegistrationError(
            "a phone is a Korean number of 9 to 11 digits starting with 0 (010-1234-5678 "
            "or +82 10 1234 5678)", field="phone")
    return text


def draw_code(entropy: Entropy, digits: int) -> str:
    """A code of ``digits`` decimal digits, uniform (no modulo bias), from ``entropy``
    (codes are secrets: never a seeded source outside tests)."""
    space = 10 ** digits
    width = (space.bit_length() + 7) // 8 + 1
    bound = (256 ** width // space) * space  # draws at or above it would bias the code
    while True:
        value = int.from_bytes(entropy.token_bytes(width), "big")
        if value < bound:
            return f"{value % space:0{digits}d}"


class Registrar:
    """Registrations in one store (see the module doc).

    ``entropy`` draws user ids and codes (codes are secrets: never a seeded source outside
    tests); ``channel`` carries the codes (:class:`StoreChannel` by default).
    """

    def __init__(self, store: Store, *, clock: Clock, channel: Channel | None = None,
                 policy: CodePolicy = CodePolicy(), entropy: Entropy | None = None,
                 sender: str = "kpki cloud") -> None:
        self.store = store
        self.clock = clock
        self.channel: Channel = channel or StoreChannel()
        self.policy = policy
        self.entropy: Entropy = entropy or SystemEntropy()
        self.sender = sender

    def _code(self) -> str:
        return draw_code(self.entropy, self.policy.digits)

    def register(self, institution: Institution, *, name: str, phone: str,
                 birth_date: str | dt.date) -> CloudUser:
        """Register a person for ``institution`` and send a code to ``phone``; one
        transaction. Raises :class:`InvalidRegistrationError` or :class:`CodeLimitError`
        (nothing is recorded then)."""
        try:
            check_holder_name(name)
            born = (birth_date if isinstance(birth_date, dt.date)
                    else dt.date.fromisoformat(birth_date))
        except (PKIError, ValueError, TypeError):
            raise InvalidRegistrationError("name and birth_date (YYYY-MM-DD) are needed",
                                           field="name") from None
        digits = normalize_phone(phone)
        now = self.clock.now()
        user = CloudUser(id="u_" + self.entropy.token_bytes(8).hex(), name=name,
                         phone=digits, birth_date=born, institution_id=institution.id,
                         created_at=now)
        code = self._code()
        with self.store.transaction() as tx:
            if self._spent(tx, digits, institution, now) >= self.policy.phone_attempts:
                raise CodeLimitError(limit=self.policy.phone_attempts)
            tx.add_user(user)
            tx.put_code(user.id, _code_hash(user.id, code),
                        expires_at=now + self.policy.lifetime)
            self.channel.send(tx, Message(
                phone=digits, text=f"[{self.sender}] {institution.name}: confirmation code "
                                   f"{code}", at=now, institution_id=institution.id))
            tx.audit(AuditAction.CLOUD_USER_REGISTERED, at=now,
                     detail={"user": user.id, "institution": institution.name})
        return user

    def _spent(self, tx: RegistrationWrites, phone: str, institution: Institution,
               now: dt.datetime) -> int:
        return tx.wrong_codes(phone, institution.id, now - self.policy.phone_window)

    def user(self, institution: Institution, user_id: object) -> CloudUser:
        """The user ``institution`` registered; :class:`UnknownUserError` for any other."""
        user = self.store.cloud_user(user_id) if isinstance(user_id, str) else None
        if user is None or user.institution_id != institution.id:
            raise UnknownUserError()
        return user

    def confirm(self, institution: Institution, user_id: str, code: str) -> CloudUser:
        """Confirm a registration with its code (see the module doc for the limits).
        Returns the confirmed user; confirming twice is harmless."""
        user = self.user(institution, user_id)
        if user.confirmed:
            return user
        candidate = _code_hash(user.id, code) if isinstance(code, str) else ""
        now = self.clock.now()
        policy = self.policy
        refusal: RegistrationError | None = None
        with self.store.transaction() as tx:
            pending = tx.pending_code(user.id)
            if pending is None:
                raise NoCodePendingError()
            if pending.attempts >= policy.attempts:
                raise CodeExhaustedError()
            spent = self._spent(tx, user.phone, institution, now)
            if spent >= policy.phone_attempts:
                raise CodeLimitError(limit=policy.phone_attempts)
            if now > pending.expires_at:
                raise CodeExpiredError()
            if hmac.compare_digest(pending.code_hash, candidate):
                tx.confirm_user(user.id, at=now)
                tx.audit(AuditAction.CLOUD_USER_CONFIRMED, at=now, detail={"user": user.id})
            else:  # counted: this transaction commits, the refusal follows
                tx.count_wrong_code(user.id)
                tx.audit(AuditAction.CLOUD_CODE_WRONG, at=now,
                         detail={"user": user.id, "attempts": pending.attempts + 1})
                refusal = WrongCodeError(attempts_left=min(
                    policy.attempts - pending.attempts,
                    policy.phone_attempts - spent) - 1)
        if refusal is not None:
            raise refusal
        confirmed = self.store.cloud_user(user.id)
        assert confirmed is not None
        return confirmed

    def messages(self, institution: Institution, phone: str) -> tuple[Message, ...]:
        """The test channel: what was sent to ``phone`` (written any way
        :func:`normalize_phone` reads) because of ``institution``."""
        return tuple(self.store.messages(normalize_phone(phone), institution.id))
