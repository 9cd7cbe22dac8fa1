"""The ``infracciones`` collection: legal records, written once and never deleted.

Recording one through the API takes three commands and no transaction:
1. ``OficialRepository.count_infraction``: the officer is matched on (número, active, live token
   ``jti``) and its counter incremented: the token check and the officer's delete guard in one write;
2. ``VehiculoRepository.count_infraction``: the vehicle is matched on its plate and its counter
   incremented (its delete guard);
3. the infraction is inserted with write concern majority (set on the client), carrying who loaded
   it and from where (``carga``): it is its own audit record.
A counter is only given back when the insert certainly did not happen, so counters can run high
(refusing a delete that would have been safe) but never low (allowing a dangling reference).

The admin's list and export are in ``listing.py``; status changes and corrections, which are
administrative writes with audit entries, in ``states.py``; the document itself in ``schema.py``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from domain import catalogo, lifecycle, rules
from domain.catalogo import Version
from domain.clock import Clock
from domain.errors import Conflict, CredentialNotLive, NotFound
from repositories.auditoria import AuditLog
from repositories.catalogo import CatalogCache, CatalogoRepository
from repositories.evidencias import EvidenceStore
from repositories.base import duplicate_field, find_or_raise, object_id
from repositories.infracciones.listing import SORTS, InfraccionFilters, ListingMixin
from repositories.infracciones.schema import (
    COLLECTION,
    INDEXES,
    REPORT_FIELDS,
    RETIRED_INDEXES,
    VALIDATOR,
    Infraccion,
    Report,
    ReportItem,
    StatusChange,
    new_document,
)
from repositories.infracciones.evidence import EvidenceMixin
from repositories.infracciones.states import StatesMixin
from repositories.oficiales import OficialRepository
from repositories.personas import PersonaRepository
from repositories.vehiculos import VehiculoRepository

__all__ = [
    "COLLECTION", "INDEXES", "RETIRED_INDEXES", "SORTS", "VALIDATOR", "Infraccion", "InfraccionFilters",
    "InfraccionRepository", "Report", "ReportItem", "StatusChange", "new_document",
]


class InfraccionRepository(ListingMixin, StatesMixin, EvidenceMixin):
    def __init__(
        self, db: AsyncDatabase, clock: Clock, audit: AuditLog, *, oficiales: OficialRepository, vehiculos: VehiculoRepository,
        personas: PersonaRepository, catalogo: CatalogoRepository, catalog_cache: CatalogCache, evidencias: EvidenceStore,
    ) -> None:
        self._db = db
        self.collection = db[COLLECTION]
        self._clock = clock
        self._audit = audit
        self._catalogo = catalogo
        self._catalog_cache = catalog_cache
        self._evidencias = evidencias
        self._oficiales = oficiales
        self._vehiculos = vehiculos
        self._personas = personas

    async def record(
        self,
        *,
        numero_oficial: int,
        jti: str,
        placa_patente: str,
        timestamp: dt.datetime,
        comentarios: str,
        clave_idempotencia: str | None = None,
        request_id: str | None = None,
        cliente: str | None = None,
        codigo: str | None = None,
        ubicacion: dict[str, Any] | None = None,
    ) -> tuple[Infraccion, bool]:
        """Record an infraction loaded by an officer's app; returns it and whether it was created
        (False: a retry of one already recorded). Raises CredentialNotLive, NotFound (the plate, or
        an offence code not in force at ``timestamp``) or Conflict (key reused). The code is
        resolved from this process's copy of the catalogue: no extra command."""
        version = await self._offence(codigo, timestamp) if codigo is not None else None
        oficial = await self._oficiales.count_infraction(numero=numero_oficial, jti=jti)
        if oficial is None:
            raise CredentialNotLive()
        vehiculo = await self._vehiculos.count_infraction(placa_patente)
        if vehiculo is None:
            await self._oficiales.give_back_infraction(oficial["_id"])
            raise NotFound(f"No existe un vehículo con la placa patente {placa_patente}.", field="placa_patente")

        doc = new_document(
            vehiculo=vehiculo,
            oficial=oficial,
            placa_patente=placa_patente,
            timestamp=timestamp,
            comentarios=comentarios,
            now=rules.to_millisecond(self._clock.now()),
            carga={"via": "api", "token_jti": jti, "request_id": request_id, "cliente": cliente},
            infraccion=version.snapshot() if version else None,
            ubicacion=ubicacion,
        )
        if clave_idempotencia is not None:
            doc["clave_idempotencia"] = f"{oficial['_id']}:{clave_idempotencia}"
        try:
            await self.collection.insert_one(doc)
        except DuplicateKeyError as error:
            # A retry: nothing new was written, so give both counters back and answer with the original.
            await self._give_back(oficial_id=oficial["_id"], vehiculo_id=vehiculo["_id"])
            return await self._original(error, doc), False
        return Infraccion.from_doc(doc), True

    async def _offence(self, codigo: str, at: dt.datetime) -> Version:
        version = await self._catalog_cache.version_at(self._catalogo, codigo, at)
        if version is None:
            message = f"El código {codigo} no existe en el catálogo o no estaba vigente en la fecha de la infracción."
            raise NotFound(message, field="codigo")
        return version

    async def _give_back(self, *, oficial_id: ObjectId, vehiculo_id: ObjectId) -> None:
        await self._oficiales.give_back_infraction(oficial_id)
        await self._vehiculos.give_back_infraction(vehiculo_id)

    async def _original(self, error: DuplicateKeyError, attempted: dict[str, Any]) -> Infraccion:
        if duplicate_field(error) == "clave_idempotencia":
            original = await self.collection.find_one({"clave_idempotencia": attempted["clave_idempotencia"]})
            same = original is not None and all(
                original.get(k) == attempted.get(k) for k in ("placa_patente", "timestamp", "comentarios", "infraccion", "ubicacion")
            )
            if not same:
                raise Conflict(
                    "La clave de idempotencia ya se usó para otra infracción con datos distintos.",
                    field="clave_idempotencia",
                ) from error
        else:
            offence = (attempted.get("infraccion") or {}).get("codigo")  # None matches a load without a code
            original = await self.collection.find_one(
                {**{k: attempted[k] for k in ("oficial_id", "placa_patente", "timestamp")}, "infraccion.codigo": offence, "carga.via": "api"},
                hint="misma_observacion_codigo",
            )
        if original is None:  # pragma: no cover - the unique index just said it exists
            raise error
        return Infraccion.from_doc(original)

    async def report(self, *, correo: str, limit: int, offset: int) -> Report:
        """Infractions of every vehicle currently in the name of the persona with this address
        (normalised: ``rules.normalize_email``, as the report's handler has it), newest first, in two
        commands; annulled ones are left out, and only the fields the report shows are read. An
        address nobody has gets the same answer as a persona without vehicles."""
        persona = await self._personas.with_vehicles(correo)
        vehiculos = {v["_id"]: v for v in persona["vehiculos"]} if persona else {}
        if not vehiculos:
            return Report(0, [])
        faceted = await (
            await self.collection.aggregate(
                [
                    # Two stages, not one: MongoDB merges them and reads vehiculo_timestamp; SecantusDB
                    # (the development and test database) reads that index only for the first alone,
                    # and a hint would make it walk the whole index, so the report would grow with the
                    # collection.
                    {"$match": {"vehiculo_id": {"$in": list(vehiculos)}}},
                    {"$match": {"estado": {"$ne": lifecycle.ANULADA}}},
                    {"$sort": {"timestamp": -1, "_id": -1}},
                    {
                        "$facet": {
                            "total": [{"$count": "n"}],
                            "items": [{"$skip": offset}, {"$limit": limit}, {"$project": REPORT_FIELDS}],
                        }
                    },
                ]
            )
        ).to_list(None)
        [result] = faceted  # a $facet answers one document
        # $count over no documents is [] on MongoDB and [{"n": 0}] on SecantusDB: a sum reads both.
        total = sum(count["n"] for count in result["total"])
        # The report shows each vehicle as it is now.
        return Report(total, [ReportItem.from_doc(doc, vehiculos[doc["vehiculo_id"]]) for doc in result["items"]])

    async def get(self, infraccion_id: str | ObjectId) -> Infraccion:
        query = {"_id": object_id(infraccion_id, "infracción")}
        return Infraccion.from_doc(await find_or_raise(self.collection, query, f"No existe la infracción {infraccion_id}."))

    async def latest(self, *, limit: int = 10) -> list[Infraccion]:
        """The latest infractions by their own time (what happened most recently)."""
        cursor = self.collection.find({}, sort=[("timestamp", -1), ("_id", -1)], limit=limit, hint="lista_infraccion")
        return [Infraccion.from_doc(doc) async for doc in cursor]

    async def count_between(self, since: dt.datetime, until: dt.datetime) -> int:
        """Infractions that happened in [since, until), by their own time, annulled ones included."""
        return await self.collection.count_documents({"timestamp": {"$gte": since, "$lt": until}}, hint="lista_infraccion")

    async def count(self) -> int:
        return await self.collection.estimated_document_count()

    async def count_for_vehicle(self, vehiculo_id: ObjectId, *, session: AsyncClientSession | None = None) -> int:
        return await self.collection.count_documents({"vehiculo_id": vehiculo_id}, session=session)

    async def names_owner(self, persona_id: ObjectId) -> bool:
        """Whether some infraction names this persona as the vehicle's owner at the time."""
        return bool(await self.collection.count_documents({"persona_id": persona_id}, limit=1, hint="persona_infraccion"))

    async def filters(
        self, *, placa: str = "", correo: str = "", numero: int | None = None, estado: str = "", codigo: str = "",
        gravedad: str = "", desde: dt.datetime | None = None, hasta: dt.datetime | None = None,
    ) -> InfraccionFilters:
        """A selection from what an administrator typed: the owner by e-mail and the officer by
        número are looked up; one that does not exist selects nothing."""
        persona_id = oficial_id = None
        none = False
        if correo:
            persona = await self._personas.find_by_email(correo)
            none = persona is None
            persona_id = ObjectId(persona.id) if persona else None
        if numero is not None:
            oficial = await self._oficiales.find_by_numero(numero)
            none = none or oficial is None
            oficial_id = ObjectId(oficial.id) if oficial else None
        return InfraccionFilters(
            placa=rules.normalize_plate(placa) if placa else "",
            persona=persona_id,
            oficial=oficial_id,
            codigo=codigo.strip().upper(),
            estado=estado if estado in lifecycle.STATES else "",
            gravedad=gravedad if gravedad in catalogo.SEVERITIES else "",
            desde=desde,
            hasta=hasta,
            none=none,
        )


async def migrate(db: AsyncDatabase) -> None:
    """Give infractions recorded before statuses existed their status and provenance (idempotent)."""
    await db[COLLECTION].update_many(
        {"estado": {"$exists": False}}, {"$set": {"estado": lifecycle.REGISTRADA, "historial": [], "carga": {"via": "api"}}}
    )
