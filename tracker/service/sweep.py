"""The reminder and escalation sweep: a query over the deadline indexes, one event per (finding, level).

A sweep claims everything due in one transaction and raises, with the per-finding events, one
`SweepCompleted` naming what it raised; the mail for the sweep (one per recipient) is built from that
one event (tracker.service.sweep_mail). A finding due both a reminder and an escalation is escalated
only: its reminder is dropped with the claim and noted on the escalation's history row.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import insert, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tracker.domain.model import Status
from tracker.domain.policy import PolicySettings, next_escalation_at, top_level
from tracker.events.schemas import Event, FindingEscalated, FindingReminded, Raised, SweepCompleted
from tracker.service.context import load_calendar
from tracker.store.outbox import add_events
from tracker.store.tables import facilities, findings, history


@dataclass
class SweepResult:
    reminded: list[int] = field(default_factory=list)
    escalated: list[tuple[int, int]] = field(default_factory=list)  # (finding, new level)
    sweep_id: str = field(default_factory=lambda: str(uuid.uuid4()))


_OPEN = Status.ORDERED.value


def _escalation_due(now: datetime):
    return (
        select(
            findings.c.id,
            findings.c.facility_id,
            findings.c.round,
            findings.c.escalation_level,
            findings.c.remind_at,
            facilities.c.ownership,
        )
        .join(facilities, facilities.c.id == findings.c.facility_id)
        .where(findings.c.status == _OPEN, findings.c.next_escalation_at <= now)
        .order_by(findings.c.next_escalation_at, findings.c.id)
    )


def _reminder_due(now: datetime):
    # A finding also due to escalate is left to the escalation, which drops its reminder.
    not_escalating = or_(findings.c.next_escalation_at.is_(None), findings.c.next_escalation_at > now)
    return (
        select(
            findings.c.id, findings.c.facility_id, findings.c.round, findings.c.due_day, findings.c.remind_at
        )
        .where(findings.c.status == _OPEN, findings.c.remind_at <= now, not_escalating)
        .order_by(findings.c.remind_at, findings.c.id)
    )


async def sweep(
    engine: AsyncEngine, policy: PolicySettings, now: datetime, *, dry_run: bool = False, batch: int = 500
) -> SweepResult:
    """Raise what is due as of `now`. Each row is claimed with a conditional update, so two sweeps
    running at once raise each reminder and each level exactly once between them. All of one sweep
    commits at once, so its mail can list all it raised (DESIGN rules 3-6)."""
    result = SweepResult()
    if dry_run:
        async with engine.connect() as conn:
            escalating = (await conn.execute(_escalation_due(now))).all()
            result.escalated = [
                (row.id, row.escalation_level + 1)
                for row in escalating
                if row.escalation_level < top_level(row.ownership, policy)
            ]
            result.reminded = [row.id for row in (await conn.execute(_reminder_due(now))).all()]
        return result
    async with engine.begin() as conn:
        events: list[Event] = []
        events += await _escalate(conn, policy, now, batch, result)
        events += await _remind(conn, now, batch, result)
        if events:
            events.append(
                SweepCompleted(
                    sweep_id=result.sweep_id,
                    reminded=result.reminded,
                    escalated=[Raised(finding_id=f, level=lv) for f, lv in result.escalated],
                    occurred_at=now,
                )
            )
        await add_events(conn, events, now)
    return result


async def _escalate(
    conn: AsyncConnection, policy: PolicySettings, now: datetime, batch: int, result: SweepResult
) -> list[Event]:
    """Claim a batch at a time in a few statements: rows of one (level, ownership) get the same new level and
    the same next moment, so each such group is one conditional update; their history rows are one insert."""
    calendar = await load_calendar(conn)
    events: list[Event] = []
    while True:
        due = (await conn.execute(_escalation_due(now).limit(batch))).all()
        groups: dict[tuple[int, str], list[Row]] = defaultdict(list)
        for row in due:
            groups[(row.escalation_level, row.ownership)].append(row)
        claimed: dict[int, int] = {}  # finding -> its new level
        topped = False
        for (old, ownership), rows in sorted(groups.items()):
            level = old + 1
            ids = [row.id for row in rows]
            if level > top_level(ownership, policy):
                # Already at the top of a shorter ladder (its facility's ownership changed): nothing above.
                await conn.execute(
                    update(findings).where(findings.c.id.in_(ids)).values(next_escalation_at=None)
                )
                topped = True
                continue
            # "Update where still at the old level; the rows I changed are mine": safe with two sweeps at once.
            mine = await conn.execute(
                update(findings)
                .where(findings.c.id.in_(ids), findings.c.status == _OPEN, findings.c.escalation_level == old)
                .values(
                    escalation_level=level,
                    next_escalation_at=next_escalation_at(now, level, calendar, policy, ownership),
                    remind_at=None,
                )
                .returning(findings.c.id)
            )
            claimed.update((finding_id, level) for finding_id in mine.scalars())
        notes = []
        for row in due:  # in the order they fell due
            if row.id not in claimed:
                continue
            level = claimed[row.id]
            result.escalated.append((row.id, level))
            data: dict[str, object] = {"level": level}
            if row.remind_at is not None and row.remind_at <= now:
                data["reminder_dropped"] = True  # due both in this sweep: the escalation alone goes
            notes.append({"finding_id": row.id, "at": now, "action": "escalated", "note": "", "data": data})
            events.append(
                FindingEscalated(
                    finding_id=row.id,
                    facility_id=row.facility_id,
                    level=level,
                    round=row.round,
                    occurred_at=now,
                )
            )
        if notes:
            await conn.execute(insert(history), notes)
        # A claimed row no longer matches the query; a batch with no claim means another sweep has the rest.
        if len(due) < batch or not (claimed or topped):
            return events


async def _remind(conn: AsyncConnection, now: datetime, batch: int, result: SweepResult) -> list[Event]:
    """A batch of reminders: one read, one conditional update claiming them all."""
    events: list[Event] = []
    while True:
        due = (await conn.execute(_reminder_due(now).limit(batch))).all()
        if not due:
            return events
        # Still due and still open: a row another sweep cleared meanwhile is not claimed twice.
        mine = await conn.execute(
            update(findings)
            .where(
                findings.c.id.in_([row.id for row in due]),
                findings.c.status == _OPEN,
                findings.c.remind_at <= now,
            )
            .values(remind_at=None)
            .returning(findings.c.id)
        )
        claimed = set(mine.scalars())
        for row in due:
            if row.id not in claimed:
                continue
            result.reminded.append(row.id)
            events.append(
                FindingReminded(
                    finding_id=row.id,
                    facility_id=row.facility_id,
                    round=row.round,
                    due_day=row.due_day,
                    occurred_at=now,
                )
            )
        if len(due) < batch or not claimed:
            return events
