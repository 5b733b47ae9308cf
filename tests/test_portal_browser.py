"""The e-government portal demo in a real browser (issue 17 items 3 and 4): headless
Chromium signs a petition, the portal shows each check, the operator revokes, the same
petition shows as signed before revocation; a screenshot of each page is kept."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest

from pki.clock import FixedClock
from pki.keys.generate import RSAKeyGenerator
from pki.usecases.webdemo import RunningDemo, run_demo_web

from .browser import browser, keep_screenshot, page  # noqa: F401  (fixtures)
from .conftest import FROZEN, KeyPool

PASSED_BY_SIMPLE_AUTHENTICATION = {
    "signer-certificate", "signature", "time-stamp", "chain", "validity", "key-usage",
    "revocation", "approval", "identity"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, key_pool: KeyPool
         ) -> Iterator[tuple[RunningDemo, FixedClock]]:
    clock = FixedClock(FROZEN)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(RSAKeyGenerator, "generate", lambda self, bits: key_pool.generate(bits))
        with run_demo_web(tmp_path_factory.mktemp("portal-browser") / "home", clock=clock,
                          publish_every=None) as running:
            yield running, clock


def open_operator_page(page, running: RunningDemo) -> None:  # noqa: F811
    """The operator page, logged in with the secret kpki demo web printed (once per
    browser context: the session cookie stays)."""
    page.goto(running.portal_url + "/operator.html")
    page.wait_for_selector("body[data-operator]")
    if page.get_attribute("body", "data-operator") == "out":
        page.fill("#operator-secret", running.operator_secret)
        page.click("#log-in")
        page.wait_for_selector("body[data-operator='in']")


def outcomes(page) -> dict[str, str]:  # noqa: F811
    rows = page.locator("tr[data-check]")
    return {rows.nth(i).get_attribute("data-check"): rows.nth(i).get_attribute("data-outcome")
            for i in range(rows.count())}


def test_the_start_page_links_every_part_of_the_demo(demo, page) -> None:  # noqa: F811
    running, _ = demo
    page.goto(running.portal_url + "/")
    assert page.title() == "정부24 데모 포털"
    for link in ("#go-petition", "#go-operator", "#go-phone", "#go-bank-joint",
                 "#go-bank-financial"):
        assert page.locator(link).is_visible()
    assert running.secrets.simple_pin in page.inner_text("#person")


def test_a_petition_signed_by_simple_authentication_then_revoked(
        demo, page) -> None:  # noqa: F811
    running, clock = demo
    page.goto(running.portal_url + "/petition.html")
    page.select_option("#encoding", "EUC-KR")
    keep_screenshot(page, "portal-petition-form")
    page.click("#sign-simpleauth")
    with page.expect_popup() as opened:
        page.click("#open-phone")
    phone = opened.value
    phone.wait_for_selector(".request .pin")
    phone.fill(".request .pin", running.secrets.simple_pin)
    keep_screenshot(phone, "portal-phone-request")
    phone.click(".request .approve")
    phone.wait_for_selector("#no-requests")
    keep_screenshot(phone, "portal-phone-approved")

    page.wait_for_url("**/result.html?id=*")
    page.wait_for_selector("body[data-loaded]")
    assert page.get_attribute("#verdict", "data-verdict") == "valid"
    assert outcomes(page) == dict.fromkeys(PASSED_BY_SIMPLE_AUTHENTICATION, "passed")
    assert "유효한 서명" in page.inner_text("#verdict")
    keep_screenshot(page, "portal-result-valid")
    result_url = page.url
    petition = page.inner_text("#petition-id")

    clock.advance(dt.timedelta(minutes=10))
    open_operator_page(page, running)
    row = page.locator(f'tr[data-petition="{petition}"]')
    row.wait_for()
    assert row.get_attribute("data-verdict") == "valid"
    keep_screenshot(page, "portal-operator-before")
    row.locator("button.revoke").click()
    page.wait_for_selector(f'tr[data-petition="{petition}"][data-verdict='
                           '"valid-before-revocation"]')
    assert "폐지하고 CRL을 발행했습니다" in page.inner_text("#status")
    keep_screenshot(page, "portal-operator-revoked")

    page.goto(result_url)
    page.wait_for_selector("body[data-loaded]")
    assert page.get_attribute("#verdict", "data-verdict") == "valid-before-revocation"
    assert outcomes(page)["revocation"] == "passed"
    assert "signed before revocation" in page.inner_text("#notes")
    assert page.get_attribute("#revoked-after-signing", "data-revoked-at") == (
        clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert "시점확인" in page.inner_text("#revoked-after-signing")
    keep_screenshot(page, "portal-result-signed-before-revocation")


def test_the_operator_page_asks_for_the_operator_secret(demo, page) -> None:  # noqa: F811
    """No petition is listed and no button shown before the login; a wrong secret is
    said so; the right one lists them; the session is an HttpOnly cookie the page's
    script cannot read."""
    running, _ = demo
    page.goto(running.portal_url + "/operator.html")
    page.wait_for_selector("body[data-operator='out']")
    assert page.locator("#login").is_visible()
    assert not page.locator("#petitions").is_visible()
    keep_screenshot(page, "portal-operator-login")
    page.fill("#operator-secret", running.operator_secret + "x")
    page.click("#log-in")
    page.wait_for_function("document.querySelector('#status').textContent.includes('틀렸')")
    assert page.get_attribute("body", "data-operator") == "out"
    page.fill("#operator-secret", running.operator_secret)
    page.click("#log-in")
    page.wait_for_selector("body[data-operator='in']")
    assert page.locator("#petitions").is_visible()
    assert page.evaluate("document.cookie") == ""
    cookie = next(c for c in page.context.cookies() if c["name"] == "kpki_operator")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    page.click("#log-out")
    page.wait_for_selector("body[data-operator='out']")


def test_an_unknown_petition_says_so(demo, page) -> None:  # noqa: F811
    running, _ = demo
    page.goto(running.portal_url + "/result.html?id=nothing")
    page.wait_for_function("document.querySelector('#verdict').textContent.includes('찾을 수')")
    assert "not_found" in page.inner_text("#verdict")


PASSED_BY_THE_AGENT = {"signer-certificate", "signature", "time-stamp", "chain", "validity",
                       "key-usage", "revocation", "vid"}


def test_a_petition_signed_with_the_joint_certificate_through_the_agent_then_revoked(
        demo, page) -> None:  # noqa: F811
    running, clock = demo
    assert running.agent_url is not None
    page.goto(running.portal_url + "/petition.html")
    page.wait_for_selector("#sign-agent:not([disabled])")
    with page.expect_popup() as opened:
        page.click("#sign-agent")
    dialog = opened.value
    dialog.wait_for_selector("body[data-ready='true']")
    dialog.locator("#certificates tbody tr", has_text="홍길동").click()
    dialog.fill("#password", running.secrets.joint_password)
    keep_screenshot(dialog, "portal-agent-dialog")
    dialog.click("#ok")

    page.wait_for_url("**/result.html?id=*")
    page.wait_for_selector("body[data-loaded]")
    assert page.get_attribute("#verdict", "data-verdict") == "valid"
    assert outcomes(page) == dict.fromkeys(PASSED_BY_THE_AGENT, "passed")
    keep_screenshot(page, "portal-result-agent-valid")
    result_url, petition = page.url, page.inner_text("#petition-id")

    clock.advance(dt.timedelta(minutes=10))
    open_operator_page(page, running)
    row = page.locator(f'tr[data-petition="{petition}"]')
    row.locator("button.revoke").click()
    page.wait_for_selector(f'tr[data-petition="{petition}"][data-verdict='
                           '"valid-before-revocation"]')
    page.goto(result_url)
    page.wait_for_selector("body[data-loaded]")
    assert page.get_attribute("#verdict", "data-verdict") == "valid-before-revocation"
    keep_screenshot(page, "portal-result-agent-signed-before-revocation")

    # the revoked key signs again: invalid, the revocation check failed
    clock.advance(dt.timedelta(minutes=10))
    page.goto(running.portal_url + "/petition.html")
    page.wait_for_selector("#sign-agent:not([disabled])")
    with page.expect_popup() as opened:
        page.click("#sign-agent")
    dialog = opened.value
    dialog.wait_for_selector("body[data-ready='true']")
    dialog.locator("#certificates tbody tr", has_text="홍길동").click()
    dialog.fill("#password", running.secrets.joint_password)
    dialog.click("#ok")
    page.wait_for_url("**/result.html?id=*")
    page.wait_for_selector("body[data-loaded]")
    assert page.get_attribute("#verdict", "data-verdict") == "invalid"
    assert outcomes(page)["revocation"] == "failed"
    assert "무효한 서명" in page.inner_text("#verdict")
    keep_screenshot(page, "portal-result-agent-signed-after-revocation")


def test_a_petition_signed_with_the_financial_certificate_through_the_sdk(
        demo, page) -> None:  # noqa: F811
    """The SDK's iframe from kpki's origin: the cloud connection with the code the demo
    phone's inbox shows, the certificate list, the shuffled PIN pad; the portal then shows
    every check passed, the VID with the R the SDK handed back included."""
    running, clock = demo
    assert running.sdk
    secrets = running.secrets
    page.goto(running.portal_url + "/petition.html")
    page.select_option("#encoding", "EUC-KR")
    page.wait_for_selector("#sign-sdk:not([disabled])")
    page.click("#sign-sdk")
    frame = page.frame_locator("iframe[data-kpki=fincert]")
    frame.locator("#f-name").fill(secrets.name)
    frame.locator("#f-phone").fill(secrets.phone)
    birth = f"19{secrets.rrn[:2]}-{secrets.rrn[2:4]}-{secrets.rrn[4:6]}"
    frame.locator("#f-birth_date").fill(birth)
    keep_screenshot(page, "portal-sdk-connect")
    frame.locator("button[type=submit]").click()
    frame.locator("#f-code").wait_for()

    phone = page.context.new_page()
    phone.goto(running.portal_url + "/phone.html")
    phone.wait_for_selector("li.sms")
    keep_screenshot(phone, "portal-phone-sms")
    code = re.search(r"code (\d\d)", phone.locator("li.sms").first.inner_text()).group(1)
    phone.close()

    frame.locator("#f-code").fill(code)
    frame.locator("button[type=submit]").click()
    frame.locator("input[type=radio]").first.wait_for()
    keep_screenshot(page, "portal-sdk-certificates")
    frame.locator("button[type=submit]").click()
    frame.locator(".pad").wait_for()
    for digit in secrets.cloud_pin:
        frame.get_by_role("button", name=digit, exact=True).click()
    keep_screenshot(page, "portal-sdk-pin-pad")
    frame.locator("[data-action=ok]").click()

    page.wait_for_url("**/result.html?id=*")
    page.wait_for_selector("body[data-loaded]")
    assert page.get_attribute("#verdict", "data-verdict") == "valid", page.inner_text("#summary")
    assert outcomes(page) == dict.fromkeys(PASSED_BY_THE_AGENT, "passed")
    assert "EUC-KR" in page.inner_text("#petition")
    keep_screenshot(page, "portal-result-sdk-valid")
    result_url, petition = page.url, page.inner_text("#petition-id")

    clock.advance(dt.timedelta(minutes=10))
    open_operator_page(page, running)
    page.locator(f'tr[data-petition="{petition}"] button.revoke').click()
    page.wait_for_selector(f'tr[data-petition="{petition}"][data-verdict='
                           '"valid-before-revocation"]')
    page.goto(result_url)
    page.wait_for_selector("body[data-loaded]")
    assert page.get_attribute("#verdict", "data-verdict") == "valid-before-revocation"


@pytest.mark.parametrize(("kind", "steps"), [("joint", 7), ("financial", 7)])
def test_the_bank_pages_walk_an_issuance_with_identity_proofing(
        demo, page, kind: str, steps: int) -> None:  # noqa: F811
    running, _ = demo
    page.goto(running.portal_url + "/")
    page.click(f"#go-bank-{kind}")
    page.wait_for_selector("li[data-step='1'] button.step")
    for step in range(1, steps + 1):
        page.click(f"li[data-step='{step}'] button.step")
        page.wait_for_selector(f"li[data-step='{step}'][data-done], "
                               f"li[data-step='{step}'][data-refused]")
        assert page.get_attribute(f"li[data-step='{step}']", "data-refused") is None, (
            page.inner_text(f"li[data-step='{step}'] pre"))
    page.wait_for_selector("body[data-issued]")
    assert "발급되었습니다" in page.inner_text("#status")
    keep_screenshot(page, f"portal-bank-{kind}-issued")


def test_the_bank_pages_call_only_the_flows_through_the_portal(demo) -> None:
    """The portal holds the bank's API key: what the pages may ask is the issuance flows,
    phone verification and the test channels, nothing else of the bank's."""
    import json
    import urllib.error
    import urllib.request

    running, _ = demo
    for path in ("/bank/v1/customers", "/cloud/v1/users", "/ra/v1/joint/../../bank/v1/x",
                 "/bank/v1/test/lines"):
        request = urllib.request.Request(
            running.portal_url + "/api/bank/call",
            data=json.dumps({"method": "POST", "path": path, "body": {}}).encode(),
            headers={"content-type": "application/json"}, method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        with refused.value:
            assert refused.value.code == 400


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_the_agent_answers_the_portal_whichever_address_was_typed(
        demo, page, host: str) -> None:  # noqa: F811
    running, _ = demo
    page.goto(running.portal_url.replace("127.0.0.1", host) + "/petition.html")
    page.wait_for_selector("#sign-agent:not([disabled])")
    pinged = page.evaluate("KpkiAgent.ping().then((r) => ({ok: r}), (e) => ({error: e}))")
    assert "ok" in pinged, pinged
