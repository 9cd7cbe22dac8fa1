"""WTForms forms for the admin pages, and the adapter from Tornado's arguments to WTForms.

Built-in messages come in Spanish through WTForms' own translations (``Meta.locales``)."""

from __future__ import annotations

import re
from typing import Any

import tornado.web
from wtforms import BooleanField, EmailField, Form, IntegerField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, InputRequired, Length, NumberRange, ValidationError

from repositories.oficiales import MAX_BADGE_NUMBER
from repositories.vehiculos import is_valid_plate, normalize_plate
from services.tokens import DEFAULT_DAYS, MAX_DAYS

_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class TornadoFormData(dict):
    """The ``getlist`` mapping WTForms reads, over a Tornado request's body arguments."""

    def __init__(self, handler: tornado.web.RequestHandler) -> None:
        super().__init__()
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


def plain_text(form: Form, field: Any) -> None:
    """Refuse control characters (NUL and friends) in one-line text fields."""
    if field.data and _CONTROL_CHARACTERS.search(field.data):
        raise ValidationError("No puede contener caracteres de control.")


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def plate(form: Form, field: Any) -> None:
    if field.data and not is_valid_plate(field.data):
        raise ValidationError("La placa patente debe tener entre 5 y 8 letras o números (sin contar espacios ni guiones).")


def _normalize_plate(value: Any) -> Any:
    return normalize_plate(value) if isinstance(value, str) else value


REQUIRED = InputRequired(message="Este campo es obligatorio.")
# Text fields are stripped by their filters: only blanks ("   ", " - " for a plate) is still empty.
REQUIRED_TEXT = DataRequired(message="Este campo es obligatorio.")
EMAIL = Email(message="Ingrese un correo electrónico válido, por ejemplo nombre@dominio.cl.")


class PersonaForm(SpanishForm):
    nombre = StringField("Nombre", [REQUIRED_TEXT, Length(max=120), plain_text], filters=[_strip])
    correo = EmailField("Correo electrónico", [REQUIRED_TEXT, Length(max=254), EMAIL], filters=[_strip])


class VehiculoForm(SpanishForm):
    placa_patente = StringField(
        "Placa patente", [REQUIRED_TEXT, plain_text, plate], filters=[_normalize_plate],
        description="Letras y números; se guarda en mayúsculas sin espacios ni guiones (ej. BBCD12).",
    )
    marca = StringField("Marca", [REQUIRED_TEXT, Length(max=60), plain_text], filters=[_strip])
    color = StringField("Color", [REQUIRED_TEXT, Length(max=40), plain_text], filters=[_strip])
    propietario = EmailField(
        "Correo del propietario", [REQUIRED_TEXT, Length(max=254), EMAIL], filters=[_strip],
        description="El correo electrónico de una persona ya registrada.",
    )


class OficialForm(SpanishForm):
    nombre = StringField("Nombre", [REQUIRED_TEXT, Length(max=120), plain_text], filters=[_strip])
    numero = IntegerField(
        "Número identificatorio",
        [REQUIRED, NumberRange(min=1, max=MAX_BADGE_NUMBER, message="Debe ser un número entero positivo.")],
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
    etiqueta = StringField("Etiqueta (por ejemplo, el dispositivo)", [Length(max=80), plain_text], filters=[_strip])
