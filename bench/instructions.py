#!/usr/bin/env python3
"""Instructions per request, counted by Valgrind's callgrind (``make bench-instructions``).

For ``server.py`` and for the floor (``bench/floor.py``: the same request, the same MongoDB
commands, the same JSON, nothing else), and for each API method:

1. a throwaway SecantusDB is started (outside Valgrind) and seeded deterministically, exactly as
   ``bench/run.py`` seeds it (``bench/serving.py``);
2. the server runs under ``valgrind --tool=callgrind --instr-atstart=no`` (one process, WORKERS=1,
   PYTHONHASHSEED=0), so start-up and warm-up run uninstrumented (``bench/callgrind.py``);
3. after a warm-up, instrumentation is switched on (``callgrind_control -i on``) and, for each
   window size N (default 0, 200 and 400), the counters are zeroed (``--zero``), N requests are sent
   one at a time (``bench/traffic.py``), and the counts are dumped (``--dump``);
4. the marginal instructions per request is the least-squares slope of the counts over N: what is
   paid once per window (the control commands, the idle loop) falls into the intercept
   (``bench/slope.py``).

The counts are of the server process only (every thread of it); the database and the load
generator are other processes. Everything is done twice (``--runs 2``) to show the figure repeats.
Writes ``instructions`` into ``bench/results/latest.json`` (keeping the wrk-style figures that
``bench/run.py`` writes), redraws ``latest.png``, and writes per-method profile summaries:
``callgrind-<method>.txt`` (C level) and, with ``--cprofile``, ``cprofile-<method>.txt`` (Python
level, deterministic call counts, from a separate run without Valgrind).
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from bench import serving
from bench.callgrind import Callgrind, check_tools, idle_rate, read_dump, valgrind_prefix, valgrind_version
from bench.callgrind_summary import callgrind_summary
from bench.cprofile_summary import cprofile_summary
from bench.plot import plot
from bench.slope import KINDS, METHODS, combine, over_limit, summarize_windows
from bench.stack import RESULTS, ROOT, save_results

CPROFILED = ROOT / "bench" / "cprofiled.py"
# After the warm-up, before counting: the lookup log writes the warm-up's last reports 5 s after the
# first of them (services/lookups.py, and the floor likewise); not in the idle window's background.
SETTLE_SECONDS = 6
Log = Callable[[str], None]


def measure_callgrind(kind: str, args: argparse.Namespace, workdir: Path, log: Log) -> dict[str, Any]:
    """One server (ours or the floor) under callgrind: warm-up, the idle background, then every
    method's windows; per method the figures of ``summarize_windows`` and the largest window's dump."""
    with serving.serving(kind, args, workdir, prefix=valgrind_prefix(workdir)) as served:
        callgrind = Callgrind(served.server.pid, workdir)
        started = time.monotonic()
        for method in METHODS:  # uninstrumented: imports, connections, caches, specialisation
            served.send(method, args.warmup)
        time.sleep(SETTLE_SECONDS)
        callgrind.instrument(True)  # from here on, counted (switching on changes no count)
        log(f"    {kind}: warmed up in {time.monotonic() - started:.0f} s")
        background = idle_rate(callgrind, args.idle_seconds)
        log(f"    {kind}: idle, {background.instructions:,.0f} instructions and "
            f"{background.calls['epoll_wait']:.1f} loop iterations per second")
        result: dict[str, Any] = {}
        for method in METHODS:
            windows = []
            for n in args.windows:
                callgrind.zero()
                began = time.monotonic()
                served.send(method, n)
                seconds = time.monotonic() - began
                windows.append((n, read_dump(callgrind.dump(f"{method}-{n}")), seconds))
            result[method] = {**summarize_windows(windows, background), "_largest_dump": windows[-1][1]}
            log(f"    {kind} {method}: {result[method]['per_request']:,.0f} instructions/request, "
                f"{result[method]['calls_per_request']['epoll_wait']} loop iterations/request "
                f"({result[method]['seconds_per_request']:.2f} s/request under Valgrind)")
        return result


def measure_cprofile(kind: str, args: argparse.Namespace, workdir: Path, log: Log) -> dict[str, Path]:
    """One server under cProfile (``bench/cprofiled.py``), no Valgrind: a dump per method of the
    largest window's requests, after the same warm-up."""
    out = workdir / "cprofile"
    # prefix + [sys.executable, script]: cprofiled.py receives the interpreter and the script
    prefix, env = [sys.executable, str(CPROFILED)], {"BENCH_CPROFILE_OUT": str(out)}
    with serving.serving(kind, args, workdir, prefix=prefix, extra_env=env) as served:
        for method in METHODS:
            served.send(method, args.warmup)
        stats = {}
        for k, method in enumerate(METHODS, start=1):
            served.server.send_signal(signal.SIGUSR1)
            time.sleep(0.5)
            served.send(method, args.windows[-1])
            served.server.send_signal(signal.SIGUSR2)
            path = Path(f"{out}.{k}.pstats")
            deadline = time.monotonic() + 60
            while not path.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            if not path.exists():
                raise RuntimeError(f"cProfile wrote no {path}")
            stats[method] = path
        log(f"    {kind}: cProfile of {args.windows[-1]} requests per method")
        return stats


def describe(endpoints: dict[str, Any], runs: int, args: argparse.Namespace) -> dict[str, Any]:
    """latest.json's ``instructions``: the figures and how they were measured."""
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "what": "instructions executed by the server process per request (callgrind Ir, every thread), "
        "the least-squares slope over windows of sequential requests after a warm-up; the database and "
        "the load generator run outside Valgrind",
        "valgrind": valgrind_version(),
        "python": platform.python_version(),
        **serving.describe(args),
        "windows": list(args.windows),
        "warmup_requests_per_method": args.warmup,
        "runs": runs,
        "quick": args.quick,
        "floor": "bench/floor.py: the same request, MongoDB commands and JSON; no validation, auth, limiter, logging, metrics, headers or gzip",
        "endpoints": endpoints,
    }


def table(instructions: dict[str, Any]) -> str:
    lines = [f"{'method':<20}{'ours':>14}{'floor':>14}{'ratio':>8}  runs (ours; floor), spread"]
    for method, entry in instructions["endpoints"].items():
        ours, floor = entry.get("ours", {}), entry.get("floor", {})
        runs = "; ".join(
            ", ".join(f"{r['per_request']:,}" for r in side.get("runs", []))
            + (f" ({side['run_spread_pct']}%)" if side.get("run_spread_pct") is not None else "")
            for side in (ours, floor)
        )
        lines.append(
            f"{method:<20}{ours.get('per_request', 0):>14,}{floor.get('per_request', 0):>14,}{str(entry.get('ratio_to_floor', '-')):>8}  {runs}"
        )
    return "\n".join(lines)


def write_callgrind_profiles(runs: list[dict[str, Any]], instructions: dict[str, Any], n: int, out: Path) -> None:
    """``callgrind-<method>.txt`` from run 1's largest windows."""
    for method in METHODS:
        ours = runs[0].get("ours", {}).get(method, {}).get("_largest_dump")
        floor = runs[0].get("floor", {}).get(method, {}).get("_largest_dump")
        if ours is not None and n:
            figures: dict[str, Any] = {kind: instructions["endpoints"][method].get(kind, {}).get("per_request", 0) for kind in KINDS}
            figures["ratio"] = instructions["endpoints"][method].get("ratio_to_floor")
            (out / f"callgrind-{method}.txt").write_text(callgrind_summary(method, n, ours, floor, figures))


def write_cprofile_profiles(args: argparse.Namespace, kinds: list[str], workdir: Path, out: Path, log: Log) -> None:
    log("cProfile runs (no Valgrind)")
    stats = {kind: measure_cprofile(kind, args, workdir / f"cprofile-{kind}", log) for kind in kinds}
    for method in METHODS:
        floor_stats = stats["floor"][method] if "floor" in stats else None
        (out / f"cprofile-{method}.txt").write_text(cprofile_summary(stats["ours"][method], floor_stats, args.windows[-1], method))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windows", default="0,200,400", help="requests per measured window, per method (default 0,200,400)")
    parser.add_argument("--warmup", type=int, default=100, help="uninstrumented requests per method first (default 100)")
    parser.add_argument("--runs", type=int, default=2, help="independent runs of everything (default 2)")
    parser.add_argument("--db-delay-ms", type=float, default=10,
                        help="hand each database reply to the server this long after it is complete (default 10; 0: no proxy)")
    parser.add_argument("--idle-seconds", type=float, default=10, help="idle window that measures the background (default 10)")
    parser.add_argument("--pause-ms", type=float, default=10, help="pause between requests (default 10)")
    parser.add_argument("--only", choices=KINDS, help="measure only our server or only the floor")
    parser.add_argument("--cprofile", action="store_true", help="also a Python-level cProfile of each method (separate run)")
    parser.add_argument("--cprofile-only", action="store_true",
                        help="only the Python-level profiles (cProfile, no Valgrind; about 3 minutes); latest.json is left alone")
    parser.add_argument("--quick", action="store_true", help="a smoke run in well under a minute: windows 0,4,8, warm-up 8, idle 1 s, one run")
    parser.add_argument("--output", type=Path, help="where latest.json, latest.png and the profiles go "
                        "(default bench/results; with --quick or --only a temporary folder, kept)")
    parser.add_argument("--keep", action="store_true", help="keep the working folder (callgrind dumps, logs)")
    args = parser.parse_args(argv)
    if args.cprofile_only:
        args.cprofile = True
    if args.quick:
        args.windows, args.warmup, args.runs, args.idle_seconds = "0,4,8", 8, 1, 1
    args.windows = [int(n) for n in str(args.windows).split(",")]
    if len(args.windows) < 2 or args.windows != sorted(set(args.windows)):
        parser.error("--windows needs two or more increasing request counts")
    return args


def measure(args: argparse.Namespace, kinds: list[str], workdir: Path, out: Path, log: Log) -> dict[str, Any] | None:
    """Every run under callgrind, then the profiles; latest.json's ``instructions`` (None with --cprofile-only)."""
    runs = []
    for r in range(1, 0 if args.cprofile_only else args.runs + 1):
        log(f"run {r}")
        runs.append({kind: measure_callgrind(kind, args, workdir / f"run{r}-{kind}", log) for kind in kinds})
    instructions = describe(combine(runs), len(runs), args) if runs else None
    out.mkdir(parents=True, exist_ok=True)
    if instructions is not None:
        write_callgrind_profiles(runs, instructions, args.windows[-1], out)
    if args.cprofile and "ours" in kinds:
        write_cprofile_profiles(args, kinds, workdir, out, log)
    if instructions is not None:
        plot(save_results(out, {"instructions": instructions}), out / "latest.png")
    return instructions


def clean(workdir: Path, out: Path) -> None:
    """The working folder goes, but for the results when they were written into it."""
    for leftover in workdir.iterdir():
        if leftover != out:
            shutil.rmtree(leftover, ignore_errors=True)
    if not any(workdir.iterdir()):
        workdir.rmdir()


def main(args: argparse.Namespace) -> int:
    check_tools()
    workdir = Path(tempfile.mkdtemp(prefix="transito-instructions-"))
    # Only a complete measurement replaces the committed figures unless told where to write.
    out = args.output or (workdir / "results" if args.quick or args.only else RESULTS)
    started = time.monotonic()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - started:6.0f} s] {message}", flush=True)

    kinds = [args.only] if args.only else list(KINDS)
    log(f"callgrind: windows {args.windows}, warm-up {args.warmup}, {args.runs} run(s) of {', '.join(kinds)} ({workdir})")
    try:
        instructions = measure(args, kinds, workdir, out, log)
    finally:
        serving.join_stopping()
        if not args.keep:
            clean(workdir, out)
    print()
    if instructions is None:
        print(f"written: {out}/cprofile-*.txt")
        return 0
    print(table(instructions))
    print(f"written: {out / 'latest.json'}, {out / 'latest.png'}, {out}/callgrind-*.txt" + (f", {out}/cprofile-*.txt" if args.cprofile else ""))
    if args.keep:
        print(f"callgrind dumps and logs kept in {workdir}")
    if worst := over_limit(instructions["endpoints"]):
        print(f"warning: runs differ by more than 1%: {worst}", file=sys.stderr)
    return 0


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # run the finally blocks: servers and databases are stopped


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    sys.exit(main(parse_args()))
