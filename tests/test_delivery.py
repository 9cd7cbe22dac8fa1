"""Checks of the delivery files that need no container engine (`make image-test`, tests/image/check_image.py,
builds the image with podman and uses it as a user would):

- the Dockerfile passes hadolint and has the properties the issue asks for;
- docker-compose.yml is valid for `docker-compose config` with the .env.example values, and wires
  MongoDB as an authenticated replica set the app waits for;
- the GitHub workflow passes actionlint; the CloudFormation template passes cfn-lint;
- the image's dependency set and start-up are complete: requirements.txt alone, installed into a
  fresh virtual environment, runs the image's CMD with the image's ENV from a copy of the build
  context (minus .dockerignore), which answers /healthz and /readyz, passes the image's HEALTHCHECK
  command, and exits 0 on SIGTERM.

The linters come from requirements-tools.txt (installed next to this interpreter); docker-compose is
Debian's package. A missing tool fails the test: it is never skipped.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
WORKFLOW = ROOT / ".github" / "workflows" / "docker.yml"
TEMPLATE = ROOT / "infra" / "cloudformation.yaml"
TOOLS_HINT = "install the lint tools with: pip install -r requirements-tools.txt"


def tool(name: str) -> str:
    """The path of a command: next to this interpreter (the venv's bin), else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; {TOOLS_HINT}")
    return found


def run(command: list[str], timeout: float = 120, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT, **kwargs)  # type: ignore[call-overload]


# ---------------------------------------------------------------- Dockerfile


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with line continuations joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, rest = line.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    return instructions


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def image_env() -> dict[str, str]:
    """The ENV of the final stage, as the image has it (key=value pairs, possibly several per line)."""
    env: dict[str, str] = {}
    for keyword, rest in final_stage():
        if keyword != "ENV":
            continue
        for pair in shlex.split(rest):
            key, sep, value = pair.partition("=")
            assert sep, f"use ENV key=value, not the legacy form: {rest!r}"
            env[key] = value
    return env


def exec_form(keyword: str) -> list[str]:
    values = [rest for kw, rest in final_stage() if kw == keyword]
    assert values, f"the final stage has no {keyword}"
    rest = values[-1]
    if keyword == "HEALTHCHECK":
        assert " CMD " in f" {rest} ", rest
        rest = rest.split("CMD", 1)[1].strip()
    command = json.loads(rest)
    assert isinstance(command, list) and all(isinstance(part, str) for part in command), rest
    return command


def test_dockerfile_passes_hadolint() -> None:
    result = run([tool("hadolint"), "--no-color", "--failure-threshold", "warning", str(DOCKERFILE)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_shape() -> None:
    instructions = dockerfile_instructions()
    froms = [rest for keyword, rest in instructions if keyword == "FROM"]
    assert len(froms) >= 2, "multi-stage build expected"
    args = {rest.split("=", 1)[0]: rest.split("=", 1)[1] for kw, rest in instructions if kw == "ARG" and "=" in rest}
    first = froms[0].split()[0]  # the stages build on one Debian base with Debian's Python 3.11 from apt
    base = args.get(first.strip("${}"), first)
    assert base == "debian:bookworm-slim", base
    apt_installs = " ".join(rest for kw, rest in instructions if kw == "RUN" and "apt-get install" in rest)
    assert "python3=3.11." in apt_installs and "--no-install-recommends" in apt_installs, apt_installs
    stage = final_stage()
    users = [rest for kw, rest in stage if kw == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the image must run as a non-root user"
    assert any(kw == "EXPOSE" and "8888" in rest for kw, rest in stage)
    assert exec_form("CMD") == ["python", "server.py"], "exec form: the server is PID 1 and gets SIGTERM"
    assert "/healthz" in " ".join(exec_form("HEALTHCHECK"))
    env = image_env()
    assert env["APP_ENV"] == "production"
    assert env["EMBEDDED_DB"] == "1" and env["GENERATE_SECRETS"] == "1" and env["DATA_DIR"] == "/data"
    assert env["WORKERS"] == "0"
    assert not any("SECRET" in key and key != "GENERATE_SECRETS" for key in env), "no secret baked in the image"
    installs = " ".join(rest for kw, rest in instructions if kw == "RUN" and "pip install" in rest)
    assert "requirements.txt" in installs and "requirements-dev" not in installs


def dockerignore_patterns() -> list[tuple[bool, str]]:
    patterns = []
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        patterns.append((negated, line.lstrip("!").strip("/")))
    return patterns


def ignored(relative: str, patterns: list[tuple[bool, str]]) -> bool:
    """Docker's rule, simplified: the last matching pattern wins; a pattern matching a directory
    excludes what is inside it; a leading **/ matches at any depth."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for negated, pattern in patterns:
        for prefix in prefixes:
            candidates = [prefix]
            if pattern.startswith("**/"):
                candidates = ["/".join(prefix.split("/")[i:]) for i in range(prefix.count("/") + 1)]
                pattern_body = pattern[3:]
            else:
                pattern_body = pattern
            if any(fnmatch.fnmatchcase(candidate, pattern_body) for candidate in candidates):
                result = not negated
                break
    return result


def build_context_copy(destination: Path) -> None:
    """What `COPY . /app` puts in the image: the repository's files minus .dockerignore."""
    patterns = dockerignore_patterns()
    for directory, subdirectories, files in os.walk(ROOT):
        base = Path(directory).relative_to(ROOT)
        subdirectories[:] = [name for name in subdirectories if not ignored((base / name).as_posix(), patterns)]
        for name in files:
            relative = (base / name).as_posix()
            if ignored(relative, patterns):
                continue
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / relative, target)


def test_dockerignore_keeps_local_state_out_and_the_app_in() -> None:
    patterns = dockerignore_patterns()
    for path in (".venv/bin/python", "data/db/x", ".git/HEAD", "test-artifacts/a.png", "bench/results/r.json",
                 "handlers/__pycache__/base.cpython-311.pyc", ".pytest_cache/v", ".env", "tests/test_x.py"):
        assert ignored(path, patterns), path
    for path in ("server.py", "config.py", "requirements.txt", "handlers/base.py", "repositories/base.py",
                 "services/devdb.py", "scripts/create_admin.py", "templates/base.html", "static/app.css"):
        assert not ignored(path, patterns), path


# ---------------------------------------------------------------- docker-compose


def compose_command() -> list[str]:
    binary = shutil.which("docker-compose")
    if binary:
        return [binary]
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30).returncode == 0:
        return [docker, "compose"]
    pytest.fail("docker-compose is not installed (Debian: apt-get install -y docker-compose)")


def compose_config(*extra: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MONGO", "ADMIN_", "APP_"))}
    return run([*compose_command(), "--env-file", str(ENV_EXAMPLE), "-f", str(COMPOSE), "config", *extra], env=env)


def test_compose_file_is_valid() -> None:
    result = compose_config("-q")
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_mongodb_as_an_authenticated_replica_set() -> None:
    result = compose_config()
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    mongo, app = config["services"]["mongo"], config["services"]["app"]
    assert mongo["image"].startswith("mongo:8")
    command = mongo["command"]
    assert command[command.index("--replSet") + 1] == "rs0" and "--keyFile" in command
    assert mongo["environment"]["MONGO_INITDB_ROOT_PASSWORD"]
    assert "healthcheck" in mongo and "ports" not in mongo, "MongoDB is reachable from the app only"
    assert app["depends_on"]["mongo"]["condition"] == "service_healthy"
    uri = app["environment"]["MONGODB_URI"]
    assert uri.startswith(f"mongodb://{mongo['environment']['MONGO_APP_USERNAME']}:")
    assert "replicaSet=rs0" in uri and "authSource=transito" in uri
    assert mongo["environment"]["MONGO_INITDB_ROOT_USERNAME"] not in uri.split("@")[0]
    assert app["environment"]["APP_ENV"] == "production"
    assert app["environment"]["ADMIN_USERNAME"] and app["environment"]["ADMIN_PASSWORD"]
    assert any(str(port.get("published")) == "8888" for port in app["ports"])
    volumes = set(config["volumes"])
    assert {"mongo-data", "mongo-config"} <= volumes


def test_compose_refuses_to_start_without_credentials(tmp_path: Path) -> None:
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = run([*compose_command(), "--env-file", str(empty), "-f", str(COMPOSE), "config", "-q"],
                 env={key: value for key, value in os.environ.items() if not key.startswith(("MONGO", "ADMIN_"))})
    assert result.returncode != 0
    assert "(see .env.example)" in result.stderr, result.stderr


# ---------------------------------------------------------------- workflow and CloudFormation


def test_workflow_passes_actionlint() -> None:
    result = run([tool("actionlint"), "-no-color", str(WORKFLOW)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflow_publishes_to_docker_hub_on_tags_only() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads `on` as True
    assert "v*" in triggers["push"]["tags"]
    publish = workflow["jobs"]["publish"]
    assert publish["if"] == "startsWith(github.ref, 'refs/tags/v')"
    text = WORKFLOW.read_text()
    assert "secrets.DOCKERHUB_USERNAME" in text and "secrets.DOCKERHUB_TOKEN" in text


def test_cloudformation_template_passes_cfn_lint() -> None:
    result = run([tool("cfn-lint"), "--non-zero-exit-code", "warning", "--", str(TEMPLATE)], timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------- the image's start-up, without Docker


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.close()
        return int(error.code)
    except OSError:
        return None


def wait_until(predicate, deadline: float, process: subprocess.Popen[str]) -> bool:  # type: ignore[no-untyped-def]
    while time.monotonic() < deadline:
        if predicate():
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.5)
    return False


@pytest.mark.slow
def test_requirements_alone_start_the_image_command(tmp_path: Path) -> None:
    """SLOW (a fresh `pip install -r requirements.txt`, about a minute or two): the image's
    dependency set and start-up are complete. Installs requirements.txt alone into a new virtual
    environment, copies the build context as `COPY . /app` would (minus .dockerignore), and runs the
    Dockerfile's CMD with the Dockerfile's ENV (plus PORT, DATA_DIR and WORKERS=1 for the test)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--quiet", "-r",
         str(ROOT / "requirements.txt")],
        capture_output=True, text=True, timeout=1200,
    )
    assert install.returncode == 0, install.stdout[-4000:] + install.stderr[-4000:]

    app = tmp_path / "app"
    build_context_copy(app)
    assert (app / "server.py").exists(), "server.py must be in the build context"

    port_file = tmp_path / "port"  # PORT=0: the server binds a free port and writes it here
    env = {
        "PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        **image_env(),
    }
    env["PATH"] = f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin"  # the image's PATH names /opt/venv
    env.update(DATA_DIR=str(tmp_path / "data"), PORT="0", PORT_FILE=str(port_file), WORKERS="1")
    command = exec_form("CMD")
    assert command[0] == "python"
    log_path = tmp_path / "server.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [str(python), *command[1:]], cwd=app, env=env, stdout=log, stderr=subprocess.STDOUT, text=True
        )
        try:
            deadline = time.monotonic() + 120
            assert wait_until(port_file.exists, deadline, process), "no port reported:\n" + log_path.read_text()[-4000:]
            port = int(port_file.read_text())
            base = f"http://127.0.0.1:{port}"
            assert wait_until(lambda: http_status(f"{base}/healthz") == 200, deadline, process), \
                "no 200 from /healthz:\n" + log_path.read_text()[-4000:]
            assert wait_until(lambda: http_status(f"{base}/readyz") == 200, deadline, process), \
                "no 200 from /readyz:\n" + log_path.read_text()[-4000:]

            healthcheck = exec_form("HEALTHCHECK")
            # in a container PORT is the port the server listens on; here that is the one it reported
            probe = subprocess.run([str(python), *healthcheck[1:]], env={**env, "PORT": str(port)}, capture_output=True,
                                   text=True, timeout=30)
            assert probe.returncode == 0, probe.stderr

            assert (tmp_path / "data").is_dir(), "the embedded database and secrets live under DATA_DIR"
            process.send_signal(signal.SIGTERM)
            returncode = process.wait(timeout=45)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
    assert returncode == 0, "unclean exit on SIGTERM:\n" + log_path.read_text()[-4000:]


# ---------------------------------------------------------------- licences


def test_only_the_gpl_launcher_imports_secantusdb() -> None:
    """SecantusDB is GPL-2.0-only (README, Licences): the application talks to it over the wire and
    never imports it. The one file that does is its launcher, a separate program under its licence."""
    tracked = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True)
    importers = set()
    for name in tracked.stdout.split():
        for node in ast.walk(ast.parse((ROOT / name).read_text(), filename=name)):
            modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(module == "secantus" or module.startswith("secantus.") for module in modules):
                importers.add(name)
    assert importers == {"services/secantus_launcher.py"}
    assert (ROOT / "services/secantus_launcher.py").read_text().startswith("# SPDX-License-Identifier: GPL-2.0-only\n")
