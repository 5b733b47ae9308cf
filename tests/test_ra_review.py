"""A hostile review of issue 15's flows (helper R): each defect found, as a test that failed
on the code before its fix. Tests of files another helper is still changing are marked
``xfail(strict=True)`` with the reason, so they flip when fixed."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest

from pki.clock import FixedClock
from pki.errors import RequestRefusedError, SimpleAuthAppError
from pki.home import Home
from pki.usecases.simpleauth import simple_auth_of_home

from .simpleauth_helpers import make_home
from .test_ra_joint_api import served as _joint_api_served

T0 = dt.datetime(2026, 3, 16, 1, 0, tzinfo=dt.UTC)


@pytest.fixture
def simple_auth(tmp_path, key_pool):
    clock = FixedClock(T0)
    make_home(tmp_path / "home", key_pool=key_pool, clock=clock)
    with Home.open(tmp_path / "home", key_generator=key_pool, clock=clock) as home:
        yield simple_auth_of_home(home)


@pytest.mark.parametrize("token", ["9" * 30 + ".YQ.YQ", "99999999999999999999.YQ.YQ",
                                   "1" * 400 + ".YQ.YQ"])
def test_a_device_token_naming_a_huge_provider_is_no_app_not_a_crash(simple_auth, token):
    # the provider part went to SQLite as an integer beyond 64 bits: OverflowError, a 500
    with pytest.raises(SimpleAuthAppError):
        simple_auth.app(token)
    with pytest.raises(SimpleAuthAppError):
        simple_auth.pending(token)


# -- joint certificates (pki.ra.joint) -------------------------------------------------------


@pytest.fixture
def test_pki():
    from pki.testing import TestPKI

    made = TestPKI(seed="ra-review", clock=FixedClock(T0))
    yield made
    made.close()


def test_a_paid_renewal_signed_without_an_account_is_refused_at_the_sign_step(test_pki,
                                                                             tmp_path):
    # the sign step took it; the issue step then refused no_account for ever, and the sign
    # step could not be taken again (step_repeated): a session stuck until it expired
    from pki.signing import KeySigner, sign

    bank = test_pki.bank()
    customer = bank.customer()
    first = bank.issue_joint_flow(customer, out=tmp_path / "first")
    test_pki.clock.set(first.issued.certificate.not_valid_after_utc - dt.timedelta(days=10))
    session = bank.joint_session(customer, "renew", serial=first.issued.serial)
    session.terms(certificate=None)
    issued = first.issued
    assert issued.private_key is not None
    signature = sign(str(session.record.data["challenge"]).encode(),
                     KeySigner(issued.certificate, issued.private_key, issued.chain),
                     clock=test_pki.clock).der
    with pytest.raises(RequestRefusedError) as caught:
        bank.desk.joint.sign(bank.institution, session.id, customer_id=customer.id,
                             signature=signature, r=issued.r, account=None)
    assert caught.value.code == "no_account"
    session.sign(first.issued)  # with the account: the same session goes on
    assert session.issue(out=tmp_path / "renewed").fee == 4_400


joint_served = pytest.fixture(scope="module")(_joint_api_served.__wrapped__)
"""tests/test_ra_joint_api.py's real kpki serve with Hana and its customer."""


def test_a_refused_issue_over_http_makes_no_folder(joint_served):
    # the route made <home>/ra/joint/<session>/ before the step was checked: a folder for
    # every refused issue call, with nothing in the store behind it
    served = joint_served
    status, session = served.hana("POST", "/ra/v1/joint/sessions",
                                  {"operation": "issue", "device": "phone-1"})
    assert status == 201, session
    one = f"/ra/v1/joint/sessions/{session['session_id']}"
    status, answer = served.hana("POST", f"{one}/issue", {"password": "Joint-pw-2026!"})
    assert (status, answer["error"]["code"]) == (409, "step_out_of_order")
    assert not (served.home / "ra" / "joint" / session["session_id"]).exists()


def test_the_issued_folder_over_http_is_0700_from_the_home_down(joint_served):
    from .test_ra_joint_api import _answer, _to_medium

    served = joint_served
    session = _to_medium(served)
    one = f"/ra/v1/joint/sessions/{session}"
    assert served.hana("POST", f"{one}/medium", _answer(served, session))[0] == 200
    status, issued = served.hana("POST", f"{one}/issue", {"password": "Joint-pw-2026!"})
    assert status == 201, issued
    folder = Path(issued["folder"])
    assert folder.is_relative_to(served.home / "ra" / "joint" / session)
    while folder != served.home:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
        folder = folder.parent


# -- private certificates (pki.ra.private) ---------------------------------------------------


def test_a_renewal_csr_whose_key_kpki_does_not_issue_for_is_refused_as_csr_invalid(
        test_pki, tmp_path):
    # an EC or short RSA key in the signed CSR reached the CA: UnsupportedKeyError, which the
    # JSON API answers 409 'refused' (the issue step says csr; the renewal's code for a CSR
    # it cannot take is csr_invalid)
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding

    from pki.errors import FlowRefusedError

    bank = test_pki.bank("004")
    customer = bank.customer()
    device = bank.issue_private_flow(customer, folder=tmp_path / "phone")
    test_pki.clock.set(T0 + dt.timedelta(days=400))
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([]))
           .sign(key, hashes.SHA256()).public_bytes(Encoding.DER))
    with pytest.raises(FlowRefusedError) as refused:
        bank.desk.private.renew(bank.institution, customer.id, signature=device.sign(csr),
                                r=device.r, new_r=bytes(20))
    assert refused.value.code == "csr_invalid"
    assert test_pki.home.store.private_medium(customer.id).serial == device.issued.serial
