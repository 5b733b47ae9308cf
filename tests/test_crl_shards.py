"""Partitioned CRLs (issue 16 item 5; rules in pki/revocation/shards.py).

A CA with ``crl_shards = N`` gives each new certificate shard ``serial mod N``, names that
shard's CRL in its distribution point and publishes one CRL per shard whose critical
issuingDistributionPoint names the same URL; certificates issued before keep the CA's
unsharded CRL. kpki's verifier, ``openssl verify -crl_check_all`` and
pyhanko-certvalidator accept the shards' CRLs for their own certificates only.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pki import lifecycle
from pki.cli.main import cli
from pki.errors import PKIError, ProfileError
from pki.home import CASettings, Home
from pki.revocation.crl import issue_crl, publish_path
from pki.revocation.shards import MAX_CRL_SHARDS, shard_of, shard_url
from pki.signing import KeySigner, Verifier, sign
from pki.signing.status import CRLIndex, RevocationUnavailable, crl_status
from tests.helpers import pyhanko_validate

from .serve_process import serving
from .test_clock_backwards import _back_to_version

RRN = "9005171234566"
SHARDS = 4
KPKI = str(Path(sys.executable).parent / "kpki")


def _cdp(cert: x509.Certificate) -> list[str]:
    points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    return [n.value for p in points for n in (p.full_name or [])]


def _idp(crl: x509.CertificateRevocationList) -> x509.Extension[x509.IssuingDistributionPoint]:
    return crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint)


def _serials(der: bytes) -> set[int]:
    return {r.serial_number for r in x509.load_der_x509_crl(der)}


@pytest.fixture
def sharded(make_home) -> Home:
    return make_home(ca=CASettings(crl_shards=SHARDS))


def _issue(home: Home, count: int) -> list:  # type: ignore[type-arg]
    authority = home.authority()
    return [authority.issue_joint(name="홍길동", rrn=RRN) for _ in range(count)]


# -- assignment -----------------------------------------------------------------------------


def test_a_new_certificate_gets_shard_serial_mod_n_and_names_its_shards_crl(sharded):
    record = sharded.store.get_ca("yessign")
    assert record.crl_shards == SHARDS
    for issued in _issue(sharded, 8):
        serial = issued.certificate.serial_number
        [stored] = sharded.store.find_certificates(serial, ca="yessign")
        assert stored.crl_shard == serial % SHARDS
        assert _cdp(issued.certificate) == [shard_url(record.crl_url, serial % SHARDS)]
        # The profile's extension order holds: distribution point, then the OCSP URL.
        oids = [e.oid for e in issued.certificate.extensions]
        assert oids.index(x509.oid.ExtensionOID.CRL_DISTRIBUTION_POINTS) + 1 == oids.index(
            x509.oid.ExtensionOID.AUTHORITY_INFORMATION_ACCESS)


def test_shard_urls_sit_in_a_folder_no_ca_label_can_name():
    assert shard_url("http://h/crl/yessign.crl", 3) == "http://h/crl/yessign/3.crl"
    assert shard_url("http://h/crl/yessign.crl", None) == "http://h/crl/yessign.crl"
    assert shard_of(10, 4) == 2 and shard_of(10, 1) is None


def test_one_shard_is_todays_behaviour(home):
    """N = 1: the CA's URL, no shard recorded, one CRL whose IDP is the CA's URL and no
    shard CRLs. (Byte for byte against the committed output:
    tests/test_fixtures.py::test_regenerate_rebuilds_the_fixtures_byte_for_byte.)"""
    record = home.store.get_ca("yessign")
    assert record.crl_shards == 1
    [issued] = _issue(home, 1)
    assert _cdp(issued.certificate) == [record.crl_url]
    [stored] = home.store.find_certificates(issued.certificate.serial_number, ca="yessign")
    assert stored.crl_shard is None
    published = home.publish_crls(passphrase=None)
    assert [c.info.ca for c, _ in published] == ["root", "yessign"]
    assert all(c.info.shard is None for c, _ in published)
    crl = x509.load_der_x509_crl(published[1][0].der)
    assert list(_idp(crl).value.full_name) == [x509.UniformResourceIdentifier(record.crl_url)]
    assert home.store.published_crl("yessign", shard=0) is None
    assert not (home.publish_dir / "crl" / "yessign").exists()


# -- publishing ----------------------------------------------------------------------------


def test_each_shards_crl_lists_only_its_certificates_with_a_matching_critical_idp(sharded):
    issued = _issue(sharded, 12)
    for one in issued:
        lifecycle.revoke(sharded.store, one.certificate.serial_number, at=sharded.clock.now())
    published = sharded.publish_crls(passphrase=None)
    record = sharded.store.get_ca("yessign")
    mine = [(c, path) for c, path in published if c.info.ca == "yessign"]
    assert [c.info.shard for c, _ in mine] == [None, *range(SHARDS)]
    numbers = [c.info.number for c, _ in mine]
    assert numbers == sorted(set(numbers))  # one sequence per CA, strictly increasing
    by_shard = {c.info.shard: c for c, _ in mine}
    assert _serials(by_shard[None].der) == set()  # no certificate without a shard
    for shard in range(SHARDS):
        crl = x509.load_der_x509_crl(by_shard[shard].der)
        idp = _idp(crl)
        assert idp.critical
        assert [n.value for n in idp.value.full_name] == [shard_url(record.crl_url, shard)]
        expected = {i.certificate.serial_number for i in issued
                    if i.certificate.serial_number % SHARDS == shard}
        assert _serials(by_shard[shard].der) == expected
        for one in issued:  # the IDP equals the CDP of exactly this shard's certificates
            in_shard = one.certificate.serial_number in expected
            assert (_cdp(one.certificate) == [n.value for n in idp.value.full_name]) == in_shard
    # Files at each shard's URL, and bytes kept in the store for the servers.
    for shard in range(SHARDS):
        path = publish_path(sharded.publish_dir, shard_url(record.crl_url, shard))
        assert path.read_bytes() == by_shard[shard].der
        kept = sharded.store.published_crl("yessign", shard=shard)
        assert kept is not None and kept.der == by_shard[shard].der


def test_certificates_issued_before_the_change_keep_their_crl(make_home):
    home = make_home()
    [before] = _issue(home, 1)
    home.set_crl_shards("yessign", SHARDS)
    after = _issue(home, 3)
    for one in (before, *after):
        lifecycle.revoke(home.store, one.certificate.serial_number, at=home.clock.now())
    record = home.store.get_ca("yessign")
    assert _cdp(before.certificate) == [record.crl_url]
    published = {c.info.shard: c for c, _ in home.publish_crls(passphrase=None)
                 if c.info.ca == "yessign"}
    assert _serials(published[None].der) == {before.certificate.serial_number}
    for one in after:
        shard = one.certificate.serial_number % SHARDS
        assert one.certificate.serial_number in _serials(published[shard].der)
        assert one.certificate.serial_number not in _serials(published[None].der)
    # kpki's verifier, given every CRL of the CA, finds each on the CRL its CDP names.
    crls = [CRLIndex.load(c.der) for c in published.values()]
    for one in (before, *after):
        status = crl_status(crls, one.certificate, record.certificate,
                            at=home.clock.now(), allow_stale=False)
        assert status.revoked_at is not None
    assert any(e.action == "ca.crl-shards" for e in home.store.audit_log(ca="yessign"))


def test_the_number_of_shards_only_grows_within_bounds(sharded):
    with pytest.raises(ProfileError, match="only grows"):
        sharded.set_crl_shards("yessign", SHARDS - 1)
    for bad in (0, -1, MAX_CRL_SHARDS + 1):
        with pytest.raises(ProfileError, match="crl_shards"):
            sharded.set_crl_shards("yessign", bad)
    with pytest.raises(ProfileError, match="root"):
        sharded.set_crl_shards("root", 2)
    assert sharded.set_crl_shards("yessign", 8).crl_shards == 8
    with pytest.raises(ProfileError, match="crl_shards"):
        sharded.add_ca(CASettings(label="other", style="signkorea", crl_shards=0),
                       passphrase=None)


def test_a_shard_has_no_delta_crls_the_unsharded_crl_keeps_them(make_home):
    home = make_home()
    [before] = _issue(home, 1)
    home.set_crl_shards("yessign", SHARDS)
    [after] = _issue(home, 1)
    home.publish_crls(passphrase=None)
    record = home.store.get_ca("yessign")
    with pytest.raises(PKIError, match="no delta CRLs"):
        issue_crl(record, home.load_ca_key("yessign", None), home.store,
                  at=home.clock.now(), delta=True, shard=0)
    for one in (before, after):
        lifecycle.revoke(home.store, one.certificate.serial_number, at=home.clock.now())
    deltas = [c for c, _ in home.publish_crls(passphrase=None, delta=True)
              if c.info.ca == "yessign"]
    assert [c.info.shard for c in deltas] == [None]  # a delta of the unsharded CRL only
    assert _serials(deltas[0].der) == {before.certificate.serial_number}


def test_the_publisher_republishes_shards_when_revocations_change(sharded):
    [issued] = _issue(sharded, 1)
    publisher = sharded.publisher()
    first = publisher.round()
    assert {p.crl.info.shard for p in first.crls if p.crl.info.ca == "yessign"} >= {
        None, *range(SHARDS)}
    assert publisher.round().crls == ()
    lifecycle.revoke(sharded.store, issued.certificate.serial_number, at=sharded.clock.now())
    again = publisher.round()
    shard = issued.certificate.serial_number % SHARDS
    [on_it] = [p for p in again.crls if p.crl.info.shard == shard]
    assert _serials(on_it.crl.der) == {issued.certificate.serial_number}


def test_a_round_that_stopped_midway_publishes_the_missing_shards_next(sharded, monkeypatch):
    from pki import publisher as publishing

    publisher = sharded.publisher()
    real = publishing.issue_crl

    def failing(*args, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs.get("shard") == 2:
            raise OSError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(publishing, "issue_crl", failing)
    with pytest.raises(OSError):
        publisher.round(force=True)
    assert sharded.store.published_crl("yessign", shard=2) is None
    monkeypatch.setattr(publishing, "issue_crl", real)
    done = publisher.round()
    assert {p.crl.info.shard for p in done.crls if p.crl.info.ca == "yessign"} >= {2, 3}
    assert all(sharded.store.published_crl("yessign", shard=k) is not None
               for k in range(SHARDS))


def test_new_shards_are_published_in_the_next_round(sharded):
    publisher = sharded.publisher()
    publisher.round()
    sharded.set_crl_shards("yessign", SHARDS + 2)
    done = publisher.round()
    assert {p.crl.info.shard for p in done.crls} == set(range(SHARDS + 2))


# -- relying parties -----------------------------------------------------------------------


def test_a_wrong_shards_crl_does_not_cover_the_certificate(sharded):
    issued = _issue(sharded, 1)[0]
    lifecycle.revoke(sharded.store, issued.certificate.serial_number, at=sharded.clock.now())
    published = {c.info.shard: c for c, _ in sharded.publish_crls(passphrase=None)
                 if c.info.ca == "yessign"}
    ca = sharded.store.get_ca("yessign").certificate
    right = issued.certificate.serial_number % SHARDS
    wrong = CRLIndex.load(published[(right + 1) % SHARDS].der)
    assert "different CRL scope" in (wrong.out_of_scope(issued.certificate) or "")
    with pytest.raises(RevocationUnavailable, match="different CRL scope"):
        crl_status([wrong], issued.certificate, ca, at=sharded.clock.now(), allow_stale=False)
    # Nor the unsharded CRL, although it is the CA's own.
    with pytest.raises(RevocationUnavailable, match="different CRL scope"):
        crl_status([CRLIndex.load(published[None].der)], issued.certificate, ca,
                   at=sharded.clock.now(), allow_stale=False)


def test_the_verifier_fetches_the_shard_its_certificate_names(sharded):
    good, revoked = _issue(sharded, 2)
    lifecycle.revoke(sharded.store, revoked.certificate.serial_number, at=sharded.clock.now())
    sharded.publish_crls(passphrase=None)
    fetched: list[str] = []

    def http(url: str, body: bytes | None) -> bytes:
        assert body is None
        fetched.append(url)
        return publish_path(sharded.publish_dir, url).read_bytes()

    record = sharded.store.get_ca("yessign")
    root = sharded.store.get_ca("root").certificate
    for issued, ok in ((good, True), (revoked, False)):
        fetched.clear()
        signer = KeySigner(issued.certificate, issued.private_key, issued.chain)
        document = sign(b"doc", signer, include_chain=True, clock=sharded.clock)
        result = Verifier(trust=[root], fetch_crls=True, http=http,
                          clock=sharded.clock).verify(document.der)
        assert result.ok is ok, result.summary()
        shard = issued.certificate.serial_number % SHARDS
        assert fetched[0] == shard_url(record.crl_url, shard)
        if not ok:
            assert "revoked" in result.check("revocation").detail


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _openssl_verify(folder: Path, name: str, crl_files: list[Path]
                    ) -> subprocess.CompletedProcess[str]:
    args = [a for f in crl_files for a in ("-CRLfile", str(f))]
    return subprocess.run(["openssl", "verify", "-crl_check_all", "-CAfile",
                           str(folder / "root.pem"), "-untrusted", str(folder / "ca.pem"),
                           *args, str(folder / f"{name}.pem")], capture_output=True, text=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory, key_pool):
    """``kpki init``, ``kpki ca add sharded --crl-shards 4``, a good and a revoked
    certificate in different shards, and a real ``kpki serve``."""
    root = tmp_path_factory.mktemp("shards")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KPKI_")}
    home_path = root / "home"
    for argv in (["init", "--no-passphrase", "--base-url", f"http://127.0.0.1:{port}"],
                 ["ca", "add", "sharded", "--style", "yessign", "--crl-shards", str(SHARDS)]):
        subprocess.run([KPKI, "--home", str(home_path), *argv], env=env, check=True,
                       capture_output=True)
    with Home.open(home_path, key_generator=key_pool) as home:
        authority = home.authority("sharded")
        good = authority.issue_joint(name="홍길동", rrn=RRN)
        revoked = authority.issue_joint(name="김철수", rrn=RRN)
        while revoked.certificate.serial_number % SHARDS == good.certificate.serial_number % SHARDS:
            revoked = authority.issue_joint(name="김철수", rrn=RRN)
        lifecycle.revoke(home.store, revoked.serial, at=home.clock.now(),
                         reason=x509.ReasonFlags.key_compromise)
        record = home.store.get_ca("sharded")
        files = {"root": home.store.get_ca("root").certificate, "ca": record.certificate,
                 "good": good.certificate, "revoked": revoked.certificate}
    for name, cert in files.items():
        (root / f"{name}.pem").write_bytes(_pem(cert))
        (root / f"{name}.der").write_bytes(cert.public_bytes(serialization.Encoding.DER))
    with serving(home_path, "--no-cloud", "--port", str(port)) as server:
        assert server.port == port
        yield {"dir": root, "record": record, "files": files, "home": home_path}


def _fetch(url: str) -> bytes:
    import urllib.request
    with urllib.request.urlopen(url, timeout=10) as response:
        return bytes(response.read())


def test_kpki_serve_serves_each_shards_crl_at_its_url(served):
    record = served["record"]
    for shard in range(SHARDS):
        url = shard_url(record.crl_url, shard)
        crl = x509.load_der_x509_crl(_fetch(url))
        assert [n.value for n in _idp(crl).value.full_name] == [url]
    x509.load_der_x509_crl(_fetch(record.crl_url))  # the unsharded one stays


def test_openssl_crl_check_all_with_the_shard_crls(served, tmp_path):
    d, record = served["dir"], served["record"]
    root_crl = tmp_path / "root.crl.pem"
    root_url = record.crl_url.rsplit("/", 1)[0] + "/root.crl"
    root_crl.write_bytes(x509.load_der_x509_crl(_fetch(root_url))
                         .public_bytes(serialization.Encoding.PEM))
    shards = []
    for shard in range(SHARDS):
        path = tmp_path / f"{shard}.crl.pem"
        path.write_bytes(x509.load_der_x509_crl(_fetch(shard_url(record.crl_url, shard)))
                         .public_bytes(serialization.Encoding.PEM))
        shards.append(path)
    good = _openssl_verify(d, "good", [root_crl, *shards])
    assert good.returncode == 0 and good.stdout.strip().endswith(": OK"), good.stdout + good.stderr
    revoked = _openssl_verify(d, "revoked", [root_crl, *shards])
    assert revoked.returncode != 0 and "certificate revoked" in revoked.stdout + revoked.stderr
    # The revoked certificate with only the other shards' CRLs: none is in its scope.
    own = served["files"]["revoked"].serial_number % SHARDS
    others = [p for i, p in enumerate(shards) if i != own]
    alone = _openssl_verify(d, "revoked", [root_crl, *others])
    assert alone.returncode != 0
    assert "different CRL scope" in alone.stdout + alone.stderr


def test_pyhanko_certvalidator_fetches_the_shards(served):
    assert pyhanko_validate(served["dir"], "good") == "valid"
    assert pyhanko_validate(served["dir"], "revoked") == "revoked"


# -- the command line ----------------------------------------------------------------------


def test_kpki_ca_add_show_and_set_crl_shards(home):
    runner = CliRunner()
    base = ["--home", str(home.path)]
    added = runner.invoke(cli, [*base, "ca", "add", "big", "--crl-shards", "16", "--json"],
                          catch_exceptions=False)
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["crl_shards"] == 16
    shown = runner.invoke(cli, [*base, "ca", "show", "big"], catch_exceptions=False).stdout
    assert "crl shards" in shown and "16" in shown
    listed = json.loads(runner.invoke(cli, [*base, "ca", "list", "--json"]).stdout)
    assert {c["label"]: c["crl_shards"] for c in listed} == {"root": 1, "yessign": 1, "big": 16}
    changed = runner.invoke(cli, [*base, "ca", "set", "yessign", "--crl-shards", "4", "--json"],
                            catch_exceptions=False)
    assert changed.exit_code == 0 and json.loads(changed.stdout)["crl_shards"] == 4
    fewer = runner.invoke(cli, [*base, "ca", "set", "yessign", "--crl-shards", "2"])
    assert fewer.exit_code != 0 and "only grows" in fewer.output
    published = runner.invoke(cli, [*base, "crl", "publish", "--ca", "yessign", "--json"],
                              catch_exceptions=False)
    rows = json.loads(published.stdout)
    assert [r.get("shard") for r in rows] == [None, 0, 1, 2, 3]
    text = runner.invoke(cli, [*base, "crl", "publish", "--ca", "yessign"],
                         catch_exceptions=False).stdout
    assert "yessign: CRL of shard 3 number" in text


@pytest.mark.parametrize("value", ["0", "-3", str(MAX_CRL_SHARDS + 1), "many"])
def test_a_bad_crl_shards_is_one_line_naming_the_option(home, value):
    done = subprocess.run([KPKI, "--home", str(home.path), "ca", "add", "big",
                           "--crl-shards", value], capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items() if not k.startswith("KPKI_")})
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--crl-shards" in lines[0], done.stderr
    assert "big" not in [r.label for r in home.store.list_cas()]


@pytest.mark.sqlite_only("takes an SQLite file back to schema 16 (PostgreSQL's migrations: "
                         "tests/test_store_contract.py)")
def test_a_store_from_before_migration_17_gets_one_shard_everywhere(make_home, tmp_path):
    home = make_home()
    [issued] = _issue(home, 1)
    path = home.path
    store_file = home.store.path
    home.close()
    _back_to_version(store_file, 16, tmp_path)
    with Home.open(path) as reopened:
        assert all(r.crl_shards == 1 for r in reopened.store.list_cas())
        [stored] = reopened.store.find_certificates(issued.certificate.serial_number)
        assert stored.crl_shard is None
        [_, (crl, _)] = reopened.publish_crls(passphrase=None)
        assert crl.info.shard is None and crl.info.ca == "yessign"
