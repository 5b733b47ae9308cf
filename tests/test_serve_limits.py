"""kpki serve under slow and greedy clients: header, body and idle timeouts, the connection
cap, and clients that hang up.

The servers run with short timeouts; each test waits on the socket being closed (or on a log
line) with a generous deadline, so a slow machine makes a test slower, never wrong. The
guard's rules themselves are checked on a controlled clock (``FakeLoop``) without a network.
"""

from __future__ import annotations

import asyncio
import selectors
import socket
import struct
from collections.abc import Iterator

import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from uvicorn.server import ServerState

from pki.home import Home
from pki.web.guarded_http import GuardedHttpTools
from pki.web.limits import ConnectionGuard, Phase, ServeLimits

from .serve_process import DEADLINE
from .serve_process import serving as serve_home

RRN = "9005171234566"
OCSP_PATH = "/ocsp/yessign"
PARTIAL_HEADERS = b"GET /crl/yessign.crl HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


@pytest.fixture(scope="module")
def home(tmp_path_factory, key_pool):
    """A home with one good certificate; the OCSP request that asks about it."""
    root = tmp_path_factory.mktemp("limits")
    with Home.create(root / "home", passphrase=None, key_generator=key_pool) as created:
        issued = created.authority().issue_joint(name="홍길동", rrn=RRN)
    request = (ocsp.OCSPRequestBuilder().add_certificate(issued.certificate, issued.chain[0],
                                                         hashes.SHA1()).build()
               .public_bytes(serialization.Encoding.DER))
    return {"path": root / "home", "request": request, "serial": issued.serial}


@pytest.fixture(scope="module")
def quick(home):
    """Short timeouts: half a second for headers, bodies and idle keep-alive."""
    with serve_home(home["path"], "--header-timeout", "0.5", "--body-timeout", "0.5",
                 "--idle-timeout", "0.5") as server:
        yield server


@pytest.fixture(scope="module")
def capped(home):
    """Timeouts far beyond the test, and room for 8 connections."""
    with serve_home(home["path"], "--header-timeout", "600", "--body-timeout", "600",
                 "--idle-timeout", "600", "--max-connections", "8") as server:
        yield server


_OPENED: list[socket.socket] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    """Every client socket a test opened is closed after it."""
    yield
    while _OPENED:
        _OPENED.pop().close()


def _connect(port: int, first: bytes = PARTIAL_HEADERS) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    _OPENED.append(sock)
    if first:
        sock.sendall(first)
    return sock


def _wait_closed(socks: list[socket.socket], deadline: float = DEADLINE) -> list[socket.socket]:
    """Wait (at most ``deadline`` seconds) for the server to close every socket; those that
    are still open at the deadline."""
    selector = selectors.DefaultSelector()
    for sock in socks:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    open_socks = set(socks)
    while open_socks:
        ready = selector.select(timeout=deadline)
        if not ready:
            break
        for key, _ in ready:
            sock = key.fileobj
            try:
                data = sock.recv(65536)  # type: ignore[union-attr]
            except BlockingIOError:
                continue
            except ConnectionResetError:
                data = b""
            if not data:
                selector.unregister(sock)
                open_socks.discard(sock)  # type: ignore[arg-type]
    selector.close()
    return [s for s in socks if s in open_socks]


def _is_open_now(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except ConnectionResetError:
        return False


def _ocsp(home, port: int) -> ocsp.OCSPCertStatus:
    """One OCSP POST over a new connection, the answer parsed."""
    body = home["request"]
    sock = _connect(port, b"POST " + OCSP_PATH.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"Content-Type: application/ocsp-request\r\nConnection: close\r\n"
                    b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    sock.settimeout(DEADLINE)
    with sock:
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    head, _, payload = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    return ocsp.load_der_ocsp_response(payload).certificate_status


# -- the timeouts ----------------------------------------------------------------------------

def test_connections_that_never_finish_their_headers_are_closed(quick):
    socks = [_connect(quick.port) for _ in range(20)]
    assert _wait_closed(socks) == []


def test_a_connection_that_sends_nothing_is_closed(quick):
    assert _wait_closed([_connect(quick.port, b"")]) == []


def test_dripping_header_bytes_does_not_extend_the_header_deadline(quick):
    """The deadline counts from the first byte, however often more bytes arrive."""
    sock = _connect(quick.port, b"G")
    sock.setblocking(False)
    drip = iter(b"ET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Drip: " + b"a" * 100_000)
    with selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_READ)
        for byte in drip:
            if selector.select(timeout=0.05):  # readable: closed by the server (or a 408)
                break
            try:
                sock.send(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
        else:
            pytest.fail("the dripping client was never closed")
    assert _wait_closed([sock]) == []


def test_an_idle_keep_alive_connection_is_closed(home, quick):
    sock = _connect(quick.port, b"GET /crl/yessign.crl HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    sock.settimeout(DEADLINE)
    assert sock.recv(12) == b"HTTP/1.1 200"
    assert _wait_closed([sock]) == []


def test_a_body_that_never_arrives_is_closed(quick):
    sock = _connect(quick.port, b"POST " + OCSP_PATH.encode() + b" HTTP/1.1\r\n"
                    b"Host: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n0123456789")
    assert _wait_closed([sock]) == []
    assert quick.wait_for(r"POST /ocsp/yessign 499 ") is not None  # logged, no traceback


def test_good_clients_are_answered_by_the_quick_server(home, quick):
    assert _ocsp(home, quick.port) == ocsp.OCSPCertStatus.GOOD


# -- the connection cap ----------------------------------------------------------------------

def test_a_good_client_is_answered_while_slow_clients_hold_the_cap(home, capped):
    slow = [_connect(capped.port) for _ in range(12)]
    assert _wait_closed(slow[:4]) == []  # the four oldest made room for the last four
    assert _ocsp(home, capped.port) == ocsp.OCSPCertStatus.GOOD
    assert _wait_closed(slow[4:5]) == []  # the oldest left made room for the good client
    assert all(_is_open_now(s) for s in slow[5:])


def test_keep_alive_requests_work_under_the_cap(home, capped):
    sock = _connect(capped.port, b"")
    sock.settimeout(DEADLINE)
    with sock, sock.makefile("rb") as reader:
        for _ in range(3):
            sock.sendall(b"GET /crl/yessign.crl HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            status = reader.readline()
            length = 0
            while (line := reader.readline()) != b"\r\n":
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            crl = x509.load_der_x509_crl(reader.read(length))
            assert status.startswith(b"HTTP/1.1 200") and crl.is_signature_valid


def test_slow_clients_past_the_file_descriptor_limit_do_not_lock_out_good_ones(home):
    """The audit's case: 300 slow connections against a server with 256 descriptors."""
    with serve_home(home["path"], nofile=256) as server:
        for _ in range(300):
            _connect(server.port)
        assert _ocsp(home, server.port) == ocsp.OCSPCertStatus.GOOD


# -- clients that hang up --------------------------------------------------------------------

def _hang_up_mid_body(port: int) -> None:
    sock = _connect(port, b"POST " + OCSP_PATH.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"Content-Length: 1000\r\n\r\n0123456789")
    sock.close()


def _reset_mid_body(port: int) -> None:
    sock = _connect(port, b"POST " + OCSP_PATH.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"Content-Length: 1000\r\n\r\n0123456789")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()  # RST


def _hang_up_before_the_answer(home, port: int) -> None:
    body = home["request"]
    sock = _connect(port, b"POST " + OCSP_PATH.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_a_client_that_hangs_up_leaves_no_traceback(home):
    with serve_home(home["path"]) as server:
        for hang_up in (_hang_up_mid_body, _reset_mid_body,
                        lambda port: _hang_up_before_the_answer(home, port)):
            hang_up(server.port)
            assert server.wait_for(r"POST /ocsp/yessign \d{3} ") is not None
        assert _ocsp(home, server.port) == ocsp.OCSPCertStatus.GOOD
        log = server.stop()
    assert "Traceback" not in log and "Exception in ASGI application" not in log, log


# -- the guard's rules on a controlled clock --------------------------------------------------

class FakeHandle:
    def __init__(self, loop: FakeLoop, when: float, callback) -> None:
        self.loop, self._when, self.callback, self.cancelled = loop, when, callback, False

    def when(self) -> float:
        return self._when

    def cancel(self) -> None:
        self.cancelled = True


class FakeLoop:
    """The two things the guard asks of an event loop, on a clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.handles: list[FakeHandle] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback) -> FakeHandle:
        handle = FakeHandle(self, when, callback)
        self.handles.append(handle)
        return handle

    def advance(self, seconds: float) -> None:
        self.now += seconds
        while due := [h for h in self.handles if not h.cancelled and h.when() <= self.now]:
            for handle in due:
                self.handles.remove(handle)
                handle.callback()


class Conn:
    def __init__(self, name: str) -> None:
        self.name, self.dropped = name, False

    def drop(self) -> None:
        self.dropped = True

    def __repr__(self) -> str:
        return self.name


LIMITS = ServeLimits(header_timeout=10, body_timeout=30, idle_timeout=5, max_connections=3)


@pytest.fixture
def guard():
    loop = FakeLoop()
    return loop, ConnectionGuard(LIMITS, loop=loop)  # type: ignore[arg-type]


def test_header_deadline_counts_from_connecting(guard):
    loop, g = guard
    conn = Conn("a")
    assert g.admit(conn)
    loop.advance(9)
    g.enter(conn, Phase.HEADERS)  # more header bytes: the deadline stays
    loop.advance(0.99)
    assert not conn.dropped
    loop.advance(0.02)
    assert conn.dropped and g.open_connections == 0


def test_idle_then_a_new_request_gets_a_fresh_header_deadline(guard):
    loop, g = guard
    conn = Conn("a")
    g.admit(conn)
    g.enter(conn, Phase.BODY)
    g.enter(conn, Phase.BUSY)
    loop.advance(1000)  # the server's own work is never timed out
    assert not conn.dropped
    g.enter(conn, Phase.IDLE)
    loop.advance(4)
    g.enter(conn, Phase.HEADERS)
    loop.advance(9)
    assert not conn.dropped
    loop.advance(1.01)
    assert conn.dropped


def test_each_phase_has_its_own_timeout(guard):
    loop, g = guard
    conns = {phase: Conn(phase.name) for phase in (Phase.HEADERS, Phase.BODY, Phase.IDLE)}
    for phase, conn in conns.items():
        g.admit(conn)
        g.enter(conn, phase)
    loop.advance(5.01)
    assert [c.dropped for c in conns.values()] == [False, False, True]
    loop.advance(5)
    assert [c.dropped for c in conns.values()] == [True, False, True]
    loop.advance(20)
    assert all(c.dropped for c in conns.values())


def test_past_the_cap_the_longest_waiting_connection_makes_room(guard):
    loop, g = guard
    busy, slow, idle = Conn("busy"), Conn("slow"), Conn("idle")
    for conn in (busy, slow, idle):
        g.admit(conn)
        loop.advance(1)
    g.enter(busy, Phase.BUSY)
    g.enter(idle, Phase.IDLE)  # entered its phase last
    newcomer = Conn("new")
    assert g.admit(newcomer)
    assert (busy.dropped, slow.dropped, idle.dropped) == (False, True, False)
    assert g.open_connections == 3


def test_past_the_cap_with_every_connection_busy_a_newcomer_is_refused(guard):
    _, g = guard
    conns = [Conn(str(i)) for i in range(3)]
    for conn in conns:
        g.admit(conn)
        g.enter(conn, Phase.BUSY)
    assert not g.admit(Conn("new"))
    assert not any(c.dropped for c in conns)
    g.forget(conns[0])
    assert g.admit(Conn("later"))


def test_limits_refuse_nonsense():
    with pytest.raises(ValueError, match="header_timeout"):
        ServeLimits(header_timeout=0)
    with pytest.raises(ValueError, match="max_connections"):
        ServeLimits(max_connections=0)



# -- the protocol reports each phase ---------------------------------------------------------

class FakeTransport(asyncio.Transport):
    """What uvicorn's protocol asks of a socket transport, recorded."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closing = self.aborted = False
        self.buffered = 0

    def get_extra_info(self, name: str, default=None):
        return {"sockname": ("127.0.0.1", 8880), "peername": ("127.0.0.1", 50000)}.get(
            name, default)

    def write(self, data) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = self.aborted = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return self.buffered


def _protocol(guard: ConnectionGuard, app):
    config = uvicorn.Config(app, ws="none", lifespan="off", log_level="warning")
    config.load()
    cls = type("Guarded", (GuardedHttpTools,), {"guard": guard})
    return cls(config=config, server_state=ServerState(), app_state={})


def test_the_protocol_reports_what_each_connection_waits_for():
    async def scenario() -> list[Phase | None]:
        release = asyncio.Event()

        async def app(scope, receive, send) -> None:
            while (await receive()).get("more_body"):
                pass
            await release.wait()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-length", b"2")]})
            await send({"type": "http.response.body", "body": b"ok"})

        guard = ConnectionGuard(ServeLimits(max_connections=1))
        proto, transport = _protocol(guard, app), FakeTransport()
        seen = []
        proto.connection_made(transport)
        seen.append(guard.phase(proto))
        proto.data_received(b"POST / HTTP/1.1\r\nHost: x\r\n")
        seen.append(guard.phase(proto))
        proto.data_received(b"Content-Length: 4\r\n\r\nab")
        seen.append(guard.phase(proto))
        proto.data_received(b"cd")
        seen.append(guard.phase(proto))
        proto.pause_writing()  # the client stopped reading
        seen.append(guard.phase(proto))
        proto.resume_writing()
        seen.append(guard.phase(proto))

        other = FakeTransport()  # the cap is 1 and the only connection is busy
        refused = _protocol(guard, app)
        refused.connection_made(other)
        assert other.written.startswith(b"HTTP/1.1 503") and other.closing

        release.set()
        while not transport.written.endswith(b"ok"):
            await asyncio.sleep(0)
        seen.append(guard.phase(proto))
        proto.data_received(b"G")
        seen.append(guard.phase(proto))
        transport.buffered = 10
        proto.drop()
        assert transport.aborted  # a close() would wait for a reader that does not read
        return seen

    assert asyncio.run(scenario()) == [
        Phase.HEADERS, Phase.HEADERS, Phase.BODY, Phase.BUSY, Phase.BODY, Phase.BUSY,
        Phase.IDLE, Phase.HEADERS]


def test_serving_in_a_thread_has_the_limits_of_kpki_serve():
    """TestPKI.serve and the pytest plugin serve through pki.web.serve_in_thread: the same
    guarded server as kpki serve, so a client that never finishes its headers is closed."""
    from starlette.applications import Starlette

    from pki.web import serve_in_thread

    limits = ServeLimits(header_timeout=0.5, body_timeout=0.5, idle_timeout=0.5)
    with serve_in_thread(Starlette(), limits=limits) as url:
        port = int(url.rsplit(":", 1)[1])
        assert _wait_closed([_connect(port)]) == []

