"""The API's contract: openapi.json is a valid OpenAPI 3.1 document that Spectral's OpenAPI ruleset
finds nothing to say about, whose input schemas state the rules the server applies (so generated
clients and contract fuzzers send what the server accepts), served by the app, with an interactive
page that works without internet. A client generated from it: test_openapi_client.py."""

import copy
import functools
import hashlib
import datetime as dt
import json
import re
import subprocess
from decimal import Decimal

import httpx
import jsonschema_rs
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate
from bson import ObjectId
from pydantic import ValidationError

from domain import catalogo, rules
from domain.catalogo import Version
from domain.errors import InvalidValue
from handlers.api.infracciones import InfraccionIn
from handlers.forms import upper_text
from repositories import Repositories
from services.database import mongo_client
from services.images import MAX_PIXELS, SIGNATURES
from services.initial_catalogue import load as load_catalogue, shipped_versions
from tests.helpers.api import OPENAPI, OPENAPI_PATH, _pointer, check_contract, infraction_body, make_world, validate_schema
from tests.helpers.app import ROOT, client_meeting_fail_point, make_settings, serve
from tests.helpers.images import photo

SPECTRAL = ROOT / "tests" / "node" / "node_modules" / ".bin" / "spectral"
SPECTRAL_RULESET = ROOT / ".spectral.yaml"
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def test_document_is_valid_openapi_3_1():
    validate(OPENAPI)
    assert OPENAPI["openapi"].startswith("3.1")


# Every status each operation can answer (the server's code paths; TOUR below reaches each one over HTTP).
STATUSES = {
    ("/api/cargar_infraccion", "post"): {"200", "400", "401", "404", "409", "413", "415", "500", "503"},
    # no 415: the photo's type is read from its bytes, whatever Content-Type says
    ("/api/infracciones/{id}/evidencias", "post"): {"200", "201", "400", "401", "404", "409", "413", "500", "503"},
    # no 404: an unknown address gets the same answer as a persona without vehicles (privacy)
    ("/api/generar_informe", "get"): {"200", "400", "413", "429", "500", "503"},
    # 400: a malformed form body, which Tornado parses before any handler runs (a GET has no use for it)
    ("/api/yo", "get"): {"200", "400", "401", "413", "500", "503"},
    ("/api/catalogo", "get"): {"200", "304", "400", "401", "413", "500", "503"},
    ("/healthz", "get"): {"200"},
    ("/readyz", "get"): {"200", "503"},
}
OFFICER_OPERATIONS = [op for op in STATUSES if op[0] not in ("/api/generar_informe", "/healthz", "/readyz")]


def test_document_covers_every_status_of_every_operation():
    paths = OPENAPI["paths"]
    documented = {(path, method): set(op["responses"]) for path, ops in paths.items() for method, op in ops.items() if method in HTTP_METHODS}
    assert documented == STATUSES
    for path, method in OFFICER_OPERATIONS:
        assert paths[path][method]["security"] == [{"bearerAuth": []}], path
        assert paths[path][method]["responses"]["401"]["headers"]["WWW-Authenticate"]
    assert paths["/api/generar_informe"]["get"]["security"] == []
    scheme = OPENAPI["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    catalogo = paths["/api/catalogo"]["get"]["responses"]
    assert "content" not in catalogo["304"] and set(catalogo["304"]["headers"]) == set(catalogo["200"]["headers"]) == {"ETag", "Cache-Control"}


def _examples(content: dict) -> list:
    return ([content["example"]] if "example" in content else []) + [e["value"] for e in content.get("examples", {}).values()]


def test_every_example_matches_its_schema():
    """The examples a reader copies from /api/docs are ones the API would really send or accept."""
    checked = 0
    for path, operations in OPENAPI["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                for example in _examples(body):
                    validate_schema(example, _pointer("paths", path, method, "requestBody", "content", "application/json", "schema"))
                    checked += 1
            for status, response in operation["responses"].items():
                for media_type, content in response.get("content", {}).items():
                    for example in _examples(content):
                        validate_schema(example, _pointer("paths", path, method, "responses", status, "content", media_type, "schema"))
                        checked += 1
    for name, parameter in OPENAPI["components"]["parameters"].items():
        validate_schema(parameter["example"], _pointer("components", "parameters", name, "schema"))
        checked += 1
    assert checked >= 45


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
@functools.cache
def _property_validator(prop: str):
    # The whole document is the root, so that a property's $ref (ubicacion's) resolves in it.
    return jsonschema_rs.validator_for({**OPENAPI, "$ref": f"#/components/schemas/InfraccionNueva/properties/{prop}"})


def schema_accepts(value, prop: str) -> bool:
    """Whether a JSON Schema validator with ECMA-262 regular expressions, as the specification says
    and as clients and fuzzers use (jsonschema-rs, schemathesis' own), takes ``value``. Python's
    ``re``, which the ``jsonschema`` package uses, lets ``$`` match before a final newline."""
    return _property_validator(prop).is_valid(value)


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
    assert (properties["codigo"]["pattern"], properties["codigo"]["maxLength"]) == (catalogo.CODE_INPUT_PATTERN, catalogo.CODE_MAX_INPUT)
    schemas = OPENAPI["components"]["schemas"]
    for name in ("Ubicacion", "UbicacionRegistrada"):
        place = schemas[name]["properties"]
        assert (place["latitud"]["minimum"], place["latitud"]["maximum"]) == (-90, 90)
        assert (place["longitud"]["minimum"], place["longitud"]["maximum"]) == (-180, 180)
        assert (place["precision_m"]["minimum"], place["precision_m"]["maximum"]) == (0, rules.MAX_PRECISION_M)
    for name in ("InfraccionCatalogada", "InfraccionCatalogadaResumen", "CodigoDelCatalogo"):
        offence = schemas[name]["properties"]
        assert offence["codigo"]["pattern"] == catalogo.CODE_PATTERN
        assert offence["gravedad"] == {"$ref": "#/components/schemas/Gravedad"}
        assert offence["descripcion"]["maxLength"] == catalogo.DESCRIPTION_MAX
    assert schemas["Gravedad"]["enum"] == list(catalogo.SEVERITIES)
    entry = schemas["CodigoDelCatalogo"]["properties"]
    assert entry["gravedad_nombre"]["enum"] == [s.label for s in catalogo.SEVERITIES.values()]
    assert entry["articulo"]["maxLength"] == catalogo.ARTICLE_MAX


def test_the_evidence_limits_stated_are_the_servers():
    """Limits are configuration; the document states the defaults, and the server's names for them."""
    defaults = make_settings()
    assert (defaults.evidence_max_bytes, defaults.evidence_max_photos, defaults.evidence_window_hours) == (5 * 1024 * 1024, 5, 24)
    operation = OPENAPI["paths"]["/api/infracciones/{id}/evidencias"]["post"]
    text = operation["description"] + operation["requestBody"]["description"]
    for stated in ("5 MiB", "`EVIDENCE_MAX_BYTES`", "hasta 5 fotos", "`EVIDENCE_MAX_PHOTOS`", "24 horas", "`EVIDENCE_WINDOW_HOURS`", f"{MAX_PIXELS // 1_000_000} megapíxeles"):
        assert stated in text, stated
    assert f"{defaults.evidence_max_bytes // 1024} KiB" in json.dumps(operation["responses"]["413"], ensure_ascii=False)
    assert set(SIGNATURES.values()) == set(OPENAPI["components"]["schemas"]["Evidencia"]["properties"]["tipo"]["enum"])


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


# Codes as officers and fuzzers type them: both cases, separators, spaces of every kind, look-alikes.
CODE_CHARACTERS = st.sampled_from("AGVSagvs019.-  _/\t\n\x1c\x00ßıſﬀÀñ²٣Ａ\u00a0\u3000")


@settings(max_examples=400, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(raw=st.text(CODE_CHARACTERS, max_size=24) | st.from_regex(catalogo.CODE_INPUT_PATTERN, fullmatch=True) | st.none())
def test_a_code_matches_the_schema_exactly_when_the_server_takes_it(raw):
    """Its form; whether it exists and was in force is the 404 the description states."""
    assert schema_accepts(raw, "codigo") == server_accepts(codigo=raw), repr(raw)


def coordinate(low: float, high: float) -> st.SearchStrategy:
    """Numbers in, on and just past the range, and what is not a number."""
    return st.one_of(
        st.floats(low, high),
        st.floats(low - 1, high + 1, allow_nan=False),
        st.sampled_from([low, high, -0.0, 0, low - 1e-9, high + 1e-9, float(high), 10**30, -(10**30), 1e308]),
        st.integers(int(low) - 2, int(high) + 2),
        st.sampled_from([None, True, False, "12.5", [1.0], {"valor": 1.0}]),
    )


LATITUDE, LONGITUDE, PRECISION = coordinate(-90, 90), coordinate(-180, 180), coordinate(0, rules.MAX_PRECISION_M)
PLACES = st.fixed_dictionaries({"latitud": LATITUDE, "longitud": LONGITUDE}, optional={"precision_m": PRECISION}) | st.fixed_dictionaries(
    {}, optional={"latitud": LATITUDE, "longitud": LONGITUDE, "precision_m": PRECISION, "altitud": st.just(520.0), "$where": st.just("1 == 1")}
)


@settings(max_examples=500, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(place=PLACES | st.sampled_from([None, [], "-33.4,-70.6", 0, {"type": "Point", "coordinates": [-70.6, -33.4]}]))
@example({"latitud": -33.4, "longitud": -70.6, "precision_m": None})
@example({"latitud": -0.0, "longitud": 180, "precision_m": 0})
@example({"latitud": 90.0, "longitud": -180.0, "precision_m": rules.MAX_PRECISION_M})
@example({"latitud": True, "longitud": -70.6})
@example({"latitud": "-33.4", "longitud": -70.6})
@example({"latitud": -33.4, "longitud": -70.6, "precision_m": -0.5})
@example({"latitud": -33.4, "longitud": -70.6, "altitud": 520.0})
@example({"latitud": -33.4})
def test_a_place_matches_the_schema_exactly_when_the_server_takes_it(place):
    """Ranges, types (no booleans, no numbers as text), required and unknown fields, null as absent.
    NaN and the infinities are not JSON: tests/test_hostile_inputs.py sends them as raw bytes."""
    assert schema_accepts(place, "ubicacion") == server_accepts(ubicacion=place), repr(place)


@pytest.mark.parametrize("raw", ["2026-11-24", "2026-11-24ñ14:30", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:00-01:00"])
def test_timestamps_outside_the_contract_or_the_calendar_are_refused_not_500(raw):
    """fromisoformat took a date alone and any separator; a year-1 or year-9999 time with an offset
    overflowed on conversion to UTC (a 500)."""
    assert not server_accepts(timestamp=raw)


@pytest.mark.parametrize("raw", ["ßG-1", "ıa-1", "ﬀ-1", "ſ-1", "G-1\n", "\tG-1", "\u00a0G-1", "G-1\u3000", "\x1cG-1"])
def test_codes_the_server_would_fold_or_trim_into_another_are_refused(raw):
    """``str.upper`` made 'ßG-1' the code 'SSG-1' and 'ı' an 'I'; ``str.strip`` took any Unicode space
    and the control characters U+001C to U+001F; ``re.match`` with ``$`` took a final newline."""
    assert not server_accepts(codigo=raw)
    assert upper_text(f" {raw} ") in (raw.strip(), raw.strip().upper()) and "SS" not in upper_text(raw)


async def test_a_fine_typed_with_an_exponent_is_written_out(repos):
    """A form's '1e1' is Decimal('1E+1'), which the admin showed and the API sent as '1E+1' (the
    contract's amounts are decimals written out)."""
    version = await repos.catalogo.create(
        codigo="ALC-10", descripcion="Conducir en estado de ebriedad.", gravedad="gravisima", multa_min=Decimal("1.5"),
        multa_max=Decimal("1E+1"), articulo="", vigente_desde=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    )
    assert version.snapshot()["multa_utm"] == {"min": "1.5", "max": "10"}
    stored = (await repos.catalogo.versions("ALC-10"))[0]
    assert str(stored.multa_max_utm) == "10"
    assert Version("X", 1, "d", "leve", Decimal("2E-1"), Decimal("5E-1"), "", stored.vigente_desde).snapshot()["multa_utm"] == {"min": "0.2", "max": "0.5"}


async def test_an_evidence_names_its_infraction_as_every_other_answer_does(client, repos):
    """ObjectId takes upper-case hexadecimal, and the answer echoed the address's id as typed."""
    world = await make_world(repos)
    loaded = await client.post("/api/cargar_infraccion", json=infraction_body(), headers=world.auth)
    infraccion_id = loaded.json()["id"]
    response = await client.post(f"/api/infracciones/{infraccion_id.upper()}/evidencias", content=photo(), headers=world.auth)
    assert response.status_code == 201, response.text
    assert response.json()["infraccion_id"] == infraccion_id


# -- every documented status, reached over HTTP and answered as documented --------------------------
EVIDENCIAS = "/api/infracciones/{id}/evidencias"


async def test_every_documented_status_of_issue_13s_operations_is_answered_as_documented(client, repos, db):
    """Each status the document lists for the officers' new operations (and cargar_infraccion's
    new fields), reached over HTTP, with the documented media type, schema and headers. 500 and
    503: the two tests after this one. (Behaviour in depth: test_catalogo_api.py, test_evidencias.py.)"""
    await load_catalogue(repos, make_settings().zone)
    world = await make_world(repos)
    other = await make_world(repos, correo="otra@example.cl", placa="XXYY11", numero=7)
    now = dt.datetime.now(dt.timezone.utc)
    await repos.catalogo.create(
        codigo="FUT-1", descripcion="Una infracción que aún no rige.", gravedad="leve", multa_min=Decimal("0.2"), multa_max=Decimal("0.5"),
        articulo="", vigente_desde=now + dt.timedelta(days=1),
    )
    reached: dict[tuple[str, str], set[str]] = {op: set() for op in OFFICER_OPERATIONS}

    async def send(method: str, url: str, *, expect: int, token: str | None = world.token, **kwargs) -> object:
        headers = {**kwargs.pop("headers", {}), **({"Authorization": f"Bearer {token}"} if token else {})}
        response = await client.request(method, url, headers=headers, **kwargs)
        assert response.status_code == expect, (method, url, response.status_code, response.text[:300])
        body = check_contract(response)
        operation = (EVIDENCIAS if "/evidencias" in url else url, method.lower())
        if operation in reached:  # not a 405
            reached[operation].add(str(expect))
        return body, response

    # cargar_infraccion with the new fields
    body = {**infraction_body(), "codigo": " gvs-01 ", "ubicacion": {"latitud": -33.4263, "longitud": -70.6165, "precision_m": 8}}
    loaded, _ = await send("POST", "/api/cargar_infraccion", json=body, expect=200)
    assert loaded["infraccion"] == {"codigo": "GVS-01", "descripcion": "No detenerse ante la luz roja de un semáforo.", "gravedad": "gravisima", "multa_utm": {"min": "1.5", "max": "3"}}
    assert loaded["ubicacion"] == {"latitud": -33.4263, "longitud": -70.6165, "precision_m": 8.0}
    plain, _ = await send("POST", "/api/cargar_infraccion", json=infraction_body(minutes_ago=5), expect=200)
    assert "infraccion" not in plain and "ubicacion" not in plain  # the specification's answer, unchanged
    for codigo in ("NOPE-1", "FUT-1"):
        problem, _ = await send("POST", "/api/cargar_infraccion", json={**infraction_body(minutes_ago=7), "codigo": codigo}, expect=404)
        assert problem["errors"] == [{"campo": "codigo", "mensaje": f"El código {codigo} no existe en el catálogo o no estaba vigente en la fecha de la infracción."}]
    problem, _ = await send("POST", "/api/cargar_infraccion", json={**infraction_body(), "ubicacion": {"latitud": 91, "longitud": 0}}, expect=400)
    assert problem["errors"][0]["campo"] == "ubicacion.latitud"

    # evidencias
    url = f"/api/infracciones/{loaded['id']}/evidencias"
    first, response = await send("POST", url, content=photo(seed=1), headers={"Content-Type": "image/png"}, expect=201)
    assert "Idempotent-Replayed" not in response.headers
    assert first["sha256"] == hashlib.sha256(photo(seed=1)).hexdigest() and (first["tipo"], first["ancho"], first["alto"]) == ("image/png", 8, 6)
    again, response = await send("POST", url, content=photo(seed=1), headers={"Content-Type": "application/octet-stream"}, expect=200)
    assert again == first and response.headers["Idempotent-Replayed"] == "true"
    jpeg, _ = await send("POST", url, content=photo("JPEG", seed=2), headers={"Content-Type": "text/plain"}, expect=201)
    assert jpeg["tipo"] == "image/jpeg"
    for refused in (b"", b"GIF89a" + b"\x00" * 20, photo(seed=3)[:-20]):
        await send("POST", url, content=refused, expect=400)
    await send("POST", url, content=photo(seed=4), token=None, expect=401)
    await send("POST", url, content=photo(seed=4), token=other.token, expect=404)  # not this officer's: as if it did not exist
    await send("POST", "/api/infracciones/000000000000000000000000/evidencias", content=photo(seed=4), expect=404)
    await send("POST", "/api/infracciones/no-es-un-id/evidencias", content=photo(seed=4), expect=404)
    await send("POST", url, content=b"\xff\xd8\xff" + b"\x00" * (5 * 1024 * 1024), expect=413)
    for seed in (5, 6, 7):
        await send("POST", url, content=photo(seed=seed), expect=201)
    problem, _ = await send("POST", url, content=photo(seed=8), expect=409)  # a sixth
    assert "máximo de 5 fotos" in problem["detail"] and problem["errors"][0]["campo"] == "cuerpo"
    old, _ = await send("POST", "/api/cargar_infraccion", json=infraction_body(minutes_ago=9), expect=200)
    await db["infracciones"].update_one({"_id": ObjectId(old["id"])}, {"$set": {"registrada_en": now - dt.timedelta(hours=25)}})
    problem, _ = await send("POST", f"/api/infracciones/{old['id']}/evidencias", content=photo(seed=9), expect=409)
    assert "24 horas" in problem["detail"]
    await send("GET", url, expect=405)

    # yo and catalogo
    yo, _ = await send("GET", "/api/yo", expect=200)
    assert yo == {"oficial": {"numero": 42, "nombre": "Juan Soto"}, "token": {"etiqueta": "tablet de prueba", "expira_en": yo["token"]["expira_en"]}}
    await send("GET", "/api/yo", token="abc.def.ghi", expect=401)
    await send("GET", "/api/yo", content=b"x" * (65 * 1024), expect=413)
    await send("GET", "/api/yo", headers={"Content-Type": "multipart/form-data"}, expect=400)
    codes, response = await send("GET", "/api/catalogo", expect=200)
    assert [c["codigo"] for c in codes["codigos"]] == sorted(c["codigo"] for c in codes["codigos"]) and "FUT-1" not in {c["codigo"] for c in codes["codigos"]}
    assert len(codes["codigos"]) == len(shipped_versions(make_settings().zone))
    etag = response.headers["ETag"]
    assert (await send("GET", "/api/catalogo", headers={"If-None-Match": etag}, expect=304))[0] is None
    await send("GET", "/api/catalogo", headers={"If-None-Match": '"otra-version"'}, expect=200)
    await send("GET", "/api/catalogo", token=None, expect=401)
    await send("GET", "/api/catalogo", content=b"x" * (65 * 1024), expect=413)
    await send("GET", "/api/catalogo", content=b"--x\r\n", headers={"Content-Type": "multipart/form-data; boundary=x"}, expect=400)
    await send("POST", "/api/catalogo", expect=405)

    new_fields_only = {("/api/cargar_infraccion", "post"): {"200", "400", "404"}}
    for operation, statuses in reached.items():
        assert statuses == new_fields_only.get(operation, STATUSES[operation] - {"500", "503"}), operation


def officer_requests(world, infraccion_id: str) -> dict[tuple[str, str], dict]:
    """One request per officer operation that reaches the database (cargar_infraccion: with a code)."""
    return {
        ("/api/cargar_infraccion", "post"): {"method": "POST", "url": "/api/cargar_infraccion", "json": {**infraction_body(), "codigo": "GVS-01"}},
        (EVIDENCIAS, "post"): {"method": "POST", "url": f"/api/infracciones/{infraccion_id}/evidencias", "content": photo()},
        ("/api/yo", "get"): {"method": "GET", "url": "/api/yo"},
        ("/api/catalogo", "get"): {"method": "GET", "url": "/api/catalogo"},
    }


async def test_the_officers_operations_answer_503_as_documented_when_the_database_is_unreachable(repos, unreachable_uri):
    world = await make_world(repos)
    unreachable = mongo_client(unreachable_uri, serverSelectionTimeoutMS=300)
    try:
        async with serve(make_settings(), Repositories.over(unreachable["transito"])) as app:
            async with httpx.AsyncClient(base_url=app.url, headers=world.auth, timeout=30) as http:
                for operation, request in officer_requests(world, "6743a1f0c2b9e4d5a6f70812").items():
                    response = await http.request(**request)
                    assert response.status_code == 503, (operation, response.text)
                    assert "base de datos" in check_contract(response)["detail"]
    finally:
        await unreachable.close()


@pytest.mark.parametrize("operation", OFFICER_OPERATIONS, ids=lambda op: op[0].rsplit("/", 1)[1])
async def test_the_officers_operations_answer_500_as_documented_on_an_unexpected_database_error(mongo_uri, db, repos, operation, caplog):
    world = await make_world(repos)
    request = officer_requests(world, "6743a1f0c2b9e4d5a6f70812")[operation]
    async with client_meeting_fail_point(mongo_uri, f"contrato-500-{operation[0].rsplit('/', 1)[1]}", failCommands=["find"], errorCode=8) as app_client:
        async with serve(make_settings(), Repositories.over(app_client[db.name])) as app:
            async with httpx.AsyncClient(base_url=app.url, headers=world.auth, timeout=30) as http:
                with caplog.at_level("ERROR", logger="transito.http"):
                    response = await http.request(**request)
    assert response.status_code == 500, response.text
    problem = check_contract(response)
    assert problem["detail"] == f"Ocurrió un error inesperado. Informe el identificador {problem['request_id']} al soporte."
