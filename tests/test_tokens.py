"""Officer tokens: every state a bearer token can be in, seen through POST /api/cargar_infraccion,
and the admin page that issues, lists and revokes them."""

import datetime as dt
import html
import re
import uuid

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
from services.tokens import Claims, InvalidToken, TokenService
from tests.helpers.app import post_form


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


async def test_admin_issues_lists_and_revokes_a_token(admin_client, repos):
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
    assert (await cargar(admin_client, token, infraction_body())).status_code == 200
    listing = (await admin_client.get(page)).text
    assert token not in listing, "a token is shown once only"
    today = dt.datetime.now(dt.timezone.utc)
    created, expires = today.strftime("%Y-%m-%d"), (today + dt.timedelta(days=30)).strftime("%Y-%m-%d")
    assert re.search(rf"tablet patrulla 7 {created} \d\d:\d\d {expires} \d\d:\d\d vigente", page_text(listing))

    revoke = _REVOKE_ACTION.search(listing).group(1)
    response = await post_form(admin_client, revoke, {}, page=page)
    assert response.status_code == 303
    after = (await admin_client.get(response.headers["Location"])).text
    assert "Se revocó el token «tablet patrulla 7»" in after
    assert re.search(r"tablet patrulla 7 [\d:\- ]+ revocado \(?revocado por un administrador", page_text(after))
    assert not _REVOKE_ACTION.search(after)
    refused = await cargar(admin_client, token, infraction_body(minutes_ago=5))
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


def test_a_verified_token_is_reused_but_still_expires():
    """Verified tokens are cached (a phone sends the same one every time); expiry still holds."""
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    clock = FixedClock(now)
    service = TokenService("cache-test-secret-" + "0123456789abcdefghijklmnop", clock)
    token = service.encode(numero=7, jti="abc", issued_at=now, expires_at=now + dt.timedelta(minutes=5))
    assert service.decode(token) == Claims(numero=7, jti="abc")
    assert service.decode(token) == Claims(numero=7, jti="abc")  # the cached verification
    clock.advance(hours=1)
    with pytest.raises(InvalidToken, match="expiró"):
        service.decode(token)
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    with pytest.raises(InvalidToken):
        service.decode(forged)
