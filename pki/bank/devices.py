"""The bank customers' designated devices (issue 14 item 6), over the rules of
:mod:`pki.devices`.

Every operation is called on behalf of an institution and sees only its own customers
(:class:`pki.errors.BankNotFoundError` for any other, as for one that does not exist).
Every change is one transaction with its audit row, decided under the store's write lock:

* **Designating** a device: at most :attr:`BankSettings.max_devices` (5) per customer;
  however many arrive at once, the cap holds (:class:`TooManyDevicesError`,
  ``too_many_devices``).
* **Designated-only** mode and the **extra-step service** (SMS or ARS) are the customer's
  choices. While designated-only is on, removing the last designated device or turning the
  mode off is a branch's action, audited with its operator; the customer is refused
  (:class:`BranchOnlyDeviceChangeError`, ``device_change_branch_only``).
* **The extra step** is a phone verification (:mod:`pki.bank.phone`) the same institution
  asked for, confirmed, for the customer's phone, name and birth digits, by SMS (the code
  may have reached the carrier's app: push protection, or the PUSH method) or ARS as the
  decision asks, confirmed within :attr:`BankSettings.step_up_validity` (5 minutes), and
  used once: :func:`consume_step_up` writes the used-marker in the transaction of the
  operation it allows, so two operations racing with one verification get one
  success and one :class:`StepUpUsedError`.

A transfer's authorisation (:mod:`pki.bank.transfers`) calls :func:`device_state_in`,
:func:`pki.devices.decide` and :func:`enforce_in` inside its own transaction;
:meth:`BankDevices.authorise` does the same for an operation on its own (a certificate
reissue, registering another institution's certificate).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Collection, Iterable

from ..clock import Clock
from ..devices import (
    CoveredOperation,
    DeviceDecision,
    DeviceState,
    StepUpMethod,
    Verdict,
    check_change,
    check_device_id,
    check_room,
    decide,
)
from ..errors import (
    BankNotFoundError,
    BankRequestError,
    StepUpInvalidError,
    StepUpRequiredError,
    StepUpUsedError,
)
from ..store import (
    AuditAction,
    BankCustomer,
    DesignatedDevices,
    Institution,
    PhoneVerificationRecord,
    Store,
    StoreTransaction,
    VerificationMethod,
)
from .institutions import BankSettings, settings_of

__all__ = [
    "BankDevices",
    "check_device",
    "check_step_up",
    "consume_step_up",
    "decide_in",
    "decide_over",
    "device_state_in",
    "device_state_of",
    "enforce_in",
    "step_up_proven",
    "use_step_up_in",
]

_PROVES: dict[StepUpMethod, frozenset[VerificationMethod]] = {
    StepUpMethod.SMS: frozenset({VerificationMethod.SMS, VerificationMethod.PUSH}),
    StepUpMethod.ARS: frozenset({VerificationMethod.ARS}),
}
"""Which phone verifications count as which extra step: an SMS step may have reached the
carrier's app instead (push protection, or the PUSH method)."""


def step_up_proven(method: VerificationMethod | str | None,
                   steps: Iterable[StepUpMethod]) -> bool:
    """Whether a phone verification by ``method`` (the member or its value) counts as
    one of the extra ``steps``."""
    value = method.value if isinstance(method, VerificationMethod) else method
    return any(value in {m.value for m in _PROVES[step]} for step in steps)


def device_state_in(tx: StoreTransaction | Store, customer_id: str) -> DeviceState:
    """The customer's devices and choices as :func:`pki.devices.decide` reads them."""
    return device_state_of(tx.bank_devices(customer_id))


def device_state_of(kept: DesignatedDevices) -> DeviceState:
    """The devices and choices the store keeps, as :func:`pki.devices.decide` reads them."""
    return DeviceState(kept.devices, kept.designated_only,
                       None if kept.step_up is None else StepUpMethod(kept.step_up))


def decide_in(lookups: StoreTransaction | Store, settings: BankSettings,
              customer: BankCustomer, device: str | None, operation: CoveredOperation, *,
              day_total: int = 0, otp_exempt: bool = False) -> DeviceDecision:
    """:func:`pki.devices.decide` over the customer's devices as ``lookups`` reads them,
    with the step-up threshold of ``settings`` (the institution's)."""
    return decide_over(lookups.bank_devices(customer.id), settings, device, operation,
                       day_total=day_total, otp_exempt=otp_exempt)


def decide_over(kept: DesignatedDevices, settings: BankSettings, device: str | None,
                operation: CoveredOperation, *, day_total: int = 0, otp_exempt: bool = False
                ) -> DeviceDecision:
    """:func:`decide_in` over devices already read (a transfer reads them with the rest
    of what it decides on, :meth:`pki.store.protocols.TransferLookups.transfer_state`)."""
    return decide(device_state_of(kept), device, operation, day_total=day_total,
                  otp_exempt=otp_exempt, step_up_krw=settings.undesignated_step_up_krw)


def check_step_up(lookups: StoreTransaction | Store, institution: Institution,
                  customer: BankCustomer, verification_id: object, *, now: dt.datetime,
                  methods: Collection[StepUpMethod] = (StepUpMethod.SMS, StepUpMethod.ARS),
                  lifetime: dt.timedelta | None = None) -> PhoneVerificationRecord:
    """Whether the phone verification ``verification_id`` can be the extra step (see the
    module doc), read only: what :func:`consume_step_up` checks before it uses it, for a
    caller that must know before it spends anything else (a medium's answer). ``lifetime``
    replaces :attr:`BankSettings.step_up_validity` (an issuance's step expiry). Returns the
    verification; raises as :func:`consume_step_up`."""
    names = tuple(m.value for m in methods)
    if verification_id is None:
        raise StepUpRequiredError(methods=names)
    record = (lookups.phone_verification(verification_id)
              if isinstance(verification_id, str) else None)
    if record is None or record.institution_id != institution.id:
        raise StepUpInvalidError(reason="not_found")
    if lookups.step_up_used_at(record.id) is not None:
        raise StepUpUsedError(verification=record.id)
    if record.verified_at is None:
        raise StepUpInvalidError(reason="not_confirmed")
    if not step_up_proven(record.method, methods):
        raise StepUpInvalidError(reason="wrong_method")
    if (record.phone, record.name, record.rrn7) != (customer.phone, customer.name,
                                                    customer.rrn[:7]):
        raise StepUpInvalidError(reason="other_person")
    if now - record.verified_at > (lifetime or settings_of(institution).step_up_validity):
        raise StepUpInvalidError(reason="expired")
    return record


def consume_step_up(tx: StoreTransaction, institution: Institution, customer: BankCustomer,
                    verification_id: object, *, now: dt.datetime,
                    methods: Collection[StepUpMethod] = (StepUpMethod.SMS, StepUpMethod.ARS),
                    operation: CoveredOperation = CoveredOperation.TRANSFER
                    ) -> PhoneVerificationRecord:
    """Use the phone verification ``verification_id`` as the extra step of ``operation``
    (see the module doc), in ``tx``: the used-marker and its audit row commit with the
    operation or not at all. Returns the verification. Raises
    :class:`StepUpRequiredError` (none given), :class:`StepUpInvalidError` (``reason``:
    ``not_found``, ``not_confirmed``, ``wrong_method``, ``other_person``, ``expired``) or
    :class:`StepUpUsedError`; nothing is written then."""
    record = check_step_up(tx, institution, customer, verification_id, now=now,
                           methods=methods)
    if not use_step_up_in(tx, institution, customer, record.id, now=now,
                          operation=operation.value):
        raise StepUpUsedError(verification=record.id)
    return record


def use_step_up_in(tx: StoreTransaction, institution: Institution, customer: BankCustomer,
                   verification_id: str, *, now: dt.datetime, operation: str) -> bool:
    """Mark the phone verification used for ``operation`` in ``tx``, with its audit row;
    False (nothing written) if it was used already. The once-only marker of
    :func:`consume_step_up` and of the issuance flows' phone step (:mod:`pki.ra.proofs`)."""
    if not tx.use_step_up(verification_id, customer_id=customer.id,
                          institution_id=institution.id, operation=operation, at=now):
        return False
    tx.audit(AuditAction.BANK_STEP_UP_USED, at=now,
             detail={"institution": institution.name, "customer": customer.id,
                     "verification": verification_id, "operation": operation})
    return True


def enforce_in(tx: StoreTransaction, institution: Institution, customer: BankCustomer,
               decision: DeviceDecision, step_up: object, *, now: dt.datetime) -> None:
    """Carry out a decision in ``tx``: ALLOWED passes, REFUSED raises
    :class:`pki.errors.DeviceNotDesignatedError`, STEP_UP consumes ``step_up`` (a phone
    verification id, or None) with :func:`consume_step_up`."""
    if decision.verdict is Verdict.REFUSED:
        raise decision.refusal()
    if decision.verdict is Verdict.STEP_UP:
        consume_step_up(tx, institution, customer, step_up, now=now,
                        methods=decision.methods, operation=decision.operation)


def check_device(device: object) -> str:
    """``device`` if it is a device id; :class:`BankRequestError` (``field``
    ``device``) else."""
    try:
        return check_device_id(device)
    except ValueError as exc:
        raise BankRequestError(str(exc), field="device") from None


def _operator(operator: object) -> str | None:
    if operator is not None and (not isinstance(operator, str)
                                 or not 1 <= len(operator) <= 64
                                 or not operator.isprintable()):
        raise BankRequestError("operator is 1-64 printable characters", field="operator")
    return operator


def _customer_in(tx: StoreTransaction | Store, institution: Institution,
                 customer_id: object) -> BankCustomer:
    customer = tx.bank_customer(customer_id) if isinstance(customer_id, str) else None
    if customer is None or customer.institution_id != institution.id:
        raise BankNotFoundError("customer")
    return customer


class BankDevices:
    """The designated devices of one store's bank customers (see the module doc)."""

    def __init__(self, store: Store, *, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def state(self, institution: Institution, customer_id: str) -> DeviceState:
        """The customer's designated devices (oldest first) and choices."""
        customer = _customer_in(self.store, institution, customer_id)
        return device_state_in(self.store, customer.id)

    def designate(self, institution: Institution, customer_id: str, device: str
                  ) -> DeviceState:
        """Designate ``device`` (designating one twice changes nothing). Raises
        :class:`TooManyDevicesError` at :attr:`BankSettings.max_devices`."""
        chosen = check_device(device)
        limit = settings_of(institution).max_devices
        now = self.clock.now()
        with self.store.transaction() as tx:
            customer = _customer_in(tx, institution, customer_id)
            if check_room(tx.bank_devices(customer.id).devices, chosen, limit=limit):
                tx.add_bank_device(customer.id, chosen, at=now)
                tx.audit(AuditAction.BANK_DEVICE_ADDED, at=now,
                         detail={"institution": institution.name, "customer": customer.id,
                                 "device": chosen})
            return device_state_in(tx, customer.id)

    def remove(self, institution: Institution, customer_id: str, device: str, *,
               operator: str | None = None) -> DeviceState:
        """Remove a designated device (one that is not designated: nothing changes). While
        designated-only is on, the last one is removed only by a branch: ``operator``
        names its operator, recorded in the audit row; else
        :class:`BranchOnlyDeviceChangeError`."""
        chosen = check_device(device)
        by = _operator(operator)
        now = self.clock.now()
        with self.store.transaction() as tx:
            customer = _customer_in(tx, institution, customer_id)
            check_change(device_state_in(tx, customer.id), remove=chosen, operator=by)
            if tx.remove_bank_device(customer.id, chosen):
                tx.audit(AuditAction.BANK_DEVICE_REMOVED, at=now,
                         detail={"institution": institution.name, "customer": customer.id,
                                 "device": chosen, "operator": by})
            return device_state_in(tx, customer.id)

    def set_designated_only(self, institution: Institution, customer_id: str, on: bool, *,
                            operator: str | None = None) -> DeviceState:
        """Turn designated-only mode on or off. Turning it off while it is on is a branch's
        action (``operator``), as removing the last device is."""
        if not isinstance(on, bool):
            raise BankRequestError("designated_only is true or false", field="designated_only")
        by = _operator(operator)
        return self._options(institution, customer_id,
                             lambda state: dataclasses.replace(state, designated_only=on),
                             operator=by)

    def subscribe_step_up(self, institution: Institution, customer_id: str,
                          method: StepUpMethod | str | None) -> DeviceState:
        """Subscribe the customer to the extra-step service (``sms`` or ``ars``), or end
        the subscription (None): with designated-only on, an undesignated device may then
        act after that step."""
        try:
            chosen = None if method is None else StepUpMethod(method)
        except ValueError:
            raise BankRequestError("the extra step is sms or ars", field="step_up") from None
        return self._options(institution, customer_id,
                             lambda state: dataclasses.replace(state, step_up=chosen))

    def _options(self, institution: Institution, customer_id: str,
                 change: Callable[[DeviceState], DeviceState], *,
                 operator: str | None = None) -> DeviceState:
        now = self.clock.now()
        with self.store.transaction() as tx:
            customer = _customer_in(tx, institution, customer_id)
            current = device_state_in(tx, customer.id)
            wanted = change(current)
            check_change(current, designated_only=wanted.designated_only, operator=operator)
            method = None if wanted.step_up is None else wanted.step_up.value
            tx.set_bank_device_options(customer.id, designated_only=wanted.designated_only,
                                       step_up=method)
            tx.audit(AuditAction.BANK_DEVICES_CHANGED, at=now,
                     detail={"institution": institution.name, "customer": customer.id,
                             "designated_only": wanted.designated_only, "step_up": method,
                             "operator": operator})
            return device_state_in(tx, customer.id)

    def decide(self, institution: Institution, customer_id: str, device: str | None,
               operation: CoveredOperation, *, day_total: int = 0,
               otp_exempt: bool = False) -> DeviceDecision:
        """What the rules make of ``operation`` from ``device`` now (nothing written)."""
        customer = _customer_in(self.store, institution, customer_id)
        return decide_in(self.store, settings_of(institution), customer, device, operation,
                         day_total=day_total, otp_exempt=otp_exempt)

    def authorise(self, institution: Institution, customer_id: str, device: str | None,
                  operation: CoveredOperation, *, step_up: str | None = None,
                  day_total: int = 0, otp_exempt: bool = False) -> DeviceDecision:
        """Decide under the write lock and carry the decision out (:func:`enforce_in`) in
        one transaction: the extra step, when needed, is used up here. Returns the
        decision; raises its typed refusal."""
        now = self.clock.now()
        with self.store.transaction() as tx:
            customer = _customer_in(tx, institution, customer_id)
            decision = decide_in(tx, settings_of(institution), customer, device, operation,
                                 day_total=day_total, otp_exempt=otp_exempt)
            enforce_in(tx, institution, customer, decision, step_up, now=now)
            return decision
