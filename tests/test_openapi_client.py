"""A client generated from openapi.json with openapi-python-client installs as a package and calls
both methods of the real application (issue 10: the non-ASCII title once made an uninstallable
package). Generation and installation happen in a temporary folder; nothing is cached in the
repository."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

from tests.helpers.api import OPENAPI_PATH, World, make_world, recent
from tests.helpers.app import RunningApp

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


async def test_a_generated_client_installs_and_calls_both_methods(running_app: RunningApp, repos, tmp_path):
    world: World = await make_world(repos)
    package, site = generate_and_install(tmp_path)
    assert package.isascii() and package.isidentifier(), package
    sys.path.insert(0, str(site))
    try:
        client_module = importlib.import_module(f"{package}.client")
        cargar = importlib.import_module(f"{package}.api.infracciones.cargar_infraccion")
        informe = importlib.import_module(f"{package}.api.infracciones.generar_informe")
        models = importlib.import_module(f"{package}.models")

        officer = client_module.AuthenticatedClient(base_url=running_app.url, token=world.token, raise_on_unexpected_status=True)
        async with officer:
            body = models.InfraccionNueva(placa_patente="bb-cd 12", timestamp=recent(30), comentarios="Luz roja.")
            recorded = await cargar.asyncio_detailed(client=officer, body=body, idempotency_key="cliente-generado-1")
            assert recorded.status_code == 200, recorded.content
            infraccion = recorded.parsed
            assert isinstance(infraccion, models.Infraccion)
            assert (infraccion.placa_patente, infraccion.oficial.numero, infraccion.vehiculo.marca) == ("BBCD12", 42, "Toyota")
            assert infraccion.timestamp.tzinfo is not None  # a datetime, parsed from the contract's date-time

            unknown = await cargar.asyncio_detailed(client=officer, body=models.InfraccionNueva(placa_patente="ZZZZ99", timestamp=recent(30)))
            assert unknown.status_code == 404
            assert isinstance(unknown.parsed, models.Problem)
            assert "ZZZZ99" in unknown.parsed.detail and unknown.parsed.errors[0].campo == "placa_patente"

        public = client_module.Client(base_url=running_app.url, raise_on_unexpected_status=True)
        async with public:
            report = await informe.asyncio_detailed(client=public, email=" Ana.Perez@Example.CL ", limit=10)
            assert report.status_code == 200, report.content
            assert isinstance(report.parsed, models.Informe)
            assert (report.parsed.total, report.parsed.limit, report.parsed.offset) == (1, 10, 0)
            [item] = report.parsed.infracciones
            assert isinstance(item, models.InfraccionDeInforme)
            assert (item.id, item.placa_patente, item.comentarios) == (infraccion.id, "BBCD12", "Luz roja.")
    finally:
        sys.path.remove(str(site))
        for name in [m for m in sys.modules if m == package or m.startswith(f"{package}.")]:
            del sys.modules[name]
