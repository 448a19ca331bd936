"""The demo's orders are mailed to their facilities, as every issued order is, once the worker runs."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from tests.support.fast import react
from tracker.entry.demo import seed
from tracker.store.tables import mail, orders

NOW = datetime(2026, 11, 18, 2, 0, tzinfo=UTC)


async def test_every_order_of_the_demo_is_mailed_to_its_facility(open_stack):
    stack = await open_stack(fast=True, smtp=False, start=False, facilities=())
    assert await seed(stack.engine, stack.catalog, NOW)
    await react(stack.ctx, NOW)
    async with stack.engine.connect() as conn:
        issued = set((await conn.execute(select(orders.c.id))).scalars())
        mailed = set((await conn.execute(select(mail.c.about).where(mail.c.kind == "order"))).scalars())
    assert issued and mailed == {f"order:{order_id}" for order_id in issued}
