#!/usr/bin/env python3
"""Instructions per request, counted by Valgrind's callgrind (``make bench-instructions``).

For ``server.py`` and for the floor (``bench/floor.py``: the same request, the same MongoDB
commands, the same JSON, nothing else), and for each API method:

1. a throwaway SecantusDB is started (outside Valgrind) and seeded deterministically, exactly as
   ``bench/run.py`` seeds it;
2. the server runs under ``valgrind --tool=callgrind --instr-atstart=no`` (one process, WORKERS=1,
   PYTHONHASHSEED=0), so start-up and warm-up run uninstrumented;
3. after a warm-up, instrumentation is switched on (``callgrind_control -i on``) and, for each
   window size N (default 0, 200 and 400), the counters are zeroed (``--zero``), N requests are sent
   one at a time, and the counts are dumped (``--dump``);
4. the marginal instructions per request is the least-squares slope of the counts over N: what is
   paid once per window (the control commands, the idle loop) falls into the intercept.

The counts are of the server process only (every thread of it); the database and the load
generator are other processes. Everything is done twice (``--runs 2``) to show the figure repeats.
Writes ``instructions`` into ``bench/results/latest.json`` (keeping the wrk-style figures that
``bench/run.py`` writes), redraws ``latest.png``, and writes per-method profile summaries:
``callgrind-<method>.txt`` (C level) and, with ``--cprofile``, ``cprofile-<method>.txt`` (Python
level, deterministic call counts, from a separate run without Valgrind).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import contextlib
import dataclasses
import datetime as dt
import gzip
import json
import platform
import pstats
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

# The load benchmark's helpers (seeding, the server and database processes, results files).
from bench import run as wrk

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
FLOOR = BENCH / "floor.py"
CPROFILED = BENCH / "cprofiled.py"
METHODS = ("cargar_infraccion", "generar_informe")
KINDS = ("ours", "floor")
HASH_SEED = "0"
STOPPING: list[threading.Thread] = []  # databases being stopped
# No driver heartbeats during a window: they come every 10 s of wall time (two round trips each),
# and a window under Valgrind lasts minutes, so their number would follow the machine's speed.
# They are not part of any request; the request path is unchanged.
URI_OPTIONS = "heartbeatFrequencyMS=3600000"
# What each window's dump is inspected for, per request: the event loop's wake-ups, socket calls,
# and the garbage collector (libc and CPython function names).
WATCHED_CALLS = {
    "epoll_wait": ("epoll_wait",),
    "recv": ("recv", "recvfrom", "recvmsg", "read"),
    "send": ("send", "sendto", "sendmsg", "write", "writev"),
    "gc_collections": ("gc_collect_main",),
}
OBJECT_LABELS = (
    (r"libpython|python3\.\d+$", "CPython interpreter"),
    (r"/libc\.so|ld-linux", "libc (malloc, memcpy, system calls)"),
    (r"_cbson|_cmessage", "PyMongo C extensions (BSON)"),
    (r"pydantic_core", "pydantic-core"),
    (r"_json\.", "json (C accelerator)"),
    (r"zlib|libz\.", "zlib (gzip)"),
    (r"_asyncio\.", "asyncio (C)"),
    (r"_datetime\.", "datetime (C)"),
    (r"libcrypto|_hashlib|_hmac|_blake|_sha", "libcrypto (SHA-1 of Tornado's ETag on GET)"),
    (r"_socket\.|select\.", "socket, select (C wrappers)"),
    (r"libm\.", "libm"),
)


# --------------------------------------------------------------------------------------------
# The requests: identical from run to run
# --------------------------------------------------------------------------------------------


class Traffic:
    """Request ``i`` of a window uses token ``i % 50``, plate ``i % 3000`` and report persona
    ``i % 20``, so every window of N requests carries the same data in every run; only the
    infractions' timestamps move on (one per request, so every observation is new), and they have
    a fixed length. The bytes are what httpx sends, in one ``sendall`` so the server always reads a
    request in one piece."""

    HEADERS = "Accept: */*\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\nUser-Agent: python-httpx/0.28.1\r\n"

    def __init__(self, dataset: Any, port: int) -> None:
        self.dataset = dataset
        self.host = f"127.0.0.1:{port}"
        self.base = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(days=1)
        self.sequence = 0

    def cargar_infraccion(self, i: int) -> bytes:
        self.sequence += 1
        ds = self.dataset
        body = json.dumps(
            {
                "placa_patente": ds.load_plates[i % len(ds.load_plates)],
                "timestamp": (self.base + dt.timedelta(milliseconds=self.sequence)).isoformat(timespec="milliseconds"),
                "comentarios": "Exceso de velocidad en zona urbana.",
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        head = (
            f"POST /api/cargar_infraccion HTTP/1.1\r\nHost: {self.host}\r\n{self.HEADERS}"
            f"Authorization: Bearer {ds.tokens[i % len(ds.tokens)]}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    def generar_informe(self, i: int) -> bytes:
        emails = self.dataset.report_emails
        email = emails[i % len(emails)].replace("@", "%40")
        return f"GET /api/generar_informe?email={email} HTTP/1.1\r\nHost: {self.host}\r\n{self.HEADERS}\r\n".encode()

    @staticmethod
    def check(method: str, status: int, body: bytes) -> None:
        if status != 200:
            raise RuntimeError(f"{method} answered {status}: {body[:500]!r}")
        if method == "generar_informe" and json.loads(body)["total"] != wrk.REPORT_SIZE:
            raise RuntimeError("a report persona's infractions changed during the benchmark")


class Connection:
    """One keep-alive HTTP/1.1 connection, one request at a time (the load generator)."""

    def __init__(self, port: int, timeout: float) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def _more(self) -> None:
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise RuntimeError("the server closed the connection")
        self.buffer += chunk

    def request(self, raw: bytes) -> tuple[int, bytes]:
        self.sock.sendall(raw)
        while b"\r\n\r\n" not in self.buffer:
            self._more()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            self._more()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        if headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        return int(lines[0].split()[1]), body

    def close(self) -> None:
        self.sock.close()


# --------------------------------------------------------------------------------------------
# Processes: the database, the server under Valgrind (or cProfile), their clean-up
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Seeded:
    database: Any  # wrk.EmbeddedDatabase
    dataset: Any  # wrk.Dataset
    tokens_file: Path


async def _seed(uri: str, workdir: Path) -> tuple[Any, Path]:
    client = wrk.mongo_client(uri)
    try:
        db = client[wrk.DB_NAME]
        await wrk.prepare_database(db)
        dataset = wrk.Dataset()
        await dataset.build(db, wrk.Repositories.over(db), wrk.SCALE_POINTS[0])
    finally:
        await client.close()
    # For the floor: the token's claims as our verified-token cache holds them (read, not verified).
    claims = {}
    for token in dataset.tokens:
        payload = token.split(".")[1]
        decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claims[token] = [int(decoded["sub"]), decoded["jti"]]
    tokens_file = workdir / "floor-tokens.json"
    tokens_file.write_text(json.dumps(claims))
    return dataset, tokens_file


def start_database(workdir: Path) -> Seeded:
    database = wrk.EmbeddedDatabase(":memory:", log_path=workdir / "secantus.log")
    database.start()
    try:
        dataset, tokens_file = asyncio.run(_seed(database.uri, workdir))
    except BaseException:
        database.stop()
        raise
    return Seeded(database, dataset, tokens_file)


class DelayProxy:
    """A TCP proxy between the server and SecantusDB. Commands pass at once; each reply, one whole
    MongoDB wire message, is handed over in one piece ``delay`` seconds after it is complete.

    Why: under Valgrind our process runs ~50 times slower than natively, so without it SecantusDB
    often answers before the server has finished what it does after sending a command, and the
    event loop then takes a different number of iterations (about 15,000 instructions each) from
    run to run, with the machine's load. In production the server is idle long before MongoDB
    answers; the delay restores that order and makes it the same every time. Replies in one piece:
    the server never sees a message split across reads by timing."""

    def __init__(self, upstream: tuple[str, int], delay: float) -> None:
        self.upstream = upstream
        self.delay = delay
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
                server = socket.create_connection(self.upstream)
            except OSError:
                return
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.sockets.append(sock)
            threading.Thread(target=self._commands, args=(client, server), daemon=True).start()
            threading.Thread(target=self._replies, args=(server, client), daemon=True).start()

    @staticmethod
    def _commands(source: socket.socket, target: socket.socket) -> None:
        try:
            while chunk := source.recv(1 << 16):
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            target.close()

    def _replies(self, source: socket.socket, target: socket.socket) -> None:
        buffer = b""
        try:
            while True:
                while len(buffer) < 4 or len(buffer) < int.from_bytes(buffer[:4], "little"):
                    chunk = source.recv(1 << 16)
                    if not chunk:
                        return
                    buffer += chunk
                size = int.from_bytes(buffer[:4], "little")
                message, buffer = buffer[:size], buffer[size:]
                time.sleep(self.delay)
                target.sendall(message)
        except OSError:
            pass
        finally:
            target.close()

    def close(self) -> None:
        self.listener.close()
        for sock in self.sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


def valgrind_prefix(workdir: Path) -> list[str]:
    return [
        "valgrind", "--tool=callgrind", "--instr-atstart=no",
        f"--callgrind-out-file={workdir}/callgrind.out.%p", f"--log-file={workdir}/valgrind.log",
    ]


def start(
    kind: str, seeded: Seeded, workdir: Path, *, prefix: list[str], proxy: DelayProxy | None, extra_env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    port = wrk.free_port()
    uri = f"{seeded.database.uri}&{URI_OPTIONS}"
    if proxy is not None:
        uri = re.sub(r"^mongodb://[^/]+/", f"mongodb://127.0.0.1:{proxy.port}/", uri)
    env = {"PYTHONHASHSEED": HASH_SEED, "FLOOR_TOKENS": str(seeded.tokens_file), **(extra_env or {})}
    script = ROOT / "server.py" if kind == "ours" else FLOOR
    server = wrk.start_server(uri, port, workdir, script=script, prefix=prefix, extra_env=env)
    return server, port


def wait_ready(server: subprocess.Popen[bytes], port: int, log: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            connection = Connection(port, timeout=30)
            try:
                status, _ = connection.request(f"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
            finally:
                connection.close()
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the server was not ready in {timeout:.0f} s")


def stop(server: subprocess.Popen[bytes] | None) -> None:
    if server is None or server.poll() is not None:
        return
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


class Callgrind:
    """``callgrind_control`` on one Valgrind process; each dump is a new file."""

    def __init__(self, pid: int, workdir: Path) -> None:
        self.pid = pid
        self.workdir = workdir

    def _control(self, *args: str) -> None:
        done = subprocess.run(["callgrind_control", *args, str(self.pid)], capture_output=True, text=True, timeout=300)
        if done.returncode != 0 or "OK" not in done.stdout:
            raise RuntimeError(f"callgrind_control {' '.join(args)} failed: {done.stdout}{done.stderr}")

    def instrument(self, on: bool) -> None:
        self._control("-i", "on" if on else "off")

    def zero(self) -> None:
        self._control("--zero")

    def dump(self, label: str) -> Path:
        before = set(self.workdir.glob(f"callgrind.out.{self.pid}.*"))
        self._control(f"--dump={label}")
        new = sorted(set(self.workdir.glob(f"callgrind.out.{self.pid}.*")) - before, key=lambda p: int(p.suffix[1:]))
        if len(new) != 1:
            raise RuntimeError(f"expected one new dump after {label}, found {new}")
        return new[0]


# --------------------------------------------------------------------------------------------
# Reading callgrind's dumps
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Dump:
    path: Path
    total: int
    self_by_function: collections.Counter[tuple[str, str]]  # (object, function) -> Ir
    self_by_object: collections.Counter[str]
    calls: collections.Counter[str]  # function -> times called
    called_cost: collections.Counter[str]  # function -> Ir spent inside calls to it (inclusive)


def read_dump(path: Path) -> Dump:
    """The parts of the callgrind format we need: self cost by function and object, and for each
    function how often it was called and the inclusive cost of those calls."""
    names: dict[str, dict[str, str]] = {"ob": {}, "fn": {}}
    compressed = re.compile(r"^\((\d+)\)(?: (.*))?$")

    def name(kind: str, value: str) -> str:
        match = compressed.match(value)
        if not match:
            return value
        if match.group(2) is not None:
            names[kind][match.group(1)] = match.group(2)
        return names[kind].get(match.group(1), value)

    self_fn: collections.Counter[tuple[str, str]] = collections.Counter()
    self_ob: collections.Counter[str] = collections.Counter()
    calls: collections.Counter[str] = collections.Counter()
    called_cost: collections.Counter[str] = collections.Counter()
    total = 0
    ob = fn = callee = ""
    in_call = False
    with path.open(errors="replace") as handle:
        for line in handle:
            first = line[:1]
            if first.isdigit() or first in "+-*":
                parts = line.split()
                cost = int(parts[1]) if len(parts) > 1 else 0
                if in_call:
                    called_cost[callee] += cost
                    in_call = False
                else:
                    self_fn[(ob, fn)] += cost
                    self_ob[ob] += cost
            elif line.startswith("fn="):
                fn = name("fn", line[3:].rstrip("\n"))
            elif line.startswith("cfn="):
                callee = name("fn", line[4:].rstrip("\n"))
            elif line.startswith("calls="):
                calls[callee] += int(line[6:].split()[0])
                in_call = True
            elif line.startswith("ob="):
                ob = name("ob", line[3:].rstrip("\n"))
            elif line.startswith("cob="):
                name("ob", line[4:].rstrip("\n"))
            elif line.startswith("summary:"):
                total = int(line.split()[1])
    return Dump(path, total, self_fn, self_ob, calls, called_cost)


def slope(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least-squares slope and intercept of (n, value) points."""
    mean_n = sum(n for n, _ in points) / len(points)
    mean_v = sum(v for _, v in points) / len(points)
    sxx = sum((n - mean_n) ** 2 for n, _ in points)
    sxy = sum((n - mean_n) * (v - mean_v) for n, v in points)
    b = sxy / sxx
    return b, mean_v - b * mean_n


def object_label(path: str) -> str:
    for pattern, label in OBJECT_LABELS:
        if re.search(pattern, path):
            return label
    return Path(path).name.split(".cpython")[0] or path


def watched(dump: Dump, names: tuple[str, ...]) -> int:
    return sum(dump.calls[n] for n in names)


# --------------------------------------------------------------------------------------------
# One measurement: one server (ours or the floor), every method, every window
# --------------------------------------------------------------------------------------------


def send(connection: Connection, traffic: Traffic, method: str, n: int, pause: float) -> None:
    """``n`` requests one at a time, each ``pause`` seconds after the previous answer, so that each
    finds the server idle (its logging and clean-up after answering done), as it would in production."""
    build: Callable[[int], bytes] = getattr(traffic, method)
    for i in range(n):
        time.sleep(pause)
        status, body = connection.request(build(i))
        traffic.check(method, status, body)


@contextlib.contextmanager
def serving(kind: str, args: argparse.Namespace, workdir: Path, *, prefix: list[str], extra_env: dict[str, str] | None = None) -> Iterator[Served]:
    """A fresh seeded SecantusDB, the delaying proxy, and the server; all stopped on the way out."""
    workdir.mkdir(parents=True, exist_ok=True)
    seeded = start_database(workdir)
    proxy = server = None
    try:
        if args.db_delay_ms > 0:
            host, port = re.match(r"^mongodb://([^:/]+):(\d+)/", seeded.database.uri).groups()  # type: ignore[union-attr]
            proxy = DelayProxy((host, int(port)), args.db_delay_ms / 1000)
        server, port = start(kind, seeded, workdir, prefix=prefix, proxy=proxy, extra_env=extra_env)
        wait_ready(server, port, workdir / "server.log")
        connection = Connection(port, timeout=600)
        try:
            yield Served(server, Traffic(seeded.dataset, port), connection, args.pause_ms / 1000)
        finally:
            connection.close()
    finally:
        stop(server)
        if proxy is not None:
            proxy.close()
        # SecantusDB takes two seconds to stop: let it, while the next one starts (main() joins these).
        stopping = threading.Thread(target=seeded.database.stop, name="stop-secantus")
        stopping.start()
        STOPPING.append(stopping)


@dataclasses.dataclass
class Served:
    server: subprocess.Popen[bytes]
    traffic: Traffic
    connection: Connection
    pause: float

    def send(self, method: str, n: int) -> None:
        send(self.connection, self.traffic, method, n, self.pause)


def measure_callgrind(kind: str, args: argparse.Namespace, workdir: Path, log: Callable[[str], None]) -> dict[str, Any]:
    with serving(kind, args, workdir, prefix=valgrind_prefix(workdir)) as served:
        callgrind = Callgrind(served.server.pid, workdir)
        started = time.monotonic()
        for method in METHODS:  # uninstrumented: imports, connections, caches, specialisation
            served.send(method, args.warmup)
        callgrind.instrument(True)  # from here on, counted (switching on changes no count)
        log(f"    {kind}: warmed up in {time.monotonic() - started:.0f} s")
        background = idle_rate(callgrind, args.idle_seconds)
        log(f"    {kind}: idle, {background.instructions:,.0f} instructions and {background.calls['epoll_wait']:.1f} loop iterations per second")
        result: dict[str, Any] = {}
        for method in METHODS:
            windows = []
            for n in args.windows:
                callgrind.zero()
                began = time.monotonic()
                served.send(method, n)
                seconds = time.monotonic() - began
                dump = read_dump(callgrind.dump(f"{method}-{n}"))
                windows.append((n, dump, seconds))
            result[method] = summarize_windows(windows, background)
            result[method]["_largest_dump"] = windows[-1][1]
            log(f"    {kind} {method}: {result[method]['per_request']:,.0f} instructions/request, "
                f"{result[method]['calls_per_request']['epoll_wait']} loop iterations/request "
                f"({result[method]['seconds_per_request']:.2f} s/request under Valgrind)")
        return result


@dataclasses.dataclass
class Background:
    """What the idle server spends per second of wall time: PyMongo's periodic tasks (pool
    maintenance and kill-cursors every second, the monitors looking every 0.5 s for an early
    wake-up) run whatever the traffic, about four loop iterations a second."""

    instructions: float
    calls: dict[str, float]


def idle_rate(callgrind: Callgrind, seconds: float) -> Background:
    """Two windows without requests, of 0 and ``seconds`` seconds: the difference per second."""
    dumps = []
    for wait in (0.0, seconds):
        callgrind.zero()
        began = time.monotonic()
        time.sleep(wait)
        elapsed = time.monotonic() - began
        dumps.append((elapsed, read_dump(callgrind.dump(f"idle-{wait:g}s"))))
    (t0, d0), (t1, d1) = dumps
    return Background(
        (d1.total - d0.total) / (t1 - t0),
        {label: (watched(d1, names) - watched(d0, names)) / (t1 - t0) for label, names in WATCHED_CALLS.items()},
    )


def summarize_windows(windows: list[tuple[int, Dump, float]], background: Background) -> dict[str, Any]:
    """The slope of the counts over the window sizes, after taking out what the idle server would
    have spent in the same wall time (under Valgrind a window lasts a minute: that background is
    ~50 times its production share per request, and it follows the machine's load)."""
    raw, _ = slope([(n, d.total) for n, d, _ in windows])
    per_request, intercept = slope([(n, d.total - background.instructions * seconds) for n, d, seconds in windows])
    linearity = [
        round((b.total - a.total) / (nb - na)) for (na, a, _), (nb, b, _) in zip(windows, windows[1:], strict=False) if nb > na
    ]
    calls = {}
    for label, names in WATCHED_CALLS.items():
        rate = background.calls[label]
        calls[label], _ = slope([(n, watched(d, names) - rate * seconds) for n, d, seconds in windows])
        calls[label] = round(calls[label], 3)
    gc_ir, _ = slope([(n, sum(d.called_cost[f] for f in WATCHED_CALLS["gc_collections"])) for n, d, _ in windows])
    n_max = windows[-1][0]
    return {
        "windows": {str(n): d.total for n, d, _ in windows},
        "window_seconds": {str(n): round(seconds, 2) for n, _, seconds in windows},
        "background_per_second": {"instructions": round(background.instructions),
                                  **{k: round(v, 2) for k, v in background.calls.items()}},
        "per_request": round(per_request),
        "per_request_raw": round(raw),
        "fixed_per_window": round(intercept),
        "per_request_between_windows": linearity,
        "calls_per_request": calls,
        "gc_instructions_per_request": round(gc_ir),
        "seconds_per_request": round(windows[-1][2] / n_max, 3) if n_max else None,
    }


# --------------------------------------------------------------------------------------------
# The Python-level profile: cProfile in a separate run, without Valgrind
# --------------------------------------------------------------------------------------------


def measure_cprofile(kind: str, args: argparse.Namespace, workdir: Path, log: Callable[[str], None]) -> dict[str, Path]:
    out = workdir / "cprofile"
    # prefix + [sys.executable, script]: cprofiled.py receives the interpreter and the script
    with serving(kind, args, workdir, prefix=[sys.executable, str(CPROFILED)], extra_env={"BENCH_CPROFILE_OUT": str(out)}) as served:
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


def short(filename: str) -> str:
    for marker in ("site-packages/", "lib/python3.11/", str(ROOT) + "/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


@dataclasses.dataclass
class Profiled:
    """One cProfile dump, per request, with the event loop's idle wait taken out."""

    rows: dict[Any, tuple[float, float, float]]  # function -> (calls, own s, cumulative s), per request
    active: float  # CPU seconds per request, idle wait excluded
    idle: float


def read_profile(path: Path, n: int) -> Profiled:
    """The loop's idle wait (epoll's poll) comes out of the total and out of the cumulative time
    of the functions that call it (the loop), so shares are of what the requests used."""
    stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    idle_keys = [f for f in stats if f[2] == "<method 'poll' of 'select.epoll' objects>"]
    idle = sum(stats[f][2] for f in idle_keys)
    waiting: set[Any] = set()
    stack = list(idle_keys)
    while stack:
        for caller in stats[stack.pop()][4]:
            if caller not in waiting:
                waiting.add(caller)
                stack.append(caller)
    rows = {
        func: (nc / n, tt / n, (max(tt, ct - idle) if func in waiting else ct) / n)
        for func, (_, nc, tt, ct, _) in stats.items()
        if func not in idle_keys
    }
    return Profiled(rows, (sum(tt for (_, _, tt, _, _) in stats.values()) - idle) / n, idle / n)


def function_label(func: tuple[str, int, str]) -> str:
    filename, line, name = func
    return f"{name} ({short(filename)}:{line})" if filename != "~" else name


# Where a function's own time goes, for the "by area" table: first match on "file:name" wins.
AREAS = (
    (r"pymongo/(monitoring|_telemetry)\.py|services/metrics\.py:(started|succeeded|failed|_observe)", "command monitoring (our metrics listener, in PyMongo)"),
    (r"prometheus_client/", "prometheus-client (metrics)"),
    (r"logging/|_io\.TextIOWrapper|services/metrics\.py|tornado/web\.py:\d+\((_log|log_request|_request_summary)", "logging and request metrics"),
    (r"pydantic|handlers/api\.py:\d+\((_plate|_timestamp|_comments|_json_body|_idempotency_key)|repositories/vehiculos\.py", "validation (pydantic, plates, timestamp)"),
    (r"email_validator|idna|unicodedata|handlers/api\.py:\d+\((_arguments|_integer)", "validation (e-mail, query arguments)"),
    (r"gzip|zlib|tornado/web\.py:\d+\((transform_first_chunk|transform_chunk)|GZipContentEncoding", "gzip"),
    (r"limits/|services/throttle\.py|concurrent/futures|threading\.py|asyncio/threads\.py|_read_from_self|_write_to_self|call_soon_threadsafe|run_in_executor", "rate limiter (limits, thread hop)"),
    (r"services/tokens\.py|jwt/", "token check"),
    (r"uuid|set_default_headers|handlers/base\.py|tornado/web\.py:\d+\((set_header|_convert_header_value|clear_header)", "headers, request id, error mapping"),
    (r"server\.py", "in-flight counting (server.py)"),
    (r"handlers/|repositories/|services/|config\.py", "our handlers and repositories"),
    (r"pymongo/|bson/", "PyMongo (the commands themselves)"),
    (r"tornado/", "Tornado (other)"),
    (r"asyncio/|selectors\.py|_contextvars", "event loop"),
)


def area(func: tuple[str, int, str]) -> str:
    key = f"{short(func[0])}:{func[1]}({func[2]}"
    for pattern, label in AREAS:
        if re.search(pattern, key):
            return label
    return "other (C builtins, stdlib)"


def cprofile_summary(ours: Path, floor: Path | None, n: int, method: str, top: int = 40) -> str:
    mine = read_profile(ours, n)
    base = read_profile(floor, n) if floor else None
    ms = 1000.0
    lines = [
        f"cProfile of {method}: {n} sequential requests after warm-up, without Valgrind, per request.",
        "Times are the event loop thread's CPU time (including the kernel's work in its own system calls,",
        "which callgrind does not count) and include cProfile's own overhead: read them as shares.",
        "Calls per request are deterministic up to the loop's timing; a coroutine's every resumption counts",
        f"as a call. The loop's idle wait (epoll's poll) is left out. CPU profiled: ours {mine.active * ms:.3f} ms/request"
        + (f", floor {base.active * ms:.3f} ms/request." if base else "."),
        "@AREAS@",
        "Ours by cumulative time:",
        f"{'calls/req':>10} {'cum ms':>8} {'cum %':>6} {'own %':>6}  function",
    ]
    for func, (nc, tt, ct) in sorted(mine.rows.items(), key=lambda kv: -kv[1][2])[:top]:
        lines.append(f"{nc:>10.2f} {ct * ms:>8.4f} {100 * ct / mine.active:>6.1f} {100 * tt / mine.active:>6.1f}  {function_label(func)}")
    lines += ["", "Ours by own time:", f"{'calls/req':>10} {'own ms':>8} {'own %':>6}  function"]
    for func, (nc, tt, _) in sorted(mine.rows.items(), key=lambda kv: -kv[1][1])[:top]:
        lines.append(f"{nc:>10.2f} {tt * ms:>8.4f} {100 * tt / mine.active:>6.1f}  {function_label(func)}")
    if base is not None:
        by_area: collections.Counter[str] = collections.Counter()
        base_area: collections.Counter[str] = collections.Counter()
        for func, (_, tt, _) in mine.rows.items():
            by_area[area(func)] += tt
        for func, (_, tt, _) in base.rows.items():
            base_area[area(func)] += tt
        area_lines = [
            "",
            "Ours against the floor by area (own time summed; the areas add up to the totals):",
            f"{'extra ms':>8} {'% of extra':>10} {'ours ms':>8} {'floor ms':>8}  area",
        ]
        extra = mine.active - base.active
        for label in sorted(set(by_area) | set(base_area), key=lambda k: -(by_area[k] - base_area[k])):
            d = by_area[label] - base_area[label]
            area_lines.append(f"{d * ms:>8.4f} {100 * d / extra if extra else 0:>10.1f} {by_area[label] * ms:>8.4f} {base_area[label] * ms:>8.4f}  {label}")
        area_lines.append(f"{extra * ms:>8.4f} {100.0:>10.1f} {mine.active * ms:>8.4f} {base.active * ms:>8.4f}  total")
        lines[lines.index("@AREAS@"):lines.index("@AREAS@") + 1] = [*area_lines, ""]
        for title, index in (("cumulative", 2), ("own", 1)):
            lines += [
                "",
                f"Where ours differs from the floor, by {title} time (ms/request; functions of both, or of one only):",
                f"{'extra':>8} {'ours':>8} {'floor':>8} {'calls ours':>10} {'floor':>6}  function",
            ]
            keys = set(mine.rows) | set(base.rows)
            zero = (0.0, 0.0, 0.0)
            diffs = sorted(keys, key=lambda f: -(mine.rows.get(f, zero)[index] - base.rows.get(f, zero)[index]))
            for func in diffs[:top]:
                a, b = mine.rows.get(func, zero), base.rows.get(func, zero)
                lines.append(
                    f"{(a[index] - b[index]) * ms:>8.4f} {a[index] * ms:>8.4f} {b[index] * ms:>8.4f} {a[0]:>10.2f} {b[0]:>6.2f}  {function_label(func)}"
                )
    if "@AREAS@" in lines:
        lines[lines.index("@AREAS@")] = ""
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Results: JSON, plot, profile summaries, table
# --------------------------------------------------------------------------------------------


def callgrind_annotate(path: Path, top: int) -> str:
    """``callgrind_annotate --inclusive=yes``, shortened: build paths stripped, and the entries of
    inlined header functions (which repeat their caller's figure) left out."""
    done = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", "--tree=none", "--auto=no", "--threshold=100", str(path)],
        capture_output=True, text=True, timeout=300,
    )
    body = []
    for line in done.stdout.splitlines():
        match = re.match(r"^\s*([\d,]+) \(\s*([\d.]+)%\)\s+(\S+?):(\S+)(?: \[(.*)\])?$", line)
        if not match or "/Include/" in match.group(3) or match.group(3).endswith(".h"):
            continue
        ir, pct, source, function, obj = match.groups()
        where = Path(obj).name if obj else Path(source).name
        body.append(f"{ir:>16} {pct:>6}%  {function} ({where})")
    return "\n".join(body[:top])


def callgrind_summary(method: str, n: int, ours: Dump, floor: Dump | None, figures: dict[str, Any], top: int = 40) -> str:
    def per_request(value: float) -> str:
        return f"{value / n:>12,.0f}"

    lines = [
        f"callgrind profile of {method}: the {n}-request window of run 1, divided by {n} (so per request;",
        "it includes the window's small fixed cost). Ir = instructions executed by the server process.",
        "",
        f"ours {figures['ours']:,} instructions/request (slope), floor {figures['floor']:,}, ratio {figures['ratio']}",
        "",
        "Self instructions per request by shared object:",
        f"{'ours':>12} {'floor':>12} {'extra':>12}  object",
    ]
    labels: collections.Counter[str] = collections.Counter()
    floor_labels: collections.Counter[str] = collections.Counter()
    for ob, cost in ours.self_by_object.items():
        labels[object_label(ob)] += cost
    for ob, cost in (floor.self_by_object.items() if floor else []):
        floor_labels[object_label(ob)] += cost
    for label, cost in labels.most_common():
        lines.append(f"{per_request(cost)} {per_request(floor_labels[label])} {per_request(cost - floor_labels[label])}  {label}")
    lines += ["", "Calls per request (system calls and the collector):", f"{'ours':>12} {'floor':>12}  function"]
    for names in WATCHED_CALLS.values():
        for name in names:
            if ours.calls[name] or (floor and floor.calls[name]):
                lines.append(f"{ours.calls[name] / n:>12.2f} {(floor.calls[name] / n if floor else 0):>12.2f}  {name}")
    lines += [
        "",
        "Top functions by self instructions per request (ours; floor alongside):",
        f"{'ours':>12} {'floor':>12}  function (object)",
    ]
    for (ob, fn), cost in ours.self_by_function.most_common(top):
        other = floor.self_by_function.get((ob, fn), 0) if floor else 0
        lines.append(f"{per_request(cost)} {per_request(other)}  {fn} ({Path(ob).name})")
    lines += [
        "",
        f"Top {top} functions by inclusive instructions (ours; callgrind_annotate --inclusive=yes, whole window;",
        "recursive functions such as _PyEval_EvalFrameDefault count their recursion more than once):",
        callgrind_annotate(ours.path, top),
    ]
    if floor is not None:
        lines += ["", "Top 20 functions by inclusive instructions (floor):", callgrind_annotate(floor.path, 20)]
    return "\n".join(lines) + "\n"


def spread_pct(values: list[float]) -> float:
    return round(100 * (max(values) - min(values)) / (sum(values) / len(values)), 3)


def combine(runs: list[dict[str, dict[str, Any]]], args: argparse.Namespace) -> dict[str, Any]:
    endpoints: dict[str, Any] = {}
    for method in METHODS:
        entry: dict[str, Any] = {}
        for kind in KINDS:
            per_run = [run[kind][method] for run in runs if kind in run]
            if not per_run:
                continue
            figures = [r["per_request"] for r in per_run]
            raw = [r["per_request_raw"] for r in per_run]
            entry[kind] = {
                "per_request": round(sum(figures) / len(figures)),
                "per_request_raw": round(sum(raw) / len(raw)),
                "raw_run_spread_pct": spread_pct(raw) if len(raw) > 1 else None,
                "runs": [{k: v for k, v in r.items() if not k.startswith("_")} for r in per_run],
                "run_spread_pct": spread_pct(figures) if len(figures) > 1 else None,
            }
        if "ours" in entry and "floor" in entry:
            entry["ratio_to_floor"] = round(entry["ours"]["per_request"] / entry["floor"]["per_request"], 3)
        endpoints[method] = entry
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "what": "instructions executed by the server process per request (callgrind Ir, every thread), "
        "the least-squares slope over windows of sequential requests after a warm-up; the database and "
        "the load generator run outside Valgrind",
        "valgrind": subprocess.run(["valgrind", "--version"], capture_output=True, text=True).stdout.strip(),
        "python": platform.python_version(),
        "pythonhashseed": HASH_SEED,
        "windows": list(args.windows),
        "warmup_requests_per_method": args.warmup,
        "pause_between_requests_ms": args.pause_ms,
        "db_reply_delay_ms": args.db_delay_ms,
        "driver_uri_options": URI_OPTIONS,
        "runs": len(runs),
        "quick": args.quick,
        "floor": "bench/floor.py: the same request, MongoDB commands and JSON; no validation, auth, limiter, logging, metrics, headers or gzip",
        "endpoints": endpoints,
    }


def write_results(instructions: dict[str, Any], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "latest.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    results["instructions"] = instructions
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    wrk.plot(results, out / "latest.png")
    return path


def table(instructions: dict[str, Any]) -> str:
    lines = [f"{'method':<20}{'ours':>14}{'floor':>14}{'ratio':>8}  runs (ours; floor), spread"]
    for method, entry in instructions["endpoints"].items():
        ours, floor = entry.get("ours", {}), entry.get("floor", {})
        runs = "; ".join(
            ", ".join(f"{r['per_request']:,}" for r in side.get("runs", [])) + (f" ({side['run_spread_pct']}%)" if side.get("run_spread_pct") is not None else "")
            for side in (ours, floor)
        )
        lines.append(
            f"{method:<20}{ours.get('per_request', 0):>14,}{floor.get('per_request', 0):>14,}{str(entry.get('ratio_to_floor', '-')):>8}  {runs}"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------


def check_tools() -> None:
    missing = [tool for tool in ("valgrind", "callgrind_control", "callgrind_annotate") if not shutil.which(tool)]
    if missing:
        raise SystemExit(f"missing {', '.join(missing)}: install Debian's valgrind (apt-get install valgrind)")


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


def main(args: argparse.Namespace) -> int:
    check_tools()
    workdir = Path(tempfile.mkdtemp(prefix="transito-instructions-"))
    # Only a complete measurement replaces the committed figures unless told where to write.
    out = args.output or (workdir / "results" if args.quick or args.only else wrk.RESULTS)
    started = time.monotonic()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - started:6.0f} s] {message}", flush=True)

    kinds = [args.only] if args.only else list(KINDS)
    log(f"callgrind: windows {args.windows}, warm-up {args.warmup}, {args.runs} run(s) of {', '.join(kinds)} ({workdir})")
    try:
        runs = []
        for r in range(1, 0 if args.cprofile_only else args.runs + 1):
            log(f"run {r}")
            runs.append({kind: measure_callgrind(kind, args, workdir / f"run{r}-{kind}", log) for kind in kinds})
        instructions = combine(runs, args) if runs else None
        n = args.windows[-1]
        for method in METHODS if runs else ():
            ours = runs[0].get("ours", {}).get(method, {}).get("_largest_dump")
            floor = runs[0].get("floor", {}).get(method, {}).get("_largest_dump")
            if ours is not None and n and instructions is not None:
                figures = {kind: instructions["endpoints"][method].get(kind, {}).get("per_request", 0) for kind in KINDS}
                figures["ratio"] = instructions["endpoints"][method].get("ratio_to_floor")
                out.mkdir(parents=True, exist_ok=True)
                (out / f"callgrind-{method}.txt").write_text(callgrind_summary(method, n, ours, floor, figures))
        if args.cprofile and "ours" in kinds:
            log("cProfile runs (no Valgrind)")
            stats = {kind: measure_cprofile(kind, args, workdir / f"cprofile-{kind}", log) for kind in kinds}
            for method in METHODS:
                floor_stats = stats["floor"][method] if "floor" in stats else None
                (out / f"cprofile-{method}.txt").write_text(cprofile_summary(stats["ours"][method], floor_stats, n, method))
        out.mkdir(parents=True, exist_ok=True)
        path = write_results(instructions, out) if instructions is not None else None
    finally:
        for thread in STOPPING:
            thread.join()
        if not args.keep:
            for leftover in workdir.iterdir():
                if leftover != out:
                    shutil.rmtree(leftover, ignore_errors=True)
            if not any(workdir.iterdir()):
                workdir.rmdir()
    print()
    if instructions is None:
        print(f"written: {out}/cprofile-*.txt")
        return 0
    print(table(instructions))
    print(f"written: {path}, {out / 'latest.png'}, {out}/callgrind-*.txt" + (f", {out}/cprofile-*.txt" if args.cprofile else ""))
    if args.keep:
        print(f"callgrind dumps and logs kept in {workdir}")
    worst = [
        (method, kind, side["run_spread_pct"])
        for method, entry in instructions["endpoints"].items()
        for kind, side in entry.items()
        if isinstance(side, dict) and side.get("run_spread_pct") is not None and side["run_spread_pct"] > 1.0
    ]
    if worst:
        print(f"warning: runs differ by more than 1%: {worst}", file=sys.stderr)
    return 0


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # run the finally blocks: servers and databases are stopped


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    sys.exit(main(parse_args()))
