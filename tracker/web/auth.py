"""Who is asking: passwords, bearer tokens, and the order links' tokens."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

import bcrypt
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select

from tracker import tokens
from tracker.domain.model import Actor, Role
from tracker.service.context import Context
from tracker.store.db import read_only
from tracker.store.tables import users

SESSION_HOURS = 12
COOKIE = "tracker_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_bearer = HTTPBearer(auto_error=False)


def hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()


def check_password(password: str, hashed: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode(), hashed.encode())
    except ValueError:
        return False


def context(request: Request) -> Context:
    return request.app.state.ctx


async def login(ctx: Context, username: str, password: str) -> str | None:
    async with read_only(ctx.engine) as conn:
        row = (await conn.execute(select(users).where(users.c.username == username, users.c.active))).first()
    if row is None or not check_password(password, row.password_hash):
        return None
    return tokens.sign(
        ctx.secret, f"user:{row.id}", ctx.clock.now(), timedelta(hours=SESSION_HOURS), scope="user"
    )


async def actor_from_token(ctx: Context, token: str) -> Actor | None:
    try:
        claims = tokens.read(ctx.secret, token, ctx.clock.now())
    except tokens.BadToken:
        return None
    subject = str(claims.get("sub", ""))
    if claims.get("scope") != "user" or not subject.startswith("user:"):
        return None
    async with read_only(ctx.engine) as conn:
        row = (
            await conn.execute(select(users).where(users.c.id == int(subject[5:]), users.c.active))
        ).first()
    if row is None:
        return None
    return Actor(
        id=row.id, username=row.username, role=Role(row.role), facility_id=row.facility_id, town=row.town
    )


def csrf_token(secret: str, session: str) -> str:
    """The anti-forgery value for one session: pages put it in forms and send it as the X-CSRF-Token header."""
    return hmac.new(secret.encode(), f"csrf:{session}".encode(), hashlib.sha256).hexdigest()[:40]


def csrf_valid(secret: str, session: str | None, given: str | None) -> bool:
    return bool(session and given) and hmac.compare_digest(csrf_token(secret, session or ""), given or "")


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
