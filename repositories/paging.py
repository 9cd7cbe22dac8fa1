"""Numbered pages that cost the same on page 1 and page 500 (keyset pagination).

A list is sorted on one field plus ``_id`` (so the order is total), backed by an index on
(equality filter fields…, sort field, _id) that every query of the list is hinted to. A page is
fetched from a ``Cursor``: the row it starts
after (or before), and at most a couple of whole pages to skip, so a page costs an index seek plus
the rows it shows, wherever it is. Links reach the first page, the last one (the first page of the
reversed order), and the pages near the current one; a page number typed by hand without a
cursor falls back to skipping from the nearer end. Page numbers are clamped to the pages that exist.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import math
from typing import Any, Generic, Literal, TypeVar

from bson import ObjectId, json_util
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection

T = TypeVar("T")
NEAR = 2  # pages linked on each side of the current one


@dataclasses.dataclass(frozen=True)
class Sort:
    """An order: a stored field (with ``_id`` to break ties) and its direction. ``key`` is the name
    in URLs; ``kind`` the type its values have (a cursor of another type is ignored)."""

    key: str
    field: str
    descending: bool
    kind: type


@dataclasses.dataclass(frozen=True)
class Cursor:
    direction: Literal["after", "before", "last"]
    sort: str  # Sort.key it belongs to
    value: Any = None
    id: ObjectId | None = None
    skip: int = 0

    def encode(self) -> str:
        data = {"d": self.direction, "o": self.sort, "v": self.value, "i": self.id, "s": self.skip}
        return base64.urlsafe_b64encode(json_util.dumps(data).encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, raw: str, sort: Sort, per_page: int) -> Cursor | None:
        """The cursor in a URL, or None when it is malformed or belongs to another order."""
        try:
            data = json_util.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
            cursor = cls(data["d"], data["o"], data.get("v"), data.get("i"), int(data.get("s", 0)))
        except (ValueError, TypeError, KeyError, AttributeError):
            return None
        if cursor.sort != sort.key or cursor.direction not in ("after", "before", "last"):
            return None
        if cursor.direction != "last" and not (isinstance(cursor.value, sort.kind) and isinstance(cursor.id, ObjectId)):
            return None
        if isinstance(cursor.value, dt.datetime) and cursor.value.tzinfo is None:
            cursor = dataclasses.replace(cursor, value=cursor.value.replace(tzinfo=dt.timezone.utc))
        if not 0 <= cursor.skip <= NEAR * per_page:
            return None
        return cursor


@dataclasses.dataclass(frozen=True)
class Link:
    page: int
    cursor: str | None  # None: the first page, which needs no cursor


@dataclasses.dataclass(frozen=True)
class KeysetPage(Generic[T]):
    items: list[T]
    total: int
    page: int
    per_page: int
    sort: Sort
    first: tuple[Any, ObjectId] | None  # sort value and id of the first and last rows shown
    last: tuple[Any, ObjectId] | None

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    def link(self, page: int) -> Link:
        """How to reach ``page`` from this one: by cursor if it is near, else only the two ends."""
        key = self.sort.key
        if page <= 1:
            return Link(1, None)
        if page >= self.pages:
            return Link(self.pages, Cursor("last", key).encode())
        offset = page - self.page
        if offset > 0 and self.last is not None and offset <= NEAR:
            return Link(page, Cursor("after", key, *self.last, skip=(offset - 1) * self.per_page).encode())
        if offset < 0 and self.first is not None and -offset <= NEAR:
            return Link(page, Cursor("before", key, *self.first, skip=(-offset - 1) * self.per_page).encode())
        return Link(page, None)  # a page number without a cursor: served by skipping (not linked by us)

    def numbers(self) -> list[int | None]:
        """The page numbers to show, with None where pages are left out: 1 … 5 6 [7] 8 9 … 40."""
        shown = sorted({1, self.pages, *range(max(1, self.page - NEAR), min(self.pages, self.page + NEAR) + 1)})
        out: list[int | None] = []
        for number in shown:
            if out and number - (out[-1] or 0) > 1:
                out.append(None)
            out.append(number)
        return out


def index_order(sort: Sort, *, reverse: bool = False) -> list[tuple[str, int]]:
    """The sort to send. It names only the field: the query is hinted to the (field…, _id) index,
    whose order (ties by _id) is then the result's order, and a planner uses an index's order for a
    sort on one field where some (SecantusDB's) would sort a two-field order in memory instead."""
    descending = sort.descending != reverse
    return [(sort.field, DESCENDING if descending else ASCENDING)]


def _beyond(sort: Sort, value: Any, oid: ObjectId, *, forward: bool) -> dict[str, Any]:
    """Rows strictly after (value, oid) in the order (forward) or strictly before it. Written as an
    index range on the sort field plus a test of the ties, so the index bounds the scan."""
    later = sort.descending == forward  # in a descending order, "after" means smaller values
    if later:
        return {sort.field: {"$lte": value}, "$or": [{sort.field: {"$lt": value}}, {"_id": {"$lt": oid}}]}
    return {sort.field: {"$gte": value}, "$or": [{sort.field: {"$gt": value}}, {"_id": {"$gt": oid}}]}


async def fetch_page(
    collection: AsyncCollection,
    *,
    query: dict[str, Any],
    sort: Sort,
    per_page: int,
    total: int,
    hint: str,
    page: int = 1,
    cursor: Cursor | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """The documents of one page and its (clamped) number; ``hint`` names the list's index."""
    pages = max(1, math.ceil(total / per_page))
    page = min(max(page, 1), pages)

    async def run(extra: dict[str, Any], *, reverse: bool, skip: int, limit: int) -> list[dict[str, Any]]:
        filters = {"$and": [query, extra]} if extra else query
        docs = await collection.find(filters, sort=index_order(sort, reverse=reverse), skip=skip, limit=limit, hint=hint).to_list(limit)
        return docs[::-1] if reverse else docs

    last_size = total - (pages - 1) * per_page
    if cursor is None:
        if page == 1:
            return await run({}, reverse=False, skip=0, limit=per_page), 1
        if page == pages:
            return await run({}, reverse=True, skip=0, limit=max(last_size, 1)), pages
        # A number typed by hand: skip from the nearer end (the only path that costs more deep down).
        if page - 1 <= pages - page:
            return await run({}, reverse=False, skip=(page - 1) * per_page, limit=per_page), page
        return await run({}, reverse=True, skip=(pages - page - 1) * per_page + last_size, limit=per_page), page
    if cursor.direction == "last":
        return await run({}, reverse=True, skip=0, limit=max(last_size, 1)), pages
    forward = cursor.direction == "after"
    docs = await run(_beyond(sort, cursor.value, cursor.id, forward=forward), reverse=not forward, skip=cursor.skip, limit=per_page)
    if not docs:  # the records moved under the cursor: show the end it was heading to
        return await fetch_page(collection, query=query, sort=sort, per_page=per_page, total=total, page=pages if forward else 1, hint=hint)
    return docs, page


def row_key(doc: dict[str, Any], sort: Sort) -> tuple[Any, ObjectId]:
    """A row's place in the order: its sort value (every sort field is a top-level one) and its id."""
    return doc.get(sort.field), doc["_id"]
