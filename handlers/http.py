"""HTTP server plumbing between the socket and the application: requests are counted as in flight
from their first line (so a graceful stop waits for bodies still arriving), and
``make_http_server`` builds the one server configuration that production and the tests share."""

from __future__ import annotations

import asyncio
from typing import Any

import tornado.httpserver
import tornado.httputil
import tornado.web

from config import Settings

MAX_REQUEST_BYTES = 1024 * 1024  # forms and API bodies; the API refuses more than 64 KiB itself


class InFlight:
    """Counts requests being handled, so a graceful stop can wait for them to finish."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def started(self) -> None:
        self.count += 1
        self._idle.clear()

    def finished(self) -> None:
        self.count = max(0, self.count - 1)
        if self.count == 0:
            self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except TimeoutError:
            return False


class _CountedRequest(tornado.httputil.HTTPMessageDelegate):
    """Counts a request as in flight from its headers on, not only once its body has arrived (when
    the handler is created), so a graceful stop does not cut a body that is still being uploaded."""

    def __init__(self, inner: tornado.httputil.HTTPMessageDelegate, inflight: InFlight) -> None:
        self.inner = inner
        self.inflight = inflight
        self.counted = False

    def headers_received(self, start_line: Any, headers: tornado.httputil.HTTPHeaders) -> Any:
        self.inflight.started()
        self.counted = True
        return self.inner.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Any:
        return self.inner.data_received(chunk)

    def finish(self) -> None:
        try:
            self.inner.finish()  # creates the handler, which counts itself until it finishes
        finally:
            self._done()

    def on_connection_close(self) -> None:
        try:
            self.inner.on_connection_close()
        finally:
            self._done()

    def _done(self) -> None:
        if self.counted:
            self.counted = False
            self.inflight.finished()


class CountingDelegate(tornado.httputil.HTTPServerConnectionDelegate):
    """The application as the HTTP server sees it, with requests counted from their first line."""

    def __init__(self, app: tornado.web.Application) -> None:
        self.app = app

    def start_request(self, server_conn: object, request_conn: tornado.httputil.HTTPConnection) -> _CountedRequest:
        return _CountedRequest(self.app.start_request(server_conn, request_conn), self.app.settings["inflight"])

    def on_close(self, server_conn: object) -> None:
        self.app.on_close(server_conn)


def make_http_server(app: tornado.web.Application, config: Settings) -> tornado.httpserver.HTTPServer:
    return tornado.httpserver.HTTPServer(
        CountingDelegate(app), xheaders=config.trust_proxy, max_body_size=MAX_REQUEST_BYTES, idle_connection_timeout=60
    )
