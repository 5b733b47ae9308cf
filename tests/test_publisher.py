"""The publisher writes, the web app reads (issue 12, item 3).

Rules: a round publishes a CA's full and delta CRLs when its statuses changed since its last
full CRL, when half of that CRL's validity has passed by the injected clock, when the
announcement of delta CRLs changed, and in a publisher's first round; a delta alone when
another publisher made a full CRL only; the bytes go into the store (never backwards) and
into the publish folder, the same bytes; OCSP signers are renewed a week before they end;
the web app answers from what the store holds and never writes to it.
"""

from __future__ import annotations

import datetime as dt
import urllib.request

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from pki import lifecycle
from pki.errors import PKIError
from pki.keys.castore import KeyLabel
from pki.revocation.crl import publish_path
from pki.web import WebState, create_app, serve_in_thread

RRN = "9005171234566"


def _labels(done) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(done.labels)


def test_the_first_round_publishes_everything_and_the_next_nothing(home):
    publisher = home.publisher()
    first = publisher.round()
    assert [(p.crl.info.ca, p.crl.info.is_delta) for p in first.crls] == [
        ("root", False), ("root", True), ("yessign", False), ("yessign", True)]
    assert first.signers == ("yessign",) and first.tsa is not None
    again = publisher.round()
    assert not again.changed


def test_a_revocation_republishes_that_ca_only(home, authority, clock):
    publisher = home.publisher()
    publisher.round()
    issued = authority.issue_joint(name="홍길동", rrn=RRN)
    assert not publisher.round().changed  # an issuance changes no CRL
    lifecycle.revoke(home.store, issued.serial, at=clock.now())
    done = publisher.round()
    assert [(p.crl.info.ca, p.crl.info.is_delta) for p in done.crls] == [
        ("yessign", False), ("yessign", True)]
    crl = x509.load_der_x509_crl(home.store.published_crl("yessign").der)
    assert crl.get_revoked_certificate_by_serial_number(issued.serial) is not None


def test_staleness_is_measured_on_the_injected_clock(home, clock):
    publisher = home.publisher()
    publisher.round()
    clock.advance(dt.timedelta(hours=11, minutes=59))
    assert not publisher.round().crls
    clock.advance(dt.timedelta(minutes=2))  # past half of the full CRL's day
    assert _labels(publisher.round()) == ["root", "yessign"]


def test_turning_the_announcement_on_republishes(home):
    publisher = home.publisher()
    publisher.round()
    home.set_delta_crls(True)
    assert _labels(publisher.round()) == ["root", "yessign"]


def test_a_full_crl_published_elsewhere_gets_its_delta(home):
    publisher = home.publisher()
    publisher.round()
    home.publish_crls(passphrase=None, labels=["yessign"])  # kpki crl publish: full only
    done = publisher.round()
    assert [(p.crl.info.ca, p.crl.info.is_delta) for p in done.crls] == [("yessign", True)]
    assert done.crls[0].crl.info.delta_base == home.store.last_crl("yessign").number


def test_the_store_and_the_folder_hold_the_same_bytes_and_never_go_back(home):
    publisher = home.publisher()
    publisher.round()
    for record in home.store.list_cas():
        published = home.store.published_crl(record.label)
        assert published is not None
        assert publish_path(home.publish_dir, record.crl_url).read_bytes() == published.der
        with home.store.transaction() as tx:
            assert not tx.put_published_crl(record.label, published.number - 1, False, b"old")
        assert home.store.published_crl(record.label).der == published.der


def test_ocsp_signers_are_renewed_a_week_before_they_end(home, clock):
    publisher = home.publisher()
    publisher.round()
    first = home.store.ocsp_signer("yessign")
    clock.set(first.not_after - dt.timedelta(days=7, seconds=1))
    assert publisher.round().signers == ()
    clock.set(first.not_after - dt.timedelta(days=6))
    assert publisher.round().signers == ("yessign",)
    second = home.store.ocsp_signer("yessign")
    assert second.serial != first.serial and second.key_label == "yessign/ocsp"
    key = home.keys.load(KeyLabel.parse(second.key_label))
    assert key.public_key() == second.certificate.public_key()
    assert [e.action for e in home.store.audit_log(ca="yessign")].count(
        "ocsp-signer.issued") == 2


def test_a_failed_round_is_logged_and_the_next_one_tries_again(home, caplog):
    import threading

    publisher = home.publisher()
    home.store.fail_commits(1)
    stop = threading.Event()
    rounds = []

    def after(done):  # type: ignore[no-untyped-def]
        rounds.append(done)
        stop.set()

    publisher.watch(stop, poll_seconds=0.01, on_round=after)
    assert "publishing failed" in caplog.text
    assert _labels(rounds[0]) == ["root", "yessign"]  # the first good round is a full one


# -- the web app reads ----------------------------------------------------------------------


class ReadOnly:
    """A store that refuses every write: whatever the web app does, it only reads."""

    def __init__(self, store):  # type: ignore[no-untyped-def]
        self._store = store

    def transaction(self):  # type: ignore[no-untyped-def]
        raise AssertionError("the web app wrote to the store")

    def __getattr__(self, name):  # type: ignore[no-untyped-def]
        return getattr(self._store, name)


def _get(url: str, body: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _ocsp_status(url: str, issued) -> ocsp.OCSPResponse:  # type: ignore[no-untyped-def]
    request = ocsp.OCSPRequestBuilder().add_certificate(
        issued.certificate, issued.chain[0], hashes.SHA256()).build()
    status, body = _get(url, request.public_bytes(serialization.Encoding.DER))
    assert status == 200
    return ocsp.load_der_ocsp_response(body)


def test_the_web_app_answers_from_the_store_and_never_writes(home, authority, clock):
    issued = authority.issue_joint(name="홍길동", rrn=RRN)
    state = WebState(ReadOnly(home.store), home.keys, clock, "/tsa",  # type: ignore[arg-type]
                     poll_seconds=3600)
    record = home.store.get_ca("yessign")
    with serve_in_thread(create_app(state)) as url:
        crl_url = url + "/crl/yessign.crl"
        ocsp_url = url + "/ocsp/yessign"
        # Nothing published yet: 503 for CRLs and the TSA, tryLater for OCSP.
        assert _get(crl_url)[0] == 503
        assert _ocsp_status(ocsp_url, issued).response_status is \
            ocsp.OCSPResponseStatus.TRY_LATER
        assert _get(url + "/tsa", b"\x30\x00")[0] == 503

        publisher = home.publisher()
        publisher.round()
        state.reload()
        status, body = _get(crl_url)
        assert status == 200 and body == home.store.published_crl("yessign").der
        assert _ocsp_status(ocsp_url, issued).certificate_status is ocsp.OCSPCertStatus.GOOD

        lifecycle.revoke(home.store, issued.serial, at=clock.now())
        # OCSP reads the status when asked; the CRL is the publisher's, so not yet on it.
        assert _ocsp_status(ocsp_url, issued).certificate_status is \
            ocsp.OCSPCertStatus.REVOKED
        crl = x509.load_der_x509_crl(_get(crl_url)[1])
        assert crl.get_revoked_certificate_by_serial_number(issued.serial) is None
        publisher.round()  # no reload: a CRL request looks at the store's CRL number
        crl = x509.load_der_x509_crl(_get(crl_url)[1])
        assert crl.get_revoked_certificate_by_serial_number(issued.serial) is not None
        number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        delta = x509.load_der_x509_crl(_get(url + "/crl/yessign-delta.crl")[1])
        assert delta.extensions.get_extension_for_class(
            x509.DeltaCRLIndicator).value.crl_number == number  # on the new full CRL
        assert record.crl_url.endswith("/crl/yessign.crl")


def test_the_web_app_follows_a_rotated_signer(home, clock, authority):
    issued = authority.issue_joint(name="홍길동", rrn=RRN)
    publisher = home.publisher()
    publisher.round()
    state = WebState.of_home(home, poll_seconds=3600)
    first = state.revocation.responder("yessign")
    assert first is not None
    clock.set(home.store.ocsp_signer("yessign").not_after - dt.timedelta(days=1))
    publisher.round()
    state.reload()
    second = state.revocation.responder("yessign")
    assert second is not None and second.signer.serial_number != first.signer.serial_number
    request = ocsp.OCSPRequestBuilder().add_certificate(
        issued.certificate, issued.chain[0], hashes.SHA256()).build()
    answer = ocsp.load_der_ocsp_response(second.respond(request.public_bytes(
        serialization.Encoding.DER)))
    assert answer.certificates[0].serial_number == second.signer.serial_number


def test_a_replica_of_an_encrypted_home_needs_the_passphrase(make_home):
    from pki.home import Home

    home = make_home(passphrase=b"secret")
    home.publisher(passphrase=b"secret").round()
    with Home.open(home.path) as replica, pytest.raises(PKIError):
        WebState.of_home(replica)
    with Home.open(home.path, passphrase=b"secret") as replica:
        assert WebState.of_home(replica).revocation.responder("yessign") is not None
