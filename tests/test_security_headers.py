"""Security headers on every kind of answer, and the attributes of every cookie the site sets."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers.app import ADMIN_PASSWORD, ADMIN_USERNAME, post_form


def csp_directives(response: httpx.Response) -> dict[str, list[str]]:
    policy = response.headers["Content-Security-Policy"]
    directives = {}
    for part in policy.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def assert_common_headers(response: httpx.Response) -> None:
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] in ("same-origin", "no-referrer", "strict-origin-when-cross-origin")
    assert csp_directives(response)["frame-ancestors"] == ["'none'"]


ADMIN_PAGES = [
    ("/admin/", 200), ("/admin/personas/", 200), ("/admin/personas/nuevo", 200), ("/admin/vehiculos/", 200),
    ("/admin/oficiales/nuevo", 200), ("/admin/no-existe", 404),
]


@pytest.mark.parametrize(("page", "status"), ADMIN_PAGES)
async def test_admin_pages_forbid_inline_scripts_and_framing(admin_client: httpx.AsyncClient, page: str, status: int) -> None:
    response = await admin_client.get(page)
    assert response.status_code == status
    assert_common_headers(response)
    csp = csp_directives(response)
    scripts = csp.get("script-src", csp["default-src"])
    assert scripts == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval', no other origin
    assert csp["object-src"] == ["'none'"]
    assert "<script>" not in response.text  # what the policy would block anyway
    assert response.headers["Cache-Control"] == "no-store"


async def test_login_page_and_api_answers_carry_the_headers(client: httpx.AsyncClient) -> None:
    answers = [
        await client.get("/admin/login"),
        await client.get("/api/generar_informe", params={"email": "nadie@example.cl"}),
        await client.post("/api/cargar_infraccion", json={}),
        await client.get("/api/no-existe"),
        await client.get("/healthz"),
    ]
    assert [r.status_code for r in answers] == [200, 200, 401, 404, 200]
    for response in answers:
        assert_common_headers(response)
    for response in answers[1:]:
        assert csp_directives(response)["default-src"] == ["'none'"]  # JSON never runs anything


def set_cookies(response: httpx.Response) -> dict[str, str]:
    return {header.split("=", 1)[0]: header for header in response.headers.get_list("Set-Cookie")}


def assert_cookie_safe(header: str) -> None:
    attributes = [part.strip().lower() for part in header.split(";")[1:]]
    assert "httponly" in attributes, header
    assert "samesite=lax" in attributes, header
    assert "path=/" in attributes, header


async def test_session_flash_and_xsrf_cookies_are_httponly_and_samesite(client: httpx.AsyncClient, repos) -> None:
    await repos.admins.set_password(username=ADMIN_USERNAME, password=ADMIN_PASSWORD)
    page = await client.get("/admin/login")
    cookies = set_cookies(page)
    assert "_xsrf" in cookies
    assert_cookie_safe(cookies["_xsrf"])
    login = await post_form(client, "/admin/login", {"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})
    assert login.status_code == 302
    cookies = set_cookies(login)
    assert {"session", "flash"} <= set(cookies)
    for name in ("session", "flash"):
        assert_cookie_safe(cookies[name])
        assert "expires" not in cookies[name].lower()  # a browser-session cookie; the server enforces 12 h
