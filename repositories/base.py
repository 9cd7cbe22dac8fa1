"""Helpers shared by the repositories: id parsing, transactions, lookups, edits, duplicate-key
mapping, and ``RecordRepository``, the base of the repositories of personas, vehículos and oficiales."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Awaitable, Callable, ClassVar, Generic, TypeVar

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from domain.audit import BORRAR, CREAR
from domain.clock import Clock
from domain.errors import Conflict, NotFound

if TYPE_CHECKING:
    from repositories.auditoria import AuditLog

T = TypeVar("T")


def object_id(value: str | ObjectId, entity: str) -> ObjectId:
    """Parse an id from a URL or a form; a malformed one is simply a record that does not exist."""
    if isinstance(value, ObjectId):
        return value
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        raise NotFound(f"No existe {entity} con id {value!r}.") from None


def object_ids(values: Iterable[str], entity: str) -> list[ObjectId]:
    """The well-formed ids among ``values`` (a bulk action's selection: a malformed one names no record)."""
    ids = []
    for value in values:
        try:
            ids.append(object_id(value, entity))
        except NotFound:
            continue
    return ids


async def in_transaction(db: AsyncDatabase, write: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
    """Run ``write(session)`` in a multi-document transaction, retried by the driver on transient
    errors (so ``write`` must be safe to run again from the start)."""
    async with db.client.start_session() as session:
        return await session.with_transaction(write)


def duplicate_field(error: DuplicateKeyError) -> str | None:
    """The first field of the unique index that a DuplicateKeyError was raised on, from its
    ``keyPattern`` (sent by MongoDB since 4.2 and by SecantusDB)."""
    return next(iter((error.details or {}).get("keyPattern") or {}), None)


@dataclasses.dataclass(frozen=True)
class Unique:
    """A collection's unique field: the refusal of a value another record has, which names that
    record (``Conflict.existing``: its id and ``label``, read with its fields ``shown``)."""

    field: str
    message: str
    shown: tuple[str, ...]
    label: Callable[[dict[str, Any]], str]

    async def refusal(self, collection: AsyncCollection, error: DuplicateKeyError, written: Mapping[str, Any]) -> Conflict:
        """The Conflict for a duplicate of this field's value in ``written`` (the fields a write
        set), naming the record that has it; a duplicate on another unique index is raised as it is."""
        if duplicate_field(error) != self.field:
            raise error
        conflict = Conflict(self.message, field=self.field)
        if self.field in written:
            holder = await collection.find_one({self.field: written[self.field]}, dict.fromkeys(self.shown, 1))
            if holder is not None:
                conflict.existing = (str(holder["_id"]), self.label(holder))
        return conflict


async def set_each(collection: AsyncCollection, changes: Mapping[ObjectId, dict[str, Any]]) -> int:
    """``$set`` each record's ``changes`` (by id) in one unordered bulk write; how many."""
    if changes:
        await collection.bulk_write([UpdateOne({"_id": oid}, {"$set": fields}) for oid, fields in changes.items()], ordered=False)
    return len(changes)


async def find_or_raise(
    collection: AsyncCollection,
    query: dict[str, Any],
    message: str,
    *,
    field: str | None = None,
    session: AsyncClientSession | None = None,
) -> dict[str, Any]:
    doc = await collection.find_one(query, session=session)
    if doc is None:
        raise NotFound(message, field=field)
    return doc


@dataclasses.dataclass(frozen=True)
class Edit(Generic[T]):
    """A saved edit: the record as it is now, and whether the save changed anything (when it did not,
    no audit entry was written, and the page says so)."""

    record: T
    changed: bool


class RecordRepository:
    """The repositories of personas, vehículos and oficiales: one collection (``COLLECTION``) with
    one unique field (``UNIQUE``), whose writes are transactions with their audit entries."""

    COLLECTION: ClassVar[str]
    UNIQUE: ClassVar[Unique]

    def __init__(self, db: AsyncDatabase, clock: Clock, audit: AuditLog) -> None:
        self._db = db
        self.collection = db[self.COLLECTION]
        self._clock = clock
        self._audit = audit

    async def _transaction(self, write: Callable[[AsyncClientSession], Awaitable[T]], written: Mapping[str, Any]) -> T:
        """``write`` in a transaction (``in_transaction``); a value of the unique field that another
        record has (``written``: the fields it sets) is refused naming that record."""
        try:
            return await in_transaction(self._db, write)
        except DuplicateKeyError as error:
            raise await self.UNIQUE.refusal(self.collection, error, written) from None

    async def _update(
        self, session: AsyncClientSession, oid: ObjectId, changes: dict[str, Any], missing: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Write ``changes`` (a ``$set``) on the record, in the caller's transaction: the record before
        and after; NotFound (``missing``) when there is none."""
        before = await self.collection.find_one_and_update({"_id": oid}, changes, session=session)
        if before is None:
            raise NotFound(missing)
        return before, {**before, **changes["$set"]}

    async def _insert(self, doc: dict[str, Any], session: AsyncClientSession) -> dict[str, Any]:
        """Insert a new record (setting its ``_id``) with its audit entry, in the caller's transaction."""
        await self.collection.insert_one(doc, session=session)
        await self._audit.record(session, accion=CREAR, coleccion=self.COLLECTION, documento_id=doc["_id"], despues=doc)
        return doc

    async def _delete(self, query: dict[str, Any], session: AsyncClientSession) -> dict[str, Any] | None:
        """Delete the record ``query`` matches with its audit entry, in the caller's transaction: the
        record deleted, or None when none matched."""
        deleted = await self.collection.find_one_and_delete(query, session=session)
        if deleted is not None:
            await self._audit.record(session, accion=BORRAR, coleccion=self.COLLECTION, documento_id=deleted["_id"], antes=deleted)
        return deleted

    async def _create(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Insert ``doc`` with its audit entry in one transaction. A transaction the driver runs again
        inserts it again with the same ``_id``: the attempt it gave up kept nothing."""
        return await self._transaction(lambda session: self._insert(doc, session), doc)

    async def _some(self, ids: Iterable[str], entity: str) -> list[dict[str, Any]]:
        """The documents with these ids that exist (a bulk action's selection)."""
        return await self.collection.find({"_id": {"$in": object_ids(ids, entity)}}).to_list(None)

    async def count(self) -> int:
        return await self.collection.estimated_document_count()
