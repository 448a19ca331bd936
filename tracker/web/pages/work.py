"""Each person's own work list (/my)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import case, func, select

from tracker.documents.order import order_number
from tracker.domain.grading import DOWNGRADE_DECIDERS, PENDING
from tracker.domain.model import ExtensionStatus, Mode, Role, Status
from tracker.service import plans
from tracker.service.order_links import OF_THE_ORDER
from tracker.service.visibility import scoped
from tracker.store.db import read_only
from tracker.store.tables import (
    extension_requests,
    facilities,
    findings,
    inspections,
    orders,
)
from tracker.web.auth import context
from tracker.web.pages.common import (
    Who,
    render,
)

router = APIRouter(include_in_schema=False)


@router.get("/my")
async def my_work(request: Request, actor: Who) -> Response:
    ctx = context(request)
    async with read_only(ctx.engine) as conn:
        if actor.role is Role.FACILITY_HEAD:
            count = func.count(findings.c.id)
            open_count = func.sum(case((findings.c.status == Status.ORDERED.value, 1), else_=0))
            rows = (
                await conn.execute(
                    select(
                        orders.c.id,
                        orders.c.issued_at,
                        orders.c.year,
                        orders.c.number,
                        count.label("total"),
                        open_count.label("open"),
                    )
                    .join(findings, OF_THE_ORDER)
                    .where(orders.c.facility_id == (actor.facility_id or -1))
                    .group_by(orders.c.id, orders.c.issued_at, orders.c.year, orders.c.number)
                    .order_by(orders.c.id.desc())
                    .limit(100)
                )
            ).all()
            # The facility's own register: the hazards it reported itself, which no order carries.
            own = (
                await conn.execute(
                    select(findings)
                    .where(
                        findings.c.facility_id == (actor.facility_id or -1),
                        findings.c.mode == Mode.SELF.value,
                        findings.c.status != Status.CLOSED.value,
                    )
                    .order_by(findings.c.id.desc())
                    .limit(100)
                )
            ).all()
            return render(
                request,
                "my.html",
                {
                    "actor": actor,
                    "orders": rows,
                    "numbers": {o.id: order_number(o, ctx.settings.order_prefix) for o in rows},
                    "own": own,
                    "mine": [],
                    "waiting": [],
                    "open": [],
                    "asking": [],
                    "downgrades": [],
                    "now": ctx.clock.now(),
                },
            )
        # The checks drawn for this inspector (双随机): their own only, never the rest of a sealed plan.
        planned = await plans.assignments_of(conn, actor)
        mine = (
            await conn.execute(
                select(
                    inspections.c.id,
                    inspections.c.mode,
                    inspections.c.submitted_at,
                    facilities.c.name,
                    func.count(findings.c.id).label("found"),
                )
                .join(facilities, facilities.c.id == inspections.c.facility_id)
                .outerjoin(findings, findings.c.inspection_id == inspections.c.id)
                .where(inspections.c.inspector_id == actor.id)
                .group_by(inspections.c.id, inspections.c.mode, inspections.c.submitted_at, facilities.c.name)
                .order_by(inspections.c.submitted_at.desc())
                .limit(30)
            )
        ).all()
        base = (
            select(findings, facilities.c.name.label("facility_name"))
            .join(facilities, facilities.c.id == findings.c.facility_id)
            .join(inspections, inspections.c.id == findings.c.inspection_id)
        )
        if actor.role is Role.INSPECTOR:
            base = base.where(inspections.c.inspector_id == actor.id)
        base = scoped(actor, base)
        waiting = (
            await conn.execute(
                base.where(findings.c.status == Status.SUBMITTED.value)
                .order_by(findings.c.submitted_at)
                .limit(100)
            )
        ).all()
        still_open = (
            await conn.execute(
                base.where(findings.c.status.in_([Status.ORDERED.value, Status.REPORTED.value]))
                .order_by(findings.c.due_at)
                .limit(100)
            )
        ).all()
        # Requests for more time waiting for this person's decision.
        extension_base = base.add_columns(
            extension_requests.c.days.label("asked_days"), extension_requests.c.reason.label("asked_reason")
        )
        asking = (
            await conn.execute(
                extension_base.join(extension_requests, extension_requests.c.finding_id == findings.c.id)
                .where(
                    extension_requests.c.status == ExtensionStatus.PENDING.value,
                    findings.c.status == Status.ORDERED.value,
                )
                .order_by(extension_requests.c.requested_at)
                .limit(100)
            )
        ).all()
        # Downgrades waiting for this person's decision.
        downgrades = (
            (
                await conn.execute(
                    scoped(
                        actor,
                        select(findings, facilities.c.name.label("facility_name")).join(
                            facilities, facilities.c.id == findings.c.facility_id
                        ),
                    )
                    .where(findings.c.downgrade == PENDING)
                    .order_by(findings.c.reported_at)
                    .limit(100)
                )
            ).all()
            if actor.role in DOWNGRADE_DECIDERS
            else []
        )
    return render(
        request,
        "my.html",
        {
            "actor": actor,
            "orders": [],
            "own": [],
            "mine": mine,
            "waiting": waiting,
            "open": still_open,
            "asking": asking,
            "downgrades": downgrades,
            "planned": planned,
            "now": ctx.clock.now(),
        },
    )
