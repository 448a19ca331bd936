"""The fast layer: the app and the use cases on a real database, with each reaction called as the worker calls it
and the queued mail handed to the SMTP server as the mailer hands it, but no nats-server, relay or background
task. Whatever a test waits for (`Stack.wait_for`) is looked at after everything the outbox holds has been
reacted to, until nothing new comes of it.

What is left out is what the real-server tests keep: subjects on the wire, redelivery, dead letters, batches,
the relay and its lease, the worker's consumers (tests/integration/test_loop.py, test_resilience.py …)."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.stack import Stack, make_stack
from tracker.clock import Clock
from tracker.config import Settings
from tracker.events.codec import decode
from tracker.handlers.base import handle_one
from tracker.handlers.reactions import REACTIONS
from tracker.mail.sender import SmtpTarget, deliver_batch
from tracker.service.context import Context
from tracker.store.tables import outbox

# Nothing listens here: a test of the fast layer that reached for NATS would fail at once.
NO_NATS = "nats://127.0.0.1:1"
NO_SMTP = "smtp://127.0.0.1:1"


async def react(ctx: Context, now: datetime | None = None) -> int:
    """Hand every event waiting in the outbox to the reactions whose subjects it is published on (as the
    relay and the durable consumers would), marked published first, until no new event is left; returns how
    many events were handed over."""
    handed = 0
    while True:
        async with ctx.engine.begin() as conn:
            waiting = (
                await conn.execute(
                    select(outbox.c.id, outbox.c.subject, outbox.c.payload)
                    .where(outbox.c.published_at.is_(None))
                    .order_by(outbox.c.id)
                )
            ).all()
            if waiting:
                await conn.execute(
                    update(outbox)
                    .where(outbox.c.id.in_([row.id for row in waiting]))
                    .values(published_at=now or ctx.clock.now())
                )
        if not waiting:
            return handed
        for row in waiting:
            payload = row.payload if isinstance(row.payload, bytes) else row.payload.encode()
            event = decode(payload)
            for reaction in REACTIONS:
                if row.subject in reaction.subjects and reaction.wants(event):
                    await handle_one(reaction, ctx, event)
            handed += 1


async def deliver(engine: AsyncEngine, settings: Settings, clock: Clock, retry_base: float = 0.3) -> int:
    """Deliver the mail that is due, as one mailer would, until none is left due; returns how many rows it
    handled (sent or failed)."""
    target, holder, handled = SmtpTarget(settings.require("smtp_url")), f"fast-{uuid.uuid4().hex[:8]}", 0
    sender = settings.mail_sender
    while n := await deliver_batch(engine, target, sender, clock, holder, retry_base, settings):
        handled += n
    return handled


class FastStack(Stack):
    """A Stack whose worker and mailer are called in line: `settle()` runs them until quiet, and once started
    every `wait_for` settles before it looks. Not started, nothing reacts (the outbox just fills); `start()`
    also says whether mail goes to the SMTP server."""

    started: bool = False
    mailing: bool = False

    async def start(self, *, worker: bool = True, relay: bool = True, mailer: bool = True) -> None:
        # The fast layer always reacts; a test of the worker or the relay belongs on the real stack.
        assert worker and relay
        self.started, self.mailing = True, mailer

    async def settle(self) -> None:
        while True:
            reacted = await react(self.ctx)
            sent = await deliver(self.engine, self.settings, self.clock) if self.mailing else 0
            if not (reacted or sent):
                return

    async def wait_for(self, predicate: Any, timeout: float = 60.0, what: str = "condition") -> Any:
        async def settled() -> Any:
            if self.started:
                await self.settle()
            value = predicate()
            return await value if hasattr(value, "__await__") else value

        return await super().wait_for(settled, timeout, what)


async def make_fast_stack(tmp: Path, database_url: str, smtp_url: str = NO_SMTP, **kwargs: Any) -> FastStack:
    stack = await make_stack(tmp, database_url, NO_NATS, smtp_url, cls=FastStack, **kwargs)
    assert isinstance(stack, FastStack)
    return stack
