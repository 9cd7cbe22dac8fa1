"""The officers' app on the server side: the enrolment QR code on the officer's page, and the app's files at
``/app/`` (public, static, under the admin's Content-Security-Policy, everything the service worker keeps). What
the app does on a phone is in tests/e2e/test_e2e_officer_app.py."""

from __future__ import annotations

import html
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import zxingcpp
from PIL import Image

from handlers.headers import CONTENT_SECURITY_POLICY
from handlers.officer_app import APP_FILES
from services.enrolment import enrolment_link
from tests.helpers.app import post_form

_QR = re.compile(r'<svg viewBox="0 0 (\d+) (\d+)" class="enrolment-qr">.*?</svg>', re.DOTALL)
_DARK_PATH = re.compile(r'<path stroke="#000" d="([^"]+)"/>')
_PATH_STEP = re.compile(r"([Mmh])([-\d. ]+)")


def qr_image(svg: str, scale: int = 8) -> Image.Image:
    """Draw the QR code of segno's SVG (a dark path of horizontal one-module strokes: M/m moves, h draws) as
    pixels, so a decoder can read what the page shows."""
    match = _QR.search(svg)
    assert match, "no enrolment QR code on the page"
    width, height = int(match.group(1)), int(match.group(2))
    image = Image.new("L", (width, height), 255)
    x = y = 0.0
    for command, numbers in _PATH_STEP.findall(_DARK_PATH.search(match.group(0)).group(1)):
        values = [float(n) for n in numbers.split()]
        if command == "M":
            x, y = values
        elif command == "m":
            x, y = x + values[0], y + values[1]
        else:  # h: a stroke one module high, centred on y
            for column in range(int(x), int(x + values[0])):
                image.putpixel((column, int(y)), 0)
            x += values[0]
    return image.resize((width * scale, height * scale), Image.Resampling.NEAREST)


def decode_qr(svg: str) -> str:
    [code] = zxingcpp.read_barcodes(qr_image(svg))
    return code.text


async def issue_on_the_officer_page(admin_client: httpx.AsyncClient, oficial_id: str) -> httpx.Response:
    """Generate a token on the officer's page and return the page that shows it once (after the redirect)."""
    page = f"/admin/oficiales/{oficial_id}"
    response = await post_form(admin_client, f"{page}/tokens", {"dias": "30", "etiqueta": "teléfono"}, page=page)
    assert response.status_code == 303, response.text
    response = await admin_client.get(response.headers["Location"])
    assert response.status_code == 200, response.text
    return response


async def test_the_officer_page_shows_the_enrolment_qr_of_a_new_token(admin_client: httpx.AsyncClient, repos):
    oficial = await repos.oficiales.create(nombre="Juan Soto", numero=42)
    response = await issue_on_the_officer_page(admin_client, oficial.id)

    link = decode_qr(response.text)
    parts = urlsplit(link)
    base = str(admin_client.base_url).rstrip("/")
    assert (parts.scheme, parts.netloc, parts.path, parts.query) == (urlsplit(base).scheme, urlsplit(base).netloc, "/app/", "")
    assert parts.fragment.startswith("token=")  # the token is only in the fragment, which browsers never send
    token = parts.fragment.removeprefix("token=")
    assert link == enrolment_link(base, token)
    assert token in html.unescape(response.text)  # the same token the page shows once
    who = await admin_client.get("/api/yo", headers={"Authorization": f"Bearer {token}"})
    assert who.status_code == 200 and who.json()["oficial"]["numero"] == 42
    assert who.json()["token"]["etiqueta"] == "teléfono"

    # No inline style (the CSP would refuse it), an accessible name, and once only.
    qr = _QR.search(response.text).group(0)
    assert "style" not in qr and "<title>" in qr
    later = await admin_client.get(f"/admin/oficiales/{oficial.id}")
    assert 'class="enrolment-qr"' not in later.text and token not in later.text


async def test_the_app_is_public_static_content_under_the_strict_policy(client: httpx.AsyncClient):
    redirect = await client.get("/app")
    assert (redirect.status_code, redirect.headers["Location"]) == (302, "/app/")

    shell = await client.get("/app/")
    assert shell.status_code == 200
    assert shell.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert shell.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY  # the admin's: no inline script or style
    assert shell.headers["X-Content-Type-Options"] == "nosniff"
    assert shell.headers["Cache-Control"] == "no-cache"  # kept, but revalidated whenever there is signal
    again = await client.get("/app/", headers={"If-None-Match": shell.headers["Etag"]})
    assert again.status_code == 304

    types = {
        "/app/sw.js": "text/javascript; charset=UTF-8",
        "/app/js/main.js": "text/javascript; charset=UTF-8",
        "/app/app.css": "text/css; charset=UTF-8",
        "/app/manifest.webmanifest": "application/manifest+json",
        "/app/icons/icon-192.png": "image/png",
        "/app/icons/icon.svg": "image/svg+xml",
    }
    for path, content_type in types.items():
        response = await client.get(path)
        assert (response.status_code, response.headers["Content-Type"]) == (200, content_type), path
        assert "Service-Worker-Allowed" not in response.headers  # served from /app/, its scope is /app/ already
    assert (await client.get("/app/no-existe.js")).status_code == 404
    assert (await client.get("/app/../server.py")).status_code in (403, 404)


async def test_the_manifest_makes_the_app_installable(client: httpx.AsyncClient):
    manifest = json.loads((await client.get("/app/manifest.webmanifest")).content)
    assert (manifest["start_url"], manifest["scope"], manifest["display"], manifest["lang"]) == ("/app/", "/app/", "standalone", "es")
    sizes = {}
    for icon in manifest["icons"]:
        response = await client.get(f"/app/{icon['src']}")
        assert response.status_code == 200, icon
        if icon["type"] == "image/png":
            with Image.open(io.BytesIO(response.content)) as image:
                assert f"{image.width}x{image.height}" == icon["sizes"], icon
            sizes.setdefault(icon["purpose"], set()).add(icon["sizes"])
    assert {"192x192", "512x512"} <= sizes["any"]
    assert "512x512" in sizes["maskable"]


def shell_list() -> list[str]:
    source = (APP_FILES / "sw.js").read_text(encoding="utf-8")
    block = re.search(r"const SHELL = \[(.*?)\];", source, re.DOTALL).group(1)
    return re.findall(r'"([^"]+)"', block)


def test_the_service_worker_keeps_every_file_of_the_app():
    """A file missing from the list would be missing offline; a listed file that does not exist would make the
    service worker's installation fail."""
    listed = shell_list()
    assert listed[0] == "./"  # index.html, as the app's address
    files = {path.relative_to(APP_FILES).as_posix() for path in APP_FILES.rglob("*") if path.is_file()}
    assert set(listed[1:]) == files - {"index.html", "sw.js"}


class _Inline(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.found.append("inline <script>")
        if tag == "style":
            self.found.append("<style>")
        self.found += [f"{name} attribute on <{tag}>" for name in names if name == "style" or name.startswith("on")]


def test_the_app_has_no_inline_code_no_other_origin_and_no_html_from_data():
    parser = _Inline()
    parser.feed((APP_FILES / "index.html").read_text(encoding="utf-8"))
    assert parser.found == []
    for path in Path(APP_FILES).rglob("*"):
        if path.suffix in (".html", ".js", ".css", ".webmanifest"):
            text = path.read_text(encoding="utf-8")
            assert not re.search(r"https?://", text), f"{path.name} refers to another origin (no CDN: everything is served here)"
            assert "innerHTML" not in text and "insertAdjacentHTML" not in text, f"{path.name}: server texts go in as text"
