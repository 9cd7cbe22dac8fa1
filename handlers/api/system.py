"""Operational endpoints: health and readiness probes, Prometheus metrics, the OpenAPI document
and its interactive page."""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
from pathlib import Path

from handlers.api.base import ApiError, ApiHandler
from handlers.base import PublicHandler

log = logging.getLogger("transito.http")
OPENAPI_PATH = Path(__file__).resolve().parent.parent.parent / "openapi.json"


class HealthHandler(ApiHandler):
    """GET /healthz: the process answers."""

    public = True

    def get(self) -> None:
        self.set_header("X-Worker-PID", str(os.getpid()))  # which worker answered (server.py --workers)
        self.write_json({"status": "ok"})


class ReadinessHandler(ApiHandler):
    """GET /readyz: MongoDB answers a ping within two seconds."""

    public = True

    async def get(self) -> None:
        try:
            await asyncio.wait_for(self.repos.ping(), timeout=2)
        except Exception as error:  # any failure means "not ready"; the reason goes to the log only
            log.warning("not ready [request %s]: %s: %s", self.request_id, type(error).__name__, error or "timeout")
            self.problem(503, "La base de datos no responde.")
            return
        self.write_json({"status": "ok", "database": "ok"})


class MetricsHandler(ApiHandler):
    """GET /metrics: Prometheus text format, for the operators' scraper only.

    Protected by a bearer token, METRICS_TOKEN. Without one it is open in development and absent
    (404, like any unknown path) in production, so it is never public by accident."""

    public = True  # it checks its own token below

    def get(self) -> None:
        token = self.config.metrics_token
        if token is None and self.config.production:
            self.problem(404, f"No existe el recurso {self.request.path}.")
            return
        if token is not None and not hmac.compare_digest(self._presented_token().encode(), token.encode()):
            raise ApiError(
                401,
                "Las métricas requieren el encabezado Authorization: Bearer <METRICS_TOKEN>.",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        body, content_type = self.metrics.exposition()
        self.set_header("Content-Type", content_type)
        self.finish(body)

    def _presented_token(self) -> str:
        try:
            return self.bearer_token()
        except ApiError:
            return ""  # answered below with the metrics realm's own message


class OpenApiHandler(ApiHandler):
    """GET /api/openapi.json: the API's contract, kept in the repository as ``openapi.json``."""

    public = True

    def get(self) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "public, max-age=300")
        self.finish(OPENAPI_PATH.read_bytes())


class ApiDocsHandler(PublicHandler):
    """GET /api/docs: an interactive page for the contract, served from the app (no CDN)."""

    def get(self) -> None:
        self.render("api_docs.html")


default_handlers = [
    (r"/healthz", HealthHandler),
    (r"/readyz", ReadinessHandler),
    (r"/metrics", MetricsHandler),
    (r"/api/openapi.json", OpenApiHandler),
    (r"/api/docs/?", ApiDocsHandler),
]
