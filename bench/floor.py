#!/usr/bin/env python3
"""The floor of our stack: the least a Tornado + PyMongo Async program does to answer the two API
methods with the same MongoDB commands and the same JSON as ``server.py``.

It parses the same request, sends the same commands (same collections, filters, update and insert
documents, write concern) and writes the same JSON body, and nothing else: no validation, no
authentication (the bearer token is looked up in a dict the benchmark hands over, as our token cache
does after a phone's first request), no rate limit, no logging, no metrics, no security headers,
no gzip. ``bench/instructions.py`` runs it under callgrind exactly as it runs ``server.py`` and
reports our cost as a ratio to this one.

When the request path changes, change the two functions under "THE COMMANDS" below (and only
them): they are the list of commands per method.

Environment: MONGODB_URI, MONGODB_DB, PORT, FLOOR_TOKENS (a JSON file {token: [numero, jti]})."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
from typing import Any

import tornado.web
from pymongo import AsyncMongoClient

UTC = dt.timezone.utc


def iso(value: dt.datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ---------------------------------------------------------------------------------------------
# THE COMMANDS: one function per method, in request order. Today (see repositories/infracciones.py):
#   cargar_infraccion: findAndModify oficiales, findAndModify vehiculos, insert infracciones
#   generar_informe:   aggregate personas ($lookup vehiculos), aggregate infracciones ($facet)
# ---------------------------------------------------------------------------------------------


async def cargar_infraccion(db: Any, numero: int, jti: str, body: dict[str, Any]) -> dict[str, Any]:
    oficial = await db.oficiales.find_one_and_update(
        {"numero": numero, "activo": True, "token_jtis": jti},
        {"$inc": {"n_infracciones": 1}},
        projection={"numero": 1, "nombre": 1},
        hint="numero_unique",
    )
    vehiculo = await db.vehiculos.find_one_and_update(
        {"placa_patente": body["placa_patente"]},
        {"$inc": {"n_infracciones": 1}},
        projection={"marca": 1, "color": 1, "persona_id": 1},
    )
    timestamp = dt.datetime.fromisoformat(body["timestamp"]).astimezone(UTC)
    doc = {
        "vehiculo_id": vehiculo["_id"],
        "placa_patente": body["placa_patente"],
        "persona_id": vehiculo["persona_id"],
        "vehiculo": {"marca": vehiculo["marca"], "color": vehiculo["color"]},
        "oficial_id": oficial["_id"],
        "oficial": {"numero": oficial["numero"], "nombre": oficial["nombre"]},
        "timestamp": timestamp,
        "comentarios": body.get("comentarios", ""),
        "registrada_en": dt.datetime.now(UTC),
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
    }


async def generar_informe(db: Any, correo: str, limit: int, offset: int) -> dict[str, Any]:
    persona = (
        await (
            await db.personas.aggregate(
                [
                    {"$match": {"correo": correo}},
                    {"$limit": 1},
                    {"$lookup": {"from": "vehiculos", "localField": "_id", "foreignField": "persona_id", "as": "vehiculos"}},
                    {"$project": {"nombre": 1, "correo": 1, "vehiculos._id": 1, "vehiculos.marca": 1, "vehiculos.color": 1}},
                ]
            )
        ).to_list(1)
    )[0]
    vehiculos = {v["_id"]: v for v in persona["vehiculos"]}
    faceted = (
        await (
            await db.infracciones.aggregate(
                [
                    {"$match": {"vehiculo_id": {"$in": list(vehiculos)}}},
                    {"$sort": {"timestamp": -1, "_id": -1}},
                    {"$facet": {"total": [{"$count": "n"}], "items": [{"$skip": offset}, {"$limit": limit}]}},
                ]
            )
        ).to_list(1)
    )[0]
    items = []
    for doc in faceted["items"]:
        vehiculo = vehiculos[doc["vehiculo_id"]]
        items.append(
            {
                "id": str(doc["_id"]),
                "placa_patente": doc["placa_patente"],
                "marca": vehiculo["marca"],
                "color": vehiculo["color"],
                "timestamp": iso(doc["timestamp"]),
                "comentarios": doc["comentarios"],
                "oficial": {"numero": doc["oficial"]["numero"], "nombre": doc["oficial"]["nombre"]},
            }
        )
    return {
        "persona": {"nombre": persona["nombre"], "correo": persona["correo"]},
        "total": faceted["total"][0]["n"] if faceted["total"] else 0,
        "limit": limit,
        "offset": offset,
        "infracciones": items,
    }


# ---------------------------------------------------------------------------------------------
# The bare Tornado part: parse, call the commands above, write the JSON.
# ---------------------------------------------------------------------------------------------


class Handler(tornado.web.RequestHandler):
    def initialize(self, db: Any, tokens: dict[str, tuple[int, str]]) -> None:
        self.db = db
        self.tokens = tokens

    def write_json(self, payload: dict[str, Any]) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(payload, ensure_ascii=False, separators=(",", ":")))


class CargarInfraccion(Handler):
    async def post(self) -> None:
        numero, jti = self.tokens[self.request.headers["Authorization"][7:]]  # "Bearer <token>"
        self.write_json(await cargar_infraccion(self.db, numero, jti, json.loads(self.request.body)))


class GenerarInforme(Handler):
    async def get(self) -> None:
        limit = int(self.get_query_argument("limit", "100"))
        offset = int(self.get_query_argument("offset", "0"))
        self.write_json(await generar_informe(self.db, self.get_query_argument("email"), limit, offset))


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
    settings = {"db": db, "tokens": tokens}
    app = tornado.web.Application(
        [
            (r"/api/cargar_infraccion", CargarInfraccion, settings),
            (r"/api/generar_informe", GenerarInforme, settings),
            (r"/readyz", Ready, settings),
        ]
    )
    app.listen(int(os.environ["PORT"]), address="127.0.0.1")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await client.close()


if __name__ == "__main__":
    asyncio.run(main())
