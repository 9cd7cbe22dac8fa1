"""The statistics of ``bench/instructions.py``: instructions per request as the least-squares slope
of each window's count over its number of requests (what is paid once per window falls into the
intercept), with the idle background taken out; and the runs combined, with their spread."""

from __future__ import annotations

from typing import Any

from bench.callgrind import WATCHED_CALLS, Background, Dump

METHODS = ("cargar_infraccion", "generar_informe")
KINDS = ("ours", "floor")
Window = tuple[int, Dump, float]  # requests, the dump, seconds of wall time


def slope(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least-squares slope and intercept of (n, value) points."""
    mean_n = sum(n for n, _ in points) / len(points)
    mean_v = sum(v for _, v in points) / len(points)
    sxx = sum((n - mean_n) ** 2 for n, _ in points)
    sxy = sum((n - mean_n) * (v - mean_v) for n, v in points)
    b = sxy / sxx
    return b, mean_v - b * mean_n


def calls_per_request(windows: list[Window], background: Background) -> dict[str, float]:
    """System calls, loop iterations and collections per request, the idle server's taken out."""
    calls = {}
    for label, names in WATCHED_CALLS.items():
        rate = background.calls[label]
        per_request, _ = slope([(n, d.watched(names) - rate * seconds) for n, d, seconds in windows])
        calls[label] = round(per_request, 3)
    return calls


def summarize_windows(windows: list[Window], background: Background) -> dict[str, Any]:
    """The slope of the counts over the window sizes, after taking out what the idle server would
    have spent in the same wall time (under Valgrind a window lasts a minute: that background is
    ~50 times its production share per request, and it follows the machine's load)."""
    raw, _ = slope([(n, d.total) for n, d, _ in windows])
    per_request, intercept = slope([(n, d.total - background.instructions * seconds) for n, d, seconds in windows])
    linearity = [
        round((b.total - a.total) / (nb - na)) for (na, a, _), (nb, b, _) in zip(windows, windows[1:], strict=False) if nb > na
    ]
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
        "calls_per_request": calls_per_request(windows, background),
        "gc_instructions_per_request": round(gc_ir),
        "seconds_per_request": round(windows[-1][2] / n_max, 3) if n_max else None,
    }


def spread_pct(values: list[float]) -> float:
    """How far apart the runs are, in % of their mean."""
    return round(100 * (max(values) - min(values)) / (sum(values) / len(values)), 3)


def combine(runs: list[dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """Per method and kind, the mean of the runs and their spread; per method, ours / the floor."""
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
    return endpoints


def over_limit(endpoints: dict[str, Any], limit_pct: float = 1.0) -> list[tuple[str, str, float]]:
    """(method, kind, spread) of the figures whose runs differ by more than ``limit_pct``."""
    return [
        (method, kind, side["run_spread_pct"])
        for method, entry in endpoints.items()
        for kind, side in entry.items()
        if isinstance(side, dict) and side.get("run_spread_pct") is not None and side["run_spread_pct"] > limit_pct
    ]
