"""The browser harness itself (tests/browser.py): Debian's Chromium, driven by Playwright,
renders a page kpki serves, Korean text included, and keeps screenshots as artefacts."""

from __future__ import annotations

from urllib.parse import urlsplit

from pki.home import Home
from pki.usecases.serving import serve_home_in_thread

from .browser import browser, keep_screenshot, page  # noqa: F401  (fixtures)


def test_chromium_renders_a_cps_page_kpki_serves(home: Home, page) -> None:  # noqa: F811
    record = next(r for r in home.store.list_cas() if r.cps_url)
    with serve_home_in_thread(home) as served:
        response = page.goto(served.url + urlsplit(record.cps_url).path)
        assert response is not None and response.status == 200
        assert record.label in page.content()


def test_a_kept_screenshot_is_a_png_of_the_page(page) -> None:  # noqa: F811
    page.set_content("<h1>전자민원</h1>")
    assert page.inner_text("h1") == "전자민원"
    shot = keep_screenshot(page, "browser-smoke-korean")
    assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
