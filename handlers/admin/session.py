"""Admin login and logout, throttled per username and per client."""

from __future__ import annotations

from handlers.base import BaseHandler, PublicHandler, safe_next
from handlers.forms import LoginForm


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
        by_user, by_client = self.throttle("login_user"), self.throttle("login_client")
        for decision in (await by_user.exceeded(username), await by_client.exceeded(self.request.remote_ip or "")):
            if not decision.allowed:
                self.set_header("Retry-After", str(decision.retry_after))
                self._render(
                    form,
                    error=f"Demasiados intentos fallidos. Espere {decision.retry_after} segundos antes de reintentar.",
                    status=429,
                )
                return
        admin = await self.repos.admins.authenticate(username=username, password=form.password.data)
        if admin is None:
            await by_user.hit(username)
            await by_client.hit(self.request.remote_ip or "")
            self._render(form, error="Usuario o contraseña incorrectos.", status=401)
            return
        await by_user.clear(username)
        self.start_session(admin)
        self.flash(f"Bienvenido, {admin.username}.")
        self.redirect(safe_next(self.get_argument("next", None)))


class LogoutHandler(BaseHandler):
    public = True  # logging out must work even with an expired session

    def post(self) -> None:
        self.end_session()
        self.flash("Sesión cerrada.")
        self.redirect("/admin/login")


default_handlers = [
    (r"/admin/login", LoginHandler),
    (r"/admin/logout", LogoutHandler),
]
