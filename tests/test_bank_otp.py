"""OTP (issue 14 item 3): the RFC vectors, and one test per rule of :mod:`pki.bank.otp`.

Vectors: RFC 4226 appendix D (HOTP, secret "12345678901234567890") and RFC 6238
appendix B (TOTP, 8 digits, 30-second step, SHA-1/256/512 with the 20/32/64-byte seeds).
"""

from __future__ import annotations

import datetime as dt
import sqlite3

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.twofactor.totp import TOTP
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pki.bank.media import MediumKind, MediumOutcome
from pki.bank.otp import OtpGenerator, OtpKind, OtpSettings, otp_media, person_of
from pki.clock import KST
from pki.errors import (
    BankNotFoundError,
    BankRequestError,
    BankSettingsError,
    OtpActivationExpiredError,
    OtpDeviceError,
    OtpDisabledError,
    OtpLockedError,
    OtpLostError,
    OtpNotActivatedError,
    OtpNotUsableHereError,
    OtpReplayError,
    RequestRefusedError,
    WrongOtpError,
)
from pki.store import AuditAction, SecurityCardRecord
from pki.store.sqlite import SQLiteStore

from .bank_otp_helpers import OTHER_RRN, RRN, SECRET, World, make_world
from .store_probe import holds

MINUTE = dt.timedelta(minutes=1)

# -- the vectors ---------------------------------------------------------------------------

RFC4226_SECRET = b"12345678901234567890"
RFC4226_HOTP = ["755224", "287082", "359152", "969429", "338314", "254676", "287922",
                "162583", "399871", "520489"]

RFC6238_SEEDS = {
    "SHA1": b"12345678901234567890",
    "SHA256": b"12345678901234567890123456789012",
    "SHA512": b"1234567890123456789012345678901234567890123456789012345678901234",
}
RFC6238_TOTP = {  # Unix time -> SHA1, SHA256, SHA512
    59: ("94287082", "46119246", "90693936"),
    1111111109: ("07081804", "68084774", "25091201"),
    1111111111: ("14050471", "67062674", "99943326"),
    1234567890: ("89005924", "91819424", "93441116"),
    2000000000: ("69279037", "90698825", "38618901"),
    20000000000: ("65353130", "77737706", "47863826"),
}
_HASHES = {"SHA1": hashes.SHA1, "SHA256": hashes.SHA256, "SHA512": hashes.SHA512}


@pytest.mark.parametrize("counter", range(10))
def test_codes_are_rfc4226_hotp(counter):
    assert OtpSettings().code(RFC4226_SECRET, counter) == RFC4226_HOTP[counter]


@pytest.mark.parametrize("algorithm", ["SHA1", "SHA256", "SHA512"])
@pytest.mark.parametrize("unix", sorted(RFC6238_TOTP))
def test_codes_are_rfc6238_totp(algorithm, unix):
    settings = OtpSettings(digits=8, step=dt.timedelta(seconds=30), algorithm=algorithm)
    at = dt.datetime.fromtimestamp(unix, dt.UTC)
    expected = RFC6238_TOTP[unix][["SHA1", "SHA256", "SHA512"].index(algorithm)]
    seed = RFC6238_SEEDS[algorithm]
    assert OtpGenerator(seed, settings).code(at) == expected
    # the same as cryptography's own TOTP computes it
    totp = TOTP(seed, 8, _HASHES[algorithm](), 30, enforce_key_length=False)
    assert totp.generate(unix).decode() == expected


# -- the world ---------------------------------------------------------------------------------


@pytest.fixture
def world(tmp_path) -> World:
    w = make_world(tmp_path)
    yield w
    w.store.close()


def _audit(world, action):
    return [e for e in world.store.audit_log() if e.action == action]


# -- hardware OTP: codes, windows, replays ------------------------------------------------------


def test_a_right_code_is_accepted_once_and_its_replay_is_refused_uncounted(world):
    kb = world.customer("KB")
    otp = world.centre.issue_hardware(kb)
    code = otp.code(world.clock.now())
    accepted = world.centre.verify(kb, otp.serial, code)
    assert accepted.serial == otp.serial and accepted.kind is OtpKind.HARDWARE
    with pytest.raises(OtpReplayError) as info:
        world.centre.verify(kb, otp.serial, code)
    assert info.value.code == "otp_replayed"
    assert world.centre.status(kb, otp.serial).failures == 0
    world.clock.advance(MINUTE)  # the next step's code is good
    world.centre.verify(kb, otp.serial, otp.code(world.clock.now()))


def test_an_earlier_steps_code_after_a_later_one_is_a_replay(world):
    kb = world.customer("KB")
    otp = world.centre.issue_hardware(kb)
    now = world.clock.now()
    world.centre.verify(kb, otp.serial, otp.code(now + MINUTE))  # one step ahead: in window
    with pytest.raises(OtpReplayError):
        world.centre.verify(kb, otp.serial, otp.code(now))
    assert world.centre.status(kb, otp.serial).failures == 0


@pytest.mark.parametrize(("offset", "accepted"), [(-1, True), (1, True), (-2, False),
                                                  (2, False)])
def test_a_code_one_step_either_side_is_accepted_two_steps_away_is_wrong(world, offset,
                                                                         accepted):
    kb = world.customer("KB")
    otp = world.centre.issue_hardware(kb)
    code = otp.code(world.clock.now() + offset * MINUTE)
    if accepted:
        assert world.centre.verify(kb, otp.serial, code).drift == offset
    else:
        with pytest.raises(WrongOtpError) as info:
            world.centre.verify(kb, otp.serial, code)
        assert info.value.attempts_left == 9 and info.value.code == "wrong_otp"


def test_drift_is_learned_per_token(world):
    """A token whose clock gains a minute at a time keeps working: each accepted code moves
    the window's centre to it. Another token keeps its own window."""
    kb = world.customer("KB")
    fast = world.centre.issue_hardware(kb)
    steady = world.centre.issue_hardware(kb)
    for gained in (1, 2, 3):
        world.clock.advance(10 * MINUTE)
        token = fast.generator.drifted(gained * MINUTE)
        assert world.centre.verify(kb, fast.serial,
                                   token.code(world.clock.now())).drift == gained
    assert world.centre.status(kb, fast.serial).drift == 3
    with pytest.raises(WrongOtpError):  # two steps off for a token that never drifted
        world.centre.verify(kb, steady.serial, steady.code(world.clock.now() + 2 * MINUTE))
    assert world.centre.status(kb, steady.serial).drift == 0


def test_resynchronisation_from_two_consecutive_codes(world):
    kb = world.customer("KB")
    otp = world.centre.issue_hardware(kb)
    adrift = otp.generator.drifted(20 * MINUTE)  # a token left in a drawer for years
    now = world.clock.now()
    with pytest.raises(WrongOtpError):
        world.centre.verify(kb, otp.serial, adrift.code(now))
    first, second = adrift.code(now), adrift.code(now + MINUTE)
    accepted = world.centre.resynchronise(kb, otp.serial, first, second)
    assert accepted.drift == 21  # the second code's step, a minute after the clock's
    status = world.centre.status(kb, otp.serial)
    assert (status.drift, status.failures) == (21, 0)
    world.clock.advance(3 * MINUTE)
    world.centre.verify(kb, otp.serial, adrift.code(world.clock.now()))
    with pytest.raises(OtpReplayError):  # the pair cannot be used again
        world.centre.resynchronise(kb, otp.serial, first, second)
    assert [e.detail["drift"] for e in _audit(world, AuditAction.BANK_OTP_RESYNCHRONISED)
            ] == [21]


def test_resynchronisation_with_codes_that_are_not_consecutive_is_one_wrong_attempt(world):
    kb = world.customer("KB")
    otp = world.centre.issue_hardware(kb)
    now = world.clock.now()
    with pytest.raises(WrongOtpError) as info:
        world.centre.resynchronise(kb, otp.serial, otp.code(now), otp.code(now + 2 * MINUTE))
    assert info.value.attempts_left == 9
    assert world.centre.status(kb, otp.serial).drift == 0


# -- one failure count across institutions; locks; losses ----------------------------------


def _register_at(world, bank, otp):
    customer = world.customer(bank)
    world.clock.advance(MINUTE)
    world.centre.register(customer, otp.serial, otp.code(world.clock.now()))
    return customer


def test_wrong_codes_at_every_institution_add_up_and_the_tenth_locks_everywhere(world):
    kb = world.customer("KB")
    otp = world.centre.issue_hardware(kb)
    hana = _register_at(world, "Hana", otp)
    wrong = _wrong(otp.code(world.clock.now()))
    left = []
    for n in range(9):
        with pytest.raises(WrongOtpError) as info:
            world.centre.verify(kb if n % 2 else hana, otp.serial, wrong)
        left.append(info.value.attempts_left)
    assert left == [9, 8, 7, 6, 5, 4, 3, 2, 1]
    with pytest.raises(OtpLockedError) as locked:
        world.centre.verify(hana, otp.serial, wrong)
    assert (locked.value.code, locked.value.failures) == ("otp_locked", 10)
    world.clock.advance(MINUTE)
    for customer in (kb, hana):  # a right code, anywhere, is refused now
        with pytest.raises(OtpLockedError):
            world.centre.verify(customer, otp.serial, otp.code(world.clock.now()))
    assert world.centre.status(kb, otp.serial).failures == 10
    assert len(_audit(world, AuditAction.BANK_OTP_WRONG)) == 9
    assert len(_audit(world, AuditAction.BANK_OTP_LOCKED)) == 1


def test_a_right_code_clears_the_count_of_wrong_ones(world):
    kb = world.customer("KB")
    otp = world.centre.issue_hardware(kb)
    for _ in range(3):
        with pytest.raises(WrongOtpError):
            world.centre.verify(kb, otp.serial, _wrong(otp.code(world.clock.now())))
    world.centre.verify(kb, otp.serial, otp.code(world.clock.now()))
    assert world.centre.status(kb, otp.serial).failures == 0


def test_a_lock_never_clears_by_itself_only_at_a_branch(world):
    settings = OtpSettings(lock_after=2)
    kb = world.customer("KB")
    centre = world.centre_for(world.store, settings)
    otp = centre.issue_hardware(kb)
    for _ in range(2):
        with pytest.raises(RequestRefusedError):
            centre.verify(kb, otp.serial, _wrong(otp.code(world.clock.now())))
    world.clock.advance(dt.timedelta(days=400))
    with pytest.raises(OtpLockedError):
        centre.verify(kb, otp.serial, otp.code(world.clock.now()))
    with pytest.raises(BankRequestError):
        centre.reset_failures(kb, otp.serial, operator=" ")
    centre.reset_failures(kb, otp.serial, operator="branch-081-teller-7")
    centre.verify(kb, otp.serial, otp.code(world.clock.now()))
    (reset,) = _audit(world, AuditAction.BANK_OTP_RESET)
    assert reset.detail["operator"] == "branch-081-teller-7"
    assert reset.detail["failures"] == 2


def test_a_loss_reported_at_one_institution_stops_the_token_everywhere(world):
    kb = world.customer("KB")
    otp = world.centre.issue_hardware(kb)
    hana = _register_at(world, "Hana", otp)
    world.centre.report_lost(hana, otp.serial)
    world.centre.report_lost(hana, otp.serial)  # twice: one audit row
    world.clock.advance(MINUTE)
    for customer in (kb, hana):
        with pytest.raises(OtpLostError) as info:
            world.centre.verify(customer, otp.serial, otp.code(world.clock.now()))
        assert info.value.code == "otp_lost"
    world.centre.reset_failures(kb, otp.serial, operator="teller")
    with pytest.raises(OtpLostError):  # a branch reset does not bring it back
        world.centre.verify(kb, otp.serial, otp.code(world.clock.now()))
    assert len(_audit(world, AuditAction.BANK_OTP_LOST)) == 1


def test_a_token_is_unknown_where_it_is_not_registered_and_to_other_people(world):
    kb = world.customer("KB")
    otp = world.centre.issue_hardware(kb)
    code = otp.code(world.clock.now())
    for customer in (world.customer("Hana"), world.customer("KB", OTHER_RRN)):
        with pytest.raises(BankNotFoundError) as info:
            world.centre.verify(customer, otp.serial, code)
        assert info.value.code == "not_found"
    with pytest.raises(BankNotFoundError):  # someone else cannot register it either
        world.centre.register(world.customer("Hana", OTHER_RRN), otp.serial, code)
    with pytest.raises(BankNotFoundError):
        world.centre.verify(kb, "not-a-serial", code)
    assert world.centre.status(kb, otp.serial).failures == 0


def test_registering_at_another_institution_takes_a_right_code_and_a_wrong_one_counts(world):
    kb = world.customer("KB")
    otp = world.centre.issue_hardware(kb)
    hana = world.customer("Hana")
    with pytest.raises(WrongOtpError):
        world.centre.register(hana, otp.serial, _wrong(otp.code(world.clock.now())))
    with pytest.raises(BankNotFoundError):  # not registered by the wrong code
        world.centre.status(hana, otp.serial)
    world.centre.register(hana, otp.serial, otp.code(world.clock.now()))
    assert world.centre.status(hana, otp.serial).failures == 0
    with pytest.raises(BankRequestError):
        world.centre.register(hana, otp.serial, otp.code(world.clock.now() + MINUTE))


# -- bank mobile OTP -------------------------------------------------------------------------------


def test_a_mobile_otp_is_usable_only_at_its_bank(world):
    hana = world.customer("Hana")
    otp = world.centre.issue_mobile(hana, device="phone-1")
    world.centre.activate(hana, otp.serial, otp.code(world.clock.now()), device="phone-1")
    with pytest.raises(OtpNotUsableHereError) as info:
        world.centre.register(world.customer("KB"), otp.serial,
                              otp.code(world.clock.now() + MINUTE))
    assert (info.value.code, info.value.kind) == ("otp_not_usable_here", "mobile")
    with pytest.raises(BankNotFoundError):
        world.centre.verify(world.customer("KB"), otp.serial,
                            otp.code(world.clock.now() + MINUTE), device="phone-1")


def test_a_mobile_otp_is_bound_to_the_device_it_was_issued_to(world):
    hana = world.customer("Hana")
    otp = world.centre.issue_mobile(hana, device="phone-1")
    code = otp.code(world.clock.now())
    with pytest.raises(OtpDeviceError) as info:
        world.centre.activate(hana, otp.serial, code, device="phone-2")
    assert info.value.code == "otp_wrong_device"
    world.centre.activate(hana, otp.serial, code, device="phone-1")
    world.clock.advance(MINUTE)
    with pytest.raises(OtpDeviceError):
        world.centre.verify(hana, otp.serial, otp.code(world.clock.now()), device=None)
    world.centre.verify(hana, otp.serial, otp.code(world.clock.now()), device="phone-1")
    assert world.centre.status(hana, otp.serial).failures == 0


def test_a_mobile_otp_is_refused_until_activated(world):
    hana = world.customer("Hana")
    otp = world.centre.issue_mobile(hana, device="phone-1")
    with pytest.raises(OtpNotActivatedError) as info:
        world.centre.verify(hana, otp.serial, otp.code(world.clock.now()), device="phone-1")
    assert info.value.code == "otp_not_activated"
    assert info.value.activate_by == dt.datetime(2026, 5, 13, 23, 59, 59, tzinfo=KST)
    now = world.clock.now()
    with pytest.raises(OtpNotActivatedError):
        world.centre.resynchronise(hana, otp.serial, otp.code(now),
                                   otp.code(now + dt.timedelta(seconds=30)), device="phone-1")
    assert world.centre.status(hana, otp.serial).failures == 0


@pytest.mark.parametrize(("issued", "last_moment"), [
    (dt.datetime(2026, 5, 11, 23, 30, tzinfo=KST), dt.datetime(2026, 5, 13, 23, 59, 59,
                                                               tzinfo=KST)),
    (dt.datetime(2026, 5, 12, 0, 0, tzinfo=KST), dt.datetime(2026, 5, 14, 23, 59, 59,
                                                             tzinfo=KST)),
])
def test_a_mobile_otp_is_activated_within_three_days_counting_the_issue_day(world, issued,
                                                                           last_moment):
    hana = world.customer("Hana")
    world.clock.set(issued)
    late = world.centre.issue_mobile(hana, device="phone-1")
    world.clock.set(last_moment + dt.timedelta(seconds=1))
    with pytest.raises(OtpActivationExpiredError) as info:
        world.centre.activate(hana, late.serial, late.code(world.clock.now()),
                              device="phone-1")
    assert info.value.code == "otp_activation_expired"
    assert info.value.deadline == last_moment
    world.clock.set(issued)
    in_time = world.centre.issue_mobile(hana, device="phone-1")  # the reissue
    world.clock.set(last_moment)
    world.centre.activate(hana, in_time.serial, in_time.code(world.clock.now()),
                          device="phone-1")
    assert world.centre.status(hana, in_time.serial).activated
    assert len(_audit(world, AuditAction.BANK_OTP_ACTIVATED)) == 1


def test_issuing_a_mobile_otp_disables_the_earlier_media_at_that_bank(world):
    hana, kb = world.customer("Hana"), world.customer("KB")
    hardware = world.centre.issue_hardware(kb)
    _register_at(world, "Hana", hardware)
    with world.store.transaction() as tx:
        tx.add_security_card(SecurityCardRecord(
            id="card-1", institution_id=hana.institution_id, customer_id=hana.id,
            serial="123456", codes=("2442",) * 35, issued_at=world.clock.now()))
    first = world.centre.issue_mobile(hana, device="phone-1")
    world.centre.activate(hana, first.serial, first.code(world.clock.now()), device="phone-1")
    world.clock.advance(MINUTE)
    second = world.centre.issue_mobile(hana, device="phone-2")  # a new phone: reissue
    now = world.clock.now()
    with pytest.raises(OtpDisabledError) as info:
        world.centre.verify(hana, first.serial, first.code(now), device="phone-1")
    assert info.value.code == "otp_disabled"
    with pytest.raises(BankNotFoundError):  # the hardware OTP no longer at Hana ...
        world.centre.verify(hana, hardware.serial, hardware.code(now))
    world.centre.verify(kb, hardware.serial, hardware.code(now))  # ... still at KB
    assert world.store.active_security_card(hana.id) is None
    world.centre.activate(hana, second.serial, second.code(now + MINUTE), device="phone-2")
    assert [s.serial for s in world.centre.tokens_of(hana)] == [first.serial, second.serial]


# -- shared digital OTP ----------------------------------------------------------------------------


def test_one_digital_otp_per_person_a_new_phone_disables_the_old_app_everywhere(world):
    kb, hana = world.customer("KB"), world.customer("Hana")
    old = world.centre.issue_digital(kb, device="old-phone")
    world.centre.register(hana, old.serial, old.code(world.clock.now()))
    world.clock.advance(MINUTE)
    new = world.centre.issue_digital(hana, device="new-phone")
    now = world.clock.now()
    for customer in (kb, hana):
        with pytest.raises(OtpDisabledError):
            world.centre.verify(customer, old.serial, old.code(now), device="old-phone")
    world.centre.verify(hana, new.serial, new.code(now), device="new-phone")
    other = world.centre.issue_digital(world.customer("KB", OTHER_RRN), device="phone-x")
    assert not world.centre.status(world.customer("KB", OTHER_RRN), other.serial).disabled


def test_a_digital_otp_is_usable_at_participating_institutions_only(tmp_path):
    world = make_world(tmp_path, participating=("KB", "Hana"))
    try:
        kb = world.customer("KB")
        otp = world.centre.issue_digital(kb, device="phone")
        world.centre.register(world.customer("Hana"), otp.serial,
                              otp.code(world.clock.now()))
        with pytest.raises(OtpNotUsableHereError):
            world.centre.register(world.customer("Woori"), otp.serial,
                                  otp.code(world.clock.now() + MINUTE))
        with pytest.raises(OtpNotUsableHereError):
            world.centre.issue_digital(world.customer("Woori"), device="phone")
    finally:
        world.store.close()


# -- bad input, settings, secrets ---------------------------------------------------------------


@pytest.mark.parametrize("code", ["12345", "1234567", "12345a", " 123456", "١٢٣٤٥٦", 123456,
                                  None, b"123456"])
def test_a_code_that_is_not_six_digits_is_a_request_error_and_counts_nothing(world, code):
    kb = world.customer("KB")
    otp = world.centre.issue_hardware(kb)
    with pytest.raises(BankRequestError) as info:
        world.centre.verify(kb, otp.serial, code)
    assert (info.value.code, info.value.field) == ("bad_request", "code")
    assert world.centre.status(kb, otp.serial).failures == 0


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(code=st.one_of(st.text(max_size=12), st.binary(max_size=8), st.integers(),
                      st.none()))
def test_any_code_but_six_ascii_digits_is_refused_before_it_is_compared(world, code):
    """Whatever arrives as a code, it is a request error or a compared code: never a crash,
    and only six ASCII digits are ever compared (and counted when wrong)."""
    kb = world.customer("KB")
    token = world.store.otp_tokens(institution_id=kb.institution_id, customer_id=kb.id)
    serial = token[0].serial if token else world.centre.issue_hardware(kb).serial
    before = world.store.otp_token(serial)
    six_digits = (isinstance(code, str) and len(code) == 6 and code.isascii()
                  and code.isdigit())
    try:
        world.centre.verify(kb, serial, code)
    except BankRequestError as exc:
        assert not six_digits and exc.field == "code"
        assert world.store.otp_token(serial) == before
    except RequestRefusedError:
        assert six_digits
    else:
        assert six_digits
    world.centre.reset_failures(kb, serial, operator="hypothesis")


@pytest.mark.parametrize(("key", "value"), [
    ("digits", 5), ("digits", 9), ("step", dt.timedelta(0)), ("algorithm", "MD5"),
    ("drift_window", -1), ("lock_after", 0), ("resync_window", 0), ("seed_bytes", 8)])
def test_settings_out_of_range_are_refused_by_name(key, value):
    with pytest.raises(BankSettingsError) as info:
        OtpSettings(**{key: value})
    assert info.value.key == key


def test_seeds_are_stored_sealed_and_never_shown(world):
    kb = world.customer("KB")
    seed = bytes(range(100, 120))
    otp = world.centre.issue_hardware(kb, seed=seed, serial="0012345678")
    world.centre.verify(kb, otp.serial, otp.code(world.clock.now()))
    assert seed.hex() not in repr(otp) and str(seed) not in repr(otp)
    token = world.store.otp_token("0012345678")
    assert seed not in token.sealed_seed and "sealed_seed" not in repr(token)
    assert not holds(world.store, seed)
    if isinstance(world.store, SQLiteStore):  # not even in a free page of the file
        with sqlite3.connect(world.path) as conn:
            conn.execute("PRAGMA wal_checkpoint(FULL)")
        assert seed not in world.path.read_bytes()
    assert RRN not in world.store.otp_token("0012345678").person
    assert token.person == person_of(SECRET, RRN)
    for event in world.store.audit_log():
        assert seed.hex() not in str(event.detail) and RRN not in str(event.detail)


def test_an_issued_serial_is_never_issued_twice(world):
    kb = world.customer("KB")
    world.centre.issue_hardware(kb, serial="0012345678")
    with pytest.raises(BankRequestError) as info:
        world.centre.issue_hardware(world.customer("Hana"), serial="0012345678")
    assert info.value.field == "serial"


def test_the_medium_interface_verifies_a_code_of_the_token(world):
    hana = world.customer("Hana")
    otp = world.centre.issue_mobile(hana, device="phone-1")
    world.centre.activate(hana, otp.serial, otp.code(world.clock.now()), device="phone-1")
    medium = world.centre.medium(hana, otp.serial, device="phone-1")
    assert medium.kind is MediumKind.MOBILE_OTP
    later = world.clock.now() + MINUTE
    assert medium.verify(otp.code(later), at=later) == MediumOutcome(
        MediumKind.MOBILE_OTP, True)
    assert medium.verify(otp.code(later), at=later) == MediumOutcome(
        MediumKind.MOBILE_OTP, False, "otp_replayed")
    assert medium.verify(_wrong(otp.code(later)), at=later) == MediumOutcome(
        MediumKind.MOBILE_OTP, False, "wrong_otp", 9)
    assert world.centre.medium(hana, otp.serial, device="phone-2").verify(
        otp.code(later + MINUTE), at=later + MINUTE) == MediumOutcome(
        MediumKind.MOBILE_OTP, False, "otp_wrong_device")
    with pytest.raises(BankNotFoundError):
        world.centre.medium(world.customer("KB"), otp.serial).verify(otp.code(later))


def test_only_usable_tokens_give_limits(world):
    """Losing or locking an OTP leaves the limits of what remains (pki.bank.limits)."""
    kb = world.customer("KB")
    hardware = world.centre.issue_hardware(kb)
    digital = world.centre.issue_digital(kb, device="phone")
    assert sorted(k.value for k in otp_media(world.store, kb)) == ["digital-otp", "otp"]
    world.centre.report_lost(kb, hardware.serial)
    assert list(otp_media(world.store, kb)) == [MediumKind.DIGITAL_OTP]
    centre = world.centre_for(world.store, OtpSettings(lock_after=1))
    with pytest.raises(OtpLockedError):
        centre.verify(kb, digital.serial, _wrong(digital.code(world.clock.now())),
                      device="phone")
    assert list(otp_media(world.store, kb)) == []
    hana = world.customer("Hana")
    mobile = world.centre.issue_mobile(hana, device="phone")
    assert list(otp_media(world.store, hana)) == []  # not activated yet
    world.centre.activate(hana, mobile.serial, mobile.code(world.clock.now()), device="phone")
    assert list(otp_media(world.store, hana)) == [MediumKind.MOBILE_OTP]


def _wrong(code: str) -> str:
    """A code that is not ``code``. (It could equal a neighbouring step's code, one
    chance in 330,000; the seeds here are fixed, and it equals none.)"""
    return f"{(int(code) + 500000) % 1000000:06d}"


def test_taking_the_digital_otp_is_an_institution_setting():
    from pki.bank.institutions import BankSettings

    assert BankSettings().digital_otp is True
    assert BankSettings.from_config({"digital_otp": False}).to_config() == {
        "digital_otp": False}
    with pytest.raises(BankSettingsError) as info:
        BankSettings.from_config({"digital_otp": "yes"})
    assert info.value.key == "digital_otp"


def test_a_centre_with_another_secret_refuses_to_verify_and_counts_nothing(world):
    from pki.bank.otp import OtpCentre
    from pki.errors import VaultError

    kb = world.customer("KB")
    otp = world.centre.issue_hardware(kb)
    stranger = OtpCentre(world.store, world.clock, secret=bytes(32))
    with pytest.raises(VaultError):
        stranger.verify(kb, otp.serial, otp.code(world.clock.now()))
    with pytest.raises(VaultError):
        stranger.verify(kb, otp.serial, _wrong(otp.code(world.clock.now())))
    assert world.centre.status(kb, otp.serial).failures == 0
    world.centre.verify(kb, otp.serial, otp.code(world.clock.now()))  # not used up


# -- the bank's clock, the bank's settings, the bank's errors ------------------------------------


def test_the_bank_clock_decides_whatever_time_the_caller_gives(world):
    kb = world.customer("KB")
    otp = world.centre.issue_hardware(kb)
    then = world.clock.now()
    code = otp.code(then)
    world.clock.advance(5 * MINUTE)
    with pytest.raises(WrongOtpError):  # a code five minutes old, whatever `at` says
        world.centre.verify(kb, otp.serial, code, at=then)
    outcome = world.centre.medium(kb, otp.serial).verify(otp.code(then + MINUTE),
                                                         at=then + MINUTE)
    assert (outcome.accepted, outcome.code) == (False, "wrong_otp")
    assert world.centre.status(kb, otp.serial).failures == 2


def test_a_mobile_otps_activation_days_are_its_banks_setting(world):
    with world.store.transaction() as tx:
        tx.set_institution_settings(world.banks["Hana"], {"mobile_otp_activation_days": 5})
    hana, kb = world.customer("Hana"), world.customer("KB")
    at_hana = world.centre.issue_mobile(hana, device="phone-1")
    at_kb = world.centre.issue_mobile(kb, device="phone-1")
    # issued Monday 11 May 10:00 KST: Hana counts 5 days, KB the default 3
    assert world.centre.status(hana, at_hana.serial).activate_by == dt.datetime(
        2026, 5, 15, 23, 59, 59, tzinfo=KST)
    assert world.centre.status(kb, at_kb.serial).activate_by == dt.datetime(
        2026, 5, 13, 23, 59, 59, tzinfo=KST)
    world.clock.set(dt.datetime(2026, 5, 15, 23, 0, tzinfo=KST))
    world.centre.activate(hana, at_hana.serial, at_hana.code(world.clock.now()),
                          device="phone-1")
    with pytest.raises(OtpActivationExpiredError):
        world.centre.activate(kb, at_kb.serial, at_kb.code(world.clock.now()),
                              device="phone-1")


@pytest.mark.parametrize("value", [0, 31, "3", True])
def test_the_activation_days_setting_is_bounded(value):
    from pki.bank.institutions import BankSettings

    with pytest.raises(BankSettingsError) as info:
        BankSettings.from_config({"mobile_otp_activation_days": value})
    assert info.value.key == "mobile_otp_activation_days"


def test_a_seed_sealed_under_another_secret_is_a_bank_refusal_with_a_stable_code(world):
    from pki.bank.otp import OtpCentre
    from pki.errors import BankError, OtpSealedUnderOtherSecretError, VaultError

    kb = world.customer("KB")
    otp = world.centre.issue_hardware(kb)
    stranger = OtpCentre(world.store, world.clock, secret=bytes(32))
    with pytest.raises(OtpSealedUnderOtherSecretError) as info:
        stranger.verify(kb, otp.serial, otp.code(world.clock.now()))
    assert isinstance(info.value, BankError) and isinstance(info.value, VaultError)
    assert (info.value.code, info.value.serial) == ("vault_secret", otp.serial)
    with pytest.raises(OtpSealedUnderOtherSecretError):  # the medium cannot evaluate: raises
        stranger.medium(kb, otp.serial).verify(otp.code(world.clock.now()))
    assert world.centre.status(kb, otp.serial).failures == 0


def test_a_short_centre_secret_is_a_settings_error_naming_it(world):
    from pki.bank.otp import OtpCentre

    with pytest.raises(BankSettingsError) as info:
        OtpCentre(world.store, world.clock, secret=bytes(31))
    assert info.value.key == "secret"
