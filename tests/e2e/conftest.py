"""Browser tests: the real server (``python server.py``, a subprocess) over the session's
SecantusDB, driven by headless Chromium through Playwright's async API.

One server and one browser serve the whole folder; each test gets a fresh browser context (its own
cookies) and leaves a screenshot of its final page in test-artifacts/screenshots/."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import AsyncIterator, Iterator

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.helpers.app import ADMIN_PASSWORD, ADMIN_USERNAME, ROOT
from tests.helpers.browser import log_in
from tests.helpers.server_process import ServerProcess

# Playwright's own browser download cannot run on these machines: use Debian's chromium.
CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
ACTION_TIMEOUT_MS = 10_000

expect.set_options(timeout=ACTION_TIMEOUT_MS)


@pytest.fixture(scope="session")
def server(mongo_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """``server.py`` as an administrator starts it, creating its administrator from the environment."""
    process = ServerProcess(
        mongodb_uri=mongo_uri,
        db_name=f"e2e_{uuid.uuid4().hex[:12]}",
        data_dir=tmp_path_factory.mktemp("e2e"),
        env={"ADMIN_USERNAME": ADMIN_USERNAME, "ADMIN_PASSWORD": ADMIN_PASSWORD},
    )
    process.start()
    try:
        yield process
    finally:
        if process.running:
            process.stop()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does it)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


async def _new_page(browser: Browser, server: ServerProcess, request: pytest.FixtureRequest, **options) -> AsyncIterator[Page]:
    context = await browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 800}, locale="es-CL", **options)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    page = await context.new_page()
    # A CSP violation or a missing stylesheet would leave the page broken: collect both. (Pages
    # answered with 4xx on purpose, such as a refused form, also log "Failed to load resource".)
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" and "Failed to load resource" not in m.text else None)
    page.on("response", lambda r: console_errors.append(f"{r.status} {r.url}") if r.status >= 400 and r.request.resource_type != "document" else None)
    try:
        yield page
    finally:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.name)
        await page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)
        await context.close()
    assert not console_errors, f"the browser reported errors: {console_errors}"


@pytest.fixture
async def page(browser: Browser, server: ServerProcess, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    """A fresh, logged-out browser tab."""
    async for tab in _new_page(browser, server, request):
        yield tab


@pytest.fixture
async def page_without_javascript(browser: Browser, server: ServerProcess, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    """A fresh, logged-out tab in which the pages' own scripts cannot run."""
    async for tab in _new_page(browser, server, request, java_script_enabled=False):
        yield tab


@pytest.fixture
async def admin_page(page: Page) -> Page:
    """A browser tab logged in as the start-up administrator, on the dashboard."""
    await log_in(page)
    return page
