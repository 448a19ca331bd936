"""The facility head's order page, opened from the mail by its signed token or from a session."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from tracker import tokens
from tracker.documents.order import OrderMissing, order_number, order_pdf
from tracker.documents.order import ascii_filename as order_ascii_filename
from tracker.documents.order import filename as order_filename
from tracker.domain import model
from tracker.domain.errors import DomainError
from tracker.domain.model import Actor, ExtensionStatus, Role, Status
from tracker.service.loop import (
    MAX_EXTENSION_DAYS,
    load_finding,
    request_extension,
    submit_rectification,
)
from tracker.service.order_links import facility_head, order_closed_at
from tracker.service.photos import THUMBNAIL_TYPE, thumbnail_file
from tracker.service.visibility import sees
from tracker.store.db import read_only
from tracker.store.tables import (
    facilities,
    findings,
    orders,
    photo_links,
    photos,
)
from tracker.web.api import finding_view, served_upload
from tracker.web.auth import context, session_actor
from tracker.web.bounds import PathId
from tracker.web.pages.common import (
    PageError,
    Photos,
    check_csrf,
    check_length,
    days_left,
    days_value,
    error_page,
    extensions_of,
    refusal,
    render,
    save_photos,
)

router = APIRouter(include_in_schema=False)


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
        id=row.id,
        username=row.username,
        role=Role(row.role),
        facility_id=row.facility_id,
        town=row.town,
        display_name=row.name or "",
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
            if not sees(actor, facility):
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
                    # Through the order's inspection, which is indexed: its findings are some of the inspection's.
                    .where(
                        findings.c.inspection_id == access.order.inspection_id,
                        findings.c.order_id == access.order.id,
                    )
                    .order_by(findings.c.id)
                )
            )
            .scalars()
            .all()
        )
        views = [await finding_view(conn, fid, now, prefix=ctx.settings.supervision_prefix) for fid in ids]
        requests = await extensions_of(conn, list(ids))
    for view in views:
        view["days_left"] = days_left(view, now)
        view["extensions"] = requests.get(view["id"], [])
        view["pending"] = next((r for r in view["extensions"] if r.status == ExtensionStatus.PENDING), None)
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
        check_csrf(request, csrf)
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
    # What was typed comes back with any refusal; chosen photos cannot (a browser never refills a file field).
    kept = {"finding": finding_id, "note": note, "photos": any(f.filename or f.size for f in photo or [])}
    try:
        access = await _order_access(request, order_id, token or None)
    except PageError as error:
        return error_page(request, error.status_code, error.key)
    try:
        await _check_answer(request, access, order_id, finding_id, token, csrf)
        if not note.strip():
            raise PageError(422, "order.note_needed")
        check_length(note)
        async with read_only(ctx.engine) as conn:
            finding = await load_finding(conn, finding_id)
        model.may_submit_rectification(access.head, finding.facility_id)
        model.submit(Status(finding.status))  # already answered: refused before any photo is stored
        photo_ids = await save_photos(ctx, photo, access.head.id)
        async with ctx.engine.begin() as conn:
            # The same service step as the API's, acting as the facility's head.
            await submit_rectification(
                conn, access.head, finding_id, note.strip(), photo_ids, ctx.clock.now(), ctx.policy
            )
    except (PageError, DomainError) as error:
        return await _order_page(request, access, *refusal(request, error), kept=kept)
    sep = "&" if access.query else "?"
    return RedirectResponse(
        f"/orders/{order_id}{access.query}{sep}sent={finding_id}#f{finding_id}", status_code=303
    )


@router.get("/orders/{order_id}/photos/{photo_id}")
async def order_photo(
    request: Request, order_id: PathId, photo_id: str, token: str | None = None
) -> Response:
    photo = await _order_photo(request, order_id, photo_id, token)
    if isinstance(photo, Response):
        return photo
    return served_upload(
        context(request).settings.photo_dir / photo.id,
        photo.content_type,
        {"Cache-Control": "private, max-age=86400"},
    )


@router.get("/orders/{order_id}/photos/{photo_id}/thumbnail")
async def order_photo_thumbnail(
    request: Request, order_id: PathId, photo_id: str, token: str | None = None
) -> Response:
    """The photo's thumbnail, to whoever may open the photo itself."""
    photo = await _order_photo(request, order_id, photo_id, token)
    if isinstance(photo, Response):
        return photo
    path = await thumbnail_file(context(request).settings.photo_dir, photo)
    if path is None:
        return error_page(request, 404, "err.not_found")
    return FileResponse(path, media_type=THUMBNAIL_TYPE)


async def _order_photo(
    request: Request, order_id: int, photo_id: str, token: str | None
) -> Row[Any] | Response:
    """A photo of one of the order's findings, for whoever holds the order's link or may see its facility; else
    the error page to answer with."""
    try:
        access = await _order_access(request, order_id, token)
    except PageError as error:
        return error_page(request, error.status_code, error.key)
    async with read_only(context(request).engine) as conn:
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
    return photo


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
        wanted = days_value(days)
        if not reason.strip():
            raise PageError(422, "extension.reason_needed")
        check_length(reason)
        async with ctx.engine.begin() as conn:
            await request_extension(conn, access.head, finding_id, wanted, reason.strip(), ctx.clock.now())
    except (PageError, DomainError) as error:
        return await _order_page(request, access, *refusal(request, error), kept=kept)
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
    ctx = context(request)
    try:
        data = await order_pdf(ctx.engine, access.order.id, ctx.settings)
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
