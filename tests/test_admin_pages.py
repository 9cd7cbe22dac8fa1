"""The admin pages over HTTP against the real application and database: login and its
throttling, sessions, XSRF, and for each record list / search / paging / detail / create / edit /
delete with every validation message and integrity refusal, plus the error pages."""

from __future__ import annotations

import logging
import re
from urllib.parse import urlencode

import httpx
import pytest
import tornado.web
from bson import ObjectId

from handlers.base import BaseHandler
from services.tokens import TokenService
from tests.helpers.pages import field_error, field_value, follow, parse, text
from tests.helpers.app import ADMIN_PASSWORD, ADMIN_USERNAME, make_settings, post_form, record_infraction, xsrf_token

# -- reading pages -----------------------------------------------------------------------------


# -- fixtures for records ----------------------------------------------------------------------


@pytest.fixture
async def ana(repos):
    return await repos.personas.create(nombre="Ana Pérez", correo="ana@example.cl")


@pytest.fixture
async def auto(repos, ana):
    return await repos.vehiculos.create(placa_patente="BBCD12", marca="Toyota", color="Rojo", persona_id=ana.id)


@pytest.fixture
async def oficial(repos):
    return await repos.oficiales.create(nombre="Juan Soto", numero=42)



# -- authentication ----------------------------------------------------------------------------


async def test_every_admin_page_requires_login(client, repos, auto, oficial):
    pages = ["/admin/", "/admin"]
    for slug, record_id in (("personas", auto.persona_id), ("vehiculos", auto.id), ("oficiales", oficial.id)):
        base = f"/admin/{slug}/"
        pages += [base, f"{base}?q=a&page=2", f"{base}nuevo", f"{base}{record_id}", f"{base}{record_id}/editar", f"{base}{record_id}/borrar"]
    for page in pages:
        response = await client.get(page)
        assert response.status_code == 302, page
        assert response.headers["Location"] == "/admin/login?" + urlencode({"next": page}), page


async def test_post_without_a_session_is_refused_and_writes_nothing(client, repos, ana, oficial):
    token = await xsrf_token(client)
    attempts = [
        ("/admin/personas/nuevo", {"nombre": "Intrusa", "correo": "intrusa@example.cl"}),
        (f"/admin/personas/{ana.id}/editar", {"nombre": "Cambiada", "correo": "ana@example.cl"}),
        (f"/admin/personas/{ana.id}/borrar", {}),
        (f"/admin/oficiales/{oficial.id}/activacion", {"activo": "0"}),
        (f"/admin/oficiales/{oficial.id}/tokens", {"dias": "30"}),
    ]
    for url, data in attempts:
        response = await client.post(url, data={**data, "_xsrf": token})
        assert response.status_code == 403, url
        assert "Inicie sesión" in text(response)
    assert await repos.personas.get(ana.id) == ana
    assert (await repos.personas.search()).total == 1
    assert (await repos.oficiales.get(oficial.id)).activo
    assert await repos.tokens.list_for_officer(oficial.id) == []


async def test_login_page_then_success_and_failure_messages(client, repos):
    await repos.admins.set_password(username=ADMIN_USERNAME, password=ADMIN_PASSWORD)
    page = await client.get("/admin/login")
    assert page.status_code == 200 and "Iniciar sesión" in text(page)

    wrong = await post_form(client, "/admin/login", {"username": ADMIN_USERNAME, "password": "no-es-esta"})
    assert wrong.status_code == 401
    assert "Usuario o contraseña incorrectos." in text(wrong)
    assert field_value(wrong, "username") == ADMIN_USERNAME
    assert field_value(wrong, "password") in (None, "")  # a password is never echoed back
    unknown = await post_form(client, "/admin/login", {"username": "nadie", "password": ADMIN_PASSWORD})
    assert unknown.status_code == 401 and "Usuario o contraseña incorrectos." in text(unknown)
    empty = await post_form(client, "/admin/login", {"username": "", "password": ""})
    assert empty.status_code == 400
    assert field_error(empty, "username") == "Este campo es obligatorio."
    assert field_error(empty, "password") == "Este campo es obligatorio."

    ok = await post_form(client, "/admin/login", {"username": "  ADMIN ", "password": ADMIN_PASSWORD})
    assert ok.status_code == 302 and ok.headers["Location"] == "/admin/"
    home = await follow(client, ok)
    assert home.status_code == 200
    assert f"Bienvenido, {ADMIN_USERNAME}." in text(home)
    assert "Cerrar sesión" in text(home)


def session_cookie_header(response: httpx.Response) -> str:
    [header] = [h for h in response.headers.get_list("set-cookie") if h.startswith("session=")]
    return header


async def test_session_cookie_is_httponly_and_samesite_lax(client, repos):
    await repos.admins.set_password(username=ADMIN_USERNAME, password=ADMIN_PASSWORD)
    response = await post_form(client, "/admin/login", {"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})
    attributes = [part.strip().lower() for part in session_cookie_header(response).split(";")]
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert "secure" not in attributes  # plain HTTP in the tests; over HTTPS it is set
    xsrf = [h for h in response.headers.get_list("set-cookie") if h.startswith("_xsrf=")] or [
        h for h in (await client.get("/admin/login")).headers.get_list("set-cookie") if h.startswith("_xsrf=")
    ]
    assert all("samesite=lax" in h.lower() for h in xsrf)


async def test_login_redirects_to_the_page_asked_for(client, repos):
    await repos.admins.set_password(username=ADMIN_USERNAME, password=ADMIN_PASSWORD)
    redirect = await client.get("/admin/personas/?q=ana")
    login_page = await follow(client, redirect)
    assert parse(login_page.text).controls["next"]["value"] == "/admin/personas/?q=ana"
    response = await post_form(
        client, "/admin/login", {"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD, "next": "/admin/personas/?q=ana"}
    )
    assert response.headers["Location"] == "/admin/personas/?q=ana"


@pytest.mark.parametrize(
    "target", ["//evil.example", "https://evil.example/admin/", "/\\evil.example", "evil", "javascript:alert(1)", "///evil.example"]
)
async def test_next_only_accepts_local_paths(client, repos, target):
    await repos.admins.set_password(username=ADMIN_USERNAME, password=ADMIN_PASSWORD)
    page = await client.get("/admin/login", params={"next": target})
    assert parse(page.text).controls["next"]["value"] == "/admin/"
    response = await post_form(client, "/admin/login", {"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD, "next": target})
    assert response.headers["Location"] == "/admin/"
    # Already logged in: the login page sends the admin on, never off-site.
    again = await client.get("/admin/login", params={"next": target})
    assert again.status_code == 302 and again.headers["Location"] == "/admin/"


@pytest.mark.parametrize("settings", [make_settings(login_rate_limit_user="3/15minutes")])
async def test_login_is_throttled_per_username(client, repos, settings):
    await repos.admins.set_password(username=ADMIN_USERNAME, password=ADMIN_PASSWORD)
    for _ in range(3):
        response = await post_form(client, "/admin/login", {"username": ADMIN_USERNAME, "password": "incorrecta"})
        assert response.status_code == 401
    # Over the limit even the right password is refused, with a Retry-After.
    blocked = await post_form(client, "/admin/login", {"username": "Admin", "password": ADMIN_PASSWORD})
    assert blocked.status_code == 429
    assert 0 < int(blocked.headers["Retry-After"]) <= 15 * 60
    assert "Demasiados intentos fallidos" in text(blocked)
    assert "session" not in client.cookies
    # Another user from the same client is not affected (the client limit is higher).
    await repos.admins.set_password(username="otra", password=ADMIN_PASSWORD)
    other = await post_form(client, "/admin/login", {"username": "otra", "password": ADMIN_PASSWORD})
    assert other.status_code == 302


async def test_default_login_limit_is_five_failures_per_username(client, repos):
    await repos.admins.set_password(username=ADMIN_USERNAME, password=ADMIN_PASSWORD)
    statuses = [
        (await post_form(client, "/admin/login", {"username": ADMIN_USERNAME, "password": "incorrecta"})).status_code
        for _ in range(6)
    ]
    assert statuses == [401] * 5 + [429]


@pytest.mark.parametrize("settings", [make_settings(login_rate_limit_client="4/15minutes")])
async def test_login_is_throttled_per_client(client, repos, settings):
    await repos.admins.set_password(username=ADMIN_USERNAME, password=ADMIN_PASSWORD)
    for i in range(4):
        response = await post_form(client, "/admin/login", {"username": f"usuario{i}", "password": "incorrecta"})
        assert response.status_code == 401
    blocked = await post_form(client, "/admin/login", {"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0


async def test_a_successful_login_clears_the_failures_of_that_username(client, repos):
    await repos.admins.set_password(username=ADMIN_USERNAME, password=ADMIN_PASSWORD)
    for _ in range(4):
        await post_form(client, "/admin/login", {"username": ADMIN_USERNAME, "password": "incorrecta"})
    assert (await post_form(client, "/admin/login", {"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})).status_code == 302
    for _ in range(4):
        response = await post_form(client, "/admin/login", {"username": ADMIN_USERNAME, "password": "incorrecta"})
        assert response.status_code == 401


async def test_logout_ends_the_session(admin_client):
    response = await post_form(admin_client, "/admin/logout", {})
    assert response.headers["Location"] == "/admin/login"
    page = await follow(admin_client, response)
    assert "Sesión cerrada." in text(page)
    assert (await admin_client.get("/admin/")).status_code == 302


async def test_a_stolen_cookie_dies_with_a_password_reset(admin_client, repos):
    assert (await admin_client.get("/admin/personas/")).status_code == 200
    await repos.admins.set_password(username=ADMIN_USERNAME, password="una-clave-nueva-segura")
    response = await admin_client.get("/admin/personas/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/admin/login")


async def test_forged_session_cookie_is_ignored(client, repos):
    """A live session's token, but not signed by the server: no session."""
    admin, _ = await repos.admins.set_password(username=ADMIN_USERNAME, password=ADMIN_PASSWORD)
    token = await repos.sesiones.open(admin_id=admin.id, username=admin.username)
    client.cookies.set("session", token)
    assert (await client.get("/admin/")).status_code == 302


# -- XSRF --------------------------------------------------------------------------------------


async def test_form_post_without_xsrf_token_is_refused(admin_client, repos, ana):
    for url, data in (
        ("/admin/personas/nuevo", {"nombre": "Sin token", "correo": "sin@example.cl"}),
        (f"/admin/personas/{ana.id}/borrar", {}),
        (f"/admin/personas/{ana.id}/editar", {"nombre": "Otra", "correo": "ana@example.cl"}),
    ):
        response = await admin_client.post(url, data=data)
        assert response.status_code == 403, url
        assert "token de seguridad" in text(response)
        wrong = await admin_client.post(url, data={**data, "_xsrf": "2|00000000|" + "0" * 32 + "|1"})
        assert wrong.status_code == 403, url
    assert await repos.personas.get(ana.id) == ana
    assert (await repos.personas.search()).total == 1


async def test_login_form_also_needs_the_xsrf_token(client, repos):
    await repos.admins.set_password(username=ADMIN_USERNAME, password=ADMIN_PASSWORD)
    response = await client.post("/admin/login", data={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})
    assert response.status_code == 403
    assert "session" not in client.cookies


# -- personas ----------------------------------------------------------------------------------


async def test_persona_create_detail_edit_delete(admin_client, repos):
    form = await admin_client.get("/admin/personas/nuevo")
    assert form.status_code == 200 and "Nueva persona" in text(form)
    created = await post_form(admin_client, "/admin/personas/nuevo", {"nombre": " Ana Pérez ", "correo": "Ana@Example.CL"}, page="/admin/personas/nuevo")
    persona = await repos.personas.get_by_email("ana@example.cl")
    assert created.headers["Location"] == f"/admin/personas/{persona.id}"
    detail = await follow(admin_client, created)
    assert "Se creó la persona Ana Pérez <ana@example.cl>." in text(detail)
    assert "ana@example.cl" in text(detail)

    edit = await admin_client.get(f"/admin/personas/{persona.id}/editar")
    assert field_value(edit, "nombre") == "Ana Pérez" and field_value(edit, "correo") == "ana@example.cl"
    saved = await post_form(admin_client, f"/admin/personas/{persona.id}/editar", {"nombre": "Ana María", "correo": "ANA.M@example.cl"})
    assert saved.headers["Location"] == f"/admin/personas/{persona.id}"
    page = await follow(admin_client, saved)
    assert "Se guardaron los cambios" in text(page) and "Ana María" in text(page)
    assert (await repos.personas.get(persona.id)).correo == "ana.m@example.cl"

    confirm = await admin_client.get(f"/admin/personas/{persona.id}/borrar")
    assert confirm.status_code == 200 and "¿Seguro que desea borrar" in text(confirm)
    assert (await repos.personas.count()) == 1  # the GET only asks
    deleted = await post_form(admin_client, f"/admin/personas/{persona.id}/borrar", {})
    assert deleted.headers["Location"] == "/admin/personas/"
    listing = await follow(admin_client, deleted)
    assert "Se borró la persona Ana María <ana.m@example.cl>." in text(listing)
    assert (await admin_client.get(f"/admin/personas/{persona.id}")).status_code == 404


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"nombre": "", "correo": "a@example.cl"}, "nombre", "Este campo es obligatorio."),
        ({"nombre": "   ", "correo": "a@example.cl"}, "nombre", "Este campo es obligatorio."),
        ({"nombre": "Ana", "correo": ""}, "correo", "Este campo es obligatorio."),
        ({"nombre": "Ana", "correo": "no-es-un-correo"}, "correo", "Ingrese un correo electrónico válido"),
        ({"nombre": "Ana", "correo": "ana@"}, "correo", "Ingrese un correo electrónico válido"),
        ({"nombre": "A" * 121, "correo": "a@example.cl"}, "nombre", "120"),
        ({"nombre": "Ana\x7f", "correo": "a@example.cl"}, "nombre", "caracteres de control"),  # Tornado blanks \x00-\x1f itself
    ],
)
async def test_persona_validation_messages(admin_client, repos, data, field, message):
    response = await post_form(admin_client, "/admin/personas/nuevo", data)
    assert response.status_code == 400
    assert message in field_error(response, field)
    other = "correo" if field == "nombre" else "nombre"
    assert field_error(response, other) == ""
    if data["correo"]:
        assert field_value(response, "correo") == data["correo"]
    assert await repos.personas.count() == 0


async def test_duplicate_correo_is_shown_beside_the_field_with_the_users_values(admin_client, repos, ana):
    response = await post_form(admin_client, "/admin/personas/nuevo", {"nombre": "Otra Ana", "correo": "ANA@example.cl"})
    assert response.status_code == 400
    assert field_error(response, "correo") == "Ya existe una persona con ese correo electrónico. Ver la persona Ana Pérez"
    assert f'<a href="/admin/personas/{ana.id}">Ver la persona Ana Pérez</a>' in response.text  # a link to who has it
    assert field_value(response, "nombre") == "Otra Ana" and field_value(response, "correo") == "ANA@example.cl"

    beto = await repos.personas.create(nombre="Beto", correo="beto@example.cl")
    edit = await post_form(admin_client, f"/admin/personas/{beto.id}/editar", {"nombre": "Beto B.", "correo": "ana@example.cl"})
    assert edit.status_code == 400
    assert field_error(edit, "correo") == "Ya existe una persona con ese correo electrónico. Ver la persona Ana Pérez"
    assert field_value(edit, "nombre") == "Beto B."
    assert await repos.personas.get(beto.id) == beto


async def test_persona_detail_lists_her_vehicles_and_delete_is_refused_naming_them(admin_client, repos, ana, auto):
    await repos.vehiculos.create(placa_patente="ZZTT99", marca="Kia", color="Azul", persona_id=ana.id)
    await repos.vehiculos.create(placa_patente="AAAA11", marca="Kia", color="Azul", persona_id=ana.id)  # stored last, sorted first
    otro = await repos.personas.create(nombre="Otro Dueño", correo="otro.dueno@example.cl")
    await repos.vehiculos.create(placa_patente="OTRO12", marca="Fiat", color="Gris", persona_id=otro.id)  # not hers
    detail = await admin_client.get(f"/admin/personas/{ana.id}")
    assert re.findall(r"AAAA11|BBCD12|ZZTT99|OTRO12", text(detail)) == ["AAAA11", "BBCD12", "ZZTT99"]
    assert "Toyota" in text(detail)
    assert f'/admin/vehiculos/{auto.id}"' in detail.text

    refused = await post_form(admin_client, f"/admin/personas/{ana.id}/borrar", {})
    assert refused.status_code == 409
    assert "todavía tiene 3 vehículos a su nombre: AAAA11, BBCD12, ZZTT99" in text(refused)
    assert (await repos.personas.get(ana.id)).n_vehiculos == 3


async def test_persona_list_search_and_paging(admin_client, repos):
    for i in reversed(range(25)):  # stored out of order: the list sorts by name
        await repos.personas.create(nombre=f"Persona {i:02d}", correo=f"p{i:02d}@example.cl")
    await repos.personas.create(nombre="Zoe Única", correo="zoe@otro.cl")

    first = await admin_client.get("/admin/personas/")
    assert "26 personas · página 1 de 2" in text(first)
    assert "Persona 00" in text(first) and "Persona 19" in text(first) and "Persona 20" not in text(first)
    second_link = re.search(r'<a href="(\?[^"]+)" aria-label="Página 2">', first.text).group(1).replace("&amp;", "&")
    second = await admin_client.get("/admin/personas/" + second_link)
    assert "Persona 20" in text(second) and "Zoe Única" in text(second) and "Persona 19" not in text(second)
    assert "página 2 de 2" in text(second)
    for bad in ("0", "-1", "abc", "99999999999", "²", "1.5"):  # not a page: the first one is shown
        shown = await admin_client.get(f"/admin/personas/?pagina={bad}")
        assert shown.status_code == 200, bad
        assert "página 1 de 2" in text(shown) and "Persona 00" in text(shown) and "Persona 20" not in text(shown), bad

    found = await admin_client.get("/admin/personas/", params={"q": "OTRO.CL"})
    assert "1 persona para «OTRO.CL»" in text(found) and "Zoe Única" in text(found)
    assert "Persona 00" not in text(found)
    assert "Zoe Única" in text(await admin_client.get("/admin/personas/", params={"q": "unica zo"}))  # accents, case, order aside
    paged = await admin_client.get("/admin/personas/", params={"q": "persona", "pagina": "2"})
    assert "Persona 20" in text(paged)
    assert "q=persona" in re.search(r'<a href="([^"]+)" aria-label="Primera página">', paged.text).group(1)  # paging keeps the search
    none = await admin_client.get("/admin/personas/", params={"q": "(nadie"})
    assert none.status_code == 200 and "0 personas" in text(none)


async def test_text_fields_are_shown_escaped(admin_client, repos):
    script = "<script>alert(1)</script>"
    created = await post_form(admin_client, "/admin/personas/nuevo", {"nombre": script, "correo": "x@example.cl"})
    detail = await follow(admin_client, created)  # flash message and page both name her
    assert script not in detail.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail.text
    listing = await admin_client.get("/admin/personas/", params={"q": script})
    assert script not in listing.text and "&lt;script&gt;" in listing.text


# -- vehículos ---------------------------------------------------------------------------------


async def test_vehiculo_create_detail_edit_delete(admin_client, repos, ana):
    beto = await repos.personas.create(nombre="Beto Díaz", correo="beto@example.cl")
    new = await admin_client.get(f"/admin/vehiculos/nuevo?persona={ana.id}")
    assert field_value(new, "propietario") == "ana@example.cl"  # pre-filled from her page

    created = await post_form(
        admin_client, "/admin/vehiculos/nuevo", {"placa_patente": "bb-cd 12", "marca": "Toyota", "color": "Rojo", "propietario": "ANA@example.cl"}
    )
    [vehiculo] = await repos.vehiculos.list_by_persona(ana.id)
    assert vehiculo.placa_patente == "BBCD12"
    detail = await follow(admin_client, created)
    assert "Se creó el vehículo BBCD12." in text(detail)
    assert "Ana Pérez" in text(detail) and "ana@example.cl" in text(detail)
    assert f'/admin/personas/{ana.id}"' in detail.text

    edit = await admin_client.get(f"/admin/vehiculos/{vehiculo.id}/editar")
    assert field_value(edit, "placa_patente") == "BBCD12" and field_value(edit, "propietario") == "ana@example.cl"
    moved = await post_form(
        admin_client,
        f"/admin/vehiculos/{vehiculo.id}/editar",
        {"placa_patente": "BBCD12", "marca": "Toyota", "color": "Verde", "propietario": "beto@example.cl"},
    )
    page = await follow(admin_client, moved)
    assert "Se guardaron los cambios" in text(page) and "Beto Díaz" in text(page) and "Verde" in text(page)
    assert (await repos.personas.get(ana.id)).n_vehiculos == 0
    assert (await repos.personas.get(beto.id)).n_vehiculos == 1

    confirm = await admin_client.get(f"/admin/vehiculos/{vehiculo.id}/borrar")
    assert "¿Seguro que desea borrar el vehículo BBCD12" in text(confirm)
    deleted = await post_form(admin_client, f"/admin/vehiculos/{vehiculo.id}/borrar", {})
    listing = await follow(admin_client, deleted)
    assert "Se borró el vehículo BBCD12." in text(listing)
    assert (await repos.personas.get(beto.id)).n_vehiculos == 0


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"placa_patente": ""}, "placa_patente", "Este campo es obligatorio."),
        ({"placa_patente": " - "}, "placa_patente", "Este campo es obligatorio."),
        ({"placa_patente": "AB1"}, "placa_patente", "La placa patente debe tener entre 5 y 8 letras o números"),
        ({"placa_patente": "ABCDEFGHI"}, "placa_patente", "La placa patente debe tener entre 5 y 8 letras o números"),
        ({"placa_patente": "ÑAND12"}, "placa_patente", "La placa patente debe tener entre 5 y 8 letras o números"),
        ({"placa_patente": "AB_C12"}, "placa_patente", "La placa patente debe tener entre 5 y 8 letras o números"),
        ({"marca": ""}, "marca", "Este campo es obligatorio."),
        ({"color": " "}, "color", "Este campo es obligatorio."),
        ({"propietario": ""}, "propietario", "Este campo es obligatorio."),
        ({"propietario": "ana"}, "propietario", "Ingrese un correo electrónico válido"),
        ({"propietario": "nadie@example.cl"}, "propietario", "No existe una persona con ese correo. Revise lo escrito o regístrela"),
    ],
)
async def test_vehiculo_validation_messages(admin_client, repos, ana, changes, field, message):
    data = {"placa_patente": "BBCD12", "marca": "Toyota", "color": "Rojo", "propietario": "ana@example.cl", **changes}
    response = await post_form(admin_client, "/admin/vehiculos/nuevo", data)
    assert response.status_code == 400
    assert message in field_error(response, field)
    assert field_value(response, "marca") == data["marca"]
    assert field_value(response, "propietario") == data["propietario"]
    assert await repos.vehiculos.count() == 0
    assert (await repos.personas.get(ana.id)).n_vehiculos == 0


async def test_duplicate_plate_is_shown_beside_the_field(admin_client, repos, ana, auto):
    response = await post_form(
        admin_client, "/admin/vehiculos/nuevo", {"placa_patente": "bb cd-12", "marca": "Fiat", "color": "Azul", "propietario": "ana@example.cl"}
    )
    assert response.status_code == 400
    assert field_error(response, "placa_patente") == "Ya existe un vehículo con esa placa patente. Ver el vehículo BBCD12"
    assert f'<a href="/admin/vehiculos/{auto.id}">Ver el vehículo BBCD12</a>' in response.text
    assert field_value(response, "marca") == "Fiat" and field_value(response, "color") == "Azul"
    assert (await repos.personas.get(ana.id)).n_vehiculos == 1


async def test_editing_a_vehicle_to_an_unknown_owner_is_refused(admin_client, repos, ana, auto):
    response = await post_form(
        admin_client,
        f"/admin/vehiculos/{auto.id}/editar",
        {"placa_patente": "BBCD12", "marca": "Toyota", "color": "Rojo", "propietario": "fantasma@example.cl"},
    )
    assert response.status_code == 400
    assert "No existe una persona con ese correo" in field_error(response, "propietario")
    assert (await repos.vehiculos.get(auto.id)).persona_id == ana.id


async def test_vehicle_and_officer_with_infracciones_cannot_be_deleted(admin_client, repos, auto, oficial):
    await record_infraction(repos, numero=42, placa="BBCD12")
    refused = await post_form(admin_client, f"/admin/vehiculos/{auto.id}/borrar", {})
    assert refused.status_code == 409
    assert "No se puede borrar el vehículo BBCD12: tiene 1 infracción registrada, que son registros legales" in text(refused)
    refused = await post_form(admin_client, f"/admin/oficiales/{oficial.id}/borrar", {})
    assert refused.status_code == 409
    assert "Puede desactivarlo en su lugar" in text(refused)
    assert await repos.vehiculos.get(auto.id)
    assert await repos.oficiales.get(oficial.id)


async def test_vehicle_list_search_and_paging(admin_client, repos, ana):
    await repos.vehiculos.create(placa_patente="ZZXX99", marca="Subaru", color="Negro", persona_id=ana.id)
    for i in reversed(range(22)):  # stored out of order: the list sorts by plate
        await repos.vehiculos.create(placa_patente=f"AAAA{i:02d}", marca="Fiat", color="Gris", persona_id=ana.id)
    first = await admin_client.get("/admin/vehiculos/")
    assert "23 vehículos · página 1 de 2" in text(first)
    plates = re.findall(r"AAAA\d\d|ZZXX99", text(first))
    assert plates == [f"AAAA{i:02d}" for i in range(20)], plates
    second = await admin_client.get("/admin/vehiculos/?pagina=2")
    assert re.findall(r"AAAA\d\d|ZZXX99", text(second)) == ["AAAA20", "AAAA21", "ZZXX99"]
    assert "página 2 de 2" in text(second)
    assert "ZZXX99" in text(await admin_client.get("/admin/vehiculos/", params={"q": "zz-xx"}))
    found = await admin_client.get("/admin/vehiculos/", params={"q": "subaru"})
    assert "1 vehículo para «subaru»" in text(found) and "AAAA00" not in text(found)
    assert f'<a href="/admin/personas/{ana.id}">{ana.nombre}</a>' in found.text  # each row names its owner


# -- oficiales ---------------------------------------------------------------------------------


async def test_oficial_create_detail_edit_deactivate_delete(admin_client, repos):
    created = await post_form(admin_client, "/admin/oficiales/nuevo", {"nombre": "Juan Soto", "numero": "42", "activo": "y"})
    oficial = await repos.oficiales.get_by_numero(42)
    detail = await follow(admin_client, created)
    assert "Se creó el oficial N° 42 (Juan Soto)." in text(detail)
    assert "Juan Soto" in text(detail) and "Activo" in text(detail)

    edit = await admin_client.get(f"/admin/oficiales/{oficial.id}/editar")
    assert field_value(edit, "numero") == "42" and "checked" in parse(edit.text).controls["activo"]
    saved = await post_form(admin_client, f"/admin/oficiales/{oficial.id}/editar", {"nombre": "Juan Soto R.", "numero": "43", "activo": "y"})
    assert "Se guardaron los cambios" in text(await follow(admin_client, saved))
    assert (await repos.oficiales.get(oficial.id)).numero == 43

    await TokenService(make_settings().jwt_secret).issue(repos, numero=43)
    off = await post_form(admin_client, f"/admin/oficiales/{oficial.id}/activacion", {"activo": "0"})
    assert off.status_code == 303
    page = await follow(admin_client, off)
    assert "Se desactivó al oficial N° 43; sus tokens quedaron revocados." in text(page)
    assert "Inactivo" in text(page) and "revocado" in text(page)
    assert (await repos.oficiales.collection.find_one({"numero": 43}))["token_jtis"] == []
    # Unticking "activo" in the edit form deactivates too.
    await repos.oficiales.set_active(oficial.id, True)
    await post_form(admin_client, f"/admin/oficiales/{oficial.id}/editar", {"nombre": "Juan Soto R.", "numero": "43"})
    assert (await repos.oficiales.get(oficial.id)).activo is False

    deleted = await post_form(admin_client, f"/admin/oficiales/{oficial.id}/borrar", {})
    assert "Se borró el oficial N° 43 (Juan Soto R.)." in text(await follow(admin_client, deleted))
    assert await repos.oficiales.count() == 0


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"nombre": ""}, "nombre", "Este campo es obligatorio."),
        ({"nombre": "  "}, "nombre", "Este campo es obligatorio."),
        ({"numero": ""}, "numero", "Este campo es obligatorio."),
        ({"numero": "abc"}, "numero", "entero"),
        ({"numero": "4.5"}, "numero", "entero"),
        ({"numero": "0"}, "numero", "Debe ser un número entero positivo."),
        ({"numero": "-3"}, "numero", "Debe ser un número entero positivo."),
        ({"numero": str(2**60)}, "numero", "Debe ser un número entero positivo."),
    ],
)
async def test_oficial_validation_messages(admin_client, repos, changes, field, message):
    data = {"nombre": "Juan Soto", "numero": "42", "activo": "y", **changes}
    response = await post_form(admin_client, "/admin/oficiales/nuevo", data)
    assert response.status_code == 400
    assert message in field_error(response, field)
    assert field_value(response, "numero") == data["numero"]
    assert field_value(response, "nombre") == data["nombre"].strip()
    assert await repos.oficiales.count() == 0


async def test_duplicate_numero_is_shown_beside_the_field(admin_client, repos, oficial):
    response = await post_form(admin_client, "/admin/oficiales/nuevo", {"nombre": "Pedro", "numero": "42", "activo": "y"})
    assert response.status_code == 400
    assert field_error(response, "numero") == "Ya existe un oficial con ese número. Ver el oficial N° 42 (Juan Soto)"
    assert f'<a href="/admin/oficiales/{oficial.id}">' in response.text
    assert field_value(response, "nombre") == "Pedro" and field_value(response, "numero") == "42"
    assert await repos.oficiales.count() == 1


async def test_oficial_list_search_and_paging(admin_client, repos):
    for i in range(1, 24):
        await repos.oficiales.create(nombre=f"Oficial {i:02d}", numero=100 + i)
    first = await admin_client.get("/admin/oficiales/")
    assert "23 oficiales · página 1 de 2" in text(first)
    assert "Oficial 20" in text(first) and "Oficial 21" not in text(first)  # 20 a page
    second = await admin_client.get("/admin/oficiales/?page=2")
    assert "Oficial 23" in text(second) and "Oficial 01" not in text(second)
    found = await admin_client.get("/admin/oficiales/", params={"q": "105"})
    assert "Oficial 05" in text(found) and "1 oficial para «105»" in text(found)


# -- error pages -------------------------------------------------------------------------------


async def test_unknown_pages_and_records_are_404_pages(admin_client, repos):
    missing = str(ObjectId())
    for url in (
        "/admin/no-existe",
        "/admin/personas/no-es-un-id",
        "/admin/personas/no-es-un-id/editar",
        "/admin/personas/no-es-un-id/borrar",
        f"/admin/personas/{missing}",
        f"/admin/vehiculos/{missing}/editar",
        "/admin/vehiculos/123",
        f"/admin/oficiales/{missing}/borrar",
        "/admin/oficiales/%00",
        "/no-existe",
    ):
        response = await admin_client.get(url)
        assert response.status_code == 404, url
        assert response.headers["Content-Type"].startswith("text/html"), url
        assert "No encontrado" in text(response), url
    for url in (f"/admin/personas/{missing}/editar", "/admin/vehiculos/xyz/borrar", f"/admin/oficiales/{missing}/activacion"):
        response = await post_form(admin_client, url, {"nombre": "X", "correo": "x@example.cl", "activo": "1"})
        assert response.status_code == 404, url


class _Boom(BaseHandler):
    async def get(self) -> None:
        raise RuntimeError("detalle interno secreto")


async def test_unexpected_error_is_a_500_page_with_a_request_id_and_no_traceback(admin_client, running_app, caplog):
    running_app.app.add_handlers(r".*", [(r"/admin/prueba-de-error", _Boom)])
    with caplog.at_level(logging.ERROR, logger="transito.http"):
        response = await admin_client.get("/admin/prueba-de-error")
    assert response.status_code == 500
    request_id = response.headers["X-Request-ID"]
    assert request_id and request_id in text(response)
    assert "Ocurrió un error inesperado" in text(response)
    assert "Traceback" not in response.text and "detalle interno secreto" not in response.text
    [record] = [r for r in caplog.records if request_id in r.getMessage()]
    assert record.exc_info and "detalle interno secreto" in str(record.exc_info[1])


async def test_unknown_admin_url_is_a_404_page_without_a_session_too(client):
    response = await client.get("/admin/personas/nuevo/extra/extra")
    assert response.status_code == 404
    assert "La página o el registro solicitado no existe." in text(response)


async def test_tornado_http_error_from_a_handler_keeps_its_status(admin_client, running_app):
    class _NotAllowed(BaseHandler):
        def get(self) -> None:
            raise tornado.web.HTTPError(405)

    running_app.app.add_handlers(r".*", [(r"/admin/prueba-405", _NotAllowed)])
    response = await admin_client.get("/admin/prueba-405")
    assert response.status_code == 405 and "Método no permitido" in text(response)
