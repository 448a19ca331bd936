"""The HTML pages of the two people in the field: the inspector's phone and the facility head's order.

Writes from these pages are protected against cross-site requests twice: the session cookie is
SameSite=Strict, and every form carries a token derived from the session (`csrf_token`), which the
handlers here check; the inspection page's JavaScript calls the JSON API with the same value in the
X-CSRF-Token header, which `current_actor` requires for cookie-authenticated writes. The order page
opened from the mail is authorised by its signed token alone, which an attacker cannot know either.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import case, func, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from tracker import tokens
from tracker.domain import model
from tracker.domain.actions import WORDS as ACTION_WORDS
from tracker.domain.calendar import LOCAL_TZ
from tracker.domain.errors import DomainError, NotAllowed, NotFound
from tracker.domain.grading import DOWNGRADE_DECIDERS, PENDING
from tracker.domain.model import Actor, FacilityRef, Mode, Role, Status, can_see
from tracker.orders_pdf import OrderMissing, order_number, order_pdf
from tracker.orders_pdf import ascii_filename as order_ascii_filename
from tracker.orders_pdf import filename as order_filename
from tracker.record_pdf import filename as record_filename
from tracker.record_pdf import record_pdf
from tracker.service import supervision
from tracker.service.actions import check_before, record_action
from tracker.service.context import Context
from tracker.service.downgrade import decide_downgrade
from tracker.service.loop import (
    MAX_EXTENSION_DAYS,
    MAX_REJECTION_DAYS,
    StaleFinding,
    decide_extension,
    load_finding,
    may_decide_extension,
    request_extension,
    submit_rectification,
    verify,
)
from tracker.service.order_links import facility_head, order_closed_at
from tracker.service.photos import NotAPhoto, PhotoTooLarge
from tracker.service.record import inspection_record
from tracker.service.reporting import (
    InspectionInput,
    ItemResult,
    Notices,
    check_inspection,
    report_inspection,
)
from tracker.service.visibility import scoped, visible_finding
from tracker.store.db import read_only
from tracker.store.tables import (
    extension_requests,
    facilities,
    findings,
    inspections,
    orders,
    photo_links,
    photos,
    users,
)
from tracker.web import i18n
from tracker.web.api import finding_view, inspector_register, save_photo, served_upload
from tracker.web.auth import COOKIE, context, csrf_token, csrf_valid, current_actor, session_actor
from tracker.web.bounds import PathId
from tracker.web.limits import MAX_NOTE_CHARS, MAX_PHOTOS, note_length
from tracker.web.supervision_page import may_verify_now, supervision_context

TEMPLATES = Path(__file__).parent / "templates"
templates = Jinja2Templates(directory=str(TEMPLATES))
i18n.install(templates.env)
templates.env.globals.update(max_note=MAX_NOTE_CHARS, max_photos=MAX_PHOTOS)
_installed: set[int] = set()


def _install_app_templates() -> None:
    """The login and home pages are rendered by app.py's own template set; give it the catalogue too."""
    from tracker.web import app as web_app

    if id(web_app.templates.env) not in _installed:
        i18n.install(web_app.templates.env)
        _installed.add(id(web_app.templates.env))


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    _install_app_templates()
    yield


router = APIRouter(include_in_schema=False, lifespan=_lifespan)
Who = Annotated[Actor, Depends(current_actor)]
FormWho = Annotated[Actor, Depends(session_actor)]
Photos = Annotated[list[UploadFile] | None, Form()]
LANG_COOKIE_DAYS = 365
INSPECTOR_MODES = [Mode.UNANNOUNCED, Mode.COVERT, Mode.ROUTINE, Mode.SPECIAL]


class PageError(Exception):
    def __init__(self, status_code: int, key: str) -> None:
        super().__init__(key)
        self.status_code = status_code
        self.key = key


def render(request: Request, name: str, values: dict[str, Any], status_code: int = 200) -> Response:
    _install_app_templates()
    ctx = context(request)
    session = request.cookies.get(COOKIE)
    base = {"csrf": csrf_token(ctx.secret, session) if session else "", "catalog": ctx.catalog}
    return templates.TemplateResponse(request, name, {**base, **values}, status_code=status_code)


def error_page(request: Request, status_code: int, key: str) -> Response:
    return render(request, "error.html", {"message_key": key}, status_code=status_code)


def _t(request: Request, key: str, **values: Any) -> str:
    return i18n.translate(i18n.lang_of(request), key, **values)


def _check_csrf(request: Request, given: str | None) -> None:
    if not csrf_valid(context(request).secret, request.cookies.get(COOKIE), given):
        raise PageError(403, "err.csrf")


def _check_length(*texts: str) -> None:
    # The text box stops at the limit; a request made by hand is refused the same way.
    if any(note_length(text) > MAX_NOTE_CHARS for text in texts):
        raise PageError(422, "err.too_long")
    # A NUL cannot be stored (PostgreSQL refuses it in any text) and nobody types one.
    if any("\x00" in text for text in texts):
        raise PageError(422, "err.control")


def _safe_next(target: str) -> str:
    # Only a local path: a link must not bounce anyone to another site ("//host", "/\\host").
    return target if target.startswith("/") and not target.startswith(("//", "/\\")) else "/"


def _today(now: datetime) -> Any:
    return now.astimezone(LOCAL_TZ).date()


# ---- language -------------------------------------------------------------------------------------------


@router.get("/lang/{code}")
async def switch_language(code: str, next: str = "/") -> Response:
    response = RedirectResponse(_safe_next(next), status_code=303)
    if code in i18n.LANGS:
        response.set_cookie(i18n.COOKIE, code, max_age=LANG_COOKIE_DAYS * 86400, samesite="lax")
    return response


# ---- the inspector ------------------------------------------------------------------------------------


def _modes(actor: Actor) -> list[Mode]:
    return [Mode.SELF] if actor.role is Role.FACILITY_HEAD else INSPECTOR_MODES


async def _facility(conn: AsyncConnection, actor: Actor, facility_id: int) -> Row:
    row = (await conn.execute(select(facilities).where(facilities.c.id == facility_id))).first()
    if row is None or not can_see(actor, FacilityRef(row.id, row.town)):
        raise PageError(404, "err.no_facility")
    return row


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
            facility = await _facility(conn, actor, facility_id)
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
    mode: str = "unannounced",
    cat: Annotated[list[str] | None, Query()] = None,
) -> Response:
    ctx = context(request)
    try:
        async with read_only(ctx.engine) as conn:
            facility = await _facility(conn, actor, facility_id)
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
            facility = await _facility(conn, actor, inspection.facility_id)
        except PageError as error:
            return error_page(request, error.status_code, error.key)
        rows = (
            await conn.execute(
                select(findings).where(findings.c.inspection_id == inspection_id).order_by(findings.c.id)
            )
        ).all()
        record = await inspection_record(conn, inspection_id)
    return render(
        request,
        "inspect_done.html",
        {
            "inspection": inspection,
            "facility": facility,
            "findings": rows,
            "record": record,
            "onsite_local": record.onsite_at.astimezone(LOCAL_TZ),
            "items": {i.code: i for i in ctx.catalog.items()},
        },
    )


@router.get("/inspections/{inspection_id}/record.pdf")
async def inspection_record_pdf(request: Request, inspection_id: PathId, actor: Who) -> Response:
    """The signed on-site record (现场检查记录), for whoever may see the inspected facility."""
    ctx = context(request)
    async with read_only(ctx.engine) as conn:
        facility_id = await conn.scalar(
            select(inspections.c.facility_id).where(inspections.c.id == inspection_id)
        )
        if facility_id is None:
            return error_page(request, 404, "err.not_found")
        try:
            await _facility(conn, actor, facility_id)
        except PageError as error:
            return error_page(request, error.status_code, error.key)
    data = await record_pdf(ctx.engine, inspection_id, ctx.catalog)
    return Response(
        data,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="record-{inspection_id}.pdf"; '
            f"filename*=UTF-8''{quote(record_filename(inspection_id))}",
            "Cache-Control": "private, no-store",
        },
    )


# ---- my work ------------------------------------------------------------------------------------------


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
                    .join(findings, findings.c.order_id == orders.c.id)
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
                .where(extension_requests.c.status == "pending", findings.c.status == Status.ORDERED.value)
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
            "now": ctx.clock.now(),
        },
    )


# ---- one finding, and its verification ----------------------------------------------------------------


async def _finding_page(
    request: Request,
    actor: Actor,
    finding_id: int,
    error: str | None = None,
    status_code: int = 200,
    kept: dict[str, str] | None = None,
) -> Response:
    ctx = context(request)
    async with read_only(ctx.engine) as conn:
        row = (
            await conn.execute(
                select(facilities)
                .join(findings, findings.c.facility_id == facilities.c.id)
                .where(findings.c.id == finding_id)
            )
        ).first()
        if row is None or not can_see(actor, FacilityRef(row.id, row.town)):
            return error_page(request, 404, "err.not_found")
        view = await finding_view(conn, finding_id, ctx.clock.now(), prefix=ctx.settings.supervision_prefix)
        item_days = (await _finding_row(conn, finding_id)).deadline_days
        asked = await _extensions(conn, [finding_id])
        pending = next((r for r in asked.get(finding_id, []) if r.status == "pending"), None)
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
            "error": error,
            "days_left": _days_left(view, ctx.clock.now()),
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
            "today": _today(ctx.clock.now()).isoformat(),
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


async def _extensions(conn: AsyncConnection, finding_ids: list[int]) -> dict[int, list[Row]]:
    """The requests for more time on these findings, newest first, with who asked and who decided."""
    asker = users.alias("asker")
    decider = users.alias("decider")
    rows = (
        (
            await conn.execute(
                select(
                    extension_requests,
                    asker.c.username.label("asked_by"),
                    decider.c.username.label("decided_by_name"),
                )
                .join(asker, asker.c.id == extension_requests.c.requested_by)
                .outerjoin(decider, decider.c.id == extension_requests.c.decided_by)
                .where(extension_requests.c.finding_id.in_(finding_ids))
                .order_by(extension_requests.c.id.desc())
            )
        ).all()
        if finding_ids
        else []
    )
    out: dict[int, list[Row]] = {}
    for r in rows:
        out.setdefault(r.finding_id, []).append(r)
    return out


def _days_left(view: dict[str, Any], now: datetime) -> int | None:
    if not view.get("deadline"):
        return None
    return (datetime.fromisoformat(view["deadline"]).date() - _today(now)).days


@router.get("/findings/{finding_id}")
async def finding_page(request: Request, finding_id: PathId, actor: Who) -> Response:
    return await _finding_page(request, actor, finding_id)


async def _save_photos(
    ctx: Context, files: list[UploadFile] | None, uploaded_by: int, allow_pdf: bool = False
) -> list[str]:
    """Store a form's photos (and, with `allow_pdf`, PDF documents): only once the action they come with has
    been allowed."""
    chosen = [f for f in files or [] if f.filename or f.size]  # an empty file field sends an empty part
    if len(chosen) > MAX_PHOTOS:
        raise PageError(422, "err.photo_count")
    saved = []
    for file in chosen:
        try:
            saved.append(await save_photo(ctx, file, uploaded_by, allow_pdf))
        except PhotoTooLarge:
            raise PageError(413, "err.photo_size") from None
        except NotAPhoto:
            raise PageError(415, "err.photo_type") from None
    return saved


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
        _check_csrf(request, csrf)
        if decision not in ("accept", "reject"):
            raise PageError(422, "err.decision")
        if decision == "reject" and not note.strip():
            raise PageError(422, "verify.reason_needed")
        _check_length(note)
        chosen = _rejection_days(deadline_days) if decision == "reject" else None
        async with read_only(ctx.engine) as conn:
            await visible_finding(conn, actor, finding_id)
            finding = await load_finding(conn, finding_id)
        try:
            model.may_verify(actor, finding.facility_id)
        except NotAllowed:
            raise PageError(403, "err.own_facility") from None
        model.verify(Status(finding.status), decision == "accept")  # not submitted: refused before any photo
        photo_ids = await _save_photos(ctx, photo, actor.id)
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
        message = _t(
            request, error.key, **({"n": MAX_REJECTION_DAYS} if error.key == "verify.days_bad" else {})
        )
        return await _finding_page(request, actor, finding_id, message, error.status_code, kept)
    except (DomainError, StaleFinding) as error:
        code = error.status_code if isinstance(error, DomainError) else 409
        return await _finding_page(request, actor, finding_id, str(error), code, kept)
    return RedirectResponse(f"/findings/{finding_id}", status_code=303)


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
        _check_csrf(request, csrf)
        _check_length(note, to)
        try:
            day = date.fromisoformat(on_day.strip()) if on_day.strip() else None
        except ValueError:
            raise PageError(422, "actions.day_bad") from None
        async with read_only(ctx.engine) as conn:
            # Allowed and well formed: refused before any photo is stored.
            await check_before(conn, actor, finding_id, kind, note, to, day, ctx.clock.now())
        photo_ids = await _save_photos(ctx, photo, actor.id, allow_pdf=True)
        async with ctx.engine.begin() as conn:
            await record_action(conn, actor, finding_id, kind, note, to, day, photo_ids, ctx.clock.now())
    except PageError as error:
        return await _finding_page(
            request, actor, finding_id, _t(request, error.key), error.status_code, kept
        )
    except NotFound:
        return error_page(request, 404, "err.not_found")
    except (DomainError, StaleFinding) as error:
        code = error.status_code if isinstance(error, DomainError) else 409
        return await _finding_page(request, actor, finding_id, str(error), code, kept)
    return RedirectResponse(f"/findings/{finding_id}#actions", status_code=303)


async def _finding_place(request: Request, actor: Actor, finding_id: int) -> Row:
    async with read_only(context(request).engine) as conn:
        try:
            await visible_finding(conn, actor, finding_id)
            return await load_finding(conn, finding_id)
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
        _check_csrf(request, csrf)
        if decision not in ("approve", "refuse"):
            raise PageError(422, "err.decision")
        _check_length(note)
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
    except PageError as error:
        return await _finding_page(request, actor, finding_id, _t(request, error.key), error.status_code)
    except (DomainError, StaleFinding) as error:
        code = error.status_code if isinstance(error, DomainError) else 409
        return await _finding_page(request, actor, finding_id, str(error), code)
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
        _check_csrf(request, csrf)
        if step not in SUPERVISION_STEPS:
            raise PageError(422, "err.decision")
        for text in (note, *plan.values()):
            _check_length(text)
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
        photo_ids = await _save_photos(ctx, photo, actor.id) if step in PHOTO_STEPS else []
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
    except PageError as error:
        return await _finding_page(
            request, actor, finding_id, _t(request, error.key), error.status_code, kept=kept
        )
    except (DomainError, StaleFinding) as error:
        code = error.status_code if isinstance(error, DomainError) else 409
        return await _finding_page(request, actor, finding_id, str(error), code, kept=kept)
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
        _check_csrf(request, csrf)
        finding = await _finding_place(request, actor, finding_id)
        # Allowed at all, and possible now: refused before any photo is stored.
        model.may_submit_rectification(actor, finding.facility_id)
        model.submit(Status(finding.status))
        if not note.strip():
            raise PageError(422, "order.note_needed")
        _check_length(note)
        photo_ids = await _save_photos(ctx, photo, actor.id)
        async with ctx.engine.begin() as conn:
            await submit_rectification(
                conn, actor, finding_id, note.strip(), photo_ids, ctx.clock.now(), ctx.policy
            )
    except PageError as error:
        return await _finding_page(request, actor, finding_id, _t(request, error.key), error.status_code)
    except (DomainError, StaleFinding) as error:
        code = error.status_code if isinstance(error, DomainError) else 409
        return await _finding_page(request, actor, finding_id, str(error), code)
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
        _check_csrf(request, csrf)
        await _finding_place(request, actor, finding_id)
        wanted = _days_value(days)
        if not reason.strip():
            raise PageError(422, "extension.reason_needed")
        _check_length(reason)
        async with ctx.engine.begin() as conn:
            await request_extension(conn, actor, finding_id, wanted, reason.strip(), ctx.clock.now())
    except PageError as error:
        return await _finding_page(request, actor, finding_id, _t(request, error.key), error.status_code)
    except (DomainError, StaleFinding) as error:
        code = error.status_code if isinstance(error, DomainError) else 409
        return await _finding_page(request, actor, finding_id, str(error), code)
    return RedirectResponse(f"/findings/{finding_id}", status_code=303)


def _days_value(text: str) -> int:
    try:
        days = int(text.strip())
    except ValueError:
        raise PageError(422, "extension.days_bad") from None
    if not 1 <= days <= MAX_EXTENSION_DAYS:
        raise PageError(422, "extension.days_bad")
    return days


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
        _check_csrf(request, csrf)
        if decision not in ("accept", "refuse"):
            raise PageError(422, "err.decision")
        if decision == "refuse" and not note.strip():
            raise PageError(422, "extension.reason_needed")
        _check_length(note)
        given = _days_value(days) if decision == "accept" else None
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
    except PageError as error:
        return await _finding_page(
            request, actor, finding_id, _t(request, error.key), error.status_code, kept
        )
    except (DomainError, StaleFinding) as error:
        code = error.status_code if isinstance(error, DomainError) else 409
        return await _finding_page(request, actor, finding_id, str(error), code, kept)
    return RedirectResponse(f"/findings/{finding_id}", status_code=303)


# ---- the facility head's order ------------------------------------------------------------------------


class OrderAccess:
    """Who opened an order page and who may answer it: by the mail's token, or a logged-in session."""

    def __init__(self, order: Row, facility: Row, head: Actor | None, token: str | None) -> None:
        self.order = order
        self.facility = facility
        self.head = head
        self.token = token

    @property
    def query(self) -> str:
        return f"?token={quote(self.token)}" if self.token else ""


async def _head_user(conn: AsyncConnection, facility: Row) -> Actor | None:
    row = await facility_head(conn, facility.id)
    if row is None:
        return None
    return Actor(
        id=row.id, username=row.username, role=Role(row.role), facility_id=row.facility_id, town=row.town
    )


async def _order_access(request: Request, order_id: int, token: str | None) -> OrderAccess:
    ctx = context(request)
    actor: Actor | None = None
    claims: dict = {}
    if token:
        try:
            claims = tokens.read(ctx.secret, token, ctx.clock.now())
        except tokens.BadToken:
            raise PageError(403, "order.link_invalid") from None
        # The link opens exactly the order it names, and nothing else.
        if claims.get("scope") != "order" or claims.get("sub") != f"order:{order_id}":
            raise PageError(403, "order.link_other")
    else:
        actor = await session_actor(request, None)  # 401: the login page, for a browser
    async with read_only(ctx.engine) as conn:
        order = (await conn.execute(select(orders).where(orders.c.id == order_id))).first()
        facility = (
            (await conn.execute(select(facilities).where(facilities.c.id == order.facility_id))).first()
            if order is not None
            else None
        )
        if order is None or facility is None:
            raise PageError(404, "err.not_found")
        if actor is not None:
            if not can_see(actor, FacilityRef(facility.id, facility.town)):
                raise PageError(404, "err.not_found")
            head = actor if actor.role is Role.FACILITY_HEAD else None
        else:
            head = await _head_user(conn, facility)
            try:
                tokens.check_order_link(
                    claims,
                    head.id if head else None,
                    await order_closed_at(conn, order_id),
                    ctx.clock.now(),
                    timedelta(days=ctx.settings.order_link_grace_days),
                )
            except tokens.LinkEnded:
                raise PageError(403, "order.link_ended") from None
    return OrderAccess(order, facility, head, token)


async def _order_page(
    request: Request,
    access: OrderAccess,
    error: str | None = None,
    status_code: int = 200,
    sent: int | None = None,
    asked: int | None = None,
    kept: dict[str, Any] | None = None,
) -> Response:
    ctx = context(request)
    now = ctx.clock.now()
    async with read_only(ctx.engine) as conn:
        ids = (
            (
                await conn.execute(
                    select(findings.c.id)
                    .where(findings.c.order_id == access.order.id)
                    .order_by(findings.c.id)
                )
            )
            .scalars()
            .all()
        )
        views = [await finding_view(conn, fid, now, prefix=ctx.settings.supervision_prefix) for fid in ids]
        asked = await _extensions(conn, list(ids))
    for view in views:
        view["days_left"] = _days_left(view, now)
        view["extensions"] = asked.get(view["id"], [])
        view["pending"] = next((r for r in view["extensions"] if r.status == "pending"), None)
    return render(
        request,
        "order.html",
        {
            "access": access,
            "findings": views,
            "error": error,
            "sent": sent,
            "by_token": access.token is not None,
            "max_days": MAX_EXTENSION_DAYS,
            "asked": asked,
            "kept": kept or {},
            "number": order_number(access.order, ctx.settings.order_prefix),
        },
        status_code=status_code,
    )


@router.get("/orders/{order_id}")
async def order_page(
    request: Request,
    order_id: PathId,
    token: str | None = None,
    sent: int | None = None,
    asked: int | None = None,
) -> Response:
    try:
        access = await _order_access(request, order_id, token)
    except PageError as error:
        return error_page(request, error.status_code, error.key)
    return await _order_page(request, access, sent=sent, asked=asked)


async def _check_answer(
    request: Request, access: Any, order_id: int, finding_id: int, token: str, csrf: str
) -> None:
    """Before a facility head answers for a finding of an order: the form is genuine, the facility has a
    head to act as, and the finding belongs to this order."""
    if not token:
        _check_csrf(request, csrf)
    if access.head is None:
        raise PageError(409 if token else 403, "order.no_head" if token else "err.not_head")
    async with read_only(context(request).engine) as conn:
        belongs = await conn.scalar(select(findings.c.order_id).where(findings.c.id == finding_id))
    if belongs != order_id:
        raise PageError(404, "err.not_found")


@router.post("/orders/{order_id}/findings/{finding_id}/rectification")
async def order_rectify(
    request: Request,
    order_id: PathId,
    finding_id: PathId,
    note: Annotated[str, Form()] = "",
    token: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    photo: Photos = None,
) -> Response:
    ctx = context(request)
    kept = {"finding": finding_id, "note": note}
    try:
        access = await _order_access(request, order_id, token or None)
    except PageError as error:
        return error_page(request, error.status_code, error.key)
    try:
        await _check_answer(request, access, order_id, finding_id, token, csrf)
        if not note.strip():
            raise PageError(422, "order.note_needed")
        _check_length(note)
        async with read_only(ctx.engine) as conn:
            finding = await load_finding(conn, finding_id)
        model.may_submit_rectification(access.head, finding.facility_id)
        model.submit(Status(finding.status))  # already answered: refused before any photo is stored
        photo_ids = await _save_photos(ctx, photo, access.head.id)
        async with ctx.engine.begin() as conn:
            # The same service step as the API's, acting as the facility's head.
            await submit_rectification(
                conn, access.head, finding_id, note.strip(), photo_ids, ctx.clock.now(), ctx.policy
            )
    except PageError as error:
        return await _order_page(request, access, _t(request, error.key), error.status_code, kept=kept)
    except (DomainError, StaleFinding) as error:
        code = error.status_code if isinstance(error, DomainError) else 409
        return await _order_page(request, access, str(error), code, kept=kept)
    sep = "&" if access.query else "?"
    return RedirectResponse(
        f"/orders/{order_id}{access.query}{sep}sent={finding_id}#f{finding_id}", status_code=303
    )


@router.get("/orders/{order_id}/photos/{photo_id}")
async def order_photo(
    request: Request, order_id: PathId, photo_id: str, token: str | None = None
) -> Response:
    try:
        access = await _order_access(request, order_id, token)
    except PageError as error:
        return error_page(request, error.status_code, error.key)
    ctx = context(request)
    async with read_only(ctx.engine) as conn:
        photo = (
            await conn.execute(
                select(photos)
                .join(photo_links, photo_links.c.photo_id == photos.c.id)
                .join(findings, findings.c.id == photo_links.c.finding_id)
                .where(photos.c.id == photo_id, findings.c.order_id == access.order.id)
            )
        ).first()
    if photo is None:
        return error_page(request, 404, "err.not_found")
    return served_upload(
        ctx.settings.photo_dir / photo.id, photo.content_type, {"Cache-Control": "private, max-age=86400"}
    )


@router.post("/orders/{order_id}/findings/{finding_id}/extension")
async def order_extension(
    request: Request,
    order_id: PathId,
    finding_id: PathId,
    days: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    token: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """The facility head asks for more time for one finding; the inspector's side decides."""
    ctx = context(request)
    kept = {"finding": finding_id, "reason": reason}
    try:
        access = await _order_access(request, order_id, token or None)
    except PageError as error:
        return error_page(request, error.status_code, error.key)
    try:
        await _check_answer(request, access, order_id, finding_id, token, csrf)
        wanted = _days_value(days)
        if not reason.strip():
            raise PageError(422, "extension.reason_needed")
        _check_length(reason)
        async with ctx.engine.begin() as conn:
            await request_extension(conn, access.head, finding_id, wanted, reason.strip(), ctx.clock.now())
    except PageError as error:
        return await _order_page(request, access, _t(request, error.key), error.status_code, kept=kept)
    except (DomainError, StaleFinding) as error:
        code = error.status_code if isinstance(error, DomainError) else 409
        return await _order_page(request, access, str(error), code, kept=kept)
    sep = "&" if access.query else "?"
    return RedirectResponse(
        f"/orders/{order_id}{access.query}{sep}asked={finding_id}#f{finding_id}", status_code=303
    )


@router.get("/orders/{order_id}/pdf")
async def order_pdf_download(request: Request, order_id: PathId, token: str | None = None) -> Response:
    """The order as the printable 整改通知书; the same people may fetch it as may open the order page."""
    try:
        access = await _order_access(request, order_id, token)
    except PageError as error:
        return error_page(request, error.status_code, error.key)
    try:
        data = await order_pdf(context(request).engine, access.order.id)
    except OrderMissing:
        return error_page(request, 404, "err.not_found")
    # Named by the order's number, as the facility files it; the id stays in the route only.
    name, plain = order_filename(access.order), order_ascii_filename(access.order)
    return Response(
        data,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name)}",
            "Cache-Control": "private, no-store",
        },
    )


# ---- self-inspection (自查自纠): a facility head reports a hazard found at their own facility -------------


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
        facility = await _facility(conn, actor, actor.facility_id)
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
        _check_csrf(request, csrf)
        if not item or not ctx.catalog.has(item):
            raise PageError(422, "self.choose_item")
        if not note.strip():
            raise PageError(422, "walk.note_needed")
        if severity not in ("", "general", "major"):
            raise PageError(422, "err.decision")
        _check_length(note, severity_reason)
        if not client_ref.strip() or len(client_ref) > 100:
            client_ref = f"self-{uuid.uuid4()}"
        report = InspectionInput(
            actor.facility_id,
            Mode.SELF.value,
            client_ref.strip(),
            [ItemResult(item, "fail", note.strip(), severity or None, severity_reason=severity_reason)],
        )
        await check_inspection(ctx.engine, ctx.catalog, actor, report, ctx.clock.now())
        photo_ids = await _save_photos(ctx, photo, actor.id)
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
        return await _self_form(request, actor, _t(request, error.key), error.status_code, values)
    except DomainError as error:
        return await _self_form(request, actor, str(error), error.status_code, values)
    return RedirectResponse(f"/inspect/done/{reported.inspection_id}", status_code=303)


# ---- the service worker: served from the root so that its scope covers every page ---------------------


@router.get("/sw.js")
async def service_worker() -> Response:
    return FileResponse(
        Path(__file__).parent / "static" / "sw.js",
        media_type="application/javascript",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"},
    )
