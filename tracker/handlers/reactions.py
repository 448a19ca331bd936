"""What happens when: each reaction reads like the sentence it implements."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from tracker.domain.model import Severity
from tracker.events.schemas import (
    Event,
    ExtensionDecided,
    ExtensionRequested,
    FindingClosed,
    FindingRegraded,
    FindingReported,
    InspectionSubmitted,
    OrderIssued,
    RectificationRejected,
    RectificationSubmitted,
    SupervisionAdvanced,
    SweepCompleted,
)
from tracker.handlers.base import Reaction
from tracker.service import notify, sweep_mail
from tracker.service.context import Context
from tracker.service.loop import issue_orders
from tracker.service.upward import file_upward


async def issue_the_order(
    events: list[InspectionSubmitted], conn: AsyncConnection, ctx: Context, now: datetime
) -> None:
    """When inspections are submitted, give their findings owners and deadlines under one rectification order
    each, and mail it to the facility head with a link to answer: the deadline runs once the facility is told."""
    for issued in await issue_orders(conn, [event.inspection_id for event in events], ctx.policy, now):
        await notify.order_issued(conn, ctx, issued, now)


async def mail_the_order(event: OrderIssued, conn: AsyncConnection, ctx: Context, now: datetime) -> None:
    """When an order issued without its mail is published (on the bare subject: by an earlier version, or by
    the demo's seed, which backdates its orders), mail it to the facility head. The worker mails the orders it
    issues as it issues them."""
    await notify.order_issued(
        conn, ctx, await notify.read_issued(conn, event.order_id, event.finding_ids), now
    )


async def alert_the_bureau_lead(
    event: FindingReported, conn: AsyncConnection, ctx: Context, now: datetime
) -> None:
    """When a major hazard is reported, the bureau lead hears at once: it is listed for supervision."""
    await notify.major_reported(conn, ctx, event.finding_id, now)


async def ask_for_verification(
    event: RectificationSubmitted, conn: AsyncConnection, ctx: Context, now: datetime
) -> None:
    """When the facility submits evidence, ask the inspector to verify it."""
    await notify.rectification_submitted(conn, ctx, event.finding_id, event.rectification_id, now)


async def announce_the_closure(
    event: FindingClosed, conn: AsyncConnection, ctx: Context, now: datetime
) -> None:
    """When a finding is closed, tell the facility (and the bureau lead, if it was listed)."""
    await notify.finding_closed(conn, ctx, event.finding_id, event.verification_id, now)


async def file_the_closure_upward(
    event: FindingClosed, conn: AsyncConnection, ctx: Context, now: datetime
) -> None:
    """When a major hazard is signed off (销号), file it upward: a record, and the 销号 document to each configured address."""
    await file_upward(conn, ctx, event.finding_id, now)


async def return_to_the_facility(
    event: RectificationRejected, conn: AsyncConnection, ctx: Context, now: datetime
) -> None:
    """When verification fails, send the finding back to the facility with its new deadline."""
    await notify.rectification_rejected(conn, ctx, event.finding_id, event.verification_id, now)


async def mail_the_sweep(event: SweepCompleted, conn: AsyncConnection, ctx: Context, now: datetime) -> None:
    """When a sweep raised reminders and escalations, give each person they reach one mail listing them all:
    the facility a reminder or a 催办, the finding's inspector the passed deadline, the ladder its step."""
    await sweep_mail.sweep_raised(conn, ctx, event, now)


async def ask_for_a_decision(
    event: ExtensionRequested, conn: AsyncConnection, ctx: Context, now: datetime
) -> None:
    """When the facility asks for more time, ask the finding's inspector to decide."""
    await notify.extension_requested(conn, ctx, event.finding_id, event.request_id, now)


async def tell_the_facility_the_decision(
    event: ExtensionDecided, conn: AsyncConnection, ctx: Context, now: datetime
) -> None:
    """When more time is granted or refused, tell the facility which deadline runs."""
    await notify.extension_decided(conn, ctx, event.finding_id, event.request_id, now)


async def tell_the_facility_the_new_grade(
    event: FindingRegraded, conn: AsyncConnection, ctx: Context, now: datetime
) -> None:
    """When a finding is graded general after review, tell the facility its grade and the deadline that runs."""
    await notify.finding_regraded(conn, ctx, event.finding_id, now)


async def ask_for_the_next_step(
    event: SupervisionAdvanced, conn: AsyncConnection, ctx: Context, now: datetime
) -> None:
    """When a major hazard under supervision reaches a stage, tell whoever takes its step."""
    await notify.supervision_advanced(conn, ctx, event.finding_id, event.stage, now, event.occurred_at)


def is_major(event: FindingReported) -> bool:
    return event.severity == Severity.MAJOR


def _reaction(
    effect, event: type[Event], wants=None, subjects: tuple[str, ...] = (), together: bool = False
) -> Reaction:
    extra = {"wants": wants} if wants else {}
    return Reaction(
        consumer=effect.__name__,
        event=event,
        effect=effect,
        description=(effect.__doc__ or "").strip(),
        subjects=subjects,
        together=together,
        **extra,
    )


REACTIONS: tuple[Reaction, ...] = (
    _reaction(issue_the_order, InspectionSubmitted, together=True),
    _reaction(mail_the_order, OrderIssued),
    # Only majors are published on ….major; the bare subject is how versions before it published every
    # finding, and is kept for those still in the stream (is_major drops their general ones).
    _reaction(
        alert_the_bureau_lead,
        FindingReported,
        wants=is_major,
        subjects=(f"{FindingReported.subject()}.major", FindingReported.subject()),
    ),
    _reaction(ask_for_verification, RectificationSubmitted),
    _reaction(announce_the_closure, FindingClosed),
    _reaction(file_the_closure_upward, FindingClosed),
    _reaction(return_to_the_facility, RectificationRejected),
    _reaction(mail_the_sweep, SweepCompleted),
    _reaction(ask_for_a_decision, ExtensionRequested),
    _reaction(tell_the_facility_the_decision, ExtensionDecided),
    _reaction(tell_the_facility_the_new_grade, FindingRegraded),
    _reaction(ask_for_the_next_step, SupervisionAdvanced),
)
