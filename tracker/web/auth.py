"""Who is asking: logins, sessions by cookie or bearer token, and the anti-forgery values of forms."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tracker.domain.model import Actor, Role
from tracker.service import logins
from tracker.service.context import Context
from tracker.service.sectors import sectors_of
from tracker.store.db import read_only

SESSION_HOURS = int(logins.SESSION_LIFETIME.total_seconds() // 3600)
COOKIE = "tracker_session"
# The login form's anti-forgery value, set by GET /login before there is a session to bind one to.
LOGIN_COOKIE = "tracker_login"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_bearer = HTTPBearer(auto_error=False)


def context(request: Request) -> Context:
    return request.app.state.ctx


class LoginThrottled(HTTPException):
    def __init__(self, retry_after: int) -> None:
        super().__init__(
            status_code=429,
            detail=f"too many failed logins; try again in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )
        self.retry_after = retry_after


async def login(request: Request, username: str, password: str) -> str | None:
    """A session token for the name and password, or None; LoginThrottled (429) while attempts must wait."""
    address = request.client.host if request.client else None
    try:
        return await logins.login(context(request), username, password, address)
    except logins.Throttled as refused:
        raise LoginThrottled(refused.retry_after) from None


async def actor_from_token(ctx: Context, token: str) -> Actor | None:
    async with read_only(ctx.engine) as conn:
        row = await logins.session_user(ctx, conn, token)
        if row is None:
            return None
        sectors = await sectors_of(conn, row.id)
    return Actor(
        id=row.id,
        username=row.username,
        role=Role(row.role),
        facility_id=row.facility_id,
        town=row.town,
        sectors=sectors,
        display_name=row.name or "",
    )


def csrf_token(secret: str, session: str) -> str:
    """The anti-forgery value for one session: pages put it in forms and send it as the X-CSRF-Token header."""
    return hmac.new(secret.encode(), f"csrf:{session}".encode(), hashlib.sha256).hexdigest()[:40]


def csrf_valid(secret: str, session: str | None, given: str | None) -> bool:
    return bool(session and given) and hmac.compare_digest(csrf_token(secret, session or ""), given or "")


def page_csrf(request: Request) -> dict[str, str]:
    """The session's anti-forgery value for a template (the logout form on every page needs it)."""
    session = request.cookies.get(COOKIE)
    return {"csrf": csrf_token(context(request).secret, session) if session else ""}


def login_form_token(secret: str) -> str:
    """A fresh value for the login form and its cookie: a random word and our signature of it, so a value
    made up elsewhere is refused even when a cookie was planted to match it."""
    word = secrets.token_urlsafe(16)
    return f"{word}.{_login_mac(secret, word)}"


def login_form_valid(secret: str, cookie: str | None, given: str | None) -> bool:
    if not cookie or not given or not hmac.compare_digest(cookie, given):
        return False
    word, _, mac = cookie.partition(".")
    return hmac.compare_digest(mac, _login_mac(secret, word))


def _login_mac(secret: str, word: str) -> str:
    return hmac.new(secret.encode(), f"login:{word}".encode(), hashlib.sha256).hexdigest()[:40]


async def session_actor(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
) -> Actor:
    """Who is asking, by bearer token or session cookie, without the anti-forgery check (pages do their own)."""
    ctx = context(request)
    token = credentials.credentials if credentials else request.cookies.get(COOKIE)
    actor = await actor_from_token(ctx, token) if token else None
    if actor is None:
        raise HTTPException(
            status_code=401,
            detail="not logged in or the session expired",
            headers={"WWW-Authenticate": "Bearer"},
        )
    request.state.actor = actor  # the page's navigation is this person's
    return actor


async def page_actor(request: Request) -> Actor | None:
    """Who is looking at a page that anyone may open (home, an error page), by the session cookie; None when
    nobody is logged in. Kept on the request for the navigation."""
    known = getattr(request.state, "actor", None)
    if known is not None:
        return known
    token = request.cookies.get(COOKIE)
    actor = await actor_from_token(context(request), token) if token else None
    if actor is not None:
        request.state.actor = actor
    return actor


async def current_actor(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
) -> Actor:
    actor = await session_actor(request, credentials)
    # A browser sends the session cookie by itself; a write made with it must also prove it comes from our
    # own pages. Bearer tokens are never sent by a browser unasked, so they need no such proof.
    if credentials is None and request.method not in SAFE_METHODS:
        ctx = context(request)
        if not csrf_valid(ctx.secret, request.cookies.get(COOKIE), request.headers.get(CSRF_HEADER)):
            raise HTTPException(status_code=403, detail=f"missing or wrong {CSRF_HEADER} header")
    return actor


def require_roles(*roles: Role):
    async def dependency(actor: Actor = Depends(current_actor)) -> Actor:
        if actor.role not in roles:
            raise HTTPException(status_code=403, detail=f"this needs one of the roles: {', '.join(roles)}")
        return actor

    return dependency
