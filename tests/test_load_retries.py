"""Load with retries that loses nothing (issue 5).

Twenty simulated officers, each with its own token, post infractions to the real server (a
subprocess) for LOAD_SECONDS (default 30). Each request carries an Idempotency-Key and is retried
with the SAME key on a timeout, a dropped connection or a 5xx; one in five is sent again on
purpose after its 200. Afterwards every acknowledged infraction is in the database exactly once,
there are no duplicates (per key, per officer + plate + timestamp), and, with no fault injected,
no 5xx. ``OfficerLoad`` is reused by test_crash_safety.py."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
import random
import time
import uuid

import httpx
import pytest

from repositories import Repositories
from server import mongo_client
from services.tokens import TokenService
from tests.server_process import ServerProcess

OFFICERS = 20
PLATES = ["LOAD01", "LOAD02", "LOAD03", "LOAD04", "LOAD05"]
LOAD_SECONDS = float(os.environ.get("LOAD_SECONDS", "30"))


@dataclasses.dataclass
class Ack:
    key: str
    id: str
    numero: int
    placa: str
    timestamp: str


@dataclasses.dataclass
class LoadStats:
    requests: int = 0
    acknowledged: int = 0
    replays_on_purpose: int = 0
    retries: int = 0
    transport_errors: int = 0
    server_errors: int = 0
    statuses: dict[int, int] = dataclasses.field(default_factory=dict)


async def make_officers(repos: Repositories, secret: str, count: int = OFFICERS) -> dict[int, str]:
    """``count`` officers with a token each, and a vehicle for every plate; returns numero -> token."""
    persona = await repos.personas.create(nombre="Flota de Carga", correo="flota@example.cl")
    for placa in PLATES:
        await repos.vehiculos.create(placa_patente=placa, marca="Volvo", color="Blanco", persona_id=persona.id)
    service = TokenService(secret)
    tokens = {}
    for numero in range(1000, 1000 + count):
        await repos.oficiales.create(nombre=f"Oficial {numero}", numero=numero)
        tokens[numero] = (await service.issue(repos, numero=numero)).token
    return tokens


class OfficerLoad:
    """The officers' apps: post until ``stop`` is set, retrying each request until acknowledged."""

    def __init__(self, url: str, tokens: dict[int, str], *, timeout: float = 5.0, give_up_after: float = 60.0) -> None:
        self.url = url
        self.tokens = tokens
        self.timeout = timeout
        self.give_up_after = give_up_after
        self.stop = asyncio.Event()
        self.acks: list[Ack] = []
        self.stats = LoadStats()
        self.base = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)

    async def run(self) -> None:
        await asyncio.gather(*(self._officer(numero, token) for numero, token in self.tokens.items()))

    async def _officer(self, numero: int, token: str) -> None:
        rng = random.Random(numero)
        limits = httpx.Limits(max_connections=1)
        async with httpx.AsyncClient(base_url=self.url, timeout=self.timeout, limits=limits) as http:
            seq = 0
            while not self.stop.is_set():
                seq += 1
                # unique per officer, so the same-observation index never merges two requests
                timestamp = (self.base + dt.timedelta(milliseconds=seq)).isoformat(timespec="milliseconds")
                body = {"placa_patente": rng.choice(PLATES), "timestamp": timestamp, "comentarios": f"carga {numero}/{seq}"}
                key = uuid.uuid4().hex
                first = await self._until_acknowledged(http, token, body, key)
                if first is None:
                    return
                self.acks.append(Ack(key, first.json()["id"], numero, body["placa_patente"], timestamp))
                self.stats.acknowledged += 1
                if rng.random() < 0.2:  # the app did not see the answer, or the user pressed twice
                    again = await self._until_acknowledged(http, token, body, key)
                    assert again is not None and again.json()["id"] == first.json()["id"]
                    assert again.headers.get("Idempotent-Replayed") == "true"
                    self.stats.replays_on_purpose += 1

    async def _until_acknowledged(self, http: httpx.AsyncClient, token: str, body: dict, key: str) -> httpx.Response | None:
        deadline = time.monotonic() + self.give_up_after
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
        attempt = 0
        while time.monotonic() < deadline:
            if attempt:
                self.stats.retries += 1
                await asyncio.sleep(min(0.05 * 2**attempt, 1.0))
            attempt += 1
            self.stats.requests += 1
            try:
                response = await http.post("/api/cargar_infraccion", json=body, headers=headers)
            except httpx.TransportError:  # timeout, refused, reset: the outcome is unknown, retry
                self.stats.transport_errors += 1
                continue
            self.stats.statuses[response.status_code] = self.stats.statuses.get(response.status_code, 0) + 1
            if response.status_code >= 500:
                self.stats.server_errors += 1
                continue
            assert response.status_code == 200, response.text
            return response
        raise AssertionError(f"a request was not acknowledged within {self.give_up_after} s: {body}")


async def verify_nothing_lost_or_duplicated(db, load: OfficerLoad) -> dict[str, int]:
    """Every 200 is in the database exactly once; no duplicates of any kind; nothing unacknowledged."""
    oficiales = {doc["_id"]: doc["numero"] async for doc in db["oficiales"].find({}, {"numero": 1})}
    stored = {str(doc["_id"]): doc async for doc in db["infracciones"].find({})}
    lost = [ack for ack in load.acks if ack.id not in stored]
    wrong = [
        ack for ack in load.acks if ack.id in stored
        and (oficiales[stored[ack.id]["oficial_id"]], stored[ack.id]["placa_patente"]) != (ack.numero, ack.placa)
    ]
    by_key: dict[str, int] = {}
    by_observation: dict[tuple, int] = {}
    for doc in stored.values():
        by_key[doc["clave_idempotencia"]] = by_key.get(doc["clave_idempotencia"], 0) + 1
        observation = (doc["oficial_id"], doc["placa_patente"], doc["timestamp"])
        by_observation[observation] = by_observation.get(observation, 0) + 1
    duplicated = sum(n - 1 for n in by_key.values()) + sum(n - 1 for n in by_observation.values())
    acked_ids = {ack.id for ack in load.acks}
    assert len(acked_ids) == len(load.acks), "two acknowledged requests were given the same id"
    assert not lost, f"{len(lost)} acknowledged infraction(s) lost: {lost[:3]}"
    assert not wrong, f"acknowledged infractions stored with other data: {wrong[:3]}"
    assert duplicated == 0
    # every request was retried until acknowledged, so nothing is stored that nobody was told about
    assert set(stored) == acked_ids
    for ack in load.acks:
        assert stored[ack.id]["clave_idempotencia"].endswith(f":{ack.key}")
    # the delete guards count at least what exists
    for doc in await db["oficiales"].find({}).to_list(None):
        assert doc["n_infracciones"] >= sum(1 for s in stored.values() if s["oficial_id"] == doc["_id"])
    return {"acknowledged": len(load.acks), "stored": len(stored), "lost": len(lost), "duplicated": duplicated}


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
