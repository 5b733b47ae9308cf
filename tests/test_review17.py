"""A hostile review of the local signing agent (issue 17 item 2): each test here failed on
the agent as it was before the fix committed with it (pki/agent/)."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import signal
import socket
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from asn1crypto import core
from asn1crypto import x509 as asn1_x509
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID

from pki.agent import AgentSettings, Location, LocationKind, SigningAgent, State
from pki.agent.service import envelope_recipient
from pki.agent.settings import normalise_origin
from pki.cli import agent as agent_command
from pki.cli.main import cli
from pki.clock import FixedClock
from pki.errors import (
    AgentPasswordError,
    AgentRequestError,
    AgentSettingsError,
    AgentStateError,
)
from pki.keys import npki

from .test_agent import (
    ORIGIN,
    OTHER_ORIGIN,
    PASSWORD,
    WRONG,
    Material,
    _start,
    dialog_post,
    general_index,
    make_agent,
    npki_material,
    open_http,
    order,
    page_post,
    served,
)


@pytest.fixture
def material(home, tmp_path: Path) -> Material:  # type: ignore[no-untyped-def]
    return npki_material(home, tmp_path)


@pytest.fixture
def agent(material: Material, clock: FixedClock) -> SigningAgent:
    return make_agent(material, clock)


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    size = bytes([n]) if n < 0x80 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) \
        + n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag]) + size + content


def _certificate(material: Material, spki: bytes) -> bytes:
    """A certificate (DER) whose subject public key info is ``spki`` (DER), signed by the
    general certificate's key (no key is generated)."""
    signer = material.general.private_key  # type: ignore[attr-defined]
    placeholder = material.general.certificate.public_key()  # type: ignore[attr-defined]
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "site.example"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Site")])
    now = material.home.clock.now()
    built = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
             .public_key(placeholder).serial_number(4242)
             .not_valid_before(now - dt.timedelta(days=1))
             .not_valid_after(now + dt.timedelta(days=30))
             .sign(signer, hashes.SHA256()))
    cert = asn1_x509.Certificate.load(built.public_bytes(Encoding.DER))
    old = placeholder.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    contents = cert["tbs_certificate"].contents
    assert contents.count(old) == 1
    tbs = _der(0x30, contents.replace(old, spki))
    signature = signer.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    return _der(0x30, tbs + cert["signature_algorithm"].dump()
                + _der(0x03, b"\x00" + signature))


def _pem(der: bytes) -> str:
    return x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM).decode()


def _tiny_rsa_spki() -> bytes:
    """An RSA public key of 256 bits: too small to carry a 32-byte content key."""
    key = rsa.RSAPublicNumbers(65537, (1 << 255) | 0x2F).public_key()
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def _unknown_algorithm_spki() -> bytes:
    """A public key of an algorithm pyca does not know (KCDSA's OID, as old NPKI
    certificates carry)."""
    oid = core.ObjectIdentifier("1.2.410.200004.1.21").dump()
    return _der(0x30, _der(0x30, oid) + _der(0x03, b"\x00" + b"\x01" * 64))


# -- the site's certificate (envelopeTo) -----------------------------------------------------

def test_envelope_to_a_key_of_an_unknown_algorithm_is_a_bad_request(material: Material,
                                                                    clock: FixedClock) -> None:
    """A site certificate with a key pyca cannot read (KCDSA) was a 500 at open."""
    pem = _pem(_certificate(material, _unknown_algorithm_spki()))
    with pytest.raises(AgentRequestError) as refused:
        envelope_recipient(pem)
    assert refused.value.field == "envelopeTo"
    with served(make_agent(material, clock)) as client:
        answer = page_post(client, "/requests", {"content": {"text": "x"}, "envelopeTo": pem})
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"] | {"message": ""} == {  # type: ignore[operator]
            "code": "bad_request", "message": "", "field": "envelopeTo"}
        assert page_post(client, "/requests", {"content": {"text": "x"}}).status_code == 201


def test_envelope_to_a_key_too_small_to_carry_the_content_key_is_refused_at_once(
        material: Material, clock: FixedClock) -> None:
    """A 256-bit RSA key cannot carry the 32-byte AES key: it was accepted, and the user's
    OK then failed with a 500 (the request left open, nothing the page could act on)."""
    pem = _pem(_certificate(material, _tiny_rsa_spki()))
    with pytest.raises(AgentRequestError) as refused:
        envelope_recipient(pem)
    assert refused.value.field == "envelopeTo"
    with served(make_agent(material, clock)) as client:
        answer = page_post(client, "/requests", {"content": {"text": "x"}, "envelopeTo": pem})
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["field"] == "envelopeTo"  # type: ignore[index]
    # the smallest key the agent takes still carries it
    assert envelope_recipient(material.root.public_bytes(Encoding.PEM).decode())


# -- what the disk holds ---------------------------------------------------------------------

HONG_CP949 = "홍길동".encode("cp949")


def _cp949_folder(parent: Path, name: bytes) -> Path:
    """A folder whose name is CP949 bytes, as an NPKI folder copied from Windows is."""
    folder = Path(os.fsdecode(os.fsencode(parent) + b"/" + name))
    folder.mkdir(parents=True)
    return folder


def test_folder_names_in_cp949_are_shown_not_a_500(material: Material,
                                                   clock: FixedClock) -> None:
    """A USER/cn= folder or a base whose name is not UTF-8 (copied from Windows, CP949)
    made the dialog's list a 500 (the JSON could not be encoded); the dialog then showed
    nothing at all. A key file there that is not the certificate's made the user's OK a
    500 too (the refusal names the file)."""
    user = material.base / "NPKI" / "yessign" / "USER"
    broken = _cp949_folder(user, b"cn=" + HONG_CP949 + b"()0091")
    (broken / "signCert.der").write_bytes(b"not a certificate")
    copied = _cp949_folder(user, b"cn=" + HONG_CP949 + b"()0092")
    (copied / "signCert.der").write_bytes((material.general_folder / "signCert.der")
                                          .read_bytes())
    (copied / "signPri.key").write_bytes((material.banking_folder / "signPri.key")
                                         .read_bytes())  # swapped: another's key
    usb = _cp949_folder(material.usb.parent, b"USB-" + HONG_CP949)
    locations = (*material.locations(), Location(LocationKind.REMOVABLE, usb))
    agent = SigningAgent(AgentSettings.of([ORIGIN], locations=locations), clock=clock)
    with served(agent) as client:
        request_id, _, dialog_token = open_http(client)
        view = dialog_post(client, f"/{request_id}/view", {"token": dialog_token})
        assert view.status_code == 200, view.text
        shown = view.json()
        assert shown["locations"][2]["path"].endswith("USB-홍길동")  # type: ignore[index]
        holders = {c["holder"]: c for c in shown["certificates"]}  # type: ignore[index]
        assert holders["cn=홍길동()0091"]["usable"] is False
        offered = agent.view(request_id, token=dialog_token).offered
        index = next(o.index for o in offered if o.entry.folder == copied)
        answer = dialog_post(client, f"/{request_id}/confirm",
                             {"token": dialog_token, "certificate": index,
                              "password": PASSWORD})
        assert answer.status_code == 422, answer.text
        error = answer.json()["error"]  # type: ignore[index]
        assert error["code"] == "key_unreadable" and "홍길동" in error["message"]


def test_a_certificate_whose_key_pyca_cannot_read_is_refused_at_ok(material: Material,
                                                                    clock: FixedClock) -> None:
    """A signCert.der with a KCDSA key (old NPKI certificates) beside an RSA signPri.key:
    the right password made the user's OK a 500; it is key_unreadable, the request open."""
    folder = material.base / "NPKI" / "yessign" / "USER" / "cn=KCDSA()0093"
    folder.mkdir()
    (folder / "signCert.der").write_bytes(_certificate(material, _unknown_algorithm_spki()))
    (folder / "signPri.key").write_bytes((material.general_folder / "signPri.key")
                                         .read_bytes())
    agent = make_agent(material, clock)
    with served(agent) as client:
        request_id, token, dialog_token = open_http(client)
        view = dialog_post(client, f"/{request_id}/view", {"token": dialog_token})
        row = next(c for c in view.json()["certificates"]  # type: ignore[index]
                   if c["holder"] == "site.example")
        answer = dialog_post(client, f"/{request_id}/confirm",
                             {"token": dialog_token, "certificate": row["index"],
                              "password": PASSWORD})
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["code"] == "key_unreadable"  # type: ignore[index]
        assert page_post(client, f"/requests/{request_id}/outcome",
                         {"token": token}).json() == {"state": "pending"}


# -- answers that cross --------------------------------------------------------------------

@pytest.mark.parametrize("who", ["page", "dialog"])
def test_a_window_closed_while_a_wrong_password_is_checked_ends_the_request(
        agent: SigningAgent, material: Material, monkeypatch: pytest.MonkeyPatch,
        who: str) -> None:
    """The user presses OK with a wrong password and closes the dialog before the answer:
    the page's withdrawal (and the dialog's pagehide cancel) came while the key was being
    opened and were refused (in_progress); the wrong password then put the request back
    to pending with no window left to answer it. The page waited for the whole lifetime
    and every other page was busy. Now the withdrawal holds: the request ends cancelled."""
    opened = agent.open(ORIGIN, order())
    index = general_index(agent, opened, material)
    inside, release = threading.Event(), threading.Event()
    real_load = npki.load

    def held_load(folder: Path, password: str) -> object:
        inside.set()
        release.wait(60)
        return real_load(folder, password)

    monkeypatch.setattr("pki.agent.service.npki.load", held_load)
    raised: list[BaseException] = []

    def confirm(password: str) -> None:
        try:
            agent.confirm(opened.request_id, token=opened.dialog_token, certificate=index,
                          password=password)
        except AgentPasswordError as exc:
            raised.append(exc)

    first = threading.Thread(target=confirm, args=(WRONG,))
    first.start()
    try:
        assert inside.wait(60)
        with pytest.raises(AgentStateError) as refused:
            if who == "page":
                agent.cancel(opened.request_id, origin=ORIGIN, token=opened.caller_token)
            else:
                agent.dismiss(opened.request_id, token=opened.dialog_token)
        assert refused.value.code == "in_progress"
    finally:
        release.set()
        first.join(60)
    assert len(raised) == 1  # the dialog, if still there, learns the password was wrong
    assert agent.outcome(opened.request_id, origin=ORIGIN,
                         token=opened.caller_token).state is State.CANCELLED
    with pytest.raises(AgentStateError) as answered:
        agent.confirm(opened.request_id, token=opened.dialog_token, certificate=index,
                      password=PASSWORD)
    assert answered.value.code == "already_answered"
    agent.open(OTHER_ORIGIN, order())  # nothing holds the agent busy


def test_a_window_closed_while_the_right_password_signs_still_signs(
        agent: SigningAgent, material: Material, monkeypatch: pytest.MonkeyPatch) -> None:
    """The user's OK with the right password wins over a withdrawal that came while the
    signature was being made: the user did confirm."""
    opened = agent.open(ORIGIN, order())
    index = general_index(agent, opened, material)
    inside, release = threading.Event(), threading.Event()
    real_load = npki.load

    def held_load(folder: Path, password: str) -> object:
        inside.set()
        release.wait(60)
        return real_load(folder, password)

    monkeypatch.setattr("pki.agent.service.npki.load", held_load)
    first = threading.Thread(target=lambda: agent.confirm(
        opened.request_id, token=opened.dialog_token, certificate=index, password=PASSWORD))
    first.start()
    try:
        assert inside.wait(60)
        with pytest.raises(AgentStateError):
            agent.cancel(opened.request_id, origin=ORIGIN, token=opened.caller_token)
    finally:
        release.set()
        first.join(60)
    assert agent.outcome(opened.request_id, origin=ORIGIN,
                         token=opened.caller_token).state is State.SIGNED


# -- the allow-list --------------------------------------------------------------------------

def test_a_korean_domain_is_refused_with_the_form_browsers_send() -> None:
    """https://민원.kr was allowed as written: a browser sends its page's origin as
    https://xn--lg3b21r.kr, so the page was refused with no word why. The user is told the
    form to give."""
    with pytest.raises(AgentSettingsError) as refused:
        normalise_origin("https://민원.kr")
    assert refused.value.field == "allowed_origins"
    assert "https://xn--lg3b21r.kr" in str(refused.value)
    assert normalise_origin("https://XN--LG3B21R.kr") == "https://xn--lg3b21r.kr"
    result = CliRunner().invoke(cli, ["agent", "--port", "0", "--allow-origin",
                                      "https://민원.kr:8443"])
    assert result.exit_code == 2 and "https://xn--lg3b21r.kr:8443" in result.output


@pytest.mark.parametrize("given", ["https://www gov.kr", "https://www%2egov.kr",
                                   "https://www.gov.kr\\@evil.example",
                                   "http://[fe80::1%25eth0]:8000"])
def test_a_host_no_browser_sends_is_refused(given: str) -> None:
    """Hosts a browser never puts in an Origin header were allowed (and never matched)."""
    with pytest.raises(AgentSettingsError):
        normalise_origin(given)


@pytest.mark.parametrize(("given", "origin"), [("http://[::1]:8000", "http://[::1]:8000"),
                                               ("https://my_site.gov.kr",
                                                "https://my_site.gov.kr"),
                                               ("https://www.gov.kr.", "https://www.gov.kr.")])
def test_hosts_browsers_send_are_still_allowed(given: str, origin: str) -> None:
    assert normalise_origin(given) == origin


# -- HTTP as no browser sends it ---------------------------------------------------------------

def _raw(port: int, head: str) -> tuple[int, dict[str, str], bytes]:
    """``head`` (CRLF lines, no body) sent as is; the status, headers and body."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n")
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    top, _, body = received.partition(b"\r\n\r\n")
    status, *lines = top.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status.split()[1]), headers, body


@pytest.mark.parametrize("twice", ["Host: evil.example", "Origin: https://evil.example"])
def test_a_second_host_or_origin_header_is_refused(agent: SigningAgent, twice: str) -> None:
    """Two Host lines (RFC 9112: a 400) or two Origin lines were answered after the first:
    the agent now reads nothing it cannot read one way."""
    with served(agent) as client:
        head = (f"GET /agent/v1/ping HTTP/1.1\nHost: 127.0.0.1:{client.port}\n"
                f"Origin: {ORIGIN}\n{twice}\nConnection: close\n")
        status, headers, body = _raw(client.port, head)
        assert status == 400, body
        assert not any(h.startswith("access-control-") for h in headers)
        assert json.loads(body)["error"]["code"] == "bad_request"
        status, _, _ = _raw(client.port, head.replace(twice + "\n", ""))
        assert status == 200


@pytest.mark.parametrize("method", ["PATCH", "TRACE", "PUT"])
def test_a_method_the_api_has_not_is_a_json_refusal(agent: SigningAgent, method: str) -> None:
    """PATCH or TRACE on a route was Starlette's plain-text 405."""
    with served(agent) as client:
        status, headers, body = _raw(client.port, (
            f"{method} /agent/v1/ping HTTP/1.1\nHost: 127.0.0.1:{client.port}\n"
            f"Origin: {ORIGIN}\nContent-Length: 0\nConnection: close\n"))
        assert status in (404, 405), body
        assert headers["content-type"] == "application/json"
        assert json.loads(body)["error"]["code"] in ("no_route", "method_not_allowed")


# -- the process -----------------------------------------------------------------------------

@pytest.mark.parametrize("sent", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_answers_the_pages_waiting_for_an_outcome_first(
        agent: SigningAgent, sent: signal.Signals) -> None:
    """uvicorn takes SIGTERM and SIGINT over while it serves, so the agent's own handler
    (which answers the waiting pages) ran only after uvicorn had waited its grace for
    them and cancelled them: each waiting page got a 500, and the agent printed a
    traceback. The server's signal handler now answers them first."""
    stopping = threading.Event()
    server = agent_command._server(agent, 0, stopping)
    opened = agent.open(ORIGIN, order())
    answered: list[State] = []
    waiting = threading.Thread(target=lambda: answered.append(agent.outcome(
        opened.request_id, origin=ORIGIN, token=opened.caller_token, wait=25).state))
    waiting.start()
    server.handle_exit(sent, None)
    waiting.join(60)
    assert answered == [State.PENDING]
    assert stopping.is_set() and server.should_exit


def test_a_stopped_agent_answers_a_waiting_page_without_a_500(tmp_path: Path) -> None:
    """End to end: a page waiting for its outcome when the agent gets SIGTERM is answered
    (pending, or its connection closed: agent.js then says agent_unavailable), never a
    500, and the agent stops with status 0 and no traceback."""
    proc, said = _start(tmp_path)
    base = f"{said['url']}/agent/v1"

    def post(path: str, body: object) -> tuple[int, bytes]:
        request = urllib.request.Request(base + path, data=json.dumps(body).encode(),
                                         headers={"Origin": ORIGIN,
                                                  "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except (urllib.error.URLError, ConnectionError, http.client.HTTPException):
            return 0, b""

    try:
        status, body = post("/requests", {"content": {"text": "x"}})
        assert status == 201, body
        created = json.loads(body)
        got: list[tuple[int, bytes]] = []
        waiting = threading.Thread(target=lambda: got.append(post(
            f"/requests/{created['request']}/outcome", {"token": created["token"],
                                                       "wait": 25})))
        waiting.start()
        proc.send_signal(signal.SIGTERM)
        ended = proc.wait(timeout=60)
        waiting.join(60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.stderr is not None and proc.stdout is not None
    rest = proc.stderr.read()
    proc.stderr.close()
    proc.stdout.close()
    assert ended == 0, rest
    assert "Traceback" not in rest and "ERROR" not in rest, rest
    assert got and got[0][0] in (0, 200), got
    if got[0][0] == 200:
        assert json.loads(got[0][1]) == {"state": "pending"}


def test_a_fifo_under_a_key_files_name_is_refused_not_waited_on(tmp_path):
    """A FIFO named signCert.der in an NPKI folder (discovery walks folders anyone can
    write) blocked the reader for ever, and with it the agent's certificate list."""
    import threading

    from pki.errors import KeyFileError
    from pki.keys.npki import read_certificate

    fifo = tmp_path / "signCert.der"
    os.mkfifo(fifo)
    outcome: list[object] = []

    def read() -> None:
        try:
            read_certificate(fifo)
        except KeyFileError as exc:
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(60)  # a hang detector, not a timing: the read must end at all
    assert not reader.is_alive(), "reading a FIFO blocked"
    assert len(outcome) == 1 and "not a file" in str(outcome[0])


def test_loading_a_kcdsa_certificate_beside_its_key_file_is_a_key_file_error(
        material: Material, tmp_path: Path) -> None:
    """npki.load let pyca's UnsupportedAlgorithm escape for a certificate whose key pyca
    cannot read (KCDSA), a traceback for kpki sign and every other caller but the agent."""
    from pki.errors import KeyFileError
    from pki.keys import npki

    folder = tmp_path / "cn=KCDSA()0093"
    folder.mkdir()
    (folder / "signCert.der").write_bytes(_certificate(material, _unknown_algorithm_spki()))
    (folder / "signPri.key").write_bytes((material.general_folder / "signPri.key")
                                         .read_bytes())
    with pytest.raises(KeyFileError, match="algorithm kpki cannot use"):
        npki.load(folder, PASSWORD)
