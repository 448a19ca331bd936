"""What every page shares: the template set, rendering, page errors and the checks on a form."""

from __future__ import annotations

from datetime import date, datetime
from types import SimpleNamespace
from typing import Annotated, Any

from fastapi import Depends, Form, Request, UploadFile
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from tracker.domain.errors import DomainError, NotFound
from tracker.domain.model import Actor, ExtensionStatus, Mode
from tracker.domain.time import local_day
from tracker.service.context import Context
from tracker.service.loop import (
    MAX_EXTENSION_DAYS,
)
from tracker.service.photos import NotAPhoto, PhotoTooLarge
from tracker.service.visibility import visible_facility
from tracker.store.people import shown_name
from tracker.store.tables import (
    extension_requests,
    history,
    users,
)
from tracker.text.catalogue import lang_of, translate
from tracker.text.templating import environment
from tracker.web.api import save_photo
from tracker.web.auth import COOKIE, context, csrf_token, csrf_valid, current_actor, session_actor
from tracker.web.limits import MAX_NOTE_CHARS, MAX_PHOTOS, note_length

templates = Jinja2Templates(env=environment())
templates.env.globals.update(max_note=MAX_NOTE_CHARS, max_photos=MAX_PHOTOS)


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


def refusal(request: Request, error: PageError | DomainError) -> tuple[str, int]:
    """What a page says, and with which status, when a step is refused: in the reader's words for a form's
    own checks, the rule's sentence otherwise."""
    if isinstance(error, PageError):
        return words(request, error.key), error.status_code
    return str(error), error.status_code


def render(request: Request, name: str, values: dict[str, Any], status_code: int = 200) -> Response:
    ctx = context(request)
    session = request.cookies.get(COOKIE)
    base = {"csrf": csrf_token(ctx.secret, session) if session else "", "catalog": ctx.catalog}
    return templates.TemplateResponse(request, name, {**base, **values}, status_code=status_code)


def error_page(request: Request, status_code: int, key: str, **values: Any) -> Response:
    return render(
        request, "error.html", {"message_key": key, "message_values": values}, status_code=status_code
    )


def words(request: Request, key: str, **values: Any) -> str:
    return translate(lang_of(request), key, **values)


def check_csrf(request: Request, given: str | None) -> None:
    if not csrf_valid(context(request).secret, request.cookies.get(COOKIE), given):
        raise PageError(403, "err.csrf")


def check_length(*texts: str) -> None:
    # The text box stops at the limit; a request made by hand is refused the same way.
    if any(note_length(text) > MAX_NOTE_CHARS for text in texts):
        raise PageError(422, "err.too_long")
    # A NUL cannot be stored (PostgreSQL refuses it in any text) and nobody types one.
    if any("\x00" in text for text in texts):
        raise PageError(422, "err.control")


def safe_next(target: str) -> str:
    # Only a local path: a link must not bounce anyone to another site ("//host", "/\\host").
    return target if target.startswith("/") and not target.startswith(("//", "/\\")) else "/"


def local_today(now: datetime) -> date:
    return local_day(now)


# ---- shared by several pages ------------------------------------------------------------------------------


async def facility_for(conn: AsyncConnection, actor: Actor, facility_id: int) -> Row:
    try:
        return await visible_facility(conn, actor, facility_id)
    except NotFound:
        raise PageError(404, "err.no_facility") from None


async def save_photos(
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


def days_value(text: str) -> int:
    try:
        days = int(text.strip())
    except ValueError:
        raise PageError(422, "extension.days_bad") from None
    if not 1 <= days <= MAX_EXTENSION_DAYS:
        raise PageError(422, "extension.days_bad")
    return days


async def extensions_of(conn: AsyncConnection, finding_ids: list[int]) -> dict[int, list[SimpleNamespace]]:
    """The requests for more time on these findings, newest first, with who asked and who decided (by name)
    and, once accepted, the working days granted, which may be fewer than were asked for."""
    if not finding_ids:
        return {}
    asker = users.alias("asker")
    decider = users.alias("decider")
    rows = (
        await conn.execute(
            select(
                extension_requests,
                shown_name(asker).label("asked_by"),
                shown_name(decider).label("decided_by_name"),
            )
            .join(asker, asker.c.id == extension_requests.c.requested_by)
            .outerjoin(decider, decider.c.id == extension_requests.c.decided_by)
            .where(extension_requests.c.finding_id.in_(finding_ids))
            .order_by(extension_requests.c.id.desc())
        )
    ).all()
    # The days granted are written on the history row of the acceptance, by request.
    granted: dict[int, int] = {}
    for (data,) in (
        await conn.execute(
            select(history.c.data).where(
                history.c.finding_id.in_(finding_ids), history.c.action == "extension_accepted"
            )
        )
    ).all():
        if isinstance(data, dict) and data.get("request_id") is not None and data.get("days") is not None:
            granted[int(data["request_id"])] = int(data["days"])
    out: dict[int, list[SimpleNamespace]] = {}
    for r in rows:
        days = granted.get(r.id, r.days) if r.status == ExtensionStatus.ACCEPTED else None
        out.setdefault(r.finding_id, []).append(SimpleNamespace(**r._mapping, granted_days=days))
    return out


def days_left(view: dict[str, Any], now: datetime) -> int | None:
    if not view.get("deadline"):
        return None
    return (datetime.fromisoformat(view["deadline"]).date() - local_today(now)).days
