"""A facility's register of what expires (证照台账): its head keeps it, the bureau and the facility's town read it
(tracker.service.certificates decides who may do what)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import case, func, select

from tracker.domain.certificates import HORIZON_DAYS, Stage, days_left, stage_due
from tracker.domain.errors import DomainError
from tracker.domain.model import Role
from tracker.service.certificates import kinds_for, register_of, remove_entry, save_entry
from tracker.service.visibility import scoped
from tracker.store.db import read_only
from tracker.store.tables import certificates, facilities
from tracker.web.auth import context
from tracker.web.pages.common import (
    FormWho,
    PageError,
    Who,
    check_csrf,
    error_page,
    local_today,
    render,
    words,
)

router = APIRouter(include_in_schema=False)


@router.get("/certificates")
async def certificates_home(request: Request, actor: Who) -> Response:
    """A head goes straight to their facility's register; the bureau and a town's office get the facilities they
    see with entries due within 30 days or lapsed, soonest first."""
    if actor.role is Role.FACILITY_HEAD:
        if actor.facility_id is None:
            return error_page(request, 404, "err.no_facility")
        return RedirectResponse(f"/facilities/{actor.facility_id}/certificates", status_code=303)
    ctx = context(request)
    today = local_today(ctx.clock.now())
    soon = today.toordinal() + HORIZON_DAYS
    async with read_only(ctx.engine) as conn:
        rows = (
            await conn.execute(
                scoped(
                    actor,
                    select(
                        facilities.c.id,
                        facilities.c.code,
                        facilities.c.name,
                        facilities.c.town,
                        func.count(certificates.c.id).label("entries"),
                        func.sum(case((certificates.c.expires_on < today, 1), else_=0)).label("lapsed"),
                        func.min(certificates.c.expires_on).label("first"),
                    )
                    .join(certificates, certificates.c.facility_id == facilities.c.id)
                    .group_by(facilities.c.id, facilities.c.code, facilities.c.name, facilities.c.town)
                    .order_by(func.min(certificates.c.expires_on), facilities.c.code)
                    .limit(500),
                )
            )
        ).all()
    listed = [r for r in rows if r.first.toordinal() <= soon]
    return render(request, "certificates_overview.html", {"rows": listed, "today": today, "all": len(rows)})


def _view(entry: Any, kinds: dict, today: Any) -> dict[str, Any]:
    kind = kinds.get(entry.kind)
    stage = stage_due(entry.expires_on, today)
    return {
        "row": entry,
        "kind_zh": kind.zh if kind else entry.kind,
        "kind_en": kind.en if kind else entry.kind,
        "left": days_left(entry.expires_on, today),
        "state": {Stage.NONE: "valid", Stage.MONTH: "month", Stage.WEEK: "week", Stage.LAPSED: "lapsed"}[
            stage
        ],
    }


async def _page(
    request: Request,
    actor: Any,
    facility_id: int,
    error: str | None = None,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    ctx = context(request)
    try:
        register = await register_of(ctx.engine, actor, facility_id)
    except DomainError:
        return error_page(request, 404, "err.no_facility")
    kinds = kinds_for(ctx.catalog)
    today = local_today(ctx.clock.now())
    usable = [k for k in kinds.values() if ctx.catalog.item(k.item).applies_to(register.facility.type)]
    return render(
        request,
        "certificates.html",
        {
            "facility": register.facility,
            "entries": [_view(e, kinds, today) for e in register.entries],
            "editable": register.editable,
            "kinds": usable,
            "today": today,
            "error": error,
            "values": extra.get("values", {}),
            "saved": request.query_params.get("saved", ""),
        },
        status_code=status_code,
    )


@router.get("/facilities/{facility_id}/certificates")
async def certificates_page(request: Request, facility_id: int, actor: Who) -> Response:
    return await _page(request, actor, facility_id)


@router.post("/facilities/{facility_id}/certificates")
async def certificates_save(
    request: Request,
    facility_id: int,
    actor: FormWho,
    kind: Annotated[str, Form()] = "",
    label: Annotated[str, Form()] = "",
    number: Annotated[str, Form()] = "",
    expires_on: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    ctx = context(request)
    values = {"kind": kind, "label": label, "number": number, "expires_on": expires_on}
    try:
        check_csrf(request, csrf)
        outcome = await save_entry(
            ctx.engine, ctx.catalog, actor, facility_id, kind, label, number, expires_on, ctx.clock.now()
        )
    except PageError as error:
        return await _page(
            request, actor, facility_id, words(request, error.key), error.status_code, values=values
        )
    except DomainError as error:
        if error.status_code == 404:
            return error_page(request, 404, "err.no_facility")
        return await _page(request, actor, facility_id, str(error), error.status_code, values=values)
    return RedirectResponse(f"/facilities/{facility_id}/certificates?saved={outcome}", status_code=303)


@router.post("/facilities/{facility_id}/certificates/{entry_id}/delete")
async def certificates_delete(
    request: Request, facility_id: int, entry_id: int, actor: FormWho, csrf: Annotated[str, Form()] = ""
) -> Response:
    ctx = context(request)
    try:
        check_csrf(request, csrf)
        await remove_entry(ctx.engine, actor, facility_id, entry_id)
    except PageError as error:
        return await _page(request, actor, facility_id, words(request, error.key), error.status_code)
    except DomainError as error:
        if error.status_code == 404:
            return error_page(request, 404, "err.no_facility")
        return await _page(request, actor, facility_id, str(error), error.status_code)
    return RedirectResponse(f"/facilities/{facility_id}/certificates?saved=removed", status_code=303)
