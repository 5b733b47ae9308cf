"""A real browser for the end-to-end tests: Debian's Chromium driven by Playwright.

Playwright's own browser downloads cannot be used here (no internet but the package
registries), so Playwright drives the Chromium that Debian's ``chromium`` package installs
(``.ci/run`` installs it, with the Korean fonts of ``fonts-nanum``, when missing). The
executable is ``$KPKI_CHROMIUM`` or the first of :data:`CANDIDATES` that exists.

Without a Chromium the browser tests skip saying why, except when ``KPKI_REQUIRE_BROWSER``
is set (``.ci/run`` sets it): then they fail, since nothing required may be skipped in CI.

Fixtures (import them into a test module: ``from .browser import browser, page``):

* ``browser``: one headless Chromium per test module;
* ``page``: a fresh context and page per test (no cookies, storage or cache shared between
  tests), whose screenshot is kept as a test artefact when the test ends, passed or failed:
  ``$KPKI_ARTIFACTS/screenshots/<test>.png`` (default ``.artifacts`` in the checkout). A
  test keeps more with :func:`keep_screenshot`.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["ARTIFACTS", "CANDIDATES", "browser", "chromium_path", "keep_screenshot", "page"]

CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/lib/chromium/chromium")
ARTIFACTS = Path(os.environ.get("KPKI_ARTIFACTS",
                                Path(__file__).resolve().parents[1] / ".artifacts"))


def chromium_path() -> str | None:
    """The Chromium executable to drive, or None when this machine has none."""
    given = os.environ.get("KPKI_CHROMIUM")
    if given:
        return given
    return next((c for c in CANDIDATES if Path(c).exists()), shutil.which("chromium"))


def _need_browser() -> str:
    path = chromium_path()
    reason = None
    if path is None:
        reason = ("no Chromium on this machine: install Debian's chromium package "
                  "(.ci/run does) or set KPKI_CHROMIUM")
    else:
        try:
            import playwright  # noqa: F401
        except ImportError:
            reason = "Playwright is not installed: pip install -e '.[test]'"
    if reason is not None:
        if os.environ.get("KPKI_REQUIRE_BROWSER"):
            pytest.fail(f"KPKI_REQUIRE_BROWSER is set but {reason}")
        pytest.skip(reason)
    assert path is not None
    return path


@pytest.fixture(scope="module")
def browser(request: pytest.FixtureRequest) -> Iterator[object]:
    """A headless Chromium for this module (a ``playwright.sync_api.Browser``). Playwright
    turns Chromium's pop-up blocker off; a module that sets ``POPUP_BLOCKER = True`` gets
    it on, as users have it (a window opened without a click is then refused)."""
    path = _need_browser()
    from playwright.sync_api import sync_playwright

    # Chromium's sandbox needs user namespaces a root CI container may not have.
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    blocker = getattr(request.module, "POPUP_BLOCKER", False)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=path, args=args, ignore_default_args=(
            ["--disable-popup-blocking"] if blocker else None))
        try:
            yield chromium
        finally:
            chromium.close()


def _file_name(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid.split("::", 1)[-1])[:150]


def keep_screenshot(page: object, name: str) -> Path:
    """Save ``page``'s screenshot as ``<artefacts>/screenshots/<name>.png``; its path."""
    target = ARTIFACTS / "screenshots" / f"{_file_name(name)}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target), full_page=True)  # type: ignore[attr-defined]
    return target


@pytest.fixture
def page(browser: object, request: pytest.FixtureRequest) -> Iterator[object]:
    """A new page in a context of its own (a ``playwright.sync_api.Page``); its screenshot
    is kept when the test ends."""
    context = browser.new_context(locale="ko-KR", timezone_id="Asia/Seoul")  # type: ignore[attr-defined]
    context.set_default_timeout(15_000)
    tab = context.new_page()
    try:
        yield tab
    finally:
        try:
            keep_screenshot(tab, f"{Path(request.node.path).stem}-{request.node.name}")
        finally:
            context.close()
