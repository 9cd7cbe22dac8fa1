"""Referential integrity and uniqueness under concurrency: the repository operations are run
against each other with asyncio.gather many times on the real database, and afterwards no vehicle
points at a missing persona and every persona's ``n_vehiculos`` equals its real vehicle count."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from bson import ObjectId

from repositories import Repositories
from domain.errors import Conflict, MissingReference, StillReferenced
from services.tokens import TokenService
from tests.helpers.app import client_meeting_fail_point
from tests.helpers.commands import Recorder

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


async def test_infraction_in_flight_keeps_the_former_owner_from_being_deleted(repos, mongo_uri):
    """An infraction names the vehicle's owner at the time. If the vehicle is transferred and
    the former owner deleted while that infraction is still being written, the infraction would
    name a persona who no longer exists: the delete must be refused until it settles."""
    ana = await repos.personas.create(nombre="Ana", correo="ana.vende@example.cl")
    beto = await repos.personas.create(nombre="Beto", correo="beto.compra@example.cl")
    vehiculo = await repos.vehiculos.create(placa_patente="RACE11", marca="Kia", color="Gris", persona_id=ana.id)
    await repos.oficiales.create(nombre="Carla", numero=9191)
    issued = await TokenService("j" * 48).issue(repos, numero=9191)
    jti = TokenService("j" * 48).decode(issued.token).jti

    hold_insert = {"failCommands": ["insert"], "blockConnection": True, "blockTimeMS": 800}
    async with client_meeting_fail_point(mongo_uri, "slow-insert", **hold_insert) as slow_client:
        slow = Repositories.over(slow_client[repos.db.name])
        recording = asyncio.create_task(
            slow.infracciones.record(
                numero_oficial=9191, jti=jti, placa_patente="RACE11",
                timestamp=dt.datetime.now(dt.timezone.utc).replace(microsecond=0), comentarios="",
            )
        )
        deadline = asyncio.get_running_loop().time() + 5
        while (await repos.vehiculos.get(vehiculo.id)).n_infracciones == 0:  # announced, insert held up
            assert asyncio.get_running_loop().time() < deadline, "the infraction was never announced"
            await asyncio.sleep(0.01)
        await repos.vehiculos.update(vehiculo.id, placa_patente="RACE11", marca="Kia", color="Gris", persona_id=beto.id)
        with pytest.raises(StillReferenced, match="Intente nuevamente"):
            await repos.personas.delete(ana.id)
        infraccion, created = await recording
    assert created
    doc = await repos.db["infracciones"].find_one({"_id": ObjectId(infraccion.id)})
    assert doc["persona_id"] == ObjectId(ana.id)
    # Settled now, but she is named in an infraction: still refused, for good.
    with pytest.raises(StillReferenced, match="en infracciones registradas"):
        await repos.personas.delete(ana.id)
    assert (await repos.personas.get(ana.id)).nombre == "Ana"


async def test_former_owner_without_infractions_in_flight_can_be_deleted(repos):
    ana = await repos.personas.create(nombre="Ana", correo="ana.libre@example.cl")
    beto = await repos.personas.create(nombre="Beto", correo="beto.libre@example.cl")
    vehiculo = await repos.vehiculos.create(placa_patente="FREE11", marca="Kia", color="Gris", persona_id=ana.id)
    await repos.vehiculos.update(vehiculo.id, placa_patente="FREE11", marca="Kia", color="Gris", persona_id=beto.id)
    await repos.personas.delete(ana.id)
    await assert_integrity(repos)


async def test_deactivating_an_officer_keeps_a_rename_saved_meanwhile(repos, mongo_uri):
    """The activation button must write only the flag: an edit of the name that lands while the
    deactivation is on its way is kept, and the deactivation still revokes the tokens."""
    oficial = await repos.oficiales.create(nombre="Nombre Antiguo", numero=7373)
    await TokenService("j" * 48).issue(repos, numero=7373)
    sent = Recorder()
    hold_write = {"failCommands": ["findAndModify"], "blockConnection": True, "blockTimeMS": 800}
    async with client_meeting_fail_point(mongo_uri, "slow-activation", listeners=(sent,), **hold_write) as slow_client:
        slow = Repositories.over(slow_client[repos.db.name])
        deactivating = asyncio.create_task(slow.oficiales.set_active(oficial.id, False))
        deadline = asyncio.get_running_loop().time() + 5
        while "findAndModify" not in sent.names():  # the deactivation's write is on its way, held up
            assert asyncio.get_running_loop().time() < deadline, "the deactivation never wrote"
            await asyncio.sleep(0.01)
        await repos.oficiales.update(oficial.id, nombre="Nombre Nuevo", numero=7373, activo=True)
        await deactivating
    final = await repos.oficiales.get(oficial.id)
    assert (final.nombre, final.activo) == ("Nombre Nuevo", False)
    assert (await repos.oficiales.collection.find_one({"numero": 7373}))["token_jtis"] == []
