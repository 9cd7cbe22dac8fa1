"""The ``vehiculos`` collection.

Invariants kept here:
- ``placa_patente`` is unique in its normalised form (``domain.rules.plate_or_raise``);
- a vehicle always points at an existing persona: every write that touches an owner runs in a
  transaction with the owner's counter (``PersonaRepository.take_vehicle`` / ``release_vehicle``);
- ``n_infracciones`` is never lower than the infractions that name the vehicle: it is incremented
  (``count_infraction``) before an infraction is written and given back only when the write
  certainly did not happen, so a vehicle with infractions is never deleted."""

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
from domain.clock import Clock
from domain.errors import NotFound, Reference, StillReferenced
from repositories.auditoria import AuditLog
from repositories.base import Edit, RecordRepository, Unique, find_or_raise, in_transaction, object_id, set_each
from repositories.listing import SEARCH_FIELD, Column, ListSpec, list_records
from repositories.paging import Cursor, KeysetPage, Sort

if TYPE_CHECKING:
    from repositories.infracciones import InfraccionRepository
    from repositories.personas import PersonaRepository

COLLECTION = "vehiculos"
INFRACTION_COUNTER = "n_infracciones"
MAKE_KEY = "marca_clave"  # the make folded ('Citroën' -> 'citroen'): what the make filter matches
LIST = ListSpec(
    columns=(
        Column("placa", "placa_patente", str, unique_index="placa_unique"),
        Column("marca", "marca", str),
        # Not the infraction counter: every infraction loaded through the API increments it, and
        # each list index holding it (one a multikey index of some 50 keys) would be rewritten too.
    ),
    filters={"marca": MAKE_KEY},
    default="placa_asc",
)
INDEXES = [
    IndexModel([("placa_patente", ASCENDING)], unique=True, name="placa_unique"),
    IndexModel([("persona_id", ASCENDING), ("placa_patente", ASCENDING)], name="persona_placa"),
    *LIST.indexes(),
]
VALIDATOR = {
    "$jsonSchema": {
        "bsonType": "object",
        "required": ["placa_patente", "marca", "color", "persona_id", INFRACTION_COUNTER, "creado_en"],
        "properties": {
            "placa_patente": {"bsonType": "string", "pattern": rules.PLATE_PATTERN},
            "marca": {"bsonType": "string", "minLength": 1, "maxLength": rules.MARCA_MAX},
            "color": {"bsonType": "string", "minLength": 1, "maxLength": rules.COLOR_MAX},
            "persona_id": {"bsonType": "objectId"},
            INFRACTION_COUNTER: {"bsonType": ["int", "long"], "minimum": 0},
            "creado_en": {"bsonType": "date"},
        },
    }
}
UNIQUE = Unique(
    "placa_patente", "Ya existe un vehículo con esa placa patente.", ("placa_patente",), lambda holder: holder["placa_patente"]
)


def make_key(marca: str) -> str:
    return " ".join(rules.words(marca))


def search_terms(vehiculo: Mapping[str, Any], owner: Mapping[str, Any]) -> list[str]:
    """What finds a vehicle in a search box: any piece of its plate, the beginnings of the words of
    its make and colour, and its owner's (``personas.search_terms``: name and e-mail)."""
    return rules.search_terms(vehiculo["marca"], vehiculo["color"], owner["nombre"], owner["correo"], codes=(vehiculo["placa_patente"],))


def _fields(placa_patente: str, marca: str, color: str, persona_id: ObjectId) -> dict[str, Any]:
    marca = rules.text_or_raise(marca, field="marca", maximum=rules.MARCA_MAX)
    return {
        "placa_patente": rules.plate_or_raise(placa_patente),
        "marca": marca,
        MAKE_KEY: make_key(marca),
        "color": rules.text_or_raise(color, field="color", maximum=rules.COLOR_MAX),
        "persona_id": persona_id,
    }


def new_document(
    *, placa_patente: str, marca: str, color: str, persona_id: ObjectId, owner: Mapping[str, Any], now: dt.datetime
) -> dict[str, Any]:
    """A new vehicle as stored: the one shape written by create() and by the bulk loader. ``owner``
    is the persona's document (her name and e-mail are in the vehicle's search terms)."""
    fields = _fields(placa_patente, marca, color, persona_id)
    return {**fields, SEARCH_FIELD: search_terms(fields, owner), INFRACTION_COUNTER: 0, "creado_en": now}


def infractions_added(counts: Mapping[ObjectId, int]) -> list[UpdateOne]:
    """The counter updates for ``counts`` new infractions per vehicle (the bulk loader's writes)."""
    return [UpdateOne({"_id": oid}, {"$inc": {INFRACTION_COUNTER: n}}) for oid, n in counts.items()]


@dataclasses.dataclass(frozen=True)
class Vehiculo:
    id: str
    placa_patente: str
    marca: str
    color: str
    persona_id: str
    n_infracciones: int = 0

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Vehiculo:
        return cls(
            str(doc["_id"]),
            doc["placa_patente"],
            doc["marca"],
            doc["color"],
            str(doc["persona_id"]),
            doc[INFRACTION_COUNTER],
        )


class VehiculoRepository(RecordRepository):
    COLLECTION = COLLECTION
    UNIQUE = UNIQUE
    _infracciones: InfraccionRepository | None = None

    def __init__(self, db: AsyncDatabase, clock: Clock, audit: AuditLog, *, personas: PersonaRepository) -> None:
        super().__init__(db, clock, audit)
        self._personas = personas

    def connect(self, *, infracciones: InfraccionRepository) -> None:
        """The infractions that point at a vehicle, which a transfer looks at."""
        self._infracciones = infracciones

    async def create(self, *, placa_patente: str, marca: str, color: str, persona_id: str) -> Vehiculo:
        owner_id = object_id(persona_id, "persona")
        now = rules.to_millisecond(self._clock.now())
        fields = _fields(placa_patente, marca, color, owner_id)  # refuse a bad value before the transaction

        async def write(session: AsyncClientSession) -> dict[str, Any]:
            owner = await self._personas.take_vehicle(owner_id, session)
            doc = new_document(placa_patente=placa_patente, marca=marca, color=color, persona_id=owner_id, owner=owner, now=now)
            return await self._insert(doc, session)

        return Vehiculo.from_doc(await self._transaction(write, fields))

    async def get(self, vehiculo_id: str | ObjectId) -> Vehiculo:
        query = {"_id": object_id(vehiculo_id, "vehículo")}
        return Vehiculo.from_doc(await find_or_raise(self.collection, query, f"No existe el vehículo {vehiculo_id}."))

    async def update(self, vehiculo_id: str, *, placa_patente: str, marca: str, color: str, persona_id: str) -> Vehiculo:
        return (await self.edit(vehiculo_id, placa_patente=placa_patente, marca=marca, color=color, persona_id=persona_id)).record

    async def edit(self, vehiculo_id: str, *, placa_patente: str, marca: str, color: str, persona_id: str) -> Edit[Vehiculo]:
        """Save the vehicle (moving it to another owner, counters and all); says whether anything changed."""
        oid = object_id(vehiculo_id, "vehículo")
        new_owner = object_id(persona_id, "persona")
        changes = _fields(placa_patente, marca, color, new_owner)

        async def write(session: AsyncClientSession) -> tuple[dict[str, Any], bool]:
            current = await self.collection.find_one({"_id": oid}, session=session)
            if current is None:
                raise NotFound(f"No existe el vehículo {vehiculo_id}.")
            if current["persona_id"] != new_owner:
                owner = await self._personas.take_vehicle(new_owner, session)
                in_flight = await self._infractions_in_flight(current, session)
                await self._personas.release_vehicle(current["persona_id"], oid, infraction_in_flight=in_flight, session=session)
            else:
                owner = await self._personas.collection.find_one({"_id": new_owner}, {"nombre": 1, "correo": 1}, session=session)
                if owner is None:  # pragma: no cover (a vehicle's owner always exists)
                    raise NotFound("La persona propietaria no existe.", field="persona")
            after = {**current, **changes, SEARCH_FIELD: search_terms(changes, owner)}
            if after == current:
                return current, False
            await self.collection.update_one({"_id": oid}, {"$set": {k: after[k] for k in (*changes, SEARCH_FIELD)}}, session=session)
            await self._audit.record(session, accion=audit.EDITAR, coleccion=COLLECTION, documento_id=oid, antes=current, despues=after)
            return after, True

        doc, changed = await self._transaction(write, changes)
        return Edit(Vehiculo.from_doc(doc), changed)

    async def owner_renamed(self, persona_id: ObjectId, owner: Mapping[str, Any], *, session: AsyncClientSession) -> None:
        """Her vehicles' search terms follow her new name or e-mail (in the transaction of her edit)."""
        cursor = self.collection.find({"persona_id": persona_id}, {"placa_patente": 1, "marca": 1, "color": 1}, session=session)
        async for doc in cursor:
            await self.collection.update_one({"_id": doc["_id"]}, {"$set": {SEARCH_FIELD: search_terms(doc, owner)}}, session=session)

    async def _infractions_in_flight(self, vehiculo: dict[str, Any], session: AsyncClientSession | None = None) -> bool:
        """Whether infractions of this vehicle were announced (its counter was incremented by
        ``count_infraction``) but are not all written yet. In a transaction, a concurrent increment
        conflicts with the transaction's own write of the vehicle, so the answer holds."""
        assert self._infracciones is not None, "connect() the repository first"
        if not vehiculo.get(INFRACTION_COUNTER):
            return False
        written = await self._infracciones.count_for_vehicle(vehiculo["_id"], session=session)
        return written < vehiculo[INFRACTION_COUNTER]

    async def settled(self, vehiculo_ids: list[ObjectId]) -> list[ObjectId]:
        """Those of ``vehiculo_ids`` with no infraction still in flight (or that no longer exist)."""
        done = []
        for oid in vehiculo_ids:
            vehiculo = await self.collection.find_one({"_id": oid}, {INFRACTION_COUNTER: 1})
            if vehiculo is None or not await self._infractions_in_flight(vehiculo):
                done.append(oid)
        return done

    async def delete(self, vehiculo_id: str) -> None:
        """Delete a vehicle with no infractions (they are legal records) and release its owner."""
        oid = object_id(vehiculo_id, "vehículo")

        async def write(session: AsyncClientSession) -> None:
            doc = await self._delete({"_id": oid, INFRACTION_COUNTER: 0}, session)
            if doc is None:
                current = await self.collection.find_one({"_id": oid}, session=session)
                if current is None:
                    raise NotFound(f"No existe el vehículo {vehiculo_id}.")
                raise self._has_infractions(Vehiculo.from_doc(current))
            await self._personas.release_vehicle(doc["persona_id"], oid, infraction_in_flight=False, session=session)

        await in_transaction(self._db, write)

    async def delete_refusal(self, vehiculo_id: str) -> StillReferenced | None:
        """Why the vehicle cannot be deleted now, or None (read only, for the confirmation page)."""
        vehiculo = await self.get(vehiculo_id)
        return self._has_infractions(vehiculo) if vehiculo.n_infracciones else None

    @staticmethod
    def _has_infractions(vehiculo: Vehiculo) -> StillReferenced:
        registered = rules.plural(vehiculo.n_infracciones, "infracción registrada", "infracciones registradas")
        return StillReferenced(
            f"No se puede borrar el vehículo {vehiculo.placa_patente}: tiene {registered}, que son registros legales. "
            "Si cambió de dueño, edítelo y elija a la nueva persona propietaria.",
            references=[Reference("Ver sus infracciones", "infracciones", filters={"placa": vehiculo.placa_patente})],
        )

    # -- the infraction counter, written before an infraction ------------------------------------
    async def count_infraction(self, placa_patente: str, *, session: AsyncClientSession | None = None) -> dict[str, Any] | None:
        """Announce an infraction of the vehicle with this plate; its make, colour and owner, or None."""
        return await self.collection.find_one_and_update(
            {"placa_patente": placa_patente},
            {"$inc": {INFRACTION_COUNTER: 1}},
            projection={"marca": 1, "color": 1, "persona_id": 1},
            session=session,
        )

    async def give_back_infraction(self, vehiculo_id: ObjectId) -> None:
        """Undo ``count_infraction`` for an infraction that was certainly not written."""
        await self.collection.update_one({"_id": vehiculo_id}, {"$inc": {INFRACTION_COUNTER: -1}})

    # -- reads -------------------------------------------------------------------------------------
    async def list_by_persona(self, persona_id: str | ObjectId) -> list[Vehiculo]:
        cursor = self.collection.find({"persona_id": object_id(persona_id, "persona")}, sort=[("placa_patente", ASCENDING)])
        return [Vehiculo.from_doc(doc) async for doc in cursor]

    async def search(
        self, *, q: str = "", marca: str = "", sort: Sort | None = None, per_page: int = 20, page: int = 1, cursor: Cursor | None = None
    ) -> KeysetPage[Vehiculo]:
        """A page of the list: vehicles whose plate contains, or whose make, colour or owner's name
        or e-mail has words beginning with, every word of ``q``; of make ``marca`` (accents and case aside)."""
        filters = {"marca": make_key(marca)} if marca.strip() else {}
        return await list_records(
            self.collection, LIST, Vehiculo.from_doc, q=q, sort=sort, filters=filters, per_page=per_page, page=page, cursor=cursor
        )


async def migrate(db: AsyncDatabase) -> int:
    """Give vehicles written before search terms existed their ``busqueda`` and ``marca_clave``
    (idempotent: only those without terms, found through the search index). How many."""
    from repositories import personas  # the owners' names and e-mails (a sibling module that imports this one)

    missing = await LIST.without_terms(db[COLLECTION]).to_list(None)
    owners = {doc["_id"]: doc async for doc in db[personas.COLLECTION].find({"_id": {"$in": list({v["persona_id"] for v in missing})}})}
    changes = {
        v["_id"]: {SEARCH_FIELD: search_terms(v, owners[v["persona_id"]]), MAKE_KEY: make_key(v["marca"])}
        for v in missing
        if v["persona_id"] in owners
    }
    return await set_each(db[COLLECTION], changes)
