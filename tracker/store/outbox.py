"""The transactional outbox: events are rows written with the change that raised them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from tracker.events.codec import encode
from tracker.events.schemas import Event
from tracker.store import outbox_wake
from tracker.store.db import insert_ignoring_duplicates
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


async def first_time(conn: AsyncConnection, consumer: str, event_id: str, now: datetime) -> bool:
    """Record that `consumer` handled `event_id`; False if it already had (a redelivery)."""
    result = await conn.execute(
        insert_ignoring_duplicates(conn, handled_events),
        {"consumer": consumer, "event_id": event_id, "handled_at": now},
    )
    return result.rowcount == 1
