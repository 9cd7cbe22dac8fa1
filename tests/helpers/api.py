"""Shared helpers for the API tests: records to talk about (persona, vehículo, oficial and a
token), JWTs built by hand for the token-state tests, and ``check_contract``, which validates any
response of the API against ``openapi.json`` (JSON Schema 2020-12, the OpenAPI 3.1 dialect)."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import re
from typing import Any

import httpx
import jwt
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from repositories import Repositories
from repositories.oficiales import Oficial
from repositories.personas import Persona
from repositories.vehiculos import Vehiculo
from services.tokens import TokenService
from tests.helpers.app import ROOT

OPENAPI_PATH = ROOT / "openapi.json"
OPENAPI: dict[str, Any] = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
_OPENAPI_URI = "urn:transito:openapi.json"
_REGISTRY = Registry().with_resource(_OPENAPI_URI, DRAFT202012.create_resource(OPENAPI))

JWT_SECRET = "j" * 48  # what tests.helpers.app.make_settings gives the app
_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


# -- the contract ---------------------------------------------------------------------------------
def _pointer(*parts: str) -> str:
    return "/" + "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    """Follow an OpenAPI-level ``$ref`` (responses, headers, parameters) inside the document."""
    while "$ref" in node:
        target: Any = OPENAPI
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def validate_schema(instance: Any, pointer: str) -> None:
    """Validate ``instance`` against the schema at ``pointer`` in openapi.json (``$ref``s resolved,
    formats such as date-time checked)."""
    validator = Draft202012Validator(
        {"$ref": f"{_OPENAPI_URI}#{pointer}"},
        registry=_REGISTRY,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    assert not errors, f"does not match {pointer}: " + "; ".join(
        f"{list(e.absolute_path)}: {e.message}" for e in errors
    )


def _operation_path(path: str) -> str | None:
    """The document's path for a request's path: itself, or the template it fills in
    (``/api/infracciones/{id}/evidencias``)."""
    if path in OPENAPI["paths"]:
        return path
    for template in OPENAPI["paths"]:
        if "{" in template and re.fullmatch(re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template)), path):
            return template
    return None


def check_contract(response: httpx.Response) -> Any:
    """Assert that ``response`` is one the OpenAPI document allows for its request: a documented
    status, the documented media type, a body matching the schema and every required header
    (with a value matching its schema). Returns the decoded body (None for a documented answer
    without one, such as a 304).

    A request that is no operation of the document gets a Problem too (info.description says so):
    a method its path does not have, 405 with ``Allow`` naming exactly the documented methods; an
    unknown ``/api/...`` path, 404."""
    path = _operation_path(response.request.url.path) or response.request.url.path
    method = response.request.method.lower()
    media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
    operation = OPENAPI["paths"].get(path, {}).get(method)
    if operation is None:
        body = response.json()
        assert media_type == "application/problem+json", f"{method.upper()} {path}: {media_type!r}"
        validate_schema(body, "/components/schemas/Problem")
        if path in OPENAPI["paths"]:
            assert response.status_code == 405, f"{method.upper()} {path} is not documented: it must be 405"
            documented = ", ".join(m.upper() for m in OPENAPI["paths"][path] if m in _HTTP_METHODS)
            assert response.headers.get("Allow") == documented, f"Allow: {response.headers.get('Allow')!r}, documented: {documented}"
        else:
            assert path.startswith("/api/") and response.status_code == 404, f"{method.upper()} {path} is not documented"
        return body

    status = str(response.status_code)
    assert status in operation["responses"], f"{method.upper()} {path} answered {status}, which is not documented"
    documented = _resolve(operation["responses"][status])
    if "content" in documented:
        assert media_type in documented["content"], f"{path} {status}: media type {media_type!r} is not documented"
        body = response.json()
        validate_schema(body, _pointer("paths", path, method, "responses", status, "content", media_type, "schema"))
    else:
        assert response.content == b"" and not media_type, f"{path} {status} is documented without a body: {response.content[:80]!r}"
        body = None
    for name, header in documented.get("headers", {}).items():
        header = _resolve(header)
        value = response.headers.get(name)
        if header.get("required"):
            assert value is not None, f"{path} {status}: the required header {name} is missing"
        if value is not None:
            errors = list(Draft202012Validator(header["schema"]).iter_errors(value))
            assert not errors, f"{path} {status}: header {name}={value!r}: {errors[0].message}"
    if isinstance(body, dict) and "request_id" in body and response.headers.get("X-Request-ID"):
        # Only when the header is set: ApiHandler.problem() called directly leaves it empty (reported).
        assert body["request_id"] == response.headers["X-Request-ID"]
    return body


# -- records --------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class World:
    """One persona with one vehicle, and one active officer with a live token."""

    persona: Persona
    vehiculo: Vehiculo
    oficial: Oficial
    token: str
    token_id: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def make_world(
    repos: Repositories,
    *,
    correo: str = "ana.perez@example.cl",
    placa: str = "BBCD12",
    numero: int = 42,
    secret: str = JWT_SECRET,
) -> World:
    persona = await repos.personas.create(nombre="Ana Pérez", correo=correo)
    vehiculo = await repos.vehiculos.create(placa_patente=placa, marca="Toyota", color="Rojo", persona_id=persona.id)
    oficial = await repos.oficiales.create(nombre="Juan Soto", numero=numero)
    issued = await TokenService(secret, repos.clock).issue(repos, numero=numero, label="tablet de prueba")
    return World(persona, vehiculo, oficial, issued.token, issued.record.id)


def recent(minutes: int = 60, *, now: dt.datetime | None = None) -> str:
    """A timestamp ``minutes`` before ``now`` (default: the real time, which an app on the system
    clock reads too), ISO 8601 with an offset, accepted by cargar_infraccion."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return (now - dt.timedelta(minutes=minutes)).isoformat(timespec="seconds")


def infraction_body(
    placa: str = "BBCD12", *, minutes_ago: int = 60, comentarios: str = "Exceso de velocidad.", now: dt.datetime | None = None
) -> dict[str, Any]:
    return {"placa_patente": placa, "timestamp": recent(minutes_ago, now=now), "comentarios": comentarios}


async def cargar(
    http: httpx.AsyncClient, token: str | None, body: Any, **headers: str
) -> httpx.Response:
    """POST /api/cargar_infraccion with ``body`` as JSON (or raw bytes/str as given)."""
    all_headers = {"Content-Type": "application/json", **headers}
    if token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    content = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return await http.post("/api/cargar_infraccion", content=content, headers=all_headers)


# -- hand-made JWTs -------------------------------------------------------------------------------
def claims_for(numero: int, jti: str, *, issued: dt.timedelta = dt.timedelta(0), lifetime: dt.timedelta = dt.timedelta(days=1)) -> dict[str, Any]:
    """Claims like the token service's, with ``iat`` shifted by ``issued`` from now."""
    iat = dt.datetime.now(dt.timezone.utc) + issued
    return {"sub": str(numero), "jti": jti, "iat": iat, "exp": iat + lifetime}


def sign(claims: dict[str, Any], secret: str = JWT_SECRET) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


def unsigned_token(claims: dict[str, Any], alg: str) -> str:
    """A JWT whose header claims ``alg`` (``none``, ``RS256``...) and whose signature is not ours."""

    def part(value: Any) -> str:
        raw = json.dumps(value, default=lambda d: int(d.timestamp())).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signature = "" if alg == "none" else part("not-a-real-signature")
    return f"{part({'alg': alg, 'typ': 'JWT'})}.{part(claims)}.{signature}"


def jti_of(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["jti"]
