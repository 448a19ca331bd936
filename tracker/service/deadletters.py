"""Dead letters: the events a consumer gave up on (tracker.handlers.base.dead_letter), kept with the reason,
and sent again once the cause is fixed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import nats
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from tracker.store.tables import dead_letters


async def listed(engine: AsyncEngine, include_replayed: bool = False) -> list[Any]:
    """The dead letters, oldest first; those already sent again only with `include_replayed`."""
    query = select(dead_letters).order_by(dead_letters.c.id)
    if not include_replayed:
        query = query.where(dead_letters.c.replayed_at.is_(None))
    async with engine.connect() as conn:
        return list((await conn.execute(query)).all())


async def replay(
    engine: AsyncEngine, servers: list[str], ids: Sequence[int] | None, now: datetime
) -> list[int]:
    """Publish the event of each dead letter (those of `ids`, or every one not sent again yet) once more on
    its own subject, and mark it sent. Every consumer of the subject sees the event again: those that handled
    it already skip it (handled_events), the one that gave up runs it. A letter is published under a message
    id of its own, so a replay interrupted between publishing and marking is not delivered twice. Returns the
    ids sent."""
    query = select(dead_letters).where(dead_letters.c.replayed_at.is_(None)).order_by(dead_letters.c.id)
    if ids is not None:
        query = query.where(dead_letters.c.id.in_(ids))
    async with engine.connect() as conn:
        letters = (await conn.execute(query)).all()
    if not letters:
        return []
    client = await nats.connect(servers)
    sent: list[int] = []
    try:
        stream = client.jetstream()
        for letter in letters:
            await stream.publish(
                letter.subject,
                letter.payload.encode("utf-8"),
                headers={"Nats-Msg-Id": f"dead-letter-{letter.id}"},
            )
            async with engine.begin() as conn:
                await conn.execute(
                    update(dead_letters)
                    .where(dead_letters.c.id == letter.id, dead_letters.c.replayed_at.is_(None))
                    .values(replayed_at=now)
                )
            sent.append(letter.id)
    finally:
        await client.close()
    return sent
