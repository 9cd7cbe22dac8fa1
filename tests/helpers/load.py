"""Officers' apps under load, for the load and crash tests: each posts infractions with an
Idempotency-Key and retries with the SAME key on a timeout, a dropped connection or a 5xx; some
requests are sent again after their 200 and some are sent several times at once (a double tap on
two connections). ``verify_nothing_lost_or_duplicated`` checks the database against what was
acknowledged, ``until`` waits for a condition of the load with a deadline, and ``after_a_ttl_sweep``
for the database's TTL monitor to have run."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import random
import time
import uuid
from typing import Callable

import httpx

from repositories import Repositories, infracciones, oficiales
from services.tokens import TokenService

OFFICERS = 20
PLATES = ["LOAD01", "LOAD02", "LOAD03", "LOAD04", "LOAD05"]
REPLAY_SHARE = 0.2  # sent again after the 200: the app did not see the answer, or the user pressed twice
CONCURRENT_SHARE = 0.1  # sent on CONCURRENT_COPIES connections at once with the same key
CONCURRENT_COPIES = 3


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
    concurrent_groups: int = 0  # requests sent CONCURRENT_COPIES times at once with one key
    retries: int = 0
    retried_requests: int = 0  # requests that needed more than one attempt
    replayed_after_retry: int = 0  # of those, answered with Idempotent-Replayed: the write had landed
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
        limits = httpx.Limits(max_connections=CONCURRENT_COPIES)  # one at a time, but for the double taps
        async with httpx.AsyncClient(base_url=self.url, timeout=self.timeout, limits=limits) as http:
            seq = 0
            while not self.stop.is_set():
                seq += 1
                # unique per officer, so the same-observation index never merges two requests
                timestamp = (self.base + dt.timedelta(milliseconds=seq)).isoformat(timespec="milliseconds")
                body = {"placa_patente": rng.choice(PLATES), "timestamp": timestamp, "comentarios": f"carga {numero}/{seq}"}
                key = uuid.uuid4().hex
                if rng.random() < CONCURRENT_SHARE:
                    copies = [self._until_acknowledged(http, token, body, key) for _ in range(CONCURRENT_COPIES)]
                    answers = await asyncio.gather(*copies)
                    # one record for all of them; at most one answer says it was created (none, if
                    # the answer of the copy that created it was lost and its retry was replayed)
                    assert len({answer.json()["id"] for answer in answers}) == 1, [a.json() for a in answers]
                    assert sum(a.headers.get("Idempotent-Replayed") != "true" for a in answers) <= 1
                    self.stats.concurrent_groups += 1
                    first = answers[0]
                else:
                    first = await self._until_acknowledged(http, token, body, key)
                self.acks.append(Ack(key, first.json()["id"], numero, body["placa_patente"], timestamp))
                self.stats.acknowledged += 1
                if rng.random() < REPLAY_SHARE:
                    again = await self._until_acknowledged(http, token, body, key)
                    assert again.json()["id"] == first.json()["id"]
                    assert again.headers.get("Idempotent-Replayed") == "true"
                    self.stats.replays_on_purpose += 1

    async def _until_acknowledged(self, http: httpx.AsyncClient, token: str, body: dict, key: str) -> httpx.Response:
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
            if attempt > 1:
                self.stats.retried_requests += 1
                self.stats.replayed_after_retry += response.headers.get("Idempotent-Replayed") == "true"
            return response
        raise AssertionError(f"a request was not acknowledged within {self.give_up_after} s: {body}")


async def until(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Wait until ``condition()`` holds (polled every 50 ms), or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        await asyncio.sleep(0.05)


async def after_a_ttl_sweep(db, *, timeout: float = 90.0) -> None:
    """Return once the database server's TTL monitor has run (every 60 s, in MongoDB as in SecantusDB):
    a document that had expired before it was written is gone. The officers meet a server that has
    swept, and SecantusDB 0.7.0b3 stalled under their load from its first sweep on
    (services/secantus_launcher.py), which a test finished within a minute of the start never saw."""
    probe = db["ttl_probe"]
    await probe.create_index("at", expireAfterSeconds=0)
    await probe.insert_one({"at": dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)})
    deadline = time.monotonic() + timeout
    while await probe.count_documents({}):
        assert time.monotonic() < deadline, f"the database did not sweep its TTL indexes within {timeout} s"
        await asyncio.sleep(0.5)
    await probe.drop()


async def verify_nothing_lost_or_duplicated(db, load: OfficerLoad) -> dict[str, int]:
    """Every 200 is in the database exactly once; no duplicates of any kind; nothing unacknowledged."""
    numeros = {doc["_id"]: doc["numero"] async for doc in db[oficiales.COLLECTION].find({}, {"numero": 1})}
    stored = {str(doc["_id"]): doc async for doc in db[infracciones.COLLECTION].find({})}
    lost = [ack for ack in load.acks if ack.id not in stored]
    wrong = [
        ack for ack in load.acks if ack.id in stored
        and (numeros[stored[ack.id]["oficial_id"]], stored[ack.id]["placa_patente"]) != (ack.numero, ack.placa)
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
    for doc in await db[oficiales.COLLECTION].find({}).to_list(None):
        assert doc["n_infracciones"] >= sum(1 for s in stored.values() if s["oficial_id"] == doc["_id"])
    return {"acknowledged": len(load.acks), "stored": len(stored), "lost": len(lost), "duplicated": duplicated}
