"""Who changed the registry, and what they did: the actor every administrative or script write is
recorded under, and the names of the actions in the audit trail (``repositories/auditoria.py``).

An infraction loaded through the API is not an audit entry: it is its own record (officer, token,
request id and client address are stored on it)."""

from __future__ import annotations

import dataclasses
import getpass
import socket
from typing import Any

# Actions, as stored and shown (Spanish, like everything the administrators read).
CREAR = "crear"
EDITAR = "editar"
BORRAR = "borrar"
ACTIVAR = "activar"
DESACTIVAR = "desactivar"
EMITIR_TOKEN = "emitir_token"
REVOCAR_TOKEN = "revocar_token"
CAMBIAR_ESTADO = "cambiar_estado"
REEMPLAZAR = "reemplazar"
INICIAR_SESION = "iniciar_sesion"
SESION_FALLIDA = "sesion_fallida"
CERRAR_SESION = "cerrar_sesion"
CAMBIAR_CLAVE = "cambiar_clave"
NUEVA_VERSION = "nueva_version"  # of an offence code in the catalogue (versions are never edited)
RETIRAR = "retirar"  # an offence code from the catalogue
ACTIONS = (
    CREAR, EDITAR, BORRAR, ACTIVAR, DESACTIVAR, EMITIR_TOKEN, REVOCAR_TOKEN, CAMBIAR_ESTADO, REEMPLAZAR,
    INICIAR_SESION, SESION_FALLIDA, CERRAR_SESION, CAMBIAR_CLAVE, NUEVA_VERSION, RETIRAR,
)
ACTION_LABELS = {
    CREAR: "Creación",
    EDITAR: "Edición",
    BORRAR: "Borrado",
    ACTIVAR: "Activación",
    DESACTIVAR: "Desactivación",
    EMITIR_TOKEN: "Token emitido",
    REVOCAR_TOKEN: "Token revocado",
    CAMBIAR_ESTADO: "Cambio de estado",
    REEMPLAZAR: "Reemplazo",
    INICIAR_SESION: "Inicio de sesión",
    SESION_FALLIDA: "Inicio de sesión fallido",
    CERRAR_SESION: "Cierre de sesión",
    CAMBIAR_CLAVE: "Cambio de contraseña",
    NUEVA_VERSION: "Nueva versión",
    RETIRAR: "Retiro del catálogo",
}
# Never written to the trail, whatever collection they are in.
SECRET_FIELDS = frozenset({"password_hash", "jti", "token", "token_jtis"})
# Derived from other fields for searching and filtering (``repositories/listing.py``): not a change anyone made.
DERIVED_FIELDS = frozenset({"busqueda", "marca_clave"})


@dataclasses.dataclass(frozen=True)
class Actor:
    """Who is acting: an administrator (by user name), a script (by operating-system user), or the
    server itself; and, for a web request, its id and the client's address."""

    tipo: str  # "administrador", "script", "sistema" or "anonimo" (a login attempt)
    nombre: str
    request_id: str | None = None
    cliente: str | None = None

    @classmethod
    def administrator(cls, username: str, *, request_id: str, client: str) -> Actor:
        return cls("administrador", username, request_id, client)

    @classmethod
    def anonymous(cls, *, request_id: str, client: str) -> Actor:
        return cls("anonimo", "", request_id, client)

    @classmethod
    def script(cls, name: str) -> Actor:
        """A command-line script, run by this machine's operating-system user."""
        return cls("script", f"{getpass.getuser()}@{socket.gethostname()} ({name})")


SYSTEM = Actor("sistema", "servidor")


def changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fields that differ between two versions of a record, before and after, without secrets
    or the record's own id."""
    before, after = before or {}, after or {}
    names = (set(before) | set(after)) - SECRET_FIELDS - DERIVED_FIELDS - {"_id"}
    changed = sorted(name for name in names if before.get(name) != after.get(name))
    return (
        {name: before[name] for name in changed if name in before},
        {name: after[name] for name in changed if name in after},
    )
