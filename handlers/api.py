"""The JSON API: ``cargar_infraccion`` (officers' app, bearer token), ``generar_informe`` (public,
rate-limited), health probes and the OpenAPI document."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
from pathlib import Path
from typing import Any

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from handlers.base import ApiError, ApiHandler, PublicHandler
from repositories.errors import Conflict, NotFound
from repositories.infracciones import Infraccion, TokenNotLive
from repositories.vehiculos import is_valid_plate, normalize_plate
from services.tokens import Claims, InvalidToken

MAX_BODY_BYTES = 64 * 1024
MAX_FUTURE = dt.timedelta(minutes=5)
REPORT_DEFAULT_LIMIT = 100
REPORT_MAX_LIMIT = 500
REPORT_MAX_OFFSET = 1_000_000
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
_JSON_CONTENT_TYPE = re.compile(r"^application/(?:[\w.+-]+\+)?json\s*(?:;.*)?$", re.IGNORECASE)
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# Spanish messages for pydantic's error types (the rest fall back to a generic one).
_MESSAGES = {
    "missing": "Campo obligatorio.",
    "extra_forbidden": "Campo no permitido.",
    "string_type": "Debe ser un texto.",
    "string_too_short": "No puede estar vacío.",
    "string_too_long": "Es demasiado largo.",
    "model_type": "El cuerpo debe ser un objeto JSON.",
    "model_attributes_type": "El cuerpo debe ser un objeto JSON.",
    "json_invalid": "El cuerpo no es JSON válido.",
    "json_type": "El cuerpo no es JSON válido.",
}


def iso_utc(value: dt.datetime) -> str:
    """ISO 8601 in UTC with millisecond precision (what MongoDB keeps) and a 'Z'."""
    return value.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class InfraccionIn(BaseModel):
    """The body of ``cargar_infraccion``, as the specification gives it."""

    model_config = ConfigDict(extra="forbid", strict=True)

    placa_patente: str = Field(min_length=1, max_length=20)
    timestamp: str = Field(min_length=1, max_length=40)
    comentarios: str = Field(default="", max_length=2000)

    @field_validator("placa_patente")
    @classmethod
    def _plate(cls, value: str) -> str:
        plate = normalize_plate(value)
        if not is_valid_plate(plate):
            raise PydanticCustomError(
                "placa", "La placa patente debe tener entre 5 y 8 letras o números (sin contar espacios ni guiones)."
            )
        return plate

    @field_validator("timestamp")
    @classmethod
    def _timestamp(cls, value: str) -> str:
        try:
            dt.datetime.fromisoformat(value)
        except ValueError:
            raise PydanticCustomError(
                "timestamp", "Debe ser una fecha y hora ISO 8601, por ejemplo 2026-11-24T14:30:00-03:00."
            ) from None
        return value

    @field_validator("comentarios")
    @classmethod
    def _comments(cls, value: str) -> str:
        if _CONTROL_CHARACTERS.search(value):
            raise PydanticCustomError("texto", "No puede contener caracteres de control.")
        return value


def field_errors(error: ValidationError) -> list[dict[str, str]]:
    errors = []
    for item in error.errors(include_url=False, include_context=False, include_input=False):
        field = ".".join(str(part) for part in item["loc"]) or "cuerpo"
        message = item["msg"] if item["type"] in ("placa", "timestamp", "texto") else _MESSAGES.get(item["type"], "Valor inválido.")
        errors.append({"campo": field, "mensaje": message})
    return errors


def infraction_json(item: Infraccion) -> dict[str, Any]:
    return {
        "id": item.id,
        "placa_patente": item.placa_patente,
        "timestamp": iso_utc(item.timestamp),
        "comentarios": item.comentarios,
        "vehiculo": {"marca": item.marca, "color": item.color},
        "oficial": {"numero": item.oficial_numero, "nombre": item.oficial_nombre},
        "registrada_en": iso_utc(item.registrada_en),
    }


def report_item_json(item: Infraccion) -> dict[str, Any]:
    return {
        "id": item.id,
        "placa_patente": item.placa_patente,
        "marca": item.marca,
        "color": item.color,
        "timestamp": iso_utc(item.timestamp),
        "comentarios": item.comentarios,
        "oficial": {"numero": item.oficial_numero, "nombre": item.oficial_nombre},
    }


def unauthorized(detail: str) -> ApiError:
    return ApiError(401, detail, headers={"WWW-Authenticate": 'Bearer realm="transito", error="invalid_token"'})


class CargarInfraccionHandler(ApiHandler):
    """POST /api/cargar_infraccion: an officer records an infraction for a plate."""

    claims: Claims

    async def prepare(self) -> None:
        header = self.request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if not header:
            raise ApiError(
                401, "Falta el encabezado Authorization: Bearer <token>.", headers={"WWW-Authenticate": 'Bearer realm="transito"'}
            )
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized("El encabezado Authorization debe tener la forma 'Bearer <token>'.")
        try:
            self.claims = self.token_service.decode(token.strip())
        except InvalidToken as error:
            raise unauthorized(str(error)) from None

    async def post(self) -> None:
        body = self._json_body()
        clave = self._idempotency_key()
        try:
            data = InfraccionIn.model_validate_json(body)
        except ValidationError as error:
            raise ApiError(400, "Los datos de la infracción no son válidos.", errors=field_errors(error)) from None
        timestamp = self._timestamp(data.timestamp)
        try:
            infraccion, created = await self.repos.infracciones.record(
                numero_oficial=self.claims.numero,
                jti=self.claims.jti,
                placa_patente=data.placa_patente,
                timestamp=timestamp,
                comentarios=data.comentarios,
                clave_idempotencia=clave,
            )
        except TokenNotLive:
            raise unauthorized("El token fue revocado o el oficial no existe o está inactivo.") from None
        except NotFound as error:
            raise ApiError(404, error.message, errors=[{"campo": "placa_patente", "mensaje": error.message}]) from None
        except Conflict as error:
            raise ApiError(409, error.message, errors=[{"campo": "Idempotency-Key", "mensaje": error.message}]) from None
        if created:
            self.metrics.infracciones_cargadas.inc()
        else:
            self.set_header("Idempotent-Replayed", "true")
        self.write_json(infraction_json(infraccion))

    def _json_body(self) -> bytes:
        content_type = self.request.headers.get("Content-Type", "")
        if not _JSON_CONTENT_TYPE.match(content_type):
            raise ApiError(415, "El cuerpo debe enviarse como JSON (Content-Type: application/json).")
        body = self.request.body
        if len(body) > MAX_BODY_BYTES:
            raise ApiError(413, f"El cuerpo supera el máximo de {MAX_BODY_BYTES // 1024} KiB.")
        return body

    def _idempotency_key(self) -> str | None:
        key = self.request.headers.get("Idempotency-Key")
        if key is None:
            return None
        if not _IDEMPOTENCY_KEY.match(key):
            message = "Debe tener entre 1 y 200 caracteres ASCII visibles."
            raise ApiError(400, "El encabezado Idempotency-Key no es válido.", errors=[{"campo": "Idempotency-Key", "mensaje": message}])
        return key

    def _timestamp(self, raw: str) -> dt.datetime:
        """Offset-aware values are converted to UTC; naive ones are read in APP_TIMEZONE."""
        value = dt.datetime.fromisoformat(raw)
        if value.tzinfo is None:
            value = value.replace(tzinfo=self.config.zone)
        value = value.astimezone(dt.timezone.utc)
        value = value.replace(microsecond=value.microsecond // 1000 * 1000)  # MongoDB keeps milliseconds
        now = dt.datetime.now(dt.timezone.utc)
        oldest = now - dt.timedelta(days=self.config.infraction_max_age_days)
        if value > now + MAX_FUTURE:
            message = "La fecha y hora está en el futuro (se aceptan hasta 5 minutos de diferencia de reloj)."
        elif value < oldest:
            message = f"La infracción tiene más de {self.config.infraction_max_age_days} días: no se puede cargar por la API."
        else:
            return value
        raise ApiError(400, "Los datos de la infracción no son válidos.", errors=[{"campo": "timestamp", "mensaje": message}])


class GenerarInformeHandler(ApiHandler):
    """GET /api/generar_informe?email=...: every infraction of the vehicles in a persona's name."""

    public = True
    ALLOWED_ARGUMENTS = frozenset({"email", "limit", "offset"})

    async def get(self) -> None:
        decision = await self.throttle("report").hit(self.request.remote_ip or "")
        if not decision.allowed:
            raise ApiError(
                429,
                f"Demasiadas consultas. Intente nuevamente en {decision.retry_after} segundos.",
                headers={"Retry-After": str(decision.retry_after)},
            )
        correo, limit, offset = self._arguments()
        try:
            report = await self.repos.infracciones.report(correo=correo, limit=limit, offset=offset)
        except NotFound as error:
            raise ApiError(404, error.message, errors=[{"campo": "email", "mensaje": error.message}]) from None
        self.write_json(
            {
                "persona": {"nombre": report.nombre, "correo": report.correo},
                "total": report.total,
                "limit": limit,
                "offset": offset,
                "infracciones": [report_item_json(item) for item in report.infracciones],
            }
        )

    def _arguments(self) -> tuple[str, int, int]:
        errors = []
        unknown = sorted(set(self.request.query_arguments) - self.ALLOWED_ARGUMENTS)
        for name in unknown:
            errors.append({"campo": name, "mensaje": "Parámetro no permitido."})
        for name in self.ALLOWED_ARGUMENTS & set(self.request.query_arguments):
            if len(self.request.query_arguments[name]) > 1:
                errors.append({"campo": name, "mensaje": "Se indicó más de una vez."})
        raw_email = self.get_query_argument("email", "").strip()
        correo = ""
        if not raw_email:
            errors.append({"campo": "email", "mensaje": "Indique el correo electrónico de la persona (?email=...)."})
        else:
            try:
                correo = validate_email(raw_email, check_deliverability=False).normalized.lower()
            except EmailNotValidError:
                errors.append({"campo": "email", "mensaje": "No es un correo electrónico válido."})
        limit = self._integer("limit", REPORT_DEFAULT_LIMIT, 1, REPORT_MAX_LIMIT, errors)
        offset = self._integer("offset", 0, 0, REPORT_MAX_OFFSET, errors)
        if errors:
            raise ApiError(400, "Los parámetros de la consulta no son válidos.", errors=errors)
        return correo, limit, offset

    def _integer(self, name: str, default: int, low: int, high: int, errors: list[dict[str, str]]) -> int:
        raw = self.get_query_argument(name, "")
        if raw == "":
            return default
        if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
            errors.append({"campo": name, "mensaje": f"Debe ser un número entero entre {low} y {high}."})
            return default
        return int(raw)


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
        except Exception:  # any failure means "not ready"; the reason goes to the log only
            self.problem(503, "La base de datos no responde.")
            return
        self.write_json({"status": "ok", "database": "ok"})


class OpenApiHandler(ApiHandler):
    """GET /api/openapi.json: the API's contract, kept in the repository as ``openapi.json``."""

    public = True
    PATH = Path(__file__).resolve().parent.parent / "openapi.json"

    def get(self) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "public, max-age=300")
        self.finish(self.PATH.read_bytes())


class ApiDocsHandler(PublicHandler):
    """GET /api/docs: an interactive page for the contract, served from the app (no CDN)."""

    def get(self) -> None:
        self.render("api_docs.html")
