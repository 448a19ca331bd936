"""The weekly digest: last week's figures, what was escalated, and the major hazards still open, to bureau
leads and section chiefs (all towns) and to each town officer (their town). Queued once per (week, person):
the mail table's dedupe key is `digest|week-<monday>|<scope>|<address>`."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from tracker.checklists import Catalog
from tracker.domain.model import Role
from tracker.mail.queue import queue_mail
from tracker.mail.render import render
from tracker.stats import query as q
from tracker.stats.coverage import coverage
from tracker.stats.periods import Period, local_day
from tracker.store.db import read_only
from tracker.store.tables import facilities, findings, mail, users
from tracker.text.labels import METRIC_NAMES

log = logging.getLogger("tracker.digest")
KIND = "digest"


def last_week(now: datetime) -> Period:
    """The last whole week (Monday to Sunday, local days) before `now`."""
    return Period.week_of(local_day(now)).previous()


def about(week: Period) -> str:
    return f"week-{week.start.isoformat()}"


async def recipients(engine: AsyncEngine) -> list[tuple[str, str | None]]:
    """(address, town or None for every town) of everyone who gets the digest."""
    async with read_only(engine) as conn:
        rows = (
            await conn.execute(
                select(users.c.email, users.c.role, users.c.town)
                .where(
                    users.c.active,
                    users.c.email.is_not(None),
                    users.c.role.in_(
                        [Role.BUREAU_LEAD.value, Role.SECTION_CHIEF.value, Role.TOWN_OFFICER.value]
                    ),
                )
                .order_by(users.c.id)
            )
        ).all()
    out = []
    for row in rows:
        if row.role == Role.TOWN_OFFICER.value:
            if row.town:
                out.append((row.email, row.town))
        else:
            out.append((row.email, None))
    return out


async def queue_digests(
    engine: AsyncEngine, now: datetime, base_url: str, catalog: Catalog | None = None
) -> int:
    """Queue last week's digest for everyone who has not had it yet; returns how many were queued."""
    week = last_week(now)
    key = about(week)
    async with engine.connect() as conn:
        sent = set(
            (
                await conn.execute(select(mail.c.dedupe_key).where(mail.c.kind == KIND, mail.c.about == key))
            ).scalars()
        )
    queued = 0
    contexts: dict[str | None, dict[str, Any]] = {}
    for address, town in await recipients(engine):
        variant = town or "all"
        if f"{KIND}|{key}|{variant}|{address.lower()}" in sent:
            continue
        if town not in contexts:
            contexts[town] = await digest_context(engine, week, q.Filter(town=town), now, base_url, catalog)
        message = render(KIND, **contexts[town])
        async with engine.begin() as conn:
            if await queue_mail(
                conn, kind=KIND, about=key, to=address, message=message, now=now, variant=variant
            ):
                queued += 1
    if queued:
        log.info("digest for %s: %d queued", key, queued)
    return queued


async def digest_context(
    engine: AsyncEngine,
    week: Period,
    flt: q.Filter,
    now: datetime,
    base_url: str,
    catalog: Catalog | None = None,
) -> dict[str, Any]:
    async with read_only(engine) as conn:
        # Facilities overdue for a check at the week's end (tracker.stats.coverage): by the frequencies, so none
        # without a catalog.
        unchecked = (await coverage(conn, week, flt, now, catalog)).listed("overdue") if catalog else []
        summary = await q.summary(conn, week, flt, now)
        escalated = await q.escalations(conn, week, flt)
        major_ids = await q.finding_ids(conn, "open_major", week, flt, now)
        majors = (
            (
                await conn.execute(
                    select(findings, facilities.c.name.label("facility_name"), facilities.c.town)
                    .join(facilities, facilities.c.id == findings.c.facility_id)
                    .where(findings.c.id.in_(major_ids))
                    .order_by(findings.c.reported_at)
                )
            ).all()
            if major_ids
            else []
        )
    figures = []
    for name in ("found", "closed", "closure_rate", "on_time_rate", "open", "overdue", "open_major"):
        figures.append(
            {
                "name": name,
                "zh": METRIC_NAMES[name][0],
                "en": METRIC_NAMES[name][1],
                "value": summary.current.value(name),
                "previous": summary.before.value(name),
                "rate": name in q.RATES,
                "link": base_url + q.findings_url(q.RATES[name][0] if name in q.RATES else name, week, flt),
            }
        )
    return {
        "week": week,
        "town": flt.town,
        "figures": figures,
        "escalated": escalated,
        "findings": majors,
        "check_overdue": [
            {"name": r.name, "town": r.town, "required": "；".join(f.words() for f in r.missed)}
            for r in unchecked
        ],
        "link": base_url
        + f"/dashboard?from={week.start.isoformat()}&to={week.end.isoformat()}"
        + (f"&town={flt.town}" if flt.town else ""),
    }
