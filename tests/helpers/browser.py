"""Browser helpers for the e2e tests."""

from __future__ import annotations

import uuid

from playwright.async_api import Page

from tests.helpers.app import ADMIN_PASSWORD, ADMIN_USERNAME


async def log_in(page: Page, password: str = ADMIN_PASSWORD) -> None:
    await page.goto("/admin/login")
    await page.get_by_label("Usuario").fill(ADMIN_USERNAME)
    await page.get_by_label("Contraseña").fill(password)
    await page.get_by_role("button", name="Entrar").click()


def unique(prefix: str = "") -> str:
    """A short token that keeps tests sharing one database from colliding."""
    return prefix + uuid.uuid4().hex[:6]
