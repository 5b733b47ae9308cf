"""Security cards (보안카드).

A card has a serial ("No") and :attr:`BankSettings.card_positions` four-digit codes (35 at
Hana; 25-35), drawn from an :class:`pki.entropy.Entropy`: a seed given at issue makes the
same card every time, so a test can print it (:class:`PrintedCard`). Cards belong to one
institution; a customer holds at most one active card there (a new one retires the old).

**The challenge** names two different positions; the answer is the first two digits of
the first position's code followed by the last two digits of the second's (card #8 = 2442,
#35 = 8808: the answer to (8, 35) is 2408). A challenge may be answered for
:attr:`BankSettings.challenge_seconds` (120) and only once, right or wrong.

**Counting.** An answer is decided under the store's write lock: the challenge is marked
answered and a wrong answer counted in the same transaction, so however many answers
arrive at once exactly one per challenge is compared, and exactly
:attr:`BankSettings.card_attempts` (5) wrong answers in a row are compared before the card
locks. A locked card stays locked until a branch resets it (:meth:`SecurityCards.reset`,
an audited RA action); the lock never clears by itself. A right answer clears the count.
Refusals that compare nothing (an expired or used challenge, a locked card, a malformed
answer) count nothing. A crash before the commit leaves the challenge unanswered and
nothing counted.
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass, field

from ..clock import Clock
from ..entropy import Entropy, SeededEntropy, SystemEntropy, below
from ..errors import (
    BankError,
    BankNotFoundError,
    BankRequestError,
    CardLockedError,
    ChallengeExpiredError,
    ChallengeUsedError,
    WrongCardAnswerError,
)
from ..faults import fault_point
from ..store import (
    AuditAction,
    BankLookups,
    CardChallenge,
    Institution,
    SecurityCardRecord,
    Store,
    StoreTransaction,
)
from .customers import Customers
from .institutions import settings_of
from .media import MediumKind, MediumOutcome, decision_time

__all__ = ["CardMedium", "Challenge", "ChallengeAndCard", "PrintedCard", "SecurityCards",
           "card_answer", "challenge_in"]


@dataclass(frozen=True)
class PrintedCard:
    """What the customer holds: the serial and the codes, position 1 first."""

    serial: str
    codes: tuple[str, ...] = field(repr=False)
    card_id: str = ""
    """The bank's id of the card."""

    def code(self, position: int) -> str:
        """The code at ``position`` (1-based, as printed)."""
        if not 1 <= position <= len(self.codes):
            raise ValueError(f"a position is 1 to {len(self.codes)}")
        return self.codes[position - 1]

    def answer(self, first: int, second: int) -> str:
        """The answer to a challenge naming ``first`` and ``second``."""
        return card_answer(self.codes, first, second)

    def text(self) -> str:
        """The card as printed: its serial, then five positions a line."""
        cells = [f"{n:>2}: {code}" for n, code in enumerate(self.codes, start=1)]
        lines = ["   ".join(cells[i:i + 5]) for i in range(0, len(cells), 5)]
        return "\n".join([f"No. {self.serial}", *lines])


@dataclass(frozen=True)
class Challenge:
    """A challenge to answer from the card with serial :attr:`serial`."""

    id: str
    serial: str
    first: int
    second: int
    expires_at: dt.datetime


def card_answer(codes: tuple[str, ...], first: int, second: int) -> str:
    """The first two digits of the code at ``first`` and the last two of ``second``'s."""
    return codes[first - 1][:2] + codes[second - 1][2:]


def _check_answer(answer: object) -> str:
    if not (isinstance(answer, str) and len(answer) == 4 and answer.isascii()
            and answer.isdigit()):
        raise BankRequestError("a security card answer is 4 digits", field="answer")
    return answer


ChallengeAndCard = tuple[CardChallenge, SecurityCardRecord]
"""A challenge and the card it is to, as one transaction read them."""


def challenge_in(lookups: BankLookups, challenge_id: object) -> ChallengeAndCard | None:
    """The challenge ``challenge_id`` and its card as ``lookups`` (a transaction, under
    its lock) reads them; None when there is no such challenge or card."""
    return (lookups.card_challenge_and_card(challenge_id) if isinstance(challenge_id, str)
            else None)


class SecurityCards:
    """The security cards of one store (see the module doc). ``entropy`` draws cards
    issued without a seed, challenge positions and ids."""

    def __init__(self, store: Store, *, clock: Clock, entropy: Entropy | None = None) -> None:
        self.store = store
        self.clock = clock
        self.entropy: Entropy = entropy or SystemEntropy()
        self.customers = Customers(store, clock=clock, entropy=self.entropy)

    def issue(self, institution: Institution, customer_id: str, *,
              seed: bytes | str | None = None) -> PrintedCard:
        """Issue a card to the customer (retiring the active one, if any) and return it
        as printed; with ``seed`` the same seed gives the same serial and codes. One
        transaction."""
        customer = self.customers.get(institution, customer_id)
        source: Entropy = SeededEntropy(seed) if seed is not None else self.entropy
        serial = f"{below(10**8, source):08d}"
        codes = tuple(f"{below(10**4, source):04d}"
                      for _ in range(settings_of(institution).card_positions))
        now = self.clock.now()
        record = SecurityCardRecord(id="k_" + self.entropy.token_bytes(8).hex(),
                                    institution_id=institution.id, customer_id=customer.id,
                                    serial=serial, codes=codes, issued_at=now)
        with self.store.transaction() as tx:
            old = tx.active_security_card(customer.id)
            if old is not None:
                tx.retire_security_card(old.id, at=now)
            tx.add_security_card(record)
            tx.audit(AuditAction.BANK_CARD_ISSUED, at=now,
                     detail={"institution": institution.name, "customer": customer.id,
                             "card": serial, "replaces": None if old is None else old.serial})
        return PrintedCard(serial, codes, record.id)

    def card(self, institution: Institution, customer_id: str) -> SecurityCardRecord:
        """The customer's active card; :class:`BankNotFoundError` if none."""
        customer = self.customers.get(institution, customer_id)
        card = self.store.active_security_card(customer.id)
        if card is None:
            raise BankNotFoundError("card")
        return card

    def challenge(self, institution: Institution, customer_id: str) -> Challenge:
        """A new challenge to the customer's active card. Raises
        :class:`CardLockedError` or :class:`BankNotFoundError` (no card)."""
        card = self.card(institution, customer_id)
        if card.locked:
            raise CardLockedError(card=card.serial)
        count = len(card.codes)
        first = below(count, self.entropy) + 1
        second = below(count - 1, self.entropy) + 1
        second += second >= first  # two different positions, each pair equally likely
        now = self.clock.now()
        challenge = CardChallenge(id="ch_" + self.entropy.token_bytes(12).hex(),
                                  card_id=card.id, first=first, second=second, issued_at=now,
                                  expires_at=now + settings_of(institution).challenge_lifetime)
        with self.store.transaction() as tx:
            tx.add_card_challenge(challenge)
            tx.audit(AuditAction.BANK_CARD_CHALLENGED, at=now,
                     detail={"institution": institution.name, "card": card.serial,
                             "positions": [first, second]})
        return Challenge(challenge.id, card.serial, first, second, challenge.expires_at)

    def answer(self, institution: Institution, challenge_id: str, answer: str, *,
               at: dt.datetime | None = None) -> None:
        """Answer a challenge (see the module doc); returns when it is right. Raises
        :class:`WrongCardAnswerError` (counted), :class:`CardLockedError` (the answer
        locked the card, or it was locked), :class:`ChallengeUsedError`,
        :class:`ChallengeExpiredError`, :class:`BankRequestError` (a malformed answer) or
        :class:`BankNotFoundError` (no such challenge for this institution).

        The bank's clock decides and dates the answer: ``at`` (the
        :class:`pki.bank.media.Medium` protocol's) is honoured only when it is later than
        the clock, so no caller can answer a challenge after its time by naming an earlier
        one."""
        _check_answer(answer)
        now = decision_time(self.clock, at)
        with self.store.transaction() as tx:
            refusal = self.answer_in(tx, institution, challenge_id, answer, now=now)
        if refusal is not None:
            raise refusal

    def answer_in(self, tx: StoreTransaction, institution: Institution, challenge_id: str,
                  answer: str, *, now: dt.datetime, audited: bool = True,
                  read: ChallengeAndCard | None = None) -> BankError | None:
        """:meth:`answer` inside ``tx`` at ``now`` (the decision time): None when the
        answer is right; the refusal of a counted wrong answer (written in ``tx``: the
        caller commits, then raises or reports it). The refusals that count nothing are
        raised at once, having written nothing. ``audited=False``: a right answer writes
        no audit row (the caller's row in ``tx`` names it). ``read``: the challenge and
        its card as ``tx`` has read them already (:func:`challenge_in`, under this same
        lock: a transfer checks whose they are first); None reads them."""
        _check_answer(answer)
        limit = settings_of(institution).card_attempts
        found = challenge_in(tx, challenge_id) if read is None else read
        if found is not None and found[0].id != challenge_id:
            raise ValueError("read is another challenge's")
        if (found is None or found[1].institution_id != institution.id
                or found[1].retired_at is not None):
            raise BankNotFoundError("challenge")
        challenge, card = found
        if challenge.answered_at is not None:
            raise ChallengeUsedError(challenge=challenge.id)
        if now > challenge.expires_at:
            raise ChallengeExpiredError(challenge=challenge.id)
        if card.locked:
            raise CardLockedError(card=card.serial)
        tx.answer_card_challenge(challenge.id, at=now)
        right = hmac.compare_digest(
            card_answer(card.codes, challenge.first, challenge.second), answer)
        fault_point("bank.card.compared")
        if right:
            if card.failures:
                tx.set_card_failures(card.id, 0, locked_at=None)
            if audited:
                tx.audit(AuditAction.BANK_CARD_ANSWERED, at=now,
                         detail={"institution": institution.name, "card": card.serial})
            return None
        detail = {"institution": institution.name, "card": card.serial}
        failures = card.failures + 1  # counted: the transaction commits, the refusal follows
        locked_at = now if failures >= limit else None
        tx.set_card_failures(card.id, failures, locked_at=locked_at)
        tx.audit(AuditAction.BANK_CARD_LOCKED if locked_at else AuditAction.BANK_CARD_WRONG,
                 at=now, detail={**detail, "failures": failures})
        return (CardLockedError(card=card.serial) if locked_at
                else WrongCardAnswerError(card=card.serial, attempts_left=limit - failures))

    def reset(self, institution: Institution, customer_id: str, *, operator: str
              ) -> SecurityCardRecord:
        """A branch clears the card's lock and wrong-answer count (an RA action, audited
        with ``operator``). One transaction. Returns the card as it is then."""
        card = self.card(institution, customer_id)
        if not isinstance(operator, str) or not 1 <= len(operator) <= 64:
            raise BankRequestError("operator names the branch staff, 1-64 characters",
                                   field="operator")
        now = self.clock.now()
        with self.store.transaction() as tx:
            tx.set_card_failures(card.id, 0, locked_at=None)
            tx.audit(AuditAction.BANK_CARD_RESET, at=now,
                     detail={"institution": institution.name, "card": card.serial,
                             "operator": operator, "was_locked": card.locked})
        return self.card(institution, customer_id)

    def report_lost(self, institution: Institution, customer_id: str) -> None:
        """The customer reports the card lost: it is retired at once (no challenge to it
        is answered any more); the limits fall back to the media that remain."""
        card = self.card(institution, customer_id)
        now = self.clock.now()
        with self.store.transaction() as tx:
            if tx.retire_security_card(card.id, at=now):
                tx.audit(AuditAction.BANK_CARD_LOST, at=now,
                         detail={"institution": institution.name, "card": card.serial})

    def medium(self, institution: Institution, challenge_id: str, *,
               read: ChallengeAndCard | None = None) -> CardMedium:
        """The challenge as a :class:`pki.bank.media.Medium`; ``read`` as
        :class:`CardMedium` takes it."""
        return CardMedium(self, institution, challenge_id, read=read)


class CardMedium:
    """A security-card challenge seen as a :class:`pki.bank.media.Medium`: ``verify``
    answers it, and returns the refusals as outcomes instead of raising."""

    kind = MediumKind.SECURITY_CARD

    def __init__(self, cards: SecurityCards, institution: Institution, challenge_id: str, *,
                 read: ChallengeAndCard | None = None) -> None:
        self.cards = cards
        self.institution = institution
        self.challenge_id = challenge_id
        self.read = read
        """The challenge and its card as the transaction that :meth:`verify_in` will be
        given has read them (:func:`challenge_in`); None: read them there. :meth:`verify`,
        in a transaction of its own, always reads them."""

    def verify(self, response: str, *, at: dt.datetime | None = None) -> MediumOutcome:
        """Raises only :class:`BankNotFoundError` (no such challenge here)."""
        with self.cards.store.transaction() as tx:
            return self._verify_in(tx, response, at=at, audited=True, read=None)

    def verify_in(self, tx: StoreTransaction, response: str, *,
                  at: dt.datetime | None = None, audited: bool = True) -> MediumOutcome:
        """:meth:`verify` inside ``tx`` (:meth:`SecurityCards.answer_in`)."""
        return self._verify_in(tx, response, at=at, audited=audited, read=self.read)

    def _verify_in(self, tx: StoreTransaction, response: str, *, at: dt.datetime | None,
                   audited: bool, read: ChallengeAndCard | None) -> MediumOutcome:
        try:
            refusal = self.cards.answer_in(tx, self.institution, self.challenge_id, response,
                                           now=decision_time(self.cards.clock, at),
                                           audited=audited, read=read)
        except (CardLockedError, ChallengeUsedError, ChallengeExpiredError,
                BankRequestError) as exc:
            return MediumOutcome(self.kind, False, exc.code)
        if isinstance(refusal, WrongCardAnswerError):
            return MediumOutcome(self.kind, False, refusal.code, refusal.attempts_left)
        if refusal is not None:
            return MediumOutcome(self.kind, False, refusal.code)
        return MediumOutcome(self.kind, True)
