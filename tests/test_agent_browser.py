"""The signing agent in a real browser (issue 17 items 2 and 4): a page on an allowed
origin loads agent.js from the agent, KpkiAgent.sign() opens the agent's dialog as a
popup, the test types the password and clicks OK as a user would, and the signature
verifies with ``openssl cms -verify`` and kpki's verifier, R matching the VID; a wrong
password, Cancel and a closed dialog; a page on a foreign origin gets nothing; a sign()
without a click is popup_blocked and an agent not running is agent_unavailable.
Screenshots of the dialog are kept (.artifacts/screenshots/)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import json
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from pki.agent import AgentSettings, SigningAgent, SignOrder, create_app
from pki.clock import KST, FixedClock
from pki.home import Home
from pki.vid import identify_data_of, vid_matches
from pki.web.thread import serve_in_thread

from .browser import browser, keep_screenshot, page  # noqa: F401  (fixtures)
from .test_agent import PASSWORD, PETITION, RRN, WRONG, Material, npki_material

POPUP_BLOCKER = True
"""Chromium's pop-up blocker is on (tests/browser.py), as users have it: the dialog opens
from a click, and a sign() called without one is popup_blocked."""

_PAGE = """<!DOCTYPE html>
<html lang="ko"><head><meta charset="utf-8"><title>전자민원</title>
<script src="{agent}/agent/v1/agent.js"></script></head>
<body><h1>전자민원 신청</h1><button id="sign">전자서명</button><button id="ping">확인</button>
<script>
function sign() {{
  window.outcome = undefined;
  KpkiAgent.sign(window.options).then(
    (result) => {{ window.outcome = {{ok: true, result}}; }},
    (error) => {{ window.outcome = {{ok: false, error}}; }});
}}
document.getElementById('sign').addEventListener('click', sign);
if (location.hash === '#sign-at-load') {{  // no click: no user gesture for window.open
  window.options = {{content: {{text: '민원 신청서', encoding: 'UTF-8'}}}};
  window.addEventListener('load', sign);
}}
document.getElementById('ping').addEventListener('click', () => {{
  window.pinged = undefined;
  KpkiAgent.ping().then((r) => {{ window.pinged = {{ok: true, r}}; }},
                        (e) => {{ window.pinged = {{ok: false, e}}; }});
}});
</script></body></html>"""


def _bound() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def _site(agent_url: str) -> Starlette:
    """A site on 127.0.0.1 (a real server: Chromium checks where a page was served from
    before it lets the page reach 127.0.0.1): ``/`` uses the agent at ``agent_url``,
    ``/frame?src=URL`` frames ``URL``."""
    async def home(request: Request) -> HTMLResponse:
        return HTMLResponse(_PAGE.format(agent=agent_url))

    async def frame(request: Request) -> HTMLResponse:
        src = html.escape(request.query_params["src"])
        return HTMLResponse(f'<!DOCTYPE html><meta charset="utf-8"><h1>경품 당첨</h1>'
                            f'<iframe id="f" src="{src}" width="600" height="700"></iframe>')

    return Starlette(routes=[Route("/", home), Route("/frame", frame)])


@dataclass
class Setup:
    material: Material
    agent: SigningAgent
    agent_url: str
    allowed_url: str
    foreign_url: str


@pytest.fixture
def setup(home: Home, tmp_path: Path, clock: FixedClock) -> Iterator[Setup]:
    material = npki_material(home, tmp_path)
    socks = [_bound() for _ in range(3)]
    agent_port, allowed_port, foreign_port = (s.getsockname()[1] for s in socks)
    allowed = f"http://127.0.0.1:{allowed_port}"
    agent = SigningAgent(AgentSettings.of([allowed], locations=material.locations()),
                         clock=clock)
    agent_url = f"http://127.0.0.1:{agent_port}"
    try:
        with contextlib.ExitStack() as stack:
            stack.enter_context(serve_in_thread(create_app(agent, port=agent_port),
                                                sock=socks[0]))
            stack.enter_context(serve_in_thread(_site(agent_url), sock=socks[1]))
            stack.enter_context(serve_in_thread(_site(agent_url), sock=socks[2]))
            yield Setup(material, agent, agent_url, allowed,
                        f"http://127.0.0.1:{foreign_port}")
    finally:
        agent.close()
        for sock in socks:
            sock.close()


def _ask(tab, setup: Setup, **options: object):  # type: ignore[no-untyped-def]
    """Open the allowed page in ``tab`` (a Playwright page), click 전자서명 with
    ``options``; the dialog popup, loaded."""
    tab.goto(setup.allowed_url)
    tab.wait_for_function("window.KpkiAgent !== undefined")
    tab.evaluate("(options) => { window.options = options; }",
                 {"content": {"text": PETITION, "encoding": "UTF-8"}, **options})
    with tab.expect_popup() as opened:
        tab.click("#sign")
    popup = opened.value
    popup.wait_for_selector("body[data-ready='true']")
    return popup


def _outcome(tab) -> dict:  # type: ignore[no-untyped-def,type-arg]
    """What the page's sign() settled with: {ok, result} or {ok: false, error}."""
    tab.wait_for_function("window.outcome !== undefined")
    return tab.evaluate("window.outcome")  # type: ignore[no-any-return]


def _choose_general(popup) -> None:  # type: ignore[no-untyped-def]
    popup.locator("#certificates tbody tr", has_text="홍길동").click()


def test_a_page_signs_with_the_users_ok_and_openssl_verifies(page, setup: Setup,  # noqa: F811
                                                              tmp_path: Path) -> None:
    popup = _ask(page, setup, includeR=True, purpose="주민등록등본 발급 신청")
    rows = popup.locator("#certificates tbody tr")
    assert rows.count() == 2
    general = rows.filter(has_text="홍길동")
    cells = general.locator("td").all_inner_texts()
    issued = setup.material.general.certificate  # type: ignore[attr-defined]
    assert cells[0] == "범용" and cells[3] == "yessign"
    assert cells[2] == issued.not_valid_after_utc.astimezone(
        KST).strftime("%Y-%m-%d")
    assert "은행·보험용" in rows.filter(has_text="김철수").inner_text()
    assert popup.locator("#origin").inner_text() == setup.allowed_url
    assert popup.locator("#purpose").inner_text() == "주민등록등본 발급 신청"
    assert popup.locator("#locations button").all_inner_texts() == ["하드디스크 (2)",
                                                                    "이동식디스크 (0)"]
    _choose_general(popup)
    popup.click("#view")
    assert str(issued.serial_number) in popup.locator("#d-serial").inner_text()
    assert "yessign" in popup.locator("#d-issuer").inner_text()
    keep_screenshot(popup, "agent-dialog-certificate-details")
    popup.click("#details-close")
    popup.fill("#password", PASSWORD)
    keep_screenshot(popup, "agent-dialog-password")
    popup.click("#ok")
    outcome = _outcome(page)
    assert outcome["ok"], outcome
    result = outcome["result"]
    assert result["enveloped"] is False
    assert PASSWORD not in json.dumps(outcome)
    signature = base64.b64decode(result["signature"])

    root = setup.material.root
    (tmp_path / "sig.der").write_bytes(signature)
    # the signature carries the signer's certificate only (an NPKI folder holds no chain)
    (tmp_path / "chain.pem").write_bytes(
        root.public_bytes(Encoding.PEM)
        + setup.material.general.chain[0].public_bytes(Encoding.PEM))  # type: ignore[attr-defined]
    at = int(setup.material.home.clock.now().timestamp())
    done = subprocess.run(["openssl", "cms", "-verify", "-inform", "DER", "-in",
                           tmp_path / "sig.der", "-binary", "-CAfile", tmp_path / "chain.pem",
                           "-out", tmp_path / "out",
                           "-attime", str(at)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out").read_bytes() == PETITION.encode()

    r = base64.b64decode(result["r"])
    checked = setup.material.verify(signature, rrn=RRN, r=r)
    assert checked.ok, checked.summary()  # type: ignore[attr-defined]
    identity = identify_data_of(issued)
    assert identity is not None and vid_matches(identity, RRN, r)
    assert result["certificate"] == issued.public_bytes(Encoding.PEM).decode()


def test_the_dialog_shows_the_petition_the_origin_and_the_sites_words(
        page, setup: Setup) -> None:  # noqa: F811
    popup = _ask(page, setup, content={"text": PETITION, "encoding": "EUC-KR"},
                 purpose="주민등록등본 발급 신청")
    assert popup.locator(".content-text").all_text_contents() == [PETITION]
    signed = PETITION.encode("cp949")
    meta = popup.locator(".content-meta").inner_text()
    assert "EUC-KR" in meta and f"{len(signed)}바이트" in meta
    assert popup.locator(".content-sha256").inner_text() == hashlib.sha256(signed).hexdigest()
    assert popup.locator("#origin").inner_text() == setup.allowed_url
    assert popup.locator("#purpose").inner_text() == "주민등록등본 발급 신청"
    # the purpose is labelled as the site's words, not the agent's
    assert "사이트" in popup.locator("#purpose-label").inner_text()
    keep_screenshot(popup, "agent-dialog-content-to-sign")
    popup.click("#cancel")
    assert _outcome(page)["error"]["code"] == "cancelled"


def test_content_and_purpose_that_look_like_html_are_shown_as_text(
        page, setup: Setup) -> None:  # noqa: F811
    hostile = '<img src=x onerror="document.title=\'pwned\'"><script>document.title=1</script>'
    popup = _ask(page, setup, content={"text": hostile, "encoding": "UTF-8"},
                 purpose='<b id="bold">발급</b><img src=y onerror="document.title=2">')
    assert popup.locator(".content-text").text_content() == hostile
    assert popup.locator("#purpose").text_content() \
        == '<b id="bold">발급</b><img src=y onerror="document.title=2">'
    assert popup.evaluate("document.querySelectorAll('img, #bold, #contents script').length"
                          ) == 0
    assert popup.title() == "인증서 선택 - kpki 서명 에이전트"
    popup.click("#cancel")
    assert _outcome(page)["error"]["code"] == "cancelled"


def test_characters_that_would_hide_or_reorder_the_content_are_shown_as_codes(
        page, setup: Setup) -> None:  # noqa: F811
    """A right-to-left override makes '송금액: \u202e00001원' look like '송금액: 원10000', a
    zero-width space hides itself, an escape is invisible: the dialog shows each as its
    code point (and warns), so what the user reads is the order of what is signed."""
    text = "송금액: \u202e00001원\n받는 분:\u200b 홍길동\x1b[8m\t끝\r\n"
    popup = _ask(page, setup, content={"text": text, "encoding": "UTF-8"})
    shown = popup.locator(".content-text").text_content()
    assert shown == ("송금액: ⟨U+202E⟩00001원\n받는 분:⟨U+200B⟩ 홍길동⟨U+001B⟩[8m\t끝\r\n")
    assert "3" in popup.locator("#content-warning").inner_text()
    assert popup.locator("#content-warning").is_visible()
    keep_screenshot(popup, "agent-dialog-hidden-characters")
    popup.click("#cancel")
    assert _outcome(page)["error"]["code"] == "cancelled"


def test_long_content_scrolls_in_full_and_binary_content_shows_its_hash(
        page, setup: Setup) -> None:  # noqa: F811
    long_text = "\n".join(f"{n}번째 줄: 민원 내용" for n in range(1, 401))
    popup = _ask(page, setup, content={"text": long_text, "encoding": "UTF-8"})
    content = popup.locator(".content-text")
    assert content.text_content() == long_text  # nothing cut
    assert content.evaluate("e => e.scrollHeight > e.clientHeight")
    assert content.evaluate("e => getComputedStyle(e).overflowY") in ("auto", "scroll")
    content.evaluate("e => { e.scrollTop = e.scrollHeight; }")
    assert content.evaluate("e => e.scrollTop > 0")  # the user can scroll to the end
    keep_screenshot(popup, "agent-dialog-long-content")
    popup.click("#cancel")
    assert _outcome(page)["error"]["code"] == "cancelled"

    data = bytes(range(256)) * 4
    popup = _ask(page, setup, content={"base64": base64.b64encode(data).decode()})
    assert popup.locator(".content-text").count() == 0  # no text shown for bytes
    assert "1024바이트" in popup.locator(".content-meta").inner_text()
    assert popup.locator(".content-sha256").inner_text() == hashlib.sha256(data).hexdigest()
    keep_screenshot(popup, "agent-dialog-binary-content")
    popup.click("#cancel")
    assert _outcome(page)["error"]["code"] == "cancelled"


def test_a_purpose_with_control_characters_is_refused_and_nothing_opens(
        page, setup: Setup) -> None:  # noqa: F811
    page.goto(setup.allowed_url)
    page.wait_for_function("window.KpkiAgent !== undefined")
    page.evaluate("(options) => { window.options = options; }",
                  {"content": {"text": PETITION}, "purpose": "송금\u202e원0001"})
    page.click("#sign")
    outcome = _outcome(page)
    assert outcome["error"]["code"] == "bad_request"
    assert len(page.context.pages) == 1
    setup.agent.open(setup.allowed_url, SignOrder(b"x"))  # nothing was left open


def test_several_texts_are_each_shown_and_each_signed_with_one_ok(
        page, setup: Setup) -> None:  # noqa: F811
    texts = [PETITION, "첨부 1: 가족관계증명서 발급 신청", "첨부 2: 위임장 (대리인 김철수)"]
    popup = _ask(page, setup, content={"texts": texts, "encoding": "EUC-KR"})
    assert popup.locator(".content-text").all_text_contents() == texts
    assert popup.locator(".content-sha256").all_inner_texts() == [
        hashlib.sha256(t.encode("cp949")).hexdigest() for t in texts]
    assert "3건" in popup.locator("#content-title").inner_text()
    keep_screenshot(popup, "agent-dialog-several-texts")
    _choose_general(popup)
    popup.fill("#password", PASSWORD)
    popup.click("#ok")
    outcome = _outcome(page)
    assert outcome["ok"], outcome
    signatures = [base64.b64decode(s) for s in outcome["result"]["signatures"]]
    assert len(signatures) == 3
    for text, signature in zip(texts, signatures, strict=True):
        verified = setup.material.verify(signature)
        assert verified.ok and verified.content == text.encode("cp949")  # type: ignore[attr-defined]


def test_euc_kr_text_is_signed_as_those_bytes(page, setup: Setup) -> None:  # noqa: F811
    popup = _ask(page, setup, content={"text": PETITION, "encoding": "EUC-KR"},
                 attached=False, algorithm="pss")
    _choose_general(popup)
    popup.fill("#password", PASSWORD)
    popup.click("#ok")
    outcome = _outcome(page)
    assert outcome["ok"], outcome
    signature = base64.b64decode(outcome["result"]["signature"])
    assert setup.material.verify(signature, content=PETITION.encode("cp949")).ok  # type: ignore[attr-defined]
    assert not setup.material.verify(signature, content=PETITION.encode()).ok  # type: ignore[attr-defined]


def test_a_wrong_password_is_refused_in_the_dialog_then_the_right_one_signs(
        page, setup: Setup) -> None:  # noqa: F811
    popup = _ask(page, setup)
    _choose_general(popup)
    popup.fill("#password", WRONG)
    popup.click("#ok")
    popup.wait_for_selector("#message.error")
    message = popup.locator("#message").inner_text()
    assert "올바르지 않습니다" in message and "1회 오류" in message and "잠기지 않습니다" in message
    keep_screenshot(popup, "agent-dialog-wrong-password")
    assert page.evaluate("window.outcome") is None  # the page learns nothing of it
    popup.fill("#password", WRONG)
    popup.click("#ok")
    from playwright.sync_api import expect

    expect(popup.locator("#message")).to_contain_text("2회 오류")  # the dialog's CSP: no eval
    popup.fill("#password", PASSWORD)
    popup.click("#ok")
    outcome = _outcome(page)
    assert outcome["ok"], outcome
    assert setup.material.verify(base64.b64decode(outcome["result"]["signature"])).ok  # type: ignore[attr-defined]


def test_cancel_rejects_with_cancelled(page, setup: Setup) -> None:  # noqa: F811
    popup = _ask(page, setup)
    popup.click("#cancel")
    outcome = _outcome(page)
    assert not outcome["ok"]
    assert outcome["error"]["code"] == "cancelled"


def test_closing_the_dialog_rejects_with_cancelled(page, setup: Setup) -> None:  # noqa: F811
    popup = _ask(page, setup)
    popup.close()
    outcome = _outcome(page)
    assert outcome["error"]["code"] == "cancelled"
    # nothing stays open: the page can ask again at once
    again = _ask(page, setup)
    again.click("#cancel")
    assert _outcome(page)["error"]["code"] == "cancelled"


def test_a_second_sign_while_one_is_open_is_busy(page, setup: Setup) -> None:  # noqa: F811
    popup = _ask(page, setup)
    second = page.evaluate("""() => KpkiAgent.sign({content: {text: 'x'}}).then(
        () => null, (error) => error)""")
    assert second["code"] == "busy"
    popup.click("#cancel")
    assert _outcome(page)["error"]["code"] == "cancelled"


def test_an_unknown_encoding_is_refused_and_nothing_opens(page, setup: Setup) -> None:  # noqa: F811
    page.goto(setup.allowed_url)
    page.wait_for_function("window.KpkiAgent !== undefined")
    page.evaluate("() => { window.options = {content: {text: 'x', encoding: 'UTF-7'}}; }")
    page.click("#sign")
    outcome = _outcome(page)
    assert outcome["error"]["code"] == "unsupported_encoding"
    assert len(page.context.pages) == 1  # the dialog window was closed again


def _refused_ping_and_sign(tab, url: str, code: str) -> None:  # type: ignore[no-untyped-def]
    """Open ``url`` in ``tab``: its ping() and a sign() from a click both reject with
    ``code``, and the dialog window that sign() opened is closed again."""
    tab.goto(url)
    tab.wait_for_function("window.KpkiAgent !== undefined")
    tab.click("#ping")
    tab.wait_for_function("window.pinged !== undefined")
    assert tab.evaluate("window.pinged")["e"]["code"] == code
    tab.evaluate("(options) => { window.options = options; }",
                 {"content": {"text": PETITION, "encoding": "UTF-8"}})
    tab.click("#sign")
    assert _outcome(tab)["error"]["code"] == code
    assert len(tab.context.pages) == 1


def test_a_page_on_a_foreign_origin_gets_nothing(page, setup: Setup) -> None:  # noqa: F811
    _refused_ping_and_sign(page, setup.foreign_url, "origin_not_allowed")
    # a plain fetch fails too: no CORS header, so the page reads nothing at all
    failed = page.evaluate(f"""() => fetch('{setup.agent_url}/agent/v1/requests', {{
        method: 'POST', headers: {{'Content-Type': 'application/json'}},
        body: JSON.stringify({{content: {{text: 'x'}}}})}}).then(() => 'read', () => 'failed')""")
    assert failed == "failed"
    # and nothing was opened for it: the allowed page's request is not busy
    setup.agent.open(setup.allowed_url, SignOrder(b"x"))


def test_sign_without_a_click_is_popup_blocked_and_opens_nothing(
        page, setup: Setup) -> None:  # noqa: F811
    """The page calls sign() as it loads, with no user gesture: Chromium's pop-up blocker
    (on in this module, as users have it) refuses the dialog window."""
    page.goto(setup.allowed_url + "#sign-at-load")
    outcome = _outcome(page)
    assert outcome["error"]["code"] == "popup_blocked"
    assert len(page.context.pages) == 1
    # nothing was asked of the agent: it holds no open request
    setup.agent.open(setup.allowed_url, SignOrder(b"x"))


def test_an_agent_not_listening_is_agent_unavailable_and_opens_nothing(
        page, setup: Setup) -> None:  # noqa: F811
    """The page loaded agent.js (served here by the test) from a port nobody listens on:
    the agent is not running."""
    with contextlib.ExitStack() as stack:
        nobody = stack.enter_context(contextlib.closing(_bound()))  # never listening
        dead = f"http://127.0.0.1:{nobody.getsockname()[1]}"
        site = stack.enter_context(serve_in_thread(_site(dead)))
        script = Path(__file__).resolve().parents[1] / "pki/agent/static/agent.js"
        page.route(f"{dead}/agent/v1/agent.js",
                   lambda route: route.fulfill(body=script.read_text(),
                                               content_type="text/javascript"))
        _refused_ping_and_sign(page, site, "agent_unavailable")
    setup.agent.open(setup.allowed_url, SignOrder(b"x"))  # the running agent saw nothing


def test_the_dialog_cannot_be_framed_by_a_foreign_page(page, setup: Setup) -> None:  # noqa: F811
    """A foreign page frames the dialog of an open request (even knowing its token, which
    it cannot): Chromium refuses to show it (frame-ancestors 'none', X-Frame-Options), so
    no click of the user's on that page can land on the agent's OK."""
    opened = setup.agent.open(setup.allowed_url, SignOrder(PETITION.encode(),
                                                           encoding="UTF-8"))
    dialog = (f"{setup.agent_url}/agent/v1/dialog"
              f"#{opened.request_id}.{opened.dialog_token}")
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    with page.expect_response(lambda response: response.url.startswith(setup.agent_url)
                              ) as framed:
        page.goto(f"{setup.foreign_url}/frame?{urlencode({'src': dialog})}")
    # the agent served the page, with the headers that forbid framing it ...
    assert framed.value.status == 200
    assert "frame-ancestors 'none'" in framed.value.headers["content-security-policy"]
    assert framed.value.headers["x-frame-options"] == "DENY"
    # ... and Chromium did not show it: no dialog, no script of it run, no call made
    page.wait_for_function("document.readyState === 'complete'")
    assert page.frame_locator("#f").locator("#dialog").count() == 0
    assert [f.url for f in page.frames][1:] == ["chrome-error://chromewebdata/"]
    assert not any("dialog.js" in url or "/view" in url for url in asked), asked
    keep_screenshot(page, "agent-dialog-framed-by-a-foreign-page")
    # the request is untouched: its own dialog still opens it
    assert setup.agent.view(opened.request_id, token=opened.dialog_token).offered


def test_an_allowed_page_pings_the_agent(page, setup: Setup) -> None:  # noqa: F811
    page.goto(setup.allowed_url)
    page.wait_for_function("window.KpkiAgent !== undefined")
    page.click("#ping")
    page.wait_for_function("window.pinged !== undefined")
    pinged = page.evaluate("window.pinged")
    assert pinged["ok"] and pinged["r"]["version"]
