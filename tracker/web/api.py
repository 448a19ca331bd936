"""The JSON API. Its names are a public contract: phones, scripts and other systems rely on them."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, File, HTTPException, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tracker.domain.calendar import fallback_years_warning
from tracker.domain.model import BUREAU_ROLES, Actor, Mode, Role, Severity, Status
from tracker.domain.supervision import DEFAULT_NOTICE_PREFIX
from tracker.service import logins, supervision
from tracker.service.actions import actions_of, record_action
from tracker.service.context import Context
from tracker.service.downgrade import decide_downgrade
from tracker.service.loop import MAX_REJECTION_DAYS, load_finding, submit_rectification, verify
from tracker.service.photos import (
    MAX_PHOTO_BYTES,
    PDF,
    THUMBNAIL_TYPE,
    store_photo,
    thumbnail_file,
    visible_photo,
)
from tracker.service.record import Visit, visit_of
from tracker.service.reporting import InspectionInput, ItemResult, Notices, Reported, report_inspection
from tracker.service.supervision import supervision_view
from tracker.service.visibility import scoped, visible_finding
from tracker.store.db import read_only
from tracker.store.people import shown_name
from tracker.store.tables import (
    facilities,
    findings,
    history,
    photo_links,
    photos,
    supervisions,
    users,
)
from tracker.web.auth import COOKIE, context, current_actor, login
from tracker.web.bounds import MAX_ID, MAX_OFFSET, FacilityFilter, PathId
from tracker.web.limits import MAX_NOTE_CHARS, MAX_PHOTOS

router = APIRouter(prefix="/api")


class TokenRequest(BaseModel):
    username: str
    password: str


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"


@router.post(
    "/token",
    response_model=TokenResponse,
    tags=["auth"],
    responses={
        401: {"description": "wrong username or password"},
        429: {"description": "too many failed logins: the Retry-After header gives the seconds to wait"},
    },
)
async def token(body: TokenRequest, request: Request) -> TokenResponse:
    access = await login(request, body.username, body.password)
    if access is None:
        raise HTTPException(status_code=401, detail="wrong username or password")
    return TokenResponse(access_token=access)


@router.post(
    "/logout",
    status_code=204,
    tags=["auth"],
    responses={401: {"description": "not logged in or the session already ended"}},
)
async def logout(request: Request, actor: Actor = Depends(current_actor)) -> Response:
    """End the session of the bearer token sent (or of the session cookie, with its X-CSRF-Token): that token
    is refused from now on, as after a logout on the pages."""
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    token = presented.strip() if scheme.lower() == "bearer" else request.cookies.get(COOKIE)
    if token:
        await logins.logout(context(request), token)
    return Response(status_code=204)


@router.get("/facilities", tags=["facilities"])
async def list_facilities(
    request: Request, actor: Actor = Depends(current_actor), q: str | None = None
) -> list[dict[str, Any]]:
    query = scoped(actor, select(facilities)).order_by(facilities.c.town, facilities.c.code)
    if q:
        like = f"%{q}%"
        query = query.where(
            facilities.c.name.like(like) | facilities.c.code.like(like) | facilities.c.town.like(like)
        )
    async with read_only(context(request).engine) as conn:
        rows = (await conn.execute(query)).all()
    return [dict(row._mapping) for row in rows]


@router.get("/checklists", tags=["checklists"])
async def list_checklists(
    request: Request,
    actor: Actor = Depends(current_actor),
    facility_type: str | None = None,
    category: str | None = None,
    include_campaigns: bool = False,
) -> list[dict[str, Any]]:
    """The items of the checklist versions in effect today. With include_campaigns=true, every entry gets
    a `campaigns` list, and the items of campaigns published for today (and the facility type) are added."""
    from tracker.checklists.campaigns import publications, visible_items
    from tracker.checklists.model import local_day

    ctx = context(request)
    today = local_day(ctx.clock.now())
    catalog = ctx.catalog.at(today)
    if facility_type is not None and facility_type not in catalog.facility_types:
        raise HTTPException(status_code=422, detail=f"facility_type: unknown facility type {facility_type!r}")
    if category is not None and category not in catalog.categories and not category.startswith("campaign:"):
        raise HTTPException(status_code=422, detail=f"category: unknown checklist category {category!r}")
    standing = (
        []
        if category is not None and category.startswith("campaign:")
        else catalog.items(facility_type=facility_type, category=category)
    )
    # The internal note on a basis is for the bureau's staff, never for a facility.
    staff = actor.role != Role.FACILITY_HEAD
    entries = [_checklist_item(item, staff) for item in standing]
    if not include_campaigns:
        return entries
    async with read_only(ctx.engine) as conn:
        active = await publications(conn, on=today)
    shown = [
        (item, [p.ref(catalog) for p in pubs])
        for item, pubs in visible_items(catalog, active, facility_type)
        if category is None or item.category == category
    ]
    refs = {item.code: campaign_refs for item, campaign_refs in shown}
    for entry in entries:
        entry["campaigns"] = refs.get(entry["code"], [])
    listed = {entry["code"] for entry in entries}
    entries += [
        {**_checklist_item(item, staff), "campaigns": r} for item, r in shown if item.code not in listed
    ]
    return entries


def _checklist_item(item: Any, staff: bool = False) -> dict[str, Any]:
    entry = {
        "code": item.code,
        "category": item.category,
        "severity": item.severity,
        "text": {"zh": item.zh, "en": item.en},
        "hint": {"zh": item.hint_zh, "en": item.hint_en},
        "basis": item.basis,
        "basis_verified": item.basis_verified,
        "deadline_days": {s.value: item.deadline_days(s) for s in Severity},
        "stop_use": item.stop_use,
        "facility_types": item.facility_types,
        "version": item.checklist_version,
    }
    if staff:
        entry["basis_note"] = item.basis_note
    return entry


@router.post("/photos", status_code=201, tags=["photos"])
async def upload_photo(
    request: Request, file: UploadFile = File(...), actor: Actor = Depends(current_actor)
) -> dict[str, str]:
    return {"id": await save_photo(context(request), file, actor.id)}


async def save_photo(ctx: Context, file: UploadFile, uploaded_by: int, allow_pdf: bool = False) -> str:
    """Keep one uploaded photo (at most MAX_PHOTO_BYTES, a JPEG, PNG or WebP), cleaned; with `allow_pdf`, a PDF
    document too, as sent. Returns its id."""
    data = await file.read(MAX_PHOTO_BYTES + 1)
    return await store_photo(
        ctx.engine, ctx.settings.photo_dir, data, uploaded_by, ctx.clock.now(), allow_pdf=allow_pdf
    )


@router.post("/attachments", status_code=201, tags=["photos"])
async def upload_attachment(
    request: Request, file: UploadFile = File(...), actor: Actor = Depends(current_actor)
) -> dict[str, str]:
    """The minutes or letter of an escalation action: a PDF (kept as sent, served only as a download) or a photo
    (checked and cleaned as by POST /api/photos), at most 10 MB. Its id goes in the action's `photos`."""
    return {"id": await save_photo(context(request), file, actor.id, allow_pdf=True)}


def served_upload(path: Any, content_type: str, headers: dict[str, str] | None = None) -> FileResponse:
    """A stored upload; a PDF only ever as a download, never shown in the page's origin."""
    headers = dict(headers or {})
    if content_type == PDF:
        headers["Content-Disposition"] = 'attachment; filename="document.pdf"'
    return FileResponse(path, media_type=content_type, headers=headers)


@router.get("/photos/{photo_id}", tags=["photos"])
async def get_photo(photo_id: str, request: Request, actor: Actor = Depends(current_actor)) -> FileResponse:
    """The photo as kept; to whoever uploaded it or may see a facility it shows, and 404 to anyone else."""
    ctx = context(request)
    async with read_only(ctx.engine) as conn:
        photo = await visible_photo(conn, actor, photo_id)
    return served_upload(ctx.settings.photo_dir / photo.id, photo.content_type)


@router.get("/photos/{photo_id}/thumbnail", tags=["photos"])
async def get_thumbnail(
    photo_id: str, request: Request, actor: Actor = Depends(current_actor)
) -> FileResponse:
    """The photo at most 320 px and 30 KB (a JPEG), for lists and cards; to whoever may have the photo itself.
    A PDF document has none: 404."""
    ctx = context(request)
    async with read_only(ctx.engine) as conn:
        photo = await visible_photo(conn, actor, photo_id)
    return thumbnail_response(await thumbnail_file(ctx.settings.photo_dir, photo))


def thumbnail_response(path: Path | None) -> FileResponse:
    if path is None:
        raise HTTPException(status_code=404, detail="a document has no thumbnail")
    return FileResponse(path, media_type=THUMBNAIL_TYPE)


class ItemIn(BaseModel):
    item: str = Field(min_length=1, max_length=40)
    # fixed: 当场整改, fixed during the visit (a note required); it raises no finding.
    result: Literal["pass", "fail", "na", "fixed"]
    note: str = Field(default="", max_length=MAX_NOTE_CHARS)
    severity: Severity | None = None
    # Required when an item whose default is major is recorded as general.
    severity_reason: str = Field(default="", max_length=2000)
    photos: list[str] = Field(default_factory=list, max_length=MAX_PHOTOS)
    quantity_met: bool = False


class InspectionIn(BaseModel):
    facility_id: int = Field(ge=1, le=MAX_ID)
    # The modes a person picks (Mode values); `register` is the certificate sweep's own.
    mode: Literal["unannounced", "covert", "routine", "self", "special"]
    client_ref: str = Field(min_length=1, max_length=100)
    items: list[ItemIn] = Field(min_length=1, max_length=500)
    # When the check began, as the phone took it (kept through an offline queue); with its time zone.
    onsite_at: datetime | None = None
    # Co-inspectors' user ids, from GET /api/inspectors; the submitter is one already.
    inspectors: list[int] = Field(default_factory=list, max_length=10)
    person_present: str = Field(default="", max_length=100)


@router.post("/inspections", status_code=201, tags=["inspections"])
async def create_inspection(
    body: InspectionIn, request: Request, actor: Actor = Depends(current_actor)
) -> JSONResponse:
    ctx = context(request)
    reported = await report_inspection(
        ctx.engine,
        ctx.catalog,
        actor,
        InspectionInput(
            body.facility_id,
            Mode(body.mode),
            body.client_ref,
            [
                ItemResult(
                    i.item,
                    i.result,
                    i.note,
                    i.severity,
                    i.photos,
                    quantity_met=i.quantity_met,
                    severity_reason=i.severity_reason,
                )
                for i in body.items
            ],
            onsite_at=body.onsite_at,
            inspectors=body.inspectors,
            person_present=body.person_present,
        ),
        ctx.clock.now(),
        Notices(ctx.policy, ctx.settings.bureau_name, ctx.settings.supervision_prefix),
    )
    now = ctx.clock.now()
    views, visit = await _answer(ctx, reported, now)
    return JSONResponse(
        status_code=201 if reported.created else 200,
        content={
            "id": reported.inspection_id,
            "created": reported.created,
            "findings": views,
            "fixed": reported.fixed,
            "onsite_at": visit.onsite_at.isoformat(),
            "inspectors": [
                {"id": p.id, "name": p.name, "warrant_no": p.warrant_no} for p in visit.inspectors
            ],
            "person_present": visit.person_present,
        },
    )


# Who may be chosen as a co-inspector: the bureau's people and the towns' civil-affairs offices.
INSPECTOR_ROLES = (Role.INSPECTOR, Role.SECTION_CHIEF, Role.BUREAU_LEAD, Role.TOWN_OFFICER)


@router.get("/inspectors", tags=["inspections"])
async def list_inspectors(request: Request, actor: Actor = Depends(current_actor)) -> list[dict[str, Any]]:
    """The register of inspectors the phone page chooses co-inspectors from, with their 执法证号."""
    if actor.role not in BUREAU_ROLES and actor.role is not Role.TOWN_OFFICER:
        raise HTTPException(status_code=403, detail="the register of inspectors is the bureau's")
    async with read_only(context(request).engine) as conn:
        return await inspector_register(conn)


async def inspector_register(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Active people who inspect, by name, with their 执法证号 (None where not yet recorded)."""
    rows = (
        await conn.execute(
            select(users.c.id, users.c.name, users.c.username, users.c.role, users.c.town, users.c.warrant_no)
            .where(users.c.active, users.c.role.in_([r.value for r in INSPECTOR_ROLES]))
            .order_by(users.c.name, users.c.id)
        )
    ).all()
    return [
        {
            "id": r.id,
            "name": r.name or r.username,
            "role": r.role,
            "town": r.town,
            "warrant_no": r.warrant_no,
        }
        for r in rows
    ]


@router.get("/findings", tags=["findings"])
async def list_findings(
    request: Request,
    actor: Actor = Depends(current_actor),
    status: Status | None = None,
    facility_id: FacilityFilter = None,
    overdue: bool = False,
    # mode=self: the hazards facilities reported themselves, which no bureau order carries.
    # mode=register: those raised when a certificate on a facility's register lapsed (tracker.service.certificates).
    mode: Mode | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> dict[str, Any]:
    ctx = context(request)
    now = ctx.clock.now()
    query = scoped(actor, select(findings).join(facilities, facilities.c.id == findings.c.facility_id))
    if status:
        query = query.where(findings.c.status == status.value)
    if facility_id is not None:
        query = query.where(findings.c.facility_id == facility_id)
    if mode is not None:
        query = query.where(findings.c.mode == mode.value)
    if overdue:
        query = query.where(findings.c.status == Status.ORDERED.value, findings.c.due_at < now)
    async with read_only(ctx.engine) as conn:
        total = await conn.scalar(select(func.count()).select_from(query.subquery()))
        rows = (await conn.execute(query.order_by(findings.c.id).limit(limit).offset(offset))).all()
    items = [_view(row, now) for row in rows]
    return {"total": total, "items": items}


@router.get("/findings/{finding_id}", tags=["findings"])
async def get_finding(
    finding_id: PathId, request: Request, actor: Actor = Depends(current_actor)
) -> dict[str, Any]:
    ctx = context(request)
    async with read_only(ctx.engine) as conn:
        await visible_finding(conn, actor, finding_id)
        return await finding_view(conn, finding_id, ctx.clock.now(), prefix=ctx.settings.supervision_prefix)


class RectificationIn(BaseModel):
    note: str = Field(min_length=1, max_length=MAX_NOTE_CHARS)
    photos: list[str] = Field(default_factory=list, max_length=MAX_PHOTOS)


@router.post("/findings/{finding_id}/rectification", status_code=201, tags=["findings"])
async def post_rectification(
    finding_id: PathId, body: RectificationIn, request: Request, actor: Actor = Depends(current_actor)
) -> dict[str, Any]:
    ctx = context(request)
    async with ctx.engine.begin() as conn:
        await submit_rectification(
            conn, actor, finding_id, body.note, body.photos, ctx.clock.now(), ctx.policy
        )
    async with read_only(ctx.engine) as conn:
        return await finding_view(conn, finding_id, ctx.clock.now(), prefix=ctx.settings.supervision_prefix)


class VerificationIn(BaseModel):
    accepted: bool
    note: str = Field(default="", max_length=MAX_NOTE_CHARS)
    photos: list[str] = Field(default_factory=list, max_length=MAX_PHOTOS)
    # On a rejection: the working days the facility gets; by default the item's own deadline days.
    deadline_days: int | None = Field(default=None, ge=0, le=MAX_REJECTION_DAYS)


@router.post("/findings/{finding_id}/verification", status_code=201, tags=["findings"])
async def post_verification(
    finding_id: PathId, body: VerificationIn, request: Request, actor: Actor = Depends(current_actor)
) -> dict[str, Any]:
    ctx = context(request)
    if not body.accepted and not body.note.strip():
        raise HTTPException(status_code=422, detail="note: say why the rectification is not accepted")
    async with ctx.engine.begin() as conn:
        await verify(
            conn,
            actor,
            finding_id,
            body.accepted,
            body.note,
            body.photos,
            ctx.policy,
            ctx.clock.now(),
            deadline_days=body.deadline_days,
        )
    async with read_only(ctx.engine) as conn:
        return await finding_view(conn, finding_id, ctx.clock.now(), prefix=ctx.settings.supervision_prefix)


class ActionIn(BaseModel):
    kind: Literal["urge", "interview", "notice", "referral", "suspension", "credit"]
    note: str = Field(max_length=MAX_NOTE_CHARS)
    # A referral's agency (消防救援机构, 市场监管部门, 住建部门 …).
    to: str | None = Field(default=None, max_length=200)
    # The local day it was taken; today when left out.
    on_day: date | None = None
    # The minutes or letter, photographed: ids from POST /api/photos.
    photos: list[str] = Field(default_factory=list, max_length=MAX_PHOTOS)


@router.post("/findings/{finding_id}/actions", status_code=201, tags=["findings"])
async def post_action(
    finding_id: PathId, body: ActionIn, request: Request, actor: Actor = Depends(current_actor)
) -> dict[str, Any]:
    """A section chief or bureau lead of the facility's sector records an escalation action: urge (催办),
    interview (约谈), notice (通报), referral (移送, `to` required), suspension (责令停业整顿), credit (信用措施, a
    private facility only). It appears in the finding's history and `actions`."""
    ctx = context(request)
    async with ctx.engine.begin() as conn:
        action_id = await record_action(
            conn, actor, finding_id, body.kind, body.note, body.to, body.on_day, body.photos, ctx.clock.now()
        )
    async with read_only(ctx.engine) as conn:
        return {"action_id": action_id, **await finding_view(conn, finding_id, ctx.clock.now())}


class DowngradeDecisionIn(BaseModel):
    approved: bool
    note: str = Field(default="", max_length=MAX_NOTE_CHARS)


@router.post("/findings/{finding_id}/downgrade", tags=["findings"])
async def post_downgrade_decision(
    finding_id: PathId, body: DowngradeDecisionIn, request: Request, actor: Actor = Depends(current_actor)
) -> dict[str, Any]:
    """A section chief, bureau lead or admin approves (the finding becomes general) or refuses (it stays major)
    recording a major-mapped item as general."""
    ctx = context(request)
    async with ctx.engine.begin() as conn:
        await decide_downgrade(
            conn, actor, finding_id, body.approved, body.note, ctx.catalog, ctx.policy, ctx.clock.now()
        )
    async with read_only(ctx.engine) as conn:
        return await finding_view(conn, finding_id, ctx.clock.now(), prefix=ctx.settings.supervision_prefix)


class PlanIn(BaseModel):
    """A 治理方案 with its 五落实: measures, funds, the responsible unit and person, the deadline, the interim
    safety measures and the emergency plan; `photos` a photo or scan of the signed plan (POST /api/photos)."""

    measures: str = Field(min_length=1, max_length=MAX_NOTE_CHARS)
    funds: str = Field(min_length=1, max_length=200)
    unit: str = Field(min_length=1, max_length=200)
    person: str = Field(min_length=1, max_length=100)
    deadline: date
    interim_measures: str = Field(min_length=1, max_length=MAX_NOTE_CHARS)
    emergency_plan: str = Field(min_length=1, max_length=MAX_NOTE_CHARS)
    photos: list[str] = Field(default_factory=list, max_length=MAX_PHOTOS)


@router.post("/findings/{finding_id}/plan", status_code=201, tags=["supervision"])
async def post_plan(
    finding_id: PathId, body: PlanIn, request: Request, actor: Actor = Depends(current_actor)
) -> dict[str, Any]:
    """The facility head files the 治理方案 of a major hazard of their facility."""
    ctx = context(request)
    plan = body.model_dump(exclude={"photos"})
    plan["deadline"] = body.deadline.isoformat()
    async with ctx.engine.begin() as conn:
        await supervision.file_plan(conn, actor, finding_id, plan, body.photos, ctx.policy, ctx.clock.now())
    return await _fresh_view(ctx, finding_id)


class StepNoteIn(BaseModel):
    note: str = Field(default="", max_length=MAX_NOTE_CHARS)
    photos: list[str] = Field(default_factory=list, max_length=MAX_PHOTOS)


@router.post("/findings/{finding_id}/interim", status_code=201, tags=["supervision"])
async def post_interim(
    finding_id: PathId, body: StepNoteIn, request: Request, actor: Actor = Depends(current_actor)
) -> dict[str, Any]:
    """An inspector verifies the interim measure (停用/撤人) of a major hazard; `note` says what was seen."""
    ctx = context(request)
    async with ctx.engine.begin() as conn:
        await supervision.verify_interim(
            conn, actor, finding_id, body.note, body.photos, ctx.policy, ctx.clock.now()
        )
    return await _fresh_view(ctx, finding_id)


class ProgressIn(BaseModel):
    note: str = Field(min_length=1, max_length=MAX_NOTE_CHARS)


@router.post("/findings/{finding_id}/progress", status_code=201, tags=["supervision"])
async def post_progress(
    finding_id: PathId, body: ProgressIn, request: Request, actor: Actor = Depends(current_actor)
) -> dict[str, Any]:
    """The facility head reports progress on a major hazard, between its plan and the verified rectification."""
    ctx = context(request)
    async with ctx.engine.begin() as conn:
        await supervision.report_progress(conn, actor, finding_id, body.note, ctx.policy, ctx.clock.now())
    return await _fresh_view(ctx, finding_id)


class AcceptanceIn(BaseModel):
    accepted: bool
    note: str = Field(min_length=1, max_length=MAX_NOTE_CHARS)
    photos: list[str] = Field(default_factory=list, max_length=MAX_PHOTOS)


@router.post("/findings/{finding_id}/acceptance", status_code=201, tags=["supervision"])
async def post_acceptance(
    finding_id: PathId, body: AcceptanceIn, request: Request, actor: Actor = Depends(current_actor)
) -> dict[str, Any]:
    """验收 of a verified major hazard by the section chief of its sector; `note` is the acceptance report."""
    ctx = context(request)
    async with ctx.engine.begin() as conn:
        await supervision.accept(
            conn, actor, finding_id, body.accepted, body.note, body.photos, ctx.policy, ctx.clock.now()
        )
    return await _fresh_view(ctx, finding_id)


class SignoffIn(BaseModel):
    note: str = Field(default="", max_length=MAX_NOTE_CHARS)


@router.post("/findings/{finding_id}/signoff", status_code=201, tags=["supervision"])
async def post_signoff(
    finding_id: PathId, body: SignoffIn, request: Request, actor: Actor = Depends(current_actor)
) -> dict[str, Any]:
    """The bureau lead of its sector signs off (销号) a major hazard that passed 验收: it is closed. Anyone else is
    refused (403)."""
    ctx = context(request)
    async with ctx.engine.begin() as conn:
        await supervision.sign_off(conn, actor, finding_id, body.note, ctx.policy, ctx.clock.now())
    return await _fresh_view(ctx, finding_id)


class ReferralAnswerIn(BaseModel):
    answer: str = Field(min_length=1, max_length=MAX_NOTE_CHARS)


@router.post("/findings/{finding_id}/referral", status_code=201, tags=["supervision"])
async def post_referral_answer(
    finding_id: PathId, body: ReferralAnswerIn, request: Request, actor: Actor = Depends(current_actor)
) -> dict[str, Any]:
    """The answer of the agency a suspected 重大火灾隐患 was referred to (消防救援机构), recorded by an inspector or
    the sector's chief or lead; a judgement waiting for it is complete."""
    ctx = context(request)
    async with ctx.engine.begin() as conn:
        await supervision.answer_referral(conn, actor, finding_id, body.answer, ctx.policy, ctx.clock.now())
    return await _fresh_view(ctx, finding_id)


async def _fresh_view(ctx: Context, finding_id: int) -> dict[str, Any]:
    async with read_only(ctx.engine) as conn:
        return await finding_view(conn, finding_id, ctx.clock.now(), prefix=ctx.settings.supervision_prefix)


async def finding_view(
    conn: AsyncConnection,
    finding_id: int,
    now: datetime,
    with_history: bool = True,
    prefix: str = DEFAULT_NOTICE_PREFIX,
) -> dict[str, Any]:
    view = _view(await load_finding(conn, finding_id), now)
    # A major hazard's supervision record; null for any other finding.
    view["supervision"] = await supervision_view(conn, finding_id, prefix)
    if with_history:
        rows = (
            await conn.execute(
                select(history, users.c.username, shown_name(users).label("actor_name"))
                .outerjoin(users, users.c.id == history.c.actor_id)
                .where(history.c.finding_id == finding_id)
                .order_by(history.c.id)
            )
        ).all()
        view["history"] = [
            {
                "at": r.at.isoformat(),
                "action": r.action,
                "actor": r.username,
                "actor_name": r.actor_name,
                "note": r.note,
                "data": r.data,
            }
            for r in rows
        ]
        links = (
            await conn.execute(
                select(photo_links, photos.c.content_type)
                .join(photos, photos.c.id == photo_links.c.photo_id)
                .where(photo_links.c.finding_id == finding_id)
            )
        ).all()
        view["photos"] = [{"id": p.photo_id, "stage": p.stage, "content_type": p.content_type} for p in links]
        view["actions"] = (await actions_of(conn, [finding_id])).get(finding_id, [])
    return view


async def _answer(ctx: Context, reported: Reported, now: datetime) -> tuple[list[dict[str, Any]], Visit]:
    """The findings and the visit as the inspection's POST answers them: from the rows just written, unless a
    major's supervision, a composite finding or an earlier submission has to be read."""
    rows = reported.rows
    if (
        rows is not None
        and reported.visit is not None
        and all(r.severity != Severity.MAJOR.value for r in rows)
    ):
        return [_view(row, now) | {"supervision": None} for row in rows], reported.visit
    async with read_only(ctx.engine) as conn:
        views = await new_finding_views(conn, reported.finding_ids, now, ctx.settings.supervision_prefix)
        return views, reported.visit or await visit_of(conn, reported.inspection_id)


async def new_finding_views(
    conn: AsyncConnection, finding_ids: list[int], now: datetime, prefix: str
) -> list[dict[str, Any]]:
    """The findings an inspection just reported, as finding_view shows them without history, in two queries
    rather than two per finding: only a major hazard under supervision has more to read."""
    rows = {
        f.id: f for f in (await conn.execute(select(findings).where(findings.c.id.in_(finding_ids)))).all()
    }
    supervised = set(
        (
            await conn.execute(
                select(supervisions.c.finding_id).where(supervisions.c.finding_id.in_(finding_ids))
            )
        ).scalars()
    )
    views = []
    for fid in finding_ids:
        view = _view(rows[fid], now)
        view["supervision"] = await supervision_view(conn, fid, prefix) if fid in supervised else None
        views.append(view)
    return views


def _view(f: Any, now: datetime) -> dict[str, Any]:
    """A finding as the API shows it, from its row."""
    return {
        "id": f.id,
        "inspection_id": f.inspection_id,
        "facility_id": f.facility_id,
        "order_id": f.order_id,
        "item": {
            "code": f.item_code,
            "category": f.category,
            "zh": f.item_zh,
            "en": f.item_en,
            "basis": f.basis,
        },
        "description": f.description,
        "status": f.status,
        "severity": f.severity,
        "severity_rule": f.severity_rule,
        "severity_reason": f.severity_reason,
        "downgrade": f.downgrade,
        "mode": f.mode,
        "listed_for_supervision": f.listed_for_supervision,
        "stop_use": f.stop_use,
        "deadline": f.due_day.isoformat() if f.due_day else None,
        "due_at": f.due_at.isoformat() if f.due_at else None,
        "deadline_estimated": f.due_estimated,
        "deadline_warning": fallback_years_warning({f.due_day.year})
        if f.due_estimated and f.due_day
        else None,
        "overdue": bool(f.status == Status.ORDERED.value and f.due_at and f.due_at < now),
        "owner": {"user_id": f.owner_user_id, "name": f.owner_name, "email": f.owner_email}
        if f.owner_name
        else None,
        "escalation_level": f.escalation_level,
        # While the rectification waits for 复查: the day it is to be verified by, and whether that has passed.
        "review_deadline": f.review_day.isoformat() if f.review_day else None,
        "review_overdue": bool(
            f.status == Status.SUBMITTED.value and f.review_due_at and f.review_due_at < now
        ),
        "review_level": f.review_level,
        "round": f.round,
        "reported_at": f.reported_at.isoformat(),
        "closed_at": f.closed_at.isoformat() if f.closed_at else None,
    }


__all__ = ["router"]
