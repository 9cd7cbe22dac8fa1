"""``GET /api/generar_informe?email=...``: public and rate-limited, the infractions of every vehicle
in a persona's name.

Anyone may ask, so the answer says no more than it must (Ley 21.719): no person's or officer's
name, no annulled infraction, and the same answer for an address nobody has as for a persona
without vehicles, so the method does not tell who is registered. Every lookup is logged for
accountability (``services.lookups``), off the request path."""

from __future__ import annotations

from typing import Any

from domain import rules
from domain.errors import InvalidValue
from handlers.api.base import ApiError, ApiHandler, iso_utc
from repositories.infracciones import ReportItem

REPORT_DEFAULT_LIMIT = 100
REPORT_MAX_LIMIT = 500
REPORT_MAX_OFFSET = 1_000_000


def report_item_json(item: ReportItem) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": item.id,
        "placa_patente": item.placa_patente,
        "marca": item.marca,
        "color": item.color,
        "timestamp": iso_utc(item.timestamp),
        "comentarios": item.comentarios,
        "estado": item.estado,
    }
    if item.infraccion:  # the offence as it was issued; never its place or its photos
        body["infraccion"] = {key: item.infraccion[key] for key in ("codigo", "descripcion", "gravedad")}
    return body


class GenerarInformeHandler(ApiHandler):
    """GET /api/generar_informe?email=...: every infraction of the vehicles in a persona's name."""

    public = True
    ALLOWED_ARGUMENTS = frozenset({"email", "limit", "offset"})

    async def get(self) -> None:
        correo, limit, offset = self._arguments()  # a malformed request costs the database nothing
        client = self.request.remote_ip
        decision = await self.throttle("report").hit(client)
        if not decision.allowed:
            raise ApiError(
                429,
                f"Demasiadas consultas. Intente nuevamente en {rules.spanish_duration(decision.retry_after)}.",
                headers={"Retry-After": str(decision.retry_after)},
            )
        report = await self.repos.infracciones.report(correo=correo, limit=limit, offset=offset)
        self.lookups.record(correo=correo, client=client, results=report.total)
        self.write_json(
            {
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
                correo = rules.normalize_email(raw_email)
            except InvalidValue as error:
                errors.append({"campo": "email", "mensaje": error.message})
        limit = self._integer("limit", REPORT_DEFAULT_LIMIT, 1, REPORT_MAX_LIMIT, errors)
        offset = self._integer("offset", 0, 0, REPORT_MAX_OFFSET, errors)
        if errors:
            raise ApiError(400, "Los parámetros de la consulta no son válidos.", errors=errors)
        return correo, limit, offset

    def _integer(self, name: str, default: int, low: int, high: int, errors: list[dict[str, str]]) -> int:
        if name not in self.request.query_arguments:
            return default  # absent; an empty ``limit=`` is not a number and is refused below
        value = rules.ascii_int(self.get_query_argument(name))
        if value is None or not low <= value <= high:
            errors.append({"campo": name, "mensaje": f"Debe ser un número entero entre {low} y {high}."})
            return default
        return value


default_handlers = [
    (r"/api/generar_informe", GenerarInformeHandler),
]
