"""The 复查 sweep: rectifications the bureau has not verified by their 复查 deadline.

Before the deadline the inspector who issued the order is reminded (the sector's section chiefs where the facility
reported the hazard itself or the inspector has no address); once it has passed, the sector's section chiefs
(level 1), later its bureau leads (level 2, tracker.domain.policy.REVIEW_LADDER). Each finding's reminder and each
level is claimed with conditional updates a batch at a time, as in tracker.service.sweep, so two sweeps at once
raise each once; the mail goes out in the claiming transaction, one message per recipient per sweep listing all
their findings."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tracker.domain.calendar import LOCAL_TZ
from tracker.domain.model import Role, Status
from tracker.domain.policy import REVIEW_LADDER, PolicySettings, next_review_escalation_at
from tracker.mail.queue import by_recipient, queue_mail
from tracker.mail.render import render
from tracker.service.context import load_calendar
from tracker.service.sectors import SectorEmails
from tracker.store.tables import facilities, findings, history, inspections, users

# Rows claimed by one statement; a sweep takes every batch due, all in one transaction.
BATCH = 500


@dataclass
class ReviewSweepResult:
    reminded: list[int] = field(default_factory=list)
    escalated: list[tuple[int, int]] = field(default_factory=list)  # (finding, new level)
    mailed: dict[str, list[int]] = field(default_factory=dict)  # recipient -> findings in their mail


_COLUMNS = (
    findings.c.id,
    findings.c.item_code,
    findings.c.item_zh,
    findings.c.item_en,
    findings.c.severity,
    findings.c.submitted_at,
    findings.c.review_day,
    findings.c.review_remind_at,
    findings.c.review_level,
    facilities.c.name.label("facility_name"),
    facilities.c.town,
    facilities.c.sector,
    users.c.email.label("inspector_email"),
    users.c.role.label("inspector_role"),
    users.c.active.label("inspector_active"),
)


def _due(column: Any, now: datetime, limit: int | None = BATCH) -> Any:
    return (
        select(*_COLUMNS)
        .join(facilities, facilities.c.id == findings.c.facility_id)
        .join(inspections, inspections.c.id == findings.c.inspection_id)
        .join(users, users.c.id == inspections.c.inspector_id)
        .where(findings.c.status == Status.SUBMITTED.value, column <= now)
        .order_by(column, findings.c.id)
        .limit(limit)
    )


async def review_sweep(
    engine: AsyncEngine,
    policy: PolicySettings,
    now: datetime,
    base_url: str,
    *,
    dry_run: bool = False,
    batch: int = BATCH,
) -> ReviewSweepResult:
    """Remind and escalate everything due as of `now`, in one transaction, `batch` rows to a statement."""
    result = ReviewSweepResult()
    if dry_run:
        async with engine.connect() as conn:
            to_escalate = (await conn.execute(_due(findings.c.review_escalation_at, now, None))).all()
            to_remind = (await conn.execute(_due(findings.c.review_remind_at, now, None))).all()
        # Never a reminder and an escalation for one finding in one sweep: the escalation says more.
        escalating = {row.id for row in to_escalate}
        result.escalated = [
            (row.id, row.review_level + 1) for row in to_escalate if row.review_level < len(REVIEW_LADDER)
        ]
        result.reminded = [row.id for row in to_remind if row.id not in escalating]
        return result
    async with engine.begin() as conn:
        people = SectorEmails(conn)
        told: list[tuple[str, tuple[str, int], Any]] = []  # (to, (kind, level), finding)
        # Escalations first: their claim clears the reminder, so the reminders' query no longer finds them.
        told += await _escalate(conn, people, policy, now, batch, result)
        told += await _remind(conn, people, now, batch, result)
        for to, parts in by_recipient(told).items():
            for (kind, level), rows in sorted(parts.items()):
                ids = sorted(row.id for row in rows)
                listed = [
                    {**row._mapping, "submitted_day": row.submitted_at.astimezone(LOCAL_TZ).date()}
                    for row in sorted(rows, key=lambda r: r.id)
                ]
                message = render(kind, rows=listed, level=level, base_url=base_url)
                # The findings named: a second sweep at the same moment claims others, and mails them too.
                about = "review:" + hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:40]
                await queue_mail(
                    conn, kind=kind, about=about, variant=now.isoformat(), to=to, message=message, now=now
                )
                result.mailed.setdefault(to, []).extend(ids)
    return result


async def _escalate(
    conn: AsyncConnection,
    people: SectorEmails,
    policy: PolicySettings,
    now: datetime,
    batch: int,
    result: ReviewSweepResult,
) -> list[tuple[str, tuple[str, int], Any]]:
    """A batch at a time: the rows of one level climb to the same next level at the same next moment, so each
    level is one conditional update ("still at the old level; the rows I changed are mine"); the history rows
    of a batch are one insert."""
    calendar = await load_calendar(conn)
    told = []
    while True:
        due = (await conn.execute(_due(findings.c.review_escalation_at, now, batch))).all()
        claimed: set[int] = set()
        topped = False
        for old in sorted({row.review_level for row in due}):
            ids = [row.id for row in due if row.review_level == old]
            level = old + 1
            values: dict[str, Any] = {"review_level": level, "review_remind_at": None}
            if level > len(REVIEW_LADDER):  # at the top already: nothing above, never due again
                values = {"review_escalation_at": None, "review_remind_at": None}
            else:
                values["review_escalation_at"] = next_review_escalation_at(now, level, calendar, policy)
            mine = await conn.execute(
                update(findings)
                .where(
                    findings.c.id.in_(ids),
                    findings.c.status == Status.SUBMITTED.value,
                    findings.c.review_level == old,
                )
                .values(**values)
                .returning(findings.c.id)
            )
            changed = set(mine.scalars())
            if level > len(REVIEW_LADDER):
                topped = topped or bool(changed)
            else:
                claimed |= changed
        notes = []
        for row in due:
            if row.id not in claimed:
                continue
            level = row.review_level + 1
            result.escalated.append((row.id, level))
            role = Role(REVIEW_LADDER[level - 1])
            recipients = await people.of(role, row.sector)
            notes.append(
                {
                    "finding_id": row.id,
                    "at": now,
                    "action": "review_escalated" if recipients else "review_escalation_unaddressed",
                    "note": "" if recipients else f"no {role.value} of sector {row.sector} with an email",
                    "data": {"level": level, "review_day": row.review_day.isoformat()},
                }
            )
            told += [(to, ("review_escalation", level), row) for to in recipients]
        if notes:
            await conn.execute(insert(history), notes)
        # A claimed row is no longer due; a batch with nothing claimed means another sweep has the rest.
        if len(due) < batch or not (claimed or topped):
            return told


async def _remind(
    conn: AsyncConnection, people: SectorEmails, now: datetime, batch: int, result: ReviewSweepResult
) -> list[tuple[str, tuple[str, int], Any]]:
    """A batch of reminders: one read, one conditional update claiming them all."""
    told = []
    while True:
        due = (await conn.execute(_due(findings.c.review_remind_at, now, batch))).all()
        if not due:
            return told
        mine = await conn.execute(
            update(findings)
            .where(
                findings.c.id.in_([row.id for row in due]),
                findings.c.status == Status.SUBMITTED.value,
                findings.c.review_remind_at <= now,
            )
            .values(review_remind_at=None)
            .returning(findings.c.id)
        )
        claimed = set(mine.scalars())
        for row in due:
            if row.id in claimed:
                result.reminded.append(row.id)
                told += [(to, ("review_reminder", 0), row) for to in await _reviewers(people, row)]
        if len(due) < batch or not claimed:
            return told


async def _reviewers(people: SectorEmails, row: Any) -> list[str]:
    """Who verifies: the inspector who issued the order, or the sector's section chiefs for a hazard the
    facility reported itself (or an inspector without an address, or no longer active)."""
    if row.inspector_email and row.inspector_active and row.inspector_role != Role.FACILITY_HEAD.value:
        return [row.inspector_email]
    return await people.of(Role.SECTION_CHIEF, row.sector)
