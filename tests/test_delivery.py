"""Never issue what cannot be revoked: NPKI files appear only after the store has the
certificate, crashes at every step leave nothing the store does not know, a leftover
folder never blocks issuance, and names are refused before anything is recorded."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from pki import delivery as delivery_module
from pki.cli.main import cli
from pki.delivery import NPKIDelivery, recover_deliveries, undelivered
from pki.errors import FolderExistsError, InvalidNameError, StoreError
from pki.home import Home
from pki.keys import npki
from pki.store import open_store, sqlite_url
from tests.crash import CrashRunner
from tests.test_cli import assert_one_line_error

PASSWORD = "Test-pass-1234!"
RRN = "9005171234566"
CERT_FILES = ("signCert.der", "kmCert.der")


def _certificates_on_disk(base: Path) -> list[tuple[Path, bytes]]:
    """Every certificate file under ``base``, wherever it lies and whatever its name says
    (``signCert.der.tmp`` in a staging folder included)."""
    return [(p, p.read_bytes()) for p in base.rglob("*")
            if p.is_file() and p.name.split(".tmp")[0] in CERT_FILES]


def _stored(home_path: Path) -> set[bytes]:
    store = open_store(sqlite_url(home_path / "kpki.db"))
    try:
        return {r.der for r in store.list_certificates()}
    finally:
        store.close()


def _leftovers(base: Path) -> list[Path]:
    return [p for p in base.rglob(".kpki-staging-*")]


# -- order: stage, commit, rename ----------------------------------------------------------


def test_files_get_their_names_only_after_the_commit(home, authority, tmp_path, monkeypatch):
    out = tmp_path / "out"
    seen: dict[str, tuple[int, int, int]] = {}

    def observe(name: str) -> None:
        # What another process sees: a second connection, and the files under their names.
        named = [p for p, _ in _certificates_on_disk(out) if p.name in CERT_FILES]
        staged = [p for p, _ in _certificates_on_disk(out) if p.name not in CERT_FILES]
        seen.setdefault(name, (len(_stored(home.path)), len(named), len(staged)))

    monkeypatch.setattr(delivery_module, "fault_point", observe)
    issued = authority.issue_joint(name="홍길동", rrn=RRN, with_km=True,
                                   deliver=NPKIDelivery(out, password=PASSWORD))
    assert seen["delivery.staged"] == (0, 0, 2)  # written, not recorded, no real name
    assert seen["delivery.committed"] == (2, 0, 2)
    assert seen["delivery.renamed"] == (2, 2, 0)
    folder = npki.folder_for(out, issued.certificate)
    assert npki.load(folder, PASSWORD).r == issued.r
    assert npki.load(folder, PASSWORD, key_management=True).r == issued.key_management.r
    assert home.store.pending_deliveries() == []
    assert [e.action for e in home.store.audit_log(serial=issued.serial)][-1] == \
        "certificate.delivered"


def test_a_failed_commit_leaves_no_files(home, authority, tmp_path):
    out = tmp_path / "out"
    home.store.fail_commits(1)  # the SQLite store's test hook: COMMIT fails, rolled back
    with pytest.raises(StoreError):
        authority.issue_joint(name="홍길동", rrn=RRN, deliver=NPKIDelivery(out, password=PASSWORD))
    assert home.store.list_certificates() == []
    assert _certificates_on_disk(out) == [] and _leftovers(out) == []


# -- crashes: 100 kills across the fault points -------------------------------------------


@pytest.fixture
def crash_home(tmp_path):
    home = tmp_path / "home"
    Home.create(home, passphrase=None).close()
    return home


@pytest.fixture
def crash_runner():
    runner = CrashRunner()
    yield runner
    runner.close()


def _crash_issue(home: Path, out: Path, *extra: str) -> tuple[list[str], dict[str, str]]:
    """``kpki issue joint`` into ``out`` for a crash run in ``home``: its argv and env."""
    return (["issue", "joint", "--name", "홍길동", "--rrn", RRN, *extra, "--out", str(out)],
            {"KPKI_HOME": str(home), "KPKI_KEY_PASSWORD": PASSWORD})


# (point, kills): before the commit, after it, between two file renames, after the folder
# rename before the delivery is marked. Every issuance writes four files (--with-km).
ISSUANCE_FAULTS = [("delivery.staged", 25), ("delivery.committed", 25),
                   ("delivery.renaming@2", 25), ("delivery.renamed", 25)]


def test_no_certificate_outside_the_store_after_100_kills(crash_home, crash_runner, tmp_path):
    out = tmp_path / "out"
    argv, env = _crash_issue(crash_home, out, "--with-km")
    kills = 0
    for point, count in ISSUANCE_FAULTS:
        for _ in range(count):
            outcome = crash_runner.run(argv, fault=point, env=env)
            assert outcome.killed, (point, outcome)
            kills += 1
            # Under a real name, every certificate is one the store has; under a temporary
            # name only the last run's, and each run removes or finishes the ones before.
            stored = _stored(crash_home)
            outside = [p for p, der in _certificates_on_disk(out)
                       if p.name in CERT_FILES and der not in stored]
            assert outside == [], (point, outside)
            assert len(_leftovers(out)) <= 1, point
    assert kills == 100

    # The next run finishes what was committed and removes what was not.
    done = crash_runner.run(["cert", "deliver", "--out", str(out)], fault=None, env=env)
    assert done.exit == 0
    assert _leftovers(out) == []
    with Home.open(crash_home) as home:
        assert undelivered(home.store) == []
        assert home.store.pending_deliveries() == []
        records = home.store.list_certificates()
        for record in records:
            folder = npki.folder_for(out, record.certificate)
            assert record.der in {(folder / n).read_bytes() for n in CERT_FILES}
    # Exactly the recorded certificates are on disk, each in its folder. Kills after a
    # commit (at least the 50 at "committed" and "renamed"; a "renaming" kill may strike
    # while the run finishes an earlier delivery, before its own commit) were delivered.
    on_disk = _certificates_on_disk(out)
    assert all(p.name in CERT_FILES for p, _ in on_disk)
    assert sorted(der for _, der in on_disk) == sorted(r.der for r in records)
    assert len(records) >= 2 * 50


def test_an_uncommitted_leftover_goes_with_the_next_issuance(crash_home, crash_runner,
                                                              tmp_path):
    out = tmp_path / "out"
    argv, env = _crash_issue(crash_home, out)
    assert crash_runner.run(argv, fault="delivery.staged", env=env).killed
    (leftover,) = _leftovers(out)
    assert sorted(p.name for p in leftover.iterdir()) == ["signCert.der.tmp",
                                                          "signPri.key.tmp"]
    assert crash_runner.run(argv, fault=None, env=env).exit == 0
    assert not leftover.exists()
    assert len(_certificates_on_disk(out)) == 1


def test_a_certificate_whose_files_are_lost_is_reported_undelivered(crash_home, crash_runner,
                                                                    tmp_path):
    out = tmp_path / "out"
    argv, env = _crash_issue(crash_home, out)
    assert crash_runner.run(argv, fault="delivery.committed", env=env).killed
    (staging,) = _leftovers(out)
    shutil.rmtree(staging)  # say the staged files were lost with the disk

    runner = CliRunner()
    listed = runner.invoke(cli, ["--home", str(crash_home), "cert", "list", "--undelivered",
                                 "--json"], catch_exceptions=False)
    assert listed.exit_code == 0, listed.output
    (item,) = json.loads(listed.stdout)
    assert item["staged"] is False and item["folder"].startswith(str(out))
    with Home.open(crash_home) as home:
        (lost,) = undelivered(home.store)
        assert format(lost.certificate.serial, "X") == item["serial"]
        assert not recover_deliveries(home.store, at=home.clock.now()).delivered
    revoked = runner.invoke(cli, ["--home", str(crash_home), "cert", "revoke", item["serial"]],
                            catch_exceptions=False)
    assert revoked.exit_code == 0, revoked.output


def test_a_committed_delivery_is_finished_by_cert_deliver(crash_home, crash_runner, tmp_path):
    out = tmp_path / "out"
    argv, env = _crash_issue(crash_home, out)
    assert crash_runner.run(argv, fault="delivery.committed", env=env).killed
    runner = CliRunner()
    listed = runner.invoke(cli, ["--home", str(crash_home), "cert", "list", "--undelivered",
                                 "--json"], catch_exceptions=False)
    assert [i["staged"] for i in json.loads(listed.stdout)] == [True]
    done = runner.invoke(cli, ["--home", str(crash_home), "cert", "deliver", "--json"],
                         catch_exceptions=False)
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert len(report["delivered"]) == 1 and report["undelivered"] == []
    assert npki.load(Path(report["delivered"][0]["folder"]), PASSWORD).r is not None


# -- a leftover folder never blocks issuance (issue 10 item 9) ------------------------------


def _issue(runner, home, out, *extra):
    return runner.invoke(cli, ["--home", str(home), "issue", "joint", "--name", "홍길동",
                               "--rrn", RRN, "--out", str(out), "--json", *extra],
                         env={"KPKI_KEY_PASSWORD": PASSWORD}, catch_exceptions=False)


def test_a_leftover_folder_is_refused_once_and_a_retry_gets_a_new_cn(tmp_path, key_pool,
                                                                      clock):
    runner = CliRunner()
    out = tmp_path / "out"
    Home.create(tmp_path / "old", passphrase=None, clock=clock, key_generator=key_pool).close()
    first = _issue(runner, tmp_path / "old", out)
    assert first.exit_code == 0, first.output
    old_folder = Path(json.loads(first.stdout)["folder"])

    # rm -rf home && kpki init, reusing the old --out: the first CN is taken on disk.
    shutil.rmtree(tmp_path / "old")
    Home.create(tmp_path / "new", passphrase=None, clock=clock, key_generator=key_pool).close()
    refused = _issue(runner, tmp_path / "new", out)
    assert_one_line_error(refused)
    assert str(old_folder) in refused.stderr and "--force" in refused.stderr
    with Home.open(tmp_path / "new") as home:
        assert home.store.list_certificates() == []
    retried = [_issue(runner, tmp_path / "new", out) for _ in range(3)]
    assert [r.exit_code for r in retried] == [0, 0, 0]
    folders = {Path(json.loads(r.stdout)["folder"]) for r in retried}
    assert len(folders) == 3 and old_folder not in folders
    assert old_folder.is_dir()  # the old one is left alone


def test_force_replaces_the_folder(tmp_path, key_pool, clock):
    runner = CliRunner()
    out = tmp_path / "out"
    Home.create(tmp_path / "a", passphrase=None, clock=clock, key_generator=key_pool).close()
    Home.create(tmp_path / "b", passphrase=None, clock=clock, key_generator=key_pool).close()
    old = json.loads(_issue(runner, tmp_path / "a", out).stdout)
    forced = _issue(runner, tmp_path / "b", out, "--force")
    assert forced.exit_code == 0, forced.output
    new = json.loads(forced.stdout)
    assert new["folder"] == old["folder"] and new["serial"] != old["serial"]
    cert = npki.read_certificate(Path(new["folder"]) / "signCert.der")
    assert format(cert.serial_number, "X") == new["serial"]
    assert _leftovers(out) == []


def _recreated(home, key_pool):
    """Another home like ``home`` (as after re-creating it): its CA's CN sequence starts
    again, so its first certificate for the same holder names the same folder."""
    return Home.in_memory(clock=home.clock, key_generator=key_pool)


def test_python_api_refusal_uses_up_the_cn(home, authority, tmp_path, key_pool):
    out = tmp_path / "out"
    issued = authority.issue_joint(name="홍길동", rrn=RRN,
                                   deliver=NPKIDelivery(out, password=PASSWORD))
    folder = npki.folder_for(out, issued.certificate)
    again_home = _recreated(home, key_pool)
    other = again_home.authority()
    with pytest.raises(FolderExistsError) as refused:
        other.issue_joint(name="홍길동", rrn=RRN, deliver=NPKIDelivery(out, password=PASSWORD))
    assert refused.value.path == str(folder)
    assert again_home.store.list_certificates() == []
    again = other.issue_joint(name="홍길동", rrn=RRN, deliver=NPKIDelivery(out, password=PASSWORD))
    assert npki.folder_for(out, again.certificate) != folder


def test_replace_puts_the_old_folder_back_when_the_issuance_fails(home, authority, tmp_path,
                                                                  key_pool):
    out = tmp_path / "out"
    issued = authority.issue_joint(name="홍길동", rrn=RRN,
                                   deliver=NPKIDelivery(out, password=PASSWORD))
    folder = npki.folder_for(out, issued.certificate)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    again_home = _recreated(home, key_pool)
    other = again_home.authority()
    again_home.store.fail_commits(1)
    with pytest.raises(StoreError):
        other.issue_joint(name="홍길동", rrn=RRN,
                          deliver=NPKIDelivery(out, password=PASSWORD, replace=True))
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert _leftovers(out) == []
    assert again_home.store.list_certificates() == []
    assert len(home.store.list_certificates()) == 1


# -- names are refused before anything is recorded (issue 10 item 14) ----------------------


@pytest.mark.parametrize("char", list(',+=;"<>#'))
def test_names_an_npki_folder_would_escape_are_refused_before_recording(home, authority,
                                                                        tmp_path, char):
    with pytest.raises(InvalidNameError):
        authority.issue_joint(name=f"홍{char}길동", rrn=RRN)
    with pytest.raises(InvalidNameError):
        authority.issue_joint(name="홍길동", alias=f"HONG{char}", rrn=RRN)
    assert home.store.list_certificates() == []


def test_the_cn_limit_is_counted_in_utf8_bytes(home, authority):
    # yessign: name + "()" + 24 digits; 12 syllables are 36 bytes (62 in all), 13 are 65.
    fits = authority.issue_joint(name="가" * 12, rrn=RRN)
    assert len(fits.certificate.subject.rfc4514_string().encode()) > 64
    with pytest.raises(InvalidNameError) as refused:
        authority.issue_joint(name="가" * 13, rrn=RRN)
    assert "64 bytes" in str(refused.value)
    with pytest.raises(InvalidNameError):
        authority.issue_joint(name="가" * 12, alias="HONG", rrn=RRN)
    assert len(home.store.list_certificates()) == 1


def test_cli_refuses_a_long_hangul_name_in_one_line_before_any_secret(tmp_path, key_pool, clock):
    Home.create(tmp_path / "h", passphrase=None, clock=clock, key_generator=key_pool).close()
    result = CliRunner().invoke(cli, ["--home", str(tmp_path / "h"), "issue", "joint",
                                      "--name", "가" * 13, "--rrn", RRN, "--out",
                                      str(tmp_path / "out")], catch_exceptions=False)
    assert_one_line_error(result, 2)  # a usage error naming --name (issue 13 item 4)
    assert "unexpected" not in result.stderr and "--name" in result.stderr
    assert "64 bytes" in result.stderr  # (no key password was given: none was asked for)


# -- modes whatever the umask --------------------------------------------------------------


def _modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode)
            for p in [root, *root.rglob("*")]}


def test_folders_0700_and_keys_0600_under_umask_000(tmp_path, key_pool, clock):
    runner = CliRunner()
    previous = os.umask(0)
    try:
        home_path = tmp_path / "home"
        with Home.create(home_path, passphrase=b"ca-passphrase", clock=clock,
                         key_generator=key_pool) as home:
            authority = home.authority(passphrase=b"ca-passphrase")
            authority.issue_joint(name="홍길동", rrn=RRN, with_km=True,
                                  deliver=NPKIDelivery(tmp_path / "out", password=PASSWORD))
            home.publish_crls(passphrase=b"ca-passphrase")
        folder = next((tmp_path / "out").rglob("signCert.der")).parent
        secrets = tmp_path / "pw"
        secrets.write_text(PASSWORD)
        pfx = tmp_path / "exported" / "me.pfx"
        pfx.parent.mkdir()
        assert runner.invoke(cli, ["key", "export", str(folder), "--out", str(pfx),
                                   "--password-file", str(secrets)]).exit_code == 0
        assert runner.invoke(cli, ["key", "import", str(pfx), "--out", str(tmp_path / "imp"),
                                   "--password-file", str(secrets)]).exit_code == 0
    finally:
        os.umask(previous)

    out = _modes(tmp_path / "out")
    assert {m for name, m in out.items() if (tmp_path / "out" / name).is_dir()} == {0o700}
    assert {m for name, m in out.items() if name.endswith(".key")} == {0o600}
    imported = _modes(tmp_path / "imp")
    assert {m for name, m in imported.items() if (tmp_path / "imp" / name).is_dir()} == {0o700}
    assert {m for name, m in imported.items() if name.endswith(".key")} == {0o600}
    assert stat.S_IMODE(pfx.stat().st_mode) == 0o600
    home_modes = _modes(home_path)
    private = {name: m for name, m in home_modes.items()
               if name != "publish" and not name.startswith("publish/")}
    for name, mode in private.items():
        path = home_path / name
        if path.is_dir():
            assert mode == 0o700, name
        elif name.endswith(("key.pem", ".db", ".db-wal", ".db-shm")):
            assert mode == 0o600, name
    assert all(m == 0o755 for n, m in home_modes.items()
               if n.startswith("publish") and (home_path / n).is_dir())
    assert all(not m & 0o022 for m in home_modes.values())  # nothing writable by others
