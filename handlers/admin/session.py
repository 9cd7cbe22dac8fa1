"""Admin login and logout.

Failed logins are limited per (user name, client address) and per client address, each a lockout
of that pair or that address only, so a stranger cannot lock the real administrator out. Across
all addresses, failures for one user name beyond ``LOGIN_SLOWDOWN_USER`` slow every attempt for
that name down (a growing delay, capped) instead of refusing it. Counters are shared by every
process (``services.throttle``)."""

from __future__ import annotations

import asyncio

from domain import rules
from handlers.base import BaseHandler, PublicHandler
from handlers.headers import safe_next
from handlers.forms import LoginForm

MAX_DELAY_SECONDS = 5.0


def slowdown_delay(attempts: float, threshold: int) -> float:
    """Half a second for each attempt beyond the threshold, at most MAX_DELAY_SECONDS."""
    return min(MAX_DELAY_SECONDS, max(0.0, attempts - threshold) * 0.5)


class LoginHandler(PublicHandler):
    def _render(self, form: LoginForm, *, error: str | None = None, status: int = 200) -> None:
        self.set_status(status)
        self.render("login.html", form=form, error=error, next=safe_next(self.get_argument("next", None)))

    def get(self) -> None:
        if self.admin is not None:
            self.redirect(safe_next(self.get_query_argument("next", None)))
            return
        self._render(LoginForm())

    async def post(self) -> None:
        form = LoginForm.from_request(self)
        if not form.validate():
            self._render(form, status=400)
            return
        username = form.username.data.lower()
        client = self.request.remote_ip
        by_user, by_client = self.throttle("login_user"), self.throttle("login_client")
        slowdown = self.throttle("login_slowdown")
        for decision in (await by_user.exceeded(f"{username}|{client}"), await by_client.exceeded(client)):
            if not decision.allowed:
                self.set_header("Retry-After", str(decision.retry_after))
                wait = rules.spanish_duration(decision.retry_after)
                self._render(form, error=f"Demasiados intentos fallidos. Espere {wait} antes de reintentar.", status=429)
                return
        attempts = await slowdown.exceeded(username)
        if not attempts.allowed:
            await asyncio.sleep(slowdown_delay(attempts.count, slowdown.limit))
        admin = await self.repos.admins.authenticate(username=username, password=form.password.data)
        if admin is None:
            await by_user.hit(f"{username}|{client}")
            await by_client.hit(client)
            await slowdown.record(username)
            await self.repos.sesiones.failed_login(username)
            self._render(form, error="Usuario o contraseña incorrectos.", status=401)
            return
        await by_user.clear(f"{username}|{client}")
        self.admin = admin  # from here on this request acts for the administrator (and is audited so)
        await self.start_session(admin)
        self.flash(f"Bienvenido, {admin.username}.")
        self.redirect(safe_next(self.get_argument("next", None)))


class LogoutHandler(BaseHandler):
    public = True  # logging out must work even with an expired session

    async def post(self) -> None:
        await self.end_session()
        self.flash("Sesión cerrada.")
        self.redirect("/admin/login")


default_handlers = [
    (r"/admin/login", LoginHandler),
    (r"/admin/logout", LogoutHandler),
]
