"""Facilities overdue for a check (tracker.stats.coverage) remind the section chiefs of their sector: one mail per
chief and missed window (a year, quarter or month that ended without the checks its frequency asks), listing
every facility of the chief's sectors that missed it. The mail table's dedupe key
(`check_overdue|<per>-<window's first day>||<address>`) keeps it to once, however often the scheduler asks."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from tracker.checklists import Catalog
from tracker.domain.model import Role
from tracker.domain.time import shown
from tracker.mail.queue import queue_mail
from tracker.mail.render import render
from tracker.stats.coverage import FacilityCoverage, coverage, window
from tracker.stats.periods import Period, local_day
from tracker.stats.query import Filter
from tracker.store.db import read_only
from tracker.store.tables import user_sectors, users

log = logging.getLogger("tracker.coverage")
KIND = "check_overdue"


def window_words(period: Period, per: str) -> tuple[str, str]:
    """2026年第4季度 / 2026 Q4, 2026年 / 2026, 2026年11月 / 2026-11."""
    start = period.start
    if per == "year":
        return f"{start.year}年", f"{start.year}"
    if per == "quarter":
        quarter = (start.month - 1) // 3 + 1
        return f"{start.year}年第{quarter}季度", f"{start.year} Q{quarter}"
    return f"{start.year}年{start.month}月", f"{start:%Y-%m}"


async def _chiefs(engine: AsyncEngine) -> dict[str, list[str]]:
    """The active section chiefs' addresses, per sector they answer for."""
    async with read_only(engine) as conn:
        rows = (
            await conn.execute(
                select(user_sectors.c.sector, users.c.email)
                .join(users, users.c.id == user_sectors.c.user_id)
                .where(users.c.active, users.c.email.is_not(None), users.c.role == Role.SECTION_CHIEF.value)
                .order_by(users.c.id)
            )
        ).all()
    out: dict[str, list[str]] = defaultdict(list)
    for sector, email in rows:
        out[sector].append(email)
    return out


async def queue_check_reminders(engine: AsyncEngine, now: datetime, catalog: Catalog, base_url: str) -> int:
    """Queue the reminders of the windows that ended without their checks; returns how many were queued."""
    today = local_day(now)
    async with read_only(engine) as conn:
        found = await coverage(conn, Period(today, today + timedelta(days=1)), Filter(), now, catalog)
    # (per, first day of the missed window) -> sector -> facilities
    missed: dict[tuple[str, Period], dict[str, list[FacilityCoverage]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for row in found.listed("overdue"):
        for frequency in row.missed:
            last = window(window(today, frequency.per).start - timedelta(days=1), frequency.per)
            missed[(frequency.per, last)][row.sector].append(row)
    if not missed:
        return 0
    chiefs = await _chiefs(engine)
    queued = 0
    for (per, last), sectors in sorted(missed.items(), key=lambda kv: (kv[0][1].start, kv[0][0])):
        listed: dict[str, list[FacilityCoverage]] = defaultdict(list)
        for sector, rows in sectors.items():
            for address in chiefs.get(sector, []):
                listed[address].extend(rows)
        zh, en = window_words(last, per)
        link = base_url + "/dashboard/coverage?" + urlencode({"list": "overdue"})
        for address, rows in listed.items():
            message = render(KIND, window_zh=zh, window_en=en, facilities=_lines(rows, per), link=link)
            async with engine.begin() as conn:
                about = f"{per}-{last.start.isoformat()}"
                if await queue_mail(conn, kind=KIND, about=about, to=address, message=message, now=now):
                    queued += 1
    if queued:
        log.info("facilities overdue for a check: %d reminders queued", queued)
    return queued


def _lines(rows: list[FacilityCoverage], per: str) -> list[dict[str, Any]]:
    seen: set[int] = set()
    out = []
    for row in sorted(rows, key=lambda r: (r.town, r.code)):
        if row.id in seen:
            continue
        seen.add(row.id)
        required = "；".join(q.words() for q in row.missed if q.per == per)
        last = shown(row.last_check)[:10] if row.last_check else None
        out.append({"name": row.name, "town": row.town, "required": required, "last": last})
    return out
