"""The offence catalogue in the admin over HTTP: a new code, a new version, retiring a code, the
list's search and filters, the history; every refusal changes nothing, and a version once written
is never changed (an infraction keeps the one it was issued under). The shipped catalogue's loader
is idempotent and audited."""

from __future__ import annotations

import ast
import datetime as dt
import re
from decimal import Decimal

import pytest

from domain import audit
from domain.clock import FixedClock
from domain.errors import NotFound
from repositories import Repositories, catalogo
from services import initial_catalogue
from tests.helpers.api import jti_of, make_world
from tests.helpers.app import ADMIN_USERNAME, ROOT, post_form

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # 12:00 in Santiago
ZONE_OFFSET = dt.timedelta(hours=-3)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
async def repos(db, clock) -> Repositories:
    return Repositories.over(db, clock=clock)


def local(when: dt.datetime) -> str:
    """A UTC time as the admin's form writes it (Santiago, UTC-3 in November)."""
    return (when + ZONE_OFFSET).strftime("%Y-%m-%dT%H:%M")


def code_form(**changes: str) -> dict[str, str]:
    return {
        "codigo": "vel-10", "descripcion": "Exceder en más de 10 km/h la velocidad máxima en zona urbana.", "gravedad": "grave",
        "multa_min": "", "multa_max": "", "articulo": "art. 200 N° 1", "vigente_desde": local(NOW), **changes,
    }


def codes(response) -> list[str]:
    return re.findall(r'href="/admin/catalogo/([A-Z0-9.-]+)"', response.text)


async def create_code(admin_client, **changes: str):
    return await post_form(admin_client, "/admin/catalogo/nuevo", code_form(**changes), page="/admin/catalogo/nuevo")


async def test_a_new_code_takes_its_severity_fine_and_is_in_the_trail(admin_client, repos):
    response = await create_code(admin_client)
    assert response.status_code == 302 and response.headers["location"] == "/admin/catalogo/VEL-10"
    [version] = await repos.catalogo.versions("VEL-10")
    assert (version.version, version.gravedad, version.multa_min_utm, version.multa_max_utm) == (1, "grave", Decimal("1"), Decimal("1.5"))
    assert version.vigente_desde == NOW.replace(second=0)
    page = await admin_client.get("/admin/catalogo/VEL-10")
    assert page.status_code == 200
    assert "Exceder en más de 10 km/h" in page.text and "1 a 1,5 UTM" in page.text and "Vigente" in page.text
    [entry] = await repos.auditoria.history("catalogo", await repos.catalogo.document_ids("VEL-10"))
    assert (entry.accion, entry.actor_nombre) == (audit.CREAR, ADMIN_USERNAME)


@pytest.mark.parametrize(
    "changes,field,message",
    [
        ({"codigo": "vel 10"}, "codigo", "letras, números, puntos o guiones"),
        ({"codigo": ""}, "codigo", "obligatorio"),
        ({"descripcion": "   "}, "descripcion", "obligatorio"),
        ({"gravedad": "terrible"}, "gravedad", ""),
        ({"multa_min": "2", "multa_max": "1"}, "multa_min", "no mayor que la máxima"),
        ({"multa_min": "0.001"}, "multa_min", ""),
        ({"multa_min": "uno"}, "multa_min", ""),
        ({"vigente_desde": ""}, "vigente_desde", "Indique la fecha y hora"),
        ({"vigente_desde": "mañana"}, "vigente_desde", ""),
        ({"descripcion": "x" * 301}, "descripcion", ""),
    ],
)
async def test_a_refused_new_code_says_why_and_writes_nothing(admin_client, repos, changes, field, message):
    response = await create_code(admin_client, **changes)
    assert response.status_code == 400
    assert f'id="{field}-error"' in response.text and message in response.text
    assert await repos.catalogo.collection.count_documents({}) == 0
    assert await repos.auditoria.collection.count_documents({"coleccion": "catalogo"}) == 0


async def test_a_code_that_exists_is_not_created_again(admin_client, repos):
    assert (await create_code(admin_client)).status_code == 302
    again = await create_code(admin_client, descripcion="Otra cosa.")
    assert again.status_code == 400 and "El código VEL-10 ya existe." in again.text
    [version] = await repos.catalogo.versions("VEL-10")
    assert version.descripcion.startswith("Exceder")


async def test_a_new_version_applies_from_its_date_and_leaves_the_old_one_to_its_infractions(admin_client, repos, clock):
    assert (await create_code(admin_client, vigente_desde=local(NOW - dt.timedelta(days=30)))).status_code == 302
    world = await make_world(repos)
    before = await repos.catalogo.collection.find_one({"codigo": "VEL-10"})

    form = await admin_client.get("/admin/catalogo/VEL-10/version")
    assert form.status_code == 200 and "Exceder en más de 10 km/h" in form.text  # starts from the version in force
    too_soon = await post_form(
        admin_client, "/admin/catalogo/VEL-10/version",
        {"descripcion": "Exceder la velocidad máxima.", "gravedad": "gravisima", "multa_min": "", "multa_max": "", "articulo": "art. 199", "vigente_desde": local(NOW)},
        page="/admin/catalogo/VEL-10/version",
    )
    assert too_soon.status_code == 400 and "rige desde una fecha futura" in too_soon.text
    assert len(await repos.catalogo.versions("VEL-10")) == 1

    starts = NOW + dt.timedelta(days=1)
    changed = await post_form(
        admin_client, "/admin/catalogo/VEL-10/version",
        {"descripcion": "Exceder la velocidad máxima.", "gravedad": "gravisima", "multa_min": "", "multa_max": "", "articulo": "art. 199", "vigente_desde": local(starts)},
        page="/admin/catalogo/VEL-10/version",
    )
    assert changed.status_code == 302
    assert await repos.catalogo.collection.find_one({"_id": before["_id"]}) == before  # version 1 untouched

    async def issue(at: dt.datetime) -> dict:
        infraccion, _ = await repos.infracciones.record(
            numero_oficial=world.oficial.numero, jti=jti_of(world.token), placa_patente="BBCD12", timestamp=at, comentarios="", codigo="VEL-10",
        )
        return infraccion.infraccion

    assert (await issue(NOW - dt.timedelta(hours=1)))["version"] == 1
    clock.set(starts + dt.timedelta(hours=2))  # the cache is stale by then, so it reads the new version
    old_time, new_time = await issue(starts - dt.timedelta(minutes=1)), await issue(starts + dt.timedelta(minutes=1))
    assert (old_time["version"], old_time["gravedad"]) == (1, "grave")
    assert (new_time["version"], new_time["gravedad"], new_time["multa_utm"]) == (2, "gravisima", {"min": "1.5", "max": "3"})
    entries = await repos.auditoria.history("catalogo", await repos.catalogo.document_ids("VEL-10"))
    assert [e.accion for e in entries] == [audit.NUEVA_VERSION, audit.CREAR]


async def test_retiring_a_code_stops_it_from_its_date(admin_client, repos, clock):
    assert (await create_code(admin_client, vigente_desde=local(NOW - dt.timedelta(days=30)))).status_code == 302
    world = await make_world(repos)
    page = await admin_client.get("/admin/catalogo/VEL-10/retirar")
    assert page.status_code == 200 and "Deja de regir desde" in page.text
    ends = NOW + dt.timedelta(days=2)
    retired = await post_form(admin_client, "/admin/catalogo/VEL-10/retirar", {"vigente_desde": local(ends)}, page="/admin/catalogo/VEL-10/retirar")
    assert retired.status_code == 302
    detail = await admin_client.get("/admin/catalogo/VEL-10")
    assert "deja de regir el 27-11-2026 12:00" in detail.text

    again = await post_form(admin_client, "/admin/catalogo/VEL-10/retirar", {"vigente_desde": local(ends)}, page="/admin/catalogo/VEL-10/retirar")
    assert again.status_code == 400 and "ya está retirado" in again.text

    listed = await admin_client.get("/admin/catalogo/", params={"estado": "vigente"})
    assert codes(listed) == ["VEL-10"] and "deja de regir el 27-11-2026 12:00" in listed.text
    history = await admin_client.get("/admin/catalogo/VEL-10/historial")
    assert history.status_code == 200 and "Retiro del catálogo" in history.text and "Creación" in history.text

    clock.set(ends + dt.timedelta(hours=1))  # (the administrator's session has ended by then)
    assert (await repos.catalogo.get("VEL-10")).state == "retirado"
    with pytest.raises(NotFound) as refused:
        await repos.infracciones.record(
            numero_oficial=world.oficial.numero, jti=jti_of(world.token), placa_patente="BBCD12", timestamp=ends + dt.timedelta(minutes=5),
            comentarios="", codigo="VEL-10",
        )
    assert refused.value.field == "codigo"
    infraccion, _ = await repos.infracciones.record(  # an infraction from before the retirement still takes it
        numero_oficial=world.oficial.numero, jti=jti_of(world.token), placa_patente="BBCD12", timestamp=ends - dt.timedelta(minutes=5),
        comentarios="", codigo="VEL-10",
    )
    assert infraccion.infraccion["codigo"] == "VEL-10"


async def test_the_list_searches_without_regard_to_case_or_accents_and_filters(admin_client, repos):
    assert await initial_catalogue.load(repos, dt.timezone(ZONE_OFFSET)) == 35
    everything = await admin_client.get("/admin/catalogo/")
    assert everything.status_code == 200 and "35 códigos" in everything.text
    assert len(codes(everything)) == 35

    current = {entry.codigo: entry.shown for entry in await repos.catalogo.entries()}
    searched = codes(await admin_client.get("/admin/catalogo/", params={"q": "VEHICULO placa"}))
    assert searched == [c for c, v in current.items() if "vehículo" in v.descripcion.lower() and "placa" in v.descripcion.lower()]
    assert len(searched) >= 2
    leves = codes(await admin_client.get("/admin/catalogo/", params={"gravedad": "leve"}))
    assert leves == [c for c, v in current.items() if v.gravedad == "leve"] and leves
    nothing = await admin_client.get("/admin/catalogo/", params={"q": "zzzz"})
    assert codes(nothing) == [] and "Ningún código cumple estos filtros" in nothing.text
    bad = await admin_client.get("/admin/catalogo/", params={"q": "x" * 101})
    assert bad.status_code == 400


async def test_the_shipped_catalogue_loads_once_and_is_in_the_trail(repos):
    zone = dt.timezone(ZONE_OFFSET)
    assert await initial_catalogue.load(repos, zone) == 35
    assert await initial_catalogue.load(repos, zone) == 0
    assert await repos.catalogo.collection.count_documents({}) == 35
    assert await repos.auditoria.collection.count_documents({"coleccion": "catalogo", "accion": audit.CREAR}) == 35
    versions = initial_catalogue.shipped_versions(zone)
    for version in versions:  # every shipped fine is within its severity's range in the law
        from domain.catalogo import SEVERITIES

        severity = SEVERITIES[version.gravedad]
        assert severity.min_utm <= version.multa_min_utm <= version.multa_max_utm <= severity.max_utm, version.codigo
        assert version.articulo, version.codigo


def test_nothing_in_the_application_edits_or_deletes_a_version():
    source = (ROOT / "repositories" / "catalogo.py").read_text()
    calls = {node.attr for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Attribute)}
    writes = {name for name in calls if name.startswith(("update", "delete", "replace", "find_one_and", "drop", "bulk_write", "remove"))}
    assert writes == set(), writes
    for path in (ROOT / "repositories").rglob("*.py"):
        if path.name != "catalogo.py":
            assert f'"{catalogo.COLLECTION}"' not in path.read_text(), path


async def test_the_catalogue_pages_need_an_administrator(client):
    for url in ("/admin/catalogo/", "/admin/catalogo/nuevo", "/admin/catalogo/VEL-10", "/admin/catalogo/VEL-10/version", "/admin/catalogo/VEL-10/retirar"):
        response = await client.get(url)
        assert response.status_code == 302 and response.headers["location"].startswith("/admin/login"), url


async def test_an_unknown_code_is_a_404_page(admin_client):
    response = await admin_client.get("/admin/catalogo/NO-EXISTE")
    assert response.status_code == 404 and "No existe el código NO-EXISTE" in response.text


async def test_an_unknown_code_is_refused_on_the_code_field(repos):
    with pytest.raises(NotFound) as refused:
        await repos.catalogo.versions("NO-EXISTE")
    assert refused.value.field == "codigo"


async def test_loading_the_catalogue_again_adds_the_versions_after_those_it_knows(repos):
    versions = initial_catalogue.shipped_versions(dt.timezone(ZONE_OFFSET))
    assert await repos.catalogo.load(versions[:1]) == 1
    assert await repos.catalogo.load(versions[:3]) == 2
    assert await repos.catalogo.collection.count_documents({}) == 3


async def test_a_code_s_history_is_that_of_its_own_versions(repos):
    zone = dt.timezone(ZONE_OFFSET)
    first, second = initial_catalogue.shipped_versions(zone)[:2]
    await repos.catalogo.load([first, second])
    [entry] = await repos.auditoria.history("catalogo", await repos.catalogo.document_ids(first.codigo))
    assert entry.despues["codigo"] == first.codigo
