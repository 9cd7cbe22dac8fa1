"""HTTP server plumbing between the socket and the application, applied to every request before
any handler runs:

- the client's address and scheme: the socket's peer, or, behind a trusted proxy (``TRUST_PROXY``),
  the ``X-Forwarded-For`` entry that the outermost trusted hop added (counted from the right,
  ``TRUSTED_PROXY_HOPS``) and its ``X-Forwarded-Proto``; never a header the client chose;
- the body limit of the route's handler (``max_body_bytes``): a larger body, declared or
  chunked, is read and dropped without being kept, then answered 413 in the handler's own error
  format (reading it first lets the client see the answer instead of a reset connection);
- requests counted as in flight from their first line, so a graceful stop waits for bodies still
  arriving;
- a body that has not arrived whole ``HTTP_BODY_TIMEOUT_SECONDS`` after its headers is cut off (the
  connection is closed). One timer per request with a body: Tornado's own ``body_timeout`` wraps
  every body read in a task and a chained future, three event-loop iterations per request more;

and ``make_http_server`` builds the one server configuration that production and the tests share."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import tornado.httpserver
import tornado.httputil
import tornado.netutil
import tornado.web

from config import Settings
from handlers.base import Refusal

# Tornado closes the connection (with a bare 400) beyond this: bodies are drained up to here.
DRAIN_LIMIT_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_BODY_BYTES = 1024 * 1024  # a handler states its own limit with ``max_body_bytes``
log = logging.getLogger("transito.http")


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


def client_address(request: tornado.httputil.HTTPServerRequest, hops: int) -> str:
    """The address the outermost of ``hops`` trusted proxies saw the request come from: the
    ``hops``-th ``X-Forwarded-For`` entry from the right. Entries further left were written by the
    client and prove nothing; a request with fewer entries did not pass every proxy, so its own
    peer address is used."""
    entries = [entry.strip() for header in request.headers.get_list("X-Forwarded-For") for entry in header.split(",")]
    if len(entries) >= hops and tornado.netutil.is_valid_ip(entries[-hops]):
        return entries[-hops]
    return request.remote_ip


def client_protocol(request: tornado.httputil.HTTPServerRequest) -> str:
    """The scheme the client used with the proxy, which sets (not appends) ``X-Forwarded-Proto``."""
    value = request.headers.get("X-Forwarded-Proto", "").split(",")[-1].strip().lower()
    return value if value in ("http", "https") else request.protocol


def _declared_length(headers: tornado.httputil.HTTPHeaders) -> int:
    try:
        return int(headers.get("Content-Length", "0"))
    except ValueError:
        return 0  # Tornado refuses a malformed Content-Length itself


def _has_body(headers: tornado.httputil.HTTPHeaders) -> bool:
    """Whether Tornado will read a body after these headers (as its ``_read_body`` decides for a server)."""
    return _declared_length(headers) > 0 or headers.get("Transfer-Encoding", "").lower() == "chunked"


class _GatedRequest(tornado.httputil.HTTPMessageDelegate):
    """One request on its way to its handler (see the module's docstring)."""

    def __init__(self, app: tornado.web.Application, server_conn: object, request_conn: Any, config: Settings) -> None:
        self.app = app
        self.server_conn = server_conn
        self.request_conn = request_conn
        self.config = config
        self.inflight: InFlight = app.settings["inflight"]
        self.counted = False
        self.received = 0
        self.refused = False
        self.passed_on = False  # whether the delegate has had the headers
        self.body_timer: asyncio.TimerHandle | None = None

    def headers_received(self, start_line: Any, headers: tornado.httputil.HTTPHeaders) -> Any:
        self.inflight.started()
        self.counted = True
        self.start_line, self.headers = start_line, headers
        request = tornado.httputil.HTTPServerRequest(
            connection=self.request_conn, server_connection=self.server_conn, start_line=start_line, headers=headers
        )
        if self.config.trust_proxy:
            request.remote_ip = client_address(request, self.config.trusted_proxy_hops)
            request.protocol = client_protocol(request)
        self.request = request
        if _has_body(headers):
            self.body_timer = asyncio.get_running_loop().call_later(self.config.http_body_timeout_seconds, self._body_too_slow)
        self.delegate = self.app.find_handler(request)
        handler_class = getattr(self.delegate, "handler_class", None)
        self.limit = handler_class.body_limit(self.config) if hasattr(handler_class, "body_limit") else DEFAULT_MAX_BODY_BYTES
        if _declared_length(headers) > self.limit:
            self.refused = True
            return None  # the routed handler never sees this request
        allowed = handler_class.allowed_methods() if hasattr(handler_class, "allowed_methods") else None
        if allowed is not None and request.method not in allowed:  # before any authentication
            self.delegate = self._refusal(handler_class, status=405, allow=allowed)
        self.passed_on = True
        return self.delegate.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Any:
        self.received += len(chunk)
        if self.received > self.limit:
            self.refused = True  # a chunked body that said nothing of its size
        if self.refused:
            return None  # read and dropped
        return self.delegate.data_received(chunk)

    def finish(self) -> None:
        self._stop_body_timer()
        try:
            if self.refused:
                handler_class = getattr(self.delegate, "handler_class", None)
                if self.passed_on:  # a handler that reads its body as it arrives exists already: end it
                    self.delegate.on_connection_close()
                self.delegate = self._refusal(handler_class, status=413, limit=self.limit)
                self.delegate.headers_received(self.start_line, self.headers)
            self.delegate.finish()  # creates the handler, which counts itself until it finishes
        finally:
            self._done()

    def _refusal(self, handler_class: Any, **kwargs: Any) -> Any:
        """The delegate of the handler that refuses this request in ``handler_class``'s format."""
        refusal = handler_class.refusal() if hasattr(handler_class, "refusal") else Refusal
        return self.app.get_handler_delegate(self.request, refusal, kwargs)

    def on_connection_close(self) -> None:
        self._stop_body_timer()
        try:
            if hasattr(self, "delegate"):
                self.delegate.on_connection_close()
        finally:
            self._done()

    def _done(self) -> None:
        if self.counted:
            self.counted = False
            self.inflight.finished()

    def _body_too_slow(self) -> None:
        """The body did not arrive in time: close the connection, as Tornado's body timeout would
        (the read waiting for the rest fails, and Tornado closes the request)."""
        self.body_timer = None
        log.info("timeout reading the body from %s", self.request.remote_ip)
        self.request_conn.stream.close()

    def _stop_body_timer(self) -> None:
        if self.body_timer is not None:
            self.body_timer.cancel()
            self.body_timer = None


class GatedApplication(tornado.httputil.HTTPServerConnectionDelegate):
    """The application as the HTTP server sees it: every request passes ``_GatedRequest`` first."""

    def __init__(self, app: tornado.web.Application, config: Settings) -> None:
        self.app = app
        self.config = config

    def start_request(self, server_conn: object, request_conn: tornado.httputil.HTTPConnection) -> _GatedRequest:
        return _GatedRequest(self.app, server_conn, request_conn, self.config)

    def on_close(self, server_conn: object) -> None:
        self.app.on_close(server_conn)


def make_http_server(app: tornado.web.Application, config: Settings) -> tornado.httpserver.HTTPServer:
    """The HTTP server of ``app``: no ``xheaders`` (the gate reads proxy headers by our rules),
    bodies drained up to DRAIN_LIMIT_BYTES, and a stalled client cut off: headers and keep-alive
    idleness after ``HTTP_IDLE_TIMEOUT_SECONDS`` (Tornado), a body after ``HTTP_BODY_TIMEOUT_SECONDS``
    (the gate's timer, not Tornado's ``body_timeout``)."""
    return tornado.httpserver.HTTPServer(
        GatedApplication(app, config),
        xheaders=False,
        max_body_size=DRAIN_LIMIT_BYTES,
        idle_connection_timeout=config.http_idle_timeout_seconds,
    )
