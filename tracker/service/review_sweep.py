"""The 复查 sweep: rectifications the bureau has not verified by their 复查 deadline.

Before the deadline the inspector who issued the order is reminded (the sector's section chiefs where the facility
reported the hazard itself or the inspector has no address); once it has passed, the sector's section chiefs
(level 1), later its bureau leads (level 2, tracker.domain.policy.REVIEW_LADDER). Each finding's reminder and each
level is claimed with a conditional update, as in tracker.service.sweep, so two sweeps at once raise each once;
the mail goes out in the claiming transaction, one message per recipient per sweep listing all their findings."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tracker.domain.calendar import LOCAL_TZ
from tracker.domain.model import Role, Status
from tracker.domain.policy import REVIEW_LADDER, PolicySettings, next_review_escalation_at
from tracker.mail.queue import queue_mail
from tracker.mail.render import render
from tracker.service.context import load_calendar
from tracker.service.sectors import sector_emails
from tracker.store.tables import facilities, findings, history, inspections, users

# More than this many due in one sweep are left for the next one.
BATCH = 2000


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
    engine: AsyncEngine, policy: PolicySettings, now: datetime, base_url: str, *, dry_run: bool = False
) -> ReviewSweepResult:
    """Remind and escalate what is due as of `now`, in one transaction."""
    result = ReviewSweepResult()
    # A dry run counts every row due; a sweep takes BATCH of each and leaves the rest for the next one.
    limit = None if dry_run else BATCH
    async with engine.begin() as conn:
        to_remind = (await conn.execute(_due(findings.c.review_remind_at, now, limit))).all()
        to_escalate = (await conn.execute(_due(findings.c.review_escalation_at, now, limit))).all()
        # Never a reminder and an escalation for one finding in one sweep: the escalation says more.
        escalating = {row.id for row in to_escalate}
        to_remind = [row for row in to_remind if row.id not in escalating]
        if dry_run:
            result.reminded = [row.id for row in to_remind]
            result.escalated = [(row.id, row.review_level + 1) for row in to_escalate]
            return result
        letters: dict[tuple[str, str, int], list[Any]] = defaultdict(list)  # (to, kind, level) -> findings
        for row in to_remind:
            claimed = await conn.execute(
                update(findings)
                .where(
                    findings.c.id == row.id,
                    findings.c.status == Status.SUBMITTED.value,
                    findings.c.review_remind_at == row.review_remind_at,
                )
                .values(review_remind_at=None)
            )
            if claimed.rowcount != 1:
                continue
            result.reminded.append(row.id)
            for to in await _reviewers(conn, row):
                letters[(to, "review_reminder", 0)].append(row)
        calendar = await load_calendar(conn) if to_escalate else None
        for row in to_escalate:
            level = row.review_level + 1
            if level > len(REVIEW_LADDER):
                continue
            claimed = await conn.execute(
                update(findings)
                .where(
                    findings.c.id == row.id,
                    findings.c.status == Status.SUBMITTED.value,
                    findings.c.review_level == row.review_level,
                )
                .values(
                    review_level=level,
                    review_remind_at=None,
                    review_escalation_at=next_review_escalation_at(now, level, calendar, policy),
                )
            )
            if claimed.rowcount != 1:
                continue
            result.escalated.append((row.id, level))
            role = Role(REVIEW_LADDER[level - 1])
            recipients = await sector_emails(conn, role, row.sector)
            await conn.execute(
                insert(history).values(
                    finding_id=row.id,
                    at=now,
                    action="review_escalated" if recipients else "review_escalation_unaddressed",
                    note="" if recipients else f"no {role.value} of sector {row.sector} with an email",
                    data={"level": level, "review_day": row.review_day.isoformat()},
                )
            )
            for to in recipients:
                letters[(to, "review_escalation", level)].append(row)
        for (to, kind, level), rows in letters.items():
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


async def _reviewers(conn: AsyncConnection, row: Any) -> list[str]:
    """Who verifies: the inspector who issued the order, or the sector's section chiefs for a hazard the
    facility reported itself (or an inspector without an address, or no longer active)."""
    if row.inspector_email and row.inspector_active and row.inspector_role != Role.FACILITY_HEAD.value:
        return [row.inspector_email]
    return await sector_emails(conn, Role.SECTION_CHIEF, row.sector)
