"""Admin pages for the offence catalogue: the list (search, severity, state), a code's page with
its versions and latest infractions, a new code, a new version, and retiring a code. Nothing is
edited in place (``domain.catalogo``): every write is a new version, in the audit trail."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from domain import catalogo
from domain.catalogo import Entry
from domain.errors import Conflict, InvalidValue
from handlers.admin.auditoria import HistoryHandler
from handlers.admin.crud import Section, SectionHandler
from handlers.filters import CatalogoFiltersForm
from handlers.forms import CodeForm, RetireForm, SpanishForm, VersionForm
from repositories.auditoria import AuditEntry


class Catalogo(Section[Entry]):
    slug = "catalogo"
    title = "Catálogo de infracciones"
    the_one = "el código"
    of_the_one = "del código"
    new_title = "Nuevo código de infracción"
    form = CodeForm

    @property
    def repository(self) -> Any:
        return self.repos.catalogo

    def label(self, entry: Entry) -> str:
        return entry.codigo

    async def history(self, entry: Entry) -> list[AuditEntry]:
        return await self.repos.auditoria.history(self.slug, await self.repos.catalogo.document_ids(entry.codigo))


class CatalogoHandler(SectionHandler):
    def tomorrow(self) -> dt.datetime:
        """The next local midnight, as a form's date and time: when a change usually starts."""
        return dt.datetime.combine(self.form_time(self.clock.now()).date() + dt.timedelta(days=1), dt.time())

    def version_fields(self, form: VersionForm) -> dict[str, Any]:
        """The form as the repository's arguments; an empty fine is its severity's range."""
        severity = catalogo.SEVERITIES[form.gravedad.data]
        return {
            "descripcion": form.descripcion.data,
            "gravedad": severity.key,
            "multa_min": form.multa_min.data if form.multa_min.data is not None else severity.min_utm,
            "multa_max": form.multa_max.data if form.multa_max.data is not None else severity.max_utm,
            "articulo": form.articulo.data or "",
            "vigente_desde": self.from_form_time(form.vigente_desde.data),
        }

    async def attempt(self, form: SpanishForm, write: Any) -> Any | None:
        """Write a valid form; on a refusal, put its message on its field and return None."""
        if not form.validate():
            return None
        try:
            return await write()
        except (Conflict, InvalidValue) as refusal:
            field = getattr(form, refusal.field or "", None)
            (field.errors if field is not None else form.form_errors).append(refusal.message)
            return None

    def show_form(self, form: SpanishForm, *, title: str, action: str, cancel: str, status: int = 200) -> None:
        self.set_status(status)
        self.render("form.html", form=form, title=title, action=action, cancel=cancel, error=None)


class ListHandler(CatalogoHandler):
    async def get(self) -> None:
        form = CatalogoFiltersForm.from_query(self)
        valid = form.validate()
        entries = [e for e in await self.repos.catalogo.entries() if form.keeps(e)] if valid else []
        self.set_status(200 if valid else 400)
        self.render("catalogo/list.html", form=form, entries=entries, valid=valid, **labels())


class DetailHandler(CatalogoHandler):
    async def get(self, codigo: str) -> None:
        entry = await self.repos.catalogo.get(codigo)
        self.render(
            "catalogo/detail.html", record=entry, **labels(),
            infracciones=await self.repos.infracciones.latest_for("infraccion.codigo", entry.codigo),
            infracciones_url="/admin/infracciones/?" + urlencode({"codigo": entry.codigo}),
        )


class NewHandler(CatalogoHandler):
    def _render(self, form: CodeForm, status: int = 200) -> None:
        self.show_form(form, title=self.section.new_title, action="/admin/catalogo/nuevo", cancel=self.section.path, status=status)

    async def get(self) -> None:
        self._render(CodeForm(data={"vigente_desde": self.form_time(self.clock.now()).replace(second=0)}))

    async def post(self) -> None:
        form = CodeForm.from_request(self)
        version = await self.attempt(
            form, lambda: self.repos.catalogo.create(codigo=form.codigo.data, **self.version_fields(form))
        )
        if version is None:
            self._render(form, status=400)
            return
        self.flash(f"Se creó el código {version.codigo}.")
        self.redirect(self.section.url(version.codigo))


class NewVersionHandler(CatalogoHandler):
    def _render(self, form: VersionForm, entry: Entry, status: int = 200) -> None:
        self.show_form(
            form, title=f"Nueva versión del código {entry.codigo}", action=self.section.url(entry.codigo, "version"),
            cancel=self.section.url(entry.codigo), status=status,
        )

    async def get(self, codigo: str) -> None:
        entry = await self.repos.catalogo.get(codigo)
        latest = entry.shown
        form = VersionForm(
            data={
                "descripcion": latest.descripcion, "gravedad": latest.gravedad, "multa_min": latest.multa_min_utm,
                "multa_max": latest.multa_max_utm, "articulo": latest.articulo, "vigente_desde": self.tomorrow(),
            }
        )
        self._render(form, entry)

    async def post(self, codigo: str) -> None:
        entry = await self.repos.catalogo.get(codigo)
        form = VersionForm.from_request(self)
        version = await self.attempt(form, lambda: self.repos.catalogo.add_version(codigo=entry.codigo, **self.version_fields(form)))
        if version is None:
            self._render(form, entry, status=400)
            return
        self.flash(f"Se creó la versión {version.version} del código {version.codigo}, que rige desde el {self.local_time(version.vigente_desde)}.")
        self.redirect(self.section.url(version.codigo))


class RetireHandler(CatalogoHandler):
    def _render(self, form: RetireForm, entry: Entry, status: int = 200) -> None:
        self.set_status(status)
        self.render("catalogo/retire.html", form=form, record=entry)

    async def get(self, codigo: str) -> None:
        entry = await self.repos.catalogo.get(codigo)
        self._render(RetireForm(data={"vigente_desde": self.tomorrow()}), entry)

    async def post(self, codigo: str) -> None:
        entry = await self.repos.catalogo.get(codigo)
        form = RetireForm.from_request(self)
        version = await self.attempt(form, lambda: self.repos.catalogo.retire(entry.codigo, desde=self.from_form_time(form.vigente_desde.data)))
        if version is None:
            self._render(form, entry, status=400)
            return
        self.flash(f"El código {version.codigo} deja de regir el {self.local_time(version.vigente_desde)}.")
        self.redirect(self.section.url(version.codigo))


def labels() -> dict[str, Any]:
    return {"severities": catalogo.SEVERITIES, "states": catalogo.STATE_LABELS}


default_handlers = [
    (r"/admin/catalogo/?", ListHandler, {"section": Catalogo}),
    (r"/admin/catalogo/nuevo", NewHandler, {"section": Catalogo}),
    (r"/admin/catalogo/([^/]+)", DetailHandler, {"section": Catalogo}),
    (r"/admin/catalogo/([^/]+)/version", NewVersionHandler, {"section": Catalogo}),
    (r"/admin/catalogo/([^/]+)/retirar", RetireHandler, {"section": Catalogo}),
    (r"/admin/catalogo/([^/]+)/historial", HistoryHandler, {"section": Catalogo}),
]
