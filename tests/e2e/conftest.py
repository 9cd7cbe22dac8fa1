"""Browser tests: the real server (``python server.py``, a subprocess) over the session's
SecantusDB, driven by headless Chromium through Playwright's async API.

One server and one browser serve the whole folder; each test gets a fresh browser context (its own
cookies) and leaves a screenshot of its final page in test-artifacts/screenshots/."""

from __future__ import annotations

import dataclasses
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import AsyncIterator, Iterator

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.conftest import ADMIN_PASSWORD, ADMIN_USERNAME, ROOT

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
START_DEADLINE_SECONDS = 30
ACTION_TIMEOUT_MS = 10_000

expect.set_options(timeout=ACTION_TIMEOUT_MS)


@dataclasses.dataclass(frozen=True)
class Server:
    url: str
    log: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def server(mongo_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``server.py`` as an administrator starts it, with the start-up admin from the environment."""
    data_dir = tmp_path_factory.mktemp("e2e-data")
    port = _free_port()
    env = {
        **os.environ,
        "APP_ENV": "development",
        "PORT": str(port),
        "MONGODB_URI": mongo_uri,
        "MONGODB_DB": f"e2e_{uuid.uuid4().hex[:12]}",
        "COOKIE_SECRET": "e2e-cookie-secret-" + "c" * 40,
        "JWT_SECRET": "e2e-jwt-secret-" + "j" * 40,
        "ADMIN_USERNAME": ADMIN_USERNAME,
        "ADMIN_PASSWORD": ADMIN_PASSWORD,
        "DATA_DIR": str(data_dir),
        "LOG_LEVEL": "WARNING",
    }
    log = data_dir / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "server.py"), "--port", str(port)], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, log)
        yield Server(url, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server.py exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # polling interval, not a timing assertion
    pytest.fail(f"server.py was not ready within {START_DEADLINE_SECONDS} s:\n{log.read_text()}")


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does it)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


async def _new_page(browser: Browser, server: Server, request: pytest.FixtureRequest, **options) -> AsyncIterator[Page]:
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
async def page(browser: Browser, server: Server, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    """A fresh, logged-out browser tab."""
    async for tab in _new_page(browser, server, request):
        yield tab


@pytest.fixture
async def admin_page(page: Page) -> Page:
    """A browser tab logged in as the start-up administrator, on the dashboard."""
    await log_in(page)
    return page


async def log_in(page: Page, password: str = ADMIN_PASSWORD) -> None:
    await page.goto("/admin/login")
    await page.get_by_label("Usuario").fill(ADMIN_USERNAME)
    await page.get_by_label("Contraseña").fill(password)
    await page.get_by_role("button", name="Entrar").click()


def unique(prefix: str = "") -> str:
    """A short token that keeps tests sharing one database from colliding."""
    return prefix + uuid.uuid4().hex[:6]
