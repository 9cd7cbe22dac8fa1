"""Issue 14: the Personas, Vehículos and Oficiales lists and the owner picker on a large registry.
Every query they send, for each order, filter and search, and for a deep page reached by the
pages' own links, is an index scan (``explain``) of one page: no collection scan, no in-memory sort
of more than a page, no skip beyond two pages. A search is an equality match on a folded word
(``busqueda``), so it reads from the index only what matches, never every record as a regex would.
2,000 personas, 1,500 vehicles and 150 officers, bulk-loaded once for the module.

The checks are the Infracciones list's (``tests/test_efficiency_lists.py``), whose notes on
SecantusDB's ``explain`` apply here too."""

from __future__ import annotations

import re
import uuid

import pytest

from repositories import prepare_database
from services.database import mongo_client
from services.demo_data import seed
from tests.helpers.commands import Recorder, assert_one_page_of_an_index, explain_sent, recorded_admin

pytestmark = pytest.mark.slow
PERSONAS = 2000


@pytest.fixture(scope="module")
async def big_db(mongo_uri):
    client = mongo_client(mongo_uri)
    db = client[f"test_records_{uuid.uuid4().hex[:10]}"]
    await prepare_database(db)
    await seed(db, personas=PERSONAS, vehiculos=1500, oficiales=150, infracciones=300, seed=9)
    await db["oficiales"].update_many({"numero": {"$mod": [3, 0]}}, {"$set": {"activo": False}})
    yield db
    await client.drop_database(db.name)
    await client.close()


@pytest.fixture
async def admin_http(mongo_uri, big_db):
    async with recorded_admin(mongo_uri, big_db.name) as (http, recorder):
        yield http, recorder


async def assert_index_backed(db, recorder: Recorder, collection: str, per_page: int, *, one_term: bool) -> list[str]:
    sent = await explain_sent(db, recorder, collection)
    assert sent, recorder.names()
    for name, examined, returned, indexes, stages in sent:
        assert indexes, (name, collection)
        if name == "find":
            assert_one_page_of_an_index(stages, per_page)
            if one_term:  # the index range is exactly the selection: nothing read is thrown away
                assert examined <= returned + 2, (examined, returned, indexes)
    return [indexes[0] for *_, indexes, _ in sent]


async def a_name_and_a_make(db) -> tuple[str, str]:
    persona = await db["personas"].find_one({}, sort=[("_id", -1)])
    vehiculo = await db["vehiculos"].find_one({}, sort=[("_id", -1)])
    return persona["nombre"].split()[-1], vehiculo["marca"]


@pytest.mark.parametrize(
    ("path", "params", "one_term"),
    [
        ("personas", {}, True),
        ("personas", {"orden": "nombre_desc"}, True),
        ("personas", {"orden": "correo_asc"}, True),
        ("personas", {"q": "SURNAME"}, True),
        ("personas", {"q": "SURNAME", "orden": "correo_desc"}, True),
        ("personas", {"q": "SURNAME a"}, False),
        ("vehiculos", {}, True),
        ("vehiculos", {"orden": "placa_desc"}, True),
        ("vehiculos", {"orden": "marca_asc"}, True),
        ("vehiculos", {"marca": "MAKE"}, True),
        ("vehiculos", {"marca": "MAKE", "orden": "placa_desc"}, True),
        ("vehiculos", {"q": "SURNAME"}, True),
        ("vehiculos", {"q": "SURNAME", "marca": "MAKE"}, False),
        ("oficiales", {}, True),
        ("oficiales", {"estado": "inactivos", "orden": "nombre_asc"}, True),
        ("oficiales", {"q": "1", "orden": "nombre_desc"}, True),
    ],
)
async def test_every_record_list_query_is_index_backed(admin_http, big_db, path, params, one_term):
    http, recorder = admin_http
    surname, make = await a_name_and_a_make(big_db)
    params = {k: v.replace("SURNAME", surname).replace("MAKE", make) for k, v in params.items()}
    recorder.commands.clear()
    response = await http.get(f"/admin/{path}/", params=params)
    assert response.status_code == 200 and re.search(rf'href="/admin/{path}/[0-9a-f]{{24}}"', response.text), params
    await assert_index_backed(big_db, recorder, path, 20, one_term=one_term)
    if path == "vehiculos":  # the owners' names: by _id
        for name, examined, _returned, indexes, _ in await explain_sent(big_db, recorder, "personas"):
            assert indexes == ["_id_"] and examined <= 20, (name, examined, indexes)


async def test_a_deep_page_of_personas_costs_what_the_first_costs(admin_http, big_db):
    http, recorder = admin_http
    page = await http.get("/admin/personas/", params={"por_pagina": "20", "orden": "correo_asc"})
    link = None
    for _ in range(4):  # walk forward by the page's own links
        link = re.search(r'<a rel="next" href="([^"]+)"', page.text).group(1).replace("&amp;", "&")
        page = await http.get("/admin/personas/" + link)
    last_link = re.search(r'<a href="([^"]+)" aria-label="Última página">', page.text).group(1).replace("&amp;", "&")
    plans = {}
    for label, url in (("first", "?por_pagina=20&orden=correo_asc"), ("fifth", link), ("last", last_link)):
        recorder.commands.clear()
        response = await http.get("/admin/personas/" + url)
        assert response.status_code == 200
        plans[label] = await assert_index_backed(big_db, recorder, "personas", 20, one_term=True)
    assert plans["first"] == plans["fifth"] == plans["last"] == ["correo_unique"], plans
    assert f"página {PERSONAS // 20} de {PERSONAS // 20}" in response.text


async def test_the_owner_picker_reads_a_handful_from_the_index(admin_http, big_db):
    http, recorder = admin_http
    surname, _ = await a_name_and_a_make(big_db)
    recorder.commands.clear()
    response = await http.get("/admin/personas/sugerencias", params={"q": surname[:3]})
    assert 0 < len(response.json()["personas"]) <= 8
    assert await assert_index_backed(big_db, recorder, "personas", 8, one_term=True) == ["busqueda_nombre"]
