"""Fuzzing both API methods from the contract (issues 5 and 10): schemathesis reads the running
server's /api/openapi.json, generates valid (positive) and invalid (negative) requests, and runs
EVERY check it has on each answer: no 5xx; a documented status, media type, headers and body; valid
data accepted and invalid data refused; a method the path does not have answered 405 with
``Allow``; a missing required header refused; authentication enforced (it re-sends a 2xx without
the token and with a made-up one).

Two phases per operation and mode, as ``schemathesis run`` has them: the coverage phase (the
boundaries and mutations schemathesis derives from each schema, plus the other HTTP methods), then
FUZZ_MAX_EXAMPLES random cases (50 in ``make test``, reproducible; 2,000 in ``make fuzz``, random).

The server runs as a subprocess (schemathesis' client, ``requests``, blocks). An officer with a
live token and a persona with a vehicle exist; every request carries the officer's token except a
negative case about the Authorization header itself, which is sent as generated. Positive cases are steered so that what the contract
cannot state does not make valid data look refused: every positive timestamp keeps its generated
form but gets a date inside the accepted window (the last 90 days), and a quarter of the positive
cases name the existing plate or e-mail, so 200 is reached as well."""

from __future__ import annotations

import datetime as dt
import os
import re
import time
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode

from domain import rules
from tests.helpers.api import World, make_world
from tests.helpers.server_process import ServerProcess

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "50"))
OPERATIONS = [("/api/cargar_infraccion", "POST"), ("/api/generar_informe", "GET")]
_TIMESTAMP = re.compile(rules.TIMESTAMP_PATTERN)


@pytest.fixture
async def fuzz_target(repos, db, mongo_uri, tmp_path):
    server = ServerProcess(mongodb_uri=mongo_uri, db_name=db.name, data_dir=tmp_path)
    world = await make_world(repos, secret=server.jwt_secret)
    server.start()
    yield server, world
    assert server.stop() == 0


def steer(case, world: World, *, days_ago: int, to_existing: bool) -> None:
    """Positive cases only. The window of 90 days cannot be written in a JSON Schema, so a generated
    timestamp keeps its form (time, fraction, offset or none) with a date 2 to 80 days ago, which
    any offset keeps inside the window; ``to_existing`` names the existing plate and e-mail."""
    if isinstance(case.body, dict):
        timestamp = case.body.get("timestamp")
        if isinstance(timestamp, str) and _TIMESTAMP.fullmatch(timestamp):
            date = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=days_ago)
            case.body["timestamp"] = date.isoformat() + timestamp[10:]
        if to_existing:
            case.body["placa_patente"] = world.vehiculo.placa_patente
    if to_existing and isinstance(case.query, dict) and "email" in case.query:
        case.query["email"] = world.persona.correo


def negates_authorization(case) -> bool:
    """Whether this negative case is about the Authorization header itself: then it is sent as
    generated (it must get 401), not with the officer's token."""
    data = case.meta.phase.data if case.meta is not None else None
    names = {getattr(data, "parameter", None)} | {m.path[0] for m in getattr(data, "mutations", ()) if m.path}
    return "authorization" in {str(name).lower() for name in names}


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["positive", "negative"])
@pytest.mark.parametrize("path,method", OPERATIONS, ids=["cargar_infraccion", "generar_informe"])
def test_api_conforms_to_its_contract(fuzz_target, path: str, method: str, mode: GenerationMode) -> None:
    server, world = fuzz_target
    schema = schemathesis.openapi.from_url(f"{server.url}/api/openapi.json")
    operation = schema[path][method]
    statuses: dict[str, Counter[int]] = {"coverage": Counter(), "fuzzing": Counter()}
    started = time.monotonic()

    def exercise(case, phase: str, *, days_ago: int = 30, to_existing: bool = False) -> None:
        if mode is GenerationMode.POSITIVE:
            steer(case, world, days_ago=days_ago, to_existing=to_existing)
        headers = dict(world.auth) if path == "/api/cargar_infraccion" and not negates_authorization(case) else {}
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

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=os.environ.get("FUZZ_RANDOM") is None,  # reproducible in CI; random in `make fuzz`
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), steer_to_existing=st.integers(0, 3), days_ago=st.integers(2, 80))
    def fuzz(case, steer_to_existing: int, days_ago: int) -> None:
        exercise(case, "fuzzing", days_ago=days_ago, to_existing=steer_to_existing == 0)

    fuzz()
    seconds = time.monotonic() - started
    total = {phase: sum(counts.values()) for phase, counts in statuses.items()}
    print(
        f"\n{method} {path} [{mode.value}] in {seconds:.0f} s: "
        + "; ".join(f"{phase} {total[phase]} cases, statuses {dict(sorted(counts.items()))}" for phase, counts in statuses.items())
    )
    assert total["coverage"] > 0 and total["fuzzing"] >= min(MAX_EXAMPLES, 20)
    if mode is GenerationMode.POSITIVE:
        assert sum(statuses["fuzzing"].values()) and statuses["fuzzing"][200] > 0, statuses  # the steering works
