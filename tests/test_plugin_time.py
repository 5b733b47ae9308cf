"""The pytest plugin's time (issue 13 item 1): ``kpki_pki`` and ``kpki_server`` on the real
clock unless a test asks for ``kpki_time``; ``kpki_time("now")``; a marker value that is no
time fails the test naming the marker, without a traceback. Through pytester in a
subprocess, as users load the plugin."""

from __future__ import annotations

import pytest

REAL_CLOCK_TESTS = '''
import datetime as dt
import subprocess
import urllib.request

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from pki.clock import KST


def _near_now(when):
    return abs(when - dt.datetime.now(dt.UTC)) < dt.timedelta(hours=1)


def test_the_session_pki_runs_on_the_real_clock(kpki_pki, joint_cert):
    assert _near_now(kpki_pki.clock.now())
    today = dt.datetime.now(KST).date()
    assert joint_cert.cert.not_valid_before_utc.astimezone(KST).date() in (
        today, today - dt.timedelta(days=1))


def test_openssl_on_the_real_clock_accepts_the_server_crl(kpki_server, kpki_pki, joint_cert,
                                                         tmp_path):
    with urllib.request.urlopen(kpki_server.crl_url, timeout=10) as reply:
        crl = x509.load_der_x509_crl(reply.read())
    assert _near_now(crl.last_update_utc)
    (tmp_path / "crl.pem").write_bytes(crl.public_bytes(Encoding.PEM))
    (tmp_path / "root.pem").write_bytes(kpki_pki.root.public_bytes(Encoding.PEM))
    (tmp_path / "ca.pem").write_bytes(kpki_pki.ca.public_bytes(Encoding.PEM))
    (tmp_path / "leaf.pem").write_bytes(joint_cert.pem())
    done = subprocess.run(["openssl", "verify", "-crl_check", "-CRLfile",
                           str(tmp_path / "crl.pem"), "-CAfile", str(tmp_path / "root.pem"),
                           "-untrusted", str(tmp_path / "ca.pem"), str(tmp_path / "leaf.pem")],
                          capture_output=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.kpki_time("now")
def test_now_freezes_the_clock_at_the_real_time(kpki_time):
    assert _near_now(kpki_time.now())
    before = kpki_time.now()
    kpki_time.advance(dt.timedelta(days=400))
    assert kpki_time.now() == before + dt.timedelta(days=400)


@pytest.mark.kpki_time("2029-06-01")
def test_a_date_sets_the_clock(kpki_time, joint_cert):
    assert kpki_time.now() == dt.datetime(2029, 6, 1, 10, tzinfo=KST)
    assert joint_cert.cert.not_valid_after_utc.year == 2030


def test_after_a_marker_the_clock_follows_the_real_time_again(kpki_pki):
    assert _near_now(kpki_pki.clock.now())
'''

BAD_MARKER_TESTS = '''
import pytest


@pytest.mark.kpki_time("next tuesday")
def test_words(kpki_pki):
    pass


@pytest.mark.kpki_time("2029-02-30")
def test_no_such_day():
    pass


@pytest.mark.kpki_time(20290601)
def test_a_number():
    pass


@pytest.mark.kpki_time()
def test_no_value():
    pass
'''


def test_the_plugin_runs_on_the_real_clock_unless_told(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_real_clock=REAL_CLOCK_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error")
    result.assert_outcomes(passed=5)


def test_a_bad_kpki_time_fails_naming_the_marker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_bad_marker=BAD_MARKER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) + outcomes.get("errors", outcomes.get("error", 0)) == 4
    text = result.stdout.str()
    assert text.count("@pytest.mark.kpki_time") >= 4
    for value in ("'next tuesday'", "'2029-02-30'", "20290601"):
        assert value in text
    assert "Traceback" not in text and "During handling" not in text
    assert "pytest_plugin.py" not in text
