"""The server answers and an administrator can log in and create the three kinds of record."""

from tests.helpers.app import post_form


async def test_health_and_readiness(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"status": "ok", "database": "ok"}


async def test_admin_creates_persona_vehiculo_oficial(admin_client, repos):
    response = await post_form(admin_client, "/admin/personas/nuevo", {"nombre": "Ana Pérez", "correo": "Ana@Example.CL"})
    assert response.status_code == 302
    persona = await repos.personas.get_by_email("ana@example.cl")
    response = await post_form(
        admin_client,
        "/admin/vehiculos/nuevo",
        {"placa_patente": "bb-cd 12", "marca": "Toyota", "color": "Rojo", "propietario": "ana@example.cl"},
    )
    assert response.status_code == 302, response.text
    vehiculos = await repos.vehiculos.list_by_persona(persona.id)
    assert [v.placa_patente for v in vehiculos] == ["BBCD12"]
    response = await post_form(admin_client, "/admin/oficiales/nuevo", {"nombre": "Juan Soto", "numero": "42", "activo": "y"})
    assert response.status_code == 302
    assert (await repos.oficiales.get_by_numero(42)).activo is True
    page = await admin_client.get(response.headers["Location"])
    assert "Se creó el oficial" in page.text
