"""An administrator's day in a real browser: log in, keep personas, vehículos and oficiales, hand
an officer a token, watch the infraction arrive, refuse unsafe deletes, log out. Also: the pages
work from the keyboard alone and with JavaScript disabled."""

from __future__ import annotations

import datetime as dt
import re

import httpx
from playwright.async_api import Page, expect

from tests.helpers.browser import create_oficial, create_persona, create_vehiculo_from_persona_page, dashboard_count, log_in, new_badge, new_plate, unique
from tests.helpers.server_process import ServerProcess


# -- scenarios -----------------------------------------------------------------------------------
async def test_login_refuses_a_wrong_password_then_lets_the_admin_in(page: Page):
    await page.goto("/admin/personas/")
    await expect(page).to_have_url(re.compile(r"/admin/login\?next=%2Fadmin%2Fpersonas%2F$"))

    await log_in(page, password="no-es-la-clave")
    await expect(page.get_by_role("alert")).to_have_text("Usuario o contraseña incorrectos.")
    await expect(page.get_by_label("Contraseña")).to_have_value("")  # never echoed back

    await log_in(page)
    await expect(page).to_have_url(re.compile(r"/admin/$"))
    await expect(page.get_by_role("status")).to_have_text("Bienvenido, admin.")
    nav = page.get_by_role("navigation", name="Secciones")
    await expect(nav.get_by_role("link", name="Inicio")).to_have_attribute("aria-current", "page")
    await nav.get_by_role("link", name="Personas").click()
    await expect(nav.get_by_role("link", name="Personas")).to_have_attribute("aria-current", "page")
    await expect(nav.get_by_role("link", name="Inicio")).not_to_have_attribute("aria-current", "page")


async def test_create_and_edit_records_with_messages_next_to_the_fields(admin_page: Page):
    page = admin_page
    correo = f"{unique('ana.')}@example.cl"

    # Persona: a bad e-mail is refused next to its field, the name typed is kept.
    await page.get_by_role("navigation", name="Secciones").get_by_role("link", name="Personas").click()
    await page.get_by_role("link", name="Nueva persona").click()
    await page.get_by_label("Nombre").fill("Ana Pérez")
    await page.get_by_label("Correo electrónico").fill("ana-sin-arroba")
    await page.get_by_role("button", name="Guardar").click()
    correo_field = page.get_by_label("Correo electrónico")
    await expect(correo_field).to_have_attribute("aria-invalid", "true")
    await expect(correo_field).to_have_accessible_description(re.compile("correo electrónico válido"))
    await expect(page.get_by_label("Nombre")).to_have_value("Ana Pérez")
    await correo_field.fill(correo)
    await page.get_by_role("button", name="Guardar").click()
    await expect(page.get_by_role("status")).to_contain_text(f"Se creó la persona Ana Pérez <{correo}>")

    await page.get_by_role("link", name="Editar").click()
    await page.get_by_label("Nombre").fill("Ana María Pérez")
    await page.get_by_role("button", name="Guardar").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Ana María Pérez")

    # Vehículo for her: a bad plate is refused next to its field.
    placa = new_plate()
    await page.get_by_role("link", name="Agregar un vehículo a su nombre").click()
    await expect(page.get_by_label("Correo del propietario")).to_have_value(correo)
    await page.get_by_label("Placa patente").fill("X-1")
    await page.get_by_label("Marca").fill("Toyota")
    await page.get_by_label("Color").fill("Rojo")
    await page.get_by_role("button", name="Guardar").click()
    await expect(page.get_by_label("Placa patente")).to_have_accessible_description(re.compile("entre 5 y 8 letras o números"))
    await page.get_by_label("Placa patente").fill(placa.lower()[:3] + "-" + placa.lower()[3:])
    await page.get_by_role("button", name="Guardar").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Vehículo {placa}")

    await page.get_by_role("link", name="Editar").click()
    await page.get_by_label("Color").fill("Azul")
    await page.get_by_role("button", name="Guardar").click()
    await expect(page.get_by_role("status")).to_contain_text(f"Se guardaron los cambios del vehículo {placa}")
    await expect(page.locator("dl")).to_contain_text("Azul")
    await expect(page.locator("dl")).to_contain_text("Ana María Pérez")

    # Oficial; a second one with the same número is refused next to the field.
    numero = new_badge()
    await create_oficial(page, "Juan Soto", numero)
    await page.get_by_role("link", name="Editar").click()
    await page.get_by_label("Nombre").fill("Juan Pablo Soto")
    await page.get_by_role("button", name="Guardar").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Oficial N° {numero} · Juan Pablo Soto")

    await page.goto("/admin/oficiales/nuevo")
    await page.get_by_label("Nombre").fill("Otro Oficial")
    await page.get_by_label("Número identificatorio").fill(str(numero))
    await page.get_by_role("button", name="Guardar").click()
    await expect(page.get_by_label("Número identificatorio")).to_have_accessible_description(re.compile("Ya existe un oficial con ese número. Ver el oficial"))

    # A mistyped address keeps the navigation.
    response = await page.goto("/admin/personas/no-existe/editar")
    assert response is not None and response.status == 404
    await expect(page.get_by_role("heading", level=1)).to_have_text("404 · No encontrado")
    await page.goto("/admin/no-existe")
    await page.get_by_role("navigation", name="Secciones").get_by_role("link", name="Personas").click()

    # The lists find what was created, with counts.
    await page.get_by_role("searchbox", name="Buscar").fill(correo)
    await page.get_by_role("button", name="Buscar").click()
    await expect(page.locator(".count")).to_contain_text("1 persona para")
    await expect(page.get_by_role("table")).to_contain_text("Ana María Pérez")


async def test_officer_token_records_an_infraction_until_revoked(admin_page: Page, server: ServerProcess):
    page = admin_page
    correo, placa, numero = f"{unique('luis.')}@example.cl", new_plate(), new_badge()
    today_before = await dashboard_count(page, "infracciones-hoy")
    await create_persona(page, "Luis Rojas", correo)
    await create_vehiculo_from_persona_page(page, placa)
    await create_oficial(page, "Carla Díaz", numero)
    officer_url = page.url

    await page.get_by_label("Etiqueta").fill("Teléfono de prueba")
    await page.get_by_role("button", name="Generar token").click()
    token = (await page.locator("textarea#token").input_value()).strip()
    tokens_table = page.get_by_role("table", name=re.compile("Tokens del oficial"))
    await expect(tokens_table).to_contain_text("Teléfono de prueba")

    infraction = {
        "placa_patente": placa,
        "timestamp": (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)).isoformat(),
        "comentarios": "Estacionado en doble fila",
    }
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as api:
        response = await api.post("/api/cargar_infraccion", json=infraction, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text

        # The dashboard counts it and lists it first.
        assert await dashboard_count(page, "infracciones-hoy") == today_before + 1
        first = page.get_by_role("table").locator("tbody tr").first
        await expect(first).to_contain_text(placa)
        await expect(first).to_contain_text("Estacionado en doble fila")

        # The persona's report (public JSON) has it.
        await page.goto("/admin/personas/?q=" + correo)
        await page.get_by_role("link", name="Luis Rojas").click()
        async with page.expect_navigation() as navigation:
            await page.get_by_role("link", name=re.compile("Ver informe")).click()
        report = await (await navigation.value).json()
        assert [item["placa_patente"] for item in report["infracciones"]] == [placa]
        await expect(page.locator("body")).to_contain_text("Estacionado en doble fila")

        # Revoked in the page: the next post is refused.
        await page.goto(officer_url)
        await page.get_by_role("link", name="Revocar el token Teléfono de prueba").click()
        await page.get_by_role("button", name="Sí, revocar el token").click()
        await expect(page.get_by_role("status")).to_contain_text("Se revocó el token «Teléfono de prueba»")
        await expect(tokens_table).to_contain_text("revocado")
        response = await api.post("/api/cargar_infraccion", json=infraction, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert "revocado" in response.json()["detail"]


async def test_persona_with_a_vehicle_cannot_be_deleted_and_officer_is_deactivated(admin_page: Page):
    page = admin_page
    correo, placa, numero = f"{unique('eva.')}@example.cl", new_plate(), new_badge()
    await create_persona(page, "Eva Muñoz", correo)
    persona_url = page.url
    await create_vehiculo_from_persona_page(page, placa)

    await page.goto(persona_url)
    await page.get_by_role("link", name="Borrar").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Borrar la persona")
    refusal = page.get_by_role("alert")  # before any button
    await expect(refusal).to_contain_text(f"todavía tiene 1 vehículo a su nombre: {placa}")
    await expect(page.get_by_role("button", name="Sí, borrar")).to_have_count(0)
    await expect(refusal.get_by_role("link", name=placa)).to_be_visible()

    # Once the vehicle is gone (after its own confirmation), the persona can go too.
    await refusal.get_by_role("link", name=placa).click()
    await page.get_by_role("link", name="Borrar").click()
    await page.get_by_role("button", name="Sí, borrar").click()
    await expect(page.get_by_role("status")).to_have_text(f"Se borró el vehículo {placa}.")
    await page.goto(persona_url + "/borrar")
    await page.get_by_role("button", name="Sí, borrar").click()
    await expect(page.get_by_role("status")).to_contain_text("Se borró la persona Eva Muñoz")

    await create_oficial(page, "Pedro Lagos", numero)
    await page.get_by_role("link", name="Desactivar…").click()
    await page.get_by_role("button", name="Sí, desactivar").click()
    await expect(page.get_by_role("status")).to_contain_text(f"Se desactivó al oficial N° {numero}")
    await expect(page.locator("dl")).to_contain_text("Inactivo")
    await expect(page.get_by_role("button", name="Generar token")).to_have_count(0)
    await expect(page.get_by_role("button", name="Activar")).to_be_visible()


async def test_after_logout_admin_pages_send_you_to_the_login_page(admin_page: Page):
    page = admin_page
    await page.get_by_role("button", name="Cerrar sesión").click()
    await expect(page.get_by_role("status")).to_have_text("Sesión cerrada.")
    for path in ("/admin/", "/admin/oficiales/nuevo"):
        await page.goto(path)
        await expect(page).to_have_url(re.compile(r"/admin/login\?next="))
        await expect(page.get_by_role("heading", level=1)).to_have_text("Iniciar sesión")
    await expect(page.get_by_role("navigation", name="Secciones")).to_have_count(0)


async def test_keyboard_alone_reaches_navigation_and_fields_with_visible_focus(admin_page: Page):
    page = admin_page
    await page.goto("/admin/personas/nuevo")
    reached: list[str] = []
    for _ in range(20):  # the skip link, the brand, the sections, logout, then the fields
        await page.keyboard.press("Tab")
        focused = await page.evaluate(
            """() => {
                const el = document.activeElement;
                const style = getComputedStyle(el);
                return {name: el.id || el.textContent.trim(), outline: style.outlineStyle, width: parseFloat(style.outlineWidth)};
            }"""
        )
        assert focused["outline"] != "none" and focused["width"] >= 2, f"focus not visible on {focused}"
        reached.append(focused["name"])
        if focused["name"] == "correo":
            break
    assert reached[0] == "Saltar al contenido"
    for name in ("Inicio", "Personas", "Vehículos", "Oficiales", "Cerrar sesión", "nombre", "correo"):
        assert name in reached, f"Tab never reached {name!r}: {reached}"
    assert reached.index("Oficiales") < reached.index("nombre") < reached.index("correo")

    # Typing and Enter submit the form: no mouse needed.
    correo = f"{unique('teclado.')}@example.cl"
    await page.keyboard.press("Shift+Tab")
    await page.keyboard.type("Tomás Teclado")
    await page.keyboard.press("Tab")
    await page.keyboard.type(correo)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_contain_text(f"Se creó la persona Tomás Teclado <{correo}>")


async def test_whole_create_flow_works_with_javascript_disabled(page_without_javascript: Page):
    page = page_without_javascript
    await page.goto("/admin/login")
    assert await page.locator("noscript, script").count() == 0  # the admin ships no script at all
    await log_in(page)
    await expect(page.get_by_role("status")).to_have_text("Bienvenido, admin.")

    correo, placa, numero = f"{unique('sinjs.')}@example.cl", new_plate(), new_badge()
    await create_persona(page, "Sara Sin Script", correo)
    await create_vehiculo_from_persona_page(page, placa)
    await create_oficial(page, "Oscar Sin Script", numero)
    await page.get_by_role("button", name="Generar token").click()
    await expect(page.locator("textarea#token")).to_have_value(re.compile(r"^\s*ey"))
    await page.goto("/admin/vehiculos/?q=" + placa)
    await expect(page.locator(".count")).to_contain_text("1 vehículo para")
    await expect(page.get_by_role("table")).to_contain_text(placa)
