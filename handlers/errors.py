"""The one place that says which HTTP status a refusal is, and what a client may be told about it:
domain errors and database outages map to status codes here, for the HTML pages and the JSON API
alike (``handlers/base.py`` and ``handlers/api/base.py`` render them)."""

from __future__ import annotations

from typing import Any

import tornado.web
from pymongo.errors import ConnectionFailure, ExecutionTimeout, WTimeoutError

from domain.errors import (
    Conflict,
    CredentialNotLive,
    DomainError,
    InvalidValue,
    MissingReference,
    NotFound,
    StillReferenced,
)

DOMAIN_STATUS: dict[type[DomainError], int] = {
    InvalidValue: 400,
    CredentialNotLive: 401,
    NotFound: 404,
    Conflict: 409,
    StillReferenced: 409,
    MissingReference: 422,
}
# The database is unreachable or too slow: the client may retry later.
UNAVAILABLE_ERRORS = (ConnectionFailure, ExecutionTimeout, WTimeoutError)

STATUS_TITLES = {
    400: "Solicitud inválida",
    401: "No autenticado",
    403: "Prohibido",
    404: "No encontrado",
    405: "Método no permitido",
    409: "Conflicto",
    413: "Contenido demasiado grande",
    415: "Tipo de contenido no soportado",
    422: "Referencia inexistente",
    429: "Demasiadas solicitudes",
    500: "Error interno",
    503: "Servicio no disponible",
}
_GENERIC_DETAILS = {
    400: "La solicitud no es válida.",
    403: "Solicitud rechazada: falta el token de seguridad del formulario o no coincide. "
    "Recargue la página e intente de nuevo.",
    404: "La página o el registro solicitado no existe.",
    405: "Método no permitido.",
    413: "El contenido enviado es demasiado grande.",
}


class HTTPRefusal(tornado.web.HTTPError):
    """A refusal with a Spanish ``detail`` for the client and ``headers`` to send with it (which
    survive the reset of headers that an error response starts with)."""

    def __init__(self, status: int, detail: str | None = None, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, reason=STATUS_TITLES.get(status))
        self.detail = detail
        self.headers = headers or {}


def status_for(error: BaseException | None) -> int | None:
    """The HTTP status a domain or database error stands for (None: not one of ours)."""
    if isinstance(error, DomainError):
        return DOMAIN_STATUS.get(type(error), 400)
    if isinstance(error, UNAVAILABLE_ERRORS):
        return 503
    return None


def error_detail(status_code: int, exc_info: Any, request_id: str) -> str:
    """A message safe to show a client: ours, or a generic one. Never a driver message."""
    error = exc_info[1] if exc_info else None
    if isinstance(error, DomainError):
        return error.message
    if isinstance(error, HTTPRefusal) and error.detail:
        return error.detail
    if isinstance(error, tornado.web.HTTPError) and error.reason and status_code < 500:
        return error.reason
    if status_code == 503:
        return "La base de datos no está disponible en este momento. Intente nuevamente en unos segundos."
    if status_code >= 500:
        return f"Ocurrió un error inesperado. Informe el identificador {request_id} al soporte."
    return _GENERIC_DETAILS.get(status_code) or STATUS_TITLES.get(status_code, "Error")
