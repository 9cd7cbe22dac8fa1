"""The filter forms of the admin's lists (GET forms: their values are in the query string, so a
filtered page can be bookmarked, shared and exported), and the paging arguments every list reads."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

from wtforms import DateField, IntegerField, SelectField, StringField
from wtforms.validators import Length, NumberRange, Optional, ValidationError

from domain import audit, catalogo, lifecycle, rules
from handlers.forms import SpanishForm, email, plain_text, plate, upper_text
from repositories.auditoria import SORTS as AUDIT_SORTS
from repositories import Repositories
from repositories.infracciones import SORTS as INFRACTION_SORTS
from repositories.infracciones import InfraccionFilters
from repositories.listing import ListSpec
from repositories.oficiales import LIST as OFFICER_LIST
from repositories.personas import LIST as PERSONA_LIST
from repositories.vehiculos import LIST as VEHICLE_LIST

PAGE_SIZES = {"20": "20 por página", "50": "50 por página", "100": "100 por página"}
INFRACTION_SORT_LABELS = {
    "infraccion_desc": "Fecha de la infracción, más recientes primero",
    "infraccion_asc": "Fecha de la infracción, más antiguas primero",
    "registro_desc": "Fecha de registro, más recientes primero",
    "registro_asc": "Fecha de registro, más antiguas primero",
}
AUDIT_SORT_LABELS = {"recientes": "Más recientes primero", "antiguos": "Más antiguos primero"}
COLLECTION_LABELS = {
    "personas": "Personas",
    "vehiculos": "Vehículos",
    "oficiales": "Oficiales",
    "infracciones": "Infracciones",
    "tokens": "Tokens",
    "admins": "Administradores",
    "sesiones": "Sesiones",
    "catalogo": "Catálogo",
}
OPTIONAL = Optional()


def _upper_plate(value: Any) -> Any:
    return rules.normalize_plate(value) if isinstance(value, str) else value


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


class DateRange:
    """``hasta`` may not come before ``desde``."""

    def validate_hasta(self, field: Any) -> None:
        desde = self.desde.data  # type: ignore[attr-defined]
        if field.data and desde and field.data < desde:
            raise ValidationError("Debe ser igual o posterior a la fecha «desde».")


def page_size_field() -> SelectField:
    """How many rows a page shows (declared last in each form, so it is shown last)."""
    return SelectField("Resultados", choices=PAGE_SIZES, default="20", validate_choice=False)


class ListForm(SpanishForm):
    por_pagina: SelectField

    @property
    def per_page(self) -> int:
        return int(self.por_pagina.data) if self.por_pagina.data in PAGE_SIZES else 20


class InfraccionFiltersForm(DateRange, ListForm):
    placa = StringField("Placa patente", [OPTIONAL, plain_text, plate], filters=[_upper_plate])
    oficial = IntegerField("N° de oficial", [OPTIONAL, NumberRange(min=1, max=rules.MAX_BADGE_NUMBER, message=rules.BADGE_MESSAGE)])
    correo = StringField("Correo del propietario", [OPTIONAL, Length(max=rules.CORREO_MAX), email], filters=[_strip])
    estado = SelectField("Estado", choices={"": "Todos", **lifecycle.LABELS}, default="")
    codigo = StringField("Código de infracción", [OPTIONAL, Length(max=20), plain_text], filters=[upper_text])
    gravedad = SelectField("Gravedad", choices={"": "Todas", **{k: s.label for k, s in catalogo.SEVERITIES.items()}}, default="")
    desde = DateField("Desde", [OPTIONAL])
    hasta = DateField("Hasta", [OPTIONAL])
    orden = SelectField("Orden", choices=INFRACTION_SORT_LABELS, default="infraccion_desc")
    por_pagina = page_size_field()

    @property
    def sort(self) -> Any:
        return INFRACTION_SORTS.get(self.orden.data or "", INFRACTION_SORTS["infraccion_desc"])

    async def selection(self, repos: Repositories, zone: dt.tzinfo) -> InfraccionFilters:
        """The infractions this (valid) form selects; its dates are whole local days in ``zone``."""
        desde = rules.local_midnight(self.desde.data, zone) if self.desde.data else None
        hasta = rules.local_days(self.hasta.data, self.hasta.data, zone)[1] if self.hasta.data else None
        return await repos.infracciones.filters(
            placa=self.placa.data or "", correo=self.correo.data or "", numero=self.oficial.data,
            estado=self.estado.data or "", codigo=self.codigo.data or "", gravedad=self.gravedad.data or "",
            desde=desde, hasta=hasta,
        )


class AuditFiltersForm(DateRange, ListForm):
    actor = StringField("Actor", [OPTIONAL, Length(max=200), plain_text], filters=[_strip])
    accion = SelectField("Acción", choices={"": "Todas", **audit.ACTION_LABELS}, default="")
    coleccion = SelectField("Registro", choices={"": "Todos", **COLLECTION_LABELS}, default="")
    desde = DateField("Desde", [OPTIONAL])
    hasta = DateField("Hasta", [OPTIONAL])
    orden = SelectField("Orden", choices=AUDIT_SORT_LABELS, default="recientes")
    por_pagina = page_size_field()

    @property
    def sort(self) -> Any:
        return AUDIT_SORTS.get(self.orden.data or "", AUDIT_SORTS["recientes"])


class CatalogoFiltersForm(SpanishForm):
    q = StringField("Buscar", [OPTIONAL, Length(max=100), plain_text], filters=[_strip], description="Código, descripción o artículo.")
    gravedad = SelectField("Gravedad", choices={"": "Todas", **{k: s.label for k, s in catalogo.SEVERITIES.items()}}, default="")
    estado = SelectField("Estado", choices={"": "Todos", **catalogo.STATE_LABELS}, default="")

    def keeps(self, entry: catalogo.Entry) -> bool:
        return (
            (not self.q.data or entry.matches(self.q.data))
            and (not self.gravedad.data or entry.shown.gravedad == self.gravedad.data)
            and (not self.estado.data or entry.state == self.estado.data)
        )
# -- the record lists: personas, vehículos, oficiales --------------------------------------------
def sort_labels(spec: ListSpec, labels: dict[str, tuple[str, str, str]]) -> dict[str, str]:
    """The "Orden" choices of a list: each column both ways, named as a person reads them."""
    out = {}
    for column in spec.columns:
        name, ascending, descending = labels[column.name]
        out[f"{column.name}_asc"] = f"{name}, {ascending}"
        out[f"{column.name}_desc"] = f"{name}, {descending}"
    return out


PERSONA_SORT_LABELS = sort_labels(PERSONA_LIST, {"nombre": ("Nombre", "A a Z", "Z a A"), "correo": ("Correo", "A a Z", "Z a A")})
VEHICLE_SORT_LABELS = sort_labels(
    VEHICLE_LIST,
    {
        "placa": ("Placa patente", "A a Z", "Z a A"),
        "marca": ("Marca", "A a Z", "Z a A"),
    },
)
OFFICER_SORT_LABELS = sort_labels(
    OFFICER_LIST,
    {
        "numero": ("Número", "menor primero", "mayor primero"),
        "nombre": ("Nombre", "A a Z", "Z a A"),
    },
)
OFFICER_STATES = {"": "Todos", "activos": "Activos", "inactivos": "Inactivos"}


def search_field(placeholder: str) -> StringField:
    return StringField(
        "Buscar", [OPTIONAL, Length(max=100), plain_text], filters=[_strip],
        render_kw={"type": "search", "placeholder": placeholder, "autocomplete": "off"},
    )


class RecordListForm(ListForm):
    """A record list's search, filters, order and page size (a GET form). ``spec`` is the list's
    ``ListSpec``: its columns are the orders, each both ways."""

    spec: ListSpec
    q: StringField
    orden: SelectField

    @property
    def sort(self) -> Any:
        return self.spec.sort(self.orden.data)

    @property
    def searching(self) -> bool:
        return bool(self.q.data) or any(f.data for f in self if f.name not in ("q", "orden", "por_pagina"))


class PersonaListForm(RecordListForm):
    spec = PERSONA_LIST
    q = search_field("Nombre o correo")
    orden = SelectField("Orden", choices=PERSONA_SORT_LABELS, default=PERSONA_LIST.default)
    por_pagina = page_size_field()


class VehiculoListForm(RecordListForm):
    spec = VEHICLE_LIST
    q = search_field("Placa, marca, color o propietario")
    marca = StringField(
        "Marca", [OPTIONAL, Length(max=rules.MARCA_MAX), plain_text], filters=[_strip], render_kw={"placeholder": "Por ejemplo, Toyota"}
    )
    orden = SelectField("Orden", choices=VEHICLE_SORT_LABELS, default=VEHICLE_LIST.default)
    por_pagina = page_size_field()


class OficialListForm(RecordListForm):
    spec = OFFICER_LIST
    q = search_field("Nombre o número")
    estado = SelectField("Estado", choices=OFFICER_STATES, default="")
    orden = SelectField("Orden", choices=OFFICER_SORT_LABELS, default=OFFICER_LIST.default)
    por_pagina = page_size_field()

    @property
    def activo(self) -> bool | None:
        return {"activos": True, "inactivos": False}.get(self.estado.data or "")


@dataclasses.dataclass(frozen=True)
class SortHeader:
    """A sortable column's header: where its link goes, and how it is sorted now (for aria-sort)."""

    href: str
    aria_sort: str | None  # "ascending" / "descending" on the column the list is sorted by
    next_label: str  # what following the link does, for screen readers

def sort_header(form: RecordListForm, column: str, query_with: Callable[..., str], *, first: str = "asc") -> SortHeader:
    """A column header's link (``query_with``: the page's query string with changes): the other
    direction of the column the list is sorted by, or this column (in its natural first direction:
    A to Z, or most infractions first)."""
    current = form.sort
    active = current.key in (f"{column}_asc", f"{column}_desc")
    target = f"{column}_{'asc' if current.descending else 'desc'}" if active else f"{column}_{first}"
    aria = ("descending" if current.descending else "ascending") if active else None
    label = "ordenar de menor a mayor" if target.endswith("_asc") else "ordenar de mayor a menor"
    return SortHeader(query_with(orden=target, pagina=None, page=None, cursor=None), aria, label)
