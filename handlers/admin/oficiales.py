"""Admin pages for oficiales, their activation and their bearer tokens.

A token is shown once, after a post/redirect/get: the POST mints it and puts it in a signed,
HttpOnly cookie scoped to the officer's page and valid for a few minutes; the GET that follows shows
it and clears the cookie, so reloading the page neither shows it again nor mints a second one. The
token never travels in a URL and is never logged. Revoking a token and deactivating an officer
(which revokes every token for good) go through confirmation pages that say what will happen."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any
from urllib.parse import urlencode

from domain import rules
from domain.errors import NotFound
from handlers.admin.auditoria import HistoryHandler
from handlers.admin.crud import DeleteHandler, DetailHandler, EditHandler, ListHandler, NewHandler, Respelled, Section, SectionHandler
from handlers.filters import OficialListForm
from handlers.forms import OficialForm, SpanishForm, TokenForm
from handlers.headers import safe_next
from repositories.oficiales import Oficial, OficialRepository
from repositories.paging import Cursor, KeysetPage
from repositories.tokens import TokenRecord

ISSUED_COOKIE = "token_emitido"
ISSUED_COOKIE_MINUTES = 5  # the redirect's GET comes at once; a later visit shows nothing


@dataclasses.dataclass(frozen=True)
class ShownToken:
    """A token just issued, as its page shows it once."""

    token: str
    expira_en: dt.datetime


class Oficiales(Section[Oficial]):
    slug = "oficiales"
    title = "Oficiales"
    the_one = "el oficial"
    of_the_one = "del oficial"
    new_title = "Nuevo oficial"
    form = OficialForm
    list_form = OficialListForm

    @property
    def repository(self) -> OficialRepository:
        return self.repos.oficiales

    def label(self, oficial: Oficial) -> str:
        return f"N° {oficial.numero} ({oficial.nombre})"

    async def fields(self, form: SpanishForm) -> dict[str, Any]:
        return {"nombre": form.nombre.data, "numero": form.numero.data, "activo": bool(form.activo.data)}

    async def search(self, form: Any, *, page: int, cursor: Cursor | None) -> KeysetPage[Oficial]:
        return await self.repos.oficiales.search(
            q=form.q.data or "", activo=form.activo, sort=form.sort, per_page=form.per_page, page=page, cursor=cursor
        )

    async def detail_context(
        self, oficial: Oficial, *, token_form: TokenForm | None = None, issued: ShownToken | None = None,
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


class OficialDetailHandler(DetailHandler):
    """The officer's page; right after "Generar token", it shows the new token once."""

    async def get(self, oficial_id: str) -> None:
        oficial = await self.repos.oficiales.get(oficial_id)
        issued = self._take_issued(oficial)
        context = await self.section.detail_context(oficial, issued=issued)
        self.render("oficiales/detail.html", record=oficial, **context)

    def _take_issued(self, oficial: Oficial) -> ShownToken | None:
        path = self.section.url(oficial.id)
        raw = self.get_signed_cookie(ISSUED_COOKIE, max_age_days=ISSUED_COOKIE_MINUTES / (24 * 60))
        if self.get_cookie(ISSUED_COOKIE) is not None:
            self.clear_cookie(ISSUED_COOKIE, path=path)
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            if data["oficial"] != oficial.id:
                return None
            return ShownToken(data["token"], dt.datetime.fromisoformat(data["expira_en"]))
        except (ValueError, KeyError, TypeError):
            return None


class IssueTokenHandler(SectionHandler):
    """POST: mint a token, then redirect to the officer's page, which shows it once (see the module)."""

    async def post(self, oficial_id: str) -> None:
        oficial = await self.repos.oficiales.get(oficial_id)
        form = TokenForm.from_request(self)
        error = None
        if form.validate():
            try:
                issued = await self.token_service.issue(
                    self.repos, numero=oficial.numero, days=form.dias.data, label=form.etiqueta.data or ""
                )
            except NotFound as refusal:
                error = refusal.message
            else:
                shown = {"oficial": oficial.id, "token": issued.token, "expira_en": issued.record.expira_en.isoformat()}
                self.set_signed_cookie(
                    ISSUED_COOKIE, json.dumps(shown), path=self.section.url(oficial.id), expires_days=None, httponly=True,
                    samesite="Strict", secure=self.request.protocol == "https",
                )
                self.redirect(self.section.url(oficial.id) + "#token-emitido", status=303)
                return
        context = await self.section.detail_context(oficial, token_form=form, token_error=error)
        self.set_status(400)
        self.render("oficiales/detail.html", record=oficial, **context)


class RevokeTokenHandler(SectionHandler):
    """GET: what revoking this token does, and the button; POST: revoke it."""

    async def _token(self, oficial: Oficial, token_id: str) -> TokenRecord:
        for record in await self.repos.tokens.list_for_officer(oficial.id):
            if record.id == token_id:
                return record
        raise NotFound(f"El oficial N° {oficial.numero} no tiene el token {token_id}.")

    async def get(self, oficial_id: str, token_id: str) -> None:
        oficial = await self.repos.oficiales.get(oficial_id)
        record = await self._token(oficial, token_id)
        label = f"«{record.etiqueta}»" if record.etiqueta else "sin etiqueta"
        status = record.status(self.repos.clock.now())
        if status != "vigente":
            self.flash(f"El token {label} ya está {status}.", "info")
            self.redirect(self.section.url(oficial.id))
            return
        self.render(
            "confirm.html",
            title=f"Revocar el token {label} del oficial N° {oficial.numero}",
            crumbs=[(self.section.path, self.section.title), (self.section.url(oficial.id), f"N° {oficial.numero}")],
            consequences=[
                "La aplicación que lo use deja de poder cargar infracciones en ese mismo momento.",
                "No se puede deshacer: para volver a cargar, genere un token nuevo en la página del oficial.",
                "Los demás tokens del oficial y sus infracciones no cambian.",
            ],
            action=self.section.url(oficial.id, f"tokens/{record.id}/revocar"),
            fields={},
            button="Sí, revocar el token",
            cancel=self.section.url(oficial.id),
        )

    async def post(self, oficial_id: str, token_id: str) -> None:
        oficial = await self.repos.oficiales.get(oficial_id)
        record = await self.repos.tokens.revoke(token_id, oficial_id=oficial.id)
        label = f" «{record.etiqueta}»" if record.etiqueta else ""
        self.flash(f"Se revocó el token{label} del oficial N° {oficial.numero}.")
        self.redirect(self.section.url(oficial.id), status=303)


def deactivation_consequences(live_tokens: int) -> list[str]:
    if live_tokens == 1:
        tokens = "Se revoca para siempre su token vigente: la aplicación que lo use deja de poder cargar infracciones en ese mismo momento."
    elif live_tokens:
        tokens = (
            f"Se revocan para siempre sus {live_tokens} tokens vigentes: las aplicaciones que los usen dejan de poder cargar "
            "infracciones en ese mismo momento."
        )
    else:
        tokens = "No tiene tokens vigentes."
    return [
        tokens,
        "Mientras esté inactivo no se le pueden generar tokens.",
        "Sus infracciones se conservan. Puede volver a activarlo, pero necesitará tokens nuevos.",
    ]


class ActivationHandler(SectionHandler):
    """GET: what deactivating the officer does, and the button; POST: activate or deactivate."""

    async def get(self, oficial_id: str) -> None:
        oficial = await self.repos.oficiales.get(oficial_id)
        if not oficial.activo:
            self.redirect(self.section.url(oficial.id))
            return
        now = self.repos.clock.now()
        live = sum(1 for t in await self.repos.tokens.list_for_officer(oficial.id) if t.status(now) == "vigente")
        self.render(
            "confirm.html",
            title=f"Desactivar al oficial N° {oficial.numero} ({oficial.nombre})",
            crumbs=[(self.section.path, self.section.title), (self.section.url(oficial.id), f"N° {oficial.numero}")],
            consequences=deactivation_consequences(live),
            action=self.section.url(oficial.id, "activacion"),
            fields={"activo": "0"},
            button="Sí, desactivar",
            cancel=self.section.url(oficial.id),
        )

    async def post(self, oficial_id: str) -> None:
        activo = self.get_body_argument("activo", "") == "1"
        oficial = await self.repos.oficiales.set_active(oficial_id, activo)
        if activo:
            self.flash(f"Se activó al oficial N° {oficial.numero}.")
        else:
            self.flash(f"Se desactivó al oficial N° {oficial.numero}; sus tokens quedaron revocados.")
        self.redirect(self.section.url(oficial.id), status=303)


class BulkDeactivateHandler(SectionHandler):
    """Deactivate the officers selected on the list, after a confirmation page that names them and
    says what happens; each is deactivated in its own transaction, with its own audit entry."""

    async def post(self) -> None:
        selected = await self.repos.oficiales.get_some(self.get_body_arguments("ids"))
        back = safe_next(self.get_body_argument("volver", ""), self.section.path)
        active = [o for o in selected if o.activo]
        if not active:
            self.flash("No seleccionó ningún oficial activo." if not selected else "Los oficiales seleccionados ya estaban inactivos.", "error")
            self.redirect(back, status=303)
            return
        if self.get_body_argument("confirmar", "") != "1":
            self.render("oficiales/bulk_deactivate.html", selected=active, already=[o for o in selected if not o.activo], back=back)
            return
        for oficial in active:
            await self.repos.oficiales.set_active(oficial.id, False)
        verb = "Se desactivó" if len(active) == 1 else "Se desactivaron"
        self.flash(f"{verb} {rules.plural(len(active), 'oficial', 'oficiales')}; sus tokens quedaron revocados.")
        self.redirect(back, status=303)


default_handlers = [
    (r"/admin/oficiales/?", ListHandler, {"section": Oficiales}),
    (r"/admin/oficiales/nuevo", NewHandler, {"section": Oficiales}),
    (r"/admin/oficiales/nueva", Respelled, {"target": "/admin/oficiales/nuevo"}),
    (r"/admin/oficiales/desactivar-seleccionados", BulkDeactivateHandler, {"section": Oficiales}),
    (r"/admin/oficiales/([^/]+)", OficialDetailHandler, {"section": Oficiales}),
    (r"/admin/oficiales/([^/]+)/editar", EditHandler, {"section": Oficiales}),
    (r"/admin/oficiales/([^/]+)/borrar", DeleteHandler, {"section": Oficiales}),
    (r"/admin/oficiales/([^/]+)/historial", HistoryHandler, {"section": Oficiales}),
    (r"/admin/oficiales/([^/]+)/activacion", ActivationHandler, {"section": Oficiales}),
    (r"/admin/oficiales/([^/]+)/tokens", IssueTokenHandler, {"section": Oficiales}),
    (r"/admin/oficiales/([^/]+)/tokens/([^/]+)/revocar", RevokeTokenHandler, {"section": Oficiales}),
]
