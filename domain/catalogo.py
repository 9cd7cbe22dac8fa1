"""The offence catalogue's rules: what an offence code looks like, the four severities of Chile's
Ley de Tránsito and their fines, and which version of a code is in force at a given time.

Ley N° 18.290 (texto refundido, DFL N° 1 de 2007 de los Ministerios de Transportes y Justicia)
grades offences as gravísimas (art. 199), graves (art. 200), menos graves (art. 201) and leves
(art. 202), and fines each grade in monthly tax units (UTM): gravísimas 1.5 to 3, graves 1 to 1.5,
menos graves 0.5 to 1, leves 0.2 to 0.5. Some offences carry other fines set by their own articles
(driving under the influence, for one), which a catalogue entry may state within the law's bounds.

A catalogue entry is a sequence of immutable versions: a change is a new version in force from a
date, a retirement is a version that says the code is no longer in force, and nothing is edited
in place, so an infraction keeps pointing at the version it was issued under and a process may
cache versions without ever seeing one change."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from decimal import Decimal

from domain.errors import InvalidValue
from domain.rules import fold


@dataclasses.dataclass(frozen=True)
class Severity:
    key: str
    label: str
    article: str
    min_utm: Decimal
    max_utm: Decimal


SEVERITIES = {
    s.key: s
    for s in (
        Severity("gravisima", "Gravísima", "art. 199", Decimal("1.5"), Decimal("3")),
        Severity("grave", "Grave", "art. 200", Decimal("1"), Decimal("1.5")),
        Severity("menos_grave", "Menos grave", "art. 201", Decimal("0.5"), Decimal("1")),
        Severity("leve", "Leve", "art. 202", Decimal("0.2"), Decimal("0.5")),
    )
}
CODE_PATTERN = "^[A-Z0-9][A-Z0-9.-]{0,19}$"
_CODE = re.compile(CODE_PATTERN)
# A code as typed, which code_or_raise takes (openapi.json states it for the API's clients).
CODE_INPUT_PATTERN = "^ *[A-Za-z0-9][A-Za-z0-9.-]{0,19} *$"
CODE_MAX_INPUT = 20  # spaces around it included
CODE_MESSAGE = "El código tiene de 1 a 20 letras, números, puntos o guiones, por ejemplo G-199-1."
DESCRIPTION_MAX = 300
ARTICLE_MAX = 80
# A new version of a code already in force starts this long after it is written at the earliest, so
# every process's cache of the catalogue (refreshed more often than this) knows it before it applies.
NOTICE = dt.timedelta(minutes=10)


def code_or_raise(raw: str) -> str:
    """' g-199-1 ' -> 'G-199-1'. Only spaces are stripped (not tabs, line breaks or other Unicode
    spaces), and only an ASCII code is upper-cased: ``str.upper`` folds 'ß' to 'SS', 'ı' to 'I' and
    'ﬀ' to 'FF', which would turn a typing error into another code; anything else is refused, so
    the API's contract (openapi.json) can state exactly what is taken."""
    code = raw.strip(" ")
    code = code.upper() if code.isascii() else code
    if not _CODE.fullmatch(code):  # all of it: ``$`` alone accepts a final newline
        raise InvalidValue(CODE_MESSAGE, field="codigo")
    return code


def severity_or_raise(key: str) -> Severity:
    try:
        return SEVERITIES[key]
    except KeyError:
        raise InvalidValue("La gravedad debe ser gravísima, grave, menos grave o leve.", field="gravedad") from None


def fine_or_raise(minimum: Decimal, maximum: Decimal) -> tuple[Decimal, Decimal]:
    """A fine range in UTM: usually its grade's (``SEVERITIES``), but an offence with its own fine in
    the law states that one."""
    # Written out: Decimal('1E+1') (a form's '1e1') would be shown, stored and sent to the API as '1E+1'.
    minimum, maximum = Decimal(format(minimum, "f")), Decimal(format(maximum, "f"))
    if minimum <= 0 or maximum < minimum:
        raise InvalidValue("La multa mínima debe ser positiva y no mayor que la máxima.", field="multa_min")
    if minimum.as_tuple().exponent < -2 or maximum.as_tuple().exponent < -2:  # type: ignore[operator]
        raise InvalidValue("Use a lo más dos decimales en la multa.", field="multa_min")
    return minimum, maximum


@dataclasses.dataclass(frozen=True)
class Version:
    """One version of a code, as it is stored and cached."""

    codigo: str
    version: int
    descripcion: str
    gravedad: str
    multa_min_utm: Decimal
    multa_max_utm: Decimal
    articulo: str
    vigente_desde: dt.datetime  # UTC
    retirado: bool = False  # a version that retires the code from ``vigente_desde`` on

    def snapshot(self) -> dict[str, object]:
        """What an infraction issued under this version copies."""
        return {
            "codigo": self.codigo,
            "version": self.version,
            "descripcion": self.descripcion,
            "gravedad": self.gravedad,
            "multa_utm": {"min": format(self.multa_min_utm, "f"), "max": format(self.multa_max_utm, "f")},
            "articulo": self.articulo,
        }


def fine_label(minimum: Decimal | str, maximum: Decimal | str) -> str:
    """A fine range as a Chilean reader writes it: "1,5 a 3 UTM" (decimal comma, no trailing zeros)."""

    def number(value: Decimal | str) -> str:
        text = f"{Decimal(value):f}"
        return (text.rstrip("0").rstrip(".") if "." in text else text).replace(".", ",")

    return f"{number(minimum)} a {number(maximum)} UTM"


def in_force(versions: list[Version], at: dt.datetime) -> Version | None:
    """The version of a code in force at ``at``: the latest to start on or before it (the higher
    version number when two start together), unless that one retires the code."""
    started = [v for v in versions if v.vigente_desde <= at]
    if not started:
        return None
    current = max(started, key=lambda v: (v.vigente_desde, v.version))
    return None if current.retirado else current


VIGENTE, RETIRADO, PENDIENTE = "vigente", "retirado", "pendiente"
STATE_LABELS = {VIGENTE: "Vigente", RETIRADO: "Retirado", PENDIENTE: "Aún no rige"}


@dataclasses.dataclass(frozen=True)
class Entry:
    """A code as it stands at a moment: what is in force, and what change is coming."""

    versions: tuple[Version, ...]  # oldest first
    at: dt.datetime

    @property
    def codigo(self) -> str:
        return self.versions[0].codigo

    @property
    def id(self) -> str:
        """What names the code in the admin's addresses."""
        return self.codigo

    @property
    def current(self) -> Version | None:
        return in_force(list(self.versions), self.at)

    @property
    def shown(self) -> Version:
        """The version to describe the code by: the one in force, else the last that was or will be."""
        return self.current or next(v for v in reversed(self.versions) if not v.retirado)

    @property
    def state(self) -> str:
        if self.current is not None:
            return VIGENTE
        started = [v for v in self.versions if v.vigente_desde <= self.at]
        return RETIRADO if started else PENDIENTE

    @property
    def next_change(self) -> Version | None:
        upcoming = [v for v in self.versions if v.vigente_desde > self.at]
        return min(upcoming, key=lambda v: (v.vigente_desde, v.version)) if upcoming else None

    def matches(self, words: str) -> bool:
        """Whether every word of a search is in the code, the description or the article (any case, any accents)."""
        haystack = fold(" ".join((self.codigo, self.shown.descripcion, self.shown.articulo)))
        return all(word in haystack for word in fold(words).split())
