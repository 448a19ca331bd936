"""Which mail each fact causes, and to whom. Queued in the handler's transaction; sent by the mailer."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from tracker import tokens
from tracker.config import Settings
from tracker.documents.order import attachment_for
from tracker.documents.order import filename as order_filename
from tracker.domain.calendar import LOCAL_TZ
from tracker.domain.model import ExtensionStatus, Mode, Role, Severity
from tracker.domain.supervision import Stage, whose_step
from tracker.mail.queue import queue_mail
from tracker.mail.render import Rendered, render
from tracker.service.context import Context
from tracker.service.loop import IssuedOrder
from tracker.service.order_links import OF_THE_ORDER, order_link
from tracker.service.sectors import sector_emails
from tracker.store.tables import (
    extension_requests,
    facilities,
    findings,
    inspections,
    orders,
    rectifications,
    supervisions,
    users,
    verifications,
)


async def _subject(conn: AsyncConnection, finding_ids: list[int]) -> tuple[list[Any], Any]:
    """What a mail is about: the findings (by id) and the facility of the first."""
    rows = list(
        (
            await conn.execute(select(findings).where(findings.c.id.in_(finding_ids)).order_by(findings.c.id))
        ).all()
    )
    facility = (await conn.execute(select(facilities).where(facilities.c.id == rows[0].facility_id))).one()
    return rows, facility


def _facility_address(finding: Any, facility: Any) -> str:
    """Where the facility's mail goes: the finding's owner, else the facility's head."""
    return finding.owner_email or facility.head_email


async def _queue(
    conn: AsyncConnection,
    kind: str,
    about: str,
    recipients: Iterable[str],
    message: Rendered | None,
    now: datetime,
    **extra: Any,
) -> None:
    """Queue `message` for each recipient; the queue keeps one per (subject matter, recipient, kind). None: the
    mailer writes it when it sends it."""
    for to in recipients:
        await queue_mail(conn, kind=kind, about=about, to=to, message=message, now=now, **extra)


async def _emails(conn: AsyncConnection, role: Role, town: str | None = None) -> list[str]:
    query = select(users.c.email).where(
        users.c.role == role.value, users.c.active, users.c.email.is_not(None)
    )
    if town is not None:
        query = query.where(users.c.town == town)
    return sorted({e for e in (await conn.execute(query)).scalars() if e})


async def _answerable(conn: AsyncConnection, role: Role, facility: Any) -> list[str]:
    """The people of `role` who answer for the facility's sector; every one of that role when the sector has
    nobody recorded, so that no hazard goes untold."""
    return await sector_emails(conn, role, facility.sector) or await _emails(conn, role)


def _finding_link(ctx: Context, finding_id: int) -> str:
    return f"{ctx.settings.base_url}/findings/{finding_id}"


async def answer_link(conn: AsyncConnection, ctx: Context, finding: Any, now: datetime) -> str:
    """Where the facility answers: its order's page, or for a hazard it reported itself (no order) the finding's
    page, where its head logs in as when reporting it."""
    if finding.order_id is None:
        return _finding_link(ctx, finding.id)
    return await order_link(conn, ctx, finding.order_id, now)


async def read_issued(conn: AsyncConnection, order_id: int, finding_ids: list[int]) -> IssuedOrder:
    """An order issued earlier, read for its mail: the order, and the address of `finding_ids`' owner."""
    order = (await conn.execute(select(orders).where(orders.c.id == order_id))).one()
    rows, facility = await _subject(conn, finding_ids)
    return IssuedOrder(order, _facility_address(rows[0], facility))


async def order_issued(conn: AsyncConnection, ctx: Context, issued: IssuedOrder, now: datetime) -> None:
    """The order to the facility head. It is written by the mailer when it sends it (order_mail), as its PDF is
    printed then: written here, each took a millisecond inside SQLite's one write lock."""
    await _queue(
        conn,
        "order",
        f"order:{issued.order_id}",
        [issued.address],
        None,
        now,
        attachment=attachment_for(issued.order_id),
    )


async def order_mail(conn: AsyncConnection, settings: Settings, order_id: int, now: datetime) -> Rendered:
    """An order's mail as the mailer sends it: its findings, the link that opens the order for the head it was
    issued to, and the name of the PDF it carries (as the mailer names the file, without its Latin extension)."""
    order = (await conn.execute(select(orders).where(orders.c.id == order_id))).one()
    rows = (
        await conn.execute(
            select(findings)
            .select_from(orders.join(findings, OF_THE_ORDER))
            .where(orders.c.id == order_id)
            .order_by(findings.c.id)
        )
    ).all()
    facility = (await conn.execute(select(facilities).where(facilities.c.id == order.facility_id))).one()
    head_id = rows[0].owner_user_id
    link = tokens.order_link(settings.base_url, settings.require("secret_key"), order_id, head_id, now)
    attached = order_filename(order).removesuffix(".pdf")
    return render("order", facility=facility, findings=rows, link=link, attachment=attached)


async def major_reported(conn: AsyncConnection, ctx: Context, finding_id: int, now: datetime) -> None:
    """The bureau lead hears of a major hazard at once. One the facility reported itself raises no order, so a
    督办 notice goes to the bureau lead and the section chiefs instead: the bureau is to supervise its rectification."""
    rows, facility = await _subject(conn, [finding_id])
    link = _finding_link(ctx, finding_id)
    if rows[0].mode == Mode.SELF.value:
        kind = "supervision_notice"
        recipients = sorted(
            {
                *await _answerable(conn, Role.BUREAU_LEAD, facility),
                *await _answerable(conn, Role.SECTION_CHIEF, facility),
            }
        )
    else:
        kind = "major_alert"
        recipients = await _answerable(conn, Role.BUREAU_LEAD, facility)
    message = render(kind, facility=facility, findings=rows, link=link)
    await _queue(conn, kind, f"finding:{finding_id}", recipients, message, now)


async def _inspector_or_chiefs(
    conn: AsyncConnection, inspection_id: int, facility: Any
) -> tuple[str, list[str]]:
    """Who is asked to act on the facility's answer: the name of the inspection's inspector, and their address,
    or the sector's section chiefs' when the inspector has none or the facility reported the hazard itself
    (自查自纠: the bureau decides, never the facility's own head)."""
    inspector = (
        await conn.execute(
            select(users.c.name, users.c.email, users.c.role)
            .join(inspections, inspections.c.inspector_id == users.c.id)
            .where(inspections.c.id == inspection_id)
        )
    ).one()
    own_report = inspector.role == Role.FACILITY_HEAD.value
    if inspector.email and not own_report:
        return inspector.name, [inspector.email]
    return inspector.name, await _answerable(conn, Role.SECTION_CHIEF, facility)


async def rectification_submitted(
    conn: AsyncConnection, ctx: Context, finding_id: int, rectification_id: int, now: datetime
) -> None:
    rows, facility = await _subject(conn, [finding_id])
    note = await conn.scalar(select(rectifications.c.note).where(rectifications.c.id == rectification_id))
    inspector_name, recipients = await _inspector_or_chiefs(conn, rows[0].inspection_id, facility)
    message = render(
        "verification_request",
        facility=facility,
        findings=rows,
        note=note,
        inspector_name=inspector_name,
        link=_finding_link(ctx, finding_id),
    )
    await _queue(conn, "verification_request", f"rectification:{rectification_id}", recipients, message, now)


async def finding_closed(
    conn: AsyncConnection, ctx: Context, finding_id: int, verification_id: int, now: datetime
) -> None:
    rows, facility = await _subject(conn, [finding_id])
    note = await conn.scalar(select(verifications.c.note).where(verifications.c.id == verification_id))
    message = render("closure", facility=facility, findings=rows, note=note)
    recipients = {_facility_address(rows[0], facility)}
    if rows[0].listed_for_supervision:
        # A listed major hazard is struck off the supervision list: its supervisors hear of it too.
        recipients.update(await _answerable(conn, Role.BUREAU_LEAD, facility))
    await _queue(conn, "closure", f"finding:{finding_id}", sorted(recipients), message, now)


async def rectification_rejected(
    conn: AsyncConnection, ctx: Context, finding_id: int, verification_id: int, now: datetime
) -> None:
    rows, facility = await _subject(conn, [finding_id])
    note = await conn.scalar(select(verifications.c.note).where(verifications.c.id == verification_id))
    link = await answer_link(conn, ctx, rows[0], now)
    message = render("rejection", facility=facility, findings=rows, note=note, link=link)
    await _queue(
        conn,
        "rejection",
        f"verification:{verification_id}",
        [_facility_address(rows[0], facility)],
        message,
        now,
    )


async def extension_requested(
    conn: AsyncConnection, ctx: Context, finding_id: int, request_id: int, now: datetime
) -> None:
    """Ask the finding's inspector (or the section chiefs) to grant or refuse more time."""
    rows, facility = await _subject(conn, [finding_id])
    request = (
        await conn.execute(
            select(extension_requests.c.days, extension_requests.c.reason).where(
                extension_requests.c.id == request_id
            )
        )
    ).one()
    inspector_name, recipients = await _inspector_or_chiefs(conn, rows[0].inspection_id, facility)
    if rows[0].severity == Severity.MAJOR:
        # More time on a major hazard is the sector's section chief's to grant, not the inspector's.
        recipients = await _answerable(conn, Role.SECTION_CHIEF, facility)
    message = render(
        "extension_request",
        facility=facility,
        findings=rows,
        days=request.days,
        note=request.reason,
        inspector_name=inspector_name,
        link=_finding_link(ctx, finding_id),
    )
    await _queue(conn, "extension_request", f"extension:{request_id}", recipients, message, now)


async def extension_decided(
    conn: AsyncConnection, ctx: Context, finding_id: int, request_id: int, now: datetime
) -> None:
    """Tell the facility whether it was given more time, and the deadline that runs now."""
    rows, facility = await _subject(conn, [finding_id])
    decision = (
        await conn.execute(
            select(
                extension_requests.c.status,
                extension_requests.c.decision_note,
                extension_requests.c.new_due_day,
            ).where(extension_requests.c.id == request_id)
        )
    ).one()
    accepted = decision.status == ExtensionStatus.ACCEPTED
    message = render(
        "extension_decision",
        facility=facility,
        findings=rows,
        accepted=accepted,
        day=decision.new_due_day if accepted else rows[0].due_day,
        note=decision.decision_note,
        link=await answer_link(conn, ctx, rows[0], now),
    )
    await _queue(
        conn,
        "extension_decision",
        f"extension:{request_id}",
        [_facility_address(rows[0], facility)],
        message,
        now,
    )


async def finding_regraded(conn: AsyncConnection, ctx: Context, finding_id: int, now: datetime) -> None:
    """The facility hears that a hazard is now a general one, and by when it is to be fixed. A finding not yet
    ordered hears nothing here: its order carries the grade."""
    rows, facility = await _subject(conn, [finding_id])
    if rows[0].owner_name is None:
        return
    message = render(
        "regrade",
        facility=facility,
        findings=rows,
        day=rows[0].due_day,
        link=await answer_link(conn, ctx, rows[0], now),
    )
    await _queue(
        conn, "regrade", f"finding:{finding_id}", [_facility_address(rows[0], facility)], message, now
    )


async def supervision_advanced(
    conn: AsyncConnection,
    ctx: Context,
    finding_id: int,
    stage: str,
    now: datetime,
    reached_at: datetime | None = None,
) -> None:
    """A major hazard under supervision reached `stage`: whoever takes its step hears, with the stage's deadline.
    The plan and the rectification are the facility's, the interim measure's check the inspector's, 验收 the
    section chiefs' of the facility's sector and the sign-off its bureau leads'. Closed, the closure mail tells."""
    role = whose_step(Stage(stage))
    if role is None:
        return
    rows, facility = await _subject(conn, [finding_id])
    if role is Role.FACILITY_HEAD:
        recipients = [_facility_address(rows[0], facility)]
    elif role is Role.INSPECTOR:
        _, recipients = await _inspector_or_chiefs(conn, rows[0].inspection_id, facility)
    else:
        recipients = await sector_emails(conn, role, facility.sector)
    due = await conn.scalar(
        select(supervisions.c.stage_due_at).where(supervisions.c.finding_id == finding_id)
    )
    message = render(
        "supervision_step",
        facility=facility,
        findings=rows,
        stage=stage,
        stage_day=due.astimezone(LOCAL_TZ).date() if due else None,
        # The facility reads its mail in Chinese only, without internal codes.
        for_staff=role is not Role.FACILITY_HEAD,
        link=_finding_link(ctx, finding_id),
    )
    await _queue(
        conn,
        "supervision_step",
        f"supervision:{finding_id}:{stage}",
        sorted({r for r in recipients if r}),
        message,
        now,
        # A stage reached again (验收 after a failed one) is asked for again; the same event only once.
        variant=reached_at.isoformat() if reached_at else "",
    )
