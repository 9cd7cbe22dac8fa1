"""scripts/seed_demo.py: reproducible demo data, with the counters the delete guards rely on kept
exact, readable through the same API the officers and citizens use."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from domain.clock import FixedClock
from domain.rules import is_valid_plate
from services.demo_data import MAX_AGE, seed

ROOT = Path(__file__).resolve().parent.parent


def run_seed(mongo_uri: str, database: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MONGODB_URI": mongo_uri,
        "MONGODB_DB": database,
        "COOKIE_SECRET": "c" * 48,
        "JWT_SECRET": "j" * 48,
    }
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "seed_demo.py"), "--quiet", *args],
        env=env, capture_output=True, text=True, timeout=120,
    )


SIZES = ("--personas", "40", "--vehiculos", "60", "--oficiales", "5", "--infracciones", "300")


async def test_seed_fills_consistent_data_that_the_api_reports(mongo_uri, db, client):
    result = run_seed(mongo_uri, db.name, *SIZES, "--seed", "7")
    assert result.returncode == 0, result.stderr
    assert "40 personas, 60 vehículos, 5 oficiales, 300 infracciones" in result.stderr

    assert await db.personas.count_documents({}) == 40
    assert await db.vehiculos.count_documents({}) == 60
    assert await db.infracciones.count_documents({}) == 300

    # Every counter equals what it counts, so the delete guards hold for seeded data too.
    async for persona in db.personas.find():
        assert persona["n_vehiculos"] == await db.vehiculos.count_documents({"persona_id": persona["_id"]})
    async for vehiculo in db.vehiculos.find():
        assert is_valid_plate(vehiculo["placa_patente"])
        assert vehiculo["n_infracciones"] == await db.infracciones.count_documents({"vehiculo_id": vehiculo["_id"]})
    async for oficial in db.oficiales.find():
        assert oficial["n_infracciones"] == await db.infracciones.count_documents({"oficial_id": oficial["_id"]})

    # The public report shows a seeded persona's infractions.
    busiest = await db.vehiculos.find_one({}, sort=[("n_infracciones", -1)])
    owner = await db.personas.find_one({"_id": busiest["persona_id"]})
    expected = await db.infracciones.count_documents({"persona_id": owner["_id"]})
    response = await client.get("/api/generar_informe", params={"email": owner["correo"]})
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["total"] == expected >= busiest["n_infracciones"] > 0
    assert busiest["placa_patente"] in {item["placa_patente"] for item in report["infracciones"]}


async def test_same_seed_gives_same_data_and_drop_replaces_it(mongo_uri, db):
    assert run_seed(mongo_uri, db.name, *SIZES, "--seed", "3").returncode == 0
    first = sorted([d["placa_patente"] async for d in db.vehiculos.find()])
    emails = sorted([d["correo"] async for d in db.personas.find()])

    # Seeding again over the same data collides on unique fields: a clear message, not a traceback.
    again = run_seed(mongo_uri, db.name, *SIZES, "--seed", "3")
    assert again.returncode == 1
    assert "--drop" in again.stderr and "Traceback" not in again.stderr

    assert run_seed(mongo_uri, db.name, *SIZES, "--seed", "3", "--drop").returncode == 0
    assert sorted([d["placa_patente"] async for d in db.vehiculos.find()]) == first
    assert sorted([d["correo"] async for d in db.personas.find()]) == emails
    assert await db.infracciones.count_documents({}) == 300

    assert run_seed(mongo_uri, db.name, *SIZES, "--seed", "4", "--drop").returncode == 0
    assert sorted([d["placa_patente"] async for d in db.vehiculos.find()]) != first


@pytest.mark.parametrize("args", [("--personas", "0", "--vehiculos", "5"), ("--oficiales", "0", "--infracciones", "5")])
def test_impossible_sizes_are_refused(mongo_uri, args):
    result = run_seed(mongo_uri, "unused_seed_db", *args)
    assert result.returncode == 2
    assert "error:" in result.stderr


async def test_the_bulk_loader_in_process_keeps_every_counter_exact_and_dates_from_its_clock(db):
    """The same load, in this process (so that mutation testing sees the bulk loader run), at a
    clock that is not today's: every document is dated from it, every counter is exact."""
    now = dt.datetime(2026, 4, 5, 3, 0, tzinfo=dt.timezone.utc)
    progress: dict[str, list[int]] = {}

    class Bar:
        def __init__(self, label: str) -> None:
            self.label = label

        def update(self, n: int) -> None:
            progress[self.label].append(n)

    def bar(label: str, total: int) -> Bar:
        progress[label] = []
        return Bar(label)

    summary = await seed(db, personas=12, vehiculos=20, oficiales=3, infracciones=90, seed=5, clock=FixedClock(now), progress=bar)
    assert (len(summary.personas), len(summary.vehiculos), len(summary.oficiales), summary.infracciones) == (12, 20, 3, 90)
    assert {label: sum(steps) for label, steps in progress.items()} == {"personas": 12, "vehículos": 20, "oficiales": 3, "infracciones": 90}
    assert [await db[c].count_documents({}) for c in ("personas", "vehiculos", "oficiales", "infracciones")] == [12, 20, 3, 90]
    async for persona in db.personas.find():
        assert persona["n_vehiculos"] == await db.vehiculos.count_documents({"persona_id": persona["_id"]})
    async for vehiculo in db.vehiculos.find():
        assert vehiculo["n_infracciones"] == await db.infracciones.count_documents({"vehiculo_id": vehiculo["_id"]})
    async for oficial in db.oficiales.find():
        assert oficial["n_infracciones"] == await db.infracciones.count_documents({"oficial_id": oficial["_id"]})
    async for infraccion in db.infracciones.find():
        assert now - MAX_AGE <= infraccion["timestamp"] < now and infraccion["registrada_en"] == now
        assert infraccion["carga"] == {"via": "carga_masiva"}  # the record's page says how it was loaded
    # drop=True: everything but the administrators is emptied first, then loaded again
    await seed(db, personas=2, vehiculos=1, oficiales=1, infracciones=1, seed=6, drop=True, clock=FixedClock(now))
    assert [await db[c].count_documents({}) for c in ("personas", "vehiculos", "oficiales", "infracciones")] == [2, 1, 1, 1]
