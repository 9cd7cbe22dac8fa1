"""The API's contract: openapi.json is a valid OpenAPI 3.1 document that Spectral's OpenAPI ruleset
finds nothing to say about, whose input schemas state the rules the server applies (so generated
clients and contract fuzzers send what the server accepts), served by the app, with an interactive
page that works without internet. A client generated from it: test_openapi_client.py."""

import copy
import datetime as dt
import json
import re
import subprocess

import jsonschema_rs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate
from pydantic import ValidationError

from domain import rules
from domain.errors import InvalidValue
from handlers.api.infracciones import InfraccionIn
from tests.helpers.api import OPENAPI, OPENAPI_PATH, _pointer, check_contract, validate_schema
from tests.helpers.app import ROOT

SPECTRAL = ROOT / "tests" / "node" / "node_modules" / ".bin" / "spectral"
SPECTRAL_RULESET = ROOT / ".spectral.yaml"
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def test_document_is_valid_openapi_3_1():
    validate(OPENAPI)
    assert OPENAPI["openapi"].startswith("3.1")


def test_document_covers_every_status_of_both_methods():
    paths = OPENAPI["paths"]
    cargar = paths["/api/cargar_infraccion"]["post"]
    informe = paths["/api/generar_informe"]["get"]
    assert set(cargar["responses"]) == {"200", "400", "401", "404", "409", "413", "415", "500", "503"}
    # no 404: an unknown address gets the same answer as a persona without vehicles (privacy)
    assert set(informe["responses"]) == {"200", "400", "413", "429", "500", "503"}
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


# -- Spectral --------------------------------------------------------------------------------------
def spectral(document: dict, tmp_path) -> list[dict]:
    """Spectral's findings (any severity) on ``document``, with the repository's ruleset."""
    assert SPECTRAL.exists(), f"Spectral is missing ({SPECTRAL}): `make venv-dev` installs it with npm ci --prefix tests/node"
    source = tmp_path / "openapi.json"
    source.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    report = tmp_path / "spectral.json"
    result = subprocess.run(
        [SPECTRAL, "lint", "--ruleset", SPECTRAL_RULESET, "--format", "json", "--output", report, "--fail-severity", "hint", source],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert report.exists(), f"Spectral did not run: {result.returncode}\n{result.stdout}\n{result.stderr}"
    findings = json.loads(report.read_text(encoding="utf-8"))
    assert (result.returncode == 0) == (findings == []), (result.returncode, result.stderr)
    return findings


def test_spectral_oas_ruleset_finds_nothing(tmp_path):
    assert "spectral:oas" in SPECTRAL_RULESET.read_text(encoding="utf-8")
    findings = spectral(OPENAPI, tmp_path)
    assert findings == [], "\n".join(f"{f['code']} at {'.'.join(map(str, f['path']))}: {f['message']}" for f in findings)


def test_spectral_reports_what_the_audit_found(tmp_path):
    """The linter really runs with the ruleset: the document as it was before issue 10 gets warnings."""
    before = copy.deepcopy(OPENAPI)
    del before["info"]["contact"]
    del before["paths"]["/healthz"]["get"]["description"]
    del before["paths"]["/api/generar_informe"]["get"]["parameters"][0]["description"]
    codes = {f["code"] for f in spectral(before, tmp_path)}
    assert {"info-contact", "operation-description", "oas3-parameter-description"} <= codes, codes


# -- what generated clients need -------------------------------------------------------------------
def test_title_is_ascii_and_the_team_can_be_contacted():
    info = OPENAPI["info"]
    assert info["title"].isascii() and re.fullmatch(r"[A-Za-z][A-Za-z0-9 ]+", info["title"]), info["title"]
    assert info["contact"]["name"] and info["contact"]["url"].startswith("https://") and "@" in info["contact"]["email"]
    assert "tránsito" in info["description"]  # the description stays in Spanish


def test_every_operation_parameter_response_and_tag_is_described():
    tags = {tag["name"]: tag for tag in OPENAPI["tags"]}
    assert all(name.isascii() and tag["description"] for name, tag in tags.items())  # tags name generated modules
    for path, operations in OPENAPI["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            assert operation["description"] and operation["summary"] and operation["operationId"].isidentifier(), where
            assert operation["tags"] and set(operation["tags"]) <= set(tags), where
            for parameter in operation.get("parameters", []):
                parameter = OPENAPI["components"]["parameters"][parameter["$ref"].rsplit("/", 1)[1]] if "$ref" in parameter else parameter
                assert parameter["description"], f"{where} {parameter['name']}"
            for status, response in operation["responses"].items():
                assert response["description"], f"{where} {status}"


# -- the input schemas state the server's rules ----------------------------------------------------
def schema_accepts(value, prop: str) -> bool:
    """Whether a JSON Schema validator with ECMA-262 regular expressions, as the specification says
    and as clients and fuzzers use (jsonschema-rs, schemathesis' own), takes ``value``. Python's
    ``re``, which the ``jsonschema`` package uses, lets ``$`` match before a final newline."""
    schema = OPENAPI["components"]["schemas"]["InfraccionNueva"]["properties"][prop]
    return jsonschema_rs.validator_for(schema).is_valid(value)


def server_accepts(**fields) -> bool:
    """Whether the API's body model (the handler's own) takes these fields."""
    body = {"placa_patente": "BBCD12", "timestamp": "2026-11-24T14:30:00Z", **fields}
    try:
        InfraccionIn.model_validate_json(json.dumps(body))
    except ValidationError:
        return False
    return True


def test_the_schemas_are_the_rules_of_the_domain():
    properties = OPENAPI["components"]["schemas"]["InfraccionNueva"]["properties"]
    assert properties["placa_patente"]["pattern"] == rules.PLATE_INPUT_PATTERN
    assert properties["timestamp"]["pattern"] == rules.TIMESTAMP_PATTERN
    assert "format" not in properties["timestamp"]  # date-time is RFC 3339, which requires an offset
    assert properties["comentarios"]["maxLength"] == rules.COMENTARIOS_MAX
    email = OPENAPI["paths"]["/api/generar_informe"]["get"]["parameters"][0]["schema"]
    assert (email["format"], email["maxLength"], email["pattern"]) == ("email", rules.CORREO_MAX, rules.EMAIL_PATTERN)


@pytest.mark.parametrize("domain", ["example.cl", "correo.test", "x.invalid", "intranet.local", "localhost", "abc.onion", "1.in-addr.arpa"])
def test_the_email_pattern_refuses_exactly_the_reserved_domains_the_server_refuses(domain):
    address = f"ana@{domain}"
    pattern = OPENAPI["paths"]["/api/generar_informe"]["get"]["parameters"][0]["schema"]["pattern"]
    try:
        rules.normalize_email(address)
        accepted = True
    except InvalidValue:
        accepted = False
    assert jsonschema_rs.validator_for({"pattern": pattern}).is_valid(address) == accepted


# Plates as people and fuzzers type them: separators, both cases, look-alikes that str.upper() folds.
PLATE_CHARACTERS = st.sampled_from("ABCDXYZabcxyz0189 -.·\t\n_/ßıſﬀÀñ²٣Ａ\u00a0\u2013")


@settings(max_examples=400, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(raw=st.text(PLATE_CHARACTERS, max_size=24) | st.from_regex(rules.PLATE_INPUT_PATTERN, fullmatch=True))
def test_a_plate_matches_the_schema_exactly_when_the_server_takes_it(raw):
    assert schema_accepts(raw, "placa_patente") == server_accepts(placa_patente=raw), repr(raw)


def calendar_date(raw: str) -> bool:
    try:
        dt.date.fromisoformat(raw[:10])
    except ValueError:
        return False
    return True


@settings(max_examples=400, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(
    raw=st.from_regex(rules.TIMESTAMP_PATTERN, fullmatch=True)
    | st.sampled_from(
        ["2026-11-24", "20261124T143000", "2026-W48-2T14:30", "2026-11-24T14", "2026-11-24x14:30", "2026-11-24T14:30:00+0300",
         "2026-11-24T14:30:00+03", "2026-11-24T14:30:00,5", "2026-11-24T14:30:00z", "2026-11-24T24:00", "2026-11-24T14:30:60",
         "2026-11-24T14:30:00.1234567890Z", "2026-11-24T14:30:00\n", "２０２６-11-24T14:30", "2026-11-24T14:30:00+03:00:30"]
    )
)
def test_a_timestamp_matches_the_schema_exactly_when_the_server_reads_it(raw):
    """The pattern cannot know leap years (29 February of a common year matches it), nor the window of
    90 days and 5 minutes that the description states; everything else is the same set."""
    try:
        rules.parse_timestamp(raw, dt.timezone.utc)
        parsed = True
    except InvalidValue:
        parsed = False
    if schema_accepts(raw, "timestamp") and calendar_date(raw):
        assert parsed, repr(raw)
    elif not schema_accepts(raw, "timestamp"):
        assert not parsed and not server_accepts(timestamp=raw), repr(raw)


@settings(max_examples=300, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(raw=st.text(st.characters(codec="utf-8", categories=["Cc", "L", "Zs", "N"]), max_size=40))
def test_comments_match_the_schema_exactly_when_the_server_takes_them(raw):
    assert schema_accepts(raw, "comentarios") == server_accepts(comentarios=raw), repr(raw)


@pytest.mark.parametrize("raw", ["2026-11-24", "2026-11-24ñ14:30", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:00-01:00"])
def test_timestamps_outside_the_contract_or_the_calendar_are_refused_not_500(raw):
    """fromisoformat took a date alone and any separator; a year-1 or year-9999 time with an offset
    overflowed on conversion to UTC (a 500)."""
    assert not server_accepts(timestamp=raw)
