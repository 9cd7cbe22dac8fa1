"""Repositories: the only code that talks to MongoDB. ``Repositories`` bundles one of each over a
database; ``prepare_database`` creates collections, validators and indexes, idempotently."""

from __future__ import annotations

import dataclasses
import logging

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import CollectionInvalid, OperationFailure

from repositories import admins, infracciones, oficiales, personas, tokens, vehiculos
from repositories.admins import AdminRepository
from repositories.infracciones import InfraccionRepository
from repositories.oficiales import OficialRepository
from repositories.personas import PersonaRepository
from repositories.tokens import TokenRepository
from repositories.vehiculos import VehiculoRepository

log = logging.getLogger(__name__)
_MODULES = (personas, vehiculos, oficiales, infracciones, tokens, admins)


@dataclasses.dataclass(frozen=True)
class Repositories:
    db: AsyncDatabase
    personas: PersonaRepository
    vehiculos: VehiculoRepository
    oficiales: OficialRepository
    infracciones: InfraccionRepository
    tokens: TokenRepository
    admins: AdminRepository

    @classmethod
    def over(cls, db: AsyncDatabase) -> Repositories:
        return cls(
            db=db,
            personas=PersonaRepository(db),
            vehiculos=VehiculoRepository(db),
            oficiales=OficialRepository(db),
            infracciones=InfraccionRepository(db),
            tokens=TokenRepository(db),
            admins=AdminRepository(db),
        )

    async def ping(self) -> None:
        await self.db.command("ping")


async def prepare_database(db: AsyncDatabase) -> None:
    """Create each collection with its ``$jsonSchema`` validator (or update the validator) and its
    indexes. Safe to run at every start-up."""
    existing = set(await db.list_collection_names())
    for module in _MODULES:
        name = module.COLLECTION
        if name not in existing:
            try:
                await db.create_collection(name, validator=module.VALIDATOR)
            except CollectionInvalid:
                pass  # created by a concurrent start-up
        else:
            try:
                await db.command("collMod", name, validator=module.VALIDATOR)
            except OperationFailure as error:
                log.warning("could not update the validator of %s: %s", name, error)
        if module.INDEXES:
            await db[name].create_indexes(module.INDEXES)
