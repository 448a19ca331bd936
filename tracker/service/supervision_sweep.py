"""Reminders and escalation of a major hazard's stage deadlines (the plan, the interim measure's check, 验收, the
sign-off) and of its overdue progress reports; run by the scheduler beside the findings' own sweep.

Each stage deadline is reminded once (to whoever's step it is) and escalates when it passes: level 1 to that person
and the section chiefs of the facility's sector, level 2 (``escalate_every_workdays`` later) to the sector's bureau
leads. A progress report not filed in time is told once to the facility and the sector's section chiefs. Rows are
claimed a batch at a time by conditional updates (as in tracker.service.sweep), and the mail is queued in the same
transaction: one mail per recipient and sweep listing every step that reached them, never a reminder and an
escalation of one finding in one sweep.
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
from tracker.mail.queue import by_recipient, queue_mail
from tracker.mail.render import render
from tracker.service.context import load_calendar
from tracker.service.sectors import SectorEmails
from tracker.store.tables import facilities, findings, history, inspections, supervisions, users

# Level 1 tells whoever's step it is and the sector's section chiefs; level 2 the sector's bureau leads.
MAX_LEVEL = 2
# Rows claimed by one statement; a sweep takes every batch due, all in one transaction.
BATCH = 500
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
    batch: int = BATCH,
) -> SupervisionSweep:
    """Raise every step due as of `now` in one transaction, `batch` rows to a statement."""
    if dry_run:
        async with engine.connect() as conn:
            return await _due_now(conn, now)
    result = SupervisionSweep()
    async with engine.begin() as conn:
        # Escalations first: their claim drops the stage's reminder, never both for one finding in one sweep.
        items = await _escalate(conn, policy, now, batch, result)
        items += await _remind(conn, now, batch, result)
        items += await _late(conn, now, batch, result)
        result.mails = await _mail(conn, items, now, base_url, prefix)
    return result


def _escalating(now: datetime) -> Any:
    return (
        select(supervisions)
        .where(supervisions.c.stage.in_(TIMED), supervisions.c.stage_next_escalation_at <= now)
        .order_by(supervisions.c.stage_next_escalation_at, supervisions.c.finding_id)
    )


def _reminding(now: datetime) -> Any:
    return (
        select(supervisions)
        .where(supervisions.c.stage.in_(TIMED), supervisions.c.stage_remind_at <= now)
        .order_by(supervisions.c.stage_remind_at, supervisions.c.finding_id)
    )


def _progress_late(now: datetime) -> Any:
    return (
        select(supervisions)
        .where(
            supervisions.c.stage.in_([s.value for s in PROGRESS_STAGES]),
            supervisions.c.progress_due_at <= now,
            ~supervisions.c.progress_overdue_told,
        )
        .order_by(supervisions.c.progress_due_at, supervisions.c.finding_id)
    )


async def _escalate(
    conn: AsyncConnection, policy: PolicySettings, now: datetime, batch: int, result: SupervisionSweep
) -> list[_Item]:
    """The rows of one (stage, level) climb to the same level with the same next moment: one conditional update
    each ("still at that stage and level; the rows I changed are mine"); a batch's history rows are one insert."""
    calendar = await load_calendar(conn)
    items: list[_Item] = []
    while True:
        due = (await conn.execute(_escalating(now).limit(batch))).all()
        claimed: set[int] = set()
        for stage, old in sorted({(row.stage, row.stage_escalation_level) for row in due}):
            level = old + 1
            mine = await conn.execute(
                update(supervisions)
                .where(
                    supervisions.c.finding_id.in_(
                        [r.finding_id for r in due if (r.stage, r.stage_escalation_level) == (stage, old)]
                    ),
                    supervisions.c.stage == stage,
                    supervisions.c.stage_escalation_level == old,
                )
                .values(
                    stage_escalation_level=level,
                    stage_next_escalation_at=next_escalation_at(now, level, calendar, policy)
                    if level < MAX_LEVEL
                    else None,
                    stage_remind_at=None,
                )
                .returning(supervisions.c.finding_id)
            )
            claimed |= set(mine.scalars())
        notes = []
        for row in due:
            if row.finding_id not in claimed:
                continue
            level = row.stage_escalation_level + 1
            result.escalated.append((row.finding_id, level))
            items.append(_Item(row.finding_id, "overdue", Stage(row.stage), row.stage_due_at, level))
            notes.append(
                {
                    "finding_id": row.finding_id,
                    "at": now,
                    "action": "supervision_escalated",
                    "actor_id": None,
                    "note": "",
                    "data": {"stage": row.stage, "level": level},
                }
            )
        if notes:
            await conn.execute(insert(history), notes)
        if len(due) < batch or not claimed:
            return items


async def _remind(conn: AsyncConnection, now: datetime, batch: int, result: SupervisionSweep) -> list[_Item]:
    items: list[_Item] = []
    while True:
        due = (await conn.execute(_reminding(now).limit(batch))).all()
        if not due:
            return items
        mine = await conn.execute(
            update(supervisions)
            .where(
                supervisions.c.finding_id.in_([row.finding_id for row in due]),
                supervisions.c.stage.in_(TIMED),
                supervisions.c.stage_remind_at <= now,
            )
            .values(stage_remind_at=None)
            .returning(supervisions.c.finding_id)
        )
        claimed = set(mine.scalars())
        for row in due:
            if row.finding_id in claimed:
                result.reminded.append(row.finding_id)
                items.append(_Item(row.finding_id, "due", Stage(row.stage), row.stage_due_at))
        if len(due) < batch or not claimed:
            return items


async def _late(conn: AsyncConnection, now: datetime, batch: int, result: SupervisionSweep) -> list[_Item]:
    """Progress reports not filed in time, each told once."""
    items: list[_Item] = []
    while True:
        due = (await conn.execute(_progress_late(now).limit(batch))).all()
        if not due:
            return items
        mine = await conn.execute(
            update(supervisions)
            .where(
                supervisions.c.finding_id.in_([row.finding_id for row in due]),
                supervisions.c.stage.in_([s.value for s in PROGRESS_STAGES]),
                supervisions.c.progress_due_at <= now,
                ~supervisions.c.progress_overdue_told,
            )
            .values(progress_overdue_told=True)
            .returning(supervisions.c.finding_id)
        )
        claimed = set(mine.scalars())
        for row in due:
            if row.finding_id in claimed:
                result.progress_late.append(row.finding_id)
                items.append(_Item(row.finding_id, "progress", Stage(row.stage), row.progress_due_at))
        if len(due) < batch or not claimed:
            return items


async def _due_now(conn: AsyncConnection, now: datetime) -> SupervisionSweep:
    """What a sweep at `now` would raise, every row of it, changing nothing (`tracker escalate --dry-run`)."""
    result = SupervisionSweep()
    escalating = (await conn.execute(_escalating(now))).all()
    result.escalated = [(row.finding_id, row.stage_escalation_level + 1) for row in escalating]
    escalated_ids = {row.finding_id for row in escalating}
    reminding = (await conn.execute(_reminding(now))).all()
    result.reminded = [row.finding_id for row in reminding if row.finding_id not in escalated_ids]
    result.progress_late = [row.finding_id for row in (await conn.execute(_progress_late(now))).all()]
    return result


async def _recipients(people: SectorEmails, item: _Item, finding: Any) -> set[str]:
    """Who hears of `item`: whoever's step it is, and up the sector's line at each escalation level."""
    sector = finding.sector
    facility_addr = {finding.owner_email or finding.head_email} - {None, ""}
    if item.what == "progress":
        return facility_addr | set(await people.of(Role.SECTION_CHIEF, sector))
    role = whose_step(item.stage)
    if role == Role.FACILITY_HEAD.value:
        step = facility_addr
    elif role == Role.INSPECTOR.value:
        step = {finding.inspector_email} - {None, ""}
    else:
        step = set(await people.of(Role(role), sector))
    if item.what == "due":
        return step
    if item.level == 1:
        return step | set(await people.of(Role.SECTION_CHIEF, sector))
    return set(await people.of(Role.BUREAU_LEAD, sector))


async def _findings(conn: AsyncConnection, ids: list[int]) -> dict[int, Any]:
    """The findings named, with what their mail says and who is told, BATCH to a query."""
    found: dict[int, Any] = {}
    for k in range(0, len(ids), BATCH):
        query = (
            select(
                findings,
                facilities.c.name.label("facility_name"),
                facilities.c.sector,
                facilities.c.head_email,
                supervisions.c.year,
                supervisions.c.number,
                users.c.email.label("inspector_email"),
            )
            .join(facilities, facilities.c.id == findings.c.facility_id)
            .join(supervisions, supervisions.c.finding_id == findings.c.id)
            .join(inspections, inspections.c.id == findings.c.inspection_id)
            .outerjoin(users, users.c.id == inspections.c.inspector_id)
            .where(findings.c.id.in_(ids[k : k + BATCH]))
        )
        found.update((row.id, row) for row in (await conn.execute(query)).all())
    return found


async def _mail(conn: AsyncConnection, items: list[_Item], now: datetime, base_url: str, prefix: str) -> int:
    if not items:
        return 0
    rows = await _findings(conn, sorted({i.finding_id for i in items}))
    people = SectorEmails(conn)
    # The facilities' own addresses: their mail reads in Chinese only, without internal codes.
    facility_addresses: set[str] = set()
    told = []
    for item in items:
        f = rows[item.finding_id]
        facility_addresses |= {(f.owner_email or f.head_email or "").lower()} - {""}
        told += [(to, "steps", item) for to in await _recipients(people, item, f)]
    sent = 0
    for to, parts in by_recipient(told).items():
        mine = parts["steps"]
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
            "supervision_due",
            findings=listed,
            steps=steps,
            link=None,
            for_staff=to.lower() not in facility_addresses,
        )
        # The same steps reach a recipient once, however often the sweep runs.
        key = "|".join(
            sorted(f"{i.finding_id}:{i.what}:{i.stage.value}:{i.level}:{i.due.isoformat()}" for i in mine)
        )
        about = "supervision-due:" + hashlib.sha256(key.encode()).hexdigest()[:32]
        if await queue_mail(conn, kind="supervision_due", about=about, to=to, message=message, now=now):
            sent += 1
    return sent
