"""Transfer authorisation (issue 14 item 7): each check's refusal with its reason code,
every outcome recorded once, nothing half-recorded, and the day limit exact under
concurrency."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from pki.bank.cards import PrintedCard
from pki.bank.devices import BankDevices
from pki.bank.media import MediumKind
from pki.bank.otp import IssuedOtp, OtpCentre
from pki.bank.phone import PhoneVerification, Subscribers
from pki.bank.sessions import Sessions
from pki.bank.transfers import (
    CardAnswer,
    CertificateSignature,
    OtpAnswer,
    SimpleAuthSignature,
    TransferOrder,
    TransferResult,
    Transfers,
    authorise_transfer,
)
from pki.clock import FixedClock, kst_today
from pki.entropy import SeededEntropy
from pki.errors import BankNotFoundError, BankRequestError
from pki.signing import KeySigner, sign
from pki.store import Account, AuditAction, TransferOutcome
from pki.testing import TestCertificate, TestPKI
from tests.bank_helpers import (
    OTHER_RRN,
    RRN,
    T0,
    BankWorld,
    in_parallel,
    killed_at,
    make_world,
)

DEVICE = "pc-1"
MILLION = 1_000_000


@pytest.fixture(scope="module")
def pki():
    test_pki = TestPKI(seed="bank-transfers", clock=FixedClock(T0))
    yield test_pki
    test_pki.close()


@dataclass(frozen=True)
class Certs:
    hong: TestCertificate
    hong_financial: TestCertificate
    other: TestCertificate
    revoked: TestCertificate


@pytest.fixture(scope="module")
def certs(pki) -> Certs:
    return Certs(hong=pki.joint("홍길동", rrn=RRN),
                 hong_financial=pki.financial("홍길동", rrn=RRN),
                 other=pki.joint("김철수", rrn=OTHER_RRN),
                 revoked=pki.revoke(pki.joint("홍길동", rrn=RRN)))


@dataclass
class Bank:
    """Hana, 홍길동 with an account of 50M KRW, a payee account at Hana, a security card
    and a designated PC."""

    world: BankWorld
    pki: TestPKI
    transfers: Transfers
    account: Account
    payee: Account
    card: PrintedCard

    def order(self, amount: int, *, to: str | None = None, at: dt.datetime | None = None,
              institution: str = "081", from_account: str | None = None) -> TransferOrder:
        return TransferOrder(institution, from_account or self.account.number,
                             to or self.payee.number, amount, at or self.world.clock.now())

    def sign(self, cert: TestCertificate, order: TransferOrder) -> CertificateSignature:
        return CertificateSignature(self.pki.sign(cert, order.text()), cert.r)

    def card_answer(self, *, wrong: bool = False) -> CardAnswer:
        world = self.world
        challenge = world.cards.challenge(world.hana, world.customer.id)
        answer = self.card.answer(challenge.first, challenge.second)
        if wrong:
            answer = f"{(int(answer) + 1) % 10000:04d}"
        return CardAnswer(challenge.id, answer)

    def send(self, amount: int, *, cert: TestCertificate | None = None,
             signature: CertificateSignature | SimpleAuthSignature | None = None,
             medium: CardAnswer | OtpAnswer | None = None, device: str | None = DEVICE,
             transfers: Transfers | None = None, **options) -> TransferResult:
        if signature is None:
            assert cert is not None
            signature = self.sign(cert, self.order(amount))
        return (transfers or self.transfers).authorise(
            self.world.hana, self.world.customer.id, from_account=self.account.number,
            to_account=self.payee.number, amount=amount, signature=signature,
            medium_response=medium or self.card_answer(), device=device, **options)

    def records(self):
        return self.world.store.transfers_of(self.world.customer.id)

    def balance(self) -> int:
        return self.world.store.account(self.world.hana.id, self.account.number).balance

    def used_today(self) -> int:
        return self.world.store.limit_used(self.world.customer.id, kst_today(T0))


def _bank(tmp_path: Path, pki: TestPKI, **settings) -> Bank:
    world = make_world(tmp_path, settings=settings or None)
    world.customers.sign_up(world.hana, world.customer.id)  # internet banking, active
    world.customers.activate(world.hana, world.customer.id)
    account = world.customers.open_account(world.hana, world.customer.id, password="0420",
                                           balance=50 * MILLION, number="1002-123-456789")
    payee_holder = world.customers.add(world.hana, name="이영희", rrn=OTHER_RRN,
                                       phone="010-9999-8888", carrier="KT")
    payee = world.customers.open_account(world.hana, payee_holder.id, password="1234",
                                         number="1002-987-654321")
    card = world.cards.issue(world.hana, world.customer.id, seed="transfer card")
    BankDevices(world.store, clock=world.clock).designate(world.hana, world.customer.id,
                                                          DEVICE)
    transfers = Transfers(world.store, clock=world.clock, verifier=pki.verifier())
    return Bank(world, pki, transfers, account, payee, card)


@pytest.fixture
def bank(tmp_path, pki) -> Bank:
    return _bank(tmp_path, pki)


def assert_refused(result: TransferResult, code: str, bank: Bank, *,
                   balance: int = 50 * MILLION, used: int = 0) -> None:
    """Refused with ``code``, recorded once as the last transfer, and nothing moved."""
    assert (result.accepted, result.code) == (False, code)
    last = bank.records()[-1]
    assert (last.id, last.outcome, last.reason) == (result.id, TransferOutcome.REFUSED, code)
    assert last.signature_digest is None
    assert bank.balance() == balance
    assert bank.used_today() == used


# -- accepted ----------------------------------------------------------------------------


def test_an_accepted_transfer_moves_the_money_charges_the_limit_and_is_recorded_once(
        bank, certs):
    result = bank.send(4 * MILLION, cert=certs.hong)
    assert (result.accepted, result.code) == (True, None)
    assert (result.balance, result.left_today) == (46 * MILLION, 6 * MILLION)
    assert bank.balance() == 46 * MILLION
    payee = bank.world.store.account(bank.world.hana.id, bank.payee.number)
    assert payee.balance == 4 * MILLION
    assert bank.used_today() == 4 * MILLION
    [record] = bank.records()
    assert (record.id, record.outcome, record.reason, record.amount, record.medium,
            record.device, record.signature) == (
        result.id, TransferOutcome.ACCEPTED, None, 4 * MILLION, "security-card", DEVICE,
        "certificate")
    accepted = [e for e in bank.world.store.audit_log()
                if e.action == AuditAction.BANK_TRANSFER_ACCEPTED]
    assert [e.detail["transfer"] for e in accepted] == [result.id]


def test_a_financial_certificate_signs_a_transfer_too(bank, certs):
    assert bank.send(MILLION, cert=certs.hong_financial).accepted


def test_the_module_alias_authorises_the_same_way(bank, certs):
    order = bank.order(MILLION)
    result = authorise_transfer(bank.transfers, bank.world.hana, bank.world.customer.id,
                                from_account=order.from_account, to_account=order.to_account,
                                amount=order.amount, signature=bank.sign(certs.hong, order),
                                medium_response=bank.card_answer(), device=DEVICE)
    assert result.accepted


def test_the_canonical_text_reads_back_and_nothing_else_does():
    order = TransferOrder("081", "1002123456789", "1002987654321", 5, T0)
    assert TransferOrder.parse(order.text()) == order
    assert b"time: 2026-03-16T05:30:00+09:00\n" in order.text()
    for text in (order.text() + b"x", order.text().replace(b"amount: 5", b"amount: 05"),
                 order.text().replace(b"from", b"From"), b"\xff", b""):
        assert TransferOrder.parse(text) is None


def test_the_transfer_reads_the_signing_time_of_the_same_texts_as_parse():
    order = TransferOrder("081", "1002123456789", "1002987654321", 5, T0)
    fields = ("081", "1002123456789", "1002987654321", 5)
    assert TransferOrder.signing_time(order.text(), *fields) == T0
    text = order.text()
    for changed in (text + b"x", text[:-1], text.replace(b"amount: 5", b"amount: 05"),
                    text.replace(b"from", b"From"), text.replace(b"+09:00", b"+00:00"),
                    text.replace(b"+09:00", b""), text.replace(b"05:30:00", b"05:30"),
                    text.replace(b"T05", b"T\xff5"), b"\xff", b"",
                    # other spellings of a time that fromisoformat reads
                    text.replace(b"+09:00", b"+09:00:00"), text.replace(b"+09:00", b"+0900"),
                    text.replace(b":00+09:00", b":00.5+09:00"),
                    text.replace(b"05:30:00+09:00", b"14:30:00+18:00"),
                    text.replace(b"2026-03-16T", b"2026-03-16 "),
                    text.replace(b"2026-03-16T", b"2026-W12-1T"),
                    TransferOrder("081", "1002123456789", "1002987654321", 6, T0).text(),
                    TransferOrder("004", "1002123456789", "1002987654321", 5, T0).text()):
        parsed = TransferOrder.parse(changed)
        same = parsed is not None and (parsed.institution, parsed.from_account,
                                       parsed.to_account, parsed.amount) == fields
        assert TransferOrder.signing_time(changed, *fields) == (
            parsed.signed_at if same and parsed is not None else None), changed


# -- each check's refusal ------------------------------------------------------------------


@pytest.mark.parametrize("enrolled", ["never", "lapsed"])
def test_a_customer_without_active_internet_banking_is_refused(tmp_path, pki, certs,
                                                                enrolled):
    world = make_world(tmp_path)
    account = world.customers.open_account(world.hana, world.customer.id, password="0420",
                                           balance=50 * MILLION, number="1002-123-456789")
    card = world.cards.issue(world.hana, world.customer.id, seed="transfer card")
    if enrolled == "lapsed":  # signed up at a branch, not activated within 3 KST days
        world.customers.sign_up(world.hana, world.customer.id)
        world.clock.advance(dt.timedelta(days=3))
    transfers = Transfers(world.store, clock=world.clock, verifier=pki.verifier())
    bank = Bank(world, pki, transfers, account, account, card)
    order = bank.order(MILLION, to="1002-987-654321")
    result = transfers.authorise(
        world.hana, world.customer.id, from_account=account.number,
        to_account="1002-987-654321", amount=MILLION, signature=bank.sign(certs.hong, order),
        medium_response=bank.card_answer(), device=DEVICE)
    code = {"never": "not_enrolled", "lapsed": "enrolment_expired"}[enrolled]
    assert_refused(result, code, bank)
    assert world.cards.card(world.hana, world.customer.id).failures == 0


def test_an_account_of_another_customer_is_refused(bank, certs):
    order = bank.order(MILLION, from_account=bank.payee.number, to=bank.account.number)
    result = bank.transfers.authorise(
        bank.world.hana, bank.world.customer.id, from_account=bank.payee.number,
        to_account=bank.account.number, amount=MILLION, signature=bank.sign(certs.hong, order),
        medium_response=bank.card_answer(), device=DEVICE)
    assert_refused(result, "account_not_owned", bank)


def test_a_signature_by_another_key_than_the_certificate_is_refused(bank, certs, pki):
    @dataclass(frozen=True)
    class WrongKey:  # presents the customer's certificate, signs with another person's key
        certificate = certs.hong.cert
        chain = certs.hong.chain

        def sign_raw(self, data: bytes, *, pss: bool) -> bytes:
            return KeySigner(certs.other.cert, certs.other.key).sign_raw(data, pss=pss)

    wrong_signer = WrongKey()
    cms = sign(bank.order(MILLION).text(), wrong_signer, clock=pki.clock,
               include_chain=True).der
    result = bank.send(MILLION, signature=CertificateSignature(cms, certs.hong.r))
    assert_refused(result, "signature_invalid", bank)


def test_a_revoked_certificate_is_refused(bank, certs):
    assert_refused(bank.send(MILLION, cert=certs.revoked), "certificate_revoked", bank)


def test_another_persons_certificate_fails_the_vid_against_the_customers_rrn(bank, certs):
    assert_refused(bank.send(MILLION, cert=certs.other), "vid_mismatch", bank)


def test_the_customers_certificate_with_a_wrong_r_fails_the_vid(bank, certs, pki):
    order = bank.order(MILLION)
    signature = CertificateSignature(pki.sign(certs.hong, order.text()), bytes(20))
    assert_refused(bank.send(MILLION, signature=signature), "vid_mismatch", bank)


def test_garbage_instead_of_a_signature_is_refused(bank, certs):
    signature = CertificateSignature(b"not cms", certs.hong.r)
    assert_refused(bank.send(MILLION, signature=signature), "signature_invalid", bank)


@pytest.mark.parametrize("field", ["institution", "from_account", "to_account", "amount"])
def test_a_signed_text_differing_from_the_transfer_by_one_field_is_refused(
        bank, certs, field):
    changed = {"institution": "004", "from_account": "1002123456780",
               "to_account": "1002987654320", "amount": MILLION + 1}[field]
    order = bank.order(MILLION)
    signed = TransferOrder(**{**order.__dict__, field: changed})
    result = bank.send(MILLION, signature=bank.sign(certs.hong, signed))
    assert_refused(result, "signed_text_mismatch", bank)


def test_a_signed_time_outside_the_window_is_stale_inside_it_is_taken(bank, certs):
    window = dt.timedelta(seconds=300)
    late = bank.order(MILLION, at=T0 - window - dt.timedelta(seconds=1))
    assert_refused(bank.send(MILLION, signature=bank.sign(certs.hong, late)),
                   "signature_stale", bank)
    early = bank.order(MILLION, at=T0 - window)
    assert bank.send(MILLION, signature=bank.sign(certs.hong, early)).accepted


def test_a_replayed_signature_is_refused_and_charged_once(bank, certs):
    signature = bank.sign(certs.hong, bank.order(MILLION))
    assert bank.send(MILLION, signature=signature).accepted
    result = bank.send(MILLION, signature=signature)
    assert_refused(result, "signature_replayed", bank, balance=49 * MILLION, used=MILLION)


def test_a_refused_transfer_does_not_use_its_signature_up(bank, certs):
    signature = bank.sign(certs.hong, bank.order(MILLION))
    assert bank.send(MILLION, signature=signature,
                     medium=bank.card_answer(wrong=True)).code == "wrong_card_answer"
    assert bank.send(MILLION, signature=signature).accepted


def test_a_wrong_card_answer_is_counted_by_the_card(bank, certs):
    result = bank.send(MILLION, cert=certs.hong, medium=bank.card_answer(wrong=True))
    assert_refused(result, "wrong_card_answer", bank)
    assert result.attempts_left == 4
    assert bank.world.store.active_security_card(bank.world.customer.id).failures == 1


def test_a_challenge_of_another_customers_card_is_no_medium_of_this_one(bank, certs):
    world = bank.world
    payee = world.store.account(world.hana.id, bank.payee.number)
    other_card = world.cards.issue(world.hana, payee.customer_id, seed="other card")
    challenge = world.cards.challenge(world.hana, payee.customer_id)
    answer = CardAnswer(challenge.id, other_card.answer(challenge.first, challenge.second))
    assert_refused(bank.send(MILLION, cert=certs.hong, medium=answer), "medium_not_found", bank)
    assert world.store.card_challenge(challenge.id).answered_at is None


def test_crossing_the_day_limit_by_1_krw_is_refused_before_the_card_is_asked(bank, certs):
    assert bank.send(6 * MILLION, cert=certs.hong).accepted  # the card: 10M a day
    medium = bank.card_answer()
    result = bank.send(4 * MILLION + 1, cert=certs.hong, medium=medium)
    assert_refused(result, "over_day_limit", bank, balance=44 * MILLION, used=6 * MILLION)
    assert bank.world.store.card_challenge(medium.challenge_id).answered_at is None
    assert bank.send(4 * MILLION, cert=certs.hong, medium=medium).accepted
    assert bank.used_today() == 10 * MILLION


def test_the_per_transfer_limit_is_the_mediums(tmp_path, pki, certs):
    bank = _bank(tmp_path, pki, limit_table="hana")
    assert_refused(bank.send(10 * MILLION + 1, cert=certs.hong), "over_transfer_limit", bank)
    assert bank.send(10 * MILLION, cert=certs.hong).accepted


def test_a_transfer_over_the_balance_is_refused_and_charges_nothing(bank, certs):
    world = bank.world
    poor = world.customers.open_account(world.hana, world.customer.id, password="0420",
                                        balance=500, number="1002-555-000001")
    order = bank.order(501, from_account=poor.number)
    result = bank.transfers.authorise(
        world.hana, world.customer.id, from_account=poor.number,
        to_account=bank.payee.number, amount=501, signature=bank.sign(certs.hong, order),
        medium_response=bank.card_answer(), device=DEVICE)
    assert (result.accepted, result.code) == (False, "insufficient_funds")
    assert world.store.account(world.hana.id, poor.number).balance == 500
    assert bank.used_today() == 0


def test_a_credit_past_the_largest_balance_the_store_holds_is_refused_moving_nothing(
        bank, certs):
    world = bank.world
    with world.store.transaction() as tx:
        tx.set_balance(world.hana.id, bank.payee.number, 2**63 - 1)
    result = bank.send(MILLION, cert=certs.hong)
    assert_refused(result, "payee_balance_limit", bank)
    assert world.store.account(world.hana.id, bank.payee.number).balance == 2**63 - 1


def test_an_account_is_opened_with_at_most_the_largest_amount(bank):
    world = bank.world
    with pytest.raises(BankRequestError) as caught:
        world.customers.open_account(world.hana, world.customer.id, password="0420",
                                     balance=10**15 + 1)
    assert caught.value.field == "balance"


# -- devices ---------------------------------------------------------------------------------


def test_designated_only_refuses_an_undesignated_device(bank, certs):
    world = bank.world
    BankDevices(world.store, clock=world.clock).set_designated_only(
        world.hana, world.customer.id, True)
    medium = bank.card_answer()
    result = bank.send(MILLION, cert=certs.hong, medium=medium, device="phone-9")
    assert_refused(result, "device_not_designated", bank)
    assert world.store.card_challenge(medium.challenge_id).answered_at is None
    assert bank.send(MILLION, cert=certs.hong, medium=medium, device=DEVICE).accepted


def _confirmed_verification(bank: Bank) -> str:
    world = bank.world
    Subscribers(world.store, clock=world.clock).add(
        "010-1234-5678", name="홍길동", rrn=RRN, carrier="SKT")
    phone = PhoneVerification(world.store, clock=world.clock, secret=b"step-up secret 16")
    sent = phone.request(world.hana, name="홍길동", phone="01012345678", rrn7="900517-1",
                         carrier="SKT")
    text = phone.messages(world.hana, "010-1234-5678")[-1].text
    phone.confirm(world.hana, sent.id, re.search(r"code (\d{6})", text).group(1))
    return sent.id


def test_3m_a_day_from_an_undesignated_device_needs_the_extra_step_used_once(bank, certs):
    assert bank.send(2 * MILLION, cert=certs.hong, device="phone-9").accepted
    result = bank.send(MILLION, cert=certs.hong, device="phone-9")  # 3M today
    assert_refused(result, "step_up_required", bank, balance=48 * MILLION, used=2 * MILLION)
    assert set(result.step_up_methods) == {"sms", "ars"}
    verification = _confirmed_verification(bank)
    assert bank.send(MILLION, cert=certs.hong, device="phone-9",
                     step_up=verification).accepted
    another = bank.sign(certs.hong, bank.order(MILLION, at=T0 - dt.timedelta(seconds=1)))
    result = bank.send(MILLION, signature=another, device="phone-9", step_up=verification)
    assert_refused(result, "step_up_used", bank, balance=47 * MILLION, used=3 * MILLION)


@pytest.mark.parametrize("kind", ["unknown", "used"])
def test_a_step_up_that_cannot_count_refuses_before_the_medium_is_asked(bank, certs, kind):
    verification = _confirmed_verification(bank)
    if kind == "used":
        assert bank.send(3 * MILLION, cert=certs.hong, device="phone-9",
                         step_up=verification).accepted
    spent = 3 * MILLION if kind == "used" else 0
    amount = 3 * MILLION - spent + MILLION  # the day's total from phone-9 needs the step
    medium = bank.card_answer()
    later = bank.sign(certs.hong, bank.order(amount, at=T0 - dt.timedelta(seconds=1)))
    result = bank.send(amount, signature=later, medium=medium, device="phone-9",
                       step_up="pv_unknown" if kind == "unknown" else verification)
    assert_refused(result, "step_up_invalid" if kind == "unknown" else "step_up_used", bank,
                   balance=50 * MILLION - spent, used=spent)
    assert bank.world.store.card_challenge(medium.challenge_id).answered_at is None


# -- the simple-authentication-linked signature ------------------------------------------------


@pytest.fixture(scope="module")
def simple_key():
    return ec.generate_private_key(ec.SECP256R1())


def _simple_session(bank: Bank, key, *, device: str = DEVICE) -> tuple[Sessions, str]:
    world = bank.world
    sessions = bank.transfers.sessions
    registered = sessions.register_key(world.hana, world.customer.id, device=device,
                                       public_key=key.public_key())
    challenge = sessions.challenge(world.hana, world.customer.id)
    session = sessions.login_simple_auth(
        world.hana, challenge.id, key_id=registered.id,
        signature=key.sign(challenge.text, ec.ECDSA(hashes.SHA256())))
    return sessions, session.id


def _simple_signature(bank: Bank, key, session_id: str, amount: int) -> SimpleAuthSignature:
    text = bank.order(amount).text()
    return SimpleAuthSignature(session_id, text, key.sign(text, ec.ECDSA(hashes.SHA256())))


def test_a_simple_auth_signature_is_taken_within_its_simple_auth_session(bank, simple_key):
    _, session_id = _simple_session(bank, simple_key)
    result = bank.send(MILLION, signature=_simple_signature(bank, simple_key, session_id,
                                                            MILLION))
    assert result.accepted
    assert bank.records()[-1].signature == "simple-auth"


def test_a_simple_auth_signature_outside_any_session_is_refused(bank, simple_key):
    signature = _simple_signature(bank, simple_key, "s_no_such_session", MILLION)
    assert_refused(bank.send(MILLION, signature=signature), "simple_auth_not_in_session", bank)


@pytest.mark.parametrize("method", ["password", "certificate"])
def test_a_simple_auth_signature_in_a_password_or_certificate_session_is_refused(
        bank, simple_key, certs, pki, method):
    world = bank.world
    sessions = bank.transfers.sessions
    sessions.register_key(world.hana, world.customer.id, device=DEVICE,
                          public_key=simple_key.public_key())
    if method == "password":
        session = sessions.login_password(world.hana, world.customer.id,
                                          account=bank.account.number, password="0420")
    else:
        challenge = sessions.challenge(world.hana, world.customer.id)
        session = sessions.login_certificate(
            world.hana, challenge.id, signature=pki.sign(certs.hong, challenge.text),
            r=certs.hong.r)
    signature = _simple_signature(bank, simple_key, session.id, MILLION)
    assert_refused(bank.send(MILLION, signature=signature), "simple_auth_not_in_session", bank)


def test_a_simple_auth_signature_in_an_expired_session_is_refused(bank, simple_key):
    _, session_id = _simple_session(bank, simple_key)
    bank.world.clock.advance(dt.timedelta(seconds=601))
    signature = _simple_signature(bank, simple_key, session_id, MILLION)
    assert_refused(bank.send(MILLION, signature=signature), "session_expired", bank)


def test_a_simple_auth_signature_from_another_device_or_key_is_refused(bank, simple_key):
    _, session_id = _simple_session(bank, simple_key)
    signature = _simple_signature(bank, simple_key, session_id, MILLION)
    BankDevices(bank.world.store, clock=bank.world.clock).designate(
        bank.world.hana, bank.world.customer.id, "pc-2")
    assert_refused(bank.send(MILLION, signature=signature, device="pc-2"),
                   "simple_auth_wrong_device", bank)
    stranger = ec.generate_private_key(ec.SECP256R1())
    forged = _simple_signature(bank, stranger, session_id, MILLION)
    assert_refused(bank.send(MILLION, signature=forged), "signature_invalid", bank)


# -- bad input: refused before anything, nothing recorded ------------------------------------


@pytest.mark.parametrize(("change", "field"), [
    ({"amount": 0}, "amount"), ({"amount": True}, "amount"), ({"amount": "5"}, "amount"),
    ({"amount": 10**15 + 1}, "amount"), ({"amount": 2**70}, "amount"),
    ({"from_account": "12"}, "account"), ({"to_account": "1002-123-456789"}, "to_account"),
    ({"to_account": "12"}, "to_account"),
    ({"device": ""}, "device"), ({"signature": b"raw"}, "signature"),
    ({"medium_response": "1234"}, "medium_response"),
    ({"medium_response": CardAnswer("ch_x", "abcd")}, "answer"),
    ({"medium_response": CardAnswer("ch_x", "12345")}, "answer"),
    ({"medium_response": OtpAnswer("123456789012", "12")}, "code"),
])
def test_a_request_kpki_cannot_read_raises_and_records_nothing(bank, certs, change, field):
    order = bank.order(MILLION)
    request = {"from_account": bank.account.number, "to_account": bank.payee.number,
               "amount": MILLION, "signature": bank.sign(certs.hong, order),
               "medium_response": CardAnswer("ch_x", "0000"), "device": DEVICE, **change}
    with pytest.raises(BankRequestError) as caught:
        bank.transfers.authorise(bank.world.hana, bank.world.customer.id, **request)
    assert caught.value.field == field
    assert bank.records() == []


def test_an_institution_without_a_code_signs_the_order_its_faces_give(bank, certs):
    from pki.cloud.service import add_institution
    from pki.usecases.banking import TransferAsked

    world = bank.world
    add_institution(world.store, "a platform", at=T0)
    [platform] = [i for i in world.store.institutions() if i.code is None]
    holder = world.customers.add(platform, name="홍길동", rrn=RRN, phone="010-1234-5678",
                                 carrier="SKT")
    world.customers.sign_up(platform, holder.id)
    world.customers.activate(platform, holder.id)
    account = world.customers.open_account(platform, holder.id, password="0420",
                                           balance=MILLION, number="3333-000-000001")
    card = world.cards.issue(platform, holder.id, seed="platform card")
    challenge = world.cards.challenge(platform, holder.id)
    asked = TransferAsked(account.number, bank.payee.number, 1_000, device=DEVICE)
    signature = bank.sign(certs.hong, asked.order(platform, world.clock.now()))
    result = bank.transfers.authorise(
        platform, holder.id, from_account=account.number, to_account=bank.payee.number,
        amount=1_000, signature=signature, device=None,
        medium_response=CardAnswer(challenge.id,
                                   card.answer(challenge.first, challenge.second)))
    assert (result.accepted, result.code) == (True, None)


def test_another_institutions_customer_is_not_found(bank, certs):
    from pki.bank.institutions import add_bank

    kb, _ = add_bank(bank.world.store, "004", at=T0)
    with pytest.raises(BankNotFoundError):
        bank.transfers.authorise(
            kb, bank.world.customer.id, from_account=bank.account.number,
            to_account=bank.payee.number, amount=MILLION,
            signature=bank.sign(certs.hong, bank.order(MILLION)),
            medium_response=CardAnswer("ch_x", "0000"), device=DEVICE)
    assert bank.records() == []


# -- every outcome once, nothing half-recorded -------------------------------------------------


def test_every_outcome_is_recorded_once_with_its_audit_row(bank, certs):
    results = [bank.send(MILLION, cert=certs.hong),
               bank.send(MILLION, cert=certs.other),
               bank.send(MILLION, cert=certs.hong, medium=bank.card_answer(wrong=True)),
               bank.send(11 * MILLION, cert=certs.hong)]
    assert [r.accepted for r in results] == [True, False, False, False]
    assert [r.id for r in bank.records()] == [r.id for r in results]
    rows = [e for e in bank.world.store.audit_log()
            if e.action in (AuditAction.BANK_TRANSFER_ACCEPTED,
                            AuditAction.BANK_TRANSFER_REFUSED)]
    assert [(e.detail["transfer"], e.detail["reason"]) for e in rows] == [
        (r.id, r.code) for r in results]


def test_a_transfer_is_one_write_transaction_its_row_naming_the_answer_and_the_charge(
        bank, certs, monkeypatch):
    """The card's answer, the limit and the transfer commit together: one audit row for
    an accepted transfer (no card-answered or limit-charged rows of their own), while a
    counted wrong answer is still audited by the card with the refused transfer's row."""
    medium = bank.card_answer()
    kind = type(bank.world.store.transaction())  # the backend's unit of work
    entered = []

    def enter(tx):
        entered.append(tx)
        return real_enter(tx)

    real_enter = kind.__enter__
    with monkeypatch.context() as patch:
        patch.setattr(kind, "__enter__", enter)
        accepted = bank.send(MILLION, cert=certs.hong, medium=medium)
    assert accepted.accepted
    assert len(entered) == 1
    wrong = bank.send(2 * MILLION, cert=certs.hong, medium=bank.card_answer(wrong=True))
    assert wrong.code == "wrong_card_answer"
    actions = [e.action for e in bank.world.store.audit_log()]
    assert AuditAction.BANK_CARD_ANSWERED not in actions
    assert AuditAction.BANK_LIMIT_CHARGED not in actions
    assert actions.count(AuditAction.BANK_CARD_WRONG) == 1
    [row] = [e for e in bank.world.store.audit_log()
             if e.action == AuditAction.BANK_TRANSFER_ACCEPTED]
    assert (row.detail["answered"], row.detail["limit"]["used"]) == (
        medium.challenge_id, MILLION)


def _crash_script(bank: Bank, tmp_path: Path, signature: CertificateSignature,
                  medium: CardAnswer) -> str:
    pki = bank.pki
    (tmp_path / "root.der").write_bytes(pki.root.public_bytes(Encoding.DER))
    (tmp_path / "ca.der").write_bytes(pki.ca.public_bytes(Encoding.DER))
    (tmp_path / "ca.crl").write_bytes(pki.crl().public_bytes(Encoding.DER))
    (tmp_path / "root.crl").write_bytes(pki.root_crl().public_bytes(Encoding.DER))
    (tmp_path / "signature.p7s").write_bytes(signature.signature)
    (tmp_path / "r.bin").write_bytes(signature.r)
    return f"""
import datetime as dt, pathlib
from cryptography import x509
from pki.bank.institutions import bank_by_code
from pki.bank.transfers import CardAnswer, CertificateSignature, Transfers
from pki.clock import FixedClock
from pki.signing.verify import CRLIndex, Verifier
from pki.store import open_store, sqlite_url
d = pathlib.Path({str(tmp_path)!r})
load = lambda name: x509.load_der_x509_certificate((d / name).read_bytes())
verifier = Verifier(trust=[load("root.der")], intermediates=[load("ca.der")],
                    crls=[CRLIndex.load((d / "ca.crl").read_bytes()),
                          CRLIndex.load((d / "root.crl").read_bytes())])
store = open_store(sqlite_url(d / "bank.db"))
transfers = Transfers(store, clock=FixedClock(dt.datetime.fromisoformat({T0.isoformat()!r})),
                      verifier=verifier)
transfers.authorise(bank_by_code(store, "081"), {bank.world.customer.id!r},
                    from_account={bank.account.number!r}, to_account={bank.payee.number!r},
                    amount=1000000,
                    signature=CertificateSignature((d / "signature.p7s").read_bytes(),
                                                   (d / "r.bin").read_bytes()),
                    medium_response=CardAnswer({medium.challenge_id!r}, {medium.answer!r}),
                    device={DEVICE!r})
"""


def test_a_crash_before_the_commit_leaves_nothing_and_the_signature_usable(
        bank, certs, tmp_path):
    signature = bank.sign(certs.hong, bank.order(MILLION))
    killed_at("bank.transfer.decided",
              _crash_script(bank, tmp_path, signature, bank.card_answer()))
    assert bank.records() == []
    assert bank.balance() == 50 * MILLION
    assert bank.used_today() == 0
    assert bank.send(MILLION, signature=signature).accepted  # a new challenge, same order


def test_a_crash_after_the_commit_leaves_the_transfer_once(bank, certs, tmp_path):
    signature = bank.sign(certs.hong, bank.order(MILLION))
    killed_at("bank.transfer.committed",
              _crash_script(bank, tmp_path, signature, bank.card_answer()))
    [record] = bank.records()
    assert record.outcome is TransferOutcome.ACCEPTED
    assert (bank.balance(), bank.used_today()) == (49 * MILLION, MILLION)
    assert bank.send(MILLION, signature=signature).code == "signature_replayed"


# -- concurrency -------------------------------------------------------------------------------


def test_two_parallel_transfers_that_together_cross_the_day_limit_one_accepted(bank, certs):
    world = bank.world
    requests = [(bank.sign(certs.hong, bank.order(6 * MILLION, at=T0 - dt.timedelta(
        seconds=i))), bank.card_answer()) for i in range(2)]
    connections = [world.reopen()[0] for _ in requests]
    callers = [Transfers(store, clock=world.clock, verifier=bank.pki.verifier())
               for store in connections]

    def call(i: int) -> TransferResult:
        signature, medium = requests[i]
        return bank.send(6 * MILLION, signature=signature, medium=medium,
                         transfers=callers[i])

    results = in_parallel(2, call)
    for store in connections:
        store.close()
    assert sorted((r.accepted, r.code) for r in results) == [
        (False, "over_day_limit"), (True, None)]
    assert (bank.used_today(), bank.balance()) == (6 * MILLION, 44 * MILLION)
    assert len(bank.records()) == 2


def test_two_parallel_copies_of_one_signature_move_the_money_once(bank, certs):
    world = bank.world
    signature = bank.sign(certs.hong, bank.order(MILLION))
    media = [bank.card_answer() for _ in range(2)]
    connections = [world.reopen()[0] for _ in media]
    callers = [Transfers(store, clock=world.clock, verifier=bank.pki.verifier())
               for store in connections]
    results = in_parallel(2, lambda i: bank.send(MILLION, signature=signature,
                                                 medium=media[i], transfers=callers[i]))
    for store in connections:
        store.close()
    assert sorted((r.accepted, r.code) for r in results) == [
        (False, "signature_replayed"), (True, None)]
    assert (bank.used_today(), bank.balance()) == (MILLION, 49 * MILLION)


def test_twenty_identical_parallel_transfers_fill_the_day_limit_exactly(bank, certs):
    # 20 orders of 1M KRW, each signed and answered on its own, at once on 20 connections:
    # the card's 10M a day takes exactly ten, the day's total is exactly 10M.
    world = bank.world
    requests = [(bank.sign(certs.hong, bank.order(MILLION, at=T0 - dt.timedelta(
        seconds=i))), bank.card_answer()) for i in range(20)]
    connections = [world.reopen()[0] for _ in requests]
    callers = [Transfers(store, clock=world.clock, verifier=bank.pki.verifier())
               for store in connections]

    def call(i: int) -> TransferResult:
        signature, medium = requests[i]
        return bank.send(MILLION, signature=signature, medium=medium, transfers=callers[i])

    results = in_parallel(20, call)
    for store in connections:
        store.close()
    assert sorted((r.accepted, r.code) for r in results) == (
        [(False, "over_day_limit")] * 10 + [(True, None)] * 10)
    assert (bank.used_today(), bank.balance()) == (10 * MILLION, 40 * MILLION)
    assert sorted(r.left_today for r in results if r.accepted) == [
        k * MILLION for k in range(10)]
    assert len(bank.records()) == 20


# -- an OTP as the transfer's medium ---------------------------------------------------------


@pytest.fixture
def otp_bank(tmp_path, pki) -> tuple[Bank, IssuedOtp]:
    """The bank above with an OTP centre and 홍길동's hardware OTP."""
    bank = _bank(tmp_path, pki)
    world = bank.world
    centre = OtpCentre(world.store, world.clock, secret=bytes(range(32)),
                       entropy=SeededEntropy("transfer-otp"))
    token = centre.issue_hardware(world.customer, seed=b"transfer-otp-seed-01")
    bank.transfers = Transfers(world.store, clock=world.clock, verifier=pki.verifier(),
                               otp=centre)
    return bank, token


def test_an_otp_code_authorises_up_to_the_otps_limits(otp_bank, certs):
    bank, token = otp_bank
    code = OtpAnswer(token.serial, token.code(bank.world.clock.now()))
    result = bank.send(30 * MILLION, cert=certs.hong, medium=code)  # a card allows 10M
    assert (result.accepted, result.medium) == (True, MediumKind.HARDWARE_OTP)
    assert bank.records()[-1].medium == "otp"


def test_otp_users_are_exempt_from_the_3m_extra_step_card_users_are_not(otp_bank, certs):
    bank, token = otp_bank
    card = bank.send(3 * MILLION, cert=certs.hong, device="phone-9")
    assert_refused(card, "step_up_required", bank)
    code = OtpAnswer(token.serial, token.code(bank.world.clock.now()))
    assert bank.send(3 * MILLION, cert=certs.hong, medium=code, device="phone-9").accepted


def test_a_wrong_otp_code_is_counted_by_the_token_and_refuses_the_transfer(otp_bank, certs):
    bank, token = otp_bank
    right = token.code(bank.world.clock.now())
    wrong = OtpAnswer(token.serial, f"{(int(right) + 1) % 10**6:06d}")
    result = bank.send(MILLION, cert=certs.hong, medium=wrong)
    assert_refused(result, "wrong_otp", bank)
    assert result.attempts_left == 9
    assert bank.transfers.otp is not None
    assert bank.transfers.otp.status(bank.world.customer, token.serial).failures == 1


def test_a_used_otp_code_does_not_authorise_a_second_transfer(otp_bank, certs):
    bank, token = otp_bank
    code = OtpAnswer(token.serial, token.code(bank.world.clock.now()))
    assert bank.send(MILLION, cert=certs.hong, medium=code).accepted
    later = bank.sign(certs.hong, bank.order(MILLION, at=T0 - dt.timedelta(seconds=1)))
    result = bank.send(MILLION, signature=later, medium=code)
    assert (result.accepted, result.code) == (False, "otp_replayed")
    assert bank.balance() == 49 * MILLION
