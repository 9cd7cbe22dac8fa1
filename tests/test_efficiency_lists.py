"""The admin's lists on a large collection (issue 12): every query the Infracciones and Auditoría
pages send, for each filter and order and for a deep page reached by its links, is an index scan
that examines about as many documents as it returns (``explain``), and a page's query is a LIMIT
of one page over an index range, with no in-memory sort and no skip beyond two pages, wherever the
page is. 20,000 infractions, bulk-loaded once for the module.

SecantusDB's ``executionStats`` leave the LIMIT out of their counts (they report the whole range
the index scan could read), so the cost of a page is read from its winning plan."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from repositories import prepare_database
from services.database import mongo_client
from services.demo_data import seed
from tests.helpers.app import ADMIN_USERNAME
from tests.helpers.commands import assert_one_page_of_an_index, explain_sent, recorded_admin

pytestmark = pytest.mark.slow
INFRACTIONS = 20_000


@pytest.fixture(scope="module")
async def big_db(mongo_uri):
    client = mongo_client(mongo_uri)
    db = client[f"test_lists_{uuid.uuid4().hex[:10]}"]
    await prepare_database(db)
    summary = await seed(db, personas=200, vehiculos=300, oficiales=20, infracciones=INFRACTIONS, seed=5)
    # some annulled ones, for the status filter
    annulled = await db["infracciones"].find({}, {"_id": 1}).limit(150).to_list(None)
    await db["infracciones"].update_many({"_id": {"$in": [d["_id"] for d in annulled]}}, {"$set": {"estado": "anulada"}})
    yield db, summary
    await client.drop_database(db.name)
    await client.close()


@pytest.fixture
async def admin_http(mongo_uri, big_db):
    db, _ = big_db
    async with recorded_admin(mongo_uri, db.name) as (http, recorder):
        yield http, recorder


def ids(response: httpx.Response) -> list[str]:
    return re.findall(r'href="/admin/infracciones/([0-9a-f]{24})"', response.text)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"orden": "infraccion_asc"},
        {"orden": "registro_desc"},
        {"estado": "anulada"},
        {"desde": "2026-09-01", "hasta": "2026-10-31"},
        {"placa": "PLACA"},
        {"oficial": "OFICIAL"},
        {"correo": "CORREO"},
        {"oficial": "OFICIAL", "orden": "registro_asc"},
    ],
    ids=["all", "oldest", "by-registration", "status", "dates", "plate", "officer", "owner", "officer-by-registration"],
)
async def test_every_list_query_is_index_backed(admin_http, big_db, params):
    http, recorder = admin_http
    db, summary = big_db
    busiest = await db["vehiculos"].find_one({}, sort=[("n_infracciones", -1)])
    owner = await db["personas"].find_one({"_id": busiest["persona_id"]})
    officer = summary.oficiales[0]
    values = {"PLACA": busiest["placa_patente"], "OFICIAL": str(officer["numero"]), "CORREO": owner["correo"]}
    params = {k: values.get(v, v) for k, v in params.items()}
    recorder.commands.clear()
    response = await http.get("/admin/infracciones/", params=params)
    assert response.status_code == 200 and ids(response)
    sent = await explain_sent(db, recorder, "infracciones")
    assert sent, recorder.names()
    for name, examined, returned, indexes, stages in sent:
        assert indexes, (name, params)
        if name == "find":  # the filter is the index's: nothing read is thrown away, bar the ties at a page's edge
            assert examined <= returned + 2, (params, examined, returned, indexes)
            assert_one_page_of_an_index(stages, 20)


async def test_a_deep_page_costs_what_the_first_one_costs(admin_http, big_db):
    http, recorder = admin_http
    db, _ = big_db
    page = await http.get("/admin/infracciones/", params={"por_pagina": "100"})
    link = None
    for _ in range(5):  # walk forward by the page's own links
        link = re.search(r'<a rel="next" href="([^"]+)"', page.text).group(1).replace("&amp;", "&")
        page = await http.get("/admin/infracciones/" + link)
    last_link = re.search(r'<a href="([^"]+)" aria-label="Última página">', page.text).group(1).replace("&amp;", "&")
    commands = {}
    for label, url in (("first", "?por_pagina=100"), ("sixth", link), ("last", last_link)):
        recorder.commands.clear()
        response = await http.get("/admin/infracciones/" + url)
        assert len(ids(response)) == 100
        sent = await explain_sent(db, recorder, "infracciones")
        commands[label] = [name for name, *_ in sent]
        for name, *_, stages in sent:
            if name == "find":
                assert_one_page_of_an_index(stages, 100)
    assert commands["first"] == commands["sixth"] == commands["last"] == ["find"], commands
    assert f"página {INFRACTIONS // 100} de {INFRACTIONS // 100}" in response.text


async def test_the_audit_page_is_index_backed(admin_http, big_db):
    http, recorder = admin_http
    db, _ = big_db
    for params in ({}, {"accion": "iniciar_sesion"}, {"coleccion": "sesiones"}, {"actor": ADMIN_USERNAME}):
        recorder.commands.clear()
        assert (await http.get("/admin/auditoria/", params=params)).status_code == 200
        for name, examined, returned, indexes, stages in await explain_sent(db, recorder, "auditoria"):
            assert indexes, params
            if name == "find":
                assert examined <= returned + 2, (params, examined, returned)
                assert_one_page_of_an_index(stages, 20)
