"""Signed tokens: bearer tokens for people, and links in mail that open one order and nothing else."""

from __future__ import annotations

from datetime import datetime, timedelta

import jwt

ALGORITHM = "HS256"


class BadToken(Exception):
    pass


def sign(secret: str, subject: str, now: datetime, lifetime: timedelta, **claims: object) -> str:
    payload = {
        "sub": subject,
        "iat": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
        **claims,
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def read(secret: str, token: str, now: datetime) -> dict:
    try:
        options = {"verify_exp": False, "verify_iat": False}
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options=options)
    except jwt.PyJWTError as error:
        raise BadToken(str(error)) from None
    # Times are checked against the injected clock, not the machine's (PyJWT would refuse an issue time
    # after the machine's now).
    if claims.get("exp", 0) < now.timestamp():
        raise BadToken("token expired")
    return claims


# An order link opens its order for at most this long after it was mailed, however long the order stays open
# (each reminder and decision mails a fresh one).
ORDER_LINK_DAYS = 60


class LinkEnded(BadToken):
    """A genuine order link that no longer opens its order: the order closed long enough ago, or the facility's
    head changed since it was mailed."""


def order_link(
    base_url: str, secret: str, order_id: int, head_id: int | None, now: datetime, days: int = ORDER_LINK_DAYS
) -> str:
    """The link mailed to a facility: it names the order and the head it acts for (`head_id`, the user who
    answers through it; None when the facility has no account yet)."""
    token = sign(secret, f"order:{order_id}", now, timedelta(days=days), scope="order", head=head_id)
    return f"{base_url}/orders/{order_id}?token={token}"


def check_order_link(
    claims: dict, head_id: int | None, closed_at: datetime | None, now: datetime, grace: timedelta
) -> None:
    """A link acts for the head it was mailed to, not for whoever heads the facility now; and it keeps the order
    open until `grace` after the order's last finding closed, long enough to read the closure, no longer."""
    if "head" not in claims or claims["head"] != head_id:
        raise LinkEnded("the facility's head changed since the link was sent")
    if closed_at is not None and now >= closed_at + grace:
        raise LinkEnded("the order was closed")
