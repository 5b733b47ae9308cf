"""The use cases the CLI's verify, key, serve and demo commands call, called directly."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import urllib.request
from pathlib import Path

import pytest

from pki.clock import FixedClock
from pki.errors import FolderExistsError, PasswordPolicyError, WrongPasswordError
from pki.home import Home
from pki.keys import npki, pkcs12
from pki.rrn import RRN
from pki.signing import KeySigner, sign
from pki.signing.verify import CannotEvaluateError
from pki.usecases.demos import egov_demo, tour_demo
from pki.usecases.issuing import IssueOrder, issue_into_folder
from pki.usecases.keyfiles import ExportFormat, export_folder, import_pfx
from pki.usecases.serving import ServeOrder, cloud_api, serve_home
from pki.usecases.verifying import VerifyOrder, verify_signature

HOLDER = "9001011234568"
PASSWORD = "Test-pw-1234!"


@pytest.fixture
def folder(home: Home, tmp_path: Path) -> Path:
    done = issue_into_folder(home, IssueOrder(name="홍길동", rrn=HOLDER, out=tmp_path / "out"),
                             password=PASSWORD, passphrase=None)
    return done.folder


def test_verify_signature_in_a_home_and_from_files(home: Home, clock: FixedClock,
                                                   folder: Path) -> None:
    credential = npki.load(folder, PASSWORD)
    signer = KeySigner(credential.certificate, credential.private_key)
    der = sign(b"doc", signer, clock=clock).der
    inside = verify_signature(VerifyOrder(der, rrn=RRN.parse(HOLDER), r=credential.r),
                              home=home, clock=clock)
    assert inside.result.ok and inside.revocation_data
    root = home.store.get_ca("root").certificate
    ca = home.store.get_ca("yessign").certificate
    outside = verify_signature(VerifyOrder(der, trust=(root,), intermediates=(ca,),
                                           revocation=False), home=None, clock=clock)
    assert outside.result.ok and not outside.revocation_data


def test_verify_order_refusals_come_before_any_work(home: Home, clock: FixedClock) -> None:
    with pytest.raises(ValueError, match="nothing to trust"):
        verify_signature(VerifyOrder(b"\x30\x00"), home=None, clock=clock)
    with pytest.raises(ValueError, match="resident number"):
        verify_signature(VerifyOrder(b"\x30\x00", r=b"r"), home=home, clock=clock)


def test_a_detached_signature_without_content_says_what_it_needs(
        home: Home, clock: FixedClock, folder: Path) -> None:
    credential = npki.load(folder, PASSWORD)
    der = sign(b"doc", KeySigner(credential.certificate, credential.private_key),
               detached=True, clock=clock).der
    with pytest.raises(CannotEvaluateError) as info:
        verify_signature(VerifyOrder(der), home=home, clock=clock)
    assert info.value.needs == "content"
    with pytest.raises(CannotEvaluateError) as info:
        verify_signature(VerifyOrder(b"not DER"), home=home, clock=clock)
    assert info.value.needs is None
    assert "Insufficient" not in str(info.value)


def test_export_then_import_keeps_key_and_r(folder: Path, tmp_path: Path) -> None:
    exported = export_folder(folder, password=PASSWORD, format=ExportFormat.PFX)
    assert exported.r_included
    pfx = tmp_path / "me.pfx"
    pfx.write_bytes(exported.data)
    assert pkcs12.load(pfx, PASSWORD).r == npki.load(folder, PASSWORD).r
    imported = import_pfx(pfx, tmp_path / "in", password=PASSWORD)
    assert npki.load(imported.files.folder, PASSWORD).r == npki.load(folder, PASSWORD).r
    with pytest.raises(FolderExistsError):
        import_pfx(pfx, tmp_path / "in", password=PASSWORD)
    assert import_pfx(pfx, tmp_path / "in", password=PASSWORD, replace=True).serial \
        == imported.serial
    with pytest.raises(PasswordPolicyError):
        import_pfx(pfx, tmp_path / "weak", password=PASSWORD, new_password="short")
    with pytest.raises(WrongPasswordError):
        export_folder(folder, password="Wrong-pw-1234!", format=ExportFormat.PEM)


def test_pem_export_is_the_unencrypted_key_without_r(folder: Path) -> None:
    exported = export_folder(folder, password=PASSWORD, format=ExportFormat.PEM)
    assert exported.data.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert not exported.r_included


def test_serve_home_publishes_then_answers_until_stopped(home: Home) -> None:
    assert cloud_api(home, passphrase=None, ca=None) is not None  # yessign issues them
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    port = sock.getsockname()[1]
    ready, stop = threading.Event(), threading.Event()
    served = threading.Thread(target=serve_home, args=(home, ServeOrder(poll_seconds=60)),
                              kwargs={"sock": sock, "passphrase": None,
                                      "listening": ready.set, "until": stop}, daemon=True)
    served.start()
    try:
        assert ready.wait(30)
        assert home.store.last_crl("yessign") is not None  # published before listening
        path = home.store.get_ca("yessign").crl_url.split("/", 3)[3]
        # The socket listens already: the request waits in its backlog until uvicorn runs.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/{path}", timeout=30) as answer:
            assert answer.status == 200
    finally:
        stop.set()
        served.join(30)
        sock.close()
    assert not served.is_alive()


@pytest.mark.parametrize("demo", [tour_demo, egov_demo])
def test_the_demos_tell_what_happened(demo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    story = demo(tmp_path / "home", start=dt.datetime(2026, 3, 16, 3, tzinfo=dt.UTC))
    if demo is tour_demo:
        assert story.first.ok and story.before.ok and not story.after.ok
        assert [i.profile.name for i, _ in story.issued] == ["joint-general",
                                                            "financial-personal"]
    else:
        assert [r.ok for _, r in story.checked] == [True, True]
        assert [r.ok for _, r in story.rechecked] == [True, False, False]
    assert story.home == tmp_path / "home"
