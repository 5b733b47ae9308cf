"""A home whose store is a PostgreSQL database (``kpki init --store postgresql://...``,
``$KPKI_STORE``): the folder keeps the CA keys, the publish folder and ``store.url``; the URL
never holds a password; a database holding a home already is refused; every command taking
--home works unchanged."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from pki.cli.main import cli
from pki.errors import HomeExistsError, StoreURLError
from pki.home import STORE_URL_FILE, Home
from tests.test_cli import KEY_PASSWORD, RRN, assert_one_line_error


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in ("KPKI_HOME", "KPKI_STORE", "KPKI_CA_PASSPHRASE", "KPKI_KEY_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def _with_password(url: str) -> str:
    return url.replace("postgresql://postgres@", "postgresql://postgres:s3cret-pw@", 1)


def test_a_home_on_postgresql_keeps_its_keys_and_names_its_store(
        tmp_path: Path, postgresql_url: str, clock, key_pool) -> None:  # type: ignore[no-untyped-def]
    with Home.create(tmp_path / "h", passphrase=None, clock=clock, key_generator=key_pool,
                     store_url=postgresql_url) as home:
        assert home.default_ca_label() == "yessign"
    folder = tmp_path / "h"
    named = folder / STORE_URL_FILE
    assert named.read_text().strip() == postgresql_url
    assert stat.S_IMODE(named.stat().st_mode) == 0o600
    assert not (folder / "kpki.db").exists()
    assert (folder / "cas" / "yessign" / "key.pem").is_file()
    with Home.open(folder, clock=clock) as again:
        assert [ca.label for ca in again.list_cas()] == ["root", "yessign"]


def test_a_copy_of_the_folder_is_a_replica_on_the_same_store(
        tmp_path: Path, postgresql_url: str, clock, key_pool) -> None:  # type: ignore[no-untyped-def]
    Home.create(tmp_path / "h", passphrase=None, clock=clock, key_generator=key_pool,
                store_url=postgresql_url).close()
    shutil.copytree(tmp_path / "h", tmp_path / "replica")
    with Home.open(tmp_path / "h", clock=clock) as first, \
            Home.open(tmp_path / "replica", clock=clock) as second:
        first.use_passphrase(None)
        first.set_delta_crls(True)
        assert second.delta_crls  # one store: a change through one is seen through the other


def test_creating_a_home_on_a_database_holding_one_is_refused(
        tmp_path: Path, postgresql_url: str, clock, key_pool) -> None:  # type: ignore[no-untyped-def]
    Home.create(tmp_path / "h", passphrase=None, clock=clock, key_generator=key_pool,
                store_url=postgresql_url).close()
    with pytest.raises(HomeExistsError, match="holds a kpki home already"):
        Home.create(tmp_path / "other", passphrase=None, clock=clock, key_generator=key_pool,
                    store_url=postgresql_url)
    assert not (tmp_path / "other").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["h"]  # no staging folder left behind


@pytest.mark.parametrize("url", [
    "postgresql://kpki:hunter2@db.example/kpki",
    "postgresql://kpki@db.example/kpki?password=hunter2",
])
def test_a_store_url_carrying_a_password_is_refused_before_anything_is_made(
        runner: CliRunner, tmp_path: Path, url: str) -> None:
    done = runner.invoke(cli, ["--home", str(tmp_path / "h"), "init", "--no-passphrase",
                               "--store", url])
    assert_one_line_error(done)
    assert "PGPASSWORD" in done.stderr and "PGPASSFILE" in done.stderr
    assert "hunter2" not in done.output
    assert not (tmp_path / "h").exists()


def test_a_store_url_that_is_not_postgresql_is_refused(runner: CliRunner, tmp_path: Path) -> None:
    done = runner.invoke(cli, ["--home", str(tmp_path / "h"), "init", "--no-passphrase"],
                         env={"KPKI_STORE": f"sqlite:///{tmp_path}/x.db"})
    assert_one_line_error(done)
    assert "--store" in done.stderr
    assert not (tmp_path / "h").exists()
    with pytest.raises(StoreURLError) as caught:
        Home.create(tmp_path / "h", passphrase=None, store_url="mysql://kpki:pw@db/kpki")
    assert caught.value.url == "mysql://kpki:***@db/kpki"


def test_init_on_a_database_holding_a_home_is_one_line(
        runner: CliRunner, tmp_path: Path, postgresql_url: str) -> None:
    first = runner.invoke(cli, ["--home", str(tmp_path / "a"), "init", "--no-passphrase",
                                "--store", postgresql_url])
    assert first.exit_code == 0, first.output
    again = runner.invoke(cli, ["--home", str(tmp_path / "b"), "init", "--no-passphrase"],
                          env={"KPKI_STORE": postgresql_url})
    assert_one_line_error(again)
    assert "holds a kpki home already" in again.stderr


def test_commands_taking_home_work_unchanged(runner: CliRunner, tmp_path: Path,
                                             postgresql_url: str) -> None:
    home = str(tmp_path / "h")
    made = runner.invoke(cli, ["--home", home, "init", "--no-passphrase", "--json"],
                         env={"KPKI_STORE": postgresql_url})
    assert made.exit_code == 0, made.output
    issued = runner.invoke(cli, ["--home", home, "issue", "joint", "--name", "홍길동",
                                 "--rrn", RRN, "--out", str(tmp_path / "out"), "--json"],
                           env={"KPKI_KEY_PASSWORD": KEY_PASSWORD})
    assert issued.exit_code == 0, issued.output
    serial = json.loads(issued.stdout)["serial"]
    listed = runner.invoke(cli, ["--home", home, "cert", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert serial in listed.stdout
    published = runner.invoke(cli, ["--home", home, "crl", "publish"])
    assert published.exit_code == 0, published.output
    assert any((tmp_path / "h" / "publish").rglob("*.crl"))


def test_the_installed_kpki_makes_and_uses_a_home_on_postgresql(tmp_path: Path,
                                                                postgresql_url: str) -> None:
    kpki = str(Path(sys.executable).parent / "kpki")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("KPKI_")},
           "KPKI_HOME": str(tmp_path / "h"), "KPKI_STORE": postgresql_url,
           "KPKI_KEY_PASSWORD": KEY_PASSWORD}
    subprocess.run([kpki, "init", "--no-passphrase"], env=env, check=True, capture_output=True)
    assert (tmp_path / "h" / STORE_URL_FILE).is_file()
    done = subprocess.run([kpki, "issue", "joint", "--name", "홍길동", "--rrn", RRN, "--out",
                           str(tmp_path / "out"), "--json"], env=env, capture_output=True,
                          check=True)
    serial = json.loads(done.stdout)["serial"]
    listed = subprocess.run([kpki, "cert", "list", "--json"], env=env, capture_output=True,
                            text=True, check=True)
    assert serial in listed.stdout
