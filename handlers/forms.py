"""WTForms forms for the admin pages, and the adapter from Tornado's arguments to WTForms.

Built-in messages come in Spanish through WTForms' own translations (``Meta.locales``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import tornado.web
from wtforms import (
    BooleanField, DateTimeLocalField, DecimalField, EmailField, HiddenField, Form, IntegerField, PasswordField, SelectField, StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from domain import catalogo, lifecycle, rules
from domain.errors import InvalidValue
from services.tokens import DEFAULT_DAYS, MAX_DAYS


class TornadoFormData(dict):
    """The ``getlist`` mapping WTForms reads, over a Tornado request's body (a POST form) or query
    (a GET form, such as a list's filters) arguments."""

    def __init__(self, handler: tornado.web.RequestHandler, *, query: bool = False) -> None:
        super().__init__()
        if query:
            for name in handler.request.query_arguments:
                self[name] = handler.get_query_arguments(name, strip=False)
        else:
            for name in handler.request.body_arguments:
                self[name] = handler.get_body_arguments(name, strip=False)

    def getlist(self, key: str) -> list[str]:
        return list(self.get(key, []))


class SpanishForm(Form):
    class Meta:
        locales = ["es_ES", "es"]

    @classmethod
    def from_request(cls, handler: tornado.web.RequestHandler, **kwargs: Any) -> SpanishForm:
        return cls(TornadoFormData(handler), **kwargs)

    @classmethod
    def from_query(cls, handler: tornado.web.RequestHandler, **kwargs: Any) -> SpanishForm:
        return cls(TornadoFormData(handler, query=True), **kwargs)


def plain_text(form: Form, field: Any) -> None:
    """Refuse control characters (NUL and friends) in text fields."""
    if field.data and rules.has_control_characters(field.data):
        raise ValidationError(rules.CONTROL_MESSAGE)


def plate(form: Form, field: Any) -> None:
    if field.data and not rules.is_valid_plate(field.data):
        raise ValidationError(rules.PLATE_MESSAGE)


def email(form: Form, field: Any) -> None:
    """The rule the repositories apply; the field keeps what the user typed (they store the normal form)."""
    if field.data:
        try:
            rules.normalize_email(field.data)
        except InvalidValue as error:
            raise ValidationError(error.message) from None


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _normalize_plate(value: Any) -> Any:
    return rules.normalize_plate(value) if isinstance(value, str) else value


REQUIRED = InputRequired(message=rules.REQUIRED_MESSAGE)
# Text fields are stripped by their filters: only blanks ("   ", " - " for a plate) is still empty.
REQUIRED_TEXT = DataRequired(message=rules.REQUIRED_MESSAGE)


class PersonaForm(SpanishForm):
    nombre = StringField("Nombre", [REQUIRED_TEXT, Length(max=rules.NOMBRE_MAX), plain_text], filters=[_strip])
    correo = EmailField("Correo electrónico", [REQUIRED_TEXT, Length(max=rules.CORREO_MAX), email], filters=[_strip])


class VehiculoForm(SpanishForm):
    placa_patente = StringField(
        "Placa patente", [REQUIRED_TEXT, plain_text, plate], filters=[_normalize_plate],
        description="Letras y números; se guarda en mayúsculas sin espacios ni guiones (ej. BBCD12).",
    )
    marca = StringField("Marca", [REQUIRED_TEXT, Length(max=rules.MARCA_MAX), plain_text], filters=[_strip])
    color = StringField("Color", [REQUIRED_TEXT, Length(max=rules.COLOR_MAX), plain_text], filters=[_strip])
    propietario = EmailField(
        "Correo del propietario", [REQUIRED_TEXT, Length(max=rules.CORREO_MAX), email], filters=[_strip],
        description="El correo electrónico de una persona ya registrada.",
        # static/owner-picker.js makes it a search-as-you-type list over this endpoint
        render_kw={"data-owner-picker": "/admin/personas/sugerencias", "autocomplete": "off", "spellcheck": "false"},
    )


def no_leading_zeros(form: Form, field: Any) -> None:
    """A número is stored as a whole number: '0077701' would silently become 77701, so say so."""
    typed = (field.raw_data or [""])[0].strip()
    if len(typed) > 1 and typed.startswith("0") and field.data is not None:
        raise ValidationError(rules.leading_zeros_message(typed, field.data))


class OficialForm(SpanishForm):
    nombre = StringField("Nombre", [REQUIRED_TEXT, Length(max=rules.NOMBRE_MAX), plain_text], filters=[_strip])
    numero = IntegerField(
        "Número identificatorio",
        [REQUIRED, NumberRange(min=1, max=rules.MAX_BADGE_NUMBER, message=rules.BADGE_MESSAGE), no_leading_zeros],
        description="El número de la placa, sin ceros a la izquierda.",
        render_kw={"inputmode": "numeric"},
    )
    activo = BooleanField("Activo", default=True)


class LoginForm(SpanishForm):
    username = StringField("Usuario", [REQUIRED_TEXT, Length(max=64)], filters=[_strip])
    password = PasswordField("Contraseña", [REQUIRED, Length(max=1024)])


class TokenForm(SpanishForm):
    dias = IntegerField(
        "Vigencia (días)",
        [REQUIRED, NumberRange(min=1, max=MAX_DAYS, message=f"Entre 1 y {MAX_DAYS} días.")],
        default=DEFAULT_DAYS,
    )
    etiqueta = StringField(
        "Etiqueta (por ejemplo, el dispositivo)", [Length(max=rules.ETIQUETA_MAX), plain_text], filters=[_strip]
    )


class TransitionForm(SpanishForm):
    """A status change on an infraction's page; whether the reason is required depends on the move
    (``domain.lifecycle``), which the repository checks."""

    desde = HiddenField("Estado visto", [REQUIRED_TEXT, Length(max=20)])  # the status the decision was taken on
    estado = StringField("Nuevo estado", [REQUIRED_TEXT, Length(max=20)], filters=[_strip])
    motivo = TextAreaField("Motivo", [Length(max=lifecycle.MOTIVO_MAX), plain_text], filters=[_strip])


class ReplaceForm(SpanishForm):
    """Annul an infraction recorded wrongly and record its correction."""

    desde = HiddenField("Estado visto", [REQUIRED_TEXT, Length(max=20)])
    placa_patente = StringField(
        "Placa patente", [REQUIRED_TEXT, plain_text, plate], filters=[_normalize_plate],
        description="La placa correcta; se guarda en mayúsculas sin espacios ni guiones.",
    )
    timestamp = DateTimeLocalField(
        "Fecha y hora de la infracción", [InputRequired(message="Indique la fecha y hora, por ejemplo 24-11-2026 14:30.")],
        format=["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"],  # shown with its seconds, so a correction keeps them
        render_kw={"step": 1},
        description="En la hora local de la institución.",
    )
    comentarios = TextAreaField("Comentarios", [Length(max=rules.COMENTARIOS_MAX), plain_text], filters=[_strip])
    motivo = TextAreaField(
        "Motivo de la corrección", [REQUIRED_TEXT, Length(max=lifecycle.MOTIVO_MAX), plain_text], filters=[_strip],
        description="Queda en el historial de ambas infracciones.",
    )


def upper_text(value: Any) -> Any:
    """Upper case for an ASCII value only: ``str.upper`` turns 'ß' into 'SS' (another code)."""
    if not isinstance(value, str):
        return value
    value = value.strip()
    return value.upper() if value.isascii() else value


def offence_code(form: Form, field: Any) -> None:
    if field.data:
        try:
            catalogo.code_or_raise(field.data)
        except InvalidValue as error:
            raise ValidationError(error.message) from None


def _fine(label: str) -> DecimalField:
    return DecimalField(
        label, [Optional(), NumberRange(min=Decimal("0.01"), max=Decimal("1000"), message="Entre 0,01 y 1.000 UTM.")],
        places=2, description="En UTM. Vacío: el rango de su gravedad.",
    )


def _in_force_from(description: str, label: str = "Rige desde") -> DateTimeLocalField:
    return DateTimeLocalField(
        label, [InputRequired(message="Indique la fecha y hora, por ejemplo 01-12-2026 00:00.")],
        format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"], description=description,
    )


# Made before VersionForm's fields, so that it comes first in CodeForm (WTForms orders fields by creation).
_CODE = StringField("Código", [REQUIRED_TEXT, offence_code], filters=[upper_text], description=catalogo.CODE_MESSAGE)


class VersionForm(SpanishForm):
    """A new version of an offence code: everything a version says but the code."""

    descripcion = TextAreaField(
        "Descripción", [REQUIRED_TEXT, Length(max=catalogo.DESCRIPTION_MAX), plain_text], filters=[_strip],
        description="En palabras propias, como la leerá el infractor.",
    )
    gravedad = SelectField("Gravedad", [REQUIRED], choices={k: s.label for k, s in catalogo.SEVERITIES.items()})
    multa_min = _fine("Multa mínima (UTM)")
    multa_max = _fine("Multa máxima (UTM)")
    articulo = StringField(
        "Artículo", [Length(max=catalogo.ARTICLE_MAX), plain_text], filters=[_strip],
        description="De la Ley N° 18.290 u otra norma, por ejemplo «art. 114».",
    )
    vigente_desde = _in_force_from("En la hora local de la institución. Un cambio rige desde una fecha futura.")


class CodeForm(VersionForm):
    """A new offence code (its first version)."""

    codigo = _CODE
    vigente_desde = _in_force_from("En la hora local de la institución.")


class RetireForm(SpanishForm):
    vigente_desde = _in_force_from(
        "En la hora local de la institución. Desde entonces no se podrá cursar; las infracciones ya cursadas lo conservan.",
        label="Deja de regir desde",
    )
