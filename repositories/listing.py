"""The admin's lists of personas, vehículos and oficiales: sorted on any of a few columns, filtered,
searched, and keyset-paged (``repositories.paging``), every query hinted to an index made for it.

A ``ListSpec`` names a collection's sortable columns and its equality filters; from them it declares
the indexes its lists need and picks one for each query:

- no filter: ``lista_<column>`` on (column, _id) (or the collection's own unique index on the column);
- a filter: ``<filter>_<column>`` on (filter field, column, _id);
- a search: ``busqueda_<column>`` on (busqueda, column, _id). ``busqueda`` is a multikey array of the
  record's folded word prefixes (``domain.rules.search_terms``), so a search is an equality match on
  the folded words typed, read from the index, never a regex over every record. The other filters
  are checked on the rows that index yields, as in the Infracciones list.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, TypeVar

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.cursor import AsyncCursor

from domain import rules
from repositories.paging import Cursor, KeysetPage, Sort, fetch_page, row_key

SEARCH_FIELD = "busqueda"
T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Column:
    """A sortable column: its name in URLs and index names, its stored field and the type of its values."""

    name: str
    field: str
    kind: type
    unique_index: str | None = None  # the collection's unique index on the field, which serves its order


@dataclasses.dataclass(frozen=True)
class ListSpec:
    columns: tuple[Column, ...]
    filters: dict[str, str]  # filter name -> stored field (equality)
    default: str  # the default sort key, e.g. "nombre_asc"

    @property
    def sorts(self) -> dict[str, Sort]:
        out = {}
        for column in self.columns:
            for suffix, descending in (("asc", False), ("desc", True)):
                out[f"{column.name}_{suffix}"] = Sort(f"{column.name}_{suffix}", column.field, descending, column.kind)
        return out

    def sort(self, key: str | None) -> Sort:
        sorts = self.sorts
        return sorts.get(key or "", sorts[self.default])

    def _column(self, sort: Sort) -> Column:
        return next(c for c in self.columns if c.field == sort.field)

    def indexes(self) -> list[IndexModel]:
        models = []
        for column in self.columns:
            if column.unique_index is None:
                models.append(IndexModel([(column.field, ASCENDING), ("_id", ASCENDING)], name=f"lista_{column.name}"))
            for prefix, field in ((SEARCH_FIELD, SEARCH_FIELD), *self.filters.items()):
                models.append(
                    IndexModel([(field, ASCENDING), (column.field, ASCENDING), ("_id", ASCENDING)], name=f"{prefix}_{column.name}")
                )
        return models

    def plan(self, sort: Sort, *, terms: list[str], filters: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """The query for a search and filters (equality on their stored fields), and its index."""
        column = self._column(sort)
        query: dict[str, Any] = {}
        index = column.unique_index or f"lista_{column.name}"
        for name, field in reversed(self.filters.items()):  # the first filter given names the index
            if name in filters and filters[name] is not None:
                query[field] = filters[name]
                index = f"{name}_{column.name}"
        if terms:
            query[SEARCH_FIELD] = terms[0] if len(terms) == 1 else {"$all": terms}
            index = f"{SEARCH_FIELD}_{column.name}"
        return query, index

    def without_terms(self, collection: AsyncCollection, projection: dict[str, int] | None = None) -> AsyncCursor:
        """The records written before search terms existed (for a migration that gives them theirs),
        found through a search index, which holds a missing field as null."""
        return collection.find({SEARCH_FIELD: None}, projection, hint=f"{SEARCH_FIELD}_{self.columns[0].name}")


async def list_page(
    collection: AsyncCollection,
    spec: ListSpec,
    *,
    sort: Sort,
    terms: list[str] = (),  # type: ignore[assignment]
    filters: dict[str, Any] | None = None,
    per_page: int = 20,
    page: int = 1,
    cursor: Cursor | None = None,
) -> KeysetPage[dict[str, Any]]:
    """One page of raw documents (the repository makes them records)."""
    query, index = spec.plan(sort, terms=list(terms), filters=filters or {})
    total = await collection.count_documents(query, hint=index) if query else await collection.estimated_document_count()
    docs, number = await fetch_page(collection, query=query, sort=sort, per_page=per_page, total=total, page=page, cursor=cursor, hint=index)
    first = row_key(docs[0], sort) if docs else None
    last = row_key(docs[-1], sort) if docs else None
    return KeysetPage(docs, total, number, per_page, sort, first, last)


async def list_records(
    collection: AsyncCollection,
    spec: ListSpec,
    make: Callable[[dict[str, Any]], T],
    *,
    q: str,
    sort: Sort | None,
    filters: dict[str, Any] | None = None,
    per_page: int,
    page: int,
    cursor: Cursor | None,
) -> KeysetPage[T]:
    """One page of records (``make`` makes one of a document): those with words beginning with every
    word of ``q`` (``domain.rules.query_terms``) and ``filters``, in ``sort`` (None: the default)."""
    docs = await list_page(
        collection, spec, sort=sort or spec.sort(None), terms=rules.query_terms(q), filters=filters,
        per_page=per_page, page=page, cursor=cursor,
    )
    return dataclasses.replace(docs, items=[make(doc) for doc in docs.items])
