"""Browser helpers for the e2e tests."""

from __future__ import annotations

import itertools
import random
import uuid
from pathlib import Path

from playwright.async_api import Page, expect

from tests.helpers.app import ADMIN_PASSWORD, ADMIN_USERNAME


async def log_in(page: Page, password: str = ADMIN_PASSWORD) -> None:
    await page.goto("/admin/login")
    await page.get_by_label("Usuario").fill(ADMIN_USERNAME)
    await page.get_by_label("Contraseña").fill(password)
    await page.get_by_role("button", name="Entrar").click()


def unique(prefix: str = "") -> str:
    """A short token that keeps tests sharing one database from colliding."""
    return prefix + uuid.uuid4().hex[:6]


# -- helpers: what an administrator does, one form at a time -----------------------------------
async def create_persona(page: Page, nombre: str, correo: str) -> None:
    await page.goto("/admin/personas/nuevo")
    await page.get_by_label("Nombre").fill(nombre)
    await page.get_by_label("Correo electrónico").fill(correo)
    await page.get_by_role("button", name="Guardar").click()
    await expect(page.get_by_role("status")).to_contain_text("Se creó la persona")


async def create_vehiculo_from_persona_page(page: Page, placa: str) -> None:
    """On a persona's page: 'Agregar un vehículo a su nombre' pre-fills the owner."""
    await page.get_by_role("link", name="Agregar un vehículo a su nombre").click()
    await page.get_by_label("Placa patente").fill(placa)
    await page.get_by_label("Marca").fill("Toyota")
    await page.get_by_label("Color").fill("Rojo")
    await page.get_by_role("button", name="Guardar").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Vehículo {placa}")


async def create_oficial(page: Page, nombre: str, numero: int) -> None:
    await page.goto("/admin/oficiales/nuevo")
    await page.get_by_label("Nombre").fill(nombre)
    await page.get_by_label("Número identificatorio").fill(str(numero))
    await page.get_by_role("button", name="Guardar").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(f"Oficial N° {numero}")


async def mint_token(page: Page) -> str:
    """On an officer's page: generate a token and read it from where it is shown once."""
    await page.get_by_label("Etiqueta").fill("Teléfono de patrulla")
    await page.get_by_role("button", name="Generar token").click()
    return (await page.locator("textarea#token").input_value()).strip()


_PLATES = itertools.count(random.randrange(16**5))


def new_plate() -> str:
    """A plate no other test of this run has: counted, not drawn (four random hex digits once
    collided in a CI run, and the vehicle could not be created). Eight characters, the longest a
    plate may have: every page the browser tests look at must fit a phone with it."""
    return f"E2E{next(_PLATES) % 16**5:05X}"


def new_badge() -> int:
    return random.randint(100_000, 999_999_999)


async def dashboard_count(page: Page, stat: str) -> int:
    await page.goto("/admin/")
    return int(await page.locator(f"#stat-{stat}").inner_text())


SCREENSHOTS = Path(__file__).resolve().parent.parent.parent / "test-artifacts" / "screenshots"
WIDTHS = {"escritorio": (1280, 800), "telefono": (390, 844)}


async def snapshot(page: Page, name: str) -> None:
    """Save the page as it looks on a desktop and on a phone (test-artifacts/screenshots/), and
    check that on a phone the page itself never scrolls sideways."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size
    for label, (width, height) in WIDTHS.items():
        await page.set_viewport_size({"width": width, "height": height})
        await page.screenshot(path=SCREENSHOTS / f"{name}-{label}.png", full_page=True)
        if label == "telefono":
            overflow = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 1, f"{name}: the page is {overflow}px wider than a phone's screen"
    if original:
        await page.set_viewport_size(original)
