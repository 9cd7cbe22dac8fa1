"""Reading admin pages in HTTP tests: a page's visible text, its form fields' values and messages,
and following a redirect."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import httpx


class _Page(HTMLParser):
    """Collects the text of elements by id and the attributes of form controls by name."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: dict[str, str] = {}
        self.controls: dict[str, dict[str, str | None]] = {}
        self._open: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag in ("input", "textarea", "select") and attributes.get("name"):
            self.controls.setdefault(attributes["name"], attributes)
        if tag not in ("input", "br", "img", "meta", "link"):
            self._open.append((tag, attributes.get("id")))
            if attributes.get("id"):
                self.texts[attributes["id"]] = ""

    def handle_endtag(self, tag):
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data):
        for _, element_id in self._open:
            if element_id:
                self.texts[element_id] += data


def parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    return parser


def field_error(response: httpx.Response, field: str) -> str:
    """The message shown beside a form field ('' when there is none)."""
    return " ".join(parse(response.text).texts.get(f"{field}-error", "").split())


def field_value(response: httpx.Response, field: str) -> str | None:
    return parse(response.text).controls[field].get("value")


def text(response: httpx.Response) -> str:
    """The page's visible text, whitespace collapsed (entities decoded)."""
    without_tags = re.sub(r"<[^>]+>", " ", response.text)
    return " ".join(html.unescape(without_tags).split())


async def follow(http: httpx.AsyncClient, response: httpx.Response) -> httpx.Response:
    assert response.status_code in (302, 303), (response.status_code, response.text[:500])
    return await http.get(response.headers["Location"])
