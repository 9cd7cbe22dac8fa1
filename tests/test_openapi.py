"""The API's contract: openapi.json is a valid OpenAPI 3.1 document, served by the app, with an
interactive page that works without internet."""

import re

from openapi_spec_validator import validate

from tests.helpers.api import OPENAPI, OPENAPI_PATH, _pointer, check_contract, validate_schema


def test_document_is_valid_openapi_3_1():
    validate(OPENAPI)
    assert OPENAPI["openapi"].startswith("3.1")


def test_document_covers_every_status_of_both_methods():
    paths = OPENAPI["paths"]
    cargar = paths["/api/cargar_infraccion"]["post"]
    informe = paths["/api/generar_informe"]["get"]
    assert set(cargar["responses"]) == {"200", "400", "401", "404", "409", "413", "415", "500", "503"}
    # no 404: an unknown address gets the same answer as a persona without vehicles (privacy)
    assert set(informe["responses"]) == {"200", "400", "429", "500", "503"}
    assert cargar["security"] == [{"bearerAuth": []}] and informe["security"] == []
    scheme = OPENAPI["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    assert {"/healthz", "/readyz"} <= set(paths)


def test_every_example_matches_its_schema():
    """The examples a reader copies from /api/docs are ones the API would really send or accept."""
    checked = 0
    for path, operations in OPENAPI["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                for example in body.get("examples", {}).values():
                    validate_schema(example["value"], _pointer("paths", path, method, "requestBody", "content", "application/json", "schema"))
                    checked += 1
            for status, response in operation["responses"].items():
                for media_type, content in response.get("content", {}).items():
                    if "example" in content:
                        validate_schema(content["example"], _pointer("paths", path, method, "responses", status, "content", media_type, "schema"))
                        checked += 1
    assert checked >= 19


async def test_app_serves_the_document_from_the_repository(client):
    response = await client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.content == OPENAPI_PATH.read_bytes()


async def test_docs_page_uses_the_local_swagger_ui_bundle(client):
    response = await client.get("/api/docs")
    assert response.status_code == 200
    page = response.text
    scripts = re.findall(r'<script src="([^"]+)"', page)
    assert [s.split("?")[0] for s in scripts] == ["/static/swagger/swagger-ui-bundle.js", "/static/api-docs.js"]
    assert re.search(r'href="/static/swagger/swagger-ui.css\?v=\w+"', page)
    assert 'data-spec-url="/api/openapi.json"' in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page), "the page must not load anything from a CDN"
    assert "<script>" not in page, "the Content-Security-Policy forbids inline scripts"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    for asset in scripts:
        served = await client.get(asset)
        assert served.status_code == 200 and len(served.content) > 100
    bundle = await client.get(scripts[0])
    assert b"SwaggerUIBundle" in bundle.content


async def test_unknown_api_path_is_a_json_404(client):
    for method in ("GET", "POST"):
        response = await client.request(method, "/api/no_existe")
        assert response.status_code == 404
        body = check_contract(response)
        assert "/api/no_existe" in body["detail"]
