"""The ``oficiales`` collection.

Invariants kept here:
- ``numero`` (the badge number) is unique;
- ``token_jtis`` lists the ``jti`` of each live token, so one atomic read proves "token not
  revoked, officer exists and is active"; deactivating an officer or changing its número (which its
  tokens carry) empties it, and deleting the officer removes it, so every token dies at once;
- ``n_infracciones`` is never lower than the infractions that name the officer: it is incremented
  with the token check (``count_infraction``) before an infraction is written, so an officer with
  infractions is never deleted."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from pymongo import ASCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from domain import audit, rules
from domain.clock import Clock
from domain.errors import NotFound, StillReferenced
from repositories.auditoria import AuditLog
from repositories.base import Page, contains, find_or_raise, in_transaction, insert_unique, object_id, page_bounds, raise_conflict

if TYPE_CHECKING:
    from repositories.tokens import TokenRepository

COLLECTION = "oficiales"
INFRACTION_COUNTER = "n_infracciones"
LIVE_TOKENS = "token_jtis"
INDEXES = [IndexModel([("numero", ASCENDING)], unique=True, name="numero_unique")]
VALIDATOR = {
    "$jsonSchema": {
        "bsonType": "object",
        "required": ["nombre", "numero", "activo", INFRACTION_COUNTER, LIVE_TOKENS],
        "properties": {
            "nombre": {"bsonType": "string", "minLength": 1, "maxLength": rules.NOMBRE_MAX},
            "numero": {"bsonType": ["int", "long"], "minimum": 1},
            "activo": {"bsonType": "bool"},
            INFRACTION_COUNTER: {"bsonType": ["int", "long"], "minimum": 0},
            LIVE_TOKENS: {"bsonType": "array", "items": {"bsonType": "string"}},
        },
    }
}
DUPLICATE_MESSAGES = {"numero": "Ya existe un oficial con ese número."}


def _name(nombre: str) -> str:
    return rules.text_or_raise(nombre, field="nombre", maximum=rules.NOMBRE_MAX)


def new_document(*, nombre: str, numero: int, activo: bool, now: dt.datetime) -> dict[str, Any]:
    """A new officer as stored: the one shape written by create() and by the bulk loader."""
    return {
        "nombre": _name(nombre),
        "numero": numero,
        "activo": activo,
        INFRACTION_COUNTER: 0,
        LIVE_TOKENS: [],
        "creado_en": now,
    }


def _action(before: dict[str, Any], after: dict[str, Any]) -> str:
    """How the trail names a change: an activation or a deactivation (only the flag, and the tokens
    it kills, changed), or an edit."""
    _, changed = audit.changes(before, after)
    if set(changed) == {"activo"}:
        return audit.ACTIVAR if after["activo"] else audit.DESACTIVAR
    return audit.EDITAR


def infractions_added(counts: Mapping[ObjectId, int]) -> list[UpdateOne]:
    """The counter updates for ``counts`` new infractions per officer (the bulk loader's writes)."""
    return [UpdateOne({"_id": oid}, {"$inc": {INFRACTION_COUNTER: n}}) for oid, n in counts.items()]


@dataclasses.dataclass(frozen=True)
class Oficial:
    id: str
    nombre: str
    numero: int
    activo: bool = True
    n_infracciones: int = 0

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Oficial:
        return cls(str(doc["_id"]), doc["nombre"], doc["numero"], doc["activo"], doc.get(INFRACTION_COUNTER, 0))


class OficialRepository:
    def __init__(self, db: AsyncDatabase, clock: Clock, audit: AuditLog) -> None:
        self._db = db
        self.collection = db[COLLECTION]
        self._clock = clock
        self._audit = audit
        self._tokens: TokenRepository | None = None

    def connect(self, *, tokens: TokenRepository) -> None:
        """The token records, marked revoked when the officer's tokens die."""
        self._tokens = tokens

    async def create(self, *, nombre: str, numero: int, activo: bool = True) -> Oficial:
        doc = new_document(nombre=nombre, numero=numero, activo=activo, now=rules.to_millisecond(self._clock.now()))

        async def write(session: AsyncClientSession) -> dict[str, Any]:
            doc.pop("_id", None)  # a retried transaction inserts afresh
            await insert_unique(self.collection, doc, DUPLICATE_MESSAGES, session=session)
            await self._audit.record(session, accion=audit.CREAR, coleccion=COLLECTION, documento_id=doc["_id"], despues=doc)
            return doc

        return Oficial.from_doc(await in_transaction(self._db, write))

    async def get(self, oficial_id: str | ObjectId) -> Oficial:
        query = {"_id": object_id(oficial_id, "oficial")}
        return Oficial.from_doc(await find_or_raise(self.collection, query, f"No existe el oficial {oficial_id}."))

    async def get_by_numero(self, numero: int) -> Oficial:
        message = f"No existe un oficial con el número {numero}."
        return Oficial.from_doc(await find_or_raise(self.collection, {"numero": numero}, message, field="numero"))

    async def find_by_numero(self, numero: int) -> Oficial | None:
        doc = await self.collection.find_one({"numero": numero}) if 0 < numero <= rules.MAX_BADGE_NUMBER else None
        return Oficial.from_doc(doc) if doc else None

    async def update(self, oficial_id: str, *, nombre: str, numero: int, activo: bool) -> Oficial:
        oid = object_id(oficial_id, "oficial")
        current = await self.get(oid)
        fields = {"nombre": _name(nombre), "numero": numero, "activo": activo}
        # Deactivation kills every token at once; so does a new número, since tokens carry the old one.
        revoke = "oficial desactivado" if not activo else "número cambiado" if numero != current.numero else None
        return await self._set(oid, fields, revoke)

    async def set_active(self, oficial_id: str, activo: bool) -> Oficial:
        """Only the flag is written, so an edit of the name made meanwhile is not overwritten."""
        oid = object_id(oficial_id, "oficial")
        return await self._set(oid, {"activo": activo}, None if activo else "oficial desactivado")

    async def _set(self, oid: ObjectId, fields: dict[str, Any], revoke: str | None) -> Oficial:
        """Write ``fields`` (and, when ``revoke`` says why, kill every token), with its audit entry."""
        changes = {"$set": {**fields, LIVE_TOKENS: []} if revoke else fields}

        async def write(session: AsyncClientSession) -> dict[str, Any]:
            before = await self.collection.find_one_and_update({"_id": oid}, changes, session=session)
            if before is None:
                raise NotFound(f"No existe el oficial {oid}.")
            after = {**before, **changes["$set"]}
            if revoke:
                await self._mark_tokens_revoked(oid, revoke, session)
            if after != before:
                await self._audit.record(session, accion=_action(before, after), coleccion=COLLECTION, documento_id=oid, antes=before, despues=after)
            return after

        try:
            return Oficial.from_doc(await in_transaction(self._db, write))
        except DuplicateKeyError as error:
            raise_conflict(error, DUPLICATE_MESSAGES)

    async def delete(self, oficial_id: str) -> None:
        """Delete an officer who never registered an infraction; its tokens die with it.

        ``n_infracciones`` is incremented atomically (with the token check) before an infraction is
        written, so this conditional delete can never leave an infraction without its officer."""
        oid = object_id(oficial_id, "oficial")

        async def write(session: AsyncClientSession) -> bool:
            deleted = await self.collection.find_one_and_delete({"_id": oid, INFRACTION_COUNTER: 0}, session=session)
            if deleted is None:
                return False
            await self._mark_tokens_revoked(oid, "oficial borrado", session)
            await self._audit.record(session, accion=audit.BORRAR, coleccion=COLLECTION, documento_id=oid, antes=deleted)
            return True

        if not await in_transaction(self._db, write):
            current = await self.get(oid)
            raise StillReferenced(
                f"No se puede borrar al oficial {current.numero}: registró {current.n_infracciones} "
                "infracción(es), que son registros legales. Puede desactivarlo en su lugar."
            )

    async def _mark_tokens_revoked(self, oid: ObjectId, reason: str, session: AsyncClientSession) -> None:
        assert self._tokens is not None, "connect() the repository first"
        await self._tokens.mark_revoked_for_officer(oid, reason, session=session)

    # -- live tokens, written by TokenRepository ----------------------------------------------------
    async def add_live_token(self, oficial_id: ObjectId, jti: str, *, session: AsyncClientSession) -> bool:
        """Make a token live on an active officer; False when the officer is missing or inactive."""
        result = await self.collection.update_one(
            {"_id": oficial_id, "activo": True}, {"$push": {LIVE_TOKENS: jti}}, session=session
        )
        return result.matched_count == 1

    async def drop_live_tokens(self, oficial_id: ObjectId, jtis: list[str], *, session: AsyncClientSession) -> None:
        """What makes a revocation effective for the API."""
        await self.collection.update_one({"_id": oficial_id}, {"$pull": {LIVE_TOKENS: {"$in": jtis}}}, session=session)

    # -- the infraction counter, written with the token check ------------------------------------
    async def count_infraction(self, *, numero: int, jti: str) -> dict[str, Any] | None:
        """Announce an infraction by the officer with this número, if the token ``jti`` is live on
        it and it is active: the token check and the delete guard in one write. The officer's
        número and nombre, or None."""
        return await self.collection.find_one_and_update(
            {"numero": numero, "activo": True, LIVE_TOKENS: jti},
            {"$inc": {INFRACTION_COUNTER: 1}},
            projection={"numero": 1, "nombre": 1},
            hint="numero_unique",  # a planner may otherwise scan: the other two fields are not indexed
        )

    async def find_live(self, *, numero: int, jti: str) -> dict[str, Any] | None:
        """The active officer with this número on whom the token ``jti`` is live, or None."""
        return await self.collection.find_one(
            {"numero": numero, "activo": True, LIVE_TOKENS: jti}, projection={"numero": 1, "nombre": 1}, hint="numero_unique"
        )

    async def count_infraction_by_id(self, oficial_id: ObjectId, *, session: AsyncClientSession) -> None:
        """Announce an infraction attributed to this officer by an administrator (a correction)."""
        await self.collection.update_one({"_id": oficial_id}, {"$inc": {INFRACTION_COUNTER: 1}}, session=session)

    async def give_back_infraction(self, oficial_id: ObjectId) -> None:
        """Undo ``count_infraction`` for an infraction that was certainly not written."""
        await self.collection.update_one({"_id": oficial_id}, {"$inc": {INFRACTION_COUNTER: -1}})

    # -- reads -------------------------------------------------------------------------------------
    async def search(self, *, q: str = "", page: int = 1, per_page: int = 20) -> Page[Oficial]:
        text = q.strip()
        query: dict[str, Any] = {}
        numero = rules.ascii_int(text)
        if numero is not None and numero <= rules.MAX_BADGE_NUMBER:
            query = {"$or": [{"numero": numero}, {"nombre": contains(text)}]}
        elif text:
            query = {"nombre": contains(text)}
        skip, limit = page_bounds(page, per_page)
        total = await self.collection.count_documents(query)
        cursor = self.collection.find(query, sort=[("numero", ASCENDING)], skip=skip, limit=limit)
        return Page([Oficial.from_doc(doc) async for doc in cursor], total, max(1, page), per_page)

    async def count(self) -> int:
        return await self.collection.estimated_document_count()
