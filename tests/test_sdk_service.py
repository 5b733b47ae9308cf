"""The browser SDK's operations on a frozen clock, in process (pki.cloud.sdk): sessions
expire, pads expire and are answered once even at the same moment, issue / renew / change
PIN / revoke through pads, and the audit rows of a connection."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from pki.cloud.sdk import (
    PAD_LIFETIME,
    PURGE_BATCH,
    SESSION_LIFETIME,
    FinCertSdk,
    PadAnswer,
    SignRequest,
    add_sdk_institution,
    disallow_origin,
)
from pki.cloud.vault import KDFParams
from pki.errors import (
    CloudNotFoundError,
    NotConnectedError,
    PadError,
    PinBusyError,
    PinPolicyError,
    PKIError,
    RenewalNotDueError,
    SdkSessionError,
    SsnMismatchError,
    WrongPinError,
)
from pki.rrn import synthetic_rrn
from pki.store import AuditAction, CertStatus

from .cloud_helpers import BIRTH, PIN, RRN, sent_code

PAGE = "http://page.test:8000"
DEVICE = "device-1"


@pytest.fixture
def sdk(home, monkeypatch):
    monkeypatch.setenv("KPKI_VAULT_SECRET", "ab" * 32)
    return FinCertSdk(home.cloud_factory(passphrase=None, kdf=KDFParams(n=2**4, r=8, p=1))())


@pytest.fixture
def bank(sdk):
    institution = sdk.cloud.authenticate(sdk.cloud.add_institution("bank"))
    key = add_sdk_institution(sdk.store, institution, "D0000001", origins=[PAGE],
                              at=sdk.clock.now())
    return institution, key


def _connected(sdk, bank, phone="01012345678"):
    institution, key = bank
    token, session = sdk.open_session(org_code="D0000001", sdk_key=key, origin=PAGE,
                                      device=DEVICE)
    sdk.connect(session, institution, name="홍길동", phone=phone, birth_date=BIRTH)
    session, _ = sdk.session(token, origin=PAGE, device=DEVICE)
    sdk.confirm(session, institution, sent_code(sdk.cloud, institution, phone))
    return token, sdk.session(token, origin=PAGE, device=DEVICE)[0]


def _pin(sdk, session, pin=PIN):
    pad = sdk.new_pad(session)
    return PadAnswer(pad.id, tuple(pad.layout.index(d) for d in pin))


def _issued(sdk, bank, session):
    return sdk.issue(session, bank[0], ssn=RRN, kind="personal", pin=_pin(sdk, session),
                     pin_confirm=_pin(sdk, session))


def test_a_session_expires_after_its_lifetime(sdk, bank):
    token, _ = _connected(sdk, bank)
    sdk.clock.advance(SESSION_LIFETIME - dt.timedelta(seconds=1))
    sdk.session(token, origin=PAGE, device=DEVICE)
    sdk.clock.advance(dt.timedelta(seconds=1))
    with pytest.raises(SdkSessionError):
        sdk.session(token, origin=PAGE, device=DEVICE)


def test_an_origin_taken_off_the_list_ends_its_sessions(sdk, bank):
    token, _ = _connected(sdk, bank)
    assert disallow_origin(sdk.store, "D0000001", PAGE, at=sdk.clock.now())
    with pytest.raises(SdkSessionError):
        sdk.session(token, origin=PAGE, device=DEVICE)


def test_a_pad_expires_and_is_spent_all_the_same(sdk, bank):
    _, session = _connected(sdk, bank)
    issued = _issued(sdk, bank, session)
    answer = _pin(sdk, session)
    sdk.clock.advance(PAD_LIFETIME)
    request = SignRequest((b"x",))
    with pytest.raises(PadError) as info:
        sdk.sign(session, bank[0], issued.serial, answer, request)
    assert info.value.code == "pad_expired"
    with pytest.raises(PadError) as info:
        sdk.sign(session, bank[0], issued.serial, answer, request)
    assert info.value.code == "pad_used"


def test_expired_sessions_and_pads_are_purged_as_new_ones_are_written(sdk, bank):
    """Sessions and pads do not pile up: a write of a new one purges what has expired (a
    bounded batch), an ended session too; live ones stay."""
    institution, key = bank
    _, old_session = sdk.open_session(org_code="D0000001", sdk_key=key, origin=PAGE,
                                      device=DEVICE)
    _, ended = sdk.open_session(org_code="D0000001", sdk_key=key, origin=PAGE,
                                device="device-2")
    sdk.disconnect(ended, institution)
    old_pads = [sdk.new_pad(old_session) for _ in range(3)]
    sdk.clock.advance(PAD_LIFETIME)
    fresh = sdk.new_pad(old_session)  # purges the three expired pads and the ended session
    assert [sdk.store.sdk_pad(p.id) for p in old_pads] == [None] * 3
    assert sdk.store.sdk_session(ended.id) is None
    assert sdk.store.sdk_pad(fresh.id) is not None
    assert sdk.store.sdk_session(old_session.id) is not None
    sdk.clock.advance(SESSION_LIFETIME - PAD_LIFETIME)
    _, new_session = sdk.open_session(org_code="D0000001", sdk_key=key, origin=PAGE,
                                      device=DEVICE)  # purges the expired session, its pad
    assert sdk.store.sdk_session(old_session.id) is None and sdk.store.sdk_pad(fresh.id) is None
    assert sdk.store.sdk_session(new_session.id) is not None


def test_a_purged_pad_answered_is_unknown_and_nothing_signed(sdk, bank):
    _, session = _connected(sdk, bank)
    issued = _issued(sdk, bank, session)
    answer = _pin(sdk, session)
    sdk.clock.advance(PAD_LIFETIME)
    sdk.new_pad(session)  # purges the answer's pad
    with pytest.raises(PadError) as info:
        sdk.sign(session, bank[0], issued.serial, answer, SignRequest((b"x",)))
    assert info.value.code == "pad_unknown"
    assert "signed" not in [e.outcome for e in sdk.store.history(session.user_id, 100)]


def test_no_pad_is_dealt_to_a_session_ended_meanwhile(sdk, bank):
    """A disconnection between the session check and the pad (a purge may take the ended
    session at once): the session's error, not the store's."""
    _, session = _connected(sdk, bank)
    sdk.disconnect(session, bank[0])
    with pytest.raises(SdkSessionError):
        sdk.new_pad(session)


def test_the_purge_of_one_write_is_bounded(sdk, bank):
    _, key = bank
    _, session = sdk.open_session(org_code="D0000001", sdk_key=key, origin=PAGE,
                                  device=DEVICE)
    pads = [sdk.new_pad(session) for _ in range(PURGE_BATCH + 5)]
    sdk.clock.advance(PAD_LIFETIME)
    sdk.new_pad(session)
    assert sum(sdk.store.sdk_pad(p.id) is not None for p in pads) == 5
    sdk.new_pad(session)
    assert all(sdk.store.sdk_pad(p.id) is None for p in pads)


def _at_once(home, call, times=20):
    """``call(sdk)`` from ``times`` threads released together, each with its own store
    connection; the answers (a result or the error's class name)."""
    make = home.cloud_factory(passphrase=None, kdf=KDFParams(n=2**4, r=8, p=1))
    sdks = [FinCertSdk(make()) for _ in range(times)]
    start = threading.Barrier(times)
    results: list[object] = []

    def run(mine: FinCertSdk) -> None:
        start.wait()
        try:
            results.append(call(mine))
        except PKIError as exc:
            results.append(type(exc).__name__)

    threads = [threading.Thread(target=run, args=(mine,)) for mine in sdks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_one_pad_answered_twenty_times_at_once_is_used_once(sdk, bank, home):
    _, session = _connected(sdk, bank)
    answer = _pin(sdk, session)
    results = _at_once(home, lambda mine: mine.pin_of(session, answer))
    assert sorted(results) == sorted([PIN] + ["PadError"] * 19)


def test_twenty_wrong_pins_at_once_charge_five_then_lock(sdk, bank, home):
    _, session = _connected(sdk, bank)
    issued = _issued(sdk, bank, session)

    def sign(mine: FinCertSdk) -> object:
        while True:  # a PIN the gate is busy with is not tried: enter it again
            try:
                return mine.sign(session, bank[0], issued.serial,
                                 _pin(mine, session, "000000"), SignRequest((b"x",)))
            except WrongPinError as exc:
                return exc.attempts_left
            except PinBusyError:
                continue

    results = _at_once(home, sign)
    # four counted wrong (each its own count), the fifth locks the key; none tried after
    assert sorted(map(str, results)) == sorted(["1", "2", "3", "4"] + ["PinLockedError"] * 16)
    vault = sdk.store.vault_record(sdk.cloud.authority.label, issued.serial)
    assert vault is not None and vault.locked and vault.failures == 5


def test_twenty_wrong_codes_at_once_count_five(sdk, bank, home):
    institution, key = bank
    _, session = sdk.open_session(org_code="D0000001", sdk_key=key, origin=PAGE,
                                  device=DEVICE)
    sdk.connect(session, institution, name="홍길동", phone="01012345678", birth_date=BIRTH)
    session = sdk.store.sdk_session(session.id)  # its registration pending
    wrong = "00" if sent_code(sdk.cloud, institution, "01012345678") != "00" else "11"
    results = _at_once(home, lambda mine: mine.confirm(session, institution, wrong))
    assert sorted(map(str, results)) == sorted(["WrongCodeError"] * 5
                                               + ["CodeExhaustedError"] * 15)
    wrongs = [e for e in sdk.store.audit_log() if e.action == AuditAction.CLOUD_CODE_WRONG]
    assert len(wrongs) == 5


def test_a_connection_confirmed_twenty_times_at_once_is_audited_once(sdk, bank, home):
    institution, key = bank
    token, session = sdk.open_session(org_code="D0000001", sdk_key=key, origin=PAGE,
                                      device=DEVICE)
    sdk.connect(session, institution, name="홍길동", phone="01012345678", birth_date=BIRTH)
    session, _ = sdk.session(token, origin=PAGE, device=DEVICE)
    code = sent_code(sdk.cloud, institution, "01012345678")
    results = _at_once(home, lambda mine: mine.confirm(session, institution, code))
    # each confirms, or finds the code spent by one that did (the registrar's answer)
    assert None in results and set(results) <= {None, "NoCodePendingError"}
    assert sdk.session(token, origin=PAGE, device=DEVICE)[0].user_id is not None
    connected = [e for e in sdk.store.audit_log() if e.action == AuditAction.SDK_CONNECTED]
    assert len(connected) == 1


def test_issue_through_two_pads_then_sign_and_list(sdk, bank):
    _, session = _connected(sdk, bank)
    issued = _issued(sdk, bank, session)
    (listed,) = sdk.certificates(session)
    assert listed.record.serial == issued.serial and not listed.locked
    signed = sdk.sign(session, bank[0], issued.serial, _pin(sdk, session),
                      SignRequest((b"a", b"b"), include_r=True))
    assert len(signed.values) == 2 and signed.r is not None


def test_an_ssn_mismatch_records_the_refusal_and_signs_nothing(sdk, bank):
    """The page's ``ssn`` is not the holder's: refused before anything is signed, and the
    person's history says so (it said ``signed``, once per content, before)."""
    _, session = _connected(sdk, bank)
    issued = _issued(sdk, bank, session)
    other = str(synthetic_rrn(dt.date(1990, 5, 17), serial=999).digits)
    with pytest.raises(SsnMismatchError):
        sdk.sign(session, bank[0], issued.serial, _pin(sdk, session),
                 SignRequest.of(texts=["a", "b"], format="CMS",
                                algorithm="RSASSA-PKCS1-v1_5_SHA256", purpose="02", ssn=other))
    outcomes = [e.outcome for e in sdk.store.history(session.user_id, 100)]
    assert "signed" not in outcomes and outcomes[0] == "ssn_mismatch"
    vault = sdk.store.vault_record(sdk.cloud.authority.label, issued.serial)
    assert vault is not None and vault.failures == 0  # the PIN was right: nothing charged


def test_n_contents_unlock_the_key_once(sdk, bank, monkeypatch):
    """plainTexts[] of five items: one KDF run (one PIN check), five signatures."""
    _, session = _connected(sdk, bank)
    issued = _issued(sdk, bank, session)
    opened = []
    real = sdk.cloud.vault.open
    monkeypatch.setattr(sdk.cloud.vault, "open",
                        lambda *a, **k: opened.append(1) or real(*a, **k))
    signed = sdk.sign(session, bank[0], issued.serial, _pin(sdk, session),
                      SignRequest(tuple(b"text %d" % n for n in range(5))))
    assert len(signed.values) == 5 and len(set(signed.values)) == 5
    assert len(opened) == 1
    outcomes = [e.outcome for e in sdk.store.history(session.user_id, 100)]
    assert outcomes.count("signed") == 5


def test_a_new_pin_entered_differently_twice_is_refused(sdk, bank):
    _, session = _connected(sdk, bank)
    with pytest.raises(PinPolicyError) as info:
        sdk.issue(session, bank[0], ssn=RRN, kind="personal", pin=_pin(sdk, session),
                  pin_confirm=_pin(sdk, session, "246802"))
    assert info.value.rule == "mismatch"
    assert sdk.certificates(session) == []


def test_renew_only_within_the_window_then_the_successor_is_listed(sdk, bank):
    _, session = _connected(sdk, bank)
    issued = _issued(sdk, bank, session)
    with pytest.raises(RenewalNotDueError):
        sdk.renew(session, bank[0], issued.serial, _pin(sdk, session))
    sdk.clock.set(issued.certificate.not_valid_after_utc - dt.timedelta(days=20))
    with pytest.raises(SdkSessionError):  # that session has expired long since
        _pin(sdk, session)
    _, session = _connected(sdk, bank)
    assert sdk.certificates(session)[0].renewable
    renewed = sdk.renew(session, bank[0], issued.serial, _pin(sdk, session))
    assert renewed.serial != issued.serial
    assert [c.record.serial for c in sdk.certificates(session)] == [renewed.serial]


def test_change_pin_then_revoke(sdk, bank):
    _, session = _connected(sdk, bank)
    issued = _issued(sdk, bank, session)
    sdk.change_pin(session, bank[0], issued.serial, old=_pin(sdk, session),
                   new=_pin(sdk, session, "246813"), confirm=_pin(sdk, session, "246813"))
    sdk.sign(session, bank[0], issued.serial, _pin(sdk, session, "246813"),
             SignRequest((b"x",)))
    sdk.revoke(session, bank[0], issued.serial, _pin(sdk, session, "246813"))
    assert sdk.certificates(session)[0].record.status is CertStatus.REVOKED
    with pytest.raises(CloudNotFoundError):
        sdk.revoke(session, bank[0], issued.serial, _pin(sdk, session, "246813"))


def test_connect_and_disconnect_are_audited_and_end_the_connection(sdk, bank):
    token, session = _connected(sdk, bank)
    sdk.disconnect(session, bank[0])
    actions = [e.action for e in sdk.store.audit_log()]
    assert AuditAction.SDK_CONNECTED in actions and AuditAction.SDK_DISCONNECTED in actions
    with pytest.raises(SdkSessionError):
        sdk.session(token, origin=PAGE, device=DEVICE)


def test_nothing_of_a_person_before_the_connection(sdk, bank):
    _, key = bank
    _, session = sdk.open_session(org_code="D0000001", sdk_key=key, origin=PAGE,
                                  device=DEVICE)
    with pytest.raises(NotConnectedError):
        sdk.certificates(session)
