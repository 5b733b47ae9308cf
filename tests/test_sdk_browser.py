"""The browser SDK in a real browser (issue 17 items 1 and 4): a bank's test page served
from a second origin (another server, another port) loads kpki's fincert.js, whose iframe
from kpki's origin shows the cloud connection, the certificate list and the PIN pad.
Signatures are verified by ``openssl cms -verify`` and kpki's verifier; the PIN pad works
by clicks and by keyboard only; five wrong PINs lock; cancel is 800000, a second call at
once 100008; a message from any window but the iframe is never acted on. Screenshots of
each step are kept (.artifacts/screenshots/)."""

from __future__ import annotations

import base64
import json
import re
import socket
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from pki.home import Home
from pki.signing.verify import CRLIndex, Verifier
from pki.web import serve_in_thread

from .browser import browser, keep_screenshot, page  # noqa: F401  (fixtures)
from .cloud_helpers import BIRTH, PIN, Api, _issue, _user
from .test_sdk import ORG, serve_sdk, set_up_institution

PAGE_HTML = """<!DOCTYPE html>
<html lang="ko"><head><meta charset="utf-8"><title>테스트 은행</title></head>
<body><h1>테스트 은행 인터넷뱅킹</h1><p>금융인증서로 이체를 승인합니다.</p>
<script src="{kpki}/sdk/v1/fincert.js"></script>
<script>
window.settle = (promise) => promise.then((value) => ({{ok: value}}),
                                          (error) => ({{error: error}}));
window.started = (name, promise) => {{ window[name] = window.settle(promise); }};
window.initialise = (lang) => FinCert.Sdk.init({{orgCode: '{org}', apiKey: '{key}',
  clientOrigin: window.location.origin, deviceId: 'browser-test', lang: lang || 'ko'}});
</script></body></html>
"""


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, key_pool: Any) -> Iterator[dict[str, Any]]:
    """kpki (the cloud and the SDK) on one port and the bank's test page on another, at
    ``localhost``: another origin."""
    path = tmp_path_factory.mktemp("sdkb") / "home"
    Home.create(path, passphrase=None, key_generator=key_pool).close()
    page_sock = _free_socket()
    page_origin = f"http://localhost:{page_sock.getsockname()[1]}"
    api_key, sdk_key = set_up_institution(path, "test-bank", ORG, [page_origin])
    with serve_sdk(path, key_pool=key_pool) as kpki:
        html = PAGE_HTML.format(kpki=kpki, org=ORG, key=sdk_key)

        async def bank_page(request: Any) -> HTMLResponse:
            return HTMLResponse(html)

        app = Starlette(routes=[Route("/", bank_page)])
        with serve_in_thread(app, sock=page_sock):
            yield {"kpki": kpki, "page": page_origin + "/", "api": Api(kpki, api_key),
                   "path": path}
    page_sock.close()


def _person(site: dict[str, Any], phone: str, name: str = "홍길동") -> str:
    """A person with a financial certificate at the bank; its serial."""
    return _issue(site["api"], _user(site["api"], phone, name))


def _open(page: Any, site: dict[str, Any], lang: str = "ko") -> Any:  # noqa: F811
    page.goto(site["page"])
    assert page.evaluate("(lang) => initialise(lang)", lang) == {"connected": False}
    return page.frame_locator("iframe[data-kpki=fincert]")


def _code(site: dict[str, Any], phone: str) -> str:
    _, messages = site["api"]("GET", f"/cloud/v1/test/messages?phone={phone}")
    return re.search(r"code (\d\d)", messages["messages"][-1]["text"]).group(1)


def _connect_by_clicks(frame: Any, page: Any, site: dict[str, Any], phone: str,  # noqa: F811
                       name: str = "홍길동", shots: str | None = None) -> None:
    frame.locator("#f-name").fill(name)
    frame.locator("#f-phone").fill(phone)
    frame.locator("#f-birth_date").fill(BIRTH)
    if shots:
        keep_screenshot(page, f"{shots}-1-connect")
    frame.locator("button[type=submit]").click()
    code = frame.locator("#f-code")
    code.wait_for()  # the code is sent by then; reading it first raced the registration
    code.fill(_code(site, phone))
    if shots:
        keep_screenshot(page, f"{shots}-2-code")
    frame.locator("button[type=submit]").click()
    # Connected once the code's view has gone: a caller's next click on a submit button
    # must not land on this view's, still shown while the code is checked.
    code.wait_for(state="detached")


def _press_pin(frame: Any, pin: str) -> None:
    """Enter ``pin`` on a pad not used yet and confirm. After a wrong PIN the frame shows
    the notice first and the next pad once it is dealt: keys pressed meanwhile would land
    on the answered pad, so each pad used is marked and the next press waits for a new one."""
    pad = frame.locator(".pad:not([data-test-used])")
    pad.wait_for()
    for digit in pin:
        pad.get_by_role("button", name=digit, exact=True).click()
    pad.evaluate("node => { node.dataset.testUsed = '1'; }")
    frame.locator("[data-action=ok]").click()


def _sign(page: Any, name: str, encoding: str = "UTF-8", texts: list[str] | None = None,  # noqa: F811
          **cms: Any) -> None:
    options = {"signFormat": {"type": "CMS", "CMSInfo": {"time": True, **cms}},
               "content": {"plainText": {"plainTexts": texts or ["이체 100,000원 승인"],
                                         "encoding": encoding}},
               "algorithms": "RSASSA-PKCS1-v1_5_SHA256", "info": {"signType": "02"}}
    page.evaluate("([name, options]) => started(name, FinCert.Sdk.sign(options))",
                  [name, options])


def _result(page: Any, name: str) -> dict[str, Any]:  # noqa: F811
    return page.evaluate("(name) => window[name]", name)


def _verify_with_openssl(site: dict[str, Any], der: bytes, tmp_path: Any) -> bytes:
    with Home.open(site["path"]) as home:
        root = home.store.get_ca("root").certificate
        ca = home.store.get_ca(home.cloud_ca_label() or "").certificate
        crls = [CRLIndex.load(crl.der) for crl, _ in home.publish_crls(passphrase=None)]
    verdict = Verifier(trust=[root], intermediates=[ca], crls=crls).verify(der)
    assert verdict.ok, verdict.summary()
    (tmp_path / "sig.der").write_bytes(der)
    (tmp_path / "trust.pem").write_bytes(root.public_bytes(Encoding.PEM)
                                         + ca.public_bytes(Encoding.PEM))
    done = subprocess.run(["openssl", "cms", "-verify", "-inform", "DER", "-in",
                           tmp_path / "sig.der", "-CAfile", tmp_path / "trust.pem",
                           "-purpose", "any", "-out", tmp_path / "content.bin"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert verdict.content == (tmp_path / "content.bin").read_bytes()
    return verdict.content


def test_sign_by_clicks_utf8_and_euckr_verified_by_openssl(site, page, tmp_path):  # noqa: F811
    serial = _person(site, "01011110001")
    frame = _open(page, site)
    _sign(page, "first")
    _connect_by_clicks(frame, page, site, "01011110001", shots="sdk-sign")
    frame.locator("input[type=radio]").first.wait_for()
    keep_screenshot(page, "sdk-sign-3-certificates")
    frame.locator("button[type=submit]").click()
    frame.locator(".pad").wait_for()
    keep_screenshot(page, "sdk-sign-4-pin-pad")
    _press_pin(frame, PIN)
    result = _result(page, "first")
    assert "ok" in result, result
    assert result["ok"]["certSeqNum"] == serial and len(result["ok"]["signedVals"]) == 1
    content = _verify_with_openssl(site, base64.urlsafe_b64decode(result["ok"]["signedVals"][0]),
                                   tmp_path)
    assert content == "이체 100,000원 승인".encode()
    # EUC-KR, the browser still connected: straight to the certificate list
    _sign(page, "second", encoding="EUC-KR", texts=["민원 신청서"], includeR=True)
    frame.locator("button[type=submit]").click()
    _press_pin(frame, PIN)
    result = _result(page, "second")
    assert "ok" in result, result
    assert len(base64.urlsafe_b64decode(result["ok"]["rValue"])) == 20
    content = _verify_with_openssl(site, base64.urlsafe_b64decode(result["ok"]["signedVals"][0]),
                                   tmp_path)
    assert content == "민원 신청서".encode("cp949")


def test_keyboard_only_connects_chooses_and_signs(site, page):  # noqa: F811
    _person(site, "01011110002")
    frame = _open(page, site)
    _sign(page, "signed")
    frame.locator("#f-name").wait_for()
    keyboard = page.keyboard
    keyboard.type("홍길동")
    keyboard.press("Tab")
    keyboard.type("01011110002")
    keyboard.press("Tab")
    keyboard.type(BIRTH)
    keyboard.press("Enter")
    frame.locator("#f-code").wait_for()
    keyboard.type(_code(site, "01011110002"))
    keyboard.press("Enter")
    frame.locator("input[type=radio]").first.wait_for()
    keyboard.press("Enter")
    frame.locator(".pad").wait_for()
    keyboard.type("999")
    keyboard.press("Backspace")
    keyboard.press("Backspace")
    keyboard.press("Backspace")
    keyboard.type(PIN)
    assert frame.locator(".dots span.on").count() == 6
    keep_screenshot(page, "sdk-keyboard-pin-entered")
    # the focus is visible, and Tab moves it along the pad's buttons
    keyboard.press("Tab")
    assert frame.locator("button:focus-visible").count() == 1
    keyboard.press("Enter")  # Enter confirms the PIN wherever the focus is
    result = _result(page, "signed")
    assert "ok" in result, result
    # the user's time is told apart from the SDK's (User Timing, in the frame): the
    # connection form and the code, the list, the pad; once each, however often answered
    sdk_frame = next(f for f in page.frames if "/sdk/v1/frame" in f.url)
    waits = sdk_frame.evaluate("performance.getEntriesByName('kpki-user').map((m) => m.duration)")
    assert len(waits) == 4 and all(w > 0 for w in waits), waits


def test_five_wrong_pins_lock_the_certificate(site, page):  # noqa: F811
    _person(site, "01011110003", "김철수")
    frame = _open(page, site)
    _sign(page, "locked")
    _connect_by_clicks(frame, page, site, "01011110003", name="김철수")
    frame.locator("button[type=submit]").click()
    for left in (4, 3, 2, 1):
        _press_pin(frame, "999999")
        frame.locator("#notice", has_text=f"남은 횟수 {left}회").wait_for()
    keep_screenshot(page, "sdk-lock-1-wrong-pin")
    _press_pin(frame, "999999")
    result = _result(page, "locked")
    assert result["error"]["code"] == 700006, result
    _sign(page, "again")
    frame.locator("input[type=radio]").first.wait_for()
    assert "잠김" in frame.locator(".certs").inner_text()
    keep_screenshot(page, "sdk-lock-2-locked-in-list")
    frame.locator("[data-action=cancel]").click()
    assert _result(page, "again")["error"]["code"] == 800000


def test_cancel_is_800000_and_a_second_call_at_once_is_100008(site, page):  # noqa: F811
    frame = _open(page, site, lang="en")
    _sign(page, "first")
    _sign(page, "second")
    assert _result(page, "second")["error"]["code"] == 100008
    frame.locator("#f-name").wait_for()
    assert frame.locator("#title").inner_text() == "Connect to the certificate cloud"
    keep_screenshot(page, "sdk-english-connect")
    frame.locator("#lang").click()
    assert frame.locator("#title").inner_text() == "금융인증서 클라우드 연결"
    frame.locator("[data-action=cancel]").click()
    assert _result(page, "first")["error"]["code"] == 800000
    assert page.locator("iframe[data-kpki=fincert]").is_hidden()
    # Escape cancels too
    _sign(page, "third")
    frame.locator("#f-name").wait_for()
    page.keyboard.press("Escape")
    assert _result(page, "third")["error"]["code"] == 800000


def test_bad_options_are_refused_before_any_dialog(site, page):  # noqa: F811
    _open(page, site)
    _sign(page, "encoding", encoding="Shift_JIS")
    assert _result(page, "encoding")["error"]["code"] == 700005
    refused = page.evaluate("""() => settle(FinCert.Sdk.init({orgCode: 'D0000001',
        apiKey: 'x', clientOrigin: 'http://evil.test'}))""")
    assert refused["error"]["code"] == 700002
    wrong_key = page.evaluate("""() => settle(FinCert.Sdk.init({orgCode: 'D0000001',
        apiKey: 'sdk_wrong', clientOrigin: window.location.origin}))""")
    assert wrong_key["error"]["code"] == 700003
    assert page.locator("iframe[data-kpki=fincert]").is_hidden()


def test_a_page_on_an_origin_not_on_the_list_is_told_so_at_once(site, page):  # noqa: F811
    """The same page at 127.0.0.1 instead of localhost: another origin, not on the list;
    the frame is not even loaded."""
    page.goto(site["page"].replace("localhost", "127.0.0.1"))
    refused = page.evaluate("() => settle(initialise('ko'))")
    assert refused["error"]["code"] == 700002
    assert page.locator("iframe[data-kpki=fincert]").count() == 0


def test_messages_from_other_windows_are_never_acted_on(site, page):  # noqa: F811
    """A forged result posted to the page by another window is ignored by the SDK; a call
    posted to kpki's iframe by a window other than its parent is ignored by the iframe (no
    dialog, no answer), while a malformed call from the parent is answered 700009."""
    frame = _open(page, site)
    _sign(page, "open")
    frame.locator("#f-name").wait_for()
    page.evaluate("""() => window.postMessage({kpki: 'fincert', v: 1, type: 'result',
        nonce: 'a'.repeat(32), ok: true, value: {signedVals: ['forged']}}, '*')""")
    frame.locator("[data-action=cancel]").click()
    assert _result(page, "open")["error"]["code"] == 800000  # not the forged success
    answers = page.evaluate("""async () => {
        const answers = [];
        const kpki = document.querySelector('iframe[data-kpki=fincert]');
        let answered;
        const lastAnswer = new Promise((resolve) => { answered = resolve; });
        window.addEventListener('message', (e) => {
          if (e.source !== kpki.contentWindow) { return; }
          answers.push(e.data);
          if (e.data.nonce === 'c'.repeat(32)) { answered(); }
        });
        const evil = document.createElement('iframe');
        evil.srcdoc = '<script>parent.frames[0].postMessage({kpki: "fincert", v: 1, ' +
          'type: "call", nonce: "b".repeat(32), method: "sign", params: {plainTexts: ' +
          '["x"], type: "CMS"}}, "*")</' + 'script>';
        document.body.appendChild(evil);
        await new Promise((resolve) => evil.addEventListener('load', resolve));
        // then the parent's own malformed call: its answer comes after the foreign one
        kpki.contentWindow.postMessage({kpki: 'fincert', v: 1, type: 'call',
          nonce: 'c'.repeat(32), method: 'nope', params: {}}, new URL(kpki.src).origin);
        await lastAnswer;
        return answers;
    }""")
    assert [(m["nonce"][0], m["error"]["code"]) for m in answers] == [("c", 700009)]
    assert frame.locator("#backdrop").is_hidden()
    assert page.evaluate("() => FinCert.Sdk.checkCloudConn()") == {"connected": False}


def test_a_forged_result_with_the_open_calls_nonce_is_not_taken(site, page):  # noqa: F811
    """Any script of the page can read the open call's nonce (the iframe's ``show`` message
    goes to the page's window): a result carrying it, posted by the page itself or by a
    frame of another origin, is still not the iframe's and is ignored."""
    frame = _open(page, site)
    page.evaluate("""() => { window.shown = new Promise((resolve) => {
        window.addEventListener('message', (e) => {
          if (e.data && e.data.type === 'show') { resolve(e.data.nonce); }
        });
    }); }""")
    _sign(page, "open")
    frame.locator("#f-name").wait_for()
    forged = page.evaluate("""async () => {
        const nonce = await window.shown;
        const result = {kpki: 'fincert', v: 1, type: 'result', nonce: nonce, ok: true,
                        value: {signedVals: ['forged']}};
        // each forged message is seen by this listener after the SDK's own (added first)
        const seen = (from) => new Promise((resolve) => window.addEventListener('message',
            (e) => { if (e.data && e.data.value && from(e.source)) { resolve(); } }));
        const own = seen((source) => source === window);
        window.postMessage(result, '*');
        await own;
        const evil = document.createElement('iframe');
        evil.setAttribute('sandbox', 'allow-scripts');  // an opaque origin of its own
        evil.srcdoc = '<script>parent.postMessage(' + JSON.stringify(result) + ', "*")</'
          + 'script>';
        const other = seen((source) => source === evil.contentWindow);
        document.body.appendChild(evil);
        await other;
        return nonce;
    }""")
    assert len(forged) == 32
    frame.locator("[data-action=cancel]").click()
    assert _result(page, "open")["error"]["code"] == 800000  # not the forged success


def test_a_frame_opened_for_another_origin_ignores_the_page(site, page):  # noqa: F811
    """kpki's frame acts only on messages from the page origin it was opened for: one
    opened (by a hostile page) for another origin ignores the page that embeds it, even
    a well-formed init from its parent window."""
    _open(page, site)
    page.evaluate("""([kpki, org]) => new Promise((resolve) => {
        const forged = document.createElement('iframe');
        forged.id = 'forged';
        forged.src = kpki + '/sdk/v1/frame?org=' + org + '&origin='
          + encodeURIComponent('http://127.0.0.1:1');
        forged.addEventListener('load', resolve);
        document.body.appendChild(forged);
    })""", [site["kpki"], ORG])
    forged = next(f for f in page.frames if "127.0.0.1%3A1" in f.url)
    # the frame calls kpki with fetch when it acts on an init: count those calls, and the
    # messages it received (this listener runs after the frame's own)
    forged.evaluate("""() => { window.fetched = 0; window.received = 0;
        window.fetch = () => { window.fetched += 1; return new Promise(() => {}); };
        window.addEventListener('message', () => { window.received += 1; }); }""")
    page.evaluate("""([org]) => document.getElementById('forged').contentWindow.postMessage(
        {kpki: 'fincert', v: 1, type: 'call', nonce: 'd'.repeat(32), method: 'init',
         params: {orgCode: org, apiKey: 'sdk_x', deviceId: 'browser-test', lang: 'ko'}},
        '*')""", [ORG])
    forged.wait_for_function("() => window.received === 1")
    assert forged.evaluate("() => window.fetched") == 0
    assert forged.locator("#backdrop").is_hidden()


@pytest.mark.parametrize("params", [
    {"plainTexts": "not a list", "type": "CMS"}, {"plainTexts": [], "type": "CMS"},
    {"plainTexts": [1], "type": "CMS"}, {"type": "CMS"}, {"binaries": "x", "type": "CMS"},
    {"plainTexts": ["x"], "type": "CMS", "includeR": "yes"},
    {"plainTexts": ["x"], "type": "CMS", "extra": 1}, {"plainTexts": ["x"], "ssn": 1}])
def test_a_tampered_sign_call_is_700009_before_any_dialog(site, page, params):  # noqa: F811
    """The page posts a sign call to kpki's frame itself, not through fincert.js, with
    parameters fincert.js never sends: answered 700009 at once, no dialog shown (it was
    run: the connection dialog came up, and the content was read only after the PIN)."""
    _open(page, site)
    first = page.evaluate("""(params) => new Promise((resolve) => {
        const kpki = document.querySelector('iframe[data-kpki=fincert]');
        window.addEventListener('message', (e) => {
          if (e.source === kpki.contentWindow && e.data.nonce === 'e'.repeat(32)) {
            resolve(e.data);
          }
        });
        kpki.contentWindow.postMessage({kpki: 'fincert', v: 1, type: 'call',
          nonce: 'e'.repeat(32), method: 'sign', params: params}, new URL(kpki.src).origin);
    })""", params)
    assert (first["type"], first.get("error", {}).get("code")) == ("result", 700009), first


def test_a_second_call_posted_to_the_frame_itself_is_100008(site, page):  # noqa: F811
    """A page that bypasses fincert.js's own 100008 and posts a second call to kpki's
    frame while one is open: the frame answers 100008 and runs only the first."""
    frame = _open(page, site)
    answers = page.evaluate("""() => new Promise((resolve) => {
        const kpki = document.querySelector('iframe[data-kpki=fincert]');
        const post = (nonce, method) => kpki.contentWindow.postMessage({kpki: 'fincert',
          v: 1, type: 'call', nonce: nonce, method: method || 'sign',
          params: {plainTexts: ['x'], type: 'CMS'}}, new URL(kpki.src).origin);
        const seen = [];
        window.addEventListener('message', (e) => {
          if (e.source !== kpki.contentWindow || !e.data.nonce) { return; }
          seen.push([e.data.nonce[0], e.data.type, e.data.error ? e.data.error.code : null]);
          if (e.data.type === 'show') {
            post('2'.repeat(32));
            post('3'.repeat(32), 'nope');  // answered after the second, whatever it did
          }
          if (e.data.nonce[0] === '3') { resolve(seen); }
        });
        post('1'.repeat(32));
    })""")
    assert answers == [["1", "show", None], ["2", "result", 100008],
                       ["3", "result", 100008]]
    # the first call's dialog is drawn, still open (the page, not fincert.js, called: the
    # iframe element is not shown)
    frame.locator("#f-name").wait_for(state="attached")


def test_the_page_weight_stays_at_kpkis_and_the_pages_origins(site, page):  # noqa: F811
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    _open(page, site)
    allowed = (site["kpki"], site["page"].rstrip("/"))
    assert seen and all(url.startswith(allowed) for url in seen), json.dumps(seen)




def test_issue_list_manage_and_disconnect(site, page):  # noqa: F811
    """A person without a certificate connects, is issued one under a new PIN (twice on
    the pad), lists it, changes its PIN in the management dialog, and disconnects."""
    frame = _open(page, site)
    page.evaluate("() => started('issued', FinCert.Sdk.issue({ssn: '9005171234566'}))")
    _connect_by_clicks(frame, page, site, "01011110005")
    for _ in range(2):  # the new PIN, then again
        frame.locator(".pad").wait_for()
        _press_pin(frame, PIN)
    issued = _result(page, "issued")
    assert "ok" in issued, issued
    listed = page.evaluate("() => FinCert.Sdk.getCertInfoList()")
    assert [c["certSeqNum"] for c in listed["certInfoList"]] == [issued["ok"]["certSeqNum"]]
    page.evaluate("() => started('managed', FinCert.Sdk.manage())")
    frame.locator("button[type=submit]").click()
    frame.locator("[data-action=pin]").wait_for()
    keep_screenshot(page, "sdk-manage-details")
    frame.locator("[data-action=pin]").click()
    for pin in (PIN, "246813", "246813"):  # old, new, new again
        frame.locator(".pad").wait_for()
        _press_pin(frame, pin)
    assert _result(page, "managed")["ok"] == {"action": "pinChanged",
                                             "certSeqNum": issued["ok"]["certSeqNum"]}
    assert page.evaluate("() => FinCert.Sdk.checkCloudConn()") == {"connected": True}
    assert page.evaluate("() => FinCert.Sdk.disconnectCloudConn()") == {"connected": False}
    assert page.evaluate("() => FinCert.Sdk.checkCloudConn()") == {"connected": False}


def test_abort_closes_the_dialog_and_fails_the_call(site, page):  # noqa: F811
    frame = _open(page, site)
    _sign(page, "aborted")
    frame.locator("#f-name").wait_for()
    assert page.evaluate("() => FinCert.Sdk.abort()") == {"aborted": True}
    assert _result(page, "aborted")["error"]["code"] == 700011
    assert page.locator("iframe[data-kpki=fincert]").is_hidden()
    assert page.evaluate("() => FinCert.Sdk.checkCloudConn()") == {"connected": False}


def test_an_unsupported_browser_is_900001(site, page):  # noqa: F811
    page.add_init_script("Object.defineProperty(window, 'fetch', {value: undefined})")
    page.goto(site["page"])
    refused = page.evaluate("() => settle(initialise('ko'))")
    assert refused["error"]["code"] == 900001
