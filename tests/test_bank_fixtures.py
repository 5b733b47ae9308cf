"""The bank's pytest fixtures and TestPKI parts (issue 14 item 8): ``bank``, ``customer``,
``security_card``, ``otp_token`` (whose ``.now()`` is the code under the frozen clock)."""

from __future__ import annotations

import datetime as dt

import pytest

from pki.errors import (
    ChallengeUsedError,
    OtpReplayError,
    WrongAccountPasswordError,
    WrongOtpError,
)
from pki.testing import TestPKI


def test_bank_is_hana_in_the_session_pki(bank, kpki_pki):
    assert (bank.code, bank.institution.name) == ("081", "하나은행")
    assert bank.api_key.startswith("kpki_")
    assert kpki_pki.bank("081") is bank
    with pytest.raises(ValueError, match="exists already"):
        kpki_pki.bank("081", card_attempts=3)


def test_each_test_gets_a_new_enrolled_customer_with_an_account(bank, customer):
    banking = bank.banking
    assert banking.customers.require_enrolled(bank.institution, customer.id) == customer.record
    assert banking.customers.check_password(bank.institution, customer.account.number,
                                            customer.password).balance == 50_000_000
    with pytest.raises(WrongAccountPasswordError):
        banking.customers.check_password(bank.institution, customer.account.number, "9999")
    assert bank.customer().rrn != customer.rrn


def test_a_security_card_answers_its_challenges(bank, security_card):
    challenge = security_card.challenge()
    assert challenge.serial == security_card.serial and len(security_card.codes) == 35
    answer = security_card.answer(challenge)
    assert answer == (security_card.codes[challenge.first - 1][:2]
                      + security_card.codes[challenge.second - 1][2:])
    bank.banking.cards.answer(bank.institution, challenge.id, answer)
    with pytest.raises(ChallengeUsedError):
        bank.banking.cards.answer(bank.institution, challenge.id, answer)


def test_otp_token_now_is_the_code_under_the_frozen_clock(otp_token, kpki_time):
    assert kpki_time.frozen
    code = otp_token.now()
    assert code == otp_token.at(kpki_time.now()) and len(code) == 6
    otp_token.verify(code)
    with pytest.raises(OtpReplayError):  # the same step: the frozen clock did not move
        otp_token.verify(otp_token.now())
    kpki_time.advance(dt.timedelta(minutes=1))
    otp_token.verify()
    kpki_time.advance(dt.timedelta(minutes=5))
    with pytest.raises(WrongOtpError):  # a code of five minutes ago is outside the window
        otp_token.verify(otp_token.at(kpki_time.now() - dt.timedelta(minutes=4)))


@pytest.mark.kpki_time("2026-03-16T10:00:00+09:00")
def test_otp_token_follows_the_marker(otp_token, kpki_time):
    at = dt.datetime(2026, 3, 16, 1, 0, tzinfo=dt.UTC)
    assert otp_token.now() == otp_token.at(at)


def test_the_limits_follow_the_fixtures_media(bank, customer, security_card, otp_token):
    limits = bank.banking.limits_now(bank.institution, customer.id)
    assert (limits.medium.value, limits.per_transfer, limits.per_day) == (
        "otp", 100_000_000, 500_000_000)


def test_a_seeded_testpki_gives_the_same_card_and_otp_codes():
    def run() -> tuple[tuple[str, ...], str]:
        pki = TestPKI(seed="bank-fixtures")
        try:
            customer = pki.bank("004").customer()
            card = customer.security_card(seed="drawer")
            return card.codes, customer.otp_token(kind="mobile").now()
        finally:
            pki.close()

    assert run() == run()


def test_mobile_and_digital_tokens_are_ready_to_use(kpki_pki):
    customer = kpki_pki.bank("020").customer()
    mobile = customer.otp_token(kind="mobile", device="galaxy")
    status = customer.bank.banking.otp.status(customer.record, mobile.serial)
    assert status.activated and status.device == "galaxy"
    with pytest.raises(ValueError, match="hardware, mobile or digital"):
        customer.otp_token(kind="sim")


def test_a_customer_transfers_with_the_card_and_with_the_otp(bank, customer, security_card):
    payee = bank.customer("김영희", balance=0)
    sent = customer.transfer(payee.account.number, 1_000_000, medium=security_card)
    assert (sent.accepted, sent.code, sent.balance) == (True, None, 49_000_000)
    assert sent.medium.value == "security-card"
    refused = customer.transfer(payee.account.number, 10_000_001, medium=security_card)
    assert (refused.accepted, refused.code) == (False, "over_transfer_limit")
    other = bank.customer("이몽룡")
    foreign = customer.transfer(payee.account.number, 1_000, medium=security_card,
                                certificate=other.certificate())
    assert (foreign.accepted, foreign.code) == (False, "vid_mismatch")


def test_an_otp_token_authorises_a_larger_transfer(bank, customer, otp_token, kpki_time):
    payee = bank.customer("김영희", balance=0)
    sent = customer.transfer(payee.account.number, 20_000_000, medium=otp_token)
    assert (sent.accepted, sent.medium.value, sent.left_today) == (True, "otp", 480_000_000)
    replay = customer.transfer(payee.account.number, 1_000, medium=otp_token)
    assert (replay.accepted, replay.code) == (False, "otp_replayed")  # the same minute
    kpki_time.advance(dt.timedelta(minutes=1))
    assert customer.transfer(payee.account.number, 1_000, medium=otp_token).accepted
