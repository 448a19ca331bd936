"""The reminder and escalation sweep: a query over the deadline indexes, one event per (finding, level)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from tracker.domain.model import Status
from tracker.domain.policy import PolicySettings, next_escalation_at
from tracker.events.schemas import FindingEscalated, FindingReminded
from tracker.service.context import load_calendar
from tracker.store.outbox import add_events
from tracker.store.tables import findings, history


@dataclass
class SweepResult:
    reminded: list[int] = field(default_factory=list)
    escalated: list[tuple[int, int]] = field(default_factory=list)  # (finding, new level)


async def sweep(
    engine: AsyncEngine, policy: PolicySettings, now: datetime, *, dry_run: bool = False, batch: int = 500
) -> SweepResult:
    """Raise what is due as of `now`. Each row is claimed with a conditional update, so two sweeps
    running at once raise each reminder and each level exactly once between them."""
    result = SweepResult()
    open_ = Status.ORDERED.value
    while True:
        async with engine.begin() as conn:
            due = (
                await conn.execute(
                    select(
                        findings.c.id,
                        findings.c.facility_id,
                        findings.c.round,
                        findings.c.due_day,
                        findings.c.remind_at,
                    )
                    .where(findings.c.status == open_, findings.c.remind_at <= now)
                    .order_by(findings.c.remind_at)
                    .limit(batch)
                )
            ).all()
            if dry_run:
                result.reminded.extend(row.id for row in due)
                break
            events = []
            for row in due:
                claimed = await conn.execute(
                    update(findings)
                    .where(
                        findings.c.id == row.id,
                        findings.c.status == open_,
                        findings.c.remind_at == row.remind_at,
                    )
                    .values(remind_at=None)
                )
                if claimed.rowcount == 1:
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
            await add_events(conn, events, now)
        if len(due) < batch:
            break

    calendar = None
    while True:
        async with engine.begin() as conn:
            if calendar is None:
                calendar = await load_calendar(conn)
            due = (
                await conn.execute(
                    select(
                        findings.c.id, findings.c.facility_id, findings.c.round, findings.c.escalation_level
                    )
                    .where(findings.c.status == open_, findings.c.next_escalation_at <= now)
                    .order_by(findings.c.next_escalation_at)
                    .limit(batch)
                )
            ).all()
            if dry_run:
                result.escalated.extend((row.id, row.escalation_level + 1) for row in due)
                break
            events = []
            for row in due:
                level = row.escalation_level + 1
                claimed = await conn.execute(
                    update(findings)
                    .where(
                        findings.c.id == row.id,
                        findings.c.status == open_,
                        findings.c.escalation_level == row.escalation_level,
                    )
                    .values(
                        escalation_level=level,
                        next_escalation_at=next_escalation_at(now, level, calendar, policy),
                    )
                )
                if claimed.rowcount != 1:
                    continue
                result.escalated.append((row.id, level))
                await conn.execute(
                    insert(history).values(
                        finding_id=row.id, at=now, action="escalated", note="", data={"level": level}
                    )
                )
                events.append(
                    FindingEscalated(
                        finding_id=row.id,
                        facility_id=row.facility_id,
                        level=level,
                        round=row.round,
                        occurred_at=now,
                    )
                )
            await add_events(conn, events, now)
        if len(due) < batch:
            break
    return result
