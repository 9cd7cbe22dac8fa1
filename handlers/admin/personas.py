"""Admin pages for personas."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from handlers.admin.auditoria import HistoryHandler
from handlers.admin.crud import DeleteHandler, DetailHandler, EditHandler, ListHandler, NewHandler, Section
from handlers.forms import PersonaForm
from repositories.personas import Persona, PersonaRepository


class Personas(Section[Persona]):
    slug = "personas"
    title = "Personas"
    the_one = "la persona"
    of_the_one = "de la persona"
    new_title = "Nueva persona"
    form = PersonaForm
    references_path = "/admin/vehiculos/"

    @property
    def repository(self) -> PersonaRepository:
        return self.repos.personas

    def label(self, persona: Persona) -> str:
        return f"{persona.nombre} <{persona.correo}>"

    async def detail_context(self, persona: Persona) -> dict[str, Any]:
        return {
            "vehiculos": await self.repos.vehiculos.list_by_persona(persona.id),
            # as the owner at the time (who answers for them), newest first
            "infracciones": await self.repos.infracciones.latest_for("persona_id", persona.id),
            "infracciones_url": "/admin/infracciones/?" + urlencode({"correo": persona.correo}),
        }


default_handlers = [
    (r"/admin/personas/?", ListHandler, {"section": Personas}),
    (r"/admin/personas/nuevo", NewHandler, {"section": Personas}),
    (r"/admin/personas/([^/]+)", DetailHandler, {"section": Personas}),
    (r"/admin/personas/([^/]+)/editar", EditHandler, {"section": Personas}),
    (r"/admin/personas/([^/]+)/borrar", DeleteHandler, {"section": Personas}),
    (r"/admin/personas/([^/]+)/historial", HistoryHandler, {"section": Personas}),
]
