"""Designated devices of the bank's customers (issue 14 item 6): pki.bank.devices over the
rules of pki.devices, with the extra step proved by a phone verification used once."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pki.bank.devices import BankDevices, consume_step_up, device_state_in, enforce_in
from pki.bank.institutions import add_bank, change_settings
from pki.bank.phone import PhoneVerification, Subscribers
from pki.devices import CoveredOperation, StepUpMethod, Verdict, decide
from pki.errors import (
    BankError,
    BankNotFoundError,
    BankRequestError,
    BankSettingsError,
    BranchOnlyDeviceChangeError,
    DeviceNotDesignatedError,
    NoDesignatedDeviceError,
    StepUpInvalidError,
    StepUpRequiredError,
    StepUpUsedError,
    TooManyDevicesError,
)
from pki.store import AuditAction, open_store, sqlite_url
from tests.bank_helpers import OTHER_RRN, RRN, BankWorld, in_parallel, make_world

PHONE = "galaxy-s24"
PC = "home-pc"
REISSUE = CoveredOperation.CERTIFICATE_REISSUE
FOREIGN = CoveredOperation.FOREIGN_CERTIFICATE_REGISTRATION
TRANSFER = CoveredOperation.TRANSFER
RRN7 = RRN.replace("-", "")[:7]


class World:
    def __init__(self, tmp_path: Path, **settings: object) -> None:
        self.bank: BankWorld = make_world(tmp_path, settings=settings or None)
        self.store = self.bank.store
        self.clock = self.bank.clock
        self.hana = self.bank.hana
        self.customer = self.bank.customer
        self.devices = BankDevices(self.store, clock=self.clock)
        self.lines = Subscribers(self.store, clock=self.clock)
        self.lines.add("010-1234-5678", name="홍길동", rrn=RRN, carrier="SKT")
        self.phone = PhoneVerification(self.store, clock=self.clock,
                                       secret=b"step-up tests' service secret")

    def verified(self, method: str = "sms", *, site: object = None, phone: str = "01012345678",
                 name: str = "홍길동", rrn7: str = RRN7) -> str:
        """A phone verification confirmed now, by the person on the line."""
        at = self.hana if site is None else site
        sent = self.phone.request(at, name=name, phone=phone, rrn7=rrn7,  # type: ignore[arg-type]
                                  carrier="SKT", method=method)
        if method == "ars":
            assert sent.display_code is not None
            self.phone.press(at, sent.id, sent.display_code)  # type: ignore[arg-type]
        else:
            text = self.phone.messages(at, phone)[-1].text  # type: ignore[arg-type]
            code = text.split("code ", 1)[1][:6]
            self.phone.confirm(at, sent.id, code)  # type: ignore[arg-type]
        return sent.id

    def other_connection(self) -> BankDevices:
        return BankDevices(open_store(sqlite_url(self.bank.path)), clock=self.clock)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


# -- designating ----------------------------------------------------------------------------


def test_devices_are_designated_listed_and_removed(world: World) -> None:
    w = world
    assert w.devices.state(w.hana, w.customer.id).devices == ()
    w.devices.designate(w.hana, w.customer.id, PHONE)
    state = w.devices.designate(w.hana, w.customer.id, PC)
    assert state.devices == (PHONE, PC)
    assert w.devices.designate(w.hana, w.customer.id, PHONE).devices == (PHONE, PC)  # again
    assert w.devices.remove(w.hana, w.customer.id, PHONE).devices == (PC,)
    assert w.devices.remove(w.hana, w.customer.id, "never-designated").devices == (PC,)
    actions = [e.action for e in w.store.audit_log()]
    assert actions.count(AuditAction.BANK_DEVICE_ADDED) == 2
    assert actions.count(AuditAction.BANK_DEVICE_REMOVED) == 1


def test_at_most_five_devices_by_default(world: World) -> None:
    w = world
    for i in range(5):
        w.devices.designate(w.hana, w.customer.id, f"device-{i}")
    with pytest.raises(TooManyDevicesError) as caught:
        w.devices.designate(w.hana, w.customer.id, "device-5")
    assert caught.value.code == "too_many_devices" and caught.value.limit == 5
    assert isinstance(caught.value, BankError)
    assert len(w.devices.state(w.hana, w.customer.id).devices) == 5  # nothing half-written


def test_the_cap_is_an_institution_setting(tmp_path: Path) -> None:
    w = World(tmp_path, max_devices=2)
    w.devices.designate(w.hana, w.customer.id, PHONE)
    w.devices.designate(w.hana, w.customer.id, PC)
    with pytest.raises(TooManyDevicesError) as caught:
        w.devices.designate(w.hana, w.customer.id, "tablet")
    assert caught.value.limit == 2
    hana = change_settings(w.store, w.hana, {"max_devices": 3}, clock=w.clock)
    assert w.devices.designate(hana, w.customer.id, "tablet").devices == (PHONE, PC, "tablet")


@pytest.mark.parametrize("config", [{"max_devices": 0}, {"max_devices": 21},
                                    {"undesignated_step_up_krw": 0},
                                    {"step_up_seconds": 10}, {"max_devices": "5"}])
def test_device_settings_out_of_bounds_are_refused_by_name(config: dict[str, object]) -> None:
    from pki.bank.institutions import BankSettings

    with pytest.raises(BankSettingsError) as caught:
        BankSettings.from_config(config)
    assert caught.value.key == next(iter(config))


def test_twenty_parallel_designations_at_a_cap_of_five_designate_exactly_five(
        world: World) -> None:
    w = world
    results = in_parallel(20, lambda i: w.other_connection().designate(
        w.hana, w.customer.id, f"device-{i}"))
    refused = [r for r in results if isinstance(r, TooManyDevicesError)]
    assert len(refused) == 15
    assert len(w.devices.state(w.hana, w.customer.id).devices) == 5
    added = [e for e in w.store.audit_log() if e.action == AuditAction.BANK_DEVICE_ADDED]
    assert len(added) == 5


@pytest.mark.parametrize("device", ["", "x" * 65, "tab\there", 7, None])
def test_a_malformed_device_id_is_refused_before_anything(world: World, device: object) -> None:
    with pytest.raises(BankRequestError) as caught:
        world.devices.designate(world.hana, world.customer.id, device)  # type: ignore[arg-type]
    assert caught.value.field == "device"


def test_another_institutions_customer_is_not_found(world: World) -> None:
    w = world
    kb, _ = add_bank(w.store, "004", at=w.clock.now())
    w.devices.designate(w.hana, w.customer.id, PHONE)
    for call in (lambda: w.devices.state(kb, w.customer.id),
                 lambda: w.devices.designate(kb, w.customer.id, PC),
                 lambda: w.devices.remove(kb, w.customer.id, PHONE),
                 lambda: w.devices.set_designated_only(kb, w.customer.id, True),
                 lambda: w.devices.subscribe_step_up(kb, w.customer.id, "sms"),
                 lambda: w.devices.state(w.hana, "c_nobody")):
        with pytest.raises(BankNotFoundError) as caught:
            call()
        assert caught.value.what == "customer"
    assert w.devices.state(w.hana, w.customer.id).devices == (PHONE,)


# -- designated-only and the branch ---------------------------------------------------------


def test_the_last_device_under_designated_only_is_removed_only_by_a_branch(world: World) -> None:
    w = world
    w.devices.designate(w.hana, w.customer.id, PHONE)
    w.devices.set_designated_only(w.hana, w.customer.id, True)
    with pytest.raises(BranchOnlyDeviceChangeError) as caught:
        w.devices.remove(w.hana, w.customer.id, PHONE)
    assert caught.value.code == "device_change_branch_only"
    assert caught.value.change == "remove-last-device"
    assert w.devices.state(w.hana, w.customer.id).devices == (PHONE,)
    state = w.devices.remove(w.hana, w.customer.id, PHONE, operator="teller-0042")
    assert state.devices == () and state.designated_only
    removed = [e for e in w.store.audit_log() if e.action == AuditAction.BANK_DEVICE_REMOVED]
    assert removed[-1].detail["operator"] == "teller-0042"


def test_designated_only_is_turned_on_only_with_a_designated_device(world: World) -> None:
    """With no device designated, the mode would lock the customer out of every covered
    operation until a branch turns it off: refused, nothing written."""
    w = world
    with pytest.raises(NoDesignatedDeviceError) as caught:
        w.devices.set_designated_only(w.hana, w.customer.id, True)
    assert caught.value.code == "no_designated_device"
    assert not w.devices.state(w.hana, w.customer.id).designated_only
    w.devices.designate(w.hana, w.customer.id, PHONE)
    assert w.devices.set_designated_only(w.hana, w.customer.id, True).designated_only


def test_not_the_last_device_the_customer_removes_themselves(world: World) -> None:
    w = world
    w.devices.designate(w.hana, w.customer.id, PHONE)
    w.devices.designate(w.hana, w.customer.id, PC)
    w.devices.set_designated_only(w.hana, w.customer.id, True)
    assert w.devices.remove(w.hana, w.customer.id, PC).devices == (PHONE,)


def test_turning_designated_only_off_is_a_branch_action(world: World) -> None:
    w = world
    w.devices.designate(w.hana, w.customer.id, PHONE)
    w.devices.set_designated_only(w.hana, w.customer.id, True)
    with pytest.raises(BranchOnlyDeviceChangeError) as caught:
        w.devices.set_designated_only(w.hana, w.customer.id, False)
    assert caught.value.change == "designated-only-off"
    assert w.devices.state(w.hana, w.customer.id).designated_only
    assert not w.devices.set_designated_only(w.hana, w.customer.id, False,
                                             operator="teller-0042").designated_only


def test_the_extra_step_subscription_is_kept_and_ended(world: World) -> None:
    w = world
    assert w.devices.subscribe_step_up(w.hana, w.customer.id, "ars").step_up is StepUpMethod.ARS
    w.devices.designate(w.hana, w.customer.id, PHONE)
    w.devices.set_designated_only(w.hana, w.customer.id, True)
    state = w.devices.state(w.hana, w.customer.id)
    assert state.step_up is StepUpMethod.ARS and state.designated_only
    assert w.devices.subscribe_step_up(w.hana, w.customer.id, None).step_up is None
    with pytest.raises(BankRequestError) as caught:
        w.devices.subscribe_step_up(w.hana, w.customer.id, "email")
    assert caught.value.field == "step_up"


# -- decisions ------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", list(CoveredOperation))
def test_designated_only_refuses_an_undesignated_device(world: World,
                                                        operation: CoveredOperation) -> None:
    w = world
    w.devices.designate(w.hana, w.customer.id, PHONE)
    w.devices.set_designated_only(w.hana, w.customer.id, True)
    assert w.devices.authorise(w.hana, w.customer.id, PHONE, operation).allowed
    with pytest.raises(DeviceNotDesignatedError) as caught:
        w.devices.authorise(w.hana, w.customer.id, PC, operation, step_up=w.verified(),
                            otp_exempt=True)
    assert caught.value.code == "device_not_designated" and caught.value.device == PC
    assert isinstance(caught.value, BankError)


def test_designated_only_with_the_service_takes_the_subscribed_step(world: World) -> None:
    w = world
    w.devices.designate(w.hana, w.customer.id, PHONE)
    w.devices.set_designated_only(w.hana, w.customer.id, True)
    w.devices.subscribe_step_up(w.hana, w.customer.id, "ars")
    decision = w.devices.decide(w.hana, w.customer.id, PC, TRANSFER, day_total=1)
    assert decision.verdict is Verdict.STEP_UP and decision.methods == (StepUpMethod.ARS,)
    with pytest.raises(StepUpRequiredError) as required:
        w.devices.authorise(w.hana, w.customer.id, PC, TRANSFER, day_total=1)
    assert required.value.code == "step_up_required" and required.value.methods == ("ars",)
    with pytest.raises(StepUpInvalidError) as wrong:
        w.devices.authorise(w.hana, w.customer.id, PC, TRANSFER, day_total=1,
                            step_up=w.verified("sms"))
    assert wrong.value.reason == "wrong_method"
    assert w.devices.authorise(w.hana, w.customer.id, PC, TRANSFER, day_total=1,
                               step_up=w.verified("ars")).needs_step_up


@pytest.mark.parametrize("operation", [REISSUE, FOREIGN])
@pytest.mark.parametrize("method", ["sms", "ars"])
def test_reissue_and_foreign_registration_from_an_undesignated_device_take_the_step(
        world: World, operation: CoveredOperation, method: str) -> None:
    w = world
    w.devices.designate(w.hana, w.customer.id, PHONE)
    with pytest.raises(StepUpRequiredError) as caught:
        w.devices.authorise(w.hana, w.customer.id, PC, operation)
    assert caught.value.methods == ("sms", "ars")
    verification = w.verified(method)
    assert w.devices.authorise(w.hana, w.customer.id, PC, operation,
                               step_up=verification).needs_step_up
    used = [e for e in w.store.audit_log() if e.action == AuditAction.BANK_STEP_UP_USED]
    assert used[-1].detail == {"institution": w.hana.name, "customer": w.customer.id,
                               "verification": verification, "operation": operation.value}


@pytest.mark.parametrize(("day_total", "needs_step"), [(2_999_999, False), (3_000_000, True)])
def test_undesignated_transfers_take_the_step_from_3m_krw_a_day(
        world: World, day_total: int, needs_step: bool) -> None:
    w = world
    w.devices.designate(w.hana, w.customer.id, PHONE)
    decision = w.devices.decide(w.hana, w.customer.id, PC, TRANSFER, day_total=day_total)
    assert decision.needs_step_up is needs_step
    if needs_step:
        with pytest.raises(StepUpRequiredError):
            w.devices.authorise(w.hana, w.customer.id, PC, TRANSFER, day_total=day_total)
    else:
        assert w.devices.authorise(w.hana, w.customer.id, PC, TRANSFER,
                                   day_total=day_total).allowed


def test_the_day_threshold_is_an_institution_setting(tmp_path: Path) -> None:
    w = World(tmp_path, undesignated_step_up_krw=1_000_000)
    assert w.devices.decide(w.hana, w.customer.id, PC, TRANSFER, day_total=999_999).allowed
    assert w.devices.decide(w.hana, w.customer.id, PC, TRANSFER,
                            day_total=1_000_000).needs_step_up


def test_otp_users_are_exempt_from_the_day_rule(world: World) -> None:
    w = world
    assert w.devices.authorise(w.hana, w.customer.id, PC, TRANSFER, day_total=50_000_000,
                               otp_exempt=True).allowed


# -- the extra step: a confirmed verification, used once ------------------------------------


def test_a_step_up_is_used_once(world: World) -> None:
    w = world
    verification = w.verified()
    w.devices.authorise(w.hana, w.customer.id, PC, REISSUE, step_up=verification)
    with pytest.raises(StepUpUsedError) as caught:
        w.devices.authorise(w.hana, w.customer.id, PC, FOREIGN, step_up=verification)
    assert caught.value.code == "step_up_used" and caught.value.verification == verification


def test_a_step_up_too_old_is_refused(world: World) -> None:
    w = world
    verification = w.verified()
    w.clock.advance(dt.timedelta(minutes=5))
    w.devices.authorise(w.hana, w.customer.id, PC, REISSUE, step_up=w.verified())  # in time
    w.clock.advance(dt.timedelta(seconds=1))
    with pytest.raises(StepUpInvalidError) as caught:
        w.devices.authorise(w.hana, w.customer.id, PC, REISSUE, step_up=verification)
    assert caught.value.code == "step_up_invalid" and caught.value.reason == "expired"
    assert w.store.step_up_used_at(verification) is None  # nothing used up


def test_the_step_up_validity_is_an_institution_setting(tmp_path: Path) -> None:
    w = World(tmp_path, step_up_seconds=60)
    verification = w.verified()
    w.clock.advance(dt.timedelta(seconds=61))
    with pytest.raises(StepUpInvalidError) as caught:
        w.devices.authorise(w.hana, w.customer.id, PC, REISSUE, step_up=verification)
    assert caught.value.reason == "expired"


def test_another_sites_verification_is_not_a_step_up(world: World) -> None:
    w = world
    kb, _ = add_bank(w.store, "004", at=w.clock.now())
    at_kb = w.verified(site=kb)
    with pytest.raises(StepUpInvalidError) as caught:
        w.devices.authorise(w.hana, w.customer.id, PC, REISSUE, step_up=at_kb)
    assert caught.value.reason == "not_found"
    for unknown in ("v_nothing", 42):
        with pytest.raises(StepUpInvalidError):
            w.devices.authorise(w.hana, w.customer.id, PC, REISSUE,
                                step_up=unknown)  # type: ignore[arg-type]


def test_another_persons_verification_is_not_a_step_up(world: World) -> None:
    w = world
    w.lines.add("010-9999-0000", name="김영희", rrn=OTHER_RRN, carrier="SKT")
    theirs = w.verified(phone="01099990000", name="김영희", rrn7=OTHER_RRN.replace("-", "")[:7])
    with pytest.raises(StepUpInvalidError) as caught:
        w.devices.authorise(w.hana, w.customer.id, PC, REISSUE, step_up=theirs)
    assert caught.value.reason == "other_person"
    assert w.store.step_up_used_at(theirs) is None


def test_an_unconfirmed_verification_is_not_a_step_up(world: World) -> None:
    w = world
    sent = w.phone.request(w.hana, name="홍길동", phone="01012345678", rrn7=RRN7,
                           carrier="SKT")
    with pytest.raises(StepUpInvalidError) as caught:
        w.devices.authorise(w.hana, w.customer.id, PC, REISSUE, step_up=sent.id)
    assert caught.value.reason == "not_confirmed"


def test_two_parallel_operations_with_one_step_up_one_wins(world: World) -> None:
    w = world
    verification = w.verified()
    results = in_parallel(2, lambda i: w.other_connection().authorise(
        w.hana, w.customer.id, PC, REISSUE, step_up=verification))
    assert sum(isinstance(r, StepUpUsedError) for r in results) == 1
    assert sum(not isinstance(r, Exception) for r in results) == 1
    used = [e for e in w.store.audit_log() if e.action == AuditAction.BANK_STEP_UP_USED]
    assert len(used) == 1


def test_the_step_up_is_used_only_if_the_operation_commits(world: World) -> None:
    """The used-marker is written in the operation's transaction: an operation that fails
    after it (here: an error raised inside the same transaction) leaves it unused."""
    w = world
    verification = w.verified()
    customer = w.customer

    class Failed(Exception):
        pass

    with pytest.raises(Failed), w.store.transaction() as tx:
        decision = decide(device_state_in(tx, customer.id), PC, REISSUE)
        enforce_in(tx, w.hana, customer, decision, verification, now=w.clock.now())
        assert tx.step_up_used_at(verification) is not None
        raise Failed
    assert w.store.step_up_used_at(verification) is None
    with w.store.transaction() as tx:
        consume_step_up(tx, w.hana, customer, verification, now=w.clock.now())
    assert w.store.step_up_used_at(verification) == w.clock.now()


def test_a_push_delivered_code_counts_as_the_sms_step(world: World) -> None:
    w = world
    w.phone.enrol_app("01012345678", password="482915")
    verification = w.verified("sms")  # the code goes to the carrier app
    assert w.devices.authorise(w.hana, w.customer.id, PC, REISSUE,
                               step_up=verification).needs_step_up
