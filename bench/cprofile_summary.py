"""``bench/results/cprofile-<method>.txt`` (``bench/instructions.py --cprofile``): the Python-level
view, from cProfile dumps of ours and the floor serving the same requests without Valgrind: ours
against the floor by area, ours by cumulative and own time, and where ours differs most."""

from __future__ import annotations

import collections
import dataclasses
import pstats
import re
from pathlib import Path
from typing import Any

from bench.stack import ROOT

MS = 1000.0
Function = tuple[str, int, str]  # cProfile's key: file, line, name
ZERO = (0.0, 0.0, 0.0)

# Where a function's own time goes, for the "by area" table: first match on "file:line(name" wins.
AREAS = (
    (r"pymongo/(monitoring|_telemetry)\.py|services/metrics\.py:\d+\((started|succeeded|failed|_observe)",
     "command monitoring (our metrics listener, in PyMongo)"),
    (r"prometheus_client/", "prometheus-client (metrics)"),
    (r"logging/|_io\.TextIOWrapper|services/metrics\.py|tornado/web\.py:\d+\((_log|log_request|_request_summary)",
     "logging and request metrics"),
    (r"pydantic|handlers/api/infracciones\.py:\d+\((_plate|_timestamp|_comments|_code|_rule|_json_body|_idempotency_key)"
     r"|domain/rules\.py:\d+\((plate|parse_timestamp|infraction_time|has_control)", "validation (pydantic, plates, timestamp)"),
    (r"email_validator|idna|unicodedata|handlers/api/informe\.py:\d+\((_arguments|_integer)"
     r"|domain/rules\.py:\d+\((normalize_email|ascii_int)", "validation (e-mail, query arguments)"),
    (r"gzip|zlib|tornado/web\.py:\d+\((transform_first_chunk|transform_chunk)|GZipContentEncoding", "gzip"),
    (r"services/throttle\.py|repositories/limites\.py", "rate limiter (its code; its command is under PyMongo)"),
    (r"services/tokens\.py|jwt/", "token check"),
    (r"uuid|set_default_headers|handlers/headers\.py|handlers/base\.py"
     r"|tornado/web\.py:\d+\((set_header|_convert_header_value|clear_header)", "headers, request id, error mapping"),
    (r"handlers/http\.py", "HTTP gate and in-flight counting (handlers/http.py)"),
    (r"handlers/|repositories/|services/|domain/|config\.py", "our handlers, repositories and domain"),
    (r"pymongo/|bson/", "PyMongo (the commands themselves)"),
    (r"tornado/", "Tornado (other)"),
    (r"asyncio/|selectors\.py|_contextvars", "event loop"),
)


def short(filename: str) -> str:
    for marker in ("site-packages/", "lib/python3.11/", str(ROOT) + "/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def function_label(func: Function) -> str:
    filename, line, name = func
    return f"{name} ({short(filename)}:{line})" if filename != "~" else name


def area(func: Function) -> str:
    key = f"{short(func[0])}:{func[1]}({func[2]}"
    for pattern, label in AREAS:
        if re.search(pattern, key):
            return label
    return "other (C builtins, stdlib)"


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


def by_area(mine: Profiled, base: Profiled) -> list[str]:
    ours_by: collections.Counter[str] = collections.Counter()
    floor_by: collections.Counter[str] = collections.Counter()
    for func, (_, tt, _) in mine.rows.items():
        ours_by[area(func)] += tt
    for func, (_, tt, _) in base.rows.items():
        floor_by[area(func)] += tt
    lines = [
        "Ours against the floor by area (own time summed; the areas add up to the totals):",
        f"{'extra ms':>8} {'% of extra':>10} {'ours ms':>8} {'floor ms':>8}  area",
    ]
    extra = mine.active - base.active
    for label in sorted(set(ours_by) | set(floor_by), key=lambda k: -(ours_by[k] - floor_by[k])):
        d = ours_by[label] - floor_by[label]
        share = 100 * d / extra if extra else 0
        lines.append(f"{d * MS:>8.4f} {share:>10.1f} {ours_by[label] * MS:>8.4f} {floor_by[label] * MS:>8.4f}  {label}")
    lines.append(f"{extra * MS:>8.4f} {100.0:>10.1f} {mine.active * MS:>8.4f} {base.active * MS:>8.4f}  total")
    return [*lines, ""]


def ours_alone(mine: Profiled, top: int) -> list[str]:
    lines = ["Ours by cumulative time:", f"{'calls/req':>10} {'cum ms':>8} {'cum %':>6} {'own %':>6}  function"]
    for func, (nc, tt, ct) in sorted(mine.rows.items(), key=lambda kv: -kv[1][2])[:top]:
        lines.append(f"{nc:>10.2f} {ct * MS:>8.4f} {100 * ct / mine.active:>6.1f} {100 * tt / mine.active:>6.1f}  {function_label(func)}")
    lines += ["", "Ours by own time:", f"{'calls/req':>10} {'own ms':>8} {'own %':>6}  function"]
    for func, (nc, tt, _) in sorted(mine.rows.items(), key=lambda kv: -kv[1][1])[:top]:
        lines.append(f"{nc:>10.2f} {tt * MS:>8.4f} {100 * tt / mine.active:>6.1f}  {function_label(func)}")
    return lines


def differences(mine: Profiled, base: Profiled, top: int) -> list[str]:
    lines = []
    for title, index in (("cumulative", 2), ("own", 1)):
        lines += [
            "",
            f"Where ours differs from the floor, by {title} time (ms/request; functions of both, or of one only):",
            f"{'extra':>8} {'ours':>8} {'floor':>8} {'calls ours':>10} {'floor':>6}  function",
        ]
        keys = set(mine.rows) | set(base.rows)
        diffs = sorted(keys, key=lambda f: -(mine.rows.get(f, ZERO)[index] - base.rows.get(f, ZERO)[index]))
        for func in diffs[:top]:
            a, b = mine.rows.get(func, ZERO), base.rows.get(func, ZERO)
            lines.append(
                f"{(a[index] - b[index]) * MS:>8.4f} {a[index] * MS:>8.4f} {b[index] * MS:>8.4f} {a[0]:>10.2f} {b[0]:>6.2f}  {function_label(func)}"
            )
    return lines


def cprofile_summary(ours: Path, floor: Path | None, n: int, method: str, top: int = 40) -> str:
    mine = read_profile(ours, n)
    base = read_profile(floor, n) if floor else None
    lines = [
        f"cProfile of {method}: {n} sequential requests after warm-up, without Valgrind, per request.",
        "Times are the event loop thread's CPU time (including the kernel's work in its own system calls,",
        "which callgrind does not count) and include cProfile's own overhead: read them as shares.",
        "Calls per request are deterministic up to the loop's timing; a coroutine's every resumption counts",
        f"as a call. The loop's idle wait (epoll's poll) is left out. CPU profiled: ours {mine.active * MS:.3f} ms/request"
        + (f", floor {base.active * MS:.3f} ms/request." if base else "."),
        "",
        *(by_area(mine, base) if base else []),
        *ours_alone(mine, top),
        *(differences(mine, base, top) if base else []),
    ]
    return "\n".join(lines) + "\n"
