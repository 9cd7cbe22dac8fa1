"""Referential integrity and uniqueness under concurrency: the repository operations are run
against each other with asyncio.gather many times on the real database, and afterwards no vehicle
points at a missing persona, no infraction at a missing officer or vehicle, and every counter
(``n_vehiculos``, ``n_infracciones``) equals the real number of records that count on it.

Every delete guard has its race here: persona delete vs vehicle creation and transfer, officer
delete vs recording, vehicle delete vs recording. Each was checked to fail with its guard made
non-atomic (read, then delete): the patches are in ``mutation/guards/`` and ``make mutation``
applies each one and runs its race (see mutation/README.md)."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess

import pytest
from bson import ObjectId

from repositories import Repositories
from domain.errors import Conflict, CredentialNotLive, MissingReference, NotFound, StillReferenced
from services.tokens import TokenService
from tests.helpers.app import ROOT, client_meeting_fail_point, record_infraction
from tests.helpers.commands import Recorder

ROUNDS = 30
RECORDINGS = 4  # per round in the delete-vs-recording races


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


EXPECTED_REFUSALS = (Conflict, MissingReference, StillReferenced, CredentialNotLive, NotFound)


def outcome(result: object) -> object:
    """An unexpected exception fails the test; expected refusals are returned as values."""
    if isinstance(result, BaseException) and not isinstance(result, EXPECTED_REFUSALS):
        raise result
    return result


async def assert_infractions_keep_their_references(repos) -> None:
    """No infraction names a missing officer or vehicle, and each officer's and vehicle's
    ``n_infracciones`` equals the infractions that name it (a refused recording gives its
    counters back)."""
    oficiales = {doc["_id"]: doc["n_infracciones"] async for doc in repos.oficiales.collection.find({})}
    vehiculos = {doc["_id"]: doc["n_infracciones"] async for doc in repos.vehiculos.collection.find({})}
    by_oficial: dict = {}
    by_vehiculo: dict = {}
    async for doc in repos.infracciones.collection.find({}):
        assert doc["oficial_id"] in oficiales, f"infraction {doc['_id']} names a deleted officer"
        assert doc["vehiculo_id"] in vehiculos, f"infraction {doc['_id']} names a deleted vehicle {doc['placa_patente']}"
        by_oficial[doc["oficial_id"]] = by_oficial.get(doc["oficial_id"], 0) + 1
        by_vehiculo[doc["vehiculo_id"]] = by_vehiculo.get(doc["vehiculo_id"], 0) + 1
    assert {k: v for k, v in oficiales.items() if v} == by_oficial
    assert {k: v for k, v in vehiculos.items() if v} == by_vehiculo


def recording(repos, numero: int, jti: str, placa: str, i: int, n: int = 0):
    """The API's write for one infraction; distinct timestamps, so no two are the same observation."""
    return repos.infracciones.record(
        numero_oficial=numero,
        jti=jti,
        placa_patente=placa,
        timestamp=dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=i, seconds=n),
        comentarios="",
    )


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


def staggered(round_number: int, operations: list) -> asyncio.Future:
    """Run ``operations`` at once, each started a few milliseconds after the previous one, the
    first of them 0 to 3 ms late and the order rotated every round: over the rounds each
    operation's commands land before, between and after the others' (asyncio's timers have
    millisecond resolution, so the offsets are whole milliseconds)."""

    async def later(delay: float, operation):
        await asyncio.sleep(delay)
        return await operation

    count = len(operations)
    start = round_number % 4
    delays = [(start + (k + round_number) % count) * 0.001 for k in range(count)]
    return asyncio.gather(*(later(d, op) for d, op in zip(delays, operations, strict=True)), return_exceptions=True)


def both_won(deleted: object, recorded: list[object], refusal: type) -> bool:
    """Whether a delete and a recording both went through in one round. Exactly one side must win:
    a delete that lands first makes every recording fail with ``refusal``; a count that lands first
    makes the delete fail with StillReferenced, and then every recording lands."""
    refused = [isinstance(r, refusal) for r in recorded]
    if isinstance(deleted, StillReferenced):
        return any(refused)  # not both won, but not a valid outcome either: reported the same way
    return deleted is None and not all(refused)


async def test_deleting_an_officer_races_with_recording_by_it(repos):
    """Recording counts the infraction on the officer (with the token check) before it writes it;
    the delete is one conditional ``delete_one({_id, n_infracciones: 0})``. So either the delete
    lands first (the recording finds no live token: CredentialNotLive) or the count does (the
    delete is refused: StillReferenced), never both. Four recordings per round meet the delete at
    different points. With the guard made read-then-delete
    (``mutation/guards/oficial-read-then-delete.patch``) rounds are lost and infractions name a
    deleted officer: 8 runs with the patch applied all failed, 4 to 9 of the 30 rounds lost each."""
    persona = await repos.personas.create(nombre="Dueña", correo="duena.oficial@example.cl")
    await repos.vehiculos.create(placa_patente="RACEOF", marca="Kia", color="Gris", persona_id=persona.id)
    tokens = TokenService("j" * 48, repos.clock)
    lost = []
    for i in range(ROUNDS):
        oficial = await repos.oficiales.create(nombre=f"O{i}", numero=5000 + i)
        jti = (await tokens.issue(repos, numero=oficial.numero)).record.jti
        operations = [recording(repos, oficial.numero, jti, "RACEOF", i, n) for n in range(RECORDINGS)]
        results = [outcome(r) for r in await staggered(i, [*operations, repos.oficiales.delete(oficial.id)])]
        if both_won(results[-1], results[:-1], CredentialNotLive):
            lost.append((i, results))
    assert not lost, f"{len(lost)} of {ROUNDS} rounds let both the delete and a recording through: {[i for i, _ in lost]}; the first: {lost[0][1]}"
    await assert_infractions_keep_their_references(repos)


async def test_deleting_a_vehicle_races_with_recording_on_it(repos):
    """Recording counts the infraction on the vehicle before it writes it; the delete is a
    ``find_one_and_delete({_id, n_infracciones: 0})`` in a transaction with the owner's counter.
    Either the delete lands first (the recording finds no such plate: NotFound, and gives the
    officer's count back) or the count does (the delete is refused), never both. With the guard
    made read-then-delete (``mutation/guards/vehiculo-read-then-delete.patch``) rounds are lost
    and infractions name a deleted vehicle (4 runs with the patch applied all failed, 7 to 10 of
    the 30 rounds lost each). Reading the counter INSIDE the transaction and then deleting is not a
    broken guard: the transaction's snapshot makes the recording's concurrent ``$inc`` a
    WriteConflict (TransientTransactionError), the driver runs the transaction again, and the
    second reading sees the count (checked: 30 rounds, 30 aborted attempts, no round lost)."""
    persona = await repos.personas.create(nombre="Dueño", correo="dueno.vehiculo@example.cl")
    oficial = await repos.oficiales.create(nombre="Carla", numero=6000)
    jti = (await TokenService("j" * 48, repos.clock).issue(repos, numero=oficial.numero)).record.jti
    lost = []
    for i in range(ROUNDS):
        placa = f"RACV{i:02d}"
        vehiculo = await repos.vehiculos.create(placa_patente=placa, marca="Kia", color="Gris", persona_id=persona.id)
        operations = [recording(repos, oficial.numero, jti, placa, i, n) for n in range(RECORDINGS)]
        results = [outcome(r) for r in await staggered(i, [*operations, repos.vehiculos.delete(vehiculo.id)])]
        if both_won(results[-1], results[:-1], NotFound):
            lost.append((i, results))
    assert not lost, f"{len(lost)} of {ROUNDS} rounds let both the delete and a recording through: {[i for i, _ in lost]}; the first: {lost[0][1]}"
    await assert_infractions_keep_their_references(repos)
    await assert_integrity(repos)  # and the owner's n_vehiculos counts what is left


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
    # another vehicle, stored first, with one infraction written (nothing in flight): the check
    # must look at the vehicle that was transferred, not at any vehicle
    await repos.vehiculos.create(placa_patente="BYST11", marca="Fiat", color="Azul", persona_id=beto.id)
    vehiculo = await repos.vehiculos.create(placa_patente="RACE11", marca="Kia", color="Gris", persona_id=ana.id)
    await repos.oficiales.create(nombre="Carla", numero=9191)
    await record_infraction(repos, numero=9191, placa="BYST11")
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


@pytest.mark.parametrize("patch", sorted((ROOT / "mutation" / "guards").glob("*.patch")), ids=lambda path: path.stem)
def test_each_guard_patch_still_applies_to_today_s_code(patch):
    """``make mutation`` proves each race test above by applying a patch that makes its guard
    non-atomic; a patch that no longer applies (the code moved on) would stop that proof."""
    checked = subprocess.run(["git", "apply", "--check", str(patch)], cwd=ROOT, capture_output=True, text=True)
    assert checked.returncode == 0, f"{patch.name} no longer applies: rewrite it for today's code\n{checked.stderr}"
