"""Admin pages for oficiales, their activation and their bearer tokens."""

from __future__ import annotations

import datetime as dt
from typing import Any

from handlers.admin.crud import Entity, EntityHandler
from handlers.base import BaseHandler
from handlers.forms import OficialForm, SpanishForm, TokenForm
from repositories.oficiales import Oficial
from services.tokens import IssuedToken


async def detail_context(handler: BaseHandler, oficial: Oficial, **extra: Any) -> dict[str, Any]:
    return {
        "tokens": await handler.repos.tokens.list_for_officer(oficial.id),
        "token_form": extra.pop("token_form", None) or TokenForm(),
        "issued": None,
        "token_error": None,
        "now": dt.datetime.now(dt.timezone.utc),
        **extra,
    }


async def to_fields(handler: BaseHandler, form: SpanishForm) -> dict[str, Any]:
    return {"nombre": form.nombre.data, "numero": form.numero.data, "activo": bool(form.activo.data)}


ENTITY = Entity(
    slug="oficiales",
    singular="el oficial",
    plural="Oficiales",
    new_title="Nuevo oficial",
    form=OficialForm,
    repository=lambda repos: repos.oficiales,
    label=lambda oficial: f"N° {oficial.numero} ({oficial.nombre})",
    to_fields=to_fields,
    detail_context=detail_context,
)


class IssueTokenHandler(EntityHandler):
    """POST: mint a token and show it once, on the officer's page (never stored, never redirected)."""

    async def post(self, oficial_id: str) -> None:
        oficial = await self.repos.oficiales.get(oficial_id)
        form = TokenForm.from_request(self)
        issued: IssuedToken | None = None
        error = None
        if not oficial.activo:
            error = "El oficial está inactivo: actívelo antes de generar un token."
        elif form.validate():
            issued = await self.token_service.issue(
                self.repos, numero=oficial.numero, days=form.dias.data, label=form.etiqueta.data or ""
            )
        context = await detail_context(self, oficial, token_form=form, issued=issued, token_error=error)
        self.set_status(200 if issued else 400)
        self.render("oficiales/detail.html", record=oficial, **context)


class RevokeTokenHandler(EntityHandler):
    async def post(self, oficial_id: str, token_id: str) -> None:
        oficial = await self.repos.oficiales.get(oficial_id)
        record = await self.repos.tokens.revoke(token_id)
        label = f" «{record.etiqueta}»" if record.etiqueta else ""
        self.flash(f"Se revocó el token{label} del oficial N° {oficial.numero}.")
        self.redirect(ENTITY.url(oficial.id))


class ActivationHandler(EntityHandler):
    async def post(self, oficial_id: str) -> None:
        activo = self.get_body_argument("activo", "") == "1"
        oficial = await self.repos.oficiales.set_active(oficial_id, activo)
        if activo:
            self.flash(f"Se activó al oficial N° {oficial.numero}.")
        else:
            self.flash(f"Se desactivó al oficial N° {oficial.numero}; sus tokens quedaron revocados.")
        self.redirect(ENTITY.url(oficial.id))


def routes() -> list[tuple[str, type, dict[str, Any]]]:
    options = {"entity": ENTITY}
    return [
        (r"/admin/oficiales/([^/]+)/tokens", IssueTokenHandler, options),
        (r"/admin/oficiales/([^/]+)/tokens/([^/]+)/revocar", RevokeTokenHandler, options),
        (r"/admin/oficiales/([^/]+)/activacion", ActivationHandler, options),
        *ENTITY.routes(),
    ]
