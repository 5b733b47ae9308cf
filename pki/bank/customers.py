"""Customers, their phone lines, internet-banking enrolment and accounts.

Every operation is called on behalf of an institution (a bank, :mod:`.institutions`) and
sees only its own customers and accounts: anything else gets the answer for one that does
not exist (:class:`BankNotFoundError`). Every change is one transaction with its audit row
(never holding an RRN or a password). The rules:

* **Customers** have a name, a resident registration number (one customer per person at
  an institution), a phone number (:func:`pki.registration.normalize_phone`), a
  :class:`Carrier` (SKT, KT, LG U+), the MVNO (알뜰폰) when the line is one on that carrier,
  and a :class:`LineType` (postpaid, prepaid, corporate, suspended, lost), which phone
  verification will read.
* **Internet banking** starts with a sign-up at a branch and must be activated online
  within :attr:`BankSettings.enrolment_days` KST days counting the sign-up day (3: signed
  up on Monday, activate by Wednesday 23:59:59 KST); after that the sign-up has lapsed
  (:class:`EnrolmentExpiredError`) and the customer signs up again.
* **Accounts** have a number (unique at the institution), a 4-digit password and a
  balance in KRW. A password check is decided under the store's write lock and a wrong
  one is counted in the same transaction, so however many arrive at once exactly
  :attr:`BankSettings.account_password_attempts` wrong ones in a row are compared; then
  the account password is locked until a branch resets it. The password is kept as a
  salted hash bound to the institution and the account number (:mod:`pki.bank.passwords`):
  HMAC-SHA256 under the bank's account key (``secret``, which :class:`Banking` derives from
  the service secret the store never holds, as a bank checks PINs with a key in its HSM),
  or, for a :class:`Customers` made without one, scrypt, whose derivation runs before the
  write lock is taken. Four digits are ten thousand guesses whatever the hash: the online
  count is what protects them, and the key keeps a copy of the store alone from testing
  any. A row kept in another scheme (plain SHA-256 by an older kpki, scrypt before the
  key) is checked as it is and moved onto the caller's scheme at its next right password,
  in the transaction that decides it; nothing is rehashed without the password.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hashlib
import hmac
from dataclasses import dataclass

from ..clock import Clock, kst_day_end, kst_today
from ..entropy import Entropy, SystemEntropy
from ..errors import (
    AccountLockedError,
    BankError,
    BankNotFoundError,
    BankRequestError,
    CustomerExistsError,
    EnrolmentExpiredError,
    InvalidRRNError,
    NotEnrolledError,
    PKIError,
    WrongAccountPasswordError,
)
from ..names import check_holder_name
from ..registration import normalize_phone
from ..rrn import RRN
from ..store import (
    Account,
    AuditAction,
    BankCustomer,
    Carrier,
    Institution,
    LineType,
    Store,
    StoreTransaction,
)
from .institutions import settings_of
from .passwords import KEYED, SCRYPT, hash_password, keyed_hash, password_matches, scheme_of

__all__ = [
    "MAX_KRW",
    "Account",
    "BankCustomer",
    "Carrier",
    "Customers",
    "Enrolment",
    "EnrolmentState",
    "LineType",
    "check_account_number",
    "check_account_password",
    "check_enrolled",
]

MAX_KRW = 10**15
"""The largest amount kpki's bank takes (a balance opened, a transfer): a quadrillion won,
far below what the store's 64-bit integers hold (a credit past those is refused by the
transfer that would make it)."""


class EnrolmentState(enum.Enum):
    """Where a customer's internet-banking enrolment stands."""

    NONE = "none"
    """Never signed up at a branch."""
    PENDING = "pending"
    """Signed up at a branch, waiting for the online activation."""
    ACTIVE = "active"
    EXPIRED = "expired"
    """Signed up, not activated in time: sign up again."""


@dataclass(frozen=True)
class Enrolment:
    """A customer's internet-banking enrolment."""

    state: EnrolmentState
    signed_up_at: dt.datetime | None
    deadline: dt.datetime | None
    """The last moment the sign-up may be activated (23:59:59 KST of its last day)."""
    activated_at: dt.datetime | None


def check_account_number(number: object) -> str:
    """An account number as kept: 10-16 digits, hyphens dropped (``123-456789-01234``)."""
    text = number.replace("-", "") if isinstance(number, str) else ""
    if not (text.isascii() and text.isdigit() and 10 <= len(text) <= 16):
        raise BankRequestError("an account number is 10-16 digits (hyphens allowed)",
                               field="account")
    return text


def check_account_password(password: object) -> str:
    """``password`` if it is 4 ASCII digits; :class:`BankRequestError` otherwise."""
    if not (isinstance(password, str) and len(password) == 4 and password.isascii()
            and password.isdigit()):
        raise BankRequestError("an account password is 4 digits", field="password")
    return password


def _context(institution_id: int, number: str) -> str:
    return f"kpki-account|{institution_id}|{number}"


def _legacy_hash(institution_id: int, number: str, password: str) -> str:
    """What kpki kept before the KDF: plain SHA-256, no salt (rows are moved on at their
    next right password)."""
    return hashlib.sha256(f"{_context(institution_id, number)}|{password}".encode()
                          ).hexdigest()


def _matches(account: Account, password: str, key: bytes | None) -> bool:
    """The stored scheme's check (the KDF of a scrypt row runs here, outside the write
    lock; a row kept before any scheme is plain SHA-256)."""
    if scheme_of(account.password_hash) is not None:
        return password_matches(password, account.password_hash, key=key,
                                context=_context(account.institution_id, account.number))
    return hmac.compare_digest(account.password_hash,
                               _legacy_hash(account.institution_id, account.number, password))


def _check_text(value: object, field: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 64 or not value.isprintable():
        raise BankRequestError(f"{field} is 1-64 printable characters", field=field)
    return value


class Customers:
    """The customers and accounts of one store (see the module doc). ``entropy`` draws
    customer ids and account numbers; ``secret`` (at least 16 bytes) is the key account
    passwords are kept under (none: scrypt, and a keyed row cannot be checked:
    :class:`pki.errors.VaultError`)."""

    def __init__(self, store: Store, *, clock: Clock, entropy: Entropy | None = None,
                 secret: bytes | None = None) -> None:
        if secret is not None and (not isinstance(secret, bytes) or len(secret) < 16):
            raise ValueError("the account key is at least 16 bytes")
        self.store = store
        self.clock = clock
        self.entropy: Entropy = entropy or SystemEntropy()
        self._secret = secret
        self._scheme = SCRYPT if secret is None else KEYED

    # customers ---------------------------------------------------------------------------

    def add(self, institution: Institution, *, name: str, rrn: str | RRN, phone: str,
            carrier: Carrier | str, mvno: str | None = None,
            line_type: LineType | str = LineType.POSTPAID) -> BankCustomer:
        """Record a customer of ``institution``; one transaction. Raises
        :class:`BankRequestError` (``field``: ``name``, ``rrn``, ``phone``, ``carrier``,
        ``mvno``, ``line_type``) or :class:`CustomerExistsError` (the institution has
        this person already)."""
        try:
            check_holder_name(name)
        except PKIError:
            raise BankRequestError("a customer's name is a holder's name", field="name"
                                   ) from None
        holder = _rrn(rrn)
        digits = _phone(phone)
        line = _line(carrier, mvno, line_type)
        now = self.clock.now()
        customer = BankCustomer(id="c_" + self.entropy.token_bytes(8).hex(),
                                institution_id=institution.id, name=name, rrn=holder.digits,
                                phone=digits, carrier=line[0], mvno=line[1],
                                line_type=line[2], created_at=now)
        with self.store.transaction() as tx:
            if tx.bank_customer_by_rrn(institution.id, holder.digits) is not None:
                raise CustomerExistsError("the institution has this customer already",
                                          field="rrn")
            tx.add_bank_customer(customer)
            tx.audit(AuditAction.BANK_CUSTOMER_ADDED, at=now,
                     detail={"institution": institution.name, "customer": customer.id})
        return customer

    def get(self, institution: Institution, customer_id: object) -> BankCustomer:
        """The institution's customer; :class:`BankNotFoundError` for any other."""
        customer = (self.store.bank_customer(customer_id) if isinstance(customer_id, str)
                    else None)
        if customer is None or customer.institution_id != institution.id:
            raise BankNotFoundError("customer")
        return customer

    def get_holding(self, institution: Institution, customer_id: object, number: str | None
                    ) -> tuple[BankCustomer, bool]:
        """:meth:`get`, and whether the customer holds the account ``number`` (checked:
        :func:`check_account_number`; None holds nothing) at the institution, in one
        read of the store."""
        found = (self.store.bank_customer_and_holder(customer_id, institution.id, number or "")
                 if isinstance(customer_id, str) else None)
        if found is None or found[0].institution_id != institution.id:
            raise BankNotFoundError("customer")
        customer, holder = found
        return customer, number is not None and holder == customer.id

    def by_rrn(self, institution: Institution, rrn: str | RRN) -> BankCustomer:
        found = self.store.bank_customer_by_rrn(institution.id, _rrn(rrn).digits)
        if found is None:
            raise BankNotFoundError("customer")
        return found

    def change_line(self, institution: Institution, customer_id: str, *,
                    phone: str | None = None, carrier: Carrier | str | None = None,
                    mvno: str | None = None, line_type: LineType | str | None = None
                    ) -> BankCustomer:
        """Change the customer's phone line (what is given; ``mvno`` is taken as given
        whenever ``carrier`` is): a new number, a move to an MVNO, a line suspended or
        reported lost. One transaction."""
        current = self.get(institution, customer_id)
        digits = current.phone if phone is None else _phone(phone)
        new_carrier, new_mvno, new_type = _line(
            current.carrier if carrier is None else carrier,
            current.mvno if carrier is None else mvno,
            current.line_type if line_type is None else line_type)
        now = self.clock.now()
        with self.store.transaction() as tx:
            tx.set_customer_line(current.id, phone=digits, carrier=new_carrier, mvno=new_mvno,
                                 line_type=new_type)
            tx.audit(AuditAction.BANK_CUSTOMER_LINE_CHANGED, at=now,
                     detail={"institution": institution.name, "customer": current.id,
                             "carrier": new_carrier.value, "mvno": new_mvno,
                             "line_type": new_type.value})
        return dataclasses.replace(current, phone=digits, carrier=new_carrier, mvno=new_mvno,
                                   line_type=new_type)

    # internet banking ----------------------------------------------------------------------

    def enrolment(self, institution: Institution, customer_id: str) -> Enrolment:
        customer = self.get(institution, customer_id)
        return _enrolment(customer, settings_of(institution).enrolment_days, self.clock.now())

    def sign_up(self, institution: Institution, customer_id: str) -> Enrolment:
        """The branch sign-up for internet banking (again, after one lapsed): the
        activation window starts today. One transaction."""
        customer = self.get(institution, customer_id)
        now = self.clock.now()
        with self.store.transaction() as tx:
            tx.set_enrolment(customer.id, signed_up_at=now, activated_at=None)
            tx.audit(AuditAction.BANK_ENROLMENT_SIGNED_UP, at=now,
                     detail={"institution": institution.name, "customer": customer.id})
        return self.enrolment(institution, customer.id)

    def activate(self, institution: Institution, customer_id: str) -> Enrolment:
        """The online activation of a branch sign-up. Raises :class:`NotEnrolledError`
        (no sign-up) or :class:`EnrolmentExpiredError` (too late; nothing changes).
        Activating twice is harmless."""
        customer = self.get(institution, customer_id)
        days = settings_of(institution).enrolment_days
        now = self.clock.now()
        with self.store.transaction() as tx:
            current = tx.bank_customer(customer.id)
            assert current is not None
            enrolment = _enrolment(current, days, now)
            if enrolment.state is EnrolmentState.NONE:
                raise NotEnrolledError(customer_id=customer.id)
            if enrolment.state is EnrolmentState.EXPIRED:
                assert enrolment.deadline is not None
                raise EnrolmentExpiredError(customer_id=customer.id,
                                            deadline=enrolment.deadline)
            if enrolment.state is EnrolmentState.PENDING:
                tx.set_enrolment(customer.id, signed_up_at=current.signed_up_at,
                                 activated_at=now)
                tx.audit(AuditAction.BANK_ENROLMENT_ACTIVATED, at=now,
                         detail={"institution": institution.name, "customer": customer.id})
        return self.enrolment(institution, customer.id)

    def require_enrolled(self, institution: Institution, customer_id: str) -> BankCustomer:
        """The customer, if their internet banking is active; :class:`NotEnrolledError`
        or :class:`EnrolmentExpiredError` otherwise (what online services check)."""
        customer = self.get(institution, customer_id)
        check_enrolled(customer, institution, now=self.clock.now())
        return customer

    # accounts ------------------------------------------------------------------------------

    def open_account(self, institution: Institution, customer_id: str, *, password: str,
                     balance: int = 0, number: str | None = None) -> Account:
        """Open an account for the customer with its 4-digit ``password`` and an opening
        ``balance`` (KRW); ``number`` is drawn when not given. One transaction. Raises
        :class:`BankRequestError` or :class:`CustomerExistsError` (``field="account"``:
        the number is taken)."""
        customer = self.get(institution, customer_id)
        check_account_password(password)
        if (isinstance(balance, bool) or not isinstance(balance, int)
                or not 0 <= balance <= MAX_KRW):
            raise BankRequestError(f"a balance is a whole number of KRW, 0 to {MAX_KRW:,}",
                                   field="balance")
        chosen = (check_account_number(number) if number is not None
                  else f"{int.from_bytes(self.entropy.token_bytes(8), 'big') % 10**12:012d}")
        now = self.clock.now()
        account = Account(institution_id=institution.id, number=chosen,
                          customer_id=customer.id,
                          password_hash=self._hash(institution.id, chosen, password),
                          balance=balance, opened_at=now)
        with self.store.transaction() as tx:
            if tx.account(institution.id, chosen) is not None:
                raise CustomerExistsError(f"the account number {chosen} is taken",
                                          field="account")
            tx.add_account(account)
            tx.audit(AuditAction.BANK_ACCOUNT_OPENED, at=now,
                     detail={"institution": institution.name, "customer": customer.id,
                             "account": chosen})
        return account

    def account(self, institution: Institution, number: str) -> Account:
        """The institution's account; :class:`BankNotFoundError` for any other."""
        found = self.store.account(institution.id, check_account_number(number))
        if found is None:
            raise BankNotFoundError("account")
        return found

    def accounts(self, institution: Institution, customer_id: str) -> tuple[Account, ...]:
        return tuple(self.store.accounts_of(self.get(institution, customer_id).id))

    def check_password(self, institution: Institution, number: str, password: str) -> Account:
        """Check the account's password (see the module doc). Returns the account;
        raises :class:`WrongAccountPasswordError` (counted), :class:`AccountLockedError`
        or :class:`BankRequestError` (a malformed password: not compared, not counted)."""
        chosen = check_account_number(number)
        check_account_password(password)
        limit = settings_of(institution).account_password_attempts
        now = self.clock.now()
        account = self.store.account(institution.id, chosen)
        while True:
            if account is None:
                raise BankNotFoundError("account")
            if account.locked:  # only a branch reset (a new hash) ends a lock
                raise AccountLockedError(account=chosen)
            right = _matches(account, password, self._secret)  # before the write lock
            upgrade = (self._hash(institution.id, chosen, password)
                       if right and scheme_of(account.password_hash) != self._scheme
                       else None)
            with self.store.transaction() as tx:
                current = tx.account(institution.id, chosen)
                if current is not None and current.password_hash == account.password_hash:
                    refusal = self._decide(tx, institution, current, right, upgrade, limit,
                                           now)
                    break
            account = current  # reset in between: check against the new password
        if refusal is not None:
            raise refusal
        return current

    def _decide(self, tx: StoreTransaction, institution: Institution, account: Account,
                right: bool, upgrade: str | None, limit: int, now: dt.datetime
                ) -> BankError | None:
        """Decide a checked password under the lock: a right one clears the count (and
        moves a row kept before the KDF onto it), a wrong one is counted, and its refusal
        returned to raise once the transaction has committed."""
        if account.locked:
            raise AccountLockedError(account=account.number)
        detail = {"institution": institution.name, "account": account.number}
        if right:
            if account.failures:
                tx.set_account_failures(institution.id, account.number, 0, locked_at=None)
            if upgrade is not None:
                tx.set_account_password(institution.id, account.number, upgrade)
            return None
        failures = account.failures + 1
        locked_at = now if failures >= limit else None
        tx.set_account_failures(institution.id, account.number, failures, locked_at=locked_at)
        tx.audit(AuditAction.BANK_ACCOUNT_LOCKED if locked_at
                 else AuditAction.BANK_ACCOUNT_PASSWORD_WRONG, at=now,
                 detail={**detail, "failures": failures})
        return (AccountLockedError(account=account.number) if locked_at else
                WrongAccountPasswordError(account=account.number,
                                          attempts_left=limit - failures))

    def _hash(self, institution_id: int, number: str, password: str) -> str:
        context = _context(institution_id, number)
        if self._secret is not None:
            return keyed_hash(password, self._secret, self.entropy.token_bytes(16),
                              context=context)
        return hash_password(password, self.entropy.token_bytes(16), context=context)

    def reset_password(self, institution: Institution, number: str, *, password: str,
                       operator: str) -> Account:
        """A branch sets a new account password and clears the lock (an RA action, audited
        with ``operator``). One transaction."""
        chosen = check_account_number(number)
        check_account_password(password)
        _check_text(operator, "operator")
        new_hash = self._hash(institution.id, chosen, password)  # the KDF, before the lock
        now = self.clock.now()
        with self.store.transaction() as tx:
            account = tx.account(institution.id, chosen)
            if account is None:
                raise BankNotFoundError("account")
            _reset_account(tx, account, new_hash)
            tx.audit(AuditAction.BANK_ACCOUNT_RESET, at=now,
                     detail={"institution": institution.name, "account": chosen,
                             "operator": operator})
        return self.account(institution, chosen)


def _reset_account(tx: StoreTransaction, account: Account, password_hash: str) -> None:
    tx.set_account_failures(account.institution_id, account.number, 0, locked_at=None)
    tx.set_account_password(account.institution_id, account.number, password_hash)


def _rrn(rrn: object) -> RRN:
    if isinstance(rrn, RRN):
        return rrn
    try:
        return RRN.parse(rrn) if isinstance(rrn, str) else RRN.parse("")
    except InvalidRRNError:
        raise BankRequestError("a resident registration number is 13 digits (YYMMDD-NNNNNNN) "
                               "with a valid check digit", field="rrn") from None


def _phone(phone: object) -> str:
    try:
        return normalize_phone(phone)
    except PKIError:
        raise BankRequestError("a phone is a Korean number of 9 to 11 digits starting with 0 "
                               "(010-1234-5678)", field="phone") from None


def _line(carrier: object, mvno: object, line_type: object
          ) -> tuple[Carrier, str | None, LineType]:
    try:
        chosen = carrier if isinstance(carrier, Carrier) else Carrier(carrier)
    except ValueError:
        raise BankRequestError("a carrier is SKT, KT or LGU+ (an MVNO names its host "
                               "network as carrier, and itself as mvno)",
                               field="carrier") from None
    if mvno is not None:
        _check_text(mvno, "mvno")
    try:
        kind = line_type if isinstance(line_type, LineType) else LineType(line_type)
    except ValueError:
        raise BankRequestError("a line type is one of "
                               + ", ".join(t.value for t in LineType),
                               field="line_type") from None
    return chosen, mvno if isinstance(mvno, str) else None, kind


def check_enrolled(customer: BankCustomer, institution: Institution, *, now: dt.datetime
                   ) -> None:
    """:meth:`Customers.require_enrolled` of a customer already read (a transfer has):
    raises :class:`NotEnrolledError` or :class:`EnrolmentExpiredError` unless their
    internet banking at ``institution`` is active at ``now``."""
    if customer.signed_up_at is not None and customer.activated_at is not None:
        return  # activated: active whatever the day (the deadline only bounds activating)
    enrolment = _enrolment(customer, settings_of(institution).enrolment_days, now)
    if enrolment.state is EnrolmentState.EXPIRED:
        assert enrolment.deadline is not None
        raise EnrolmentExpiredError(customer_id=customer.id, deadline=enrolment.deadline)
    if enrolment.state is not EnrolmentState.ACTIVE:
        raise NotEnrolledError(customer_id=customer.id)


def _enrolment(customer: BankCustomer, days: int, now: dt.datetime) -> Enrolment:
    signed = customer.signed_up_at
    if signed is None:
        return Enrolment(EnrolmentState.NONE, None, None, None)
    deadline = kst_day_end(kst_today(signed) + dt.timedelta(days=days - 1))
    if customer.activated_at is not None:
        state = EnrolmentState.ACTIVE
    else:
        state = EnrolmentState.EXPIRED if now > deadline else EnrolmentState.PENDING
    return Enrolment(state, signed, deadline, customer.activated_at)
