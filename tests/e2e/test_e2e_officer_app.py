"""The officers' app (``/app/``) on a phone: Chromium with a phone's viewport and touch, against the real server
(``python server.py``) and its database. Enrolment by the QR code on the officer's page and by pasting the token;
captures online and offline; a response lost on its way back; a plate the server does not know; a revoked token;
the app opening with the server gone; geolocation allowed and refused; photos from a file chooser.

Every test fails on a console error, an uncaught exception, a Content-Security-Policy violation, or an HTTP
error it did not expect. Phone screenshots land in test-artifacts/screenshots/ (``app-*-telefono.png``)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import io
import json
import re
import uuid
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit

import pytest
import zxingcpp
from bson import ObjectId
from PIL import Image, ImageDraw
from playwright.async_api import Browser, BrowserContext, Page, Request, Route, expect

from domain import rules
from handlers.forms import VehiculoForm
from repositories import Repositories
from services.tokens import TokenService
from tests.helpers.browser import SCREENSHOTS, new_badge, new_plate, snapshot, unique
from tests.helpers.server_process import ServerProcess

PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "es-CL",
    "timezone_id": "America/Santiago",
}
TIMEOUT_MS = 15_000
# Reported by the page when a CSP blocks anything (Chromium also logs its own "Refused to ..." console error).
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI}`);
});
"""


# -- the phone ---------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Phone:
    context: BrowserContext
    page: Page
    problems: list[str]
    expected: set[tuple[int, str]]  # (status, path) the test provokes on purpose
    requests: list[Request]

    def expect_status(self, status: int, path: str) -> None:
        self.expected.add((status, path))

    def api_calls(self, path: str, method: str = "POST") -> list[Request]:
        return [r for r in self.requests if urlsplit(r.url).path == path and r.method == method]


PhoneFactory = Callable[..., Awaitable[Phone]]


@pytest.fixture
async def phone(browser: Browser, server: ServerProcess, request: pytest.FixtureRequest) -> AsyncIterator[PhoneFactory]:
    """Opens phones (browser contexts): ``await phone()``; ``await phone(base_url=..., geolocation=..., ...)``."""
    opened: list[Phone] = []

    async def open_phone(*, base_url: str | None = None, offline_expected: bool = False, **options: Any) -> Phone:
        context = await browser.new_context(base_url=base_url or server.url, **{**PHONE, **options})
        context.set_default_timeout(TIMEOUT_MS)
        await context.add_init_script(CSP_LISTENER)
        page = await context.new_page()
        device = Phone(context, page, [], set(), [])

        def on_console(message: Any) -> None:
            if message.type != "error":
                return
            text = message.text
            if text.startswith("Failed to load resource"):
                if "net::ERR_" in text and offline_expected:
                    return  # no signal, on purpose: the app's own handling is what the test checks
                status = re.search(r"status of (\d{3})", text)
                if status and any(code == int(status.group(1)) for code, _ in device.expected):
                    return  # the response itself is checked against (status, path) below
            device.problems.append(f"console: {text}")

        def on_response(response: Any) -> None:
            if response.status >= 400 and (response.status, urlsplit(response.url).path) not in device.expected:
                device.problems.append(f"HTTP {response.status} {response.url}")

        page.on("console", on_console)
        page.on("pageerror", lambda error: device.problems.append(f"uncaught: {error}"))
        page.on("response", on_response)
        page.on("request", lambda sent: device.requests.append(sent))
        opened.append(device)
        return device

    try:
        yield open_phone
    finally:
        name = re.sub(r"[^\w.-]+", "_", request.node.name)
        for index, device in enumerate(opened):
            if not device.page.is_closed():
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                await device.page.screenshot(path=SCREENSHOTS / f"{name}-{index}.png", full_page=True)
            await device.context.close()
    problems = [p for device in opened for p in device.problems]
    assert not problems, f"the phone reported errors: {problems}"


# -- the records the app talks about -----------------------------------------------------------------------------
@dataclasses.dataclass
class Officer:
    oficial_id: str
    numero: int
    nombre: str
    token: str
    token_id: str
    plates: list[str]


async def make_officer(repos: Repositories, jwt_secret: str, *, plates: int = 1, nombre: str = "Carla Fuentes") -> Officer:
    """An officer with a live token, and ``plates`` registered vehicles (of one persona) to write infractions on."""
    persona = await repos.personas.create(nombre="Rosa Tapia", correo=f"{unique('rosa.')}@example.cl")
    numbers = []
    for _ in range(plates):
        plate = new_plate()
        await repos.vehiculos.create(placa_patente=plate, marca="Toyota", color="Rojo", persona_id=persona.id)
        numbers.append(plate)
    numero = new_badge()
    oficial = await repos.oficiales.create(nombre=nombre, numero=numero)
    issued = await TokenService(jwt_secret).issue(repos, numero=numero, label="Teléfono de patrulla")
    return Officer(oficial.id, numero, nombre, issued.token, issued.record.id, numbers)


@pytest.fixture
async def repos(mongo, server: ServerProcess) -> Repositories:
    """The repositories over the database the server process uses (to set up records and read what landed)."""
    return Repositories.over(mongo[server.env["MONGODB_DB"]])


@pytest.fixture
async def officer(repos: Repositories, server: ServerProcess) -> Officer:
    return await make_officer(repos, server.jwt_secret, plates=3)


async def infractions_of(repos: Repositories, officer: Officer) -> list[dict[str, Any]]:
    cursor = repos.infracciones.collection.find({"oficial_id": ObjectId(officer.oficial_id)}, sort=[("registrada_en", 1)])
    return [doc async for doc in cursor]


# -- what an officer does ----------------------------------------------------------------------------------------
async def ready(page: Page) -> None:
    await expect(page.locator("body[data-listo]")).to_have_count(1)


async def enrol_by_link(page: Page, officer: Officer) -> None:
    await page.goto(f"/app/#token={officer.token}")
    await ready(page)
    await expect(page.locator("#quien-oficial")).to_have_text(f"Oficial N° {officer.numero} · {officer.nombre}")


async def service_worker_in_control(page: Page) -> None:
    """The app shell is on the phone: the service worker is active (its install cached the shell) and controls the page."""
    await page.evaluate("navigator.serviceWorker.ready")
    await page.wait_for_function("navigator.serviceWorker.controller !== null")


def section(page: Page, name: str):
    return page.get_by_role("navigation", name="Secciones").get_by_role("button", name=re.compile(f"^{name}"))


async def capture(page: Page, plate: str, *, comment: str = "", search: str | None = None, code: str | None = None) -> None:
    """Fill the form and save; the app confirms it is kept on the phone."""
    await section(page, "Nueva").tap()
    await page.get_by_label("Placa patente").fill(plate)
    if search is not None:
        await page.get_by_label("Buscar en el catálogo").fill(search)
    if code is not None:
        await page.get_by_label("Infracción", exact=True).select_option(code)
    if comment:
        await page.get_by_label("Comentarios").fill(comment)
    await page.get_by_role("button", name="Guardar infracción").tap()
    await expect(page.locator("#aviso-guardada")).to_contain_text(f"Infracción {rules.normalize_plate(plate)} guardada en el teléfono")


def queue_items(page: Page):
    return page.locator("#lista-cola > li.item")


def history_items(page: Page):
    return page.locator("#lista-historial > li.item")


# -- enrolment -----------------------------------------------------------------------------------------------------
async def test_enrolment_by_the_qr_code_on_the_officer_page(
    admin_page: Page, phone: PhoneFactory, repos: Repositories, server: ServerProcess
):
    """The administrator issues a token; the QR code on the page, read back from a screenshot, opens the app
    enrolled. The token travels only in the fragment: no request the phone makes carries it."""
    officer = await make_officer(repos, server.jwt_secret, plates=0, nombre="Tomás Reyes")
    page = admin_page
    await page.goto(f"/admin/oficiales/{officer.oficial_id}")
    await page.get_by_label("Etiqueta").fill("Teléfono de Tomás")
    await page.get_by_role("button", name="Generar token").click()
    token = (await page.locator("textarea#token").input_value()).strip()
    qr = page.locator("svg.enrolment-qr")
    await expect(qr).to_be_visible()
    await snapshot(page, "app-inscripcion-qr-admin")

    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(await qr.screenshot())))
    assert [code.text for code in decoded] == [f"{server.url}/app/#token={token}"]

    device = await phone()
    await device.page.goto(decoded[0].text)
    await ready(device.page)
    await expect(device.page.locator("#quien-oficial")).to_have_text(f"Oficial N° {officer.numero} · Tomás Reyes")
    await expect(device.page.locator("#quien-token")).to_contain_text("Token «Teléfono de Tomás» · vence el ")
    assert "token" not in device.page.url  # the fragment left the address bar (and the browser's history)
    for sent in device.requests:
        parts = urlsplit(sent.url)
        assert token not in parts.path + parts.query, sent.url
        assert token not in (await sent.all_headers()).get("referer", "")
    await snapshot(device.page, "app-inscrita")

    await device.page.reload()  # the token stays on the phone
    await ready(device.page)
    await expect(device.page.locator("#quien-oficial")).to_have_text(f"Oficial N° {officer.numero} · Tomás Reyes")


async def test_enrolment_by_paste_then_a_capture_online(phone: PhoneFactory, officer: Officer, repos: Repositories):
    device = await phone()
    page = device.page
    await page.goto("/app/")
    await ready(page)
    await expect(page.get_by_role("heading", name="Inscribir este teléfono")).to_be_visible()
    await snapshot(page, "app-inscripcion")
    await page.get_by_label("Token", exact=True).fill("esto no es un token")
    await page.get_by_role("button", name="Guardar token").tap()
    await expect(page.locator("#token-error")).to_contain_text("Eso no es un token válido")
    await page.get_by_label("Token", exact=True).fill(f"  {officer.token[:40]}\n{officer.token[40:]}  ")  # as pasted from a chat
    await page.get_by_role("button", name="Guardar token").tap()
    await expect(page.locator("#quien-oficial")).to_have_text(f"Oficial N° {officer.numero} · {officer.nombre}")
    await expect(page.get_by_role("heading", name="Inscribir este teléfono")).to_be_hidden()

    # The plate is normalised as the admin does it, with the admin's words.
    plate = officer.plates[0]
    typed = f"{plate[:2].lower()}-{plate[2:4].lower()} {plate[4:]}"
    await page.get_by_label("Placa patente").fill(typed)
    await expect(page.locator("#placa-normalizada")).to_have_text(f"Se registrará como {plate}")
    await expect(page.locator("#placa-ayuda")).to_have_text(VehiculoForm.placa_patente.kwargs["description"])
    await page.get_by_label("Placa patente").fill("AB-1")
    await page.get_by_role("button", name="Guardar infracción").tap()
    await expect(page.locator("#placa-error")).to_have_text(rules.PLATE_MESSAGE)
    await expect(page.get_by_label("Placa patente")).to_have_attribute("aria-invalid", "true")

    # The offence from the catalogue on the phone, found by words without accents.
    await expect(page.locator("#codigo option")).not_to_have_count(1)  # the catalogue arrived
    await page.get_by_label("Buscar en el catálogo").fill("semaforo roja")
    await expect(page.locator("#codigo option")).to_have_count(2)  # "Sin código" and the one match
    await page.get_by_label("Infracción", exact=True).select_option("GVS-01")
    await expect(page.locator("#codigo-ayuda")).to_contain_text("Gravísima")
    await page.get_by_label("Placa patente").fill(typed)
    await page.get_by_label("Comentarios").fill("Cruzó con luz roja en Alameda con Ejército.")
    await snapshot(page, "app-captura")
    before = dt.datetime.now(dt.timezone.utc)
    await page.get_by_role("button", name="Guardar infracción").tap()
    await expect(page.locator("#aviso-guardada")).to_contain_text(f"Infracción {plate} guardada en el teléfono")
    after = dt.datetime.now(dt.timezone.utc)  # the form's clock follows "now" until the tap, so bound it after

    await section(page, "Enviadas").tap()
    await expect(history_items(page)).to_have_count(1)
    [doc] = await infractions_of(repos, officer)
    await expect(history_items(page).first.locator(".server-id")).to_have_text(str(doc["_id"]))
    assert doc["placa_patente"] == plate
    assert doc["comentarios"] == "Cruzó con luz roja en Alameda con Ejército."
    assert doc["infraccion"]["codigo"] == "GVS-01"
    assert doc["clave_idempotencia"].startswith(f"{doc['oficial_id']}:")
    assert before - dt.timedelta(minutes=2) <= doc["timestamp"].replace(tzinfo=dt.timezone.utc) <= after  # "now", to the second
    [sent] = device.api_calls("/api/cargar_infraccion")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]0[34]:00", sent.post_data_json["timestamp"])  # Santiago's offset
    assert re.fullmatch(r"[0-9a-f-]{36}", await sent.header_value("idempotency-key") or "")
    await section(page, "Por enviar").tap()
    await expect(page.locator("#cola-resumen")).to_contain_text("No hay infracciones por enviar")
    await section(page, "Enviadas").tap()
    await snapshot(page, "app-enviadas")


async def test_plate_rule_is_the_servers(phone: PhoneFactory):
    """The app's plate normalisation (static/app/js/plate.js) gives what domain/rules.py gives."""
    device = await phone()
    await device.page.goto("/app/")
    await ready(device.page)
    samples = [
        "bb-cd 12", "AB·1234", "ab.123.cd", "  x y z 1 2 ", "ÁBCD12", "abcd123456", "ab1", "straße1", "ıbcd12",
        "bb\tcd\u00a012", "bbcd12\n", "bb--cd..12",
    ]
    got = await device.page.evaluate(
        """async (samples) => {
            const plate = await import("/app/js/plate.js");
            return samples.map((raw) => [plate.normalizePlate(raw), plate.isValidPlate(plate.normalizePlate(raw))]);
        }""",
        samples,
    )
    assert got == [[rules.normalize_plate(raw), rules.is_valid_plate(rules.normalize_plate(raw))] for raw in samples]


# -- the queue -----------------------------------------------------------------------------------------------------
async def test_three_captures_without_signal_are_sent_once_the_signal_returns(
    phone: PhoneFactory, officer: Officer, repos: Repositories
):
    device = await phone(offline_expected=True)
    page = device.page
    await enrol_by_link(page, officer)
    await service_worker_in_control(page)
    await device.context.set_offline(True)
    await expect(page.locator("#red")).to_have_text("Sin señal")
    for number, plate in enumerate(officer.plates, 1):
        await capture(page, plate, comment=f"Captura sin señal {number}")
    await expect(page.locator("#aviso-guardada")).to_contain_text("Se enviará cuando vuelva la señal.")
    await section(page, "Por enviar").tap()
    await expect(queue_items(page)).to_have_count(3)
    await expect(queue_items(page).locator(".badge")).to_have_text(["Pendiente"] * 3)
    await expect(page.locator("#contador")).to_have_text("3")
    await snapshot(page, "app-sin-senal")
    await page.reload()  # closing and opening the app keeps the queue (and the shell comes from the phone)
    await ready(page)
    await section(page, "Por enviar").tap()
    await expect(queue_items(page)).to_have_count(3)
    assert await infractions_of(repos, officer) == []

    await device.context.set_offline(False)  # the "online" event sends the queue
    await expect(page.locator("#red")).to_have_text("En línea")
    await expect(page.locator("#cola-resumen")).to_contain_text("No hay infracciones por enviar")
    await section(page, "Enviadas").tap()
    await expect(history_items(page)).to_have_count(3)
    docs = await infractions_of(repos, officer)
    assert sorted(doc["comentarios"] for doc in docs) == [f"Captura sin señal {n}" for n in (1, 2, 3)]
    assert len({doc["clave_idempotencia"] for doc in docs}) == 3
    assert sorted(doc["placa_patente"] for doc in docs) == sorted(officer.plates)


async def test_a_response_lost_in_transit_is_retried_with_the_same_key_and_makes_no_duplicate(
    phone: PhoneFactory, officer: Officer, repos: Repositories
):
    """The request reaches the server, which records the infraction; its answer never reaches the phone. The
    app retries on its own after its back-off, with the same Idempotency-Key, and the server answers with the
    original."""
    device = await phone(offline_expected=True)
    page = device.page
    answers: list[tuple[str | None, dict[str, str]]] = []

    async def lose_the_first_answer(route: Route) -> None:
        response = await route.fetch()  # the request does reach the server
        answers.append((route.request.headers.get("idempotency-key"), response.headers))
        if len(answers) == 1:
            await route.abort("connectionreset")  # ... and its answer is lost on the way back
        else:
            await route.fulfill(response=response)

    await page.route("**/api/cargar_infraccion", lose_the_first_answer)
    await enrol_by_link(page, officer)
    await capture(page, officer.plates[0], comment="Respuesta perdida")
    await section(page, "Enviadas").tap()
    await expect(history_items(page)).to_have_count(1)

    docs = await infractions_of(repos, officer)
    assert len(docs) == 1
    assert len(answers) == 2
    (first_key, first), (second_key, second) = answers
    assert first_key == second_key and first_key is not None
    assert "idempotent-replayed" not in first
    assert second["idempotent-replayed"] == "true"
    await expect(history_items(page).first.locator(".server-id")).to_have_text(str(docs[0]["_id"]))


async def test_a_server_error_waits_shows_why_and_retries(phone: PhoneFactory, officer: Officer, repos: Repositories):
    """A 503 (the database away for a moment) leaves the capture pending with the server's message and the time of
    the next attempt; the app retries by itself after its back-off."""
    device = await phone()
    device.expect_status(503, "/api/cargar_infraccion")
    page = device.page
    calls: list[str] = []
    release = asyncio.Event()

    async def unavailable_until_released(route: Route) -> None:
        calls.append(route.request.headers.get("idempotency-key", ""))
        if not release.is_set():
            body = {"type": "about:blank", "title": "Servicio no disponible", "status": 503,
                    "detail": "La base de datos no está disponible en este momento."}
            await route.fulfill(status=503, content_type="application/problem+json", body=json.dumps(body))
        else:
            await route.continue_()

    await page.route("**/api/cargar_infraccion", unavailable_until_released)
    await enrol_by_link(page, officer)
    await capture(page, officer.plates[0])
    await section(page, "Por enviar").tap()
    status = queue_items(page).first.locator(".status-line")
    await expect(status).to_contain_text(re.compile(r"No se pudo enviar \(intento \d\): La base de datos no está disponible en este momento\."))
    await expect(status).to_contain_text(re.compile(r"Próximo intento a las \d\d:\d\d:\d\d\."))
    await expect(status).to_contain_text(re.compile(r"No se pudo enviar \(intento [2-9]\)"))  # it retried by itself
    await snapshot(page, "app-reintento")
    release.set()
    await page.get_by_role("button", name="Enviar ahora").tap()  # and on demand, whatever its back-off says
    await section(page, "Enviadas").tap()
    await expect(history_items(page)).to_have_count(1)
    assert len(await infractions_of(repos, officer)) == 1
    assert len(calls) >= 2 and len(set(calls)) == 1  # every attempt with the capture's one key


async def test_an_unknown_plate_is_rejected_with_the_servers_message_and_can_be_corrected(
    phone: PhoneFactory, officer: Officer, repos: Repositories
):
    device = await phone()
    device.expect_status(404, "/api/cargar_infraccion")
    page = device.page
    await enrol_by_link(page, officer)
    await capture(page, "zz-zz 99", comment="Patente mal leída")
    await section(page, "Por enviar").tap()
    item = queue_items(page).first
    await expect(item.locator(".badge")).to_have_text("Rechazada")
    await expect(item.locator(".rejection")).to_have_text("No existe un vehículo con la placa patente ZZZZ99.")
    await expect(item.locator(".advice")).to_contain_text("Qué hacer: Revise la placa patente.")
    await expect(page.locator("#cola-resumen")).to_contain_text("1 rechazada (corríjala")
    await snapshot(page, "app-rechazada")
    assert await infractions_of(repos, officer) == []

    # The rejection stays until the officer acts: here, corrects the plate and sends it again.
    await item.get_by_role("button", name="Corregir").tap()
    await expect(page.get_by_label("Placa patente")).to_have_value("ZZZZ99")
    await expect(page.get_by_label("Comentarios")).to_have_value("Patente mal leída")
    await page.get_by_label("Placa patente").fill(officer.plates[1])
    await page.get_by_role("button", name="Guardar y volver a enviar").tap()
    await section(page, "Enviadas").tap()
    await expect(history_items(page)).to_have_count(1)
    [doc] = await infractions_of(repos, officer)
    assert (doc["placa_patente"], doc["comentarios"]) == (officer.plates[1], "Patente mal leída")
    keys = [await sent.header_value("idempotency-key") for sent in device.api_calls("/api/cargar_infraccion")]
    assert len(keys) == 2 and keys[0] != keys[1]  # the corrected capture is a new request


async def test_a_discarded_rejection_leaves_the_queue(phone: PhoneFactory, officer: Officer, repos: Repositories):
    device = await phone()
    device.expect_status(404, "/api/cargar_infraccion")
    page = device.page
    await enrol_by_link(page, officer)
    await capture(page, "ZZZZ98")
    await section(page, "Por enviar").tap()
    item = queue_items(page).first
    await expect(item.locator(".badge")).to_have_text("Rechazada")
    await item.get_by_role("button", name="Descartar").tap()
    await item.get_by_role("button", name="Sí, descartarla").tap()
    await expect(queue_items(page)).to_have_count(0)
    await page.reload()
    await ready(page)
    await section(page, "Por enviar").tap()
    await expect(queue_items(page)).to_have_count(0)
    assert await infractions_of(repos, officer) == []


async def test_a_revoked_token_asks_for_a_new_one_and_keeps_the_capture(
    phone: PhoneFactory, officer: Officer, repos: Repositories, server: ServerProcess
):
    device = await phone()
    page = device.page
    await enrol_by_link(page, officer)
    await repos.tokens.revoke(officer.token_id, oficial_id=officer.oficial_id)
    for path in ("/api/cargar_infraccion", "/api/yo", "/api/catalogo"):
        device.expect_status(401, path)
    await capture(page, officer.plates[0], comment="Con el token revocado")
    banner = page.get_by_role("alert")
    await expect(banner).to_contain_text("El servidor no aceptó su token")
    await expect(page.get_by_role("heading", name="Inscribir este teléfono")).to_be_visible()
    await section(page, "Por enviar").tap()
    await expect(queue_items(page).locator(".badge")).to_have_text(["Pendiente"])
    await snapshot(page, "app-token-revocado")
    assert await infractions_of(repos, officer) == []

    fresh = await TokenService(server.jwt_secret).issue(repos, numero=officer.numero, label="Token nuevo")
    await page.get_by_label("Token", exact=True).fill(fresh.token)
    await page.get_by_role("button", name="Guardar token").tap()
    await expect(banner).to_be_hidden()
    await expect(page.locator("#quien-token")).to_contain_text("Token «Token nuevo»")
    await section(page, "Enviadas").tap()
    await expect(history_items(page)).to_have_count(1)
    [doc] = await infractions_of(repos, officer)
    assert doc["carga"]["token_jti"] == fresh.record.jti


async def test_the_app_opens_without_the_server_after_its_first_visit(
    phone: PhoneFactory, mongo_uri: str, mongo, tmp_path: Path
):
    """Its own server, stopped after the first visit: a reload and a new tab both open the app from the phone,
    with who is enrolled and what was sent; a capture then waits in the queue."""
    own = ServerProcess(mongodb_uri=mongo_uri, db_name=f"e2e_app_{uuid.uuid4().hex[:10]}", data_dir=tmp_path)
    own.start()
    try:
        own_repos = Repositories.over(mongo[own.env["MONGODB_DB"]])
        officer = await make_officer(own_repos, own.jwt_secret, plates=2)
        device = await phone(base_url=own.url, offline_expected=True)
        page = device.page
        await enrol_by_link(page, officer)
        await capture(page, officer.plates[0], comment="Antes de perder la señal")
        await section(page, "Enviadas").tap()
        await expect(history_items(page)).to_have_count(1)
        await service_worker_in_control(page)
    finally:
        own.stop()
    await device.context.set_offline(True)

    response = await page.reload()
    assert response is not None and response.from_service_worker
    await ready(page)
    await expect(page.locator("#quien-oficial")).to_have_text(f"Oficial N° {officer.numero} · {officer.nombre}")
    await expect(page.locator("#red")).to_have_text("Sin señal")
    await capture(page, officer.plates[1], comment="Sin servidor")
    await section(page, "Por enviar").tap()
    await expect(queue_items(page).locator(".badge")).to_have_text(["Pendiente"])
    await expect(page.locator("#codigo option")).not_to_have_count(1)  # the catalogue is on the phone too

    tab = await device.context.new_page()
    tab.on("pageerror", lambda error: device.problems.append(f"uncaught: {error}"))
    opened = await tab.goto(f"{own.url}/app/")
    assert opened is not None and opened.from_service_worker
    await ready(tab)
    await section(tab, "Enviadas").tap()
    await expect(history_items(tab)).to_have_count(1)
    await snapshot(tab, "app-sin-servidor")
    await tab.close()


# -- location and photos ---------------------------------------------------------------------------------------------
async def test_geolocation_allowed_is_recorded_with_its_accuracy(phone: PhoneFactory, officer: Officer, repos: Repositories):
    device = await phone(geolocation={"latitude": -33.4372, "longitude": -70.6506, "accuracy": 12.5}, permissions=["geolocation"])
    page = device.page
    await enrol_by_link(page, officer)
    await page.get_by_label("Placa patente").fill(officer.plates[0])
    await page.get_by_role("button", name="Agregar mi ubicación").tap()
    await expect(page.locator("#ubicacion-estado")).to_have_text("Latitud -33,43720, longitud -70,65060 · precisión ± 13 m")
    await snapshot(page, "app-ubicacion")
    await page.get_by_role("button", name="Guardar infracción").tap()
    await section(page, "Enviadas").tap()
    await expect(history_items(page)).to_have_count(1)
    [doc] = await infractions_of(repos, officer)
    assert doc["ubicacion"]["coordinates"] == [-70.6506, -33.4372]
    assert doc["ubicacion"]["precision_m"] == 12.5


async def test_geolocation_refused_is_explained_and_the_capture_goes_without_it(
    phone: PhoneFactory, officer: Officer, repos: Repositories, server: ServerProcess
):
    device = await phone(geolocation={"latitude": -33.4372, "longitude": -70.6506, "accuracy": 12.5})
    page = device.page
    cdp = await device.context.new_cdp_session(page)
    await cdp.send("Browser.setPermission", {"permission": {"name": "geolocation"}, "setting": "denied", "origin": server.url})
    await enrol_by_link(page, officer)
    await page.get_by_label("Placa patente").fill(officer.plates[0])
    await page.get_by_role("button", name="Agregar mi ubicación").tap()
    await expect(page.locator("#ubicacion-estado")).to_have_text(re.compile("^No hay permiso para usar la ubicación."))
    await page.get_by_role("button", name="Guardar infracción").tap()
    await section(page, "Enviadas").tap()
    await expect(history_items(page)).to_have_count(1)
    [doc] = await infractions_of(repos, officer)
    assert "ubicacion" not in doc


def photo_file(path: Path, size: tuple[int, int], *, noise: bool = False, quality: int = 90) -> Path:
    """A JPEG as a phone camera makes it: a drawn scene, or (``noise``) one too detailed to fit the limit."""
    if noise:
        image = Image.frombytes("RGB", size, uuid.uuid4().bytes * (size[0] * size[1] * 3 // 16))
    else:
        image = Image.new("RGB", size, (90, 120, 160))
        draw = ImageDraw.Draw(image)
        draw.rectangle((size[0] // 4, size[1] // 3, size[0] * 3 // 4, size[1] * 2 // 3), fill=(230, 230, 230))
        draw.text((size[0] // 3, size[1] // 2), "BBCD12", fill=(0, 0, 0))
    image.save(path, "JPEG", quality=quality)
    return path


async def test_photos_from_the_camera_are_uploaded_after_the_infraction(
    phone: PhoneFactory, officer: Officer, repos: Repositories, tmp_path: Path
):
    """Two photos chosen through the file chooser (the camera on a phone): one kept byte for byte, one over the
    server's 5 MB limit redrawn smaller by the phone. Both land on the infraction after it is recorded."""
    small = photo_file(tmp_path / "patente.jpg", (1200, 900))
    large = photo_file(tmp_path / "grande.jpg", (3000, 2200), noise=True, quality=98)
    assert large.stat().st_size > 5 * 1024 * 1024
    device = await phone()
    page = device.page
    await enrol_by_link(page, officer)
    await page.get_by_label("Placa patente").fill(officer.plates[0])
    async with page.expect_file_chooser() as chooser:
        await page.get_by_text("Agregar foto").tap()
    await (await chooser.value).set_files([small, large])
    thumbnails = page.locator("#lista-fotos li")
    await expect(thumbnails).to_have_count(2)
    await expect(thumbnails.nth(1)).to_contain_text("(reducida)")
    await snapshot(page, "app-fotos")
    await page.get_by_role("button", name="Guardar infracción").tap()
    await section(page, "Enviadas").tap()
    await expect(history_items(page)).to_have_count(1)
    await expect(history_items(page).first).to_contain_text("2 fotos")

    [doc] = await infractions_of(repos, officer)
    evidence = doc["evidencias"]
    assert len(evidence) == 2
    assert evidence[0]["sha256"] == hashlib.sha256(small.read_bytes()).hexdigest()  # exactly what the camera made
    assert evidence[1]["tipo"] == "image/jpeg" and evidence[1]["sha256"] != hashlib.sha256(large.read_bytes()).hexdigest()
    assert len(device.api_calls(f"/api/infracciones/{doc['_id']}/evidencias")) == 2
