"""kpki's pytest plugin (registered through the ``pytest11`` entry point as ``kpki``).

Fixtures:

* ``kpki_pki``: a session-wide :class:`pki.testing.TestPKI` (seeded serials and R) on the
  real clock, so that ``kpki_server``'s CRLs, OCSP answers and certificates are current
  for an application under test that runs on the real clock too;
* ``joint_cert``, ``financial_cert``, ``revoked_cert``: fresh certificates per test;
* ``npki_home``: a temporary NPKI base holding ``joint_cert``'s folder, for code that
  searches for certificates the way Korean software does;
* ``kpki_server``: ``kpki serve`` (CRLs, OCSP, TSA) for the session's PKI;
* ``kpki_time``: the PKI's clock, frozen for one test (at the real time when the test
  starts; ``advance()`` and ``set()`` move it); the marker
  ``@pytest.mark.kpki_time("2026-03-01")`` sets it (ISO date or date-time; plain dates are
  10:00 KST; ``"now"``: the real time). After the test the clock follows the real clock
  again. A value the marker cannot read fails the test with a message naming the marker;
* ``bank``: Hana (081) in the session's PKI (:class:`pki.testing.TestBank`);
* ``customer``: a fresh customer of ``bank``, enrolled, with an account
  (:class:`pki.testing.TestCustomer`);
* ``security_card``: a card issued to ``customer`` (``.challenge()``, ``.answer(...)``);
* ``otp_token``: a hardware OTP token of ``customer``; ``.now()`` is the code it shows under
  the frozen clock (it freezes ``kpki_time`` for the test).

For tests only: keys come from the machine's test key pool (see :mod:`pki.testing`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .clock import KST, FixedClock, SystemClock
from .testing import (
    Served,
    TestBank,
    TestCertificate,
    TestCustomer,
    TestOtpToken,
    TestPKI,
    TestSecurityCard,
)

__all__ = ["SessionClock", "pytest_configure"]

MARKER = "kpki_time"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(when): run the test with the kpki_pki clock frozen at WHEN "
                   "(ISO date or date-time, dates are 10:00 KST; 'now': the real time)")


class SessionClock(FixedClock):
    """The session PKI's clock: the real clock until a test freezes it (:meth:`set`,
    :meth:`advance`), and again after :meth:`follow_real_time`."""

    def __init__(self) -> None:
        self._real = SystemClock()
        self._frozen = False
        super().__init__(self._real.now())

    @property
    def frozen(self) -> bool:
        return self._frozen

    def now(self) -> dt.datetime:
        return super().now() if self._frozen else self._real.now()

    def set(self, at: dt.datetime) -> None:
        super().set(at)
        self._frozen = True

    def advance(self, delta: dt.timedelta) -> None:
        if not self._frozen:
            self.set(self._real.now())
        super().advance(delta)

    def follow_real_time(self) -> None:
        self._frozen = False


def _when(value: Any) -> dt.datetime:
    """The marker's value as a time; :class:`ValueError` if it is none."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=KST)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(10), KST)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a date, a date-time or 'now'")
    text = value.strip()
    if text == "now":
        return SystemClock().now()
    try:
        if "T" in text or " " in text:
            parsed = dt.datetime.fromisoformat(text)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=KST)
        return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(10), KST)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 date or date-time, nor 'now'"
                         ) from None


@pytest.fixture(scope="session")
def kpki_pki() -> Iterator[TestPKI]:
    """A Korean test PKI for the whole session, on the real clock: KISA-style root,
    yessign-style CA."""
    pki = TestPKI(seed="kpki-pytest", clock=SessionClock())
    yield pki
    pki.close()


@pytest.fixture
def kpki_time(request: pytest.FixtureRequest, kpki_pki: TestPKI) -> Iterator[SessionClock]:
    """The PKI's clock, frozen for this test (at the ``kpki_time`` marker's time, else at
    the real time now), following the real clock again afterwards."""
    clock = kpki_pki.clock
    assert isinstance(clock, SessionClock)
    marker = request.node.get_closest_marker(MARKER)
    at = clock.now()
    if marker is not None:
        if len(marker.args) != 1 or marker.kwargs:
            pytest.fail(f"@pytest.mark.{MARKER} takes one value (a date, a date-time or "
                        f"'now'), not {marker.args!r} {marker.kwargs or ''}".rstrip(),
                        pytrace=False)
        problem = None
        try:
            at = _when(marker.args[0])
        except ValueError as exc:
            problem = str(exc)
        if problem is not None:  # (outside the except: no chained traceback)
            pytest.fail(f"@pytest.mark.{MARKER}: {problem}", pytrace=False)
    clock.set(at)
    try:
        yield clock
    finally:
        clock.follow_real_time()


@pytest.fixture(autouse=True)
def _kpki_time_marker(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker(MARKER) is not None:
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
    """``kpki serve`` for the session's PKI: ``.url``, ``.crl_url``, ``.ocsp_url``; on
    the session's clock (the real one, unless a test froze it)."""
    with kpki_pki.serve() as served:
        yield served


@pytest.fixture(scope="session")
def bank(kpki_pki: TestPKI) -> TestBank:
    """Hana (081) in the session's PKI, on its clock; each test's ``customer`` is new."""
    return kpki_pki.bank("081")


@pytest.fixture
def customer(bank: TestBank) -> TestCustomer:
    """A new customer of ``bank`` (홍길동, a new synthetic RRN), enrolled in internet
    banking, with an account of 50,000,000 KRW (password ``customer.password``) and a
    designated device (``customer.device``); ``customer.transfer(...)`` signs and
    authorises a transfer, ``customer.certificate()`` is a joint certificate of theirs."""
    return bank.customer()


@pytest.fixture
def security_card(customer: TestCustomer) -> TestSecurityCard:
    """A security card issued to ``customer``: ``.codes``, ``.challenge()``,
    ``.answer(challenge)``."""
    return customer.security_card()


@pytest.fixture
def otp_token(customer: TestCustomer, kpki_time: SessionClock) -> TestOtpToken:
    """A hardware OTP token of ``customer``; ``.now()`` is the code it shows now under the
    clock this fixture freezes (``kpki_time.advance(...)`` moves both)."""
    return customer.otp_token()
