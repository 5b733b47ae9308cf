"""Attacks on the issue 10 fixes that the first round of tests did not try.

Each test is a hostile party's move that got through (or must keep failing): a stranger
institution guessing the 2-digit confirmation code over fresh registrations of the
victim's phone until one holds, then locking the victim's certificate with wrong PINs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import signal
import subprocess
import sys

import pytest

from pki.cloud.service import MAX_ATTEMPTS
from pki.cloud.vault import KDFParams
from pki.errors import (
    CloudNotFoundError,
    CloudRequestError,
    CodeLimitError,
    RegistrationError,
    RequestRefusedError,
)

from .cloud_helpers import PIN, RRN, Api, _issue, add_institution, sent_code, serve_cloud

WRONG = "246801"
PHONE_BUDGET = 10  # wrong codes per phone and institution a day
VICTIM_PHONE = "01055557777"
BIRTH = "1990-05-17"


@pytest.fixture
def factory(home, monkeypatch):
    monkeypatch.setenv("KPKI_VAULT_SECRET", "ab" * 32)
    return home.cloud_factory(passphrase=None, kdf=KDFParams(n=2**4, r=8, p=1))


def _code(cloud, phone: str, institution) -> str:
    return sent_code(cloud, institution, phone)


def _victim(cloud):
    """A bank's confirmed user with a cloud certificate: (bank, user, serial)."""
    bank = cloud.authenticate(cloud.add_institution("bank"))
    user = cloud.register_user(bank, name="홍길동", phone=VICTIM_PHONE, birth_date=BIRTH)
    cloud.confirm(bank, user, _code(cloud, VICTIM_PHONE, bank))
    return bank, user, cloud.issue(bank, user, rrn=RRN, pin=PIN, pin_confirm=PIN).serial


def _users_of(cloud, institution):
    return cloud.store.cloud_users(institution_id=institution.id)


def test_the_code_budget_renews_after_a_day(factory, clock):
    cloud = factory()
    bank = cloud.authenticate(cloud.add_institution("bank"))
    for _ in range(PHONE_BUDGET // 5):
        user = cloud.register_user(bank, name="홍길동", phone=VICTIM_PHONE, birth_date=BIRTH)
        code = _code(cloud, VICTIM_PHONE, bank)
        for k in range(1, 6):
            with contextlib.suppress(RequestRefusedError):
                cloud.confirm(bank, user, f"{(int(code) + k) % 100:02d}")
    clock.advance(dt.timedelta(days=1, seconds=1))
    user = cloud.register_user(bank, name="홍길동", phone=VICTIM_PHONE, birth_date=BIRTH)
    cloud.confirm(bank, user, _code(cloud, VICTIM_PHONE, bank))
    assert cloud.store.cloud_user(user).confirmed is True


def test_a_stranger_cannot_guess_its_way_to_the_victims_phone(factory):
    """A 2-digit code with five guesses per registration is 1 in 20; registering the
    victim's phone again and again (each registration a fresh code and five fresh
    guesses) would make a matching confirmed registration a matter of about 20 tries,
    and with it the right to charge wrong PINs to the victim's certificate through
    ``/registrations`` until it locks. Wrong codes are therefore counted per phone and
    institution over a day, across registrations: once the budget is spent, even the
    right code is not compared."""
    cloud = factory()
    bank, _, serial = _victim(cloud)
    stranger = cloud.authenticate(cloud.add_institution("stranger"))
    for _ in range(PHONE_BUDGET // 5):  # spend the day's budget on fresh registrations
        user = cloud.register_user(stranger, name="홍길동", phone=VICTIM_PHONE,
                                   birth_date=BIRTH)
        code = _code(cloud, VICTIM_PHONE, stranger)
        for k in range(1, 6):
            with pytest.raises(RegistrationError) as info:
                cloud.confirm(stranger, user, f"{(int(code) + k) % 100:02d}")
            assert info.value.code == "code_invalid"
    # the next fresh registration: even a lucky first guess is not compared
    with pytest.raises(CodeLimitError) as info:
        user = cloud.register_user(stranger, name="홍길동", phone=VICTIM_PHONE,
                                   birth_date=BIRTH)
        cloud.confirm(stranger, user, _code(cloud, VICTIM_PHONE, stranger))
    assert info.value.code == "code_limit" and info.value.limit == PHONE_BUDGET
    assert not any(u.confirmed for u in _users_of(cloud, stranger))
    # and so the victim's certificate cannot be charged by the stranger
    for _ in range(MAX_ATTEMPTS):
        with pytest.raises(CloudNotFoundError) as info:
            cloud.register_certificate(stranger, serial, pin=WRONG, user=user)
        assert info.value.code == "not_found"
    assert cloud.store.vault_record(cloud.authority.label, serial).failures == 0
    assert cloud.sign(bank, serial, pin=PIN, content=b"x", purpose="02").serial == serial


def test_the_code_budget_is_per_institution_so_a_stranger_cannot_spend_the_banks(factory):
    """The budget is the stranger's own: spending it does not stop the victim's bank."""
    cloud = factory()
    bank = cloud.authenticate(cloud.add_institution("bank"))
    stranger = cloud.authenticate(cloud.add_institution("stranger"))
    for _ in range(PHONE_BUDGET // 5):
        user = cloud.register_user(stranger, name="홍길동", phone=VICTIM_PHONE,
                                   birth_date=BIRTH)
        code = _code(cloud, VICTIM_PHONE, stranger)
        for k in range(1, 6):
            with contextlib.suppress(RequestRefusedError):
                cloud.confirm(stranger, user, f"{(int(code) + k) % 100:02d}")
    with pytest.raises(CodeLimitError) as info:
        cloud.register_user(stranger, name="홍길동", phone=VICTIM_PHONE, birth_date=BIRTH)
    assert info.value.code == "code_limit"
    user = cloud.register_user(bank, name="홍길동", phone=VICTIM_PHONE, birth_date=BIRTH)
    cloud.confirm(bank, user, _code(cloud, VICTIM_PHONE, bank))
    assert cloud.store.cloud_user(user).confirmed is True


# -- key passwd: a kill inside a write the journal does not know about ---------------------

_KILL_ON_REPLACE = """
import os, signal, sys
from pathlib import Path
from pki.keys import npki
real = os.replace
def replace(src, dst, *args, **kwargs):
    if Path(src).name.startswith(sys.argv[2]) and str(src).endswith(".tmp"):
        os.kill(os.getpid(), signal.SIGKILL)
    return real(src, dst, *args, **kwargs)
os.replace = replace
npki.change_password(Path(sys.argv[1]), {old!r}, {new!r})
"""


@pytest.mark.parametrize("prefix", ["..signPri.key.", "..kmPri.key.", "..kpki-passwd."])
def test_a_passwd_killed_inside_a_temporary_write_leaves_nothing_behind(authority, tmp_path,
                                                                        prefix):
    """atomic_write's own temporary file (``..signPri.key.<token>.new.<x>.tmp``, the key
    under the new password; ``..kpki-passwd.<x>.tmp``) is a leftover of the change too:
    the old password holds, and the next passwd removes it with the rest."""
    from pki.keys import npki
    from pki.keys.folder import write_npki_folder

    old, new = "Test-pass-1234!", "Other-pass-5678?"
    issued = authority.issue_joint(name="홍길동", rrn=RRN, with_km=True)
    folder = write_npki_folder(issued, tmp_path / "base", password=old)[0].folder
    killed = subprocess.run([sys.executable, "-c", _KILL_ON_REPLACE.format(old=old, new=new),
                             str(folder), prefix], capture_output=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert any(p.name.startswith(prefix) for p in folder.iterdir())
    assert npki.load(folder, old).r is not None  # undecided: the old password holds
    npki.change_password(folder, old, new)  # the next passwd undoes the leftovers first
    assert npki.load(folder, new, key_management=True).r is not None
    assert sorted(p.name for p in folder.iterdir()) == [
        "kmCert.der", "kmPri.key", "signCert.der", "signPri.key"]


# -- cloud revocation: a reason that is no revocation reason -------------------------------


@pytest.mark.parametrize("reason", ["certificateHold", "removeFromCRL"])
def test_revoking_with_a_hold_or_remove_reason_is_a_400_not_a_500(factory, reason):
    """``POST .../revoke {"reason": "certificateHold"}`` passed the schema (any
    ReasonFlags value) and lifecycle.revoke raised ValueError: an unhandled exception,
    a 500 from the API. It is a bad request, and nothing changes."""
    from cryptography import x509

    from pki.store import CertStatus

    cloud = factory()
    bank, _, serial = _victim(cloud)
    with pytest.raises(CloudRequestError) as info:
        cloud.revoke(bank, serial, x509.ReasonFlags(reason))
    assert info.value.code == "bad_request" and info.value.field == "reason"
    assert cloud.store.find_certificates(serial)[0].status is CertStatus.VALID


def test_the_api_answers_a_hold_reason_with_json(tmp_path, key_pool):
    from pki.home import Home


    path = tmp_path / "home"
    Home.create(path, passphrase=None, key_generator=key_pool).close()
    key = add_institution(path, "bank")
    with serve_cloud(path, key_pool=key_pool) as url:
        bank = Api(url, key)
        status, body = bank("POST", "/cloud/v1/users", {"name": "홍길동", "phone": VICTIM_PHONE,
                                                        "birth_date": BIRTH})
        user = body["user_id"]
        _, messages = bank("GET", f"/cloud/v1/test/messages?phone={VICTIM_PHONE}")
        code = re.search(r"code (\d\d)", messages["messages"][-1]["text"]).group(1)
        assert bank("POST", f"/cloud/v1/users/{user}/confirm", {"code": code})[0] == 200
        serial = _issue(bank, user)
        status, body = bank("POST", f"/cloud/v1/certificates/{serial}/revoke",
                            {"reason": "certificateHold"})
        assert status == 400 and body["error"]["code"] == "bad_request", (status, body)
