"""An administrator works with the offence catalogue in a real browser (search, a code's page, a new
version), and sees an infraction loaded with a code, a place and a photo on its page: the offence
with its fine, the OpenStreetMap link, and the photo's thumbnail with its hash."""

from __future__ import annotations

import datetime as dt
import hashlib
import io

import httpx
from PIL import Image
from playwright.async_api import Page, expect

from tests.helpers.browser import (
    create_oficial,
    create_persona,
    create_vehiculo_from_persona_page,
    mint_token,
    new_badge,
    new_plate,
    snapshot,
    unique,
)
from tests.helpers.server_process import ServerProcess


def photo() -> bytes:
    """A small JPEG, as a phone's camera would send (smaller)."""
    image = Image.new("RGB", (640, 480), (40, 90, 160))
    for x in range(0, 640, 40):
        for y in range(0, 480, 40):
            image.paste((220, 200, 40), (x, y, x + 20, y + 20))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


async def test_search_the_catalogue_and_add_a_version(admin_page: Page):
    page = admin_page
    await page.get_by_role("navigation", name="Secciones").get_by_role("link", name="Catálogo").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Catálogo de infracciones")
    filters = page.get_by_role("search", name="Filtros")
    await filters.get_by_label("Buscar").fill("semaforo")  # without its accent
    await filters.get_by_role("button", name="Filtrar").click()
    await expect(page.locator(".count")).to_have_text("1 código")
    await snapshot(page, "catalogo-lista")

    await page.get_by_role("link", name="GVS-01").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("No detenerse ante la luz roja")
    await expect(page.locator("dl")).to_contain_text("1,5 a 3 UTM")
    await page.get_by_role("link", name="Nueva versión").click()
    await expect(page.get_by_label("Descripción")).to_have_value("No detenerse ante la luz roja de un semáforo.")
    await page.get_by_label("Descripción").fill("No detenerse ante la luz roja de un semáforo, o cruzarla en amarillo sin poder detenerse.")
    await page.get_by_role("button", name="Guardar").click()
    await expect(page.get_by_role("status")).to_contain_text("Se creó la versión 2 del código GVS-01")
    # The versions' table (the page also lists the code's latest infractions, which other tests load).
    versions = page.get_by_role("table", name="Versiones del código GVS-01").locator("tbody tr")
    await expect(versions).to_have_count(2)
    await expect(versions.first).to_contain_text("cruzarla en amarillo")  # newest first, not yet in force
    await expect(versions.nth(1)).to_contain_text("Vigente")
    await snapshot(page, "catalogo-codigo")


async def test_an_infraction_with_offence_place_and_photo(admin_page: Page, server: ServerProcess):
    page = admin_page
    correo, placa = f"{unique('sara.')}@example.cl", new_plate()
    await create_persona(page, "Sara Núñez", correo)
    await create_vehiculo_from_persona_page(page, placa)
    await create_oficial(page, "Luis Rojas", new_badge())
    token = await mint_token(page)
    auth = {"Authorization": f"Bearer {token}"}
    when = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=30)).replace(microsecond=0)
    body = {
        "placa_patente": placa, "timestamp": when.isoformat(), "comentarios": "Cruzó con luz roja en Av. Matta.",
        "codigo": "GVS-01", "ubicacion": {"latitud": -33.4569, "longitud": -70.6483, "precision_m": 8},
    }
    image = photo()
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as api:
        loaded = await api.post("/api/cargar_infraccion", json=body, headers=auth)
        assert loaded.status_code == 200, loaded.text
        infraccion_id = loaded.json()["id"]
        added = await api.post(f"/api/infracciones/{infraccion_id}/evidencias", content=image, headers={**auth, "Content-Type": "image/jpeg"})
        assert added.status_code == 201, added.text

    await page.goto(f"{server.url}/admin/infracciones/{infraccion_id}")
    details = page.locator("dl")
    await expect(details).to_contain_text("GVS-01 · No detenerse ante la luz roja de un semáforo.")
    await expect(details).to_contain_text("Gravísima · multa de 1,5 a 3 UTM")
    await expect(details).to_contain_text("-33.456900, -70.648300 (± 8 m)")
    osm = page.get_by_role("link", name="ver en OpenStreetMap")
    assert "mlat=-33.4569" in (await osm.get_attribute("href"))
    thumbnail = page.locator("ul.photos img")
    await expect(thumbnail).to_have_count(1)
    await thumbnail.scroll_into_view_if_needed()
    await page.wait_for_function("() => { const img = document.querySelector('ul.photos img'); return img.complete && img.naturalWidth > 0; }")
    await expect(page.locator("ul.photos code.hash")).to_have_text(hashlib.sha256(image).hexdigest())
    await snapshot(page, "infraccion-con-foto")
