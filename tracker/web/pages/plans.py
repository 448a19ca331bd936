"""Plans of checks drawn at random (双随机), for the bureau's chiefs and leads: the list, one plan with its checks,
closing it; and the public page of the checks made under them (一公开), which needs no login."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from tracker.domain.errors import DomainError, InvalidInput
from tracker.domain.time import local_day
from tracker.service import plans
from tracker.store.db import read_only
from tracker.web.auth import context, page_actor
from tracker.web.bounds import PathId
from tracker.web.pages.common import (
    FormWho,
    PageError,
    Who,
    check_csrf,
    error_page,
    refusal,
    render,
    words,
)

router = APIRouter(include_in_schema=False)


# The draw form's fields as first shown: a quarter of the facilities, teams of two, every type, a seed drawn.
BLANK = {
    "name": "",
    "from": "",
    "to": "",
    "by": "share",
    "share": "0.25",
    "count": "",
    "team_size": str(plans.MIN_TEAM),
    "facility_type": "",
    "seed": "",
}
# The fields the form refuses in the reader's words; anything else the service refuses is said as it says it.
FIELDS = {"name", "from", "to", "share", "count", "team_size", "facility_type", "seed"}


async def _list_page(
    request: Request, actor, form: dict[str, str] | None = None, error: str = "", status_code: int = 200
) -> Response:
    ctx = context(request)
    async with read_only(ctx.engine) as conn:
        rows = await plans.list_plans(conn, actor)
    return render(
        request,
        "plans.html",
        {
            "plans": rows,
            "today": local_day(ctx.clock.now()),
            "form": form or BLANK,
            "error": error,
            "min_team": plans.MIN_TEAM,
            "max_team": plans.MAX_TEAM,
        },
        status_code=status_code,
    )


@router.get("/plans")
async def plan_list(request: Request, actor: Who) -> Response:
    return await _list_page(request, actor)


def _day(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(field, "not a date") from None


def _whole(text: str, field: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise InvalidInput(field, "not a whole number") from None


def _parameters(form: dict[str, str], created_by: str) -> dict[str, Any]:
    """The form as `plans.announce` takes it, the same as `tracker plans draw` passes it."""
    by_count = form["by"] == "count"
    return {
        "name": form["name"],
        "period_from": _day(form["from"], "from"),
        "period_to": _day(form["to"], "to"),
        "team_size": _whole(form["team_size"], "team_size"),
        "share": None if by_count else form["share"].strip(),
        "count": _whole(form["count"], "count") if by_count else None,
        "facility_type": form["facility_type"].strip() or None,
        "seed": form["seed"].strip() or None,  # none given: 128 random bits, as on the command line
        "created_by": created_by,
    }


def _said(request: Request, error: InvalidInput, form: dict[str, str]) -> str:
    """A refusal of the draw in the reader's words."""
    if error.field == "team_size":
        size = int(form["team_size"]) if form["team_size"].strip().isdigit() else 0
        if plans.MIN_TEAM <= size <= plans.MAX_TEAM:  # in range: the register has too few inspectors
            return words(request, "plans.draw.err.team_register", n=size)
        return words(request, "plans.draw.err.team_size", low=plans.MIN_TEAM, high=plans.MAX_TEAM)
    if error.field == "name" and form["name"].strip() and len(form["name"].strip()) <= 200:
        return words(request, "plans.draw.err.name_taken", name=form["name"].strip())
    if error.field in FIELDS:
        return words(request, f"plans.draw.err.{error.field}")
    return str(error)


@router.post("/plans")
async def plan_draw(
    request: Request,
    actor: FormWho,
    csrf: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    period_from: Annotated[str, Form(alias="from")] = "",
    period_to: Annotated[str, Form(alias="to")] = "",
    by: Annotated[str, Form()] = "share",
    share: Annotated[str, Form()] = "",
    count: Annotated[str, Form()] = "",
    team_size: Annotated[str, Form()] = "",
    facility_type: Annotated[str, Form()] = "",
    seed: Annotated[str, Form()] = "",
) -> Response:
    """Draw a new plan from the page: its seed's hash is recorded before the draw, as `tracker plans draw` does."""
    ctx = context(request)
    plans.may_see_plans(actor)  # plans are not there for others, whatever they send
    form = {
        "name": name[:1000],
        "from": period_from[:20],
        "to": period_to[:20],
        "by": "count" if by == "count" else "share",
        "share": share[:20],
        "count": count[:20],
        "team_size": team_size[:20],
        "facility_type": facility_type[:100],
        "seed": seed[:1000],
    }
    try:
        check_csrf(request, csrf)
        now = ctx.clock.now()
        announced = await plans.announce(ctx.engine, now=now, **_parameters(form, actor.name))
        await plans.make_draw(ctx.engine, announced.plan_id, now)
    except PageError as error:
        return error_page(request, error.status_code, error.key)
    except InvalidInput as error:
        return await _list_page(request, actor, form, _said(request, error, form), 400)
    except DomainError as error:
        if error.status_code == 404:
            raise
        return await _list_page(request, actor, form, *refusal(request, error))
    return RedirectResponse(f"/plans/{announced.plan_id}?done=drawn", status_code=303)


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
            "drawn_now": request.query_params.get("done") == "drawn",
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
