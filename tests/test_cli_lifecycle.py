"""kpki cert revoke|suspend|resume|renew|reissue and kpki crl publish through CliRunner."""

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509

from pki.cli.main import cli
from pki.clock import KST
from pki.home import Home
from pki.keys import npki
from tests.test_cli import assert_one_line_error

PASSWORD = "Test-pass-1234!"
RRN = "9005171234566"


@pytest.fixture
def runner(monkeypatch):
    for name in ("KPKI_HOME", "KPKI_KEY_PASSWORD", "KPKI_CA_PASSPHRASE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KPKI_KEY_PASSWORD", PASSWORD)
    return CliRunner()


@pytest.fixture
def setup(home, authority):
    issued = authority.issue_joint(name="홍길동", rrn=RRN)
    path = str(home.path)
    return path, format(issued.serial, "X"), issued


def run(runner, home, *args):
    return runner.invoke(cli, ["--home", home, *[str(a) for a in args]],
                         catch_exceptions=False)


def _status(home, serial):
    with Home.open(home) as h:
        return h.store.find_certificates(int(serial, 16))[0]


def test_revoke_with_reason_and_invalidity_date(runner, setup):
    home, serial, _ = setup
    result = run(runner, home, "cert", "revoke", serial, "--reason", "keycompromise",
                 "--invalidity-date", "2026-03-01", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "revoked"
    record = _status(home, serial)
    assert record.reason is x509.ReasonFlags.key_compromise
    # KST unless the time carries an offset (issue 13 item 4; it was read as UTC)
    assert record.invalidity_date == dt.datetime(2026, 3, 1, tzinfo=KST)
    assert_one_line_error(run(runner, home, "cert", "revoke", serial))  # twice


def test_revoke_refusals(runner, setup):
    home, serial, _ = setup
    assert_one_line_error(run(runner, home, "cert", "revoke", "ABCDEF"))
    assert_one_line_error(run(runner, home, "cert", "revoke", serial, "--reason",
                              "certificateHold"), 2)
    assert_one_line_error(run(runner, home, "cert", "revoke", serial, "--invalidity-date",
                              "2099-01-01"), 2)
    assert_one_line_error(run(runner, home, "cert", "resume", serial))
    assert _status(home, serial).status.value == "valid"


def test_suspend_resume(runner, setup):
    home, serial, _ = setup
    assert json.loads(run(runner, home, "cert", "suspend", serial, "--json").stdout)[
        "status"] == "suspended"
    assert "suspended" in run(runner, home, "cert", "list", "--status", "suspended").stdout
    assert json.loads(run(runner, home, "cert", "resume", serial, "--json").stdout)[
        "status"] == "valid"


def test_renew_outside_the_window_is_refused(runner, setup, tmp_path):
    home, serial, _ = setup
    result = run(runner, home, "cert", "renew", serial, "--rrn", RRN, "--out", tmp_path / "o")
    assert_one_line_error(result)
    assert "opens on" in result.stderr
    assert not (tmp_path / "o").exists()


def test_reissue_writes_a_new_folder_and_revokes_the_old(runner, setup, tmp_path):
    home, serial, issued = setup
    result = run(runner, home, "cert", "reissue", serial, "--rrn", RRN, "--out", tmp_path / "o",
                 "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    new = npki.load(Path(info["folder"]), PASSWORD)
    assert new.certificate.not_valid_after_utc == issued.certificate.not_valid_after_utc
    old = _status(home, serial)
    assert (old.status.value, old.reason) == ("revoked", x509.ReasonFlags.superseded)


def test_crl_publish_full_then_delta(runner, setup):
    home, serial, _ = setup
    assert "needs a full CRL" in run(runner, home, "crl", "publish", "--delta").stdout
    full = json.loads(run(runner, home, "crl", "publish", "--ca", "yessign", "--json").stdout)
    run(runner, home, "cert", "revoke", serial)
    delta = json.loads(run(runner, home, "crl", "publish", "--delta", "--json").stdout)
    by_ca = {d["ca"]: d for d in delta}
    assert by_ca["yessign"]["delta_base"] == full[0]["number"]
    assert by_ca["yessign"]["entries"] == 1
    crl = x509.load_der_x509_crl(Path(by_ca["yessign"]["der"]).read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(int(serial, 16)) is not None
    assert_one_line_error(run(runner, home, "crl", "publish", "--ca", "nope"))
