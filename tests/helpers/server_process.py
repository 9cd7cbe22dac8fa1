"""Run the real server (``python server.py``) as a child process, for tests that need what an
in-process app cannot give: signals (SIGKILL, SIGTERM), a blocking client (schemathesis uses
``requests``), or a server that outlives a database restart.

    server = ServerProcess(mongodb_uri=uri, db_name="t_x", data_dir=tmp_path)
    server.start()             # waits until /readyz answers 200 (with a deadline)
    ... server.url ...
    server.stop()              # SIGTERM, returns the exit code; server.kill() for SIGKILL
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.helpers.app import ROOT

COOKIE_SECRET = "server-process-cookie-secret-" + "c" * 32
JWT_SECRET = "server-process-jwt-secret-" + "j" * 32


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServerProcess:
    def __init__(
        self,
        *,
        mongodb_uri: str,
        db_name: str,
        data_dir: Path,
        port: int | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = Path(data_dir)
        self.log_path = self.data_dir / f"server-{self.port}.log"
        self.jwt_secret = JWT_SECRET
        inherited = {k: v for k, v in os.environ.items() if k not in ("ADMIN_USERNAME", "ADMIN_PASSWORD")}
        self.env = {
            **inherited,
            "APP_ENV": "development",
            "PORT": str(self.port),
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

    def start(self, timeout: float = 30.0) -> ServerProcess:
        """Start the server and wait until /readyz says the database answers."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
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
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.log_text()[-3000:]}")
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
                self.process.kill()
                self.process.wait()
                raise RuntimeError(f"the server ignored signal {signum} for {timeout} s") from None
        return self.process.returncode
