"""A second hostile reading of the local signing agent (issue 17 item 2), after the first
review's fixes (tests/test_review17.py): many answers to one request at once, a request
answered from another origin, bodies too large or not JSON on every call, a name rebound to
127.0.0.1. (The dialog framed by a foreign page needs a browser: it is
tests/test_agent_browser.py::test_the_dialog_cannot_be_framed_by_a_foreign_page.)"""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from pki.agent import SigningAgent, State, service
from pki.errors import WrongPasswordError
from pki.keys import npki

from . import test_agent
from .test_agent import (
    FOREIGN,
    ORIGIN,
    OTHER_ORIGIN,
    PASSWORD,
    PETITION,
    WRONG,
    Answer,
    Client,
    Material,
    dialog_post,
    open_http,
    page_post,
)

AT_ONCE = 20

# tests/test_agent.py's fixtures: an NPKI base with two certificates, the agent and its
# HTTP client
material, agent, client = test_agent.material, test_agent.agent, test_agent.client


def _at_once(call: Callable[[], Answer], n: int = AT_ONCE) -> list[Answer]:
    """``call`` from ``n`` threads released together; the answers."""
    gate = threading.Barrier(n)
    answers: list[Answer] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def run() -> None:
        try:
            gate.wait(60)
            answer = call()
        except BaseException as exc:  # reported below
            with lock:
                failures.append(exc)
            return
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not failures, failures
    assert len(answers) == n
    return answers


def _general_row(client: Client, request_id: str, dialog_token: str) -> int:
    view = dialog_post(client, f"/{request_id}/view", {"token": dialog_token})
    assert view.status_code == 200, view.text
    return next(c["index"] for c in view.json()["certificates"]  # type: ignore[index]
                if c["holder"].startswith("홍길동"))


def _codes(answers: list[Answer]) -> list[tuple[int, str | None]]:
    return sorted((a.status_code, a.json().get("error", {}).get("code"))  # type: ignore[union-attr]
                  for a in answers)


# -- one request, many answers at once --------------------------------------------------------

def test_twenty_confirmations_of_one_request_at_once_sign_once(
        client: Client, material: Material, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[bytes] = []
    original = service.sign

    def counted(content: bytes, *args: object, **kw: object) -> object:
        made.append(content)
        return original(content, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(service, "sign", counted)
    request_id, token, dialog_token = open_http(client)
    index = _general_row(client, request_id, dialog_token)
    answers = _at_once(lambda: dialog_post(client, f"/{request_id}/confirm",
                                           {"token": dialog_token, "certificate": index,
                                            "password": PASSWORD}))
    signed = [a for a in answers if a.status_code == 200]
    assert len(signed) == 1 and signed[0].json() == {"state": "signed"}
    assert {code for status, code in _codes(answers) if status != 200} \
        <= {"in_progress", "already_answered"}
    assert all(a.status_code == 409 for a in answers if a.status_code != 200)
    assert made == [PETITION.encode()]  # one signature made
    outcome = page_post(client, f"/requests/{request_id}/outcome", {"token": token}).json()
    assert outcome["state"] == "signed"  # type: ignore[index]
    signature = base64.b64decode(outcome["signature"])  # type: ignore[index]
    assert material.verify(signature).ok  # type: ignore[attr-defined]


def test_twenty_wrong_passwords_at_once_are_charged_once_each_verified(
        client: Client, agent: SigningAgent, material: Material,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Every refusal counted is a password the key file refused (npki.load raised
    WrongPasswordError), and each such password is counted exactly once: the counts the
    dialog was told are 1, 2, ... with no gap and no repeat."""
    key_file = material.general_folder / npki.KEY_FILE
    before = key_file.read_bytes()
    verified: list[int] = []
    lock = threading.Lock()
    real_load = npki.load

    def load(folder: Path, password: str) -> object:
        try:
            return real_load(folder, password)
        except WrongPasswordError:
            with lock:
                verified.append(1)
            raise

    monkeypatch.setattr("pki.agent.service.npki.load", load)
    request_id, token, dialog_token = open_http(client)
    index = _general_row(client, request_id, dialog_token)
    answers = _at_once(lambda: dialog_post(client, f"/{request_id}/confirm",
                                           {"token": dialog_token, "certificate": index,
                                            "password": WRONG}))
    wrong = [a.json()["error"] for a in answers if a.status_code == 401]  # type: ignore[index]
    assert all(w["code"] == "wrong_password" and w["countedByFile"] is False for w in wrong)
    others = {code for status, code in _codes(answers) if status != 401}
    assert others <= {"in_progress"}, _codes(answers)
    assert sorted(w["attempts"] for w in wrong) == list(range(1, len(wrong) + 1))
    assert len(verified) == len(wrong) >= 1
    view = dialog_post(client, f"/{request_id}/view", {"token": dialog_token}).json()
    row = next(c for c in view["certificates"] if c["index"] == index)  # type: ignore[index]
    assert row["attempts"] == len(wrong)
    assert key_file.read_bytes() == before  # nothing written to the key file
    assert WRONG not in "".join(a.text for a in answers)
    # the request is open again, and the right password signs it
    assert page_post(client, f"/requests/{request_id}/outcome",
                     {"token": token}).json() == {"state": "pending"}
    right = dialog_post(client, f"/{request_id}/confirm",
                        {"token": dialog_token, "certificate": index, "password": PASSWORD})
    assert right.json() == {"state": "signed"}


def test_twenty_cancels_and_a_confirmation_at_once_have_one_answer(
        client: Client, material: Material) -> None:
    request_id, token, dialog_token = open_http(client)
    index = _general_row(client, request_id, dialog_token)
    calls: list[Callable[[], Answer]] = [
        lambda: dialog_post(client, f"/{request_id}/confirm",
                            {"token": dialog_token, "certificate": index,
                             "password": PASSWORD})]
    calls += [lambda: page_post(client, f"/requests/{request_id}/cancel", {"token": token})
              ] * (AT_ONCE // 2)
    calls += [lambda: dialog_post(client, f"/{request_id}/cancel", {"token": dialog_token})
              ] * (AT_ONCE // 2 - 1)
    turn = iter(range(AT_ONCE))
    lock = threading.Lock()

    def next_call() -> Answer:
        with lock:
            n = next(turn)
        return calls[n]()

    answers = _at_once(next_call)
    won = [a for a in answers if a.status_code == 200]
    assert len(won) == 1, _codes(answers)  # one answer wins, whichever it is
    outcome = page_post(client, f"/requests/{request_id}/outcome", {"token": token}).json()
    assert outcome["state"] == won[0].json()["state"]  # type: ignore[index]
    assert outcome["state"] in ("signed", "cancelled")  # type: ignore[index]


# -- a request answered from another origin -------------------------------------------------------

@pytest.mark.parametrize("origin", [OTHER_ORIGIN, FOREIGN, None])
def test_a_request_of_one_origin_cannot_be_confirmed_from_another(
        client: Client, agent: SigningAgent, origin: str | None) -> None:
    """The dialog's calls answer the agent's own origin only, even with the dialog's token;
    the page's calls answer the origin that opened the request only."""
    request_id, token, dialog_token = open_http(client)
    _general_row(client, request_id, dialog_token)
    for path, body in ((f"/dialog/{request_id}/confirm",
                        {"token": dialog_token, "certificate": 0, "password": PASSWORD}),
                       (f"/dialog/{request_id}/view", {"token": dialog_token}),
                       (f"/dialog/{request_id}/cancel", {"token": dialog_token})):
        answer = page_post(client, path, body, origin=origin)
        assert answer.status_code == 403, answer.text
        assert answer.json()["error"]["code"] == "origin_not_allowed"  # type: ignore[index]
    for path in (f"/requests/{request_id}/outcome", f"/requests/{request_id}/cancel"):
        answer = page_post(client, path, {"token": token}, origin=origin)
        expected = (404, "unknown_request") if origin == OTHER_ORIGIN \
            else (403, "origin_not_allowed")
        assert (answer.status_code,
                answer.json()["error"]["code"]) == expected, answer.text  # type: ignore[index]
    assert agent.outcome(request_id, origin=ORIGIN, token=token).state is State.PENDING


# -- bodies too large or not JSON, on every call ---------------------------------------------------

_CALLS = ["requests", "outcome", "cancel", "view", "confirm", "dismiss"]


def _path(call: str, request_id: str) -> tuple[str, str | None]:
    """The call's path and the Origin it is made from (None: the agent's own)."""
    return {"requests": ("/agent/v1/requests", ORIGIN),
            "outcome": (f"/agent/v1/requests/{request_id}/outcome", ORIGIN),
            "cancel": (f"/agent/v1/requests/{request_id}/cancel", ORIGIN),
            "view": (f"/agent/v1/dialog/{request_id}/view", None),
            "confirm": (f"/agent/v1/dialog/{request_id}/confirm", None),
            "dismiss": (f"/agent/v1/dialog/{request_id}/cancel", None)}[call]


_MALFORMED = {
    "empty": b"",
    "not json": b"token=abc",
    "cut short": b'{"token": "abc',
    "not utf-8": b'{"token": "\xff\xfe"}',
    "utf-16": '{"token": "abc"}'.encode("utf-16"),
    "an array": b"[]",
    "a string": b'"token"',
    "nested deep": b"[" * 5_000 + b"]" * 5_000,
    "nested deep in a field": b'{"token": ' + b"[" * 5_000 + b"]" * 5_000 + b"}",
    "nan": b'{"token": "abc", "wait": NaN}',
    "a huge number": b'{"token": "abc", "certificate": 1e999999, "wait": 1e999999}',
    "a number as token": b'{"token": 12345}',
    "null": b"null",
    "two objects": b'{"token": "a"}{"token": "b"}',
    "a nul": b'{"token": "a\x00"}',
}


@pytest.mark.parametrize("call", _CALLS)
@pytest.mark.parametrize("body", list(_MALFORMED))
def test_a_body_that_is_no_request_is_a_json_400_on_every_call(
        client: Client, agent: SigningAgent, call: str, body: str) -> None:
    request_id, token, _ = open_http(client)
    path, origin = _path(call, request_id)
    answer = client.post(path, content=_MALFORMED[body],
                         headers={"Origin": origin or client.own,
                                  "Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] in ("bad_json", "bad_request")  # type: ignore[index]
    assert agent.outcome(request_id, origin=ORIGIN, token=token).state is State.PENDING


def _streamed_head(path: str, origin: str, port: int) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: {origin}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").encode()


def _answer_of(sock: socket.socket) -> tuple[int, dict[str, object]]:
    """The status and JSON body of the response on ``sock`` (read until it closes or the
    body is complete)."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        assert chunk, received
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
    length = int(headers["content-length"])
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk
        body += chunk
    return int(lines[0].split()[1]), json.loads(body[:length])


@pytest.mark.parametrize("call", _CALLS)
def test_a_body_over_the_limit_is_refused_while_it_streams_on_every_call(
        client: Client, agent: SigningAgent, material: Material, call: str) -> None:
    """A chunked body that never ends: the answer (413) comes once the limit is passed,
    without waiting for the rest, which is never sent."""
    request_id, token, _ = open_http(client)
    path, origin = _path(call, request_id)
    limit = agent.settings.max_content_bytes * 6 + 128 * 1024 if call == "requests" \
        else 16 * 1024
    body_sent = b'{"token": "' + b"x" * limit  # just over the limit, and no end
    with socket.create_connection(("127.0.0.1", client.port), timeout=60) as sock:
        sock.sendall(_streamed_head(path, origin or client.own, client.port))
        for start in range(0, len(body_sent), 64 * 1024):
            piece = body_sent[start:start + 64 * 1024]
            sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        # the last chunk (0) never comes: an agent reading to the end would never answer
        status, body = _answer_of(sock)
    assert status == 413, body
    assert body["error"]["code"] == "too_large"  # type: ignore[index]
    assert body["error"]["limit"] == limit  # type: ignore[index]
    # the chunked body was never finished: the agent answered while it streamed
    assert agent.outcome(request_id, origin=ORIGIN, token=token).state is State.PENDING


@pytest.mark.parametrize("call", _CALLS)
def test_a_declared_length_over_the_limit_is_refused_before_the_body(
        client: Client, agent: SigningAgent, call: str) -> None:
    request_id, _, _ = open_http(client)
    path, origin = _path(call, request_id)
    declared = 64 * 1024 * 1024
    with socket.create_connection(("127.0.0.1", client.port), timeout=60) as sock:
        sock.sendall((f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{client.port}\r\n"
                      f"Origin: {origin or client.own}\r\nContent-Type: application/json\r\n"
                      f"Content-Length: {declared}\r\n\r\n").encode())
        status, body = _answer_of(sock)  # no byte of the body sent
    assert status == 413 and body["error"]["code"] == "too_large"  # type: ignore[index]


# -- a name rebound to 127.0.0.1 ---------------------------------------------------------------

_REBOUND = ["evil.example", "evil.example:PORT", "127.0.0.1.evil.example:PORT",
            "localhost.:PORT", "127.0.0.1:PORT.evil.example", "[::ffff:127.0.0.1]:PORT",
            "2130706433:PORT", "127.1:PORT", "127.0.0.1:0PORT", "127.0.0.1:PORT\tevil",
            "LOCALHOST.evil.example:PORT"]


@pytest.mark.parametrize("host", _REBOUND)
def test_a_name_rebound_to_127_0_0_1_gets_nothing(client: Client, agent: SigningAgent,
                                                  host: str) -> None:
    """A page of evil.example whose name now resolves to 127.0.0.1 is same-origin with
    what it reaches there: the agent answers none of its requests (421), not the dialog
    page, not agent.js, and opens nothing for it, whatever Origin it claims."""
    named = host.replace("PORT", str(client.port))
    rebound = "http://" + named.split("\t")[0]
    for origin in (rebound, ORIGIN):
        opened = client.post("/agent/v1/requests",
                             content=json.dumps({"content": {"text": "x"}}).encode(),
                             headers={"Host": named, "Origin": origin,
                                      "Content-Type": "application/json"})
        assert opened.status_code in (400, 421), opened.text
        assert not any(h.startswith("access-control-") for h in opened.headers)
    for path in ("/agent/v1/dialog", "/agent/v1/agent.js", "/agent/v1/ping"):
        answer = client.get(path, headers={"Host": named, "Origin": ORIGIN})
        assert answer.status_code in (400, 421), (path, answer.status_code)
        assert "인증서" not in answer.text and "KpkiAgent" not in answer.text
    # nothing was opened: the allowed page can still ask
    assert page_post(client, "/requests", {"content": {"text": "x"}}).status_code == 201


def test_a_request_without_a_host_is_refused(client: Client) -> None:
    with socket.create_connection(("127.0.0.1", client.port), timeout=60) as sock:
        sock.sendall(f"GET /agent/v1/ping HTTP/1.0\r\nOrigin: {ORIGIN}\r\n\r\n".encode())
        status, body = _answer_of(sock)
    assert status == 421 and body["error"]["code"] == "host_not_allowed"  # type: ignore[index]


def test_an_absolute_target_does_not_pass_for_the_host(client: Client) -> None:
    """A request line naming the agent does not stand in for a rebound Host header."""
    with socket.create_connection(("127.0.0.1", client.port), timeout=60) as sock:
        sock.sendall((f"GET http://127.0.0.1:{client.port}/agent/v1/ping HTTP/1.1\r\n"
                      f"Host: evil.example\r\nOrigin: {ORIGIN}\r\n"
                      "Connection: close\r\n\r\n").encode())
        status, body = _answer_of(sock)
    assert status == 421 and body["error"]["code"] == "host_not_allowed"  # type: ignore[index]


def test_long_polls_never_take_the_threads_the_dialog_needs(agent: SigningAgent) -> None:
    """A page's outcome calls wait for the user (a long poll, up to MAX_WAIT seconds) on
    the agent's worker threads. Before, enough of them (from one allowed page, or spread
    over several) held every thread, and the dialog's OK queued behind them: nobody could
    sign until the waits ran out. Now at most half the threads wait; an outcome call past
    that answers at once (``pending``: agent.js asks again) and the dialog's calls run."""
    from pki.agent.app import create_app
    from pki.web.thread import serve_in_thread

    workers, waiting = 4, threading.Semaphore(0)
    outcome = agent.outcome

    def counted(*args: object, **kwargs: object) -> object:
        waiting.release()  # this call holds a worker thread now
        return outcome(*args, **kwargs)  # type: ignore[arg-type]

    agent.outcome = counted  # type: ignore[method-assign]
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        with serve_in_thread(create_app(agent, port=sock.getsockname()[1], workers=workers),
                             sock=sock):
            client = Client(sock.getsockname()[1])
            request_id, token, dialog_token = open_http(client)
            polls: list[str] = []
            threads = [threading.Thread(target=lambda: polls.append(page_post(
                client, f"/requests/{request_id}/outcome",
                {"token": token, "wait": 25}).json()["state"])) for _ in range(2 * workers)]
            for thread in threads:
                thread.start()
            for _ in range(workers):  # every thread taken, as far as the old agent goes
                assert waiting.acquire(timeout=60)
            row = _general_row(client, request_id, dialog_token)
            right = dialog_post(client, f"/{request_id}/confirm",
                                {"token": dialog_token, "certificate": row,
                                 "password": PASSWORD})
            assert right.json() == {"state": "signed"}
            for thread in threads:
                thread.join(60)
    finally:
        agent.close()
        sock.close()
    # those that waited saw the signature come; the others were told pending at once
    assert sorted(polls) == ["pending"] * (2 * workers - workers // 2) + \
        ["signed"] * (workers // 2), polls
