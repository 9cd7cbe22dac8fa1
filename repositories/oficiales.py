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

from domain import audit, rules
from domain.errors import Reference, StillReferenced
from repositories.base import Edit, RecordRepository, Unique, find_or_raise, in_transaction, object_id, set_each
from repositories.listing import SEARCH_FIELD, Column, ListSpec, list_records
from repositories.paging import Cursor, KeysetPage, Sort

if TYPE_CHECKING:
    from repositories.tokens import TokenRepository

COLLECTION = "oficiales"
INFRACTION_COUNTER = "n_infracciones"
LIVE_TOKENS = "token_jtis"
LIST = ListSpec(
    columns=(
        Column("numero", "numero", int, unique_index="numero_unique"),
        Column("nombre", "nombre", str),
        # Not the infraction counter: the API's hot path increments it (see repositories/vehiculos.py).
    ),
    filters={"estado": "activo"},
    default="numero_asc",
)
INDEXES = [IndexModel([("numero", ASCENDING)], unique=True, name="numero_unique"), *LIST.indexes()]
BULK_MAX = 100  # records one bulk action may name (a list page's largest size)
VALIDATOR = {
    "$jsonSchema": {
        "bsonType": "object",
        "required": ["nombre", "numero", "activo", INFRACTION_COUNTER, LIVE_TOKENS, "creado_en"],
        "properties": {
            "nombre": {"bsonType": "string", "minLength": 1, "maxLength": rules.NOMBRE_MAX},
            "numero": {"bsonType": ["int", "long"], "minimum": 1},
            "activo": {"bsonType": "bool"},
            INFRACTION_COUNTER: {"bsonType": ["int", "long"], "minimum": 0},
            LIVE_TOKENS: {"bsonType": "array", "items": {"bsonType": "string"}},
            "creado_en": {"bsonType": "date"},
        },
    }
}
UNIQUE = Unique(
    "numero", "Ya existe un oficial con ese número.", ("nombre", "numero"),
    lambda holder: f"N° {holder['numero']} ({holder['nombre']})",
)


def _name(nombre: str) -> str:
    return rules.text_or_raise(nombre, field="nombre", maximum=rules.NOMBRE_MAX)


def search_terms(nombre: str, numero: int) -> list[str]:
    """What finds an officer in a search box: the beginnings of the words of the name and of the número."""
    return rules.search_terms(nombre, str(numero))


def new_document(*, nombre: str, numero: int, activo: bool, now: dt.datetime) -> dict[str, Any]:
    """A new officer as stored: the one shape written by create() and by the bulk loader."""
    return {
        "nombre": _name(nombre),
        "numero": numero,
        "activo": activo,
        SEARCH_FIELD: search_terms(nombre.strip(), numero),
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
        return cls(str(doc["_id"]), doc["nombre"], doc["numero"], doc["activo"], doc[INFRACTION_COUNTER])


class OficialRepository(RecordRepository):
    COLLECTION = COLLECTION
    UNIQUE = UNIQUE
    _tokens: TokenRepository | None = None

    def connect(self, *, tokens: TokenRepository) -> None:
        """The token records, marked revoked when the officer's tokens die."""
        self._tokens = tokens

    async def create(self, *, nombre: str, numero: int, activo: bool = True) -> Oficial:
        doc = new_document(nombre=nombre, numero=numero, activo=activo, now=rules.to_millisecond(self._clock.now()))
        return Oficial.from_doc(await self._create(doc))

    async def get(self, oficial_id: str | ObjectId) -> Oficial:
        query = {"_id": object_id(oficial_id, "oficial")}
        return Oficial.from_doc(await find_or_raise(self.collection, query, f"No existe el oficial {oficial_id}."))

    async def get_by_numero(self, numero: int) -> Oficial:
        message = f"No existe un oficial con el número {numero}."
        return Oficial.from_doc(await find_or_raise(self.collection, {"numero": numero}, message))

    async def find_by_numero(self, numero: int) -> Oficial | None:
        doc = await self.collection.find_one({"numero": numero}) if 0 < numero <= rules.MAX_BADGE_NUMBER else None
        return Oficial.from_doc(doc) if doc else None

    async def update(self, oficial_id: str, *, nombre: str, numero: int, activo: bool) -> Oficial:
        return (await self.edit(oficial_id, nombre=nombre, numero=numero, activo=activo)).record

    async def edit(self, oficial_id: str, *, nombre: str, numero: int, activo: bool) -> Edit[Oficial]:
        """Save the officer; says whether anything changed."""
        oid = object_id(oficial_id, "oficial")
        current = await self.get(oid)
        fields = {"nombre": _name(nombre), "numero": numero, "activo": activo, SEARCH_FIELD: search_terms(_name(nombre), numero)}
        # Deactivation kills every token at once; so does a new número, since tokens carry the old one.
        revoke = "oficial desactivado" if not activo else "número cambiado" if numero != current.numero else None
        return await self._set(oid, fields, revoke)

    async def set_active(self, oficial_id: str, activo: bool) -> Oficial:
        """Only the flag is written, so an edit of the name made meanwhile is not overwritten."""
        oid = object_id(oficial_id, "oficial")
        return (await self._set(oid, {"activo": activo}, None if activo else "oficial desactivado")).record

    async def _set(self, oid: ObjectId, fields: dict[str, Any], revoke: str | None) -> Edit[Oficial]:
        """Write ``fields`` (and, when ``revoke`` says why, kill every token), with its audit entry."""
        changes = {"$set": {**fields, LIVE_TOKENS: []} if revoke else fields}

        async def write(session: AsyncClientSession) -> tuple[dict[str, Any], bool]:
            before, after = await self._update(session, oid, changes, f"No existe el oficial {oid}.")
            if revoke:
                await self._mark_tokens_revoked(oid, revoke, session)
            if after == before:
                return after, False
            await self._audit.record(session, accion=_action(before, after), coleccion=COLLECTION, documento_id=oid, antes=before, despues=after)
            return after, True

        doc, changed = await self._transaction(write, fields)
        return Edit(Oficial.from_doc(doc), changed)

    async def delete(self, oficial_id: str) -> None:
        """Delete an officer who never registered an infraction; its tokens die with it.

        ``n_infracciones`` is incremented atomically (with the token check) before an infraction is
        written, so this conditional delete can never leave an infraction without its officer."""
        oid = object_id(oficial_id, "oficial")

        async def write(session: AsyncClientSession) -> bool:
            if await self._delete({"_id": oid, INFRACTION_COUNTER: 0}, session) is None:
                return False
            await self._mark_tokens_revoked(oid, "oficial borrado", session)
            return True

        if not await in_transaction(self._db, write):
            raise self._has_infractions(await self.get(oid))

    async def delete_refusal(self, oficial_id: str) -> StillReferenced | None:
        """Why the officer cannot be deleted now, or None (read only, for the confirmation page)."""
        oficial = await self.get(oficial_id)
        return self._has_infractions(oficial) if oficial.n_infracciones else None

    @staticmethod
    def _has_infractions(oficial: Oficial) -> StillReferenced:
        registered = rules.plural(oficial.n_infracciones, "infracción", "infracciones")
        return StillReferenced(
            f"No se puede borrar al oficial N° {oficial.numero}: registró {registered}, que son registros legales. "
            "Puede desactivarlo en su lugar: sus tokens dejan de valer y sus infracciones se conservan.",
            references=[Reference("Ver sus infracciones", "infracciones", filters={"oficial": str(oficial.numero)})],
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
    async def search(
        self, *, q: str = "", activo: bool | None = None, sort: Sort | None = None, per_page: int = 20, page: int = 1,
        cursor: Cursor | None = None,
    ) -> KeysetPage[Oficial]:
        """A page of the list: officers whose name or número has words beginning with every word of
        ``q``; only active (or inactive) ones when ``activo`` says so."""
        filters = {"estado": activo} if activo is not None else {}
        return await list_records(
            self.collection, LIST, Oficial.from_doc, q=q, sort=sort, filters=filters, per_page=per_page, page=page, cursor=cursor
        )

    async def get_some(self, oficial_ids: list[str]) -> list[Oficial]:
        """The officers with these ids that exist (a bulk action's selection), by número."""
        found = [Oficial.from_doc(doc) for doc in await self._some(oficial_ids[:BULK_MAX], "oficial")]
        return sorted(found, key=lambda o: o.numero)


async def migrate(db: AsyncDatabase) -> int:
    """Give officers written before search terms existed their ``busqueda`` (idempotent). How many."""
    missing = LIST.without_terms(db[COLLECTION], {"nombre": 1, "numero": 1})
    return await set_each(
        db[COLLECTION], {doc["_id"]: {SEARCH_FIELD: search_terms(doc["nombre"], doc["numero"])} async for doc in missing}
    )
