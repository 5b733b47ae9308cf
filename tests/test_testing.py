"""pki.testing and the pytest plugin (through pytest's own pytester)."""

import subprocess

from cryptography.hazmat.primitives.serialization import Encoding

from pki.keys import npki, pkcs12
from pki.testing import TestPKI
from tests.helpers import assert_subscriber_profile


def test_testpki_certificates_have_the_real_profile_and_verify_with_openssl(tmp_path):
    pki = TestPKI(seed="profile")
    certs = [pki.joint(), pki.financial(), pki.joint(with_km=True)]
    (tmp_path / "root.pem").write_bytes(pki.root.public_bytes(Encoding.PEM))
    (tmp_path / "ca.pem").write_bytes(pki.ca.public_bytes(Encoding.PEM))
    for n, cert in enumerate(certs):
        assert_subscriber_profile(cert.cert)
        (tmp_path / f"leaf{n}.pem").write_bytes(cert.pem())
        done = subprocess.run(["openssl", "verify", "-attime", "1773650000", "-CAfile",
                               str(tmp_path / "root.pem"), "-untrusted", str(tmp_path / "ca.pem"),
                               str(tmp_path / f"leaf{n}.pem")], capture_output=True)
        assert done.returncode == 0, done.stdout + done.stderr


def test_two_runs_with_one_seed_give_identical_bytes():
    def run():
        pki = TestPKI(seed=42)
        joint = pki.joint()
        pki.revoke(pki.joint())
        return (joint.cert.public_bytes(Encoding.DER), joint.r,
                pki.crl().public_bytes(Encoding.DER), pki.sign(joint, b"doc"))

    assert run() == run()


def test_states_on_demand():
    pki = TestPKI(seed="states")
    now = pki.clock.now()
    assert pki.expired().cert.not_valid_after_utc < now
    assert pki.not_yet_valid().cert.not_valid_before_utc > now
    revoked, suspended, good = pki.revoked(), pki.suspended(), pki.joint()
    crl = pki.crl()
    assert crl.get_revoked_certificate_by_serial_number(revoked.serial) is not None
    assert crl.get_revoked_certificate_by_serial_number(suspended.serial) is not None
    assert crl.get_revoked_certificate_by_serial_number(good.serial) is None
    pki.resume(suspended)
    delta = pki.delta_crl()
    assert delta.get_revoked_certificate_by_serial_number(suspended.serial) is not None


def test_files_only_when_asked(tmp_path):
    pki = TestPKI()
    cert = pki.joint()
    folder = cert.npki_dir(tmp_path / "base")
    assert npki.load(folder, cert.password).r == cert.r
    assert pkcs12.load(cert.pfx(tmp_path / "me.pfx"), cert.password).r == cert.r
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base", "me.pfx"]


def test_ocsp_and_server(tmp_path):
    import urllib.request

    from cryptography.x509 import ocsp

    pki = TestPKI(seed="serve")
    cert = pki.joint()
    response = ocsp.load_der_ocsp_response(pki.ocsp_response(cert, nonce=b"n" * 16))
    assert response.certificate_status is ocsp.OCSPCertStatus.GOOD
    with pki.serve() as served:
        with urllib.request.urlopen(served.crl_url, timeout=10) as reply:
            assert reply.status == 200
        assert pki.verifier(online=True).verify(pki.sign(cert, b"x")).ok
        pki.revoke(cert)
        assert not pki.verifier(online=True).verify(pki.sign(cert, b"x")).ok


PLUGIN_TESTS = '''
import datetime as dt
import urllib.request

import pytest

from pki.keys.discovery import scan


def test_joint(joint_cert, kpki_pki):
    signature = kpki_pki.sign(joint_cert, "민원".encode("cp949"))
    assert kpki_pki.verifier().verify(signature).ok


def test_financial(financial_cert):
    assert financial_cert.cert.not_valid_after_utc.year - \\
        financial_cert.cert.not_valid_before_utc.year == 3


def test_revoked(revoked_cert, kpki_pki):
    assert not kpki_pki.verifier(crl=True).verify(kpki_pki.sign(revoked_cert, b"x")).ok


def test_npki_home(npki_home, kpki_time):
    (entry,) = scan(npki_home, kpki_time.now())
    assert entry.has_key and entry.status.value == "valid"


@pytest.mark.kpki_time("2029-06-01")
def test_marker_sets_the_clock(kpki_time, joint_cert):
    assert kpki_time.now().year == 2029
    assert joint_cert.cert.not_valid_after_utc.year == 2030


def test_clock_is_restored(kpki_time):
    assert kpki_time.now().year == 2026


def test_server(kpki_server):
    with urllib.request.urlopen(kpki_server.crl_url, timeout=10) as reply:
        assert reply.status == 200
'''


def test_plugin_fixtures_through_pytester(pytester):
    pytester.makepyfile(test_with_kpki=PLUGIN_TESTS)
    # A subprocess: a fresh interpreter loads the plugin through its entry point, as users get it.
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error")
    result.assert_outcomes(passed=7)


def test_plugin_is_registered_by_entry_point():
    from importlib.metadata import entry_points

    names = {e.name: e.value for e in entry_points(group="pytest11")}
    assert names.get("kpki") == "pki.pytest_plugin"


def test_key_pool_is_cached_on_disk(tmp_path):
    from pki.testing import TestKeyPool

    pool = TestKeyPool(tmp_path / "pool", size=2)
    first = pool.generate(2048)
    TestKeyPool._loaded.pop(tmp_path / "pool")  # forget it in memory: read it from disk
    again = TestKeyPool(tmp_path / "pool", size=2).generate(2048)
    assert first.private_numbers() == again.private_numbers()
    assert (tmp_path / "pool" / "rsa2048-000.pem").stat().st_mode & 0o777 == 0o600


def test_key_pool_survives_an_unwritable_cache(tmp_path):
    from pki.testing import TestKeyPool

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    key = TestKeyPool(blocker / "pool", size=1).generate(2048)
    assert key.key_size == 2048
