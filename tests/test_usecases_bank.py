"""The bank's facade (pki.usecases.banking, issue 14 item 8): one Banking per home or store,
the home's vault secret behind OTP seeds and CI/DI, and the steps that cross services."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from pki.bank.media import MediumKind
from pki.clock import FixedClock
from pki.errors import BankNotFoundError, VaultError
from pki.home import Home
from pki.rrn import synthetic_rrn
from pki.store import open_store
from pki.usecases.banking import Banking, bank_secret

T0 = dt.datetime(2026, 3, 16, 0, 30, tzinfo=dt.UTC)
RRN = "900517-1234566"
SECRET = b"s" * 32


@pytest.fixture
def banking() -> Banking:
    return Banking(open_store("sqlite://:memory:"), clock=FixedClock(T0), secret=SECRET)


def _customer(banking: Banking, code: str = "081") -> tuple[object, str]:
    bank, _ = banking.add_bank(code)
    hong = banking.customers.add(bank, name="홍길동", rrn=RRN, phone="010-1234-5678",
                                 carrier="KT", line_type="postpaid")
    return bank, hong.id


def test_banks_are_found_by_code_and_listed_by_code(banking: Banking) -> None:
    hana, key = banking.add_bank("081")
    banking.add_bank("004")
    assert key and banking.bank("081") == hana
    assert [b.code for b in banking.banks()] == ["004", "081"]
    with pytest.raises(BankNotFoundError):
        banking.bank("020")


def test_a_customer_overview_holds_enrolment_accounts_card_otp_and_limits(
        banking: Banking) -> None:
    bank, customer = _customer(banking)
    assert banking.overview(bank, customer).limits is None  # no medium: no transfer
    banking.customers.open_account(bank, customer, password="0420", balance=1_000)
    banking.cards.issue(bank, customer, seed="facade")
    seen = banking.overview(bank, customer)
    assert [a.balance for a in seen.accounts] == [1_000]
    assert seen.card is not None and seen.card.positions == 35 and not seen.card.locked
    assert seen.limits is not None and seen.limits.medium is MediumKind.SECURITY_CARD
    assert (seen.limits.per_transfer, seen.limits.left_today) == (10_000_000, 10_000_000)
    assert seen.otp_tokens == ()


def test_the_printed_card_is_the_issued_one(banking: Banking) -> None:
    bank, customer = _customer(banking)
    issued = banking.cards.issue(bank, customer, seed="facade")
    printed = banking.printed_card(bank, customer)
    assert (printed.serial, printed.codes) == (issued.serial, issued.codes)
    challenge = banking.cards.challenge(bank, customer)
    banking.cards.answer(bank, challenge.id, printed.answer(challenge.first, challenge.second))


def test_the_otp_code_shown_is_the_one_the_centre_accepts(banking: Banking) -> None:
    bank, customer = _customer(banking)
    holder = banking.customer(bank, customer)
    token = banking.otp.issue_hardware(holder)
    code = banking.otp_code(bank, customer, token.serial)
    assert code == token.code(T0)
    banking.otp.verify(holder, token.serial, code)


def test_another_bank_sees_neither_the_customer_nor_its_token(banking: Banking) -> None:
    bank, customer = _customer(banking)
    token = banking.otp.issue_hardware(banking.customer(bank, customer))
    kb, _ = banking.add_bank("004")
    with pytest.raises(BankNotFoundError):
        banking.otp_code(kb, customer, token.serial)
    with pytest.raises(BankNotFoundError):
        banking.printed_card(kb, customer)


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(VaultError):
        Banking(open_store("sqlite://:memory:"), clock=FixedClock(T0), secret=b"short")


# -- the home's secret -------------------------------------------------------------------------

def test_a_home_keeps_the_bank_secret_as_the_cloud_does(make_home, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("KPKI_VAULT_SECRET", raising=False)
    home: Home = make_home()
    banking = Banking.of_home(home)
    assert home.vault_secret_path.is_file()
    assert home.vault_secret_path.stat().st_mode & 0o777 == 0o600
    bank, customer = _customer(banking)
    token = banking.otp.issue_hardware(banking.customer(bank, customer))
    again = Banking.of_home(Home.open(home.path, clock=home.clock))
    assert again.otp_code(bank, customer, token.serial) == token.code(home.clock.now())
    rrn = synthetic_rrn(dt.date(1992, 8, 1), female=True).digits
    assert again.phone.ci(rrn) == banking.phone.ci(rrn)  # the same CI in every run


def test_a_lost_secret_is_never_replaced_under_sealed_seeds(make_home, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("KPKI_VAULT_SECRET", raising=False)
    home: Home = make_home()
    banking = Banking.of_home(home)
    bank, customer = _customer(banking)
    banking.otp.issue_hardware(banking.customer(bank, customer))
    home.vault_secret_path.unlink()
    with pytest.raises(VaultError):
        bank_secret(home)
    assert not home.vault_secret_path.exists()


def test_the_environment_secret_is_used_when_set(make_home, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("KPKI_VAULT_SECRET", "ab" * 32)
    home: Home = make_home()
    assert bank_secret(home) == bytes.fromhex("ab" * 32)
    assert not Path(home.vault_secret_path).exists()
    assert os.environ["KPKI_VAULT_SECRET"] == "ab" * 32



# -- devices (item 6 through the facade) ----------------------------------------------------

def test_the_facade_keeps_designated_devices_per_bank(banking: Banking) -> None:
    from pki.devices import CoveredOperation, Verdict

    bank, customer = _customer(banking)
    banking.devices.designate(bank, customer, "pc-1")
    banking.devices.set_designated_only(bank, customer, True)
    decision = banking.devices.decide(bank, customer, "cafe-pc", CoveredOperation.TRANSFER)
    assert decision.verdict is Verdict.REFUSED and decision.code == "device_not_designated"
    assert banking.devices.state(bank, customer).devices == ("pc-1",)
    kb, _ = banking.add_bank("004")
    with pytest.raises(BankNotFoundError):
        banking.devices.state(kb, customer)


# -- transfers (item 7 through the facade) ---------------------------------------------------

def test_a_transfer_signed_and_answered_through_the_facade_is_recorded() -> None:
    from pki.signing.verify import Verifier
    from pki.testing import TestPKI
    from pki.usecases.banking import TransferAsked

    test_pki = TestPKI(seed="facade-transfer", clock=FixedClock(T0))
    try:
        banking = Banking(test_pki.home.store, clock=test_pki.clock, secret=SECRET,
                          verifier=lambda: Verifier.for_home(test_pki.home))
        bank, customer = _customer(banking)
        banking.customers.sign_up(bank, customer)
        banking.customers.activate(bank, customer)
        account = banking.customers.open_account(bank, customer, password="0420",
                                                 balance=5_000_000, number="1002123456789")
        payee = banking.customers.add(bank, name="이영희", rrn="850101-2345678",
                                      phone="010-9999-8888", carrier="KT")
        to = banking.customers.open_account(bank, payee.id, password="1234")
        card = banking.cards.issue(bank, customer, seed="facade")
        banking.devices.designate(bank, customer, "pc-1")
        cert = test_pki.joint("홍길동", rrn=RRN)
        challenge = banking.cards.challenge(bank, customer)
        asked = TransferAsked(account.number, to.number, 1_000_000, device="pc-1",
                              card_challenge=challenge.id,
                              response=card.answer(challenge.first, challenge.second))
        signature = test_pki.sign(cert, asked.order(bank, test_pki.clock.now()).text())
        result = banking.authorise_transfer(bank, customer, asked, signature=signature,
                                            r=cert.r)
        assert result.accepted and result.balance == 4_000_000
        assert [t.id for t in banking.transfers.transfers(bank, customer)] == [result.id]
        again = banking.authorise_transfer(bank, customer, asked, signature=signature,
                                           r=cert.r)
        assert (again.accepted, again.code) == (False, "signature_replayed")
    finally:
        test_pki.close()


def test_transfers_need_a_verifier(banking: Banking) -> None:
    with pytest.raises(TypeError):
        banking.transfers  # noqa: B018
