"""The defects of the outside security audit (issue 10), each fixed at its root: the client address
behind a proxy, throttles shared by every process, logins a stranger cannot lock, server-side
sessions, stalled bodies, redirects, oversized bodies, methods, banners and security headers,
and revocation scoped to its officer. Each test failed on the code before the fix."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import time
import uuid

import httpx
import pytest

from domain.clock import FixedClock
from handlers.admin.session import MAX_DELAY_SECONDS, slowdown_delay
from repositories import Repositories
from repositories.limites import LimitRepository
from services.database import mongo_client
from services.throttle import Throttle
from tests.helpers.api import World, cargar, check_contract, claims_for, infraction_body, jti_of, make_world, sign
from tests.helpers.app import ADMIN_PASSWORD, ADMIN_USERNAME, make_settings, post_form, serve
from tests.helpers.server_process import ServerProcess


async def login(http: httpx.AsyncClient, password: str = ADMIN_PASSWORD, **headers: str) -> httpx.Response:
    page = await http.get("/admin/login", headers=headers)
    xsrf = page.text.split('name="_xsrf" value="', 1)[1].split('"', 1)[0]
    return await http.post(
        "/admin/login", data={"username": ADMIN_USERNAME, "password": password, "_xsrf": xsrf}, headers=headers
    )


# -- 1. the client address behind a proxy ---------------------------------------------------------


@pytest.mark.parametrize("settings", [make_settings(trust_proxy=True, report_rate_limit="3/minute")])
async def test_behind_a_proxy_a_client_cannot_choose_its_address(client, settings):
    """Rotating X-Real-Ip or the left part of X-Forwarded-For does not escape the rate limit: the
    address is the right-most entry, the one the proxy added."""
    statuses = []
    for n in range(5):
        headers = {"X-Real-Ip": f"10.9.9.{n}", "X-Forwarded-For": f"10.8.8.{n}, 203.0.113.7"}
        statuses.append((await client.get("/api/generar_informe", params={"email": "a@example.cl"}, headers=headers)).status_code)
    assert statuses == [200, 200, 200, 429, 429]
    # another client, as the proxy reports it, has its own allowance
    other = await client.get("/api/generar_informe", params={"email": "a@example.cl"}, headers={"X-Forwarded-For": "203.0.113.8"})
    assert other.status_code == 200


@pytest.mark.parametrize("settings", [make_settings(trust_proxy=True, trusted_proxy_hops=2, report_rate_limit="2/minute")])
async def test_with_two_trusted_hops_the_second_entry_from_the_right_is_the_client(client, settings):
    statuses = [
        (
            await client.get(
                "/api/generar_informe",
                params={"email": "a@example.cl"},
                headers={"X-Forwarded-For": f"10.0.0.{n}, 198.51.100.4, 10.1.1.{n}"},  # client-written, client, CDN
            )
        ).status_code
        for n in range(3)
    ]
    assert statuses == [200, 200, 429]


@pytest.mark.parametrize("settings", [make_settings(report_rate_limit="2/minute")])
async def test_without_a_trusted_proxy_forwarding_headers_are_ignored(client, settings):
    statuses = [
        (await client.get("/api/generar_informe", params={"email": "a@example.cl"}, headers={"X-Forwarded-For": f"10.0.0.{n}", "X-Real-Ip": f"10.0.1.{n}"})).status_code
        for n in range(3)
    ]
    assert statuses == [200, 200, 429]


# -- 2. one limit for every process ----------------------------------------------------------------


def test_two_workers_share_one_report_limit(mongo_uri, tmp_path):
    server = ServerProcess(
        mongodb_uri=mongo_uri,
        db_name=f"test_{uuid.uuid4().hex[:12]}",
        data_dir=tmp_path,
        env={"WORKERS": "2", "REPORT_RATE_LIMIT": "5/minute"},
    ).start()
    clients: dict[int, httpx.Client] = {}
    try:
        deadline = time.monotonic() + 30
        while len(clients) < 2 and time.monotonic() < deadline:  # a kept-alive connection to each worker
            http = httpx.Client(base_url=server.url, timeout=5)
            pid = int(http.get("/healthz").headers["X-Worker-PID"])
            if pid in clients:
                http.close()
            else:
                clients[pid] = http
        assert len(clients) == 2, "the second worker never answered"
        connections = list(clients.values())
        statuses = [
            connections[n % 2].get("/api/generar_informe", params={"email": "a@example.cl"}).status_code for n in range(7)
        ]
    finally:
        for http in clients.values():
            http.close()
        exit_code = server.stop()  # asserted below: a failure above stays the one reported
    assert exit_code == 0
    assert statuses == [200] * 5 + [429] * 2


# -- 3. a stranger cannot lock an administrator out -------------------------------------------------


@pytest.mark.parametrize("settings", [make_settings(trust_proxy=True)])
async def test_failed_logins_from_a_stranger_do_not_lock_the_administrator_out(client, repos, settings):
    await repos.admins.set_password(username=ADMIN_USERNAME, password=ADMIN_PASSWORD)
    stranger, owner = {"X-Forwarded-For": "198.51.100.66"}, {"X-Forwarded-For": "203.0.113.10"}
    for _ in range(5):
        assert (await login(client, "adivinando", **stranger)).status_code == 401
    locked = await login(client, ADMIN_PASSWORD, **stranger)
    assert locked.status_code == 429 and "minutos antes de reintentar" in locked.text  # the stranger's own lock
    client.cookies.clear()
    assert (await login(client, ADMIN_PASSWORD, **owner)).status_code == 302  # the real one gets in


def test_failures_for_a_user_name_from_many_addresses_slow_it_down_without_locking_it():
    assert slowdown_delay(10, 10) == 0
    assert slowdown_delay(12, 10) == 1.0
    assert slowdown_delay(1000, 10) == MAX_DELAY_SECONDS


@pytest.mark.parametrize("settings", [make_settings(trust_proxy=True, login_slowdown_user="2/15minutes")])
async def test_many_addresses_guessing_one_user_name_are_counted_but_do_not_lock_it(client, running_app, repos, settings):
    await repos.admins.set_password(username=ADMIN_USERNAME, password=ADMIN_PASSWORD)
    for n in range(3):
        assert (await login(client, "adivinando", **{"X-Forwarded-For": f"198.51.100.{n}"})).status_code == 401
    # Three failures for the name, from three addresses: over the slow-down threshold of 2 ...
    slowdown = running_app.app.settings["throttles"]["login_slowdown"]
    decision = await slowdown.exceeded(ADMIN_USERNAME)
    assert not decision.allowed and decision.count == 4  # the three failures and the attempt asked about
    # ... which delays the next attempts for the name, and never refuses them.
    assert (await login(client, ADMIN_PASSWORD, **{"X-Forwarded-For": "203.0.113.10"})).status_code == 302


# -- 4. server-side sessions -------------------------------------------------------------------------


async def test_a_cookie_copied_before_logout_no_longer_works(client, repos):
    await repos.admins.set_password(username=ADMIN_USERNAME, password=ADMIN_PASSWORD)
    assert (await login(client)).status_code == 302
    copied = client.cookies["session"]
    assert (await post_form(client, "/admin/logout", {})).status_code == 302
    async with httpx.AsyncClient(base_url=str(client.base_url), cookies={"session": copied}) as thief:
        response = await thief.get("/admin/personas/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/admin/login")


async def test_deleting_an_administrator_ends_its_sessions(admin_client, repos):
    assert (await admin_client.get("/admin/")).status_code == 200
    assert await repos.admins.delete(ADMIN_USERNAME)
    assert (await admin_client.get("/admin/")).status_code == 302


async def test_sessions_end_after_the_idle_timeout_and_the_absolute_lifetime(db):
    login = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.timezone.utc)
    clock = FixedClock(login)
    repos = Repositories.over(db, clock=clock, session_idle=dt.timedelta(minutes=30), session_lifetime=dt.timedelta(hours=2))
    idle = await repos.sesiones.open(admin_id="0" * 24, username="admin")
    busy = await repos.sesiones.open(admin_id="0" * 24, username="admin")
    for _ in range(4):  # the busy one is used every 25 minutes, the idle one is not
        clock.advance(minutes=25)
        assert await repos.sesiones.touch(busy) is not None
    assert await repos.sesiones.touch(idle) is None  # idle for 100 minutes
    # what the TTL index reads: the idle deadline, never later than the lifetime (100 + 30 minutes is capped at 120)
    deadlines = sorted(doc["expira_en"] for doc in await db["sesiones"].find({}).to_list(None))
    assert deadlines == [login + dt.timedelta(minutes=30), login + dt.timedelta(hours=2)]
    clock.advance(minutes=25)  # 125 minutes after login: past the lifetime, though never idle
    assert await repos.sesiones.touch(busy) is None


async def test_the_session_store_keeps_only_a_hash_of_the_token(repos, db):
    token = await repos.sesiones.open(admin_id="0" * 24, username="admin")
    assert len(token) == 43  # 32 random bytes, in base64url
    stored = await db["sesiones"].find_one({})
    assert token not in str(stored)
    # and only what a session needs: whose it is and its deadlines (the login's entry in the trail says from where)
    assert set(stored) == {"_id", "admin_id", "username", "creada_en", "vence_en", "expira_en"}


# -- 5. stalled requests ------------------------------------------------------------------------------


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    return sock


@pytest.mark.parametrize("settings", [make_settings(http_body_timeout_seconds=1, http_idle_timeout_seconds=1)])
@pytest.mark.parametrize(
    "partial",
    [
        b"POST /api/cargar_infraccion HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"pla",
        b"POST /api/cargar_infraccion HTTP/1.1\r\nHost: x\r\nContent-Ty",
    ],
    ids=["body", "headers"],
)
async def test_a_stalled_request_is_cut_off(running_app, settings, partial):
    def stalled() -> tuple[bytes, float]:
        with _connect(running_app.url) as sock:
            sock.sendall(partial)
            started = time.monotonic()
            return sock.recv(1024), time.monotonic() - started  # blocks until the server closes (or 10 s)

    answer, waited = await asyncio.to_thread(stalled)
    assert answer == b"" and waited < 9  # closed by the server, not by our 10-second guard


# -- 6. one e-mail normalisation --------------------------------------------------------------------


async def test_an_email_typed_in_any_equivalent_form_is_one_address(admin_client, repos):
    decomposed = "  Jose\u0301.Pe\u0301rez@EJEMPLO.cl "  # e + combining acute accent, upper case, spaces
    response = await post_form(admin_client, "/admin/personas/nuevo", {"nombre": "José Pérez", "correo": decomposed})
    assert response.status_code == 302, response.text
    persona = await repos.personas.get_by_email("josé.pérez@ejemplo.cl")
    assert persona.correo == "josé.pérez@ejemplo.cl"
    await repos.vehiculos.create(placa_patente="JPPR12", marca="Kia", color="Gris", persona_id=persona.id)
    # The public report finds her with a full-width domain and a composed accent.
    report = await admin_client.get("/api/generar_informe", params={"email": "JOSÉ.pérez@ｅｊｅｍｐｌｏ.ｃｌ"})
    assert report.status_code == 200
    # A look-alike twin (full-width letters in the name part) is the same address, so it is refused.
    twin = await post_form(admin_client, "/admin/personas/nuevo", {"nombre": "Otro", "correo": "ｊｏｓé.pérez@ejemplo.cl"})
    assert twin.status_code == 400 and "Ya existe una persona con ese correo" in twin.text


# -- 7. redirect targets ----------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["/\x0b", "/\x00admin", "/ok\r\nSet-Cookie: x=1", "/\x7f", "/a\x0bb"])
async def test_a_control_character_in_next_falls_back_to_the_admin(client, repos, target):
    """Tornado strips surrounding white space (so '/\x0b' is '/'); any control character left inside
    makes the target unsafe, and the admin's home is used instead."""
    await repos.admins.set_password(username=ADMIN_USERNAME, password=ADMIN_PASSWORD)
    page = await client.get("/admin/login", params={"next": target})
    assert page.status_code == 200
    expected = target.strip() if target.strip() == "/" else "/admin/"
    response = await post_form(client, "/admin/login", {"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD, "next": target})
    assert response.status_code == 302 and response.headers["Location"] == expected
    again = await client.get("/admin/login", params={"next": target})
    assert again.status_code == 302 and again.headers["Location"] == expected


# -- 8. oversized bodies ----------------------------------------------------------------------------


@pytest.fixture
async def world(repos) -> World:
    return await make_world(repos)


async def test_an_oversized_api_body_gets_413_problem_json_not_a_reset(client, world, db):
    body = b'{"placa_patente": "BBCD12", "comentarios": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    response = await cargar(client, world.token, body)
    assert response.status_code == 413
    problem = check_contract(response)
    assert "64 KiB" in problem["detail"]
    assert await db["infracciones"].count_documents({}) == 0


async def test_an_oversized_chunked_api_body_gets_413_too(client, world):
    async def chunks():
        for _ in range(100):
            yield b"x" * 1024

    response = await client.post(
        "/api/cargar_infraccion", content=chunks(), headers={"Authorization": f"Bearer {world.token}", "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    check_contract(response)


@pytest.mark.parametrize("settings", [make_settings(evidence_max_bytes=64 * 1024)])
async def test_an_oversized_chunked_photo_gets_413_and_its_handler_lets_go(client, world, repos, running_app, settings):
    """The photo handler reads its body as it arrives, so it exists before the body is found too big:
    it must be told the request is over, or it would wait for the rest for ever and a graceful stop
    would wait for it."""
    infraccion, _ = await repos.infracciones.record(
        numero_oficial=world.oficial.numero, jti=jti_of(world.token), placa_patente="BBCD12",
        timestamp=repos.clock.now() - dt.timedelta(minutes=5), comentarios="",
    )

    async def chunks():
        for _ in range(100):
            yield b"x" * 1024

    response = await client.post(
        f"/api/infracciones/{infraccion.id}/evidencias", content=chunks(),
        headers={"Authorization": f"Bearer {world.token}", "Content-Type": "image/jpeg"},
    )
    assert response.status_code == 413
    assert "64 KiB" in check_contract(response)["detail"]
    assert running_app.app.settings["inflight"].count == 0
    assert await repos.db["evidencias.files"].count_documents({}) == 0


async def test_an_oversized_form_gets_a_413_page(admin_client, db):
    xsrf = admin_client.cookies["_xsrf"]
    response = await admin_client.post("/admin/personas/nuevo", data={"nombre": "x" * (2 * 1024 * 1024), "correo": "a@b.cl", "_xsrf": xsrf})
    assert response.status_code == 413
    assert response.headers["Content-Type"].startswith("text/html") and "demasiado grande" in response.text
    assert await db["personas"].count_documents({}) == 0


# -- 9. smaller contract defects ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "method,path,allow",
    [
        ("GET", "/api/cargar_infraccion", "POST"),
        ("OPTIONS", "/api/cargar_infraccion", "POST"),
        ("QUERY", "/api/cargar_infraccion", "POST"),  # a method Tornado does not know (found by the fuzz)
        ("PROPFIND", "/api/generar_informe", "GET"),
        ("DELETE", "/api/generar_informe", "GET"),
        ("POST", "/healthz", "GET"),
        ("PUT", "/admin/login", "GET, POST"),
    ],
)
async def test_a_method_a_route_does_not_have_is_405_with_allow_before_any_authentication(client, method, path, allow):
    response = await client.request(method, path)
    assert response.status_code == 405
    assert response.headers["Allow"] == allow
    if path.startswith("/api/"):
        check_contract(response)


async def test_a_token_whose_subject_is_a_non_ascii_digit_is_401_not_500(client, world):
    claims = claims_for(42, "un-jti")
    claims["sub"] = "²"
    response = await cargar(client, sign(claims), infraction_body())
    assert response.status_code == 401
    check_contract(response)


async def test_readyz_logs_why_it_is_not_ready_with_the_request_id(caplog, unreachable_uri):
    unreachable = mongo_client(unreachable_uri, serverSelectionTimeoutMS=300)
    try:
        async with serve(make_settings(), Repositories.over(unreachable["transito"])) as app:
            async with httpx.AsyncClient(base_url=app.url) as http:
                with caplog.at_level("WARNING", logger="transito.http"):
                    response = await http.get("/readyz")
    finally:
        await unreachable.close()
    assert response.status_code == 503
    request_id = response.headers["X-Request-ID"]
    assert any(request_id in r.getMessage() and "ServerSelectionTimeoutError" in r.getMessage() for r in caplog.records)


async def test_no_response_names_the_server_software_and_every_one_has_the_security_headers(client):
    answers = [
        await client.get("/"),
        await client.get("/static/admin.css"),
        await client.get("/admin/login"),
        await client.get("/healthz"),
        await client.get("/no-existe"),
        await client.post("/healthz"),
    ]
    assert [r.status_code for r in answers] == [302, 200, 200, 200, 404, 405]
    for response in answers:
        assert "Server" not in response.headers, response.url
        assert response.headers["X-Content-Type-Options"] == "nosniff", response.url
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"], response.url
        assert "Strict-Transport-Security" not in response.headers  # plain HTTP


@pytest.mark.parametrize("settings", [make_settings(trust_proxy=True)])
async def test_hsts_when_the_trusted_proxy_says_the_client_used_https(client, settings):
    for path in ("/admin/login", "/healthz", "/static/admin.css"):
        secure = await client.get(path, headers={"X-Forwarded-Proto": "https"})
        assert secure.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert "Strict-Transport-Security" not in (await client.get("/healthz", headers={"X-Forwarded-Proto": "http"})).headers


async def test_without_a_trusted_proxy_a_forwarded_proto_is_ignored(client):
    response = await client.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in response.headers


# -- 11. token revocation scoped to its officer -----------------------------------------------------------


async def test_a_token_can_be_revoked_only_from_its_own_officers_page(admin_client, repos, world):
    other = await repos.oficiales.create(nombre="Otra Persona", numero=77)
    url = f"/admin/oficiales/{other.id}/tokens/{world.token_id}/revocar"
    response = await post_form(admin_client, url, {})
    assert response.status_code == 404
    live = await repos.oficiales.collection.find_one({"numero": 42})
    assert len(live["token_jtis"]) == 1  # still live
    assert (await cargar(admin_client, world.token, infraction_body())).status_code == 200


async def test_a_limit_is_a_moving_window_that_does_not_count_refusals(db):
    clock = FixedClock(dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.timezone.utc))
    throttle = Throttle("3/minute", "prueba", LimitRepository(db), clock)
    decisions = []
    for seconds in (0, 10, 20, 30, 59):
        clock.set(dt.datetime(2026, 12, 1, 12, 0, seconds, tzinfo=dt.timezone.utc))
        decisions.append(await throttle.hit("cliente"))
    assert [d.allowed for d in decisions] == [True, True, True, False, False]
    assert [d.retry_after for d in decisions[3:]] == [30, 1]  # until the attempt at 0 s is a minute old
    stored = await LimitRepository(db).collection.find_one({"_id": "prueba:cliente"})
    assert stored["expira_en"] == dt.datetime(2026, 12, 1, 12, 1, 59, tzinfo=dt.timezone.utc)  # the TTL: a period after the last
    clock.set(dt.datetime(2026, 12, 1, 12, 1, 0, 500_000, tzinfo=dt.timezone.utc))
    assert (await throttle.hit("cliente")).allowed  # the refused attempts did not count
    assert not (await throttle.hit("cliente")).allowed  # 10 s, 20 s and 60.5 s are within the minute
    assert (await throttle.exceeded("otro")).allowed
    # exactly a minute after the attempt at 10 s it is out of the window, for a look as for a hit
    clock.set(dt.datetime(2026, 12, 1, 12, 1, 10, tzinfo=dt.timezone.utc))
    assert (await throttle.exceeded("cliente")).allowed
    assert (await throttle.hit("cliente")).allowed
