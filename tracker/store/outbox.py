"""The transactional outbox: events are rows written with the change that raised them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from tracker.events.codec import encode
from tracker.events.schemas import Event
from tracker.store import outbox_wake
from tracker.store.db import ignoring_duplicates, is_sqlite
from tracker.store.tables import handled_events, outbox

_ADD = insert(outbox)


async def add_events(conn: AsyncConnection, events: Iterable[Event], now: datetime) -> None:
    rows = [
        {
            "event_id": event.event_id,
            "subject": event.published_subject(),
            "payload": encode(event).decode(),
            "created_at": now,
        }
        for event in events
    ]
    if rows:
        await conn.execute(_ADD, rows)
        await outbox_wake.announce(conn)


async def first_times(conn: AsyncConnection, consumer: str, event_ids: list[str], now: datetime) -> set[str]:
    """Record that `consumer` handled each of `event_ids`, in one statement; those it had not handled before (the
    others are redeliveries)."""
    rows = [{"consumer": consumer, "event_id": event_id, "handled_at": now} for event_id in event_ids]
    result = await conn.execute(_HANDLED[is_sqlite(conn)], rows)
    return set(result.scalars())


_HANDLED = {
    on_sqlite: ignoring_duplicates(on_sqlite, handled_events).returning(handled_events.c.event_id)
    for on_sqlite in (True, False)
}
