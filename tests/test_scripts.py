"""``scripts/create_admin.py`` run as an operator runs it: a subprocess pointed at the test
database server through MONGODB_URI, with a fresh database each time."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import stat
import sys
import uuid

import pytest

from repositories import Repositories
from tests.helpers.app import ROOT

SCRIPT = ROOT / "scripts" / "create_admin.py"
# Variables of the developer's or CI's shell that would change what the script does.
_CLEARED = ("APP_ENV", "ADMIN_PASSWORD", "COOKIE_SECRET", "JWT_SECRET", "GENERATE_SECRETS", "EMBEDDED_DB", "MONGODB_DB")


@dataclasses.dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
async def script_db(mongo):
    db = mongo[f"test_script_{uuid.uuid4().hex[:12]}"]
    yield db
    await mongo.drop_database(db.name)


@pytest.fixture
def run_script(mongo_uri, script_db, tmp_path):
    async def run(*args: str, **env: str) -> Result:
        environment = {k: v for k, v in os.environ.items() if k not in _CLEARED}
        environment.update(MONGODB_URI=mongo_uri, MONGODB_DB=script_db.name, DATA_DIR=str(tmp_path / "data"), **env)
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(SCRIPT), *args,
            env=environment, cwd=str(tmp_path),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
        return Result(process.returncode, out.decode(), err.decode())

    return run


async def test_create_admin_then_reset_its_password(run_script, script_db):
    admins = Repositories.over(script_db).admins
    created = await run_script("--username", " Operadora ", "--password", "una-clave-de-operadora")
    assert created.code == 0, created.err
    assert "Administrator 'operadora' created." in created.out
    assert await admins.authenticate(username="operadora", password="una-clave-de-operadora")

    reset = await run_script("--username", "OPERADORA", "--password", "otra-clave-de-operadora")
    assert reset.code == 0, reset.err
    assert "updated (its sessions were closed)" in reset.out
    assert await admins.authenticate(username="operadora", password="una-clave-de-operadora") is None
    assert await admins.authenticate(username="operadora", password="otra-clave-de-operadora")


async def test_delete_an_administrator_ends_its_sessions(run_script, script_db):
    repos = Repositories.over(script_db)
    admin, _ = await repos.admins.set_password(username="saliente", password="una-clave-de-salida")
    session = await repos.sesiones.open(admin_id=admin.id, username=admin.username)
    result = await run_script("--delete", "Saliente")
    assert result.code == 0, result.err
    assert "deleted" in result.out
    assert await repos.admins.authenticate(username="saliente", password="una-clave-de-salida") is None
    assert await repos.sesiones.touch(session) is None
    missing = await run_script("--delete", "nadie")
    assert missing.code == 1 and "no administrator" in missing.err


async def test_password_from_the_environment(run_script, script_db):
    result = await run_script("--username", "ops", ADMIN_PASSWORD="clave-desde-el-entorno")
    assert result.code == 0, result.err
    assert await Repositories.over(script_db).admins.authenticate(username="ops", password="clave-desde-el-entorno")


async def test_short_password_is_refused(run_script, script_db):
    result = await run_script("--username", "ops", "--password", "corta")
    assert result.code == 1
    assert "at least 10 characters" in result.err
    assert not await Repositories.over(script_db).admins.any_exists()


async def test_no_password_and_no_terminal_is_an_error(run_script, script_db):
    result = await run_script("--username", "ops")
    assert result.code == 1
    assert "--password" in result.err and "ADMIN_PASSWORD" in result.err
    assert not await Repositories.over(script_db).admins.any_exists()


async def test_username_is_required(run_script):
    result = await run_script("--password", "una-clave-larga")
    assert result.code == 2 and "--username" in result.err


async def test_dev_default_creates_admin_only_when_none_exists(run_script, script_db, tmp_path):
    admins = Repositories.over(script_db).admins
    first = await run_script("--dev-default")
    assert first.code == 0, first.err
    note = tmp_path / "data" / "dev-admin.txt"
    assert stat.S_IMODE(os.stat(note).st_mode) == 0o600
    password = re.search(r"contraseña: (\S+)", note.read_text()).group(1)
    assert f"password '{password}'" in first.out
    assert await admins.authenticate(username="admin", password=password)

    again = await run_script("--dev-default")
    assert again.code == 0 and again.out == ""
    assert note.read_text().endswith(f"{password}\n")
    assert await admins.authenticate(username="admin", password=password)


async def test_dev_default_leaves_an_existing_installation_alone(run_script, script_db, tmp_path):
    admins = Repositories.over(script_db).admins
    await admins.set_password(username="jefa", password="la-clave-de-la-jefa")
    result = await run_script("--dev-default")
    assert result.code == 0 and result.out == ""
    assert not (tmp_path / "data" / "dev-admin.txt").exists()
    assert await admins.collection.count_documents({}) == 1


async def test_dev_default_with_secrets_from_the_environment(run_script, script_db, tmp_path):
    """With the secrets given, nothing else creates DATA_DIR: the script must."""
    result = await run_script("--dev-default", COOKIE_SECRET="c" * 40, JWT_SECRET="j" * 40)
    assert result.code == 0, result.err
    assert (tmp_path / "data" / "dev-admin.txt").exists()


async def test_production_configuration_errors_are_reported(run_script):
    result = await run_script("--username", "ops", "--password", "una-clave-larga", APP_ENV="production")
    assert result.code == 2
    assert "configuration error" in result.err and "COOKIE_SECRET" in result.err
