"""``/admin/infracciones/exportar``: the filtered list as a CSV file, streamed.

Made for a spreadsheet set to Spanish (Chile): fields separated by semicolons (the list separator
where the comma is the decimal mark), UTF-8 with a byte-order mark (so accents open correctly),
CRLF line ends, times as ``dd-mm-aaaa hh:mm:ss`` in APP_TIMEZONE. A cell that a spreadsheet would
read as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) is
prefixed with an apostrophe (CSV injection). Rows are read through one cursor and written in
batches, each flushed to the client, so memory stays flat however many rows there are."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from domain import catalogo, lifecycle
from handlers.admin.crud import SectionHandler
from handlers.filters import InfraccionFiltersForm
from repositories.infracciones import InfraccionFilters

BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
COLUMNS = (
    "id", "fecha_hora_infraccion", "registrada_en", "estado", "placa_patente", "marca", "color",
    "propietario_nombre", "propietario_correo", "oficial_numero", "oficial_nombre", "codigo", "infraccion", "gravedad",
    "multa", "latitud", "longitud", "precision_m", "fotos", "comentarios", "reemplaza_a", "reemplazada_por",
)


def safe_cell(value: Any) -> str:
    """A cell's text, never a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def decimal_comma(value: Any) -> str:
    return str(value).replace(".", ",")


class FilteredInfracciones(SectionHandler):
    """A page of the infractions that the list's filters (the query string) select: the list and its export."""

    async def selection(self) -> tuple[InfraccionFiltersForm, InfraccionFilters] | None:
        """The valid filter form and what it selects; for invalid filters, the list with their
        messages (400) and None."""
        form = InfraccionFiltersForm.from_query(self)
        if not form.validate():
            self.set_status(400)
            self.render("infracciones/list.html", form=form, page=None, export_url=None)
            return None
        return form, await form.selection(self.repos, self.config.zone)


class ExportHandler(FilteredInfracciones):
    async def get(self) -> None:
        selected = await self.selection()
        if selected is None:
            return
        form, filters = selected
        stamp = self.clock.now().astimezone(self.config.zone).strftime("%Y%m%d-%H%M")
        self.set_header("Content-Type", "text/csv; charset=utf-8")
        self.set_header("Content-Disposition", f'attachment; filename="infracciones-{stamp}.csv"')
        self.write(BOM + self._lines([COLUMNS]))
        async for batch in self.repos.infracciones.export(filters, sort=form.sort):
            owners = await self.repos.personas.get_many([str(doc["persona_id"]) for doc in batch])
            self.write(self._lines(self._row(doc, owners) for doc in batch))
            await self.flush()
        self.finish()

    def _row(self, doc: dict[str, Any], owners: dict[str, Any]) -> list[str]:
        owner = owners.get(str(doc["persona_id"]))
        vehiculo, oficial, offence = doc.get("vehiculo", {}), doc.get("oficial", {}), doc.get("infraccion") or {}
        longitude, latitude = (doc["ubicacion"]["coordinates"] if doc.get("ubicacion") else ("", ""))
        severity = catalogo.SEVERITIES.get(offence.get("gravedad", ""))
        fine = offence.get("multa_utm")
        return [
            *(safe_cell(value) for value in (
                doc["_id"], self._local(doc["timestamp"]), self._local(doc["registrada_en"]),
                lifecycle.LABELS.get(doc.get("estado", ""), doc.get("estado")), doc["placa_patente"],
                vehiculo.get("marca"), vehiculo.get("color"), owner.nombre if owner else "", owner.correo if owner else "",
                oficial.get("numero"), oficial.get("nombre"), offence.get("codigo"), offence.get("descripcion"),
                severity.label if severity else "", catalogo.fine_label(fine["min"], fine["max"]) if fine else "",
            )),
            # Numbers the server wrote (never a formula), with the decimal comma of a Spanish spreadsheet.
            *(decimal_comma(value) for value in (latitude, longitude, doc.get("ubicacion", {}).get("precision_m", ""))),
            str(len(doc.get("evidencias", []))),
            *(safe_cell(value) for value in (doc.get("comentarios"), doc.get("reemplaza_a"), doc.get("reemplazada_por"))),
        ]

    def _local(self, value: dt.datetime) -> str:
        return value.astimezone(self.config.zone).strftime("%d-%m-%Y %H:%M:%S")

    @staticmethod
    def _lines(rows: Any) -> str:
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=";", lineterminator="\r\n").writerows(rows)
        return buffer.getvalue()
