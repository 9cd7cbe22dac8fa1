"""The ``personas`` collection: owners of vehicles, looked up by e-mail for the public report.

Invariants kept here:
- ``correo`` is unique in its one normalised form (``domain.rules.normalize_email``);
- ``n_vehiculos`` is exactly the number of vehicles in her name: vehicle writes change it through
  ``take_vehicle`` / ``release_vehicle`` in the same transaction as the vehicle, so deleting her is
  one atomic ``delete_one({_id, n_vehiculos: 0})``;
- ``PENDING_FIELD`` lists vehicles transferred away from her while one of their infractions (which
  names her as the owner at the time) was still being written: she cannot be deleted until they settle."""

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
from domain.errors import InvalidValue, MissingReference, Reference, StillReferenced
from repositories import vehiculos as vehiculos_module
from repositories.base import Edit, RecordRepository, Unique, find_or_raise, in_transaction, object_id, set_each
from repositories.listing import SEARCH_FIELD, Column, ListSpec, list_records
from repositories.paging import Cursor, KeysetPage, Sort

if TYPE_CHECKING:
    from repositories.infracciones import InfraccionRepository
    from repositories.vehiculos import VehiculoRepository

COLLECTION = "personas"
VEHICLE_COUNTER = "n_vehiculos"
PENDING_FIELD = "vehiculos_con_infracciones_en_curso"
LIST = ListSpec(
    columns=(Column("nombre", "nombre", str), Column("correo", "correo", str, unique_index="correo_unique")),
    filters={},
    default="nombre_asc",
)
INDEXES = [IndexModel([("correo", ASCENDING)], unique=True, name="correo_unique"), *LIST.indexes()]
SUGGESTIONS = 8  # personas the owner picker offers at once
VALIDATOR = {
    "$jsonSchema": {
        "bsonType": "object",
        "required": ["nombre", "correo", VEHICLE_COUNTER, "creado_en"],
        "properties": {
            "nombre": {"bsonType": "string", "minLength": 1, "maxLength": rules.NOMBRE_MAX},
            "correo": {"bsonType": "string", "minLength": 3, "maxLength": rules.CORREO_MAX},
            VEHICLE_COUNTER: {"bsonType": ["int", "long"], "minimum": 0},
            "creado_en": {"bsonType": "date"},
        },
    }
}
UNIQUE = Unique("correo", "Ya existe una persona con ese correo electrónico.", ("nombre",), lambda holder: holder["nombre"])


def search_terms(nombre: str, correo: str) -> list[str]:
    """What finds a persona in a search box: the beginnings of the words of her name and e-mail
    (vehicles store them too, so that a vehicle is found by its owner's name)."""
    return rules.search_terms(nombre, correo)


@dataclasses.dataclass(frozen=True)
class Persona:
    id: str
    nombre: str
    correo: str
    n_vehiculos: int = 0

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Persona:
        return cls(str(doc["_id"]), doc["nombre"], doc["correo"], doc[VEHICLE_COUNTER])


def _fields(nombre: str, correo: str) -> dict[str, Any]:
    fields = {
        "nombre": rules.text_or_raise(nombre, field="nombre", maximum=rules.NOMBRE_MAX),
        "correo": rules.normalize_email(correo),
    }
    return {**fields, SEARCH_FIELD: search_terms(fields["nombre"], fields["correo"])}


def new_document(*, nombre: str, correo: str, now: dt.datetime) -> dict[str, Any]:
    """A new persona as stored: the one shape written by create() and by the bulk loader."""
    return {**_fields(nombre, correo), VEHICLE_COUNTER: 0, "creado_en": now}


def vehicles_added(counts: Mapping[ObjectId, int]) -> list[UpdateOne]:
    """The counter updates for ``counts`` new vehicles per owner (the bulk loader's writes)."""
    return [UpdateOne({"_id": oid}, {"$inc": {VEHICLE_COUNTER: n}}) for oid, n in counts.items()]


class PersonaRepository(RecordRepository):
    COLLECTION = COLLECTION
    UNIQUE = UNIQUE
    _vehiculos: VehiculoRepository | None = None
    _infracciones: InfraccionRepository | None = None

    def connect(self, *, vehiculos: VehiculoRepository, infracciones: InfraccionRepository) -> None:
        """The records that point at a persona, which her delete guard looks at."""
        self._vehiculos = vehiculos
        self._infracciones = infracciones

    async def create(self, *, nombre: str, correo: str) -> Persona:
        doc = new_document(nombre=nombre, correo=correo, now=rules.to_millisecond(self._clock.now()))
        return Persona.from_doc(await self._create(doc))

    async def get(self, persona_id: str | ObjectId) -> Persona:
        query = {"_id": object_id(persona_id, "persona")}
        return Persona.from_doc(await find_or_raise(self.collection, query, f"No existe la persona {persona_id}."))

    async def get_many(self, persona_ids: list[str]) -> dict[str, Persona]:
        """The personas with these ids, by id (one query, for a page of vehicles)."""
        ids = [object_id(persona_id, "persona") for persona_id in set(persona_ids)]
        return {str(doc["_id"]): Persona.from_doc(doc) async for doc in self.collection.find({"_id": {"$in": ids}})}

    async def get_by_email(self, correo: str) -> Persona:
        normalized = rules.normalize_email(correo)
        message = f"No existe una persona con el correo {normalized}."
        doc = await find_or_raise(self.collection, {"correo": normalized}, message, field="correo")
        return Persona.from_doc(doc)

    async def find_by_email(self, correo: str) -> Persona | None:
        """The persona with this e-mail, or None (also for a malformed one)."""
        try:
            normalized = rules.normalize_email(correo)
        except InvalidValue:
            return None
        doc = await self.collection.find_one({"correo": normalized})
        return Persona.from_doc(doc) if doc else None

    async def with_vehicles(self, correo: str) -> dict[str, Any] | None:
        """The vehicles (ids, makes and colours) of the persona with this normalised e-mail, in one
        command, as ``{"vehiculos": [...]}``; None when no persona has it."""
        pipeline = [
            {"$match": {"correo": correo}},
            {"$limit": 1},
            {
                "$lookup": {
                    "from": vehiculos_module.COLLECTION,
                    "localField": "_id",
                    "foreignField": "persona_id",
                    "as": "vehiculos",
                }
            },
            {"$project": {"_id": 0, "vehiculos._id": 1, "vehiculos.marca": 1, "vehiculos.color": 1}},
        ]
        found = await (await self.collection.aggregate(pipeline)).to_list(1)
        return found[0] if found else None

    async def update(self, persona_id: str, *, nombre: str, correo: str) -> Persona:
        return (await self.edit(persona_id, nombre=nombre, correo=correo)).record

    async def edit(self, persona_id: str, *, nombre: str, correo: str) -> Edit[Persona]:
        """Save her name and e-mail; says whether anything changed (nothing changed: no audit entry).
        Her vehicles store her search terms, so a new name or e-mail is written on them too."""
        assert self._vehiculos is not None, "connect() the repository first"
        oid = object_id(persona_id, "persona")
        fields = _fields(nombre, correo)

        async def write(session: AsyncClientSession) -> tuple[dict[str, Any], bool]:
            before, after = await self._update(session, oid, {"$set": fields}, f"No existe la persona {persona_id}.")
            if after == before:
                return after, False
            await self._audit.record(session, accion=audit.EDITAR, coleccion=COLLECTION, documento_id=oid, antes=before, despues=after)
            if before.get(SEARCH_FIELD) != after[SEARCH_FIELD]:
                await self._vehiculos.owner_renamed(oid, after, session=session)
            return after, True

        doc, changed = await self._transaction(write, fields)
        return Edit(Persona.from_doc(doc), changed)

    # -- the vehicle counter, written in the vehicle's transaction -----------------------------------
    async def take_vehicle(self, persona_id: ObjectId, session: AsyncClientSession) -> dict[str, Any]:
        """Count a vehicle on its new owner; her name and e-mail (the vehicle stores her search terms)."""
        owner = await self.collection.find_one_and_update(
            {"_id": persona_id}, {"$inc": {VEHICLE_COUNTER: 1}}, projection={"nombre": 1, "correo": 1}, session=session
        )
        if owner is None:
            raise MissingReference("La persona propietaria no existe.", field="persona")
        return owner

    async def release_vehicle(
        self, persona_id: ObjectId, vehiculo_id: ObjectId, *, infraction_in_flight: bool, session: AsyncClientSession
    ) -> None:
        release: dict[str, Any] = {"$inc": {VEHICLE_COUNTER: -1}}
        if infraction_in_flight:
            # An infraction naming her as the owner may still land: keep her from being deleted.
            release["$addToSet"] = {PENDING_FIELD: vehiculo_id}
        await self.collection.update_one({"_id": persona_id}, release, session=session)

    # -- delete ----------------------------------------------------------------------------------
    async def delete(self, persona_id: str) -> None:
        """Delete a persona who owns no vehicle and is named in no infraction.

        The vehicle check is the document's own counter, so "check and delete" is one atomic
        operation: a vehicle created concurrently either increments the counter first (and this
        delete matches nothing) or finds the persona gone (and is refused). Infractions name the
        owner at the time; one still being written when its vehicle was transferred away is
        covered by PENDING_FIELD (see VehiculoRepository.update)."""
        assert self._vehiculos is not None and self._infracciones is not None, "connect() the repository first"
        oid = object_id(persona_id, "persona")
        await self._settle_transferred_vehicles(oid)
        if await self._infracciones.names_owner(oid):
            raise self._owner_in_infractions(await self.get(oid))
        if await in_transaction(self._db, lambda session: self._delete_if_free(oid, session)):
            return
        persona = await self.get(oid)  # raises NotFound when it was not there at all
        raise await self._owns_vehicles(persona)

    async def delete_refusal(self, persona_id: str) -> StillReferenced | None:
        """Why she cannot be deleted now (what ``delete`` would refuse with), or None: read only, for
        the confirmation page, which shows the refusal before any button."""
        assert self._infracciones is not None
        persona = await self.get(persona_id)
        if persona.n_vehiculos:
            return await self._owns_vehicles(persona)
        if await self._infracciones.names_owner(ObjectId(persona.id)):
            return self._owner_in_infractions(persona)
        doc = await self.collection.find_one({"_id": ObjectId(persona.id)}, {PENDING_FIELD: 1})
        return self._transfer_in_flight() if (doc or {}).get(PENDING_FIELD) else None

    async def _owns_vehicles(self, persona: Persona) -> StillReferenced:
        assert self._vehiculos is not None
        vehiculos = await self._vehiculos.list_by_persona(persona.id)
        placas = [v.placa_patente for v in vehiculos]
        return StillReferenced(
            f"No se puede borrar a {persona.nombre}: todavía tiene "
            f"{rules.plural(len(placas), 'vehículo', 'vehículos')} a su nombre: {', '.join(placas)}. "
            "Transfiéralos a otra persona o bórrelos primero.",
            references=[Reference(v.placa_patente, "vehiculos", id=v.id) for v in vehiculos],
        )

    @staticmethod
    def _transfer_in_flight() -> StillReferenced:
        return StillReferenced(
            "No se puede borrar todavía: se está registrando una infracción de un vehículo que le "
            "perteneció. Intente nuevamente en unos segundos."
        )

    @staticmethod
    def _owner_in_infractions(persona: Persona) -> StillReferenced:
        return StillReferenced(
            f"No se puede borrar a {persona.nombre}: figura como propietaria o propietario de un vehículo en "
            "infracciones registradas, que son registros legales.",
            references=[Reference("Ver esas infracciones", "infracciones", filters={"correo": persona.correo})],
        )

    async def _delete_if_free(self, oid: ObjectId, session: AsyncClientSession) -> bool:
        """One atomic check and delete (with its audit entry); False when she still owns something."""
        free = {"_id": oid, VEHICLE_COUNTER: 0, PENDING_FIELD: {"$in": [None, []]}}
        return await self._delete(free, session) is not None

    async def _settle_transferred_vehicles(self, oid: ObjectId) -> None:
        assert self._vehiculos is not None
        doc = await self.collection.find_one({"_id": oid}, {PENDING_FIELD: 1})
        pending = (doc or {}).get(PENDING_FIELD) or []
        if not pending:
            return
        settled = await self._vehiculos.settled(pending)
        if settled:
            await self.collection.update_one({"_id": oid}, {"$pull": {PENDING_FIELD: {"$in": settled}}})
        if len(settled) < len(pending):
            raise self._transfer_in_flight()

    async def search(
        self, *, q: str = "", sort: Sort | None = None, per_page: int = 20, page: int = 1, cursor: Cursor | None = None
    ) -> KeysetPage[Persona]:
        """A page of the list: the personas whose name or e-mail has words beginning with every
        word of ``q`` (accents and case aside), in ``sort`` (``LIST.sorts``)."""
        return await list_records(
            self.collection, LIST, Persona.from_doc, q=q, sort=sort, per_page=per_page, page=page, cursor=cursor
        )

    async def suggest(self, q: str, *, limit: int = SUGGESTIONS) -> list[Persona]:
        """The first personas (by name) matching ``q``, for the owner picker; none for an empty ``q``."""
        terms = rules.query_terms(q)
        if not terms:
            return []
        query, index = LIST.plan(LIST.sort("nombre_asc"), terms=terms, filters={})
        cursor = self.collection.find(query, {"nombre": 1, "correo": 1, VEHICLE_COUNTER: 1}, sort=[("nombre", ASCENDING)], limit=limit, hint=index)
        return [Persona.from_doc(doc) async for doc in cursor]

    async def get_some(self, persona_ids: list[str]) -> list[Persona]:
        """The personas with these ids that exist (a bulk action's selection), by name."""
        found = [Persona.from_doc(doc) for doc in await self._some(persona_ids, "persona")]
        return sorted(found, key=lambda p: (rules.fold(p.nombre), p.id))


async def migrate(db: AsyncDatabase) -> int:
    """Give personas written before search terms existed their ``busqueda`` (idempotent: only those
    without it, found through the search index, which holds a missing field as null). How many."""
    missing = LIST.without_terms(db[COLLECTION], {"nombre": 1, "correo": 1})
    return await set_each(
        db[COLLECTION], {doc["_id"]: {SEARCH_FIELD: search_terms(doc["nombre"], doc["correo"])} async for doc in missing}
    )
