#!/usr/bin/env python3
"""`make image-test`: build the real Dockerfile and use the image as README's Docker section tells a user to.

    python3 tests/image/check_image.py                          # podman: our machines and .ci/run, as root
    python3 tests/image/check_image.py --engine docker --image registro-infracciones:ci   # GitHub workflow

With podman it first prepares the machine, idempotently: installs podman, runc and debootstrap with apt when
missing; writes a containers.conf drop-in (runc, ulimits that root may set here); makes a local
`debian:bookworm-slim` with debootstrap (no container registry is reachable here), reused for BASE_MAX_AGE_DAYS.
Then, with either engine:

1. build the Dockerfile unchanged (podman: `--format docker`, which keeps HEALTHCHECK; the host's CA bundle is lent
   to pip for the build only, through a read-only mount) and print the build time and the image size;
2. inspect the image: its config (non-root user, healthcheck, stop signal, /data volume, exec-form CMD) and every
   layer (no tests, .git, .env, secrets, private keys, development packages, nor the CA bundle lent to the build);
3. the user's container, started as the README says (named volume at /data, ADMIN_USERNAME/ADMIN_PASSWORD, -p):
   healthy, non-root, the server as PID 1 with one worker per CPU; the admin signs in through the login form, creates
   a persona, a vehicle and an officer through the admin forms; a token from scripts/issue_token.py loads an
   infraction through the API and the report shows it; `stop` exits 0 within the grace period and `start` brings back
   the data and the generated secrets (the old token and the old admin session still work);
4. the report throttle shared by the workers: with REPORT_RATE_LIMIT=5/minute, one keep-alive connection pinned to
   each worker, 6 requests round-robin over them: exactly the last one is refused with 429;
5. no ERROR, CRITICAL or Traceback in any container's log.

Only the standard library: it runs with the machine's python3 (3.11+). Containers, volumes and temporary files it
makes are removed, also on failure (after printing the containers' logs); the base and the built image stay (they
are the build cache). Nothing here sleeps a fixed time: every wait polls with a deadline.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import fcntl
import glob
import hashlib
import html.parser
import http.client
import http.cookiejar
import json
import os
import re
import resource
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IMAGE_TAG = "localhost/registro-infracciones:image-test"
BASE_IMAGE = "debian:bookworm-slim"  # the Dockerfile's DEBIAN_IMAGE default
BASE_MAX_AGE_DAYS = 7  # then the base is made again, with the archive's updates
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
DROP_IN = Path("/etc/containers/containers.conf.d/50-registro-image-test.conf")
LOCK_FILE = Path("/var/tmp/registro-image-test.lock")
PACKAGES = {"podman": "podman", "runc": "runc", "debootstrap": "debootstrap"}  # command -> Debian package

HEALTHY_WITHIN = 120.0  # seconds, start-up of the server and its embedded database included
STOP_GRACE = 30  # `stop --time`: SIGTERM, then SIGKILL after this many seconds
REPORT_LIMIT = 5  # REPORT_RATE_LIMIT=5/minute in the throttle check
LOG_PROBLEMS = re.compile(r"\b(ERROR|CRITICAL)\b|Traceback \(most recent call last\)")

# What a user types into the admin forms (field names from handlers/forms.py): the one place to change when a form
# does. The vehicle's owner is chosen by e-mail today; see vehiculo_fields().
ADMIN_USERNAME = "admin"
PERSONA = {"nombre": "Ana Pérez", "correo": "ana.perez@example.cl"}
VEHICULO = {"placa_patente": "BB-CD 12", "marca": "Toyota", "color": "Rojo"}
OFICIAL = {"nombre": "Juan Soto", "numero": "1234", "activo": "y"}
PLACA_NORMALIZADA = "BBCD12"


def vehiculo_fields(persona_id: str) -> dict[str, str]:
    """The vehicle form's fields. The owner field takes the persona's e-mail; a picker would take persona_id."""
    del persona_id  # not needed while the owner is chosen by e-mail
    return {**VEHICULO, "propietario": PERSONA["correo"]}


class Failure(Exception):
    """A check that did not hold; the message says what was expected and what was seen."""


STARTED = time.monotonic()


def step(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.1f}s] {message}", flush=True)


def run(command: list[str], *, timeout: float = 600, check: bool = True, **kwargs) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise Failure(f"`{' '.join(command)}` exited {result.returncode}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def poll(what: str, probe, deadline: float, interval: float = 0.5):
    """Call probe() until it returns something truthy; fail at the deadline."""
    while True:
        answer = probe()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise Failure(f"timed out waiting for {what}")
        time.sleep(interval)


# ---------------------------------------------------------------- this machine (podman only)


def install_missing_packages() -> None:
    missing = sorted({package for command, package in PACKAGES.items() if shutil.which(command) is None})
    if not missing:
        return
    step(f"installing Debian packages: {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-qq"], env=env)
    # runc named explicitly: podman accepts crun or runc, and crun 1.8 refuses this machine's hybrid cgroups.
    run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], env=env)


def write_containers_conf() -> None:
    """A drop-in of our own (other containers.conf files are left alone): the runc runtime, and default ulimits that
    a container can have here. Podman's defaults (1048576) are above this machine's hard limits, and root here may
    not raise a limit (no CAP_SYS_RESOURCE), so every container would fail. Podman itself runs with nofile at most
    the hard limit and nproc at most 32768 (it sets both at start), and its containers get no more than it has."""
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    nofile = 1048576 if nofile == resource.RLIM_INFINITY else min(nofile, 1048576)
    nproc = 32768 if nproc == resource.RLIM_INFINITY else min(nproc, 32768)
    text = (
        "# Written by `make image-test` (tests/image/check_image.py); delete it to undo.\n"
        "[containers]\n"
        f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
        "[engine]\n"
        'runtime = "runc"\n'
    )
    if DROP_IN.exists() and DROP_IN.read_text() == text:
        return
    DROP_IN.parent.mkdir(parents=True, exist_ok=True)
    DROP_IN.write_text(text)
    step(f"wrote {DROP_IN}")


def debian_mirrors() -> tuple[str, str]:
    """The Debian archive and security mirrors apt uses on this machine (deb822 or one-line sources)."""
    archive, security = "http://deb.debian.org/debian", "http://deb.debian.org/debian-security"
    found: dict[str, str] = {}
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        for stanza in Path(path).read_text().split("\n\n"):
            fields = dict(re.findall(r"^(\w[\w-]*):\s*(.+)$", stanza, re.MULTILINE))
            for suite in fields.get("Suites", "").split():
                found.setdefault(suite, fields.get("URIs", "").split()[0] if fields.get("URIs") else "")
    for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
        with contextlib.suppress(OSError):
            for match in re.finditer(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", Path(path).read_text(), re.MULTILINE):
                found.setdefault(match.group(2), match.group(1))
    return found.get("bookworm") or archive, found.get("bookworm-security") or security


def base_is_fresh(mirror: str) -> bool:
    result = run(["podman", "image", "inspect", BASE_IMAGE], check=False)
    if result.returncode != 0:
        return False
    labels = json.loads(result.stdout)[0].get("Labels") or {}
    made = labels.get("org.registro.image-test.made")
    if made is None:
        return True  # not made by us (a real pulled image, say): use it as it is
    age = dt.date.today() - dt.date.fromisoformat(made)
    return labels.get("org.registro.image-test.mirror") == mirror and age.days < BASE_MAX_AGE_DAYS


def make_base() -> None:
    """debian:bookworm-slim made here as the official image is made: debootstrap's minbase, then the "slim" and
    container settings of debuerreotype (the tool behind the official Debian images): no documentation, man pages or
    translations installed, apt caches cleaned after each install, the archive and security suites in sources."""
    mirror, security = debian_mirrors()
    if base_is_fresh(mirror):
        step(f"base {BASE_IMAGE}: reused")
        return
    step(f"base {BASE_IMAGE}: debootstrap bookworm from {mirror}")
    with tempfile.TemporaryDirectory(dir="/var/tmp", prefix="registro-base-") as work:
        rootfs = Path(work) / "rootfs"
        run(["debootstrap", "--variant=minbase", "bookworm", str(rootfs), mirror], timeout=900)
        slim(rootfs)
        apt_conf = rootfs / "etc/apt/apt.conf.d"
        (apt_conf / "docker-clean").write_text(
            'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb '
            '/var/cache/apt/*.bin || true"; };\n'
            'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb '
            '/var/cache/apt/*.bin || true"; };\nDir::Cache::pkgcache "";\nDir::Cache::srcpkgcache "";\n'
        )
        (apt_conf / "docker-no-languages").write_text('Acquire::Languages "none";\n')
        (apt_conf / "docker-gzip-indexes").write_text('Acquire::GzipIndexes "true";\n')
        (rootfs / "usr/sbin/policy-rc.d").write_text("#!/bin/sh\nexit 101\n")  # no services start in a build
        (rootfs / "usr/sbin/policy-rc.d").chmod(0o755)
        (rootfs / "etc/apt/sources.list").unlink(missing_ok=True)
        (rootfs / "etc/apt/sources.list.d/debian.sources").write_text(
            f"Types: deb\nURIs: {mirror}\nSuites: bookworm bookworm-updates\nComponents: main\n"
            "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
            f"Types: deb\nURIs: {security}\nSuites: bookworm-security\nComponents: main\n"
            "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        )
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for entry in (rootfs / cache).glob("*"):
                if entry.is_file():
                    entry.unlink()
        labels = [f"org.registro.image-test.made={dt.date.today().isoformat()}", f"org.registro.image-test.mirror={mirror}"]
        changes = " ".join(f"--change {shlex.quote('LABEL ' + label)}" for label in labels)
        run(["bash", "-c", "set -o pipefail; "
             f"tar --numeric-owner '--exclude=./dev/*' -C {shlex.quote(str(rootfs))} -c . "
             f"| podman import --change 'CMD [\"bash\"]' {changes} - {BASE_IMAGE}"])
    step(f"base {BASE_IMAGE}: made")


SLIM_PATHS = ("/usr/share/doc", "/usr/share/groff", "/usr/share/info", "/usr/share/linda",
              "/usr/share/lintian/overrides", "/usr/share/locale", "/usr/share/man")
SLIM_KEEP = ("/usr/share/doc/*/copyright", "/usr/share/locale/locale.alias")


def slim(rootfs: Path) -> None:
    """The "slim" variant: documentation, man pages and translations removed, and kept out of later installs."""
    (rootfs / "etc/dpkg/dpkg.cfg.d/docker").write_text(
        "".join(f"path-exclude={path}/*\n" for path in SLIM_PATHS) + "".join(f"path-include={k}\n" for k in SLIM_KEEP))
    keep = {str(path) for pattern in SLIM_KEEP for path in rootfs.glob(pattern.lstrip("/"))}
    for top in SLIM_PATHS:
        for directory, dirs, files in os.walk(rootfs / top.lstrip("/"), topdown=False):
            for name in files + [d for d in dirs if os.path.islink(os.path.join(directory, d))]:
                if os.path.join(directory, name) not in keep:
                    os.remove(os.path.join(directory, name))
            if directory != str(rootfs / top.lstrip("/")) and not os.listdir(directory):
                os.rmdir(directory)


def prepare_podman() -> None:
    if os.geteuid() != 0:
        raise Failure("the podman image test runs as root (rootful podman; apt-get); run it as root")
    install_missing_packages()
    write_containers_conf()
    LOCK_FILE.touch()
    with open(LOCK_FILE) as lock:  # two runs at once make the base once
        fcntl.flock(lock, fcntl.LOCK_EX)
        make_base()


# ---------------------------------------------------------------- the engine


@dataclass
class Engine:
    name: str  # podman or docker
    made_containers: list[str] = field(default_factory=list)
    made_volumes: list[str] = field(default_factory=list)

    def __call__(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return run([self.name, *args], check=check, timeout=timeout)

    def build(self) -> tuple[str, float]:
        """Build the Dockerfile as it is; returns the image id and the seconds taken."""
        with tempfile.TemporaryDirectory(prefix="registro-build-") as work:
            iidfile = Path(work) / "iid"
            command = [self.name, "build", "--tag", IMAGE_TAG, "--iidfile", str(iidfile)]
            if self.name == "podman":
                command += ["--format", "docker", "--pull=never", *self.lend_ca_to_pip(Path(work) / "home")]
            log = Path(work) / "build.log"
            started = time.monotonic()
            with open(log, "w") as out:
                result = subprocess.run([*command, str(ROOT)], stdout=out, stderr=subprocess.STDOUT, timeout=1800)
            seconds = time.monotonic() - started
            if result.returncode != 0:
                raise Failure(f"build failed ({result.returncode}):\n{log.read_text()[-8000:]}")
            return iidfile.read_text().strip(), seconds

    @staticmethod
    def lend_ca_to_pip(home: Path) -> list[str]:
        """HTTPS from inside a build is intercepted on our machines, so pip needs the host's CA bundle. It is lent
        through a read-only mount over /root (root's home, which the base has, so no mount point is left in a
        layer) holding a copy of the bundle and a pip.conf naming it; the Dockerfile knows nothing of it."""
        if not HOST_CA_BUNDLE.exists():
            return []
        (home / ".config/pip").mkdir(parents=True)
        shutil.copyfile(HOST_CA_BUNDLE, home / "host-ca.pem")
        (home / ".config/pip/pip.conf").write_text("[global]\ncert = /root/host-ca.pem\n")
        return ["--volume", f"{home}:/root:ro"]

    def inspect(self, kind: str, name: str) -> dict:
        return json.loads(self(kind, "inspect", name).stdout)[0]

    def run_container(self, image: str, name: str, volume: str, env: dict[str, str]) -> str:
        """The README's `docker run -d --name … -p 8888:8888 -v VOLUME:/data -e …`, with the host port a free
        one on the loopback interface (other servers may hold 8888 on a shared machine)."""
        self("volume", "create", volume)
        self.made_volumes.append(volume)
        self.made_containers.append(name)
        flags = [item for key, value in env.items() for item in ("-e", f"{key}={value}")]
        self("run", "-d", "--name", name, "-p", "127.0.0.1::8888", "-v", f"{volume}:/data", *flags, image)
        address = self("port", name, "8888/tcp").stdout.split()[0]
        return f"http://{address}"

    def healthy(self, name: str, within: float = HEALTHY_WITHIN) -> float:
        """Wait for the HEALTHCHECK to pass; returns the seconds it took. Podman without systemd runs a
        container's health check only when asked (`podman healthcheck run`); Docker runs it on its interval."""
        started = time.monotonic()

        def probe() -> bool:
            state = self.inspect("container", name)["State"]
            if not state.get("Running"):
                raise Failure(f"{name} is not running: {state.get('Status')}, exit code {state.get('ExitCode')}")
            if self.name == "podman":
                return self("healthcheck", "run", name, check=False).returncode == 0
            return (state.get("Health") or {}).get("Status") == "healthy"

        poll(f"{name} to become healthy", probe, started + within, interval=1.0)
        status = (self.inspect("container", name)["State"].get("Health") or {}).get("Status")
        if status != "healthy":
            raise Failure(f"{name}: the health check passed but the engine reports {status!r}")
        return time.monotonic() - started

    def processes(self, name: str) -> dict:
        """Every process in the container (pid, parent, uid, command line) and the CPU count it sees, read from
        /proc by the image's own python (the image has no ps)."""
        script = (
            "import json, os\n"
            "procs = []\n"
            "for pid in filter(str.isdigit, os.listdir('/proc')):\n"
            "    try:\n"
            "        cmd = open(f'/proc/{pid}/cmdline', 'rb').read().split(b'\\0')\n"
            "        status = dict(l.split(':', 1) for l in open(f'/proc/{pid}/status') if ':' in l)\n"
            "    except OSError:\n"
            "        continue\n"
            "    procs.append({'pid': int(pid), 'ppid': int(status['PPid']), 'uid': int(status['Uid'].split()[0]),\n"
            "                  'cmd': [c.decode() for c in cmd if c]})\n"
            "print(json.dumps({'cpus': os.cpu_count(), 'procs': procs}))\n"
        )
        return json.loads(self("exec", name, "python", "-c", script).stdout)

    def logs(self, name: str) -> str:
        result = subprocess.run([self.name, "logs", name], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, timeout=120)
        return result.stdout

    def remove_leftovers(self) -> None:
        """Containers and volumes of an earlier run that was killed before it could clean up (its pid is gone)."""
        for kind, listing in (("container", ["ps", "--all"]), ("volume", ["volume", "ls"])):
            for name in self(*listing, "--format", "{{.Names}}" if kind == "container" else "{{.Name}}").stdout.split():
                match = re.fullmatch(r"[\w-]+-image-test-(\d+)", name)
                if match and not Path(f"/proc/{match.group(1)}").exists():
                    step(f"removing {kind} {name}, left by an earlier run")
                    self(*(["rm", "--force", "--volumes"] if kind == "container" else ["volume", "rm", "--force"]), name,
                         check=False)

    def clean_up(self) -> None:
        while self.made_containers:
            self("rm", "--force", "--volumes", self.made_containers.pop(), check=False, timeout=120)
        while self.made_volumes:
            self("volume", "rm", "--force", self.made_volumes.pop(), check=False, timeout=120)


# ---------------------------------------------------------------- the image itself


def check_image_config(engine: Engine, image: str) -> int:
    info = engine.inspect("image", image)
    config = info["Config"]
    healthcheck = info.get("Healthcheck") or config.get("Healthcheck") or {}  # podman keeps it beside Config
    problems = []
    if config.get("User", "").split(":")[0] in ("", "0", "root"):
        problems.append(f"runs as root (User={config.get('User')!r})")
    if "/healthz" not in " ".join(healthcheck.get("Test") or []):
        problems.append(f"no HEALTHCHECK on /healthz: {healthcheck!r} (podman: was it built with --format docker?)")
    if config.get("StopSignal") not in ("SIGTERM", "15"):
        problems.append(f"StopSignal is {config.get('StopSignal')!r}")
    if "/data" not in (config.get("Volumes") or {}):
        problems.append("no /data volume")
    if config.get("Cmd") != ["python", "server.py"] or config.get("Entrypoint"):
        problems.append(f"CMD/ENTRYPOINT is not the exec form ['python', 'server.py']: {config.get('Cmd')} {config.get('Entrypoint')}")
    if problems:
        raise Failure("image config: " + "; ".join(problems))
    return int(info["Size"])


def dev_only_distributions() -> set[str]:
    """Normalised names of the packages in requirements-dev/-tools.txt that requirements.txt does not list."""
    def names(path: Path) -> set[str]:
        found = set()
        for line in path.read_text().splitlines():
            match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*[=<>~!]", line.strip())
            if match:
                found.add(re.sub(r"[-_.]+", "_", match.group(1)).lower())
        return found
    runtime = names(ROOT / "requirements.txt")
    return (names(ROOT / "requirements-dev.txt") | names(ROOT / "requirements-tools.txt")) - runtime


def check_layers(engine: Engine, image: str) -> int:
    """Every file of every layer (a file deleted in a later layer still ships in the earlier one)."""
    bundle = HOST_CA_BUNDLE.read_bytes() if HOST_CA_BUNDLE.exists() else b""
    bundle_digest = hashlib.sha256(bundle).hexdigest()
    dev_only = dev_only_distributions()
    problems: list[str] = []
    scanned = 0
    with tempfile.TemporaryDirectory(dir="/var/tmp", prefix="registro-save-") as work:
        archive = Path(work) / "image.tar"
        engine("save", "-o", str(archive), image)
        with tarfile.open(archive) as outer:
            manifest = json.load(outer.extractfile("manifest.json"))
            for layer in manifest[0]["Layers"]:
                with tarfile.open(fileobj=outer.extractfile(layer), mode="r|*") as tar:
                    for member in tar:
                        scanned += 1
                        problem = layer_problem(member, tar, bundle, bundle_digest, dev_only)
                        if problem:
                            problems.append(f"{member.name}: {problem}")
    if problems:
        raise Failure(f"{len(problems)} forbidden file(s) in the image layers:\n  " + "\n  ".join(problems[:40]))
    return scanned


def layer_problem(member: tarfile.TarInfo, tar: tarfile.TarFile, bundle: bytes, bundle_digest: str,
                  dev_only: set[str]) -> str | None:
    path = member.name.removeprefix("./").lstrip("/")
    parts = path.split("/")
    base = parts[-1]
    if ".git" in parts:
        return "git metadata"
    if base in ("secrets.json", "dev-admin.txt") or base == ".env" or base.startswith(".env."):
        return "a secrets file"
    if path == "root/host-ca.pem" or path.startswith("root/.config/pip"):
        return "left by the CA mount of the build"
    if parts[0] == "app" and len(parts) > 1:
        if parts[1] in ("tests", "data", ".venv", "test-artifacts", "bench", "mutation", "mutants"):
            return "not part of the application"
        if base.startswith("requirements-") or base.endswith((".pem", ".key")):
            return "not part of the application"
    if parts[0] == "data" and len(parts) > 1:
        return "the /data volume must be empty in the image"
    if "site-packages" in parts and base.endswith(".dist-info"):
        name = re.sub(r"[-_.]+", "_", base.removesuffix(".dist-info").rsplit("-", 1)[0]).lower()
        if name in dev_only:
            return "a development-only package"
    if member.isfile() and member.size:
        if bundle and member.size == len(bundle):
            if hashlib.sha256(tar.extractfile(member).read()).hexdigest() == bundle_digest:
                return "the host's CA bundle lent to the build"
        # Private keys of ours; third-party packages ship test keys in site-packages (tornado, future).
        if "site-packages" not in parts and parts[0] != "usr" and member.size < 1 << 20:
            if b"PRIVATE KEY-----" in tar.extractfile(member).read():
                return "a private key"
    return None


# ---------------------------------------------------------------- HTTP as a user


@dataclass
class Page:
    status: int
    url: str
    headers: http.client.HTTPMessage
    body: str


class Forms(html.parser.HTMLParser):
    """The forms of a page: action and every named field with its value, as a browser would submit them."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attributes.get("action") or "", "fields": {}})
        elif tag in ("input", "select", "textarea") and self.forms and attributes.get("name"):
            if attributes.get("type") in ("checkbox", "radio") and "checked" not in attributes:
                return
            self.forms[-1]["fields"][attributes["name"]] = attributes.get("value") or ""


class Browser:
    """A user's browser on the admin pages: cookies kept, redirects followed, forms submitted with their hidden
    fields (the `_xsrf` token among them) as a browser submits them."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def open(self, path: str, data: dict[str, str] | None = None) -> Page:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            with self.opener.open(urllib.parse.urljoin(self.base, path), data=body, timeout=30) as response:
                return Page(response.status, response.url, response.headers, response.read().decode())
        except urllib.error.HTTPError as error:
            with error:
                return Page(error.code, error.url, error.headers, error.read().decode(errors="replace"))

    def submit(self, path: str, values: dict[str, str]) -> Page:
        """Open the page at path and submit its form that has all the given fields."""
        page = self.open(path)
        if page.status != 200:
            raise Failure(f"GET {path}: {page.status}\n{page.body[:2000]}")
        parser = Forms()
        parser.feed(page.body)
        for form in parser.forms:
            if set(values) <= set(form["fields"]):
                if "_xsrf" not in form["fields"]:
                    raise Failure(f"the form of {path} has no _xsrf field")
                return self.open(urllib.parse.urljoin(page.url, form["action"]), {**form["fields"], **values})
        raise Failure(f"no form on {path} with the fields {sorted(values)}; forms: {[sorted(f['fields']) for f in parser.forms]}")


def api(base: str, method: str, path: str, body: dict | None = None, headers: dict[str, str] | None = None
        ) -> tuple[int, dict, http.client.HTTPMessage]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(urllib.parse.urljoin(base, path), data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null"), response.headers
    except urllib.error.HTTPError as error:
        with error:
            raw = error.read()
            try:
                return error.code, json.loads(raw or b"null"), error.headers
            except json.JSONDecodeError:
                return error.code, {"raw": raw.decode(errors="replace")}, error.headers


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise Failure(message)


# ---------------------------------------------------------------- the checks


def sign_in(base: str, password: str) -> Browser:
    browser = Browser(base)
    page = browser.submit("/admin/login", {"username": ADMIN_USERNAME, "password": password})
    expect(page.status == 200 and "/admin/login" not in page.url,
           f"admin login with ADMIN_USERNAME/ADMIN_PASSWORD failed: {page.status} at {page.url}\n{page.body[:2000]}")
    return browser


def create(browser: Browser, slug: str, values: dict[str, str]) -> str:
    """Create a record through /admin/<slug>/nuevo; returns its id (the page the form redirects to)."""
    page = browser.submit(f"/admin/{slug}/nuevo", values)
    match = re.search(rf"/admin/{slug}/([^/?#]+)$", page.url)
    expect(page.status == 200 and match is not None and match.group(1) != "nuevo",
           f"creating {slug} through its form: {page.status} at {page.url}\n{page.body[:3000]}")
    return match.group(1)


def load_infraction(base: str, token: str, minutes_ago: int) -> str:
    moment = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=minutes_ago)
    status, body, _ = api(base, "POST", "/api/cargar_infraccion",
                          {"placa_patente": VEHICULO["placa_patente"], "timestamp": moment.isoformat(timespec="seconds"),
                           "comentarios": "Exceso de velocidad (make image-test)"},
                          {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())})
    expect(status == 200 and body.get("placa_patente") == PLACA_NORMALIZADA,
           f"POST /api/cargar_infraccion: {status} {body}")
    return body["id"]


def report_ids(base: str) -> set[str]:
    query = urllib.parse.urlencode({"email": PERSONA["correo"]})
    status, body, _ = api(base, "GET", f"/api/generar_informe?{query}")
    expect(status == 200, f"GET /api/generar_informe: {status} {body}")
    return {item.get("id") for item in body.get("infracciones", [])}


def mint_token(engine: Engine, name: str) -> str:
    result = engine("exec", name, "python", "scripts/issue_token.py", "--officer", OFICIAL["numero"])
    token = result.stdout.strip()
    expect(token.count(".") == 2, f"issue_token.py printed no token: {result.stdout!r} {result.stderr!r}")
    return token


def check_processes(engine: Engine, name: str) -> list[int]:
    """The server is PID 1 and forks one worker per CPU (WORKERS=0); nothing runs as root."""
    seen = engine.processes(name)
    by_pid = {p["pid"]: p for p in seen["procs"]}
    expect(by_pid.get(1, {}).get("cmd") == ["python", "server.py"], f"PID 1 is not the server: {by_pid.get(1)}")
    workers = [p["pid"] for p in seen["procs"] if p["ppid"] == 1 and p["cmd"] == ["python", "server.py"]]
    expect(len(workers) == seen["cpus"], f"{len(workers)} worker(s) for {seen['cpus']} CPU(s): {seen['procs']}")
    root = [p for p in seen["procs"] if p["uid"] == 0]
    expect(not root, f"processes running as root: {root}")
    return sorted(workers)


def user_scenario(engine: Engine, image: str) -> None:
    name, volume = unique("transito"), unique("transito-data")
    password = secrets.token_urlsafe(18)
    step(f"run {name} as the README says (named volume at /data, ADMIN_USERNAME/ADMIN_PASSWORD)")
    base = engine.run_container(image, name, volume, {"ADMIN_USERNAME": ADMIN_USERNAME, "ADMIN_PASSWORD": password})
    step(f"healthy after {engine.healthy(name):.1f}s at {base}")
    workers = check_processes(engine, name)
    step(f"PID 1 is the server, {len(workers)} workers (one per CPU), no process runs as root")

    browser = sign_in(base, password)
    persona_id = create(browser, "personas", PERSONA)
    create(browser, "vehiculos", vehiculo_fields(persona_id))
    create(browser, "oficiales", OFICIAL)
    step("admin signed in through the login form; persona, vehículo and oficial created through the admin forms")
    token = mint_token(engine, name)
    first = load_infraction(base, token, minutes_ago=10)
    expect(first in report_ids(base), f"the report for {PERSONA['correo']} does not list infraction {first}")
    step("token from scripts/issue_token.py; infraction loaded through the API and listed by the report")

    started = time.monotonic()
    engine("stop", "--time", str(STOP_GRACE), name, timeout=STOP_GRACE + 60)
    stopped_in = time.monotonic() - started
    code = engine.inspect("container", name)["State"]["ExitCode"]
    expect(code == 0, f"`{engine.name} stop` gave exit code {code} (expected 0: a clean shutdown on SIGTERM)")
    expect(stopped_in < STOP_GRACE, f"stop took {stopped_in:.1f}s: the grace period ran out (SIGKILL)")
    step(f"stop: exit code 0 after {stopped_in:.1f}s (grace period {STOP_GRACE}s)")

    engine("start", name)
    base = browser.base = f"http://{engine('port', name, '8888/tcp').stdout.split()[0]}"  # the port may change
    step(f"start: healthy after {engine.healthy(name):.1f}s")
    dashboard = browser.open("/admin/")
    expect(dashboard.status == 200 and "/admin/login" not in dashboard.url,
           f"the admin session from before the restart is gone (cookie secret not kept?): {dashboard.status} {dashboard.url}")
    second = load_infraction(base, token, minutes_ago=5)
    expect({first, second} <= report_ids(base), "the report after the restart lacks an infraction")
    sign_in(base, password)
    step("after the restart: data kept, the old token and the old admin session still work, the admin signs in")
    check_logs(engine, name)


def pinned_connections(base: str, workers: list[int], deadline: float) -> dict[int, http.client.HTTPConnection]:
    """One keep-alive connection per worker: new connections until each worker has answered one (/healthz names
    the worker in X-Worker-PID); a keep-alive connection stays with the worker that accepted it."""
    host, port = urllib.parse.urlsplit(base).hostname, urllib.parse.urlsplit(base).port
    pinned: dict[int, http.client.HTTPConnection] = {}
    while set(pinned) != set(workers):
        expect(time.monotonic() < deadline, f"new connections reached only workers {sorted(pinned)} of {workers}")
        connection = http.client.HTTPConnection(host, port, timeout=30)
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        response.read()
        pid = int(response.headers.get("X-Worker-PID", "0"))
        expect(pid in workers, f"/healthz answered from pid {pid}, which is not one of the workers {workers}")
        if pid in pinned:
            connection.close()
        else:
            pinned[pid] = connection
    return pinned


def throttle_scenario(engine: Engine, image: str) -> None:
    name, volume = unique("transito-throttle"), unique("transito-throttle-data")
    step(f"run {name} with WORKERS=0 and REPORT_RATE_LIMIT={REPORT_LIMIT}/minute")
    base = engine.run_container(image, name, volume, {"WORKERS": "0", "REPORT_RATE_LIMIT": f"{REPORT_LIMIT}/minute"})
    engine.healthy(name)
    workers = check_processes(engine, name)
    pinned = pinned_connections(base, workers, time.monotonic() + 60)
    order = list(pinned.items())
    statuses = []
    try:
        for i in range(REPORT_LIMIT + 1):
            pid, connection = order[i % len(order)]
            connection.request("GET", "/api/generar_informe?email=nadie%40example.cl")
            response = connection.getresponse()
            response.read()
            statuses.append((pid, response.status, response.headers.get("Retry-After")))
    finally:
        for connection in pinned.values():
            connection.close()
    seen = ", ".join(f"worker {pid}: {status}" for pid, status, _ in statuses)
    refused = [s for _, s, _ in statuses if s == 429]
    expect(all(s in (200, 404) for _, s, _ in statuses[:REPORT_LIMIT]) and statuses[-1][1] == 429
           and len(refused) == 1 and statuses[-1][2],
           f"{REPORT_LIMIT + 1} report requests spread over {len(workers)} workers with REPORT_RATE_LIMIT="
           f"{REPORT_LIMIT}/minute must give exactly one 429 (the last, with Retry-After); got [{seen}]. A throttle kept "
           "per process lets each worker allow the limit: the limit must be shared by the workers.")
    step(f"report throttle shared by {len(workers)} workers: [{seen}]")
    check_logs(engine, name)


def check_logs(engine: Engine, name: str) -> None:
    problems = [line for line in engine.logs(name).splitlines() if LOG_PROBLEMS.search(line)]
    expect(not problems, f"{name}'s log has errors:\n  " + "\n  ".join(problems[:30]))


def unique(prefix: str) -> str:
    return f"{prefix}-image-test-{os.getpid()}"


# ---------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=("podman", "docker"), default="podman")
    parser.add_argument("--image",
                        help="test this image instead of building one (the workflow builds with buildx)")
    args = parser.parse_args()
    engine = Engine(args.engine)
    failures: list[str] = []
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a CI time-out still cleans up (finally below)
    try:
        if args.engine == "podman":
            prepare_podman()
        engine.remove_leftovers()
        if args.image:
            image, build_seconds = args.image, None
            step(f"image {image} (given, not built here)")
        else:
            step(f"build the Dockerfile with {args.engine}")
            image, build_seconds = engine.build()
            step(f"built {image[:12]} in {build_seconds:.1f}s")
        size = check_image_config(engine, image)
        step(f"image size {size / 1e6:.0f} MB; config: non-root, HEALTHCHECK on /healthz, SIGTERM, /data, exec-form CMD")
        step(f"layers: {check_layers(engine, image)} entries scanned, no test files, .git, secrets or lent CA bundle")
        # Each scenario runs even when the one before failed, so that one run shows every broken check.
        for scenario in (user_scenario, throttle_scenario):
            try:
                scenario(engine, image)
            except Exception as error:  # a Failure, or a bug or a surprise: both with the containers' logs
                failures.append(f"{scenario.__name__}: {describe(error)}")
                dump_logs(engine)
            finally:
                engine.clean_up()  # one scenario's containers at a time on two cores
    except Exception as error:
        failures.append(describe(error))
        dump_logs(engine)
    finally:
        engine.clean_up()
    if failures:
        print("\nFAILED:\n" + "\n\n".join(failures), file=sys.stderr, flush=True)
        return 1
    summary = f"build {build_seconds:.1f}s, " if build_seconds is not None else ""
    step(f"image test passed: {summary}image {size / 1e6:.0f} MB, total {time.monotonic() - STARTED:.1f}s")
    return 0


def describe(error: Exception) -> str:
    return str(error) if isinstance(error, Failure) else traceback.format_exc()


def dump_logs(engine: Engine) -> None:
    for name in engine.made_containers:
        print(f"\n----- log of {name} -----\n{engine.logs(name)[-12000:]}", file=sys.stderr, flush=True)
        state = engine("inspect", name, check=False)
        if state.returncode == 0:
            health = json.loads(state.stdout)[0].get("State", {}).get("Health")
            print(f"----- health of {name}: {json.dumps(health)[-2000:]}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
