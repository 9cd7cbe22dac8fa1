"""Repositories: the only code that talks to MongoDB, one module per collection. ``Repositories``
assembles one of each over a database, handing each the siblings whose invariants its writes must
keep and the audit log its writes are recorded in, for one actor (the wiring is all in
``Repositories.over``; ``acting_as`` makes the same set for another actor, such as the
administrator of a request). ``prepare_database`` creates collections, validators and indexes,
idempotently."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from argon2 import PasswordHasher
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import CollectionInvalid, OperationFailure

from domain.audit import SYSTEM, Actor
from domain.clock import SYSTEM_CLOCK, Clock
from repositories import admins, auditoria, catalogo, consultas, evidencias, infracciones, limites, oficiales, personas, sesiones, tokens, vehiculos
from repositories.admins import AdminRepository
from repositories.auditoria import AuditLog, AuditRepository
from repositories.catalogo import CatalogCache, CatalogoRepository
from repositories.evidencias import EvidenceStore
from repositories.consultas import LookupRepository
from repositories.infracciones import InfraccionRepository
from repositories.limites import LimitRepository
from repositories.oficiales import OficialRepository
from repositories.personas import PersonaRepository
from repositories.sesiones import SessionRepository
from repositories.tokens import TokenRepository
from repositories.vehiculos import VehiculoRepository

log = logging.getLogger(__name__)
_MODULES = (personas, vehiculos, oficiales, infracciones, tokens, admins, sesiones, limites, consultas, auditoria, catalogo)


@dataclasses.dataclass(frozen=True)
class Repositories:
    db: AsyncDatabase
    clock: Clock
    actor: Actor
    session_idle: dt.timedelta
    session_lifetime: dt.timedelta
    password_hasher: PasswordHasher
    personas: PersonaRepository
    vehiculos: VehiculoRepository
    oficiales: OficialRepository
    infracciones: InfraccionRepository
    tokens: TokenRepository
    admins: AdminRepository
    sesiones: SessionRepository
    limites: LimitRepository
    consultas: LookupRepository
    auditoria: AuditRepository
    catalogo: CatalogoRepository
    catalog_cache: CatalogCache  # one per process: shared by every Repositories made from this one
    evidencias: EvidenceStore

    @classmethod
    def over(
        cls,
        db: AsyncDatabase,
        *,
        clock: Clock = SYSTEM_CLOCK,
        session_idle: dt.timedelta = dt.timedelta(minutes=30),
        session_lifetime: dt.timedelta = dt.timedelta(hours=12),
        actor: Actor = SYSTEM,
        catalog_cache: CatalogCache | None = None,
        password_hasher: PasswordHasher = admins.PASSWORD_HASHER,
    ) -> Repositories:
        audit = AuditLog(db, clock, actor)  # every write below is recorded under this actor
        catalog_cache = catalog_cache or CatalogCache(clock)
        catalogo = CatalogoRepository(db, clock, audit)
        evidencias = EvidenceStore(db)
        personas = PersonaRepository(db, clock, audit)
        vehiculos = VehiculoRepository(db, clock, audit, personas=personas)  # a vehicle's owner counts it
        oficiales = OficialRepository(db, clock, audit)
        tokens = TokenRepository(db, clock, audit, oficiales=oficiales)  # a token is live on its officer
        # Recording counts the infraction on its officer and vehicle; the report starts at the persona.
        infracciones = InfraccionRepository(
            db, clock, audit, oficiales=oficiales, vehiculos=vehiculos, personas=personas, catalogo=catalogo,
            catalog_cache=catalog_cache,  # an offence code is resolved from this process's copy of the catalogue
            evidencias=evidencias,  # the photos listed on an infraction are files in GridFS
        )
        # The other direction: what a delete or a transfer must look at before it writes.
        personas.connect(vehiculos=vehiculos, infracciones=infracciones)
        vehiculos.connect(infracciones=infracciones)
        oficiales.connect(tokens=tokens)
        sesiones = SessionRepository(db, clock, audit, idle=session_idle, lifetime=session_lifetime)
        return cls(
            db=db,
            clock=clock,
            actor=actor,
            session_idle=session_idle,
            session_lifetime=session_lifetime,
            password_hasher=password_hasher,
            personas=personas,
            vehiculos=vehiculos,
            oficiales=oficiales,
            infracciones=infracciones,
            tokens=tokens,
            admins=AdminRepository(db, clock, audit, sesiones=sesiones, hasher=password_hasher),  # a password reset ends the sessions
            sesiones=sesiones,
            limites=LimitRepository(db),
            consultas=LookupRepository(db),
            auditoria=AuditRepository(db),
            catalogo=catalogo,
            catalog_cache=catalog_cache,
            evidencias=evidencias,
        )

    def acting_as(self, actor: Actor) -> Repositories:
        """The same repositories, recording their writes under ``actor``."""
        if actor == self.actor:
            return self
        return Repositories.over(
            self.db, clock=self.clock, session_idle=self.session_idle, session_lifetime=self.session_lifetime, actor=actor,
            catalog_cache=self.catalog_cache, password_hasher=self.password_hasher,
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
        existing_indexes = await db[name].index_information() if name in existing else {}
        for retired in getattr(module, "RETIRED_INDEXES", ()):
            if retired in existing_indexes:
                await db[name].drop_index(retired)
        if module.INDEXES:
            await db[name].create_indexes(module.INDEXES)
    for name, indexes in ((evidencias.FILES, evidencias.FILES_INDEXES), (evidencias.CHUNKS, evidencias.CHUNKS_INDEXES)):
        await db[name].create_indexes(indexes)
    await infracciones.migrate(db)
    migrated = {module.COLLECTION: await module.migrate(db) for module in (personas, vehiculos, oficiales)}
    if any(migrated.values()):
        log.info("search terms written on records that had none: %s", migrated)
    await LookupRepository(db).keep_for(lookup_retention_days)
