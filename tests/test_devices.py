"""The device rules of pki.devices (issue 14 item 6), pure: one test per rule."""

from __future__ import annotations

import pytest

from pki.devices import (
    MAX_DEVICES,
    STEP_UP_KRW,
    CoveredOperation,
    DeviceState,
    StepUpMethod,
    Verdict,
    check_change,
    check_room,
    decide,
)
from pki.errors import (
    BankError,
    BranchOnlyDeviceChangeError,
    CloudError,
    DeviceNotDesignatedError,
    TooManyDevicesError,
)

OPERATIONS = list(CoveredOperation)
PHONE = "galaxy-s24"
PC = "home-pc"


def test_the_issue_numbers_are_the_defaults() -> None:
    assert MAX_DEVICES == 5
    assert STEP_UP_KRW == 3_000_000


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("designated_only", [False, True])
def test_a_designated_device_is_allowed_everything(operation: CoveredOperation,
                                                   designated_only: bool) -> None:
    state = DeviceState((PHONE,), designated_only=designated_only)
    decision = decide(state, PHONE, operation, day_total=500_000_000)
    assert decision.verdict is Verdict.ALLOWED and decision.allowed
    assert decision.code is None and decision.methods == ()


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("device", [PC, None])
def test_designated_only_refuses_any_other_device(operation: CoveredOperation,
                                                  device: str | None) -> None:
    decision = decide(DeviceState((PHONE,), designated_only=True), device, operation,
                      day_total=1, otp_exempt=True)
    assert decision.verdict is Verdict.REFUSED
    assert decision.code == "device_not_designated"
    refusal = decision.refusal()
    assert isinstance(refusal, DeviceNotDesignatedError)
    assert refusal.code == "device_not_designated" and refusal.device == device


@pytest.mark.parametrize("method", list(StepUpMethod))
@pytest.mark.parametrize("operation", OPERATIONS)
def test_designated_only_with_the_extra_step_service_needs_that_step(
        operation: CoveredOperation, method: StepUpMethod) -> None:
    state = DeviceState((PHONE,), designated_only=True, step_up=method)
    decision = decide(state, PC, operation, day_total=1, otp_exempt=True)
    assert decision.verdict is Verdict.STEP_UP and decision.needs_step_up
    assert decision.methods == (method,)
    assert decision.code == "step_up_required"


@pytest.mark.parametrize("operation", [CoveredOperation.CERTIFICATE_REISSUE,
                                       CoveredOperation.FOREIGN_CERTIFICATE_REGISTRATION])
def test_reissue_and_foreign_registration_from_an_undesignated_device_need_the_step(
        operation: CoveredOperation) -> None:
    decision = decide(DeviceState((PHONE,)), PC, operation)
    assert decision.verdict is Verdict.STEP_UP
    assert decision.methods == (StepUpMethod.SMS, StepUpMethod.ARS)
    # with no device designated at all, the same
    assert decide(DeviceState(), None, operation).verdict is Verdict.STEP_UP


@pytest.mark.parametrize(("day_total", "verdict"), [
    (1, Verdict.ALLOWED),
    (2_999_999, Verdict.ALLOWED),
    (3_000_000, Verdict.STEP_UP),
    (3_000_001, Verdict.STEP_UP),
])
def test_transfers_from_an_undesignated_device_need_the_step_from_3m_krw_a_day(
        day_total: int, verdict: Verdict) -> None:
    decision = decide(DeviceState((PHONE,)), PC, CoveredOperation.TRANSFER,
                      day_total=day_total)
    assert decision.verdict is verdict


def test_the_day_threshold_is_a_setting() -> None:
    state = DeviceState()
    assert decide(state, PC, CoveredOperation.TRANSFER, day_total=999_999,
                  step_up_krw=1_000_000).allowed
    assert decide(state, PC, CoveredOperation.TRANSFER, day_total=1_000_000,
                  step_up_krw=1_000_000).needs_step_up


def test_otp_users_are_exempt_from_the_day_rule_only() -> None:
    state = DeviceState((PHONE,))
    assert decide(state, PC, CoveredOperation.TRANSFER, day_total=400_000_000,
                  otp_exempt=True).allowed
    # the exemption is the day rule's: reissue still needs the step, designated-only refuses
    assert decide(state, PC, CoveredOperation.CERTIFICATE_REISSUE,
                  otp_exempt=True).needs_step_up
    assert decide(DeviceState((PHONE,), designated_only=True), PC, CoveredOperation.TRANSFER,
                  day_total=1, otp_exempt=True).verdict is Verdict.REFUSED


def test_a_subscribed_step_is_the_one_asked_for_with_designated_only_off_too() -> None:
    state = DeviceState((PHONE,), step_up=StepUpMethod.ARS)
    decision = decide(state, PC, CoveredOperation.TRANSFER, day_total=STEP_UP_KRW)
    assert decision.methods == (StepUpMethod.ARS,)


def test_decide_takes_a_covered_operation_only() -> None:
    with pytest.raises(TypeError):
        decide(DeviceState(), PC, "transfer")  # type: ignore[arg-type]


def test_the_cap_refuses_a_new_device_past_the_limit() -> None:
    devices = [f"d{i}" for i in range(MAX_DEVICES)]
    assert check_room(devices[:4], "d4") is True
    assert check_room(devices, "d0") is False  # designated already: nothing to add
    with pytest.raises(TooManyDevicesError) as caught:
        check_room(devices, "d5")
    assert caught.value.limit == 5 and caught.value.code == "too_many_devices"
    with pytest.raises(TooManyDevicesError):
        check_room(devices[:2], "d2", limit=2)


def test_the_last_device_under_designated_only_is_the_branchs_to_remove() -> None:
    state = DeviceState((PHONE,), designated_only=True)
    with pytest.raises(BranchOnlyDeviceChangeError) as caught:
        check_change(state, remove=PHONE)
    assert caught.value.code == "device_change_branch_only"
    assert caught.value.change == "remove-last-device"
    with pytest.raises(BranchOnlyDeviceChangeError) as off:
        check_change(state, designated_only=False)
    assert off.value.change == "designated-only-off"
    check_change(state, remove=PHONE, operator="branch-007")        # the branch may
    check_change(state, designated_only=False, operator="branch-007")
    check_change(DeviceState((PHONE, PC), designated_only=True), remove=PHONE)  # not the last
    check_change(DeviceState((PHONE,)), remove=PHONE)              # designated-only off
    check_change(state, remove="another")                          # not designated: nothing


def test_device_refusals_are_both_cloud_and_bank_refusals() -> None:
    for error in (DeviceNotDesignatedError(device=None), TooManyDevicesError(limit=5),
                  BranchOnlyDeviceChangeError(change="remove-last-device")):
        assert isinstance(error, CloudError) and isinstance(error, BankError)
