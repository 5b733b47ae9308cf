"""The person proved the same way in every issuance flow (joint :mod:`pki.ra.joint`,
financial :mod:`pki.ra.financial`, private :mod:`pki.ra.private`): one phone step and one
account step, with one set of refusal codes (:class:`pki.errors.FlowRefusedError`, step
``phone``; the bank's own errors for the account).

**Phone** (:func:`proven_phone`, then :func:`use_phone` in the step's transaction): a
phone verification (:mod:`pki.bank.phone`) checked as the bank checks an extra step
(:func:`pki.bank.devices.check_step_up`), within the institution's step expiry
(:attr:`pki.bank.institutions.BankSettings.ra_step_lifetime`) instead of the extra step's
validity. The refusals, in the order they are checked:

* ``phone_not_found``: no verification of this bank has that id;
* ``phone_used``: it proved something already (it is used once);
* ``phone_not_confirmed``: its code was not confirmed;
* ``phone_wrong_method``: not SMS (or the carrier's app) or ARS;
* ``phone_other_person``: not the customer's phone, name and birth digits;
* ``phone_expired``: confirmed longer than the step expiry ago.

:func:`use_phone` writes the used-marker and its audit row
(:func:`pki.bank.devices.use_step_up_in`) with the step, so of two steps racing with one
verification one gets ``phone_used``.

**Account** (:func:`proven_account`): the account must be this bank's and, where the
session already names the customer, theirs; an unknown number, another bank's and another
customer's are one refusal (:class:`pki.errors.BankNotFoundError`, ``not_found``) given
before any password is compared. Then the 4-digit password
(:meth:`pki.bank.customers.Customers.check_password`: counted, locks), then internet
banking must be active (``not_enrolled``, ``enrolment_expired``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from ..bank.customers import Customers, check_account_number, check_account_password
from ..bank.devices import check_step_up, use_step_up_in
from ..devices import StepUpMethod
from ..errors import (
    BankNotFoundError,
    FlowRefusedError,
    StepUpInvalidError,
    StepUpRequiredError,
    StepUpUsedError,
)
from ..store import (
    Account,
    BankCustomer,
    Institution,
    PhoneVerificationRecord,
    Store,
    StoreTransaction,
)

__all__ = ["PHONE_REFUSALS", "proven_account", "proven_phone", "use_phone"]

PHONE_REFUSALS: tuple[str, ...] = ("phone_not_found", "phone_used", "phone_not_confirmed",
                                   "phone_wrong_method", "phone_other_person",
                                   "phone_expired")
"""The phone step's refusal codes, in the order they are checked."""

_WHY = {"not_found": "is not one of this bank's", "not_confirmed": "is not confirmed",
        "wrong_method": "is not an SMS or ARS verification",
        "other_person": "is not of the customer's phone", "expired": "is older than the "
        "step expiry: verify again"}


def _refused(code: str, why: str) -> FlowRefusedError:
    return FlowRefusedError(f"phone_{code}", f"the phone verification {why}", step="phone")


def proven_phone(lookups: StoreTransaction | Store, institution: Institution,
                 customer: BankCustomer, verification_id: object, *, now: dt.datetime,
                 lifetime: dt.timedelta,
                 methods: Collection[StepUpMethod] = (StepUpMethod.SMS, StepUpMethod.ARS)
                 ) -> PhoneVerificationRecord:
    """The phone verification ``verification_id`` if it proves ``customer``'s phone now,
    as ``lookups`` read it (the step's transaction, where the flow checks under the lock);
    :class:`FlowRefusedError` with one of :data:`PHONE_REFUSALS` otherwise."""
    try:
        return check_step_up(lookups, institution, customer, verification_id, now=now,
                             methods=methods, lifetime=lifetime)
    except StepUpRequiredError:
        raise _refused("not_found", _WHY["not_found"]) from None
    except StepUpInvalidError as exc:
        raise _refused(exc.reason, _WHY.get(exc.reason, "does not count")) from None
    except StepUpUsedError:
        raise _refused("used", "was used already: verify again") from None


def use_phone(tx: StoreTransaction, institution: Institution, customer: BankCustomer,
              verification_id: str, *, now: dt.datetime, operation: str) -> None:
    """Mark the verification :func:`proven_phone` returned used for ``operation``, with its
    audit row, in the step's transaction ``tx``; ``phone_used`` if another step used it
    first."""
    if not use_step_up_in(tx, institution, customer, verification_id, now=now,
                          operation=operation):
        raise _refused("used", "was used already: verify again")


def proven_account(customers: Customers, institution: Institution, number: object,
                   password: object, *, customer_id: str | None = None) -> Account:
    """The account ``number`` if it is this bank's (and ``customer_id``'s, when given), its
    ``password`` right and its holder's internet banking active (see the module doc).
    Raises :class:`pki.errors.BankRequestError` (``account``, ``password``: malformed),
    :class:`BankNotFoundError` (before any password is compared),
    :class:`pki.errors.WrongAccountPasswordError`, :class:`pki.errors.AccountLockedError`,
    :class:`pki.errors.NotEnrolledError`, :class:`pki.errors.EnrolmentExpiredError`."""
    chosen = check_account_number(number)
    secret = check_account_password(password)
    found = customers.store.account(institution.id, chosen)
    if found is None or (customer_id is not None and found.customer_id != customer_id):
        raise BankNotFoundError("account")
    customers.check_password(institution, chosen, secret)
    customers.require_enrolled(institution, found.customer_id)
    return found
