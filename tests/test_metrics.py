"""GET /metrics: what an operator's Prometheus sees after officers and citizens use the API, and
that the endpoint is never public in production."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import AsyncIterator

import httpx
import tornado.httpserver
import tornado.netutil
from prometheus_client.parser import text_string_to_metric_families

from repositories import Repositories
from handlers.app import make_app
from services.database import mongo_client
from services.metrics import Metrics
from services.tokens import TokenService
from tests.helpers.app import make_settings

METRICS_TOKEN = "m" * 40


@contextlib.asynccontextmanager
async def serve(mongo_uri: str, db_name: str, **settings) -> AsyncIterator[tuple[httpx.AsyncClient, Repositories]]:
    """The real app over its own client with the command listener, as server.serve() wires it."""
    metrics = Metrics()
    client = mongo_client(mongo_uri, metrics=metrics)
    repos = Repositories.over(client[db_name])
    app = make_app(make_settings(**settings), repos, metrics=metrics)
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets(sockets)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{sockets[0].getsockname()[1]}") as http:
            yield http, repos
    finally:
        server.stop()
        await server.close_all_connections()
        await client.close()


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


async def test_metrics_count_requests_commands_and_loaded_infractions(mongo_uri, db):
    async with serve(mongo_uri, db.name) as (http, repos):
        persona = await repos.personas.create(nombre="Ana Soto", correo="ana.soto@example.cl")
        await repos.vehiculos.create(placa_patente="BBCL12", marca="Kia", color="Rojo", persona_id=persona.id)
        await repos.oficiales.create(nombre="Luis Rojas", numero=501)
        token = (await TokenService("j" * 48).issue(repos, numero=501)).token
        before = samples((await http.get("/metrics")).text)

        body = {"placa_patente": "BBCL12", "timestamp": (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)).isoformat()}
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "tablet-1-0001"}
        first = await http.post("/api/cargar_infraccion", json=body, headers=headers)
        retry = await http.post("/api/cargar_infraccion", json=body, headers=headers)
        assert first.status_code == retry.status_code == 200
        assert retry.headers["Idempotent-Replayed"] == "true"
        for email in ("ana.soto@example.cl", "nadie@example.cl"):
            await http.get("/api/generar_informe", params={"email": email})

        response = await http.get("/metrics")
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        after = samples(response.text)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    # Requests by handler (never the raw path or the query) and status.
    assert delta("transito_http_requests_total", handler="CargarInfraccionHandler", method="POST", status="200") == 2
    assert delta("transito_http_requests_total", handler="GenerarInformeHandler", method="GET", status="200") == 2
    assert delta("transito_http_request_duration_seconds_count", handler="GenerarInformeHandler", method="GET", status="200") == 2
    assert "ana.soto" not in response.text and "/api/" not in response.text
    # The retry recorded nothing new: one infraction loaded.
    assert delta("transito_infracciones_cargadas_total") == 1
    # MongoDB commands by name: one report is two aggregates (the unknown e-mail stops after one),
    # and each lookup counts in the shared rate limit.
    assert delta("transito_mongodb_commands_total", command="aggregate", outcome="ok") == 3
    assert delta("transito_mongodb_commands_total", command="findAndModify", outcome="ok") >= 4
    assert delta("transito_mongodb_command_duration_seconds_count", command="insert") >= 2


async def test_metrics_are_not_public_in_production(mongo_uri, db):
    async with serve(mongo_uri, db.name, app_env="production") as (http, _):
        response = await http.get("/metrics")
        assert response.status_code == 404
        assert response.headers["Content-Type"].startswith("application/problem+json")
        assert "transito_" not in response.text


async def test_metrics_token_is_required_when_configured(mongo_uri, db):
    async with serve(mongo_uri, db.name, app_env="production", metrics_token=METRICS_TOKEN) as (http, _):
        for headers in ({}, {"Authorization": "Bearer " + "x" * 40}, {"Authorization": METRICS_TOKEN}):
            response = await http.get("/metrics", headers=headers)
            assert response.status_code == 401, headers
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            assert "transito_" not in response.text
        response = await http.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert response.status_code == 200
        assert "transito_http_requests_total" in response.text
