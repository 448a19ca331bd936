"""The links that open one order from its mail: made for the facility's head of the moment, and checked against
the head and the order's state when opened."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from tracker import tokens
from tracker.domain.model import Role
from tracker.service.context import Context
from tracker.store.tables import findings, orders, users


async def facility_head(conn: AsyncConnection, facility_id: int) -> Row | None:
    """The user who answers for the facility: its first active facility head (as the order's owner is chosen)."""
    return (await conn.execute(_HEAD, {"facility_id": facility_id})).first()


async def facility_heads(conn: AsyncConnection, facility_ids: list[int]) -> dict[int, Row]:
    """facility_head of each facility that has one, by facility id."""
    heads: dict[int, Row] = {}
    for head in await conn.execute(_HEADS, {"facility_ids": facility_ids}):
        heads.setdefault(head.facility_id, head)  # the first, by id
    return heads


_HEAD = (
    select(users)
    .where(
        users.c.facility_id == bindparam("facility_id"),
        users.c.role == Role.FACILITY_HEAD.value,
        users.c.active,
    )
    .order_by(users.c.id)
    .limit(1)
)
_HEADS = (
    select(users)
    .where(
        users.c.facility_id.in_(bindparam("facility_ids", expanding=True)),
        users.c.role == Role.FACILITY_HEAD.value,
        users.c.active,
    )
    .order_by(users.c.id)
)


# An order's findings, joined through its inspection, which is indexed (findings.order_id is not): they are some of
# the inspection's.
OF_THE_ORDER = and_(findings.c.inspection_id == orders.c.inspection_id, findings.c.order_id == orders.c.id)


async def order_closed_at(conn: AsyncConnection, order_id: int) -> datetime | None:
    """When the order's last finding was closed; None while any is open."""
    total, closed, last = (
        await conn.execute(
            select(
                func.count(findings.c.id), func.count(findings.c.closed_at), func.max(findings.c.closed_at)
            )
            .select_from(orders.join(findings, OF_THE_ORDER))
            .where(orders.c.id == order_id)
        )
    ).one()
    return last if total and closed == total else None


async def order_link(
    conn: AsyncConnection, ctx: Context, order_id: int, now: datetime, facility_id: int | None = None
) -> str:
    """The order's page, signed for its facility's head; `facility_id` when the caller has read the order."""
    if facility_id is None:
        facility_id = await conn.scalar(select(orders.c.facility_id).where(orders.c.id == order_id))
    head = await facility_head(conn, facility_id)
    return tokens.order_link(ctx.settings.base_url, ctx.secret, order_id, head.id if head else None, now)
