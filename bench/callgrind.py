"""Valgrind's callgrind for ``bench/instructions.py``: the command line that runs a server under it
with instrumentation off, ``callgrind_control`` to switch it on, zero and dump the counters, the
parts of a dump we read, and the idle server's background per second of wall time."""

from __future__ import annotations

import collections
import dataclasses
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

STEADY = Path(__file__).resolve().parent / "steady.py"
# What each window's dump is inspected for, per request: the event loop's wake-ups, socket calls,
# and the garbage collector (libc and CPython function names).
WATCHED_CALLS = {
    "epoll_wait": ("epoll_wait",),
    "recv": ("recv", "recvfrom", "recvmsg", "read"),
    "send": ("send", "sendto", "sendmsg", "write", "writev"),
    "gc_collections": ("gc_collect_main",),
}


def check_tools() -> None:
    missing = [tool for tool in ("valgrind", "callgrind_control", "callgrind_annotate") if not shutil.which(tool)]
    if missing:
        raise SystemExit(f"missing {', '.join(missing)}: install Debian's valgrind (apt-get install valgrind)")


def valgrind_prefix(workdir: Path) -> list[str]:
    """Run under callgrind, counting nothing until switched on (start-up and warm-up are free), the
    server's background put off (``bench/steady.py``, which then runs the server script)."""
    return [
        "valgrind", "--tool=callgrind", "--instr-atstart=no",
        f"--callgrind-out-file={workdir}/callgrind.out.%p", f"--log-file={workdir}/valgrind.log",
        sys.executable, str(STEADY),
    ]


def valgrind_version() -> str:
    return subprocess.run(["valgrind", "--version"], capture_output=True, text=True).stdout.strip()


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


@dataclasses.dataclass
class Dump:
    path: Path
    total: int
    self_by_function: collections.Counter[tuple[str, str]]  # (object, function) -> Ir
    self_by_object: collections.Counter[str]
    calls: collections.Counter[str]  # function -> times called
    called_cost: collections.Counter[str]  # function -> Ir spent inside calls to it (inclusive)

    def watched(self, names: tuple[str, ...]) -> int:
        return sum(self.calls[n] for n in names)


class _Names:
    """Callgrind's name compression: ``(12) name`` defines id 12, a later ``(12)`` refers to it."""

    COMPRESSED = re.compile(r"^\((\d+)\)(?: (.*))?$")

    def __init__(self) -> None:
        self.known: dict[str, dict[str, str]] = {"ob": {}, "fn": {}}

    def __call__(self, kind: str, value: str) -> str:
        match = self.COMPRESSED.match(value)
        if not match:
            return value
        if match.group(2) is not None:
            self.known[kind][match.group(1)] = match.group(2)
        return self.known[kind].get(match.group(1), value)


def read_dump(path: Path) -> Dump:
    """The parts of the callgrind format we need: self cost by function and object, and for each
    function how often it was called and the inclusive cost of those calls."""
    name = _Names()
    dump = Dump(path, 0, collections.Counter(), collections.Counter(), collections.Counter(), collections.Counter())
    ob = fn = callee = ""
    in_call = False
    with path.open(errors="replace") as handle:
        for line in handle:
            first = line[:1]
            if first.isdigit() or first in "+-*":
                parts = line.split()
                cost = int(parts[1]) if len(parts) > 1 else 0
                if in_call:
                    dump.called_cost[callee] += cost
                    in_call = False
                else:
                    dump.self_by_function[(ob, fn)] += cost
                    dump.self_by_object[ob] += cost
            elif line.startswith("fn="):
                fn = name("fn", line[3:].rstrip("\n"))
            elif line.startswith("cfn="):
                callee = name("fn", line[4:].rstrip("\n"))
            elif line.startswith("calls="):
                dump.calls[callee] += int(line[6:].split()[0])
                in_call = True
            elif line.startswith("ob="):
                ob = name("ob", line[3:].rstrip("\n"))
            elif line.startswith("cob="):
                name("ob", line[4:].rstrip("\n"))
            elif line.startswith("summary:"):
                dump.total = int(line.split()[1])
    return dump


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
        {label: (d1.watched(names) - d0.watched(names)) / (t1 - t0) for label, names in WATCHED_CALLS.items()},
    )


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
