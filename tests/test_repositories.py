"""Repositories against the real database: CRUD, normalisation, unique fields, referential
integrity (the counters) and search with paging."""

from __future__ import annotations

import datetime as dt

import pytest
from bson import ObjectId

from domain.errors import Conflict, MissingReference, NotFound, StillReferenced
from services.tokens import TokenService
from tests.helpers.app import make_settings, record_infraction



# -- personas ----------------------------------------------------------------------------------


async def test_persona_crud_and_email_normalisation(repos):
    persona = await repos.personas.create(nombre="  Ana Pérez ", correo=" Ana.Perez@Example.CL ")
    assert (persona.nombre, persona.correo, persona.n_vehiculos) == ("Ana Pérez", "ana.perez@example.cl", 0)
    assert await repos.personas.get(persona.id) == persona
    assert (await repos.personas.get_by_email("ANA.PEREZ@example.cl")).id == persona.id

    updated = await repos.personas.update(persona.id, nombre="Ana P.", correo="ANA@example.cl")
    assert (updated.nombre, updated.correo) == ("Ana P.", "ana@example.cl")
    assert await repos.personas.get(persona.id) == updated

    await repos.personas.delete(persona.id)
    with pytest.raises(NotFound):
        await repos.personas.get(persona.id)
    with pytest.raises(NotFound):
        await repos.personas.delete(persona.id)


async def test_persona_duplicate_email_is_a_conflict_on_correo_case_insensitively(repos):
    await repos.personas.create(nombre="Ana", correo="ana@example.cl")
    with pytest.raises(Conflict) as error:
        await repos.personas.create(nombre="Otra Ana", correo="ANA@Example.cl")
    assert error.value.field == "correo"
    assert "correo" in error.value.message

    other = await repos.personas.create(nombre="Beto", correo="beto@example.cl")
    with pytest.raises(Conflict) as error:
        await repos.personas.update(other.id, nombre="Beto", correo="Ana@example.CL")
    assert error.value.field == "correo"
    assert (await repos.personas.get(other.id)).correo == "beto@example.cl"


@pytest.mark.parametrize("bad_id", ["no-es-un-id", "123", "zzzzzzzzzzzzzzzzzzzzzzzz", ""])
async def test_malformed_or_unknown_ids_are_not_found(repos, bad_id):
    for get in (repos.personas.get, repos.vehiculos.get, repos.oficiales.get):
        with pytest.raises(NotFound):
            await get(bad_id)
    with pytest.raises(NotFound):
        await repos.personas.update(bad_id, nombre="X", correo="x@example.cl")
    with pytest.raises(NotFound):
        await repos.vehiculos.delete(bad_id)
    with pytest.raises(NotFound):
        await repos.oficiales.delete(bad_id)


async def test_unknown_well_formed_ids_are_not_found(repos):
    missing = str(ObjectId())
    for operation in (
        repos.personas.get(missing),
        repos.personas.delete(missing),
        repos.vehiculos.get(missing),
        repos.vehiculos.delete(missing),
        repos.vehiculos.update(missing, placa_patente="ABCD12", marca="A", color="B", persona_id=str(ObjectId())),
        repos.oficiales.get(missing),
        repos.oficiales.delete(missing),
        repos.oficiales.update(missing, nombre="X", numero=5, activo=True),
    ):
        with pytest.raises(NotFound):
            await operation


async def test_persona_with_vehicles_cannot_be_deleted_and_the_refusal_lists_the_plates(repos):
    persona = await repos.personas.create(nombre="Ana", correo="ana@example.cl")
    await repos.vehiculos.create(placa_patente="ZZZZ99", marca="Fiat", color="Rojo", persona_id=persona.id)
    await repos.vehiculos.create(placa_patente="AAAA11", marca="Kia", color="Azul", persona_id=persona.id)
    with pytest.raises(StillReferenced) as error:
        await repos.personas.delete(persona.id)
    assert [ref.label for ref in error.value.references] == ["AAAA11", "ZZZZ99"]
    assert all(ref.coleccion == "vehiculos" and ref.id for ref in error.value.references)
    assert "AAAA11" in error.value.message and "ZZZZ99" in error.value.message
    assert (await repos.personas.get(persona.id)).n_vehiculos == 2


# -- vehículos ---------------------------------------------------------------------------------


async def test_vehiculo_crud_normalises_the_plate_and_keeps_the_owner_counter(repos):
    ana = await repos.personas.create(nombre="Ana", correo="ana@example.cl")
    vehiculo = await repos.vehiculos.create(placa_patente=" ab-cd 12 ", marca=" Toyota ", color="Rojo", persona_id=ana.id)
    assert (vehiculo.placa_patente, vehiculo.marca, vehiculo.persona_id) == ("ABCD12", "Toyota", ana.id)
    assert await repos.vehiculos.get(vehiculo.id) == vehiculo
    assert (await repos.personas.get(ana.id)).n_vehiculos == 1
    assert [v.placa_patente for v in await repos.vehiculos.list_by_persona(ana.id)] == ["ABCD12"]

    updated = await repos.vehiculos.update(vehiculo.id, placa_patente="ab.cd.13", marca="Toyota", color="Verde", persona_id=ana.id)
    assert (updated.placa_patente, updated.color) == ("ABCD13", "Verde")
    assert await repos.vehiculos.get(vehiculo.id) == updated
    assert (await repos.personas.get(ana.id)).n_vehiculos == 1

    await repos.vehiculos.delete(vehiculo.id)
    with pytest.raises(NotFound):
        await repos.vehiculos.get(vehiculo.id)
    assert (await repos.personas.get(ana.id)).n_vehiculos == 0
    await repos.personas.delete(ana.id)  # free again


async def test_owner_change_moves_the_counters(repos):
    ana = await repos.personas.create(nombre="Ana", correo="ana@example.cl")
    beto = await repos.personas.create(nombre="Beto", correo="beto@example.cl")
    vehiculo = await repos.vehiculos.create(placa_patente="ABCD12", marca="Fiat", color="Rojo", persona_id=ana.id)

    moved = await repos.vehiculos.update(vehiculo.id, placa_patente="ABCD12", marca="Fiat", color="Rojo", persona_id=beto.id)
    assert moved.persona_id == beto.id
    assert (await repos.personas.get(ana.id)).n_vehiculos == 0
    assert (await repos.personas.get(beto.id)).n_vehiculos == 1
    assert await repos.vehiculos.list_by_persona(ana.id) == []
    await repos.personas.delete(ana.id)
    with pytest.raises(StillReferenced):
        await repos.personas.delete(beto.id)


async def test_vehicle_cannot_point_at_a_missing_persona(repos):
    ana = await repos.personas.create(nombre="Ana", correo="ana@example.cl")
    with pytest.raises(MissingReference) as error:
        await repos.vehiculos.create(placa_patente="ABCD12", marca="Fiat", color="Rojo", persona_id=str(ObjectId()))
    assert error.value.field == "persona"
    assert await repos.vehiculos.count() == 0

    vehiculo = await repos.vehiculos.create(placa_patente="ABCD12", marca="Fiat", color="Rojo", persona_id=ana.id)
    with pytest.raises(MissingReference):
        await repos.vehiculos.update(vehiculo.id, placa_patente="ABCD12", marca="Fiat", color="Rojo", persona_id=str(ObjectId()))
    assert (await repos.vehiculos.get(vehiculo.id)).persona_id == ana.id
    assert (await repos.personas.get(ana.id)).n_vehiculos == 1


async def test_duplicate_plate_is_a_conflict_and_leaves_the_counters_alone(repos):
    ana = await repos.personas.create(nombre="Ana", correo="ana@example.cl")
    beto = await repos.personas.create(nombre="Beto", correo="beto@example.cl")
    await repos.vehiculos.create(placa_patente="ABCD12", marca="Fiat", color="Rojo", persona_id=ana.id)
    with pytest.raises(Conflict) as error:
        await repos.vehiculos.create(placa_patente="ab-cd-12", marca="Kia", color="Azul", persona_id=beto.id)
    assert error.value.field == "placa_patente"

    other = await repos.vehiculos.create(placa_patente="WXYZ98", marca="Kia", color="Azul", persona_id=beto.id)
    with pytest.raises(Conflict) as error:
        await repos.vehiculos.update(other.id, placa_patente="abcd12", marca="Kia", color="Azul", persona_id=ana.id)
    assert error.value.field == "placa_patente"
    assert (await repos.vehiculos.get(other.id)).persona_id == beto.id
    assert (await repos.personas.get(ana.id)).n_vehiculos == 1
    assert (await repos.personas.get(beto.id)).n_vehiculos == 1


async def test_vehicle_and_officer_with_infracciones_cannot_be_deleted(repos):
    ana = await repos.personas.create(nombre="Ana", correo="ana@example.cl")
    vehiculo = await repos.vehiculos.create(placa_patente="ABCD12", marca="Fiat", color="Rojo", persona_id=ana.id)
    oficial = await repos.oficiales.create(nombre="Juan Soto", numero=42)
    await record_infraction(repos, numero=42, placa="ABCD12")

    with pytest.raises(StillReferenced) as error:
        await repos.vehiculos.delete(vehiculo.id)
    assert "ABCD12" in error.value.message and "1 infracción" in error.value.message
    with pytest.raises(StillReferenced) as error:
        await repos.oficiales.delete(oficial.id)
    assert "desactivarlo" in error.value.message
    # The persona's vehicle is still there, and she is named in an infraction.
    with pytest.raises(StillReferenced):
        await repos.personas.delete(ana.id)
    assert (await repos.vehiculos.get(vehiculo.id)).n_infracciones == 1
    assert (await repos.oficiales.get(oficial.id)).n_infracciones == 1


async def test_former_owner_named_in_an_infraction_cannot_be_deleted(repos):
    ana = await repos.personas.create(nombre="Ana", correo="ana@example.cl")
    beto = await repos.personas.create(nombre="Beto", correo="beto@example.cl")
    vehiculo = await repos.vehiculos.create(placa_patente="ABCD12", marca="Fiat", color="Rojo", persona_id=ana.id)
    await repos.oficiales.create(nombre="Juan Soto", numero=42)
    await record_infraction(repos, numero=42, placa="ABCD12")
    await repos.vehiculos.update(vehiculo.id, placa_patente="ABCD12", marca="Fiat", color="Rojo", persona_id=beto.id)
    with pytest.raises(StillReferenced) as error:
        await repos.personas.delete(ana.id)
    assert "infracciones" in error.value.message


# -- oficiales ---------------------------------------------------------------------------------


async def test_oficial_crud_and_duplicate_numero(repos):
    oficial = await repos.oficiales.create(nombre=" Juan Soto ", numero=42)
    assert (oficial.nombre, oficial.numero, oficial.activo) == ("Juan Soto", 42, True)
    assert await repos.oficiales.get(oficial.id) == oficial
    assert (await repos.oficiales.get_by_numero(42)).id == oficial.id

    with pytest.raises(Conflict) as error:
        await repos.oficiales.create(nombre="Otro", numero=42)
    assert error.value.field == "numero"
    other = await repos.oficiales.create(nombre="Otro", numero=43)
    with pytest.raises(Conflict) as error:
        await repos.oficiales.update(other.id, nombre="Otro", numero=42, activo=True)
    assert error.value.field == "numero"

    updated = await repos.oficiales.update(oficial.id, nombre="Juan S.", numero=44, activo=True)
    assert (updated.nombre, updated.numero) == ("Juan S.", 44)
    assert await repos.oficiales.get(oficial.id) == updated
    await repos.oficiales.delete(oficial.id)
    with pytest.raises(NotFound):
        await repos.oficiales.get(oficial.id)


async def test_deactivating_an_officer_kills_its_tokens(repos):
    oficial = await repos.oficiales.create(nombre="Juan Soto", numero=42)
    service = TokenService(make_settings().jwt_secret)
    first = await service.issue(repos, numero=42, label="tablet")
    second = await service.issue(repos, numero=42)
    doc = await repos.oficiales.collection.find_one({"numero": 42})
    assert sorted(doc["token_jtis"]) == sorted([first.record.jti, second.record.jti])

    inactive = await repos.oficiales.set_active(oficial.id, False)
    assert inactive.activo is False
    assert (await repos.oficiales.collection.find_one({"numero": 42}))["token_jtis"] == []
    now = dt.datetime.now(dt.timezone.utc)
    records = await repos.tokens.list_for_officer(oficial.id)
    assert [r.status(now) for r in records] == ["revocado", "revocado"]
    assert {r.motivo_revocacion for r in records} == {"oficial desactivado"}
    with pytest.raises(NotFound):
        await service.issue(repos, numero=42)
    # Reactivating does not bring the old tokens back.
    await repos.oficiales.set_active(oficial.id, True)
    assert (await repos.oficiales.collection.find_one({"numero": 42}))["token_jtis"] == []


async def test_deleting_an_officer_revokes_its_tokens(repos):
    oficial = await repos.oficiales.create(nombre="Juan Soto", numero=42)
    await TokenService(make_settings().jwt_secret).issue(repos, numero=42)
    await repos.oficiales.delete(oficial.id)
    [record] = await repos.tokens.list_for_officer(oficial.id)
    assert record.status(dt.datetime.now(dt.timezone.utc)) == "revocado"
    assert record.motivo_revocacion == "oficial borrado"


# -- search and paging -------------------------------------------------------------------------


async def test_search_and_paging(repos):
    for i in range(45):
        await repos.personas.create(nombre=f"Persona {i:02d}", correo=f"p{i:02d}@example.cl")
    await repos.personas.create(nombre="Zoe (a.b)", correo="zoe@otro.cl")

    first = await repos.personas.search(page=1, per_page=20)
    assert (first.total, first.pages, first.page) == (46, 3, 1)
    assert [p.nombre for p in first.items][:2] == ["Persona 00", "Persona 01"]
    last = await repos.personas.search(page=3, per_page=20)
    assert [p.nombre for p in last.items] == ["Persona 40", "Persona 41", "Persona 42", "Persona 43", "Persona 44", "Zoe (a.b)"]
    beyond = await repos.personas.search(page=9, per_page=20)  # clamped to the last page
    assert beyond.page == 3 and beyond.items == last.items and beyond.total == 46

    assert (await repos.personas.search(q="OTRO.CL")).total == 1
    assert (await repos.personas.search(q="persona 1")).total == 10
    # Search text is words, not a regular expression.
    assert [p.nombre for p in (await repos.personas.search(q="(a.b)")).items] == ["Zoe (a.b)"]
    assert (await repos.personas.search(q=".*")).total == 46  # no word at all: everyone
    empty = await repos.personas.search(q="nadie")
    assert (empty.total, empty.pages, empty.items) == (0, 1, [])


async def test_vehicle_and_officer_search(repos):
    ana = await repos.personas.create(nombre="Ana", correo="ana@example.cl")
    await repos.vehiculos.create(placa_patente="ABCD12", marca="Toyota", color="Rojo", persona_id=ana.id)
    await repos.vehiculos.create(placa_patente="XYZW34", marca="Fiat", color="Azul", persona_id=ana.id)
    assert [v.placa_patente for v in (await repos.vehiculos.search(q="ab-cd")).items] == ["ABCD12"]
    assert [v.placa_patente for v in (await repos.vehiculos.search(q="azul")).items] == ["XYZW34"]
    assert [v.placa_patente for v in (await repos.vehiculos.search(q="toyo")).items] == ["ABCD12"]

    await repos.oficiales.create(nombre="Juan Soto", numero=42)
    await repos.oficiales.create(nombre="María 42 Díaz", numero=7)
    await repos.oficiales.create(nombre="Pedro", numero=420)
    assert [o.numero for o in (await repos.oficiales.search(q="42")).items] == [7, 42, 420]  # words that begin with 42
    assert [o.numero for o in (await repos.oficiales.search(q="soto")).items] == [42]
    assert (await repos.oficiales.search()).total == 3


# -- admins ------------------------------------------------------------------------------------


async def test_admin_password_set_authenticate_and_reset(repos):
    admin, created = await repos.admins.set_password(username=" Root ", password="una-clave-larga-1")
    assert created and admin.username == "root"
    assert await repos.admins.authenticate(username="ROOT", password="una-clave-larga-1") == admin
    assert await repos.admins.authenticate(username="root", password="otra-clave") is None
    assert await repos.admins.authenticate(username="nadie", password="una-clave-larga-1") is None
    doc = await repos.admins.collection.find_one({"username": "root"})
    assert doc["password_hash"].startswith("$argon2") and "una-clave-larga-1" not in doc["password_hash"]

    session = await repos.sesiones.open(admin_id=admin.id, username=admin.username, client="127.0.0.1")
    reset, created = await repos.admins.set_password(username="root", password="una-clave-larga-2")
    assert not created and reset == admin
    assert await repos.sesiones.touch(session) is None  # the reset ended the open session
    assert await repos.admins.authenticate(username="root", password="una-clave-larga-1") is None
    assert not await repos.admins.create_if_missing(username="root", password="x" * 12)
    assert (await repos.admins.authenticate(username="root", password="una-clave-larga-2")).id == admin.id


async def test_changing_the_badge_number_revokes_the_tokens_that_carry_the_old_one(repos):
    """A token's subject is the número: after a change it can no longer work, so it must not
    be listed as valid."""
    oficial = await repos.oficiales.create(nombre="Juan Soto", numero=42)
    await TokenService(make_settings().jwt_secret).issue(repos, numero=42)
    await repos.oficiales.update(oficial.id, nombre="Juan Soto", numero=43, activo=True)
    [record] = await repos.tokens.list_for_officer(oficial.id)
    assert record.status(dt.datetime.now(dt.timezone.utc)) == "revocado"
    assert (await repos.oficiales.collection.find_one({"numero": 43}))["token_jtis"] == []
    # A rename alone keeps them.
    await TokenService(make_settings().jwt_secret).issue(repos, numero=43)
    await repos.oficiales.update(oficial.id, nombre="Juan Soto R.", numero=43, activo=True)
    assert len((await repos.oficiales.collection.find_one({"numero": 43}))["token_jtis"]) == 1
