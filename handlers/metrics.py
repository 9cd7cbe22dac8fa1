"""GET /metrics: Prometheus text format, for the operators' scraper only.

Protected by a bearer token, METRICS_TOKEN. Without one it is open in development and absent
(404, like any unknown path) in production, so it is never public by accident."""

from __future__ import annotations

from handlers.base import ApiError, ApiHandler
from services.metrics import bearer_matches


class MetricsHandler(ApiHandler):
    public = True  # it checks its own token below

    def get(self) -> None:
        token = self.config.metrics_token
        if token is None and self.config.production:
            self.problem(404, f"No existe el recurso {self.request.path}.")
            return
        if token is not None and not bearer_matches(self.request.headers.get("Authorization", ""), token):
            raise ApiError(
                401,
                "Las métricas requieren el encabezado Authorization: Bearer <METRICS_TOKEN>.",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        body, content_type = self.metrics.exposition()
        self.set_header("Content-Type", content_type)
        self.finish(body)
