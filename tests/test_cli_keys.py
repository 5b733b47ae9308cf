"""kpki key passwd|export|import and kpki npki list|check, through CliRunner."""

import datetime as dt
import json
import stat
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization

from pki.cli.main import cli
from pki.clock import FixedClock
from pki.errors import WrongPasswordError
from pki.keys import npki, pkcs12
from pki.keys.discovery import CertificateStatus, default_base, scan
from pki.keys.folder import write_npki_folder
from pki.profiles import PolicyClass
from tests.test_cli import assert_one_line_error

PASSWORD = "Test-pass-1234!"
NEW_PASSWORD = "Other-pass-5678?"
RRN = "9005171234566"


@pytest.fixture
def runner(monkeypatch):
    for name in ("KPKI_HOME", "KPKI_KEY_PASSWORD", "KPKI_NEW_KEY_PASSWORD", "KPKI_PFX_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


@pytest.fixture
def secrets_dir(tmp_path):
    d = tmp_path / "secrets"
    d.mkdir()
    (d / "old").write_text(PASSWORD + "\n")
    (d / "new").write_text(NEW_PASSWORD + "\n")
    (d / "wrong").write_text("Wrong-pass-000!\n")
    (d / "weak").write_text("weak\n")
    return d


@pytest.fixture
def base(authority, tmp_path):
    return tmp_path / "base"


@pytest.fixture
def folder(authority, base):
    issued = authority.issue_joint(name="홍길동", rrn=RRN, with_km=True)
    written = write_npki_folder(issued, base, password=PASSWORD)
    return written[0].folder


def run(runner, *args):
    return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)


# -- passwd --------------------------------------------------------------------------------


def test_passwd_changes_both_key_files(runner, folder, secrets_dir):
    before = npki.load(folder, PASSWORD)
    result = run(runner, "key", "passwd", folder, "--password-file", secrets_dir / "old",
                 "--new-password-file", secrets_dir / "new", "--json")
    assert result.exit_code == 0, result.output
    assert {Path(p).name for p in json.loads(result.stdout)["changed"]} == {
        "signPri.key", "kmPri.key"}
    after = npki.load(folder, NEW_PASSWORD)
    assert after.r == before.r
    assert after.private_key.private_numbers() == before.private_key.private_numbers()
    assert npki.load(folder, NEW_PASSWORD, key_management=True).r is not None
    with pytest.raises(Exception, match="password"):
        npki.load(folder, PASSWORD)
    assert stat.S_IMODE((folder / "signPri.key").stat().st_mode) == 0o600


def test_passwd_refusals_change_nothing(runner, folder, secrets_dir):
    original = (folder / "signPri.key").read_bytes()
    wrong = run(runner, "key", "passwd", folder, "--password-file", secrets_dir / "wrong",
                "--new-password-file", secrets_dir / "new")
    assert_one_line_error(wrong)
    weak = run(runner, "key", "passwd", folder, "--password-file", secrets_dir / "old",
               "--new-password-file", secrets_dir / "weak")
    assert_one_line_error(weak)
    assert "characters" in weak.stderr
    assert (folder / "signPri.key").read_bytes() == original
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_passwd_is_atomic_when_the_write_fails(folder, monkeypatch):
    from pki import fsutil
    from pki.errors import OutputError

    original = (folder / "signPri.key").read_bytes()

    def crash(path, data, *, mode=0o644):
        raise OutputError("disk full", path=str(path))

    monkeypatch.setattr(npki, "atomic_write", crash)
    with pytest.raises(OutputError):
        npki.change_password(folder, PASSWORD, NEW_PASSWORD)
    assert (folder / "signPri.key").read_bytes() == original
    del fsutil


# -- export / import ---------------------------------------------------------------------


@pytest.mark.parametrize("legacy", [False, True])
def test_export_import_round_trip_keeps_key_and_r(runner, folder, tmp_path, secrets_dir,
                                                  legacy):
    pfx = tmp_path / "me.pfx"
    args = ["key", "export", folder, "--out", pfx, "--password-file", secrets_dir / "old"]
    result = run(runner, *args, *(["--legacy"] if legacy else []), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["r_included"] is True
    assert stat.S_IMODE(pfx.stat().st_mode) == 0o600
    original = npki.load(folder, PASSWORD)
    assert pkcs12.load(pfx, PASSWORD).r == original.r

    result = run(runner, "key", "import", pfx, "--out", tmp_path / "elsewhere",
                 "--password-file", secrets_dir / "old", "--json")
    assert result.exit_code == 0, result.output
    new_folder = Path(json.loads(result.stdout)["folder"])
    assert new_folder.name == folder.name
    assert new_folder.parent.parent.parent.name == "NPKI"
    imported = npki.load(new_folder, PASSWORD)
    assert imported.r == original.r
    assert imported.private_key.private_numbers() == original.private_key.private_numbers()


def test_export_with_its_own_pfx_password(runner, folder, tmp_path, secrets_dir):
    pfx = tmp_path / "me.pfx"
    result = run(runner, "key", "export", folder, "--out", pfx, "--password-file",
                 secrets_dir / "old", "--pfx-password-file", secrets_dir / "new")
    assert result.exit_code == 0, result.output
    assert pkcs12.load(pfx, NEW_PASSWORD).r is not None


def test_openssl_pkey_reads_an_explicit_unencrypted_export(runner, folder, tmp_path,
                                                           secrets_dir):
    out = tmp_path / "key.pem"
    result = run(runner, "key", "export", folder, "--out", out, "--unencrypted",
                 "--password-file", secrets_dir / "old")
    assert result.exit_code == 0, result.output
    assert "UNENCRYPTED" in result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    done = subprocess.run(["openssl", "pkey", "-in", str(out), "-pubout"], capture_output=True,
                          check=True)
    cert = npki.load(folder, PASSWORD).certificate
    assert serialization.load_pem_public_key(done.stdout) == cert.public_key()


def test_import_refusals(runner, folder, tmp_path, secrets_dir):
    pfx = tmp_path / "me.pfx"
    run(runner, "key", "export", folder, "--out", pfx, "--password-file", secrets_dir / "old")
    wrong = run(runner, "key", "import", pfx, "--out", tmp_path / "x", "--password-file",
                secrets_dir / "wrong")
    assert_one_line_error(wrong)
    garbage = tmp_path / "garbage.pfx"
    garbage.write_bytes(b"not a pfx")
    assert_one_line_error(run(runner, "key", "import", garbage, "--out", tmp_path / "x",
                              "--password-file", secrets_dir / "old"))
    assert not (tmp_path / "x").exists()
    exists = run(runner, "key", "export", folder, "--out", pfx, "--password-file",
                 secrets_dir / "old")
    assert_one_line_error(exists, 2)  # a usage error naming --force (issue 13 item 4)


# -- npki list / check -------------------------------------------------------------------


def test_npki_list_shows_every_folder(runner, folder, base):
    (base / "NPKI" / "yessign" / "USER" / "cn=broken").mkdir()
    result = run(runner, "npki", "list", "--base", base, "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["certificates"]
    by_status = {r["status"]: r for r in rows}
    good = by_status["valid"]
    assert good["policy_class"] == "general" and good["has_key"] and good["has_km"]
    assert good["issuer"].startswith("CN=yessignCA-Test Class 4")
    assert by_status["unreadable"]["error"]
    text = run(runner, "npki", "list", "--base", base).stdout
    assert "홍길동" in text and "general" in text


def test_scan_status_follows_the_clock(folder, base):
    cert = npki.read_certificate(folder / "signCert.der")
    at = FixedClock(cert.not_valid_after_utc - dt.timedelta(days=10)).now()
    (entry,) = scan(base, at)
    assert entry.status is CertificateStatus.EXPIRING
    assert scan(base, cert.not_valid_after_utc + dt.timedelta(seconds=1))[0].status is \
        CertificateStatus.EXPIRED
    assert entry.policy_class is PolicyClass.GENERAL


def test_banking_policy_is_restricted(authority, tmp_path):
    from pki.profiles import JointPolicy

    issued = authority.issue_joint(name="홍길동", rrn=RRN, policy=JointPolicy.BANKING)
    write_npki_folder(issued, tmp_path, password=PASSWORD)
    (entry,) = scan(tmp_path, issued.certificate.not_valid_before_utc)
    assert entry.policy_class is PolicyClass.RESTRICTED


@pytest.mark.parametrize(("platform", "env", "expected"), [
    ("win32", {"USERPROFILE": "C:/Users/kim"}, "C:/Users/kim/AppData/LocalLow"),
    ("linux", {"HOME": "/home/kim"}, "/home/kim"),
])
def test_default_base_per_operating_system(platform, env, expected):
    assert default_base(platform, env) == Path(expected)


def test_default_base_macos():
    assert default_base("darwin", {}).parts[-2:] == ("Library", "Preferences")


def test_npki_check(runner, folder, secrets_dir):
    good = run(runner, "npki", "check", folder, "--rrn", RRN, "--password-file",
               secrets_dir / "old", "--json")
    assert good.exit_code == 0, good.output
    assert [c["check"] for c in json.loads(good.stdout)["checks"]] == [
        "password", "key-matches-certificate", "random-num", "vid"]
    other_rrn = run(runner, "npki", "check", folder, "--rrn", "8001011234560",
                    "--password-file", secrets_dir / "old", "--json")
    assert other_rrn.exit_code == 1
    assert json.loads(other_rrn.stdout)["checks"][-1] == {
        "check": "vid", "ok": False, "detail": "the VID does not match the resident number"}
    wrong = run(runner, "npki", "check", folder, "--password-file", secrets_dir / "wrong")
    assert wrong.exit_code == 1 and "FAIL" in wrong.stdout


def test_npki_check_mismatched_pair(runner, folder, secrets_dir, key_pool):
    cert = npki.read_certificate(folder / "signCert.der")
    other = key_pool.other_than(cert.public_key())
    (folder / "signPri.key").write_bytes(npki.encrypt(other, PASSWORD, r=bytes(20)))
    result = run(runner, "npki", "check", folder, "--password-file", secrets_dir / "old",
                 "--json")
    assert result.exit_code == 1
    checks = {c["check"]: c["ok"] for c in json.loads(result.stdout)["checks"]}
    assert checks == {"password": True, "key-matches-certificate": False}


# -- passwd: both key files or neither, across crashes (issue 10 item 13) ------------------

# (point, kills): new files written but not decided; decided, nothing renamed; one of the
# two renamed; both renamed, the journal not yet removed.
PASSWD_FAULTS = [("passwd.staged", 10), ("passwd.committed", 10), ("passwd.renamed@1", 10),
                 ("passwd.renamed@2", 10)]


def test_passwd_changes_both_files_or_neither_across_40_kills(folder, secrets_dir):
    from tests.crash import CrashRunner

    passwords = {PASSWORD: secrets_dir / "old", NEW_PASSWORD: secrets_dir / "new"}
    current = PASSWORD
    runner = CrashRunner()
    try:
        for point, count in PASSWD_FAULTS:
            for _ in range(count):
                new = NEW_PASSWORD if current == PASSWORD else PASSWORD
                outcome = runner.run(["key", "passwd", str(folder), "--password-file",
                                      str(passwords[current]), "--new-password-file",
                                      str(passwords[new])], fault=point, env={})
                assert outcome.killed, (point, outcome)
                # The next run (here a load) finishes a decided change, or the old one holds.
                expected = current if point == "passwd.staged" else new
                sign = npki.load(folder, expected)
                km = npki.load(folder, expected, key_management=True)
                assert sign.r is not None and km.r is not None
                with pytest.raises(WrongPasswordError):
                    npki.load(folder, new if expected == current else current,
                              key_management=True)
                assert not (folder / npki.PASSWD_JOURNAL).exists()
                current = expected
        done = runner.run(["key", "passwd", str(folder), "--password-file",
                           str(passwords[current]), "--new-password-file",
                           str(secrets_dir / "wrong")], fault=None, env={})
        assert done.exit == 0
    finally:
        runner.close()
    assert npki.load(folder, "Wrong-pass-000!", key_management=True).r is not None
    assert sorted(p.name for p in folder.iterdir()) == [
        "kmCert.der", "kmPri.key", "signCert.der", "signPri.key"]
    assert {stat.S_IMODE((folder / n).stat().st_mode) for n in ("kmPri.key", "signPri.key")
            } == {0o600}


def test_an_undecided_change_is_undone_by_the_next_passwd(folder, secrets_dir):
    from tests.crash import CrashRunner

    runner = CrashRunner()
    try:
        args = ["key", "passwd", str(folder), "--password-file", str(secrets_dir / "old"),
                "--new-password-file", str(secrets_dir / "new")]
        assert runner.run(args, fault="passwd.staged", env={}).killed
        assert len([p for p in folder.iterdir() if p.name.endswith(".new")]) == 2
        assert runner.run(args, fault=None, env={}).exit == 0
    finally:
        runner.close()
    assert npki.load(folder, NEW_PASSWORD).r is not None
    assert npki.load(folder, NEW_PASSWORD, key_management=True).r is not None
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]


# -- import: a subject no folder can hold (issue 10 item 14) -------------------------------


def test_import_of_a_3000_character_cn_is_one_typed_line(runner, authority, tmp_path,
                                                         secrets_dir, key_pool):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    key = key_pool.keys(2048, 1)[0]
    with pytest.warns(UserWarning):
        cn = x509.NameAttribute(NameOID.COMMON_NAME, "가" * 3000, _validate=False)
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "KR"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "yessign"), cn])
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(7).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=30)).sign(key, hashes.SHA256()))
    pfx = pkcs12.dump(tmp_path / "long.pfx", cert, key, PASSWORD, r=None)
    result = run(runner, "key", "import", pfx, "--out", tmp_path / "x", "--password-file",
                 secrets_dir / "old")
    assert_one_line_error(result)
    assert "unexpected" not in result.stderr and "folder name" in result.stderr
    assert not (tmp_path / "x").exists()


# -- PFX passwords outside ASCII (issue 11 item 8) -----------------------------------------


def test_export_under_a_non_ascii_password_warns_and_names_the_option(runner, authority,
                                                                      tmp_path, secrets_dir):
    hangul = "비밀번호abc12345!"
    issued = authority.issue_joint(name="홍길동", rrn=RRN)
    folder = write_npki_folder(issued, tmp_path / "base", password=hangul)[0].folder
    (secrets_dir / "hangul").write_text(hangul + "\n")
    pfx = tmp_path / "me.pfx"
    result = run(runner, "key", "export", folder, "--out", pfx, "--password-file",
                 secrets_dir / "hangul")
    assert result.exit_code == 0, result.output
    assert "not ASCII" in result.stderr and "--pfx-password-file" in result.stderr
    assert "Java" in result.stderr and "Windows" in result.stderr
    assert pkcs12.load(pfx, hangul).r == issued.r  # still written, as asked

    ascii_pfx = tmp_path / "portable.pfx"
    result = run(runner, "key", "export", folder, "--out", ascii_pfx, "--password-file",
                 secrets_dir / "hangul", "--pfx-password-file", secrets_dir / "new")
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr
    assert pkcs12.load(ascii_pfx, NEW_PASSWORD).r == issued.r
