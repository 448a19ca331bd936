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
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"verify_exp": False})
    except jwt.PyJWTError as error:
        raise BadToken(str(error)) from None
    # Expiry is checked against the injected clock, not the machine's.
    if claims.get("exp", 0) < now.timestamp():
        raise BadToken("token expired")
    return claims


def order_link(base_url: str, secret: str, order_id: int, now: datetime, days: int = 60) -> str:
    token = sign(secret, f"order:{order_id}", now, timedelta(days=days), scope="order")
    return f"{base_url}/orders/{order_id}?token={token}"
