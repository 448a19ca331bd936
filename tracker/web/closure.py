"""`GET /findings/{id}/closure.pdf`: the 销号 document of a signed-off major hazard, as it was filed upward.

For the bureau's people who may see the finding (tracker.service.visibility): inspectors, section chiefs, leads,
admins, and the town officer of its town. A facility head is told it does not exist, as is anyone for a finding
out of their reach or not (yet) signed off: the document is the bureau's filing, not served on the facility."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from tracker.documents.closure import ClosureMissing, ascii_filename, closure_pdf, filename
from tracker.domain.errors import NotFound
from tracker.domain.model import Actor, Role
from tracker.service.visibility import visible_finding
from tracker.store.db import read_only
from tracker.web.auth import context, current_actor
from tracker.web.bounds import PathId
from tracker.web.pages import error_page

# A page download like the order and record PDFs: HTML errors, not part of the JSON API.
router = APIRouter(include_in_schema=False)
Who = Annotated[Actor, Depends(current_actor)]


@router.get("/findings/{finding_id}/closure.pdf")
async def closure_document(request: Request, finding_id: PathId, actor: Who) -> Response:
    """The 重大事故隐患治理销号备案表 of a major hazard signed off by its sector's bureau lead."""
    ctx = context(request)
    if actor.role is Role.FACILITY_HEAD:
        return error_page(request, 404, "err.not_found")
    async with read_only(ctx.engine) as conn:
        try:
            await visible_finding(conn, actor, finding_id)
        except NotFound:
            return error_page(request, 404, "err.not_found")
    try:
        supervision, data = await closure_pdf(ctx.engine, finding_id, ctx.settings)
    except ClosureMissing:
        return error_page(request, 404, "err.not_found")
    return Response(
        data,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{ascii_filename(supervision)}"; '
            f"filename*=UTF-8''{quote(filename(supervision))}",
            "Cache-Control": "private, no-store",
        },
    )
