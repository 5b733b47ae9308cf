"""Shared fixtures: RSA keys cached per session, a frozen clock, ready-made homes.

Every RSA key kpki generates in a test comes from the session's :class:`KeyPool`, not only
the keys of homes made here: ``kpki init`` and ``kpki issue`` run through click's
CliRunner, and a home opened without a key generator, draw from it too (generating a key
costs ~50-100 ms and is not what those tests are about). A test about generation itself is
marked ``real_keys``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import settings

from pki.clock import FixedClock
from pki.home import CASettings, Home, RootSettings
from pki.keys.generate import RSAKeyGenerator

from . import postgresql

# CI runs a fixed set of examples, so a landing never depends on luck; local runs explore.
# No example has a deadline: a test asserts behaviour, never timing, and a loaded machine
# (two cores shared by suites and browsers) made Hypothesis's 200 ms deadline fail tests
# whose behaviour was right.
settings.register_profile("kpki", deadline=None)
settings.register_profile("ci", derandomize=True, database=None, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "kpki")

# 05:30 KST on 16 March 2026 is still 15 March in UTC: issuance must use the Korean day.
FROZEN = dt.datetime(2026, 3, 15, 20, 30, tzinfo=dt.UTC)
PASSPHRASE = b"ca-passphrase-for-tests"
VECTORS = Path(os.environ.get(
    "KPKI_VECTORS",
    Path(__file__).resolve().parents[2] / "shared" / "vectors" / "npki-yessign-test"))


class KeyPool:
    """Hands out a few pre-generated keys in turn; RSA generation costs ~50 ms a key."""

    def __init__(self) -> None:
        self._keys: dict[int, list[rsa.RSAPrivateKey]] = {}
        self._cycles: dict[int, Iterator[rsa.RSAPrivateKey]] = {}

    def keys(self, bits: int, count: int) -> list[rsa.RSAPrivateKey]:
        have = self._keys.setdefault(bits, [])
        while len(have) < count:
            have.append(rsa.generate_private_key(public_exponent=65537, key_size=bits))
        return have[:count]

    def other_than(self, public_key: object) -> rsa.RSAPrivateKey:
        """A cached key that is not the one behind ``public_key``."""
        return next(k for k in self.keys(2048, 6) if k.public_key() != public_key)

    def generate(self, bits: int) -> rsa.RSAPrivateKey:
        if bits not in self._cycles:
            self._cycles[bits] = itertools.cycle(self.keys(bits, 6 if bits == 2048 else 2))
        return next(self._cycles[bits])


_POOL = KeyPool()


_server: postgresql.ThrowawayServer | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Markers; in the controller, the run's PostgreSQL server (xdist workers are spawned
    after this and inherit its URL); with ``KPKI_TEST_STORE=postgresql``, every store of
    every process of the run on it (tests/postgresql.py)."""
    global _server
    config.addinivalue_line(
        "markers", "real_keys: kpki generates its RSA keys afresh (not from the session's pool)")
    config.addinivalue_line(
        "markers", "sqlite_only(why): about SQLite itself (its file, WAL, its fault hooks); "
                   "skipped in the run on PostgreSQL, saying why")
    if not hasattr(config, "workerinput") and not os.environ.get(postgresql.SERVER_ENV):
        _server = postgresql.ThrowawayServer().start()
        os.environ[postgresql.SERVER_ENV] = _server.url()
        postgresql.prepare_template(_server.url(), schema=postgresql.on_postgresql())
        if postgresql.on_postgresql():
            os.environ.update(postgresql.subprocess_environment())
    if postgresql.on_postgresql():
        postgresql.install_redirect()


def pytest_unconfigure(config: pytest.Config) -> None:
    global _server
    if _server is not None:
        postgresql.close_databases()
        _server.stop()
        _server = None
        os.environ.pop(postgresql.SERVER_ENV, None)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        marker = item.get_closest_marker("sqlite_only")
        if marker is None:
            continue
        if not marker.args:
            raise pytest.UsageError(f"{item.nodeid}: sqlite_only needs its reason")
        if postgresql.on_postgresql():
            item.add_marker(pytest.mark.skip(reason=f"SQLite only: {marker.args[0]}"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    # A test file's stores go when the file ends (module fixtures are finalised by then;
    # --dist loadfile runs a file whole on one worker).
    done = yield
    if nextitem is None or nextitem.path != item.path:
        postgresql.drop_databases()
    return done


@pytest.fixture
def postgresql_url() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database on the run's server (in both runs)."""
    yield postgresql.databases().url(postgresql.databases().create(empty=True))


@pytest.fixture(scope="session")
def key_pool() -> KeyPool:
    return _POOL


@pytest.fixture(autouse=True)
def _pooled_rsa_keys(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("real_keys") is None:
        monkeypatch.setattr(RSAKeyGenerator, "generate", lambda self, bits: _POOL.generate(bits))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(FROZEN)


@pytest.fixture
def make_home(tmp_path: Path, clock: FixedClock, key_pool: KeyPool):  # type: ignore[no-untyped-def]
    """Build a home in tmp_path; keyword arguments go to ``Home.create``."""
    opened: list[Home] = []

    def make(name: str = "home", *, passphrase: bytes | None = None, **kw: object) -> Home:
        home = Home.create(tmp_path / name, passphrase=passphrase, clock=clock,
                           key_generator=key_pool, **kw)  # type: ignore[arg-type]
        opened.append(home)
        return home

    yield make
    for home in opened:
        home.close()


@pytest.fixture
def home(make_home) -> Home:  # type: ignore[no-untyped-def]
    return make_home()


@pytest.fixture
def authority(home: Home):  # type: ignore[no-untyped-def]
    return home.authority()


@pytest.fixture
def real_cert_der() -> bytes:
    path = VECTORS / "signCert.der"
    if not path.is_file():
        pytest.skip(f"the real yessign vector is not at {VECTORS} (see shared/vectors/README)")
    return path.read_bytes()


__all__ = ["FROZEN", "PASSPHRASE", "CASettings", "KeyPool", "RootSettings"]
