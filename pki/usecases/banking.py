"""The bank (issue 14) assembled once for a store and a clock: what ``kpki bank``, the
``/bank/v1`` web API, the pytest fixtures and :class:`pki.testing.TestPKI` call.

:class:`Banking` holds one of each of the bank's services over the same store, clock and
entropy (customers and accounts, security cards, the OTP centre, phone verification and the
carriers' lines, the limit ledger) and adds the few steps that cross them: finding a bank
by its code, a customer seen whole (:meth:`Banking.overview`), a card as printed, the code
a customer's OTP token shows now. The rules stay in :mod:`pki.bank`; nothing here decides.

**The service secret.** OTP seeds are sealed, and the phone channel's CI and DI keyed,
under secrets that are not in the store. In a home (:meth:`Banking.of_home`) both are
derived (HMAC-SHA256 with a label each) from the home's vault secret,
``$KPKI_VAULT_SECRET`` or ``<home>/cloud/vault.secret`` (0600), the one the cloud keeps
(:mod:`pki.cloud.vault`): a copy of the store alone opens no seed, and the same home gives
the same CI and DI in every run. It is made at the bank's first use only when nothing is
sealed under an earlier one (no cloud key, no OTP token); else a missing or another
secret is :class:`pki.errors.VaultError`, never a new secret.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..bank.cards import PrintedCard, SecurityCards
from ..bank.customers import Customers, Enrolment
from ..bank.devices import BankDevices
from ..bank.institutions import (
    BankSettings,
    add_bank,
    bank_by_code,
    change_settings,
    settings_of,
)
from ..bank.limits import LimitLedger, Limits
from ..bank.media import MediumKind
from ..bank.otp import OtpCentre, OtpSettings, OtpStatus
from ..bank.phone import PhonePolicy, PhoneVerification, Subscribers
from ..bank.sessions import Sessions
from ..bank.transfers import (
    CardAnswer,
    CertificateSignature,
    OtpAnswer,
    TransferOrder,
    TransferResult,
    Transfers,
)
from ..clock import Clock
from ..entropy import Entropy, SystemEntropy
from ..errors import NoMediumError, VaultError
from ..home import Home
from ..signing.verify import Verifier
from ..store import Account, BankCustomer, Institution, Store

__all__ = ["Banking", "CardState", "CustomerOverview", "MediumLimits", "TransferAsked",
           "bank_secret"]

_OTP_LABEL = b"kpki-bank-otp-v1"
_PHONE_LABEL = b"kpki-bank-phone-v1"
_ACCOUNT_LABEL = b"kpki-bank-account-v1"


def bank_secret(home: Home, *, create: bool = True) -> bytes:
    """The home's vault secret, for the bank's secrets to be derived from (see the module
    doc). A new one is made (with ``create``) only when the store holds nothing sealed
    under an earlier one. Raises :class:`VaultError` when it is missing or unusable."""
    from ..cloud.vault import load_vault_secret, vault_secret_for

    path = home.vault_secret_path
    if home.store.otp_tokens() and not path.is_file():
        # OTP seeds are sealed under the secret: a new one would open none of them.
        return load_vault_secret(path, create=False)
    return vault_secret_for(path, home.store.secret_checks(), create=create)


def _derived(secret: bytes, label: bytes) -> bytes:
    return hmac.new(secret, label, hashlib.sha256).digest()


@dataclass(frozen=True)
class CardState:
    """A customer's active security card as the bank sees it (never its codes)."""

    serial: str
    positions: int
    failures: int
    attempts_left: int
    locked: bool
    issued_at: dt.datetime


@dataclass(frozen=True)
class MediumLimits:
    """The limits a transfer made now would get: with the best usable medium."""

    medium: MediumKind
    per_transfer: int
    per_day: int
    used_today: int

    @property
    def left_today(self) -> int:
        return max(self.per_day - self.used_today, 0)


@dataclass(frozen=True)
class CustomerOverview:
    """One customer whole, as one institution sees it."""

    customer: BankCustomer
    enrolment: Enrolment
    accounts: tuple[Account, ...]
    card: CardState | None
    otp_tokens: tuple[OtpStatus, ...]
    limits: MediumLimits | None
    """None when no medium is usable (no transfer can be authorised)."""


class Banking:
    """The bank's services over one store and clock (see the module doc).

    Attributes: :attr:`customers`, :attr:`cards`, :attr:`otp`, :attr:`phone`,
    :attr:`lines` (the carriers' side), :attr:`limits`, :attr:`devices`, and (with a
    verifier) :attr:`transfers` and :attr:`sessions`. Each is the :mod:`pki.bank` service
    itself: call it for anything this class does not wrap.
    """

    def __init__(self, store: Store, *, clock: Clock, secret: bytes,
                 entropy: Entropy | None = None, otp_settings: OtpSettings | None = None,
                 phone_policy: PhonePolicy | None = None,
                 verifier: Callable[[], Verifier] | None = None) -> None:
        """``secret`` (at least 16 bytes; a home's vault secret) is what the OTP centre's
        and the phone channel's secrets are derived from; ``verifier`` makes the
        verifier that checks transfers' certificate signatures (made at the first
        transfer; :meth:`of_home`: the home's, with revocation from its records)."""
        if not isinstance(secret, bytes) or len(secret) < 16:
            raise VaultError("the bank's service secret is shorter than 16 bytes")
        self.store = store
        self.clock = clock
        self.entropy: Entropy = entropy or SystemEntropy()
        self.customers = Customers(store, clock=clock, entropy=self.entropy,
                                   secret=_derived(secret, _ACCOUNT_LABEL))
        self.cards = SecurityCards(store, clock=clock, entropy=self.entropy)
        self.otp = OtpCentre(store, clock, secret=_derived(secret, _OTP_LABEL),
                             settings=otp_settings or OtpSettings(), entropy=self.entropy)
        self.phone = PhoneVerification(store, clock=clock, secret=_derived(secret, _PHONE_LABEL),
                                       policy=phone_policy, entropy=self.entropy)
        self.lines = Subscribers(store, clock=clock)
        self.limits = LimitLedger(store, clock=clock,
                                  table_of=lambda bank: settings_of(bank).limits)
        self.devices = BankDevices(store, clock=clock)
        self._verifier = verifier

    @functools.cached_property
    def transfers(self) -> Transfers:
        """Transfer authorisation (:mod:`pki.bank.transfers`), over this bank's OTP centre.
        Raises :class:`TypeError` when this bank was made without a verifier."""
        if self._verifier is None:
            raise TypeError("this Banking was made without a verifier: give verifier=")
        return Transfers(self.store, clock=self.clock, verifier=self._verifier(),
                         otp=self.otp, entropy=self.entropy, customers=self.customers)

    @property
    def sessions(self) -> Sessions:
        """The simple-authentication, password and certificate logins the transfers
        check simple-authentication signatures against."""
        return self.transfers.sessions

    @classmethod
    def of_home(cls, home: Home, *, create_secret: bool = True,
                otp_settings: OtpSettings | None = None,
                phone_policy: PhonePolicy | None = None) -> Banking:
        """The bank of ``home``'s store, on its clock and entropy, under its vault secret
        (:func:`bank_secret`). Raises :class:`VaultError` for a missing or unusable
        secret."""
        return cls(home.store, clock=home.clock, entropy=home.entropy,
                   secret=bank_secret(home, create=create_secret),
                   otp_settings=otp_settings, phone_policy=phone_policy,
                   verifier=lambda: Verifier.for_home(home))

    # -- banks ----------------------------------------------------------------------------

    def add_bank(self, code: str, *, name: str | None = None,
                 settings: BankSettings | Mapping[str, Any] | None = None
                 ) -> tuple[Institution, str]:
        """Record a bank (:func:`pki.bank.institutions.add_bank`): the institution and its
        API key, shown once."""
        return add_bank(self.store, code, at=self.clock.now(), name=name, settings=settings)

    def bank(self, code: str) -> Institution:
        """The bank with institution ``code``; :class:`BankNotFoundError` if none."""
        return bank_by_code(self.store, code)

    def banks(self) -> tuple[Institution, ...]:
        """The institutions that are banks (have a code), by code."""
        return tuple(sorted((i for i in self.store.institutions() if i.code is not None),
                            key=lambda i: i.code or ""))

    def change_settings(self, bank: Institution,
                        settings: BankSettings | Mapping[str, Any]) -> Institution:
        return change_settings(self.store, bank, settings, clock=self.clock)

    # -- customers ------------------------------------------------------------------------

    def customer(self, bank: Institution, customer_id: object) -> BankCustomer:
        """The bank's customer; :class:`BankNotFoundError` for any other."""
        return self.customers.get(bank, customer_id)

    def customers_of(self, bank: Institution) -> Sequence[BankCustomer]:
        """The bank's customers, oldest first."""
        return tuple(self.store.bank_customers(bank.id))

    def overview(self, bank: Institution, customer_id: str) -> CustomerOverview:
        """The customer with enrolment, accounts, active card, OTP tokens and the limits
        a transfer made now would get."""
        customer = self.customers.get(bank, customer_id)
        return CustomerOverview(
            customer=customer,
            enrolment=self.customers.enrolment(bank, customer.id),
            accounts=self.customers.accounts(bank, customer.id),
            card=self.card_state(bank, customer.id),
            otp_tokens=tuple(self.otp.tokens_of(customer)),
            limits=self.limits_now(bank, customer.id))

    # -- media ----------------------------------------------------------------------------

    def card_state(self, bank: Institution, customer_id: str) -> CardState | None:
        """The customer's active card, if any (never its codes)."""
        customer = self.customers.get(bank, customer_id)
        card = self.store.active_security_card(customer.id)
        if card is None:
            return None
        attempts = settings_of(bank).card_attempts
        return CardState(serial=card.serial, positions=len(card.codes),
                         failures=card.failures,
                         attempts_left=max(attempts - card.failures, 0),
                         locked=card.locked, issued_at=card.issued_at)

    def printed_card(self, bank: Institution, customer_id: str) -> PrintedCard:
        """The customer's active card as printed (what the customer holds: a test's
        answers come from it); :class:`BankNotFoundError` when there is none."""
        card = self.cards.card(bank, customer_id)
        return PrintedCard(card.serial, card.codes, card.id)

    def otp_code(self, bank: Institution, customer_id: str, serial: str, *,
                 at: dt.datetime | None = None) -> str:
        """The code the customer's token ``serial`` shows at ``at`` (now by the bank's
        clock): the token in the holder's hand."""
        customer = self.customers.get(bank, customer_id)
        return self.otp.generator(customer, serial).code(at or self.clock.now())

    def limits_now(self, bank: Institution, customer_id: str,
                   medium: MediumKind | None = None) -> MediumLimits | None:
        """The limits a transfer made now with ``medium`` (None: the best usable one)
        would get, and today's use; None when no medium is usable."""
        try:
            kind, limits = self.limits.limits_for(bank, customer_id, medium)
        except NoMediumError:
            return None
        return _medium_limits(kind, limits, self.limits.used_today(bank, customer_id))

    # -- transfers ------------------------------------------------------------------------

    def authorise_transfer(self, bank: Institution, customer_id: str, asked: TransferAsked,
                           *, signature: bytes, r: bytes) -> TransferResult:
        """Authorise ``asked`` with a certificate signature (CMS over
        ``asked.order(...).text()``, with the signer's R for the VID check):
        :meth:`pki.bank.transfers.Transfers.authorise`, the outcome recorded either way."""
        answer: CardAnswer | OtpAnswer
        if asked.otp_serial is not None:
            answer = OtpAnswer(asked.otp_serial, asked.response)
        else:
            answer = CardAnswer(asked.card_challenge or "", asked.response)
        return self.transfers.authorise(
            bank, customer_id, from_account=asked.from_account, to_account=asked.to_account,
            amount=asked.amount, signature=CertificateSignature(signature, r),
            medium_response=answer, device=asked.device, step_up=asked.step_up)


def _medium_limits(kind: MediumKind, limits: Limits, used: int) -> MediumLimits:
    return MediumLimits(medium=kind, per_transfer=limits.per_transfer,
                        per_day=limits.per_day, used_today=used)


@dataclass(frozen=True)
class TransferAsked:
    """A transfer as a face asks for it: the accounts, the amount, the device, and the
    medium's answer (a card challenge's or an OTP token's); its signature is made by
    the caller over :meth:`order`'s text."""

    from_account: str
    to_account: str
    amount: int
    device: str | None = None
    card_challenge: str | None = None
    otp_serial: str | None = None
    response: str = ""
    """The card answer or the OTP code."""
    step_up: str | None = None
    """The phone verification made as the extra step, when the device rules ask for one."""

    def order(self, bank: Institution, at: dt.datetime) -> TransferOrder:
        """The order to sign: its :meth:`TransferOrder.text` is what the signature covers."""
        return TransferOrder.at_institution(bank, self.from_account, self.to_account,
                                            self.amount, at)

