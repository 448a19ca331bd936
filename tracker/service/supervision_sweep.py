"""Reminders and escalation of a major hazard's stage deadlines (the plan, the interim measure's check, 验收, the
sign-off) and of its overdue progress reports; run by the scheduler beside the findings' own sweep.

Each stage deadline is reminded once (to whoever's step it is) and escalates when it passes: level 1 to that person
and the section chiefs of the facility's sector, level 2 (``escalate_every_workdays`` later) to the sector's bureau
leads. A progress report not filed in time is told once to the facility and the sector's section chiefs. Every row
is claimed by a conditional update, and the mail is queued in the same transaction: one mail per recipient and
sweep listing every step that reached them, never a reminder and an escalation of one finding in one sweep.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tracker.domain.calendar import LOCAL_TZ
from tracker.domain.model import Role
from tracker.domain.policy import PolicySettings, next_escalation_at
from tracker.domain.supervision import (
    LABELS_EN,
    LABELS_ZH,
    PROGRESS_STAGES,
    Stage,
    notice_number,
    whose_step,
)
from tracker.mail.queue import queue_mail
from tracker.mail.render import render
from tracker.service.context import load_calendar
from tracker.service.sectors import sector_emails
from tracker.store.tables import facilities, findings, history, inspections, supervisions, users

# Level 1 tells whoever's step it is and the sector's section chiefs; level 2 the sector's bureau leads.
MAX_LEVEL = 2
# The stages whose step has a deadline of the track (the rectification runs on the finding's own).
TIMED = (Stage.PLAN.value, Stage.INTERIM.value, Stage.ACCEPTANCE.value, Stage.SIGNOFF.value)


@dataclass
class SupervisionSweep:
    reminded: list[int] = field(default_factory=list)
    escalated: list[tuple[int, int]] = field(default_factory=list)  # (finding, level)
    progress_late: list[int] = field(default_factory=list)
    mails: int = 0


@dataclass(frozen=True)
class _Item:
    finding_id: int
    what: str  # due | overdue | progress
    stage: Stage
    due: datetime
    level: int = 0


async def sweep_supervisions(
    engine: AsyncEngine,
    policy: PolicySettings,
    now: datetime,
    base_url: str,
    prefix: str,
    *,
    dry_run: bool = False,
) -> SupervisionSweep:
    result = SupervisionSweep()
    if dry_run:
        async with engine.connect() as conn:
            return await _due_now(conn, now)
    async with engine.begin() as conn:
        calendar = await load_calendar(conn)
        items: list[_Item] = []
        escalating = (
            await conn.execute(
                select(supervisions).where(
                    supervisions.c.stage.in_(TIMED), supervisions.c.stage_next_escalation_at <= now
                )
            )
        ).all()
        escalated_ids = set()
        for row in escalating:
            level = row.stage_escalation_level + 1
            nxt = next_escalation_at(now, level, calendar, policy) if level < MAX_LEVEL else None
            claimed = await conn.execute(
                update(supervisions)
                .where(
                    supervisions.c.finding_id == row.finding_id,
                    supervisions.c.stage == row.stage,
                    supervisions.c.stage_escalation_level == row.stage_escalation_level,
                )
                # The reminder of a stage that escalates is dropped: never both for one finding in one sweep.
                .values(stage_escalation_level=level, stage_next_escalation_at=nxt, stage_remind_at=None)
            )
            if claimed.rowcount != 1:
                continue
            escalated_ids.add(row.finding_id)
            result.escalated.append((row.finding_id, level))
            items.append(_Item(row.finding_id, "overdue", Stage(row.stage), row.stage_due_at, level))
            await conn.execute(
                insert(history).values(
                    finding_id=row.finding_id,
                    at=now,
                    action="supervision_escalated",
                    actor_id=None,
                    note="",
                    data={"stage": row.stage, "level": level},
                )
            )
        reminding = (
            await conn.execute(
                select(supervisions).where(
                    supervisions.c.stage.in_(TIMED), supervisions.c.stage_remind_at <= now
                )
            )
        ).all()
        for row in reminding:
            if row.finding_id in escalated_ids:
                continue
            claimed = await conn.execute(
                update(supervisions)
                .where(
                    supervisions.c.finding_id == row.finding_id,
                    supervisions.c.stage == row.stage,
                    supervisions.c.stage_remind_at == row.stage_remind_at,
                )
                .values(stage_remind_at=None)
            )
            if claimed.rowcount == 1:
                result.reminded.append(row.finding_id)
                items.append(_Item(row.finding_id, "due", Stage(row.stage), row.stage_due_at))
        late = (
            await conn.execute(
                select(supervisions).where(
                    supervisions.c.stage.in_([s.value for s in PROGRESS_STAGES]),
                    supervisions.c.progress_due_at <= now,
                    ~supervisions.c.progress_overdue_told,
                )
            )
        ).all()
        for row in late:
            claimed = await conn.execute(
                update(supervisions)
                .where(
                    supervisions.c.finding_id == row.finding_id,
                    supervisions.c.progress_due_at == row.progress_due_at,
                    ~supervisions.c.progress_overdue_told,
                )
                .values(progress_overdue_told=True)
            )
            if claimed.rowcount == 1:
                result.progress_late.append(row.finding_id)
                items.append(_Item(row.finding_id, "progress", Stage(row.stage), row.progress_due_at))
        result.mails = await _mail(conn, items, now, base_url, prefix)
    return result


async def _due_now(conn: AsyncConnection, now: datetime) -> SupervisionSweep:
    """What a sweep at `now` would raise, every row of it, changing nothing (`tracker escalate --dry-run`)."""
    result = SupervisionSweep()
    escalating = (
        await conn.execute(
            select(supervisions.c.finding_id, supervisions.c.stage_escalation_level).where(
                supervisions.c.stage.in_(TIMED), supervisions.c.stage_next_escalation_at <= now
            )
        )
    ).all()
    result.escalated = [(row.finding_id, row.stage_escalation_level + 1) for row in escalating]
    escalated_ids = {row.finding_id for row in escalating}
    reminding = await conn.execute(
        select(supervisions.c.finding_id).where(
            supervisions.c.stage.in_(TIMED), supervisions.c.stage_remind_at <= now
        )
    )
    result.reminded = [f for f in reminding.scalars() if f not in escalated_ids]
    late = await conn.execute(
        select(supervisions.c.finding_id).where(
            supervisions.c.stage.in_([s.value for s in PROGRESS_STAGES]),
            supervisions.c.progress_due_at <= now,
            ~supervisions.c.progress_overdue_told,
        )
    )
    result.progress_late = list(late.scalars())
    return result


async def _recipients(conn: AsyncConnection, item: _Item, finding: Any) -> set[str]:
    """Who hears of `item`: whoever's step it is, and up the sector's line at each escalation level."""
    sector = finding.sector
    facility_addr = {finding.owner_email or finding.head_email} - {None, ""}
    if item.what == "progress":
        return facility_addr | set(await sector_emails(conn, Role.SECTION_CHIEF, sector))
    role = whose_step(item.stage)
    if role == Role.FACILITY_HEAD.value:
        step = facility_addr
    elif role == Role.INSPECTOR.value:
        email = await conn.scalar(
            select(users.c.email)
            .join(inspections, inspections.c.inspector_id == users.c.id)
            .where(inspections.c.id == finding.inspection_id)
        )
        step = {email} - {None, ""}
    else:
        step = set(await sector_emails(conn, Role(role), sector))
    if item.what == "due":
        return step
    if item.level == 1:
        return step | set(await sector_emails(conn, Role.SECTION_CHIEF, sector))
    return set(await sector_emails(conn, Role.BUREAU_LEAD, sector))


async def _mail(conn: AsyncConnection, items: list[_Item], now: datetime, base_url: str, prefix: str) -> int:
    if not items:
        return 0
    ids = sorted({i.finding_id for i in items})
    rows = {
        r.id: r
        for r in (
            await conn.execute(
                select(
                    findings,
                    facilities.c.name.label("facility_name"),
                    facilities.c.sector,
                    facilities.c.head_email,
                    supervisions.c.year,
                    supervisions.c.number,
                )
                .join(facilities, facilities.c.id == findings.c.facility_id)
                .join(supervisions, supervisions.c.finding_id == findings.c.id)
                .where(findings.c.id.in_(ids))
            )
        ).all()
    }
    by_recipient: dict[str, list[_Item]] = {}
    # The facilities' own addresses: their mail reads in Chinese only, without internal codes.
    facility_addresses: set[str] = set()
    for item in items:
        f = rows[item.finding_id]
        facility_addresses |= {f.owner_email or f.head_email} - {None, ""}
        for to in await _recipients(conn, item, f):
            by_recipient.setdefault(to, []).append(item)
    sent = 0
    for to, mine in sorted(by_recipient.items()):
        steps = []
        for item in mine:
            f = rows[item.finding_id]
            steps.append(
                {
                    "id": f.id,
                    "facility": f.facility_name,
                    "item_zh": f.item_zh,
                    "notice_no": notice_number(prefix, f.year, f.number),
                    "what": item.what,
                    "stage_zh": LABELS_ZH[item.stage],
                    "stage_en": LABELS_EN[item.stage],
                    "day": item.due.astimezone(LOCAL_TZ).date(),
                    "level": item.level,
                    "link": f"{base_url}/findings/{f.id}",
                }
            )
        listed = [rows[i] for i in sorted({item.finding_id for item in mine})]
        message = render(
            "supervision_due", findings=listed, steps=steps, link=None, for_staff=to not in facility_addresses
        )
        # The same steps reach a recipient once, however often the sweep runs.
        key = "|".join(
            sorted(f"{i.finding_id}:{i.what}:{i.stage.value}:{i.level}:{i.due.isoformat()}" for i in mine)
        )
        about = "supervision-due:" + hashlib.sha256(key.encode()).hexdigest()[:32]
        if await queue_mail(conn, kind="supervision_due", about=about, to=to, message=message, now=now):
            sent += 1
    return sent
