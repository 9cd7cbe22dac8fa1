"""Issue 13 over HTTP: the optional ``ubicacion`` of cargar_infraccion. A valid one is stored as a
GeoJSON point (longitude first) with its precision, under a 2dsphere index that ``$near`` uses;
anything else is a 400 naming the field inside ``ubicacion``, with nothing written."""

from __future__ import annotations

import json
from typing import Any

import pytest
from bson import ObjectId

from tests.helpers.api import cargar, check_contract
from tests.helpers.clocked import Clocked, clocked_app

PLAZA_DE_ARMAS = (-33.4378, -70.6505)
PROVIDENCIA = (-33.4263, -70.6172)  # about 3.4 km away
VALPARAISO = (-33.0458, -71.6197)  # about 100 km away


def index_names(plan: Any) -> list[str]:
    """The indexes the IXSCAN stages of a query plan use."""
    if isinstance(plan, list):
        return [name for stage in plan for name in index_names(stage)]
    if not isinstance(plan, dict):
        return []
    own = [plan["indexName"]] if plan.get("stage") == "IXSCAN" else []
    return own + [name for value in plan.values() for name in index_names(value)]


@pytest.fixture
async def app(db):
    async with clocked_app(db, code=False) as running:
        yield running


async def load_at(app: Clocked, latitud: float, longitud: float, *, minutes_ago: int = 10, **extra) -> dict:
    response = await app.cargar(timestamp=app.ago(minutes=minutes_ago), ubicacion={"latitud": latitud, "longitud": longitud, **extra})
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_place_is_stored_as_a_geojson_point_with_its_precision(app: Clocked, db):
    body = await load_at(app, *PLAZA_DE_ARMAS, precision_m=12.5)
    assert body["ubicacion"] == {"latitud": -33.4378, "longitud": -70.6505, "precision_m": 12.5}
    assert "infraccion" not in body
    doc = await db["infracciones"].find_one({"_id": ObjectId(body["id"])})
    assert doc["ubicacion"] == {"type": "Point", "coordinates": [-70.6505, -33.4378], "precision_m": 12.5}


@pytest.mark.parametrize(
    "ubicacion,expected",
    [
        ({"latitud": 90, "longitud": 180, "precision_m": 0}, {"latitud": 90.0, "longitud": 180.0, "precision_m": 0.0}),
        ({"latitud": -90, "longitud": -180, "precision_m": 10000}, {"latitud": -90.0, "longitud": -180.0, "precision_m": 10000.0}),
        ({"latitud": 0, "longitud": 0}, {"latitud": 0.0, "longitud": 0.0}),  # integers; no precision given
        ({"latitud": -33.5, "longitud": -70.5, "precision_m": None}, {"latitud": -33.5, "longitud": -70.5}),
    ],
    ids=["north-east-edge", "south-west-edge", "integers", "null-precision"],
)
async def test_the_edges_of_the_ranges_are_accepted(app: Clocked, db, ubicacion, expected):
    response = await app.cargar(ubicacion=ubicacion)
    assert response.status_code == 200, response.text
    assert response.json()["ubicacion"] == expected
    doc = await db["infracciones"].find_one({})
    assert doc["ubicacion"]["coordinates"] == [expected["longitud"], expected["latitud"]]
    assert ("precision_m" in doc["ubicacion"]) == ("precision_m" in expected)


LATITUDE = "La latitud debe estar entre -90 y 90 grados."
LONGITUDE = "La longitud debe estar entre -180 y 180 grados."
PRECISION = "La precisión debe estar entre 0 y 10000 metros."
NUMBER = "Debe ser un número."
FINITE = "Debe ser un número finito."


@pytest.mark.parametrize(
    "raw,errors",
    [
        ('{"latitud": 90.0001, "longitud": 0}', [("ubicacion.latitud", LATITUDE)]),
        ('{"latitud": -91, "longitud": 0}', [("ubicacion.latitud", LATITUDE)]),
        ('{"latitud": 0, "longitud": 180.5}', [("ubicacion.longitud", LONGITUDE)]),
        ('{"latitud": 0, "longitud": -181}', [("ubicacion.longitud", LONGITUDE)]),
        ('{"latitud": 95, "longitud": 200}', [("ubicacion.latitud", LATITUDE), ("ubicacion.longitud", LONGITUDE)]),
        ('{"latitud": 0, "longitud": 0, "precision_m": -1}', [("ubicacion.precision_m", PRECISION)]),
        ('{"latitud": 0, "longitud": 0, "precision_m": 10000.5}', [("ubicacion.precision_m", PRECISION)]),
        ('{"latitud": 0, "longitud": 0, "precision_m": 1e12}', [("ubicacion.precision_m", PRECISION)]),
        ('{"latitud": "-33.4", "longitud": 0}', [("ubicacion.latitud", NUMBER)]),
        ('{"latitud": 0, "longitud": "-70,6"}', [("ubicacion.longitud", NUMBER)]),
        ('{"latitud": 0, "longitud": 0, "precision_m": "5"}', [("ubicacion.precision_m", NUMBER)]),
        ('{"latitud": true, "longitud": 0}', [("ubicacion.latitud", NUMBER)]),
        ('{"latitud": 0, "longitud": false}', [("ubicacion.longitud", NUMBER)]),
        ('{"latitud": null, "longitud": 0}', [("ubicacion.latitud", NUMBER)]),
        ('{"latitud": [0], "longitud": 0}', [("ubicacion.latitud", NUMBER)]),
        ('{"latitud": NaN, "longitud": 0}', [("ubicacion.latitud", FINITE)]),
        ('{"latitud": 0, "longitud": Infinity}', [("ubicacion.longitud", FINITE)]),
        ('{"latitud": 0, "longitud": 0, "precision_m": -Infinity}', [("ubicacion.precision_m", FINITE)]),
        ('{"latitud": 1e400, "longitud": 0}', [("ubicacion.latitud", FINITE)]),
        ('{"longitud": 0}', [("ubicacion.latitud", "Campo obligatorio.")]),
        ('{"latitud": 0}', [("ubicacion.longitud", "Campo obligatorio.")]),
        ("{}", [("ubicacion.latitud", "Campo obligatorio."), ("ubicacion.longitud", "Campo obligatorio.")]),
        ('{"latitud": 0, "longitud": 0, "altitud": 500}', [("ubicacion.altitud", "Campo no permitido.")]),
        ('{"lat": 0, "lon": 0}', [("ubicacion.latitud", "Campo obligatorio."), ("ubicacion.longitud", "Campo obligatorio."),
                                  ("ubicacion.lat", "Campo no permitido."), ("ubicacion.lon", "Campo no permitido.")]),
        ('{"type": "Point", "coordinates": [-70.6, -33.4]}', [("ubicacion.latitud", "Campo obligatorio."), ("ubicacion.longitud", "Campo obligatorio."),
                                                              ("ubicacion.type", "Campo no permitido."), ("ubicacion.coordinates", "Campo no permitido.")]),
        ("[-33.4, -70.6]", [("ubicacion", "Debe ser un objeto JSON.")]),
        ('"-33.4,-70.6"', [("ubicacion", "Debe ser un objeto JSON.")]),
        ("5", [("ubicacion", "Debe ser un objeto JSON.")]),
        ("true", [("ubicacion", "Debe ser un objeto JSON.")]),
    ],
)
async def test_an_invalid_place_is_400_naming_the_field(app: Clocked, db, raw, errors):
    body = f'{{"placa_patente": "BBCD12", "timestamp": {json.dumps(app.ago(minutes=5))}, "ubicacion": {raw}}}'
    response = await cargar(app.http, app.world.token, body)
    assert response.status_code == 400, response.text
    problem = check_contract(response)
    assert problem["detail"] == "Los datos de la infracción no son válidos."
    assert sorted((e["campo"], e["mensaje"]) for e in problem["errors"]) == sorted(errors)
    assert await db["infracciones"].count_documents({}) == 0
    assert (await db["oficiales"].find_one({"numero": 42}))["n_infracciones"] == 0


async def test_near_queries_use_the_2dsphere_index(app: Clocked, db):
    # Different times: the same officer, plate and time would be one infraction (a retry).
    here = await load_at(app, *PLAZA_DE_ARMAS, minutes_ago=40, precision_m=5)
    close = await load_at(app, *PROVIDENCIA, minutes_ago=30)
    far = await load_at(app, *VALPARAISO, minutes_ago=20)
    without = await app.cargar()  # infractions without a place live beside them
    assert without.status_code == 200

    indexes = {index["name"]: index for index in await (await db["infracciones"].list_indexes()).to_list(None)}
    assert indexes["ubicacion"]["key"] == {"ubicacion": "2dsphere"}

    def near(meters: float | None) -> dict:
        geometry = {"$geometry": {"type": "Point", "coordinates": [PLAZA_DE_ARMAS[1], PLAZA_DE_ARMAS[0]]}}
        return {"ubicacion": {"$near": geometry if meters is None else {**geometry, "$maxDistance": meters}}}

    # SecantusDB, unlike MongoDB, answers $near without a geo index, so the plan is what shows it is used.
    explained = await db.command("explain", {"find": "infracciones", "filter": near(1000)}, verbosity="executionStats")
    assert "ubicacion" in index_names(explained["queryPlanner"]["winningPlan"])

    ids = lambda docs: [str(doc["_id"]) for doc in docs]  # noqa: E731
    assert ids(await db["infracciones"].find(near(1000)).to_list(None)) == [here["id"]]
    assert ids(await db["infracciones"].find(near(10_000)).to_list(None)) == [here["id"], close["id"]]
    assert ids(await db["infracciones"].find(near(None)).to_list(None)) == [here["id"], close["id"], far["id"]]
