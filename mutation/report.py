"""The mutation report: mutmut's results (kept under ``mutants/``) with the explanation of every
surviving mutant from ``mutation/survivors.toml``, written to ``mutation/results/latest.md`` and
``latest.json``. Run by ``mutation/run.py``.

An explanation names the mutant and the line it changes (``change``, the diff's ``+`` line): when
the code moves on and the mutant with that name now changes something else, the old explanation no
longer applies and the survivor is reported as unexplained. ``write`` fails (exit status 1) when a
survivor in repositories/ is unexplained, or when a guard patch was not caught by its race test."""

from __future__ import annotations

import collections
import datetime as dt
import json
import tomllib
from pathlib import Path

from mutmut.mutation.data import SourceFileMutationData
from mutmut.mutation.diff_apply import get_diff_for_mutant
from mutmut.stats import status_by_exit_code
from mutmut.utils.file_utils import walk_mutatable_files

ROOT = Path(__file__).resolve().parent.parent
EXPLANATIONS = ROOT / "mutation" / "survivors.toml"
RESULTS = ROOT / "mutation" / "results"


def changed_line(diff: str) -> str:
    """The mutated line(s) of a diff, stripped: what an explanation is pinned to."""
    return " / ".join(line[1:].strip() for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++"))


def module_of(name: str) -> str:
    return name.split(".x", 1)[0]


def collect() -> tuple[dict[str, str], dict[str, str]]:
    """Every mutant's status, and the diff of each one that was not killed."""
    statuses: dict[str, str] = {}
    diffs: dict[str, str] = {}
    for path in walk_mutatable_files():
        data = SourceFileMutationData(path=path)
        data.load()
        for name, exit_code in data.exit_code_by_key.items():
            statuses[name] = status_by_exit_code[exit_code]
            if statuses[name] not in ("killed", "not checked"):
                diffs[name] = get_diff_for_mutant(name, path=path)
    return statuses, diffs


def write(guards: dict[str, dict[str, object]]) -> int:
    statuses, diffs = collect()
    explained = tomllib.loads(EXPLANATIONS.read_text()) if EXPLANATIONS.exists() else {"why": {}, "survivors": {}}
    reasons, notes = explained.get("why", {}), explained.get("survivors", {})
    counts = collections.Counter(statuses.values())
    by_module: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for name, status in statuses.items():
        by_module[module_of(name)][status] += 1

    survivors, unexplained = [], []
    for name, status in sorted(statuses.items()):
        if status in ("killed", "not checked"):  # not checked: counted, not listed (the next run tries them)
            continue
        change = changed_line(diffs[name])
        note = notes.get(name)
        valid = note is not None and note.get("change") == change
        entry = {"name": name, "status": status, "change": change, "diff": diffs[name]}
        if valid:
            entry["why"] = note["why"]
            entry["reason"] = reasons.get(note["why"], note["why"])
            entry["note"] = note.get("note", "")
        elif status in ("survived", "timeout", "suspicious", "no tests") and name.startswith("repositories."):
            unexplained.append(name)
        survivors.append(entry)
    unexplained_all = [s["name"] for s in survivors if "why" not in s]
    uncaught_guards = [patch for patch, result in guards.items() if not result.get("failed")]

    RESULTS.mkdir(parents=True, exist_ok=True)
    summary = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "mutants": len(statuses),
        "statuses": dict(counts),
        "by_module": {module: dict(c) for module, c in sorted(by_module.items())},
        "score_of_tested": round(counts["killed"] / max(1, len(statuses) - counts["no tests"] - counts["not checked"]), 4),
        "guards": guards,
        "not_killed": survivors,
        "unexplained": unexplained_all,
    }
    (RESULTS / "latest.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    (RESULTS / "latest.md").write_text(markdown(summary, reasons))
    print(
        f"mutants {len(statuses)}: " + ", ".join(f"{status} {n}" for status, n in counts.most_common())
        + f"; unexplained {len(unexplained_all)} (in repositories/: {len(unexplained)}); guards not caught: {uncaught_guards}"
    )
    print(f"report: {RESULTS / 'latest.md'}")
    return 1 if unexplained or uncaught_guards else 0


def markdown(summary: dict, reasons: dict[str, str]) -> str:
    statuses = summary["statuses"]
    lines = [
        "# Mutation run (mutmut 3) — last results",
        "",
        f"Run {summary['date']} by `make mutation` (see `mutation/README.md`). Mutated: `repositories/` and "
        "`services/tokens.py`; tests: the modules listed in `[tool.mutmut]` of pyproject.toml, each mutant against the "
        "tests that call the mutated function.",
        "",
        f"**{summary['mutants']} mutants**: " + ", ".join(f"{n} {status}" for status, n in sorted(statuses.items(), key=lambda kv: -kv[1]))
        + f". Killed among those tried: {summary['score_of_tested']:.1%}."
        + (f" {statuses['not checked']} were not tried yet: the next `make mutation` starts with them." if statuses.get("not checked") else ""),
        "",
        "| module | " + " | ".join(sorted({s for c in summary["by_module"].values() for s in c})) + " |",
    ]
    columns = sorted({s for c in summary["by_module"].values() for s in c})
    lines.append("|---|" + "---|" * len(columns))
    for module, counts in summary["by_module"].items():
        lines.append(f"| {module} | " + " | ".join(str(counts.get(c, 0)) for c in columns) + " |")
    lines += ["", "## Delete guards made non-atomic (hand-made mutants, `mutation/guards/`)", ""]
    for patch, result in summary["guards"].items():
        verdict = "caught" if result.get("failed") else "**NOT CAUGHT**"
        lines.append(f"- `{patch}`: {verdict} by `{result['test']}`" + (f" — {result['evidence'][0].strip()}" if result.get("evidence") else ""))
    if not summary["guards"]:
        lines.append("- not run in this invocation")
    lines += ["", "## Mutants not killed", ""]
    if summary["unexplained"]:
        lines += [f"**{len(summary['unexplained'])} without an explanation** (add one to `mutation/survivors.toml` or kill it):", ""]
        lines += [f"- `{name}`" for name in summary["unexplained"]]
        lines.append("")
    groups: dict[str, list[dict]] = collections.defaultdict(list)
    for entry in summary["not_killed"]:
        groups[entry.get("why", "unexplained")].append(entry)
    for why, entries in sorted(groups.items(), key=lambda kv: (kv[0] == "unexplained", kv[0])):
        lines += [f"### {why} ({len(entries)})", "", reasons.get(why, "No explanation yet."), ""]
        for entry in entries:
            note = f" — {entry['note']}" if entry.get("note") else ""
            lines.append(f"- `{entry['name']}` ({entry['status']}): `{entry['change'][:160]}`{note}")
        lines.append("")
    return "\n".join(lines)
