"""Fuzzing every API method from the contract (issues 5, 10 and 13): schemathesis reads the running
server's /api/openapi.json, generates valid (positive) and invalid (negative) requests, and runs
EVERY check it has on each answer: no 5xx; a documented status, media type, headers and body; valid
data accepted and invalid data refused; a method the path does not have answered 405 with
``Allow``; a missing required header refused; authentication enforced (it re-sends a 2xx without
the token and with a made-up one).

Two phases per operation and mode, as ``schemathesis run`` has them: the coverage phase (the
boundaries and mutations schemathesis derives from each schema, plus the other HTTP methods), then
random cases: FUZZ_MAX_EXAMPLES of them (50 in ``make test``, reproducible; 2,000 in ``make fuzz``,
random) for the methods with a body or parameters to vary, fewer for the officer's reads
(``BUDGET``).

The server runs as a subprocess (schemathesis' client, ``requests``, blocks), one for the whole
module. An officer with a
live token, a persona with a vehicle, the shipped offence catalogue (the server loads it on its first
start) and infractions loaded by the officer exist; every request to an officer's method carries the
officer's token except a negative case about the Authorization header itself, which is sent as
generated. Positive cases are steered so that what the contract cannot state does not make valid
data look refused: every positive timestamp keeps its generated form but gets a date inside the
accepted window (the last 90 days); a quarter of the positive cases name the existing plate, e-mail
or offence code, so 200 is reached as well; a photo is any bytes to a JSON Schema, so the evidence's
body is a real small PNG or JPEG, a new one each case but every seventh (the previous one again: 200
replayed), sent to one of the officer's infractions in three cases out of four (the rest: a generated
id, 404); and a quarter of the catalogue's reads send back its current ETag (304)."""

from __future__ import annotations

import datetime as dt
import os
import re
import time
import uuid
from collections import Counter

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode

from domain import rules
from repositories import Repositories, prepare_database
from services.database import mongo_client
from tests.helpers.api import World, jti_of, make_world
from tests.helpers.images import photo
from tests.helpers.server_process import ServerProcess

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "50"))
EVIDENCIAS = "/api/infracciones/{id}/evidencias"
OPERATIONS = [
    ("/api/cargar_infraccion", "POST"),
    ("/api/generar_informe", "GET"),
    (EVIDENCIAS, "POST"),
    ("/api/yo", "GET"),
    ("/api/catalogo", "GET"),
]
OFFICERS = {"/api/cargar_infraccion", EVIDENCIAS, "/api/yo", "/api/catalogo"}
# Random cases per operation and mode: the reads vary one header at most (GET /api/yo: nothing).
BUDGET = {EVIDENCIAS: MAX_EXAMPLES, "/api/yo": min(MAX_EXAMPLES, 10), "/api/catalogo": min(MAX_EXAMPLES, 25)}
EXISTING_CODE = "GVS-01"  # in the shipped catalogue, in force since 2026-01-01
_TIMESTAMP = re.compile(rules.TIMESTAMP_PATTERN)


@pytest.fixture(scope="module")
async def fuzz_target(mongo_uri, tmp_path_factory):
    """One server for every operation and mode (a start costs seconds): what one test writes (an
    infraction, a photo) only changes which allowed status another one gets."""
    client = mongo_client(mongo_uri)
    db = client[f"test_fuzz_{uuid.uuid4().hex[:10]}"]
    await prepare_database(db)
    repos = Repositories.over(db)
    server = ServerProcess(mongodb_uri=mongo_uri, db_name=db.name, data_dir=tmp_path_factory.mktemp("fuzz"))
    world = await make_world(repos, secret=server.jwt_secret)
    # Infractions of the officer to add photos to (Uploads sends four to each).
    now = dt.datetime.now(dt.timezone.utc)
    infracciones = []
    for minutes in range(max(8, MAX_EXAMPLES // 4 + 2)):
        recorded, _ = await repos.infracciones.record(
            numero_oficial=world.oficial.numero, jti=jti_of(world.token), placa_patente=world.vehiculo.placa_patente,
            timestamp=rules.to_millisecond(now - dt.timedelta(minutes=10 + minutes)), comentarios="",
        )
        infracciones.append(recorded.id)
    server.start()
    try:
        yield server, world, infracciones
    finally:
        assert server.stop() == 0
        await client.drop_database(db.name)
        await client.close()


def steer(case, world: World, *, days_ago: int, to_existing: bool) -> None:
    """Positive cases only. The window of 90 days cannot be written in a JSON Schema, so a generated
    timestamp keeps its form (time, fraction, offset or none) with a date 2 to 80 days ago, which
    any offset keeps inside the window; ``to_existing`` names the existing plate, e-mail and code."""
    if isinstance(case.body, dict):
        timestamp = case.body.get("timestamp")
        if isinstance(timestamp, str) and _TIMESTAMP.fullmatch(timestamp):
            date = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=days_ago)
            case.body["timestamp"] = date.isoformat() + timestamp[10:]
        if to_existing:
            case.body["placa_patente"] = world.vehiculo.placa_patente
            if isinstance(case.body.get("codigo"), str):
                case.body["codigo"] = EXISTING_CODE
    if to_existing and isinstance(case.query, dict) and "email" in case.query:
        case.query["email"] = world.persona.correo


class Uploads:
    """What each evidence case sends, positive or not: a real photo for the body (a negative case
    cannot negate raw bytes: its invalid part is elsewhere), and, for positive cases, one of the
    officer's infractions in three cases out of four (four photos each, so no 409 for too many);
    every seventh case sends the previous case's photo again (200, replayed)."""

    def __init__(self, infracciones: list[str]) -> None:
        self.infracciones = infracciones
        self.count = 0

    def prepare(self, case, *, positive: bool) -> None:
        self.count += 1
        n = self.count - 1 if self.count % 7 == 0 else self.count
        case.body = photo("JPEG" if n % 3 == 0 else "PNG", seed=n)
        if positive and self.count % 4:
            case.path_parameters["id"] = self.infracciones[(n // 4) % len(self.infracciones)]


def negates_authorization(case) -> bool:
    """Whether this negative case is about the Authorization header itself: then it is sent as
    generated (it must get 401), not with the officer's token."""
    data = case.meta.phase.data if case.meta is not None else None
    names = {getattr(data, "parameter", None)} | {m.path[0] for m in getattr(data, "mutations", ()) if m.path}
    return "authorization" in {str(name).lower() for name in names}


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["positive", "negative"])
@pytest.mark.parametrize("path,method", OPERATIONS, ids=["cargar_infraccion", "generar_informe", "agregar_evidencia", "yo", "catalogo"])
def test_api_conforms_to_its_contract(fuzz_target, path: str, method: str, mode: GenerationMode) -> None:
    server, world, infracciones = fuzz_target
    schema = schemathesis.openapi.from_url(f"{server.url}/api/openapi.json")
    operation = schema[path][method]
    statuses: dict[str, Counter[int]] = {"coverage": Counter(), "fuzzing": Counter()}
    started = time.monotonic()
    etag = httpx.get(f"{server.url}/api/catalogo", headers=world.auth).headers["ETag"]

    uploads = Uploads(infracciones)

    def exercise(case, phase: str, *, days_ago: int = 30, to_existing: bool = False) -> None:
        if mode is GenerationMode.POSITIVE:
            steer(case, world, days_ago=days_ago, to_existing=to_existing)
        if path == EVIDENCIAS and case.method == "POST":
            uploads.prepare(case, positive=mode is GenerationMode.POSITIVE)
        headers = dict(world.auth) if path in OFFICERS and not negates_authorization(case) else {}
        if path == "/api/catalogo" and mode is GenerationMode.POSITIVE and to_existing:
            headers["If-None-Match"] = etag
        response = case.call(base_url=server.url, headers=headers, timeout=30)
        statuses[phase][response.status_code] += 1
        # No ``checks=``: every check schemathesis has, with its default settings.
        case.validate_response(response, headers=headers, transport_kwargs={"base_url": server.url})

    coverage = schema.iter_coverage_cases(
        operation,
        generation_modes=[mode],
        generation_config=schema.config.generation_for(operation=operation, phase="coverage"),
    )
    for index, case in enumerate(coverage):
        exercise(case, "coverage", days_ago=2 + index % 79, to_existing=index % 4 == 0)

    budget = BUDGET.get(path, MAX_EXAMPLES)

    @settings(
        max_examples=budget,
        deadline=None,
        database=None,
        derandomize=os.environ.get("FUZZ_RANDOM") is None,  # reproducible in CI; random in `make fuzz`
        suppress_health_check=list(HealthCheck),
    )
    @given(
        case=operation.as_strategy(generation_mode=mode),
        steer_to_existing=st.integers(0, 3),
        days_ago=st.integers(2, 80),
    )
    def fuzz(case, steer_to_existing: int, days_ago: int) -> None:
        exercise(case, "fuzzing", days_ago=days_ago, to_existing=steer_to_existing == 0)

    fuzz()
    seconds = time.monotonic() - started
    total = {phase: sum(counts.values()) for phase, counts in statuses.items()}
    print(
        f"\n{method} {path} [{mode.value}] in {seconds:.0f} s: "
        + "; ".join(f"{phase} {total[phase]} cases, statuses {dict(sorted(counts.items()))}" for phase, counts in statuses.items())
    )
    assert total["coverage"] > 0 and total["fuzzing"] >= min(budget, 20)
    if mode is GenerationMode.POSITIVE:
        success = {"/api/catalogo": 304, EVIDENCIAS: 201}.get(path, 200)
        assert statuses["fuzzing"][success] > 0, statuses  # the steering works
