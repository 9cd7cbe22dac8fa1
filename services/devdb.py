"""The embedded development database: SecantusDB run as a child process (``secantus_launcher.py``,
which is ``python -m secantus`` with a defect of its TTL sweeper fixed: see that file).

SecantusDB is GPL-2.0-only, so the application never imports it: it starts it as a separate
program and talks to it over the MongoDB wire protocol, exactly as it talks to MongoDB."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LAUNCHER = Path(__file__).with_name("secantus_launcher.py")
_LISTENING = re.compile(r"listening on ([\w.\-]+):(\d+)")


class EmbeddedDatabase:
    def __init__(
        self, storage_path: str | Path, *, port: int = 0, extra_args: tuple[str, ...] = (), log_path: str | Path | None = None
    ) -> None:
        self.storage_path = str(storage_path)
        self.port = port
        self.extra_args = extra_args
        if log_path is None:
            if self.storage_path == ":memory:":
                log_path = Path(tempfile.mkdtemp(prefix="secantus-")) / "secantus.log"
            else:
                log_path = Path(self.storage_path).parent / "secantus.log"
        self.log_path = Path(log_path)
        self.process: subprocess.Popen[bytes] | None = None
        self.uri = ""

    def start(self, timeout: float = 30.0) -> str:
        """Start the server, wait until it listens, and return its connection URI."""
        if self.storage_path != ":memory:":
            Path(self.storage_path).mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        command = [
            # -P: the launcher's folder (services/) stays off sys.path, so none of our modules shadows another
            sys.executable, "-P", str(LAUNCHER), "--host", "127.0.0.1", "--port", str(self.port),
            "--storage-path", self.storage_path, *self.extra_args,
        ]
        # Its log goes to a file, not a pipe: a pipe nobody reads would fill up and stall it.
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        host, port = self._wait_until_listening(offset, timeout)
        self.port = port
        self.uri = f"mongodb://{host}:{port}/?directConnection=true"
        return self.uri

    def _wait_until_listening(self, offset: int, timeout: float) -> tuple[str, int]:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline and self.process.poll() is None:
            with open(self.log_path, "rb") as log:
                log.seek(offset)
                text = log.read().decode("utf-8", "replace")
            match = _LISTENING.search(text)
            if match:
                return match.group(1), int(match.group(2))
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the embedded database did not start (log: {self.log_path}):\n{text[-2000:]}")

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)

    def __enter__(self) -> EmbeddedDatabase:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
