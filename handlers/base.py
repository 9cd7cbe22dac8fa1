"""``BaseHandler``, the root of every handler: security headers, the admin's login cookie, flash
messages and HTML error pages. This module is the one place that maps domain and database errors
to HTTP status codes (``status_for``); ``handlers/api/base.py`` renders the same errors as JSON.

Every handler requires an authenticated administrator unless its class sets ``public = True``."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any, ClassVar
from urllib.parse import urlencode, urlsplit

import tornado.web
from pymongo.errors import ConnectionFailure, ExecutionTimeout, WTimeoutError

from config import Settings
from domain.clock import Clock
from domain.errors import (
    Conflict,
    CredentialNotLive,
    DomainError,
    InvalidValue,
    MissingReference,
    NotFound,
    StillReferenced,
)
from repositories import Repositories
from repositories.admins import Admin
from services.metrics import Metrics
from services.throttle import Throttle
from services.tokens import TokenService

log = logging.getLogger("transito.http")

SESSION_COOKIE = "session"
FLASH_COOKIE = "flash"
SESSION_MAX_AGE_DAYS = 0.5  # an admin logs in again after 12 hours

# Strict by design: no inline script or style, so the admin works with JavaScript disabled.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

DOMAIN_STATUS: dict[type[DomainError], int] = {
    InvalidValue: 400,
    CredentialNotLive: 401,
    NotFound: 404,
    Conflict: 409,
    StillReferenced: 409,
    MissingReference: 422,
}
# The database is unreachable or too slow: the client may retry later.
UNAVAILABLE_ERRORS = (ConnectionFailure, ExecutionTimeout, WTimeoutError)

STATUS_TITLES = {
    400: "Solicitud inválida",
    401: "No autenticado",
    403: "Prohibido",
    404: "No encontrado",
    405: "Método no permitido",
    409: "Conflicto",
    413: "Contenido demasiado grande",
    415: "Tipo de contenido no soportado",
    422: "Referencia inexistente",
    429: "Demasiadas solicitudes",
    500: "Error interno",
    503: "Servicio no disponible",
}


def status_for(error: BaseException | None) -> int | None:
    """The HTTP status a domain or database error stands for (None: not one of ours)."""
    if isinstance(error, DomainError):
        return DOMAIN_STATUS.get(type(error), 400)
    if isinstance(error, UNAVAILABLE_ERRORS):
        return 503
    return None


def safe_next(target: str | None, default: str = "/admin/") -> str:
    """Only local absolute paths: '//evil.example' or 'https://evil.example' fall back to the default."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


class BaseHandler(tornado.web.RequestHandler):
    public: ClassVar[bool] = False

    def initialize(self, **kwargs: Any) -> None:
        self.admin: Admin | None = None
        self.application.settings["inflight"].started()

    def on_finish(self) -> None:
        self.application.settings["inflight"].finished()

    # -- things that live in the application settings ------------------------------------------
    @property
    def repos(self) -> Repositories:
        return self.application.settings["repos"]

    @property
    def config(self) -> Settings:
        return self.application.settings["config"]

    @property
    def token_service(self) -> TokenService:
        return self.application.settings["token_service"]

    @property
    def clock(self) -> Clock:
        return self.repos.clock

    @property
    def metrics(self) -> Metrics:
        return self.application.settings["metrics"]

    def throttle(self, name: str) -> Throttle:
        return self.application.settings["throttles"][name]

    # -- headers -------------------------------------------------------------------------------
    def set_default_headers(self) -> None:
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "same-origin")
        self.set_header("X-Frame-Options", "DENY")
        self.set_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        self.set_header("Cache-Control", "no-store")
        if not hasattr(self, "request_id"):  # set_default_headers runs before initialize, and again on errors
            self.request_id = uuid.uuid4().hex[:16]
        self.set_header("X-Request-ID", self.request_id)

    # -- authentication ------------------------------------------------------------------------
    async def prepare(self) -> None:
        self.admin = await self._admin_from_cookie()
        if self.admin is None and not self.public:
            if self.request.method in ("GET", "HEAD"):
                self.redirect("/admin/login?" + urlencode({"next": self.request.uri}))
                return
            raise tornado.web.HTTPError(403, reason="Inicie sesión para continuar")

    def get_current_user(self) -> Admin | None:
        return self.admin

    async def _admin_from_cookie(self) -> Admin | None:
        raw = self.get_signed_cookie(SESSION_COOKIE, max_age_days=SESSION_MAX_AGE_DAYS)
        if not raw:
            return None
        try:
            session = json.loads(raw)
            admin = await self.repos.admins.get(session["id"])
        except (ValueError, KeyError, TypeError, NotFound):
            return None
        # A password reset bumps session_version and so ends every open session.
        return admin if session.get("v") == admin.session_version else None

    def start_session(self, admin: Admin) -> None:
        self.set_signed_cookie(
            SESSION_COOKIE,
            json.dumps({"id": admin.id, "v": admin.session_version}),
            expires_days=None,
            httponly=True,
            samesite="Lax",
            secure=self.request.protocol == "https",
        )

    def end_session(self) -> None:
        self.clear_cookie(SESSION_COOKIE)

    # -- flash messages ------------------------------------------------------------------------
    def flash(self, message: str, category: str = "ok") -> None:
        self.set_signed_cookie(
            FLASH_COOKIE,
            json.dumps({"m": message, "c": category}),
            expires_days=None,
            httponly=True,
            samesite="Lax",
            secure=self.request.protocol == "https",
        )

    def pop_flash(self) -> dict[str, str] | None:
        raw = self.get_signed_cookie(FLASH_COOKIE, max_age_days=1)
        if raw is None:
            return None
        self.clear_cookie(FLASH_COOKIE)
        try:
            data = json.loads(raw)
            return {"message": str(data["m"]), "category": str(data["c"])}
        except (ValueError, KeyError, TypeError):
            return None

    def get_template_namespace(self) -> dict[str, Any]:
        namespace = super().get_template_namespace()
        namespace.update(admin=self.admin, flash=self.pop_flash(), request_id=self.request_id, query_string=self.query_with)
        return namespace

    def query_with(self, **changes: Any) -> str:
        """The current query string with some arguments changed (for paging links)."""
        args = {k: self.get_query_argument(k) for k in self.request.query_arguments}
        args.update({k: v for k, v in changes.items() if v is not None})
        return "?" + urlencode(args)

    def page_argument(self) -> int:
        raw = self.get_query_argument("page", "1")
        return int(raw) if raw.isdigit() and 0 < int(raw) < 1_000_000 else 1

    # -- errors --------------------------------------------------------------------------------
    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        exc_info = kwargs.get("exc_info")
        mapped = status_for(exc_info[1] if exc_info else None)
        super().send_error(mapped or status_code, **kwargs)

    def log_exception(self, typ, value, tb) -> None:  # type: ignore[no-untyped-def]
        if isinstance(value, DomainError):
            return  # an expected refusal, shown to the user
        if isinstance(value, UNAVAILABLE_ERRORS):
            log.warning("database unavailable [request %s] %s: %s", self.request_id, typ.__name__, value)
            return
        if isinstance(value, tornado.web.HTTPError):
            super().log_exception(typ, value, tb)
            return
        log.error(
            "unexpected error [request %s] %s %s",
            self.request_id,
            self.request.method,
            self.request.path,
            exc_info=(typ, value, tb),
        )

    def error_detail(self, status_code: int, exc_info: Any) -> str:
        """A message safe to show a client: ours, or a generic one. Never a driver message."""
        error = exc_info[1] if exc_info else None
        if isinstance(error, DomainError):
            return error.message
        if isinstance(error, tornado.web.HTTPError) and error.reason and status_code < 500:
            return error.reason
        if status_code == 503:
            return "La base de datos no está disponible en este momento. Intente nuevamente en unos segundos."
        if status_code >= 500:
            return f"Ocurrió un error inesperado. Informe el identificador {self.request_id} al soporte."
        return {
            400: "La solicitud no es válida.",
            403: "Solicitud rechazada: falta el token de seguridad del formulario o no coincide. "
            "Recargue la página e intente de nuevo.",
            404: "La página o el registro solicitado no existe.",
            405: "Método no permitido.",
            413: "El contenido enviado es demasiado grande.",
        }.get(status_code, STATUS_TITLES.get(status_code, self._reason))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.render(
            "error.html",
            status_code=status_code,
            title=STATUS_TITLES.get(status_code, self._reason),
            detail=self.error_detail(status_code, kwargs.get("exc_info")),
        )


class PublicHandler(BaseHandler):
    public = True


class NotFoundHandler(PublicHandler):
    """Unknown URL: a 404 page (the application's ``default_handler_class``)."""

    async def prepare(self) -> None:
        await super().prepare()  # a logged-in admin keeps the navigation on the 404 page
        raise tornado.web.HTTPError(404)
