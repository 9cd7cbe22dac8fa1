"""``bench/results/callgrind-<method>.txt``: where a method's instructions go, ours beside the
floor's, per request: by shared object, the system calls, the top functions by self and by
inclusive instructions (C functions: under Valgrind there is no Python-level view)."""

from __future__ import annotations

import collections
import re
from pathlib import Path
from typing import Any

from bench.callgrind import WATCHED_CALLS, Dump, callgrind_annotate

OBJECT_LABELS = (
    (r"libpython|python3\.\d+$", "CPython interpreter"),
    (r"/libc\.so|ld-linux", "libc (malloc, memcpy, system calls)"),
    (r"_cbson|_cmessage", "PyMongo C extensions (BSON)"),
    (r"pydantic_core", "pydantic-core"),
    (r"_json\.", "json (C accelerator)"),
    (r"zlib|libz\.", "zlib (gzip)"),
    (r"_asyncio\.", "asyncio (C)"),
    (r"_datetime\.", "datetime (C)"),
    (r"libcrypto|_hashlib|_hmac|_blake|_sha", "libcrypto (OpenSSL: hashes and HMACs)"),
    (r"_socket\.|select\.", "socket, select (C wrappers)"),
    (r"libm\.", "libm"),
)


def object_label(path: str) -> str:
    for pattern, label in OBJECT_LABELS:
        if re.search(pattern, path):
            return label
    return Path(path).name.split(".cpython")[0] or path


def by_object(n: int, ours: Dump, floor: Dump | None) -> list[str]:
    lines = ["Self instructions per request by shared object:", f"{'ours':>12} {'floor':>12} {'extra':>12}  object"]
    labels: collections.Counter[str] = collections.Counter()
    floor_labels: collections.Counter[str] = collections.Counter()
    for ob, cost in ours.self_by_object.items():
        labels[object_label(ob)] += cost
    for ob, cost in (floor.self_by_object.items() if floor else []):
        floor_labels[object_label(ob)] += cost
    for label, cost in labels.most_common():
        lines.append(f"{cost / n:>12,.0f} {floor_labels[label] / n:>12,.0f} {(cost - floor_labels[label]) / n:>12,.0f}  {label}")
    return lines


def calls(n: int, ours: Dump, floor: Dump | None) -> list[str]:
    lines = ["Calls per request (system calls and the collector):", f"{'ours':>12} {'floor':>12}  function"]
    for names in WATCHED_CALLS.values():
        for name in names:
            if ours.calls[name] or (floor and floor.calls[name]):
                lines.append(f"{ours.calls[name] / n:>12.2f} {(floor.calls[name] / n if floor else 0):>12.2f}  {name}")
    return lines


def top_functions(n: int, ours: Dump, floor: Dump | None, top: int) -> list[str]:
    lines = ["Top functions by self instructions per request (ours; floor alongside):", f"{'ours':>12} {'floor':>12}  function (object)"]
    for (ob, fn), cost in ours.self_by_function.most_common(top):
        other = floor.self_by_function.get((ob, fn), 0) if floor else 0
        lines.append(f"{cost / n:>12,.0f} {other / n:>12,.0f}  {fn} ({Path(ob).name})")
    return lines


def callgrind_summary(method: str, n: int, ours: Dump, floor: Dump | None, figures: dict[str, Any], top: int = 40) -> str:
    lines = [
        f"callgrind profile of {method}: the {n}-request window of run 1, divided by {n} (so per request;",
        "it includes the window's small fixed cost). Ir = instructions executed by the server process.",
        "",
        f"ours {figures['ours']:,} instructions/request (slope), floor {figures['floor']:,}, ratio {figures['ratio']}",
        "",
        *by_object(n, ours, floor),
        "",
        *calls(n, ours, floor),
        "",
        *top_functions(n, ours, floor, top),
        "",
        f"Top {top} functions by inclusive instructions (ours; callgrind_annotate --inclusive=yes, whole window;",
        "recursive functions such as _PyEval_EvalFrameDefault count their recursion more than once):",
        callgrind_annotate(ours.path, top),
    ]
    if floor is not None:
        lines += ["", "Top 20 functions by inclusive instructions (floor):", callgrind_annotate(floor.path, 20)]
    return "\n".join(lines) + "\n"
