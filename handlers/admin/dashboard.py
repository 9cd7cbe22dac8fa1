"""The admin's home page: counts and the latest infractions."""

from __future__ import annotations

import asyncio

from handlers.base import BaseHandler

MONTHS = ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre")
LATEST = 10


class DashboardHandler(BaseHandler):
    async def get(self) -> None:
        repos = self.repos
        # "Today" and "this month" are the administrators' calendar (APP_TIMEZONE), not UTC's.
        now_local = self.clock.now().astimezone(self.config.zone)
        today = now_local.replace(hour=0, minute=0, second=0, microsecond=0)
        month = today.replace(day=1)
        personas, vehiculos, oficiales, hoy, mes, latest = await asyncio.gather(
            repos.personas.count(),
            repos.vehiculos.count(),
            repos.oficiales.count(),
            repos.infracciones.count_since(today),
            repos.infracciones.count_since(month),
            repos.infracciones.latest(limit=LATEST),
        )
        self.render(
            "dashboard.html",
            personas=personas,
            vehiculos=vehiculos,
            oficiales=oficiales,
            infracciones_hoy=hoy,
            infracciones_mes=mes,
            latest=latest,
            zone=self.config.zone,
            today_label=f"{today.day} de {MONTHS[today.month - 1]}",
            month_label=f"{MONTHS[today.month - 1]} de {today.year}",
        )


default_handlers = [
    (r"/admin/?", DashboardHandler),
]
