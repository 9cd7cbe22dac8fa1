"""The stack every benchmark runs: a throwaway SecantusDB seeded with the same data every time, and
``python server.py`` (or the floor, ``bench/floor.py``) as one process against it; and the one
results file they share, ``bench/results/latest.json``. Used by ``bench/run.py`` (load),
``bench/instructions.py`` (callgrind) and ``bench/lists.py`` (the admin's lists)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from repositories import Repositories, prepare_database
from repositories.bulk import BulkLoader
from services.demo_data import DemoData, seed
from services.tokens import TokenService

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
JWT_SECRET = "bench-" + "j" * 48
COOKIE_SECRET = "bench-" + "c" * 48
DB_NAME = "bench"
REPORT_PEOPLE = 20
REPORT_SIZE = 20  # infractions per report person
SCALE_POINTS = (1_000, 10_000, 100_000)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Dataset:
    """The seeded data the load generators draw from: the same seed, so the same data every run."""

    def __init__(self) -> None:
        self.data = DemoData(seed=2026)
        self.tokens: list[str] = []
        self.load_plates: list[str] = []
        self.report_emails: list[str] = []
        self.background_vehicles: list[dict[str, Any]] = []
        self.oficiales: list[dict[str, Any]] = []

    async def build(self, db: Any, repos: Repositories, total_infractions: int) -> None:
        background = total_infractions - REPORT_PEOPLE * REPORT_SIZE
        summary = await seed(
            db, personas=2_000, vehiculos=3_000, oficiales=50, infracciones=background, data=self.data
        )
        self.oficiales = summary.oficiales
        self.background_vehicles = summary.vehiculos
        self.load_plates = [v["placa_patente"] for v in summary.vehiculos]
        loader = BulkLoader(db)
        people = await loader.personas(self.data.persona() for _ in range(REPORT_PEOPLE))
        cars = await loader.vehiculos(self.data.vehiculo(p["_id"]) for p in people)
        await loader.infracciones(
            self.data.infraccion(car, self.data.rng.choice(self.oficiales)) for car in cars for _ in range(REPORT_SIZE)
        )
        self.report_emails = [p["correo"] for p in people]
        service = TokenService(JWT_SECRET)
        for oficial in self.oficiales:
            issued = await service.issue(repos, numero=oficial["numero"], label="bench")
            self.tokens.append(issued.token)

    async def grow_to(self, db: Any, total: int) -> None:
        """Add other people's infractions until the collection holds ``total``."""
        missing = total - await db.infracciones.count_documents({})
        if missing > 0:
            rng = self.data.rng
            await BulkLoader(db, batch_size=2000).infracciones(
                self.data.infraccion(rng.choice(self.background_vehicles), rng.choice(self.oficiales))
                for _ in range(missing)
            )


async def seeded(db: Any) -> Dataset:
    """The benchmark's data in an empty database: its indexes, then SCALE_POINTS[0] infractions."""
    await prepare_database(db)
    dataset = Dataset()
    await dataset.build(db, Repositories.over(db), SCALE_POINTS[0])
    return dataset


def start_server(
    uri: str,
    port: int,
    workdir: Path,
    *,
    script: Path = ROOT / "server.py",
    prefix: list[str] | None = None,
    extra_env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """``python server.py`` (one process) against ``uri``; ``prefix`` runs it under another program
    (Valgrind, a profiler) and ``script`` replaces it (the floor, bench/floor.py)."""
    env = {
        **os.environ,
        "APP_ENV": "development",
        "MONGODB_URI": uri,
        "MONGODB_DB": DB_NAME,
        "PORT": str(port),
        "DATA_DIR": str(workdir),
        "JWT_SECRET": JWT_SECRET,
        "COOKIE_SECRET": COOKIE_SECRET,
        "REPORT_RATE_LIMIT": "1000000/second",  # the limiter still runs; it just never refuses
        "WORKERS": "1",
    }
    env.update(extra_env or {})
    env.pop("METRICS_TOKEN", None)
    with open(workdir / "server.log", "ab") as log:
        return subprocess.Popen([*(prefix or []), sys.executable, str(script)], env=env, stdout=log, stderr=log, cwd=ROOT)


def wait_ready(server: subprocess.Popen[bytes], port: int, log: Path, timeout: float = 300) -> None:
    """Until ``GET /readyz`` answers 200 (under Valgrind a start takes minutes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited:\n{log.read_text(errors='replace')[-3000:]}")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.request("GET", "/readyz")
            if connection.getresponse().status == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        finally:
            connection.close()
        time.sleep(0.2)
    raise RuntimeError(f"the server was not ready in {timeout:.0f} s")


def stop_server(server: subprocess.Popen[bytes] | None, timeout: float = 60) -> None:
    """SIGTERM (a graceful stop), then SIGKILL if it takes longer than ``timeout``."""
    if server is None or server.poll() is not None:
        return
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def save_results(out: Path, sections: dict[str, Any]) -> dict[str, Any]:
    """Replace ``sections`` (top-level keys) in ``out``/latest.json, keeping what the other
    benchmarks wrote there; the whole file's contents."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "latest.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    results.update(sections)
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    return results
