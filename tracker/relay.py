"""The relay: committed outbox rows to JetStream, with the NATS message id set to the event id."""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from datetime import timedelta

import nats
from nats.js import JetStreamContext
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from tracker.clock import Clock
from tracker.events.stream import StreamLimits, ensure_streams
from tracker.store import outbox_wake
from tracker.store.db import read_only, take_lease
from tracker.store.tables import outbox

log = logging.getLogger("tracker.relay")
LEASE_TTL = timedelta(seconds=15)
BATCH = 500
__all__ = ["ensure_streams", "publish_pending", "run_relay"]


async def publish_pending(engine: AsyncEngine, js: JetStreamContext, clock: Clock, limit: int = 500) -> int:
    """Publish one batch of unpublished rows; returns how many went out. A row published but not yet
    marked (a crash in between) is published again and dropped by the server as a duplicate."""
    async with read_only(engine) as conn:
        rows = (
            await conn.execute(
                select(outbox.c.id, outbox.c.event_id, outbox.c.subject, outbox.c.payload)
                .where(outbox.c.published_at.is_(None))
                .order_by(outbox.c.id)
                .limit(limit)
            )
        ).all()
    if not rows:
        return 0
    # Publish the batch without waiting for each ack in turn, then make sure every one was acked.
    acks = [
        await js.publish_async(row.subject, row.payload.encode(), headers={"Nats-Msg-Id": row.event_id})
        for row in rows
    ]
    await asyncio.wait_for(asyncio.gather(*acks), timeout=30)
    async with engine.begin() as conn:
        await conn.execute(
            update(outbox).where(outbox.c.id.in_([row.id for row in rows])).values(published_at=clock.now())
        )
    return len(rows)


async def run_relay(
    engine: AsyncEngine,
    servers: list[str],
    clock: Clock,
    stop: asyncio.Event,
    poll_seconds: float = 0.2,
    replicas: int = 1,
    limits: StreamLimits | None = None,
) -> None:
    holder = f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
    nc = await nats.connect(servers, max_reconnect_attempts=-1, reconnect_time_wait=0.5)
    js = nc.jetstream()
    await ensure_streams(js, replicas, limits)
    log.info("relay %s started", holder)
    active, renewed_at = False, 0.0
    loop = asyncio.get_running_loop()
    try:
        # Woken when outbox rows commit (tracker.store.outbox_wake); the polls are the safety net.
        async with outbox_wake.watch(engine) as wake:
            while not stop.is_set():
                # Renew the lease a few times per TTL, not on every batch.
                if loop.time() - renewed_at > LEASE_TTL.total_seconds() / 3:
                    async with engine.begin() as conn:
                        active = await take_lease(conn, "relay", holder, clock.now(), LEASE_TTL)
                    renewed_at = loop.time() if active else 0.0
                sent = 0
                if active:
                    try:
                        sent = await publish_pending(engine, js, clock, BATCH)
                    except Exception as error:  # noqa: BLE001 - NATS away or the database busy: try again
                        log.warning("relay could not publish, retrying: %r", error)
                        await asyncio.sleep(1.0)
                if sent < BATCH and not stop.is_set():
                    await _first(stop, wake, poll_seconds if active else LEASE_TTL.seconds / 3)
    finally:
        await nc.drain()


async def _first(stop: asyncio.Event, wake: outbox_wake.Wake, timeout: float) -> None:
    """Until rows may have committed, the relay is asked to stop, or `timeout` seconds."""
    stopping = asyncio.ensure_future(stop.wait())
    woken = asyncio.ensure_future(wake.wait(timeout))
    try:
        await asyncio.wait((stopping, woken), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        woken.cancel()
