"""The ``catalogo`` collection: the offence catalogue, one immutable document per version of a
code (``domain.catalogo``). A change is a new version, a retirement is a version that says so, and
both start at the earliest ``NOTICE`` after they are written, so ``CatalogCache`` (each process's
copy, refreshed more often than that) knows a version before it applies. Writes are transactions
with their audit entries."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from decimal import Decimal
from typing import Any

from bson import Decimal128, ObjectId
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from domain import audit, catalogo, rules
from domain.catalogo import Version
from domain.clock import Clock
from domain.errors import Conflict, InvalidValue, NotFound
from repositories.auditoria import AuditLog
from repositories.base import in_transaction

COLLECTION = "catalogo"
INDEXES = [IndexModel([("codigo", ASCENDING), ("version", ASCENDING)], unique=True, name="codigo_version")]
VALIDATOR = {
    "$jsonSchema": {
        "bsonType": "object",
        "required": ["codigo", "version", "descripcion", "gravedad", "multa_min_utm", "multa_max_utm", "vigente_desde", "retirado"],
        "properties": {
            "codigo": {"bsonType": "string", "pattern": catalogo.CODE_PATTERN},
            "version": {"bsonType": ["int", "long"], "minimum": 1},
            "descripcion": {"bsonType": "string", "maxLength": catalogo.DESCRIPTION_MAX},
            "gravedad": {"enum": list(catalogo.SEVERITIES)},
            "multa_min_utm": {"bsonType": "decimal"},
            "multa_max_utm": {"bsonType": "decimal"},
            "vigente_desde": {"bsonType": "date"},
            "retirado": {"bsonType": "bool"},
        },
    }
}
log = logging.getLogger("transito.catalogo")


def _version(doc: dict[str, Any]) -> Version:
    return Version(
        doc["codigo"], doc["version"], doc["descripcion"], doc["gravedad"], doc["multa_min_utm"].to_decimal(),
        doc["multa_max_utm"].to_decimal(), doc.get("articulo", ""), doc["vigente_desde"], doc["retirado"],
    )


def new_document(version: Version, *, now: dt.datetime) -> dict[str, Any]:
    """A version as stored: the one shape written by the admin and by the catalogue loader."""
    return {
        "codigo": version.codigo,
        "version": version.version,
        "descripcion": version.descripcion,
        "gravedad": version.gravedad,
        "multa_min_utm": Decimal128(version.multa_min_utm),
        "multa_max_utm": Decimal128(version.multa_max_utm),
        "articulo": version.articulo,
        "vigente_desde": version.vigente_desde,
        "retirado": version.retirado,
        "creado_en": now,
    }


def _action(version: Version) -> str:
    if version.retirado:
        return audit.RETIRAR
    return audit.CREAR if version.version == 1 else audit.NUEVA_VERSION


class CatalogoRepository:
    def __init__(self, db: AsyncDatabase, clock: Clock, audit: AuditLog) -> None:
        self._db = db
        self.collection = db[COLLECTION]
        self._clock = clock
        self._audit = audit

    async def all_versions(self) -> list[Version]:
        cursor = self.collection.find({}, sort=[("codigo", ASCENDING), ("version", ASCENDING)], hint="codigo_version")
        return [_version(doc) async for doc in cursor]

    async def versions(self, codigo: str) -> list[Version]:
        """A code's versions, oldest first; NotFound when the code does not exist."""
        cursor = self.collection.find({"codigo": codigo}, sort=[("version", ASCENDING)], hint="codigo_version")
        found = [_version(doc) async for doc in cursor]
        if not found:
            raise NotFound(f"No existe el código {codigo} en el catálogo.", field="codigo")
        return found

    async def entries(self) -> list[catalogo.Entry]:
        """Every code as it stands now, in code order. The catalogue is a bounded list (the law's
        offences: hundreds at most), so the admin's list reads it whole, through its index."""
        now = self._clock.now()
        by_code: dict[str, list[Version]] = {}
        for version in await self.all_versions():
            by_code.setdefault(version.codigo, []).append(version)
        return [catalogo.Entry(tuple(versions), now) for versions in by_code.values()]

    async def get(self, codigo: str) -> catalogo.Entry:
        """A code as it stands now; NotFound when it does not exist."""
        return catalogo.Entry(tuple(await self.versions(codigo)), self._clock.now())

    async def document_ids(self, codigo: str) -> list[ObjectId]:
        """The ids of a code's versions (each version is its own document in the audit trail)."""
        cursor = self.collection.find({"codigo": codigo}, projection={"_id": 1}, hint="codigo_version")
        return [doc["_id"] async for doc in cursor]

    async def create(
        self, *, codigo: str, descripcion: str, gravedad: str, multa_min: Decimal, multa_max: Decimal, articulo: str,
        vigente_desde: dt.datetime,
    ) -> Version:
        """A new code (its version 1)."""
        version = self._checked(codigo, 1, descripcion, gravedad, multa_min, multa_max, articulo, vigente_desde)
        return await self._write(version)

    async def add_version(
        self, *, codigo: str, descripcion: str, gravedad: str, multa_min: Decimal, multa_max: Decimal, articulo: str,
        vigente_desde: dt.datetime,
    ) -> Version:
        """A new version of an existing code, in force from ``vigente_desde`` (after NOTICE)."""
        latest = (await self.versions(codigo))[-1]
        self._check_start(latest, vigente_desde)
        version = self._checked(codigo, latest.version + 1, descripcion, gravedad, multa_min, multa_max, articulo, vigente_desde)
        return await self._write(version)

    async def retire(self, codigo: str, *, desde: dt.datetime) -> Version:
        """The code stops being in force at ``desde`` (after NOTICE): a version that says so."""
        latest = (await self.versions(codigo))[-1]
        if latest.retirado:
            raise Conflict(f"El código {codigo} ya está retirado.", field="codigo")
        self._check_start(latest, desde)
        retirement = Version(
            latest.codigo, latest.version + 1, latest.descripcion, latest.gravedad, latest.multa_min_utm,
            latest.multa_max_utm, latest.articulo, desde, retirado=True,
        )
        return await self._write(retirement)

    def _check_start(self, latest: Version, vigente_desde: dt.datetime) -> None:
        """A change starts after NOTICE, and not before the code's latest version: the version in
        force is the one that started last, so an earlier start would be undone by the later one."""
        self._check_notice(vigente_desde)
        if vigente_desde < latest.vigente_desde:
            raise InvalidValue(
                f"El código {latest.codigo} ya tiene una versión que rige desde una fecha posterior: "
                "el cambio debe regir desde esa fecha o después.",
                field="vigente_desde",
            )

    def _check_notice(self, vigente_desde: dt.datetime) -> None:
        if vigente_desde < self._clock.now() + catalogo.NOTICE:
            minutes = int(catalogo.NOTICE.total_seconds() // 60)
            raise InvalidValue(
                f"Un cambio en un código que ya existe rige desde una fecha futura (al menos {minutes} minutos desde ahora): "
                "las infracciones ya cursadas conservan la versión con que se cursaron.",
                field="vigente_desde",
            )

    def _checked(
        self, codigo: str, number: int, descripcion: str, gravedad: str, multa_min: Decimal, multa_max: Decimal, articulo: str,
        vigente_desde: dt.datetime,
    ) -> Version:
        minimum, maximum = catalogo.fine_or_raise(multa_min, multa_max)
        return Version(
            catalogo.code_or_raise(codigo),
            number,
            rules.text_or_raise(descripcion, field="descripcion", maximum=catalogo.DESCRIPTION_MAX),
            catalogo.severity_or_raise(gravedad).key,
            minimum,
            maximum,
            rules.text_or_raise(articulo, field="articulo", maximum=catalogo.ARTICLE_MAX, required=False),
            vigente_desde,
        )

    async def _write(self, version: Version) -> Version:
        doc = new_document(version, now=rules.to_millisecond(self._clock.now()))

        async def write(session: AsyncClientSession) -> None:
            await self.collection.insert_one(doc, session=session)
            await self._audit.record(
                session, accion=_action(version), coleccion=COLLECTION,
                documento_id=doc["_id"], despues={k: v for k, v in doc.items() if k != "creado_en"},
            )

        try:
            await in_transaction(self._db, write)
        except DuplicateKeyError:
            what = "ya existe" if version.version == 1 else "cambió mientras tanto; revise sus versiones"
            raise Conflict(f"El código {version.codigo} {what}.", field="codigo") from None
        return version

    async def load(self, versions: list[Version]) -> int:
        """Write the versions that are not there yet, each with its audit entry (the shipped
        catalogue's loader); how many."""
        added = 0
        for version in versions:
            try:
                await self._write(version)
                added += 1
            except Conflict:
                continue  # loaded before: versions never change
        return added


class CatalogCache:
    """This process's copy of the catalogue, so recording an infraction with a code sends no extra
    command. Versions never change, so the copy can only lack a version written since it was read:
    it is read again every REFRESH (well within ``catalogo.NOTICE``), and at once, at most every
    MISS_RELOAD, when asked for a code it does not know (a code created a moment ago)."""

    REFRESH = dt.timedelta(minutes=2)
    MISS_RELOAD = dt.timedelta(seconds=5)

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._by_code: dict[str, list[Version]] = {}
        self._loaded_at: dt.datetime | None = None
        self._lock = asyncio.Lock()

    async def refresh(self, repository: CatalogoRepository) -> None:
        async with self._lock:
            await self._read(repository)

    async def _read(self, repository: CatalogoRepository) -> None:
        versions = await repository.all_versions()
        by_code: dict[str, list[Version]] = {}
        for version in versions:
            by_code.setdefault(version.codigo, []).append(version)
        self._by_code, self._loaded_at = by_code, self._clock.now()

    def _outdated(self, codigo: str | None) -> bool:
        """Whether the copy must be read again before answering for ``codigo`` (None: any code)."""
        if self._loaded_at is None:
            return True
        age = self._clock.now() - self._loaded_at
        return age > self.REFRESH or (codigo is not None and codigo not in self._by_code and age > self.MISS_RELOAD)

    async def _read_if_outdated(self, repository: CatalogoRepository, codigo: str | None) -> None:
        if self._outdated(codigo):
            async with self._lock:
                if self._outdated(codigo):  # the requests that waited for the lock use the copy just read
                    await self._read(repository)

    async def fresh(self, repository: CatalogoRepository) -> dict[str, list[Version]]:
        """Every code's versions, read again first if the copy is older than REFRESH."""
        await self._read_if_outdated(repository, None)
        return self._by_code

    async def version_at(self, repository: CatalogoRepository, codigo: str, at: dt.datetime) -> Version | None:
        await self._read_if_outdated(repository, codigo)
        return catalogo.in_force(self._by_code.get(codigo, []), at)

    async def keep_fresh(self, repository: CatalogoRepository) -> None:
        """Refresh every REFRESH until cancelled (the server runs it beside serving)."""
        while True:
            try:
                await self.refresh(repository)
            except Exception as error:  # a database hiccup: the copy stays, and is retried
                log.warning("could not refresh the offence catalogue: %s", error)
            await asyncio.sleep(self.REFRESH.total_seconds() / 2)
