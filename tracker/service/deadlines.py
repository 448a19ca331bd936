"""Deadlines settled when a year's official holiday schedule is loaded.

Every open finding whose deadline was estimated over that year is counted again from what it was counted from,
with the schedule. It moves only later (tracker.domain.policy.settled_deadline), its reminder and first escalation
with it; a history row records the move, and each facility's head gets one mail listing its findings with the old
and the new day. A deadline that has already escalated stays as it is: the ladder has been told. Runs in the
transaction that stores the schedule, so the schedule, the moves and their mail commit together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tracker.domain.model import Status
from tracker.domain.policy import PolicySettings, first_escalation_at, settled_deadline
from tracker.domain.time import local_day
from tracker.mail.queue import queue_mail
from tracker.mail.render import render
from tracker.service.context import load_calendar
from tracker.store.tables import facilities, findings, history

KIND = "deadline_moved"
_OPEN = (Status.ORDERED.value, Status.SUBMITTED.value)


@dataclass(frozen=True)
class Moved:
    finding_id: int
    facility_id: int
    before: date
    after: date


async def settle_deadlines(
    conn: AsyncConnection, year: int, policy: PolicySettings, now: datetime, base_url: str
) -> list[Moved]:
    """Count again the estimated deadlines that touch ``year``, whose schedule ``conn`` now holds."""
    calendar = await load_calendar(conn)
    rows = (
        await conn.execute(
            select(
                findings.c.id,
                findings.c.facility_id,
                findings.c.due_day,
                findings.c.due_from,
                findings.c.due_workdays,
            )
            .where(
                findings.c.status.in_(_OPEN),
                findings.c.due_estimated,
                findings.c.due_from.is_not(None),
                findings.c.due_workdays.is_not(None),
                findings.c.escalation_level == 0,
            )
            .order_by(findings.c.id)
        )
    ).all()
    moved: list[Moved] = []
    for row in rows:
        if not local_day(row.due_from).year <= year <= row.due_day.year:
            continue
        again = settled_deadline(row.due_day, row.due_from, row.due_workdays, calendar, policy, now)
        unchanged = (
            findings.c.id == row.id,
            findings.c.due_day == row.due_day,
            findings.c.status.in_(_OPEN),
            findings.c.escalation_level == 0,
        )
        if again is None:
            # Not later: the day the facility was told stands, and is no longer a guess once nothing counted is.
            recount = calendar.add_workdays(local_day(row.due_from), row.due_workdays)
            if not recount.estimated:
                await conn.execute(update(findings).where(*unchanged).values(due_estimated=False))
            continue
        changed = await conn.execute(
            update(findings)
            .where(*unchanged)
            .values(
                due_at=again.due_at,
                due_day=again.day,
                due_estimated=again.estimated,
                remind_at=again.remind_at,
                next_escalation_at=first_escalation_at(again, calendar, policy),
            )
        )
        if changed.rowcount != 1:
            continue
        await conn.execute(
            insert(history).values(
                finding_id=row.id,
                at=now,
                action="deadline_settled",
                actor_id=None,
                note="",
                data={
                    "year": year,
                    "due_day_before": row.due_day.isoformat(),
                    "due_day": again.day.isoformat(),
                },
            )
        )
        moved.append(Moved(row.id, row.facility_id, row.due_day, again.day))
    if moved:
        # The overdue figures of the days from now on may change.
        await _tell_facilities(conn, year, moved, now, base_url)
    return moved


async def _tell_facilities(
    conn: AsyncConnection, year: int, moved: list[Moved], now: datetime, base_url: str
) -> None:
    """One mail per facility (and head's address), queued with the moves."""
    by_id = {m.finding_id: m for m in moved}
    rows = (
        await conn.execute(
            select(findings, facilities.c.head_email)
            .join(facilities, facilities.c.id == findings.c.facility_id)
            .where(findings.c.id.in_(by_id))
            .order_by(findings.c.facility_id, findings.c.id)
        )
    ).all()
    groups: dict[tuple[int, str], list] = {}
    for row in rows:
        groups.setdefault((row.facility_id, row.owner_email or row.head_email), []).append(row)
    for (facility_id, to), group in groups.items():
        facility = (await conn.execute(select(facilities).where(facilities.c.id == facility_id))).one()
        items = [
            {
                "finding": row,
                "before": by_id[row.id].before,
                "after": by_id[row.id].after,
                "link": f"{base_url}/findings/{row.id}",
            }
            for row in group
        ]
        message = render(KIND, facility=facility, year=year, items=items)
        await queue_mail(
            conn,
            kind=KIND,
            about=f"calendar:{year}:facility:{facility_id}",
            # A schedule loaded again (corrected) that moves more deadlines is told again.
            variant=now.isoformat(),
            to=to,
            message=message,
            now=now,
        )
