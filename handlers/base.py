"""``BaseHandler``, the root of every handler: security headers, the admin's server-side session,
flash messages, safe redirects and HTML error pages (statuses come from ``handlers/errors.py``;
``handlers/api/base.py`` renders the same errors as JSON).

Every handler requires an authenticated administrator unless its class sets ``public = True``."""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from typing import Any, ClassVar
from urllib.parse import urlencode

import tornado.web

from config import Settings
from domain import catalogo, lifecycle, rules
from domain.audit import Actor
from domain.clock import Clock
from domain.errors import DomainError
from handlers.headers import safe_next, security_headers
from handlers.errors import STATUS_TITLES, UNAVAILABLE_ERRORS, HTTPRefusal, error_detail, status_for
from repositories import Repositories
from repositories.admins import Admin
from services.lookups import LookupLog
from services.metrics import Metrics
from services.throttle import Throttle
from services.tokens import TokenService

log = logging.getLogger("transito.http")

SESSION_COOKIE = "session"
FLASH_COOKIE = "flash"
class BaseHandler(tornado.web.RequestHandler):
    public: ClassVar[bool] = False
    max_body_bytes: ClassVar[int] = 1024 * 1024  # forms; read by the HTTP gate before the body arrives
    answers_any_method: ClassVar[bool] = False  # True for handlers that answer every request in prepare()

    def initialize(self, **kwargs: Any) -> None:
        self.admin: Admin | None = None
        self.session_token: str | None = None
        self._repos: Repositories | None = None
        self._in_flight = True
        self.application.settings["inflight"].started()

    def on_finish(self) -> None:
        self.stop_counting()

    def stop_counting(self) -> None:
        """This request is over (finished, or abandoned before its body arrived)."""
        if self._in_flight:
            self._in_flight = False
            self.application.settings["inflight"].finished()

    # -- things that live in the application settings ------------------------------------------
    @property
    def repos(self) -> Repositories:
        """The repositories, recording every write under this request's actor (``actor``)."""
        if self._repos is None or self._repos.actor != self.actor:
            self._repos = self.application.settings["repos"].acting_as(self.actor)
        return self._repos

    @property
    def actor(self) -> Actor:
        """Who this request acts for, as the audit trail records it."""
        if self.admin is None:
            return Actor.anonymous(request_id=self.request_id, client=self.request.remote_ip)
        return Actor.administrator(self.admin.username, request_id=self.request_id, client=self.request.remote_ip)

    @property
    def config(self) -> Settings:
        return self.application.settings["config"]

    @property
    def token_service(self) -> TokenService:
        return self.application.settings["token_service"]

    @property
    def clock(self) -> Clock:
        return self.application.settings["repos"].clock

    @property
    def metrics(self) -> Metrics:
        return self.application.settings["metrics"]

    @property
    def lookups(self) -> LookupLog:
        return self.application.settings["lookups"]

    def throttle(self, name: str) -> Throttle:
        return self.application.settings["throttles"][name]

    # -- what the HTTP gate asks of a route ------------------------------------------------------
    @classmethod
    def allowed_methods(cls) -> list[str]:
        """The methods this handler implements (what a 405 lists in ``Allow``)."""
        if cls.answers_any_method:
            return list(cls.SUPPORTED_METHODS)
        return [m for m in cls.SUPPORTED_METHODS if getattr(cls, m.lower()) is not getattr(tornado.web.RequestHandler, m.lower())]

    @classmethod
    def body_limit(cls, config: Settings) -> int:
        """The largest body this handler reads (the HTTP gate refuses more before it arrives)."""
        return cls.max_body_bytes

    @classmethod
    def refusal(cls) -> type[BaseHandler]:
        """The handler that answers, in this handler's format, a request refused before it runs."""
        return Refusal

    # -- headers -------------------------------------------------------------------------------
    def set_default_headers(self) -> None:
        security_headers(self)
        if not hasattr(self, "request_id"):  # set_default_headers runs before initialize, and again on errors
            self.request_id = uuid.uuid4().hex[:16]
        self.set_header("X-Request-ID", self.request_id)

    def compute_etag(self) -> str | None:
        """No ETag: answers are ``no-store``, so hashing them would be work for nothing. A handler
        whose answer may be revalidated (the app's catalogue) makes its own."""
        return None

    def redirect(self, url: str, permanent: bool = False, status: int | None = None) -> None:
        """Every redirect is to a local path: anything else goes to the admin's home."""
        super().redirect(safe_next(url), permanent, status)

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
        raw = self.get_signed_cookie(SESSION_COOKIE, max_age_days=self.config.session_max_hours / 24)
        if not raw:
            return None
        token = raw.decode("ascii", "replace")
        owner = await self.application.settings["repos"].sesiones.touch(token)
        if owner is None:
            return None
        self.session_token = token
        return Admin(owner.admin_id, owner.username)

    async def start_session(self, admin: Admin) -> None:
        token = await self.repos.sesiones.open(admin_id=admin.id, username=admin.username)
        self.set_signed_cookie(
            SESSION_COOKIE, token, expires_days=None, httponly=True, samesite="Lax", secure=self.request.protocol == "https"
        )

    async def end_session(self) -> None:
        if self.session_token is not None:
            await self.repos.sesiones.close(self.session_token)
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
        namespace.update(
            admin=self.admin,
            flash=self.pop_flash(),
            request_id=self.request_id,
            query_string=self.query_with,
            zone=self.config.zone,
            when=self.local_time,
            estados=lifecycle.LABELS,
            fine_label=catalogo.fine_label,
            file_size=rules.file_size,
            plural=rules.plural,
        )
        return namespace

    def local_time(self, value: dt.datetime | None, *, seconds: bool = False) -> str:
        """A time as the administrators read it: in APP_TIMEZONE, day first."""
        if value is None:
            return "—"
        return value.astimezone(self.config.zone).strftime("%d-%m-%Y %H:%M:%S" if seconds else "%d-%m-%Y %H:%M")

    def form_time(self, value: dt.datetime) -> dt.datetime:
        """A stored UTC time as a form's local date and time (to the second)."""
        return value.astimezone(self.config.zone).replace(tzinfo=None, microsecond=0)

    def from_form_time(self, local: dt.datetime) -> dt.datetime:
        """A form's local date and time as the UTC time that is stored."""
        return rules.to_millisecond(local.replace(tzinfo=self.config.zone).astimezone(dt.timezone.utc))

    def query_with(self, **changes: Any) -> str:
        """The current query string with some arguments changed (None: removed), for paging links."""
        args = {k: self.get_query_argument(k) for k in self.request.query_arguments}
        for name, value in changes.items():
            if value is None:
                args.pop(name, None)
            else:
                args[name] = value
        return "?" + urlencode(args)

    def page_argument(self) -> int:
        """The page asked for (``pagina``, or ``page`` in older links); a bad value is page 1."""
        page = rules.ascii_int(self.get_query_argument("pagina", None) or self.get_query_argument("page", "1"))
        return page if page is not None and 0 < page < 1_000_000 else 1

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
            "unexpected error [request %s] %s %s", self.request_id, self.request.method, self.request.path, exc_info=(typ, value, tb)
        )

    def error_detail(self, status_code: int, exc_info: Any) -> str:
        return error_detail(status_code, exc_info, self.request_id)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc_info = kwargs.get("exc_info")
        if exc_info and isinstance(exc_info[1], HTTPRefusal):
            for name, value in exc_info[1].headers.items():
                self.set_header(name, value)
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.render(
            "error.html",
            status_code=status_code,
            title=STATUS_TITLES.get(status_code, self._reason),
            detail=self.error_detail(status_code, kwargs.get("exc_info")),
        )


class PublicHandler(BaseHandler):
    public = True


class Refusal(PublicHandler):
    """Answers a request that the HTTP gate refused before its handler ran: a body over the
    route's limit (413), or a method the route does not have (405, with ``Allow``)."""

    answers_any_method = True

    def initialize(self, status: int, allow: list[str] | None = None, limit: int = 0) -> None:  # type: ignore[override]
        super().initialize()
        self.status, self.allow, self.limit = status, allow, limit
        # Any method, also one Tornado does not know (QUERY, PROPFIND): it would answer those with a
        # bare 405, without Allow, before prepare().
        self.SUPPORTED_METHODS = (self.request.method,)

    def check_xsrf_cookie(self) -> None:
        """Nothing was read to check: the refusal stands whatever the form carried."""

    async def prepare(self) -> None:
        if self.status == 405:
            allow = ", ".join(self.allow or [])
            raise HTTPRefusal(405, f"Este recurso solo acepta: {allow}.", headers={"Allow": allow})
        raise HTTPRefusal(413, f"El contenido enviado supera el máximo de {self.limit // 1024} KiB.")
