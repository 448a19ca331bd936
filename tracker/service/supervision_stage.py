"""The supervisions row of a major finding: opened when it is reported, and moved from stage to stage with the
next step's deadline. The loop (tracker.service.loop) asks here whether a finding is on the major track."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from tracker.domain.calendar import LOCAL_TZ
from tracker.domain.errors import InvalidTransition
from tracker.domain.model import Role, Severity
from tracker.domain.policy import PolicySettings, deadline_for, first_escalation_at
from tracker.domain.supervision import Stage, Step, first_stage, notice_number
from tracker.service.context import load_calendar
from tracker.service.sectors import sector_people
from tracker.store.db import is_sqlite
from tracker.store.tables import (
    facilities,
    findings,
    history,
    inspections,
    referrals,
    supervision_numbers,
    supervisions,
)

# The supervising unit when none is configured (tracker.config.Settings.bureau_name).
DEFAULT_SUPERVISOR = "县民政局"


class StaleSupervision(InvalidTransition):
    """The supervision moved on under us between read and write: answered as a conflict (409)."""


def stage_days(stage: Stage, policy: PolicySettings) -> int | None:
    """The working days a stage's step is given; None where no deadline of the track runs (the judgement waits
    for an outside answer, the rectification runs on the finding's own deadline)."""
    return {
        Stage.PLAN: policy.major_plan_days,
        Stage.INTERIM: policy.major_interim_days,
        Stage.ACCEPTANCE: policy.major_acceptance_days,
        Stage.SIGNOFF: policy.major_signoff_days,
    }.get(stage)


async def supervision_of(conn: AsyncConnection, finding_id: int) -> Row[Any] | None:
    return (await conn.execute(select(supervisions).where(supervisions.c.finding_id == finding_id))).first()


async def stage_values(
    conn: AsyncConnection, stage: Stage, policy: PolicySettings, now: datetime
) -> dict[str, Any]:
    """The columns that start `stage` at `now`: its deadline, reminder and a fresh escalation."""
    days = stage_days(stage, policy)
    values: dict[str, Any] = {
        "stage": stage.value,
        "stage_at": now,
        "stage_due_at": None,
        "stage_remind_at": None,
        "stage_escalation_level": 0,
        "stage_next_escalation_at": None,
    }
    if days is not None:
        calendar = await load_calendar(conn)
        deadline = deadline_for(now, days, calendar, policy)
        values.update(
            stage_due_at=deadline.due_at,
            stage_remind_at=deadline.remind_at,
            # Like any deadline's: at 09:00 of the next working day, not at midnight or on a holiday eve.
            stage_next_escalation_at=first_escalation_at(deadline, calendar, policy),
        )
    return values


async def advance(
    conn: AsyncConnection,
    finding_id: int,
    step: Step,
    policy: PolicySettings,
    now: datetime,
    actor_id: int | None,
    note: str = "",
    data: dict[str, Any] | None = None,
    **values: Any,
) -> None:
    """Move the supervision along `step` (claimed on its stage, so two at once cannot both move it), with the
    next stage's deadline, and write the history row."""
    moved = step.after is not step.before
    if moved:
        values.update(await stage_values(conn, step.after, policy, now))
    changed = await conn.execute(
        update(supervisions)
        .where(supervisions.c.finding_id == finding_id, supervisions.c.stage == step.before.value)
        .values(**values)
    )
    if changed.rowcount != 1:
        raise StaleSupervision(f"the supervision of finding {finding_id} changed meanwhile; try again")
    await conn.execute(
        insert(history).values(
            finding_id=finding_id,
            at=now,
            action=step.action,
            actor_id=actor_id,
            note=note,
            data={"stage": step.after.value, **(data or {})},
        )
    )


async def next_notice_numbers(conn: AsyncConnection, year: int, count: int = 1) -> range:
    """The next `count` notice numbers of `year`, claimed in one statement (as tracker.service.loop's order
    numbers): two reports at once never share one."""
    counted = (sqlite_insert if is_sqlite(conn) else postgresql_insert)(supervision_numbers).values(
        year=year, last_number=count
    )
    counted = counted.on_conflict_do_update(
        index_elements=[supervision_numbers.c.year],
        set_={"last_number": supervision_numbers.c.last_number + count},
    ).returning(supervision_numbers.c.last_number)
    last = (await conn.execute(counted)).scalar_one()
    return range(last - count + 1, last + 1)


async def open_for(
    conn: AsyncConnection,
    finding_ids: list[int],
    judged_by: int,
    policy: PolicySettings,
    now: datetime,
    supervisor: str = DEFAULT_SUPERVISOR,
    prefix: str = "",
) -> list[tuple[int, Stage]]:
    """Give each major finding among `finding_ids` its notice: judged by the one who graded it, on the item's basis,
    today; the 包保领导 is the bureau lead of the facility's sector. Returns the findings opened, with their stage.
    However many there are, their numbers, notices and history rows are a statement each."""
    if not finding_ids:
        return []
    rows = (
        await conn.execute(
            select(
                findings.c.id, findings.c.basis, facilities.c.sector, referrals.c.agency, referrals.c.answer
            )
            .join(facilities, facilities.c.id == findings.c.facility_id)
            .outerjoin(referrals, referrals.c.finding_id == findings.c.id)
            .where(findings.c.id.in_(finding_ids), findings.c.severity == Severity.MAJOR.value)
            .order_by(findings.c.id)
        )
    ).all()
    if not rows:
        return []
    year = now.astimezone(LOCAL_TZ).year
    leads: dict[str, int | None] = {}
    starts: dict[Stage, dict[str, Any]] = {}
    notices, notes, opened = [], [], []
    for row, number in zip(rows, await next_notice_numbers(conn, year, len(rows)), strict=True):
        if row.sector not in leads:
            people = await sector_people(conn, Role.BUREAU_LEAD, row.sector)
            leads[row.sector] = people[0].id if people else None
        stage = first_stage(row.agency is not None and row.answer is None)
        if stage not in starts:
            starts[stage] = await stage_values(conn, stage, policy, now)
        notices.append(
            {
                "finding_id": row.id,
                "year": year,
                "number": number,
                "supervisor": supervisor,
                "lead_id": leads[row.sector],
                "judged_by": judged_by,
                "judged_at": now,
                "judged_basis": row.basis or "",
                "referred_to": row.agency,
                "referral_answer": row.answer,
                "progress_overdue_told": False,
                **starts[stage],
            }
        )
        notes.append(
            {
                "finding_id": row.id,
                "at": now,
                "action": "supervision_opened",
                "actor_id": judged_by,
                "note": "",
                "data": {
                    "stage": stage.value,
                    "year": year,
                    "number": number,
                    "notice_no": notice_number(prefix, year, number) if prefix else None,
                    "lead_id": leads[row.sector],
                    "referred_to": row.agency,
                },
            }
        )
        opened.append((row.id, stage))
    await conn.execute(insert(supervisions), notices)
    await conn.execute(insert(history), notes)
    return opened


async def inspector_of(conn: AsyncConnection, finding_id: int) -> int | None:
    return await conn.scalar(
        select(inspections.c.inspector_id)
        .join(findings, findings.c.inspection_id == inspections.c.id)
        .where(findings.c.id == finding_id)
    )
