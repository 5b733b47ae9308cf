"""Institutions, customers and accounts (issue 14 item 1): banks by 3-digit code with
their settings, customers with carrier (MVNOs included) and line type, internet banking
activated within 3 KST days of the branch sign-up, accounts whose 4-digit password is
counted exactly under concurrency."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from pathlib import Path

import pytest

from pki.bank.customers import Customers, EnrolmentState
from pki.bank.institutions import (
    KNOWN_CODES,
    BankSettings,
    add_bank,
    bank_by_code,
    change_settings,
    settings_of,
)
from pki.clock import KST
from pki.errors import (
    AccountLockedError,
    BankNotFoundError,
    BankRequestError,
    BankSettingsError,
    CustomerExistsError,
    EnrolmentExpiredError,
    NotEnrolledError,
    VaultError,
    WrongAccountPasswordError,
)
from pki.signing.verify import Verifier
from pki.store import AuditAction, Carrier, Institution, LineType
from pki.usecases.banking import Banking

from .bank_helpers import (
    OTHER_RRN,
    RRN,
    BankWorld,
    in_parallel,
    make_world,
    watch_kdf_for_the_write_lock,
)


@pytest.fixture
def world(tmp_path: Path) -> BankWorld:
    return make_world(tmp_path)


# -- institutions ----------------------------------------------------------------------------


def test_a_bank_is_an_institution_with_its_code_and_api_key(world: BankWorld) -> None:
    kb, api_key = add_bank(world.store, "004", at=world.clock.now())
    assert (kb.code, kb.name) == ("004", "KB국민은행")
    found = world.store.institution_by_key_hash(hashlib.sha256(api_key.encode()).hexdigest())
    assert found == kb  # the cloud authenticates the same record
    assert [i.code for i in world.store.institutions()] == ["081", "004"]
    assert bank_by_code(world.store, "081") == world.hana
    assert set(KNOWN_CODES) == {"004", "081", "071", "011", "020", "088"}


@pytest.mark.parametrize("code", ["81", "0811", "08a", "０８１", "", None, 81])
def test_an_institution_code_is_three_digits(world: BankWorld, code: object) -> None:
    with pytest.raises(BankRequestError) as info:
        add_bank(world.store, code, at=world.clock.now())  # type: ignore[arg-type]
    assert (info.value.field, info.value.code) == ("code", "bad_request")
    assert len(world.store.institutions()) == 1


def test_an_institution_code_is_taken_once(world: BankWorld) -> None:
    with pytest.raises(BankRequestError) as info:
        add_bank(world.store, "081", at=world.clock.now(), name="another Hana")
    assert "081" in str(info.value)
    with pytest.raises(BankNotFoundError):
        bank_by_code(world.store, "999")


@pytest.mark.parametrize(("config", "key"), [
    ({"card_positions": 24}, "card_positions"),
    ({"card_positions": 36}, "card_positions"),
    ({"card_attempts": 0}, "card_attempts"),
    ({"card_attempts": True}, "card_attempts"),
    ({"enrolment_days": "3"}, "enrolment_days"),
    ({"limit_table": "nowhere"}, "limit_table"),
    ({"card_position": 30}, "card_position"),
])
def test_settings_refuse_unknown_keys_and_values_out_of_bounds(config: dict[str, object],
                                                               key: str) -> None:
    with pytest.raises(BankSettingsError) as info:
        BankSettings.from_config(config)
    assert (info.value.key, info.value.code) == (key, "bad_settings")


def test_settings_read_once_are_never_mistaken_for_an_equal_value_of_another_type(
        world: BankWorld) -> None:
    def with_settings(settings: dict[str, object]) -> Institution:
        return dataclasses.replace(world.hana, settings=settings)

    assert settings_of(with_settings({"pin_reset": True})).pin_reset is True
    assert settings_of(with_settings({"card_attempts": 1})).card_attempts == 1
    for refused in ({"pin_reset": 1}, {"card_attempts": True}, {"card_attempts": [1]}):
        with pytest.raises(BankSettingsError):
            settings_of(with_settings(refused))


def test_settings_are_kept_with_the_institution_and_changed_with_an_audit_row(
        world: BankWorld) -> None:
    assert settings_of(world.hana) == BankSettings()
    before = len(world.store.audit_log())
    changed = change_settings(world.store, world.hana,
                              {"card_positions": 30, "limit_table": "kb"}, clock=world.clock)
    assert settings_of(changed) == BankSettings(card_positions=30, limit_table="kb")
    assert settings_of(bank_by_code(world.store, "081")).card_positions == 30
    (row,) = world.store.audit_log()[before:]
    assert row.action == AuditAction.BANK_SETTINGS_CHANGED
    assert row.detail["settings"] == {"card_positions": 30, "limit_table": "kb"}
    post, _ = add_bank(world.store, "071", at=world.clock.now(),
                       settings=BankSettings(enrolment_days=5))
    assert settings_of(post).enrolment_days == 5


# -- customers ---------------------------------------------------------------------------


def test_a_customer_has_a_phone_line_with_carrier_mvno_and_type(world: BankWorld) -> None:
    assert (world.customer.phone, world.customer.carrier, world.customer.mvno,
            world.customer.line_type) == ("01012345678", Carrier.SKT, None, LineType.POSTPAID)
    assert world.customer.rrn == RRN.replace("-", "")
    assert RRN.replace("-", "") not in repr(world.customer)
    mvno = world.customers.add(world.hana, name="김하나", rrn=OTHER_RRN,
                               phone="+82 10 9876 5432", carrier=Carrier.KT,
                               mvno="KT M모바일", line_type="prepaid")
    assert (mvno.phone, mvno.carrier, mvno.mvno, mvno.line_type) == (
        "01098765432", Carrier.KT, "KT M모바일", LineType.PREPAID)
    lost = world.customers.change_line(world.hana, mvno.id, line_type=LineType.LOST)
    assert (lost.carrier, lost.mvno, lost.line_type) == (Carrier.KT, "KT M모바일",
                                                         LineType.LOST)
    moved = world.customers.change_line(world.hana, mvno.id, carrier="LGU+",
                                        line_type="postpaid")
    assert (moved.carrier, moved.mvno) == (Carrier.LGU, None)
    assert world.customers.get(world.hana, mvno.id) == moved
    assert [c.id for c in world.store.bank_customers(world.hana.id)] == [
        world.customer.id, mvno.id]


@pytest.mark.parametrize(("change", "field"), [
    ({"name": ""}, "name"),
    ({"rrn": "900517-1234567"}, "rrn"),
    ({"rrn": 9005171234566}, "rrn"),
    ({"phone": "02-1234"}, "phone"),
    ({"carrier": "Verizon"}, "carrier"),
    ({"mvno": "\n"}, "mvno"),
    ({"line_type": "stolen"}, "line_type"),
])
def test_bad_customer_input_is_refused_naming_the_field_and_records_nothing(
        world: BankWorld, change: dict[str, object], field: str) -> None:
    request: dict[str, object] = {"name": "김하나", "rrn": OTHER_RRN, "phone": "01098765432",
                                  "carrier": "KT"}
    before = len(world.store.audit_log())
    with pytest.raises(BankRequestError) as info:
        world.customers.add(world.hana, **{**request, **change})  # type: ignore[arg-type]
    assert info.value.field == field
    assert len(world.store.bank_customers(world.hana.id)) == 1
    assert len(world.store.audit_log()) == before


def test_one_customer_per_person_at_an_institution(world: BankWorld) -> None:
    with pytest.raises(CustomerExistsError) as info:
        world.customers.add(world.hana, name="홍길동", rrn=RRN, phone="01012345678",
                            carrier="SKT")
    assert info.value.code == "exists"
    kb, _ = add_bank(world.store, "004", at=world.clock.now())
    at_kb = world.customers.add(kb, name="홍길동", rrn=RRN, phone="01012345678",
                                carrier="SKT")
    assert at_kb.id != world.customer.id
    assert world.customers.by_rrn(kb, RRN) == at_kb


def test_another_institution_sees_no_customer_and_no_account(world: BankWorld) -> None:
    account = world.customers.open_account(world.hana, world.customer.id, password="1234")
    kb, _ = add_bank(world.store, "004", at=world.clock.now())
    for call in (lambda: world.customers.get(kb, world.customer.id),
                 lambda: world.customers.sign_up(kb, world.customer.id),
                 lambda: world.customers.account(kb, account.number),
                 lambda: world.customers.check_password(kb, account.number, "1234"),
                 lambda: world.customers.open_account(kb, world.customer.id,
                                                      password="1234")):
        with pytest.raises(BankNotFoundError) as info:
            call()
        assert info.value.code == "not_found"


# -- internet banking --------------------------------------------------------------------


def test_internet_banking_is_activated_within_three_kst_days_counting_the_sign_up_day(
        world: BankWorld) -> None:
    late = world.customers.add(world.hana, name="김하나", rrn=OTHER_RRN,
                               phone="01098765432", carrier="KT")
    for customer in (world.customer, late):
        signed = world.customers.sign_up(world.hana, customer.id)
        assert signed.state is EnrolmentState.PENDING
    # signed up at 05:30 KST on Monday 16 March: the last moment is Wednesday 23:59:59 KST
    deadline = dt.datetime(2026, 3, 18, 23, 59, 59, tzinfo=KST)
    assert signed.deadline == deadline
    world.clock.set(deadline)
    assert world.customers.activate(world.hana, world.customer.id).state is (
        EnrolmentState.ACTIVE)
    assert world.customers.require_enrolled(world.hana, world.customer.id) == (
        world.customers.get(world.hana, world.customer.id))
    world.clock.advance(dt.timedelta(seconds=1))
    with pytest.raises(EnrolmentExpiredError) as info:
        world.customers.activate(world.hana, late.id)
    assert (info.value.code, info.value.deadline) == ("enrolment_expired", deadline)
    assert world.customers.enrolment(world.hana, late.id).state is EnrolmentState.EXPIRED
    with pytest.raises(EnrolmentExpiredError):
        world.customers.require_enrolled(world.hana, late.id)
    world.customers.sign_up(world.hana, late.id)  # a new sign-up starts a new window
    assert world.customers.activate(world.hana, late.id).state is EnrolmentState.ACTIVE
    actions = [e.action for e in world.store.audit_log()]
    assert actions.count(AuditAction.BANK_ENROLMENT_ACTIVATED) == 2


def test_the_activation_window_is_a_setting(tmp_path: Path) -> None:
    world = make_world(tmp_path, settings={"enrolment_days": 1})
    world.customers.sign_up(world.hana, world.customer.id)
    world.clock.set(dt.datetime(2026, 3, 17, 0, 0, tzinfo=KST))  # the next KST day
    with pytest.raises(EnrolmentExpiredError):
        world.customers.activate(world.hana, world.customer.id)


def test_no_activation_and_no_online_service_without_a_branch_sign_up(world: BankWorld
                                                                      ) -> None:
    with pytest.raises(NotEnrolledError) as info:
        world.customers.activate(world.hana, world.customer.id)
    assert info.value.code == "not_enrolled"
    world.customers.sign_up(world.hana, world.customer.id)
    with pytest.raises(NotEnrolledError):  # signed up, not activated yet
        world.customers.require_enrolled(world.hana, world.customer.id)


# -- accounts --------------------------------------------------------------------------------


def test_an_account_has_a_number_a_password_and_a_balance(world: BankWorld) -> None:
    account = world.customers.open_account(world.hana, world.customer.id, password="0420",
                                           balance=1_500_000, number="123-456789-01234")
    assert (account.number, account.balance) == ("12345678901234", 1_500_000)
    assert "0420" not in repr(account) and "0420" not in account.password_hash
    drawn = world.customers.open_account(world.hana, world.customer.id, password="1111")
    assert len(drawn.number) == 12 and drawn.number.isdigit()
    assert world.customers.accounts(world.hana, world.customer.id) == (account, drawn)
    assert world.customers.check_password(world.hana, "12345678901234", "0420") == account
    with pytest.raises(CustomerExistsError) as info:
        world.customers.open_account(world.hana, world.customer.id, password="0420",
                                     number="12345678901234")
    assert info.value.field == "account"


@pytest.mark.parametrize(("change", "field"), [
    ({"password": "123"}, "password"), ({"password": "12a4"}, "password"),
    ({"password": 1234}, "password"), ({"balance": -1}, "balance"),
    ({"balance": 1.5}, "balance"), ({"number": "12-34"}, "account"),
])
def test_bad_account_input_is_refused_naming_the_field(world: BankWorld,
                                                       change: dict[str, object],
                                                       field: str) -> None:
    request: dict[str, object] = {"password": "1234"}
    with pytest.raises(BankRequestError) as info:
        world.customers.open_account(world.hana, world.customer.id,
                                     **{**request, **change})  # type: ignore[arg-type]
    assert info.value.field == field
    assert world.store.accounts_of(world.customer.id) == []


def test_wrong_account_passwords_lock_until_a_branch_resets(world: BankWorld) -> None:
    account = world.customers.open_account(world.hana, world.customer.id, password="1234")
    left = []
    for _ in range(4):
        with pytest.raises(WrongAccountPasswordError) as info:
            world.customers.check_password(world.hana, account.number, "4321")
        left.append(info.value.attempts_left)
    assert left == [4, 3, 2, 1]
    with pytest.raises(AccountLockedError):
        world.customers.check_password(world.hana, account.number, "4321")
    with pytest.raises(AccountLockedError):  # the right one is not compared any more
        world.customers.check_password(world.hana, account.number, "1234")
    with pytest.raises(BankRequestError):  # a malformed one is never compared
        world.customers.check_password(world.hana, account.number, "12345")
    reset = world.customers.reset_password(world.hana, account.number, password="5678",
                                           operator="branch-0123/kim")
    assert (reset.failures, reset.locked) == (0, False)
    world.customers.check_password(world.hana, account.number, "5678")
    row = world.store.audit_log()[-1]
    assert row.action == AuditAction.BANK_ACCOUNT_RESET and row.detail["operator"]
    assert all("5678" not in str(e.detail) for e in world.store.audit_log())


def test_a_right_account_password_clears_the_count(world: BankWorld) -> None:
    account = world.customers.open_account(world.hana, world.customer.id, password="1234")
    for _ in range(4):
        with pytest.raises(WrongAccountPasswordError):
            world.customers.check_password(world.hana, account.number, "4321")
    world.customers.check_password(world.hana, account.number, "1234")
    assert world.customers.account(world.hana, account.number).failures == 0


def test_twenty_parallel_wrong_account_passwords_compare_exactly_five(world: BankWorld
                                                                      ) -> None:
    account = world.customers.open_account(world.hana, world.customer.id, password="1234")
    connections = [world.reopen() for _ in range(20)]
    results = in_parallel(20, lambda i: connections[i][1].check_password(
        world.hana, account.number, "4321"))
    assert sorted(r.attempts_left for r in results
                  if isinstance(r, WrongAccountPasswordError)) == [1, 2, 3, 4]
    assert all(isinstance(r, WrongAccountPasswordError | AccountLockedError) for r in results)
    stored = world.customers.account(world.hana, account.number)
    assert (stored.failures, stored.locked) == (5, True)
    counted = [e for e in world.store.audit_log() if e.action in (
        AuditAction.BANK_ACCOUNT_PASSWORD_WRONG, AuditAction.BANK_ACCOUNT_LOCKED)]
    assert len(counted) == 5


# -- how the account password is kept ----------------------------------------------------------


def _plain_sha256(world: BankWorld, number: str, password: str) -> str:
    return hashlib.sha256(f"kpki-account|{world.hana.id}|{number}|{password}".encode()
                          ).hexdigest()


def test_an_account_password_is_kept_under_a_salted_kdf_not_a_plain_hash(world: BankWorld
                                                                          ) -> None:
    one = world.customers.open_account(world.hana, world.customer.id, password="0420")
    two = world.customers.open_account(world.hana, world.customer.id, password="0420")
    stored = world.store.account(world.hana.id, one.number).password_hash
    assert stored != _plain_sha256(world, one.number, "0420")  # ten thousand SHA-256s
    assert stored.startswith("scrypt$")
    assert stored.split("$")[2] != two.password_hash.split("$")[2]  # a salt each


def test_a_row_kept_before_the_kdf_is_moved_onto_it_at_its_next_right_password(
        world: BankWorld) -> None:
    account = world.customers.open_account(world.hana, world.customer.id, password="0420")
    legacy = _plain_sha256(world, account.number, "0420")
    with world.store.transaction() as tx:  # as an older kpki kept it
        tx.set_account_password(world.hana.id, account.number, legacy)
    with pytest.raises(WrongAccountPasswordError):
        world.customers.check_password(world.hana, account.number, "9999")
    assert world.store.account(world.hana.id, account.number).password_hash == legacy
    world.customers.check_password(world.hana, account.number, "0420")
    moved = world.store.account(world.hana.id, account.number)
    assert moved.password_hash.startswith("scrypt$") and moved.failures == 0
    world.customers.check_password(world.hana, account.number, "0420")
    with pytest.raises(WrongAccountPasswordError):
        world.customers.check_password(world.hana, account.number, "9999")


def test_the_account_password_kdf_runs_outside_the_write_lock(world: BankWorld,
                                                              monkeypatch) -> None:
    account = world.customers.open_account(world.hana, world.customer.id, password="0420")
    others_could_write = watch_kdf_for_the_write_lock(monkeypatch, world.store)
    world.customers.check_password(world.hana, account.number, "0420")
    with pytest.raises(WrongAccountPasswordError):
        world.customers.check_password(world.hana, account.number, "1111")
    world.customers.reset_password(world.hana, account.number, password="2222",
                                   operator="branch-7")
    assert len(others_could_write) == 3 and all(others_could_write)
    assert world.customers.account(world.hana, account.number).failures == 0


# -- under the bank's account key (what Banking gives its customers) ---------------------------

ACCOUNT_KEY = bytes(range(32))


def _keyed(world: BankWorld, key: bytes | None = ACCOUNT_KEY) -> Customers:
    return Customers(world.store, clock=world.clock, secret=key)


def test_with_the_banks_key_an_account_password_is_a_keyed_hash_and_no_kdf(
        world: BankWorld, monkeypatch) -> None:
    customers = _keyed(world)
    account = customers.open_account(world.hana, world.customer.id, password="0420")
    stored = world.store.account(world.hana.id, account.number).password_hash
    assert stored.startswith("hmac-sha256$")
    derived = []
    monkeypatch.setattr("pki.bank.passwords._derive", lambda *a: derived.append(a) or b"")
    customers.check_password(world.hana, account.number, "0420")
    with pytest.raises(WrongAccountPasswordError):
        customers.check_password(world.hana, account.number, "0421")
    assert derived == []  # no KDF on the way: the key is the protection


def test_a_keyed_account_password_is_checked_only_with_its_key(world: BankWorld) -> None:
    account = _keyed(world).open_account(world.hana, world.customer.id, password="0420")
    with pytest.raises(WrongAccountPasswordError):  # another key: a wrong password
        _keyed(world, bytes(32)).check_password(world.hana, account.number, "0420")
    with pytest.raises(VaultError):  # no key: cannot check, and nothing counted
        _keyed(world, None).check_password(world.hana, account.number, "0420")
    assert world.store.account(world.hana.id, account.number).failures == 1


def test_a_scrypt_row_moves_onto_the_key_at_its_next_right_password(world: BankWorld) -> None:
    account = world.customers.open_account(world.hana, world.customer.id, password="0420")
    assert world.store.account(world.hana.id, account.number).password_hash.startswith(
        "scrypt$")
    customers = _keyed(world)
    with pytest.raises(WrongAccountPasswordError):
        customers.check_password(world.hana, account.number, "9999")
    assert world.store.account(world.hana.id, account.number).password_hash.startswith(
        "scrypt$")
    customers.check_password(world.hana, account.number, "0420")
    moved = world.store.account(world.hana.id, account.number)
    assert moved.password_hash.startswith("hmac-sha256$") and moved.failures == 0
    customers.check_password(world.hana, account.number, "0420")


def test_the_banks_customers_keep_account_passwords_under_the_service_secret(
        world: BankWorld) -> None:
    banking = Banking(world.store, clock=world.clock, secret=b"s" * 32,
                      verifier=lambda: Verifier(clock=world.clock))
    account = banking.customers.open_account(world.hana, world.customer.id, password="0420")
    assert world.store.account(world.hana.id, account.number).password_hash.startswith(
        "hmac-sha256$")
    assert banking.transfers.customers is banking.customers
    assert banking.sessions.customers is banking.customers
