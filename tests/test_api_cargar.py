"""POST /api/cargar_infraccion over HTTP: every status code, the body's rules, time zones,
idempotent retries. Every response is checked against openapi.json. Token states are in
test_tokens.py."""

import datetime as dt
import json
from zoneinfo import ZoneInfo

import httpx
import pytest

from domain.clock import FixedClock
from repositories import Repositories
from services.database import mongo_client
from tests.helpers.api import World, cargar, check_contract, infraction_body, make_world, recent
from tests.helpers.app import make_settings, serve

SANTIAGO = ZoneInfo("America/Santiago")


@pytest.fixture
async def world(repos) -> World:
    return await make_world(repos)


async def test_records_an_infraction_and_returns_it(client, world, repos):
    body = {"placa_patente": "bb-cd 12", "timestamp": recent(30), "comentarios": "Luz roja en Alameda con Ahumada."}
    response = await cargar(client, world.token, body)
    assert response.status_code == 200, response.text
    stored = check_contract(response)
    assert stored["placa_patente"] == "BBCD12"
    assert stored["comentarios"] == "Luz roja en Alameda con Ahumada."
    assert stored["vehiculo"] == {"marca": "Toyota", "color": "Rojo"}
    assert stored["oficial"] == {"numero": 42, "nombre": "Juan Soto"}
    assert "Idempotent-Replayed" not in response.headers
    report = await repos.infracciones.report(correo=world.persona.correo, limit=10, offset=0)
    assert [i.id for i in report.infracciones] == [stored["id"]]
    assert (await repos.oficiales.get(world.oficial.id)).n_infracciones == 1
    assert (await repos.vehiculos.get(world.vehiculo.id)).n_infracciones == 1


async def test_comentarios_may_be_absent(client, world):
    response = await cargar(client, world.token, {"placa_patente": "BBCD12", "timestamp": recent()})
    assert response.status_code == 200
    assert check_contract(response)["comentarios"] == ""


async def test_naive_timestamp_is_read_in_santiago_and_stored_in_utc(client, world):
    local = (dt.datetime.now(SANTIAGO) - dt.timedelta(hours=2)).replace(tzinfo=None, microsecond=0)
    response = await cargar(client, world.token, {"placa_patente": "BBCD12", "timestamp": local.isoformat()})
    assert response.status_code == 200, response.text
    expected = local.replace(tzinfo=SANTIAGO).astimezone(dt.timezone.utc)
    assert check_contract(response)["timestamp"] == expected.strftime("%Y-%m-%dT%H:%M:%S.000Z")


UTC = dt.timezone.utc
# America/Santiago in 2026: on April 5th at 03:00 UTC, 00:00 -03 becomes 23:00 -04 (23:00-23:59 of
# April 4th happen twice); on September 6th at 04:00 UTC, 00:00 -04 becomes 01:00 -03 (00:xx never
# happens). tests/test_dashboard.py checks these instants against tzdata.
DST_CASES = [
    # (the app's "now", the officer's naive local time, its status, the instant stored)
    pytest.param(dt.datetime(2026, 4, 5, 2, 0, tzinfo=UTC), "2026-04-04T22:30:00", 200, "2026-04-05T01:30:00.000Z", id="april-before-the-change"),
    # a repeated wall time is read as its first occurrence (-03), as Python reads it (fold=0)
    pytest.param(dt.datetime(2026, 4, 5, 6, 0, tzinfo=UTC), "2026-04-04T23:30:00", 200, "2026-04-05T02:30:00.000Z", id="april-repeated-hour"),
    pytest.param(dt.datetime(2026, 4, 5, 6, 0, tzinfo=UTC), "2026-04-05T00:30:00", 200, "2026-04-05T04:30:00.000Z", id="april-after-the-change"),
    # the 5-minute allowance for phones' clocks, counted with the new offset (-04): 08:04 is 12:04 UTC
    pytest.param(dt.datetime(2026, 4, 5, 12, 0, tzinfo=UTC), "2026-04-05T08:04:00", 200, "2026-04-05T12:04:00.000Z", id="april-future-allowance"),
    pytest.param(dt.datetime(2026, 4, 5, 12, 0, tzinfo=UTC), "2026-04-05T08:06:00", 400, None, id="april-too-far-ahead"),
    # a wall time that never happened is read with the offset before the change (-04)
    pytest.param(dt.datetime(2026, 9, 6, 6, 0, tzinfo=UTC), "2026-09-06T00:30:00", 200, "2026-09-06T04:30:00.000Z", id="september-skipped-hour"),
    pytest.param(dt.datetime(2026, 9, 6, 6, 0, tzinfo=UTC), "2026-09-06T01:30:00", 200, "2026-09-06T04:30:00.000Z", id="september-after-the-change"),
    # with the new offset (-03), 08:30 is 11:30 UTC, in the past; with the old one (-04) it would be ahead
    pytest.param(dt.datetime(2026, 9, 6, 12, 0, tzinfo=UTC), "2026-09-06T08:30:00", 200, "2026-09-06T11:30:00.000Z", id="september-new-offset"),
    pytest.param(dt.datetime(2026, 9, 6, 12, 0, tzinfo=UTC), "2026-09-06T09:06:00", 400, None, id="september-too-far-ahead"),
]


@pytest.mark.parametrize(("now", "naive", "status", "stored"), DST_CASES)
async def test_a_naive_santiago_time_across_the_daylight_saving_changes(db, now, naive, status, stored):
    """The app's clock is set on each side of each change. Checked against two wrong readings:
    Santiago's winter offset (-03) all year fails 4 of the 9 cases, the second occurrence of a
    repeated or skipped wall time (fold=1) fails 2."""
    repos = Repositories.over(db, clock=FixedClock(now))
    world = await make_world(repos)  # its token issued at the app's "now"
    async with serve(make_settings(), repos) as app:
        async with httpx.AsyncClient(base_url=app.url) as http:
            response = await cargar(http, world.token, {"placa_patente": "BBCD12", "timestamp": naive})
    assert response.status_code == status, response.text
    body = check_contract(response)
    if stored is None:
        assert "futuro" in body["errors"][0]["mensaje"]
        assert await repos.infracciones.count() == 0
    else:
        assert body["timestamp"] == stored


async def test_timestamp_with_offset_is_converted_to_utc(client, world):
    moment = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=3)).replace(microsecond=250_000)
    with_offset = moment.astimezone(dt.timezone(dt.timedelta(hours=-3))).isoformat()  # ...-03:00
    response = await cargar(client, world.token, {"placa_patente": "BBCD12", "timestamp": with_offset})
    assert response.status_code == 200, response.text
    assert check_contract(response)["timestamp"] == moment.strftime("%Y-%m-%dT%H:%M:%S.250Z")


def old_timestamp(days: int) -> str:
    return (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)).isoformat()


@pytest.mark.parametrize(
    ("body", "campo"),
    [
        ('{"placa_patente": "BBCD12", ', "cuerpo"),  # malformed JSON
        ('["BBCD12", "2026-11-24T10:00:00Z"]', "cuerpo"),  # JSON, but not an object
        ('"BBCD12"', "cuerpo"),
        ({"placa_patente": "BBCD12", "timestamp": "NOW", "velocidad": 120}, "velocidad"),  # unknown field
        ({"placa_patente": 123456, "timestamp": "NOW"}, "placa_patente"),  # wrong type
        ({"placa_patente": "BBCD12", "timestamp": 1764000000}, "timestamp"),
        ({"placa_patente": "BBCD12", "timestamp": "NOW", "comentarios": None}, "comentarios"),
        ({"timestamp": "NOW"}, "placa_patente"),  # missing
        ({"placa_patente": "BBCD12"}, "timestamp"),
        ({"placa_patente": "B1", "timestamp": "NOW"}, "placa_patente"),  # bad plate
        ({"placa_patente": "BB$CD12", "timestamp": "NOW"}, "placa_patente"),
        ({"placa_patente": "BBCD12", "timestamp": "ayer a las 3"}, "timestamp"),  # bad timestamp
        ({"placa_patente": "BBCD12", "timestamp": "2026-02-30T10:00:00"}, "timestamp"),
        # what datetime.fromisoformat reads but the contract's pattern does not say (they were recorded)
        ({"placa_patente": "BBCD12", "timestamp": "TODAY"}, "timestamp"),  # a date alone
        ({"placa_patente": "BBCD12", "timestamp": "NOW-WITH-ANY-SEPARATOR"}, "timestamp"),
        # a well-formed time that overflows on conversion to UTC (was a 500)
        ({"placa_patente": "BBCD12", "timestamp": "0001-01-01T00:00:00+01:00"}, "timestamp"),
        ({"placa_patente": "BBCD12", "timestamp": "9999-12-31T23:59:00-01:00"}, "timestamp"),
        ({"placa_patente": "ßBCD12", "timestamp": "NOW"}, "placa_patente"),  # str.upper() made it SSBCD12
        ({"placa_patente": "BBCD12", "timestamp": "FUTURE"}, "timestamp"),  # > 5 minutes ahead
        ({"placa_patente": "BBCD12", "timestamp": "OLD"}, "timestamp"),  # > INFRACTION_MAX_AGE_DAYS
        ({"placa_patente": "BBCD12", "timestamp": "NOW", "comentarios": "x" * 2001}, "comentarios"),
        ({"placa_patente": "BBCD12", "timestamp": "NOW", "comentarios": "a\x00b"}, "comentarios"),
    ],
)
async def test_invalid_bodies_are_400_with_field_errors(client, world, repos, body, campo):
    if isinstance(body, dict):
        replacements = {
            "NOW": recent(),
            "FUTURE": (dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=10)).isoformat(),
            "OLD": old_timestamp(91),
            "TODAY": dt.datetime.now(SANTIAGO).date().isoformat(),
            "NOW-WITH-ANY-SEPARATOR": recent().replace("T", "ñ"),
        }
        body = {k: replacements.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    response = await cargar(client, world.token, body)
    assert response.status_code == 400, response.text
    problem = check_contract(response)
    assert campo in [e["campo"] for e in problem["errors"]], problem
    assert await repos.infracciones.count() == 0
    assert (await repos.oficiales.get(world.oficial.id)).n_infracciones == 0


async def test_max_age_follows_the_setting(repos):
    world = await make_world(repos)
    async with serve(make_settings(infraction_max_age_days=10), repos) as app:
        async with httpx.AsyncClient(base_url=app.url) as http:
            refused = await cargar(http, world.token, {"placa_patente": "BBCD12", "timestamp": old_timestamp(11)})
            accepted = await cargar(http, world.token, {"placa_patente": "BBCD12", "timestamp": old_timestamp(9)})
    assert "10 días" in check_contract(refused)["errors"][0]["mensaje"]
    assert accepted.status_code == 200
    check_contract(accepted)


async def test_comentarios_of_exactly_2000_characters_are_accepted(client, world):
    response = await cargar(client, world.token, infraction_body(comentarios="ñ" * 2000))
    assert response.status_code == 200
    assert len(check_contract(response)["comentarios"]) == 2000


async def test_invalid_idempotency_key_is_400(client, world):
    response = await cargar(client, world.token, infraction_body(), **{"Idempotency-Key": "x" * 201})
    assert response.status_code == 400
    assert check_contract(response)["errors"][0]["campo"] == "Idempotency-Key"


async def test_unknown_plate_is_404_and_leaves_no_counter_incremented(client, world, repos):
    response = await cargar(client, world.token, infraction_body("ZZZZ99"))
    assert response.status_code == 404
    problem = check_contract(response)
    assert "ZZZZ99" in problem["detail"]
    assert problem["errors"] == [{"campo": "placa_patente", "mensaje": problem["detail"]}]
    assert (await repos.oficiales.get(world.oficial.id)).n_infracciones == 0
    assert await repos.infracciones.count() == 0


async def test_body_over_64_kib_is_413(client, world, repos):
    body = json.dumps({**infraction_body(), "comentarios": "x" * (64 * 1024)})
    response = await cargar(client, world.token, body)
    assert response.status_code == 413
    assert "64 KiB" in check_contract(response)["detail"]
    assert await repos.infracciones.count() == 0


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_a_body_that_is_not_json_is_415(client, world, content_type):
    headers = {"Authorization": f"Bearer {world.token}"}
    if content_type:
        headers["Content-Type"] = content_type
    response = await client.post("/api/cargar_infraccion", content=json.dumps(infraction_body()), headers=headers)
    assert response.status_code == 415
    check_contract(response)


async def test_idempotent_retry_returns_the_original_once(client, world, repos):
    earlier = await cargar(client, world.token, infraction_body(minutes_ago=90), **{"Idempotency-Key": "c2a7e0b4-earlier"})
    body = infraction_body()
    key = {"Idempotency-Key": "c2a7e0b4-retry-1"}
    first = await cargar(client, world.token, body, **key)
    body_again = {**body, "placa_patente": "bbcd-12"}  # the same plate, written as the officer typed it
    retry = await cargar(client, world.token, body_again, **key)
    assert (first.status_code, retry.status_code) == (200, 200)
    assert check_contract(retry) == check_contract(first)
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert check_contract(retry)["id"] != check_contract(earlier)["id"]  # the key's own infraction, not another
    assert await repos.infracciones.count() == 2
    assert (await repos.oficiales.get(world.oficial.id)).n_infracciones == 2
    assert (await repos.vehiculos.get(world.vehiculo.id)).n_infracciones == 2


async def test_same_officer_plate_and_time_without_key_is_the_same_infraction(client, world, repos):
    body = infraction_body()
    first = await cargar(client, world.token, body)
    second = await cargar(client, world.token, {**body, "comentarios": "reenviado"})
    assert second.status_code == 200
    assert check_contract(second)["id"] == check_contract(first)["id"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert await repos.infracciones.count() == 1


async def test_same_key_with_a_different_body_is_409(client, world, repos):
    key = {"Idempotency-Key": "clave-reusada"}
    assert (await cargar(client, world.token, infraction_body(minutes_ago=60), **key)).status_code == 200
    response = await cargar(client, world.token, infraction_body(minutes_ago=30), **key)
    assert response.status_code == 409
    problem = check_contract(response)
    assert problem["detail"] == "La clave de idempotencia ya se usó para otra infracción con datos distintos."
    assert problem["errors"][0]["campo"] == "Idempotency-Key"
    assert await repos.infracciones.count() == 1
    assert (await repos.oficiales.get(world.oficial.id)).n_infracciones == 1


@pytest.mark.parametrize("changed", ["placa_patente", "timestamp", "comentarios", "ubicacion"])
async def test_same_key_with_any_field_changed_is_409(client, world, repos, changed):
    """Each recorded fact is compared, not only the time: a key reused for another plate, another
    comment or another place is another infraction, refused."""
    await repos.vehiculos.create(placa_patente="OTRA12", marca="Fiat", color="Azul", persona_id=world.persona.id)
    key = {"Idempotency-Key": f"clave-{changed}"}
    body = infraction_body(minutes_ago=60)
    assert (await cargar(client, world.token, body, **key)).status_code == 200
    other = {
        "placa_patente": "OTRA12", "timestamp": recent(30), "comentarios": "Otra cosa.", "ubicacion": {"latitud": -33.45, "longitud": -70.66},
    }[changed]
    response = await cargar(client, world.token, {**body, changed: other}, **key)
    assert response.status_code == 409, response.text
    assert await repos.infracciones.count() == 1


async def test_same_key_from_two_officers_are_two_infractions(client, world, repos):
    other = await repos.oficiales.create(nombre="María Rojas", numero=7)
    from services.tokens import TokenService

    token = (await TokenService("j" * 48).issue(repos, numero=other.numero)).token
    key = {"Idempotency-Key": "uno"}
    a = await cargar(client, world.token, infraction_body(minutes_ago=10), **key)
    b = await cargar(client, token, infraction_body(minutes_ago=20), **key)
    assert (a.status_code, b.status_code) == (200, 200)
    assert check_contract(a)["id"] != check_contract(b)["id"]


async def test_unexpected_database_error_is_a_generic_500(client, world, db, caplog):
    # The database refuses the insert through its $jsonSchema validator (here made stricter than
    # the application's rules): an error the API does not expect.
    await db.command("collMod", "infracciones", validator={"$jsonSchema": {"required": ["campo_que_nadie_envia"]}})
    with caplog.at_level("ERROR", logger="transito.http"):
        response = await cargar(client, world.token, infraction_body())
    assert response.status_code == 500
    problem = check_contract(response)
    assert problem["detail"] == f"Ocurrió un error inesperado. Informe el identificador {problem['request_id']} al soporte."
    assert "Traceback" not in response.text and "validation" not in response.text.lower()
    assert any(problem["request_id"] in r.getMessage() and r.exc_info for r in caplog.records), "details go to the log"


async def test_unreachable_database_is_503(world, unreachable_uri):
    client = mongo_client(unreachable_uri, serverSelectionTimeoutMS=300)
    try:
        async with serve(make_settings(), Repositories.over(client["transito"])) as app:
            async with httpx.AsyncClient(base_url=app.url) as http:
                response = await cargar(http, world.token, infraction_body())
                ready = await http.get("/readyz")
    finally:
        await client.close()
    assert response.status_code == 503
    assert "base de datos" in check_contract(response)["detail"]
    assert ready.status_code == 503
    check_contract(ready)
