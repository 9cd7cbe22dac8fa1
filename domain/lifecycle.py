"""An infraction's status and the moves between them.

    registrada  ──► notificada, apelada, anulada
    notificada  ──► pagada, apelada, anulada
    apelada     ──► confirmada (the appeal is rejected: payable again), anulada (it is upheld)
    confirmada  ──► pagada
    pagada, anulada: final

A human decision needs a reason (``motivo``): annulling, filing an appeal, and deciding it.
``pagada`` and ``anulada`` are final. A fine is paid once the offender has been notified (or once
an appeal is rejected), so ``registrada`` does not go straight to ``pagada``. A recorded fact is
never corrected in place: an infraction recorded wrongly is annulled and replaced by a new one."""

from __future__ import annotations

import dataclasses

from domain.errors import Conflict, InvalidValue

REGISTRADA = "registrada"
NOTIFICADA = "notificada"
APELADA = "apelada"
CONFIRMADA = "confirmada"
PAGADA = "pagada"
ANULADA = "anulada"
STATES = (REGISTRADA, NOTIFICADA, APELADA, CONFIRMADA, PAGADA, ANULADA)
LABELS = {
    REGISTRADA: "Registrada",
    NOTIFICADA: "Notificada",
    APELADA: "Apelada",
    CONFIRMADA: "Confirmada (apelación rechazada)",
    PAGADA: "Pagada",
    ANULADA: "Anulada",
}
MOTIVO_MAX = 500


@dataclasses.dataclass(frozen=True)
class Move:
    to: str
    action: str  # what the button says
    needs_reason: bool
    reason: str  # what the reason is called in the form


MOVES: dict[str, tuple[Move, ...]] = {
    REGISTRADA: (
        Move(NOTIFICADA, "Marcar como notificada", False, "Nota sobre la notificación"),
        Move(APELADA, "Registrar una apelación", True, "Fundamento de la apelación"),
        Move(ANULADA, "Anular", True, "Motivo de la anulación"),
    ),
    NOTIFICADA: (
        Move(PAGADA, "Registrar el pago", False, "Comprobante de pago"),
        Move(APELADA, "Registrar una apelación", True, "Fundamento de la apelación"),
        Move(ANULADA, "Anular", True, "Motivo de la anulación"),
    ),
    APELADA: (
        Move(CONFIRMADA, "Rechazar la apelación (confirmar)", True, "Fundamento del rechazo"),
        Move(ANULADA, "Acoger la apelación (anular)", True, "Fundamento de la anulación"),
    ),
    CONFIRMADA: (Move(PAGADA, "Registrar el pago", False, "Comprobante de pago"),),
    PAGADA: (),
    ANULADA: (),
}


def move(current: str, to: str, motivo: str) -> Move:
    """The move from ``current`` to ``to``, checked: allowed, and with its reason when it needs one.
    Returns the move; raises Conflict (not allowed from here) or InvalidValue (a reason is missing)."""
    if to not in STATES:
        raise InvalidValue(f"No existe el estado {to!r}.", field="estado")
    found = next((m for m in MOVES[current] if m.to == to), None)
    if found is None:
        raise Conflict(f"Una infracción {LABELS[current].lower()} no puede pasar a {LABELS[to].lower()}.", field="estado")
    reason = motivo.strip()
    if found.needs_reason and not reason:
        raise InvalidValue("Indique el motivo: esta decisión debe quedar fundamentada.", field="motivo")
    if len(reason) > MOTIVO_MAX:
        raise InvalidValue(f"El motivo puede tener como máximo {MOTIVO_MAX} caracteres.", field="motivo")
    return found


def counts_in_public_report(estado: str) -> bool:
    """An annulled infraction is no longer held against anyone: the public report leaves it out."""
    return estado != ANULADA
