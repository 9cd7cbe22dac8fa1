"""Admin pages for vehículos. The owner is chosen by e-mail (it scales to any number of
personas, unlike a select); the form can be pre-filled from a persona's page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from domain.errors import MissingReference, NotFound
from handlers.admin.auditoria import HistoryHandler
from handlers.admin.crud import DeleteHandler, DetailHandler, EditHandler, ListHandler, NewHandler, Section
from handlers.forms import SpanishForm, VehiculoForm
from repositories.base import Page
from repositories.vehiculos import Vehiculo, VehiculoRepository


class Vehiculos(Section[Vehiculo]):
    slug = "vehiculos"
    title = "Vehículos"
    the_one = "el vehículo"
    of_the_one = "del vehículo"
    new_title = "Nuevo vehículo"
    form = VehiculoForm

    @property
    def repository(self) -> VehiculoRepository:
        return self.repos.vehiculos

    def label(self, vehiculo: Vehiculo) -> str:
        return vehiculo.placa_patente

    async def fields(self, form: SpanishForm) -> dict[str, Any]:
        try:
            owner = await self.repos.personas.get_by_email(form.propietario.data)
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

    async def form_data(self, vehiculo: Vehiculo) -> dict[str, Any]:
        owner = await self.repos.personas.get(vehiculo.persona_id)
        return {
            "placa_patente": vehiculo.placa_patente,
            "marca": vehiculo.marca,
            "color": vehiculo.color,
            "propietario": owner.correo,
        }

    async def new_form_data(self, query: Mapping[str, str]) -> dict[str, Any]:
        """``/admin/vehiculos/nuevo?persona=<id>`` starts with that persona as the owner."""
        persona_id = query.get("persona", "")
        if not persona_id:
            return {}
        try:
            return {"propietario": (await self.repos.personas.get(persona_id)).correo}
        except NotFound:
            return {}

    async def list_context(self, page: Page[Vehiculo]) -> dict[str, Any]:
        return {"owners": await self.repos.personas.get_many([v.persona_id for v in page.items])}

    async def detail_context(self, vehiculo: Vehiculo) -> dict[str, Any]:
        return {
            "propietario": await self.repos.personas.get(vehiculo.persona_id),
            "infracciones": await self.repos.infracciones.latest_for("vehiculo_id", vehiculo.id),
            "infracciones_url": "/admin/infracciones/?" + urlencode({"placa": vehiculo.placa_patente}),
        }


default_handlers = [
    (r"/admin/vehiculos/?", ListHandler, {"section": Vehiculos}),
    (r"/admin/vehiculos/nuevo", NewHandler, {"section": Vehiculos}),
    (r"/admin/vehiculos/([^/]+)", DetailHandler, {"section": Vehiculos}),
    (r"/admin/vehiculos/([^/]+)/editar", EditHandler, {"section": Vehiculos}),
    (r"/admin/vehiculos/([^/]+)/borrar", DeleteHandler, {"section": Vehiculos}),
    (r"/admin/vehiculos/([^/]+)/historial", HistoryHandler, {"section": Vehiculos}),
]
