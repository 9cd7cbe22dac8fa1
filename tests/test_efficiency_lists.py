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
from typing import Any

import httpx
import pytest

from repositories import Repositories, prepare_database
from services.database import mongo_client
from services.demo_data import seed
from tests.helpers.app import ADMIN_PASSWORD, ADMIN_USERNAME, make_settings, post_form, serve
from tests.helpers.commands import Recorder

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
    recorder = Recorder()
    client = mongo_client(mongo_uri, event_listeners=[recorder])
    repos = Repositories.over(client[db.name])
    await repos.admins.set_password(username=ADMIN_USERNAME, password=ADMIN_PASSWORD)
    try:
        async with serve(make_settings(), repos) as app:
            async with httpx.AsyncClient(base_url=app.url, timeout=60) as http:
                assert (await post_form(http, "/admin/login", {"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})).status_code == 302
                yield http, recorder
    finally:
        await client.close()


def _plan_and_stats(explained: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    if "stages" in explained:
        cursor = explained["stages"][0]["$cursor"]
        return cursor["queryPlanner"]["winningPlan"], cursor["executionStats"]
    return explained["queryPlanner"]["winningPlan"], explained["executionStats"]


def _stages(plan: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(plan, dict):
        if "stage" in plan:
            found.append(plan)
        for value in plan.values():
            found += _stages(value)
    elif isinstance(plan, list):
        for value in plan:
            found += _stages(value)
    return found


async def explain_sent(db, recorder: Recorder, collection: str) -> list[tuple[str, int, int, list[str], list[dict[str, Any]]]]:
    """(command, documents examined, returned, indexes, plan stages) for every find and count
    ``collection`` was sent."""
    results = []
    for name, command in recorder.commands:
        if command.get(name) != collection or name not in ("find", "count", "aggregate"):
            continue
        if name == "count" and not command.get("query"):
            continue  # estimated_document_count: the collection's own metadata, no scan
        if name == "aggregate":  # count_documents is an aggregate with $match and $group
            match = command["pipeline"][0]["$match"]
            query = {"count": collection, "query": match, **({"hint": command["hint"]} if "hint" in command else {})}
        else:
            query = {k: v for k, v in command.items() if k not in ("lsid", "$db", "$clusterTime", "$readPreference", "batchSize")}
        explained = await db.command("explain", query, verbosity="executionStats")
        plan, stats = _plan_and_stats(explained)
        stages = _stages(plan)
        indexes = [s["indexName"] for s in stages if s.get("stage") in ("IXSCAN", "COUNT_SCAN")]
        results.append((name, stats["totalDocsExamined"], stats["nReturned"], indexes, stages))
    return results


def assert_one_page_of_an_index(stages: list[dict[str, Any]], per_page: int) -> None:
    """A page's plan: one page (a LIMIT, or a top-k SORT of one page) over an index scan; never a
    collection scan, never a long skip. (With an equality filter SecantusDB's planner sorts the
    index range in a top-k SORT; MongoDB reads the hinted index in order.)"""
    kinds = [stage["stage"] for stage in stages]
    assert "COLLSCAN" not in kinds, kinds
    assert "IXSCAN" in kinds, kinds
    limits = [stage["limitAmount"] for stage in stages if stage["stage"] in ("LIMIT", "SORT")]
    assert limits and max(limits) <= per_page, stages
    assert all(stage.get("skipAmount", 0) <= 2 * per_page for stage in stages if stage["stage"] == "SKIP"), stages


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
