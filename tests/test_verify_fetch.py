"""Verification is not a fetch proxy (issue 10 item 12): nothing is fetched for a certificate
whose chain does not validate, and a fetch has one deadline and a size cap however the
server behaves. The servers here run on loopback and stop on their own."""

from __future__ import annotations

import socket
import threading

import pytest

from pki.errors import FetchError, TimestampError
from pki.signing import Outcome
from pki.signing import fetch as fetching
from pki.signing.fetch import fetch
from pki.testing import TestKeyPool, TestPKI
from pki.timestamp import verify_timestamp_token
from pki.timestamp.protocol import MAX_RESPONSE_BYTES, REQUEST_TYPE, post

DOC = b"a document"


@pytest.fixture(scope="module")
def keys():
    return TestKeyPool()


def test_nothing_is_fetched_for_a_chain_that_does_not_validate(keys):
    ours = TestPKI(seed="ours", keys=keys)
    theirs = TestPKI(seed="theirs", keys=keys)
    try:
        stranger = theirs.joint()
        document = theirs.sign(stranger, DOC)
        calls = []

        def http(url, body):
            calls.append(url)
            raise AssertionError("nothing may be fetched")

        for option in ({"use_ocsp": True}, {"fetch_crls": True}):
            result = ours.verifier(http=http, **option).verify(document)
            assert result.check("chain").outcome is Outcome.FAILED
            revocation = result.check("revocation")
            assert revocation.outcome is Outcome.FAILED
            assert "not fetched" in revocation.detail
        assert calls == []
        # The same verifier does fetch for a certificate of its own root.
        mine = ours.joint()
        served = ours.verifier(http=lambda url, body: calls.append(url) or b"",
                               fetch_crls=True).verify(ours.sign(mine, DOC))
        assert served.check("chain").passed and len(calls) == 1
    finally:
        ours.close()
        theirs.close()


class _Server:
    """A one-connection-at-a-time HTTP server on loopback that answers with ``head``,
    then sends ``body`` in pieces of ``piece`` bytes, waiting ``gap`` seconds between
    them, and stops when the body is sent or the client goes away."""

    def __init__(self, head: bytes, body: bytes, *, piece: int = 1, gap: float = 0.0):
        self.head, self.body, self.piece, self.gap = head, body, piece, gap
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(10)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/x.crl"
        self.stopped = threading.Event()
        self.sent = 0
        self.request = b""
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(10)
            try:
                self.request = conn.recv(65536)
                conn.sendall(self.head)
                for start in range(0, len(self.body), self.piece):
                    if self.stopped.wait(self.gap):
                        break
                    conn.sendall(self.body[start:start + self.piece])
                    self.sent += self.piece
            except OSError:
                pass

    def close(self):
        self.stopped.set()
        self.sock.close()
        self.thread.join(timeout=10)


def _head(length: int | None) -> bytes:
    lines = [b"HTTP/1.1 200 OK", b"Content-Type: application/pkix-crl", b"Connection: close"]
    if length is not None:
        lines.append(b"Content-Length: " + str(length).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n"


def test_a_dripping_server_is_cut_at_the_deadline():
    # 40 bytes at one every 0.25 s would take 10 s; the deadline is 1 s for the whole fetch.
    server = _Server(_head(40), b"x" * 40, gap=0.25)
    try:
        with pytest.raises(FetchError) as caught:
            fetch(server.url, deadline=1.0)
        assert caught.value.url == server.url
        assert "within 1" in str(caught.value)
        # Cut off at the deadline, not when the server ran out of bytes (at one byte per
        # 0.25 s, 30 bytes is 7.5 s: far past the deadline, far from a slow machine's noise).
        assert server.sent < 30
    finally:
        server.close()


def test_a_server_dripping_its_headers_is_cut_at_the_deadline():
    head = _head(3)
    server = _Server(b"", head + b"abc", gap=0.25)
    try:
        with pytest.raises(FetchError):
            fetch(server.url, deadline=1.0)
    finally:
        server.close()


def test_a_prompt_server_is_read_whole():
    server = _Server(_head(5), b"hello", piece=5)
    try:
        assert fetch(server.url, deadline=5.0) == b"hello"
    finally:
        server.close()


@pytest.mark.parametrize("declared", [True, False])
def test_an_oversized_answer_is_refused(declared):
    body = b"y" * 5000
    server = _Server(_head(len(body) if declared else None), body, piece=1000)
    try:
        with pytest.raises(FetchError) as caught:
            fetch(server.url, deadline=5.0, max_bytes=1000)
        assert "1000" in str(caught.value)
    finally:
        server.close()


def test_an_error_status_is_a_fetch_error():
    server = _Server(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", b"")
    try:
        with pytest.raises(FetchError) as caught:
            fetch(server.url, deadline=5.0)
        assert "404" in str(caught.value)
    finally:
        server.close()


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://x",
                                 "http://", "http://[::1"])
def test_only_http_urls_are_fetched(url):
    with pytest.raises(FetchError):
        fetch(url)


# -- the time-stamp client and the time-stamp verifier fetch the same way (issue 11) -------


@pytest.fixture
def one_second(monkeypatch):
    """Every fetch made with the default deadline gets 1 s instead of 10."""
    monkeypatch.setattr(fetching, "DEFAULT_DEADLINE", 1.0)


def test_the_tsa_client_is_cut_at_the_deadline(one_second):
    # What kpki sign --timestamp uses: a TSA dripping its answer does not hold it.
    server = _Server(_head(40), b"x" * 40, gap=0.25)
    try:
        with pytest.raises(TimestampError) as caught:
            post(server.url, b"a request")
        assert caught.value.url == server.url and "within 1" in str(caught.value)
        assert server.sent < 30
    finally:
        server.close()


def test_the_tsa_client_refuses_an_oversized_answer():
    server = _Server(_head(MAX_RESPONSE_BYTES + 1), b"")
    try:
        with pytest.raises(TimestampError) as caught:
            post(server.url, b"a request")
        assert str(MAX_RESPONSE_BYTES) in str(caught.value)
    finally:
        server.close()


def test_the_tsa_client_posts_a_timestamp_query():
    server = _Server(_head(5), b"reply", piece=5)
    try:
        assert post(server.url, b"a request") == b"reply"
        head = server.request.partition(b"\r\n\r\n")[0].split(b"\r\n")
        assert head[0] == b"POST /x.crl HTTP/1.1"
        assert f"Content-Type: {REQUEST_TYPE}".encode() in head
        assert b"Content-Length: 9" in head
    finally:
        server.close()


def test_the_time_stamp_verifier_fetches_with_one_deadline(one_second, keys):
    # The TSA certificate's CRL distribution point is the dripping server.
    server = _Server(_head(40), b"x" * 40, gap=0.25)
    pki = TestPKI(seed="drip", keys=keys, base_url=server.url.rsplit("/", 1)[0])
    try:
        token = pki.timestamp(b"sig")
        result = verify_timestamp_token(token, signature_value=b"sig", trust=[pki.root],
                                        fetch_crls=True, clock=pki.clock)
        failed = result.check("tsa-revocation")
        assert failed is not None and not failed.passed
        assert "within 1" in failed.detail
        assert server.sent < 30
    finally:
        pki.close()
        server.close()
