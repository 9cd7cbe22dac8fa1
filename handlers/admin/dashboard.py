"""The admin's home page: counts and the latest infractions."""

from __future__ import annotations

import datetime as dt

from handlers.base import BaseHandler


class DashboardHandler(BaseHandler):
    async def get(self) -> None:
        repos = self.repos
        now_local = dt.datetime.now(self.config.zone)
        today = now_local.replace(hour=0, minute=0, second=0, microsecond=0)
        month = today.replace(day=1)
        self.render(
            "dashboard.html",
            personas=await repos.personas.count(),
            vehiculos=await repos.vehiculos.count(),
            oficiales=await repos.oficiales.count(),
            infracciones_hoy=await repos.infracciones.count_since(today),
            infracciones_mes=await repos.infracciones.count_since(month),
            latest=await repos.infracciones.latest(limit=10),
            zone=self.config.zone,
        )
