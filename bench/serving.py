"""The server under measurement for ``bench/instructions.py``: a fresh seeded SecantusDB (outside
Valgrind), the delaying proxy in front of it, and ``server.py`` or the floor started under a prefix
(Valgrind, or cProfile's wrapper) with a fixed ``PYTHONHASHSEED``; all stopped on the way out."""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import json
import re
import subprocess
import threading
from pathlib import Path
from typing import Any, Iterator

from bench.proxy import DelayProxy
from bench.stack import DB_NAME, ROOT, Dataset, free_port, seeded, start_server, stop_server, wait_ready
from bench.traffic import Connection, Traffic, send
from services.database import mongo_client
from services.devdb import EmbeddedDatabase

FLOOR = ROOT / "bench" / "floor.py"
HASH_SEED = "0"
# No driver heartbeats during a window: they come every 10 s of wall time (two round trips each),
# and a window under Valgrind lasts minutes, so their number would follow the machine's speed.
# They are not part of any request; the request path is unchanged.
URI_OPTIONS = "heartbeatFrequencyMS=3600000&serverMonitoringMode=poll"
STOPPING: list[threading.Thread] = []  # databases being stopped (``join_stopping`` waits for them)


@dataclasses.dataclass
class Seeded:
    database: EmbeddedDatabase
    dataset: Dataset
    tokens_file: Path


async def _seed(uri: str, workdir: Path) -> tuple[Dataset, Path]:
    client = mongo_client(uri)
    try:
        dataset = await seeded(client[DB_NAME])
    finally:
        await client.close()
    # For the floor: the token's claims as our verified-token cache holds them (read, not verified).
    claims = {}
    for token in dataset.tokens:
        payload = token.split(".")[1]
        decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claims[token] = [int(decoded["sub"]), decoded["jti"]]
    tokens_file = workdir / "floor-tokens.json"
    tokens_file.write_text(json.dumps(claims))
    return dataset, tokens_file


def start_database(workdir: Path) -> Seeded:
    database = EmbeddedDatabase(":memory:", log_path=workdir / "secantus.log")
    database.start()
    try:
        dataset, tokens_file = asyncio.run(_seed(database.uri, workdir))
    except BaseException:
        database.stop()
        raise
    return Seeded(database, dataset, tokens_file)


def start(
    kind: str, seeded: Seeded, workdir: Path, *, prefix: list[str], proxy: DelayProxy | None, extra_env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    """Our server (``kind`` "ours") or the floor, through ``proxy`` when there is one."""
    port = free_port()
    uri = f"{seeded.database.uri}&{URI_OPTIONS}"
    if proxy is not None:
        uri = re.sub(r"^mongodb://[^/]+/", f"mongodb://127.0.0.1:{proxy.port}/", uri)
    env = {"PYTHONHASHSEED": HASH_SEED, "FLOOR_TOKENS": str(seeded.tokens_file), **(extra_env or {})}
    script = ROOT / "server.py" if kind == "ours" else FLOOR
    server = start_server(uri, port, workdir, script=script, prefix=prefix, extra_env=env)
    return server, port


@dataclasses.dataclass
class Served:
    server: subprocess.Popen[bytes]
    traffic: Traffic
    connection: Connection
    pause: float

    def send(self, method: str, n: int) -> None:
        send(self.connection, self.traffic, method, n, self.pause)


@contextlib.contextmanager
def serving(kind: str, args: argparse.Namespace, workdir: Path, *, prefix: list[str], extra_env: dict[str, str] | None = None) -> Iterator[Served]:
    """A fresh seeded SecantusDB, the delaying proxy, and the server; all stopped on the way out."""
    workdir.mkdir(parents=True, exist_ok=True)
    seeded = start_database(workdir)
    proxy = server = None
    try:
        if args.db_delay_ms > 0:
            host, port = re.match(r"^mongodb://([^:/]+):(\d+)/", seeded.database.uri).groups()  # type: ignore[union-attr]
            proxy = DelayProxy((host, int(port)), args.db_delay_ms / 1000)
        server, port = start(kind, seeded, workdir, prefix=prefix, proxy=proxy, extra_env=extra_env)
        wait_ready(server, port, workdir / "server.log")
        connection = Connection(port, timeout=600)
        try:
            yield Served(server, Traffic(seeded.dataset, port), connection, args.pause_ms / 1000)
        finally:
            connection.close()
    finally:
        stop_server(server)
        if proxy is not None:
            proxy.close()
        # SecantusDB takes two seconds to stop: let it, while the next one starts.
        stopping = threading.Thread(target=seeded.database.stop, name="stop-secantus")
        stopping.start()
        STOPPING.append(stopping)


def join_stopping() -> None:
    for thread in STOPPING:
        thread.join()
    STOPPING.clear()


def describe(args: argparse.Namespace) -> dict[str, Any]:
    """How the servers were run, for latest.json."""
    return {
        "pythonhashseed": HASH_SEED,
        "pause_between_requests_ms": args.pause_ms,
        "db_reply_delay_ms": args.db_delay_ms,
        "driver_uri_options": URI_OPTIONS,
    }
