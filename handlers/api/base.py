"""``ApiHandler``, the root of the JSON endpoints: RFC 9457 problem details for every error, the
one reader of bearer tokens, and no admin cookie, no redirects, no XSRF (nothing ambient to forge)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, ClassVar

from domain.errors import CredentialNotLive, DomainError
from handlers.base import BaseHandler, Refusal
from handlers.errors import STATUS_TITLES, HTTPRefusal
from repositories import Repositories
from services.tokens import Claims, InvalidToken

BEARER_CHALLENGE = 'Bearer realm="transito"'


def iso_utc(value: dt.datetime) -> str:
    """ISO 8601 in UTC with millisecond precision (what MongoDB keeps) and a 'Z'."""
    return value.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ApiError(HTTPRefusal):
    """An API refusal with a Spanish detail, optional field errors and extra headers."""

    def __init__(
        self, status: int, detail: str, *, errors: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status, detail, headers=headers)
        self.errors = errors


def unauthorized(detail: str) -> ApiError:
    return ApiError(401, detail, headers={"WWW-Authenticate": f'{BEARER_CHALLENGE}, error="invalid_token"'})


class ApiHandler(BaseHandler):
    """JSON endpoints. They never redirect and never read the admin cookie; authentication, when
    required, is a bearer token read by ``bearer_token``. Errors are ``application/problem+json``."""

    # The request's name for a domain field, where they differ (a domain error on
    # "clave_idempotencia" is about the Idempotency-Key header).
    REQUEST_FIELDS: ClassVar[dict[str, str]] = {}

    @property
    def repos(self) -> Repositories:
        """The application's repositories as they are: what the API writes (an infraction) is its
        own record of who wrote it, so no per-request audit actor is needed."""
        return self.application.settings["repos"]

    def check_xsrf_cookie(self) -> None:
        """Bearer-token and public endpoints carry no ambient credentials, so XSRF does not apply."""

    async def prepare(self) -> None:
        if not self.public:
            raise NotImplementedError(f"{type(self).__name__} must authenticate its requests itself")

    max_body_bytes: ClassVar[int] = 64 * 1024

    @classmethod
    def refusal(cls) -> type[BaseHandler]:
        return ApiRefusal

    def set_default_headers(self) -> None:
        super().set_default_headers()
        self.set_header("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")

    def bearer_token(self) -> str:
        """The token of an ``Authorization: Bearer <token>`` header; 401 when it is missing or malformed."""
        header = self.request.headers.get("Authorization", "")
        if not header:
            raise ApiError(
                401, "Falta el encabezado Authorization: Bearer <token>.", headers={"WWW-Authenticate": BEARER_CHALLENGE}
            )
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized("El encabezado Authorization debe tener la forma 'Bearer <token>'.")
        return token.strip()

    def write_json(self, payload: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(payload, ensure_ascii=False, separators=(",", ":")))

    def problem(
        self, status: int, detail: str, *, errors: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None
    ) -> None:
        """Finish the request with an RFC 9457 problem document."""
        self.clear_header("Content-Type")
        self.set_status(status)
        for name, value in (headers or {}).items():
            self.set_header(name, value)
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": STATUS_TITLES.get(status, self._reason),
            "status": status,
            "detail": detail,
            "request_id": self.request_id,
        }
        if errors:
            body["errors"] = errors
        self.set_header("Content-Type", "application/problem+json; charset=UTF-8")
        self.finish(json.dumps(body, ensure_ascii=False, separators=(",", ":")))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc_info = kwargs.get("exc_info")
        error = exc_info[1] if exc_info else None
        if isinstance(error, HTTPRefusal):
            self.problem(status_code, self.error_detail(status_code, exc_info), errors=getattr(error, "errors", None), headers=error.headers)
            return
        errors = None
        if isinstance(error, DomainError) and error.field:
            errors = [{"campo": self.REQUEST_FIELDS.get(error.field, error.field), "mensaje": error.message}]
        headers = {"WWW-Authenticate": f'{BEARER_CHALLENGE}, error="invalid_token"'} if status_code == 401 else None
        self.problem(status_code, self.error_detail(status_code, exc_info), errors=errors, headers=headers)


class ApiRefusal(Refusal, ApiHandler):
    """``Refusal`` for the API: the same refusals, as problem documents."""

    public = True


class ApiNotFoundHandler(ApiHandler):
    """Unknown ``/api/...`` path: JSON 404, never an HTML page."""

    public = True
    answers_any_method = True

    async def prepare(self) -> None:
        self.problem(404, f"No existe el recurso {self.request.path} en la API.")


class OfficerApiHandler(ApiHandler):
    """A request from an officer's app: the bearer token must verify and be live (one command);
    the officer is ``self.oficial``. (``cargar_infraccion`` checks liveness inside its own write
    instead, to stay at 3 commands.)"""

    claims: Claims
    oficial: dict[str, Any]

    async def prepare(self) -> None:
        try:
            self.claims = self.token_service.decode(self.bearer_token())
        except InvalidToken as error:
            raise unauthorized(str(error)) from None
        oficial = await self.repos.oficiales.find_live(numero=self.claims.numero, jti=self.claims.jti)
        if oficial is None:
            raise CredentialNotLive()
        self.oficial = oficial
