"""Issue 13 over HTTP: the optional ``codigo`` of cargar_infraccion against the versioned offence
catalogue (in force at the infraction's own time, copied onto it, never edited afterwards), the
officers' app's ``/api/yo`` and ``/api/catalogo``, what the public report shows of the offence, and
the catalogue cache's cost (a load with a code still takes at most 3 commands).

Time is a ``FixedClock`` the test moves (tests/helpers/clocked.py): catalogue changes start at the
earliest ``domain.catalogo.NOTICE`` after they are written, so seeing one apply means moving the
clock past it."""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from bson import ObjectId
from pymongo.errors import ConnectionFailure

from domain import catalogo, rules
from domain.errors import Conflict, InvalidValue
from repositories import Repositories
from repositories import catalogo as catalogo_repository
from repositories.catalogo import CatalogCache
from services import initial_catalogue
from services.database import mongo_client
from tests.helpers.api import cargar, check_contract, make_world
from tests.helpers.app import TRANSIENT_ERROR, assert_a_failed_commit_changes_nothing, client_meeting_fail_point
from tests.helpers.clocked import CODE, DESCRIPTION, Clocked, add_code, clocked_app, start_of_test
from tests.helpers.commands import Recorder
from tests.helpers.load import until

# What the specification's three-field body answers, and nothing more.
SPEC_KEYS = {"id", "placa_patente", "timestamp", "comentarios", "vehiculo", "oficial", "registrada_en"}
V1_OFFENCE = {"codigo": CODE, "descripcion": DESCRIPTION, "gravedad": "gravisima", "multa_utm": {"min": "1.5", "max": "3"}}


@pytest.fixture
async def app(db):
    async with clocked_app(db) as running:
        yield running


async def stored(db, infraccion_id: str) -> dict:
    return await db["infracciones"].find_one({"_id": ObjectId(infraccion_id)})


async def officer_counter(db) -> int:
    return (await db["oficiales"].find_one({"numero": 42}))["n_infracciones"]


# -- codigo: in force, copied ---------------------------------------------------------------------


async def test_a_code_in_force_is_copied_onto_the_infraction(app: Clocked, db):
    response = await app.cargar(codigo="  t-1 ", comentarios="Cruzó con luz roja.")  # as typed: trimmed, upper-cased
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["infraccion"] == V1_OFFENCE
    assert "ubicacion" not in body
    assert set(body) == SPEC_KEYS | {"infraccion"}
    doc = await stored(db, body["id"])
    # The copy names the version it was issued under, with the article; the fine as exact decimals in text.
    assert doc["infraccion"] == {**V1_OFFENCE, "version": 1, "articulo": "Ley 18.290, art. 199"}


async def test_an_unknown_code_is_404_naming_the_field_and_costs_nothing(app: Clocked, db):
    response = await app.cargar(codigo="NO-EXISTE")
    assert response.status_code == 404, response.text
    problem = check_contract(response)
    assert problem["errors"] == [
        {"campo": "codigo", "mensaje": "El código NO-EXISTE no existe en el catálogo o no estaba vigente en la fecha de la infracción."}
    ]
    assert problem["detail"] == problem["errors"][0]["mensaje"]
    assert await db["infracciones"].count_documents({}) == 0
    assert await officer_counter(db) == 0  # resolved before the officer's counter is touched


async def test_two_offences_seen_at_once_without_a_key_are_two_infractions(app: Clocked, db):
    """An officer may cite two offences of one vehicle at the same moment (a red light and no seat
    belt); without an Idempotency-Key, only a load with the same code is a retry of the first."""
    await add_code(app.repos, "CINTURON-1", desde=app.clock.now() - dt.timedelta(days=30), descripcion="Sin cinturón.", gravedad="grave", multa=("1", "1.5"))
    when = app.ago(minutes=10)
    red_light = await app.cargar(timestamp=when, codigo=CODE)
    seat_belt = await app.cargar(timestamp=when, codigo="CINTURON-1")
    assert red_light.status_code == seat_belt.status_code == 200
    assert seat_belt.json()["id"] != red_light.json()["id"] and "Idempotent-Replayed" not in seat_belt.headers
    retry = await app.cargar(timestamp=when, codigo=CODE)
    assert retry.json()["id"] == red_light.json()["id"] and retry.headers["Idempotent-Replayed"] == "true"
    assert await db["infracciones"].count_documents({}) == 2
    assert await officer_counter(db) == 2


async def test_a_code_counts_from_the_instant_it_comes_into_force(app: Clocked, db):
    starts = app.clock.now() - dt.timedelta(minutes=20)
    await add_code(app.repos, "NUEVO-1", desde=starts, descripcion="Estacionar en un paso de cebra.", gravedad="grave", multa=("1", "1.5"))
    app.clock.advance(seconds=6)  # past the cache's reload of an unknown code (CatalogCache.MISS_RELOAD)
    before = await app.cargar(codigo="NUEVO-1", timestamp=app.at(starts - dt.timedelta(seconds=1)))
    exactly = await app.cargar(codigo="NUEVO-1", timestamp=app.at(starts))
    assert before.status_code == 404 and check_contract(before)["errors"][0]["campo"] == "codigo"
    assert exactly.status_code == 200, exactly.text
    assert exactly.json()["infraccion"]["descripcion"] == "Estacionar en un paso de cebra."


async def test_a_code_not_yet_in_force_is_404(app: Clocked, db):
    await add_code(app.repos, "FUTURO-1", desde=app.clock.now() + dt.timedelta(days=1))
    app.clock.advance(seconds=6)
    response = await app.cargar(codigo="FUTURO-1")
    assert response.status_code == 404
    assert check_contract(response)["errors"][0]["campo"] == "codigo"
    assert await db["infracciones"].count_documents({}) == 0


async def test_a_retired_code_is_404_after_its_retirement_and_valid_before_it(app: Clocked, db):
    t0 = app.clock.now()
    retirement = t0 + catalogo.NOTICE + dt.timedelta(minutes=1)
    await app.repos.catalogo.retire(CODE, desde=retirement)
    app.clock.advance(hours=1)
    after = await app.cargar(codigo=CODE, timestamp=app.at(retirement + dt.timedelta(minutes=1)))
    before = await app.cargar(codigo=CODE, timestamp=app.at(retirement - dt.timedelta(minutes=1)))
    assert after.status_code == 404
    assert check_contract(after)["errors"][0]["campo"] == "codigo"
    assert before.status_code == 200, before.text
    assert before.json()["infraccion"] == V1_OFFENCE
    assert (await stored(db, before.json()["id"]))["infraccion"]["version"] == 1


@pytest.mark.parametrize(
    "codigo,mensaje",
    [
        ("", "No puede estar vacío."),
        ("A" * 21, "Es demasiado largo."),
        (123, "Debe ser un texto."),
        (True, "Debe ser un texto."),
        (["T-1"], "Debe ser un texto."),
        ({"codigo": "T-1"}, "Debe ser un texto."),
        ("T 1", catalogo.CODE_MESSAGE),
        ("T/1", catalogo.CODE_MESSAGE),
        ("-T1", catalogo.CODE_MESSAGE),
        ("T-1\u0000", catalogo.CODE_MESSAGE),
        ("Ñ-1", catalogo.CODE_MESSAGE),
    ],
    # plain ids: mutmut selects tests by node id, and its fork server did not find these by their repr()
    ids=["empty", "too-long", "number", "bool", "list", "object", "space", "slash", "leading-dash", "nul", "enye"],
)
async def test_a_malformed_code_is_400_naming_the_field(app: Clocked, db, codigo, mensaje):
    response = await app.cargar(codigo=codigo)
    assert response.status_code == 400, response.text
    problem = check_contract(response)
    assert problem["errors"] == [{"campo": "codigo", "mensaje": mensaje}]
    assert await db["infracciones"].count_documents({}) == 0


# -- versions -------------------------------------------------------------------------------------


async def test_a_new_version_applies_from_its_date_and_old_infractions_keep_theirs(app: Clocked, db):
    t0 = app.clock.now()
    first = await app.cargar(codigo=CODE, timestamp=app.at(t0 - dt.timedelta(minutes=5)))
    assert first.status_code == 200, first.text

    change = t0 + dt.timedelta(hours=1)
    await app.repos.catalogo.add_version(
        codigo=CODE, descripcion="No respetar la luz roja (texto corregido).", gravedad="grave", multa_min=Decimal("1"),
        multa_max=Decimal("1.5"), articulo="Ley 18.290, art. 200", vigente_desde=change,
    )
    written_at = app.clock.now()
    # Written, but not in force yet: a load now still gets version 1.
    still_first = await app.cargar(codigo=CODE, timestamp=app.at(t0 - dt.timedelta(minutes=4)))
    assert still_first.json()["infraccion"] == V1_OFFENCE

    app.clock.advance(hours=2)
    just_before = await app.cargar(codigo=CODE, timestamp=app.at(change - dt.timedelta(seconds=1)))
    at_change = await app.cargar(codigo=CODE, timestamp=app.at(change))
    later = await app.cargar(codigo=CODE, timestamp=app.ago(minutes=1))
    v2 = {"codigo": CODE, "descripcion": "No respetar la luz roja (texto corregido).", "gravedad": "grave", "multa_utm": {"min": "1", "max": "1.5"}}
    assert just_before.json()["infraccion"] == V1_OFFENCE
    assert at_change.json()["infraccion"] == v2
    assert later.json()["infraccion"] == v2

    # The infractions issued under version 1 keep their copy: nothing rewrote them.
    for response in (first, still_first, just_before):
        assert (await stored(db, response.json()["id"]))["infraccion"] == {**V1_OFFENCE, "version": 1, "articulo": "Ley 18.290, art. 199"}
    assert (await stored(db, later.json()["id"]))["infraccion"]["version"] == 2
    # And both versions are there, version 1 as it was written.
    versions = await db["catalogo"].find({"codigo": CODE}, {"_id": 0, "creado_en": 0}).sort("version", 1).to_list(None)
    assert [(v["version"], v["descripcion"], v["gravedad"]) for v in versions] == [
        (1, DESCRIPTION, "gravisima"), (2, "No respetar la luz roja (texto corregido).", "grave")
    ]
    assert (await db["catalogo"].find_one({"codigo": CODE, "version": 2}))["creado_en"] == rules.to_millisecond(written_at)

    # The public report shows each infraction's offence as it was issued.
    report = await app.http.get("/api/generar_informe", params={"email": app.world.persona.correo})
    offences = {item["id"]: item["infraccion"] for item in report.json()["infracciones"]}
    assert offences[first.json()["id"]] == {"codigo": CODE, "descripcion": DESCRIPTION, "gravedad": "gravisima"}
    assert offences[later.json()["id"]] == {"codigo": CODE, "descripcion": "No respetar la luz roja (texto corregido).", "gravedad": "grave"}


async def test_a_retry_with_its_key_is_the_same_infraction_even_after_a_new_version(app: Clocked, db):
    """The retry resolves the code at the same timestamp, so it copies the same version and is
    recognised as the same load; the same key with another code is a different load: 409."""
    timestamp = app.ago(minutes=5)
    body = {"placa_patente": "BBCD12", "timestamp": timestamp, "codigo": CODE}
    key = {"Idempotency-Key": "reintento-con-codigo"}
    first = await cargar(app.http, app.world.token, body, **key)
    await add_code(app.repos, "OTRO-2", desde=app.clock.now() - dt.timedelta(days=1), descripcion="Otra infracción")
    await app.repos.catalogo.add_version(
        codigo=CODE, descripcion="Versión 2", gravedad="grave", multa_min=Decimal("1"), multa_max=Decimal("1.5"), articulo="",
        vigente_desde=app.clock.now() + catalogo.NOTICE,
    )
    app.clock.advance(hours=1)
    retry = await cargar(app.http, app.world.token, body, **key)
    other_code = await cargar(app.http, app.world.token, {**body, "codigo": "OTRO-2"}, **key)
    assert (first.status_code, retry.status_code) == (200, 200)
    assert retry.headers["Idempotent-Replayed"] == "true" and retry.json() == first.json()
    assert other_code.status_code == 409
    assert check_contract(other_code)["errors"][0]["campo"] == "Idempotency-Key"
    assert await db["infracciones"].count_documents({}) == 1


async def test_a_change_cannot_apply_to_the_past_or_within_the_notice(app: Clocked, db):
    """A version in force from a date already passed would change what infractions already issued
    should have copied, and one that starts before every process's cache has read it would be
    missed: both are refused, and nothing is written."""
    for start in (app.clock.now() - dt.timedelta(days=1), app.clock.now() + catalogo.NOTICE - dt.timedelta(seconds=1)):
        with pytest.raises(InvalidValue) as refused:
            await app.repos.catalogo.add_version(
                codigo=CODE, descripcion="Otra", gravedad="grave", multa_min=Decimal("1"), multa_max=Decimal("1.5"), articulo="",
                vigente_desde=start,
            )
        assert refused.value.field == "vigente_desde"
        with pytest.raises(InvalidValue):
            await app.repos.catalogo.retire(CODE, desde=start)
    assert await db["catalogo"].count_documents({"codigo": CODE}) == 1


@pytest.mark.parametrize(
    "change,field",
    [({"descripcion": "  "}, "descripcion"), ({"articulo": "x" * (catalogo.ARTICLE_MAX + 1)}, "articulo"), ({"gravedad": "leve-ish"}, "gravedad")],
)
async def test_a_refused_version_names_the_field_to_fix(app: Clocked, db, change, field):
    version = {
        "codigo": CODE, "descripcion": "Otra", "gravedad": "grave", "multa_min": Decimal("1"), "multa_max": Decimal("1.5"),
        "articulo": "", "vigente_desde": app.clock.now() + catalogo.NOTICE,
    }
    with pytest.raises(InvalidValue) as refused:
        await app.repos.catalogo.add_version(**{**version, **change})
    assert refused.value.field == field
    assert await db["catalogo"].count_documents({"codigo": CODE}) == 1


async def test_a_change_cannot_start_before_the_latest_version_of_its_code(app: Clocked, db):
    """The version in force is the one that started last. A change written after a scheduled one
    but starting before it would be in force only until the older one starts, and a retirement
    written that way would be undone by it: the code would come back into force by itself."""
    t0 = app.clock.now()
    scheduled = t0 + dt.timedelta(days=7)
    await app.repos.catalogo.add_version(
        codigo=CODE, descripcion="Versión programada", gravedad="grave", multa_min=Decimal("1"), multa_max=Decimal("1.5"),
        articulo="", vigente_desde=scheduled,
    )
    earlier = t0 + dt.timedelta(days=1)
    with pytest.raises(InvalidValue) as retired_before:
        await app.repos.catalogo.retire(CODE, desde=earlier)
    with pytest.raises(InvalidValue) as changed_before:
        await app.repos.catalogo.add_version(
            codigo=CODE, descripcion="Otra", gravedad="leve", multa_min=Decimal("0.2"), multa_max=Decimal("0.5"), articulo="",
            vigente_desde=earlier,
        )
    assert retired_before.value.field == changed_before.value.field == "vigente_desde"
    assert await db["catalogo"].count_documents({"codigo": CODE}) == 2
    # A correction of the scheduled version from the same date, or a retirement after it, is fine.
    corrected = await app.repos.catalogo.add_version(
        codigo=CODE, descripcion="Versión programada, corregida", gravedad="grave", multa_min=Decimal("1"), multa_max=Decimal("1.5"),
        articulo="", vigente_desde=scheduled,
    )
    retired = await app.repos.catalogo.retire(CODE, desde=scheduled + dt.timedelta(days=1))
    versions = await app.repos.catalogo.versions(CODE)
    assert catalogo.in_force(versions, scheduled) == corrected
    assert catalogo.in_force(versions, retired.vigente_desde + dt.timedelta(days=365)) is None
    # The retirement is the next version, saying what the code was (its description, fines, article).
    assert versions[-1] == retired and retired.retirado
    assert retired.version == corrected.version + 1 and [v.version for v in versions] == list(range(1, retired.version + 1))
    assert (retired.descripcion, retired.gravedad, retired.multa_min_utm, retired.multa_max_utm, retired.articulo) == (
        corrected.descripcion, corrected.gravedad, corrected.multa_min_utm, corrected.multa_max_utm, corrected.articulo
    )
    with pytest.raises(Conflict) as again:
        await app.repos.catalogo.retire(CODE, desde=scheduled + dt.timedelta(days=2))
    assert again.value.field == "codigo"


async def test_a_version_is_never_rewritten(app: Clocked, db):
    before = await db["catalogo"].find_one({"codigo": CODE, "version": 1})
    # Creating a code that exists is a conflict, not an overwrite of its version 1.
    with pytest.raises(Conflict):
        await add_code(app.repos, CODE, desde=app.clock.now(), descripcion="Otra cosa")
    # The loader skips a (código, versión) that exists, even with different content.
    changed = catalogo.Version(CODE, 1, "Texto cambiado", "leve", Decimal("0.2"), Decimal("0.5"), "", app.clock.now())
    assert await app.repos.catalogo.load([changed]) == 0
    assert await db["catalogo"].find_one({"codigo": CODE, "version": 1}) == before


async def test_a_version_whose_commit_fails_leaves_neither_the_version_nor_its_entry(app: Clocked, db, mongo_uri):
    desde = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
    await assert_a_failed_commit_changes_nothing(db, mongo_uri, lambda faulty: add_code(faulty, "NUEVO-1", desde=desde))


async def test_a_version_retried_by_its_transaction_is_written_once(app: Clocked, db, mongo_uri):
    desde = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
    recorder = Recorder()
    async with client_meeting_fail_point(
        mongo_uri, "retried-version", listeners=(recorder,), failCommands=["insert"], **TRANSIENT_ERROR
    ) as retried:
        await add_code(Repositories.over(retried[db.name]), "NUEVO-2", desde=desde)
    assert recorder.names().count("abortTransaction") == 1  # the first attempt was given up, and run again
    [version] = await db["catalogo"].find({"codigo": "NUEVO-2"}).to_list(None)
    [entry] = await db["auditoria"].find({"coleccion": "catalogo", "documento_id": version["_id"]}).to_list(None)
    assert entry["despues"] == {k: v for k, v in version.items() if k not in ("_id", "creado_en")}  # its time is the entry's own


async def test_two_administrators_writing_the_same_next_version_get_one_and_an_explained_refusal(app: Clocked, db):
    """Both read version 1 as the latest and write a version 2: the unique (código, versión) index
    keeps one, and the other is told why. The test calls ``_write``, where the race lands, so that
    it does not depend on how two requests interleave."""
    change = app.clock.now() + catalogo.NOTICE
    mine = catalogo.Version(CODE, 2, "Mía", "grave", Decimal("1"), Decimal("1.5"), "", change)
    theirs = dataclasses.replace(mine, descripcion="Suya")
    await app.repos.catalogo._write(mine)
    with pytest.raises(Conflict) as refused:
        await app.repos.catalogo._write(theirs)
    assert (refused.value.message, refused.value.field) == (f"El código {CODE} cambió mientras tanto; revise sus versiones.", "codigo")
    assert [v.descripcion for v in await app.repos.catalogo.versions(CODE)] == [DESCRIPTION, "Mía"]


def test_the_catalogue_repository_has_no_way_to_edit_or_delete_a_version():
    """No update, replace or delete in the repository's code (the application's MongoDB role
    denies update and remove on ``catalogo`` as well: tests/test_audit.py)."""
    source = Path(catalogo_repository.__file__).read_text()
    calls = {node.attr for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Attribute)}
    writes = {name for name in calls if name.startswith(("update", "delete", "replace", "find_one_and", "drop", "bulk_write", "remove"))}
    assert writes == set(), writes


async def test_the_shipped_catalogue_loads_once(db):
    repos = Repositories.over(db)
    zone = dt.timezone.utc
    shipped = initial_catalogue.shipped_versions(zone)
    assert len(shipped) >= 24 and len({v.codigo for v in shipped}) == len(shipped)
    for version in shipped:  # every shipped fine lies within its grade's range in the law
        severity = catalogo.SEVERITIES[version.gravedad]
        assert severity.min_utm <= version.multa_min_utm <= version.multa_max_utm <= severity.max_utm, version
    assert await initial_catalogue.load(repos, zone) == len(shipped)
    assert await initial_catalogue.load(repos, zone) == 0
    assert await initial_catalogue.load(repos, zone, only_if_empty=True) == 0
    assert await db["catalogo"].count_documents({}) == len(shipped)


# -- the three-field body and unknown fields -------------------------------------------------------


async def test_the_specification_body_gets_exactly_the_answer_it_always_got(app: Clocked, db):
    response = await app.cargar(comentarios="Luz roja.")
    assert response.status_code == 200, response.text
    body = check_contract(response)  # openapi.json as the specification has it
    assert set(body) == SPEC_KEYS
    doc = await stored(db, body["id"])
    assert "infraccion" not in doc and "ubicacion" not in doc and "evidencias" not in doc


@pytest.mark.parametrize("field", ["gravedad", "descripcion", "latitud", "multa_utm", "evidencias", "infraccion", "Codigo"])
async def test_unknown_top_level_fields_are_still_400(app: Clocked, db, field):
    response = await app.cargar(codigo=CODE, **{field: "x"})
    assert response.status_code == 400
    assert check_contract(response)["errors"] == [{"campo": field, "mensaje": "Campo no permitido."}]
    assert await db["infracciones"].count_documents({}) == 0


# -- the public report ------------------------------------------------------------------------------


async def test_the_report_shows_the_offence_description_and_severity_and_nothing_else_new(app: Clocked):
    with_code = await app.cargar(codigo=CODE, ubicacion={"latitud": -33.44, "longitud": -70.65, "precision_m": 5})
    without = await app.cargar(timestamp=app.ago(minutes=20))
    assert with_code.status_code == 200 and without.status_code == 200
    report = await app.http.get("/api/generar_informe", params={"email": app.world.persona.correo})
    assert report.status_code == 200
    items = {item["id"]: item for item in report.json()["infracciones"]}
    base = {"id", "placa_patente", "marca", "color", "timestamp", "comentarios", "estado"}
    assert set(items[without.json()["id"]]) == base
    assert set(items[with_code.json()["id"]]) == base | {"infraccion"}
    assert items[with_code.json()["id"]]["infraccion"] == {"codigo": CODE, "descripcion": DESCRIPTION, "gravedad": "gravisima"}
    # Neither the place nor the fine nor the catalogue's version reach the public.
    assert "-33.44" not in report.text and "multa" not in report.text and "version" not in report.text


# -- /api/yo and /api/catalogo --------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/yo", "/api/catalogo"])
@pytest.mark.parametrize(
    "authorization", [None, "Bearer", "Basic dXNlcjpwYXNz", "Bearer no-es-un-jwt", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.firma"],
)
async def test_the_officer_endpoints_require_a_valid_token(app: Clocked, path, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    response = await app.http.get(path, headers=headers)
    assert response.status_code == 401
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="transito"')
    assert "codigos" not in response.text and "Juan Soto" not in response.text


@pytest.mark.parametrize("path", ["/api/yo", "/api/catalogo"])
async def test_the_officer_endpoints_refuse_a_revoked_token_or_an_inactive_officer(app: Clocked, path):
    other = await make_world(app.repos, correo="b@example.cl", placa="CCDF34", numero=43)
    await app.repos.tokens.revoke(app.world.token_id, oficial_id=app.world.oficial.id)
    await app.repos.oficiales.set_active(other.oficial.id, False)
    for token in (app.world.token, other.token):
        response = await app.http.get(path, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, response.text
        assert response.json()["detail"] == "El token fue revocado o el oficial no existe o está inactivo."


async def test_yo_says_who_the_token_belongs_to(app: Clocked):
    response = await app.http.get("/api/yo", headers=app.world.auth)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    token = (await app.repos.tokens.list_for_officer(app.world.oficial.id))[0]
    assert response.json() == {
        "oficial": {"numero": 42, "nombre": "Juan Soto"},
        "token": {"etiqueta": "tablet de prueba", "expira_en": token.expira_en.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")},
    }


async def test_the_catalogue_lists_the_codes_in_force_now_and_revalidates_with_an_etag(app: Clocked):
    t0 = app.clock.now()
    await add_code(app.repos, "FUTURO-1", desde=t0 + dt.timedelta(days=1))
    await add_code(app.repos, "RETIRADO-1", desde=t0 - dt.timedelta(days=3), gravedad="leve", multa=("0.2", "0.5"))
    await app.repos.catalogo.retire("RETIRADO-1", desde=t0 + dt.timedelta(hours=1))
    await app.repos.catalogo.add_version(
        codigo=CODE, descripcion="Texto nuevo", gravedad="grave", multa_min=Decimal("1"), multa_max=Decimal("1.5"), articulo="",
        vigente_desde=t0 + dt.timedelta(hours=1),
    )
    app.clock.advance(seconds=6)

    first = await app.http.get("/api/catalogo", headers=app.world.auth)
    assert first.status_code == 200
    assert first.headers["Cache-Control"] == "private, no-cache"
    assert [(c["codigo"], c["version"], c["descripcion"]) for c in first.json()["codigos"]] == [
        ("RETIRADO-1", 1, DESCRIPTION), (CODE, 1, DESCRIPTION)
    ]
    entry = first.json()["codigos"][1]
    assert entry == {
        **V1_OFFENCE, "version": 1, "articulo": "Ley 18.290, art. 199", "gravedad_nombre": "Gravísima",
        "vigente_desde": (t0 - dt.timedelta(days=30)).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    etag = first.headers["ETag"]
    unchanged = await app.http.get("/api/catalogo", headers={**app.world.auth, "If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b""

    app.clock.advance(hours=2)  # the new version and the retirement are in force now
    changed = await app.http.get("/api/catalogo", headers={**app.world.auth, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert [(c["codigo"], c["version"], c["gravedad"]) for c in changed.json()["codigos"]] == [(CODE, 2, "grave")]


async def test_the_catalogue_etag_needs_the_token_too(app: Clocked):
    first = await app.http.get("/api/catalogo", headers=app.world.auth)
    response = await app.http.get("/api/catalogo", headers={"If-None-Match": first.headers["ETag"]})
    assert response.status_code == 401


# -- the cache: what a load costs --------------------------------------------------------------------


@pytest.fixture
async def monitored(mongo_uri, db):
    """The app over its own client, reporting every command; its catalogue cache read before
    serving, as server.py does."""
    recorder = Recorder()
    client = mongo_client(mongo_uri, event_listeners=[recorder])
    try:
        async with clocked_app(db, app_db=client[db.name]) as running:
            await running.repos.catalog_cache.refresh(running.repos.catalogo)
            await running.http.get("/readyz")  # connect before counting
            recorder.commands.clear()
            yield running, recorder
    finally:
        await client.close()


async def test_a_load_with_a_code_and_a_place_still_takes_three_commands(monitored):
    app, recorder = monitored
    response = await app.cargar(codigo=CODE, ubicacion={"latitud": -33.44, "longitud": -70.65, "precision_m": 8})
    assert response.status_code == 200, response.text
    assert recorder.names() == ["findAndModify", "findAndModify", "insert"]


async def test_an_unknown_code_is_refused_without_touching_the_database(monitored):
    app, recorder = monitored
    response = await app.cargar(codigo="NO-EXISTE")
    assert response.status_code == 404
    assert recorder.names() == []


async def test_the_cache_learns_what_another_process_writes_before_it_applies(monitored, db):
    """Another process (its own repositories and cache) adds a version and creates a code. This
    process's copy answers correctly throughout: the version is not in force before every copy
    has been read again, and an unknown code makes the copy read again (at most every
    MISS_RELOAD)."""
    app, recorder = monitored
    other = Repositories.over(db, clock=app.clock)
    change = app.clock.now() + catalogo.NOTICE
    await other.catalogo.add_version(
        codigo=CODE, descripcion="Versión de otro proceso", gravedad="grave", multa_min=Decimal("1"), multa_max=Decimal("1.5"),
        articulo="", vigente_desde=change,
    )
    await add_code(other, "OTRO-1", desde=app.clock.now() - dt.timedelta(hours=1), descripcion="Creado por otro proceso")

    # This process has not read the catalogue since: version 1 is still the one in force.
    assert (await app.cargar(codigo=CODE)).json()["infraccion"]["descripcion"] == DESCRIPTION
    # A code created a moment ago is unknown to this copy until MISS_RELOAD has passed...
    assert (await app.cargar(codigo="OTRO-1")).status_code == 404
    app.clock.advance(seconds=CatalogCache.MISS_RELOAD.total_seconds() + 1)
    recorder.commands.clear()
    created = await app.cargar(codigo="OTRO-1")
    assert created.status_code == 200 and created.json()["infraccion"]["descripcion"] == "Creado por otro proceso"
    assert ("find", "catalogo") in [(name, command.get("find")) for name, command in recorder.commands]  # read again

    # Past the change: the copy, read again within REFRESH, gives the new version.
    app.clock.set(change + dt.timedelta(minutes=1))
    assert (await app.cargar(codigo=CODE, timestamp=app.at(change))).json()["infraccion"]["descripcion"] == "Versión de otro proceso"
    assert catalogo.NOTICE > CatalogCache.REFRESH + dt.timedelta(minutes=5)  # + the API's allowance for a clock ahead


async def test_many_requests_on_a_stale_cache_read_the_catalogue_once(mongo_uri, db):
    """When the copy is stale, concurrent requests wait for one read instead of each reading the
    whole catalogue in turn."""
    clock = start_of_test()
    await add_code(Repositories.over(db, clock=clock), desde=clock.now() - dt.timedelta(days=1))
    recorder = Recorder()
    client = mongo_client(mongo_uri, event_listeners=[recorder])
    try:
        repos = Repositories.over(client[db.name], clock=clock)
        cache = repos.catalog_cache
        await cache.refresh(repos.catalogo)
        clock.advance(seconds=CatalogCache.REFRESH.total_seconds() + 1)
        recorder.commands.clear()
        found = await asyncio.gather(*(cache.version_at(repos.catalogo, CODE, clock.now()) for _ in range(8)))
        assert {version.codigo for version in found} == {CODE}
        assert recorder.names().count("find") == 1, recorder.names()
    finally:
        await client.close()


async def test_the_server_s_refresh_loop_reads_the_catalogue_again_and_outlives_a_failed_read(db, monkeypatch, caplog):
    """server.py runs keep_fresh beside serving: it reads the catalogue again every REFRESH / 2, so a
    code another process writes reaches this copy with no request asking for it; a read that fails
    is logged and tried again on the next turn, and the loop goes on."""
    clock = start_of_test()  # stands still: only the loop reads the catalogue again
    repos = Repositories.over(db, clock=clock)
    cache = repos.catalog_cache
    monkeypatch.setattr(cache, "REFRESH", dt.timedelta(milliseconds=40))  # the loop's pace, not the clock's
    reads = 0
    read_catalogue = repos.catalogo.all_versions

    async def first_read_fails():
        nonlocal reads
        reads += 1
        if reads == 1:
            raise ConnectionFailure("sin conexión")
        return await read_catalogue()

    monkeypatch.setattr(repos.catalogo, "all_versions", first_read_fails)
    refresher = asyncio.create_task(cache.keep_fresh(repos.catalogo))
    try:
        await until(lambda: reads >= 2, timeout=10, what="a read after the failed one")
        assert "could not refresh the offence catalogue: sin conexión" in caplog.text
        await add_code(Repositories.over(db, clock=clock), desde=clock.now() - dt.timedelta(hours=1))
        written = reads
        await until(lambda: reads >= written + 2, timeout=10, what="a whole read after the code was written")
        assert (await cache.version_at(repos.catalogo, CODE, clock.now())).codigo == CODE
        assert not refresher.done()
    finally:
        refresher.cancel()
        with pytest.raises(asyncio.CancelledError):
            await refresher


async def test_the_catalogue_endpoint_reads_the_cache_not_the_database(monitored):
    """GET /api/catalogo checks the token (one command) and answers from this process's copy; it
    does not read the whole catalogue again on every call."""
    app, recorder = monitored
    app.clock.advance(seconds=CatalogCache.MISS_RELOAD.total_seconds() + 30)  # later, but within REFRESH
    for _ in range(3):
        app.clock.advance(seconds=10)
        response = await app.http.get("/api/catalogo", headers=app.world.auth)
        assert response.status_code == 200
        assert [c["codigo"] for c in response.json()["codigos"]] == [CODE]
    assert [(name, command.get("find")) for name, command in recorder.commands] == [("find", "oficiales")] * 3
