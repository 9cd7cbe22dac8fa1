"""Load with retries that loses nothing (issue 5).

Twenty simulated officers, each with its own token, post infractions to the real server (a
subprocess) for LOAD_SECONDS (default 30). Each request carries an Idempotency-Key and is retried
with the SAME key on a timeout, a dropped connection or a 5xx; one in five is sent again on
purpose after its 200. Afterwards every acknowledged infraction is in the database exactly once,
there are no duplicates (per key, per officer + plate + timestamp), and, with no fault injected,
no 5xx. The officers' apps are ``tests.helpers.load.OfficerLoad``."""

from __future__ import annotations

import asyncio
import os

import pytest

from services.database import mongo_client
from tests.helpers.load import OFFICERS, OfficerLoad, make_officers, verify_nothing_lost_or_duplicated
from tests.helpers.server_process import ServerProcess

LOAD_SECONDS = float(os.environ.get("LOAD_SECONDS", "30"))


def test_writes_use_majority_and_journal() -> None:
    client = mongo_client("mongodb://127.0.0.1:1/?directConnection=true", connect=False)
    assert client.write_concern.document == {"w": "majority", "j": True}
    assert client["transito"]["infracciones"].write_concern.document == {"w": "majority", "j": True}


@pytest.mark.slow
async def test_twenty_officers_retrying_lose_and_duplicate_nothing(repos, db, mongo_uri, tmp_path) -> None:
    server = ServerProcess(mongodb_uri=mongo_uri, db_name=db.name, data_dir=tmp_path)
    tokens = await make_officers(repos, server.jwt_secret)
    await asyncio.to_thread(server.start)
    try:
        load = OfficerLoad(server.url, tokens)
        runner = asyncio.create_task(load.run())
        await asyncio.sleep(LOAD_SECONDS)  # the load's duration, not an assertion
        load.stop.set()
        await asyncio.wait_for(runner, timeout=120)
    finally:
        assert await asyncio.to_thread(server.stop) == 0
    figures = await verify_nothing_lost_or_duplicated(db, load)
    print(f"\nload: {load.stats} {figures}")
    assert load.stats.server_errors == 0, load.stats  # no 5xx without a fault
    assert load.stats.acknowledged >= OFFICERS and load.stats.replays_on_purpose > 0
