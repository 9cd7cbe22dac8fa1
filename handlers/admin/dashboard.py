"""The admin's home page: counts and the latest infractions."""

from __future__ import annotations

import asyncio

from domain import rules
from handlers.base import BaseHandler

MONTHS = ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre")
LATEST = 10


class DashboardHandler(BaseHandler):
    async def get(self) -> None:
        repos = self.repos
        # "Today" and "this month" are the administrators' calendar (APP_TIMEZONE), not UTC's, and
        # count infractions by when they happened (their own time), not by when they were loaded.
        zone = self.config.zone
        today = self.clock.now().astimezone(zone).date()
        personas, vehiculos, oficiales, hoy, mes, latest = await asyncio.gather(
            repos.personas.count(),
            repos.vehiculos.count(),
            repos.oficiales.count(),
            repos.infracciones.count_between(*rules.local_days(today, today, zone)),
            repos.infracciones.count_between(*rules.local_month(today, zone)),
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
