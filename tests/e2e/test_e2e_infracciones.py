"""An administrator handles an infraction in a real browser: finds it with the list's filters,
opens it, annuls it with a reason, and sees it leave the public report and enter its history."""

from __future__ import annotations

import datetime as dt
import re

import httpx
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


async def test_filter_open_annul_and_see_it_leave_the_public_report(admin_page: Page, server: ServerProcess):
    page = admin_page
    correo, placa, numero = f"{unique('rosa.')}@example.cl", new_plate(), new_badge()
    await create_persona(page, "Rosa Tapia", correo)
    await create_vehiculo_from_persona_page(page, placa)
    await create_oficial(page, "Pedro Lagos", numero)
    token = await mint_token(page)
    when = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2)).replace(microsecond=0)
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as api:
        for minutes, comment in ((0, "Luz roja en Alameda"), (30, "Exceso de velocidad")):
            body = {"placa_patente": placa, "timestamp": (when + dt.timedelta(minutes=minutes)).isoformat(), "comentarios": comment}
            response = await api.post("/api/cargar_infraccion", json=body, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200, response.text

        # The list, filtered by the plate and by the officer.
        await page.get_by_role("navigation", name="Secciones").get_by_role("link", name="Infracciones").click()
        filters = page.get_by_role("search", name="Filtros")
        await filters.get_by_label("Placa patente").fill(placa.lower())
        await filters.get_by_label("N° de oficial").fill(str(numero))
        await filters.get_by_role("button", name="Filtrar").click()
        await expect(page.locator(".count")).to_contain_text("2 infracciones")
        rows = page.locator("table.infracciones tbody tr")
        await expect(rows).to_have_count(2)
        await expect(rows.first).to_contain_text("Exceso de velocidad")  # newest first
        await snapshot(page, "infracciones-lista")

        # Open the older one and annul it, giving the reason.
        await rows.nth(1).get_by_role("link").click()
        await expect(page.get_by_role("heading", level=1)).to_contain_text(placa)
        await expect(page.locator("dl")).to_contain_text("Luz roja en Alameda")
        await expect(page.locator("dl")).to_contain_text("Teléfono de patrulla")
        await snapshot(page, "infraccion-detalle")
        annul = page.locator("form.move").filter(has=page.get_by_role("button", name="Anular"))
        await annul.get_by_role("button", name="Anular").click()  # without a reason: the browser asks for one
        await expect(page.get_by_role("heading", level=1)).to_contain_text(placa)
        await annul.get_by_label(re.compile("Motivo de la anulación")).fill("Duplicada: el oficial la cargó dos veces.")
        await annul.get_by_role("button", name="Anular").click()
        await expect(page.get_by_role("status")).to_contain_text("La infracción quedó anulada")
        await expect(page.locator(".timeline")).to_contain_text("Duplicada: el oficial la cargó dos veces.")
        await expect(page.get_by_text("Estado final: no admite más cambios.")).to_be_visible()

        # Its history has the change, by this administrator.
        await page.get_by_role("link", name="Historial de cambios").click()
        await expect(page.get_by_role("table")).to_contain_text("Cambio de estado")
        await expect(page.get_by_role("table")).to_contain_text("anulada")
        await snapshot(page, "infraccion-historial")

        # The public report leaves it out; the other one stays.
        report = (await api.get("/api/generar_informe", params={"email": correo})).json()
        assert [item["comentarios"] for item in report["infracciones"]] == ["Exceso de velocidad"]
        assert report["total"] == 1
