"""scripts/issue_token.py, run as an operator would, against the test database."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
import sys

from services.tokens import TokenService
from tests.helpers.api import JWT_SECRET, cargar, check_contract, infraction_body
from tests.helpers.app import ROOT


@dataclasses.dataclass
class Run:
    code: int
    stdout: str
    stderr: str


async def issue_token(mongo_uri: str, db_name: str, data_dir, *args: str) -> Run:
    env = {
        **os.environ,
        "APP_ENV": "development",
        "MONGODB_URI": mongo_uri,
        "MONGODB_DB": db_name,
        "DATA_DIR": str(data_dir),  # the generated COOKIE_SECRET lands here, not in the repository
        "JWT_SECRET": JWT_SECRET,  # the running test app's secret, so the token verifies there
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "scripts" / "issue_token.py"), *args,
        env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    return Run(process.returncode, stdout.decode(), stderr.decode())


async def test_prints_only_the_token_and_it_works(mongo_uri, db, repos, client, tmp_path):
    persona = await repos.personas.create(nombre="Ana Pérez", correo="ana@example.cl")
    await repos.vehiculos.create(placa_patente="BBCD12", marca="Toyota", color="Rojo", persona_id=persona.id)
    oficial = await repos.oficiales.create(nombre="Juan Soto", numero=42)

    run = await issue_token(mongo_uri, db.name, tmp_path, "--officer", "42", "--days", "30", "--label", "tablet patrulla 7")
    assert run.code == 0, run.stderr
    token = run.stdout.strip()
    assert run.stdout == token + "\n", "stdout must hold the token alone, for TOKEN=$(...)"
    assert "oficial N° 42 (Juan Soto)" in run.stderr
    assert TokenService(JWT_SECRET).decode(token).numero == 42

    [record] = await repos.tokens.list_for_officer(oficial.id)
    assert record.etiqueta == "tablet patrulla 7"
    assert abs(record.expira_en - (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=30))) < dt.timedelta(minutes=5)
    response = await cargar(client, token, infraction_body())
    assert response.status_code == 200
    assert check_contract(response)["oficial"]["numero"] == 42


async def test_unknown_officer_exits_1(mongo_uri, db, tmp_path):
    run = await issue_token(mongo_uri, db.name, tmp_path, "--officer", "999")
    assert (run.code, run.stdout) == (1, "")
    assert "No existe un oficial con el número 999" in run.stderr


async def test_inactive_officer_exits_1(mongo_uri, db, repos, tmp_path):
    oficial = await repos.oficiales.create(nombre="Juan Soto", numero=42, activo=False)
    run = await issue_token(mongo_uri, db.name, tmp_path, "--officer", "42")
    assert (run.code, run.stdout) == (1, "")
    assert "inactivo" in run.stderr
    assert await repos.tokens.list_for_officer(oficial.id) == []


async def test_invalid_lifetime_is_a_usage_error(mongo_uri, db, repos, tmp_path):
    await repos.oficiales.create(nombre="Juan Soto", numero=42)
    run = await issue_token(mongo_uri, db.name, tmp_path, "--officer", "42", "--days", "0")
    assert run.code == 2 and run.stdout == ""
    assert "--days" in run.stderr
