"""The web pages in a real browser: Debian's headless Chromium, driven by Playwright through its
executable path. It opens the front page, a tag page, a link page and a search (typed with the
keyboard), checks what a reader sees, runs axe-core's accessibility rules (WCAG 2 A and AA:
landmarks, labels, headings, contrast...) on each, checks that the strict CSP refused nothing the
pages need and that no request left the site, and keeps a screenshot of each in
test-artifacts/browser/ (gitignored).

Without Chromium (or Playwright) the test is skipped with a reason, unless
WATCHBOT_TEST_BROWSER=require (CI sets it), when it fails instead.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
from pathlib import Path

import pytest

from tests.web_helpers import HOSTILE_TITLE, fill, web_options
from watchbot.store import Store
from watchbot.web.serve import WebServer
from watchbot.web.site import Site

REPO = Path(__file__).resolve().parent.parent
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"  # axe-core 4.14.1, MPL-2.0 (LICENSE beside)
ARTIFACTS = REPO / "test-artifacts" / "browser"


def chromium() -> str:
    """Chromium's executable, or skip (fail when the browser is required) saying why not."""
    found = os.environ.get("WATCHBOT_TEST_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    missing = None
    if importlib.util.find_spec("playwright") is None:
        missing = "Playwright is not installed (pip install -e '.[test]')"
    elif found is None or not Path(found).exists():
        missing = "no Chromium here (Debian: apt-get install chromium; or set WATCHBOT_TEST_CHROMIUM)"
    if missing is None:
        return found
    if os.environ.get("WATCHBOT_TEST_BROWSER") == "require":
        pytest.fail(f"the browser test is required (WATCHBOT_TEST_BROWSER=require) but {missing}")
    pytest.skip(f"browser test left out: {missing}")


@pytest.fixture
async def served(sqlite_url: str):
    """The pages of a filled store, served as `watchbot run` serves them, on a free loopback port."""
    store = await Store.open(sqlite_url)
    await fill(store)
    server = WebServer(web_options(), store, port=0)
    from tests.web_helpers import NOW

    server.site = Site(store=store, options=server.site.options, clock=lambda: NOW)
    task = asyncio.create_task(server.run())
    await asyncio.wait_for(server.bound.wait(), 30)
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await store.close()


async def accessibility_violations(page) -> list[str]:
    # Evaluated through the DevTools protocol, as the page's CSP allows no script of its own.
    await page.evaluate(AXE.read_text(encoding="utf-8"))
    result = await page.evaluate(
        "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa', 'best-practice']}})")
    return [f"{v['id']}: {v['help']} ({len(v['nodes'])}: {v['nodes'][0]['target']})" for v in result["violations"]]


async def test_a_reader_sees_the_pages_in_chromium_and_they_pass_axe(served: str):
    executable = chromium()
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    requests, problems = [], []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            page = await browser.new_page(viewport={"width": 390, "height": 844})  # a phone
            page.on("request", lambda request: requests.append(request.url))
            page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)

            await page.goto(served + "/")
            assert await page.title() == "Tech watch"
            assert await page.locator("h1").inner_text() == "Tech watch"
            assert "This week so far" in await page.locator("main").inner_text()
            assert HOSTILE_TITLE.split("\u202e")[0] in await page.locator("main").inner_text()  # shown, as text
            assert await page.evaluate("document.querySelectorAll('script').length") == 0
            fits = await page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
            assert fits, "the front page scrolls sideways on a phone"
            await page.keyboard.press("Tab")  # the keyboard's first stop skips to the content
            assert await page.evaluate("document.activeElement.textContent") == "Skip to the content"
            assert await accessibility_violations(page) == []
            await page.screenshot(path=ARTIFACTS / "front.png", full_page=True)

            await page.set_viewport_size({"width": 1280, "height": 900})
            await page.get_by_role("link", name="#rust", exact=True).first.click()
            await page.wait_for_url(served + "/tags/rust")
            assert await page.locator("h1").inner_text() == "Links tagged #rust"
            assert await accessibility_violations(page) == []
            await page.screenshot(path=ARTIFACTS / "tag.png", full_page=True)

            await page.get_by_role("link", name="https://rust.example/async").click()
            await page.wait_for_url(served + "/links/1")
            main = await page.locator("main").inner_text()
            assert "Alice on Matrix" in main and "A good read" in main and "utm_source" not in main
            assert await accessibility_violations(page) == []
            await page.screenshot(path=ARTIFACTS / "link.png", full_page=True)

            await page.get_by_role("link", name="Search").click()
            await page.wait_for_url(served + "/search")
            await page.get_by_label("Words to find").fill("security")
            await page.keyboard.press("Enter")
            await page.wait_for_url("**/search?q=security")
            found = page.get_by_role("main").get_by_role("listitem")
            assert await found.count() == 1
            assert "evil.example" in await found.first.inner_text()
            assert await accessibility_violations(page) == []
            await page.screenshot(path=ARTIFACTS / "search.png", full_page=True)
        finally:
            await browser.close()
    assert problems == []  # no CSP refusal, no missing resource
    assert [url for url in requests if not url.startswith(served + "/")] == []  # nothing from elsewhere
