#!/usr/bin/env python3
"""The admin's infractions list and its CSV export at 100,000 infractions (``make bench-lists``).

Seeds a throwaway SecantusDB with 100,000 infractions, starts ``python server.py`` against it,
logs in, and measures:

1. the list's first page against a deep one reached by the page's own links (the next-page link,
   walked ``--walk`` times, and the last page), median of ``--repeat`` requests each: keyset pages
   should cost the same wherever they are;
2. the server's memory while it streams the export of 1,000 rows and of all 100,000 (its resident
   set size, sampled from /proc every 20 ms): a streamed export should not grow with its rows.

Writes the figures into bench/results/latest.json (section "lists") and prints them."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench import stack
from repositories import Repositories, prepare_database
from services.database import mongo_client
from services.demo_data import seed
from services.devdb import EmbeddedDatabase

ADMIN = ("bench", "una-clave-de-benchmark")
PAGE = 100


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def timed(http: httpx.AsyncClient, url: str, repeat: int) -> tuple[float, httpx.Response]:
    times, response = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        response = await http.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text[:300]
    assert response is not None
    return statistics.median(times), response


def link(response: httpx.Response, pattern: str) -> str:
    return "/admin/infracciones/" + re.search(pattern, response.text).group(1).replace("&amp;", "&")


async def pages(http: httpx.AsyncClient, walk: int, repeat: int) -> dict[str, Any]:
    first_ms, page = await timed(http, f"/admin/infracciones/?por_pagina={PAGE}", repeat)
    deep_url = ""
    for _ in range(walk):
        deep_url = link(page, r'<a rel="next" href="([^"]+)"')
        page = await http.get(deep_url)
    deep_ms, deep = await timed(http, deep_url, repeat)
    number = re.search(r"página (\d+) de (\d+)", deep.text)
    last_ms, _ = await timed(http, link(deep, r'<a href="([^"]+)" aria-label="Última página">'), repeat)
    return {"first_ms": round(first_ms, 1), "deep_ms": round(deep_ms, 1), "deep_page": int(number.group(1)),
            "last_ms": round(last_ms, 1), "pages": int(number.group(2)), "per_page": PAGE}


async def export_memory(http: httpx.AsyncClient, pid: int, params: dict[str, str]) -> dict[str, Any]:
    baseline = rss_mib(pid)
    peak, rows, started = baseline, 0, time.perf_counter()
    async with http.stream("GET", "/admin/infracciones/exportar", params=params) as response:
        assert response.status_code == 200
        async for chunk in response.aiter_bytes():
            rows += chunk.count(b"\r\n")
            peak = max(peak, rss_mib(pid))
    return {"rows": rows - 1, "rss_before_mib": round(baseline, 1), "rss_peak_mib": round(peak, 1),
            "growth_mib": round(peak - baseline, 1), "seconds": round(time.perf_counter() - started, 1)}


async def main(args: argparse.Namespace) -> int:
    database = EmbeddedDatabase(":memory:")
    database.start()
    workdir = Path(tempfile.mkdtemp(prefix="bench-lists-"))
    server = None
    try:
        client = mongo_client(database.uri)
        db = client[stack.DB_NAME]
        await prepare_database(db)
        print(f"seeding {args.infracciones:,} infractions…", flush=True)
        await seed(db, personas=2000, vehiculos=3000, oficiales=50, infracciones=args.infracciones, seed=11)
        await Repositories.over(db).admins.set_password(username=ADMIN[0], password=ADMIN[1])
        since = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=85)).date()
        # a date range holding about 1,000 rows, for the small export
        small = await db["infracciones"].find({}, {"timestamp": 1}).sort("timestamp", 1).skip(999).limit(1).to_list(1)
        until = small[0]["timestamp"].astimezone(dt.timezone(dt.timedelta(hours=-3))).date() if small else since
        await client.close()

        port = stack.free_port()
        server = stack.start_server(database.uri, port, workdir)
        await asyncio.to_thread(stack.wait_ready, server, port, workdir / "server.log", 60)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=600) as http:
            page = await http.get("/admin/login")
            xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text).group(1)
            login = await http.post("/admin/login", data={"username": ADMIN[0], "password": ADMIN[1], "_xsrf": xsrf})
            assert login.status_code == 302, login.text[:300]
            results = {"infracciones": args.infracciones, "pages": await pages(http, args.walk, args.repeat)}
            print(json.dumps(results["pages"]), flush=True)
            results["export_small"] = await export_memory(http, server.pid, {"desde": since.isoformat(), "hasta": until.isoformat()})
            print(json.dumps(results["export_small"]), flush=True)
            results["export_all"] = await export_memory(http, server.pid, {})
            print(json.dumps(results["export_all"]), flush=True)
        results["date"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="minutes")
        stack.save_results(stack.RESULTS, {"lists": results})
        return 0
    finally:
        stack.stop_server(server, 30)
        database.stop()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--infracciones", type=int, default=100_000)
    parser.add_argument("--walk", type=int, default=20, help="next-page links followed to reach the deep page")
    parser.add_argument("--repeat", type=int, default=5, help="requests per page timed (the median is kept)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse_args())))
