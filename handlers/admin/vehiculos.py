"""Admin pages for vehículos. The owner is a persona's e-mail (it scales to any number of
personas, unlike a select): without JavaScript the field takes the address; with it, the owner
picker (``static/owner-picker.js``) finds her by name or e-mail as one types. A missing owner is
registered without losing the vehicle form: "Registrar a una persona nueva" carries what was typed
to the new-persona form, which comes back here with her as the owner."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from domain import rules
from domain.errors import InvalidValue, MissingReference, NotFound
from handlers.admin.auditoria import HistoryHandler
from handlers.admin.crud import DeleteHandler, DetailHandler, EditHandler, ListHandler, NewHandler, Respelled, Section
from handlers.filters import VehiculoListForm
from handlers.forms import SpanishForm, VehiculoForm
from repositories.paging import Cursor, KeysetPage
from repositories.vehiculos import Vehiculo, VehiculoRepository

NEW_OWNER = "nueva_persona"
TYPED_FIELDS = ("placa_patente", "marca", "color")
MISSING_OWNER = "No existe una persona con ese correo. Revise lo escrito o regístrela con el botón «Registrar a una persona nueva»."


class Vehiculos(Section[Vehiculo]):
    slug = "vehiculos"
    title = "Vehículos"
    the_one = "el vehículo"
    of_the_one = "del vehículo"
    new_title = "Nuevo vehículo"
    form = VehiculoForm
    list_form = VehiculoListForm
    form_actions = ((NEW_OWNER, "Registrar a una persona nueva"),)

    @property
    def repository(self) -> VehiculoRepository:
        return self.repos.vehiculos

    def label(self, vehiculo: Vehiculo) -> str:
        return vehiculo.placa_patente

    async def fields(self, form: SpanishForm) -> dict[str, Any]:
        try:
            owner = await self.repos.personas.get_by_email(form.propietario.data)
        except NotFound:
            raise MissingReference(MISSING_OWNER, field="propietario") from None
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

    def prefill(self, query: Mapping[str, str]) -> dict[str, Any]:
        """The fields a detour carried (``?placa_patente=…&marca=…&color=…&propietario=…``)."""
        return {name: query[name][:rules.CORREO_MAX] for name in (*TYPED_FIELDS, "propietario") if query.get(name)}

    async def new_form_data(self, query: Mapping[str, str]) -> dict[str, Any]:
        """``/admin/vehiculos/nuevo?persona=<id>`` starts with that persona as the owner; the fields
        may also come back from the new-persona form."""
        data = self.prefill(query)
        persona_id = query.get("persona", "")
        if persona_id:
            try:
                data["propietario"] = (await self.repos.personas.get(persona_id)).correo
            except NotFound:
                pass
        return data

    async def detour(self, action: str, form: SpanishForm, back: str) -> str | None:
        """"Registrar a una persona nueva": to the new-persona form, with what was typed in the owner
        field (as her e-mail if it is one, else as her name), and the way back with the vehicle's fields."""
        if action != NEW_OWNER:
            return None
        typed = (form.propietario.data or "").strip()
        try:
            start = {"correo": rules.normalize_email(typed)} if "@" in typed else {"nombre": typed} if typed else {}
        except InvalidValue:
            start = {}
        carried = {name: (getattr(form, name).data or "")[:rules.CORREO_MAX] for name in TYPED_FIELDS}
        back_url = back + "?" + urlencode({k: v for k, v in carried.items() if v})
        return "/admin/personas/nuevo?" + urlencode({**start, "volver": back_url})

    async def search(self, form: Any, *, page: int, cursor: Cursor | None) -> KeysetPage[Vehiculo]:
        return await self.repos.vehiculos.search(
            q=form.q.data or "", marca=form.marca.data or "", sort=form.sort, per_page=form.per_page, page=page, cursor=cursor
        )

    async def list_context(self, page: KeysetPage[Vehiculo] | None) -> dict[str, Any]:
        items = page.items if page else []
        return {"owners": await self.repos.personas.get_many([v.persona_id for v in items])}

    async def detail_context(self, vehiculo: Vehiculo) -> dict[str, Any]:
        return {
            "propietario": await self.repos.personas.get(vehiculo.persona_id),
            "infracciones": await self.repos.infracciones.latest_for("vehiculo_id", vehiculo.id),
            "infracciones_url": "/admin/infracciones/?" + urlencode({"placa": vehiculo.placa_patente}),
        }


default_handlers = [
    (r"/admin/vehiculos/?", ListHandler, {"section": Vehiculos}),
    (r"/admin/vehiculos/nuevo", NewHandler, {"section": Vehiculos}),
    (r"/admin/vehiculos/nueva", Respelled, {"target": "/admin/vehiculos/nuevo"}),
    (r"/admin/vehiculos/([^/]+)", DetailHandler, {"section": Vehiculos}),
    (r"/admin/vehiculos/([^/]+)/editar", EditHandler, {"section": Vehiculos}),
    (r"/admin/vehiculos/([^/]+)/borrar", DeleteHandler, {"section": Vehiculos}),
    (r"/admin/vehiculos/([^/]+)/historial", HistoryHandler, {"section": Vehiculos}),
]
