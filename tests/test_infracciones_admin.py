"""The Infracciones section of the admin over HTTP: every filter and order, numbered pages that
are clamped, the detail page, every allowed and refused status change (and the race between two
administrators), corrections, and the CSV export."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import re
from decimal import Decimal

import httpx
import pytest
from bson import ObjectId

from domain import lifecycle, rules
from domain.errors import Conflict, InvalidValue, NotFound
from repositories.infracciones import listing
from repositories.infracciones.listing import InfraccionFilters
from tests.helpers.api import World, jti_of, make_world
from tests.helpers.app import assert_a_failed_commit_changes_nothing, post_form

UTC = dt.timezone.utc
BASE = dt.datetime(2026, 11, 10, 15, 0, tzinfo=UTC)  # 12:00 in Santiago (UTC-3 in November)


async def record(repos, world: World, placa: str, when: dt.datetime, comentarios: str = "") -> str:
    infraccion, _ = await repos.infracciones.record(
        numero_oficial=world.oficial.numero, jti=jti_of(world.token), placa_patente=placa, timestamp=when, comentarios=comentarios
    )
    return infraccion.id


def ids(page: httpx.Response | str) -> list[str]:
    """The infractions a page (or a part of its text) links to, in order."""
    text = page if isinstance(page, str) else page.text
    return re.findall(r'href="/admin/infracciones/([0-9a-f]{24})"', text)


@pytest.fixture
async def two_worlds(repos):
    ana = await make_world(repos)  # ana.perez@example.cl, BBCD12, officer 42
    beto = await make_world(repos, correo="beto@example.cl", placa="ZZXY98", numero=7)
    return ana, beto


@pytest.fixture
async def sample(repos, two_worlds):
    """Six infractions over three days; returns their ids in infraction-time order, oldest first."""
    ana, beto = two_worlds
    made = []
    for day, (world, placa) in enumerate([(ana, "BBCD12"), (beto, "ZZXY98"), (ana, "BBCD12"), (beto, "ZZXY98"), (ana, "BBCD12"), (beto, "ZZXY98")]):
        made.append(await record(repos, world, placa, BASE + dt.timedelta(hours=12 * day), f"n{day}"))
    return made


async def test_the_list_shows_every_infraction_newest_first_by_default(admin_client, sample):
    response = await admin_client.get("/admin/infracciones/")
    assert response.status_code == 200
    assert ids(response) == sample[::-1]
    assert "6 infracciones" in response.text


async def test_the_dashboard_shows_the_latest_infractions_by_their_own_time(admin_client, repos, sample):
    assert [i.id for i in await repos.infracciones.latest(limit=4)] == sample[::-1][:4]
    page = (await admin_client.get("/admin/")).text
    assert ids(page[page.index("Últimas infracciones") :]) == sample[::-1]


@pytest.mark.parametrize(
    "params,expected",
    [
        ({"placa": "bb-cd 12"}, [0, 2, 4]),
        ({"oficial": "7"}, [1, 3, 5]),
        ({"correo": "ANA.PEREZ@example.cl"}, [0, 2, 4]),
        ({"desde": "2026-11-11", "hasta": "2026-11-11"}, [1, 2]),  # 11 Nov in Santiago: its 00:00 and its 12:00
        ({"placa": "BBCD12", "desde": "2026-11-11"}, [2, 4]),
        ({"correo": "nadie@example.cl"}, []),
        ({"oficial": "999"}, []),
    ],
)
async def test_filters_combine(admin_client, sample, params, expected):
    response = await admin_client.get("/admin/infracciones/", params={**params, "orden": "infraccion_asc"})
    assert response.status_code == 200, response.text[:300]
    assert ids(response) == [sample[i] for i in expected]


async def test_the_offence_filters_select_by_code_and_by_severity(admin_client, repos, two_worlds):
    ana, _ = two_worlds
    for codigo, gravedad, fine in (("GVS-01", "gravisima", ("1.5", "3")), ("LEV-01", "leve", ("0.2", "0.5"))):
        await repos.catalogo.create(
            codigo=codigo, descripcion=f"Infracción {codigo}.", gravedad=gravedad, multa_min=Decimal(fine[0]),
            multa_max=Decimal(fine[1]), articulo="", vigente_desde=BASE - dt.timedelta(days=30),
        )
    made = {}
    for hours, codigo in enumerate(("GVS-01", "LEV-01", None)):
        infraccion, _ = await repos.infracciones.record(
            numero_oficial=ana.oficial.numero, jti=jti_of(ana.token), placa_patente="BBCD12",
            timestamp=BASE + dt.timedelta(hours=hours), comentarios="", codigo=codigo,
        )
        made[codigo] = infraccion.id

    async def listed(**params: str) -> list[str]:
        response = await admin_client.get("/admin/infracciones/", params=params)
        assert response.status_code == 200, response.text[:300]
        return ids(response)

    assert await listed(codigo=" gvs-01 ") == [made["GVS-01"]]  # as typed: trimmed, upper-cased
    assert await listed(gravedad="leve") == [made["LEV-01"]]
    assert await listed(codigo="GVS-01", gravedad="leve") == []
    assert await listed() == [made[None], made["LEV-01"], made["GVS-01"]]


async def test_status_filter_and_registration_order(admin_client, repos, sample):
    await repos.infracciones.transition(sample[1], desde="registrada", to=lifecycle.ANULADA, motivo="Error de digitación")
    annulled = await admin_client.get("/admin/infracciones/", params={"estado": "anulada"})
    assert ids(annulled) == [sample[1]]
    newest_loaded = await admin_client.get("/admin/infracciones/", params={"orden": "registro_desc"})
    assert ids(newest_loaded) == sample[::-1]  # loaded in that order
    oldest_loaded = await admin_client.get("/admin/infracciones/", params={"orden": "registro_asc"})
    assert ids(oldest_loaded) == sample


async def test_invalid_filters_are_explained_and_show_no_list(admin_client, sample):
    response = await admin_client.get("/admin/infracciones/", params={"desde": "2026-11-12", "hasta": "2026-11-10", "placa": "A"})
    assert response.status_code == 400
    assert "Revise los filtros" in response.text and "posterior" in response.text and "entre 5 y 8" in response.text
    assert ids(response) == []


async def test_pages_are_numbered_linked_by_cursor_and_clamped(admin_client, repos, two_worlds):
    ana, _ = two_worlds
    made = [await record(repos, ana, "BBCD12", BASE + dt.timedelta(minutes=n)) for n in range(45)]
    newest_first = made[::-1]
    first = await admin_client.get("/admin/infracciones/", params={"por_pagina": "20"})
    assert ids(first) == newest_first[:20]
    assert "página 1 de 3" in first.text
    following = re.search(r'<a rel="next" href="([^"]+)"', first.text).group(1).replace("&amp;", "&")
    second = await admin_client.get("/admin/infracciones/" + following)
    assert ids(second) == newest_first[20:40] and "página 2 de 3" in second.text
    last_link = re.search(r'<a href="([^"]+)" aria-label="Última página">', second.text).group(1).replace("&amp;", "&")
    last = await admin_client.get("/admin/infracciones/" + last_link)
    assert ids(last) == newest_first[40:] and "página 3 de 3" in last.text
    # A page beyond the end, typed by hand, is the last page; a nonsense page is the first.
    beyond = await admin_client.get("/admin/infracciones/", params={"pagina": "999", "por_pagina": "20"})
    assert ids(beyond) == newest_first[40:] and "página 3 de 3" in beyond.text and "página 999" not in beyond.text
    nonsense = await admin_client.get("/admin/infracciones/", params={"pagina": "²", "cursor": "basura"})
    assert nonsense.status_code == 200 and ids(nonsense) == newest_first[:20]
    # A page in the middle typed by hand is served too.
    middle = await admin_client.get("/admin/infracciones/", params={"pagina": "2", "por_pagina": "20"})
    assert ids(middle) == newest_first[20:40]


async def test_the_detail_page_shows_the_record_as_recorded_and_as_it_is_now(admin_client, repos, two_worlds):
    ana, beto = two_worlds
    infraccion_id = await record(repos, ana, "BBCD12", BASE, "Luz roja en Av. Matta")
    await repos.vehiculos.update(ana.vehiculo.id, placa_patente="BBCD12", marca="Toyota Yaris", color="Blanco", persona_id=beto.persona.id)
    page = await admin_client.get(f"/admin/infracciones/{infraccion_id}")
    assert page.status_code == 200
    text = page.text
    assert "Luz roja en Av. Matta" in text and "10-11-2026 12:00:00" in text  # local time
    assert "Toyota rojo" in text and "hoy: BBCD12, Toyota Yaris blanco" in text
    assert f'/admin/personas/{ana.persona.id}' in text and f'/admin/personas/{beto.persona.id}' in text  # then and now
    assert f'/admin/oficiales/{ana.oficial.id}' in text and f'/admin/vehiculos/{ana.vehiculo.id}' in text
    assert "tablet de prueba" in text and ana.token_id in text  # the token that loaded it
    assert f"/admin/infracciones/{infraccion_id}/historial" in text


@pytest.mark.parametrize(
    "page,list_filter",
    [("vehiculos/{vehiculo}", "placa=BBCD12"), ("personas/{persona}", "correo=ana.perez%40example.cl"), ("oficiales/{oficial}", "oficial=42")],
)
async def test_a_record_s_page_lists_its_ten_latest_infractions_and_links_to_all(admin_client, repos, two_worlds, page, list_filter):
    ana, beto = two_worlds
    made = [await record(repos, ana, "BBCD12", BASE + dt.timedelta(minutes=minute)) for minute in range(12)]
    await record(repos, beto, "ZZXY98", BASE + dt.timedelta(minutes=30))  # someone else's, newer than all
    url = "/admin/" + page.format(vehiculo=ana.vehiculo.id, persona=ana.persona.id, oficial=ana.oficial.id)
    response = await admin_client.get(url)
    assert response.status_code == 200
    assert ids(response) == made[::-1][:10]  # the ten latest, newest first
    assert f'href="/admin/infracciones/?{list_filter}"' in response.text


async def transition(http: httpx.AsyncClient, infraccion_id: str, desde: str, to: str, motivo: str = "") -> httpx.Response:
    """What the status form on the infraction's page sends: the status seen, the one chosen, a reason."""
    data = {"desde": desde, "estado": to, "motivo": motivo}
    return await post_form(http, f"/admin/infracciones/{infraccion_id}/estado", data, page=f"/admin/infracciones/{infraccion_id}")


@pytest.mark.parametrize(
    "path",
    [
        ["notificada", "pagada"],
        ["notificada", "apelada", "confirmada", "pagada"],
        ["registrada->apelada", "anulada"],
        ["anulada"],
        ["notificada", "anulada"],
    ],
)
async def test_every_allowed_path_through_the_lifecycle(admin_client, repos, two_worlds, path):
    ana, _ = two_worlds
    infraccion_id = await record(repos, ana, "BBCD12", BASE)
    seen = "registrada"
    for step in path:
        to = step.split("->")[-1]
        response = await transition(admin_client, infraccion_id, seen, to, "Resolución del juzgado N° 123")
        assert response.status_code == 302, response.text[:500]
        seen = to
    stored = await repos.infracciones.get(infraccion_id)
    assert stored.estado == path[-1].split("->")[-1]
    assert [c.estado for c in stored.historial] == [s.split("->")[-1] for s in path]
    raw = await repos.infracciones.collection.find_one({"_id": ObjectId(infraccion_id)})
    assert [(c.en, c.por, c.motivo) for c in stored.historial] == [
        (change["en"], "admin", "Resolución del juzgado N° 123") for change in raw["historial"]
    ]
    assert all(isinstance(c.en, dt.datetime) for c in stored.historial)


@pytest.mark.parametrize(
    "before,to,motivo,status,message",
    [
        ([], "pagada", "", 409, "no puede pasar a pagada"),
        ([], "confirmada", "x", 409, "no puede pasar a confirmada"),
        (["anulada"], "notificada", "", 409, "no puede pasar"),
        (["notificada", "pagada"], "anulada", "tarde", 409, "no puede pasar"),
        ([], "anulada", "", 400, "Indique el motivo"),
        (["apelada"], "confirmada", "  ", 400, "Indique el motivo"),
        ([], "inventada", "", 400, "No existe el estado"),
    ],
)
async def test_refused_changes_are_explained_and_change_nothing(admin_client, repos, db, two_worlds, before, to, motivo, status, message):
    ana, _ = two_worlds
    infraccion_id = await record(repos, ana, "BBCD12", BASE)
    seen = "registrada"
    for step in before:
        await repos.infracciones.transition(infraccion_id, desde=seen, to=step, motivo="previo")
        seen = step
    entries_before = await db["auditoria"].count_documents({})
    response = await transition(admin_client, infraccion_id, seen, to, motivo)
    assert response.status_code == status
    assert message in response.text
    stored = await repos.infracciones.get(infraccion_id)
    assert stored.estado == (before[-1] if before else "registrada") and len(stored.historial) == len(before)
    assert await db["auditoria"].count_documents({}) == entries_before


async def test_two_administrators_cannot_both_move_one_infraction(repos, two_worlds):
    ana, _ = two_worlds
    for _ in range(30):
        infraccion_id = await record(repos, ana, "BBCD12", BASE + dt.timedelta(seconds=_))
        results = await asyncio.gather(  # both saw it registrada
            repos.infracciones.transition(infraccion_id, desde="registrada", to="anulada", motivo="duplicada"),
            repos.infracciones.transition(infraccion_id, desde="registrada", to="notificada"),
            return_exceptions=True,
        )
        succeeded = [r for r in results if not isinstance(r, Exception)]
        assert len(succeeded) == 1, results
        assert all(isinstance(r, Conflict) for r in results if isinstance(r, Exception)), results
        stored = await repos.infracciones.get(infraccion_id)
        assert len(stored.historial) == 1 and stored.estado == succeeded[0].estado


async def test_a_correction_annuls_and_replaces_linking_both(admin_client, repos, db, two_worlds):
    ana, beto = two_worlds
    original = await record(repos, ana, "BBCD12", BASE, "placa mal leída")
    url = f"/admin/infracciones/{original}/reemplazar"
    form = await admin_client.get(url)
    assert form.status_code == 200 and 'value="BBCD12"' in form.text and "2026-11-10T12:00" in form.text
    refused = await post_form(
        admin_client, url, {"desde": "registrada", "placa_patente": "ZZXY98", "timestamp": "2026-11-10T12:00", "comentarios": "ok", "motivo": ""}, page=url
    )
    assert refused.status_code == 400 and "obligatorio" in refused.text
    data = {"desde": "registrada", "placa_patente": "zz-xy 98", "timestamp": "2026-11-10T12:00", "comentarios": "placa corregida", "motivo": "La placa era ZZXY98"}
    response = await post_form(admin_client, url, data, page=url)
    assert response.status_code == 302, response.text[:500]
    replacement_id = response.headers["Location"].rsplit("/", 1)[1]
    old, new = await repos.infracciones.get(original), await repos.infracciones.get(replacement_id)
    assert (old.estado, old.reemplazada_por, old.historial[-1].motivo) == ("anulada", replacement_id, "La placa era ZZXY98")
    assert (new.estado, new.reemplaza_a, new.placa_patente, new.timestamp) == ("registrada", original, "ZZXY98", BASE)
    assert new.persona_id == beto.persona.id and new.oficial_numero == 42  # the vehicle's owner; the same officer
    assert new.carga["via"] == "correccion" and new.carga["por"]["nombre"] == "admin"
    assert (await repos.vehiculos.get(beto.vehiculo.id)).n_infracciones == 1  # counted for its delete guard
    assert (await repos.oficiales.get_by_numero(42)).n_infracciones == 2  # the original and its replacement, once each
    assert await db["infracciones"].count_documents({}) == 2  # nothing deleted
    assert "su corrección" in (await admin_client.get(f"/admin/infracciones/{original}")).text


async def test_a_change_decided_on_a_status_that_is_no_longer_current_is_refused_on_the_status(repos, two_worlds):
    ana, _ = two_worlds
    infraccion_id = await record(repos, ana, "BBCD12", BASE)
    await repos.infracciones.transition(infraccion_id, desde="registrada", to="notificada")
    with pytest.raises(Conflict) as stale:
        await repos.infracciones.transition(infraccion_id, desde="registrada", to="anulada", motivo="error")
    assert stale.value.field == "estado"
    assert stale.value.message == (
        "Otra persona cambió el estado de esta infracción recién: ahora está notificada. Revise su estado actual antes de decidir."
    )


async def test_an_infraction_that_does_not_exist_is_named_in_the_refusal(repos):
    missing = ObjectId()
    for infraccion_id, message in ((str(missing), f"No existe la infracción {missing}."), ("no-es-un-id", "No existe infracción con id 'no-es-un-id'.")):
        with pytest.raises(NotFound) as refused:
            await repos.infracciones.get(infraccion_id)
        assert refused.value.message == message


async def test_a_correction_keeping_the_plate_and_time_is_allowed(repos, two_worlds):
    """The original stays (annulled) with the same officer, plate and time: not a duplicate load."""
    ana, _ = two_worlds
    original = await record(repos, ana, "BBCD12", BASE, "comentario equivocado")
    new = await repos.infracciones.replace(original, desde="registrada", motivo="comentario", placa_patente="BBCD12", timestamp=BASE, comentarios="bien")
    assert new.persona_id == ana.persona.id  # the same vehicle: the owner at the time stays


async def test_a_correction_keeping_the_plate_keeps_the_owner_at_the_time_after_a_transfer(repos, two_worlds):
    ana, beto = two_worlds
    original = await record(repos, ana, "BBCD12", BASE)
    vehiculo = ana.vehiculo
    await repos.vehiculos.update(vehiculo.id, placa_patente="BBCD12", marca=vehiculo.marca, color=vehiculo.color, persona_id=beto.persona.id)
    new = await repos.infracciones.replace(original, desde="registrada", motivo="hora", placa_patente="BBCD12", timestamp=BASE, comentarios="")
    assert new.persona_id == ana.persona.id


async def test_a_refused_correction_names_the_field_to_fix(repos, two_worlds):
    ana, _ = two_worlds
    original = await record(repos, ana, "BBCD12", BASE)
    correct = {"desde": "registrada", "motivo": "placa mal leída", "placa_patente": "ZZXY98", "timestamp": BASE, "comentarios": ""}
    with pytest.raises(NotFound) as unknown:
        await repos.infracciones.replace(original, **{**correct, "placa_patente": "NOEX99"})
    assert unknown.value.field == "placa_patente"
    with pytest.raises(InvalidValue) as too_long:
        await repos.infracciones.replace(original, **{**correct, "comentarios": "x" * (rules.COMENTARIOS_MAX + 1)})
    assert too_long.value.field == "comentarios"


async def test_a_correction_whose_commit_fails_changes_nothing(repos, db, mongo_uri, two_worlds):
    """The annulment, the replacement, the counters of its vehicle and officer and both entries are
    one transaction: none of them stays."""
    ana, _ = two_worlds
    original = await record(repos, ana, "BBCD12", BASE)
    correct = {"desde": "registrada", "motivo": "placa mal leída", "placa_patente": "ZZXY98", "timestamp": BASE, "comentarios": ""}
    await assert_a_failed_commit_changes_nothing(db, mongo_uri, lambda faulty: faulty.infracciones.replace(original, **correct))


async def test_the_export_is_a_spanish_spreadsheet_csv_of_the_filtered_list(admin_client, repos, two_worlds):
    ana, beto = two_worlds
    await record(repos, ana, "BBCD12", BASE, "=HYPERLINK(\"http://evil\")")
    await record(repos, ana, "BBCD12", BASE + dt.timedelta(hours=1), "+1 @yo -2")
    await record(repos, beto, "ZZXY98", BASE, "de otra persona")
    response = await admin_client.get("/admin/infracciones/exportar", params={"placa": "BBCD12", "orden": "infraccion_asc"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert re.match(r'attachment; filename="infracciones-\d{8}-\d{4}\.csv"', response.headers["Content-Disposition"])
    raw = response.content
    assert raw.startswith("\ufeff".encode()) and b"\r\n" in raw
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:5] == ["id", "fecha_hora_infraccion", "registrada_en", "estado", "placa_patente"]
    assert len(rows) == 3
    assert rows[1][1] == "10-11-2026 12:00:00" and rows[1][3] == "Registrada" and rows[1][4] == "BBCD12"
    assert rows[1][7:9] == ["Ana Pérez", "ana.perez@example.cl"]
    comments = [row[rows[0].index("comentarios")] for row in rows[1:]]
    assert comments == ["'=HYPERLINK(\"http://evil\")", "'+1 @yo -2"]  # never a formula


async def test_the_export_reads_the_whole_selection_in_batches(repos, two_worlds, monkeypatch):
    monkeypatch.setattr(listing, "EXPORT_BATCH", 2)
    ana, _ = two_worlds
    made = [await record(repos, ana, "BBCD12", BASE + dt.timedelta(hours=n)) for n in range(5)]
    batches = [[str(doc["_id"]) for doc in batch] async for batch in repos.infracciones.export(InfraccionFilters())]
    assert [len(batch) for batch in batches] == [2, 2, 1]
    assert sum(batches, []) == list(reversed(made))  # newest first, each once


async def test_the_export_has_the_offence_the_place_and_the_number_of_photos(admin_client, repos, two_worlds):
    ana, _ = two_worlds
    await repos.catalogo.create(
        codigo="GVS-01", descripcion="No detenerse ante la luz roja.", gravedad="gravisima", multa_min=Decimal("1.5"),
        multa_max=Decimal("3"), articulo="art. 199", vigente_desde=BASE - dt.timedelta(days=30),
    )
    await repos.infracciones.record(
        numero_oficial=ana.oficial.numero, jti=jti_of(ana.token), placa_patente="BBCD12", timestamp=BASE, comentarios="",
        codigo="GVS-01", ubicacion=rules.location_or_raise(-33.4569, -70.6483, 8.5),
    )
    response = await admin_client.get("/admin/infracciones/exportar")
    header, row = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
    cells = dict(zip(header, row, strict=True))
    assert (cells["codigo"], cells["infraccion"], cells["gravedad"], cells["multa"]) == (
        "GVS-01", "No detenerse ante la luz roja.", "Gravísima", "1,5 a 3 UTM"
    )
    # Decimal commas, and a negative coordinate is a number, not a formula to neutralise.
    assert (cells["latitud"], cells["longitud"], cells["precision_m"], cells["fotos"]) == ("-33,4569", "-70,6483", "8,5", "0")
