"""Phone verification (본인확인), issue 14 item 5: the request shape, eligibility, codes and
their limits, the result with CI and DI, ARS, push protection, the test channel.

Concurrency and crashes are in tests/test_bank_phone_concurrency.py.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt

import pytest

from pki.bank.institutions import add_bank
from pki.bank.phone import (
    PhonePolicy,
    PhoneVerification,
    Sex,
    VerificationState,
    parse_carrier,
)
from pki.errors import (
    AppLockedError,
    ArsBlockedError,
    BankNotFoundError,
    BankRequestError,
    BankSettingsError,
    CodeTriesExhaustedError,
    CustomerExistsError,
    IdentityMismatchError,
    LineIneligibleError,
    MismatchLimitError,
    PhoneCodeExpiredError,
    PhoneVerificationError,
    PushIneligibleError,
    PushNotEnrolledError,
    RequestRefusedError,
    SendLimitError,
    VerificationUsedError,
    WrongAppPasswordError,
    WrongPhoneCodeError,
)
from pki.rrn import synthetic_rrn
from pki.store import AuditAction, Carrier, LineState, VerificationMethod, Via

from .bank_helpers import watch_kdf_for_the_write_lock
from .phone_helpers import (
    APP_PASSWORD,
    NAME,
    PHONE,
    RRN,
    RRN7,
    SECRET,
    T0,
    World,
    last_code,
    other_code,
)


@pytest.fixture
def world(tmp_path):
    return World(tmp_path)


@pytest.fixture
def site(world):
    world.add_line()
    return world.site()


def _sent(world, site, phone=PHONE):
    return world.phone.messages(site, phone)


def _verified(world, site, **changes):
    verification = world.ask(site, **changes)
    code = last_code(_sent(world, site, changes.get("phone", PHONE)))
    return world.phone.confirm(site, verification, code)


# -- the request and the code ---------------------------------------------------------------


def test_a_request_sends_a_six_digit_code_by_sms_valid_three_minutes(world, site):
    request = world.phone.request(site, name=NAME, phone="010-1234-5678", rrn7="900517-1",
                                  carrier="SKT")
    assert request.id.startswith("pv_")
    assert (request.method, request.via, request.autofill) == (
        VerificationMethod.SMS, Via.SMS, True)
    assert request.expires_at == T0 + dt.timedelta(minutes=3)
    (message,) = _sent(world, site)
    assert message.via is Via.SMS and message.institution_id == site.id
    assert len(last_code((message,))) == 6


def test_the_right_code_verifies_with_name_birth_date_sex_foreigner_ci_and_di(world, site):
    result = _verified(world, site)
    assert (result.name, result.birth_date, result.sex, result.foreigner) == (
        NAME, dt.date(1990, 5, 17), Sex.MALE, False)
    assert (result.phone, result.carrier, result.mvno) == (PHONE, Carrier.SKT, False)
    status = world.phone.status(site, world.store.phone_verifications(PHONE)[0].id)
    assert status.state is VerificationState.VERIFIED and status.result == result


def test_ci_and_di_have_the_real_values_shape(world, site):
    result = _verified(world, site)
    assert len(result.ci) == 88 and len(base64.b64decode(result.ci, validate=True)) == 64
    assert len(result.di) == 64 and len(base64.b64decode(result.di, validate=True)) == 48


def test_ci_is_one_per_person_across_sites_and_di_one_per_site(world, site):
    other = world.site("another shop")
    first, again, elsewhere = (_verified(world, site), _verified(world, site),
                               _verified(world, other))
    assert first.ci == again.ci == elsewhere.ci
    assert first.di == again.di != elsewhere.di
    # another person (same name and birth date, another resident number) differs in both
    world.add_line("01099998888", rrn=synthetic_rrn(dt.date(1990, 5, 17), serial=7).digits)
    twin = _verified(world, site, phone="01099998888")
    assert twin.ci != first.ci and twin.di != first.di


def test_ci_follows_the_service_secret_not_the_store(world, site):
    ci = _verified(world, site).ci
    same = PhoneVerification(world.store, clock=world.clock, secret=SECRET)
    other = PhoneVerification(world.store, clock=world.clock, secret=b"x" * 32)
    assert same.ci(RRN) == ci != other.ci(RRN)


def test_a_foreign_residents_result_says_so(world):
    world.add_line("01055556666", name="JOHN SMITH",
                   rrn=synthetic_rrn(dt.date(1985, 1, 2), female=True, foreigner=True).digits)
    site = world.site()
    result = _verified(world, site, phone="01055556666", name="JOHN SMITH", rrn7="8501026")
    assert (result.sex, result.foreigner, result.birth_date) == (
        Sex.FEMALE, True, dt.date(1985, 1, 2))


@pytest.mark.parametrize("code, host", [("SKM", Carrier.SKT), ("KTM", Carrier.KT),
                                        ("LGM", Carrier.LGU)])
def test_an_mvno_line_is_verified_with_the_mvno_carrier_code(world, code, host):
    world.add_line(carrier=host, mvno="알뜰모바일")
    site = world.site()
    assert _verified(world, site, carrier=code).mvno is True
    with pytest.raises(IdentityMismatchError):  # the host network's code is not the MVNO's
        world.ask(site, carrier=host.value)


def test_the_integrators_carrier_codes():
    assert parse_carrier("LGT") == (Carrier.LGU, False)
    assert parse_carrier("ktf") == (Carrier.KT, False)
    assert parse_carrier("SKM") == (Carrier.SKT, True)


# -- who may be verified ----------------------------------------------------------------------


@pytest.mark.parametrize("changes", [
    {"name": "홍길순"}, {"rrn7": "9005172"}, {"rrn7": "9005181"}, {"carrier": "KT"},
    {"carrier": "SKM"}, {"phone": "01087654321"},
], ids=["name", "sex-digit", "birth-date", "carrier", "mvno", "no-line"])
def test_a_mismatch_is_refused_without_telling_which_field(world, site, changes):
    with pytest.raises(IdentityMismatchError) as info:
        world.ask(site, **changes)
    assert info.value.code == "identity_mismatch"
    assert str(info.value) == str(IdentityMismatchError())  # the same words, whatever differed
    assert not hasattr(info.value, "field")
    assert world.store.phone_verifications(PHONE) == [] and _sent(world, site) == ()


@pytest.mark.parametrize("changes, code", [
    ({"line_type": "prepaid"}, "line_prepaid"), ({"line_type": "corporate"}, "line_corporate"),
    ({"state": "suspended"}, "line_suspended"), ({"state": LineState.LOST}, "line_lost"),
])
def test_ineligible_lines_are_refused_with_their_reason(world, changes, code):
    world.add_line(**changes)
    site = world.site()
    with pytest.raises(LineIneligibleError) as info:
        world.ask(site)
    assert info.value.code == code
    assert _sent(world, site) == ()


def test_eligibility_is_told_only_to_who_matched_the_holder(world):
    world.add_line(line_type="prepaid")
    site = world.site()
    with pytest.raises(IdentityMismatchError):
        world.ask(site, name="김철수")


def test_a_line_suspended_later_is_refused_from_then_on(world, site):
    _verified(world, site)
    world.lines.change(PHONE, state="suspended")
    with pytest.raises(LineIneligibleError) as info:
        world.ask(site)
    assert info.value.line == "suspended"


# -- codes: lifetime, tries, sends -------------------------------------------------------------


def test_a_code_expires_after_three_minutes_and_the_late_try_is_not_counted(world, site):
    verification = world.ask(site)
    code = last_code(_sent(world, site))
    world.clock.advance(dt.timedelta(minutes=3, seconds=1))
    with pytest.raises(PhoneCodeExpiredError) as info:
        world.phone.confirm(site, verification, code)
    assert info.value.code == "code_expired"
    status = world.phone.status(site, verification)
    assert (status.state, status.tries_left) == (VerificationState.EXPIRED, 5)


def test_the_code_lifetime_is_a_setting(tmp_path):
    world = World(tmp_path, policy=PhonePolicy(code_seconds=60))
    world.add_line()
    site = world.site()
    verification = world.ask(site)
    world.clock.advance(dt.timedelta(seconds=61))
    with pytest.raises(PhoneCodeExpiredError):
        world.phone.confirm(site, verification, last_code(_sent(world, site)))


def test_wrong_codes_are_counted_and_the_last_try_ends_the_code(world, site):
    verification = world.ask(site)
    code = last_code(_sent(world, site))
    left = []
    for _ in range(5):
        with pytest.raises(WrongPhoneCodeError) as info:
            world.phone.confirm(site, verification, other_code(code))
        left.append(info.value.tries_left)
    assert left == [4, 3, 2, 1, 0]
    with pytest.raises(CodeTriesExhaustedError):  # the right code is no longer compared
        world.phone.confirm(site, verification, code)
    assert world.phone.status(site, verification).state is VerificationState.EXHAUSTED
    assert world.store.phone_verification(verification).tries == 5


def test_a_resend_replaces_the_code_with_fresh_tries_and_lifetime(world, site):
    verification = world.ask(site)
    old = last_code(_sent(world, site))
    with pytest.raises(WrongPhoneCodeError):
        world.phone.confirm(site, verification, other_code(old))
    world.clock.advance(dt.timedelta(minutes=2))
    again = world.phone.resend(site, verification)
    assert again.expires_at == world.clock.now() + dt.timedelta(minutes=3)
    assert again.sends_left == 3
    new = last_code(_sent(world, site))
    assert world.phone.status(site, verification).tries_left == 5
    if new != old:  # the old code is gone (1 in a million they are equal)
        with pytest.raises(WrongPhoneCodeError):
            world.phone.confirm(site, verification, old)
    assert world.phone.confirm(site, verification, new).name == NAME


def test_sends_per_verification_are_bounded(world, site):
    verification = world.ask(site)
    for _ in range(4):
        world.phone.resend(site, verification)
    with pytest.raises(SendLimitError) as info:
        world.phone.resend(site, verification)
    assert (info.value.code, info.value.scope, info.value.limit) == ("send_limit",
                                                                     "verification", 5)
    assert len(_sent(world, site)) == 5


def test_sends_per_phone_are_bounded_per_kst_day_over_every_site(tmp_path):
    world = World(tmp_path, policy=PhonePolicy(sends_per_phone_day=3))
    world.add_line()
    first, second = world.site("a"), world.site("b")
    world.ask(first)
    world.phone.resend(second, world.ask(second))
    with pytest.raises(SendLimitError) as info:
        world.ask(first)
    assert info.value.scope == "phone"
    # T0 is 05:30 KST; the KST day ends at 15:00 UTC, not at midnight UTC
    world.clock.set(dt.datetime(2026, 3, 16, 14, 59, tzinfo=dt.UTC))
    with pytest.raises(SendLimitError):
        world.ask(first)
    world.clock.set(dt.datetime(2026, 3, 16, 15, 0, tzinfo=dt.UTC))
    world.ask(first)


def test_a_code_is_accepted_once(world, site):
    verification = world.ask(site)
    code = last_code(_sent(world, site))
    world.phone.confirm(site, verification, code)
    with pytest.raises(VerificationUsedError) as info:
        world.phone.confirm(site, verification, code)
    assert info.value.code == "verification_used"
    with pytest.raises(VerificationUsedError):
        world.phone.resend(site, verification)


def test_another_site_neither_sees_nor_confirms_a_verification(world, site):
    verification = world.ask(site)
    code = last_code(_sent(world, site))
    other = world.site("other")
    for call in (lambda: world.phone.status(other, verification),
                 lambda: world.phone.confirm(other, verification, code),
                 lambda: world.phone.resend(other, verification)):
        with pytest.raises(BankNotFoundError) as info:
            call()
        assert (info.value.code, info.value.what) == ("not_found", "verification")
    assert world.phone.messages(other, PHONE) == ()
    assert world.phone.status(site, verification).state is VerificationState.PENDING


@pytest.mark.parametrize("changes, field", [
    ({"phone": "02-123"}, "phone"), ({"rrn7": "900517"}, "rrn7"), ({"rrn7": "9013171"}, "rrn7"),
    ({"rrn7": 9005171}, "rrn7"), ({"carrier": "SK"}, "carrier"), ({"method": "fax"}, "method"),
    ({"name": ""}, "name"), ({"name": None}, "name"),
])
def test_bad_input_is_a_typed_refusal_naming_the_field(world, site, changes, field):
    with pytest.raises(BankRequestError) as info:
        world.ask(site, **changes)
    assert (info.value.code, info.value.field) == ("bad_request", field)
    assert _sent(world, site) == ()


@pytest.mark.parametrize("code", ["12345", "1234567", "12345a", None, "１２３４５６"])
def test_a_malformed_code_is_refused_and_not_counted(world, site, code):
    verification = world.ask(site)
    with pytest.raises(BankRequestError) as info:
        world.phone.confirm(site, verification, code)
    assert info.value.field == "code"
    assert world.phone.status(site, verification).tries_left == 5


def test_an_unknown_verification_is_not_found(world, site):
    for verification in ("pv_nothing", None, 7):
        with pytest.raises(BankNotFoundError):
            world.phone.status(site, verification)


# -- ARS --------------------------------------------------------------------------------------


def test_an_ars_call_back_is_confirmed_by_a_key_press(world, site):
    request = world.phone.request(site, name=NAME, phone=PHONE, rrn7=RRN7, carrier="SKT",
                                  method="ars")
    assert (request.via, request.autofill) == (Via.CALL, False)
    assert request.display_code is not None and len(request.display_code) == 2
    (call,) = _sent(world, site)
    assert call.via is Via.CALL and request.display_code not in call.text.split()
    assert world.phone.status(site, request.id).state is VerificationState.PENDING
    world.phone.press(site, request.id, request.display_code)
    status = world.phone.status(site, request.id)
    assert status.state is VerificationState.VERIFIED and status.result.name == NAME


def test_a_wrong_key_press_is_counted(world, site):
    request = world.phone.request(site, name=NAME, phone=PHONE, rrn7=RRN7, carrier="SKT",
                                  method=VerificationMethod.ARS)
    with pytest.raises(WrongPhoneCodeError) as info:
        world.phone.press(site, request.id, other_code(request.display_code))
    assert info.value.tries_left == 4


def test_an_ars_verification_is_confirmed_only_by_the_call_and_sms_never_by_one(world, site):
    ars = world.phone.request(site, name=NAME, phone=PHONE, rrn7=RRN7, carrier="SKT",
                              method="ars")
    with pytest.raises(BankRequestError) as info:
        world.phone.confirm(site, ars.id, ars.display_code)
    assert info.value.field == "method"
    sms = world.ask(site)
    with pytest.raises(BankRequestError):
        world.phone.press(site, sms, "12")


def test_a_phone_blocking_the_ars_number_is_told_how_to_unblock(world):
    world.add_line(ars_blocked=True)
    site = world.site()
    with pytest.raises(ArsBlockedError) as info:
        world.ask(site, method="ars")
    assert info.value.code == "ars_blocked"
    assert "remove 1600-0000 from the phone's blocked numbers" in str(info.value)
    assert _sent(world, site) == ()
    world.ask(site)  # SMS still works
    world.lines.change(PHONE, ars_blocked=False)
    world.ask(site, method="ars")


# -- push protection ---------------------------------------------------------------------------


def test_push_protection_sends_codes_to_the_app_and_turns_sms_autofill_off(world, site):
    world.phone.enrol_app(PHONE, password=APP_PASSWORD)
    request = world.phone.request(site, name=NAME, phone=PHONE, rrn7=RRN7, carrier="SKT")
    assert (request.method, request.via, request.autofill) == (
        VerificationMethod.SMS, Via.APP, False)
    (push,) = _sent(world, site)
    assert push.via is Via.APP
    assert world.phone.confirm(site, request.id, last_code((push,))).name == NAME


def test_the_push_method_needs_the_app(world, site):
    with pytest.raises(PushNotEnrolledError) as info:
        world.ask(site, method="push")
    assert info.value.code == "push_not_enrolled"
    world.phone.enrol_app(PHONE, password=APP_PASSWORD)
    assert world.phone.request(site, name=NAME, phone=PHONE, rrn7=RRN7, carrier="SKT",
                               method="push").via is Via.APP


def test_push_protection_is_refused_to_a_minor_until_the_kst_birthday(world):
    born = dt.date(2007, 3, 17)  # 19 on 17 March 2026, KST
    world.add_line(rrn=synthetic_rrn(born).digits)
    with pytest.raises(PushIneligibleError) as info:
        world.phone.enrol_app(PHONE, password=APP_PASSWORD)
    assert info.value.code == "push_minor"
    world.clock.set(dt.datetime(2026, 3, 16, 14, 59, tzinfo=dt.UTC))  # 23:59 KST on the 16th
    with pytest.raises(PushIneligibleError):
        world.phone.enrol_app(PHONE, password=APP_PASSWORD)
    world.clock.set(dt.datetime(2026, 3, 16, 15, 0, tzinfo=dt.UTC))
    world.phone.enrol_app(PHONE, password=APP_PASSWORD)


def test_push_protection_is_refused_to_a_line_in_another_persons_name(world):
    world.add_line(other_name=True)
    with pytest.raises(PushIneligibleError) as info:
        world.phone.enrol_app(PHONE, password=APP_PASSWORD)
    assert (info.value.code, info.value.reason) == ("push_other_name", "other_name")
    assert world.store.phone_app(PHONE) is None


def test_the_app_keeps_the_last_twenty_verifications_readable_with_its_password(tmp_path):
    world = World(tmp_path, policy=PhonePolicy(sends_per_phone_day=30))
    world.add_line()
    site = world.site()
    world.phone.enrol_app(PHONE, password=APP_PASSWORD)
    other = world.site("other")
    asked = []
    for i in range(22):
        world.clock.advance(dt.timedelta(minutes=1))
        chosen = site if i % 2 else other
        asked.append(world.ask(chosen))
        if i == 21:
            world.phone.confirm(chosen, asked[-1], last_code(_sent(world, chosen)))
    history = world.phone.app_history(PHONE, password=APP_PASSWORD)
    assert [entry.verification for entry in history] == asked[:1:-1]
    assert history[0].verified and not history[1].verified
    assert history[0].site == "shop" and history[1].site == "other"


def test_a_wrong_app_password_is_counted_and_locks_the_app(world, site):
    world.phone.enrol_app(PHONE, password=APP_PASSWORD)
    left = []
    for _ in range(4):
        with pytest.raises(WrongAppPasswordError) as info:
            world.phone.app_history(PHONE, password="000000")
        left.append(info.value.attempts_left)
    assert left == [4, 3, 2, 1] and info.value.code == "wrong_app_password"
    with pytest.raises(AppLockedError):
        world.phone.app_history(PHONE, password="000000")
    with pytest.raises(AppLockedError) as locked:  # even the right one now
        world.phone.app_history(PHONE, password=APP_PASSWORD)
    assert locked.value.code == "app_locked"
    assert world.store.phone_app(PHONE).failures == 5
    world.phone.enrol_app(PHONE, password="135790")  # set up again
    assert world.phone.app_history(PHONE, password="135790") == ()


def test_a_right_app_password_clears_the_wrong_ones(world, site):
    world.phone.enrol_app(PHONE, password=APP_PASSWORD)
    with pytest.raises(WrongAppPasswordError):
        world.phone.app_history(PHONE, password="000000")
    world.phone.app_history(PHONE, password=APP_PASSWORD)
    assert world.store.phone_app(PHONE).failures == 0


def test_turning_push_protection_off_sends_codes_by_sms_again(world, site):
    world.phone.enrol_app(PHONE, password=APP_PASSWORD)
    with pytest.raises(WrongAppPasswordError):
        world.phone.remove_app(PHONE, password="000000")
    world.phone.remove_app(PHONE, password=APP_PASSWORD)
    assert world.phone.request(site, name=NAME, phone=PHONE, rrn7=RRN7,
                               carrier="SKT").via is Via.SMS
    with pytest.raises(PushNotEnrolledError):
        world.phone.app_history(PHONE, password=APP_PASSWORD)


@pytest.mark.parametrize("password", ["12345", "abcdef", None])
def test_an_app_password_is_six_digits(world, site, password):
    with pytest.raises(BankRequestError) as info:
        world.phone.enrol_app(PHONE, password=password)
    assert info.value.field == "password"


# -- the carrier side, settings, audit --------------------------------------------------------


def test_a_number_has_one_line(world, site):
    with pytest.raises(CustomerExistsError) as info:
        world.add_line()
    assert (info.value.code, info.value.field) == ("exists", "phone")


@pytest.mark.parametrize("changes, field", [
    ({"rrn": "9005171234567"}, "rrn"), ({"carrier": "SKM"}, "carrier"),
    ({"line_type": "suspended"}, "line_type"), ({"state": "gone"}, "state"),
    ({"name": " 홍"}, "name"), ({"mvno": ""}, "mvno"),
])
def test_a_bad_line_is_refused_naming_the_field(world, changes, field):
    with pytest.raises(BankRequestError) as info:
        world.add_line("01011112222", **changes)
    assert info.value.field == field
    assert world.store.subscriber_line("01011112222") is None


def test_changing_a_missing_line_is_not_found(world):
    with pytest.raises(BankNotFoundError) as info:
        world.lines.change(PHONE, state="lost")
    assert info.value.what == "line"


@pytest.mark.parametrize("config, key", [({"code_seconds": 0}, "code_seconds"),
                                         ({"tries": 3}, "tries"),
                                         ({"app_history": True}, "app_history")])
def test_a_bad_setting_is_refused_naming_it(config, key):
    with pytest.raises(BankSettingsError) as info:
        PhonePolicy.from_config(config)
    assert info.value.key == key


def test_the_defaults_are_the_documented_ones():
    policy = PhonePolicy.from_config({})
    assert (policy.code_digits, policy.code_lifetime, policy.tries_per_code,
            policy.sends_per_verification, policy.sends_per_phone_day, policy.app_history,
            policy.app_password_tries) == (6, dt.timedelta(minutes=3), 5, 5, 10, 20, 5)


def test_a_short_service_secret_is_refused(world):
    with pytest.raises(BankSettingsError):
        PhoneVerification(world.store, clock=world.clock, secret=b"short")


def test_every_refusal_is_a_phone_or_bank_refusal_with_a_code():
    for cls in (IdentityMismatchError, AppLockedError, PushNotEnrolledError):
        assert issubclass(cls, PhoneVerificationError)
        assert issubclass(cls, RequestRefusedError) and cls.code != "refused"


def test_audit_rows_carry_no_code_rrn_or_password(world, site):
    world.phone.enrol_app(PHONE, password=APP_PASSWORD)
    verification = world.ask(site)
    code = last_code(_sent(world, site))
    with pytest.raises(WrongPhoneCodeError):
        world.phone.confirm(site, verification, other_code(code))
    world.phone.confirm(site, verification, code)
    rows = world.store.audit_log()
    actions = {row.action for row in rows}
    assert {AuditAction.PHONE_LINE_ADDED, AuditAction.PHONE_APP_ENROLLED,
            AuditAction.PHONE_CODE_SENT, AuditAction.PHONE_CODE_WRONG,
            AuditAction.PHONE_VERIFIED} <= actions
    text = repr([row.detail for row in rows])
    for secret in (code, other_code(code), RRN, RRN7, APP_PASSWORD):
        assert secret not in text


# -- identity mismatches: a budget per phone and KST day ----------------------------------------


def _refusals(world, site, phone, count):
    """What ``count`` mismatching requests to ``phone`` get: (type, code, message)."""
    seen = []
    for _ in range(count):
        try:
            world.ask(site, phone=phone, name="김철수")
        except PhoneVerificationError as exc:
            seen.append((type(exc), exc.code, str(exc)))
    return seen


def test_identity_mismatches_are_bounded_per_phone_and_kst_day(tmp_path):
    world = World(tmp_path, policy=PhonePolicy(mismatches_per_phone_day=3))
    world.add_line()
    site, other = world.site(), world.site("other")
    for who in (site, other, site):  # every site's mismatches add up
        with pytest.raises(IdentityMismatchError):
            world.ask(who, name="김철수")
    with pytest.raises(MismatchLimitError) as info:
        world.ask(other, name="김철수")
    assert (info.value.code, info.value.limit) == ("mismatch_limit", 3)
    with pytest.raises(MismatchLimitError):  # the holder too, until the KST day turns
        world.ask(site)
    assert world.store.phone_mismatches(PHONE, T0 - dt.timedelta(days=1)) == 3
    world.clock.set(T0 + dt.timedelta(hours=19))  # 00:30 KST the next day
    assert world.ask(site)


def test_the_mismatch_budget_treats_a_number_without_a_line_the_same(tmp_path):
    world = World(tmp_path, policy=PhonePolicy(mismatches_per_phone_day=2))
    world.add_line()
    site = world.site()
    with_line = _refusals(world, site, PHONE, 4)
    without_line = _refusals(world, site, "01099998888", 4)
    assert with_line == without_line
    assert [kind for kind, _, _ in with_line] == [IdentityMismatchError] * 2 + [
        MismatchLimitError] * 2


def test_a_matching_request_counts_no_mismatch(world, site):
    world.ask(site)
    assert world.store.phone_mismatches(PHONE, T0 - dt.timedelta(days=1)) == 0


# -- the line at confirm -----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["sms", "ars"])
@pytest.mark.parametrize("state", ["suspended", "lost"])
def test_a_line_suspended_or_lost_after_the_request_refuses_the_confirm(world, site, method,
                                                                        state):
    request = world.phone.request(site, name=NAME, phone=PHONE, rrn7=RRN7, carrier="SKT",
                                  method=method)
    code = request.display_code or last_code(_sent(world, site))
    world.lines.change(PHONE, state=state)
    with pytest.raises(LineIneligibleError) as info:
        if method == "ars":
            world.phone.press(site, request.id, code)
        else:
            world.phone.confirm(site, request.id, code)
    assert info.value.code == f"line_{state}"
    record = world.store.phone_verification(request.id)
    assert (record.verified_at, record.tries) == (None, 0)  # nothing verified, nothing counted
    with pytest.raises(LineIneligibleError):
        world.phone.resend(site, request.id)


def test_a_number_given_to_another_holder_after_the_request_refuses_the_confirm(world, site):
    verification = world.ask(site)
    code = last_code(_sent(world, site))
    other = synthetic_rrn(dt.date(1985, 1, 1), female=True).digits
    with world.store.transaction() as tx:  # the carrier gives the number to someone else
        line = tx.subscriber_line(PHONE)
        tx.update_subscriber_line(dataclasses.replace(line, name="김영희", rrn=other))
    with pytest.raises(LineIneligibleError) as info:
        world.phone.confirm(site, verification, code)
    assert info.value.code == "line_reassigned"
    assert world.phone.status(site, verification).result is None


# -- ARS: a key press belongs to its site --------------------------------------------------------


def test_a_key_press_names_its_site_and_another_sites_is_not_found(world, site):
    other = world.site("other")
    request = world.phone.request(site, name=NAME, phone=PHONE, rrn7=RRN7, carrier="SKT",
                                  method="ars")
    with pytest.raises(BankNotFoundError):
        world.phone.press(other, request.id, request.display_code)
    assert world.store.phone_verification(request.id).tries == 0
    world.phone.press(site, request.id, request.display_code)
    assert world.phone.status(site, request.id).state is VerificationState.VERIFIED


# -- the DI follows the site's code, not its name ------------------------------------------------


def test_the_di_follows_the_sites_code_not_its_name(world, site):
    hana, _ = add_bank(world.store, "081", at=T0)
    renamed = dataclasses.replace(hana, name="하나은행 (new name)")
    assert world.phone.di(RRN, renamed) == world.phone.di(RRN, hana)
    assert world.phone.di(RRN, dataclasses.replace(site, name="shop, renamed")) == \
        world.phone.di(RRN, site)
    kb, _ = add_bank(world.store, "004", at=T0, name="shop, renamed")
    assert world.phone.di(RRN, kb) != world.phone.di(RRN, site)  # the same name, other DIs
    # a site with a code and one whose id is that number differ too
    assert world.phone.di(RRN, dataclasses.replace(site, id=81)) != world.phone.di(RRN, hana)


# -- the app password's KDF runs outside the store's write lock ------------------------------------


def test_the_app_password_kdf_runs_outside_the_write_lock(world, site, monkeypatch):
    world.phone.enrol_app(PHONE, password=APP_PASSWORD)
    others_could_write = watch_kdf_for_the_write_lock(monkeypatch, world.store)
    world.phone.app_history(PHONE, password=APP_PASSWORD)
    with pytest.raises(WrongAppPasswordError):
        world.phone.app_history(PHONE, password="000000")
    assert others_could_write and all(others_could_write)
    assert world.store.phone_app(PHONE).failures == 1
