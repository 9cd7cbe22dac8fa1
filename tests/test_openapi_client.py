"""A client generated from openapi.json with openapi-python-client installs as a package and calls
every method of the real application (issue 10: the non-ASCII title once made an uninstallable
package; issue 13: the offence code, the place, a photo, the officer and the catalogue).
Generation and installation happen in a temporary folder; nothing is cached in the repository."""

from __future__ import annotations

import hashlib
import importlib
import os
import subprocess
import sys
from pathlib import Path

from services.initial_catalogue import load as load_catalogue
from tests.helpers.api import OPENAPI_PATH, World, make_world, recent
from tests.helpers.app import RunningApp
from tests.helpers.images import photo

VENV_BIN = Path(sys.executable).parent


def run(*command: str | Path, cwd: Path) -> None:
    # The generator formats its output with ruff, which it looks for on PATH: the venv's.
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{command[0]} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"


def generate_and_install(tmp_path: Path) -> tuple[str, Path]:
    """Generate the client (any generator warning fails) and install it with pip, as a user would;
    returns its import name and the folder it was installed into."""
    run(
        VENV_BIN / "openapi-python-client", "generate", "--path", OPENAPI_PATH, "--output-path", tmp_path / "client",
        "--meta", "setup", "--fail-on-warning",
        cwd=tmp_path,
    )
    site = tmp_path / "site"
    # --no-build-isolation: setup.py builds with the venv's setuptools, no download
    run(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", site, tmp_path / "client", cwd=tmp_path)
    packages = [p.name for p in site.iterdir() if (p / "__init__.py").exists()]
    assert len(packages) == 1, packages
    return packages[0], site


async def test_a_generated_client_installs_and_calls_every_method(running_app: RunningApp, repos, tmp_path):
    world: World = await make_world(repos)
    await load_catalogue(repos, running_app.settings.zone)
    package, site = generate_and_install(tmp_path)
    assert package.isascii() and package.isidentifier(), package
    sys.path.insert(0, str(site))
    try:
        client_module = importlib.import_module(f"{package}.client")
        cargar = importlib.import_module(f"{package}.api.infracciones.cargar_infraccion")
        evidencia = importlib.import_module(f"{package}.api.infracciones.agregar_evidencia")
        informe = importlib.import_module(f"{package}.api.infracciones.generar_informe")
        yo = importlib.import_module(f"{package}.api.oficiales.yo")
        catalogo = importlib.import_module(f"{package}.api.oficiales.catalogo")
        models = importlib.import_module(f"{package}.models")
        types = importlib.import_module(f"{package}.types")

        officer = client_module.AuthenticatedClient(base_url=running_app.url, token=world.token, raise_on_unexpected_status=True)
        async with officer:
            body = models.InfraccionNueva(placa_patente="bb-cd 12", timestamp=recent(30), comentarios="Luz roja.")
            recorded = await cargar.asyncio_detailed(client=officer, body=body, idempotency_key="cliente-generado-1")
            assert recorded.status_code == 200, recorded.content
            infraccion = recorded.parsed
            assert isinstance(infraccion, models.Infraccion)
            assert (infraccion.placa_patente, infraccion.oficial.numero, infraccion.vehiculo.marca) == ("BBCD12", 42, "Toyota")
            assert infraccion.timestamp.tzinfo is not None  # a datetime, parsed from the contract's date-time

            assert isinstance(infraccion.infraccion, types.Unset) and isinstance(infraccion.ubicacion, types.Unset)

            unknown = await cargar.asyncio_detailed(client=officer, body=models.InfraccionNueva(placa_patente="ZZZZ99", timestamp=recent(30)))
            assert unknown.status_code == 404
            assert isinstance(unknown.parsed, models.Problem)
            assert "ZZZZ99" in unknown.parsed.detail and unknown.parsed.errors[0].campo == "placa_patente"

            # issue 13: the offence code and the place
            place = models.Ubicacion(latitud=-33.4263, longitud=-70.6165, precision_m=8)
            body = models.InfraccionNueva(placa_patente="BBCD12", timestamp=recent(20), codigo="gvs-01", ubicacion=place)
            coded = await cargar.asyncio_detailed(client=officer, body=body)
            assert coded.status_code == 200, coded.content
            offence = coded.parsed.infraccion
            assert isinstance(offence, models.InfraccionCatalogada) and isinstance(offence.gravedad, models.Gravedad)
            assert (offence.codigo, offence.gravedad.value, offence.multa_utm.min_, offence.multa_utm.max_) == ("GVS-01", "gravisima", "1.5", "3")
            assert isinstance(coded.parsed.ubicacion, models.UbicacionRegistrada)
            assert (coded.parsed.ubicacion.latitud, coded.parsed.ubicacion.longitud, coded.parsed.ubicacion.precision_m) == (-33.4263, -70.6165, 8.0)
            no_code = await cargar.asyncio_detailed(client=officer, body=models.InfraccionNueva(placa_patente="BBCD12", timestamp=recent(25), codigo="NO-EXISTE"))
            assert no_code.status_code == 404 and no_code.parsed.errors[0].campo == "codigo"

            # a photo: raw bytes, a real PNG made with Pillow. The generated code hands File.payload to
            # httpx as the body, which an AsyncClient takes as bytes or an async file, not as the BinaryIO
            # the type hint says (openapi-python-client issue #1239); a sync client takes either.
            png = photo(seed=42, size=(32, 24))
            added = await evidencia.asyncio_detailed(coded.parsed.id, client=officer, body=types.File(payload=png, mime_type="image/png"))
            assert added.status_code == 201, added.content
            assert isinstance(added.parsed, models.Evidencia)
            assert (added.parsed.infraccion_id, added.parsed.tipo.value, added.parsed.ancho, added.parsed.alto) == (coded.parsed.id, "image/png", 32, 24)
            assert added.parsed.sha256 == hashlib.sha256(png).hexdigest() and added.parsed.bytes_ == len(png)
            again = await evidencia.asyncio_detailed(coded.parsed.id, client=officer, body=types.File(payload=png))
            assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true" and again.parsed.id == added.parsed.id

            # who the app is enrolled as, and the catalogue with its ETag
            me = await yo.asyncio_detailed(client=officer)
            assert me.status_code == 200 and isinstance(me.parsed, models.Yo)
            assert (me.parsed.oficial.numero, me.parsed.token.etiqueta) == (42, "tablet de prueba") and me.parsed.token.expira_en.tzinfo is not None
            codes = await catalogo.asyncio_detailed(client=officer)
            assert codes.status_code == 200 and isinstance(codes.parsed, models.Catalogo)
            assert "GVS-01" in {code.codigo for code in codes.parsed.codigos}
            unchanged = await catalogo.asyncio_detailed(client=officer, if_none_match=codes.headers["ETag"])
            assert unchanged.status_code == 304 and unchanged.parsed is None and unchanged.content == b""

        public = client_module.Client(base_url=running_app.url, raise_on_unexpected_status=True)
        async with public:
            report = await informe.asyncio_detailed(client=public, email=" Ana.Perez@Example.CL ", limit=10)
            assert report.status_code == 200, report.content
            assert isinstance(report.parsed, models.Informe)
            assert (report.parsed.total, report.parsed.limit, report.parsed.offset) == (2, 10, 0)
            coded_item, item = report.parsed.infracciones  # newest first
            assert isinstance(item, models.InfraccionDeInforme)
            assert (item.id, item.placa_patente, item.comentarios) == (infraccion.id, "BBCD12", "Luz roja.")
            assert isinstance(item.infraccion, types.Unset)
            assert isinstance(coded_item.infraccion, models.InfraccionCatalogadaResumen)
            assert (coded_item.id, coded_item.infraccion.codigo, coded_item.infraccion.gravedad) == (coded.parsed.id, "GVS-01", models.Gravedad.GRAVISIMA)
    finally:
        sys.path.remove(str(site))
        for name in [m for m in sys.modules if m == package or m.startswith(f"{package}.")]:
            del sys.modules[name]
