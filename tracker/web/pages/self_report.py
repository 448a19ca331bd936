"""Self-inspection (自查自纠): a facility head reports a hazard found at their own facility."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from tracker.domain.errors import DomainError
from tracker.domain.model import Actor, Mode, Role, Severity
from tracker.service.reporting import (
    InspectionInput,
    ItemResult,
    Notices,
    check_inspection,
    report_inspection,
)
from tracker.store.db import read_only
from tracker.web.auth import context
from tracker.web.pages.common import (
    FormWho,
    PageError,
    Photos,
    Who,
    check_csrf,
    check_length,
    error_page,
    facility_for,
    render,
    save_photos,
    words,
)

router = APIRouter(include_in_schema=False)


async def _self_form(
    request: Request,
    actor: Actor,
    error: str | None = None,
    status_code: int = 200,
    values: dict[str, str] | None = None,
) -> Response:
    ctx = context(request)
    if actor.role is not Role.FACILITY_HEAD or actor.facility_id is None:
        return error_page(request, 403, "err.not_head")
    async with read_only(ctx.engine) as conn:
        facility = await facility_for(conn, actor, actor.facility_id)
    ftype = ctx.catalog.facility_types.get(facility.type)
    groups = [
        (ctx.catalog.categories[c], ctx.catalog.items(facility_type=facility.type, category=c))
        for c in (ftype.checklists if ftype else [])
        if c in ctx.catalog.categories
    ]
    return render(
        request,
        "self_report.html",
        {
            "facility": facility,
            "groups": groups,
            "error": error,
            "values": values or {},
            "client_ref": (values or {}).get("client_ref") or f"self-{uuid.uuid4()}",
        },
        status_code=status_code,
    )


@router.get("/self-report")
async def self_report_form(request: Request, actor: Who) -> Response:
    return await _self_form(request, actor)


@router.post("/self-report")
async def self_report(
    request: Request,
    actor: FormWho,
    item: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    severity: Annotated[str, Form()] = "",
    severity_reason: Annotated[str, Form()] = "",
    client_ref: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    photo: Photos = None,
) -> Response:
    ctx = context(request)
    values = {
        "item": item,
        "note": note,
        "severity": severity,
        "severity_reason": severity_reason,
        "client_ref": client_ref,
    }
    if actor.role is not Role.FACILITY_HEAD or actor.facility_id is None:
        return error_page(request, 403, "err.not_head")
    try:
        check_csrf(request, csrf)
        if not item or not ctx.catalog.has(item):
            raise PageError(422, "self.choose_item")
        if not note.strip():
            raise PageError(422, "walk.note_needed")
        if severity and severity not in tuple(Severity):
            raise PageError(422, "err.decision")
        check_length(note, severity_reason)
        if not client_ref.strip() or len(client_ref) > 100:
            client_ref = f"self-{uuid.uuid4()}"
        report = InspectionInput(
            actor.facility_id,
            Mode.SELF,
            client_ref.strip(),
            [
                ItemResult(
                    item,
                    "fail",
                    note.strip(),
                    Severity(severity) if severity else None,
                    severity_reason=severity_reason,
                )
            ],
        )
        await check_inspection(ctx.engine, ctx.catalog, actor, report, ctx.clock.now())
        photo_ids = await save_photos(ctx, photo, actor.id)
        # The same service step as an inspector's submission: the finding enters the same loop.
        reported = await report_inspection(
            ctx.engine,
            ctx.catalog,
            actor,
            replace(report, items=[replace(report.items[0], photos=photo_ids)]),
            ctx.clock.now(),
            Notices(ctx.policy, ctx.settings.bureau_name, ctx.settings.supervision_prefix),
        )
    except PageError as error:
        return await _self_form(request, actor, words(request, error.key), error.status_code, values)
    except DomainError as error:
        return await _self_form(request, actor, str(error), error.status_code, values)
    return RedirectResponse(f"/inspect/done/{reported.inspection_id}", status_code=303)
