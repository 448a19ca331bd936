"""Plans of checks drawn at random (双随机), for the bureau's chiefs and leads: the list, one plan with its checks,
closing it; and the public page of the checks made under them (一公开), which needs no login."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from tracker.domain.errors import DomainError
from tracker.domain.time import local_day
from tracker.service import plans
from tracker.store.db import read_only
from tracker.web.auth import context, page_actor
from tracker.web.bounds import PathId
from tracker.web.pages.common import FormWho, PageError, Who, check_csrf, error_page, refusal, render

router = APIRouter(include_in_schema=False)


@router.get("/plans")
async def plan_list(request: Request, actor: Who) -> Response:
    async with read_only(context(request).engine) as conn:
        rows = await plans.list_plans(conn, actor)
    return render(request, "plans.html", {"plans": rows, "today": local_day(context(request).clock.now())})


async def _plan_page(
    request: Request, actor, plan_id: int, message: str = "", status_code: int = 200
) -> Response:
    ctx = context(request)
    async with read_only(ctx.engine) as conn:
        plan, checks, teams = await plans.plan_detail(conn, actor, plan_id)
    return render(
        request,
        "plan.html",
        {
            "plan": plan,
            "checks": checks,
            "teams": teams,
            "today": local_day(ctx.clock.now()),
            "done": sum(1 for c in checks if c.inspection_id),
            "message": message,
            "closed_now": request.query_params.get("done") == "closed",
        },
        status_code=status_code,
    )


@router.get("/plans/{plan_id}")
async def plan_page(request: Request, plan_id: PathId, actor: Who) -> Response:
    return await _plan_page(request, actor, plan_id)


@router.post("/plans/{plan_id}/close")
async def plan_close(
    request: Request, plan_id: PathId, actor: FormWho, csrf: Annotated[str, Form()] = ""
) -> Response:
    ctx = context(request)
    plans.may_see_plans(actor)  # a sealed plan is not there for others, whatever they send
    try:
        check_csrf(request, csrf)
        await plans.close(ctx.engine, actor, plan_id, ctx.clock.now())
    except PageError as error:
        return error_page(request, error.status_code, error.key)
    except DomainError as error:
        if error.status_code == 404:
            raise
        return await _plan_page(request, actor, plan_id, *refusal(request, error))
    return RedirectResponse(f"/plans/{plan_id}?done=closed", status_code=303)


@router.get("/public/checks")
async def public_checks(request: Request) -> Response:
    """一公开: the checks made under drawn plans, without anyone's name, note or photo. TRACKER_PUBLIC_CHECKS=false
    turns it off (404)."""
    ctx = context(request)
    await page_actor(request)  # a reader who is logged in keeps their navigation
    if not ctx.settings.public_checks:
        return error_page(request, 404, "err.not_found")
    async with read_only(ctx.engine) as conn:
        published = await plans.public_checks(conn)
    return render(request, "public_checks.html", {"published": published})
