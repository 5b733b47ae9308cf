"""The tests' throwaway PostgreSQL server (tests/postgresql.py): one per run, a database of
its own per test, and the switch that sends every store to it."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import psycopg

from pki.store import sqlite_url

from . import postgresql


def test_a_test_gets_a_database_of_its_own(postgresql_url: str) -> None:
    with psycopg.connect(postgresql_url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        name = conn.execute("SELECT current_database()").fetchone()
        assert name is not None and name[0].startswith(postgresql.databases().prefix)
        conn.execute("CREATE TABLE t (x int)")  # empty: the name is free


def test_the_run_has_one_server_whose_address_subprocesses_inherit() -> None:
    admin = os.environ[postgresql.SERVER_ENV]
    probe = ("import os, psycopg; c = psycopg.connect(os.environ['PYTEST_KPKI_POSTGRES']); "
             "print(c.execute('SELECT pg_postmaster_start_time()').fetchone()[0])")
    theirs = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True).stdout.strip()
    with psycopg.connect(admin) as conn:
        ours = conn.execute("SELECT pg_postmaster_start_time()").fetchone()
    assert ours is not None and str(ours[0]) == theirs


def _database_of(path: Path) -> str:
    head = path.read_bytes()
    assert head.startswith(postgresql.POINTER)
    return head[len(postgresql.POINTER):].decode().strip()


def _exists(name: str) -> bool:
    with psycopg.connect(os.environ[postgresql.SERVER_ENV]) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            (name,)).fetchone() is not None


def test_the_switch_gives_a_memory_store_a_new_database_each_time() -> None:
    first = postgresql.redirect("sqlite://:memory:", False)
    second = postgresql.redirect("sqlite://:memory:", False)
    assert first.startswith("postgresql://") and second.startswith("postgresql://")
    assert first != second


def test_the_switch_names_a_store_files_database_in_the_file(tmp_path: Path) -> None:
    made = postgresql.redirect(sqlite_url(tmp_path / "kpki.db"), True)
    name = _database_of(tmp_path / "kpki.db")
    assert _exists(name) and made == postgresql.databases().url(name)
    assert stat.S_IMODE((tmp_path / "kpki.db").stat().st_mode) == 0o600
    (tmp_path / "kpki.db").rename(tmp_path / "moved.db")  # a home renamed into place
    assert postgresql.redirect(sqlite_url(tmp_path / "moved.db"), False) == made


def test_the_switch_leaves_real_sqlite_files_and_missing_ones_to_sqlite(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "real.db").execute("CREATE TABLE t (x)").connection.close()
    real = sqlite_url(tmp_path / "real.db")
    assert postgresql.redirect(real, True) == real
    missing = sqlite_url(tmp_path / "missing.db")
    assert postgresql.redirect(missing, False) == missing
    assert not (tmp_path / "missing.db").exists()


def test_the_switch_gives_an_empty_file_a_database(tmp_path: Path) -> None:
    (tmp_path / "kpki.db").touch()  # what Home.create makes before opening the store
    assert postgresql.redirect(sqlite_url(tmp_path / "kpki.db"), True).startswith(
        "postgresql://")
    assert _exists(_database_of(tmp_path / "kpki.db"))


def test_a_subprocess_of_a_run_on_postgresql_opens_the_same_database(tmp_path: Path) -> None:
    made = postgresql.redirect(sqlite_url(tmp_path / "kpki.db"), True)
    probe = ("from pki.store import on_open_url, sqlite_url; import sys; "
             "print(on_open_url[0](sqlite_url(sys.argv[1]), False))")
    env = {**os.environ, **postgresql.subprocess_environment()}
    done = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "kpki.db")], env=env,
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == made


def test_a_subprocess_that_opens_no_store_imports_nothing_more() -> None:
    env = {**os.environ, **postgresql.subprocess_environment()}
    probe = "import sys; print(sorted(m for m in ('pki', 'psycopg') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                          text=True, check=True)
    assert done.stdout.strip() == "[]"
