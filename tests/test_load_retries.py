"""Load with retries that really happen, and lose or duplicate nothing (issues 5 and 18).

Twenty simulated officers, each with its own token, post infractions to the real server (a
subprocess) for LOAD_SECONDS (default 30), through a TCP proxy of the test's own
(``tests.helpers.proxy``) that loses DROP_ANSWERS (default 10 %) of the server's answers as they
start to arrive: the request reached the server and the infraction was written, but the officer's
app sees a cut connection. The apps retry with the SAME Idempotency-Key until they get a 200, so
each lost answer costs a retry that must be answered from the write already made (replayed, same
id). One request in five is also sent again on purpose after its 200, and one in ten is sent on
three connections at once with one key. Afterwards every acknowledged infraction is in the
database exactly once, there are no duplicates (per key, per officer + plate + timestamp), nothing
unacknowledged was stored, and there was no 5xx. The officers' apps are
``tests.helpers.load.OfficerLoad``."""

from __future__ import annotations

import asyncio
import os

import pytest

from services.database import mongo_client
from tests.helpers.load import OFFICERS, OfficerLoad, make_officers, verify_nothing_lost_or_duplicated
from tests.helpers.proxy import Proxy
from tests.helpers.server_process import ServerProcess

LOAD_SECONDS = float(os.environ.get("LOAD_SECONDS", "30"))
DROP_ANSWERS = float(os.environ.get("DROP_ANSWERS", "0.1"))


def test_writes_use_majority_and_journal() -> None:
    client = mongo_client("mongodb://127.0.0.1:1/?directConnection=true", connect=False)
    assert client.write_concern.document == {"w": "majority", "j": True}
    assert client["transito"]["infracciones"].write_concern.document == {"w": "majority", "j": True}


def test_idle_connections_are_closed_before_a_peer_cuts_them() -> None:
    """SecantusDB closes a connection idle for 300 s (an AWS load balancer after 350 s), and a
    command sent on it fails; not every one is retried. The long fuzz met that in its clean-up after
    19 quiet minutes: the pool must drop idle connections sooner."""
    client = mongo_client("mongodb://127.0.0.1:1/?directConnection=true", connect=False)
    assert client.options.pool_options.max_idle_time_seconds < 300


@pytest.mark.slow
async def test_twenty_officers_retrying_through_lost_answers_lose_and_duplicate_nothing(repos, db, mongo_uri, tmp_path) -> None:
    server = ServerProcess(mongodb_uri=mongo_uri, db_name=db.name, data_dir=tmp_path)
    tokens = await make_officers(repos, server.jwt_secret)
    await asyncio.to_thread(server.start)
    try:
        async with Proxy(server.port, drop_answers=DROP_ANSWERS) as proxy:
            # a generous timeout: every transport error is then a lost answer, and can be counted as one
            load = OfficerLoad(proxy.url, tokens, timeout=30.0)
            runner = asyncio.create_task(load.run())
            await asyncio.sleep(LOAD_SECONDS)  # the load's duration, not an assertion
            load.stop.set()
            await asyncio.wait_for(runner, timeout=120)
    finally:
        exit_code = await asyncio.to_thread(server.stop)  # asserted below: a failure above stays the one reported
    assert exit_code == 0, server.log_text()[-3000:]
    figures = await verify_nothing_lost_or_duplicated(db, load)
    print(f"\nload: {load.stats} {proxy.stats} {figures}")
    assert load.stats.server_errors == 0, load.stats  # the proxy loses answers; the server never fails
    assert load.stats.acknowledged >= OFFICERS
    assert load.stats.replays_on_purpose > 0 and load.stats.concurrent_groups > 0
    # The retries happened: every lost answer was retried (a retry follows a transport error and
    # nothing else), and every retried request was answered from the write its lost answer was about
    # (replayed; the same id is checked by the apps and by verify_nothing_lost_or_duplicated). On a
    # quiet machine there is exactly one retry per lost answer; on a saturated one an answer can
    # also outlast the client's 30 s, which is retried the same way: at least, not exactly.
    assert proxy.stats.answers_dropped > 0
    assert load.stats.transport_errors == load.stats.retries >= proxy.stats.answers_dropped
    assert load.stats.replayed_after_retry == load.stats.retried_requests > 0
