"""The audit trail in the admin: the Auditoría page (every entry, filtered and paged) and each
record's Historial (its own entries; ``HistoryHandler`` serves every section)."""

from __future__ import annotations

from typing import Any

from domain import audit, rules
from handlers.admin.crud import SectionHandler
from handlers.base import BaseHandler
from handlers.filters import COLLECTION_LABELS, AuditFiltersForm
from repositories.auditoria import AuditFilters
from repositories.paging import Cursor


class AuditListHandler(BaseHandler):
    async def get(self) -> None:
        form = AuditFiltersForm.from_query(self)
        if not form.validate():
            self.set_status(400)
            self.render("auditoria/list.html", form=form, page=None, **self._labels())
            return
        zone = self.config.zone
        filters = AuditFilters(
            actor=form.actor.data or "",
            accion=form.accion.data or "",
            coleccion=form.coleccion.data or "",
            desde=rules.local_midnight(form.desde.data, zone) if form.desde.data else None,
            hasta=rules.local_days(form.hasta.data, form.hasta.data, zone)[1] if form.hasta.data else None,
        )
        cursor = Cursor.decode(self.get_query_argument("cursor", ""), form.sort, form.per_page)
        page = await self.repos.auditoria.search(filters, sort=form.sort, per_page=form.per_page, page=self.page_argument(), cursor=cursor)
        self.render("auditoria/list.html", form=form, page=page, **self._labels())

    def _labels(self) -> dict[str, Any]:
        return {"actions": audit.ACTION_LABELS, "collections": COLLECTION_LABELS, "zone": self.config.zone}


class HistoryHandler(SectionHandler):
    """``/admin/<section>/<id>/historial``: what was done to one record, by whom and when."""

    async def get(self, record_id: str) -> None:
        record = await self.section.repository.get(record_id)
        entries = await self.section.history(record)
        self.render(
            "historial.html", record=record, label=self.section.label(record), entries=entries,
            actions=audit.ACTION_LABELS, zone=self.config.zone,
        )


default_handlers = [
    (r"/admin/auditoria/?", AuditListHandler),
]
