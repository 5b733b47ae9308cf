"""kpki's pytest plugin (registered through the ``pytest11`` entry point as ``kpki``).

Fixtures:

* ``kpki_pki``: a session-wide :class:`pki.testing.TestPKI` (seeded, frozen clock);
* ``joint_cert``, ``financial_cert``, ``revoked_cert``: fresh certificates per test;
* ``npki_home``: a temporary NPKI base holding ``joint_cert``'s folder, for code that
  searches for certificates the way Korean software does;
* ``kpki_server``: ``kpki serve`` (CRLs, OCSP) for the session's PKI;
* ``kpki_time``: the PKI's frozen clock; the marker ``@pytest.mark.kpki_time("2026-03-01")``
  sets it for one test (ISO date or date-time; plain dates are 10:00 KST).

For tests only: keys come from the machine's test key pool (see :mod:`pki.testing`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .clock import KST, FixedClock
from .testing import DEFAULT_TIME, Served, TestCertificate, TestPKI

__all__ = ["pytest_configure"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "kpki_time(when): run the test with the kpki_pki clock set to WHEN "
                   "(ISO date or date-time; dates are 10:00 KST)")


def _when(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=KST)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(10), KST)
    text = str(value)
    if "T" in text or " " in text:
        parsed = dt.datetime.fromisoformat(text)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=KST)
    return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(10), KST)


@pytest.fixture(scope="session")
def kpki_pki() -> Iterator[TestPKI]:
    """A Korean test PKI for the whole session: KISA-style root, yessign-style CA."""
    pki = TestPKI(seed="kpki-pytest", clock=FixedClock(DEFAULT_TIME))
    yield pki
    pki.close()


@pytest.fixture
def kpki_time(request: pytest.FixtureRequest, kpki_pki: TestPKI) -> Iterator[FixedClock]:
    """The PKI's frozen clock, set by a ``kpki_time`` marker and restored afterwards."""
    clock = kpki_pki.clock
    assert isinstance(clock, FixedClock)
    saved = clock.now()
    marker = request.node.get_closest_marker("kpki_time")
    if marker is not None and marker.args:
        clock.set(_when(marker.args[0]))
    yield clock
    clock.set(saved)


@pytest.fixture(autouse=True)
def _kpki_time_marker(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("kpki_time") is not None:
        request.getfixturevalue("kpki_time")


@pytest.fixture
def joint_cert(kpki_pki: TestPKI) -> TestCertificate:
    """A fresh general-purpose joint certificate (홍길동), with key, R and RRN."""
    return kpki_pki.joint()


@pytest.fixture
def financial_cert(kpki_pki: TestPKI) -> TestCertificate:
    """A fresh personal financial certificate."""
    return kpki_pki.financial()


@pytest.fixture
def revoked_cert(kpki_pki: TestPKI) -> TestCertificate:
    """A joint certificate revoked for key compromise."""
    return kpki_pki.revoked()


@pytest.fixture
def npki_home(tmp_path: Path, joint_cert: TestCertificate) -> Path:
    """A temporary NPKI base (``<base>/NPKI/yessign/USER/cn=.../``) with ``joint_cert``'s
    signCert.der and signPri.key (password ``joint_cert.password``)."""
    base = tmp_path / "npki-home"
    joint_cert.npki_dir(base)
    return base


@pytest.fixture(scope="session")
def kpki_server(kpki_pki: TestPKI) -> Iterator[Served]:
    """``kpki serve`` for the session's PKI: ``.url``, ``.crl_url``, ``.ocsp_url``."""
    with kpki_pki.serve() as served:
        yield served
