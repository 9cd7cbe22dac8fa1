"""Repositories against the real database: CRUD, normalisation, unique fields, referential
integrity (the counters) and search with paging."""

from __future__ import annotations

import datetime as dt

import pytest
from bson import ObjectId

from domain.audit import Actor
from domain.clock import FixedClock
from domain.errors import Conflict, InvalidValue, MissingReference, NotFound, StillReferenced
from domain.rules import ETIQUETA_MAX, MAX_BADGE_NUMBER, NOMBRE_MAX
from repositories.bulk import BulkLoader
from repositories.tokens import TokenRecord
from services.demo_data import DemoData
from services.tokens import TokenService
from repositories import Repositories, paging, vehiculos
from tests.helpers.app import (
    TRANSIENT_ERROR, assert_a_failed_commit_changes_nothing, client_meeting_fail_point, make_settings, record_infraction,
)
from tests.helpers.commands import Recorder



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
    assert error.value.message == (
        "No se puede borrar a Ana: todavía tiene 2 vehículos a su nombre: AAAA11, ZZZZ99. Transfiéralos a otra persona o bórrelos primero."
    )
    assert (await repos.personas.get(persona.id)).n_vehiculos == 2


async def test_a_persona_edit_whose_commit_fails_changes_neither_her_nor_her_vehicles(repos, db, mongo_uri):
    """Her new name, its entry and her vehicles' search terms are one transaction: none of them stays."""
    persona = await repos.personas.create(nombre="Ana", correo="ana@example.cl")
    await repos.vehiculos.create(placa_patente="EDIT01", marca="Kia", color="Gris", persona_id=persona.id)
    edit = {"nombre": "Ana María", "correo": "ana.maria@example.cl"}
    await assert_a_failed_commit_changes_nothing(db, mongo_uri, lambda faulty: faulty.personas.edit(persona.id, **edit))


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
    assert (error.value.field, error.value.message) == ("persona", "La persona propietaria no existe.")
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


async def test_the_delete_refusals_say_how_many_infractions_and_link_them(repos):
    ana = await repos.personas.create(nombre="Ana", correo="ana@example.cl")
    vehiculo = await repos.vehiculos.create(placa_patente="ABCD12", marca="Fiat", color="Rojo", persona_id=ana.id)
    oficial = await repos.oficiales.create(nombre="Juan Soto", numero=42)
    for minutes in (1, 2):
        await record_infraction(repos, numero=42, placa="ABCD12", timestamp=dt.datetime(2026, 11, 1, 12, minutes, tzinfo=dt.timezone.utc))
    with pytest.raises(StillReferenced) as vehicle:
        await repos.vehiculos.delete(vehiculo.id)
    assert vehicle.value.message == (
        "No se puede borrar el vehículo ABCD12: tiene 2 infracciones registradas, que son registros legales. "
        "Si cambió de dueño, edítelo y elija a la nueva persona propietaria."
    )
    with pytest.raises(StillReferenced) as officer:
        await repos.oficiales.delete(oficial.id)
    assert officer.value.message == (
        "No se puede borrar al oficial N° 42: registró 2 infracciones, que son registros legales. "
        "Puede desactivarlo en su lugar: sus tokens dejan de valer y sus infracciones se conservan."
    )
    assert [(r.label, r.filters) for r in vehicle.value.references + officer.value.references] == [
        ("Ver sus infracciones", {"placa": "ABCD12"}), ("Ver sus infracciones", {"oficial": "42"}),
    ]


def test_a_token_is_expired_from_the_instant_it_expires():
    now = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.timezone.utc)
    record = TokenRecord("t", "j", "", now - dt.timedelta(days=1), expira_en=now, revocado_en=None, motivo_revocacion=None)
    assert (record.status(now - dt.timedelta(milliseconds=1)), record.status(now)) == ("vigente", "expirado")


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


async def test_the_former_owner_of_a_vehicle_whose_infraction_is_being_recorded_is_refused_before_any_button(repos):
    """An infraction announced on the vehicle (its counter taken, the infraction not yet written)
    when it was transferred: the confirmation page refuses her delete, and only hers."""
    nadie = await repos.personas.create(nombre="Carla", correo="carla@example.cl")
    ana = await repos.personas.create(nombre="Ana", correo="ana@example.cl")
    beto = await repos.personas.create(nombre="Beto", correo="beto@example.cl")
    vehiculo = await repos.vehiculos.create(placa_patente="ABCD12", marca="Fiat", color="Rojo", persona_id=ana.id)
    await repos.vehiculos.count_infraction("ABCD12")  # what recording does first
    await repos.vehiculos.update(vehiculo.id, placa_patente="ABCD12", marca="Fiat", color="Rojo", persona_id=beto.id)
    refusal = await repos.personas.delete_refusal(ana.id)
    assert refusal.message == (
        "No se puede borrar todavía: se está registrando una infracción de un vehículo que le perteneció. "
        "Intente nuevamente en unos segundos."
    )
    assert await repos.personas.delete_refusal(nadie.id) is None

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
    for blank_or_too_long in ("   ", "x" * (NOMBRE_MAX + 1)):
        with pytest.raises(InvalidValue) as error:
            await repos.oficiales.create(nombre=blank_or_too_long, numero=45)
        assert error.value.field == "nombre"

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


async def paging_probe(db, values: tuple[int, ...], *, descending: bool = False) -> tuple:
    """A collection of documents ``{"n": value}`` (ids ascending as inserted) with an (n, _id)
    index, and its documents in the order (n, then _id) that keyset pages must follow."""
    collection = db["paging_probe"]
    await collection.create_index([("n", 1), ("_id", 1)], name="n_id")
    await collection.insert_many([{"n": n} for n in values])
    everything = sorted(await collection.find().to_list(None), key=lambda doc: (doc["n"], doc["_id"]), reverse=descending)
    return collection, everything


@pytest.mark.parametrize("descending", [False, True], ids=["ascending", "descending"])
async def test_keyset_pages_walked_either_way_show_every_row_once_in_order(db, descending):
    """Rows whose sort values tie, and whose ids run against the sort: following the "after" links
    from the first page, or the "before" links back from the last, shows each row once, in the
    order (sort value, then id), so a tie split across two pages loses nothing."""
    collection, everything = await paging_probe(db, (3, 1, 2, 2, 2, 1, 3), descending=descending)
    sort = paging.Sort("n", "n", descending, int)
    pages = 4  # 7 rows, 2 a page

    async def page(number: int, cursor: paging.Cursor | None) -> list[dict]:
        docs, shown = await paging.fetch_page(collection, query={}, sort=sort, per_page=2, total=7, hint="n_id", page=number, cursor=cursor)
        assert shown == number
        return docs

    forward = [await page(1, None)]
    for number in range(2, pages + 1):
        forward.append(await page(number, paging.Cursor("after", "n", *paging.row_key(forward[-1][-1], sort))))
    backward = [await page(pages, paging.Cursor("last", "n"))]
    for number in range(pages - 1, 0, -1):
        backward.insert(0, await page(number, paging.Cursor("before", "n", *paging.row_key(backward[0][0], sort))))
    assert sum(forward, []) == everything
    assert sum(backward, []) == everything
    assert [len(rows) for rows in forward] == [len(rows) for rows in backward] == [2, 2, 2, 1]  # the last page holds the rest
    # A cursor whose rows have gone (deleted meanwhile): the end it was heading to.
    beyond = paging.Cursor("after", "n", 99 if not descending else -99, ObjectId())
    assert await paging.fetch_page(collection, query={}, sort=sort, per_page=2, total=7, hint="n_id", page=3, cursor=beyond) == (everything[6:], 4)
    before = paging.Cursor("before", "n", -99 if not descending else 99, ObjectId())
    assert await paging.fetch_page(collection, query={}, sort=sort, per_page=2, total=7, hint="n_id", page=2, cursor=before) == (everything[:2], 1)
    low = [doc for doc in everything if doc["n"] <= 2]  # and within the list's filters
    filtered = await paging.fetch_page(collection, query={"n": {"$lte": 2}}, sort=sort, per_page=2, total=5, hint="n_id", page=2, cursor=beyond)
    assert filtered == (low[4:], 3)


@pytest.mark.parametrize("descending", [False, True], ids=["ascending", "descending"])
async def test_a_page_asked_by_its_number_shows_the_rows_of_that_page(db, descending):
    """A number typed in the URL has no cursor: it is served by skipping from the nearer end, and
    shows the same rows as walking there (11 rows, 2 a page: the last page holds one)."""
    collection, everything = await paging_probe(db, (5, 1, 4, 4, 2, 3, 1, 5, 2, 3, 4), descending=descending)
    sort = paging.Sort("n", "n", descending, int)
    for number in range(1, 7):
        docs, shown = await paging.fetch_page(collection, query={}, sort=sort, per_page=2, total=11, hint="n_id", page=number)
        assert (docs, shown) == (everything[(number - 1) * 2 : number * 2], number), number


async def test_a_page_past_the_end_of_a_one_page_list_is_its_only_page(db):
    collection, _ = await paging_probe(db, (1, 2, 3))
    for asked in (1, 2, 9):
        docs, shown = await paging.fetch_page(collection, query={}, sort=paging.Sort("n", "n", False, int), per_page=5, total=3, hint="n_id", page=asked)
        assert ([doc["n"] for doc in docs], shown) == ([1, 2, 3], 1)


async def test_vehicles_are_listed_in_the_order_asked(repos):
    ana = await repos.personas.create(nombre="Ana", correo="ana.orden@example.cl")
    for placa, marca in (("BBBB11", "Kia"), ("CCCC22", "Audi"), ("DDDD33", "Fiat")):
        await repos.vehiculos.create(placa_patente=placa, marca=marca, color="Rojo", persona_id=ana.id)

    async def plates(key: str) -> list[str]:
        return [v.placa_patente for v in (await repos.vehiculos.search(sort=vehiculos.LIST.sort(key))).items]

    assert await plates("placa_asc") == ["BBBB11", "CCCC22", "DDDD33"]
    assert await plates("placa_desc") == ["DDDD33", "CCCC22", "BBBB11"]
    assert await plates("marca_asc") == ["CCCC22", "DDDD33", "BBBB11"]  # Audi, Fiat, Kia
    assert await plates("marca_desc") == ["BBBB11", "DDDD33", "CCCC22"]


@pytest.mark.parametrize(
    "page,pages,shown",
    [
        (1, 1, [1]),
        (1, 40, [1, 2, 3, None, 40]),
        (3, 40, [1, 2, 3, 4, 5, None, 40]),
        (4, 40, [1, 2, 3, 4, 5, 6, None, 40]),
        (5, 40, [1, None, 3, 4, 5, 6, 7, None, 40]),  # a gap of a single page is a gap too
        (7, 40, [1, None, 5, 6, 7, 8, 9, None, 40]),
        (38, 40, [1, None, 36, 37, 38, 39, 40]),
        (40, 40, [1, None, 38, 39, 40]),
    ],
)
def test_page_numbers_show_both_ends_and_two_pages_each_side_with_gaps_marked(page, pages, shown):
    sort = paging.Sort("n", "n", False, int)
    assert paging.KeysetPage([], pages * 10, page, 10, sort, None, None).numbers() == shown


def test_page_links_carry_a_cursor_to_the_near_pages_and_to_the_last_one():
    """From page 5 of 40: pages up to two away are reached from the first or last row shown (the
    cursor skips the pages in between); page 1 needs no cursor, the last is the first page of the
    reversed order; farther pages have no cursor and are served by skipping."""
    sort = paging.Sort("n", "n", False, int)
    first, last = (41, ObjectId()), (50, ObjectId())
    page = paging.KeysetPage([], 400, 5, 10, sort, first, last)
    cursor = paging.Cursor
    assert page.link(1) == page.link(0) == paging.Link(1, None)
    assert page.link(40) == page.link(41) == paging.Link(40, cursor("last", "n").encode())
    assert page.link(6) == paging.Link(6, cursor("after", "n", *last).encode())
    assert page.link(7) == paging.Link(7, cursor("after", "n", *last, skip=10).encode())
    assert page.link(4) == paging.Link(4, cursor("before", "n", *first).encode())
    assert page.link(3) == paging.Link(3, cursor("before", "n", *first, skip=10).encode())
    assert page.link(8) == paging.Link(8, None) and page.link(2) == paging.Link(2, None)
    assert page.link(5) == paging.Link(5, None)  # the page shown is not a link to itself
    empty = paging.KeysetPage([], 400, 5, 10, sort, None, None)
    assert empty.link(6) == paging.Link(6, None) and empty.link(4) == paging.Link(4, None)


def test_a_cursor_comes_back_from_its_url_form_or_not_at_all():
    sort = paging.Sort("n", "n", False, int)
    for made in (paging.Cursor("after", "n", 3, ObjectId(), skip=20), paging.Cursor("before", "n", 0, ObjectId()), paging.Cursor("last", "n")):
        encoded = made.encode()
        assert "=" not in encoded and paging.Cursor.decode(encoded, sort, per_page=10) == made
    by_time = paging.Sort("t", "t", True, dt.datetime)
    at = paging.Cursor("after", "t", dt.datetime(2026, 11, 10, 15, 0, 0, 123000, tzinfo=dt.timezone.utc), ObjectId())
    assert paging.Cursor.decode(at.encode(), by_time, per_page=10) == at  # a time comes back aware, in UTC
    assert paging.Cursor.decode(paging.Cursor("after", "otra", 3, ObjectId()).encode(), sort, per_page=10) is None  # another order's
    assert paging.Cursor.decode(paging.Cursor("after", "n", 3, ObjectId(), skip=21).encode(), sort, per_page=10) is None  # skips too far
    assert paging.Cursor.decode(paging.Cursor("after", "n", "tres", ObjectId()).encode(), sort, per_page=10) is None  # another type
    assert paging.Cursor.decode("no-es-un-cursor", sort, per_page=10) is None


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


async def test_admin_password_set_authenticate_and_reset(db):
    """With the hasher every repository gets unless given another: the production one."""
    repos = Repositories.over(db)
    admin, created = await repos.admins.set_password(username=" Root ", password="una-clave-larga-1")
    assert created and admin.username == "root"
    assert await repos.admins.authenticate(username="ROOT", password="una-clave-larga-1") == admin
    assert await repos.admins.authenticate(username="root", password="otra-clave") is None
    assert await repos.admins.authenticate(username="nadie", password="una-clave-larga-1") is None
    # an unknown name is checked against a stand-in hash (same time as a real check): its password opens nothing
    assert await repos.admins.authenticate(username="nadie", password="not-a-real-password") is None
    doc = await repos.admins.collection.find_one({"username": "root"})
    assert doc["password_hash"].startswith("$argon2id$v=19$m=65536,t=3,p=4$") and "una-clave-larga-1" not in doc["password_hash"]

    session = await repos.sesiones.open(admin_id=admin.id, username=admin.username)
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
    assert record.motivo_revocacion == "número cambiado"
    assert (await repos.oficiales.collection.find_one({"numero": 43}))["token_jtis"] == []
    # A rename alone keeps them.
    await TokenService(make_settings().jwt_secret).issue(repos, numero=43)
    await repos.oficiales.update(oficial.id, nombre="Juan Soto R.", numero=43, activo=True)
    assert len((await repos.oficiales.collection.find_one({"numero": 43}))["token_jtis"]) == 1


# -- what the mutation run found unasserted (make mutation) --------------------------------------


async def test_a_malformed_id_is_not_found_with_a_message_naming_what_was_looked_for(repos):
    """Every id taken from a URL or a form is parsed in one place; the refusal names the kind of
    record (the admin shows it) and the id as given."""
    persona = await repos.personas.create(nombre="Ana", correo="ana.ids@example.cl")
    vehiculo = await repos.vehiculos.create(placa_patente="IDS123", marca="Kia", color="Gris", persona_id=persona.id)
    oficial = await repos.oficiales.create(nombre="Juan", numero=4242)
    bad = "nope"
    cases = [
        ("oficial", repos.oficiales.get(bad)),
        ("oficial", repos.oficiales.update(bad, nombre="X", numero=1, activo=True)),
        ("oficial", repos.oficiales.set_active(bad, False)),
        ("oficial", repos.oficiales.delete(bad)),
        ("persona", repos.personas.get(bad)),
        ("persona", repos.personas.get_many([bad])),
        ("persona", repos.personas.update(bad, nombre="X", correo="x@example.cl")),
        ("persona", repos.personas.delete(bad)),
        ("oficial", repos.tokens.register(oficial_id=bad, jti="j", creado_en=dt.datetime.now(dt.timezone.utc),
                                          expira_en=dt.datetime.now(dt.timezone.utc), etiqueta="")),
        ("token", repos.tokens.revoke(bad, oficial_id=oficial.id)),
        ("oficial", repos.tokens.revoke(str(ObjectId()), oficial_id=bad)),
        ("oficial", repos.tokens.list_for_officer(bad)),
        ("persona", repos.vehiculos.create(placa_patente="IDS124", marca="A", color="B", persona_id=bad)),
        ("vehículo", repos.vehiculos.get(bad)),
        ("vehículo", repos.vehiculos.update(bad, placa_patente="IDS123", marca="A", color="B", persona_id=persona.id)),
        ("persona", repos.vehiculos.update(vehiculo.id, placa_patente="IDS123", marca="A", color="B", persona_id=bad)),
        ("vehículo", repos.vehiculos.delete(bad)),
        ("persona", repos.vehiculos.list_by_persona(bad)),
    ]
    for entity, operation in cases:
        with pytest.raises(NotFound) as refused:
            await operation
        assert refused.value.message == f"No existe {entity} con id 'nope'.", (entity, refused.value.message)


async def test_unknown_records_are_refused_with_their_message(repos):
    missing = str(ObjectId())
    oficial = await repos.oficiales.create(nombre="Juan", numero=4343)
    expected = [
        (repos.tokens.revoke(missing, oficial_id=oficial.id), "El token no existe."),
        (repos.personas.update(missing, nombre="X", correo="x2@example.cl"), f"No existe la persona {missing}."),
        (repos.personas.get(missing), f"No existe la persona {missing}."),
        (repos.vehiculos.get(missing), f"No existe el vehículo {missing}."),
        (repos.oficiales.get(missing), f"No existe el oficial {missing}."),
        (repos.oficiales.get_by_numero(999), "No existe un oficial con el número 999."),
        (repos.oficiales.update(missing, nombre="X", numero=4344, activo=True), f"No existe el oficial {missing}."),
    ]
    for operation, message in expected:
        with pytest.raises(NotFound) as refused:
            await operation
        assert refused.value.message == message


async def test_revoking_twice_keeps_the_first_revocation(repos):
    oficial = await repos.oficiales.create(nombre="Juan", numero=4444)
    issued = await TokenService(make_settings().jwt_secret, repos.clock).issue(repos, numero=4444)
    first = await repos.tokens.revoke(issued.record.id, oficial_id=oficial.id, reason="primera")
    assert first.motivo_revocacion == "primera" and first.revocado_en is not None
    again = await repos.tokens.revoke(issued.record.id, oficial_id=oficial.id, reason="segunda")
    assert (again.revocado_en, again.motivo_revocacion) == (first.revocado_en, "primera")
    stored = await repos.tokens.collection.find_one({"_id": ObjectId(issued.record.id)})
    assert (stored["revocado_en"], stored["motivo_revocacion"]) == (first.revocado_en, "primera")


async def test_a_token_label_too_long_is_refused_on_its_field(repos):
    await repos.oficiales.create(nombre="Juan", numero=4242)
    with pytest.raises(InvalidValue) as refused:
        await TokenService(make_settings().jwt_secret).issue(repos, numero=4242, label="x" * (ETIQUETA_MAX + 1))
    assert refused.value.field == "etiqueta"
    assert await repos.tokens.list_for_officer((await repos.oficiales.get_by_numero(4242)).id) == []


async def test_deactivating_an_officer_keeps_the_revocations_made_before(db):
    clock = FixedClock(dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.timezone.utc))
    repos = Repositories.over(db, clock=clock)
    oficial = await repos.oficiales.create(nombre="Juan", numero=4343)
    service = TokenService(make_settings().jwt_secret, clock)
    lost, _ = [await service.issue(repos, numero=4343, label=label) for label in ("perdido", "vigente")]
    await repos.tokens.revoke(lost.record.id, oficial_id=oficial.id, reason="teléfono perdido")
    revoked_at = clock.now()
    clock.advance(hours=3)
    await repos.oficiales.set_active(oficial.id, False)
    records = {r.etiqueta: r for r in await repos.tokens.list_for_officer(oficial.id)}
    assert (records["perdido"].revocado_en, records["perdido"].motivo_revocacion) == (revoked_at, "teléfono perdido")
    assert (records["vigente"].revocado_en, records["vigente"].motivo_revocacion) == (clock.now(), "oficial desactivado")


async def test_a_revocation_whose_commit_fails_leaves_the_token_live(repos, db, mongo_uri):
    """The token's record, the officer's live list (what the API checks) and the entry are one
    transaction: none of them changes."""
    oficial = await repos.oficiales.create(nombre="Juan", numero=4646)
    issued = await TokenService(make_settings().jwt_secret, repos.clock).issue(repos, numero=4646)
    await assert_a_failed_commit_changes_nothing(db, mongo_uri, lambda faulty: faulty.tokens.revoke(issued.record.id, oficial_id=oficial.id))


async def test_an_issue_whose_commit_fails_leaves_no_token_live(repos, db, mongo_uri):
    """The token's record, the officer's live list (what the API checks), the expired tokens taken
    off it and the entry are one transaction: a token that was never handed out must not be live."""
    await repos.oficiales.create(nombre="Juan", numero=4747)
    last_week = FixedClock(repos.clock.now() - dt.timedelta(days=7))
    await TokenService(make_settings().jwt_secret, last_week).issue(Repositories.over(db, clock=last_week), numero=4747, days=1)
    service = TokenService(make_settings().jwt_secret, repos.clock)
    await assert_a_failed_commit_changes_nothing(db, mongo_uri, lambda faulty: service.issue(faulty, numero=4747))


async def test_a_deactivation_whose_commit_fails_keeps_the_officer_active_and_his_tokens_alive(repos, db, mongo_uri):
    """The flag, the emptied live list, the tokens marked revoked and the entry are one transaction."""
    oficial = await repos.oficiales.create(nombre="Juan", numero=4848)
    await TokenService(make_settings().jwt_secret, repos.clock).issue(repos, numero=4848)
    await assert_a_failed_commit_changes_nothing(db, mongo_uri, lambda faulty: faulty.oficiales.set_active(oficial.id, False))


async def test_an_officer_s_tokens_are_listed_newest_first(repos, db):
    oficial = await repos.oficiales.create(nombre="Juan", numero=4949)
    for hours in (1, 3, 2):
        clock = FixedClock(dt.datetime(2026, 11, 1, hours, 0, tzinfo=dt.timezone.utc))
        await TokenService(make_settings().jwt_secret, clock).issue(Repositories.over(db, clock=clock), numero=4949, label=f"t{hours}")
    listed = [record.etiqueta for record in await repos.tokens.list_for_officer(oficial.id)]
    assert listed == ["t3", "t2", "t1"]
    assert [record.etiqueta for record in await repos.tokens.list_for_officer(oficial.id, limit=2)] == ["t3", "t2"]


async def test_issuing_a_token_takes_the_expired_ones_off_the_live_list(db):
    """The live list (what the API checks) stays short: a new token takes off it every token that
    has expired, one that expires at that very instant included, and leaves the others."""
    clock = FixedClock(dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.timezone.utc))
    repos = Repositories.over(db, clock=clock)
    oficial = await repos.oficiales.create(nombre="Juan", numero=5151)
    service = TokenService(make_settings().jwt_secret, clock)
    one_day, two_days = [await service.issue(repos, numero=5151, days=days) for days in (1, 2)]
    clock.advance(days=1)
    new = await service.issue(repos, numero=5151, days=1)
    live = (await repos.oficiales.collection.find_one({"numero": 5151}))["token_jtis"]
    assert live == [two_days.record.jti, new.record.jti]
    assert one_day.record.jti in {record.jti for record in await repos.tokens.list_for_officer(oficial.id)}


async def test_a_token_is_not_registered_for_an_officer_deactivated_after_the_check(repos):
    """The token service checks that the officer is active; registering checks it again in its
    transaction, for a deactivation in between."""
    oficial = await repos.oficiales.create(nombre="Juan", numero=5252, activo=False)
    now = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.timezone.utc)
    with pytest.raises(NotFound) as refused:
        await repos.tokens.register(oficial_id=oficial.id, jti="j", creado_en=now, expira_en=now + dt.timedelta(days=1), etiqueta="")
    assert refused.value.message == "El oficial no existe o está inactivo: no se le puede emitir un token."
    assert await repos.tokens.list_for_officer(oficial.id) == []


async def test_an_officer_delete_whose_commit_fails_keeps_him_and_his_tokens(repos, db, mongo_uri):
    oficial = await repos.oficiales.create(nombre="Juan", numero=5050)
    await TokenService(make_settings().jwt_secret, repos.clock).issue(repos, numero=5050)
    await assert_a_failed_commit_changes_nothing(db, mongo_uri, lambda faulty: faulty.oficiales.delete(oficial.id))


async def test_unticking_activo_in_the_edit_form_revokes_the_tokens_for_that_reason(repos):
    """Not only the activation button: an edit that deactivates kills the tokens, so that
    reactivating the officer later cannot bring them back."""
    oficial = await repos.oficiales.create(nombre="Juan", numero=4545)
    await TokenService(make_settings().jwt_secret, repos.clock).issue(repos, numero=4545)
    await repos.oficiales.update(oficial.id, nombre="Juan", numero=4545, activo=False)
    assert (await repos.oficiales.collection.find_one({"numero": 4545}))["token_jtis"] == []
    [record] = await repos.tokens.list_for_officer(oficial.id)
    assert (record.status(dt.datetime.now(dt.timezone.utc)), record.motivo_revocacion) == ("revocado", "oficial desactivado")


async def test_activating_an_active_officer_keeps_its_tokens(repos):
    oficial = await repos.oficiales.create(nombre="Juan", numero=4646)
    issued = await TokenService(make_settings().jwt_secret, repos.clock).issue(repos, numero=4646)
    await repos.oficiales.set_active(oficial.id, True)
    assert (await repos.oficiales.collection.find_one({"numero": 4646}))["token_jtis"] == [issued.record.jti]
    [record] = await repos.tokens.list_for_officer(oficial.id)
    assert record.revocado_en is None


async def test_the_largest_badge_number_is_found_by_number(repos):
    await repos.oficiales.create(nombre="Último", numero=MAX_BADGE_NUMBER)
    found = await repos.oficiales.search(q=str(MAX_BADGE_NUMBER), page=1, per_page=20)
    assert [o.numero for o in found.items] == [MAX_BADGE_NUMBER]


async def test_the_infractions_filter_finds_officers_at_both_ends_of_the_badge_numbers(repos):
    """The admin's "oficial N°" filter (``filters(numero=…)``, through ``find_by_numero``): the first
    and the largest número select their officer; a número no officer can have selects nothing, also
    one too large for the database to store (no error)."""
    first = await repos.oficiales.create(nombre="Primero", numero=1)
    last = await repos.oficiales.create(nombre="Último", numero=MAX_BADGE_NUMBER)
    assert (await repos.oficiales.find_by_numero(1)) == first
    assert (await repos.oficiales.find_by_numero(MAX_BADGE_NUMBER)) == last
    for numero in (0, -1, MAX_BADGE_NUMBER + 1, 2**64):
        assert await repos.oficiales.find_by_numero(numero) is None, numero
        chosen = await repos.infracciones.filters(numero=numero)
        assert chosen.none and chosen.oficial is None, numero
    chosen = await repos.infracciones.filters(numero=1)
    assert not chosen.none and str(chosen.oficial) == first.id


async def test_a_bulk_selection_is_exactly_the_records_named_that_exist(repos):
    """What a bulk action acts on (``get_some``): the records named, once each, in list order; a
    malformed or unknown id anywhere in the selection is left out and the rest still counts."""
    ana = await repos.personas.create(nombre="Ana", correo="ana.some@example.cl")
    beto = await repos.personas.create(nombre="Beto", correo="beto.some@example.cl")
    await repos.personas.create(nombre="Carla", correo="carla.some@example.cl")
    chosen = await repos.personas.get_some([beto.id, "no-es-un-id", str(ObjectId()), ana.id])
    assert [p.id for p in chosen] == [ana.id, beto.id]
    uno = await repos.oficiales.create(nombre="Uno", numero=801)
    dos = await repos.oficiales.create(nombre="Dos", numero=802)
    await repos.oficiales.create(nombre="Tres", numero=803)
    chosen_officers = await repos.oficiales.get_some([dos.id, "no-es-un-id", uno.id])
    assert [o.id for o in chosen_officers] == [uno.id, dos.id]


async def test_a_duplicate_names_the_record_that_holds_the_value(repos):
    """The refusal of a duplicate links to the record that has the número, e-mail or plate (the
    admin shows it beside the field), not to some other record of the collection."""
    await repos.oficiales.create(nombre="Primero", numero=901)
    segundo = await repos.oficiales.create(nombre="Segundo", numero=902)
    with pytest.raises(Conflict) as officer:
        await repos.oficiales.create(nombre="Otro", numero=902)
    assert officer.value.existing == (segundo.id, "N° 902 (Segundo)")
    await repos.personas.create(nombre="Ana", correo="ana.holder@example.cl")
    beto = await repos.personas.create(nombre="Beto", correo="beto.holder@example.cl")
    with pytest.raises(Conflict) as persona:
        await repos.personas.create(nombre="Otra", correo="BETO.holder@example.cl")
    assert persona.value.existing == (beto.id, "Beto")
    await repos.vehiculos.create(placa_patente="HOLD11", marca="Fiat", color="Rojo", persona_id=beto.id)
    second = await repos.vehiculos.create(placa_patente="HOLD22", marca="Fiat", color="Rojo", persona_id=beto.id)
    with pytest.raises(Conflict) as vehicle:
        await repos.vehiculos.create(placa_patente="hold-22", marca="Kia", color="Azul", persona_id=beto.id)
    assert vehicle.value.existing == (second.id, "HOLD22")


async def test_a_token_record_is_found_by_its_own_jti_only(repos):
    """``find_by_jti`` (what /api/yo and an infraction's page show about a token): that token's
    record among others, and None for a jti never issued."""
    await repos.oficiales.create(nombre="Con tokens", numero=920)
    service = TokenService(make_settings().jwt_secret, repos.clock)
    first = await service.issue(repos, numero=920)
    second = await service.issue(repos, numero=920)
    assert (await repos.tokens.find_by_jti(second.record.jti)).jti == second.record.jti
    assert (await repos.tokens.find_by_jti(first.record.jti)).jti == first.record.jti
    assert await repos.tokens.find_by_jti("no-emitido") is None


async def test_an_officer_without_infractions_has_no_delete_refusal(repos):
    oficial = await repos.oficiales.create(nombre="Sin multas", numero=810)
    assert await repos.oficiales.delete_refusal(oficial.id) is None


async def test_get_many_returns_exactly_the_personas_asked_for(repos):
    ana = await repos.personas.create(nombre="Ana", correo="ana.many@example.cl")
    beto = await repos.personas.create(nombre="Beto", correo="beto.many@example.cl")
    await repos.personas.create(nombre="Carla", correo="carla.many@example.cl")
    assert await repos.personas.get_many([ana.id, beto.id, ana.id]) == {ana.id: ana, beto.id: beto}


async def test_create_if_missing_creates_once(repos):
    assert await repos.admins.create_if_missing(username=" Nuevo ", password="una-clave-larga-3") is True
    assert (await repos.admins.authenticate(username="nuevo", password="una-clave-larga-3")).username == "nuevo"
    assert await repos.admins.create_if_missing(username="NUEVO", password="otra-clave-larga") is False
    assert await repos.admins.authenticate(username="nuevo", password="otra-clave-larga") is None


async def test_a_vehicle_delete_retried_by_its_transaction_still_deletes_once(repos, mongo_uri):
    """The delete and the owner's counter are one transaction, which the driver runs again after a
    transient error: the second attempt must find the vehicle still there (nothing of the first
    attempt was kept) and leave the owner's counter exact."""
    persona = await repos.personas.create(nombre="Ana", correo="ana.retry@example.cl")
    vehiculo = await repos.vehiculos.create(placa_patente="RETRY1", marca="Kia", color="Gris", persona_id=persona.id)
    async with client_meeting_fail_point(mongo_uri, "retried-delete", failCommands=["update"], **TRANSIENT_ERROR) as retried_client:
        await Repositories.over(retried_client[repos.db.name]).vehiculos.delete(vehiculo.id)
    with pytest.raises(NotFound):
        await repos.vehiculos.get(vehiculo.id)
    assert (await repos.personas.get(persona.id)).n_vehiculos == 0


@pytest.mark.parametrize("what", ["persona", "token"])
async def test_a_creation_retried_by_its_transaction_creates_once(repos, mongo_uri, what):
    """The driver runs a transaction again after a transient error, inserting the same document
    (with the ``_id`` the first attempt gave it): the attempt it gave up kept nothing."""
    oficial = await repos.oficiales.create(nombre="Juan", numero=4141)
    recorder = Recorder()
    async with client_meeting_fail_point(
        mongo_uri, "retried-create", listeners=(recorder,), failCommands=["insert"], **TRANSIENT_ERROR
    ) as retried_client:
        retried = Repositories.over(retried_client[repos.db.name])
        if what == "persona":
            created = (await retried.personas.create(nombre="Ana", correo="ana.retry@example.cl")).id
            kept = [p.id for p in (await repos.personas.search(q="ana")).items]
        else:
            created = (await TokenService(make_settings().jwt_secret).issue(retried, numero=4141)).record.id
            kept = [t.id for t in await repos.tokens.list_for_officer(oficial.id)]
    assert recorder.names().count("abortTransaction") == 1  # the first attempt was given up, and run again
    assert kept == [created]
    assert await repos.db["auditoria"].count_documents({"documento_id": ObjectId(created)}) == 1


async def test_a_password_reset_keeps_when_the_account_was_created_and_says_when_it_changed(db):
    created = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.timezone.utc)
    clock = FixedClock(created)
    repos = Repositories.over(db, clock=clock)
    await repos.admins.set_password(username="root", password="una-clave-larga-1")
    clock.advance(days=3)
    await repos.admins.set_password(username="root", password="una-clave-larga-2")
    doc = await repos.admins.collection.find_one({"username": "root"})
    assert (doc["creado_en"], doc["actualizado_en"]) == (created, created + dt.timedelta(days=3))


def test_repositories_acting_for_someone_else_keep_the_process_s_settings_and_catalogue_copy(db):
    """Every request acts as its own actor, with the process's session lifetimes (a login opens its
    session through them) and its one catalogue copy (a copy per request would read it on each)."""
    clock = FixedClock(dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.timezone.utc))
    repos = Repositories.over(db, clock=clock, session_idle=dt.timedelta(minutes=7), session_lifetime=dt.timedelta(hours=3))
    admin = repos.acting_as(Actor.administrator("maria", request_id="r1", client="10.0.0.1"))
    assert admin.actor.nombre == "maria" and admin.catalog_cache is repos.catalog_cache and admin.clock is clock
    assert (admin.sesiones.idle, admin.sesiones.lifetime) == (dt.timedelta(minutes=7), dt.timedelta(hours=3))
    assert admin.acting_as(admin.actor) is admin


async def test_admins_exist_and_deleting_an_unknown_one_says_so(repos):
    assert not await repos.admins.any_exists()
    await repos.admins.set_password(username="root", password="una-clave-larga-1")
    assert await repos.admins.any_exists()
    assert await repos.admins.delete("nadie") is False
    assert await repos.admins.delete("ROOT") is True
    assert not await repos.admins.any_exists()


async def test_an_admin_delete_whose_commit_fails_keeps_the_admin_and_its_sessions(repos, db, mongo_uri):
    """The account, the end of its sessions and the entry are one transaction: none of them stays."""
    admin, _ = await repos.admins.set_password(username="root", password="una-clave-larga-1")
    await repos.sesiones.open(admin_id=admin.id, username="root")
    await assert_a_failed_commit_changes_nothing(db, mongo_uri, lambda faulty: faulty.admins.delete("root"))


async def test_a_logout_whose_commit_fails_keeps_the_session_and_writes_no_entry(repos, db, mongo_uri):
    """The end of the session and its entry in the trail are one transaction: neither stays."""
    admin, _ = await repos.admins.set_password(username="root", password="una-clave-larga-1")
    token = await repos.sesiones.open(admin_id=admin.id, username="root")
    await assert_a_failed_commit_changes_nothing(db, mongo_uri, lambda faulty: faulty.sesiones.close(token))


async def test_a_login_whose_commit_fails_opens_no_session_and_writes_no_entry(repos, db, mongo_uri):
    """The session and its entry in the trail are one transaction: neither stays."""
    admin, _ = await repos.admins.set_password(username="root", password="una-clave-larga-1")
    await assert_a_failed_commit_changes_nothing(db, mongo_uri, lambda faulty: faulty.sesiones.open(admin_id=admin.id, username="root"))


async def test_a_vehicle_delete_whose_commit_fails_keeps_it_and_its_owner_s_count(repos, db, mongo_uri):
    ana = await repos.personas.create(nombre="Ana", correo="ana.commit@example.cl")
    vehiculo = await repos.vehiculos.create(placa_patente="COMM01", marca="Kia", color="Gris", persona_id=ana.id)
    await assert_a_failed_commit_changes_nothing(db, mongo_uri, lambda faulty: faulty.vehiculos.delete(vehiculo.id))


async def test_a_persona_delete_whose_commit_fails_keeps_her(repos, db, mongo_uri):
    ana = await repos.personas.create(nombre="Ana", correo="ana.commit@example.cl")
    await assert_a_failed_commit_changes_nothing(db, mongo_uri, lambda faulty: faulty.personas.delete(ana.id))


async def test_a_transfer_whose_commit_fails_changes_neither_owner_nor_the_vehicle(repos, db, mongo_uri):
    ana = await repos.personas.create(nombre="Ana", correo="ana.commit@example.cl")
    beto = await repos.personas.create(nombre="Beto", correo="beto.commit@example.cl")
    vehiculo = await repos.vehiculos.create(placa_patente="COMM02", marca="Kia", color="Gris", persona_id=ana.id)
    transfer = {"placa_patente": "COMM03", "marca": "Kia", "color": "Rojo", "persona_id": beto.id}
    await assert_a_failed_commit_changes_nothing(db, mongo_uri, lambda faulty: faulty.vehiculos.edit(vehiculo.id, **transfer))


async def test_a_vehicle_edit_keeps_its_owner_findable_and_is_in_the_trail(repos, db):
    """Edited without a change of owner, the vehicle's search terms still carry its own owner's
    name (not another persona's), and its entry names it with what changed."""
    await repos.personas.create(nombre="Zacarías Otro", correo="otro@example.cl")
    ana = await repos.personas.create(nombre="Ana Quiroga", correo="ana.quiroga@example.cl")
    vehiculo = await repos.vehiculos.create(placa_patente="EDIT02", marca="Kia", color="Gris", persona_id=ana.id)
    await repos.vehiculos.edit(vehiculo.id, placa_patente="EDIT02", marca="Kia", color="Rojo", persona_id=ana.id)
    assert [v.placa_patente for v in (await repos.vehiculos.search(q="quiroga")).items] == ["EDIT02"]
    assert (await repos.vehiculos.search(q="zacarias")).items == []
    [entry] = await db["auditoria"].find({"accion": "editar", "coleccion": "vehiculos"}).to_list(None)
    assert entry["documento_id"] == ObjectId(vehiculo.id)
    assert (entry["antes"]["color"], entry["despues"]["color"]) == ("Gris", "Rojo")


async def test_the_bulk_loader_writes_in_batches_the_shapes_the_repositories_write(db, repos):
    """Batches of 5 for 12 rows: the progress sees each batch, and each document loaded has exactly
    the fields of one written by its repository (the same builders), dated from the loader's clock."""
    now = dt.datetime(2026, 9, 6, 4, 0, tzinfo=dt.timezone.utc)
    steps: list[int] = []
    loader = BulkLoader(db, batch_size=5, progress=steps.append, clock=FixedClock(now))
    data = DemoData(9, now=now)
    personas = await loader.personas(data.persona() for _ in range(12))
    vehiculos = await loader.vehiculos(data.vehiculo(personas[i % 3]["_id"]) for i in range(12))
    oficiales = await loader.oficiales(data.oficial() for _ in range(12))
    count = await loader.infracciones(data.infraccion(vehiculos[i % 4], oficiales[i % 2]) for i in range(12))
    assert count == 12
    assert steps == [5, 5, 2] * 4

    persona = await repos.personas.create(nombre="Como Repo", correo="como.repo@example.cl")
    vehiculo = await repos.vehiculos.create(placa_patente="REPO12", marca="Kia", color="Gris", persona_id=persona.id)
    oficial = await repos.oficiales.create(nombre="Como Repo", numero=77)
    for collection, one in (("personas", persona.id), ("vehiculos", vehiculo.id), ("oficiales", oficial.id)):
        written = await db[collection].find_one({"_id": ObjectId(one)})
        for loaded in await db[collection].find({"_id": {"$ne": ObjectId(one)}}).to_list(None):
            assert set(loaded) == set(written), collection
            assert loaded["creado_en"] == now
    assert [p["n_vehiculos"] for p in await db.personas.find({"_id": {"$in": [p["_id"] for p in personas]}}).to_list(None)] == [4, 4, 4] + [0] * 9
    async for loaded in db.infracciones.find():
        assert loaded["registrada_en"] == now
