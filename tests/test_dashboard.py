"""The dashboard at /admin/ counts the records and shows an infraction as soon as it is recorded."""

from __future__ import annotations

import datetime as dt
import re

import httpx


async def dashboard_counts(admin_client: httpx.AsyncClient) -> dict[str, int]:
    page = await admin_client.get("/admin/")
    assert page.status_code == 200
    return {name: int(value) for name, value in re.findall(r'id="stat-([\w-]+)">(\d+)<', page.text)}


async def test_counts_change_when_an_infraction_is_recorded(admin_client, running_app, repos):
    before = await dashboard_counts(admin_client)
    assert before == {"personas": 0, "vehiculos": 0, "oficiales": 0, "infracciones-hoy": 0, "infracciones-mes": 0}
    assert "Todavía no hay infracciones registradas" in (await admin_client.get("/admin/")).text

    persona = await repos.personas.create(nombre="Marta Gómez", correo="marta@example.cl")
    await repos.vehiculos.create(placa_patente="JKLM34", marca="Kia", color="Blanco", persona_id=persona.id)
    await repos.oficiales.create(nombre="Hugo Vera", numero=7)
    issued = await running_app.app.settings["token_service"].issue(repos, numero=7)
    response = await admin_client.post(
        "/api/cargar_infraccion",
        json={"placa_patente": "JKLM34", "timestamp": dt.datetime.now(dt.timezone.utc).isoformat(), "comentarios": "Luz roja"},
        headers={"Authorization": f"Bearer {issued.token}"},
    )
    assert response.status_code == 200, response.text

    after = await dashboard_counts(admin_client)
    assert after == {"personas": 1, "vehiculos": 1, "oficiales": 1, "infracciones-hoy": 1, "infracciones-mes": 1}
    page = " ".join(re.sub(r"<[^>]+>", " ", (await admin_client.get("/admin/")).text).split())
    latest = page[page.index("Últimas infracciones") :]
    assert "JKLM34" in latest and "Luz roja" in latest and "Hugo Vera" in latest
    assert "1 persona 1 vehículo 1 oficial 1 infracción ocurrida hoy" in page  # singular when there is one
