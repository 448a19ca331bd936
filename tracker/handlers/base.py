"""One wrapper for every handler: decode, dead-letter what cannot be read, run once per event, retry with backoff."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from tracker.events.codec import UndecodableEvent
from tracker.events.schemas import Event
from tracker.events.stream import deadletter_subject
from tracker.service.context import Context
from tracker.store.outbox import first_times
from tracker.store.tables import dead_letters
from tracker.store.writer import write

log = logging.getLogger("tracker.handlers")

MAX_DELIVER = 8
EVENTS_PER_TRANSACTION = 10
# An effect is given an event, or the list of a transaction's events when its reaction works `together`.
Effect = Callable[[Any, AsyncConnection, Context, datetime], Awaitable[None]]


@dataclass(frozen=True)
class Reaction:
    """A durable consumer: `effect` runs for each event of type `event` in one transaction. It reads the
    `subjects` given (by default its event's own), and acts on those events that it `wants`. An effect that
    works `together` is given the events of a transaction as one list, to do each kind of work for them all at
    once."""

    consumer: str
    event: type[Event]
    effect: Effect
    description: str
    wants: Callable[[Event], bool] = lambda event: True
    subjects: tuple[str, ...] = ()
    together: bool = False

    def __post_init__(self) -> None:
        if not self.subjects:
            object.__setattr__(self, "subjects", (self.event.subject(),))


def backoff_seconds(delivered: int) -> float:
    return min(60.0, 0.5 * 2 ** (delivered - 1))


async def dead_letter(
    ctx: Context,
    publish: Callable[..., Awaitable[object]],
    consumer: str,
    subject: str,
    body: bytes,
    reason: str,
) -> None:
    log.warning("dead-lettered a message on %s for %s: %s", subject, consumer, reason)
    await publish(
        body,
        deadletter_subject(subject),
        headers={"Tracker-Reason": reason[:1000], "Tracker-Consumer": consumer},
    )
    async with ctx.engine.begin() as conn:
        await conn.execute(
            insert(dead_letters).values(
                consumer=consumer,
                subject=subject,
                reason=reason,
                at=ctx.clock.now(),
                payload=body.decode("utf-8", errors="replace"),
            )
        )


async def handle_one(reaction: Reaction, ctx: Context, event: Event) -> None:
    await handle_batch(reaction, ctx, [event])


async def handle_batch(reaction: Reaction, ctx: Context, events: list[Event]) -> None:
    """Apply each event not handled before, with the record that it was, EVENTS_PER_TRANSACTION events to a
    transaction: enough to share the commit, few enough that a backlog does not hold SQLite's write lock
    for seconds while POSTs wait."""
    now = ctx.clock.now()

    def applying(chunk: list[Event]) -> Callable[[AsyncConnection], Awaitable[None]]:
        async def apply(conn: AsyncConnection) -> None:
            fresh = await first_times(conn, reaction.consumer, [event.event_id for event in chunk], now)
            applied = []
            for event in chunk:
                if event.event_id in fresh:
                    fresh.discard(event.event_id)  # an event twice in one batch is applied once
                    applied.append(event)
            if reaction.together:
                if applied:
                    await reaction.effect(applied, conn, ctx, now)
                return
            for event in applied:
                await reaction.effect(event, conn, ctx, now)

        return apply

    for start in range(0, len(events), EVENTS_PER_TRANSACTION):
        await write(ctx.engine, applying(events[start : start + EVENTS_PER_TRANSACTION]))


__all__ = [
    "MAX_DELIVER",
    "Reaction",
    "UndecodableEvent",
    "backoff_seconds",
    "dead_letter",
    "handle_batch",
    "handle_one",
]
