"""The load benchmark's measurements (``bench/run.py``): an async load generator at a fixed
concurrency, the server's CPU per request from /proc, MongoDB commands per request from its
/metrics, the report's sequential latency, and an optional py-spy profile."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

import httpx

from bench.stack import REPORT_SIZE, Dataset

TARGETS_CPU_MS = {"cargar_infraccion": 1.0, "generar_informe": 1.2}
CLK_TCK = os.sysconf("SC_CLK_TCK")
COMMANDS = re.compile(r"^transito_mongodb_commands_total\{[^}]*\} ([0-9.e+]+)$", re.MULTILINE)
BOUND_NOTE = (
    "Requests/s and latencies are bounded by SecantusDB (a Python MongoDB-compatible server of about 1,000 "
    "simple operations/s) and by whatever else shares the machine's cores. Server CPU ms per request and MongoDB "
    "commands per request are the figures that carry to real MongoDB."
)
Request = Callable[[int], Awaitable[int]]


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

    async def run(self, request: Request, *, concurrency: int, seconds: float) -> tuple[list[float], dict[int, int], float]:
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
    load: Load, name: str, request: Request, pid: int, *, concurrency: int, seconds: float, profile: Path | None = None
) -> dict[str, Any]:
    """One endpoint at ``concurrency`` for ``seconds`` after a warm-up, then one at a time."""
    await load.run(request, concurrency=concurrency, seconds=min(2.0, seconds / 5))  # warm-up
    profiler = start_profiler(pid, profile.with_suffix(".raw")) if profile else None
    commands_before = await commands_so_far(load.http)
    cpu_before = cpu_seconds(pid)
    latencies, statuses, elapsed = await load.run(request, concurrency=concurrency, seconds=seconds)
    cpu_ms = (cpu_seconds(pid) - cpu_before) * 1000
    commands_after = await commands_so_far(load.http)
    if profiler is not None and profile is not None:
        stop_profiler(profiler, profile)
    # The same requests one at a time, for comparison: no queueing, but every request pays the
    # wake-up of an idle process, so it is not lower; the two bound the per-request cost.
    cpu_sequential = cpu_seconds(pid)
    sequential, _, _ = await load.run(request, concurrency=1, seconds=min(5.0, seconds))
    cpu_sequential = (cpu_seconds(pid) - cpu_sequential) * 1000 / len(sequential)
    n = len(latencies)
    commands = None if commands_before is None or commands_after is None else round((commands_after - commands_before) / n, 2)
    result = {
        "requests": n,
        "ok": sum(count for status, count in statuses.items() if 200 <= status < 300),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "seconds": round(elapsed, 2),
        "requests_per_second": round(n / elapsed, 1),
        "latency_ms": {f"p{q}": round(percentile(latencies, q) * 1000, 2) for q in (50, 95, 99)},
        "server_cpu_ms_per_request": round(cpu_ms / n, 3),
        "server_cpu_ms_per_request_sequential": round(cpu_sequential, 3),
        "mongodb_commands_per_request": commands,
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


# -- py-spy (``--profile``) ----------------------------------------------------------------------


def start_profiler(pid: int, raw: Path) -> subprocess.Popen[bytes]:
    """py-spy samples the server from outside (only while it runs Python code, so a CPU profile)."""
    spy = Path(sys.executable).with_name("py-spy")
    return subprocess.Popen(
        [str(spy), "record", "--pid", str(pid), "--rate", "1000", "--format", "raw", "--output", str(raw)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def stop_profiler(profiler: subprocess.Popen[bytes], profile: Path) -> None:
    profiler.send_signal(signal.SIGINT)
    profiler.wait(timeout=60)
    profile.write_text(profile_summary(profile.with_suffix(".raw")) + "\n")


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
