"""Helpers shared by the repositories: id parsing, transactions, lookups, edits and duplicate-key
mapping."""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Awaitable, Callable, Generic, TypeVar

from bson import ObjectId
from bson.errors import InvalidId
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from domain.errors import Conflict, NotFound

T = TypeVar("T")


def object_id(value: str | ObjectId, entity: str) -> ObjectId:
    """Parse an id from a URL or a form; a malformed one is simply a record that does not exist."""
    if isinstance(value, ObjectId):
        return value
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        raise NotFound(f"No existe {entity} con id {value!r}.") from None


async def in_transaction(db: AsyncDatabase, write: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
    """Run ``write(session)`` in a multi-document transaction, retried by the driver on transient
    errors (so ``write`` must be safe to run again from the start)."""
    async with db.client.start_session() as session:
        return await session.with_transaction(write)


def duplicate_field(error: DuplicateKeyError) -> str | None:
    """The first field of the unique index that a DuplicateKeyError was raised on."""
    details = error.details or {}
    key_pattern = details.get("keyPattern") or details.get("keyValue") or {}
    if key_pattern:
        return next(iter(key_pattern))
    match = re.search(r"index: (\w+?)_", str(error))
    return match.group(1) if match else None


def raise_conflict(error: DuplicateKeyError, messages: dict[str, str]) -> None:
    """Turn a duplicate-key error on one of ``messages``' fields into a Conflict on that field."""
    field = duplicate_field(error)
    if field in messages:
        raise Conflict(messages[field], field=field) from error
    raise error


async def insert_unique(
    collection: AsyncCollection, doc: dict[str, Any], messages: dict[str, str], *, session: AsyncClientSession | None = None
) -> dict[str, Any]:
    """Insert ``doc`` (setting its ``_id``); a duplicate on a unique field becomes a Conflict."""
    try:
        result = await collection.insert_one(doc, session=session)
    except DuplicateKeyError as error:
        raise_conflict(error, messages)
    doc["_id"] = result.inserted_id
    return doc


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
