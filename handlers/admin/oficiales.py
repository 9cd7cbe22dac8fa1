"""Admin pages for oficiales, their activation and their bearer tokens."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from domain.errors import NotFound
from handlers.admin.auditoria import HistoryHandler
from handlers.admin.crud import DeleteHandler, DetailHandler, EditHandler, ListHandler, NewHandler, Section, SectionHandler
from handlers.forms import OficialForm, SpanishForm, TokenForm
from repositories.oficiales import Oficial, OficialRepository
from services.tokens import IssuedToken


class Oficiales(Section[Oficial]):
    slug = "oficiales"
    title = "Oficiales"
    the_one = "el oficial"
    of_the_one = "del oficial"
    new_title = "Nuevo oficial"
    form = OficialForm

    @property
    def repository(self) -> OficialRepository:
        return self.repos.oficiales

    def label(self, oficial: Oficial) -> str:
        return f"N° {oficial.numero} ({oficial.nombre})"

    async def fields(self, form: SpanishForm) -> dict[str, Any]:
        return {"nombre": form.nombre.data, "numero": form.numero.data, "activo": bool(form.activo.data)}

    async def detail_context(
        self, oficial: Oficial, *, token_form: TokenForm | None = None, issued: IssuedToken | None = None,
        token_error: str | None = None,
    ) -> dict[str, Any]:
        return {
            "infracciones": await self.repos.infracciones.latest_for("oficial_id", oficial.id),
            "infracciones_url": "/admin/infracciones/?" + urlencode({"oficial": oficial.numero}),
            "tokens": await self.repos.tokens.list_for_officer(oficial.id),
            "token_form": token_form or TokenForm(),
            "issued": issued,
            "token_error": token_error,
            "now": self.repos.clock.now(),
        }


class IssueTokenHandler(SectionHandler):
    """POST: mint a token and show it once, on the officer's page (never stored, never redirected)."""

    async def post(self, oficial_id: str) -> None:
        oficial = await self.repos.oficiales.get(oficial_id)
        form = TokenForm.from_request(self)
        issued: IssuedToken | None = None
        error = None
        if form.validate():
            try:
                issued = await self.token_service.issue(
                    self.repos, numero=oficial.numero, days=form.dias.data, label=form.etiqueta.data or ""
                )
            except NotFound as refusal:
                error = refusal.message
        context = await self.section.detail_context(oficial, token_form=form, issued=issued, token_error=error)
        self.set_status(200 if issued else 400)
        self.render("oficiales/detail.html", record=oficial, **context)


class RevokeTokenHandler(SectionHandler):
    async def post(self, oficial_id: str, token_id: str) -> None:
        oficial = await self.repos.oficiales.get(oficial_id)
        record = await self.repos.tokens.revoke(token_id, oficial_id=oficial.id)
        label = f" «{record.etiqueta}»" if record.etiqueta else ""
        self.flash(f"Se revocó el token{label} del oficial N° {oficial.numero}.")
        self.redirect(self.section.url(oficial.id))


class ActivationHandler(SectionHandler):
    async def post(self, oficial_id: str) -> None:
        activo = self.get_body_argument("activo", "") == "1"
        oficial = await self.repos.oficiales.set_active(oficial_id, activo)
        if activo:
            self.flash(f"Se activó al oficial N° {oficial.numero}.")
        else:
            self.flash(f"Se desactivó al oficial N° {oficial.numero}; sus tokens quedaron revocados.")
        self.redirect(self.section.url(oficial.id))


default_handlers = [
    (r"/admin/oficiales/?", ListHandler, {"section": Oficiales}),
    (r"/admin/oficiales/nuevo", NewHandler, {"section": Oficiales}),
    (r"/admin/oficiales/([^/]+)", DetailHandler, {"section": Oficiales}),
    (r"/admin/oficiales/([^/]+)/editar", EditHandler, {"section": Oficiales}),
    (r"/admin/oficiales/([^/]+)/borrar", DeleteHandler, {"section": Oficiales}),
    (r"/admin/oficiales/([^/]+)/historial", HistoryHandler, {"section": Oficiales}),
    (r"/admin/oficiales/([^/]+)/activacion", ActivationHandler, {"section": Oficiales}),
    (r"/admin/oficiales/([^/]+)/tokens", IssueTokenHandler, {"section": Oficiales}),
    (r"/admin/oficiales/([^/]+)/tokens/([^/]+)/revocar", RevokeTokenHandler, {"section": Oficiales}),
]
