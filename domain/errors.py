"""Errors the domain raises. Each carries a Spanish message for the user and, where one input is
to blame, the domain name of that ``field`` (``placa_patente``, ``correo``, ``clave_idempotencia``).
They never know about HTTP: ``handlers/base.py`` holds the one table from these classes to status
codes, and each handler names the request field that a domain field came from."""

from __future__ import annotations

import dataclasses


class DomainError(Exception):
    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidValue(DomainError):
    """A value breaks one of the rules in ``domain.rules`` (a malformed plate, e-mail or text)."""


class NotFound(DomainError):
    """The record does not exist (or its id is malformed)."""


class Conflict(DomainError):
    """A unique value is already taken (correo, placa patente, número), or a state changed under us.
    ``existing`` is (id, label) of the record that holds the value, when it is known."""

    existing: tuple[str, str] | None = None


@dataclasses.dataclass(frozen=True)
class Reference:
    """A record (or a filtered list of records) that a refusal names: by collection and id, or by
    collection and the filters that select them."""

    label: str
    coleccion: str
    id: str = ""
    filters: dict[str, str] = dataclasses.field(default_factory=dict)


class StillReferenced(DomainError):
    """The record cannot be deleted because other records point at it (``references`` names them)."""

    def __init__(self, message: str, *, references: list[Reference] | None = None) -> None:
        super().__init__(message)
        self.references = references or []


class MissingReference(DomainError):
    """A record would point at another record that does not exist."""


class CredentialNotLive(DomainError):
    """A bearer token that verifies but is no longer live: revoked, or its officer is gone or inactive."""

    def __init__(self, message: str = "El token fue revocado o el oficial no existe o está inactivo.") -> None:
        super().__init__(message)
