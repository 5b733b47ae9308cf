"""Joint certificates as a bank issues them (pki.ra.joint, issue 15 item 1): each step's
rules and refusal codes, the fee, reissue and renewal, the device rules, one certificate
for two issue calls at once, and a crash between the issuance and the folder."""

from __future__ import annotations

import datetime as dt
import os
import stat
import textwrap

import pytest
from cryptography import x509

from pki.clock import FixedClock
from pki.errors import (
    AccountLockedError,
    BankNotFoundError,
    CardLockedError,
    DeviceNotDesignatedError,
    NotEnrolledError,
    RequestRefusedError,
    WrongAccountPasswordError,
    WrongCardAnswerError,
)
from pki.keys import npki
from pki.ra.fees import DEFAULT_FEES, FeeTable, Operation
from pki.ra.joint import REQUIRED_TERMS
from pki.store import AuditAction, CertStatus, RaSessionState
from pki.testing import DEFAULT_PASSWORD, TestBank, TestCustomer, TestPKI

from .bank_helpers import in_parallel, killed_at
from .store_probe import holds

T0 = dt.datetime(2026, 3, 16, 1, 0, tzinfo=dt.UTC)
"""10:00 KST on Monday 16 March 2026."""


@pytest.fixture
def pki() -> TestPKI:
    made = TestPKI(seed="ra-joint", clock=FixedClock(T0))
    yield made
    made.close()


@pytest.fixture
def bank(pki: TestPKI) -> TestBank:
    return pki.bank()


@pytest.fixture
def customer(bank: TestBank) -> TestCustomer:
    return bank.customer()


def refused(call: object, *args: object, **kwargs: object) -> Exception:
    with pytest.raises(RequestRefusedError) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    return caught.value


def reasons(bank: TestBank, session_id: str) -> list[tuple[str, bool, str | None]]:
    return [(s.step, s.accepted, s.reason)
            for s in bank.desk.joint.history(bank.institution, session_id)]


def to_medium(bank: TestBank, customer: TestCustomer, **start: object):  # type: ignore[no-untyped-def]
    """A session taken up to its medium step."""
    session = bank.joint_session(customer, **start)  # type: ignore[arg-type]
    session.terms(certificate="general" if start.get("operation", "issue") == "issue"
                  else None)
    session.identify()
    session.phone()
    session.account()
    return session


# -- the whole flow ------------------------------------------------------------------------------


def test_a_whole_flow_issues_a_joint_certificate_into_an_npki_folder_and_charges_the_fee(
        bank, customer, tmp_path):
    done = bank.issue_joint_flow(customer, out=tmp_path)
    assert done.session.state is RaSessionState.FINISHED
    assert done.session.steps_done == ("terms", "identify", "phone", "account", "medium",
                                       "issue")
    assert done.issued.profile.name == "joint-general" and done.fee == 4_400
    account = bank.banking.customers.account(bank.institution, customer.account.number)
    assert account.balance == customer.account.balance - 4_400
    assert done.session.data["fee"] == 4_400
    assert done.session.data["serial"] == format(done.issued.serial, "X")
    loaded = npki.load(done.folder, DEFAULT_PASSWORD)
    assert loaded.certificate == done.issued.certificate
    assert stat.S_IMODE(os.stat(done.folder / "signPri.key").st_mode) == 0o600
    record = bank.pki.home.store.find_certificates(done.issued.serial)[0]
    assert record.holder == customer.record.name


def test_a_banking_only_certificate_is_free(bank, customer, tmp_path):
    done = bank.issue_joint_flow(customer, out=tmp_path, policy="banking")
    assert (done.issued.profile.name, done.fee) == ("joint-banking", 0)
    account = bank.banking.customers.account(bank.institution, customer.account.number)
    assert account.balance == customer.account.balance


def test_the_certificate_password_is_never_in_the_store(bank, customer, tmp_path):
    bank.issue_joint_flow(customer, out=tmp_path, password="Unique-pw-9876!")
    assert not holds(bank.pki.home.store, "Unique-pw-9876!")


def test_fees_are_data():
    assert DEFAULT_FEES.fee("joint-general", Operation.REISSUE) == 4_400
    assert DEFAULT_FEES.fee("joint-banking", Operation.ISSUE) == 0
    assert DEFAULT_FEES.fee("financial-personal", Operation.ISSUE) == 0
    table = FeeTable(exceptions={("joint-general", Operation.RENEW): 0})
    assert table.fee("joint-general", Operation.RENEW) == 0
    with pytest.raises(ValueError):
        FeeTable(prices={"joint-general": -1})


# -- step by step: each step's refusals ------------------------------------------------------


def test_a_missing_term_is_refused_and_recorded(bank, customer):
    session = bank.joint_session(customer)
    error = refused(session.terms, REQUIRED_TERMS[:-1])
    assert error.code == "terms_not_agreed"
    assert reasons(bank, session.id) == [("terms", False, "terms_not_agreed")]
    assert refused(session.terms, certificate="gold").code == "bad_request"
    session.terms()


def test_a_step_out_of_order_is_refused_by_the_engine(bank, customer):
    session = bank.joint_session(customer)
    error = refused(session.identify)
    assert (error.code, error.expected) == ("step_out_of_order", "terms")


def test_a_repeated_step_is_refused(bank, customer):
    session = bank.joint_session(customer)
    session.terms()
    assert refused(session.terms).code == "step_repeated"


def test_an_expired_step_is_refused(bank, customer, pki):
    session = bank.joint_session(customer)
    session.terms()
    pki.clock.advance(dt.timedelta(minutes=10))
    assert refused(session.identify).code == "session_expired"


@pytest.mark.parametrize("case", ["stranger_rrn", "unknown_id", "other_customers_rrn",
                                  "bad_rrn"])
def test_identification_refuses_every_mismatch_with_one_code(bank, customer, pki, case):
    other = bank.customer("김철수")
    session = bank.joint_session(customer)
    session.terms()
    given = {"stranger_rrn": {"rrn": pki.rrn().digits},
             "unknown_id": {"customer_id": "c_0123456789abcdef"},
             "other_customers_rrn": {"rrn": other.record.rrn},
             "bad_rrn": {"rrn": "123"}}[case]
    error = refused(session.identify, **given)
    assert (error.code, str(error)) == (
        "identity_not_matched", "no customer of this bank has that resident number and ID")


def test_another_banks_customer_is_not_identified(pki, customer):
    kb = pki.bank("004")
    stranger = kb.joint_session(customer)
    stranger.terms()
    assert refused(stranger.identify).code == "identity_not_matched"


def test_a_customer_not_enrolled_is_refused(bank, pki):
    customers = bank.banking.customers
    record = customers.add(bank.institution, name="이영희", rrn=pki.rrn(), phone="01077778888",
                           carrier="KT")
    customer = TestCustomer(bank, record, customers.open_account(
        bank.institution, record.id, password="0420", balance=10_000))
    session = bank.joint_session(customer)
    session.terms()
    with pytest.raises(NotEnrolledError):
        session.identify()
    assert reasons(bank, session.id)[-1] == ("identify", False, "not_enrolled")


def test_a_phone_verification_must_be_confirmed_and_the_customers(bank, customer):
    session = bank.joint_session(customer)
    session.terms()
    session.identify()
    assert refused(session.phone, "pv_nope").code == "phone_not_found"
    other = bank.customer("김철수")
    theirs = bank.joint_session(other).verify_phone()
    assert refused(session.phone, theirs).code == "phone_other_person"
    banking, rec = bank.banking, customer.record
    banking.lines.add(rec.phone, name=rec.name, rrn=rec.rrn, carrier=rec.carrier)
    pending = banking.phone.request(bank.institution, name=rec.name, phone=rec.phone,
                                    rrn7=rec.rrn[:7], carrier=rec.carrier)
    assert refused(session.phone, pending.id).code == "phone_not_confirmed"


def test_a_phone_verification_older_than_the_step_expiry_is_refused(bank, customer, pki):
    session = bank.joint_session(customer)
    session.terms()
    verified = session.verify_phone()
    pki.clock.advance(dt.timedelta(minutes=9))
    session.identify()
    pki.clock.advance(dt.timedelta(minutes=2))
    assert refused(session.phone, verified).code == "phone_expired"


def test_a_phone_verification_is_used_once_across_sessions_and_audited(bank, customer):
    first = bank.joint_session(customer)
    first.terms()
    first.identify()
    verified = first.verify_phone()
    first.phone(verified)
    used = [e for e in bank.pki.home.store.audit_log()
            if e.action == AuditAction.BANK_STEP_UP_USED]
    assert [(e.detail["verification"], e.detail["customer"]) for e in used] == [
        (verified, customer.id)]
    second = bank.joint_session(customer)
    second.terms()
    second.identify()
    assert refused(second.phone, verified).code == "phone_used"


def test_a_phone_verification_of_another_bank_is_not_found(pki, bank, customer):
    kb = pki.bank("004")
    kb_customer = TestCustomer(kb, customer.record, customer.account)
    theirs = kb.joint_session(kb_customer).verify_phone()
    session = bank.joint_session(customer)
    session.terms()
    session.identify()
    assert refused(session.phone, theirs).code == "phone_not_found"


def test_the_account_must_be_the_customers_before_any_password_is_compared(bank, customer):
    other = bank.customer("김철수")
    session = bank.joint_session(customer)
    session.terms()
    session.identify()
    session.phone()
    with pytest.raises(BankNotFoundError):
        session.account(number=other.account.number, password="9999")
    assert bank.banking.customers.account(bank.institution,
                                          other.account.number).failures == 0
    with pytest.raises(WrongAccountPasswordError) as wrong:
        session.account(password="9999")
    assert wrong.value.attempts_left == 4
    assert reasons(bank, session.id)[-2:] == [("account", False, "not_found"),
                                              ("account", False, "wrong_account_password")]
    session.account()


def test_a_locked_account_ends_the_session(bank, customer):
    session = bank.joint_session(customer)
    session.terms()
    session.identify()
    session.phone()
    for _ in range(4):
        with pytest.raises(WrongAccountPasswordError):
            session.account(password="9999")
    with pytest.raises(AccountLockedError):
        session.account(password="9999")
    assert session.record.state is RaSessionState.FAILED
    assert refused(session.account).code == "session_failed"


def test_a_wrong_card_answer_counts_and_a_locked_card_ends_the_session(bank, customer):
    card = customer.security_card()
    session = to_medium(bank, customer)
    attempts = []
    for _ in range(4):
        with pytest.raises(WrongCardAnswerError) as wrong:
            session.medium(card, response="0000")
        attempts.append(wrong.value.attempts_left)
    assert attempts == [4, 3, 2, 1]
    with pytest.raises(CardLockedError):
        session.medium(card, response="0000")
    assert session.record.state is RaSessionState.FAILED
    assert reasons(bank, session.id)[-1] == ("medium", False, "card_locked")


def test_a_challenge_to_another_customers_card_is_not_found(bank, customer):
    customer.security_card()
    other = bank.customer("김철수")
    theirs = other.security_card()
    session = to_medium(bank, customer)
    from pki.bank.transfers import CardAnswer

    challenge = theirs.challenge()
    error = refused(session.flows.medium, bank.institution, session.id,
                    answer=CardAnswer(challenge.id, theirs.answer(challenge)))
    assert error.code == "medium_not_found"


def test_an_otp_code_is_a_medium(bank, customer, tmp_path):
    token = customer.otp_token()
    session = to_medium(bank, customer)
    record = session.medium(token)
    assert record.data["medium"] == "otp"
    assert session.issue(out=tmp_path).fee == 4_400


def test_a_password_breaking_the_rules_is_refused_before_anything_is_written(
        bank, customer, tmp_path):
    session = to_medium(bank, customer)
    session.medium(customer.security_card())
    error = refused(session.issue, out=tmp_path, password="short")
    assert (error.code, error.field) == ("bad_request", "password")
    assert not (tmp_path / "NPKI").exists()
    assert session.record.state is RaSessionState.OPEN


def test_not_enough_balance_issues_nothing(bank, tmp_path):
    poor = bank.customer("박가난", balance=4_399)
    session = to_medium(bank, poor)
    session.medium(poor.security_card())
    before = len(bank.pki.home.store.list_certificates())
    assert refused(session.issue, out=tmp_path).code == "insufficient_balance"
    assert len(bank.pki.home.store.list_certificates()) == before
    assert session.record.state is RaSessionState.OPEN
    assert not list((tmp_path / "NPKI").rglob("signCert.der"))


# -- the device rules ----------------------------------------------------------------------------


def test_a_designated_only_customer_on_another_device_is_refused(bank, customer):
    bank.banking.devices.set_designated_only(bank.institution, customer.id, True)
    session = bank.joint_session(customer, device="internet-cafe")
    session.terms()
    with pytest.raises(DeviceNotDesignatedError):
        session.identify()
    assert session.record.state is RaSessionState.FAILED


def test_a_reissue_from_an_undesignated_device_needs_the_step_up_method(bank, customer,
                                                                        tmp_path):
    first = bank.issue_joint_flow(customer, out=tmp_path / "a")
    bank.banking.devices.set_designated_only(bank.institution, customer.id, True)
    bank.banking.devices.subscribe_step_up(bank.institution, customer.id, "ars")
    session = bank.joint_session(customer, "reissue", device="new-phone",
                                 serial=first.issued.serial)
    session.terms(certificate=None)
    assert session.identify().data["step_up"] == ["ars"]
    assert refused(session.phone).code == "step_up_method"
    session.phone(session.verify_phone(method="ars"))


# -- reissue and renewal -------------------------------------------------------------------------


def test_a_reissue_revokes_the_old_certificate_and_keeps_its_not_after(bank, customer,
                                                                       tmp_path, pki):
    first = bank.issue_joint_flow(customer, out=tmp_path / "first")
    pki.clock.advance(dt.timedelta(days=40))
    again = bank.issue_joint_flow(customer, out=tmp_path / "again", operation="reissue",
                                  serial=first.issued.serial, password="Another-pw-42!")
    store = pki.home.store
    old = store.find_certificates(first.issued.serial)[0]
    assert old.status is CertStatus.REVOKED
    assert again.issued.certificate.not_valid_after_utc == \
        first.issued.certificate.not_valid_after_utc
    assert again.fee == 4_400 and again.session.flow == "joint-reissue"


def test_a_reissue_of_a_certificate_the_bank_did_not_issue_is_refused(bank, customer, pki):
    elsewhere = pki.joint(customer.record.name, rrn=customer.rrn)
    session = bank.joint_session(customer, "reissue", serial=elsewhere.serial)
    session.terms(certificate=None)
    assert refused(session.identify).code == "certificate_not_replaceable"


def test_a_reissue_of_another_customers_certificate_is_refused(bank, customer, tmp_path):
    other = bank.customer("김철수")
    theirs = bank.issue_joint_flow(other, out=tmp_path)
    session = bank.joint_session(customer, "reissue", serial=theirs.issued.serial)
    session.terms(certificate=None)
    assert refused(session.identify).code == "certificate_not_replaceable"


def test_a_renewal_inside_the_window_needs_the_certificates_signature(bank, customer,
                                                                      tmp_path, pki):
    first = bank.issue_joint_flow(customer, out=tmp_path / "first")
    pki.clock.set(first.issued.certificate.not_valid_after_utc - dt.timedelta(days=10))
    session = bank.joint_session(customer, "renew", serial=first.issued.serial)
    session.terms(certificate=None)
    session.sign(first.issued)
    renewed = session.issue(out=tmp_path / "renewed")
    assert renewed.session.steps_done == ("terms", "sign", "issue")
    assert renewed.issued.certificate.not_valid_after_utc > \
        first.issued.certificate.not_valid_after_utc
    assert renewed.fee == 4_400


def test_a_renewal_outside_the_window_is_refused(bank, customer, tmp_path):
    first = bank.issue_joint_flow(customer, out=tmp_path)
    session = bank.joint_session(customer, "renew", serial=first.issued.serial)
    session.terms(certificate=None)
    assert refused(session.sign, first.issued).code == "renewal_window"


def test_a_renewal_signed_over_another_text_or_by_another_certificate_is_refused(
        bank, customer, tmp_path, pki):
    first = bank.issue_joint_flow(customer, out=tmp_path / "a")
    second = bank.issue_joint_flow(customer, out=tmp_path / "b", policy="banking")
    pki.clock.set(first.issued.certificate.not_valid_after_utc - dt.timedelta(days=10))
    session = bank.joint_session(customer, "renew", serial=first.issued.serial)
    session.terms(certificate=None)
    assert refused(session.sign, first.issued, text=b"other").code == "signed_text_mismatch"
    assert refused(session.sign, second.issued).code == "signer_not_certificate"


def test_a_renewal_signature_of_another_person_fails_the_vid(bank, customer, tmp_path, pki):
    first = bank.issue_joint_flow(customer, out=tmp_path)
    other = bank.customer("김철수")
    pki.clock.set(first.issued.certificate.not_valid_after_utc - dt.timedelta(days=10))
    session = bank.joint_session(other, "renew", serial=first.issued.serial)
    session.terms(certificate=None)
    assert refused(session.sign, first.issued).code == "vid_mismatch"


# -- exactly once, and crashes ---------------------------------------------------------------


def test_two_issue_calls_at_once_issue_one_certificate(tmp_path, make_home, clock):
    from pki.home import Home
    from pki.usecases.ra import RegistrationDesk

    home = make_home()
    desk = RegistrationDesk.of_home(home)
    institution, customer, card = _world(desk)
    session_id = _to_issue(desk, institution, customer, card)

    def issue(n: int) -> object:
        with Home.open(home.path, clock=clock) as other:
            mine = RegistrationDesk.of_home(other, create_secret=False).joint
            return mine.issue(institution, session_id, password=DEFAULT_PASSWORD,
                              out=tmp_path / f"out{n}").issued.serial

    outcomes = in_parallel(4, issue)
    serials = [o for o in outcomes if isinstance(o, int)]
    assert len(serials) == 1, outcomes
    assert {getattr(o, "code", "") for o in outcomes if not isinstance(o, int)} <= {
        "step_repeated", "session_finished"}, outcomes
    assert len(home.store.list_certificates()) == 1
    assert len(list(tmp_path.glob("out*/NPKI/*/USER/*/signCert.der"))) == 1


@pytest.mark.parametrize("fault", ["delivery.staged", "delivery.committed"])
def test_a_crash_between_issuance_and_folder_leaves_the_session_and_store_agreeing(
        tmp_path, make_home, clock, fault):
    from pki.home import Home
    from pki.usecases.issuing import finish_deliveries
    from pki.usecases.ra import RegistrationDesk

    home = make_home()
    desk = RegistrationDesk.of_home(home)
    institution, customer, card = _world(desk)
    session_id = _to_issue(desk, institution, customer, card)
    home.close()
    out = tmp_path / "out"
    script = textwrap.dedent(f"""
        import datetime as dt
        from pathlib import Path
        from pki.clock import FixedClock
        from pki.home import Home
        from pki.testing import TestKeyPool
        from pki.usecases.ra import RegistrationDesk
        home = Home.open({str(home.path)!r}, clock=FixedClock(dt.datetime.fromisoformat(
            {clock.now().isoformat()!r})), key_generator=TestKeyPool())
        desk = RegistrationDesk.of_home(home, create_secret=False)
        bank = desk.banking.bank("081")
        desk.joint.issue(bank, {session_id!r}, password={DEFAULT_PASSWORD!r},
                         out=Path({str(out)!r}))
    """)
    killed_at(fault, script)
    with Home.open(home.path, clock=clock) as after:
        finish_deliveries(after, bases=[out])
        record = RegistrationDesk.of_home(after, create_secret=False).joint.get(
            institution, session_id)
        certificates = after.store.list_certificates()
        folders = list(out.glob("NPKI/*/USER/*/signCert.der"))
        if fault == "delivery.staged":
            assert record.state is RaSessionState.OPEN and "serial" not in record.data
            assert certificates == [] and folders == []
        else:
            assert record.state is RaSessionState.FINISHED
            assert [format(c.serial, "X") for c in certificates] == [record.data["serial"]]
            assert len(folders) == 1
            assert x509.load_der_x509_certificate(folders[0].read_bytes()).serial_number == \
                certificates[0].serial


def _world(desk):  # type: ignore[no-untyped-def]
    """Hana with one enrolled customer holding an account, a card and a designated device."""
    banking = desk.banking
    institution, _ = banking.add_bank("081")
    customers = banking.customers
    customer = customers.add(institution, name="홍길동", rrn="900517-1234566",
                             phone="01012345678", carrier="SKT")
    customers.sign_up(institution, customer.id)
    customers.activate(institution, customer.id)
    customers.open_account(institution, customer.id, password="0420", balance=100_000,
                           number="1002003004005")
    banking.devices.designate(institution, customer.id, "phone-1")
    card = banking.cards.issue(institution, customer.id)
    banking.lines.add("01012345678", name="홍길동", rrn="900517-1234566", carrier="SKT")
    return institution, customers.get(institution, customer.id), card


def _to_issue(desk, institution, customer, card) -> str:  # type: ignore[no-untyped-def]
    """A session taken up to its issue step, on the desk's bank."""
    from pki.bank.transfers import CardAnswer

    flows, phone = desk.joint, desk.banking.phone
    record = flows.start(institution, "issue", device="phone-1")
    flows.terms(institution, record.id, agreed=REQUIRED_TERMS, certificate="general")
    flows.identify(institution, record.id, rrn=customer.rrn, customer_id=customer.id)
    sent = phone.request(institution, name=customer.name, phone=customer.phone,
                         rrn7=customer.rrn[:7], carrier="SKT")
    text = phone.messages(institution, customer.phone)[-1].text
    code = next(w for w in text.split() if w.isdigit() and len(w) == 6)
    phone.confirm(institution, sent.id, code)
    flows.phone(institution, record.id, verification_id=sent.id)
    flows.account(institution, record.id, number="1002003004005", password="0420")
    challenge = flows.cards.challenge(institution, customer.id)
    flows.medium(institution, record.id,
                 answer=CardAnswer(challenge.id, card.answer(challenge.first, challenge.second)))
    return record.id
