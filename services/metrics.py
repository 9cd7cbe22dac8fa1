"""Prometheus metrics: HTTP requests by handler and status, MongoDB commands by name, infractions
loaded. One ``Metrics`` per application, each with its own registry (the tests build many apps).

With several worker processes (``server.py --workers N``) the supervisor sets
``PROMETHEUS_MULTIPROC_DIR`` before forking; each worker then writes its values to files there
and ``/metrics`` in any worker adds up every worker's files (prometheus-client's multi-process
mode). ``prometheus_client`` is imported lazily because it chooses single- or multi-process
storage when first imported, and the supervisor decides that after the application's imports."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from pymongo import monitoring

if TYPE_CHECKING:
    import tornado.web

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Seconds: API requests are milliseconds; admin pages and slow databases reach seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
access_log = logging.getLogger("tornado.access")


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def _prometheus() -> Any:
    import prometheus_client
    from prometheus_client import values

    if multiprocess() and values.ValueClass is values.MutexValue:
        # Imported before the supervisor chose multi-process mode: switch storage now, before
        # any metric is created, so every value lands in this worker's files.
        values.ValueClass = values.get_value_class()
    return prometheus_client


class Metrics:
    def __init__(self) -> None:
        prom = _prometheus()
        self._prom = prom
        self.registry = prom.CollectorRegistry()
        self.requests = prom.Counter(
            "transito_http_requests_total", "HTTP requests answered, by handler, method and status.",
            ["handler", "method", "status"], registry=self.registry,
        )
        self.request_seconds = prom.Histogram(
            "transito_http_request_duration_seconds", "Time to answer an HTTP request, by handler, method and status.",
            ["handler", "method", "status"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.commands = prom.Counter(
            "transito_mongodb_commands_total", "MongoDB commands sent, by command name and outcome.",
            ["command", "outcome"], registry=self.registry,
        )
        self.command_seconds = prom.Histogram(
            "transito_mongodb_command_duration_seconds", "MongoDB command round-trip time, by command name.",
            ["command"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.infracciones_cargadas = prom.Counter(
            "transito_infracciones_cargadas_total", "Infractions recorded through the API (retries not counted).",
            registry=self.registry,
        )
        self.listener = CommandMetrics(self)
        self._children: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    def observe_request(self, handler: tornado.web.RequestHandler) -> None:
        """Count one answered request; the label is the handler class, never the raw path."""
        key = (type(handler).__name__, handler.request.method or "", str(handler.get_status()))
        children = self._children.get(key)
        if children is None:  # labels() is a dict lookup plus locking: done once per label set
            children = self._children[key] = (self.requests.labels(*key), self.request_seconds.labels(*key))
        children[0].inc()
        children[1].observe(handler.request.request_time())

    def exposition(self) -> tuple[bytes, str]:
        """The text format body and its content type; every worker's values when forked."""
        registry = self.registry
        if multiprocess():
            from prometheus_client import multiprocess as mp

            registry = self._prom.CollectorRegistry()
            mp.MultiProcessCollector(registry)
        return self._prom.generate_latest(registry), self._prom.CONTENT_TYPE_LATEST

    def log_function(self, handler: tornado.web.RequestHandler) -> None:
        """Tornado's ``log_function`` setting: observe, then log the request as Tornado would."""
        self.observe_request(handler)
        status = handler.get_status()
        log = access_log.info if status < 400 else access_log.warning if status < 500 else access_log.error
        log("%d %s %.2fms", status, handler._request_summary(), 1000.0 * handler.request.request_time())


class CommandMetrics(monitoring.CommandListener):
    """Registered on the process's one MongoClient (``services.database.mongo_client``)."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._children: dict[tuple[str, str], tuple[Any, Any]] = {}

    def _observe(self, command: str, outcome: str, micros: int) -> None:
        children = self._children.get((command, outcome))
        if children is None:
            children = self._children[(command, outcome)] = (
                self._metrics.commands.labels(command, outcome),
                self._metrics.command_seconds.labels(command),
            )
        children[0].inc()
        children[1].observe(micros / 1_000_000)

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._observe(event.command_name, "ok", event.duration_micros)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._observe(event.command_name, "error", event.duration_micros)

