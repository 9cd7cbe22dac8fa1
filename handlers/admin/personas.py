"""Admin pages for personas."""

from __future__ import annotations

from typing import Any

from handlers.admin.crud import Entity
from handlers.base import BaseHandler
from handlers.forms import PersonaForm
from repositories.personas import Persona


async def detail_context(handler: BaseHandler, persona: Persona) -> dict[str, Any]:
    return {"vehiculos": await handler.repos.vehiculos.list_by_persona(persona.id)}


ENTITY = Entity(
    slug="personas",
    singular="la persona",
    plural="Personas",
    new_title="Nueva persona",
    form=PersonaForm,
    repository=lambda repos: repos.personas,
    label=lambda persona: f"{persona.nombre} <{persona.correo}>",
    detail_context=detail_context,
    references_path="/admin/vehiculos/",
)
