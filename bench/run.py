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
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

from bench.load import BOUND_NOTE, Load, cpu_seconds, measure, report_p50, wakeup_cpu_ms
from bench.plot import plot
from bench.stack import DB_NAME, REPORT_SIZE, RESULTS, SCALE_POINTS, Dataset, free_port, save_results, seeded, start_server
from bench.stack import stop_server, wait_ready
from services.database import mongo_client
from services.devdb import EmbeddedDatabase


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


async def measure_server(args: argparse.Namespace, db: Any, dataset: Dataset, uri: str, workdir: Path) -> dict[str, Any]:
    """Start the server, warm it up, load each endpoint, then the report's latency as the
    collection grows: the figures of ``results`` that come from the running server."""
    scale_points = [p for p in SCALE_POINTS if p <= args.max_infractions]
    port = free_port()
    server = start_server(uri, port, workdir)
    try:
        await asyncio.to_thread(wait_ready, server, port, workdir / "server.log", 60)
        limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=60) as http:
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
    finally:
        await asyncio.to_thread(stop_server, server, 30)
    return {"server_idle_cpu_ms_per_second": idle_ms_per_second, "endpoints": endpoints, "report_scaling": scaling}


def describe(args: argparse.Namespace, measured: dict[str, Any], wakeup_ms: float) -> dict[str, Any]:
    """The top-level keys of latest.json that ``make bench`` owns."""
    scaling = measured["report_scaling"]
    for p in scaling:
        p["p50_ms"] = round(p["p50_ms"], 3)
    ratio = round(scaling[-1]["p50_ms"] / scaling[0]["p50_ms"], 2)
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "wakeup_cpu_ms_after_10ms_idle": wakeup_ms},
        "concurrency": args.concurrency,
        "seconds_per_endpoint": args.seconds,
        "server_processes": 1,
        "server_idle_cpu_ms_per_second": measured["server_idle_cpu_ms_per_second"],
        "report_size": REPORT_SIZE,
        "endpoints": measured["endpoints"],
        "report_scaling": scaling,
        "scaling_ratio": ratio,
        "scaling_flat": ratio <= 1.5,
        "note": BOUND_NOTE,
    }


async def main(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="transito-bench-"))
    database = EmbeddedDatabase(":memory:", log_path=workdir / "secantus.log")
    print(f"starting SecantusDB and seeding ({workdir})", flush=True)
    await asyncio.to_thread(database.start)
    wakeup_ms = await wakeup_cpu_ms()
    client = mongo_client(database.uri)
    try:
        db = client[DB_NAME]
        dataset = await seeded(db)
        measured = await measure_server(args, db, dataset, database.uri, workdir)
    finally:
        await client.close()
        await database.astop()

    out = Path(args.output)
    results = save_results(out, describe(args, measured, wakeup_ms))  # keeps "instructions" and "lists", dated apart
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
