"""Admin pages for vehículos. The owner is chosen by e-mail (it scales to any number of
personas, unlike a select); the form can be pre-filled from a persona's page."""

from __future__ import annotations

from typing import Any

from handlers.admin.crud import Entity
from handlers.base import BaseHandler
from handlers.forms import SpanishForm, VehiculoForm
from repositories.errors import MissingReference, NotFound
from repositories.base import Page
from repositories.vehiculos import Vehiculo


async def to_fields(handler: BaseHandler, form: SpanishForm) -> dict[str, Any]:
    try:
        owner = await handler.repos.personas.get_by_email(form.propietario.data)
    except NotFound:
        raise MissingReference(
            "No existe una persona con ese correo. Regístrela primero en Personas.", field="propietario"
        ) from None
    return {
        "placa_patente": form.placa_patente.data,
        "marca": form.marca.data,
        "color": form.color.data,
        "persona_id": owner.id,
    }


async def to_form_data(handler: BaseHandler, vehiculo: Vehiculo) -> dict[str, Any]:
    owner = await handler.repos.personas.get(vehiculo.persona_id)
    return {
        "placa_patente": vehiculo.placa_patente,
        "marca": vehiculo.marca,
        "color": vehiculo.color,
        "propietario": owner.correo,
    }


async def new_form_data(handler: BaseHandler) -> dict[str, Any]:
    """``/admin/vehiculos/nuevo?persona=<id>`` starts with that persona as the owner."""
    persona_id = handler.get_query_argument("persona", "")
    if not persona_id:
        return {}
    try:
        return {"propietario": (await handler.repos.personas.get(persona_id)).correo}
    except NotFound:
        return {}


async def list_context(handler: BaseHandler, page: Page[Vehiculo]) -> dict[str, Any]:
    return {"owners": await handler.repos.personas.get_many([v.persona_id for v in page.items])}


async def detail_context(handler: BaseHandler, vehiculo: Vehiculo) -> dict[str, Any]:
    return {"propietario": await handler.repos.personas.get(vehiculo.persona_id)}


ENTITY = Entity(
    slug="vehiculos",
    singular="el vehículo",
    plural="Vehículos",
    new_title="Nuevo vehículo",
    form=VehiculoForm,
    repository=lambda repos: repos.vehiculos,
    label=lambda vehiculo: vehiculo.placa_patente,
    to_fields=to_fields,
    to_form_data=to_form_data,
    detail_context=detail_context,
    new_form_data=new_form_data,
    list_context=list_context,
)
