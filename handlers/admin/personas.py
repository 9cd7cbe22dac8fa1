"""Admin pages for personas, the owner picker's suggestions, and deleting several at once."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from domain import rules
from domain.errors import NotFound, StillReferenced
from handlers.admin.auditoria import HistoryHandler
from handlers.admin.crud import DeleteHandler, DetailHandler, EditHandler, ListHandler, NewHandler, Respelled, Section, SectionHandler
from handlers.base import BaseHandler
from handlers.filters import PersonaListForm
from handlers.forms import PersonaForm
from handlers.headers import safe_next
from repositories.personas import Persona, PersonaRepository

# Where the new-persona form may send the administrator back to (a vehicle form left half-typed).
RETURN_PREFIX = "/admin/vehiculos/"


def return_path(raw: str | None) -> str | None:
    """A safe ``volver`` (a vehicle form of this admin), or None."""
    path = safe_next(raw, default="")
    return path if path.startswith(RETURN_PREFIX) else None


class Personas(Section[Persona]):
    slug = "personas"
    title = "Personas"
    the_one = "la persona"
    of_the_one = "de la persona"
    new_title = "Nueva persona"
    form = PersonaForm
    list_form = PersonaListForm

    @property
    def repository(self) -> PersonaRepository:
        return self.repos.personas

    def label(self, persona: Persona) -> str:
        return f"{persona.nombre} <{persona.correo}>"

    async def new_form_data(self, query: Mapping[str, str]) -> dict[str, Any]:
        """Pre-filled from a vehicle form's detour: what was typed in its owner field."""
        return {name: query[name][: rules.CORREO_MAX] for name in ("nombre", "correo") if query.get(name)}

    async def detail_context(self, persona: Persona) -> dict[str, Any]:
        return {
            "vehiculos": await self.repos.vehiculos.list_by_persona(persona.id),
            # as the owner at the time (who answers for them), newest first
            "infracciones": await self.repos.infracciones.latest_for("persona_id", persona.id),
            "infracciones_url": "/admin/infracciones/?" + urlencode({"correo": persona.correo}),
        }


class NewPersonaHandler(NewHandler):
    """The new-persona form, which may have been opened from a vehicle form (``volver``): then it
    goes back there, with the new persona as the owner and the vehicle's fields as they were typed."""

    def _back(self) -> str | None:
        return return_path(self.get_argument("volver", None))

    def _render(self, form: Any, status: int = 200, hidden: Mapping[str, str] | None = None) -> None:
        back = self._back()
        super()._render(form, status, hidden={"volver": back} if back else None)

    async def post(self) -> None:
        back = self._back()
        if back is None:
            await super().post()
            return
        form = self.section.form.from_request(self)
        record = await self.save(form, lambda fields: self.section.repository.create(**fields))
        if record is None:
            self._render(form, status=400)
            return
        self.flash(f"Se creó la persona {self.section.label(record)}. Siga con el vehículo: su correo ya está en «Correo del propietario».")
        self.redirect(back + ("&" if "?" in back else "?") + urlencode({"propietario": record.correo}), status=303)


class SuggestionsHandler(BaseHandler):
    """``GET /admin/personas/sugerencias?q=…``: the owner picker's choices, as JSON (the first
    personas by name whose name or e-mail has words beginning with what was typed; index-backed)."""

    async def get(self) -> None:
        q = self.get_query_argument("q", "")[:100]
        personas = await self.repos.personas.suggest(q)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps({"personas": [{"id": p.id, "nombre": p.nombre, "correo": p.correo} for p in personas]}))


class BulkDeleteHandler(SectionHandler):
    """Delete the personas selected on the list: a confirmation page first, which says which of them
    cannot be deleted and why; then each one that can is deleted (one audit entry each)."""

    async def post(self) -> None:
        selected = await self.repos.personas.get_some(self.get_body_arguments("ids")[:100])
        back = safe_next(self.get_body_argument("volver", ""), self.section.path)
        if not selected:
            self.flash("No seleccionó ninguna persona.", "error")
            self.redirect(back, status=303)
            return
        if self.get_body_argument("confirmar", "") != "1":
            refusals = {p.id: await self.repos.personas.delete_refusal(p.id) for p in selected}
            self.render("personas/bulk_delete.html", selected=selected, refusals=refusals, back=back)
            return
        deleted, refused = [], []
        for persona in selected:
            try:
                await self.repos.personas.delete(persona.id)
                deleted.append(persona)
            except (StillReferenced, NotFound) as refusal:
                refused.append(f"{persona.nombre}: {refusal.message}")
        message = f"Se {'borró' if len(deleted) == 1 else 'borraron'} {rules.plural(len(deleted), 'persona', 'personas')}."
        if refused:
            message += " No se borraron: " + " ".join(refused)
        self.flash(message, "ok" if not refused else "error")
        self.redirect(back, status=303)


default_handlers = [
    (r"/admin/personas/?", ListHandler, {"section": Personas}),
    (r"/admin/personas/nuevo", NewPersonaHandler, {"section": Personas}),
    (r"/admin/personas/nueva", Respelled, {"target": "/admin/personas/nuevo"}),
    (r"/admin/personas/sugerencias", SuggestionsHandler),
    (r"/admin/personas/borrar-seleccionadas", BulkDeleteHandler, {"section": Personas}),
    (r"/admin/personas/([^/]+)", DetailHandler, {"section": Personas}),
    (r"/admin/personas/([^/]+)/editar", EditHandler, {"section": Personas}),
    (r"/admin/personas/([^/]+)/borrar", DeleteHandler, {"section": Personas}),
    (r"/admin/personas/([^/]+)/historial", HistoryHandler, {"section": Personas}),
]
