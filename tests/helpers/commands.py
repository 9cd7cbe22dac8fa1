"""Every command a MongoDB client sends, as PyMongo's command monitoring reports it, an admin client
over a recorded connection, and the query plans of what was sent (``explain``)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from pymongo import monitoring

from repositories import Repositories
from services.database import mongo_client
from tests.helpers.app import ADMIN_PASSWORD, ADMIN_USERNAME, make_settings, post_form, serve

# Connection management, not work done for the request.
_HOUSEKEEPING = {"hello", "ismaster", "isMaster", "endSessions", "ping", "saslStart", "saslContinue", "buildInfo"}


class Recorder(monitoring.CommandListener):
    def __init__(self) -> None:
        self.commands: list[tuple[str, dict[str, Any]]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name not in _HOUSEKEEPING:
            self.commands.append((event.command_name, dict(event.command)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def names(self) -> list[str]:
        return [name for name, _ in self.commands]


@contextlib.asynccontextmanager
async def recorded_admin(mongo_uri: str, db_name: str) -> AsyncIterator[tuple[httpx.AsyncClient, Recorder]]:
    """The app over database ``db_name`` through a client whose commands are recorded, and an httpx
    client signed in as an administrator."""
    recorder = Recorder()
    client = mongo_client(mongo_uri, event_listeners=[recorder])
    repos = Repositories.over(client[db_name])
    await repos.admins.set_password(username=ADMIN_USERNAME, password=ADMIN_PASSWORD)
    try:
        async with serve(make_settings(), repos) as app:
            async with httpx.AsyncClient(base_url=app.url, timeout=60) as http:
                assert (await post_form(http, "/admin/login", {"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})).status_code == 302
                yield http, recorder
    finally:
        await client.close()


def plan_and_stats(explained: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The winning plan and execution stats, at the top level or in an aggregate's $cursor stage."""
    if "stages" in explained:
        cursor = explained["stages"][0]["$cursor"]
        return cursor["queryPlanner"]["winningPlan"], cursor["executionStats"]
    return explained["queryPlanner"]["winningPlan"], explained["executionStats"]


def plan_stages(plan: Any) -> list[dict[str, Any]]:
    """Every stage of a plan, however nested."""
    found: list[dict[str, Any]] = []
    if isinstance(plan, dict):
        if "stage" in plan:
            found.append(plan)
        for value in plan.values():
            found += plan_stages(value)
    elif isinstance(plan, list):
        for value in plan:
            found += plan_stages(value)
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
        plan, stats = plan_and_stats(explained)
        stages = plan_stages(plan)
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
