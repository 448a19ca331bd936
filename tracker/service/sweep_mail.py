"""The mail of one sweep: one message per recipient, listing every finding that reached them in it.

Built once from the sweep's `SweepCompleted` event, in the handler's transaction. Each message is keyed
(kind, "sweep:<id>", recipient), so a redelivered event, or a second worker, queues nothing new.

Who is told (tracker.domain.policy.LADDERS): level 1 is the facility (催办, in its own words) and the
inspector who found the hazard; later levels the rungs of the facility's ladder, bureau people only of
the facility's sector and town officers only of its town. A step with nobody to tell goes to the next
step up that has someone, else the principal lead, else every bureau lead; the gap is logged and noted
on the finding's history (`escalation_unaddressed`), never dropped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tracker.domain.model import Role
from tracker.domain.policy import LADDERS, Rung, ladder_step, next_escalation_at
from tracker.domain.time import LOCAL_TZ, shown
from tracker.events.schemas import SweepCompleted
from tracker.mail.queue import by_recipient, queue_mail
from tracker.mail.render import render
from tracker.service.context import Context, load_calendar
from tracker.service.notify import answer_link
from tracker.service.sectors import sector_people
from tracker.store.tables import facilities, findings, history, inspections, users

log = logging.getLogger("tracker.sweep")

_RUNG_WORDS = {
    Rung.TOWN: "town officer of {town}",
    Rung.SECTION: "section chief of sector {sector}",
    Rung.SECTOR_LEAD: "bureau lead of sector {sector}",
    Rung.PRINCIPAL: "principal lead (TRACKER_PRINCIPAL)",
}


@dataclass
class Letter:
    """What one address hears from one sweep."""

    to: str = ""
    name: str = ""
    urged: list[Any] = field(default_factory=list)  # overdue at the facility: 催办
    reminded: list[Any] = field(default_factory=list)  # due soon at the facility
    escalated: list[Any] = field(default_factory=list)  # overdue, escalated to this bureau or town person
    passed: list[Any] = field(default_factory=list)  # overdue hazards this inspector found


@dataclass
class Person:
    name: str
    email: str


async def sweep_raised(conn: AsyncConnection, ctx: Context, event: SweepCompleted, now: datetime) -> None:
    """Queue the sweep's mail: one message per recipient."""
    ids = [*event.reminded, *(e.finding_id for e in event.escalated)]
    if not ids:
        return
    rows = {r.id: r for r in (await conn.execute(select(findings).where(findings.c.id.in_(ids)))).all()}
    sites = {
        r.id: r
        for r in (
            await conn.execute(
                select(facilities).where(facilities.c.id.in_({r.facility_id for r in rows.values()}))
            )
        ).all()
    }
    told: list[tuple[str, str, Any]] = []  # (address, part of its letter, line)
    names: dict[str, str] = {}  # the people's names, by address in lower case
    people = _People(conn, ctx)
    for finding_id in event.reminded:
        finding = rows[finding_id]
        told.append((_facility_address(finding, sites), "reminded", finding))
    for raised in event.escalated:
        finding, site = rows[raised.finding_id], sites[rows[raised.finding_id].facility_id]
        if Rung.FACILITY in _step(site, raised.level):
            told.append((_facility_address(finding, sites), "urged", finding))
            inspector = await _inspector(conn, finding.inspection_id)
            if inspector is not None:
                names[inspector.email.lower()] = inspector.name
                told.append((inspector.email, "passed", _line(ctx, finding, site)))
            continue
        for person in await _told(conn, people, finding, site, raised.level, event.occurred_at):
            names[person.email.lower()] = person.name
            told.append((person.email, "escalated", _line(ctx, finding, site, level=raised.level)))
    calendar = await load_calendar(conn)
    for to, parts in by_recipient(told).items():
        letter = Letter(to, names.get(to.lower(), ""), **parts)
        kind, message = await _render(conn, ctx, letter, sites, event, calendar, now)
        await queue_mail(conn, kind=kind, about=f"sweep:{event.sweep_id}", to=to, message=message, now=now)


def _facility_address(finding: Any, sites: dict[int, Any]) -> str:
    return finding.owner_email or sites[finding.facility_id].head_email


def _line(ctx: Context, finding: Any, site: Any, **extra: Any) -> SimpleNamespace:
    """A finding as a bureau person reads it: which facility, and a link to its page."""
    return SimpleNamespace(
        **finding._asdict(),
        site=f"{site.name}（{site.town}）",
        link=f"{ctx.settings.base_url}/findings/{finding.id}",
        **extra,
    )


async def _inspector(conn: AsyncConnection, inspection_id: int) -> Person | None:
    """The inspector who found it; none for a hazard the facility reported itself, or one without email."""
    row = (
        await conn.execute(
            select(users.c.name, users.c.email, users.c.role)
            .join(inspections, inspections.c.inspector_id == users.c.id)
            .where(inspections.c.id == inspection_id)
        )
    ).one()
    if row.role != Role.INSPECTOR.value or not row.email:
        return None
    return Person(row.name, row.email)


class _People:
    """Who stands on each rung for a facility; asked once per (rung, sector, town) in a sweep."""

    def __init__(self, conn: AsyncConnection, ctx: Context) -> None:
        self.conn, self.ctx = conn, ctx
        self.seen: dict[tuple[Rung, str, str], list[Person]] = {}

    async def on(self, rung: Rung, site: Any) -> list[Person]:
        key = (rung, site.sector, site.town)
        if key not in self.seen:
            self.seen[key] = await self._ask(rung, site)
        return self.seen[key]

    async def _ask(self, rung: Rung, site: Any) -> list[Person]:
        if rung is Rung.TOWN:
            rows = (
                await self.conn.execute(
                    select(users.c.name, users.c.email)
                    .where(users.c.role == Role.TOWN_OFFICER.value, users.c.active, users.c.town == site.town)
                    .order_by(users.c.name, users.c.id)
                )
            ).all()
        elif rung is Rung.SECTION:
            rows = await sector_people(self.conn, Role.SECTION_CHIEF, site.sector)
        elif rung is Rung.SECTOR_LEAD:
            rows = await sector_people(self.conn, Role.BUREAU_LEAD, site.sector)
        elif rung is Rung.PRINCIPAL:
            rows = await self._principal()
        else:
            rows = []
        return [Person(r.name, r.email) for r in rows if r.email]

    async def _principal(self) -> list[Any]:
        username = self.ctx.settings.principal
        if not username:
            return []
        query = select(users.c.name, users.c.email).where(
            users.c.username == username, users.c.role == Role.BUREAU_LEAD.value, users.c.active
        )
        return list((await self.conn.execute(query)).all())

    async def every_bureau_lead(self) -> list[Person]:
        query = (
            select(users.c.name, users.c.email)
            .where(users.c.role == Role.BUREAU_LEAD.value, users.c.active)
            .order_by(users.c.name, users.c.id)
        )
        return [Person(r.name, r.email) for r in (await self.conn.execute(query)).all() if r.email]


def _step(site: Any, level: int) -> frozenset[Rung]:
    # The facility's ownership may have changed since the sweep: a level above its ladder is its top.
    return ladder_step(site.ownership, min(level, len(LADDERS[site.ownership])))


async def _told(
    conn: AsyncConnection, people: _People, finding: Any, site: Any, level: int, at: datetime
) -> list[Person]:
    """The people of `level`'s step; a rung with nobody is noted, and an empty step falls back upwards."""
    step = _step(site, level)
    told: dict[str, Person] = {}
    missing = []
    for rung in sorted(step):
        found = await people.on(rung, site)
        if not found:
            missing.append(_RUNG_WORDS[rung].format(town=site.town, sector=site.sector))
        told.update((p.email.lower(), p) for p in found)
    instead = ""
    if not told:
        fallback: list[Person] = []
        for above in LADDERS[site.ownership][min(level, len(LADDERS[site.ownership])) :]:
            for rung in sorted(above):
                fallback += await people.on(rung, site)
            if fallback:
                break
        fallback = fallback or await people.on(Rung.PRINCIPAL, site) or await people.every_bureau_lead()
        told.update((p.email.lower(), p) for p in fallback)
        instead = ", ".join(sorted(p.email for p in fallback)) or "nobody"
    if missing:
        note = "no " + "; no ".join(missing) + (f": told {instead} instead" if instead else "")
        log.warning("finding %s, escalation level %s: %s", finding.id, level, note)
        await conn.execute(
            insert(history).values(
                finding_id=finding.id,
                at=at,
                action="escalation_unaddressed",
                note=note,
                data={"level": level},
            )
        )
    return sorted(told.values(), key=lambda p: p.email)


async def _render(
    conn: AsyncConnection,
    ctx: Context,
    letter: Letter,
    sites: dict[int, Any],
    event: SweepCompleted,
    calendar: Any,
    now: datetime,
) -> tuple[str, Any]:
    if letter.escalated:
        levels = "、".join(str(lv) for lv in sorted({f.level for f in letter.escalated}))
        # One mail per address: anything else for it (an address on two sides, rare) is listed here too.
        lines = [*letter.escalated, *letter.passed, *letter.urged, *letter.reminded]
        return "escalation", render("escalation", findings=lines, name=letter.name, levels=levels, link="")
    if letter.passed:
        lines = [*letter.passed, *letter.urged, *letter.reminded]
        return "deadline_passed", render("deadline_passed", findings=lines, name=letter.name, link="")
    first = (letter.urged or letter.reminded)[0]
    site = sites[first.facility_id]
    link = await answer_link(conn, ctx, first, now)
    if letter.urged:
        # Level 1 was raised at the sweep's moment: the next step comes at the same time for all of them.
        by = next_escalation_at(event.occurred_at, 1, calendar, ctx.policy, site.ownership)
        local = by.astimezone(LOCAL_TZ) if by else None
        return "urge", render(
            "urge",
            facility=site,
            findings=letter.urged,
            reminded=letter.reminded,
            by_zh=f"{local:%Y年%-m月%-d日}{local.hour}时" if local else None,
            by_en=shown(by) if by else None,
            link=link,
        )
    day = min(f.due_day for f in letter.reminded)
    return "reminder", render("reminder", facility=site, findings=letter.reminded, day=day, link=link)
