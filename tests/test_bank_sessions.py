"""Internet-banking sessions (issue 14 item 7): simple-authentication keys and logins by
simple authentication, certificate and ID/password, each login's refusals."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pki.bank.sessions import Sessions
from pki.clock import FixedClock
from pki.errors import (
    BankNotFoundError,
    BankRequestError,
    EnrolmentExpiredError,
    LoginRefusedError,
    NotEnrolledError,
    SignatureRefusedError,
    WrongAccountPasswordError,
)
from pki.store import AuditAction, SessionMethod
from pki.testing import TestPKI
from tests.bank_helpers import OTHER_RRN, RRN, T0, in_parallel, make_world

ECDSA = ec.ECDSA(hashes.SHA256())


@pytest.fixture(scope="module")
def pki():
    test_pki = TestPKI(seed="bank-sessions", clock=FixedClock(T0))
    yield test_pki
    test_pki.close()


@pytest.fixture(scope="module")
def hong_cert(pki):
    return pki.joint("홍길동", rrn=RRN)


@pytest.fixture(scope="module")
def key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def world(tmp_path):
    """홍길동 at Hana, with internet banking signed up and activated."""
    world = make_world(tmp_path)
    world.customers.sign_up(world.hana, world.customer.id)
    world.customers.activate(world.hana, world.customer.id)
    return world


def test_a_customer_without_active_internet_banking_cannot_log_in(tmp_path, pki):
    world = make_world(tmp_path)
    sessions = Sessions(world.store, clock=world.clock, verifier=pki.verifier())
    world.customers.open_account(world.hana, world.customer.id, password="0420",
                                 number="1002-123-456789")
    for login in (lambda: sessions.challenge(world.hana, world.customer.id),
                  lambda: sessions.login_password(world.hana, world.customer.id,
                                                  account="1002-123-456789",
                                                  password="0420")):
        with pytest.raises(NotEnrolledError) as caught:
            login()
        assert caught.value.code == "not_enrolled"
    world.customers.sign_up(world.hana, world.customer.id)
    world.clock.advance(dt.timedelta(days=3))  # not activated within 3 KST days
    with pytest.raises(EnrolmentExpiredError):
        sessions.challenge(world.hana, world.customer.id)


@pytest.fixture
def sessions(world, pki):
    return Sessions(world.store, clock=world.clock, verifier=pki.verifier())


def _login(world, sessions, key, key_id):
    challenge = sessions.challenge(world.hana, world.customer.id)
    return sessions.login_simple_auth(world.hana, challenge.id, key_id=key_id,
                                      signature=key.sign(challenge.text, ECDSA))


def test_a_simple_auth_login_makes_a_session_that_expires(world, sessions, key):
    registered = sessions.register_key(world.hana, world.customer.id, device="galaxy",
                                       public_key=key.public_key())
    session = _login(world, sessions, key, registered.id)
    assert (session.method, session.key_id) == (SessionMethod.SIMPLE_AUTH, registered.id)
    assert session.expires_at - session.started_at == dt.timedelta(seconds=600)
    assert sessions.live(session)
    world.clock.advance(dt.timedelta(seconds=601))
    assert not sessions.live(sessions.get(world.hana, session.id))
    actions = [e.action for e in world.store.audit_log()]
    assert AuditAction.BANK_SESSION_STARTED in actions


def test_a_key_is_registered_from_der_or_pem_and_only_p256(world, sessions, key):
    public = key.public_key()
    for encoding in (serialization.Encoding.DER, serialization.Encoding.PEM):
        data = public.public_bytes(encoding, serialization.PublicFormat.SubjectPublicKeyInfo)
        sessions.register_key(world.hana, world.customer.id, device="galaxy", public_key=data)
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    for bad in (p384, b"not a key"):
        with pytest.raises(BankRequestError) as caught:
            sessions.register_key(world.hana, world.customer.id, device="galaxy",
                                  public_key=bad)
        assert caught.value.field == "public_key"
    assert len(sessions.keys(world.hana, world.customer.id)) == 2


def test_a_signature_by_another_key_is_refused(world, sessions, key):
    registered = sessions.register_key(world.hana, world.customer.id, device="galaxy",
                                       public_key=key.public_key())
    stranger = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(SignatureRefusedError) as caught:
        _login(world, sessions, stranger, registered.id)
    assert caught.value.code == "signature_invalid"


def test_a_login_challenge_is_answered_once_and_expires(world, sessions, key):
    registered = sessions.register_key(world.hana, world.customer.id, device="galaxy",
                                       public_key=key.public_key())
    challenge = sessions.challenge(world.hana, world.customer.id)
    signature = key.sign(challenge.text, ECDSA)
    sessions.login_simple_auth(world.hana, challenge.id, key_id=registered.id,
                               signature=signature)
    with pytest.raises(LoginRefusedError) as caught:
        sessions.login_simple_auth(world.hana, challenge.id, key_id=registered.id,
                                   signature=signature)
    assert caught.value.code == "login_challenge_used"
    late = sessions.challenge(world.hana, world.customer.id)
    world.clock.advance(dt.timedelta(seconds=121))
    with pytest.raises(LoginRefusedError) as caught:
        sessions.login_simple_auth(world.hana, late.id, key_id=registered.id,
                                   signature=key.sign(late.text, ECDSA))
    assert caught.value.code == "login_challenge_expired"


def test_one_challenge_answered_in_parallel_starts_one_session(world, pki, key):
    sessions = Sessions(world.store, clock=world.clock, verifier=pki.verifier())
    registered = sessions.register_key(world.hana, world.customer.id, device="galaxy",
                                       public_key=key.public_key())
    challenge = sessions.challenge(world.hana, world.customer.id)
    signature = key.sign(challenge.text, ECDSA)
    stores = [world.reopen()[0] for _ in range(8)]
    callers = [Sessions(store, clock=world.clock) for store in stores]
    results = in_parallel(8, lambda i: callers[i].login_simple_auth(
        world.hana, challenge.id, key_id=registered.id, signature=signature))
    for store in stores:
        store.close()
    refused = [r for r in results if isinstance(r, LoginRefusedError)]
    assert len(refused) == 7
    assert {r.code for r in refused} == {"login_challenge_used"}


def test_a_removed_key_logs_in_no_more_and_ends_its_sessions(world, sessions, key):
    registered = sessions.register_key(world.hana, world.customer.id, device="galaxy",
                                       public_key=key.public_key())
    session = _login(world, sessions, key, registered.id)
    sessions.remove_key(world.hana, world.customer.id, registered.id)
    assert not sessions.live(sessions.get(world.hana, session.id))
    with pytest.raises(LoginRefusedError) as caught:
        _login(world, sessions, key, registered.id)
    assert caught.value.code == "simple_auth_key_removed"


def test_a_certificate_login_checks_the_vid_against_the_customer(world, sessions, pki,
                                                                 hong_cert):
    challenge = sessions.challenge(world.hana, world.customer.id)
    session = sessions.login_certificate(world.hana, challenge.id,
                                         signature=pki.sign(hong_cert, challenge.text),
                                         r=hong_cert.r)
    assert session.method is SessionMethod.CERTIFICATE
    other = pki.joint("김철수", rrn=OTHER_RRN)
    challenge = sessions.challenge(world.hana, world.customer.id)
    with pytest.raises(SignatureRefusedError) as caught:
        sessions.login_certificate(world.hana, challenge.id,
                                   signature=pki.sign(other, challenge.text), r=other.r)
    assert caught.value.code == "vid_mismatch"
    with pytest.raises(SignatureRefusedError) as caught:
        sessions.login_certificate(world.hana, challenge.id,
                                   signature=pki.sign(hong_cert, b"another text"),
                                   r=hong_cert.r)
    assert caught.value.code == "signed_text_mismatch"


def test_a_password_login_counts_a_wrong_password_as_the_account_does(world, sessions):
    account = world.customers.open_account(world.hana, world.customer.id, password="0420")
    session = sessions.login_password(world.hana, world.customer.id, account=account.number,
                                      password="0420")
    assert session.method is SessionMethod.PASSWORD
    with pytest.raises(WrongAccountPasswordError) as caught:
        sessions.login_password(world.hana, world.customer.id, account=account.number,
                                password="9999")
    assert caught.value.attempts_left == 4
    other = world.customers.add(world.hana, name="이영희", rrn=OTHER_RRN,
                                phone="010-9999-8888", carrier="KT")
    world.customers.sign_up(world.hana, other.id)
    world.customers.activate(world.hana, other.id)
    with pytest.raises(LoginRefusedError) as caught:
        sessions.login_password(world.hana, other.id, account=account.number,
                                password="0420")
    assert caught.value.code == "account_not_owned"


def test_a_password_login_takes_the_account_number_with_hyphens_as_everywhere(world,
                                                                             sessions):
    account = world.customers.open_account(world.hana, world.customer.id, password="0420",
                                           number="1002-123-456789")
    session = sessions.login_password(world.hana, world.customer.id,
                                      account="1002-123-456789", password="0420")
    assert session.method is SessionMethod.PASSWORD
    assert account.number == "1002123456789"


def test_another_institution_sees_no_session_and_logout_ends_one(world, sessions):
    from pki.bank.institutions import add_bank

    account = world.customers.open_account(world.hana, world.customer.id, password="0420")
    session = sessions.login_password(world.hana, world.customer.id, account=account.number,
                                      password="0420")
    kb, _ = add_bank(world.store, "004", at=T0)
    with pytest.raises(BankNotFoundError):
        sessions.get(kb, session.id)
    sessions.logout(world.hana, session.id)
    assert not sessions.live(sessions.get(world.hana, session.id))
