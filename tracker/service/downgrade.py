"""Recording a major-mapped item as general: the finding stays major until a section chief decides."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tracker.checklists import Catalog
from tracker.domain import grading
from tracker.domain.errors import InvalidInput, NotAllowed, StaleFinding
from tracker.domain.model import Actor, Role, Severity, Status
from tracker.domain.policy import PolicySettings, deadline_for, first_escalation_at, review_deadline
from tracker.events.schemas import FindingRegraded
from tracker.service import supervision
from tracker.service.context import load_calendar
from tracker.service.loop import load_visible_finding
from tracker.service.sectors import facility_sector
from tracker.service.supervision_stage import supervision_of
from tracker.store.outbox import add_events
from tracker.store.tables import findings, history


async def decide_downgrade(
    conn: AsyncConnection,
    actor: Actor,
    finding_id: int,
    approved: bool,
    note: str,
    catalog: Catalog,
    policy: PolicySettings,
    now: datetime,
) -> None:
    """Approve (the finding becomes general and leaves the supervision list; an open one's deadline becomes the
    general one counted from today, never later than the deadline already running) or refuse (it stays major).
    The decision is a history row beside the request."""
    finding = await load_visible_finding(conn, actor, finding_id)
    grading.may_decide_downgrade(actor)
    if not approved and not note.strip():
        raise InvalidInput("note", "say why the finding stays major")
    tracked = await supervision_of(conn, finding_id)
    if tracked is not None and actor.role is not Role.ADMIN:
        # Approved, it takes a major off the track its sector's lead alone closes: the sector's own people decide.
        sector = (await facility_sector(conn, finding.facility_id)).sector
        if not actor.answers_for(sector):
            raise NotAllowed(
                "the downgrade of a major hazard under supervision is decided by its sector's chief or lead"
            )
    decided = grading.decide_downgrade(finding.downgrade, approved)
    values: dict = {"downgrade": decided}
    data: dict = {"from": Severity.MAJOR.value, "to": Severity.GENERAL.value}
    if approved:
        days = (
            catalog.item(finding.item_code).deadline_days(Severity.GENERAL.value)
            if catalog.has(finding.item_code)
            else policy.deadline_workdays(Severity.GENERAL.value)
        )
        values.update(severity=Severity.GENERAL.value, listed_for_supervision=False, deadline_days=days)
        if finding.due_at is not None and finding.status in (Status.ORDERED.value, Status.SUBMITTED.value):
            calendar = await load_calendar(conn)
            general = deadline_for(now, days, calendar, policy)
            if general.due_at < finding.due_at:
                values.update(
                    due_at=general.due_at,
                    due_day=general.day,
                    due_estimated=general.estimated,
                    due_from=general.counted_from,
                    due_workdays=general.workdays,
                    remind_at=general.remind_at,
                    next_escalation_at=first_escalation_at(general, calendar, policy)
                    if finding.escalation_level == 0
                    else finding.next_escalation_at,
                )
                data.update(due_day=general.day.isoformat(), due_day_before=finding.due_day.isoformat())
        if finding.status == Status.SUBMITTED.value and finding.review_due_at is None:
            # Verified already and waiting for 验收 or the sign-off, which it leaves: its 复查 runs again, so the
            # verification that closes a general finding is asked for and escalated like any other.
            review = review_deadline(now, Severity.GENERAL.value, await load_calendar(conn), policy)
            values.update(
                review_due_at=review.deadline.due_at,
                review_day=review.deadline.day,
                review_remind_at=review.deadline.remind_at,
                review_escalation_at=review.escalate_at,
                review_level=0,
            )
            data.update(review_day=review.deadline.day.isoformat())
    changed = await conn.execute(
        update(findings)
        .where(findings.c.id == finding_id, findings.c.downgrade == grading.PENDING)
        .values(**values)
    )
    if changed.rowcount != 1:
        raise StaleFinding(f"the downgrade of finding {finding_id} was decided meanwhile")
    await conn.execute(
        insert(history).values(
            finding_id=finding_id,
            at=now,
            action=f"downgrade_{decided}",
            actor_id=actor.id,
            note=note.strip(),
            data=data,
        )
    )
    if approved:
        await supervision.withdraw(conn, finding_id, actor.id, now)
        told = FindingRegraded(
            finding_id=finding_id,
            facility_id=finding.facility_id,
            severity=Severity.GENERAL.value,
            due_day=values.get("due_day", finding.due_day),
            occurred_at=now,
        )
        await add_events(conn, [told], now)
