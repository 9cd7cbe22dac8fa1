#!/usr/bin/env python3
"""`make mutation`: mutation testing of the repositories and the token service (mutmut 3), then
the hand-made mutants of the delete guards, then the report.

    python mutation/run.py                      # everything (many hours on two cores)
    python mutation/run.py 'repositories.oficiales.*'   # only these mutants (mutmut's name globs)
    python mutation/run.py --report-only        # rewrite the report from the last results

1. Two SecantusDB servers for every test run (``TEST_MONGODB_URI``; each test uses a database of its
   own, and each mutant's run one of the servers), instead of one per mutant.
2. ``mutmut run``: what is mutated and which tests run is in ``[tool.mutmut]`` of pyproject.toml.
   Results are kept in ``mutants/``, so a second run only tries what changed or was never tried.
3. Each patch in ``mutation/guards/`` makes one delete guard non-atomic (read, then delete); it is
   applied to a copy of the tree and its race test (``GUARDS``) must fail there.
4. ``mutation/report.py`` writes ``mutation/results/latest.md`` and ``latest.json`` and fails when a
   surviving mutant in repositories/ has no explanation in ``mutation/survivors.toml``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from the project root: services/ and mutation/ import

from mutation import report  # noqa: E402
from services.devdb import EmbeddedDatabase  # noqa: E402

RACES = "tests/test_integrity_races.py::"
# patch -> the race test that must fail with it applied
GUARDS = {
    "oficial-read-then-delete.patch": RACES + "test_deleting_an_officer_races_with_recording_by_it",
    "vehiculo-read-then-delete.patch": RACES + "test_deleting_a_vehicle_races_with_recording_on_it",
    "persona-read-then-delete.patch": RACES + "test_create_vehicle_races_with_deleting_its_owner",
}
GUARDS_RESULT = ROOT / "mutants" / "guards.json"


def run_mutmut(names: list[str], max_children: int, env: dict[str, str]) -> int:
    command = [sys.executable, "-m", "mutmut", "run", "--max-children", str(max_children), *names]
    print("$", " ".join(command), flush=True)
    return subprocess.run(command, cwd=ROOT, env=env).returncode


def tree_copy(target: Path) -> None:
    """The tracked files, as a fresh clone has them (no .venv, no mutants/)."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, files):
        source = ROOT / name.decode()
        if source.is_file():
            (target / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name.decode())


def check_guards(env: dict[str, str]) -> dict[str, dict[str, object]]:
    results: dict[str, dict[str, object]] = {}
    for patch, test in GUARDS.items():
        with tempfile.TemporaryDirectory(prefix="guard-") as tmp:
            tree = Path(tmp)
            tree_copy(tree)
            subprocess.run(["git", "apply", str(ROOT / "mutation" / "guards" / patch)], cwd=tree, check=True)
            # the copy's modules come first on sys.path (pytest puts the tree's root there)
            run = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--no-header", test],
                cwd=tree, env=env, capture_output=True, text=True,
            )
        errors = [line[1:].strip() for line in run.stdout.splitlines() if line.startswith("E ")]
        evidence = [line.split("; the first:")[0][:200] for line in errors[:1]]
        results[patch] = {"test": test, "failed": run.returncode == 1, "exit_code": run.returncode, "evidence": evidence}
        print(f"guard {patch}: {'caught' if run.returncode == 1 else 'NOT CAUGHT'} by {test}", flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="mutant name globs (default: all)")
    # twice the cores: a mutant's tests spend most of their time waiting on the databases (on two
    # cores, two servers and 4 children tried 15 mutants a minute; one server and 3 children, 8)
    parser.add_argument("--max-children", type=int, default=2 * (os.cpu_count() or 1))
    # SecantusDB answers from one Python process: with a single server the tests wait on it while
    # the cores idle. Each mutant's tests use one of these servers (tests/conftest.py: mongo_uri).
    parser.add_argument("--databases", type=int, default=2, help="SecantusDB servers the test runs share")
    parser.add_argument("--skip-guards", action="store_true",
                        help="do not re-check the delete guards (narrowed runs one module after another)")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args(argv)
    os.chdir(ROOT)  # mutmut works relative to the project root

    if not args.report_only:
        with contextlib.ExitStack() as stack:
            servers = [EmbeddedDatabase(":memory:", extra_args=("--enable-test-commands",)) for _ in range(args.databases)]
            uris = [stack.enter_context(server).uri for server in servers]
            env = {**os.environ, "TEST_MONGODB_URI": " ".join(uris)}
            code = run_mutmut(args.names, args.max_children, env)
            if code != 0:
                print(f"mutmut exited with {code}", file=sys.stderr)
                return code
            if not args.skip_guards:
                GUARDS_RESULT.write_text(json.dumps(check_guards(env), indent=2))
    guards = json.loads(GUARDS_RESULT.read_text()) if GUARDS_RESULT.exists() else {}
    return report.write(guards)


if __name__ == "__main__":
    sys.exit(main())
