"""Designated devices (단말기 지정): the rules, for any owner of devices (a cloud user, a
bank customer), one layer below :mod:`pki.cloud` and :mod:`pki.bank`.

An owner designates up to a number of devices (5 by default: korean-pki.md section 9; the
bank's ``BankSettings.max_devices``) and may turn on *designated-only* mode. The operations
the rules cover (:class:`CoveredOperation`) follow the rules in force since 2013-09-26:

* from a designated device, everything is allowed;
* designated-only on: from any other device the operation is refused
  (``device_not_designated``), unless the owner subscribed to the extra-step service (an
  SMS or ARS verification, a per-owner choice): then it needs that step;
* designated-only off: a certificate reissue and registering another institution's
  certificate need the extra step (SMS or ARS); a transfer needs it when the KST day's
  total including it reaches 3,000,000 KRW (the institution's setting), unless the
  transfer is authorised with an OTP medium; below that it is allowed.

While designated-only is on, the owner cannot remove the last designated device nor turn
the mode off: that is a branch's action (:func:`check_change` with an operator named).

:func:`decide` is pure: it reads a :class:`DeviceState` and returns a
:class:`DeviceDecision`, a frozen value. Proving the extra step (a confirmed phone
verification, used once) is the bank's part: :mod:`pki.bank.devices`.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import (
    BranchOnlyDeviceChangeError,
    DeviceNotDesignatedError,
    NoDesignatedDeviceError,
    TooManyDevicesError,
)

__all__ = [
    "MAX_DEVICES",
    "STEP_UP_KRW",
    "CoveredOperation",
    "DeviceDecision",
    "DeviceState",
    "StepUpMethod",
    "Verdict",
    "check_change",
    "check_device_id",
    "check_room",
    "decide",
]

MAX_DEVICES = 5
"""Designated devices per owner (korean-pki.md section 9); the bank's is a setting."""
STEP_UP_KRW = 3_000_000
"""From an undesignated device, a KST day's transfers from this total on need the extra
step (the 2013-09-26 rule); the bank's ``undesignated_step_up_krw`` setting."""


class CoveredOperation(enum.Enum):
    """The operations the device rules cover."""

    TRANSFER = "transfer"
    CERTIFICATE_REISSUE = "certificate-reissue"
    """(Re)issuing a certificate."""
    FOREIGN_CERTIFICATE_REGISTRATION = "foreign-certificate-registration"
    """Registering another institution's certificate (타기관 인증서 등록)."""


class StepUpMethod(enum.Enum):
    """The extra step's kinds: a phone verification by SMS (the code may reach the
    carrier's app instead, with push protection) or by an ARS call-back."""

    SMS = "sms"
    ARS = "ars"


class Verdict(enum.Enum):
    ALLOWED = "allowed"
    STEP_UP = "step-up"
    """Allowed after the extra step (:attr:`DeviceDecision.methods`)."""
    REFUSED = "refused"


@dataclass(frozen=True)
class DeviceState:
    """An owner's designated devices and choices."""

    devices: tuple[str, ...] = ()
    """The designated devices, oldest first."""
    designated_only: bool = False
    """Covered operations from designated devices only."""
    step_up: StepUpMethod | None = None
    """The extra-step service the owner subscribed to, if any: with designated-only on,
    an undesignated device may still act after this step."""

    def designated(self, device: str | None) -> bool:
        return device is not None and device in self.devices

    def allows(self, device: str | None) -> bool:
        """Whether ``device`` may act at all when nothing but designation counts (the
        cloud's signatures): a designated device, or any while designated-only is off."""
        return not self.designated_only or self.designated(device)


@dataclass(frozen=True)
class DeviceDecision:
    """What the device rules make of one operation from one device."""

    verdict: Verdict
    operation: CoveredOperation
    device: str | None
    methods: tuple[StepUpMethod, ...] = ()
    """With :attr:`Verdict.STEP_UP`: the verifications that count as the extra step."""
    code: str | None = None
    """The stable code of what stands in the way: ``device_not_designated`` (refused) or
    ``step_up_required``; None when allowed."""

    @property
    def allowed(self) -> bool:
        return self.verdict is Verdict.ALLOWED

    @property
    def needs_step_up(self) -> bool:
        return self.verdict is Verdict.STEP_UP

    def refusal(self) -> DeviceNotDesignatedError:
        """The typed refusal of a REFUSED decision."""
        return DeviceNotDesignatedError(device=self.device,
                                        operation=self.operation.value.replace("-", " "))


_ANY_STEP = (StepUpMethod.SMS, StepUpMethod.ARS)


def decide(state: DeviceState, device: str | None, operation: CoveredOperation, *,
           day_total: int = 0, otp_exempt: bool = False,
           step_up_krw: int = STEP_UP_KRW) -> DeviceDecision:
    """The device rules (see the module doc) for ``operation`` from ``device``.
    ``day_total`` is the KST day's transfers in KRW including this one; ``otp_exempt``
    that the transfer is authorised with an OTP medium; ``step_up_krw`` the institution's
    threshold."""
    if not isinstance(operation, CoveredOperation):
        raise TypeError("operation is a CoveredOperation")
    if state.designated(device):
        return DeviceDecision(Verdict.ALLOWED, operation, device)
    methods = _ANY_STEP if state.step_up is None else (state.step_up,)
    if state.designated_only:
        if state.step_up is None:
            return DeviceDecision(Verdict.REFUSED, operation, device,
                                  code="device_not_designated")
        return DeviceDecision(Verdict.STEP_UP, operation, device, methods,
                              code="step_up_required")
    if operation is CoveredOperation.TRANSFER and (otp_exempt or day_total < step_up_krw):
        return DeviceDecision(Verdict.ALLOWED, operation, device)
    return DeviceDecision(Verdict.STEP_UP, operation, device, methods, code="step_up_required")


def check_device_id(device: object) -> str:
    """``device`` if it is a device id (1-64 printable characters); ValueError else."""
    if not isinstance(device, str) or not 1 <= len(device) <= 64 or not device.isprintable():
        raise ValueError("a device id is 1-64 printable characters")
    return device


def check_room(devices: Sequence[str], device: str, *, limit: int = MAX_DEVICES) -> bool:
    """Whether ``device`` is new to ``devices``; raises :class:`TooManyDevicesError` when
    it is and ``limit`` are designated already. Call it under the store's write lock with
    the list read there, so parallel additions never pass the cap."""
    if device in devices:
        return False
    if len(devices) >= limit:
        raise TooManyDevicesError(limit=limit)
    return True


def check_change(state: DeviceState, *, remove: str | None = None,
                 designated_only: bool | None = None, operator: str | None = None) -> None:
    """Refuse what only a branch may do while designated-only is on (and stays on):
    removing the last designated device, or turning the mode off; and turning the mode on
    with no device designated (:class:`NoDesignatedDeviceError`: it would refuse every
    covered operation), whoever asks. ``operator`` names the
    branch's operator: then it is allowed (the caller audits it).
    Raises :class:`BranchOnlyDeviceChangeError`."""
    if designated_only is True and not state.designated_only and not state.devices:
        raise NoDesignatedDeviceError()
    if operator is not None or not state.designated_only:
        return
    if designated_only is False:
        raise BranchOnlyDeviceChangeError(change="designated-only-off")
    if remove is not None and state.devices == (remove,):
        raise BranchOnlyDeviceChangeError(change="remove-last-device")
