"""Issue 14 in a real browser: the owner picker (keyboard only), the detour that registers a missing
owner, sortable and paged lists and bulk actions from the keyboard, the token shown once with its copy
button, confirmations, refusals up front, Swagger UI in Spanish, axe-core on every admin page, and
every changed page at desktop and phone width (``snapshot`` fails when a phone scrolls sideways)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Callable

import httpx

import pytest
from playwright.async_api import Browser, Page, expect

from tests.helpers.accessibility import axe_violations
from tests.helpers.browser import (
    create_oficial,
    create_persona,
    create_vehiculo_from_persona_page,
    log_in,
    mint_token,
    new_badge,
    new_plate,
    snapshot,
    unique,
)
from tests.helpers.server_process import ServerProcess


async def post(page: Page, url: str, data: dict[str, Any]) -> None:
    """Submit a form from the page's session (its cookies and XSRF token), as a quick set-up."""
    token = next(c["value"] for c in await page.context.cookies() if c["name"] == "_xsrf")
    response = await page.request.post(url, form={**data, "_xsrf": token}, max_redirects=0)
    assert response.status in (302, 303), (url, response.status, await response.text())


async def focused(page: Page) -> dict[str, str]:
    return await page.evaluate(
        """() => { const el = document.activeElement;
                   return {tag: el.tagName, text: (el.textContent || '').trim().replace(/\\s+/g, ' '), id: el.id,
                           label: el.getAttribute('aria-label') || '', type: el.type || ''}; }"""
    )


async def tab_until(page: Page, wanted: Callable[[dict[str, str]], bool], *, limit: int = 150) -> dict[str, str]:
    """Press Tab until the focused element is the wanted one (keyboard only, as a person would)."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        element = await focused(page)
        if wanted(element):
            return element
    raise AssertionError("Tab never reached the element")


# -- 1. the owner picker, by keyboard alone -------------------------------------------------------


async def test_the_owner_picker_finds_her_by_name_from_the_keyboard(admin_page: Page):
    page = admin_page
    surname = unique("Zamorano")
    correo = f"{unique('vale.')}@example.cl"
    await create_persona(page, f"Valentina {surname}", correo)
    await create_persona(page, f"Vicente {surname}", f"{unique('vicente.')}@example.cl")
    placa = new_plate()

    await page.goto("/admin/vehiculos/nuevo")
    await page.get_by_label("Placa patente").fill(placa)
    await page.get_by_label("Marca").fill("Toyota")
    await page.get_by_label("Color").fill("Rojo")
    owner = page.get_by_role("combobox", name="Correo del propietario")
    await expect(owner).to_have_attribute("aria-expanded", "false")
    await page.keyboard.press("Tab")
    await expect(owner).to_be_focused()
    await page.keyboard.type(f"{surname[:9].lower()} vale")
    options = page.get_by_role("listbox", name="Personas encontradas").get_by_role("option")
    await expect(options).to_have_count(1)
    await expect(owner).to_have_attribute("aria-expanded", "true")
    await page.keyboard.press("Backspace")
    await page.keyboard.press("Backspace")
    await page.keyboard.press("Backspace")
    await page.keyboard.press("Backspace")  # "zamorano" alone: both
    await expect(options).to_have_count(2)
    await expect(page.get_by_role("status").filter(has_text="2 personas encontradas")).to_have_count(1)
    await page.keyboard.press("ArrowDown")
    await expect(options.first).to_have_attribute("aria-selected", "true")
    await expect(owner).to_have_attribute("aria-activedescendant", re.compile(r"-opciones-0$"))
    await snapshot(page, "vehiculo-nuevo-selector-de-propietario")
    await page.keyboard.press("Enter")  # chooses; does not submit
    await expect(owner).to_have_value(correo)
    await expect(owner).to_have_attribute("aria-expanded", "false")
    await page.keyboard.press("Enter")  # now the form is sent
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Vehículo {placa}")
    await expect(page.locator("dl")).to_contain_text(f"Valentina {surname}")


async def test_a_missing_owner_is_registered_on_the_way_and_the_vehicle_form_comes_back(admin_page: Page):
    page = admin_page
    placa, correo = new_plate(), f"{unique('nueva.')}@example.cl"
    await page.goto("/admin/vehiculos/nuevo")
    await page.get_by_label("Placa patente").fill(placa)
    await page.get_by_label("Marca").fill("Hyundai")
    await page.get_by_label("Color").fill("Blanco")
    await page.get_by_label("Correo del propietario").fill("Marcela Nueva")
    await page.get_by_role("button", name="Registrar a una persona nueva").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Nueva persona")
    await expect(page.get_by_label("Nombre")).to_have_value("Marcela Nueva")
    await page.get_by_label("Correo electrónico").fill(correo)
    await page.get_by_role("button", name="Guardar").click()
    await expect(page.get_by_role("status").first).to_contain_text("Siga con el vehículo")
    await expect(page.get_by_label("Placa patente")).to_have_value(placa)
    await expect(page.get_by_label("Marca")).to_have_value("Hyundai")
    await expect(page.get_by_label("Correo del propietario")).to_have_value(correo)
    await snapshot(page, "vehiculo-nuevo-de-vuelta")
    await page.get_by_role("button", name="Guardar", exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Vehículo {placa}")
    await expect(page.locator("dl")).to_contain_text("Marcela Nueva")


# -- 3. lists from the keyboard: sort headers, pages, bulk selection -------------------------------


async def test_sort_headers_pages_and_bulk_deactivation_from_the_keyboard(admin_page: Page):
    page = admin_page
    tag = unique("Lote")
    await page.goto("/admin/oficiales/nuevo")
    base = new_badge()
    for i in range(23):
        await post(page, "/admin/oficiales/nuevo", {"nombre": f"{tag} {chr(90 - i)}", "numero": str(base + i), "activo": "y"})
    await page.goto(f"/admin/oficiales/?q={tag}")
    await expect(page.locator(".count")).to_have_text(f"23 oficiales para «{tag}» · página 1 de 2")
    await snapshot(page, "oficiales-lista")

    # A column header from the keyboard: Tab to "Nombre", Enter sorts by it.
    await tab_until(page, lambda el: el["tag"] == "A" and el["text"].startswith("Nombre"))
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(r"orden=nombre_asc"))
    header = page.get_by_role("columnheader", name=re.compile("^Nombre"))
    await expect(header).to_have_attribute("aria-sort", "ascending")
    await expect(page.locator("tbody tr").first).to_contain_text(f"{tag} D")

    # The next page from the keyboard, keeping the order and the search.
    await tab_until(page, lambda el: el["tag"] == "A" and el["label"] == "Página 2")
    await page.keyboard.press("Enter")
    await expect(page.locator(".count")).to_contain_text("página 2 de 2")
    await expect(page.locator("tbody tr")).to_have_count(3)
    await expect(page.locator("tbody tr").first).to_contain_text(f"{tag} X")

    # Select two rows with Space and deactivate them, confirming first.
    first = await tab_until(page, lambda el: el["type"] == "checkbox" and "Seleccionar al oficial" in el["label"])
    await page.keyboard.press("Space")
    await tab_until(page, lambda el: el["type"] == "checkbox" and el["label"] != first["label"])
    await page.keyboard.press("Space")
    await tab_until(page, lambda el: el["text"].startswith("Desactivar los seleccionados"))
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Desactivar 2 oficiales")
    await snapshot(page, "oficiales-desactivar-seleccionados")
    await tab_until(page, lambda el: el["text"] == "Sí, desactivar 2 oficiales")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status").first).to_contain_text("Se desactivaron 2 oficiales")
    await expect(page).to_have_url(re.compile(r"orden=nombre_asc"))
    await expect(page.locator("tbody tr").filter(has_text="Inactivo")).to_have_count(2)


async def test_select_all_and_bulk_delete_of_personas_explain_the_refusals(admin_page: Page):
    page = admin_page
    tag = unique("Borrables")
    await create_persona(page, f"{tag} Con Auto", f"{unique('auto.')}@example.cl")
    await create_vehiculo_from_persona_page(page, new_plate())
    await create_persona(page, f"{tag} Libre Uno", f"{unique('libre.')}@example.cl")
    await create_persona(page, f"{tag} Libre Dos", f"{unique('libre.')}@example.cl")
    await page.goto(f"/admin/personas/?q={tag}")
    await page.get_by_role("checkbox", name="Seleccionar todas las filas de esta página").check()
    await expect(page.locator('tbody input[type="checkbox"]:checked')).to_have_count(3)
    await snapshot(page, "personas-lista")
    await page.get_by_role("button", name="Borrar las seleccionadas…").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Borrar 3 personas seleccionadas")
    refusal = page.get_by_role("alert")
    await expect(refusal).to_contain_text("todavía tiene 1 vehículo a su nombre")
    await snapshot(page, "personas-borrar-seleccionadas")
    await page.get_by_role("button", name="Sí, borrar 2 personas").click()
    await expect(page.get_by_role("status").first).to_contain_text("Se borraron 2 personas.")


# -- 4. a refusal before any button ---------------------------------------------------------------


async def test_a_delete_that_cannot_happen_says_so_before_any_button(admin_page: Page):
    page = admin_page
    await create_persona(page, "Dueña Con Auto", f"{unique('duena.')}@example.cl")
    placa = new_plate()
    await create_vehiculo_from_persona_page(page, placa)
    await page.get_by_role("link", name=re.compile("Dueña Con Auto")).first.click()
    await page.get_by_role("link", name="Borrar").click()
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("No se puede borrar a Dueña Con Auto: todavía tiene 1 vehículo a su nombre")
    await expect(page.get_by_role("button", name="Sí, borrar")).to_have_count(0)
    await snapshot(page, "persona-borrar-rechazado")
    await alert.get_by_role("link", name=placa).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Vehículo {placa}")


# -- 5 and 6. the token shown once; confirmations ------------------------------------------------


async def test_token_shown_once_with_a_copy_button_then_revoked_and_deactivated_after_confirming(admin_page: Page):
    page = admin_page
    numero = new_badge()
    await create_oficial(page, "Tamara Token", numero)
    officer_url = page.url
    await page.get_by_label("Etiqueta").fill("Teléfono 3")
    await page.get_by_role("button", name="Generar token").click()
    await expect(page.get_by_role("heading", name="Token generado")).to_be_visible()
    token = (await page.locator("textarea#token").input_value()).strip()
    assert token.startswith("ey") and token not in page.url
    await expect(page.get_by_label("Etiqueta")).to_have_value("")
    copy = page.get_by_role("button", name="Copiar el token")
    await copy.click()
    await expect(page.get_by_role("status").filter(has_text=re.compile("Copiado|No se pudo copiar"))).to_have_count(1)
    await expect(page.locator("#curl-ejemplo")).to_contain_text('"placa_patente": "<PLACA>"')
    await snapshot(page, "oficial-token-generado")
    await page.reload()
    await expect(page.get_by_role("heading", name="Token generado")).to_have_count(0)
    await expect(page.locator("textarea#token")).to_have_count(0)

    await page.get_by_role("link", name="Revocar el token Teléfono 3").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Revocar el token «Teléfono 3» del oficial N° {numero}")
    await snapshot(page, "token-revocar-confirmar")
    await page.get_by_role("button", name="Sí, revocar el token").click()
    await expect(page.get_by_role("status").first).to_contain_text("Se revocó el token «Teléfono 3»")

    await page.get_by_role("link", name="Desactivar…").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(f"Desactivar al oficial N° {numero}")
    await expect(page.locator(".confirm")).to_contain_text("No tiene tokens vigentes.")
    await snapshot(page, "oficial-desactivar-confirmar")
    await page.get_by_role("button", name="Sí, desactivar").click()
    await expect(page.get_by_role("status").first).to_contain_text(f"Se desactivó al oficial N° {numero}")
    assert page.url.startswith(officer_url)


# -- 9. Swagger UI in Spanish -----------------------------------------------------------------------


async def test_swagger_ui_buttons_are_in_spanish(page: Page):
    await page.goto("/api/docs")
    operation = page.locator(".opblock-summary").first
    await operation.click()
    await expect(page.get_by_role("button", name="Probar")).to_be_visible()
    await expect(page.get_by_role("button", name="Try it out")).to_have_count(0)
    await page.get_by_role("button", name="Probar").click()
    await expect(page.get_by_role("button", name="Ejecutar")).to_be_visible()
    await expect(page.get_by_role("button", name="Cancelar")).to_be_visible()
    await expect(page.locator("body")).not_to_contain_text("Execute")
    await snapshot(page, "api-docs")


# -- every admin page: screenshots at both widths, axe-core, no CSP violation -----------------------


async def open_page(page: Page, url: str) -> None:
    await page.goto(url)
    if url.startswith("/app/"):  # the officers' app draws itself once it has checked its token
        await expect(page.locator("body[data-listo]")).to_have_count(1)


@pytest.fixture
async def admin_pages(admin_page: Page, server: ServerProcess) -> list[tuple[str, str]]:
    """A persona with a vehicle, an officer with a token and an infraction loaded with it (an offence
    code and a place): (name, URL) of every kind of admin page, and the officers' app enrolled."""
    page = admin_page
    correo = f"{unique('paginas.')}@example.cl"
    await create_persona(page, "Paula Páginas", correo)
    persona_url = page.url
    placa = new_plate()
    await create_vehiculo_from_persona_page(page, placa)
    vehicle_url = page.url
    numero = new_badge()
    await create_oficial(page, "Pablo Páginas", numero)
    officer_url = page.url
    token = await mint_token(page)
    revoke_url = await page.get_by_role("link", name=re.compile("Revocar el token")).first.get_attribute("href")
    async with httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as api:
        loaded = await api.post("/api/cargar_infraccion", json={
            "placa_patente": placa, "timestamp": dt.datetime.now(dt.timezone.utc).isoformat(), "comentarios": "Luz roja",
            "codigo": "GVS-01", "ubicacion": {"latitud": -33.4372, "longitud": -70.6506, "precision_m": 12},
        })
    assert loaded.status_code == 200, loaded.text
    infraction_url = f"/admin/infracciones/{loaded.json()['id']}"
    return [
        ("inicio", "/admin/"),
        ("personas-lista-busqueda", f"/admin/personas/?q={correo}"),
        ("persona-detalle", persona_url),
        ("persona-nueva", "/admin/personas/nuevo"),
        ("persona-editar", persona_url + "/editar"),
        ("persona-borrar", persona_url + "/borrar"),
        ("persona-historial", persona_url + "/historial"),
        ("vehiculos-lista", "/admin/vehiculos/?orden=marca_desc"),
        ("vehiculos-filtro-marca", "/admin/vehiculos/?marca=toyota"),
        ("vehiculo-detalle", vehicle_url),
        ("vehiculo-nuevo", "/admin/vehiculos/nuevo"),
        ("vehiculo-editar", vehicle_url + "/editar"),
        ("vehiculo-borrar", vehicle_url + "/borrar"),
        ("oficiales-lista-activos", "/admin/oficiales/?estado=activos"),
        ("oficial-detalle", officer_url),
        ("oficial-nuevo", "/admin/oficiales/nuevo"),
        ("oficial-editar", officer_url + "/editar"),
        ("oficial-borrar", officer_url + "/borrar"),
        ("oficial-desactivar", officer_url + "/activacion"),
        ("token-revocar", revoke_url or ""),
        ("infracciones-lista", "/admin/infracciones/"),
        ("infraccion-detalle", infraction_url),
        ("infraccion-historial", infraction_url + "/historial"),
        ("catalogo-lista", "/admin/catalogo/?gravedad=grave"),
        ("catalogo-codigo", "/admin/catalogo/GVS-01"),
        ("catalogo-nuevo", "/admin/catalogo/nuevo"),
        ("catalogo-version", "/admin/catalogo/GVS-01/version"),
        ("catalogo-retirar", "/admin/catalogo/GVS-01/retirar"),
        ("catalogo-historial", "/admin/catalogo/GVS-01/historial"),
        ("app-oficial", f"/app/#token={token}"),
        ("auditoria", "/admin/auditoria/"),
        ("no-encontrado", "/admin/no-existe"),
    ]


async def test_every_admin_page_at_desktop_and_phone_width_without_csp_violations(admin_page: Page, admin_pages):
    """The ordinary context: the fixture fails the test on any console error (a CSP violation is one)."""
    for name, url in admin_pages:
        await open_page(admin_page, url)
        await snapshot(admin_page, name)


async def test_every_admin_page_passes_axe_core(browser: Browser, server: ServerProcess, admin_page: Page, admin_pages):
    """axe-core needs a script of its own in the page: a context that bypasses the CSP, for axe only."""
    context = await browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 800}, locale="es-CL", bypass_csp=True)
    try:
        page = await context.new_page()
        await log_in(page)
        failures = {}
        for name, url in [*admin_pages, ("vehiculo-nuevo-con-error", "")]:
            if name == "vehiculo-nuevo-con-error":  # a refused form: its summary, its field errors
                await page.goto("/admin/vehiculos/nuevo")
                await page.get_by_role("button", name="Guardar", exact=True).click()
                await expect(page.get_by_role("alert")).to_be_visible()
            else:
                await open_page(page, url)
            for width in (1280, 390):
                await page.set_viewport_size({"width": width, "height": 800})
                violations = await axe_violations(page)
                if violations:
                    failures[f"{name} @{width}"] = violations
            await page.set_viewport_size({"width": 1280, "height": 800})
        await page.goto("/admin/logout")
        context_out = await browser.new_context(base_url=server.url, bypass_csp=True)
        login = await context_out.new_page()
        await login.goto("/admin/login")
        if violations := await axe_violations(login):
            failures["login"] = violations
        await context_out.close()
        assert not failures, failures
    finally:
        await context.close()
