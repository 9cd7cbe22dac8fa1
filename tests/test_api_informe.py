"""GET /api/generar_informe over HTTP: the report of a persona's vehicles, paging, every error
status and the rate limit. Every response is checked against openapi.json."""

import datetime as dt
import hashlib
import hmac

import httpx
import pytest

from domain.clock import FixedClock
from repositories import Repositories, prepare_database
from repositories.consultas import LookupRepository
from services.lookups import LookupLog, lookup_key
from services.database import mongo_client
from tests.helpers.api import World, check_contract, jti_of, make_world
from tests.helpers.app import client_meeting_fail_point, make_settings, serve


@pytest.fixture
async def world(repos) -> World:
    return await make_world(repos)


async def record(repos, world: World, placa: str, hours_ago: float, comentarios: str = "") -> str:
    """Record an infraction through the same repository call the API makes; returns its id."""
    infraccion, _ = await repos.infracciones.record(
        numero_oficial=world.oficial.numero,
        jti=jti_of(world.token),
        placa_patente=placa,
        timestamp=(dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=hours_ago)).replace(microsecond=0),
        comentarios=comentarios,
    )
    return infraccion.id


async def informe(http, **params) -> httpx.Response:
    return await http.get("/api/generar_informe", params=params)


async def test_report_covers_every_vehicle_of_the_persona_newest_first(client, repos, world):
    segundo = await repos.vehiculos.create(placa_patente="AB123CD", marca="Fiat", color="Azul", persona_id=world.persona.id)
    ajeno = await make_world(repos, correo="otro@example.cl", placa="ZZZZ99", numero=7)
    oldest = await record(repos, world, "BBCD12", 30, "primera")
    middle = await record(repos, world, segundo.placa_patente, 20, "segunda")
    newest = await record(repos, world, "BBCD12", 10, "tercera")
    await record(repos, ajeno, "ZZZZ99", 5, "de otra persona")

    response = await informe(client, email="ana.perez@example.cl")
    assert response.status_code == 200
    report = check_contract(response)
    assert set(report) == {"total", "limit", "offset", "infracciones"}  # no persona: nothing about who she is
    assert (report["total"], report["limit"], report["offset"]) == (3, 100, 0)
    assert [i["id"] for i in report["infracciones"]] == [newest, middle, oldest]
    assert [(i["placa_patente"], i["marca"], i["color"]) for i in report["infracciones"]] == [
        ("BBCD12", "Toyota", "Rojo"),
        ("AB123CD", "Fiat", "Azul"),
        ("BBCD12", "Toyota", "Rojo"),
    ]
    assert set(report["infracciones"][0]) == {"id", "placa_patente", "marca", "color", "timestamp", "comentarios", "estado"}
    assert "Juan Soto" not in response.text and "Ana Pérez" not in response.text  # no officer's or owner's name
    assert report["infracciones"][0]["comentarios"] == "tercera"


async def test_report_shows_the_vehicle_as_it_is_now(client, repos, world):
    await record(repos, world, "BBCD12", 3)
    await repos.vehiculos.update(world.vehiculo.id, placa_patente="BBCD12", marca="Toyota Yaris", color="Blanco", persona_id=world.persona.id)
    item = check_contract(await informe(client, email="ana.perez@example.cl"))["infracciones"][0]
    assert (item["marca"], item["color"]) == ("Toyota Yaris", "Blanco")


async def test_email_is_compared_case_insensitively(client, repos, world):
    await record(repos, world, "BBCD12", 3)
    response = await informe(client, email="  ANA.Perez@Example.CL ")
    assert response.status_code == 200
    assert check_contract(response)["total"] == 1


async def test_persona_without_vehicles_gets_an_empty_report(client, repos):
    await repos.personas.create(nombre="Sin Auto", correo="peaton@example.cl")
    response = await informe(client, email="peaton@example.cl")
    assert response.status_code == 200
    report = check_contract(response)
    assert (report["total"], report["infracciones"]) == (0, [])


async def test_persona_with_vehicles_but_no_infractions_gets_an_empty_report(client, world):
    report = check_contract(await informe(client, email="ana.perez@example.cl"))
    assert (report["total"], report["infracciones"]) == (0, [])


async def test_paging_with_limit_and_offset(client, repos, world):
    ids = [await record(repos, world, "BBCD12", hours) for hours in (1, 2, 3, 4, 5)]  # newest first
    page = check_contract(await informe(client, email="ana.perez@example.cl", limit=2, offset=2))
    assert (page["total"], page["limit"], page["offset"]) == (5, 2, 2)
    assert [i["id"] for i in page["infracciones"]] == ids[2:4]
    last = check_contract(await informe(client, email="ana.perez@example.cl", limit=2, offset=4))
    assert [i["id"] for i in last["infracciones"]] == ids[4:]
    beyond = check_contract(await informe(client, email="ana.perez@example.cl", offset=10))
    assert (beyond["total"], beyond["infracciones"]) == (5, [])


async def test_an_unknown_email_gets_the_same_answer_as_a_persona_without_vehicles(client, repos, world):
    """The public method must not say who is registered (Ley 21.719)."""
    await repos.personas.create(nombre="Sin Auto", correo="peaton@example.cl")
    unknown = await informe(client, email="nadie@example.cl")
    registered = await informe(client, email="peaton@example.cl")
    assert unknown.status_code == registered.status_code == 200
    assert check_contract(unknown) == check_contract(registered) == {"total": 0, "limit": 100, "offset": 0, "infracciones": []}
    assert unknown.headers.get("Content-Length") == registered.headers.get("Content-Length")


@pytest.mark.parametrize(
    ("query", "campos"),
    [
        ("", {"email"}),
        ("?email=", {"email"}),
        ("?email=no-es-un-correo", {"email"}),
        ("?email=ana@", {"email"}),
        ("?email[$ne]=", {"email", "email[$ne]"}),
        ("?email[$ne]=x&email=ana.perez@example.cl", {"email[$ne]"}),
        ("?email=ana.perez@example.cl&email=otro@example.cl", {"email"}),
        ("?email=ana.perez@example.cl&limit=0", {"limit"}),
        ("?email=ana.perez@example.cl&limit=501", {"limit"}),
        ("?email=ana.perez@example.cl&limit=diez", {"limit"}),
        ("?email=ana.perez@example.cl&offset=-1", {"offset"}),
        ("?email=ana.perez@example.cl&offset=1000001", {"offset"}),
        ("?email=ana.perez@example.cl&orden=asc", {"orden"}),
        ("?email=ana.perez@example.cl&limit=", {"limit"}),  # was read as absent (found by the fuzz)
        ("?email=ana.perez@example.cl&offset=", {"offset"}),
        ("?email=ana@correo.test", {"email"}),  # reserved domains, as openapi.json's pattern says
        ("?email=ana@intranet.LOCAL", {"email"}),
    ],
)
async def test_invalid_queries_are_400(client, world, query, campos):
    response = await client.get("/api/generar_informe" + query)
    assert response.status_code == 400, response.text
    assert {e["campo"] for e in check_contract(response)["errors"]} == campos


async def test_limits_at_the_edges_are_accepted_and_obeyed(client, repos, world):
    ids = [await record(repos, world, "BBCD12", hours) for hours in (1, 2, 3)]  # newest first
    expected = [
        ({"limit": 1}, (3, 1, 0), ids[:1]),
        ({"limit": 500}, (3, 500, 0), ids),
        ({"offset": 1_000_000}, (3, 100, 1_000_000), []),
        ({"limit": 1, "offset": 2}, (3, 1, 2), ids[2:]),
    ]
    for params, (total, limit, offset), shown in expected:
        response = await informe(client, email="ana.perez@example.cl", **params)
        assert response.status_code == 200, params
        page = check_contract(response)
        assert (page["total"], page["limit"], page["offset"]) == (total, limit, offset), params
        assert [item["id"] for item in page["infracciones"]] == shown, params


async def test_rate_limit_is_429_with_retry_after(repos, world):
    async with serve(make_settings(report_rate_limit="3/minute"), repos) as app:
        async with httpx.AsyncClient(base_url=app.url) as http:
            allowed = [await informe(http, email="ana.perez@example.cl") for _ in range(3)]
            refused = await informe(http, email="ana.perez@example.cl")
            invalid = await informe(http, email="no-es-un-correo")
    assert [r.status_code for r in allowed] == [200, 200, 200]
    assert refused.status_code == 429
    problem = check_contract(refused)
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "Intente nuevamente en" in problem["detail"]
    # A malformed query is refused before it is counted or reaches the database: 400, even when over the limit.
    assert invalid.status_code == 400
    check_contract(invalid)


async def test_unexpected_database_error_is_a_generic_500(mongo_uri, db, world, caplog):
    # The database fails the report's query with an error the API does not expect. The fail point
    # only affects this test's client (matched by its application name).
    unexpected_error = {"failCommands": ["aggregate"], "errorCode": 8}
    async with client_meeting_fail_point(mongo_uri, "informe-500", **unexpected_error) as app_client:
        async with serve(make_settings(), Repositories.over(app_client[db.name])) as app:
            async with httpx.AsyncClient(base_url=app.url) as http:
                with caplog.at_level("ERROR", logger="transito.http"):
                    response = await informe(http, email="ana.perez@example.cl")
                after = await informe(http, email="ana.perez@example.cl")
    assert response.status_code == 500
    problem = check_contract(response)
    assert problem["detail"] == f"Ocurrió un error inesperado. Informe el identificador {problem['request_id']} al soporte."
    assert "failpoint" not in response.text.lower() and "Traceback" not in response.text
    assert any(problem["request_id"] in r.getMessage() and r.exc_info for r in caplog.records)
    assert after.status_code == 200


async def test_unreachable_database_is_503(unreachable_uri):
    client = mongo_client(unreachable_uri, serverSelectionTimeoutMS=300)
    try:
        async with serve(make_settings(), Repositories.over(client["transito"])) as app:
            async with httpx.AsyncClient(base_url=app.url) as http:
                response = await informe(http, email="ana.perez@example.cl")
    finally:
        await client.close()
    assert response.status_code == 503
    assert "base de datos" in check_contract(response)["detail"]


async def test_every_lookup_is_logged_with_a_keyed_hash_of_the_email_not_the_email(client, repos, world, running_app, db):
    await record(repos, world, "BBCD12", 3)
    await informe(client, email="Ana.Perez@example.cl")
    await informe(client, email="nadie@example.cl")
    assert await db["consultas"].count_documents({}) == 0  # nothing written on the request path
    await running_app.app.settings["lookups"].flush()
    entries = await db["consultas"].find({}, {"_id": 0}).sort("creada_en", 1).to_list(None)
    key = lookup_key(running_app.settings.cookie_secret)
    expected = [
        hmac.new(key, b"ana.perez@example.cl", hashlib.sha256).hexdigest(),
        hmac.new(key, b"nadie@example.cl", hashlib.sha256).hexdigest(),
    ]
    assert [e["correo_hmac"] for e in entries] == expected
    assert [(e["cliente"], e["resultados"]) for e in entries] == [("127.0.0.1", 1), ("127.0.0.1", 0)]
    assert "example.cl" not in str(entries)


async def test_lookups_are_kept_the_configured_number_of_days(db):
    await prepare_database(db, lookup_retention_days=7)
    assert (await db["consultas"].index_information())["creada_en_ttl"]["expireAfterSeconds"] == 7 * 86_400
    await prepare_database(db, lookup_retention_days=30)  # a changed setting takes effect at the next start
    assert (await db["consultas"].index_information())["creada_en_ttl"]["expireAfterSeconds"] == 30 * 86_400


async def test_a_lookup_log_that_cannot_be_written_keeps_its_entries_for_later(mongo_uri, db, world):
    # A refusal the driver does not retry (8, UnknownError): with "shutting down" (91) the driver's own
    # retry waited for its monitor, and whether the flush failed depended on how busy the machine was.
    async with client_meeting_fail_point(mongo_uri, "consultas-fault", failCommands=["insert"], errorCode=8) as faulty:
        log = LookupLog(LookupRepository(faulty[db.name]), b"k" * 32, FixedClock(dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)))
        log.record(correo="a@example.cl", client="127.0.0.1", results=0)
        await log.flush()  # meets the fail point: kept
        assert await db["consultas"].count_documents({}) == 0
        await log.close()  # the fail point fired once: written now
    assert await db["consultas"].count_documents({}) == 1


async def test_the_report_shows_each_status_and_leaves_annulled_infractions_out(client, repos, world):
    kept = await record(repos, world, "BBCD12", 3)
    annulled = await record(repos, world, "BBCD12", 2)
    await repos.infracciones.transition(kept, desde="registrada", to="notificada")
    await repos.infracciones.transition(annulled, desde="registrada", to="anulada", motivo="duplicada")
    report = check_contract(await informe(client, email="ana.perez@example.cl"))
    assert report["total"] == 1
    assert [(item["id"], item["estado"]) for item in report["infracciones"]] == [(kept, "notificada")]
