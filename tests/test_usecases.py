"""The use cases (pki.usecases): what the CLI and TestPKI call, called directly."""

from __future__ import annotations

import datetime as dt
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pki import lifecycle
from pki.clock import FixedClock
from pki.errors import FolderExistsError, InvalidRRNError, PasswordPolicyError
from pki.home import Home
from pki.keys import npki
from pki.profiles import FinancialKind, JointPolicy
from pki.rrn import RRN
from pki.usecases.folders import FolderCheckName, check_folder
from pki.usecases.issuing import (
    FollowUpOrder,
    IssueOrder,
    finish_deliveries,
    issue_into_folder,
    renew_into_folder,
    undelivered_certificates,
)
from pki.usecases.serving import serve_home_in_thread
from pki.vid import identify_data_of

HOLDER = "9001011234568"
OTHER = "8505052345674"
PASSWORD = "Test-pw-1234!"


def test_issue_into_folder_records_the_certificate_and_delivers_its_files(
        home: Home, tmp_path: Path) -> None:
    done = issue_into_folder(home, IssueOrder(name="홍길동", rrn=HOLDER, out=tmp_path / "out",
                                              with_km=True),
                             password=PASSWORD, passphrase=None)
    assert done.folder == npki.folder_for(tmp_path / "out", done.issued.certificate)
    assert [f.certificate.name for f in done.files] == [npki.CERT_FILE, npki.KM_CERT_FILE]
    loaded = npki.load(done.folder, PASSWORD)
    assert loaded.certificate == done.issued.certificate
    assert home.store.find_certificates(done.issued.serial)
    assert undelivered_certificates(home) == []


def test_a_financial_order_issues_a_financial_certificate(home: Home, tmp_path: Path) -> None:
    done = issue_into_folder(home, IssueOrder(name="김금융", rrn=HOLDER, out=tmp_path,
                                              profile=FinancialKind.PERSONAL),
                             password=PASSWORD, passphrase=None)
    assert done.issued.profile.name.startswith("financial")
    assert JointPolicy.GENERAL is IssueOrder(name="x", rrn=HOLDER, out=tmp_path).profile


def test_a_folder_in_the_way_refuses_the_issuance_and_records_nothing(
        home: Home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = issue_into_folder(home, IssueOrder(name="홍길동", rrn=HOLDER, out=tmp_path),
                              password=PASSWORD, passphrase=None)
    before = home.store.list_certificates()
    # Each issuance gets a new CN and so a new folder: send the next one into the first's.
    monkeypatch.setattr(npki, "folder_for", lambda base, cert: first.folder)
    with pytest.raises(FolderExistsError):
        issue_into_folder(home, IssueOrder(name="홍길동", rrn=HOLDER, out=tmp_path),
                          password=PASSWORD, passphrase=None)
    assert home.store.list_certificates() == before
    assert [p.name for p in first.folder.parent.iterdir()] == [first.folder.name]
    assert npki.load(first.folder, PASSWORD).certificate == first.issued.certificate


def test_an_order_refuses_bad_input_before_the_home_is_opened(tmp_path: Path) -> None:
    with pytest.raises(InvalidRRNError):
        IssueOrder(name="홍길동", rrn="9001011234560", out=tmp_path).check()
    with pytest.raises(ValueError, match="key-management"):
        IssueOrder(name="홍길동", rrn=HOLDER, out=tmp_path, csr=b"-", with_km=True).check()
    with pytest.raises(InvalidRRNError):
        FollowUpOrder(serial=1, rrn="123", out=tmp_path).check()


def test_a_weak_password_issues_nothing(home: Home, tmp_path: Path) -> None:
    with pytest.raises(PasswordPolicyError):
        issue_into_folder(home, IssueOrder(name="홍길동", rrn=HOLDER, out=tmp_path),
                          password="short", passphrase=None)
    assert home.store.list_certificates() == []


def test_renew_into_folder_delivers_the_new_certificate(home: Home, clock: FixedClock,
                                                        tmp_path: Path) -> None:
    old = issue_into_folder(home, IssueOrder(name="홍길동", rrn=HOLDER, out=tmp_path / "a"),
                            password=PASSWORD, passphrase=None)
    clock.advance(dt.timedelta(days=350))
    new = renew_into_folder(home, FollowUpOrder(serial=old.issued.serial, rrn=HOLDER,
                                                out=tmp_path / "b"),
                            password=PASSWORD, passphrase=None)
    assert new.issued.serial != old.issued.serial
    assert npki.load(new.folder, PASSWORD).certificate == new.issued.certificate
    assert finish_deliveries(home).undelivered == ()


def test_check_folder_reports_each_check(home: Home, tmp_path: Path) -> None:
    done = issue_into_folder(home, IssueOrder(name="홍길동", rrn=HOLDER, out=tmp_path),
                             password=PASSWORD, passphrase=None)
    good = check_folder(done.folder, password=PASSWORD, rrn=RRN.parse(HOLDER))
    assert good.ok
    assert [c.name for c in good.checks] == [
        FolderCheckName.PASSWORD, FolderCheckName.KEY_MATCHES_CERTIFICATE,
        FolderCheckName.RANDOM_NUM, FolderCheckName.VID]
    someone_else = check_folder(done.folder, password=PASSWORD, rrn=RRN.parse(OTHER))
    assert not someone_else.ok
    assert [c.name for c in someone_else.checks if not c.ok] == [FolderCheckName.VID]
    wrong = check_folder(done.folder, password="Wrong-pw-1234!")
    assert [(c.name, c.ok) for c in wrong.checks] == [(FolderCheckName.PASSWORD, False)]


def test_identify_data_of_reads_the_vid_or_says_there_is_none(home: Home,
                                                               tmp_path: Path) -> None:
    done = issue_into_folder(home, IssueOrder(name="홍길동", rrn=HOLDER, out=tmp_path),
                             password=PASSWORD, passphrase=None)
    data = identify_data_of(done.issued.certificate)
    assert data is not None and data.real_name == "홍길동" and data.vid is not None
    assert identify_data_of(home.store.get_ca("root").certificate) is None


def test_serve_home_in_thread_answers_and_republishes_after_a_revocation(
        home: Home, clock: FixedClock, tmp_path: Path) -> None:
    done = issue_into_folder(home, IssueOrder(name="홍길동", rrn=HOLDER, out=tmp_path),
                             password=PASSWORD, passphrase=None)
    record = home.store.get_ca(done.issued.ca)
    path = record.crl_url.split("/", 3)[3]
    with serve_home_in_thread(home) as served:
        def crl() -> x509.CertificateRevocationList:
            with urllib.request.urlopen(f"{served.url}/{path}", timeout=10) as response:
                return x509.load_der_x509_crl(response.read())

        assert crl().get_revoked_certificate_by_serial_number(done.issued.serial) is None
        clock.advance(dt.timedelta(minutes=1))
        lifecycle.revoke(home.store, done.issued.serial, at=clock.now(),
                         reason=x509.ReasonFlags.key_compromise)
        served.republish()
        assert crl().get_revoked_certificate_by_serial_number(done.issued.serial) is not None


def test_sign_with_folder_signs_and_seals_r_for_the_relying_party(
        home: Home, clock: FixedClock, tmp_path: Path) -> None:
    from pki.signing.envelope import open_r_envelope
    from pki.usecases.signing import SignOrder, sign_with_folder

    holder = issue_into_folder(home, IssueOrder(name="홍길동", rrn=HOLDER, out=tmp_path / "h"),
                               password=PASSWORD, passphrase=None)
    party = issue_into_folder(home, IssueOrder(name="김은행", rrn=OTHER, out=tmp_path / "p"),
                              password=PASSWORD, passphrase=None)
    done = sign_with_folder(SignOrder(b"document", holder.folder,
                                      r_recipient=party.issued.certificate),
                            password=PASSWORD, clock=clock)
    assert done.timestamp is None and done.r_envelope is not None
    assert open_r_envelope(done.r_envelope, party.issued.private_key) == holder.issued.r
    assert done.signed.signing_time == clock.now()


def test_kpki_sign_refuses_to_send_a_missing_r_before_writing_the_signature(
        home: Home, tmp_path: Path) -> None:
    """It used to write FILE.p7s and then fail: a half-done command."""
    from click.testing import CliRunner

    from pki.cli.main import cli

    done = issue_into_folder(home, IssueOrder(name="홍길동", rrn=HOLDER, out=tmp_path / "h"),
                             password=PASSWORD, passphrase=None)
    no_r = tmp_path / "no-r"
    npki.dump(no_r, done.issued.certificate, done.issued.private_key, PASSWORD, r=None)
    party = tmp_path / "party.pem"
    party.write_bytes(done.issued.certificate.public_bytes(serialization.Encoding.PEM))
    document = tmp_path / "doc.txt"
    document.write_bytes(b"document")
    result = CliRunner().invoke(cli, ["sign", str(document), "--npki", str(no_r),
                                      "--r-for", str(party)],
                                env={"KPKI_KEY_PASSWORD": PASSWORD})
    assert result.exit_code != 0
    assert "no R" in str(result.exception) + result.output
    assert not (tmp_path / "doc.txt.p7s").exists()
