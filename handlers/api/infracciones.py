"""``POST /api/cargar_infraccion``: the officers' app records an infraction, authenticated by the
officer's bearer token."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from domain import catalogo, rules
from domain.errors import InvalidValue
from handlers.api.base import ApiError, ApiHandler, iso_utc, unauthorized
from repositories.infracciones import Infraccion
from services.tokens import Claims, InvalidToken

_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
_JSON_CONTENT_TYPE = re.compile(r"^application/(?:[\w.+-]+\+)?json\s*(?:;.*)?$", re.IGNORECASE)
INVALID_BODY = "Los datos de la infracción no son válidos."

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
    "float_type": "Debe ser un número.",
    "finite_number": "Debe ser un número finito.",
    "float_parsing": "Debe ser un número.",
}
_OWN_MESSAGES = "regla"  # the error type of our validators, whose message is already Spanish


def _rule(check: Any, value: Any) -> Any:
    """Run a domain rule inside a pydantic validator, keeping the rule's Spanish message."""
    try:
        return check(value)
    except InvalidValue as error:
        raise PydanticCustomError(_OWN_MESSAGES, error.message) from None


class UbicacionIn(BaseModel):
    """Where the infraction happened, as the device located it."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    latitud: float
    longitud: float
    precision_m: float | None = None

    @field_validator("latitud")
    @classmethod
    def _latitude(cls, value: float) -> float:
        return _rule(rules.latitude_or_raise, value)

    @field_validator("longitud")
    @classmethod
    def _longitude(cls, value: float) -> float:
        return _rule(rules.longitude_or_raise, value)

    @field_validator("precision_m")
    @classmethod
    def _precision(cls, value: float | None) -> float | None:
        return _rule(rules.precision_or_raise, value) if value is not None else None


class InfraccionIn(BaseModel):
    """The body of ``cargar_infraccion``: the specification's three fields, and optionally the
    offence's catalogue code and the place."""

    model_config = ConfigDict(extra="forbid", strict=True)

    placa_patente: str = Field(min_length=1, max_length=20)
    timestamp: str = Field(min_length=1, max_length=40)
    comentarios: str = Field(default="", max_length=rules.COMENTARIOS_MAX)
    codigo: str | None = Field(default=None, min_length=1, max_length=catalogo.CODE_MAX_INPUT)
    ubicacion: UbicacionIn | None = None

    @field_validator("codigo")
    @classmethod
    def _code(cls, value: str | None) -> str | None:
        return _rule(catalogo.code_or_raise, value) if value is not None else None

    @field_validator("placa_patente")
    @classmethod
    def _plate(cls, value: str) -> str:
        return _rule(rules.plate_or_raise, value)

    @field_validator("timestamp")
    @classmethod
    def _timestamp(cls, value: str) -> str:
        _rule(lambda raw: rules.parse_timestamp(raw, dt.timezone.utc), value)  # its form; the window is checked later
        return value

    @field_validator("comentarios")
    @classmethod
    def _comments(cls, value: str) -> str:
        if rules.has_control_characters(value):
            raise PydanticCustomError(_OWN_MESSAGES, rules.CONTROL_MESSAGE)
        return value


def field_errors(error: ValidationError) -> list[dict[str, str]]:
    errors = []
    for item in error.errors(include_url=False, include_context=False, include_input=False):
        field = ".".join(str(part) for part in item["loc"]) or "cuerpo"
        message = item["msg"] if item["type"] == _OWN_MESSAGES else _MESSAGES.get(item["type"], "Valor inválido.")
        if item["loc"] and item["type"] in ("model_type", "model_attributes_type"):
            message = "Debe ser un objeto JSON."  # a field such as ubicacion, not the body
        errors.append({"campo": field, "mensaje": message})
    return errors


def offence_json(item: Infraccion) -> dict[str, Any]:
    offence = item.infraccion or {}
    return {key: offence[key] for key in ("codigo", "descripcion", "gravedad", "multa_utm") if key in offence}


def location_json(item: Infraccion) -> dict[str, Any]:
    place = {"latitud": item.latitud, "longitud": item.longitud}
    if item.ubicacion and "precision_m" in item.ubicacion:
        place["precision_m"] = item.ubicacion["precision_m"]
    return place


def infraction_json(item: Infraccion) -> dict[str, Any]:
    """The API's infraction; ``infraccion`` and ``ubicacion`` only when it was loaded with them, so
    the specification's three-field body gets exactly the answer it always got."""
    body: dict[str, Any] = {
        "id": item.id,
        "placa_patente": item.placa_patente,
        "timestamp": iso_utc(item.timestamp),
        "comentarios": item.comentarios,
        "vehiculo": {"marca": item.marca, "color": item.color},
        "oficial": {"numero": item.oficial_numero, "nombre": item.oficial_nombre},
        "registrada_en": iso_utc(item.registrada_en),
    }
    if item.infraccion:
        body["infraccion"] = offence_json(item)
    if item.ubicacion:
        body["ubicacion"] = location_json(item)
    return body


class CargarInfraccionHandler(ApiHandler):
    """POST /api/cargar_infraccion: an officer records an infraction for a plate."""

    REQUEST_FIELDS = {"clave_idempotencia": "Idempotency-Key"}
    claims: Claims

    async def prepare(self) -> None:
        try:
            self.claims = self.token_service.decode(self.bearer_token())
        except InvalidToken as error:
            raise unauthorized(str(error)) from None

    async def post(self) -> None:
        body = self._json_body()
        clave = self._idempotency_key()
        try:
            data = InfraccionIn.model_validate_json(body)
        except ValidationError as error:
            raise ApiError(400, INVALID_BODY, errors=field_errors(error)) from None
        timestamp = self._timestamp(data.timestamp)
        place = data.ubicacion
        infraccion, created = await self.repos.infracciones.record(
            numero_oficial=self.claims.numero,
            jti=self.claims.jti,
            placa_patente=data.placa_patente,
            timestamp=timestamp,
            comentarios=data.comentarios,
            clave_idempotencia=clave,
            request_id=self.request_id,
            cliente=self.request.remote_ip,
            codigo=data.codigo,
            ubicacion=rules.location_or_raise(place.latitud, place.longitud, place.precision_m) if place else None,
        )
        if created:
            self.metrics.infracciones_cargadas.inc()
        else:
            self.set_header("Idempotent-Replayed", "true")
        self.write_json(infraction_json(infraccion))

    def _json_body(self) -> bytes:
        """The body, once its type is right (its size was checked before it arrived: ApiHandler.max_body_bytes)."""
        content_type = self.request.headers.get("Content-Type", "")
        if not _JSON_CONTENT_TYPE.match(content_type):
            raise ApiError(415, "El cuerpo debe enviarse como JSON (Content-Type: application/json).")
        return self.request.body

    def _idempotency_key(self) -> str | None:
        key = self.request.headers.get("Idempotency-Key")
        if key is None:
            return None
        if not _IDEMPOTENCY_KEY.match(key):
            message = "Debe tener entre 1 y 200 caracteres ASCII visibles."
            raise ApiError(400, "El encabezado Idempotency-Key no es válido.", errors=[{"campo": "Idempotency-Key", "mensaje": message}])
        return key

    def _timestamp(self, raw: str) -> dt.datetime:
        try:
            return rules.infraction_time_or_raise(
                raw, zone=self.config.zone, now=self.clock.now(), max_age_days=self.config.infraction_max_age_days
            )
        except InvalidValue as error:
            raise ApiError(400, INVALID_BODY, errors=[{"campo": "timestamp", "mensaje": error.message}]) from None


default_handlers = [
    (r"/api/cargar_infraccion", CargarInfraccionHandler),
]
