"""A catalogue of hostile inputs (issues 5 and 13): each is refused with a 4xx and a Spanish message,
and nothing is written to any collection. Issue 13 adds the offence code, the place and the photo
evidence: operators, nested objects, numbers JSON cannot hold, decompression bombs, HTML behind an
image signature, multipart and base64 bodies, another officer's infraction. Plus the cases whose
right answer is not a 4xx: script tags in free text are stored but always shown escaped,
``next=//evil.example`` stays on the site, a forged or orphaned session cookie is treated as no
session at all, -0.0 is a latitude, and a JPEG that is also an HTML page is kept as the image it
is and only ever served as one."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import uuid
import warnings
from typing import Any, AsyncIterator, Awaitable, Callable

import httpx
import jwt
import jwt.warnings
import pytest
from bson import ObjectId
from tornado.web import create_signed_value

from domain.errors import InvalidValue
from repositories import Repositories, prepare_database
from services.images import MAX_PIXELS, photo_or_raise
from services.initial_catalogue import load as load_catalogue
from services.tokens import TokenService
from tests.helpers.api import jti_of
from tests.helpers.api import make_world as make_api_world
from tests.helpers.app import ADMIN_PASSWORD, ADMIN_USERNAME, make_settings, post_form, serve, xsrf_token
from tests.helpers.images import jpeg_with_comment, multipart, photo, png_bomb, png_claiming

PLATE = "BBCD12"
EMAIL = "dueno@example.cl"
NUMERO = 4242
SCRIPT = "<script>alert('xss')</script>"


@dataclasses.dataclass
class World:
    http: httpx.AsyncClient  # logged in as an administrator
    token: str  # a live token of officer NUMERO
    jwt_secret: str
    jti: str
    running: Any
    infraccion_id: str = ""  # an infraction this officer loaded a moment ago (evidence cases)
    other_token: str = ""  # a live token of another officer (evidence cases)

    def claims(self, **changes: Any) -> dict[str, Any]:
        now = dt.datetime.now(dt.timezone.utc)
        claims = {"sub": str(NUMERO), "jti": self.jti, "iat": now, "exp": now + dt.timedelta(hours=1)}
        claims.update(changes)
        return {k: v for k, v in claims.items() if v is not None}

    def signed(self, key: str | None = None, algorithm: str = "HS256", **changes: Any) -> str:
        with warnings.catch_warnings():  # HS512 wants a 64-byte key; the attacker does not care
            warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
            return jwt.encode(self.claims(**changes), key or self.jwt_secret, algorithm=algorithm)


async def make_world(running_app, admin_client) -> World:
    secret = running_app.settings.jwt_secret
    base = await make_api_world(running_app.repos, correo=EMAIL, placa=PLATE, numero=NUMERO, secret=secret)
    return World(admin_client, base.token, secret, jti_of(base.token), running_app)


@pytest.fixture
async def world(running_app, admin_client) -> World:
    return await make_world(running_app, admin_client)


async def world_with_an_infraction(running_app, http: httpx.AsyncClient) -> World:
    """The world, plus an infraction its officer loaded a minute ago and another officer's token."""
    w = await make_world(running_app, http)
    repos = running_app.repos
    recorded, _ = await repos.infracciones.record(
        numero_oficial=NUMERO, jti=w.jti, placa_patente=PLATE, comentarios="",
        timestamp=dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(minutes=1),
    )
    await repos.oficiales.create(nombre="Otra Oficial", numero=NUMERO + 1)
    other = await TokenService(w.jwt_secret).issue(repos, numero=NUMERO + 1)
    return dataclasses.replace(w, infraccion_id=recorded.id, other_token=other.token)


def assert_clear_refusal(response: httpx.Response, status: int, message: str) -> None:
    """The refusal a hostile input must get: its status, its Spanish message, a problem document on
    the API, and nothing of the server's insides."""
    assert response.status_code == status, response.text[:500]
    assert message in response.text, response.text[:1000]
    if response.headers["Content-Type"].startswith("application/problem+json"):
        problem = response.json()
        assert problem["status"] == status and problem["detail"]
    assert "Traceback" not in response.text and "pymongo" not in response.text


async def counts(db) -> dict[str, int]:
    return {name: await db[name].count_documents({}) for name in sorted(await db.list_collection_names())}


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# -- request builders -----------------------------------------------------------------------------
Send = Callable[[World], Awaitable[httpx.Response]]


def api_raw(body: bytes, content_type: str | None = "application/json", **headers: str) -> Send:
    async def send(w: World) -> httpx.Response:
        sent = {"Authorization": f"Bearer {w.token}", **headers}
        if content_type is not None:
            sent["Content-Type"] = content_type
        return await w.http.post("/api/cargar_infraccion", content=body, headers=sent)

    return send


def api_json(body: Any, **headers: str) -> Send:
    return api_raw(json.dumps(body).encode(), **headers)


def infraction(**changes: Any) -> Any:
    body = {"placa_patente": PLATE, "timestamp": "NOW", "comentarios": "prueba"}
    body.update(changes)
    return body


def api_infraction(**changes: Any) -> Send:
    """A valid body with some fields changed; the timestamp 'NOW' is filled in at send time."""

    async def send(w: World) -> httpx.Response:
        body = infraction(**changes)
        if body.get("timestamp") == "NOW":
            body["timestamp"] = now_iso()
        return await api_json(body)(w)

    return send


def api_place(raw_place: bytes) -> Send:
    """A valid body whose ``ubicacion`` is written as raw JSON (NaN, Infinity, 1e400 are no Python values)."""

    async def send(w: World) -> httpx.Response:
        head = json.dumps(infraction(timestamp=now_iso()))[:-1].encode()
        return await api_raw(head + b', "ubicacion": ' + raw_place + b"}")(w)

    return send


def evidence(
    body: bytes | Callable[[], Any], content_type: str | None = "image/jpeg", *, token: str = "own", path: str | None = None
) -> Send:
    """POST a photo (or anything) to the evidence of the officer's fresh infraction: with the
    officer's token ("own"), another officer's ("other") or none (None); ``path`` replaces the id."""

    async def send(w: World) -> httpx.Response:
        headers = {} if content_type is None else {"Content-Type": content_type}
        if token is not None:
            headers["Authorization"] = f"Bearer {w.token if token == 'own' else w.other_token}"
        content = body() if callable(body) else body
        return await w.http.post(f"/api/infracciones/{path or w.infraccion_id}/evidencias", content=content, headers=headers)

    return send


def chunked(size: int) -> Callable[[], Any]:
    """A body sent in chunks, with no Content-Length to refuse it by."""

    async def chunks() -> Any:
        yield b"\xff\xd8\xff"
        for _ in range(size // 65536 + 1):
            yield b"\x00" * 65536

    return chunks


def with_token(make: Callable[[World], str | None], scheme: str = "Bearer") -> Send:
    async def send(w: World) -> httpx.Response:
        token = make(w)
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"{scheme} {token}"
        body = json.dumps(infraction(timestamp=now_iso())).encode()
        return await w.http.post("/api/cargar_infraccion", content=body, headers=headers)

    return send


def after(prepare: Callable[[World], Awaitable[Any]], send: Send) -> Send:
    async def run(w: World) -> httpx.Response:
        await prepare(w)
        return await send(w)

    return run


def report(query: str) -> Send:
    async def send(w: World) -> httpx.Response:
        return await w.http.get(f"/api/generar_informe?{query}")

    return send


def form(url: str, data: dict[str, str], *, xsrf: bool = True) -> Send:
    async def send(w: World) -> httpx.Response:
        fields = dict(data)
        if xsrf:
            fields["_xsrf"] = await xsrf_token(w.http, url)
        return await w.http.post(url, data=fields)

    return send


def alg_none(w: World) -> str:
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    claims = w.claims()
    payload = b64(json.dumps({**claims, "iat": int(claims["iat"].timestamp()), "exp": int(claims["exp"].timestamp())}).encode())
    return f"{header}.{payload}."


def rs256_header(w: World) -> str:
    """An RS256 header over a body signed with the shared secret: the algorithm is pinned, so no."""
    good = w.signed()
    _, payload, signature = good.split(".")
    header = b64(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    return f"{header}.{payload}.{signature}"


async def revoke(w: World) -> None:
    repos = w.running.repos
    oficial = await repos.oficiales.get_by_numero(NUMERO)
    record = (await repos.tokens.list_for_officer(oficial.id))[0]
    await repos.tokens.revoke(record.id, oficial_id=oficial.id)


async def deactivate(w: World) -> None:
    repos = w.running.repos
    oficial = await repos.oficiales.get_by_numero(NUMERO)
    await repos.oficiales.set_active(oficial.id, False)


async def delete_officer(w: World) -> None:
    repos = w.running.repos
    await repos.oficiales.delete((await repos.oficiales.get_by_numero(NUMERO)).id)


HOUR = dt.timedelta(hours=1)
INVALID = "Los datos de la infracción no son válidos."
BAD_QUERY = "Los parámetros de la consulta no son válidos."
TOKEN = "token"
XSRF = "token de seguridad del formulario"
BAD_EMAIL = "correo electrónico válido"


BAD_CODE = "El código tiene de 1 a 20 letras"
NOT_A_NUMBER = "Debe ser un número"
NOT_A_PHOTO = "La foto debe ser una imagen JPEG o PNG"
DAMAGED = "La imagen está dañada o incompleta"
PLACE = {"latitud": -33.4263, "longitud": -70.6165}
HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"


def deep(levels: int) -> bytes:
    return b'{"placa_patente": ' + b"[" * levels + b"]" * levels + b', "timestamp": "x"}'


CASES: list[tuple[str, Send, int, str]] = [
    # MongoDB operator injection in JSON bodies
    ("json-ne-null-plate", api_infraction(placa_patente={"$ne": None}), 400, INVALID),
    ("json-gt-plate", api_infraction(placa_patente={"$gt": ""}), 400, INVALID),
    ("json-regex-plate", api_infraction(placa_patente={"$regex": ".*"}), 400, INVALID),
    ("json-gte-timestamp", api_infraction(timestamp={"$gte": "2020-01-01"}), 400, INVALID),
    ("json-where-comments", api_infraction(comentarios={"$where": "sleep(1000)"}), 400, INVALID),
    ("json-top-level-operator", api_infraction(**{"$where": "1 == 1"}), 400, INVALID),
    ("json-dotted-key", api_infraction(**{"placa_patente.$": "X"}), 400, INVALID),
    # not an object, malformed, nested, encodings
    ("json-array", api_json([infraction(timestamp=now_iso())]), 400, "objeto JSON"),
    ("json-string", api_json("BBCD12"), 400, "objeto JSON"),
    ("json-null", api_json(None), 400, "objeto JSON"),
    ("json-number", api_json(42), 400, "objeto JSON"),
    ("json-truncated", api_raw(b'{"placa_patente": "BBCD12", '), 400, "JSON válido"),
    ("json-trailing-garbage", api_raw(b'{"placa_patente": "BBCD12"} {"x": 1}'), 400, "JSON válido"),
    ("json-empty-body", api_raw(b""), 400, "JSON válido"),
    ("json-deeply-nested", api_raw(deep(5000)), 400, INVALID),
    ("invalid-utf8", api_raw(b'{"placa_patente": "BB\xff\xfeD12", "timestamp": "2026-01-01T00:00:00Z"}'), 400, INVALID),
    ("utf16-body", api_raw(json.dumps(infraction(timestamp="2026-01-01T00:00:00Z")).encode("utf-16")), 400, INVALID),
    ("plate-as-number", api_infraction(placa_patente=123456), 400, INVALID),
    ("huge-plate", api_infraction(placa_patente="A" * 60_000), 400, INVALID),
    ("huge-comments", api_infraction(comentarios="á" * 2001), 400, INVALID),
    ("body-over-64-KiB", api_infraction(comentarios="x" * 70_000), 413, "64 KiB"),
    ("nul-in-plate", api_infraction(placa_patente="BB\x00CD12"), 400, INVALID),
    ("nul-in-comments", api_infraction(comentarios="antes\x00después"), 400, "caracteres de control"),
    ("script-in-plate", api_infraction(placa_patente=SCRIPT), 400, INVALID),
    ("script-in-timestamp", api_infraction(timestamp=SCRIPT), 400, "ISO 8601"),
    ("timestamp-in-future", api_infraction(timestamp=(dt.datetime.now(dt.timezone.utc) + 2 * HOUR).isoformat()), 400, "futuro"),
    ("unknown-plate", api_infraction(placa_patente="ZZZZ99"), 404, "No existe un vehículo"),
    ("bad-idempotency-key", api_json(infraction(timestamp="2026-01-01T00:00:00Z"), **{"Idempotency-Key": "con espacios"}), 400, "Idempotency-Key"),
    # wrong content type
    ("content-type-text", api_raw(b'{"placa_patente": "BBCD12"}', "text/plain"), 415, "JSON"),
    ("content-type-form", api_raw(b"placa_patente=BBCD12", "application/x-www-form-urlencoded"), 415, "JSON"),
    ("content-type-missing", api_raw(b'{"placa_patente": "BBCD12"}', None), 415, "JSON"),
    # JWT attacks
    ("jwt-missing", with_token(lambda w: None), 401, "Authorization"),
    ("jwt-basic-scheme", with_token(lambda w: w.token, scheme="Basic"), 401, "Bearer"),
    ("jwt-garbage", with_token(lambda w: "abc.def.ghi"), 401, TOKEN),
    ("jwt-alg-none", with_token(alg_none), 401, TOKEN),
    ("jwt-wrong-key", with_token(lambda w: w.signed(key="otra-clave-secreta-de-32-bytes-o-mas!")), 401, TOKEN),
    ("jwt-rs256-header", with_token(rs256_header), 401, TOKEN),
    ("jwt-hs512", with_token(lambda w: w.signed(algorithm="HS512")), 401, TOKEN),
    ("jwt-expired", with_token(lambda w: w.signed(exp=dt.datetime.now(dt.timezone.utc) - HOUR)), 401, "expiró"),
    ("jwt-nbf-future", with_token(lambda w: w.signed(nbf=dt.datetime.now(dt.timezone.utc) + HOUR)), 401, "todavía no es válido"),
    ("jwt-iat-future", with_token(lambda w: w.signed(iat=dt.datetime.now(dt.timezone.utc) + HOUR)), 401, "todavía no es válido"),
    ("jwt-missing-jti", with_token(lambda w: w.signed(jti=None)), 401, "jti"),
    ("jwt-missing-exp", with_token(lambda w: w.signed(exp=None)), 401, "exp"),
    ("jwt-missing-sub", with_token(lambda w: w.signed(sub=None)), 401, "sub"),
    ("jwt-sub-not-a-number", with_token(lambda w: w.signed(sub={"$ne": None})), 401, TOKEN),
    ("jwt-unknown-jti", with_token(lambda w: w.signed(jti="no-existe")), 401, "revocado"),
    ("jwt-revoked", after(revoke, with_token(lambda w: w.token)), 401, "revocado"),
    ("jwt-deactivated-officer", after(deactivate, with_token(lambda w: w.token)), 401, "inactivo"),
    ("jwt-deleted-officer", after(delete_officer, with_token(lambda w: w.token)), 401, "no existe"),
    # query strings of the public report
    ("query-email-bracket-ne", report("email[$ne]="), 400, BAD_QUERY),
    ("query-email-dollar-ne", report("email=$ne"), 400, BAD_QUERY),
    ("query-email-json-operator", report('email={"$gt":""}'), 400, BAD_QUERY),
    ("query-email-twice", report(f"email={EMAIL}&email=otro@example.cl"), 400, "más de una vez"),
    ("query-email-nul", report("email=a%00b@example.cl"), 400, BAD_QUERY),
    ("query-email-script", report("email=%3Cscript%3E@example.cl"), 400, BAD_QUERY),
    ("query-email-huge", report("email=" + "a" * 5000 + "@example.cl"), 400, BAD_QUERY),
    ("query-limit-negative", report(f"email={EMAIL}&limit=-1"), 400, "número entero"),
    ("query-limit-operator", report(f"email={EMAIL}&limit[$gt]=0"), 400, "no permitido"),
    # admin forms
    ("form-persona-email-operator", form("/admin/personas/nuevo", {"nombre": "X", "correo": '{"$gt":""}'}), 400, BAD_EMAIL),
    ("form-persona-field-bracket", form("/admin/personas/nuevo", {"nombre": "X", "correo[$ne]": "x"}), 400, "obligatorio"),
    ("form-persona-control-char", form("/admin/personas/nuevo", {"nombre": "A\x7fB", "correo": "nul@example.cl"}), 400, "caracteres de control"),
    ("form-persona-huge-name", form("/admin/personas/nuevo", {"nombre": "n" * 20_000, "correo": "huge@example.cl"}), 400, "120"),
    ("form-persona-script-email", form("/admin/personas/nuevo", {"nombre": "X", "correo": SCRIPT}), 400, BAD_EMAIL),
    ("form-vehiculo-plate-operator", form("/admin/vehiculos/nuevo", {"placa_patente": '{"$ne":null}', "marca": "M", "color": "C", "propietario": EMAIL}), 400, "placa patente"),
    ("form-vehiculo-owner-operator", form("/admin/vehiculos/nuevo", {"placa_patente": "XXYY11", "marca": "M", "color": "C", "propietario": '{"$gt":""}'}), 400, BAD_EMAIL),
    ("form-oficial-number-operator", form("/admin/oficiales/nuevo", {"nombre": "X", "numero": '{"$gt":0}'}), 400, "número"),
    ("form-persona-without-xsrf", form("/admin/personas/nuevo", {"nombre": "X", "correo": "x@example.cl"}, xsrf=False), 403, XSRF),
    ("form-vehiculo-without-xsrf", form("/admin/vehiculos/nuevo", {"placa_patente": "XXYY11", "marca": "M", "color": "C", "propietario": EMAIL}, xsrf=False), 403, XSRF),
    ("form-logout-without-xsrf", form("/admin/logout", {}, xsrf=False), 403, XSRF),
    ("form-login-operator", form("/admin/login", {"username": '{"$ne": null}', "password": '{"$ne": null}'}), 401, "incorrectos"),
]


@pytest.mark.parametrize("send,status,message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_hostile_input_is_refused_and_writes_nothing(world: World, db, send: Send, status: int, message: str) -> None:
    before = await counts(db)
    response = await send(world)
    assert_clear_refusal(response, status, message)
    # a setup step (revoke, deactivate, delete) may change documents, never add infractions
    after_counts = await counts(db)
    if send.__name__ == "run":
        assert after_counts["infracciones"] == before["infracciones"]
    elif response.request.url.path == "/admin/login":  # a failed login counts towards its lockout and is audited
        assert {**after_counts, "limites": 0, "auditoria": 0} == {**before, "limites": 0, "auditoria": 0}
        assert after_counts["limites"] > before.get("limites", 0)
        assert after_counts["auditoria"] == before.get("auditoria", 0) + 1
    else:
        assert after_counts == before


# Issue 13's fields and photos. None of them changes anything when it is refused, so they share one
# application and database (a fresh one per case costs 2 to 3 seconds, mostly the admin's login).
ISSUE_13_CASES: list[tuple[str, Send, int, str]] = [
    # issue 13: the offence code
    ("codigo-gt-operator", api_infraction(codigo={"$gt": ""}), 400, INVALID),
    ("codigo-ne-null", api_infraction(codigo={"$ne": None}), 400, INVALID),
    ("codigo-regex-operator", api_infraction(codigo={"$regex": "^G"}), 400, INVALID),
    ("codigo-regex-as-text", api_infraction(codigo=".*"), 400, BAD_CODE),
    ("codigo-array", api_infraction(codigo=["GVS-01", "GVS-02"]), 400, "Debe ser un texto"),
    ("codigo-number", api_infraction(codigo=199), 400, "Debe ser un texto"),
    ("codigo-empty", api_infraction(codigo=""), 400, "No puede estar vacío"),
    ("codigo-nul", api_infraction(codigo="GVS\x00-01"), 400, BAD_CODE),
    ("codigo-newline-after", api_infraction(codigo="GVS-01\n"), 400, BAD_CODE),
    ("codigo-script", api_infraction(codigo=SCRIPT), 400, "Es demasiado largo"),
    ("codigo-script-short", api_infraction(codigo="<b>G</b>"), 400, BAD_CODE),
    ("codigo-sharp-s", api_infraction(codigo="ßGV-01"), 400, BAD_CODE),
    ("codigo-huge", api_infraction(codigo="G" * 60_000), 400, "Es demasiado largo"),
    ("codigo-unknown", api_infraction(codigo="GVS-99"), 404, "no existe en el catálogo"),
    # issue 13: the place
    ("ubicacion-near-operator", api_infraction(ubicacion={"$near": {"$geometry": {"type": "Point", "coordinates": [0, 0]}}}), 400, "Campo no permitido"),
    ("ubicacion-operator-in-latitude", api_infraction(ubicacion={**PLACE, "latitud": {"$gt": 0}}), 400, NOT_A_NUMBER),
    ("ubicacion-geojson-instead", api_infraction(ubicacion={"type": "Point", "coordinates": [-70.6, -33.4]}), 400, "Campo no permitido"),
    ("ubicacion-extra-field", api_infraction(ubicacion={**PLACE, "altitud": 520}), 400, "Campo no permitido"),
    ("ubicacion-nested-object", api_infraction(ubicacion={"latitud": {"grados": -33}, "longitud": {"grados": -70}}), 400, NOT_A_NUMBER),
    ("ubicacion-array", api_infraction(ubicacion=[-70.6165, -33.4263]), 400, INVALID),
    ("ubicacion-text", api_infraction(ubicacion="-33.4263,-70.6165"), 400, INVALID),
    ("ubicacion-number-as-text", api_infraction(ubicacion={**PLACE, "latitud": "-33.4263"}), 400, NOT_A_NUMBER),
    ("ubicacion-boolean", api_infraction(ubicacion={**PLACE, "longitud": True}), 400, NOT_A_NUMBER),
    ("ubicacion-nul-in-text", api_infraction(ubicacion={**PLACE, "latitud": "-33\x004"}), 400, NOT_A_NUMBER),
    ("ubicacion-1e400", api_place(b'{"latitud": 1e400, "longitud": -70.6}'), 400, "finito"),
    ("ubicacion-minus-1e400", api_place(b'{"latitud": -33.4, "longitud": -1e400}'), 400, "finito"),
    ("ubicacion-huge-integer", api_place(b'{"latitud": 1' + b"0" * 400 + b', "longitud": -70.6}'), 400, "finito"),
    ("ubicacion-nan", api_place(b'{"latitud": NaN, "longitud": -70.6}'), 400, "finito"),
    ("ubicacion-infinity", api_place(b'{"latitud": -33.4, "longitud": Infinity}'), 400, "finito"),
    ("ubicacion-latitude-91", api_infraction(ubicacion={**PLACE, "latitud": 90.000001}), 400, "entre -90 y 90"),
    ("ubicacion-longitude-minus-181", api_infraction(ubicacion={**PLACE, "longitud": -180.5}), 400, "entre -180 y 180"),
    ("ubicacion-negative-precision", api_infraction(ubicacion={**PLACE, "precision_m": -1}), 400, "precisión"),
    ("ubicacion-huge-precision", api_infraction(ubicacion={**PLACE, "precision_m": 1e300}), 400, "precisión"),
    ("ubicacion-missing-longitude", api_infraction(ubicacion={"latitud": -33.4}), 400, "Campo obligatorio"),
    ("ubicacion-deeply-nested", api_place(b'{"latitud": ' + b"[" * 5000 + b"]" * 5000 + b', "longitud": 0}'), 400, INVALID),
]
EVIDENCE_CASES: list[tuple[str, Send, int, str]] = [
    ("evidence-empty-body", evidence(b""), 400, "Envíe la foto"),
    ("evidence-nul-bytes", evidence(b"\x00" * 4096), 400, NOT_A_PHOTO),
    ("evidence-html", evidence(HTML, "image/jpeg"), 400, NOT_A_PHOTO),
    ("evidence-html-behind-a-jpeg-signature", evidence(b"\xff\xd8\xff\xe0" + HTML), 400, DAMAGED),
    ("evidence-html-behind-a-png-signature", evidence(b"\x89PNG\r\n\x1a\n" + HTML, "image/png"), 400, DAMAGED),
    ("evidence-svg-with-script", evidence(b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "image/svg+xml"), 400, NOT_A_PHOTO),
    ("evidence-gif", evidence(photo("GIF"), "image/gif"), 400, NOT_A_PHOTO),
    ("evidence-webp", evidence(photo("WEBP"), "image/webp"), 400, NOT_A_PHOTO),
    ("evidence-multipart-form", evidence(*multipart(photo())), 400, NOT_A_PHOTO),
    ("evidence-base64", evidence(base64.b64encode(photo()), "text/plain"), 400, NOT_A_PHOTO),
    ("evidence-json", evidence(json.dumps({"foto": base64.b64encode(photo()).decode()}).encode(), "application/json"), 400, NOT_A_PHOTO),
    ("evidence-truncated-jpeg", evidence(photo("JPEG", size=(64, 48))[:-40]), 400, DAMAGED),
    ("evidence-truncated-png", evidence(photo("PNG", size=(64, 48))[:-20], "image/png"), 400, DAMAGED),
    ("evidence-png-bomb-81-megapixels", evidence(png_bomb(9_000, 9_000), "image/png"), 400, "megapíxeles"),
    ("evidence-png-claiming-10-gigapixels", evidence(png_claiming(100_000, 100_000), "image/png"), 400, "megapíxeles"),
    ("evidence-over-5-MiB", evidence(b"\xff\xd8\xff" + b"\x00" * (5 * 1024 * 1024)), 413, "5120 KiB"),
    ("evidence-chunked-over-5-MiB", evidence(chunked(5 * 1024 * 1024)), 413, "5120 KiB"),
    ("evidence-without-token", evidence(photo(), token=None), 401, "Authorization"),
    ("evidence-of-another-officer", evidence(photo(), token="other"), 404, "cargada por usted"),
    ("evidence-id-operator", evidence(photo(), path="%7B%22%24ne%22%3Anull%7D"), 404, "No existe"),
    ("evidence-id-regex", evidence(photo(), path=".*"), 404, "No existe"),
    ("evidence-id-traversal", evidence(photo(), path="..%2F..%2Fadmin"), 404, "No existe"),
    ("evidence-id-nul", evidence(photo(), path="6b06f3eae8996eaccd3e80%00"), 404, "No existe"),
    ("evidence-id-bad-utf8", evidence(photo(), path="%ff%fe"), 400, "no es válida"),
]


async def check_refused(w: World, db, send: Send, status: int, message: str) -> None:
    before = await counts(db)
    response = await send(w)
    assert_clear_refusal(response, status, message)
    assert await counts(db) == before


@pytest.fixture(scope="module")
async def shared_world(mongo) -> AsyncIterator[tuple[World, Any]]:
    """One application and database for the cases that change nothing: the officer NUMERO with a
    live token, the vehicle PLATE, an infraction the officer loaded a minute ago, another officer's
    token, and the shipped catalogue. Its ``http`` is not logged in as an administrator."""
    db = mongo[f"test_hostile_{uuid.uuid4().hex[:10]}"]
    await prepare_database(db)
    repos = Repositories.over(db)
    settings = make_settings()
    await load_catalogue(repos, settings.zone)
    try:
        async with serve(settings, repos) as running, httpx.AsyncClient(base_url=running.url, timeout=30) as http:
            w = await world_with_an_infraction(running, http)
            yield w, db
    finally:
        await mongo.drop_database(db.name)


@pytest.mark.parametrize("send,status,message", [c[1:] for c in ISSUE_13_CASES + EVIDENCE_CASES], ids=[c[0] for c in ISSUE_13_CASES + EVIDENCE_CASES])
async def test_hostile_code_place_or_photo_is_refused_and_writes_nothing(shared_world, send: Send, status: int, message: str) -> None:
    """Nothing in any collection: infracciones, GridFS's evidencias.files and evidencias.chunks, the
    officers' and vehicles' counters (given back), the audit trail."""
    w, db = shared_world
    await check_refused(w, db, send, status, message)


async def test_a_jpeg_that_is_also_an_html_page_is_kept_as_a_jpeg_and_only_ever_served_as_one(running_app, admin_client) -> None:
    """A real JPEG may carry anything in a comment, an HTML page too (a polyglot): it is an image, so
    it is taken, but its type is the one its bytes say (never the declared one), and the admin serves
    it as image/jpeg with nosniff, never to a shared cache. The thumbnail carries pixels only: Pillow
copied the comment into it (Image.info survives convert() and is written again by save())."""
    evidence_world = await world_with_an_infraction(running_app, admin_client)
    polyglot = jpeg_with_comment(HTML)
    response = await evidence(polyglot, "text/html")(evidence_world)
    assert response.status_code == 201, response.text
    assert response.json()["tipo"] == "image/jpeg"
    http, infraccion_id = evidence_world.http, evidence_world.infraccion_id
    for query in ("", "?miniatura=1"):
        served = await http.get(f"/admin/infracciones/{infraccion_id}/evidencias/{response.json()['id']}{query}")
        assert served.status_code == 200
        assert served.headers["Content-Type"] == "image/jpeg" and served.headers["X-Content-Type-Options"] == "nosniff"
        assert "private" in served.headers["Cache-Control"] and "public" not in served.headers["Cache-Control"]
        assert (served.content == polyglot) if not query else (b"<script>" not in served.content)
    stranger = httpx.AsyncClient(base_url=evidence_world.running.url)
    async with stranger:
        anonymous = await stranger.get(f"/admin/infracciones/{infraccion_id}/evidencias/{response.json()['id']}")
    assert anonymous.status_code == 302 and b"<script>" not in anonymous.content


@pytest.mark.parametrize("raw", [b"-0.0", b"0", b"-1e-400", b"1e-320"])
async def test_minus_zero_and_underflow_are_a_place_on_the_equator_not_an_error(shared_world, raw: bytes) -> None:
    """-0.0 and a number too small for a double are valid latitudes (0): taken, and indexed."""
    world, db = shared_world
    response = await api_place(b'{"latitud": ' + raw + b', "longitud": -78.5, "precision_m": -0.0}')(world)
    assert response.status_code == 200, response.text
    place = response.json()["ubicacion"]
    assert abs(place["latitud"]) < 1e-300 and place["longitud"] == -78.5 and place["precision_m"] == 0
    near = {"$geoWithin": {"$centerSphere": [[-78.5, 0], 0.0001]}}
    assert await db["infracciones"].find_one({"_id": ObjectId(response.json()["id"]), "ubicacion": near}) is not None


async def test_nul_bytes_in_forms_never_reach_the_database(world: World, db) -> None:
    """Tornado turns NUL and other C0 control characters in form arguments into spaces."""
    response = await post_form(world.http, "/admin/personas/nuevo", {"nombre": "A\x00B", "correo": "nul@example.cl"}, page="/admin/personas/nuevo")
    assert response.status_code == 302, response.text[:500]
    stored = await db["personas"].find_one({"correo": "nul@example.cl"})
    assert stored["nombre"] == "A B"


def test_the_catalogue_is_large_enough() -> None:
    everything = CASES + ISSUE_13_CASES + EVIDENCE_CASES
    assert len(CASES) >= 40 and len(ISSUE_13_CASES) >= 30 and len(EVIDENCE_CASES) >= 20
    assert len({c[0] for c in everything}) == len(everything)


async def test_script_tags_are_stored_as_text_and_shown_escaped(world: World, db) -> None:
    http = world.http
    response = await post_form(http, "/admin/personas/nuevo", {"nombre": SCRIPT, "correo": "xss@example.cl"}, page="/admin/personas/nuevo")
    assert response.status_code == 302, response.text
    persona_url = response.headers["Location"]
    response = await post_form(
        http, "/admin/vehiculos/nuevo",
        {"placa_patente": "XSS123", "marca": SCRIPT, "color": SCRIPT, "propietario": "xss@example.cl"},
        page="/admin/vehiculos/nuevo",
    )
    assert response.status_code == 302, response.text
    vehiculo_url = response.headers["Location"]
    response = await post_form(http, "/admin/oficiales/nuevo", {"nombre": SCRIPT, "numero": "777", "activo": "y"}, page="/admin/oficiales/nuevo")
    assert response.status_code == 302, response.text
    oficial_url = response.headers["Location"]
    response = await post_form(http, f"{oficial_url}/tokens", {"dias": "30", "etiqueta": SCRIPT}, page=oficial_url)
    assert response.status_code == 303, response.text[:500]  # then the officer's page shows the token once
    api = await api_infraction(comentarios=SCRIPT)(world)
    assert api.status_code == 200, api.text
    assert api.json()["comentarios"] == SCRIPT  # JSON carries the text as it was typed

    pages = ["/admin/", "/admin/personas/", "/admin/vehiculos/", "/admin/oficiales/", persona_url, vehiculo_url, oficial_url]
    escaped_somewhere = 0
    for page in pages:
        html = (await http.get(page)).text
        assert "<script>alert" not in html, page
        escaped_somewhere += html.count("&lt;script&gt;alert")
    assert escaped_somewhere >= 6  # names, marca, color, etiqueta, comentarios...
    stored = await db["personas"].find_one({"correo": "xss@example.cl"})
    assert stored["nombre"] == SCRIPT


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"])
async def test_login_never_redirects_off_site(client: httpx.AsyncClient, repos, target: str) -> None:
    await repos.admins.set_password(username=ADMIN_USERNAME, password=ADMIN_PASSWORD)
    page = await client.get("/admin/login", params={"next": target})
    assert "evil.example" not in page.text.replace(f"next={target}", "")
    response = await post_form(client, "/admin/login?" + httpx.QueryParams({"next": target}).__str__(), {"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"


async def test_forged_session_cookie_is_no_session(running_app, client: httpx.AsyncClient, repos, db) -> None:
    admin, _ = await repos.admins.set_password(username=ADMIN_USERNAME, password=ADMIN_PASSWORD)
    live_token = await repos.sesiones.open(admin_id=admin.id, username=admin.username)
    forged = create_signed_value("otro-secreto-" + "x" * 40, "session", live_token).decode()
    client.cookies.set("session", forged)
    response = await client.get("/admin/personas/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/admin/login")
    before = await counts(db)
    token = await xsrf_token(client)
    response = await client.post("/admin/personas/nuevo", data={"nombre": "X", "correo": "f@example.cl", "_xsrf": token})
    assert response.status_code == 403 and "Inicie sesión" in response.text
    assert await counts(db) == before


async def test_session_of_a_deleted_admin_is_no_session(admin_client: httpx.AsyncClient, repos, db) -> None:
    assert (await admin_client.get("/admin/personas/")).status_code == 200
    assert await repos.admins.delete(ADMIN_USERNAME)
    response = await admin_client.get("/admin/personas/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/admin/login")
    before = await counts(db)
    response = await post_form(admin_client, "/admin/personas/nuevo", {"nombre": "X", "correo": "d@example.cl"})
    assert response.status_code == 403 and "Inicie sesión" in response.text
    assert await counts(db) == before


@pytest.mark.parametrize("width,height", [(9_000, 9_000), (7_746, 7_746), (60_000_001, 1)])
def test_a_photo_with_more_pixels_than_the_limit_is_refused_before_it_is_decoded(width: int, height: int) -> None:
    """Pillow raises DecompressionBombError only beyond twice Image.MAX_IMAGE_PIXELS; between 60 and 120
    megapixels it only warned, and the photo (9,924 bytes for 9,000 x 9,000) was decoded whole for its
    thumbnail: 1.1 s and 410 MB of memory for one request (under pytest, whose warnings are errors, a 500)."""
    bomb = png_bomb(width, height)
    assert len(bomb) < 200_000 and width * height > MAX_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # as in production: a warning is not a refusal
        with pytest.raises(InvalidValue, match="megapíxeles"):
            photo_or_raise(bomb)
