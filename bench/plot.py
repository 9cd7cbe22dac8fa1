"""``bench/results/latest.png``: the load benchmark's figures (``bench/run.py``) in the top rows and
the instruction counts (``bench/instructions.py``) in the bottom one, whichever are in latest.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.load import BOUND_NOTE, TARGETS_CPU_MS
from bench.stack import REPORT_SIZE


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    instructions = results.get("instructions")
    load = "endpoints" in results
    rows = (2 if load else 0) + (1 if instructions else 0)
    if not rows:
        return
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

    plot_cpu(results, axes[1][0])

    ax = axes[1][1]
    scaling = results["report_scaling"]
    ax.plot([p["infracciones"] for p in scaling], [p["p50_ms"] for p in scaling], marker="o")
    ax.set_xscale("log")
    ax.set_ylim(bottom=0)
    ax.set_xlabel("infractions in the collection")
    ax.set_title(f"generar_informe p50 (ms), {REPORT_SIZE}-item report, sequential")


def plot_cpu(results: dict[str, Any], ax: Any) -> None:
    endpoints = results["endpoints"]
    names = list(endpoints)
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
    plot_spread(instructions, axes[1])


def plot_spread(instructions: dict[str, Any], ax: Any) -> None:
    endpoints = instructions["endpoints"]
    labels, spreads = [], []
    for n in endpoints:
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
