"""Issue 13 over HTTP: photo evidence (``POST /api/infracciones/{id}/evidencias``) and the admin's
page that serves it.

What must hold: JPEG and PNG are recognised by their bytes, whatever the request declares; anything
else, a damaged image or a decompression bomb is a 400 in Spanish; the size limit is a 413 before
the body is kept; the number of photos and the time window are clear 4xx; the same bytes twice are
one evidence; only the officer who loaded the infraction may add to it (another officer gets the
same 404 as for an infraction that does not exist, so the answer does not reveal that it exists);
and nothing is half-stored (no file in ``evidencias.files``/``chunks`` that is not listed on the
infraction) when the upload breaks off or the database fails at any of its writes.

The evidence endpoint is not in openapi.json yet, so its problem documents are checked against the
``Problem`` schema directly."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import io
from typing import Any

import httpx
import pytest
from bson import ObjectId
from PIL import Image

from domain.errors import Conflict, NotFound
from services.images import photo_or_raise
from repositories import Repositories, evidencias
from tests.helpers.api import check_contract, jti_of, make_world, validate_schema
from tests.helpers.app import ADMIN_PASSWORD, ADMIN_USERNAME, client_meeting_fail_point, make_settings, post_form
from tests.helpers.clocked import CODE, Clocked, clocked_app

LIMIT = 64 * 1024
MAX_PHOTOS = 3
SETTINGS = make_settings(evidence_max_bytes=LIMIT, evidence_max_photos=MAX_PHOTOS)
NOT_AN_IMAGE = "La foto debe ser una imagen JPEG o PNG (se reconoce por su contenido, no por su nombre)."
DAMAGED = "La imagen está dañada o incompleta: no se pudo leer."
TOO_MANY_PIXELS = "La imagen tiene demasiados píxeles (más de 60 megapíxeles)."


def image(fmt: str, *, color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, fmt)
    return out.getvalue()


JPEG = image("JPEG")
PNG = image("PNG", color=(20, 160, 40))


@dataclasses.dataclass
class Evidence:
    app: Clocked
    infraccion_id: str

    async def subir(self, data: Any, *, token: str | None = None, infraccion_id: str | None = None, **headers: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.app.world.token}", **headers}
        response = await self.app.http.post(f"/api/infracciones/{infraccion_id or self.infraccion_id}/evidencias", content=data, headers=headers)
        check_contract(response)  # every answer, accepted or refused, is one openapi.json documents
        return response


async def loaded(app: Clocked) -> str:
    response = await app.cargar(codigo=CODE)
    assert response.status_code == 200, response.text
    return response.json()["id"]


@pytest.fixture
async def ev(db):
    async with clocked_app(db, settings=SETTINGS) as app:
        yield Evidence(app, await loaded(app))


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """A problem document in Spanish, as every API refusal is."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json; charset=UTF-8"
    body = response.json()
    validate_schema(body, "/components/schemas/Problem")
    assert body["status"] == status and body["request_id"] == response.headers["X-Request-ID"]
    return body


async def files(db) -> tuple[int, int]:
    return await db[evidencias.FILES].count_documents({}), await db[evidencias.CHUNKS].count_documents({})


async def listed(db, infraccion_id: str) -> list[dict[str, Any]]:
    return (await db["infracciones"].find_one({"_id": ObjectId(infraccion_id)})).get("evidencias", [])


async def assert_nothing_stored(db, infraccion_id: str) -> None:
    assert await files(db) == (0, 0)
    assert await listed(db, infraccion_id) == []


# -- accepted ---------------------------------------------------------------------------------------


async def test_a_jpeg_is_stored_hashed_and_listed(ev: Evidence, db):
    response = await ev.subir(JPEG, **{"Content-Type": "image/jpeg"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert "Idempotent-Replayed" not in response.headers
    assert body["sha256"] == hashlib.sha256(JPEG).hexdigest()
    assert {k: body[k] for k in ("infraccion_id", "tipo", "bytes", "ancho", "alto")} == {
        "infraccion_id": ev.infraccion_id, "tipo": "image/jpeg", "bytes": len(JPEG), "ancho": 64, "alto": 48
    }
    assert body["registrada_en"] == ev.app.clock.now().isoformat(timespec="milliseconds").replace("+00:00", "Z")
    [entry] = await listed(db, ev.infraccion_id)
    assert str(entry["id"]) == body["id"] and entry["sha256"] == body["sha256"]
    # The photo and its thumbnail are in GridFS, the photo byte for byte.
    assert await files(db) == (2, 2)
    data, metadata = await ev.app.repos.evidencias.get(entry["id"])
    assert data == JPEG
    assert metadata["sha256"] == body["sha256"] and str(metadata["infraccion_id"]) == ev.infraccion_id


@pytest.mark.parametrize(
    "data,declared,tipo",
    [
        (PNG, {"Content-Type": "image/jpeg"}, "image/png"),
        (JPEG, {"Content-Type": "image/png"}, "image/jpeg"),
        (JPEG, {"Content-Type": "text/plain"}, "image/jpeg"),
        (PNG, {"Content-Type": "application/octet-stream"}, "image/png"),
        (PNG, {}, "image/png"),
    ],
    ids=["png-as-jpeg", "jpeg-as-png", "jpeg-as-text", "png-as-octets", "png-undeclared"],
)
async def test_a_photo_is_recognised_by_its_bytes_not_its_declared_type(ev: Evidence, db, data, declared, tipo):
    response = await ev.subir(data, **declared)
    assert response.status_code == 201, response.text
    assert response.json()["tipo"] == tipo
    assert (await listed(db, ev.infraccion_id))[0]["tipo"] == tipo


async def test_a_photo_of_exactly_the_limit_is_accepted(ev: Evidence):
    padded = JPEG + b"\0" * (LIMIT - len(JPEG))  # bytes after a JPEG's end do not make it another image
    response = await ev.subir(padded)
    assert response.status_code == 201, response.text
    assert response.json()["bytes"] == LIMIT


# -- refused by what the bytes are -----------------------------------------------------------------


def _png_bomb(side: int) -> bytes:
    """A black square of ``side``² one-bit pixels: a few kilobytes that decode to a huge image."""
    out = io.BytesIO()
    Image.new("1", (side, side)).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    "data,mensaje",
    [
        (image("GIF"), NOT_AN_IMAGE),
        (image("BMP"), NOT_AN_IMAGE),
        (image("WEBP"), NOT_AN_IMAGE),
        (b"Esto no es una foto.\n", NOT_AN_IMAGE),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', NOT_AN_IMAGE),
        (b"%PDF-1.4\n" + b"x" * 100, NOT_AN_IMAGE),
        (b"\xff\xd8", NOT_AN_IMAGE),  # shorter than any signature
        (JPEG[: len(JPEG) // 2], DAMAGED),  # truncated
        (JPEG[:-2], DAMAGED),  # without its end marker
        (b"\xff\xd8\xff" + bytes(range(256)) * 8, DAMAGED),  # a JPEG signature, then garbage
        (PNG[: len(PNG) // 2], DAMAGED),
        (PNG[:8] + b"x" * 500, DAMAGED),  # a PNG signature, then garbage
        (_png_bomb(8000), TOO_MANY_PIXELS),  # 64 megapixels: over MAX_PIXELS, under twice it
        (_png_bomb(12000), TOO_MANY_PIXELS),  # 144 megapixels
    ],
    ids=["gif", "bmp", "webp", "text", "svg", "pdf", "two-bytes", "jpeg-half", "jpeg-no-end", "jpeg-garbage",
         "png-half", "png-garbage", "bomb-64mp", "bomb-144mp"],
)
async def test_what_is_not_a_whole_jpeg_or_png_is_400(ev: Evidence, db, data, mensaje):
    response = await ev.subir(data, **{"Content-Type": "image/jpeg"})
    body = problem(response, 400)
    assert body["detail"] == mensaje
    assert body["errors"] == [{"campo": "cuerpo", "mensaje": mensaje}]
    await assert_nothing_stored(db, ev.infraccion_id)


async def test_an_empty_body_is_400(ev: Evidence, db):
    body = problem(await ev.subir(b""), 400)
    assert body["detail"] == "Envíe la foto en el cuerpo de la solicitud (una imagen JPEG o PNG)."
    await assert_nothing_stored(db, ev.infraccion_id)


async def test_a_photo_over_the_limit_is_413_declared_or_chunked(ev: Evidence, db):
    out = io.BytesIO()
    Image.effect_noise((300, 300), 100).save(out, "PNG")
    big = out.getvalue()
    assert len(big) > LIMIT

    async def chunks():
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    for content in (big, chunks(), JPEG + b"\0" * (LIMIT + 1 - len(JPEG))):
        body = problem(await ev.subir(content), 413)
        assert body["detail"] == f"El contenido enviado supera el máximo de {LIMIT // 1024} KiB."
    await assert_nothing_stored(db, ev.infraccion_id)
    # No refused upload is left counted as in flight (a graceful stop would wait for it in vain).
    assert await ev.app.running.app.settings["inflight"].wait_idle(10)


# -- refused by the infraction's state -------------------------------------------------------------


async def test_more_photos_than_the_maximum_is_409(ev: Evidence, db):
    photos = [image("JPEG", color=(n * 60, 10, 10)) for n in range(MAX_PHOTOS)]
    for photo in photos:
        assert (await ev.subir(photo)).status_code == 201
    body = problem(await ev.subir(PNG), 409)
    assert body["detail"] == f"La infracción ya tiene el máximo de {MAX_PHOTOS} fotos."
    assert body["errors"] == [{"campo": "cuerpo", "mensaje": body["detail"]}]
    assert len(await listed(db, ev.infraccion_id)) == MAX_PHOTOS
    assert await files(db) == (2 * MAX_PHOTOS, 2 * MAX_PHOTOS)  # the refused one left nothing behind
    # One of those already listed is still answered (a retry of an upload that did arrive).
    replay = await ev.subir(photos[0])
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"


async def test_photos_are_accepted_for_24_hours_after_the_load_and_then_409(ev: Evidence, db):
    ev.app.clock.advance(hours=24)
    assert (await ev.subir(JPEG)).status_code == 201
    ev.app.clock.advance(seconds=1)
    body = problem(await ev.subir(PNG), 409)
    assert body["detail"] == "Pasaron más de 24 horas desde que se cargó la infracción: ya no admite fotos."
    assert body["errors"] == [{"campo": "cuerpo", "mensaje": body["detail"]}]
    assert len(await listed(db, ev.infraccion_id)) == 1 and await files(db) == (2, 2)
    # The photo that did arrive in time is still answered.
    assert (await ev.subir(JPEG)).status_code == 200


async def test_the_same_bytes_twice_are_one_evidence(ev: Evidence, db):
    first = await ev.subir(JPEG, **{"Content-Type": "image/jpeg"})
    again = await ev.subir(JPEG, **{"Content-Type": "application/octet-stream"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert len(await listed(db, ev.infraccion_id)) == 1
    assert await files(db) == (2, 2)  # stored once
    # The same bytes on another infraction are another piece of evidence.
    ev.app.clock.advance(minutes=1)
    other = (await ev.app.cargar(timestamp=ev.app.ago(minutes=30))).json()["id"]
    elsewhere = await ev.subir(JPEG, infraccion_id=other)
    assert elsewhere.status_code == 201 and elsewhere.json()["id"] != first.json()["id"]
    assert elsewhere.json()["sha256"] == first.json()["sha256"]


async def test_concurrent_uploads_of_the_same_bytes_list_it_once(ev: Evidence, db):
    answers = await asyncio.gather(*(ev.subir(JPEG) for _ in range(4)))
    assert sorted(r.status_code for r in answers) == [200, 200, 200, 201]
    assert len({r.json()["id"] for r in answers}) == 1
    assert len(await listed(db, ev.infraccion_id)) == 1
    assert await files(db) == (2, 2)  # the losers' files were removed


# -- who may add a photo ---------------------------------------------------------------------------


async def test_another_officers_infraction_is_as_unknown_as_one_that_does_not_exist(ev: Evidence, db):
    await make_world(ev.app.repos, correo="otra@example.cl", placa="CCDF34", numero=43)
    other_token = await ev.app.issue_token(43)
    theirs = problem(await ev.subir(JPEG, token=other_token), 404)
    unknown_id = str(ObjectId())
    unknown = problem(await ev.subir(JPEG, infraccion_id=unknown_id), 404)
    assert theirs["detail"] == f"No existe una infracción {ev.infraccion_id} cargada por usted."
    assert unknown["detail"] == f"No existe una infracción {unknown_id} cargada por usted."
    assert theirs["errors"] == [{"campo": "id", "mensaje": theirs["detail"]}]
    await assert_nothing_stored(db, ev.infraccion_id)


async def test_an_annulled_infraction_takes_no_more_photos(ev: Evidence, db):
    assert (await ev.subir(JPEG)).status_code == 201
    await ev.app.repos.infracciones.transition(ev.infraccion_id, desde="registrada", to="anulada", motivo="Cargada por error.")
    refused = problem(await ev.subir(PNG), 409)
    assert refused["detail"] == "La infracción está anulada: ya no admite fotos."
    assert refused["errors"] == [{"campo": "cuerpo", "mensaje": refused["detail"]}]
    assert (await ev.subir(JPEG)).status_code == 200  # a retry of a photo listed before is still answered
    assert len(await listed(db, ev.infraccion_id)) == 1


@pytest.mark.parametrize("who", ["another officer", "a revoked token"])
async def test_a_refusal_comes_before_the_photo_is_received(ev: Evidence, db, who):
    """A client that waits for "100 Continue" before sending the photo gets the refusal instead:
    the server checks the token and the infraction before it reads a byte of the body."""
    if who == "another officer":
        await make_world(ev.app.repos, correo="otra@example.cl", placa="CCDF34", numero=43)
        token, status = await ev.app.issue_token(43), b"404"
    else:
        token, status = ev.app.world.token, b"401"
        await ev.app.repos.tokens.revoke(ev.app.world.token_id, oficial_id=ev.app.world.oficial.id)
    host, port = ev.app.running.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        f"POST /api/infracciones/{ev.infraccion_id}/evidencias HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: image/jpeg\r\nContent-Length: {LIMIT}\r\nExpect: 100-continue\r\n\r\n".encode()
    )
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    await writer.wait_closed()
    assert status_line.startswith(b"HTTP/1.1 " + status), status_line
    await assert_nothing_stored(db, ev.infraccion_id)


@pytest.mark.parametrize("infraccion_id", ["no-es-un-id", "0" * 23, "zz" * 12])
async def test_a_malformed_infraction_id_is_404(ev: Evidence, db, infraccion_id):
    body = problem(await ev.subir(JPEG, infraccion_id=infraccion_id), 404)
    assert body["detail"] == f"No existe una infracción {infraccion_id} cargada por usted."  # as for an unknown id
    assert body["errors"] == [{"campo": "id", "mensaje": body["detail"]}]
    await assert_nothing_stored(db, ev.infraccion_id)


async def test_a_revoked_token_or_an_inactive_officer_is_401(ev: Evidence, db):
    await ev.app.repos.tokens.revoke(ev.app.world.token_id, oficial_id=ev.app.world.oficial.id)
    body = problem(await ev.subir(JPEG), 401)
    assert body["detail"] == "El token fue revocado o el oficial no existe o está inactivo."
    second = await ev.app.issue_token(42)
    await ev.app.repos.oficiales.set_active(ev.app.world.oficial.id, False)
    problem(await ev.subir(JPEG, token=second), 401)
    await assert_nothing_stored(db, ev.infraccion_id)


@pytest.mark.parametrize("authorization", [None, "Bearer", "Token abc", "Bearer no-es-un-jwt"])
async def test_no_valid_token_is_401(ev: Evidence, db, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    response = await ev.app.http.post(f"/api/infracciones/{ev.infraccion_id}/evidencias", content=JPEG, headers=headers)
    problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="transito"')
    await assert_nothing_stored(db, ev.infraccion_id)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_only_post_is_allowed(ev: Evidence, method):
    response = await ev.app.http.request(method, f"/api/infracciones/{ev.infraccion_id}/evidencias", headers=ev.app.world.auth)
    assert problem(response, 405)["detail"] == "Este recurso solo acepta: POST."
    assert response.headers["Allow"] == "POST"


# -- nothing half-stored ------------------------------------------------------------------------------


@pytest.mark.parametrize("sent", [0, len(JPEG) // 2, len(JPEG)], ids=["no-body", "half", "all-but-the-rest-declared"])
async def test_an_upload_that_breaks_off_stores_nothing(ev: Evidence, db, sent):
    """The client declares more bytes than it sends and goes away. Waiting for "100 Continue"
    shows the server has the request (its token checked, its body expected); waiting for the
    server to have no request in flight shows it has seen the connection close."""
    host, port = ev.app.running.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = (
        f"POST /api/infracciones/{ev.infraccion_id}/evidencias HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {ev.app.world.token}\r\nContent-Type: image/jpeg\r\n"
        f"Content-Length: {len(JPEG) + 1000}\r\nExpect: 100-continue\r\n\r\n"
    )
    writer.write(head.encode())
    await writer.drain()
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 100")
    writer.write(JPEG[:sent])
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    assert await ev.app.running.app.settings["inflight"].wait_idle(10)
    await assert_nothing_stored(db, ev.infraccion_id)
    # The server is none the worse: the same photo, sent whole, is stored.
    assert (await ev.subir(JPEG)).status_code == 201


FAULTS = [
    # (the command that fails, how many of its kind pass first, the write it is)
    ("insert", 0, "the photo's chunks"),
    ("insert", 1, "the photo's files document"),
    ("insert", 2, "the thumbnail's chunks"),
    ("insert", 3, "the thumbnail's files document"),
    ("findAndModify", 0, "listing the photo on the infraction"),
]


@pytest.mark.parametrize("command,skip,what", FAULTS, ids=[f[2] for f in FAULTS])
async def test_a_database_fault_at_any_write_leaves_nothing_behind(mongo, mongo_uri, db, command, skip, what):
    async with client_meeting_fail_point(
        mongo_uri, f"evidencia-{command}-{skip}", mode={"skip": skip}, failCommands=[command], errorCode=8
    ) as faulty:
        async with clocked_app(db, settings=SETTINGS, app_db=faulty[db.name]) as app:
            # Loaded beside the app, so that its insert does not meet the fail point.
            recorded, _ = await Repositories.over(db, clock=app.clock).infracciones.record(
                numero_oficial=42, jti=jti_of(app.world.token), placa_patente="BBCD12",
                timestamp=app.clock.now() - dt.timedelta(minutes=3), comentarios="",
            )
            infraccion_id = recorded.id
            ev = Evidence(app, infraccion_id)
            body = problem(await ev.subir(JPEG), 500)
            assert body["detail"] == f"Ocurrió un error inesperado. Informe el identificador {body['request_id']} al soporte."
            await assert_nothing_stored(db, infraccion_id)

            await mongo.admin.command("configureFailPoint", "failCommand", mode="off")
            retry = await ev.subir(JPEG)
            assert retry.status_code == 201, retry.text
            assert len(await listed(db, infraccion_id)) == 1 and await files(db) == (2, 2)


async def test_photos_racing_for_the_last_places_never_exceed_the_maximum(repos, db):
    """Uploads that each found room when they began (the infraction read once, before any photo):
    the listing takes only the places left, the others are refused as full and leave no file."""
    world = await make_world(repos)
    recorded, _ = await repos.infracciones.record(
        numero_oficial=world.oficial.numero, jti=jti_of(world.token), placa_patente=world.vehiculo.placa_patente,
        timestamp=repos.clock.now() - dt.timedelta(minutes=3), comentarios="",
    )
    oficial_id = ObjectId(world.oficial.id)
    target = await repos.infracciones.evidence_target(recorded.id, oficial_id=oficial_id)

    async def add(data: bytes) -> Any:
        return await repos.infracciones.add_evidence(
            target, oficial_id=oficial_id, data=data, sha256=hashlib.sha256(data).hexdigest(), photo=photo_or_raise(data),
            max_count=MAX_PHOTOS, window=dt.timedelta(hours=24),
        )

    results = await asyncio.gather(*(add(image("PNG", color=(n, 0, 0))) for n in range(MAX_PHOTOS + 2)), return_exceptions=True)
    refused = [result for result in results if isinstance(result, Conflict)]
    assert len(results) - len(refused) == MAX_PHOTOS, results
    assert [error.message for error in refused] == [f"La infracción ya tiene el máximo de {MAX_PHOTOS} fotos."] * 2
    assert len(await listed(db, recorded.id)) == MAX_PHOTOS and await files(db) == (2 * MAX_PHOTOS, 2 * MAX_PHOTOS)


async def test_a_listing_whose_answer_is_lost_keeps_the_files_of_the_photo_it_listed(mongo_uri, db):
    """The update that lists the photo happens, but its answer is an error: the photo is listed, so
    its files stay (removing them would break the infraction)."""
    lost = {"failCommands": ["findAndModify"], "writeConcernError": {"code": 64, "errmsg": "respuesta perdida"}}
    async with client_meeting_fail_point(mongo_uri, "evidencia-lost-answer", **lost) as faulty:
        async with clocked_app(db, settings=SETTINGS, app_db=faulty[db.name]) as app:
            recorded, _ = await Repositories.over(db, clock=app.clock).infracciones.record(
                numero_oficial=42, jti=jti_of(app.world.token), placa_patente="BBCD12",
                timestamp=app.clock.now() - dt.timedelta(minutes=3), comentarios="",
            )
            problem(await Evidence(app, recorded.id).subir(JPEG), 500)
    assert len(await listed(db, recorded.id)) == 1 and await files(db) == (2, 2)

# -- the admin's view of a photo, and the public report ----------------------------------------------


async def login(app: Clocked) -> None:
    await app.repos.admins.set_password(username=ADMIN_USERNAME, password=ADMIN_PASSWORD)
    response = await post_form(app.http, "/admin/login", {"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})
    assert response.status_code == 302, response.text


async def test_a_photo_is_served_only_to_a_logged_in_administrator(ev: Evidence):
    evidence_id = (await ev.subir(PNG)).json()["id"]
    url = f"/admin/infracciones/{ev.infraccion_id}/evidencias/{evidence_id}"
    anonymous = await ev.app.http.get(url)
    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/admin/login?next=")
    assert anonymous.content == b""
    thumbnail_anonymous = await ev.app.http.get(url, params={"miniatura": "1"})
    assert thumbnail_anonymous.status_code == 302

    await login(ev.app)
    photo = await ev.app.http.get(url)
    assert photo.status_code == 200
    assert photo.content == PNG
    assert photo.headers["Content-Type"] == "image/png"
    assert photo.headers["X-Content-Type-Options"] == "nosniff"
    cache = {part.strip() for part in photo.headers["Cache-Control"].split(",")}
    assert "public" not in cache and ("private" in cache or "no-store" in cache)
    assert "s-maxage" not in photo.headers["Cache-Control"]

    thumbnail = await ev.app.http.get(url, params={"miniatura": "1"})
    assert thumbnail.status_code == 200
    assert thumbnail.headers["Content-Type"] == "image/jpeg" and thumbnail.headers["X-Content-Type-Options"] == "nosniff"
    with Image.open(io.BytesIO(thumbnail.content)) as small:
        assert small.format == "JPEG" and small.size == (64, 48)  # never larger than the photo


async def test_a_large_photo_gets_a_small_thumbnail(db):
    async with clocked_app(db, settings=make_settings(evidence_max_bytes=2 * 1024 * 1024)) as app:
        ev = Evidence(app, await loaded(app))
        big = image("JPEG", size=(2000, 1500))
        evidence_id = (await ev.subir(big)).json()["id"]
        await login(app)
        thumbnail = await app.http.get(f"/admin/infracciones/{ev.infraccion_id}/evidencias/{evidence_id}", params={"miniatura": "1"})
        with Image.open(io.BytesIO(thumbnail.content)) as small:
            assert max(small.size) <= 480 and small.size[0] / small.size[1] == pytest.approx(2000 / 1500, rel=0.01)


async def test_a_photo_is_only_found_under_its_own_infraction(ev: Evidence):
    evidence_id = (await ev.subir(JPEG)).json()["id"]
    other = (await ev.app.cargar(timestamp=ev.app.ago(minutes=30))).json()["id"]
    await login(ev.app)
    for url in (
        f"/admin/infracciones/{other}/evidencias/{evidence_id}",  # a real photo, but not of this infraction
        f"/admin/infracciones/{ev.infraccion_id}/evidencias/{ObjectId()}",
        f"/admin/infracciones/{ev.infraccion_id}/evidencias/no-es-un-id",
        f"/admin/infracciones/no-es-un-id/evidencias/{evidence_id}",
    ):
        response = await ev.app.http.get(url)
        assert response.status_code == 404, url
        assert response.headers["Content-Type"].startswith("text/html")


async def test_a_photo_missing_from_the_store_is_not_found_and_says_so(repos):
    """A listed photo whose file is gone (or an id that names none) is a 404 that says so, not an error."""
    for missing in (ObjectId(), "no-es-un-id"):
        with pytest.raises(NotFound) as refused:
            await repos.evidencias.get(missing)
        assert refused.value.message == "No existe esa evidencia."


async def test_the_public_report_never_shows_the_photos(ev: Evidence):
    uploaded = (await ev.subir(JPEG)).json()
    report = await ev.app.http.get("/api/generar_informe", params={"email": ev.app.world.persona.correo})
    assert report.status_code == 200
    [item] = report.json()["infracciones"]
    assert set(item) == {"id", "placa_patente", "marca", "color", "timestamp", "comentarios", "estado", "infraccion"}
    for secret in (uploaded["id"], uploaded["sha256"], "evidencia", "foto"):
        assert secret not in report.text
