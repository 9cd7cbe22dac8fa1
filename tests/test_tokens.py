"""Officer tokens: every state a bearer token can be in, seen through POST /api/cargar_infraccion,
and the admin page that issues, lists and revokes them."""

import datetime as dt
import html
import re
import uuid

import jwt
import pytest

from tests.helpers.api import (
    World,
    cargar,
    check_contract,
    claims_for,
    infraction_body,
    jti_of,
    make_world,
    sign,
    unsigned_token,
)
from domain.clock import FixedClock
from domain.errors import NotFound
from services.tokens import LEEWAY_SECONDS, VERIFIED_CACHE_SIZE, Claims, InvalidToken, TokenService
from tests.helpers.app import admin_at, post_form


@pytest.fixture
async def world(repos) -> World:
    return await make_world(repos)


async def assert_refused(http, repos, world: World, token, *, header: str | None = None, detail: str = "") -> dict:
    """The request is a 401 with WWW-Authenticate: Bearer, and nothing was written."""
    if header is not None:
        response = await http.post(
            "/api/cargar_infraccion",
            json=infraction_body(),
            headers={"Authorization": header} if header else {},
        )
    else:
        response = await cargar(http, token, infraction_body())
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    problem = check_contract(response)
    assert detail in problem["detail"]
    assert await repos.infracciones.count() == 0
    assert (await repos.oficiales.get(world.oficial.id)).n_infracciones == 0
    return problem


async def test_valid_token_is_accepted(client, world):
    response = await cargar(client, world.token, infraction_body())
    assert response.status_code == 200
    assert check_contract(response)["oficial"]["numero"] == world.oficial.numero


async def test_missing_authorization_header(client, repos, world):
    await assert_refused(client, repos, world, None, header="", detail="Falta el encabezado Authorization")


@pytest.mark.parametrize("header", ["Basic YWRtaW46YWRtaW4=", "Bearer", "Bearer:abc.def.ghi", "Token abc.def.ghi", "bearer"])
async def test_malformed_authorization_header(client, repos, world, header):
    await assert_refused(client, repos, world, None, header=header, detail="Bearer <token>")


@pytest.mark.parametrize("garbage", ["abc", "abc.def.ghi", "eyJhbGciOiJIUzI1NiJ9..", "%%%", "a" * 5000])
async def test_garbage_token(client, repos, world, garbage):
    await assert_refused(client, repos, world, garbage, detail="no es válido")


async def test_bearer_scheme_is_case_insensitive(client, world):
    response = await client.post("/api/cargar_infraccion", json=infraction_body(), headers={"Authorization": f"bearer {world.token}"})
    assert response.status_code == 200


async def test_signature_with_another_key(client, repos, world):
    forged = sign(claims_for(42, jti_of(world.token)), secret="otra-clave-distinta-de-al-menos-32-bytes!!")
    await assert_refused(client, repos, world, forged, detail="no es válido")


@pytest.mark.parametrize("alg", ["none", "None", "RS256", "HS512"])
async def test_algorithms_other_than_hs256_are_refused(client, repos, world, alg):
    token = unsigned_token(claims_for(42, jti_of(world.token)), alg)
    await assert_refused(client, repos, world, token, detail="no es válido")


async def test_expired_token(client, repos, world):
    expired = sign(claims_for(42, jti_of(world.token), issued=-dt.timedelta(days=2), lifetime=dt.timedelta(days=1)))
    await assert_refused(client, repos, world, expired, detail="expiró")


async def test_token_issued_in_the_future(client, repos, world):
    early = sign(claims_for(42, jti_of(world.token), issued=dt.timedelta(hours=1)))
    await assert_refused(client, repos, world, early, detail="todavía no es válido")


@pytest.mark.parametrize("claim", ["exp", "iat", "sub", "jti"])
async def test_token_missing_a_claim(client, repos, world, claim):
    claims = claims_for(42, jti_of(world.token))
    del claims[claim]
    await assert_refused(client, repos, world, sign(claims), detail=f"'{claim}'")


@pytest.mark.parametrize("sub", ["juan", "", "-42", "4 2"])
async def test_subject_that_is_not_an_officer_number(client, repos, world, sub):
    claims = {**claims_for(42, jti_of(world.token)), "sub": sub}
    await assert_refused(client, repos, world, sign(claims), detail="no es válido")


async def test_jti_of_another_officer_is_refused(client, repos, world):
    """A well-signed token is only live for the officer whose jti it is."""
    await repos.oficiales.create(nombre="María Rojas", numero=7)
    token = sign(claims_for(7, jti_of(world.token)))
    await assert_refused(client, repos, world, token, detail="revocado")


async def test_unregistered_jti_is_refused(client, repos, world):
    await assert_refused(client, repos, world, sign(claims_for(42, uuid.uuid4().hex)), detail="revocado")


async def test_token_revoked_in_the_repository(client, repos, world):
    assert (await cargar(client, world.token, infraction_body(minutes_ago=90))).status_code == 200
    await repos.tokens.revoke(world.token_id, oficial_id=world.oficial.id)
    response = await cargar(client, world.token, infraction_body())
    assert response.status_code == 401
    assert "revocado" in check_contract(response)["detail"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    assert (await repos.oficiales.get(world.oficial.id)).n_infracciones == 1


async def test_officer_deactivated_then_reactivated(admin_client, repos, world):
    page = f"/admin/oficiales/{world.oficial.id}"
    response = await post_form(admin_client, f"{page}/activacion", {"activo": "0"}, page=page)
    assert response.status_code == 303
    await assert_refused(admin_client, repos, world, world.token, detail="inactivo")
    # Reactivating does not bring old tokens back: deactivation revoked them.
    await post_form(admin_client, f"{page}/activacion", {"activo": "1"}, page=page)
    await assert_refused(admin_client, repos, world, world.token, detail="revocado")
    listing = page_text((await admin_client.get(page)).text)
    assert re.search(r"revocado \(?oficial desactivado", listing)


async def test_officer_deleted(client, repos, world):
    await repos.oficiales.delete(world.oficial.id)
    response = await cargar(client, world.token, infraction_body())
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    assert "no existe" in check_contract(response)["detail"]
    assert await repos.infracciones.count() == 0


# -- the admin page -----------------------------------------------------------------------------
_TOKEN_FIELD = re.compile(r'<textarea[^>]*\bid="token"[^>]*>([^<]+)</textarea>')
_REVOKE_ACTION = re.compile(r'href="(/admin/oficiales/\w+/tokens/\w+/revocar)"')


def page_text(html: str) -> str:
    """What a reader sees: the page without tags, whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


async def test_admin_issues_lists_and_revokes_a_token(db):
    """Issued a few seconds before midnight UTC on a month's last day (the listing shows UTC): its
    dates come from the app's clock, not from the test's."""
    clock = FixedClock(dt.datetime(2026, 11, 30, 23, 59, 50, tzinfo=dt.timezone.utc))
    async with admin_at(db, clock) as (repos, admin_client):
        oficial = await repos.oficiales.create(nombre="Juan Soto", numero=42)
        await make_world(repos, numero=43)  # a vehicle to fine, and another officer
        page = f"/admin/oficiales/{oficial.id}"
        assert "Generar token" in (await admin_client.get(page)).text

        response = await post_form(admin_client, f"{page}/tokens", {"dias": "30", "etiqueta": "tablet patrulla 7"}, page=page)
        assert response.status_code == 303 and response.headers["Location"] == page + "#token-emitido"
        assert "ey" not in response.headers["Location"] and not _TOKEN_FIELD.search(response.text)
        response = await admin_client.get(page)
        token = _TOKEN_FIELD.search(response.text).group(1)
        assert "no se volverá a mostrar" in response.text
        shown = page_text(html.unescape(response.text))
        assert f"curl -X POST http://{admin_client.base_url.netloc.decode()}/api/cargar_infraccion" in shown
        assert f"Authorization: Bearer {token}" in shown

        # The token works, and the list shows it with its label, dates and status.
        assert (await cargar(admin_client, token, infraction_body(now=clock.now()))).status_code == 200
        listing = (await admin_client.get(page)).text
        assert token not in listing, "a token is shown once only"
        assert "tablet patrulla 7 2026-11-30 23:59 2026-12-30 23:59 vigente" in page_text(listing)  # the clock's dates

        revoke = _REVOKE_ACTION.search(listing).group(1)
        response = await post_form(admin_client, revoke, {}, page=page)
        assert response.status_code == 303
        after = (await admin_client.get(response.headers["Location"])).text
        assert "Se revocó el token «tablet patrulla 7»" in after
        assert re.search(r"tablet patrulla 7 [\d:\- ]+ revocado \(?revocado por un administrador", page_text(after))
        assert not _REVOKE_ACTION.search(after)
        refused = await cargar(admin_client, token, infraction_body(minutes_ago=5, now=clock.now()))
        assert refused.status_code == 401
        check_contract(refused)


@pytest.mark.parametrize("dias", ["0", "366", "muchos", ""])
async def test_admin_refuses_an_invalid_lifetime(admin_client, repos, dias):
    oficial = await repos.oficiales.create(nombre="Juan Soto", numero=42)
    page = f"/admin/oficiales/{oficial.id}"
    response = await post_form(admin_client, f"{page}/tokens", {"dias": dias, "etiqueta": ""}, page=page)
    assert response.status_code == 400
    assert not _TOKEN_FIELD.search(response.text)
    assert await repos.tokens.list_for_officer(oficial.id) == []


async def test_admin_cannot_issue_a_token_to_an_inactive_officer(admin_client, repos):
    oficial = await repos.oficiales.create(nombre="Juan Soto", numero=42, activo=False)
    page = f"/admin/oficiales/{oficial.id}"
    assert "Generar token" not in (await admin_client.get(page)).text
    response = await post_form(admin_client, f"{page}/tokens", {"dias": "30"}, page=page)
    assert response.status_code == 400
    assert "inactivo" in response.text
    assert await repos.tokens.list_for_officer(oficial.id) == []


async def test_token_pages_need_an_administrator(client, repos):
    oficial = await repos.oficiales.create(nombre="Juan Soto", numero=42)
    response = await post_form(client, f"/admin/oficiales/{oficial.id}/tokens", {"dias": "30"})
    assert response.status_code == 403
    assert await repos.tokens.list_for_officer(oficial.id) == []


def test_a_verified_token_is_reused_but_still_expires(monkeypatch):
    """Verified tokens are cached (a phone sends the same one every time); expiry still holds."""
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    clock = FixedClock(now)
    service = TokenService("cache-test-secret-" + "0123456789abcdefghijklmnop", clock)
    token = service.encode(numero=7, jti="abc", issued_at=now, expires_at=now + dt.timedelta(minutes=5))
    verifications, verify = [], jwt.decode
    monkeypatch.setattr(jwt, "decode", lambda *args, **kwargs: verifications.append(args[0]) or verify(*args, **kwargs))
    assert service.decode(token) == Claims(numero=7, jti="abc")
    assert service.decode(token) == Claims(numero=7, jti="abc")  # the cached verification
    assert verifications == [token]  # the signature was checked once
    clock.advance(hours=1)
    with pytest.raises(InvalidToken, match=r"^El token expiró\.$"):
        service.decode(token)
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    with pytest.raises(InvalidToken, match=r"^El token no es válido\.$"):
        service.decode(forged)


@pytest.mark.parametrize(
    ("issued_at", "days", "created", "expires"),
    [
        pytest.param(dt.datetime(2026, 12, 31, 23, 59, 59, tzinfo=dt.timezone.utc), 1, "2026-12-31 23:59", "2027-01-01 23:59", id="year-end"),
        # 30 × 24 hours, whatever Santiago's clocks do meanwhile (they go back on April 5th, 2026)
        pytest.param(dt.datetime(2026, 3, 20, 12, 0, tzinfo=dt.timezone.utc), 30, "2026-03-20 12:00", "2026-04-19 12:00", id="across-april-change"),
        pytest.param(dt.datetime(2026, 8, 31, 3, 30, tzinfo=dt.timezone.utc), 7, "2026-08-31 03:30", "2026-09-07 03:30", id="across-september-change"),
    ],
)
async def test_a_token_lives_exactly_its_days_by_the_apps_clock(db, issued_at, days, created, expires):
    """The listing shows the dates the app's clock gives, the API accepts the token until its last
    second, and refuses it once it is past expiry and the 30 s of leeway for phones' clocks."""
    clock = FixedClock(issued_at)
    async with admin_at(db, clock) as (repos, admin_client):
        persona = await repos.personas.create(nombre="Ana Pérez", correo="ana.perez@example.cl")
        await repos.vehiculos.create(placa_patente="BBCD12", marca="Toyota", color="Rojo", persona_id=persona.id)
        oficial = await repos.oficiales.create(nombre="Juan Soto", numero=42)
        page = f"/admin/oficiales/{oficial.id}"
        posted = await post_form(admin_client, f"{page}/tokens", {"dias": str(days), "etiqueta": "tablet"}, page=page)
        assert posted.status_code == 303, posted.text
        token = _TOKEN_FIELD.search((await admin_client.get(posted.headers["Location"])).text).group(1)
        assert f"tablet {created} {expires} vigente" in page_text((await admin_client.get(page)).text)
        (record,) = await repos.tokens.list_for_officer(oficial.id)
        assert record.expira_en - record.creado_en == dt.timedelta(days=days)

        clock.set(record.expira_en - dt.timedelta(seconds=1))
        assert (await cargar(admin_client, token, infraction_body(now=clock.now()))).status_code == 200
        assert record.status(clock.now()) == "vigente"
        clock.set(record.expira_en + dt.timedelta(seconds=LEEWAY_SECONDS + 1))
        refused = await cargar(admin_client, token, infraction_body(minutes_ago=1, now=clock.now()))
        assert refused.status_code == 401 and "expiró" in check_contract(refused)["detail"]
        assert record.status(clock.now()) == "expirado"


# -- the token service at its edges (what mutation testing asks of services/tokens.py) -------------
EDGE_SECRET = "edge-test-secret-" + "0123456789abcdefghijklmnop"
T0 = dt.datetime(2026, 9, 6, 4, 0, tzinfo=dt.timezone.utc)


def edge_token(service: TokenService, **claims) -> str:
    base = {"sub": "7", "jti": "abc", "iat": T0, "exp": T0 + dt.timedelta(minutes=5)}
    return jwt.encode({**base, **claims}, EDGE_SECRET, algorithm="HS256")


@pytest.mark.parametrize("cached", [False, True], ids=["first-use", "cached"])
def test_expiry_is_accepted_up_to_the_leeway_and_not_a_millisecond_more(cached):
    clock = FixedClock(T0)
    service = TokenService(EDGE_SECRET, clock)
    token = edge_token(service)
    if cached:
        service.decode(token)
    clock.set(T0 + dt.timedelta(minutes=5, seconds=LEEWAY_SECONDS))
    assert service.decode(token) == Claims(numero=7, jti="abc")
    clock.set(T0 + dt.timedelta(minutes=5, seconds=LEEWAY_SECONDS, milliseconds=1))
    with pytest.raises(InvalidToken, match=r"^El token expiró\.$"):
        service.decode(token)
    with pytest.raises(InvalidToken, match=r"^El token expiró\.$"):  # by a process that never verified it
        TokenService(EDGE_SECRET, clock).decode(token)


@pytest.mark.parametrize("claim", ["iat", "nbf"])
def test_a_token_from_the_future_is_accepted_within_the_leeway_only(claim):
    service = TokenService(EDGE_SECRET, FixedClock(T0))
    assert service.decode(edge_token(service, **{claim: T0 + dt.timedelta(seconds=LEEWAY_SECONDS)})).numero == 7
    with pytest.raises(InvalidToken, match=r"^El token todavía no es válido\.$"):
        service.decode(edge_token(service, **{claim: T0 + dt.timedelta(seconds=LEEWAY_SECONDS + 1)}))


@pytest.mark.parametrize(
    ("claims", "accepted"),
    [
        ({"sub": str(2**53)}, True),  # the largest badge number
        ({"sub": str(2**53 + 1)}, False),
        ({"sub": "0042"}, True),
        ({"jti": ""}, False),
        ({"jti": 7}, False),
        ({"exp": "mañana"}, False),
        ({"iat": "ayer"}, False),
        ({"nbf": "ayer"}, False),
    ],
)
def test_claims_that_are_not_what_they_should_be_are_refused(claims, accepted):
    service = TokenService(EDGE_SECRET, FixedClock(T0))
    token = edge_token(service, **claims)
    if accepted:
        assert service.decode(token).numero == int(claims["sub"])
    else:
        with pytest.raises(InvalidToken, match=r"^El token no es válido\.$"):
            service.decode(token)


def test_the_verified_tokens_kept_are_bounded_and_the_oldest_goes_first():
    service = TokenService(EDGE_SECRET, FixedClock(T0))
    tokens = [edge_token(service, jti=f"j{n}") for n in range(VERIFIED_CACHE_SIZE + 1)]
    for token in tokens:
        service.decode(token)
    assert len(service._verified) == VERIFIED_CACHE_SIZE
    assert tokens[0] not in service._verified and tokens[1] in service._verified and tokens[-1] in service._verified


async def test_issue_checks_the_lifetime_and_dates_the_token_from_its_clock(repos):
    clock = FixedClock(T0.replace(microsecond=999_999))
    service = TokenService(EDGE_SECRET, clock)
    await repos.oficiales.create(nombre="Juan", numero=7)
    for days in (0, 366):
        with pytest.raises(ValueError, match="^days must be between 1 and 365$"):
            await service.issue(repos, numero=7, days=days)
    for days in (1, 365):
        issued = await service.issue(repos, numero=7, days=days, label="  tablet  ")
        assert (issued.record.creado_en, issued.record.expira_en) == (T0, T0 + dt.timedelta(days=days))
        assert issued.record.etiqueta == "tablet"
        decoded = jwt.decode(issued.token, EDGE_SECRET, algorithms=["HS256"], options={"verify_exp": False})
        assert (decoded["sub"], decoded["jti"], decoded["iat"], decoded["exp"]) == (
            "7", issued.record.jti, int(T0.timestamp()), int((T0 + dt.timedelta(days=days)).timestamp())
        )
    unlabelled = (await service.issue(repos, numero=7)).record  # the defaults: 90 days, no label
    assert (unlabelled.expira_en - unlabelled.creado_en, unlabelled.etiqueta) == (dt.timedelta(days=90), "")
    await repos.oficiales.set_active((await repos.oficiales.get_by_numero(7)).id, False)
    with pytest.raises(NotFound) as refused:
        await service.issue(repos, numero=7)
    assert refused.value.message == "El oficial N° 7 está inactivo: actívelo antes de generar un token."
