"""Run the real server (``python server.py``) as a child process, for tests that need what an
in-process app cannot give: signals (SIGKILL, SIGTERM), a blocking client (schemathesis uses
``requests``), or a server that outlives a database restart.

    server = ServerProcess(mongodb_uri=uri, db_name="t_x", data_dir=tmp_path)
    server.start()             # waits until /readyz answers 200 (with a deadline)
    ... server.url ...
    server.stop()              # SIGTERM, returns the exit code; server.kill() for SIGKILL

No port is chosen here: the server is started with ``PORT=0`` (the kernel picks a free port as it
binds) and writes the port it bound to ``PORT_FILE``, which ``start`` waits for. Choosing a port by
binding port 0 and closing it before the server binds would race with every other process on the
machine. ``start`` again after a stop or a kill binds a new port (``url`` changes): a test that
needs one address across restarts puts ``tests.helpers.proxy.Proxy`` in front.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.helpers.app import ROOT

COOKIE_SECRET = "server-process-cookie-secret-" + "c" * 32
JWT_SECRET = "server-process-jwt-secret-" + "j" * 32


_instances = itertools.count(1)


class ServerProcess:
    def __init__(
        self,
        *,
        mongodb_uri: str,
        db_name: str,
        data_dir: Path,
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = 0  # known once started
        self.data_dir = Path(data_dir)
        name = f"server-{os.getpid()}-{next(_instances)}"
        self.log_path = self.data_dir / f"{name}.log"
        self.port_file = self.data_dir / f"{name}.port"
        self.jwt_secret = JWT_SECRET
        inherited = {k: v for k, v in os.environ.items() if k not in ("ADMIN_USERNAME", "ADMIN_PASSWORD")}
        self.env = {
            **inherited,
            "APP_ENV": "development",
            "PORT": "0",
            "PORT_FILE": str(self.port_file),
            "MONGODB_URI": mongodb_uri,
            "MONGODB_DB": db_name,
            "COOKIE_SECRET": COOKIE_SECRET,
            "JWT_SECRET": JWT_SECRET,
            "DATA_DIR": str(self.data_dir),
            "WORKERS": "1",
            "LOG_LEVEL": "WARNING",
            "REPORT_RATE_LIMIT": "100000/minute",
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        assert self.port, "start() the server first"
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        """Start the server, learn the port it bound, and wait until /readyz says the database answers."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port_file.unlink(missing_ok=True)  # a restart reports its own port
        # The log goes to a file: a pipe nobody reads would fill up and stall the server.
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "server.py"],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # a Ctrl-C in pytest must not reach it
            )
        deadline = time.monotonic() + timeout
        try:
            self.port = self._wait_for_port(deadline)
            self.wait_ready(deadline - time.monotonic())
        except BaseException:
            self._kill_group()  # a server that did not come up must not outlive the test, nor its workers
            raise
        return self

    def _kill_group(self) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):  # the group is gone already
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def _wait_for_port(self, deadline: float) -> int:
        while time.monotonic() < deadline:
            self._raise_if_exited()
            if self.port_file.exists():  # written whole (renamed into place) once the port is bound
                return int(self.port_file.read_text())
            time.sleep(0.02)
        raise RuntimeError(f"the server did not report a bound port in time:\n{self.log_text()[-3000:]}")

    def _raise_if_exited(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.log_text()[-3000:]}")

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            self._raise_if_exited()
            try:
                response = httpx.get(f"{self.url}/readyz", timeout=2)
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text[:200]}"
            except httpx.HTTPError as error:
                last = repr(error)
            time.sleep(0.1)
        raise RuntimeError(f"the server was not ready within {timeout} s ({last}):\n{self.log_text()[-3000:]}")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (a graceful stop) and the exit code; SIGKILL if it does not exit in time."""
        return self._signal(signal.SIGTERM, timeout)

    def kill(self) -> int:
        return self._signal(signal.SIGKILL, 10.0)

    def _signal(self, signum: int, timeout: float) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._kill_group()
                raise RuntimeError(f"the server ignored signal {signum} for {timeout} s") from None
        return self.process.returncode
