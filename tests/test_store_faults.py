"""The store when the disk is full or the home is read-only.

A full disk is reported as a full disk (SQLite rolls the transaction back by itself, and a
second ROLLBACK used to hide the cause behind "cannot rollback - no transaction is active");
nothing is half-written and the store works again once there is room. A read-only home can
still be read (``kpki cert list``); writing commands fail with one line saying why.

SQLITE_FULL is provoked with the SQLite store's test hook
:meth:`pki.store.sqlite.SQLiteStore.limit_growth` (``PRAGMA max_page_count``: the store
cannot grow). A read-only
home is made with ``chmod -R a-w``; as root, the kpki process runs without the capabilities
that let root write anyway (``setpriv``).
"""

import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from pki import lifecycle
from pki.cli.main import cli
from pki.errors import DiskFullError, ReadOnlyStoreError
from pki.store import CertStatus
from pki.store.sqlite import SQLiteStore
from tests.test_cli import assert_one_line_error

# A full disk (SQLite's max_page_count), a read-only home (file modes of kpki.db and its WAL):
# SQLite's own failure modes, in its own file. A PostgreSQL store's disk and permissions are
# the server's.
pytestmark = pytest.mark.sqlite_only("a full SQLite file and a read-only kpki.db")

RRN = "9005171234566"
KPKI = str(Path(sys.executable).parent / "kpki")


# -- a full disk ----------------------------------------------------------------------------


def test_a_full_disk_is_reported_as_a_full_disk(home, authority):
    home.store.limit_growth()
    issued = []
    with pytest.raises(DiskFullError) as caught:
        for _ in range(200):
            issued.append(authority.issue_joint(name="홍길동", rrn=RRN).serial)
    assert "disk is full" in str(caught.value) and "rollback" not in str(caught.value)
    assert caught.value.path == home.store.path
    # nothing half-written: the store holds exactly what was issued, with audit rows
    assert sorted(r.serial for r in home.store.list_certificates()) == sorted(issued)
    events = [e for e in home.store.audit_log() if e.action == "certificate.issued"]
    assert len(events) == len(issued)
    home.store.limit_growth(None)
    assert home.store.find_certificates(authority.issue_joint(name="홍길동", rrn=RRN).serial)


def test_a_full_disk_during_revocation_changes_nothing(home, authority):
    serials = [authority.issue_joint(name="홍길동", rrn=RRN).serial for _ in range(80)]
    home.store.limit_growth()
    revoked = []
    with pytest.raises(DiskFullError):
        for serial in serials:
            lifecycle.revoke(home.store, serial, at=home.clock.now())
            revoked.append(serial)
    statuses = {r.serial: r.status for r in home.store.list_certificates()}
    assert {s for s, st in statuses.items() if st is CertStatus.REVOKED} == set(revoked)
    assert len(revoked) < len(serials)


def test_the_cli_says_the_disk_is_full(home, authority, monkeypatch):
    serials = [authority.issue_joint(name="홍길동", rrn=RRN).serial for _ in range(80)]
    monkeypatch.setattr(SQLiteStore, "on_open", [lambda store: store.limit_growth()])
    runner = CliRunner()
    for serial in serials:
        result = runner.invoke(cli, ["--home", str(home.path), "cert", "revoke",
                                     format(serial, "X")], catch_exceptions=False)
        if result.exit_code != 0:
            break
    assert_one_line_error(result)
    assert "disk is full" in result.stderr and "rollback" not in result.stderr


# -- a read-only home ----------------------------------------------------------------------


def _read_only(path: Path) -> None:
    for folder, _dirs, files in os.walk(path):
        for name in files:
            p = Path(folder) / name
            p.chmod(stat.S_IMODE(p.stat().st_mode) & ~0o222)
        Path(folder).chmod(stat.S_IMODE(Path(folder).stat().st_mode) & ~0o222)


def _writable(path: Path) -> None:
    for folder, _dirs, files in os.walk(path):
        Path(folder).chmod(stat.S_IMODE(Path(folder).stat().st_mode) | 0o200)
        for name in files:
            p = Path(folder) / name
            p.chmod(stat.S_IMODE(p.stat().st_mode) | 0o200)


@pytest.fixture
def read_only_kpki(home):
    """Run kpki on the home made read-only, as a process that file permissions bind."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("root ignores file permissions and setpriv is not installed")
        prefix = [setpriv, "--inh-caps=-all",
                  "--bounding-set=-dac_override,-dac_read_search,-fowner"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KPKI_")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*prefix, KPKI, "--home", str(home.path), *args], env=env,
                              capture_output=True, text=True, timeout=120)

    _read_only(home.path)
    probe = run("--version")
    assert probe.returncode == 0, probe.stderr
    yield run
    _writable(home.path)


def _one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kpki: error: "), done.stderr
    return lines[0]


@pytest.fixture
def issued_serial(home, authority):
    serial = authority.issue_joint(name="홍길동", rrn=RRN).serial
    home.close()  # a clean close: no WAL left beside the store
    return format(serial, "X")


def test_reading_commands_work_on_a_read_only_home(issued_serial, read_only_kpki):
    listed = read_only_kpki("cert", "list")
    assert listed.returncode == 0, listed.stderr
    assert issued_serial in listed.stdout
    for args in (("ca", "list"), ("ca", "show", "yessign"), ("cert", "list", "--json")):
        done = read_only_kpki(*args)
        assert done.returncode == 0, (args, done.stderr)


def test_writing_commands_on_a_read_only_home_fail_in_one_line(issued_serial, read_only_kpki):
    for args in (("cert", "revoke", issued_serial), ("crl", "publish"),
                 ("cert", "suspend", issued_serial)):
        line = _one_line_error(read_only_kpki(*args))
        assert "read-only" in line, (args, line)


def test_a_read_only_home_shows_changes_still_in_the_wal(home, authority):
    home.store.keep_changes_in_wal()
    serial = format(authority.issue_joint(name="홍길동", rrn=RRN).serial, "X")
    wal = Path(home.store.path + "-wal")
    assert wal.stat().st_size > 0  # the certificate is only in the WAL so far
    prefix = (["setpriv", "--inh-caps=-all",
               "--bounding-set=-dac_override,-dac_read_search,-fowner"]
              if os.geteuid() == 0 else [])
    if prefix and shutil.which("setpriv") is None:
        pytest.skip("root ignores file permissions and setpriv is not installed")
    _read_only(home.path)
    try:
        done = subprocess.run([*prefix, KPKI, "--home", str(home.path), "cert", "list"],
                              capture_output=True, text=True, timeout=120)
    finally:
        _writable(home.path)
    assert done.returncode == 0, done.stderr
    assert serial in done.stdout


def test_the_python_store_opens_read_only_and_refuses_writes(home, authority, monkeypatch):
    path = home.store.path
    home.close()
    # what SQLite answers in a folder it cannot write, before the store reopens read-only
    error = sqlite3.OperationalError("attempt to write a readonly database")
    error.sqlite_errorcode = sqlite3.SQLITE_READONLY_DIRECTORY  # type: ignore[attr-defined]

    def refuse_writable(store):
        if not store.read_only:
            raise error

    monkeypatch.setattr(SQLiteStore, "on_open", [refuse_writable])
    store = SQLiteStore(path)
    try:
        assert store.read_only
        assert store.get_ca("yessign").label == "yessign"
        with pytest.raises(ReadOnlyStoreError) as caught, store.transaction():
            pass
        assert caught.value.path == path
    finally:
        store.close()
