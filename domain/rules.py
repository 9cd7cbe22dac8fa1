"""What a valid value is, in one place: plates, e-mails, free text, numbers typed by people, and the
Spanish message for each refusal. The admin forms, the API, the repositories (which normalise
again before every write and every lookup), the scripts and the seeder all call these functions,
so a value is normalised the same way when it is written and when it is looked up.

Each ``*_or_raise`` function returns the normalised value or raises ``InvalidValue`` with the
message and the domain field name."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

from domain.errors import InvalidValue

# -- limits (also stated in the $jsonSchema validators and in openapi.json) ----------------------
NOMBRE_MAX = 120
CORREO_MAX = 254
MARCA_MAX = 60
COLOR_MAX = 40
COMENTARIOS_MAX = 2000
ETIQUETA_MAX = 80
MAX_BADGE_NUMBER = 2**53  # survives JSON clients that read numbers as doubles

# -- messages --------------------------------------------------------------------------------------
REQUIRED_MESSAGE = "Este campo es obligatorio."
PLATE_MESSAGE = "La placa patente debe tener entre 5 y 8 letras o números (sin contar espacios ni guiones)."
EMAIL_MESSAGE = "Ingrese un correo electrónico válido, por ejemplo nombre@dominio.cl."
CONTROL_MESSAGE = "No puede contener caracteres de control."
BADGE_MESSAGE = "Debe ser un número entero positivo."


def leading_zeros_message(typed: str, value: int) -> str:
    return (
        f"Escríbalo sin ceros a la izquierda: el número se guarda como número entero, así que «{typed}» "
        f"quedaría como {value}. Si la placa dice {typed}, registre {value}."
    )


def too_long_message(maximum: int) -> str:
    return f"Puede tener como máximo {maximum} caracteres."


# -- placa patente ---------------------------------------------------------------------------------
# A normalised plate: 5 to 8 ASCII letters or digits (Chile: BBBB10 and AB1234; Argentina: AB123CD).
PLATE_PATTERN = "^[A-Z0-9]{5,8}$"
_PLATE = re.compile(PLATE_PATTERN)
# What a person may type between the characters: spaces, dashes, dots and middle dots ('BB·CD·12').
PLATE_SEPARATORS = " -.·"
_PLATE_SEPARATORS = re.compile(f"[{re.escape(PLATE_SEPARATORS)}]+")
# A plate as typed, which normalises to a valid plate (openapi.json states it for the API's clients).
PLATE_INPUT_PATTERN = "^[ .·-]*(?:[A-Za-z0-9][ .·-]*){5,8}$"


def normalize_plate(raw: str) -> str:
    """'ab-cd 12' -> 'ABCD12': plates are stored upper-case without spaces, dashes or dots.

    Only an ASCII plate is upper-cased: ``str.upper`` folds 'ß' to 'SS' and 'ı' to 'I', which would
    turn a typing error into somebody else's plate; anything non-ASCII stays and is refused."""
    plate = _PLATE_SEPARATORS.sub("", raw)
    return plate.upper() if plate.isascii() else plate


def is_valid_plate(plate: str) -> bool:
    """Whether an already normalised plate is well formed (all of it: ``$`` alone accepts a final newline)."""
    return bool(_PLATE.fullmatch(plate))


def plate_or_raise(raw: str) -> str:
    plate = normalize_plate(raw)
    if not is_valid_plate(plate):
        raise InvalidValue(PLATE_MESSAGE, field="placa_patente")
    return plate


# -- correo electrónico ----------------------------------------------------------------------------
# Besides the syntax (openapi.json: format email), the e-mail library refuses the special-use and
# reserved domains that never receive mail (.test, .invalid, .local, .localhost, .onion, .arpa): the
# contract states that with this pattern (in lower case; the library's check ignores case).
EMAIL_PATTERN = f"^(?!.*[.@](?:{'|'.join(SPECIAL_USE_DOMAIN_NAMES)})$)"
def normalize_email(raw: str) -> str:
    """The one form of an e-mail address that is stored and looked up.

    Compatibility forms are folded first (NFKC: full-width 'ａｎａ' is 'ana', a decomposed 'e' plus
    accent is 'é'), then the e-mail library normalises the domain (IDNA) and the address is
    lower-cased. So look-alike spellings of one address are one address, and a persona finds her
    own report however her address was typed. Raises InvalidValue when it is not an address."""
    text = unicodedata.normalize("NFKC", raw).strip()
    if not text or len(text) > CORREO_MAX:
        raise InvalidValue(EMAIL_MESSAGE, field="correo")
    try:
        normalized = validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError:
        raise InvalidValue(EMAIL_MESSAGE, field="correo") from None
    return normalized.lower()


# -- free text -------------------------------------------------------------------------------------
# C0 controls and DEL, except tab, line feed and carriage return (allowed in multi-line comments).
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def has_control_characters(text: str) -> bool:
    return bool(_CONTROL_CHARACTERS.search(text))


def text_or_raise(raw: str, *, field: str, maximum: int, required: bool = True) -> str:
    """A stripped one-line or multi-line text within ``maximum`` characters, without control characters."""
    text = raw.strip()
    if required and not text:
        raise InvalidValue(REQUIRED_MESSAGE, field=field)
    if len(text) > maximum:
        raise InvalidValue(too_long_message(maximum), field=field)
    if has_control_characters(text):
        raise InvalidValue(CONTROL_MESSAGE, field=field)
    return text


# -- words that agree with a number -----------------------------------------------------------------
def plural(count: int, one: str, many: str) -> str:
    """'1 vehículo', '3 vehículos', '0 vehículos': the count and the form that agrees with it."""
    return f"{count} {one if count == 1 else many}"


def file_size(size: int) -> str:
    """A byte count as people read it: "850 KB", "2,4 MB"."""
    if size < 1024 * 1024:
        return f"{max(1, round(size / 1024))} KB"
    return f"{size / (1024 * 1024):.1f} MB".replace(".", ",")


# -- numbers typed by people -----------------------------------------------------------------------
def ascii_int(raw: str) -> int | None:
    """The value of a string of ASCII digits, else None. ``str.isdigit`` alone accepts '²' and
    Arabic-Indic digits, which ``int()`` then refuses or reads differently."""
    return int(raw) if raw.isascii() and raw.isdigit() else None


# -- time ------------------------------------------------------------------------------------------
def to_millisecond(value: dt.datetime) -> dt.datetime:
    """Drop what MongoDB's dates cannot keep (microseconds), so a stored value equals what we
    computed and answered with."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


# -- an infraction's time --------------------------------------------------------------------------
MAX_FUTURE = dt.timedelta(minutes=5)  # clock drift tolerated between a phone and the server
TIMESTAMP_MESSAGE = "Debe ser una fecha y hora ISO 8601, por ejemplo 2026-11-24T14:30:00-03:00."
TIMESTAMP_RANGE_MESSAGE = "La fecha y hora está fuera del rango de fechas admitido."
# The one form of date and time the API accepts, as openapi.json states it: ISO 8601 / RFC 3339
# 'YYYY-MM-DDTHH:MM[:SS[.fraction]]' ('T' or a space between date and time), then 'Z', '+HH:MM',
# '-HH:MM' or nothing (local time). ``datetime.fromisoformat`` alone also takes week dates, any
# character as the separator and offsets with seconds, which no client could learn from the contract.
TIMESTAMP_PATTERN = (
    "^[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    "|02-(?:0[1-9]|1[0-9]|2[0-9]))[T ](?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:[.][0-9]{1,9})?)?"
    "(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?$"
)
_TIMESTAMP = re.compile(TIMESTAMP_PATTERN)


def parse_timestamp(raw: str, zone: dt.tzinfo) -> dt.datetime:
    """ISO 8601 (TIMESTAMP_PATTERN) to an aware UTC datetime at millisecond precision; a value
    without an offset is read in ``zone`` (APP_TIMEZONE)."""
    if not _TIMESTAMP.fullmatch(raw):
        raise InvalidValue(TIMESTAMP_MESSAGE, field="timestamp")
    try:
        value = dt.datetime.fromisoformat(raw)  # also refuses what the pattern cannot: 29 February of a common year, year 0
    except ValueError:
        raise InvalidValue(TIMESTAMP_MESSAGE, field="timestamp") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    try:
        return to_millisecond(value.astimezone(dt.timezone.utc))
    except OverflowError:  # year 1 with a positive offset, year 9999 with a negative one: before or after any UTC date
        raise InvalidValue(TIMESTAMP_RANGE_MESSAGE, field="timestamp") from None


def infraction_time_or_raise(raw: str, *, zone: dt.tzinfo, now: dt.datetime, max_age_days: int) -> dt.datetime:
    """When an infraction happened, as the API accepts it: not in the future (beyond clock drift)
    and not older than ``max_age_days`` (INFRACTION_MAX_AGE_DAYS)."""
    value = parse_timestamp(raw, zone)
    if value > now + MAX_FUTURE:
        raise InvalidValue(
            "La fecha y hora está en el futuro (se aceptan hasta 5 minutos de diferencia de reloj).", field="timestamp"
        )
    if value < now - dt.timedelta(days=max_age_days):
        raise InvalidValue(
            f"La infracción tiene más de {max_age_days} días: no se puede cargar por la API.", field="timestamp"
        )
    return value


def spanish_duration(seconds: int) -> str:
    """'15 minutos', '1 minuto', '45 segundos': how long to wait, as a person says it."""
    if seconds >= 90:
        minutes = round(seconds / 60)
        return f"{minutes} minutos"
    if seconds >= 60:
        return "1 minuto"
    return "1 segundo" if seconds == 1 else f"{seconds} segundos"


def local_midnight(day: dt.date, zone: dt.tzinfo) -> dt.datetime:
    """When ``day`` starts in ``zone`` (APP_TIMEZONE), in UTC. Built from the date, not by adding
    24 hours, so a day of 23 or 25 hours (a daylight-saving change) ends where it should."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=zone).astimezone(dt.timezone.utc)


def local_days(first: dt.date, last: dt.date, zone: dt.tzinfo) -> tuple[dt.datetime, dt.datetime]:
    """[start of ``first``, start of the day after ``last``) in ``zone``, as UTC bounds."""
    return local_midnight(first, zone), local_midnight(last + dt.timedelta(days=1), zone)


def local_month(day: dt.date, zone: dt.tzinfo) -> tuple[dt.datetime, dt.datetime]:
    """The calendar month of ``day`` in ``zone``, as UTC bounds."""
    first = day.replace(day=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    return local_midnight(first, zone), local_midnight(following, zone)


# -- where an infraction happened ------------------------------------------------------------------
MAX_PRECISION_M = 10_000  # a position less precise than 10 km says nothing about the place


def latitude_or_raise(value: float) -> float:
    if not -90 <= value <= 90:
        raise InvalidValue("La latitud debe estar entre -90 y 90 grados.", field="ubicacion.latitud")
    return float(value)


def longitude_or_raise(value: float) -> float:
    if not -180 <= value <= 180:
        raise InvalidValue("La longitud debe estar entre -180 y 180 grados.", field="ubicacion.longitud")
    return float(value)


def precision_or_raise(value: float) -> float:
    if not 0 <= value <= MAX_PRECISION_M:
        raise InvalidValue(f"La precisión debe estar entre 0 y {MAX_PRECISION_M} metros.", field="ubicacion.precision_m")
    return float(value)


def location_or_raise(latitud: float, longitud: float, precision_m: float | None) -> dict[str, object]:
    """A GeoJSON point (longitude first, as GeoJSON and MongoDB's 2dsphere index want it) with the
    device's stated precision in metres."""
    point: dict[str, object] = {"type": "Point", "coordinates": [longitude_or_raise(longitud), latitude_or_raise(latitud)]}
    if precision_m is not None:
        point["precision_m"] = precision_or_raise(precision_m)
    return point
# -- search terms ------------------------------------------------------------------------------------
# The admin's search boxes match words by their beginning, accent- and case-insensitively, through an
# index: each record stores ``busqueda``, the prefixes of its words, folded (a multikey index), and a
# query is an equality match on the folded words typed. A regex "contains" would read every record.
TERM_MAX = 20  # longer words are matched on their first TERM_MAX characters
SEARCH_MIN_MESSAGE = "Escriba al menos una letra o un número para buscar."
_WORD = re.compile(r"[^\W_]+")


def fold(text: str) -> str:
    """'José Muñoz' -> 'jose munoz': compatibility forms folded, accents dropped, lower case."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def words(text: str) -> list[str]:
    """The folded words of a text ('ana.perez@example.cl' -> ['ana', 'perez', 'example', 'cl'])."""
    return _WORD.findall(fold(text))


def prefixes(text: str) -> set[str]:
    """Every beginning of every word of ``text``, up to TERM_MAX characters."""
    return {word[:n] for word in words(text) for n in range(1, min(len(word), TERM_MAX) + 1)}


def substrings(text: str) -> set[str]:
    """Every piece of a short code (a plate: 'BBCD12' is found by 'CD12' or 'cd-12' too)."""
    code = "".join(words(text))
    return {code[i:j] for i in range(len(code)) for j in range(i + 1, len(code) + 1)}


def search_terms(*texts: str, codes: tuple[str, ...] = ()) -> list[str]:
    """What a record stores in ``busqueda``: the prefixes of the words of ``texts`` and every piece
    of each of ``codes``, sorted (so an unchanged record stores the same list)."""
    terms = set().union(*(prefixes(text) for text in texts), *(substrings(code) for code in codes))
    return sorted(terms)


def query_terms(query: str) -> list[str]:
    """The terms a search box's text asks for (each must be in a record's ``busqueda``), longest
    first: the index is read on the first, the most selective."""
    return sorted({word[:TERM_MAX] for word in words(query)}, key=lambda w: (-len(w), w))
