#!/usr/bin/env python3
"""The floor of our stack: the least a Tornado + PyMongo Async program does to answer the two API
methods with the same MongoDB commands and the same JSON as ``server.py``.

It parses the same request, sends the same commands (same collections, filters, update and insert
documents, write concern) and writes the same JSON body, and nothing else: no validation, no
authentication (the bearer token is looked up in a dict the benchmark hands over, as our token cache
does after a phone's first request), no rate limit's decision (its command is sent, its answer not
read), no logging, no metrics, no security headers, no gzip. ``bench/instructions.py`` runs it under
callgrind exactly as it runs ``server.py`` and reports our cost as a ratio to this one. When the
request path changes, change what is under "THE COMMANDS" below (tests/test_bench_floor.py says when).

Environment: MONGODB_URI, MONGODB_DB, PORT, FLOOR_TOKENS (a JSON file {token: [numero, jti]}),
COOKIE_SECRET (the lookup log's e-mail hashes are keyed with it, as ours are) and REPORT_RATE_LIMIT."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import itertools
import json
import os
import signal
import time
from typing import Any

import tornado.web
from pymongo import AsyncMongoClient, ReturnDocument

UTC = dt.timezone.utc


def iso(value: dt.datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ---------------------------------------------------------------------------------------------
# THE COMMANDS: one function per method, in request order, with the documents our server sends
# (repositories/infracciones/__init__.py and schema.py, repositories/oficiales.py, vehiculos.py,
# personas.py, limites.py, services/lookups.py). Today:
#   cargar_infraccion: findAndModify oficiales, findAndModify vehiculos, insert infracciones
#                      (an offence ``codigo`` is resolved from the process's copy of the catalogue,
#                      read once at start as ours is: no command; ``ubicacion`` is a GeoJSON point)
#   generar_informe:   findAndModify limites (the shared rate limit, a pipeline update),
#                      aggregate personas ($lookup vehiculos), aggregate infracciones ($facet),
#                      and the lookup's accountability entry, written later in batches (insert_many)
# The benchmark's loads carry the specification's three fields (no offence code, no place); the
# test (tests/test_bench_floor.py) also holds a load with both to what ours sends.
# ---------------------------------------------------------------------------------------------


async def cargar_infraccion(
    db: Any, numero: int, jti: str, body: dict[str, Any], *, request_id: str, cliente: str, catalogue: Catalogue
) -> dict[str, Any]:
    timestamp = dt.datetime.fromisoformat(body["timestamp"]).astimezone(UTC)
    optional = offence_and_place(body, timestamp, catalogue)
    oficial = await db.oficiales.find_one_and_update(
        {"numero": numero, "activo": True, "token_jtis": jti}, {"$inc": {"n_infracciones": 1}},
        projection={"numero": 1, "nombre": 1}, hint="numero_unique",
    )
    vehiculo = await db.vehiculos.find_one_and_update(
        {"placa_patente": body["placa_patente"]}, {"$inc": {"n_infracciones": 1}},
        projection={"marca": 1, "color": 1, "persona_id": 1},
    )
    now = dt.datetime.now(UTC)
    doc = {
        "vehiculo_id": vehiculo["_id"],
        "placa_patente": body["placa_patente"],
        "persona_id": vehiculo["persona_id"],
        "vehiculo": {"marca": vehiculo["marca"], "color": vehiculo["color"]},
        "oficial_id": oficial["_id"],
        "oficial": {"numero": oficial["numero"], "nombre": oficial["nombre"]},
        "timestamp": timestamp,
        "comentarios": body.get("comentarios", ""),
        "registrada_en": now.replace(microsecond=now.microsecond // 1000 * 1000),
        "estado": "registrada",
        "historial": [],
        "carga": {"via": "api", "token_jti": jti, "request_id": request_id, "cliente": cliente},
        **optional,
    }
    await db.infracciones.insert_one(doc)
    return {
        "id": str(doc["_id"]),
        "placa_patente": doc["placa_patente"],
        "timestamp": iso(timestamp),
        "comentarios": doc["comentarios"],
        "vehiculo": doc["vehiculo"],
        "oficial": doc["oficial"],
        "registrada_en": iso(doc["registrada_en"]),
        **offence_and_place_json(optional),
    }


def offence_and_place(body: dict[str, Any], timestamp: dt.datetime, catalogue: Catalogue) -> dict[str, Any]:
    """The optional parts of the stored infraction: the offence as issued, the place as a GeoJSON point."""
    optional: dict[str, Any] = {}
    if "codigo" in body:
        optional["infraccion"] = catalogue.snapshot(body["codigo"], timestamp)
    if (place := body.get("ubicacion")) is not None:
        precision = {"precision_m": place["precision_m"]} if "precision_m" in place else {}
        optional["ubicacion"] = {"type": "Point", "coordinates": [place["longitud"], place["latitud"]], **precision}
    return optional


def offence_and_place_json(optional: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = {}
    if "infraccion" in optional:
        answer["infraccion"] = {key: optional["infraccion"][key] for key in ("codigo", "descripcion", "gravedad", "multa_utm")}
    if (point := optional.get("ubicacion")) is not None:
        precision = {"precision_m": point["precision_m"]} if "precision_m" in point else {}
        answer["ubicacion"] = {"latitud": point["coordinates"][1], "longitud": point["coordinates"][0], **precision}
    return answer


class Catalogue:
    """The offence catalogue as our CatalogCache holds it: every version, read once (at start)."""

    by_code: dict[str, list[dict[str, Any]]]

    async def read(self, db: Any) -> Catalogue:
        self.by_code = {}
        async for version in db.catalogo.find({}, sort=[("codigo", 1), ("version", 1)]):
            self.by_code.setdefault(version["codigo"], []).append(version)
        return self

    def snapshot(self, codigo: str, at: dt.datetime) -> dict[str, Any]:
        """What the infraction copies of the version in force at ``at`` (the benchmark sends live codes)."""
        started = [v for v in self.by_code[codigo] if v["vigente_desde"] <= at]
        v = max(started, key=lambda v: (v["vigente_desde"], v["version"]))
        return {
            "codigo": v["codigo"], "version": v["version"], "descripcion": v["descripcion"], "gravedad": v["gravedad"],
            "multa_utm": {"min": str(v["multa_min_utm"].to_decimal()), "max": str(v["multa_max_utm"].to_decimal())},
            "articulo": v.get("articulo", ""),
        }


async def rate_limit(db: Any, key: str, *, limit: int, period: float) -> None:
    now = time.time()
    recent = {"$filter": {"input": {"$ifNull": ["$intentos", []]}, "cond": {"$gt": ["$$this", now - period]}}}
    within = {"$lt": [{"$size": "$intentos"}, limit]}
    await db.limites.find_one_and_update(
        {"_id": key},
        [
            {"$set": {"intentos": recent}},
            {
                "$set": {
                    "intentos": {"$cond": [within, {"$concatArrays": ["$intentos", [now]]}, "$intentos"]},
                    "permitido": within,
                    "expira_en": dt.datetime.fromtimestamp(now + period, UTC),
                }
            },
        ],
        upsert=True,
        return_document=ReturnDocument.AFTER,
    )


async def generar_informe(db: Any, correo: str, limit: int, offset: int, *, cliente: str, lookups: Lookups) -> dict[str, Any]:
    await rate_limit(db, f"report:{cliente}", limit=lookups.rate_limit, period=lookups.rate_period)
    personas = await db.personas.aggregate(
        [
            {"$match": {"correo": correo}},
            {"$limit": 1},
            {"$lookup": {"from": "vehiculos", "localField": "_id", "foreignField": "persona_id", "as": "vehiculos"}},
            {"$project": {"_id": 0, "vehiculos._id": 1, "vehiculos.marca": 1, "vehiculos.color": 1}},
        ]
    )
    vehiculos = {v["_id"]: v for v in (await personas.to_list(1))[0]["vehiculos"]}
    shown = {"vehiculo_id": 1, "placa_patente": 1, "timestamp": 1, "comentarios": 1, "estado": 1,
             "infraccion.codigo": 1, "infraccion.descripcion": 1, "infraccion.gravedad": 1}
    infracciones = await db.infracciones.aggregate(
        [
            {"$match": {"vehiculo_id": {"$in": list(vehiculos)}}},
            {"$match": {"estado": {"$ne": "anulada"}}},
            {"$sort": {"timestamp": -1, "_id": -1}},
            {"$facet": {"total": [{"$count": "n"}], "items": [{"$skip": offset}, {"$limit": limit}, {"$project": shown}]}},
        ]
    )
    faceted = (await infracciones.to_list(1))[0]
    total = faceted["total"][0]["n"] if faceted["total"] else 0
    lookups.record(correo, cliente, total)
    items = []
    for doc in faceted["items"]:
        vehiculo = vehiculos[doc["vehiculo_id"]]
        item = {
            "id": str(doc["_id"]),
            "placa_patente": doc["placa_patente"],
            "marca": vehiculo["marca"],
            "color": vehiculo["color"],
            "timestamp": iso(doc["timestamp"]),
            "comentarios": doc["comentarios"],
            "estado": doc["estado"],
        }
        if "infraccion" in doc:
            item["infraccion"] = {key: doc["infraccion"][key] for key in ("codigo", "descripcion", "gravedad")}
        items.append(item)
    return {"total": total, "limit": limit, "offset": offset, "infracciones": items}


class Lookups:
    """The report's lookup log as services/lookups.py writes it: one insert_many 5 s after the first (or at 500)."""

    def __init__(self, db: Any, cookie_secret: str, rate: str) -> None:
        self.db = db
        self.key = hmac.new(cookie_secret.encode(), b"transito/consultas", hashlib.sha256).digest()
        amount, _, unit = rate.partition("/")  # "1000000/second", as the benchmark sets REPORT_RATE_LIMIT
        self.rate_limit = int(amount)
        self.rate_period = {"second": 1.0, "minute": 60.0, "hour": 3600.0}[unit]
        self.pending: list[dict[str, Any]] = []
        self.timer: asyncio.TimerHandle | None = None
        self.writing: asyncio.Task[Any] | None = None

    def record(self, correo: str, cliente: str, total: int) -> None:
        now = dt.datetime.now(UTC)
        self.pending.append({
            "creada_en": now.replace(microsecond=now.microsecond // 1000 * 1000),
            "cliente": cliente,
            "correo_hmac": hmac.new(self.key, correo.encode(), hashlib.sha256).hexdigest(),
            "resultados": total,
        })
        if len(self.pending) >= 500:
            self.flush()
        elif self.timer is None:
            self.timer = asyncio.get_running_loop().call_later(5.0, self.flush)

    def flush(self) -> None:
        self.timer = None
        batch, self.pending = self.pending, []
        if batch:
            self.writing = asyncio.get_running_loop().create_task(self.db.consultas.insert_many(batch, ordered=False))


# -- The bare Tornado part: parse, call the commands above, write the JSON. ------------------------


class Handler(tornado.web.RequestHandler):
    def initialize(self, db: Any, tokens: dict[str, tuple[int, str]], lookups: Lookups, catalogue: Catalogue) -> None:
        self.db, self.tokens, self.lookups, self.catalogue = db, tokens, lookups, catalogue

    def write_json(self, payload: dict[str, Any]) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(payload, ensure_ascii=False, separators=(",", ":")))


REQUEST_IDS = itertools.count()


class CargarInfraccion(Handler):
    async def post(self) -> None:
        numero, jti = self.tokens[self.request.headers["Authorization"][7:]]  # "Bearer <token>"
        request_id = f"{next(REQUEST_IDS):016x}"  # as long as ours (16 hex digits), without its randomness
        body = json.loads(self.request.body)
        answer = await cargar_infraccion(
            self.db, numero, jti, body, request_id=request_id, cliente=self.request.remote_ip, catalogue=self.catalogue
        )
        self.write_json(answer)


class GenerarInforme(Handler):
    async def get(self) -> None:
        limit = int(self.get_query_argument("limit", "100"))
        offset = int(self.get_query_argument("offset", "0"))
        correo = self.get_query_argument("email")
        answer = await generar_informe(self.db, correo, limit, offset, cliente=self.request.remote_ip, lookups=self.lookups)
        self.write_json(answer)


class Ready(Handler):
    async def get(self) -> None:
        await self.db.command("ping")
        self.write_json({"status": "ok"})


async def main() -> None:
    with open(os.environ["FLOOR_TOKENS"]) as handle:
        tokens = {token: (numero, jti) for token, (numero, jti) in json.load(handle).items()}
    # The same write concern and datetime decoding as server.mongo_client; no command listener.
    client = AsyncMongoClient(os.environ["MONGODB_URI"], tz_aware=True, w="majority", journal=True)
    db = client[os.environ.get("MONGODB_DB", "transito")]
    lookups = Lookups(db, os.environ["COOKIE_SECRET"], os.environ.get("REPORT_RATE_LIMIT", "60/minute"))
    settings = {"db": db, "tokens": tokens, "lookups": lookups, "catalogue": await Catalogue().read(db)}
    app = tornado.web.Application([
        (r"/api/cargar_infraccion", CargarInfraccion, settings),
        (r"/api/generar_informe", GenerarInforme, settings),
        (r"/readyz", Ready, settings),
    ])
    app.listen(int(os.environ["PORT"]), address="127.0.0.1")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await client.close()


if __name__ == "__main__":
    asyncio.run(main())
