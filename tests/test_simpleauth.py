"""Simple authentication's rules (issue 15 item 4, :mod:`pki.simpleauth`): timeouts, a
person who declines, an app that never answers, a wrong and a locked PIN, a revoked
private certificate, each a defined status or refusal code; the CI of phone verification;
the device token; one answer under concurrency."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest
from cryptography import x509

from pki.clock import FixedClock
from pki.errors import (
    DeviceLockedError,
    DeviceWrongPinError,
    SimpleAuthAppError,
    SimpleAuthExpiredError,
    SimpleAuthNotFoundError,
    SimpleAuthRegistrationError,
    SimpleAuthRequestError,
    SimpleAuthSignatureError,
    SimpleAuthStateError,
)
from pki.home import Home
from pki.lifecycle import revoke
from pki.simpleauth import (
    PROVIDERS,
    SimpleAuthSettings,
    SimpleAuthStatus,
    provider,
    read_approval,
)
from pki.store import AuditAction
from pki.usecases.banking import Banking, bank_secret
from pki.usecases.simpleauth import institution_named, simple_auth_of_home

from .parallel import in_parallel
from .simpleauth_helpers import PIN, WRONG_PIN, make_home, person

T0 = dt.datetime(2026, 3, 16, 1, 0, tzinfo=dt.UTC)


@pytest.fixture
def world(tmp_path, key_pool):
    clock = FixedClock(T0)
    make_home(tmp_path / "home", key_pool=key_pool, clock=clock)
    home = Home.open(tmp_path / "home", key_generator=key_pool, clock=clock)
    service = simple_auth_of_home(home)
    kim = person(home, service, tmp_path / "kim-phone")
    rp = institution_named(home.store, "정부24")
    yield home, service, kim, rp, clock
    home.close()


def _ask(service, rp, who, **fields):
    asked = {"name": who.name, "phone": who.phone, "rrn": who.rrn, **fields}
    return service.request(rp, fields.pop("provider", 1), **{k: v for k, v in asked.items()
                                                               if k != "provider"})


def test_providers_are_data_with_the_aggregators_codes():
    assert {p.code: p.name for p in PROVIDERS} == {
        1: "Kakao", 2: "Payco", 3: "Samsung Pass", 4: "KB", 5: "PASS", 6: "Naver",
        7: "Shinhan", 8: "Toss", 10: "Hana", 11: "NH"}
    assert provider("8").name == "Toss"
    with pytest.raises(SimpleAuthRequestError) as refused:
        provider(9)
    assert refused.value.field == "provider"


def test_the_ci_is_phone_verifications_for_the_same_resident_number(world):
    home, service, kim, rp, clock = world
    phone = Banking(home.store, clock=clock, secret=bank_secret(home)).phone
    asked = _ask(service, rp, kim)
    token = kim.app.token(1)
    service.approve(token, asked.id, kim.app.approval(service.pending(token)[0], pin=PIN))
    result = service.result(rp, asked.id)
    assert result.ci == phone.ci(kim.rrn.digits) and len(result.ci) == 88
    approval = read_approval(service.verifier.verify(result.cms).content or b"")
    assert approval is not None and approval.ci == result.ci  # inside the signed content
    assert approval.nonce == asked_nonce(home, asked.id)


def asked_nonce(home, request_id):
    record = home.store.simpleauth_request(request_id)
    return record.nonce


def test_a_request_nobody_answers_expires_after_the_timeout_setting(world):
    _home, service, kim, rp, clock = world
    asked = _ask(service, rp, kim)
    assert asked.expires_at - asked.created_at == SimpleAuthSettings().timeout
    clock.set(T0 + dt.timedelta(minutes=5) - dt.timedelta(seconds=1))
    assert service.status(rp, asked.id).status is SimpleAuthStatus.PENDING
    pending = service.pending(kim.app.token(1))
    signature = kim.app.approval(pending[0], pin=PIN)
    clock.set(T0 + dt.timedelta(minutes=5))
    assert service.status(rp, asked.id).status is SimpleAuthStatus.EXPIRED
    assert service.pending(kim.app.token(1)) == ()
    with pytest.raises(SimpleAuthExpiredError):
        service.approve(kim.app.token(1), asked.id, signature)
    with pytest.raises(SimpleAuthExpiredError):
        service.result(rp, asked.id)


def test_the_timeout_is_a_setting(world):
    _home, service, kim, rp, clock = world
    short = dataclasses.replace(service.settings, timeout=dt.timedelta(seconds=30))
    service.settings = short
    asked = _ask(service, rp, kim)
    clock.set(T0 + dt.timedelta(seconds=30))
    assert service.status(rp, asked.id).status is SimpleAuthStatus.EXPIRED
    with pytest.raises(ValueError):
        SimpleAuthSettings(timeout=dt.timedelta(seconds=1))


def test_a_request_for_nobody_is_stored_like_any_and_expires_the_same(world):
    home, service, kim, rp, clock = world
    for fields in ({"name": "박없음"}, {"phone": "01099990000"},
                   {"rrn": None, "birth_date": "1970-01-01"}, {"provider": 8}):
        asked = _ask(service, rp, kim, **fields)
        assert service.status(rp, asked.id).status is SimpleAuthStatus.PENDING
        assert home.store.simpleauth_request(asked.id).person is None
    assert service.pending(kim.app.token(1)) == ()
    clock.set(T0 + dt.timedelta(minutes=5))
    assert service.status(rp, asked.id).status is SimpleAuthStatus.EXPIRED


def test_a_declined_request_has_no_result(world):
    home, service, kim, rp, _clock = world
    asked = _ask(service, rp, kim)
    assert service.decline(kim.app.token(1), asked.id).status is SimpleAuthStatus.DECLINED
    with pytest.raises(SimpleAuthStateError) as refused:
        service.result(rp, asked.id)
    assert (refused.value.code, refused.value.state) == ("not_approved", "declined")
    actions = [e.action for e in home.store.audit_log()]
    assert AuditAction.SIMPLEAUTH_DECLINED in actions


def test_a_wrong_pin_is_counted_on_the_device_and_five_lock_it(world):
    _home, service, kim, rp, _clock = world
    asked = _ask(service, rp, kim)
    shown = service.pending(kim.app.token(1))[0]
    for left in (4, 3, 2, 1):
        with pytest.raises(DeviceWrongPinError) as wrong:
            kim.app.approval(shown, pin=WRONG_PIN)
        assert wrong.value.attempts_left == left
    with pytest.raises(DeviceLockedError):
        kim.app.approval(shown, pin=WRONG_PIN)
    with pytest.raises(DeviceLockedError):
        kim.app.approval(shown, pin=PIN)
    assert service.status(rp, asked.id).status is SimpleAuthStatus.PENDING
    view = service.fail(kim.app.token(1), asked.id, "pin_locked")
    assert (view.status, view.reason) == (SimpleAuthStatus.FAILED, "pin_locked")


def test_an_approval_by_a_revoked_certificate_fails_the_request(world):
    home, service, kim, rp, clock = world
    asked = _ask(service, rp, kim)
    signature = kim.app.approval(service.pending(kim.app.token(1))[0], pin=PIN)
    clock.set(T0 + dt.timedelta(minutes=1))
    revoke(home.store, kim.keystore.status().serial, ca="kbprivate", at=clock.now(),
           reason=x509.ReasonFlags.key_compromise)
    with pytest.raises(SimpleAuthSignatureError) as refused:
        service.approve(kim.app.token(1), asked.id, signature)
    assert refused.value.code == "certificate_revoked"
    view = service.status(rp, asked.id)
    assert (view.status, view.reason) == (SimpleAuthStatus.FAILED, "certificate_revoked")


def test_a_signature_by_another_certificate_is_refused_and_changes_nothing(world, tmp_path):
    home, service, kim, rp, _clock = world
    lee = person(home, service, tmp_path / "lee-phone", name="이간편")
    asked = _ask(service, rp, kim)
    shown = service.pending(kim.app.token(1))[0]
    # Lee's phone signs Kim's request (with Kim's CI copied in): not Kim's certificate.
    lee.app.save_token(1, kim.app.token(1))
    signature = lee.app.approval(shown, pin=PIN)
    with pytest.raises(SimpleAuthSignatureError) as refused:
        service.approve(kim.app.token(1), asked.id, signature)
    assert refused.value.code == "certificate_not_registered"
    assert service.status(rp, asked.id).status is SimpleAuthStatus.PENDING


def test_registering_again_replaces_the_app_and_its_token(world, tmp_path):
    _home, service, kim, _rp, clock = world
    old = kim.app.token(1)
    clock.set(T0 + dt.timedelta(minutes=1))
    # a new phone number: the proof names it
    proof = kim.app.registration_proof(1, name=kim.name, phone="01055556666", pin=PIN)
    registered = service.register(1, name=kim.name, rrn=kim.rrn, phone="01055556666",
                                  proof=proof.cms, r=proof.r)
    assert registered.token != old
    with pytest.raises(SimpleAuthAppError):
        service.pending(old)
    assert service.pending(registered.token) == ()


def test_registration_needs_a_proof_for_this_name_phone_and_provider(world):
    _home, service, kim, _rp, clock = world
    proof = kim.app.registration_proof(1, name=kim.name, phone=kim.phone, pin=PIN)
    for code, name, phone in ((2, kim.name, kim.phone), (1, "박다른", kim.phone),
                              (1, kim.name, "01000001111")):
        with pytest.raises(SimpleAuthRegistrationError) as refused:
            service.register(code, name=name, rrn=kim.rrn, phone=phone, proof=proof.cms,
                             r=proof.r)
        assert refused.value.code == "proof_invalid"
    clock.set(T0 + dt.timedelta(minutes=6))
    with pytest.raises(SimpleAuthRegistrationError):
        service.register(1, name=kim.name, rrn=kim.rrn, phone=kim.phone, proof=proof.cms,
                         r=proof.r)


def test_requests_belong_to_their_relying_party(world):
    home, service, kim, rp, _clock = world
    other = institution_named(home.store, "홈택스")
    asked = _ask(service, rp, kim)
    with pytest.raises(SimpleAuthNotFoundError):
        service.status(other, asked.id)
    with pytest.raises(SimpleAuthNotFoundError):
        service.result(other, asked.id)


def test_two_approvals_at_once_one_wins(tmp_path, key_pool):
    clock = FixedClock(T0)
    make_home(tmp_path / "home", key_pool=key_pool, clock=clock)
    with Home.open(tmp_path / "home", key_generator=key_pool, clock=clock) as home:
        service = simple_auth_of_home(home)
        kim = person(home, service, tmp_path / "kim-phone")
        rp = institution_named(home.store, "정부24")
        asked = _ask(service, rp, kim)
        signature = kim.app.approval(service.pending(kim.app.token(1))[0], pin=PIN)
    homes = [Home.open(tmp_path / "home", clock=clock) for _ in range(8)]
    try:
        services = [simple_auth_of_home(h, create_secret=False) for h in homes]
        results = in_parallel(8, lambda i: services[i].approve(kim.app.token(1), asked.id,
                                                               signature)
                              if i % 2 else services[i].decline(kim.app.token(1), asked.id))
    finally:
        for h in homes:
            h.close()
    won = [r for r in results if not isinstance(r, Exception)]
    assert len(won) == 1
    assert all(isinstance(r, SimpleAuthStateError) and r.code == "request_answered"
               for r in results if r not in won)


def test_testpki_runs_a_whole_simple_authentication_in_one_call_and_step_by_step(tmp_path):
    from pki.testing import TestPKI

    test_pki = TestPKI(seed="simpleauth-testpki", clock=FixedClock(T0))
    try:
        app = test_pki.simple_auth_app(folder=tmp_path / "phone", provider=4)
        result = test_pki.simple_authenticate(app, nonce="testpki-nonce-1")
        assert result.ci == test_pki.banking.phone.ci(app.rrn.digits)
        assert result.chain[-1] == test_pki.root and result.nonce == "testpki-nonce-1"
        asked = app.request(rp="홈택스")
        assert app.decline(asked.id).status is SimpleAuthStatus.DECLINED
    finally:
        test_pki.close()


def test_the_cli_runs_a_simple_authentication_with_the_pin_never_on_argv(tmp_path, key_pool,
                                                                         monkeypatch):
    from click.testing import CliRunner

    from pki.cli.main import cli
    from pki.rrn import synthetic_rrn

    rrn = synthetic_rrn(dt.date(1988, 4, 17), serial=5000).digits
    make_home(tmp_path / "home", key_pool=key_pool)
    run = CliRunner().invoke
    home = ["--home", str(tmp_path / "home")]
    phone = ["--provider", "1", "--device-folder", str(tmp_path / "phone")]
    monkeypatch.setenv("KPKI_SIMPLE_PIN", PIN)
    listed = run(cli, [*home, "simpleauth", "providers"])
    assert listed.exit_code == 0 and "1\tKakao" in listed.output
    done = run(cli, [*home, "simpleauth", "register", *phone, "--name", "김간편",
                     "--rrn", rrn, "--phone", "010-7777-0001"])
    assert done.exit_code == 0, done.output
    asked = run(cli, [*home, "simpleauth", "request", "--rp", "정부24", "--provider", "1",
                      "--name", "김간편", "--phone", "01077770001", "--rrn", rrn,
                      "--nonce", "cli-nonce-0001", "--json"])
    request_id = json.loads(asked.output)["request_id"]
    shown = run(cli, [*home, "simpleauth", "pending", *phone])
    assert request_id in shown.output
    approved = run(cli, [*home, "simpleauth", "approve", request_id, *phone, "--json"])
    assert json.loads(approved.output)["status"] == "approved", approved.output
    collected = run(cli, [*home, "simpleauth", "result", request_id, "--rp", "정부24", "--json"])
    assert json.loads(collected.output)["nonce"] == "cli-nonce-0001"
    again = run(cli, [*home, "simpleauth", "result", request_id, "--rp", "정부24", "--json"])
    assert again.exit_code == 1 and "collected" in again.output
    assert "--pin" not in [p.opts[0] for c in ("register", "approve")
                           for p in cli.get_command(None, "simpleauth").commands[c].params]


def test_a_same_name_stranger_cannot_register_another_persons_rrn(world, tmp_path):
    """The provider checks the RRN against the certificate's VID with the R the device
    keeps: a private certificate in the same name is not enough to bind another person's
    CI (it used to be: only the name was compared)."""
    home, service, kim, _rp, _clock = world
    stranger = person(home, service, tmp_path / "stranger-phone", provider=2,
                      name=kim.name)  # the same name, their own RRN and certificate
    assert stranger.rrn != kim.rrn
    proof = stranger.app.registration_proof(1, name=kim.name, phone=stranger.phone, pin=PIN)
    users_before = [service.store.simpleauth_user(1, service.ci(kim.rrn))]
    for r in (proof.r, kim.keystore.unlock(PIN).r, b"", b"\x00" * 20):
        with pytest.raises(SimpleAuthRegistrationError) as refused:
            service.register(1, name=kim.name, rrn=kim.rrn, phone=stranger.phone,
                             proof=proof.cms, r=r)
        assert refused.value.code == "identity_mismatch"
    assert [service.store.simpleauth_user(1, service.ci(kim.rrn))] == users_before
    assert service.pending(kim.app.token(1)) == ()  # kim's app is untouched
    # the stranger's own RRN with their own R registers
    mine = service.register(1, name=kim.name, rrn=stranger.rrn, phone=stranger.phone,
                            proof=proof.cms, r=proof.r)
    assert mine.user.person == service.ci(stranger.rrn)
