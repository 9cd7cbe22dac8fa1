"""Crash safety (issue 5), with the real server as a subprocess.

SIGKILL in the middle of the officers' load, then start again behind the same address: the
officers' apps keep retrying with the same Idempotency-Key, and afterwards every infraction acknowledged
with 200 is in the database, once. SIGTERM instead: a request in flight (its body still
arriving) is finished, new connections are refused, and the process exits with code 0."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time

import pytest

from tests.helpers.api import infraction_body, make_world
from tests.helpers.load import OfficerLoad, after_a_ttl_sweep, make_officers, until, verify_nothing_lost_or_duplicated
from tests.helpers.proxy import Proxy
from tests.helpers.server_process import ServerProcess

ACKNOWLEDGED_BEFORE_KILL = int(os.environ.get("CRASH_ACKNOWLEDGED_BEFORE_KILL", "150"))
ACKNOWLEDGED_AFTER_RESTART = int(os.environ.get("CRASH_ACKNOWLEDGED_AFTER_RESTART", "150"))


@pytest.mark.slow
async def test_sigkill_under_load_loses_no_acknowledged_infraction(repos, db, mongo_uri, tmp_path) -> None:
    """The officers talk to a proxy of the test's own, so their address survives the restart (the
    new process binds a port of its own choosing, and the proxy is pointed at it). The kill comes
    once ACKNOWLEDGED_BEFORE_KILL requests were acknowledged, and the load stops once as many more
    were acknowledged after the restart: conditions polled with a deadline, not fixed sleeps. The
    database has swept its TTL indexes first, as one up for more than a minute has."""
    await after_a_ttl_sweep(db)
    server = ServerProcess(mongodb_uri=mongo_uri, db_name=db.name, data_dir=tmp_path)
    tokens = await make_officers(repos, server.jwt_secret)
    await asyncio.to_thread(server.start)
    try:
        async with Proxy(server.port) as proxy:
            # 15 s: a request slower than that on a busy machine is retried, and enough such retries
            # at once would only add to the load they wait on; a killed server resets at once anyway.
            load = OfficerLoad(proxy.url, tokens, timeout=15.0)
            runner = asyncio.create_task(load.run())
            try:
                await until(lambda: load.stats.acknowledged >= ACKNOWLEDGED_BEFORE_KILL, timeout=120, what="load before the kill")
                acknowledged_before_kill = load.stats.acknowledged
                assert await asyncio.to_thread(server.kill) == -9
                await asyncio.to_thread(server.start)
                proxy.point_to(server.port)  # the officers' retries find it again
                wanted = acknowledged_before_kill + ACKNOWLEDGED_AFTER_RESTART
                await until(lambda: load.stats.acknowledged >= wanted, timeout=120, what="load after the restart")
            finally:
                load.stop.set()
                await asyncio.wait_for(runner, timeout=120)
    finally:
        exit_code = await asyncio.to_thread(server.stop)  # asserted below: a failure above stays the one reported
    assert exit_code == 0, server.log_text()[-3000:]
    figures = await verify_nothing_lost_or_duplicated(db, load)
    print(f"\nSIGKILL: {load.stats} {proxy.stats} {figures}")
    assert load.stats.transport_errors > 0  # the kill did land in the middle of requests
    assert load.stats.acknowledged >= wanted  # and the load went on after the restart


def raw_request_head(world, body: bytes) -> bytes:
    return (
        "POST /api/cargar_infraccion HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\n"
        f"Authorization: Bearer {world.token}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Expect: 100-continue\r\n"
        "Connection: close\r\n\r\n"
    ).encode()


def connection_refused(port: int) -> bool:
    """True once the server no longer takes new connections. A connect that lands in the
    listening socket's backlog just as the server closes it is reset rather than refused:
    that connection is not served either."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except (ConnectionRefusedError, ConnectionResetError):
        return True
    return False


@pytest.mark.slow
async def test_sigterm_finishes_the_request_in_flight_refuses_new_ones_and_exits_0(repos, db, mongo_uri, tmp_path) -> None:
    server = ServerProcess(mongodb_uri=mongo_uri, db_name=db.name, data_dir=tmp_path)
    world = await make_world(repos, secret=server.jwt_secret)
    await asyncio.to_thread(server.start)
    body = json.dumps(infraction_body(comentarios="enviada lentamente")).encode()
    answer = b""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(raw_request_head(world, body))
        await writer.drain()
        # "100 Continue" proves the server has the request's headers: it is in flight.
        assert (await asyncio.wait_for(reader.readline(), 10)).startswith(b"HTTP/1.1 100")
        await reader.readline()
        writer.write(body[:10])
        await writer.drain()

        server.process.terminate()  # SIGTERM, while the body is still arriving
        deadline = time.monotonic() + 10
        while not await asyncio.to_thread(connection_refused, server.port):
            assert time.monotonic() < deadline, "the server still accepts new connections after SIGTERM"
            await asyncio.sleep(0.1)
        assert server.running  # still finishing our request

        writer.write(body[10:])
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 20)
    finally:
        writer.close()
        if not answer and server.running:  # failed half-way: do not leave the server behind
            server.kill()
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 200"), answer[:500]
    recorded = json.loads(rest.split(b"\r\n\r\n", 1)[1])
    assert recorded["comentarios"] == "enviada lentamente"
    assert await asyncio.to_thread(server.process.wait, 30) == 0
    assert await db["infracciones"].count_documents({}) == 1
