"""The relay: committed outbox rows to JetStream, with the NATS message id set to the event id."""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from collections.abc import Awaitable
from datetime import datetime, timedelta

import nats
from nats.js import JetStreamContext
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tracker.clock import Clock
from tracker.events.stream import StreamLimits, ensure_streams
from tracker.store import outbox_wake
from tracker.store.db import read_only, take_lease
from tracker.store.tables import outbox
from tracker.store.writer import write

log = logging.getLogger("tracker.events.relay")
LEASE_TTL = timedelta(seconds=15)
BATCH = 500
MARK_CHUNK = 1000  # ids per UPDATE … IN (…), within the statement parameter limits of both databases
MAX_UNMARKED = 5000  # published rows the relay waits to have marked before it publishes more
__all__ = ["ensure_streams", "publish_pending", "run_relay"]


async def publish_pending(
    engine: AsyncEngine, js: JetStreamContext, limit: int, unmarked: set[int]
) -> list[int]:
    """Publish up to `limit` unpublished rows, leaving out those published already and not yet marked
    (`unmarked`); returns the ids of the rows that went out. A row published but never marked (a crash in
    between) is published again and dropped by the server as a duplicate."""
    async with read_only(engine) as conn:
        rows = (
            await conn.execute(
                select(outbox.c.id, outbox.c.event_id, outbox.c.subject, outbox.c.payload)
                .where(outbox.c.published_at.is_(None))
                .order_by(outbox.c.id)
                .limit(limit + len(unmarked))
            )
        ).all()
    rows = [row for row in rows if row.id not in unmarked][:limit]
    if not rows:
        return []
    # Publish the batch without waiting for each ack in turn, then make sure every one was acked.
    acks = [
        await js.publish_async(row.subject, row.payload.encode(), headers={"Nats-Msg-Id": row.event_id})
        for row in rows
    ]
    await asyncio.wait_for(asyncio.gather(*acks), timeout=30)
    return [row.id for row in rows]


async def mark_published(engine: AsyncEngine, ids: set[int], now: datetime) -> None:
    """Mark the rows published, in one transaction however many they are."""
    ordered = sorted(ids)

    async def marking(conn: AsyncConnection) -> None:
        for start in range(0, len(ordered), MARK_CHUNK):
            chunk = ordered[start : start + MARK_CHUNK]
            await conn.execute(update(outbox).where(outbox.c.id.in_(chunk)).values(published_at=now))

    await write(engine, marking)


async def run_relay(
    engine: AsyncEngine,
    servers: list[str],
    clock: Clock,
    stop: asyncio.Event,
    poll_seconds: float = 0.2,
    replicas: int = 1,
    limits: StreamLimits | None = None,
) -> None:
    """Publish the outbox while this relay holds the lease. Rows are marked published beside the
    publishing, not before the next batch goes: on SQLite the mark waits its turn for the write lock, and
    the next batch need not wait with it."""
    holder = f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
    nc = await nats.connect(servers, max_reconnect_attempts=-1, reconnect_time_wait=0.5)
    js = nc.jetstream()
    await ensure_streams(js, replicas, limits)
    log.info("relay %s started", holder)
    active, renewed_at = False, 0.0
    unmarked: set[int] = set()  # published, not yet marked
    marking: asyncio.Task[None] | None = None
    loop = asyncio.get_running_loop()

    async def mark(ids: set[int]) -> None:
        try:
            await mark_published(engine, ids, clock.now())
        except Exception as error:  # noqa: BLE001 - the database busy: marked with the next ones
            log.warning("relay could not mark rows published, retrying: %r", error)
            await asyncio.sleep(1.0)
        else:
            unmarked.difference_update(ids)

    try:
        # Woken when outbox rows commit (tracker.store.outbox_wake); the polls are the safety net.
        async with outbox_wake.watch(engine) as wake:
            while not stop.is_set():
                # Renew the lease a few times per TTL, not on every batch.
                if loop.time() - renewed_at > LEASE_TTL.total_seconds() / 3:
                    async with engine.begin() as conn:
                        active = await take_lease(conn, "relay", holder, clock.now(), LEASE_TTL)
                    renewed_at = loop.time() if active else 0.0
                sent: list[int] = []
                if active and len(unmarked) < MAX_UNMARKED:
                    try:
                        sent = await publish_pending(engine, js, BATCH, unmarked)
                    except Exception as error:  # noqa: BLE001 - NATS away or the database busy: try again
                        log.warning("relay could not publish, retrying: %r", error)
                        await asyncio.sleep(1.0)
                    unmarked.update(sent)
                if unmarked and (marking is None or marking.done()):
                    marking = asyncio.create_task(mark(set(unmarked)))
                if len(sent) < BATCH and not stop.is_set():
                    waits = [stop.wait(), wake.wait(poll_seconds if active else LEASE_TTL.seconds / 3)]
                    if len(unmarked) >= MAX_UNMARKED and marking is not None:
                        waits.append(asyncio.shield(marking))
                    await _first(*waits)
            if marking is not None:
                await marking
            if unmarked:
                await mark(set(unmarked))
    finally:
        await nc.drain()


async def _first(*waits: Awaitable[object]) -> None:
    """Until the first of `waits` is done; the others are stopped."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
