"""Financial certificates as a bank issues them (pki.ra.financial, issue 15 item 2): each
step's refusals and their codes in the session's history, the issuance in one transaction
with the session's finish, reissue, registration of another institution's certificate,
renewal notices and the device rules."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import textwrap

import pytest

from pki.cloud.vault import KDFParams
from pki.errors import (
    AccountLockedError,
    BankNotFoundError,
    BankRequestError,
    CardLockedError,
    DeviceNotDesignatedError,
    FlowRefusedError,
    NotEnrolledError,
    StepRefusedError,
    WrongAccountPasswordError,
    WrongCardAnswerError,
    WrongCodeError,
)
from pki.home import Home
from pki.ra.financial import KftcStatus
from pki.rrn import RRN, synthetic_rrn
from pki.store import CertStatus, Institution, RaSessionState
from pki.usecases.ra import RegistrationDesk

from .bank_helpers import in_parallel, killed_at

FAST_KDF = KDFParams(n=2**4, r=8, p=1)
PIN = "802417"
PASSWORD = "4821"
SECRET_HEX = "ab" * 32


@dataclasses.dataclass
class Person:
    bank: Institution
    id: str
    name: str
    rrn: RRN
    phone: str
    account: str
    codes: tuple[str, ...]


def make_desk(home: Home) -> RegistrationDesk:
    desk = RegistrationDesk.of_home(home)
    desk.cloud_kdf = FAST_KDF
    return desk


@pytest.fixture
def desk(home: Home, monkeypatch: pytest.MonkeyPatch) -> RegistrationDesk:
    monkeypatch.setenv("KPKI_VAULT_SECRET", SECRET_HEX)
    return make_desk(home)


def bank_of(desk: RegistrationDesk, code: str = "081", **settings: object) -> Institution:
    return desk.banking.add_bank(code, settings=settings)[0]


def person(desk: RegistrationDesk, bank: Institution, *, name: str = "홍길동",
           rrn: RRN | None = None, phone: str = "01012345678", enrolled: bool = True,
           line: bool = True) -> Person:
    banking = desk.banking
    holder = rrn or synthetic_rrn(dt.date(1990, 5, 17))
    record = banking.customers.add(bank, name=name, rrn=holder, phone=phone, carrier="SKT")
    if enrolled:
        banking.customers.sign_up(bank, record.id)
        banking.customers.activate(bank, record.id)
    account = banking.customers.open_account(bank, record.id, password=PASSWORD)
    card = banking.cards.issue(bank, record.id, seed=f"card-{record.id}")
    if line:
        banking.lines.add(phone, name=name, rrn=holder.digits, carrier="SKT")
    return Person(bank, record.id, name, holder, phone, account.number, card.codes)


def verified_phone(desk: RegistrationDesk, who: Person, *, method: str = "sms") -> str:
    phone = desk.banking.phone
    request = phone.request(who.bank, name=who.name, phone=who.phone, rrn7=who.rrn.digits[:7],
                            carrier="SKT", method=method)
    if method == "ars":
        phone.press(who.bank, request.id, request.display_code or "")
    else:
        text = phone.messages(who.bank, who.phone)[-1].text
        phone.confirm(who.bank, request.id, re.search(r"code (\d{6})", text).group(1))
    return request.id


def cloud_code(desk: RegistrationDesk, who: Person) -> str:
    text = desk.financial.cloud.messages(who.bank, who.phone)[-1].text
    return re.search(r"code (\d\d)", text).group(1)


def card_answer(desk: RegistrationDesk, who: Person, session: str) -> tuple[str, str]:
    challenge = desk.financial.card_challenge(who.bank, session)
    return challenge.id, (who.codes[challenge.first - 1][:2]
                          + who.codes[challenge.second - 1][2:])


STEPS = ("account", "phone", "medium", "cloud", "confirm")


def walk(desk: RegistrationDesk, who: Person, session: str, upto: str = "issue") -> None:
    """Do the identity steps before ``upto``, each right."""
    flows = desk.financial
    for step in STEPS:
        if step == upto:
            return
        if step == "account":
            flows.account(who.bank, session, account=who.account, password=PASSWORD)
        elif step == "phone":
            flows.phone(who.bank, session, verification=verified_phone(desk, who))
        elif step == "medium":
            challenge, answer = card_answer(desk, who, session)
            flows.medium(who.bank, session, card_challenge=challenge, response=answer)
        elif step == "cloud":
            flows.connect_cloud(who.bank, session, name=who.name, phone=who.phone,
                                birth_date=who.rrn.birth_date.isoformat())
        else:
            flows.confirm(who.bank, session, code=cloud_code(desk, who))


def issued(desk: RegistrationDesk, who: Person, **start: object):
    session = desk.financial.start(who.bank, **start).id  # type: ignore[arg-type]
    walk(desk, who, session)
    return desk.financial.issue(who.bank, session, pin=PIN, pin_confirm=PIN)


def killed_in_desk(home: Home, fault: str, call: str) -> None:
    """Run ``call`` (indented source using ``desk`` and ``bank``, bank 081) in a fresh
    interpreter on ``home`` at its clock's time, killed at ``fault``."""
    script = textwrap.dedent(f"""
        import os
        os.environ["KPKI_VAULT_SECRET"] = {SECRET_HEX!r}
        import datetime as dt
        from pki.clock import FixedClock
        from pki.home import Home
        from pki.usecases.ra import RegistrationDesk
        from pki.cloud.vault import KDFParams
        now = dt.datetime.fromisoformat({home.clock.now().isoformat()!r})
        home = Home.open({str(home.path)!r}, clock=FixedClock(now))
        desk = RegistrationDesk.of_home(home)
        desk.cloud_kdf = KDFParams(n=2**4, r=8, p=1)
        bank = desk.banking.bank("081")
    """) + textwrap.dedent(call)
    killed_at(fault, script)


def history(desk: RegistrationDesk, bank: Institution, session: str) -> list[tuple]:
    return [(s.step, s.accepted, s.reason) for s in desk.sessions.history(bank, session)]


def refusal(kind, call, *args, **kwargs):
    with pytest.raises(kind) as caught:
        call(*args, **kwargs)
    return caught.value


# -- the whole flow ------------------------------------------------------------------------


def test_the_flow_issues_into_the_cloud_and_finishes_the_session(desk):
    bank = bank_of(desk)
    who = person(desk, bank)
    result = issued(desk, who)
    assert result.session.state is RaSessionState.FINISHED
    assert result.session.data["serial"] == format(result.serial, "X")
    store = desk.store
    label = desk.financial.cloud.authority.label
    assert store.vault_record(label, result.serial).user_id == result.user_id
    assert store.is_registered(label, result.serial, bank.id)
    assert [step for step, ok, _ in history(desk, bank, result.session.id) if ok] == [
        *STEPS, "issue"]
    signed = desk.financial.cloud.sign(bank, result.serial, pin=PIN, content=b"x",
                                       purpose="01")
    assert signed.serial == result.serial


# -- step 1: the account ---------------------------------------------------------------------


def test_a_wrong_account_password_is_counted_and_recorded(desk):
    bank = bank_of(desk, account_password_attempts=2)
    who = person(desk, bank)
    flows = desk.financial
    session = flows.start(bank).id
    error = refusal(WrongAccountPasswordError, flows.account, bank, session,
                    account=who.account, password="0000")
    assert error.attempts_left == 1
    refusal(AccountLockedError, flows.account, bank, session, account=who.account,
            password="0000")
    assert history(desk, bank, session) == [("account", False, "wrong_account_password"),
                                            ("account", False, "account_locked")]
    assert flows.session(bank, session).state is RaSessionState.FAILED


def test_a_wrong_number_and_another_customers_number_are_answered_alike(desk):
    bank = bank_of(desk)
    who = person(desk, bank)
    other = person(desk, bank, name="김철수", rrn=synthetic_rrn(dt.date(1985, 1, 1)),
                   phone="01099998888")
    flows = desk.financial
    session = flows.start(bank, customer_id=who.id).id
    answers = [refusal(BankNotFoundError, flows.account, bank, session, account=number,
                       password="0000") for number in (other.account, "1234567890123")]
    assert {(e.code, str(e)) for e in answers} == {("not_found", "no such account")}
    assert desk.banking.customers.account(bank, other.account).failures == 0  # not compared
    assert [r for _, _, r in history(desk, bank, session)] == ["account_not_found"] * 2


def test_the_customer_must_be_enrolled_in_internet_banking(desk):
    bank = bank_of(desk)
    who = person(desk, bank, enrolled=False)
    flows = desk.financial
    session = flows.start(bank).id
    refusal(NotEnrolledError, flows.account, bank, session, account=who.account,
            password=PASSWORD)
    assert history(desk, bank, session) == [("account", False, "not_enrolled")]


# -- step 2: the phone -------------------------------------------------------------------------


def test_the_phone_verification_must_be_confirmed_the_customers_recent_and_unused(desk):
    bank = bank_of(desk)
    who = person(desk, bank)
    other = person(desk, bank, name="김철수", rrn=synthetic_rrn(dt.date(1985, 1, 1)),
                   phone="01099998888")
    flows, phone = desk.financial, desk.banking.phone
    session = flows.start(bank).id
    walk(desk, who, session, upto="phone")
    pending = phone.request(bank, name=who.name, phone=who.phone, rrn7=who.rrn.digits[:7],
                            carrier="SKT").id
    for verification, code in ((pending, "phone_not_confirmed"),
                               (verified_phone(desk, other), "phone_other_person"),
                               ("pv_nope", "phone_not_found")):
        assert refusal(FlowRefusedError, flows.phone, bank, session,
                       verification=verification).code == code
    used = verified_phone(desk, who)
    flows.phone(bank, session, verification=used)
    second = flows.start(bank).id
    walk(desk, who, second, upto="phone")
    assert refusal(FlowRefusedError, flows.phone, bank, second,
                   verification=used).code == "phone_used"


def test_a_phone_verification_older_than_the_step_expiry_is_refused(desk):
    bank = bank_of(desk)
    who = person(desk, bank)
    flows = desk.financial
    verification = verified_phone(desk, who, method="ars")
    desk.home.clock.advance(dt.timedelta(seconds=500))
    session = flows.start(bank).id
    walk(desk, who, session, upto="phone")
    desk.home.clock.advance(dt.timedelta(seconds=200))
    assert refusal(FlowRefusedError, flows.phone, bank, session,
                   verification=verification).code == "phone_expired"


# -- step 3: the medium ------------------------------------------------------------------------


def test_wrong_card_answers_are_counted_and_a_locked_card_ends_the_session(desk):
    bank = bank_of(desk, card_attempts=2)
    who = person(desk, bank)
    flows = desk.financial
    session = flows.start(bank).id
    walk(desk, who, session, upto="medium")
    for kind in (WrongCardAnswerError, CardLockedError):
        challenge, answer = card_answer(desk, who, session)
        wrong = "0000" if answer != "0000" else "1111"
        refusal(kind, flows.medium, bank, session, card_challenge=challenge, response=wrong)
    assert [r for _, ok, r in history(desk, bank, session) if not ok] == [
        "wrong_card_answer", "card_locked"]
    assert flows.session(bank, session).state is RaSessionState.FAILED
    assert refusal(StepRefusedError, flows.card_challenge, bank,
                   session).code == "session_failed"


# -- steps 4 and 5: the cloud -----------------------------------------------------------------


def test_the_cloud_connection_must_be_the_customers_and_its_code_right(desk):
    bank = bank_of(desk)
    who = person(desk, bank)
    flows = desk.financial
    session = flows.start(bank).id
    walk(desk, who, session, upto="cloud")
    assert refusal(FlowRefusedError, flows.connect_cloud, bank, session, name=who.name,
                   phone="01055556666", birth_date="1990-05-17"
                   ).code == "cloud_identity_mismatch"
    flows.connect_cloud(bank, session, name=who.name, phone="010-1234-5678",
                        birth_date="1990-05-17")
    code = cloud_code(desk, who)
    wrong = "00" if code != "00" else "11"
    assert refusal(WrongCodeError, flows.confirm, bank, session, code=wrong).attempts_left == 4
    flows.confirm(bank, session, code=code)
    assert [r for _, ok, r in history(desk, bank, session) if not ok] == [
        "cloud_identity_mismatch", "code_invalid"]


# -- the last step: issue -------------------------------------------------------------------


def test_the_pins_must_match_and_follow_the_clouds_rules(desk):
    bank = bank_of(desk)
    who = person(desk, bank)
    flows = desk.financial
    session = flows.start(bank).id
    walk(desk, who, session)
    assert refusal(FlowRefusedError, flows.issue, bank, session, pin=PIN,
                   pin_confirm="802418").code == "pin_mismatch"
    refusal(Exception, flows.issue, bank, session, pin="123456", pin_confirm="123456")
    assert [r for _, ok, r in history(desk, bank, session) if not ok] == [
        "pin_mismatch", "pin_sequence"]
    assert desk.store.list_certificates(profile="financial-personal") == []


def test_steps_out_of_order_are_refused(desk):
    bank = bank_of(desk)
    who = person(desk, bank)
    flows = desk.financial
    session = flows.start(bank).id
    error = refusal(StepRefusedError, flows.issue, bank, session, pin=PIN, pin_confirm=PIN)
    assert (error.code, error.expected) == ("step_out_of_order", "account")
    walk(desk, who, session, upto="phone")
    assert refusal(StepRefusedError, flows.account, bank, session, account=who.account,
                   password=PASSWORD).code == "step_repeated"


def test_two_issues_at_once_issue_one_certificate(desk, home):
    bank = bank_of(desk)
    who = person(desk, bank)
    session = desk.financial.start(bank).id
    walk(desk, who, session)

    def issue(_: int) -> object:
        with Home.open(home.path, clock=home.clock, key_generator=home.key_generator) as own:
            return make_desk(own).financial.issue(bank, session, pin=PIN,
                                                  pin_confirm=PIN).serial

    outcomes = in_parallel(4, issue)
    serials = [o for o in outcomes if isinstance(o, int)]
    assert len(serials) == 1
    # the others came while it was issuing, or after: refused either way
    assert {getattr(o, "code", "") for o in outcomes if not isinstance(o, int)} <= {
        "step_repeated", "session_finished"}
    assert [r.serial for r in desk.store.list_certificates(profile="financial-personal")
            ] == serials


def test_a_crash_inside_the_issuance_leaves_neither_certificate_nor_finished_session(
        desk, home, tmp_path):
    bank = bank_of(desk)
    who = person(desk, bank)
    session = desk.financial.start(bank).id
    walk(desk, who, session)
    killed_in_desk(home, "cloud.issue.sealed", f"""
        desk.financial.issue(bank, {session!r}, pin={PIN!r}, pin_confirm={PIN!r})
    """)
    assert desk.store.list_certificates(profile="financial-personal") == []
    assert desk.financial.session(bank, session).state is RaSessionState.OPEN
    result = desk.financial.issue(bank, session, pin=PIN, pin_confirm=PIN)
    assert result.session.state is RaSessionState.FINISHED


# -- reissue (a forgotten PIN) ------------------------------------------------------------------


def test_a_reissue_revokes_the_old_certificate_in_the_issuing_transaction(desk):
    bank = bank_of(desk)
    who = person(desk, bank)
    first = issued(desk, who)
    flows = desk.financial
    session = flows.start(bank, "financial-reissue").id
    walk(desk, who, session)
    result = flows.issue(bank, session, pin="739150", pin_confirm="739150",
                         replaces=first.serial)
    label = flows.cloud.authority.label
    assert result.replaced == first.serial
    assert desk.store.find_certificates(first.serial, ca=label)[0].status is CertStatus.REVOKED
    assert desk.store.find_certificates(result.serial, ca=label)[0].status is CertStatus.VALID
    assert result.session.data["replaced"] == format(first.serial, "X")


def test_a_reissue_replaces_only_the_persons_own_certificate(desk):
    bank = bank_of(desk)
    who = person(desk, bank)
    other = person(desk, bank, name="김철수", rrn=synthetic_rrn(dt.date(1985, 1, 1)),
                   phone="01099998888")
    theirs = issued(desk, other)
    flows = desk.financial
    session = flows.start(bank, "financial-reissue").id
    walk(desk, who, session)
    assert refusal(FlowRefusedError, flows.issue, bank, session, pin=PIN, pin_confirm=PIN,
                   replaces=theirs.serial).code == "certificate_not_found"
    label = flows.cloud.authority.label
    assert desk.store.find_certificates(theirs.serial, ca=label)[0].status is CertStatus.VALID


def test_a_pin_reset_is_refused_where_the_setting_is_off(desk):
    bank = bank_of(desk)
    assert refusal(FlowRefusedError, desk.financial.start, bank,
                   "financial-pin-reset").code == "pin_reset_off"


# -- another institution's certificate (타행 인증서 등록) ----------------------------------------


def test_another_institutions_certificate_is_registered_and_answered_10(desk):
    kb, hana = bank_of(desk, "004"), bank_of(desk, "081")
    at_kb = person(desk, kb)
    at_hana = dataclasses.replace(person(desk, hana, rrn=at_kb.rrn, line=False), bank=hana)
    first = issued(desk, at_kb)
    flows = desk.financial
    session = flows.start(hana, "financial-register").id
    walk(desk, at_hana, session, upto="register")
    answer = flows.register(hana, session, serial=first.serial, pin=PIN)
    assert (answer.status, answer.registered) == (KftcStatus.VALID, True)
    assert answer.status.value == "10"
    assert desk.store.is_registered(flows.cloud.authority.label, first.serial, hana.id)
    assert answer.session.state is RaSessionState.FINISHED


def test_a_revoked_certificate_is_answered_30_and_not_registered(desk):
    kb, hana = bank_of(desk, "004"), bank_of(desk, "081")
    at_kb = person(desk, kb)
    at_hana = person(desk, hana, rrn=at_kb.rrn, line=False)
    first = issued(desk, at_kb)
    flows = desk.financial
    flows.cloud.revoke(kb, first.serial)
    session = flows.start(hana, "financial-register").id
    walk(desk, at_hana, session, upto="register")
    answer = flows.register(hana, session, serial=first.serial, pin="000000")
    assert (answer.status.value, answer.registered) == ("30", False)
    assert not desk.store.is_registered(flows.cloud.authority.label, first.serial, hana.id)


def test_another_persons_certificate_is_not_found(desk):
    kb, hana = bank_of(desk, "004"), bank_of(desk, "081")
    stranger = person(desk, kb, name="김철수", rrn=synthetic_rrn(dt.date(1985, 1, 1)),
                      phone="01099998888")
    theirs = issued(desk, stranger)
    who = person(desk, hana)
    flows = desk.financial
    session = flows.start(hana, "financial-register").id
    walk(desk, who, session, upto="register")
    assert refusal(FlowRefusedError, flows.register, hana, session, serial=theirs.serial,
                   pin=PIN).code == "certificate_not_found"


# -- device rules and the device restriction ---------------------------------------------------


def test_designated_only_refuses_the_issuance_from_another_device(desk):
    bank = bank_of(desk)
    who = person(desk, bank)
    desk.banking.devices.designate(bank, who.id, "my-phone")
    desk.banking.devices.set_designated_only(bank, who.id, True)
    flows = desk.financial
    session = flows.start(bank, device="internet-cafe").id
    walk(desk, who, session)
    refusal(DeviceNotDesignatedError, flows.issue, bank, session, pin=PIN, pin_confirm=PIN)
    assert history(desk, bank, session)[-1] == ("issue", False, "device_not_designated")
    assert desk.store.list_certificates(profile="financial-personal") == []
    allowed = flows.start(bank, device="my-phone").id
    walk(desk, who, allowed)
    assert flows.issue(bank, allowed, pin=PIN, pin_confirm=PIN).serial


def test_the_holder_can_restrict_the_certificate_to_a_designated_device(desk):
    bank = bank_of(desk)
    who = person(desk, bank)
    flows = desk.financial
    session = flows.start(bank).id
    walk(desk, who, session)
    result = flows.issue(bank, session, pin=PIN, pin_confirm=PIN, designate="my-phone")
    devices = flows.cloud.devices(bank, result.user_id)
    assert (devices.devices, devices.designated_only) == (("my-phone",), True)
    refusal(DeviceNotDesignatedError, flows.cloud.sign, bank, result.serial, pin=PIN,
            content=b"x", purpose="01", device="other")


# -- renewal notices ------------------------------------------------------------------------------


def test_a_renewal_notice_goes_to_the_phone_once_from_a_month_before_expiry(desk):
    bank = bank_of(desk)
    who = person(desk, bank)
    result = issued(desk, who)
    cloud = desk.financial.cloud

    def notices() -> int:
        return sum("expires on" in m.text for m in cloud.messages(bank, who.phone))

    not_after = result.certificate.not_valid_after_utc
    cloud.clock.set(not_after - dt.timedelta(days=32))
    assert desk.financial_renewal_notices() == [] and notices() == 0
    cloud.clock.set(not_after - dt.timedelta(days=30))
    assert desk.financial_renewal_notices() == [result.serial]
    assert desk.financial_renewal_notices() == [result.serial]
    assert notices() == 1


def test_an_unknown_flow_is_a_request_error(desk):
    from pki.errors import BankRequestError

    bank = bank_of(desk)
    assert refusal(BankRequestError, desk.financial.start, bank, "nope").field == "flow"



# -- PIN reset after full re-proofing (the institution's pin_reset setting) -----------------

NEW_PIN = "739150"


def reset_session(desk: RegistrationDesk, who: Person) -> str:
    session = desk.financial.start(who.bank, "financial-pin-reset").id
    walk(desk, who, session, upto="pin")
    return session


def signs_with(desk: RegistrationDesk, who: Person, serial: int, pin: str) -> bool:
    from pki.errors import WrongPinError

    try:
        desk.financial.cloud.sign(who.bank, serial, pin=pin, content=b"x", purpose="01")
    except WrongPinError:
        return False
    return True


def test_a_pin_reset_seals_the_same_certificate_under_the_new_pin(desk):
    bank = bank_of(desk, pin_reset=True)
    who = person(desk, bank)
    first = issued(desk, who)
    session = reset_session(desk, who)
    flows = desk.financial
    done = flows.reset_pin(bank, session, serial=first.serial, pin=NEW_PIN,
                           pin_confirm=NEW_PIN)
    assert done.serial == first.serial
    assert done.session.state is RaSessionState.FINISHED
    assert not signs_with(desk, who, first.serial, PIN)
    assert signs_with(desk, who, first.serial, NEW_PIN)
    assert [r.serial for r in desk.store.list_certificates(profile="financial-personal")
            ] == [first.serial]
    rows = [r for r in desk.store.audit_log() if r.action == "ra.pin.reset"]
    assert len(rows) == 1 and rows[0].serial == first.serial
    assert PIN not in str(rows[0]) and NEW_PIN not in str(rows[0])
    assert [step for step, ok, _ in history(desk, bank, session) if ok] == [*STEPS, "pin"]


def test_a_pin_reset_unlocks_a_locked_pin(desk):
    from pki.errors import PinLockedError

    bank = bank_of(desk, pin_reset=True)
    who = person(desk, bank)
    first = issued(desk, who)
    cloud = desk.financial.cloud
    for _ in range(4):
        assert not signs_with(desk, who, first.serial, "111112")
    refusal(PinLockedError, cloud.sign, bank, first.serial, pin="111112", content=b"x",
            purpose="01")
    refusal(PinLockedError, cloud.sign, bank, first.serial, pin=PIN, content=b"x",
            purpose="01")
    session = reset_session(desk, who)
    desk.financial.reset_pin(bank, session, serial=first.serial, pin=NEW_PIN,
                             pin_confirm=NEW_PIN)
    record = desk.store.vault_record(cloud.authority.label, first.serial)
    assert (record.failures, record.locked) == (0, False)
    assert signs_with(desk, who, first.serial, NEW_PIN)


def test_a_certificate_without_a_recovery_copy_is_refused_naming_the_reissue(desk):
    kb, hana = bank_of(desk, "004"), bank_of(desk, "081", pin_reset=True)
    at_kb = person(desk, kb)
    at_hana = person(desk, hana, rrn=at_kb.rrn, line=False)
    first = issued(desk, at_kb)  # KB keeps no recovery copy: its pin_reset is off
    flows = desk.financial
    session = flows.start(hana, "financial-register").id
    walk(desk, at_hana, session, upto="register")
    flows.register(hana, session, serial=first.serial, pin=PIN)
    session = reset_session(desk, at_hana)
    error = refusal(FlowRefusedError, flows.reset_pin, hana, session, serial=first.serial,
                    pin=NEW_PIN, pin_confirm=NEW_PIN)
    assert error.code == "no_recovery_copy" and "financial-reissue" in str(error)
    assert history(desk, hana, session)[-1] == ("pin", False, "no_recovery_copy")
    assert signs_with(desk, at_kb, first.serial, PIN)


def test_a_pin_reset_refuses_mismatched_pins_bad_pins_and_others_certificates(desk):
    bank = bank_of(desk, pin_reset=True)
    who = person(desk, bank)
    other = person(desk, bank, name="김철수", rrn=synthetic_rrn(dt.date(1985, 1, 1)),
                   phone="01099998888")
    mine, theirs = issued(desk, who), issued(desk, other)
    flows = desk.financial
    session = reset_session(desk, who)
    assert refusal(FlowRefusedError, flows.reset_pin, bank, session, serial=mine.serial,
                   pin=NEW_PIN, pin_confirm="739151").code == "pin_mismatch"
    refusal(Exception, flows.reset_pin, bank, session, serial=mine.serial, pin="123456",
            pin_confirm="123456")
    assert refusal(FlowRefusedError, flows.reset_pin, bank, session, serial=theirs.serial,
                   pin=NEW_PIN, pin_confirm=NEW_PIN).code == "certificate_not_found"
    assert refusal(FlowRefusedError, flows.reset_pin, bank, session, serial=10**30,
                   pin=NEW_PIN, pin_confirm=NEW_PIN).code == "certificate_not_found"
    flows.cloud.revoke(bank, mine.serial)
    refusal(Exception, flows.reset_pin, bank, session, serial=mine.serial, pin=NEW_PIN,
            pin_confirm=NEW_PIN)
    assert [r for _, ok, r in history(desk, bank, session) if not ok] == [
        "pin_mismatch", "pin_sequence", "certificate_not_found", "certificate_not_found",
        "certificate_revoked"]
    assert signs_with(desk, other, theirs.serial, PIN)
    issue_session = flows.start(bank).id
    walk(desk, who, issue_session)
    refusal(BankRequestError, flows.reset_pin, bank, issue_session, serial=mine.serial,
            pin=NEW_PIN, pin_confirm=NEW_PIN)


def test_two_pin_resets_at_once_one_wins(desk, home):
    bank = bank_of(desk, pin_reset=True)
    who = person(desk, bank)
    first = issued(desk, who)
    session = reset_session(desk, who)
    pins = ("739150", "582931", "604817", "935172")

    def reset(i: int) -> object:
        with Home.open(home.path, clock=home.clock, key_generator=home.key_generator) as own:
            return make_desk(own).financial.reset_pin(bank, session, serial=first.serial,
                                                      pin=pins[i], pin_confirm=pins[i])

    outcomes = in_parallel(4, reset)
    won = [i for i, o in enumerate(outcomes) if not isinstance(o, Exception)]
    assert len(won) == 1
    assert {getattr(o, "code", "") for o in outcomes if isinstance(o, Exception)} <= {
        "step_repeated", "session_finished"}
    assert [signs_with(desk, who, first.serial, pin) for pin in pins] == [
        i == won[0] for i in range(4)]
    assert sum(r.action == "ra.pin.reset" for r in desk.store.audit_log()) == 1


def test_a_crash_inside_the_pin_reset_leaves_the_old_pin_working(desk, home):
    bank = bank_of(desk, pin_reset=True)
    who = person(desk, bank)
    first = issued(desk, who)
    session = reset_session(desk, who)
    killed_in_desk(home, "cloud.pin_reset.resealed", f"""
        desk.financial.reset_pin(bank, {session!r}, serial={first.serial},
                                 pin={NEW_PIN!r}, pin_confirm={NEW_PIN!r})
    """)
    assert signs_with(desk, who, first.serial, PIN)
    assert not signs_with(desk, who, first.serial, NEW_PIN)
    assert desk.financial.session(bank, session).state is RaSessionState.OPEN
    done = desk.financial.reset_pin(bank, session, serial=first.serial, pin=NEW_PIN,
                                    pin_confirm=NEW_PIN)
    assert done.session.state is RaSessionState.FINISHED
    assert signs_with(desk, who, first.serial, NEW_PIN)


def test_a_renewed_certificate_keeps_its_recovery_copy(desk):
    bank = bank_of(desk, pin_reset=True)
    who = person(desk, bank)
    first = issued(desk, who)
    cloud = desk.financial.cloud
    cloud.clock.set(first.certificate.not_valid_after_utc - dt.timedelta(days=10))
    renewed = cloud.sign(bank, first.serial, pin=PIN, content=b"x", purpose="01")
    assert renewed.renewed_from == first.serial
    session = reset_session(desk, who)
    desk.financial.reset_pin(bank, session, serial=renewed.serial, pin=NEW_PIN,
                             pin_confirm=NEW_PIN)
    assert signs_with(desk, who, renewed.serial, NEW_PIN)


def test_the_recovery_copy_opens_only_with_the_vault_secret(desk):
    from pki.cloud.vault import Vault
    from pki.errors import VaultError

    bank = bank_of(desk, pin_reset=True)
    first = issued(desk, person(desk, bank))
    label = desk.financial.cloud.authority.label
    copy = desk.store.recovery_copy(label, first.serial)
    assert copy is not None
    record = desk.store.vault_record(label, first.serial)
    aad = f"kpki-cloud-v1|{record.user_id}|{label}|{first.serial:X}".encode()
    assert Vault(bytes.fromhex(SECRET_HEX)).open_recovery(copy, associated=aad)
    with pytest.raises(VaultError):
        Vault(b"w" * 32).open_recovery(copy, associated=aad)


# -- TestPKI: the financial flows in one call and step by step -------------------------------


def test_testpki_runs_the_financial_flows_in_one_call_and_step_by_step():
    from pki.errors import WrongPinError
    from pki.testing import FINANCIAL_PIN, TestPKI

    pki = TestPKI(seed="financial flow helpers")
    try:
        post = pki.bank("071", pin_reset=True)
        hong = post.customer("홍길동")
        first = post.issue_financial_flow(hong)
        assert first.session.state is RaSessionState.FINISHED
        signed = pki.cloud.sign(post.institution, first.serial, pin=FINANCIAL_PIN,
                                content=b"x", purpose="01", include_r=True)
        result = pki.verifier().verify(signed.signature, rrn=hong.rrn.digits, r=signed.r)
        assert result.ok, result.summary()

        reset = post.reset_financial_pin(hong, first.serial, pin=NEW_PIN)
        assert reset.serial == first.serial
        with pytest.raises(WrongPinError):
            pki.cloud.sign(post.institution, first.serial, pin=FINANCIAL_PIN, content=b"x",
                           purpose="01")

        session = post.financial_session(hong, "reissue")
        with pytest.raises(WrongAccountPasswordError):
            session.account(password="1111")
        session.account()
        session.phone()
        session.medium(hong.otp_token())
        with pytest.raises(FlowRefusedError):
            session.cloud(name="김철수")
        session.cloud()
        session.confirm()
        second = session.issue(replaces=first.serial)
        assert second.replaced == first.serial
        assert [(s.step, s.reason) for s in pki.home.store.ra_steps(session.id)] == [
            ("account", "wrong_account_password"), ("account", None), ("phone", None),
            ("medium", None), ("cloud", "cloud_identity_mismatch"), ("cloud", None),
            ("confirm", None), ("issue", None)]
    finally:
        pki.close()
