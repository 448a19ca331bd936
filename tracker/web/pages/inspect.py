"""The inspector's phone: choosing a facility, the walk through the checklist, the done page and the
signed record; and the service worker that keeps an inspection through a lost signal."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tracker.documents.record import filename as record_filename
from tracker.documents.record import record_pdf
from tracker.domain.calendar import LOCAL_TZ
from tracker.domain.model import Actor, Mode, Role
from tracker.service.record import inspection_record
from tracker.service.visibility import scoped
from tracker.store.db import read_only
from tracker.store.tables import (
    facilities,
    findings,
    inspections,
    mail,
    users,
)
from tracker.web.api import inspector_register
from tracker.web.auth import context
from tracker.web.bounds import PathId
from tracker.web.pages.common import (
    INSPECTOR_MODES,
    PageError,
    Who,
    error_page,
    facility_for,
    render,
)

router = APIRouter(include_in_schema=False)


def _modes(actor: Actor) -> list[Mode]:
    return [Mode.SELF] if actor.role is Role.FACILITY_HEAD else INSPECTOR_MODES


@router.get("/inspect")
async def inspect_start(request: Request, actor: Who, q: str = "") -> Response:
    ctx = context(request)
    query = scoped(actor, select(facilities))
    if q.strip():
        like = f"%{q.strip()}%"
        query = query.where(
            facilities.c.name.like(like) | facilities.c.code.like(like) | facilities.c.town.like(like)
        )
    async with read_only(ctx.engine) as conn:
        found = (await conn.execute(query.order_by(facilities.c.town, facilities.c.code).limit(60))).all()
        last = func.max(inspections.c.submitted_at).label("last")
        recent = (
            (
                await conn.execute(
                    scoped(
                        actor,
                        select(facilities, last).join(
                            inspections, inspections.c.facility_id == facilities.c.id
                        ),
                    )
                    .where(inspections.c.inspector_id == actor.id)
                    .group_by(*facilities.c)
                    .order_by(last.desc())
                    .limit(5)
                )
            ).all()
            if not q.strip()
            else []
        )
    return render(request, "inspect_start.html", {"q": q, "found": found, "recent": recent})


@router.get("/inspect/{facility_id}")
async def inspect_setup(request: Request, facility_id: PathId, actor: Who) -> Response:
    ctx = context(request)
    try:
        async with read_only(ctx.engine) as conn:
            facility = await facility_for(conn, actor, facility_id)
    except PageError as error:
        return error_page(request, error.status_code, error.key)
    ftype = ctx.catalog.facility_types.get(facility.type)
    categories = [
        (
            code,
            ctx.catalog.categories[code],
            len(ctx.catalog.items(facility_type=facility.type, category=code)),
        )
        for code in (ftype.checklists if ftype else [])
        if code in ctx.catalog.categories
    ]
    return render(
        request,
        "inspect_setup.html",
        {
            "facility": facility,
            "ftype": ftype,
            "modes": _modes(actor),
            "categories": categories,
            "error": None,
        },
    )


@router.get("/inspect/{facility_id}/walk")
async def inspect_walk(
    request: Request,
    facility_id: PathId,
    actor: Who,
    mode: str = Mode.UNANNOUNCED.value,
    cat: Annotated[list[str] | None, Query()] = None,
) -> Response:
    ctx = context(request)
    try:
        async with read_only(ctx.engine) as conn:
            facility = await facility_for(conn, actor, facility_id)
    except PageError as error:
        return error_page(request, error.status_code, error.key)
    ftype = ctx.catalog.facility_types.get(facility.type)
    allowed = [c for c in (ftype.checklists if ftype else []) if c in ctx.catalog.categories]
    chosen = [c for c in allowed if c in (cat or [])]
    if mode not in {m.value for m in _modes(actor)} or not chosen:
        categories = [
            (
                code,
                ctx.catalog.categories[code],
                len(ctx.catalog.items(facility_type=facility.type, category=code)),
            )
            for code in allowed
        ]
        return render(
            request,
            "inspect_setup.html",
            {
                "facility": facility,
                "ftype": ftype,
                "modes": _modes(actor),
                "categories": categories,
                "error": "inspect.choose_category",
            },
            status_code=422,
        )
    groups = [
        (ctx.catalog.categories[c], ctx.catalog.items(facility_type=facility.type, category=c))
        for c in chosen
    ]
    # The register is in the page, so it works offline too; a facility's self-inspection names no inspectors.
    crew = None
    async with read_only(ctx.engine) as conn:
        me = await conn.scalar(
            select(func.coalesce(users.c.name, users.c.username)).where(users.c.id == actor.id)
        )
        if mode != Mode.SELF.value:
            # The bureau's people, and the town's office of this facility's town only.
            crew = [
                p
                for p in await inspector_register(conn)
                if p["id"] != actor.id
                and (p["role"] != Role.TOWN_OFFICER.value or p["town"] == facility.town)
            ]
    return render(
        request,
        "inspect_walk.html",
        {"facility": facility, "mode": mode, "groups": groups, "crew": crew, "me": me or actor.username},
    )


@router.get("/inspect/done/{inspection_id}")
async def inspect_done(request: Request, inspection_id: PathId, actor: Who) -> Response:
    ctx = context(request)
    async with read_only(ctx.engine) as conn:
        inspection = (
            await conn.execute(select(inspections).where(inspections.c.id == inspection_id))
        ).first()
        if inspection is None:
            return error_page(request, 404, "err.not_found")
        try:
            facility = await facility_for(conn, actor, inspection.facility_id)
        except PageError as error:
            return error_page(request, error.status_code, error.key)
        rows = (
            await conn.execute(
                select(findings).where(findings.c.inspection_id == inspection_id).order_by(findings.c.id)
            )
        ).all()
        record = await inspection_record(conn, inspection_id)
        order_mail = await _order_mail(conn, inspection, facility, rows)
    return render(
        request,
        "inspect_done.html",
        {
            "order_mail": order_mail,
            "inspection": inspection,
            "facility": facility,
            "findings": rows,
            "record": record,
            "onsite_local": record.onsite_at.astimezone(LOCAL_TZ),
            "items": {i.code: i for i in ctx.catalog.items()},
        },
    )


async def _order_mail(
    conn: AsyncConnection, inspection: Any, facility: Any, rows: Sequence[Any]
) -> tuple[str, str] | None:
    """Where the inspection's rectification order goes, and how far it got: ("sent" | "queued" | "pending", "name
    (address)"). None when there is no order: a self-inspection, or nothing found. The order is issued by a
    worker moments after the inspection arrives, so the page may come first ("pending")."""
    if inspection.mode == Mode.SELF.value or not rows:
        return None
    order_id = next((f.order_id for f in rows if f.order_id is not None), None)
    if order_id is not None:
        sent = (
            await conn.execute(
                select(mail.c.to_addr, mail.c.status)
                .where(mail.c.about == f"order:{order_id}", mail.c.kind == "order")
                .order_by(mail.c.id)
                .limit(1)
            )
        ).first()
        if sent is not None:
            name = next((f.owner_name for f in rows if f.owner_name), facility.head_name)
            state = sent.status if sent.status in ("sent", "failed") else "queued"
            return (state, f"{name}（{sent.to_addr}）" if name else sent.to_addr)
    # As the order will be addressed (service/loop.py): the facility's head account first, else its register entry.
    head_email = await conn.scalar(
        select(users.c.email)
        .where(
            users.c.facility_id == facility.id,
            users.c.role == Role.FACILITY_HEAD.value,
            users.c.active,
        )
        .order_by(users.c.id)
        .limit(1)
    )
    to = head_email or facility.head_email
    return ("pending", f"{facility.head_name}（{to}）" if to else facility.head_name)


@router.get("/inspections/{inspection_id}/record.pdf")
async def inspection_record_pdf(request: Request, inspection_id: PathId, actor: Who) -> Response:
    """The signed on-site record (现场检查记录), for whoever may see the inspected facility."""
    ctx = context(request)
    async with read_only(ctx.engine) as conn:
        inspected = (
            await conn.execute(
                select(inspections.c.facility_id, inspections.c.mode).where(inspections.c.id == inspection_id)
            )
        ).first()
        if inspected is None:
            return error_page(request, 404, "err.not_found")
        facility_id = inspected.facility_id
        try:
            await facility_for(conn, actor, facility_id)
        except PageError as error:
            return error_page(request, error.status_code, error.key)
    if inspected.mode == Mode.REGISTER:
        # A lapse found on the register: nobody visited, so there is no on-site record to sign.
        return error_page(request, 404, "err.no_onsite_record")
    data = await record_pdf(ctx.engine, inspection_id, ctx.catalog, ctx.settings)
    return Response(
        data,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="record-{inspection_id}.pdf"; '
            f"filename*=UTF-8''{quote(record_filename(inspection_id))}",
            "Cache-Control": "private, no-store",
        },
    )


# ---- the service worker: served from the root so that its scope covers every page ---------------------


@router.get("/sw.js")
async def service_worker() -> Response:
    return FileResponse(
        Path(__file__).parent.parent / "static" / "sw.js",
        media_type="application/javascript",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"},
    )
