"""Every command a MongoDB client sends, as PyMongo's command monitoring reports it."""

from __future__ import annotations

from typing import Any

from pymongo import monitoring

# Connection management, not work done for the request.
_HOUSEKEEPING = {"hello", "ismaster", "isMaster", "endSessions", "ping", "saslStart", "saslContinue", "buildInfo"}


class Recorder(monitoring.CommandListener):
    def __init__(self) -> None:
        self.commands: list[tuple[str, dict[str, Any]]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name not in _HOUSEKEEPING:
            self.commands.append((event.command_name, dict(event.command)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def names(self) -> list[str]:
        return [name for name, _ in self.commands]
