"""Admin pages for infracciones: the filtered list (and its CSV export, in ``export.py``), an
infraction's page with its status changes, and its correction (annul and replace). Infractions are
legal records: there is no edit and no delete."""

from __future__ import annotations

from typing import Any

from domain import catalogo, lifecycle, rules
from domain.errors import Conflict, DomainError, InvalidValue, NotFound
from handlers.admin.auditoria import HistoryHandler
from handlers.admin.crud import Section, SectionHandler
from handlers.admin.export import ExportHandler, FilteredInfracciones
from handlers.forms import ReplaceForm, TransitionForm
from repositories.infracciones import Infraccion
from repositories.paging import Cursor


class Infracciones(Section[Infraccion]):
    slug = "infracciones"
    title = "Infracciones"
    the_one = "la infracción"
    of_the_one = "de la infracción"
    new_title = ""
    form = ReplaceForm

    @property
    def repository(self) -> Any:
        return self.repos.infracciones

    def label(self, infraccion: Infraccion) -> str:
        return f"{infraccion.placa_patente} del {infraccion.timestamp:%d-%m-%Y %H:%M} UTC"


class ListHandler(FilteredInfracciones):
    async def get(self) -> None:
        selected = await self.selection()
        if selected is None:
            return
        form, filters = selected
        cursor = Cursor.decode(self.get_query_argument("cursor", ""), form.sort, form.per_page)
        page = await self.repos.infracciones.search(
            filters, sort=form.sort, per_page=form.per_page, page=self.page_argument(), cursor=cursor
        )
        export_url = "/admin/infracciones/exportar" + self.query_with(pagina=None, cursor=None, por_pagina=None)
        self.render("infracciones/list.html", form=form, page=page, export_url=export_url)


class DetailHandler(SectionHandler):
    async def get(self, infraccion_id: str) -> None:
        await self.show(await self.repos.infracciones.get(infraccion_id))

    async def show(self, infraccion: Infraccion, *, status: int = 200, error: str | None = None, form: TransitionForm | None = None) -> None:
        self.set_status(status)
        self.render("infracciones/detail.html", record=infraccion, error=error, transition=form, **await self._context(infraccion))

    async def _context(self, infraccion: Infraccion) -> dict[str, Any]:
        """The record's people and things as they are now, beside what the infraction recorded."""
        repos = self.repos

        async def maybe(lookup: Any, *args: Any) -> Any:
            try:
                return await lookup(*args)
            except NotFound:
                return None

        vehiculo = await maybe(repos.vehiculos.get, infraccion.vehiculo_id)
        jti = infraccion.carga.get("token_jti")
        return {
            "vehiculo": vehiculo,
            "propietario_entonces": await maybe(repos.personas.get, infraccion.persona_id),
            "propietario_ahora": await maybe(repos.personas.get, vehiculo.persona_id) if vehiculo else None,
            "oficial": await maybe(repos.oficiales.get, infraccion.oficial_id),
            "token": await repos.tokens.find_by_jti(jti) if jti else None,
            "moves": lifecycle.MOVES[infraccion.estado],
            "severities": catalogo.SEVERITIES,
            "labels": lifecycle.LABELS,
            "zone": self.config.zone,
        }


class TransitionHandler(DetailHandler):
    async def post(self, infraccion_id: str) -> None:
        form = TransitionForm.from_request(self)
        infraccion = await self.repos.infracciones.get(infraccion_id)
        if not form.validate():
            await self.show(infraccion, status=400, error="Revise el formulario de cambio de estado.", form=form)
            return
        try:
            moved = await self.repos.infracciones.transition(
                infraccion.id, desde=form.desde.data, to=form.estado.data, motivo=form.motivo.data or ""
            )
        except (Conflict, InvalidValue) as refusal:
            current = await self.repos.infracciones.get(infraccion.id)
            await self.show(current, status=409 if isinstance(refusal, Conflict) else 400, error=refusal.message, form=form)
            return
        self.flash(f"La infracción quedó {lifecycle.LABELS[moved.estado].lower()}.")
        self.redirect(self.section.url(moved.id))


class EvidenceHandler(SectionHandler):
    """A photo listed on an infraction (or, with ``?miniatura=1``, its thumbnail), for logged-in
    administrators only: the right type, never sniffed, never kept by a shared cache."""

    async def get(self, infraccion_id: str, evidencia_id: str) -> None:
        infraccion = await self.repos.infracciones.get(infraccion_id)
        entry = next((e for e in infraccion.evidencias if str(e["id"]) == evidencia_id), None)
        if entry is None:
            raise NotFound("Esa foto no está entre las evidencias de esta infracción.")
        thumbnail = self.get_query_argument("miniatura", "") == "1"
        data, _ = await self.repos.evidencias.get(entry["miniatura_id"] if thumbnail else entry["id"])
        self.set_header("Content-Type", "image/jpeg" if thumbnail else entry["tipo"])
        self.set_header("Cache-Control", "private, no-store")  # personal data: not kept after the page, nor after logout
        self.set_header("Content-Disposition", f'inline; filename="evidencia-{entry["sha256"][:16]}"')
        self.finish(data)


class ReplaceHandler(SectionHandler):
    """Annul an infraction recorded wrongly and record its correction in its place."""

    def _render(self, form: ReplaceForm, infraccion: Infraccion, *, status: int = 200) -> None:
        self.set_status(status)
        self.render(
            "form.html", form=form, title=f"Corregir la infracción {self.section.label(infraccion)}",
            action=self.section.url(infraccion.id, "reemplazar"), cancel=self.section.url(infraccion.id), error=None,
        )

    async def get(self, infraccion_id: str) -> None:
        infraccion = await self.repos.infracciones.get(infraccion_id)
        form = ReplaceForm(
            data={
                "desde": infraccion.estado, "placa_patente": infraccion.placa_patente, "timestamp": self.form_time(infraccion.timestamp),
                "comentarios": infraccion.comentarios,
            }
        )
        self._render(form, infraccion)

    async def post(self, infraccion_id: str) -> None:
        infraccion = await self.repos.infracciones.get(infraccion_id)
        form = ReplaceForm.from_request(self)
        if form.validate():
            when = self.from_form_time(form.timestamp.data)
            if when > self.clock.now() + rules.MAX_FUTURE:
                form.timestamp.errors = ["La fecha y hora está en el futuro."]
            else:
                try:
                    replacement = await self.repos.infracciones.replace(
                        infraccion.id, desde=form.desde.data, motivo=form.motivo.data, placa_patente=form.placa_patente.data,
                        timestamp=when, comentarios=form.comentarios.data or "",
                    )
                except DomainError as refusal:
                    field = getattr(form, refusal.field or "", None)
                    (field.errors if field is not None else form.form_errors).append(refusal.message)  # type: ignore[union-attr]
                else:
                    self.flash(f"Se anuló la infracción y se registró su corrección {self.section.label(replacement)}.")
                    self.redirect(self.section.url(replacement.id))
                    return
        self._render(form, infraccion, status=400)


default_handlers = [
    (r"/admin/infracciones/?", ListHandler, {"section": Infracciones}),
    (r"/admin/infracciones/exportar", ExportHandler, {"section": Infracciones}),
    (r"/admin/infracciones/([^/]+)", DetailHandler, {"section": Infracciones}),
    (r"/admin/infracciones/([^/]+)/estado", TransitionHandler, {"section": Infracciones}),
    (r"/admin/infracciones/([^/]+)/reemplazar", ReplaceHandler, {"section": Infracciones}),
    (r"/admin/infracciones/([^/]+)/historial", HistoryHandler, {"section": Infracciones}),
    (r"/admin/infracciones/([^/]+)/evidencias/([^/]+)", EvidenceHandler, {"section": Infracciones}),
]
