"""Domain errors raised by repositories. They carry a Spanish message for the user and never
know about HTTP: one place (handlers/base.py) maps them to status codes."""

from __future__ import annotations


class DomainError(Exception):
    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(DomainError):
    """The record does not exist (or its id is malformed)."""


class Conflict(DomainError):
    """A unique value is already taken (correo, placa patente, número)."""


class StillReferenced(DomainError):
    """The record cannot be deleted because other records point at it."""

    def __init__(self, message: str, *, references: list[str] | None = None) -> None:
        super().__init__(message)
        self.references = references or []


class MissingReference(DomainError):
    """A record would point at another record that does not exist."""
