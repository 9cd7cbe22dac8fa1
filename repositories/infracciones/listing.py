"""Finding infractions for the admin: the filtered, sorted, keyset-paged list, the CSV export of
the same selection, and a record's latest infractions.

Every query is backed by one of the collection's list indexes (``schema.INDEXES``): the one of the
filter that narrows the list most (plate, then owner, then officer, then status) paired with the
order; the other filters are checked on the rows that index yields. The date range is on the
infraction's time, so with the infraction-time order it is part of the index range too."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING, Any, AsyncIterator

from bson import ObjectId

from repositories.infracciones.schema import LIST_FILTERS, Infraccion
from repositories.paging import Cursor, KeysetPage, Sort, fetch_page, index_order, row_key

if TYPE_CHECKING:
    from pymongo.asynchronous.collection import AsyncCollection

SORTS = {
    sort.key: sort
    for sort in (
        Sort("infraccion_desc", "timestamp", True, dt.datetime),
        Sort("infraccion_asc", "timestamp", False, dt.datetime),
        Sort("registro_desc", "registrada_en", True, dt.datetime),
        Sort("registro_asc", "registrada_en", False, dt.datetime),
    )
}
DEFAULT_SORT = SORTS["infraccion_desc"]
EXPORT_BATCH = 1000


@dataclasses.dataclass(frozen=True)
class InfraccionFilters:
    """A selection of infractions; ``none`` when a filter names something that does not exist.
    Each equality filter is named as in ``LIST_FILTERS``."""

    placa: str = ""
    persona: ObjectId | None = None
    oficial: ObjectId | None = None
    codigo: str = ""
    estado: str = ""
    gravedad: str = ""
    desde: dt.datetime | None = None  # the infraction's time, inclusive, UTC
    hasta: dt.datetime | None = None  # exclusive
    none: bool = False

    def query(self) -> dict[str, Any]:
        query: dict[str, Any] = {}
        for name, field in LIST_FILTERS.items():
            value = getattr(self, name)
            if value:
                query[field] = value
        if self.desde or self.hasta:
            query["timestamp"] = {op: value for op, value in (("$gte", self.desde), ("$lt", self.hasta)) if value is not None}
        if self.none:
            query["_id"] = {"$in": []}
        return query

    def index(self, sort: Sort) -> str:
        """The list index for this selection in this order."""
        order = "infraccion" if sort.field == "timestamp" else "registro"
        for name in LIST_FILTERS:
            if getattr(self, name):
                return f"{name}_{order}"
        return f"lista_{order}"


class ListingMixin:
    collection: AsyncCollection

    async def search(
        self, filters: InfraccionFilters, *, sort: Sort = DEFAULT_SORT, per_page: int = 20, page: int = 1, cursor: Cursor | None = None
    ) -> KeysetPage[Infraccion]:
        query, index = filters.query(), filters.index(sort)
        if query:
            total = await self.collection.count_documents(query, hint=index)
        else:
            total = await self.collection.estimated_document_count()
        docs, number = await fetch_page(
            self.collection, query=query, sort=sort, per_page=per_page, total=total, page=page, cursor=cursor, hint=index
        )
        first = row_key(docs[0], sort) if docs else None
        last = row_key(docs[-1], sort) if docs else None
        return KeysetPage([Infraccion.from_doc(doc) for doc in docs], total, number, per_page, sort, first, last)

    async def export(self, filters: InfraccionFilters, *, sort: Sort = DEFAULT_SORT) -> AsyncIterator[list[dict[str, Any]]]:
        """The whole selection in batches of raw documents, read through one cursor (memory stays
        flat however many rows there are)."""
        cursor = self.collection.find(filters.query(), sort=index_order(sort), hint=filters.index(sort), batch_size=EXPORT_BATCH)
        batch: list[dict[str, Any]] = []
        async for doc in cursor:
            batch.append(doc)
            if len(batch) == EXPORT_BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    async def latest_for(self, field: str, value: str | ObjectId, *, limit: int = 10) -> list[Infraccion]:
        """The latest infractions (by their time) of a vehicle, an owner at the time, an officer, or
        an offence code."""
        indexes = {
            "vehiculo_id": "vehiculo_timestamp", "persona_id": "persona_infraccion", "oficial_id": "oficial_infraccion",
            "infraccion.codigo": "codigo_infraccion",
        }
        cursor = self.collection.find(
            {field: ObjectId(value) if field.endswith("_id") else value}, sort=[("timestamp", -1), ("_id", -1)], limit=limit,
            hint=indexes[field],
        )
        return [Infraccion.from_doc(doc) async for doc in cursor]
