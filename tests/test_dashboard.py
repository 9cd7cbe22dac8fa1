"""The dashboard at /admin/ counts the records and shows an infraction as soon as it is recorded.

"Hoy" and "este mes" are days and months of APP_TIMEZONE (America/Santiago), not of UTC, so
their edges are tested on purpose with the app's clock set on them (``FixedClock``): local
midnight, a month's and a year's end, and both daylight-saving changes of 2026 (looked up with
zoneinfo below, not written by hand): in April the clocks go back at local midnight (April 4th
has 25 hours, 23:00-24:00 happens twice), in September they go forward (September 6th starts at
01:00 and has 23 hours).

Checked against three wrong "today"s: UTC's day fails 8 of the 8 edge cases, "the last 24 hours"
8 of 8, and Santiago's winter offset (-03) all year long the 4 daylight-saving ones."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import httpx
import pytest

from domain.clock import FixedClock
from services.tokens import TokenService
from tests.helpers.app import admin_at, make_settings, record_infraction, sign_in

SANTIAGO = ZoneInfo("America/Santiago")
UTC = dt.timezone.utc


def transitions(year: int) -> list[dt.datetime]:
    """The instants (UTC) at which America/Santiago's offset changes in ``year``."""
    found, moment = [], dt.datetime(year, 1, 1, tzinfo=UTC)
    while moment.year == year:
        after = moment + dt.timedelta(minutes=15)
        if after.astimezone(SANTIAGO).utcoffset() != moment.astimezone(SANTIAGO).utcoffset():
            found.append(after)
        moment = after
    return found


APRIL_2026, SEPTEMBER_2026 = transitions(2026)


def local(*args: int, fold: int = 0) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SANTIAGO, fold=fold)


def test_the_2026_changes_are_where_the_tests_expect_them() -> None:
    """tzdata decides the dates; these are what the cases below were written for."""
    assert APRIL_2026 == dt.datetime(2026, 4, 5, 3, 0, tzinfo=UTC)  # 00:00 -03 becomes 23:00 -04
    assert SEPTEMBER_2026 == dt.datetime(2026, 9, 6, 4, 0, tzinfo=UTC)  # 00:00 -04 becomes 01:00 -03
    assert [t.astimezone(SANTIAGO).month for t in transitions(2027)] == [4, 9]


async def dashboard_counts(admin_client: httpx.AsyncClient) -> dict[str, int]:
    page = await admin_client.get("/admin/")
    assert page.status_code == 200
    return {name: int(value) for name, value in re.findall(r'id="stat-([\w-]+)">(\d+)<', page.text)}


def page_text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


async def test_counts_change_when_an_infraction_is_recorded(db):
    clock = FixedClock(local(2026, 11, 24, 15, 0))
    async with admin_at(db, clock) as (repos, admin_client):
        before = await dashboard_counts(admin_client)
        assert before == {"personas": 0, "vehiculos": 0, "oficiales": 0, "infracciones-hoy": 0, "infracciones-mes": 0}
        assert "Todavía no hay infracciones registradas" in (await admin_client.get("/admin/")).text

        persona = await repos.personas.create(nombre="Marta Gómez", correo="marta@example.cl")
        await repos.vehiculos.create(placa_patente="JKLM34", marca="Kia", color="Blanco", persona_id=persona.id)
        await repos.oficiales.create(nombre="Hugo Vera", numero=7)
        issued = (await TokenService(make_settings().jwt_secret, clock).issue(repos, numero=7)).token
        response = await admin_client.post(
            "/api/cargar_infraccion",
            json={"placa_patente": "JKLM34", "timestamp": clock.now().isoformat(), "comentarios": "Luz roja"},
            headers={"Authorization": f"Bearer {issued}"},
        )
        assert response.status_code == 200, response.text

        after = await dashboard_counts(admin_client)
        assert after == {"personas": 1, "vehiculos": 1, "oficiales": 1, "infracciones-hoy": 1, "infracciones-mes": 1}
        page = page_text((await admin_client.get("/admin/")).text)
        latest = page[page.index("Últimas infracciones") :]
        assert "JKLM34" in latest and "Luz roja" in latest and "Hugo Vera" in latest
        assert "24-11-2026 15:00" in latest  # shown in Santiago's time, not UTC's 18:00
        assert "1 persona 1 vehículo 1 oficial 1 infracción ocurrida hoy" in page  # singular when there is one


EDGES = [
    # (case, when each infraction is recorded, when the dashboard is read, hoy, mes, labels)
    pytest.param(
        [local(2026, 11, 24, 23, 59, 59), local(2026, 11, 25, 0, 0, 0)], local(2026, 11, 25, 0, 0, 1), 1, 2,
        ("25 de noviembre", "noviembre de 2026"), id="local-midnight",
    ),
    pytest.param(  # 01:00 UTC on the 25th is still the 24th in Santiago (-03): not today
        [dt.datetime(2026, 11, 25, 1, 0, tzinfo=UTC), local(2026, 11, 25, 9, 0)], local(2026, 11, 25, 10, 0), 1, 2,
        ("25 de noviembre", "noviembre de 2026"), id="utc-date-is-not-local-date",
    ),
    pytest.param(
        [local(2026, 11, 30, 23, 59, 59), local(2026, 12, 1, 0, 0, 0)], local(2026, 12, 1, 0, 0, 1), 1, 1,
        ("1 de diciembre", "diciembre de 2026"), id="month-end",
    ),
    pytest.param(
        [local(2026, 12, 31, 23, 59, 59), local(2027, 1, 1, 0, 0, 0)], local(2027, 1, 1, 12, 0), 1, 1,
        ("1 de enero", "enero de 2027"), id="year-end",
    ),
    pytest.param(  # the repeated hour (23:xx at -04, after the change) is still April 4th
        [local(2026, 4, 4, 0, 0), local(2026, 4, 4, 23, 30, fold=1), local(2026, 4, 5, 0, 0)], local(2026, 4, 5, 0, 30), 1, 3,
        ("5 de abril", "abril de 2026"), id="april-change-next-day",
    ),
    pytest.param(  # April 4th has 25 hours: at its very end, its first minute is still "today"
        [local(2026, 4, 3, 23, 59), local(2026, 4, 4, 0, 0), local(2026, 4, 4, 23, 10, fold=1)],
        local(2026, 4, 4, 23, 50, fold=1), 2, 3, ("4 de abril", "abril de 2026"), id="april-change-25-hour-day",
    ),
    pytest.param(  # September 6th starts at 01:00 (-03): 23:59 of the 5th (-04) is the day before
        [local(2026, 9, 5, 23, 59), SEPTEMBER_2026], local(2026, 9, 6, 1, 30), 1, 2,
        ("6 de septiembre", "septiembre de 2026"), id="september-change",
    ),
    pytest.param(  # September begins at 00:00 -04 (04:00 UTC); 03:59 UTC is still August
        [dt.datetime(2026, 9, 1, 3, 59, tzinfo=UTC), dt.datetime(2026, 9, 1, 4, 0, tzinfo=UTC)], local(2026, 9, 1, 8, 0), 1, 1,
        ("1 de septiembre", "septiembre de 2026"), id="month-start-before-the-change",
    ),
]


@pytest.mark.parametrize(("recorded_at", "read_at", "hoy", "mes", "labels"), EDGES)
async def test_today_and_this_month_are_santiago_days_at_their_edges(db, recorded_at, read_at, hoy, mes, labels):
    clock = FixedClock(read_at)  # signed in then: a session does not outlive a clock moved by days
    async with admin_at(db, clock) as (repos, admin_client):
        persona = await repos.personas.create(nombre="Marta Gómez", correo="marta@example.cl")
        await repos.vehiculos.create(placa_patente="JKLM34", marca="Kia", color="Blanco", persona_id=persona.id)
        await repos.oficiales.create(nombre="Hugo Vera", numero=7)
        for moment in recorded_at:
            clock.set(moment)
            await record_infraction(repos, numero=7, placa="JKLM34", timestamp=moment)
        clock.set(read_at)
        await sign_in(admin_client)
        counts = await dashboard_counts(admin_client)
        assert (counts["infracciones-hoy"], counts["infracciones-mes"]) == (hoy, mes)
        page = page_text((await admin_client.get("/admin/")).text)
        assert labels[0] in page and labels[1] in page
