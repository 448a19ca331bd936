"""Logging in and out: attempts throttled per account and per client address, a password check that costs the
same whether or not the person exists, and sessions that logout, a new password or deactivation end at once."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tracker import tokens
from tracker.domain import throttle
from tracker.passwords import password_matches
from tracker.service.context import Context
from tracker.store.db import insert_ignoring_duplicates
from tracker.store.tables import login_failures, sessions, users

log = logging.getLogger(__name__)

SESSION_LIFETIME = timedelta(hours=12)


class Throttled(Exception):
    """Too many failed logins for this account or from this address; try again after `wait`."""

    def __init__(self, wait: timedelta) -> None:
        super().__init__(f"too many failed logins; try again in {self.seconds(wait)} s")
        self.wait = wait

    @staticmethod
    def seconds(wait: timedelta) -> int:
        return max(1, math.ceil(wait.total_seconds()))

    @property
    def retry_after(self) -> int:
        return self.seconds(self.wait)


async def login(ctx: Context, username: str, password: str, address: str | None) -> str | None:
    """A token for a new session, or None for a wrong name or password; Throttled while the account or the
    address must wait. The attempt is counted as failed before the password is checked and forgiven when it
    is right, so a burst of guesses sent at once cannot all pass before the first failure is counted."""
    now = ctx.clock.now()
    tallies = {
        _key("account", username): throttle.ACCOUNT,
        _key("address", throttle.address_key(address)): throttle.ADDRESS,
    }
    async with ctx.engine.begin() as conn:
        wait, before = await _count_attempt(conn, tallies, now)
        user = None
        if not wait:
            user = (
                await conn.execute(
                    select(users.c.id, users.c.password_hash).where(
                        users.c.username == username, users.c.active
                    )
                )
            ).first()
    if wait:
        log.warning("login refused for %r from %s: %d s to wait", username, address, Throttled.seconds(wait))
        raise Throttled(wait)
    # bcrypt lets go of the interpreter while it works: other requests go on meanwhile.
    if not await asyncio.to_thread(password_matches, password, user.password_hash if user else None):
        log.warning("login failed for %r from %s", username, address)
        return None
    assert user is not None
    account, place = tallies
    async with ctx.engine.begin() as conn:
        await conn.execute(delete(login_failures).where(login_failures.c.key == account))
        # The address is given back the attempt, and its last failure's time too unless another came since.
        last = login_failures.c.last_failed_at
        await conn.execute(
            update(login_failures)
            .where(login_failures.c.key == place, login_failures.c.failures > 0)
            .values(
                failures=login_failures.c.failures - 1,
                last_failed_at=case((last == now, before[place].last_failed_at), else_=last),
            )
        )
        session = await _open_session(conn, user.id, now)
    return tokens.sign(ctx.secret, f"user:{user.id}", now, SESSION_LIFETIME, scope="user", sid=session)


async def _count_attempt(
    conn: AsyncConnection, tallies: dict[str, throttle.Rule], now: datetime
) -> tuple[timedelta, dict[str, throttle.Tally]]:
    """The wait still due on any of the tallies, and the tallies as they were; when there is no wait, the
    attempt is counted as a failure on each."""
    await conn.execute(
        delete(login_failures).where(login_failures.c.last_failed_at < now - throttle.STALE_AFTER)
    )
    await conn.execute(
        insert_ignoring_duplicates(conn, login_failures),
        [{"key": key, "failures": 0, "last_failed_at": now} for key in tallies],
    )
    # Locked in key order, the same in every process, so two attempts cannot wait for each other.
    rows = await conn.execute(
        select(login_failures)
        .where(login_failures.c.key.in_(list(tallies)))
        .order_by(login_failures.c.key)
        .with_for_update()
    )
    known = {row.key: throttle.Tally(row.failures, row.last_failed_at) for row in rows}
    wait = max(throttle.wait_left(rule, known[key], now) for key, rule in tallies.items())
    if wait:
        return wait, known
    for key, rule in tallies.items():
        tally = throttle.after_failure(rule, known[key], now)
        await conn.execute(
            update(login_failures)
            .where(login_failures.c.key == key)
            .values(failures=tally.failures, last_failed_at=tally.last_failed_at)
        )
    return timedelta(0), known


def _key(kind: str, value: str) -> str:
    # A digest: names and addresses of any length and alphabet make keys of one size.
    return f"{kind}:{hashlib.sha256(value.encode()).hexdigest()}"


async def forgive_account(conn: AsyncConnection, username: str) -> None:
    await conn.execute(delete(login_failures).where(login_failures.c.key == _key("account", username)))


async def _open_session(conn: AsyncConnection, user_id: int, now: datetime) -> str:
    session = secrets.token_urlsafe(32)
    await conn.execute(delete(sessions).where(sessions.c.expires_at < now))
    await conn.execute(
        insert(sessions).values(id=session, user_id=user_id, issued_at=now, expires_at=now + SESSION_LIFETIME)
    )
    return session


def _claims(ctx: Context, token: str) -> dict[str, Any] | None:
    try:
        claims = tokens.read(ctx.secret, token, ctx.clock.now())
    except tokens.BadToken:
        return None
    subject = str(claims.get("sub", ""))
    if claims.get("scope") != "user" or not subject.startswith("user:") or not subject[5:].isdigit():
        return None
    if not isinstance(claims.get("sid"), str):
        return None
    return claims


async def session_user(ctx: Context, conn: AsyncConnection, token: str) -> Any | None:
    """The active person whose open session `token` names, or None."""
    claims = _claims(ctx, token)
    if claims is None:
        return None
    asked = {"session": claims["sid"], "user": int(claims["sub"][5:]), "now": ctx.clock.now()}
    return (await conn.execute(_SESSION_USER, asked)).first()


# Every request asks it: built once.
_SESSION_USER = (
    select(users)
    .join(sessions, sessions.c.user_id == users.c.id)
    .where(
        sessions.c.id == bindparam("session"),
        users.c.id == bindparam("user"),
        users.c.active,
        sessions.c.expires_at > bindparam("now"),
    )
)


async def logout(ctx: Context, token: str) -> None:
    """End the session `token` names: the cookie and the same token as a bearer are refused from now on."""
    claims = _claims(ctx, token)
    if claims is None:
        return
    async with ctx.engine.begin() as conn:
        await conn.execute(delete(sessions).where(sessions.c.id == claims["sid"]))


async def end_sessions_of(conn: AsyncConnection, user_id: int) -> int:
    """End every session of one person (a new password, deactivation); how many were open."""
    return (await conn.execute(delete(sessions).where(sessions.c.user_id == user_id))).rowcount
