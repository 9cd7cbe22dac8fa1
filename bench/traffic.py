"""The callgrind benchmark's load generator (``bench/instructions.py``): the same requests, byte for
byte, in the same order in every run, sent one at a time on one keep-alive connection."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import socket
import time
from typing import Any, Callable

from bench.stack import REPORT_SIZE


class Traffic:
    """Request ``i`` of a window uses token ``i % 50``, plate ``i % 3000`` and report persona
    ``i % 20``, so every window of N requests carries the same data in every run; only the
    infractions' timestamps move on (one per request, so every observation is new), and they have
    a fixed length. The bytes are what httpx sends, in one ``sendall`` so the server always reads a
    request in one piece."""

    HEADERS = "Accept: */*\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\nUser-Agent: python-httpx/0.28.1\r\n"

    def __init__(self, dataset: Any, port: int) -> None:
        self.dataset = dataset
        self.host = f"127.0.0.1:{port}"
        self.base = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(days=1)
        self.sequence = 0

    def cargar_infraccion(self, i: int) -> bytes:
        self.sequence += 1
        ds = self.dataset
        body = json.dumps(
            {
                "placa_patente": ds.load_plates[i % len(ds.load_plates)],
                "timestamp": (self.base + dt.timedelta(milliseconds=self.sequence)).isoformat(timespec="milliseconds"),
                "comentarios": "Exceso de velocidad en zona urbana.",
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        head = (
            f"POST /api/cargar_infraccion HTTP/1.1\r\nHost: {self.host}\r\n{self.HEADERS}"
            f"Authorization: Bearer {ds.tokens[i % len(ds.tokens)]}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    def generar_informe(self, i: int) -> bytes:
        emails = self.dataset.report_emails
        email = emails[i % len(emails)].replace("@", "%40")
        return f"GET /api/generar_informe?email={email} HTTP/1.1\r\nHost: {self.host}\r\n{self.HEADERS}\r\n".encode()

    @staticmethod
    def check(method: str, status: int, body: bytes) -> None:
        if status != 200:
            raise RuntimeError(f"{method} answered {status}: {body[:500]!r}")
        if method == "generar_informe" and json.loads(body)["total"] != REPORT_SIZE:
            raise RuntimeError("a report persona's infractions changed during the benchmark")


class Connection:
    """One keep-alive HTTP/1.1 connection, one request at a time."""

    def __init__(self, port: int, timeout: float) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def _more(self) -> None:
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise RuntimeError("the server closed the connection")
        self.buffer += chunk

    def request(self, raw: bytes) -> tuple[int, bytes]:
        self.sock.sendall(raw)
        while b"\r\n\r\n" not in self.buffer:
            self._more()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            self._more()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        if headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        return int(lines[0].split()[1]), body

    def close(self) -> None:
        self.sock.close()


def send(connection: Connection, traffic: Traffic, method: str, n: int, pause: float) -> None:
    """``n`` requests one at a time, each ``pause`` seconds after the previous answer, so that each
    finds the server idle (its logging and clean-up after answering done), as it would in production."""
    build: Callable[[int], bytes] = getattr(traffic, method)
    for i in range(n):
        time.sleep(pause)
        status, body = connection.request(build(i))
        traffic.check(method, status, body)
