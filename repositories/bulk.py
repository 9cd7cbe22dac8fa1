"""Bulk loading for demo and benchmark data: ``insert_many`` in batches, writing documents of the
same shape as the repositories write one at a time (each module's ``new_document``), and keeping
the reference counters exact with each module's own counter updates (``vehicles_added``,
``infractions_added``).

Counters are incremented before the documents that they count are inserted, as the repositories
do: an interrupted load leaves counters high (a delete refused), never low (a dangling reference)."""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
from typing import Any, Callable, Iterable, Iterator, TypeVar

from bson import ObjectId
from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from domain.clock import SYSTEM_CLOCK, Clock

from repositories import infracciones, oficiales, personas, tokens, vehiculos

DEFAULT_BATCH = 1000
T = TypeVar("T")
Progress = Callable[[int], object]

# Everything but the administrators: what --drop clears before a demo load.
DEMO_COLLECTIONS = (infracciones.COLLECTION, tokens.COLLECTION, vehiculos.COLLECTION, oficiales.COLLECTION, personas.COLLECTION)


@dataclasses.dataclass(frozen=True)
class NewPersona:
    nombre: str
    correo: str


@dataclasses.dataclass(frozen=True)
class NewVehiculo:
    placa_patente: str
    marca: str
    color: str
    persona_id: ObjectId


@dataclasses.dataclass(frozen=True)
class NewOficial:
    nombre: str
    numero: int
    activo: bool = True


@dataclasses.dataclass(frozen=True)
class NewInfraccion:
    """``vehiculo`` and ``oficial`` are documents as returned by the loader (or read from MongoDB)."""

    vehiculo: dict[str, Any]
    oficial: dict[str, Any]
    timestamp: dt.datetime
    comentarios: str


def _batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class BulkLoader:
    def __init__(
        self, db: AsyncDatabase, *, batch_size: int = DEFAULT_BATCH, progress: Progress | None = None, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self._db = db
        self._clock = clock
        self._batch_size = batch_size
        self._progress = progress or (lambda n: None)

    async def clear_demo_data(self) -> None:
        """Empty every collection except ``admins`` (indexes and validators stay)."""
        for name in DEMO_COLLECTIONS:
            await self._db[name].delete_many({})

    async def personas(self, rows: Iterable[NewPersona]) -> list[dict[str, Any]]:
        now = self._clock.now()
        docs = [{"_id": ObjectId(), **personas.new_document(nombre=row.nombre, correo=row.correo, now=now)} for row in rows]
        await self._insert(personas.COLLECTION, docs)
        return docs

    async def vehiculos(self, rows: Iterable[NewVehiculo]) -> list[dict[str, Any]]:
        """Vehicles of existing personas (whose names and e-mails go into the vehicles' search terms)."""
        now = self._clock.now()
        rows = list(rows)
        owner_ids = list({row.persona_id for row in rows})
        owners = {doc["_id"]: doc async for doc in self._db[personas.COLLECTION].find({"_id": {"$in": owner_ids}}, {"nombre": 1, "correo": 1})}
        docs = [
            {
                "_id": ObjectId(),
                **vehiculos.new_document(
                    placa_patente=row.placa_patente, marca=row.marca, color=row.color, persona_id=row.persona_id,
                    owner=owners[row.persona_id], now=now,
                ),
            }
            for row in rows
        ]
        for batch in _batches(docs, self._batch_size):
            await self._count(personas.COLLECTION, personas.vehicles_added, (doc["persona_id"] for doc in batch))
            await self._db[vehiculos.COLLECTION].insert_many(batch)
            self._progress(len(batch))
        return docs

    async def oficiales(self, rows: Iterable[NewOficial]) -> list[dict[str, Any]]:
        now = self._clock.now()
        docs = [
            {"_id": ObjectId(), **oficiales.new_document(nombre=row.nombre, numero=row.numero, activo=row.activo, now=now)}
            for row in rows
        ]
        await self._insert(oficiales.COLLECTION, docs)
        return docs

    async def infracciones(self, rows: Iterable[NewInfraccion]) -> int:
        """Insert infractions shaped as ``InfraccionRepository.record`` writes them; returns how many."""
        count = 0
        now = self._clock.now()
        for batch in _batches(rows, self._batch_size):
            docs = [
                infracciones.new_document(
                    vehiculo=row.vehiculo,
                    oficial=row.oficial,
                    placa_patente=row.vehiculo["placa_patente"],
                    timestamp=row.timestamp,
                    comentarios=row.comentarios,
                    now=now,
                    carga={"via": "carga_masiva"},
                )
                for row in batch
            ]
            await self._count(oficiales.COLLECTION, oficiales.infractions_added, (doc["oficial_id"] for doc in docs))
            await self._count(vehiculos.COLLECTION, vehiculos.infractions_added, (doc["vehiculo_id"] for doc in docs))
            await self._db[infracciones.COLLECTION].insert_many(docs)
            self._progress(len(docs))
            count += len(docs)
        return count

    async def _insert(self, collection: str, docs: list[dict[str, Any]]) -> None:
        for batch in _batches(docs, self._batch_size):
            await self._db[collection].insert_many(batch)
            self._progress(len(batch))

    async def _count(
        self, collection: str, updates: Callable[[collections.Counter[ObjectId]], list[UpdateOne]], ids: Iterable[ObjectId]
    ) -> None:
        """Increment a counter before the documents it counts are inserted (as the repositories do)."""
        counts = collections.Counter(ids)
        if counts:
            await self._db[collection].bulk_write(updates(counts), ordered=False)
