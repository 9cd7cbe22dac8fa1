"""The append-only audit trail (issue 12): one entry for every kind of administrative and script
write, written atomically with the change, never holding a secret; the History and Auditoría
pages; and the MongoDB role that makes the trail append-only for the application."""

from __future__ import annotations

import ast
import datetime as dt
import json
import re
from pathlib import Path

import pytest
from bson import ObjectId

from domain.audit import Actor
from domain.errors import Conflict, NotFound
from repositories import Repositories, auditoria, evidencias
from repositories.auditoria import NEWEST_FIRST, AuditFilters
from repositories.paging import Cursor
from tests.helpers.api import jti_of, make_world
from services.tokens import TokenService
from tests.helpers.app import ADMIN_USERNAME, ROOT, assert_a_failed_commit_changes_nothing, client_meeting_fail_point, make_settings, post_form

ROLE = ROOT / "docker" / "mongo" / "app-role.json"


async def entries(db, **query) -> list[dict]:
    return await db["auditoria"].find(query, {"_id": 0}).sort("en", 1).to_list(None)


async def test_every_kind_of_admin_write_leaves_one_entry(admin_client, repos, db):
    create = await post_form(admin_client, "/admin/personas/nuevo", {"nombre": "Ana Pérez", "correo": "ana@example.cl"})
    persona_id = create.headers["Location"].rsplit("/", 1)[1]
    await post_form(admin_client, f"/admin/personas/{persona_id}/editar", {"nombre": "Ana M. Pérez", "correo": "ana@example.cl"})
    await post_form(admin_client, f"/admin/personas/{persona_id}/editar", {"nombre": "Ana M. Pérez", "correo": "ana@example.cl"})  # no change
    vehicle = await post_form(admin_client, "/admin/vehiculos/nuevo", {"placa_patente": "BBCD12", "marca": "Kia", "color": "Rojo", "propietario": "ana@example.cl"})
    vehiculo_id = vehicle.headers["Location"].rsplit("/", 1)[1]
    officer = await post_form(admin_client, "/admin/oficiales/nuevo", {"nombre": "Juan Soto", "numero": "42", "activo": "y"})
    oficial_id = officer.headers["Location"].rsplit("/", 1)[1]
    issued = await post_form(admin_client, f"/admin/oficiales/{oficial_id}/tokens", {"dias": "30", "etiqueta": "tablet"})
    issued = await admin_client.get(issued.headers["Location"])  # shown once, after the redirect
    token = re.search(r'<textarea id="token"[^>]*>([^<]+)</textarea>', issued.text).group(1).strip()
    token_id = (await repos.tokens.list_for_officer(oficial_id))[0].id
    await post_form(admin_client, f"/admin/oficiales/{oficial_id}/tokens/{token_id}/revocar", {})
    await post_form(admin_client, f"/admin/oficiales/{oficial_id}/activacion", {"activo": "0"})
    await post_form(admin_client, f"/admin/oficiales/{oficial_id}/activacion", {"activo": "1"})
    await post_form(admin_client, f"/admin/vehiculos/{vehiculo_id}/borrar", {})
    await post_form(admin_client, f"/admin/personas/{persona_id}/borrar", {})
    await post_form(admin_client, f"/admin/oficiales/{oficial_id}/borrar", {})

    trail = [(e["accion"], e["coleccion"]) for e in await entries(db, **{"actor.tipo": "administrador"})]
    assert trail[1:] == [  # [0] is the login of the admin_client fixture
        ("crear", "personas"), ("editar", "personas"), ("crear", "vehiculos"), ("crear", "oficiales"),
        ("emitir_token", "tokens"), ("revocar_token", "tokens"), ("desactivar", "oficiales"), ("activar", "oficiales"),
        ("borrar", "vehiculos"), ("borrar", "personas"), ("borrar", "oficiales"),
    ]
    everything = await entries(db, **{"actor.tipo": "administrador"})
    assert all(e["actor"] == {"tipo": "administrador", "nombre": ADMIN_USERNAME} for e in everything)
    assert all(e["cliente"] == "127.0.0.1" and re.fullmatch(r"[0-9a-f]{16}", e["request_id"]) for e in everything)
    edit = everything[2]  # after the login and the creation
    assert edit["antes"] == {"nombre": "Ana Pérez"} and edit["despues"] == {"nombre": "Ana M. Pérez"}  # only what changed
    vehiculo_gone, persona_gone, oficial_gone = everything[-3:]  # a delete keeps what was deleted
    assert (vehiculo_gone["antes"]["placa_patente"], vehiculo_gone["antes"]["marca"]) == ("BBCD12", "Kia")
    assert (persona_gone["antes"]["nombre"], persona_gone["antes"]["correo"]) == ("Ana M. Pérez", "ana@example.cl")
    assert (oficial_gone["antes"]["nombre"], oficial_gone["antes"]["numero"]) == ("Juan Soto", 42)
    assert token not in str(everything) and "jti" not in str(everything) and "token_jtis" not in str(everything)


async def test_logins_failures_and_logouts_are_in_the_trail_without_passwords(client, repos, db):
    await repos.admins.set_password(username=ADMIN_USERNAME, password="una-clave-de-prueba-segura")
    await post_form(client, "/admin/login", {"username": ADMIN_USERNAME, "password": "equivocada-123"})
    await post_form(client, "/admin/login", {"username": ADMIN_USERNAME, "password": "una-clave-de-prueba-segura"})
    await post_form(client, "/admin/logout", {})
    trail = await entries(db)
    assert [e["accion"] for e in trail] == ["crear", "sesion_fallida", "iniciar_sesion", "cerrar_sesion"]
    assert trail[0]["actor"]["tipo"] == "sistema"  # set_password called directly, as the server does at start-up
    assert trail[1]["actor"]["tipo"] == "anonimo" and trail[1]["despues"] == {"usuario": ADMIN_USERNAME}
    assert [e["actor"]["nombre"] for e in trail[2:]] == [ADMIN_USERNAME, ADMIN_USERNAME]
    admin = await db["admins"].find_one({"username": ADMIN_USERNAME})
    assert [e["documento_id"] for e in trail[2:]] == [admin["_id"], admin["_id"]]  # whose session began and ended
    text = str(trail)
    assert "equivocada" not in text and "una-clave" not in text and "argon2" not in text


async def test_an_issue_and_a_revocation_are_in_the_trail_with_the_token_s_record(repos, db):
    oficial = await repos.oficiales.create(nombre="Juan", numero=4747)
    issued = await TokenService(make_settings().jwt_secret, repos.clock).issue(repos, numero=4747, label="tablet")
    [entry] = await entries(db, accion="emitir_token")
    assert (entry["documento_id"], entry["antes"]) == (ObjectId(issued.record.id), {})
    assert entry["despues"] == {  # the record without its jti, a secret
        "oficial_id": ObjectId(oficial.id), "etiqueta": "tablet", "creado_en": issued.record.creado_en,
        "expira_en": issued.record.expira_en,
    }
    await repos.tokens.revoke(issued.record.id, oficial_id=oficial.id, reason="teléfono perdido")
    [entry] = await entries(db, accion="revocar_token")
    token = await db["tokens"].find_one({"_id": ObjectId(issued.record.id)})
    assert entry["documento_id"] == token["_id"]
    assert (entry["antes"], entry["despues"]) == ({"revocado_en": None}, {"revocado_en": token["revocado_en"], "motivo_revocacion": "teléfono perdido"})


async def test_a_status_change_with_a_reason_keeps_the_reason_in_its_entry(repos, db):
    world = await make_world(repos)
    recorded, _ = await repos.infracciones.record(
        numero_oficial=world.oficial.numero, jti=jti_of(world.token), placa_patente=world.vehiculo.placa_patente,
        timestamp=repos.clock.now() - dt.timedelta(minutes=5), comentarios="",
    )
    await repos.infracciones.transition(recorded.id, desde="registrada", to="anulada", motivo="  patente mal leída ")
    [entry] = await entries(db, accion="cambiar_estado")
    assert (entry["documento_id"], entry["antes"]) == (ObjectId(recorded.id), {"estado": "registrada"})
    assert entry["despues"] == {"estado": "anulada", "motivo": "patente mal leída"}
    with pytest.raises(NotFound) as unknown:
        await repos.infracciones.transition("no-es-un-id", desde="registrada", to="anulada", motivo="x")
    assert unknown.value.message == "No existe infracción con id 'no-es-un-id'."


async def test_a_status_change_whose_commit_fails_changes_nothing(repos, db, mongo_uri):
    """The new status, its history line and the entry are one transaction: none of them stays."""
    world = await make_world(repos)
    recorded, _ = await repos.infracciones.record(
        numero_oficial=world.oficial.numero, jti=jti_of(world.token), placa_patente=world.vehiculo.placa_patente,
        timestamp=repos.clock.now() - dt.timedelta(minutes=5), comentarios="",
    )
    await assert_a_failed_commit_changes_nothing(db, mongo_uri, lambda faulty: faulty.infracciones.transition(recorded.id, desde="registrada", to="notificada"))


async def test_status_changes_and_corrections_are_in_the_trail(repos, db):
    world = await make_world(repos)
    admin = repos.acting_as(Actor.administrator("maria", request_id="r1", client="10.0.0.1"))
    recorded, _ = await repos.infracciones.record(
        numero_oficial=42, jti=jti_of(world.token), placa_patente="BBCD12",
        timestamp=dt.datetime(2026, 11, 10, 15, tzinfo=dt.timezone.utc), comentarios="", request_id="q7", cliente="10.0.0.2",
    )
    await admin.infracciones.transition(recorded.id, desde="registrada", to="notificada")
    replacement = await admin.infracciones.replace(
        recorded.id, desde="notificada", motivo="hora mal anotada", placa_patente="BBCD12",
        timestamp=dt.datetime(2026, 11, 10, 16, tzinfo=dt.timezone.utc), comentarios="",
    )
    trail = await entries(db, **{"actor.nombre": "maria"})
    assert [(e["accion"], str(e["documento_id"])) for e in trail] == [
        ("cambiar_estado", recorded.id), ("reemplazar", recorded.id), ("crear", replacement.id),
    ]
    assert trail[0]["antes"] == {"estado": "registrada"} and trail[0]["despues"] == {"estado": "notificada"}
    assert trail[1]["antes"] == {"estado": "notificada"}
    assert trail[1]["despues"] == {"estado": "anulada", "reemplazada_por": ObjectId(replacement.id), "motivo": "hora mal anotada"}
    # The correction is a new record, entered whole, saying who made it and from where.
    corrected = await db["infracciones"].find_one({"_id": ObjectId(replacement.id)})
    assert corrected["carga"] == {"via": "correccion", "por": {"tipo": "administrador", "nombre": "maria"}, "request_id": "r1", "cliente": "10.0.0.1"}
    assert trail[2]["antes"] == {} and trail[2]["despues"]["reemplaza_a"] == ObjectId(recorded.id)
    assert trail[2]["despues"]["carga"] == corrected["carga"]
    # Loaded through the API, an infraction is its own record: no entry, but who and from where.
    stored = await db["infracciones"].find_one({"_id": ObjectId(recorded.id)})
    assert stored["carga"] == {"via": "api", "token_jti": jti_of(world.token), "request_id": "q7", "cliente": "10.0.0.2"}


async def test_an_admin_delete_is_recorded_with_the_account_it_removed_but_not_its_password(repos, db):
    admin, _ = await repos.admins.set_password(username="root", password="una-clave-larga-1")
    assert await repos.admins.delete("root")
    [entry] = await entries(db, accion="borrar")
    assert (entry["coleccion"], entry["documento_id"], entry["despues"]) == ("admins", ObjectId(admin.id), {})
    assert entry["antes"]["username"] == "root" and set(entry["antes"]) == {"username", "creado_en", "actualizado_en"}


@pytest.mark.parametrize("skip", [0, 1], ids=["the-change-fails", "the-entry-fails"])
async def test_a_change_and_its_entry_are_written_together_or_not_at_all(mongo_uri, db, skip):
    """A persona is created with two inserts in one transaction (the persona, then its entry): a
    failure of either leaves neither."""
    async with client_meeting_fail_point(mongo_uri, f"auditoria-{skip}", mode={"skip": skip}, failCommands=["insert"], errorCode=8) as faulty:
        repos = Repositories.over(faulty[db.name], actor=Actor.administrator("maria", request_id="r", client="c"))
        with pytest.raises(Exception, match="failCommand"):
            await repos.personas.create(nombre="Ana", correo="ana@example.cl")
    assert await db["personas"].count_documents({}) == 0
    assert await db["auditoria"].count_documents({}) == 0


async def test_a_status_change_whose_entry_cannot_be_written_does_not_happen(mongo_uri, db, repos):
    world = await make_world(repos)
    recorded, _ = await repos.infracciones.record(
        numero_oficial=42, jti=jti_of(world.token), placa_patente="BBCD12",
        timestamp=dt.datetime(2026, 11, 10, 15, tzinfo=dt.timezone.utc), comentarios="",
    )
    async with client_meeting_fail_point(mongo_uri, "estado-fault", failCommands=["insert"], errorCode=8) as faulty:
        admin = Repositories.over(faulty[db.name], actor=Actor.administrator("maria", request_id="r", client="c"))
        with pytest.raises(Exception, match="failCommand"):
            await admin.infracciones.transition(recorded.id, desde="registrada", to="anulada", motivo="x")
    assert (await repos.infracciones.get(recorded.id)).estado == "registrada"
    assert await db["auditoria"].count_documents({"accion": "cambiar_estado"}) == 0


def test_the_application_has_no_way_to_change_or_delete_an_entry():
    source = Path(auditoria.__file__).read_text()
    calls = {node.attr for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Attribute)}
    writes = {name for name in calls if name.startswith(("update", "delete", "replace", "find_one_and", "drop", "bulk_write", "remove"))}
    assert writes == set(), writes
    # No other module names the collection (its constant is only in repositories/auditoria.py).
    for path in (ROOT / "repositories").rglob("*.py"):
        if path.name != "auditoria.py":
            assert '"auditoria"' not in path.read_text(), path


def test_the_application_role_makes_the_trail_append_only_and_infractions_undeletable():
    role = json.loads(ROLE.read_text())
    collections = role["collections"]
    assert set(collections["auditoria"]) & {"update", "remove"} == set()
    assert {"find", "insert"} <= set(collections["auditoria"])
    assert "remove" not in collections["infracciones"] and "update" in collections["infracciones"]
    assert set(collections["catalogo"]) & {"update", "remove"} == set()  # versions are immutable
    assert "update" not in collections[evidencias.FILES] and "update" not in collections[evidencias.CHUNKS]
    from repositories import _MODULES

    # every collection, no database-wide grant
    assert set(collections) == {module.COLLECTION for module in _MODULES} | set(evidencias.COLLECTIONS)
    assert role["database_actions"] == ["listCollections"]
    script = (ROOT / "docker" / "mongo" / "10-app-user.js").read_text()
    assert "app-role.json" in script and "readWrite" not in script.split("//")[-1]
    compose = (ROOT / "docker-compose.yml").read_text()
    assert "./docker/mongo/app-role.json:/opt/transito/app-role.json:ro" in compose


async def test_history_and_audit_pages(admin_client, repos):
    create = await post_form(admin_client, "/admin/personas/nuevo", {"nombre": "Ana Pérez", "correo": "ana@example.cl"})
    persona_id = create.headers["Location"].rsplit("/", 1)[1]
    await post_form(admin_client, f"/admin/personas/{persona_id}/editar", {"nombre": "Ana M. Pérez", "correo": "ana@example.cl"})
    detail = await admin_client.get(f"/admin/personas/{persona_id}")
    assert f"/admin/personas/{persona_id}/historial" in detail.text
    history = await admin_client.get(f"/admin/personas/{persona_id}/historial")
    assert history.status_code == 200
    assert "Creación" in history.text and "Edición" in history.text and "Ana M. Pérez" in history.text
    everything = await admin_client.get("/admin/auditoria/")
    assert everything.status_code == 200 and "Inicio de sesión" in everything.text
    edits = await admin_client.get("/admin/auditoria/", params={"accion": "editar", "coleccion": "personas", "actor": ADMIN_USERNAME})
    assert "1 registro" in edits.text and "Ana M. Pérez" in edits.text
    nothing = await admin_client.get("/admin/auditoria/", params={"actor": "nadie"})
    assert "0 registros" in nothing.text
    invalid = await admin_client.get("/admin/auditoria/", params={"desde": "2026-12-02", "hasta": "2026-12-01"})
    assert invalid.status_code == 400 and "posterior" in invalid.text


async def test_a_stale_status_form_is_refused_and_explained(admin_client, repos):
    world = await make_world(repos)
    recorded, _ = await repos.infracciones.record(
        numero_oficial=42, jti=jti_of(world.token), placa_patente="BBCD12",
        timestamp=dt.datetime(2026, 11, 10, 15, tzinfo=dt.timezone.utc), comentarios="",
    )
    await repos.infracciones.transition(recorded.id, desde="registrada", to="notificada")
    with pytest.raises(Conflict):
        await repos.infracciones.transition(recorded.id, desde="registrada", to="anulada", motivo="x")
    stale = await post_form(
        admin_client, f"/admin/infracciones/{recorded.id}/estado", {"desde": "registrada", "estado": "anulada", "motivo": "x"}
    )
    assert stale.status_code == 409 and "ahora está notificada" in stale.text


async def test_the_trail_list_keeps_to_its_filter_and_pages_by_number_and_by_cursor(repos):
    """The audit list (``AuditRepository.search``): a filter selects only its entries, in the total
    and on every page; page 2 is page 2 whether asked by number or reached by a link's cursor, and a
    link to a near previous page carries a cursor (an index seek, not a skip)."""
    for n in range(3):
        await repos.personas.create(nombre=f"Persona {n}", correo=f"p{n}.trail@example.cl")
    oficiales = [await repos.oficiales.create(nombre=f"Oficial {n}", numero=700 + n) for n in range(3)]
    only = AuditFilters(coleccion="oficiales")
    pages = [await repos.auditoria.search(only, sort=NEWEST_FIRST, per_page=1, page=n) for n in (1, 2, 3)]
    assert [p.total for p in pages] == [3, 3, 3]
    assert [p.page for p in pages] == [1, 2, 3]
    assert [e.coleccion for p in pages for e in p.items] == ["oficiales"] * 3
    assert [e.documento_id for p in pages for e in p.items] == [o.id for o in reversed(oficiales)]  # newest first
    forward = Cursor.decode(pages[0].link(2).cursor, NEWEST_FIRST, 1)
    backward = Cursor.decode(pages[2].link(2).cursor, NEWEST_FIRST, 1)
    assert forward is not None and backward is not None
    for cursor in (forward, backward):
        reached = await repos.auditoria.search(only, sort=NEWEST_FIRST, per_page=1, page=2, cursor=cursor)
        assert (reached.page, reached.items) == (2, pages[1].items)


async def test_the_trail_list_filters_by_record_action_actor_and_dates(repos):
    """Each filter of the audit list selects exactly its entries (and a date range is [desde, hasta))."""
    oficial = await repos.oficiales.create(nombre="Oficial filtrado", numero=750)
    await repos.oficiales.update(oficial.id, nombre="Oficial filtrado bis", numero=750, activo=True)
    await repos.personas.create(nombre="Persona filtrada", correo="filtrada.trail@example.cl")

    async def chosen(**filters) -> list[tuple[str, str]]:
        page = await repos.auditoria.search(AuditFilters(**filters), sort=NEWEST_FIRST, per_page=50, page=1)
        assert page.total == len(page.items)
        return [(e.coleccion, e.accion) for e in page.items]

    everything = await chosen()
    assert everything == [("personas", "crear"), ("oficiales", "editar"), ("oficiales", "crear")]
    assert await chosen(documento_id=ObjectId(oficial.id)) == [("oficiales", "editar"), ("oficiales", "crear")]
    assert await chosen(documento_id=ObjectId(oficial.id), coleccion="oficiales") == [("oficiales", "editar"), ("oficiales", "crear")]
    assert await chosen(documento_id=ObjectId(oficial.id), coleccion="personas") == []
    assert await chosen(accion="editar") == [("oficiales", "editar")]
    [edit] = (await repos.auditoria.search(AuditFilters(accion="editar"), per_page=50)).items
    assert (edit.documento_id, edit.antes["nombre"], edit.despues["nombre"]) == (oficial.id, "Oficial filtrado", "Oficial filtrado bis")
    assert await chosen(coleccion="personas") == [("personas", "crear")]
    actor = (await repos.auditoria.search(AuditFilters(), per_page=1)).items[0].actor_nombre
    assert await chosen(actor=actor) == everything
    assert await chosen(actor="nadie") == []
    entries = (await repos.auditoria.search(AuditFilters(), per_page=50)).items
    oldest, newest = entries[-1].en, entries[0].en
    hour = dt.timedelta(hours=1)
    assert await chosen(desde=oldest - hour) == everything
    assert await chosen(desde=newest + hour) == []
    assert await chosen(hasta=newest + hour) == everything
    assert await chosen(hasta=oldest) == []  # hasta is exclusive
    assert await chosen(desde=oldest - hour, hasta=newest + hour) == everything
    assert await chosen(desde=newest + hour, hasta=newest + 2 * hour) == []


async def test_the_trail_list_reads_each_entry_with_its_id_actor_and_origin(repos, db):
    """An entry as the Auditoría page gets it: its own id, who wrote it and from where; an entry
    about no record has no record id, and one stored without before/after reads them as empty."""
    admin = repos.acting_as(Actor.administrator("maria", request_id="r1", client="10.0.0.1"))
    persona = await admin.personas.create(nombre="Ana", correo="ana.origen@example.cl")
    await repos.sesiones.failed_login("nadie")
    bare = {"en": dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc), "actor": {"tipo": "script", "nombre": "antiguo"}, "accion": "borrar", "coleccion": "personas"}
    await db["auditoria"].insert_one(bare)
    page = await repos.auditoria.search(AuditFilters(), per_page=50)
    by_action = {entry.accion: entry for entry in page.items}
    assert set(by_action) == {"crear", "sesion_fallida", "borrar"}
    stored_ids = {doc["accion"]: str(doc["_id"]) for doc in await db["auditoria"].find().to_list(None)}
    assert {accion: entry.id for accion, entry in by_action.items()} == stored_ids
    created = by_action["crear"]
    assert (created.actor_tipo, created.actor_nombre, created.documento_id) == ("administrador", "maria", persona.id)
    assert (created.request_id, created.cliente) == ("r1", "10.0.0.1")
    assert by_action["sesion_fallida"].documento_id is None
    old = by_action["borrar"]
    assert (old.actor_tipo, old.antes, old.despues, old.request_id, old.cliente) == ("script", {}, {}, None, None)


async def test_a_record_s_history_is_its_latest_200_entries(repos, db):
    record = ObjectId()
    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    await db["auditoria"].insert_many([
        {"en": start + dt.timedelta(minutes=n), "actor": {"tipo": "script", "nombre": "s"}, "accion": "editar", "coleccion": "personas", "documento_id": record}
        for n in range(201)
    ])
    history = await repos.auditoria.history("personas", record)
    assert len(history) == 200
    assert (history[0].en, history[-1].en) == (start + dt.timedelta(minutes=200), start + dt.timedelta(minutes=1))  # newest first
