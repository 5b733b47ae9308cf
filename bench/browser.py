#!/usr/bin/env python3
"""The browser SDK (issue 17 item 1): page weight, and sign() to success against the cloud.

A home with the cloud and the SDK served by kpki (real KDF parameters), a bank's test page
served from a second origin (``localhost``, another port), headless Chromium (Debian's,
driven by Playwright). Measured:

* page weight: every request the page makes from loading until the SDK's PIN pad is shown
  (the page, ``fincert.js``, the iframe and its script and style, the iframe's JSON calls):
  count, total bytes, and the check that none goes anywhere but kpki's origin and the page's;
* in interleaved rounds (A B A B ...), each timing ``-n`` signatures of each:
  A, the reference: :meth:`pki.cloud.service.Cloud.sign` in this process, the same
  certificate, PIN and content (unlock = the PIN's KDF, then a CMS signature);
  B: ``FinCert.Sdk.sign()`` in the page to its success callback, the browser connected (a
  warm cloud), the dialog answered by the keyboard as fast as the UI is ready (Enter on the
  certificate list, six digits and Enter on the PIN pad).

Printed: B's median and p95 over all signatures, and the ratio median(B) / median(A) per
round (median, min, max).

    python bench/browser.py [-n 10] [--rounds 5]

Target (issue 17): sign() to success <= 1.5 x the cloud's own unlock-and-sign (median).
"""

from __future__ import annotations

import argparse
import re
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from pki.cloud.sdk import add_sdk_institution
from pki.cloud.service import add_institution, authenticate
from pki.home import Home
from pki.usecases.serving import cloud_api
from pki.web import WebState, create_app, serve_in_thread
from tests.browser import chromium_path
from tests.cloud_helpers import PIN, Api, _issue, _user

TARGET = 1.5
ORG = "D0000001"
TEXT = "이체 100,000원 승인"
PAGE = """<!DOCTYPE html><html lang="ko"><head><meta charset="utf-8"><title>bank</title>
</head><body><h1>테스트 은행</h1><script src="{kpki}/sdk/v1/fincert.js"></script><script>
window.initialise = () => FinCert.Sdk.init({{orgCode: '{org}', apiKey: '{key}',
  clientOrigin: window.location.origin, deviceId: 'bench-device'}});
window.timedSign = () => {{
  const start = performance.now();
  window.signed = FinCert.Sdk.sign({{signFormat: {{type: 'CMS'}},
    content: {{plainText: {{plainTexts: ['{text}'], encoding: 'UTF-8'}}}},
    algorithms: 'RSASSA-PKCS1-v1_5_SHA256', info: {{signType: '02'}}}})
    .then((v) => performance.now() - start);
}};
</script></body></html>"""


def spread(values: list[float], unit: str = "ms") -> str:
    return (f"median {statistics.median(values):8.1f} {unit}  min {min(values):8.1f}  "
            f"max {max(values):8.1f}")


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * 0.95 + 0.5) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10, help="signatures of each per round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (>= 5)")
    args = parser.parse_args()
    executable = chromium_path()
    if executable is None:
        sys.exit("no Chromium: install Debian's chromium package or set KPKI_CHROMIUM")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "home"
        Home.create(path, passphrase=None).close()
        page_sock = socket.socket()
        page_sock.bind(("127.0.0.1", 0))
        page_origin = f"http://localhost:{page_sock.getsockname()[1]}"
        with Home.open(path) as home:
            api_key = add_institution(home.store, "bench", at=home.clock.now())
            sdk_key = add_sdk_institution(home.store, authenticate(home.store, api_key), ORG,
                                          origins=[page_origin], at=home.clock.now())
        home = Home.open(path)
        api = cloud_api(home, passphrase=None, test_channel=True)
        assert api is not None
        cloud = home.cloud_factory(passphrase=None)()  # the reference, same store
        institution = cloud.authenticate(api_key)
        with serve_in_thread(create_app(WebState.of_home(home, poll_seconds=3600),
                                        extra_routes=api.routes)) as kpki:
            client = Api(kpki, api_key)
            serial = _issue(client, _user(client, "01012345678", "홍길동"))
            html = PAGE.format(kpki=kpki, org=ORG, key=sdk_key, text=TEXT)

            async def bank(request: Any) -> HTMLResponse:
                return HTMLResponse(html)

            with serve_in_thread(Starlette(routes=[Route("/", bank)]), sock=page_sock), \
                    sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=executable,
                                                     args=["--no-sandbox"])
                page = browser.new_page()
                frame = page.frame_locator("iframe[data-kpki=fincert]")
                weight: list[tuple[str, int]] = []

                def record(request: Any) -> None:
                    response = request.response()
                    weight.append((request.url, len(response.body()) if response else 0))

                page.on("requestfinished", record)
                page.goto(page_origin + "/")
                page.evaluate("initialise()")
                # the first signature: the connection flow, then the list and the pad
                page.evaluate("timedSign()")
                frame.locator("#f-name").fill("홍길동")
                frame.locator("#f-phone").fill("01012345678")
                frame.locator("#f-birth_date").fill("1990-05-17")
                frame.locator("button[type=submit]").click()
                _, sent = client("GET", "/cloud/v1/test/messages?phone=01012345678")
                code = re.search(r"code (\d\d)", sent["messages"][-1]["text"])
                assert code is not None
                frame.locator("#f-code").fill(code.group(1))
                frame.locator("button[type=submit]").click()
                frame.locator("input[type=radio]").first.wait_for()
                frame.locator("button[type=submit]").click()
                frame.locator(".pad").wait_for()
                requests = list(weight)
                page.remove_listener("requestfinished", record)
                page.keyboard.type(PIN)
                page.keyboard.press("Enter")
                page.evaluate("window.signed")

                sdk_frame = next(f for f in page.frames if "/sdk/v1/frame" in f.url)

                def browser_sign() -> tuple[float, float]:
                    """sign() to success, and the part of it the UI waited for its user
                    (the frame's kpki-user measures: list shown to Enter, pad shown to
                    the sixth digit's Enter), here the harness's simulated keystrokes."""
                    sdk_frame.evaluate("performance.clearMeasures('kpki-user')")
                    page.evaluate("timedSign()")
                    frame.locator("input[type=radio]").first.wait_for()
                    page.keyboard.press("Enter")
                    frame.locator(".pad").wait_for()
                    page.keyboard.type(PIN)
                    page.keyboard.press("Enter")
                    total = float(page.evaluate("window.signed"))
                    waits = sdk_frame.evaluate(
                        "performance.getEntriesByName('kpki-user').map((m) => m.duration)")
                    assert len(waits) == 2, waits  # the list, the pad
                    return total, float(sum(waits))

                def cloud_sign() -> float:
                    start = time.perf_counter()
                    cloud.sign(institution, int(serial, 16), pin=PIN,
                               content=TEXT.encode(), purpose="02")
                    return (time.perf_counter() - start) * 1000

                rounds = max(5, args.rounds)
                all_a, all_b, all_own, all_user, ratios, own_ratios = [], [], [], [], [], []
                for _ in range(rounds):
                    a = [cloud_sign() for _ in range(args.n)]
                    measured = [browser_sign() for _ in range(args.n)]
                    b = [total for total, _ in measured]
                    own = [total - user for total, user in measured]
                    all_a += a
                    all_b += b
                    all_own += own
                    all_user += [user for _, user in measured]
                    ratios.append(statistics.median(b) / statistics.median(a))
                    own_ratios.append(statistics.median(own) / statistics.median(a))
                browser.close()
        home.close()

    allowed = (kpki, page_origin)
    outside = [url for url, _ in requests if not url.startswith(allowed)]
    print("page weight, loading to the PIN pad shown (connection flow included):")
    print(f"  requests: {len(requests)}   bytes: {sum(size for _, size in requests)}   "
          f"outside kpki's and the page's origins: {len(outside)}")
    static = [(u, s) for u, s in requests if re.search(r"/sdk/v1/(fincert\.js|frame)", u)]
    print(f"  the SDK's script, frame page, script and style: {len(static)} requests, "
          f"{sum(s for _, s in static)} bytes")
    assert not outside, outside
    print(f"{rounds} interleaved rounds of {args.n} signatures each:")
    print(f"A Cloud.sign (unlock + CMS), ms:        {spread(all_a)}")
    print(f"B FinCert.Sdk.sign() to success, ms:    {spread(all_b)}   p95 {p95(all_b):8.1f}")
    print(f"  of which the UI waited for its user:  {spread(all_user)}   (Playwright's "
          "keystrokes: Enter, six digits, Enter)")
    print(f"  B without that wait (kpki's own), ms: {spread(all_own)}   p95 {p95(all_own):8.1f}")
    print(f"  ratio B / A per round:                median {statistics.median(ratios):6.2f}  "
          f"min {min(ratios):6.2f}  max {max(ratios):6.2f}")
    print(f"  ratio kpki's own / A per round:       median "
          f"{statistics.median(own_ratios):6.2f}  min {min(own_ratios):6.2f}  "
          f"max {max(own_ratios):6.2f}  (target <= {TARGET})")


if __name__ == "__main__":
    main()
