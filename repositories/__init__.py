"""Repositories: the only code that talks to MongoDB, one module per collection. ``Repositories``
assembles one of each over a database, handing each the siblings whose invariants its writes must
keep (the wiring is all in ``Repositories.over``); ``prepare_database`` creates collections,
validators and indexes, idempotently."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import CollectionInvalid, OperationFailure

from domain.clock import SYSTEM_CLOCK, Clock
from repositories import admins, consultas, infracciones, limites, oficiales, personas, sesiones, tokens, vehiculos
from repositories.admins import AdminRepository
from repositories.consultas import LookupRepository
from repositories.infracciones import InfraccionRepository
from repositories.limites import LimitRepository
from repositories.oficiales import OficialRepository
from repositories.personas import PersonaRepository
from repositories.sesiones import SessionRepository
from repositories.tokens import TokenRepository
from repositories.vehiculos import VehiculoRepository

log = logging.getLogger(__name__)
_MODULES = (personas, vehiculos, oficiales, infracciones, tokens, admins, sesiones, limites, consultas)


@dataclasses.dataclass(frozen=True)
class Repositories:
    db: AsyncDatabase
    clock: Clock
    personas: PersonaRepository
    vehiculos: VehiculoRepository
    oficiales: OficialRepository
    infracciones: InfraccionRepository
    tokens: TokenRepository
    admins: AdminRepository
    sesiones: SessionRepository
    limites: LimitRepository
    consultas: LookupRepository

    @classmethod
    def over(
        cls,
        db: AsyncDatabase,
        *,
        clock: Clock = SYSTEM_CLOCK,
        session_idle: dt.timedelta = dt.timedelta(minutes=30),
        session_lifetime: dt.timedelta = dt.timedelta(hours=12),
    ) -> Repositories:
        personas = PersonaRepository(db, clock)
        vehiculos = VehiculoRepository(db, clock, personas=personas)  # a vehicle's owner counts it
        oficiales = OficialRepository(db, clock)
        tokens = TokenRepository(db, clock, oficiales=oficiales)  # a token is live on its officer
        # Recording counts the infraction on its officer and vehicle; the report starts at the persona.
        infracciones = InfraccionRepository(db, clock, oficiales=oficiales, vehiculos=vehiculos, personas=personas)
        # The other direction: what a delete or a transfer must look at before it writes.
        personas.connect(vehiculos=vehiculos, infracciones=infracciones)
        vehiculos.connect(infracciones=infracciones)
        oficiales.connect(tokens=tokens)
        sesiones = SessionRepository(db, clock, idle=session_idle, lifetime=session_lifetime)
        return cls(
            db=db,
            clock=clock,
            personas=personas,
            vehiculos=vehiculos,
            oficiales=oficiales,
            infracciones=infracciones,
            tokens=tokens,
            admins=AdminRepository(db, clock, sesiones=sesiones),  # a password reset ends the sessions
            sesiones=sesiones,
            limites=LimitRepository(db),
            consultas=LookupRepository(db),
        )

    async def ping(self) -> None:
        await self.db.command("ping")


async def prepare_database(db: AsyncDatabase, *, lookup_retention_days: int = 90) -> None:
    """Create each collection with its ``$jsonSchema`` validator (or update the validator) and its
    indexes, and set how long lookups are kept. Safe to run at every start-up."""
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
    await LookupRepository(db).keep_for(lookup_retention_days)
