"""Referential integrity and uniqueness under concurrency: the repository operations are run
against each other with asyncio.gather many times on the real database, and afterwards no vehicle
points at a missing persona and every persona's ``n_vehiculos`` equals its real vehicle count."""

from __future__ import annotations

import asyncio

import pytest

from repositories.errors import Conflict, MissingReference, StillReferenced

ROUNDS = 30


async def assert_integrity(repos) -> None:
    """No dangling owner, and every counter equals the real number of vehicles."""
    personas = {doc["_id"]: doc["n_vehiculos"] async for doc in repos.personas.collection.find({})}
    counts: dict = {}
    async for doc in repos.vehiculos.collection.find({}):
        assert doc["persona_id"] in personas, f"vehicle {doc['placa_patente']} points at a missing persona"
        counts[doc["persona_id"]] = counts.get(doc["persona_id"], 0) + 1
    for persona_id, n_vehiculos in personas.items():
        assert n_vehiculos == counts.get(persona_id, 0), f"persona {persona_id}: counter {n_vehiculos}"


def race(round_number: int, first, second):
    """Run two operations at once, delaying one of them by a varying few milliseconds so that
    over the rounds both orders, and the overlapping ones, reach the server."""

    async def later(operation):
        await asyncio.sleep((round_number % 5) * 0.001)
        return await operation

    if round_number % 2:
        return asyncio.gather(first, later(second), return_exceptions=True)
    return asyncio.gather(later(first), second, return_exceptions=True)


def outcome(result: object) -> object:
    """An unexpected exception fails the test; expected refusals are returned as values."""
    if isinstance(result, BaseException) and not isinstance(result, (Conflict, MissingReference, StillReferenced)):
        raise result
    return result


async def test_create_vehicle_races_with_deleting_its_owner(repos):
    for i in range(ROUNDS):
        persona = await repos.personas.create(nombre=f"P{i}", correo=f"p{i}@example.cl")
        created, deleted = await race(
            i,
            repos.vehiculos.create(placa_patente=f"RACE{i:02d}", marca="Fiat", color="Azul", persona_id=persona.id),
            repos.personas.delete(persona.id),
        )
        created, deleted = outcome(created), outcome(deleted)
        # Exactly one of the two wins: either the vehicle exists and its owner too, or neither.
        assert isinstance(created, MissingReference) != isinstance(deleted, StillReferenced), (created, deleted)
    await assert_integrity(repos)


async def test_owner_change_races_with_deleting_the_new_owner(repos):
    for i in range(ROUNDS):
        old = await repos.personas.create(nombre=f"Old{i}", correo=f"old{i}@example.cl")
        new = await repos.personas.create(nombre=f"New{i}", correo=f"new{i}@example.cl")
        vehiculo = await repos.vehiculos.create(placa_patente=f"MOVE{i:02d}", marca="Kia", color="Gris", persona_id=old.id)
        moved, deleted = await race(
            i,
            repos.vehiculos.update(vehiculo.id, placa_patente=vehiculo.placa_patente, marca="Kia", color="Gris", persona_id=new.id),
            repos.personas.delete(new.id),
        )
        moved, deleted = outcome(moved), outcome(deleted)
        assert isinstance(moved, MissingReference) != isinstance(deleted, StillReferenced), (moved, deleted)
        owner = (await repos.vehiculos.get(vehiculo.id)).persona_id
        assert owner == (new.id if deleted is not None else old.id)
    await assert_integrity(repos)


async def test_deleting_a_vehicle_races_with_deleting_its_owner(repos):
    """The owner's delete is refused until the vehicle is gone; the counter ends at zero."""
    for i in range(ROUNDS // 3):
        persona = await repos.personas.create(nombre=f"D{i}", correo=f"d{i}@example.cl")
        vehiculo = await repos.vehiculos.create(placa_patente=f"DELE{i:02d}", marca="VW", color="Negro", persona_id=persona.id)
        results = await race(i, repos.vehiculos.delete(vehiculo.id), repos.personas.delete(persona.id))
        assert results[0] is None
        outcome(results[1])
    await assert_integrity(repos)


@pytest.mark.parametrize(
    "create",
    [
        pytest.param(lambda repos, i, n: repos.personas.create(nombre=f"N{n}", correo=f"Dup{i}@Example.cl"), id="correo"),
        pytest.param(lambda repos, i, n: repos.oficiales.create(nombre=f"N{n}", numero=1000 + i), id="numero"),
    ],
)
async def test_concurrent_duplicates_one_wins(repos, create):
    for i in range(ROUNDS // 2):
        results = [outcome(r) for r in await asyncio.gather(create(repos, i, 1), create(repos, i, 2), return_exceptions=True)]
        conflicts = [r for r in results if isinstance(r, Conflict)]
        assert len(conflicts) == 1, results
        assert conflicts[0].field in ("correo", "numero")


async def test_concurrent_duplicate_plates_one_wins(repos):
    persona = await repos.personas.create(nombre="Dueña", correo="duena@example.cl")
    for i in range(ROUNDS // 2):
        results = await asyncio.gather(
            repos.vehiculos.create(placa_patente=f"dup-{i:03d}", marca="A", color="B", persona_id=persona.id),
            repos.vehiculos.create(placa_patente=f"DUP {i:03d}", marca="C", color="D", persona_id=persona.id),
            return_exceptions=True,
        )
        results = [outcome(r) for r in results]
        conflicts = [r for r in results if isinstance(r, Conflict)]
        assert len(conflicts) == 1, results
        assert conflicts[0].field == "placa_patente"
    assert (await repos.personas.get(persona.id)).n_vehiculos == ROUNDS // 2
    await assert_integrity(repos)
