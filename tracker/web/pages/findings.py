"""One finding's page and the steps taken on it: verification, actions, downgrade, the major-hazard
stages, a rectification and an extension."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from tracker.domain import model
from tracker.domain.actions import WORDS as ACTION_WORDS
from tracker.domain.calendar import LOCAL_TZ
from tracker.domain.errors import DomainError, NotAllowed, NotFound
from tracker.domain.grading import DOWNGRADE_DECIDERS, PENDING
from tracker.domain.model import Actor, ExtensionStatus, Role, Status
from tracker.service import supervision
from tracker.service.actions import check_before, record_action
from tracker.service.downgrade import decide_downgrade
from tracker.service.loop import (
    MAX_EXTENSION_DAYS,
    MAX_REJECTION_DAYS,
    decide_extension,
    load_visible_finding,
    may_decide_extension,
    request_extension,
    submit_rectification,
    verify,
)
from tracker.service.visibility import visible_finding
from tracker.store.db import read_only
from tracker.store.tables import (
    extension_requests,
    findings,
)
from tracker.web.api import finding_view
from tracker.web.auth import context
from tracker.web.bounds import PathId
from tracker.web.pages.common import (
    FormWho,
    PageError,
    Photos,
    Who,
    check_csrf,
    check_length,
    days_left,
    days_value,
    error_page,
    extensions_of,
    local_today,
    refusal,
    render,
    save_photos,
    words,
)
from tracker.web.supervision_page import may_verify_now, supervision_context

router = APIRouter(include_in_schema=False)


async def _finding_page(
    request: Request,
    actor: Actor,
    finding_id: int,
    error: str | None = None,
    status_code: int = 200,
    kept: dict[str, str] | None = None,
    done: str | None = None,
) -> Response:
    ctx = context(request)
    async with read_only(ctx.engine) as conn:
        try:
            row = await visible_finding(conn, actor, finding_id)
        except NotFound:
            return error_page(request, 404, "err.not_found")
        view = await finding_view(conn, finding_id, ctx.clock.now(), prefix=ctx.settings.supervision_prefix)
        item_days = (await _finding_row(conn, finding_id)).deadline_days
        asked = await extensions_of(conn, [finding_id])
        pending = next((r for r in asked.get(finding_id, []) if r.status == ExtensionStatus.PENDING), None)
        may_decide = False
        if pending is not None and view["status"] == Status.ORDERED.value:
            try:
                await may_decide_extension(conn, actor, await _finding_row(conn, finding_id))
                may_decide = True
            except DomainError:
                may_decide = False
    try:
        model.may_verify(actor, row.id)
        may_verify = view["status"] == Status.SUBMITTED.value and may_verify_now(view)
    except NotAllowed:
        may_verify = False
    # A hazard the facility reported itself has no order page: its head answers here.
    may_answer = (
        view["status"] == Status.ORDERED.value
        and view["order_id"] is None
        and actor.role is Role.FACILITY_HEAD
        and actor.facility_id == row.id
    )
    return render(
        request,
        "finding.html",
        {
            "f": view,
            "facility": row,
            "may_verify": may_verify,
            "account": facility_account(view),
            "done": done if done in DONE else None,
            "error": error,
            "days_left": days_left(view, ctx.clock.now()),
            "extensions": asked.get(finding_id, []),
            "pending": pending,
            "may_decide": may_decide,
            "max_days": MAX_EXTENSION_DAYS,
            "kept": kept or {},
            "may_answer": may_answer,
            # Under supervision, the downgrade is its sector's people's to decide (tracker.service.downgrade).
            "may_decide_downgrade": view["downgrade"] == PENDING
            and actor.role in DOWNGRADE_DECIDERS
            and (not view["supervision"] or actor.role is Role.ADMIN or actor.answers_for(row.sector)),
            # A section chief or lead of the facility's sector records escalation actions while it is open.
            "may_act": actor.answers_for(row.sector) and view["status"] != Status.CLOSED.value,
            "action_kinds": [k for k in ACTION_WORDS if k != "credit" or row.ownership == "private"],
            "today": local_today(ctx.clock.now()).isoformat(),
            "rejection_days": item_days if item_days is not None else ctx.policy.rejection_deadline_days,
            "max_rejection_days": MAX_REJECTION_DAYS,
            **supervision_context(actor, row, view, ctx.clock.now()),
            # The 销号 document filed upward is the bureau's: its link is not shown to the facility.
            "closure_link": actor.role is not Role.FACILITY_HEAD,
        },
        status_code=status_code,
    )


async def _finding_row(conn: AsyncConnection, finding_id: int) -> Row:
    return (await conn.execute(select(findings).where(findings.c.id == finding_id))).one()


@router.get("/findings/{finding_id}")
async def finding_page(request: Request, finding_id: PathId, actor: Who, done: str | None = None) -> Response:
    return await _finding_page(request, actor, finding_id, done=done)


# What the verifier is told after deciding (?done=…); the page says it from the finding's state as it now is.
DONE = ("verified", "rejected")


def facility_account(view: dict[str, Any]) -> dict[str, Any] | None:
    """The facility's latest account of what it did: its note, who sent it and when, and the photos sent
    with it; None before any. The verifier reads it before deciding."""
    sent = [h for h in view.get("history", []) if h["action"] == "rectification_submitted"]
    if not sent:
        return None
    last = sent[-1]
    ids = set((last.get("data") or {}).get("photos") or [])
    return {
        "note": last["note"],
        "by": last.get("actor_name") or last.get("actor") or "",
        "at": datetime.fromisoformat(last["at"]).astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M"),
        "photos": [p for p in view.get("photos", []) if p["id"] in ids],
    }


@router.post("/findings/{finding_id}/verify")
async def finding_verify(
    request: Request,
    finding_id: PathId,
    actor: FormWho,
    decision: Annotated[str, Form()],
    csrf: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    deadline_days: Annotated[str, Form()] = "",
    photo: Photos = None,
) -> Response:
    ctx = context(request)
    kept = {"verify_note": note, "deadline_days": deadline_days}
    try:
        check_csrf(request, csrf)
        if decision not in ("accept", "reject"):
            raise PageError(422, "err.decision")
        if decision == "reject" and not note.strip():
            raise PageError(422, "verify.reason_needed")
        check_length(note)
        chosen = _rejection_days(deadline_days) if decision == "reject" else None
        async with read_only(ctx.engine) as conn:
            finding = await load_visible_finding(conn, actor, finding_id)
        try:
            model.may_verify(actor, finding.facility_id)
        except NotAllowed:
            raise PageError(403, "err.own_facility") from None
        model.verify(Status(finding.status), decision == "accept")  # not submitted: refused before any photo
        photo_ids = await save_photos(ctx, photo, actor.id)
        async with ctx.engine.begin() as conn:
            await verify(
                conn,
                actor,
                finding_id,
                decision == "accept",
                note.strip(),
                photo_ids,
                ctx.policy,
                ctx.clock.now(),
                deadline_days=chosen,
            )
    except PageError as error:
        message = words(
            request, error.key, **({"n": MAX_REJECTION_DAYS} if error.key == "verify.days_bad" else {})
        )
        return await _finding_page(request, actor, finding_id, message, error.status_code, kept)
    except DomainError as error:
        return await _finding_page(request, actor, finding_id, *refusal(request, error), kept)
    done = "verified" if decision == "accept" else "rejected"
    return RedirectResponse(f"/findings/{finding_id}?done={done}#done", status_code=303)


def _rejection_days(text: str) -> int | None:
    """The verifier's choice of working days for a rejected rectification; blank: the item's own."""
    if not text.strip():
        return None
    try:
        days = int(text.strip())
    except ValueError:
        raise PageError(422, "verify.days_bad") from None
    if not 0 <= days <= MAX_REJECTION_DAYS:
        raise PageError(422, "verify.days_bad")
    return days


@router.post("/findings/{finding_id}/actions")
async def finding_action(
    request: Request,
    finding_id: PathId,
    actor: FormWho,
    kind: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    to: Annotated[str, Form()] = "",
    on_day: Annotated[str, Form()] = "",
    photo: Photos = None,
) -> Response:
    """A section chief or bureau lead of the sector records an escalation action, with the minutes or letter."""
    ctx = context(request)
    kept = {"action_note": note, "action_to": to, "action_kind": kind}
    try:
        check_csrf(request, csrf)
        check_length(note, to)
        try:
            day = date.fromisoformat(on_day.strip()) if on_day.strip() else None
        except ValueError:
            raise PageError(422, "actions.day_bad") from None
        async with read_only(ctx.engine) as conn:
            # Allowed and well formed: refused before any photo is stored.
            await check_before(conn, actor, finding_id, kind, note, to, day, ctx.clock.now())
        photo_ids = await save_photos(ctx, photo, actor.id, allow_pdf=True)
        async with ctx.engine.begin() as conn:
            await record_action(conn, actor, finding_id, kind, note, to, day, photo_ids, ctx.clock.now())
    except NotFound:
        return error_page(request, 404, "err.not_found")
    except (PageError, DomainError) as error:
        return await _finding_page(request, actor, finding_id, *refusal(request, error), kept)
    return RedirectResponse(f"/findings/{finding_id}#actions", status_code=303)


async def _finding_place(request: Request, actor: Actor, finding_id: int) -> Row:
    async with read_only(context(request).engine) as conn:
        try:
            return await load_visible_finding(conn, actor, finding_id)
        except NotFound:
            raise PageError(404, "err.not_found") from None


@router.post("/findings/{finding_id}/downgrade")
async def finding_downgrade_decide(
    request: Request,
    finding_id: PathId,
    actor: FormWho,
    decision: Annotated[str, Form()],
    csrf: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    """A section chief approves recording a major-mapped item as general, or refuses it saying why."""
    ctx = context(request)
    try:
        check_csrf(request, csrf)
        if decision not in ("approve", "refuse"):
            raise PageError(422, "err.decision")
        check_length(note)
        if decision == "refuse" and not note.strip():
            raise PageError(422, "downgrade.reason_needed")
        await _finding_place(request, actor, finding_id)
        async with ctx.engine.begin() as conn:
            await decide_downgrade(
                conn,
                actor,
                finding_id,
                decision == "approve",
                note,
                ctx.catalog,
                ctx.policy,
                ctx.clock.now(),
            )
    except (PageError, DomainError) as error:
        return await _finding_page(request, actor, finding_id, *refusal(request, error))
    return RedirectResponse(f"/findings/{finding_id}", status_code=303)


@router.post("/findings/{finding_id}/supervision")
async def finding_supervision_step(
    request: Request,
    finding_id: PathId,
    actor: FormWho,
    step: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    decision: Annotated[str, Form()] = "",
    measures: Annotated[str, Form()] = "",
    funds: Annotated[str, Form()] = "",
    unit: Annotated[str, Form()] = "",
    person: Annotated[str, Form()] = "",
    deadline: Annotated[str, Form()] = "",
    interim_measures: Annotated[str, Form()] = "",
    emergency_plan: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    photo: Photos = None,
) -> Response:
    """A step of a major hazard's supervision from its page: the plan or a progress report (the facility head),
    the interim measure's check (an inspector), 验收 (the sector's section chief), the sign-off (the sector's
    bureau lead) or the fire-rescue service's answer. Who may is decided by the service, as for the API."""
    ctx = context(request)
    plan = {
        "measures": measures,
        "funds": funds,
        "unit": unit,
        "person": person,
        "deadline": deadline,
        "interim_measures": interim_measures,
        "emergency_plan": emergency_plan,
    }
    kept = {k: v for k, v in plan.items() if step == "plan"}
    try:
        check_csrf(request, csrf)
        if step not in SUPERVISION_STEPS:
            raise PageError(422, "err.decision")
        for text in (note, *plan.values()):
            check_length(text)
        await _finding_place(request, actor, finding_id)
        now = ctx.clock.now()
        if step == "plan":
            if not all(v.strip() for v in plan.values()):
                raise PageError(422, "sup.field_needed")
            try:
                plan["deadline"] = date.fromisoformat(deadline.strip()).isoformat()
            except ValueError:
                raise PageError(422, "sup.field_needed") from None
        elif step in ("interim", "progress", "acceptance", "referral") and not note.strip():
            raise PageError(422, "sup.note_needed")
        if step == "acceptance" and decision not in ("accept", "refuse"):
            raise PageError(422, "err.decision")
        # A photo left unlinked by a refused step is cleared away a day later (tracker.service.photos).
        photo_ids = await save_photos(ctx, photo, actor.id) if step in PHOTO_STEPS else []
        async with ctx.engine.begin() as conn:
            if step == "plan":
                await supervision.file_plan(conn, actor, finding_id, plan, photo_ids, ctx.policy, now)
            elif step == "interim":
                await supervision.verify_interim(
                    conn, actor, finding_id, note.strip(), photo_ids, ctx.policy, now
                )
            elif step == "progress":
                await supervision.report_progress(conn, actor, finding_id, note, ctx.policy, now)
            elif step == "acceptance":
                await supervision.accept(
                    conn, actor, finding_id, decision == "accept", note, photo_ids, ctx.policy, now
                )
            elif step == "signoff":
                await supervision.sign_off(conn, actor, finding_id, note, ctx.policy, now)
            else:
                await supervision.answer_referral(conn, actor, finding_id, note, ctx.policy, now)
    except (PageError, DomainError) as error:
        return await _finding_page(request, actor, finding_id, *refusal(request, error), kept=kept)
    return RedirectResponse(f"/findings/{finding_id}#supervision", status_code=303)


SUPERVISION_STEPS = frozenset({"plan", "interim", "progress", "acceptance", "signoff", "referral"})
PHOTO_STEPS = frozenset({"plan", "interim", "acceptance"})


@router.post("/findings/{finding_id}/rectification")
async def finding_rectify(
    request: Request,
    finding_id: PathId,
    actor: FormWho,
    note: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    photo: Photos = None,
) -> Response:
    """The facility head answers for a hazard it reported itself (no order carries it) with evidence."""
    ctx = context(request)
    try:
        check_csrf(request, csrf)
        finding = await _finding_place(request, actor, finding_id)
        # Allowed at all, and possible now: refused before any photo is stored.
        model.may_submit_rectification(actor, finding.facility_id)
        model.submit(Status(finding.status))
        if not note.strip():
            raise PageError(422, "order.note_needed")
        check_length(note)
        photo_ids = await save_photos(ctx, photo, actor.id)
        async with ctx.engine.begin() as conn:
            await submit_rectification(
                conn, actor, finding_id, note.strip(), photo_ids, ctx.clock.now(), ctx.policy
            )
    except (PageError, DomainError) as error:
        return await _finding_page(request, actor, finding_id, *refusal(request, error))
    return RedirectResponse(f"/findings/{finding_id}", status_code=303)


@router.post("/findings/{finding_id}/extension")
async def finding_extension_ask(
    request: Request,
    finding_id: PathId,
    actor: FormWho,
    days: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """The facility head asks for more time for a hazard it reported itself (no order page carries it)."""
    ctx = context(request)
    try:
        check_csrf(request, csrf)
        await _finding_place(request, actor, finding_id)
        wanted = days_value(days)
        if not reason.strip():
            raise PageError(422, "extension.reason_needed")
        check_length(reason)
        async with ctx.engine.begin() as conn:
            await request_extension(conn, actor, finding_id, wanted, reason.strip(), ctx.clock.now())
    except (PageError, DomainError) as error:
        return await _finding_page(request, actor, finding_id, *refusal(request, error))
    return RedirectResponse(f"/findings/{finding_id}", status_code=303)


@router.post("/findings/{finding_id}/extension/{request_id}")
async def finding_extension_decide(
    request: Request,
    finding_id: PathId,
    request_id: PathId,
    actor: FormWho,
    decision: Annotated[str, Form()],
    csrf: Annotated[str, Form()] = "",
    days: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    """The inspector's side decides on a request for more time: accept with a deadline, or refuse saying why."""
    ctx = context(request)
    kept = {"extension_note": note}
    try:
        check_csrf(request, csrf)
        if decision not in ("accept", "refuse"):
            raise PageError(422, "err.decision")
        if decision == "refuse" and not note.strip():
            raise PageError(422, "extension.reason_needed")
        check_length(note)
        given = days_value(days) if decision == "accept" else None
        async with read_only(ctx.engine) as conn:
            await visible_finding(conn, actor, finding_id)
            asked_for = await conn.scalar(
                select(extension_requests.c.finding_id).where(extension_requests.c.id == request_id)
            )
        if asked_for != finding_id:
            raise PageError(404, "err.not_found")
        async with ctx.engine.begin() as conn:
            await decide_extension(
                conn,
                actor,
                request_id,
                decision == "accept",
                given,
                note.strip(),
                ctx.policy,
                ctx.clock.now(),
            )
    except (PageError, DomainError) as error:
        return await _finding_page(request, actor, finding_id, *refusal(request, error), kept)
    return RedirectResponse(f"/findings/{finding_id}", status_code=303)
