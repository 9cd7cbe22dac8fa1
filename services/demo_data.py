"""Realistic, reproducible demo data (the same seed gives the same data): Chilean names and
e-mails, plates in the current BBBB12 and older AB1234 formats, common makes and colours, and a
skewed number of infractions per vehicle. Used by ``scripts/seed_demo.py``, the benchmark and the
tests; written through ``repositories.bulk`` so the reference counters stay exact."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import unicodedata
from typing import Any, Callable, Iterator

from pymongo.asynchronous.database import AsyncDatabase

from domain.clock import SYSTEM_CLOCK, Clock
from repositories.bulk import BulkLoader, NewInfraccion, NewOficial, NewPersona, NewVehiculo

NOMBRES = (
    "Sofía Isidora Florencia Emilia Agustina Josefa Trinidad Martina Catalina Antonia Valentina Fernanda Javiera "
    "Constanza Camila Francisca Daniela Paula Carolina Macarena María José Benjamín Vicente Martín Matías Joaquín "
    "Agustín Tomás Cristóbal Maximiliano Sebastián Diego Felipe Nicolás Ignacio Francisco Rodrigo Gonzalo Pablo "
    "Alonso Bastián Juan Pedro Luis Jorge Claudio Patricio Manuel"
).split()
APELLIDOS = (
    "González Muñoz Rojas Díaz Pérez Soto Contreras Silva Martínez Sepúlveda Morales Rodríguez López Fuentes "
    "Hernández Torres Araya Flores Espinoza Valenzuela Castillo Tapia Reyes Gutiérrez Castro Pizarro Álvarez "
    "Vásquez Sánchez Fernández Ramírez Carrasco Gómez Cortés Herrera Núñez Jara Vergara Rivera Figueroa Riquelme "
    "García Miranda Bravo Vera Molina Vega Campos Sandoval Orellana Zúñiga Olivares Alarcón Gallardo Ortiz Garrido"
).split()
DOMINIOS = ("gmail.com", "hotmail.com", "outlook.cl", "yahoo.cl", "live.cl", "vtr.net", "uc.cl", "uchile.cl")
MARCAS = (
    "Chevrolet", "Suzuki", "Hyundai", "Kia", "Toyota", "Nissan", "Peugeot", "Mazda", "Chery", "MG", "Ford",
    "Volkswagen", "Mitsubishi", "Renault", "Subaru", "Great Wall", "Citroën", "Honda",
)
COLORES = ("Blanco", "Gris", "Plateado", "Negro", "Rojo", "Azul", "Verde", "Café", "Beige", "Burdeo", "Amarillo")
COMENTARIOS = (
    "Exceso de velocidad en zona urbana.",
    "No respetar luz roja.",
    "Estacionado en lugar prohibido.",
    "Conducir hablando por teléfono celular.",
    "No respetar señal PARE.",
    "Adelantamiento en zona prohibida.",
    "Revisión técnica vencida.",
    "Permiso de circulación vencido.",
    "Circular por pista exclusiva de buses.",
    "No ceder el paso a peatón en cruce.",
    "Conductor sin cinturón de seguridad.",
    "",
)
# Chilean plates since 2008 use these consonants only (BBBB12); older ones are two letters and four digits (AB1234).
CONSONANTES = "BCDFGHJKLPRSTVWXYZ"
LETRAS = "ABCDEFGHIJKLMNPRSTUVWXYZ"
MAX_AGE = dt.timedelta(days=85)  # inside the API's 90-day window, so a demo looks like live data


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


class DemoData:
    """Deterministic generators for a given seed; plates, e-mails and badge numbers are unique."""

    def __init__(self, seed: int = 1, *, now: dt.datetime | None = None) -> None:
        self.rng = random.Random(seed)
        self._plates: set[str] = set()
        self._emails: set[str] = set()
        self._numbers: set[int] = set()
        self._observations: set[tuple[Any, Any, dt.datetime]] = set()
        self.now = (now or SYSTEM_CLOCK.now()).replace(microsecond=0)  # infractions are dated back from it

    def persona(self) -> NewPersona:
        rng = self.rng
        first = rng.choice(NOMBRES)
        last1, last2 = rng.sample(APELLIDOS, 2)
        base = f"{_ascii(first)}.{_ascii(last1)}"
        correo = f"{base}@{rng.choice(DOMINIOS)}"
        while correo in self._emails:
            correo = f"{base}{rng.randint(1, 9999)}@{rng.choice(DOMINIOS)}"
        self._emails.add(correo)
        return NewPersona(f"{first} {last1} {last2}", correo)

    def plate(self) -> str:
        rng = self.rng
        while True:
            if rng.random() < 0.7:
                plate = "".join(rng.choices(CONSONANTES, k=4)) + f"{rng.randint(10, 99)}"
            else:
                plate = "".join(rng.choices(LETRAS, k=2)) + f"{rng.randint(1000, 9999)}"
            if plate not in self._plates:
                self._plates.add(plate)
                return plate

    def vehiculo(self, persona_id: Any) -> NewVehiculo:
        return NewVehiculo(self.plate(), self.rng.choice(MARCAS), self.rng.choice(COLORES), persona_id)

    def oficial(self) -> NewOficial:
        numero = self.rng.randint(10_000, 99_999)
        while numero in self._numbers:
            numero = self.rng.randint(10_000, 99_999)
        self._numbers.add(numero)
        return NewOficial(f"{self.rng.choice(NOMBRES)} {self.rng.choice(APELLIDOS)}", numero)

    def infraccion(self, vehiculo: dict[str, Any], oficial: dict[str, Any]) -> NewInfraccion:
        """An observation unique per (officer, plate, timestamp), as the collection's index demands."""
        while True:
            timestamp = self.now - dt.timedelta(seconds=self.rng.randint(60, int(MAX_AGE.total_seconds())))
            key = (oficial["_id"], vehiculo["_id"], timestamp)
            if key not in self._observations:
                self._observations.add(key)
                return NewInfraccion(vehiculo, oficial, timestamp, self.rng.choice(COMENTARIOS))

    def owners(self, personas: list[dict[str, Any]], count: int) -> Iterator[Any]:
        """Owners for ``count`` vehicles: most people own one, some two or three, some none."""
        for i in range(count):
            if i < len(personas) * 0.8:
                yield personas[i]["_id"]
            else:
                yield self.rng.choice(personas)["_id"]


@dataclasses.dataclass
class SeedSummary:
    personas: list[dict[str, Any]]
    vehiculos: list[dict[str, Any]]
    oficiales: list[dict[str, Any]]
    infracciones: int


ProgressFactory = Callable[[str, int], Any]


def _no_progress(label: str, total: int) -> Any:
    return None


async def seed(
    db: AsyncDatabase,
    *,
    personas: int,
    vehiculos: int,
    oficiales: int,
    infracciones: int,
    seed: int = 1,
    drop: bool = False,
    progress: ProgressFactory = _no_progress,
    data: DemoData | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> SeedSummary:
    """Insert the demo data; ``progress(label, total)`` may return an object with ``update(n)``."""
    if vehiculos and not personas:
        raise ValueError("vehicles need at least one persona")
    if infracciones and not (vehiculos and oficiales):
        raise ValueError("infractions need at least one vehicle and one officer")
    data = data or DemoData(seed, now=clock.now())

    def loader(label: str, total: int) -> BulkLoader:
        bar = progress(label, total)
        return BulkLoader(db, progress=bar.update if bar is not None else None, clock=clock)

    if drop:
        await BulkLoader(db, clock=clock).clear_demo_data()
    persona_docs = await loader("personas", personas).personas(data.persona() for _ in range(personas))
    owners = list(data.owners(persona_docs, vehiculos)) if persona_docs else []
    vehiculo_docs = await loader("vehículos", vehiculos).vehiculos(data.vehiculo(owner) for owner in owners)
    oficial_docs = await loader("oficiales", oficiales).oficiales(data.oficial() for _ in range(oficiales))
    # A few vehicles collect many infractions, as in real registries: a skewed (Pareto-like) choice.
    weights = [1 / (rank + 1) ** 0.8 for rank in range(len(vehiculo_docs))]
    chosen = data.rng.choices(vehiculo_docs, weights=weights, k=infracciones) if vehiculo_docs else []
    count = await loader("infracciones", infracciones).infracciones(
        data.infraccion(vehiculo, data.rng.choice(oficial_docs)) for vehiculo in chosen
    )
    return SeedSummary(persona_docs, vehiculo_docs, oficial_docs, count)
