"""The language switch: a cookie, then back to the page the person came from."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from tracker.text.catalogue import COOKIE, LANGS
from tracker.web.pages.common import (
    LANG_COOKIE_DAYS,
    safe_next,
)

router = APIRouter(include_in_schema=False)


@router.get("/lang/{code}")
async def switch_language(code: str, next: str = "/") -> Response:
    response = RedirectResponse(safe_next(next), status_code=303)
    if code in LANGS:
        response.set_cookie(COOKIE, code, max_age=LANG_COOKIE_DAYS * 86400, samesite="lax")
    return response
