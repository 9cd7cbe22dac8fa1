"""The ``auditoria`` collection: the append-only trail of every administrative and script write.

An entry is written in the same transaction as the change it describes (``AuditLog.record`` takes
the transaction's session), so there is no change without its entry and no entry without its
change. This module has no update and no delete: the application only ever inserts and reads,
and the MongoDB role the application runs as (docker/mongo/app-role.json) grants nothing more.

Listing is keyset-paged (``repositories.paging``) on ``en`` (the time), with one index for each
filter that narrows a list most: the record, then the actor, then the action, then the collection;
other filters are checked on the rows that index yields."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from domain import rules
from domain.audit import Actor, changes
from domain.clock import Clock
from repositories.paging import Cursor, KeysetPage, Sort, fetch_page, row_key

COLLECTION = "auditoria"
INDEXES = [
    IndexModel([("en", DESCENDING), ("_id", DESCENDING)], name="en"),
    IndexModel([("coleccion", ASCENDING), ("documento_id", ASCENDING), ("en", DESCENDING), ("_id", DESCENDING)], name="documento"),
    IndexModel([("actor.nombre", ASCENDING), ("en", DESCENDING), ("_id", DESCENDING)], name="actor"),
    IndexModel([("accion", ASCENDING), ("en", DESCENDING), ("_id", DESCENDING)], name="accion"),
    IndexModel([("coleccion", ASCENDING), ("en", DESCENDING), ("_id", DESCENDING)], name="coleccion"),
]
VALIDATOR = {
    "$jsonSchema": {
        "bsonType": "object",
        "required": ["en", "actor", "accion", "coleccion"],
        "properties": {
            "en": {"bsonType": "date"},
            "actor": {"bsonType": "object", "required": ["tipo", "nombre"]},
            "accion": {"bsonType": "string"},
            "coleccion": {"bsonType": "string"},
            "antes": {"bsonType": "object"},
            "despues": {"bsonType": "object"},
        },
    }
}
NEWEST_FIRST = Sort("recientes", "en", True, dt.datetime)
SORTS = {NEWEST_FIRST.key: NEWEST_FIRST, "antiguos": Sort("antiguos", "en", False, dt.datetime)}


@dataclasses.dataclass(frozen=True)
class AuditEntry:
    id: str
    en: dt.datetime
    actor_tipo: str
    actor_nombre: str
    accion: str
    coleccion: str
    documento_id: str | None
    antes: dict[str, Any]
    despues: dict[str, Any]
    request_id: str | None
    cliente: str | None

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> AuditEntry:
        documento = doc.get("documento_id")
        return cls(
            str(doc["_id"]), doc["en"], doc["actor"]["tipo"], doc["actor"]["nombre"], doc["accion"], doc["coleccion"],
            str(documento) if documento is not None else None, doc.get("antes", {}), doc.get("despues", {}),
            doc.get("request_id"), doc.get("cliente"),
        )


@dataclasses.dataclass(frozen=True)
class AuditFilters:
    actor: str = ""
    accion: str = ""
    coleccion: str = ""
    documento_id: ObjectId | None = None
    desde: dt.datetime | None = None  # inclusive, UTC
    hasta: dt.datetime | None = None  # exclusive, UTC


class AuditLog:
    """Writes entries for one actor (the request's administrator, a script's user, the server)."""

    def __init__(self, db: AsyncDatabase, clock: Clock, actor: Actor) -> None:
        self.collection = db[COLLECTION]
        self._clock = clock
        self.actor = actor

    async def record(
        self,
        session: AsyncClientSession | None,
        *,
        accion: str,
        coleccion: str,
        documento_id: ObjectId | None,
        antes: dict[str, Any] | None = None,
        despues: dict[str, Any] | None = None,
    ) -> None:
        """Append one entry, in ``session``'s transaction: only the fields that changed, never a secret."""
        before, after = changes(antes, despues)
        entry = {
            "en": rules.to_millisecond(self._clock.now()),
            "actor": {"tipo": self.actor.tipo, "nombre": self.actor.nombre},
            "accion": accion,
            "coleccion": coleccion,
            "documento_id": documento_id,
            "antes": before,
            "despues": after,
            "request_id": self.actor.request_id,
            "cliente": self.actor.cliente,
        }
        await self.collection.insert_one(entry, session=session)


class AuditRepository:
    """Reads the trail: a record's history, and the filtered list of the Auditoría page."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db[COLLECTION]

    async def search(
        self, filters: AuditFilters, *, sort: Sort = NEWEST_FIRST, per_page: int = 20, page: int = 1, cursor: Cursor | None = None
    ) -> KeysetPage[AuditEntry]:
        query, index = self._query(filters)
        total = await self.collection.count_documents(query, hint=index) if query else await self.collection.estimated_document_count()
        docs, number = await fetch_page(
            self.collection, query=query, sort=sort, per_page=per_page, total=total, page=page, cursor=cursor, hint=index
        )
        first = row_key(docs[0], sort) if docs else None
        last = row_key(docs[-1], sort) if docs else None
        return KeysetPage([AuditEntry.from_doc(d) for d in docs], total, number, per_page, sort, first, last)

    async def history(self, coleccion: str, documento_id: str | ObjectId | list[ObjectId], *, limit: int = 200) -> list[AuditEntry]:
        """A record's entries (or, given several ids, those of a record kept as several documents,
        such as a catalogue code's versions), newest first."""
        ids = {"$in": documento_id} if isinstance(documento_id, list) else ObjectId(documento_id)
        cursor = self.collection.find(
            {"coleccion": coleccion, "documento_id": ids}, sort=[("en", DESCENDING), ("_id", DESCENDING)], limit=limit, hint="documento"
        )
        return [AuditEntry.from_doc(doc) async for doc in cursor]

    @staticmethod
    def _query(filters: AuditFilters) -> tuple[dict[str, Any], str]:
        query: dict[str, Any] = {}
        if filters.documento_id is not None:
            query["documento_id"] = filters.documento_id
        for field, value in (("actor.nombre", filters.actor), ("accion", filters.accion), ("coleccion", filters.coleccion)):
            if value:
                query[field] = value
        if filters.desde or filters.hasta:
            query["en"] = {k: v for k, v in (("$gte", filters.desde), ("$lt", filters.hasta)) if v is not None}
        for index, field in (("documento", "documento_id"), ("actor", "actor.nombre"), ("accion", "accion"), ("coleccion", "coleccion")):
            if field in query:
                if index == "documento" and "coleccion" not in query:
                    continue  # the index starts with the collection
                return query, index
        return query, "en"
