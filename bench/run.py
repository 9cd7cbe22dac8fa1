#!/usr/bin/env python3
"""Benchmark of the two API methods against a throwaway SecantusDB (``make bench``).

Starts SecantusDB in memory, seeds it, starts ``python server.py`` (one process) against it, drives
each endpoint with an async load generator at a fixed concurrency for a fixed time, then measures
the report's p50 latency with 1k, 10k and 100k infractions in the collection. Writes
bench/results/latest.json and latest.png and prints a table.

What carries to real MongoDB: server-process CPU per request (from /proc/<pid>/stat, so the
database's own CPU is excluded) and MongoDB commands per request (from the server's /metrics).
Requests per second and latencies are bounded by SecantusDB, a Python server doing about a
thousand simple operations a second, and they move with whatever else runs on the machine."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from repositories import Repositories, prepare_database
from repositories.bulk import BulkLoader
from services.database import mongo_client
from services.demo_data import DemoData, seed
from services.devdb import EmbeddedDatabase
from services.tokens import TokenService

ROOT = Path(__file__).resolve().parent.parent

RESULTS = ROOT / "bench" / "results"
JWT_SECRET = "bench-" + "j" * 48
COOKIE_SECRET = "bench-" + "c" * 48
DB_NAME = "bench"
REPORT_PEOPLE = 20
REPORT_SIZE = 20  # infractions per report person
SCALE_POINTS = (1_000, 10_000, 100_000)
TARGETS_CPU_MS = {"cargar_infraccion": 1.0, "generar_informe": 1.2}
CLK_TCK = os.sysconf("SC_CLK_TCK")
COMMANDS = re.compile(r"^transito_mongodb_commands_total\{[^}]*\} ([0-9.e+]+)$", re.MULTILINE)
BOUND_NOTE = (
    "Requests/s and latencies are bounded by SecantusDB (a Python MongoDB-compatible server of about 1,000 "
    "simple operations/s) and by whatever else shares the machine's cores. Server CPU ms per request and MongoDB "
    "commands per request are the figures that carry to real MongoDB."
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (not its children): fields 14 and 15 of /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


async def commands_so_far(http: httpx.AsyncClient) -> float | None:
    response = await http.get("/metrics")
    if response.status_code != 200:
        return None
    return sum(float(v) for v in COMMANDS.findall(response.text))


async def wakeup_cpu_ms(idle_seconds: float = 0.01, n: int = 200) -> float:
    """CPU this machine charges a process for one wake-up after idling (an asyncio sleep). On a
    virtual machine it grows with the idle time, and a server waiting on a slow database pays it
    on every round trip, so it is the calibration for CPU per request."""
    start = time.process_time()
    for _ in range(n):
        await asyncio.sleep(idle_seconds)
    return round((time.process_time() - start) * 1000 / n, 3)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


class Dataset:
    """The seeded data the load generator draws from."""

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


class Load:
    """Fixed concurrency for a fixed time; one request factory per endpoint."""

    def __init__(self, http: httpx.AsyncClient, dataset: Dataset) -> None:
        self.http = http
        self.dataset = dataset
        self.sequence = 0
        self.base = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)

    async def cargar(self, i: int) -> int:
        self.sequence += 1
        ds = self.dataset
        timestamp = self.base + dt.timedelta(milliseconds=self.sequence)  # unique observations
        response = await self.http.post(
            "/api/cargar_infraccion",
            json={
                "placa_patente": ds.load_plates[self.sequence % len(ds.load_plates)],
                "timestamp": timestamp.isoformat(timespec="milliseconds"),
                "comentarios": "Exceso de velocidad en zona urbana.",
            },
            headers={"Authorization": f"Bearer {ds.tokens[self.sequence % len(ds.tokens)]}"},
        )
        return response.status_code

    async def informe(self, i: int) -> int:
        self.sequence += 1
        emails = self.dataset.report_emails
        response = await self.http.get("/api/generar_informe", params={"email": emails[self.sequence % len(emails)]})
        if response.status_code == 200 and response.json()["total"] != REPORT_SIZE:
            raise AssertionError("a report person's infractions changed during the benchmark")
        return response.status_code

    async def run(self, request, *, concurrency: int, seconds: float) -> tuple[list[float], dict[int, int], float]:
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        deadline = time.perf_counter() + seconds

        async def worker(i: int) -> None:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                status = await request(i)
                latencies.append(time.perf_counter() - start)
                statuses[status] = statuses.get(status, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        return latencies, statuses, time.perf_counter() - started


async def measure(
    load: Load, name: str, request, pid: int, *, concurrency: int, seconds: float, profile: Path | None = None
) -> dict[str, Any]:
    await load.run(request, concurrency=concurrency, seconds=min(2.0, seconds / 5))  # warm-up
    profiler = start_profiler(pid, profile.with_suffix(".raw")) if profile else None
    commands_before = await commands_so_far(load.http)
    cpu_before = cpu_seconds(pid)
    latencies, statuses, elapsed = await load.run(request, concurrency=concurrency, seconds=seconds)
    cpu_after = cpu_seconds(pid)
    commands_after = await commands_so_far(load.http)
    if profiler is not None:
        profiler.send_signal(signal.SIGINT)
        profiler.wait(timeout=60)
        profile.write_text(profile_summary(profile.with_suffix(".raw")) + "\n")
    # The same requests one at a time, for comparison: no queueing, but every request pays the
    # wake-up of an idle process, so it is not lower; the two bound the per-request cost.
    cpu_sequential = cpu_seconds(pid)
    sequential, _, _ = await load.run(request, concurrency=1, seconds=min(5.0, seconds))
    cpu_sequential = (cpu_seconds(pid) - cpu_sequential) * 1000 / len(sequential)
    n = len(latencies)
    ok = sum(count for status, count in statuses.items() if 200 <= status < 300)
    result = {
        "requests": n,
        "ok": ok,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "seconds": round(elapsed, 2),
        "requests_per_second": round(n / elapsed, 1),
        "latency_ms": {f"p{q}": round(percentile(latencies, q) * 1000, 2) for q in (50, 95, 99)},
        "server_cpu_ms_per_request": round((cpu_after - cpu_before) * 1000 / n, 3),
        "server_cpu_ms_per_request_sequential": round(cpu_sequential, 3),
        "mongodb_commands_per_request": (
            round((commands_after - commands_before) / n, 2)
            if commands_before is not None and commands_after is not None
            else None
        ),
        "target_cpu_ms_per_request": TARGETS_CPU_MS[name],
    }
    print(f"  {name}: {n} requests, {result['requests_per_second']} req/s, "
          f"{result['server_cpu_ms_per_request']} ms CPU/request "
          f"({result['server_cpu_ms_per_request_sequential']} one at a time)", flush=True)
    return result


async def report_p50(load: Load, requests: int) -> float:
    """Sequential requests (concurrency 1): latency without queueing."""
    latencies = []
    for i in range(requests):
        start = time.perf_counter()
        status = await load.informe(i)
        latencies.append(time.perf_counter() - start)
        assert status == 200, status
    return statistics.median(latencies) * 1000


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


def start_profiler(pid: int, raw: Path) -> subprocess.Popen[bytes]:
    """py-spy samples the server from outside (only while it runs Python code, so a CPU profile)."""
    spy = Path(sys.executable).with_name("py-spy")
    return subprocess.Popen(
        [str(spy), "record", "--pid", str(pid), "--rate", "1000", "--format", "raw", "--output", str(raw)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


IDLE_LEAVES = ("thread.py:81)", "selectors.py:468)")


def profile_summary(raw: Path, top: int = 40) -> str:
    """Inclusive and self share of samples per function, from py-spy's collapsed stacks."""
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or stack.endswith(IDLE_LEAVES):
            continue  # threads and the event loop waiting: py-spy does not always see them as idle
        n = int(count)
        total += n
        frames = [re.sub(r"^(.*) \((?:.*/)?(?:site-packages/)?(.*)\)$", r"\1 (\2)", f) for f in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + n
        own[frames[-1]] = own.get(frames[-1], 0) + n
    lines = [f"{total} samples (CPU only). inclusive% self%  function"]
    for frame, n in sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"{100 * n / total:9.1f} {100 * own.get(frame, 0) / total:5.1f}  {frame}")
    lines.append("top self:")
    for frame, n in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"{100 * n / total:9.1f}  {frame}")
    return "\n".join(lines)


async def wait_ready(http: httpx.AsyncClient, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited:\n{log.read_text()[-3000:]}")
        try:
            if (await http.get("/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("the server did not become ready in 60 s")


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    instructions = results.get("instructions")
    load = "endpoints" in results
    rows = (2 if load else 0) + (1 if instructions else 0)
    fig, axes = plt.subplots(rows, 2, figsize=(11, 4 * rows), squeeze=False)
    if load:
        fig.suptitle(f"transito API benchmark ({results['concurrency']} clients, SecantusDB, {results['date']})", fontsize=11)
        plot_load(results, axes)
    if instructions:
        plot_instructions(instructions, axes[-1])

    fig.text(0.5, 0.005, BOUND_NOTE, ha="center", fontsize=7, wrap=True)
    fig.tight_layout(rect=(0, 0.04, 1, 0.97))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_load(results: dict[str, Any], axes: Any) -> None:
    """The wrk-style figures: requests/s, latency, CPU per request, the report's scaling."""
    endpoints = results["endpoints"]
    names = list(endpoints)
    ax = axes[0][0]
    ax.bar(names, [endpoints[n]["requests_per_second"] for n in names], color=["#4c72b0", "#55a868"])
    ax.set_title("requests per second (bounded by SecantusDB)")

    ax = axes[0][1]
    width = 0.25
    for k, q in enumerate(("p50", "p95", "p99")):
        ax.bar([i + (k - 1) * width for i in range(len(names))], [endpoints[n]["latency_ms"][q] for n in names], width, label=q)
    ax.set_xticks(range(len(names)), names)
    ax.set_title("latency (ms) at fixed concurrency")
    ax.legend()

    ax = axes[1][0]
    ax.bar([i - 0.2 for i in range(len(names))], [endpoints[n]["server_cpu_ms_per_request"] for n in names], 0.4,
           label=f"{results['concurrency']} clients")
    ax.bar([i + 0.2 for i in range(len(names))], [endpoints[n]["server_cpu_ms_per_request_sequential"] for n in names], 0.4,
           label="one at a time")
    ax.set_xticks(range(len(names)), names)
    ax.legend(loc="upper center")
    for i, n in enumerate(names):
        ax.hlines(TARGETS_CPU_MS[n], i - 0.4, i + 0.4, colors="red", linestyles="dashed")
        commands = endpoints[n]["mongodb_commands_per_request"]
        ax.annotate(f"{commands} cmd/req", (i, endpoints[n]["server_cpu_ms_per_request"]), ha="center", va="bottom")
    ax.set_title("server CPU ms per request (dashed: target)")

    ax = axes[1][1]
    scaling = results["report_scaling"]
    ax.plot([p["infracciones"] for p in scaling], [p["p50_ms"] for p in scaling], marker="o")
    ax.set_xscale("log")
    ax.set_ylim(bottom=0)
    ax.set_xlabel("infractions in the collection")
    ax.set_title(f"generar_informe p50 (ms), {REPORT_SIZE}-item report, sequential")


def plot_instructions(instructions: dict[str, Any], axes: Any) -> None:
    """bench/instructions.py's figures: callgrind instructions per request, ours against the floor
    (each run a dot), and how far apart the runs are."""
    endpoints = instructions["endpoints"]
    names = list(endpoints)
    colors = {"ours": "#4c72b0", "floor": "#999999"}
    ax = axes[0]
    for k, kind in enumerate(("ours", "floor")):
        xs = [i + (k - 0.5) * 0.4 for i in range(len(names))]
        ax.bar(xs, [endpoints[n].get(kind, {}).get("per_request", 0) / 1e6 for n in names], 0.4, label=kind, color=colors[kind])
        for x, n in zip(xs, names, strict=True):
            runs = endpoints[n].get(kind, {}).get("runs", [])
            ax.plot([x] * len(runs), [r["per_request"] / 1e6 for r in runs], "k.", markersize=5)
    for i, n in enumerate(names):
        if "ratio_to_floor" in endpoints[n]:
            ax.annotate(f"{endpoints[n]['ratio_to_floor']}x the floor", (i - 0.2, endpoints[n]["ours"]["per_request"] / 1e6),
                        ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("million instructions / request")
    ax.set_title(f"callgrind: instructions per request (dots: runs; {instructions['date']})", fontsize=9)
    ax.legend(loc="lower right")

    ax = axes[1]
    labels, spreads = [], []
    for n in names:
        for kind in ("ours", "floor"):
            spread = endpoints[n].get(kind, {}).get("run_spread_pct")
            if spread is not None:
                labels.append(f"{n}\n{kind}")
                spreads.append(spread)
    ax.bar(range(len(labels)), spreads, color="#55a868")
    ax.axhline(1.0, color="red", linestyle="dashed")
    ax.set_xticks(range(len(labels)), labels, fontsize=7)
    ax.set_ylabel("% difference between runs")
    ax.set_title(f"callgrind repeatability, {instructions['runs']} runs (limit 1%: dashed)", fontsize=9)


def table(results: dict[str, Any]) -> str:
    lines = [
        f"{'endpoint':<20}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'CPU ms/req':>12}{'(seq.)':>8}{'target':>8}{'cmd/req':>9}",
    ]
    for name, r in results["endpoints"].items():
        lat = r["latency_ms"]
        lines.append(
            f"{name:<20}{r['requests_per_second']:>8}{lat['p50']:>9}{lat['p95']:>9}{lat['p99']:>9}"
            f"{r['server_cpu_ms_per_request']:>12}{r['server_cpu_ms_per_request_sequential']:>8}{r['target_cpu_ms_per_request']:>8}{str(r['mongodb_commands_per_request']):>9}"
        )
    lines.append(f"one wake-up after 10 ms idle costs {results['machine']['wakeup_cpu_ms_after_10ms_idle']} ms CPU here")
    scaling = ", ".join(f"{p['infracciones']:,}: {p['p50_ms']:.2f} ms" for p in results["report_scaling"])
    lines.append(f"generar_informe p50 by collection size: {scaling} (ratio {results['scaling_ratio']}, "
                 f"{'flat' if results['scaling_flat'] else 'NOT flat'}: limit 1.5x)")
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="transito-bench-"))
    database = EmbeddedDatabase(":memory:", log_path=workdir / "secantus.log")
    print(f"starting SecantusDB and seeding ({workdir})", flush=True)
    await asyncio.to_thread(database.start)
    wakeup_ms = await wakeup_cpu_ms()
    client = mongo_client(database.uri)
    server = None
    try:
        db = client[DB_NAME]
        await prepare_database(db)
        repos = Repositories.over(db)
        dataset = Dataset()
        scale_points = [p for p in SCALE_POINTS if p <= args.max_infractions]
        await dataset.build(db, repos, scale_points[0])

        port = free_port()
        server = start_server(database.uri, port, workdir)
        limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=60) as http:
            await wait_ready(http, server, workdir / "server.log")
            load = Load(http, dataset)
            await report_p50(load, 20)  # warm-up: first requests pay imports and connection set-up
            if args.profile:
                args.profile.mkdir(parents=True, exist_ok=True)
            idle_before = cpu_seconds(server.pid)
            await asyncio.sleep(5)
            idle_ms_per_second = round((cpu_seconds(server.pid) - idle_before) * 1000 / 5, 2)
            scaling = [{"infracciones": scale_points[0], "p50_ms": await report_p50(load, args.scale_requests)}]
            print(f"measuring {args.seconds:g} s per endpoint at concurrency {args.concurrency}", flush=True)
            endpoints = {
                name: await measure(
                    load, name, request, server.pid, concurrency=args.concurrency, seconds=args.seconds,
                    profile=args.profile / f"{name}.txt" if args.profile else None,
                )
                for name, request in (("cargar_infraccion", load.cargar), ("generar_informe", load.informe))
            }
            for point in scale_points[1:]:
                print(f"growing the collection to {point:,} infractions", flush=True)
                await dataset.grow_to(db, point)
                scaling.append({"infracciones": point, "p50_ms": await report_p50(load, args.scale_requests)})
        for p in scaling:
            p["p50_ms"] = round(p["p50_ms"], 3)
        ratio = round(scaling[-1]["p50_ms"] / scaling[0]["p50_ms"], 2)
        results = {
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                        "wakeup_cpu_ms_after_10ms_idle": wakeup_ms},
            "concurrency": args.concurrency,
            "seconds_per_endpoint": args.seconds,
            "server_processes": 1,
            "server_idle_cpu_ms_per_second": idle_ms_per_second,
            "report_size": REPORT_SIZE,
            "endpoints": endpoints,
            "report_scaling": scaling,
            "scaling_ratio": ratio,
            "scaling_flat": ratio <= 1.5,
            "note": BOUND_NOTE,
        }
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        await client.close()
        await database.astop()

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    previous = out / "latest.json"
    if previous.exists() and "instructions" in (kept := json.loads(previous.read_text())):
        results["instructions"] = kept["instructions"]  # bench/instructions.py's figures, dated separately
    (out / "latest.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    plot(results, out / "latest.png")
    print()
    print(table(results))
    print(BOUND_NOTE)
    print(f"written: {out / 'latest.json'}, {out / 'latest.png'}")
    if args.profile:
        print(f"profile: {args.profile}")
    errors = {n: r for n, r in results["endpoints"].items() if r["ok"] != r["requests"]}
    if errors:
        print(f"error: some requests failed: { {n: r['statuses'] for n, r in errors.items()} }", file=sys.stderr)
        return 1
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20, help="measured time per endpoint (default 20)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--scale-requests", type=int, default=200, help="sequential reports per collection size")
    parser.add_argument("--max-infractions", type=int, default=SCALE_POINTS[-1], help="largest collection size measured")
    parser.add_argument("--output", default=str(RESULTS))
    parser.add_argument("--profile", type=Path, help="a folder: sample the server with py-spy during each endpoint's load")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
