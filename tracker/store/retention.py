"""What is kept how long. Published outbox rows and the record of handled events go once no message can come
back for them; a mail that was sent (or given up) keeps its bodies and attachment for the bureau's audit period,
then is reduced to its record: who, when, kind, subject, status. Nothing else is pruned: not a finding, its
history, its photos and documents, nor anything a figure is counted from, and a mail row itself is never
deleted (its unique key keeps a redelivered event from queueing it again)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tracker.store.tables import dead_letters, handled_events, mail, outbox

BATCH = 1000
# Only a mail that will not be tried again is reduced.
FINISHED = ("sent", "failed")


@dataclass(frozen=True)
class Retention:
    """`events_keep` is longer than `stream_max_age` (tracker.config refuses otherwise): a message can be
    delivered again only while the stream holds it, and its handled_events row must still be there then."""

    events_keep: timedelta
    mail_keep: timedelta
    stream_max_age: timedelta

    @classmethod
    def from_settings(cls, settings) -> Retention:
        return cls(
            events_keep=timedelta(days=settings.events_keep_days),
            mail_keep=timedelta(days=settings.mail_keep_days),
            stream_max_age=timedelta(days=settings.stream_max_age_days),
        )


async def _handled_cutoff(conn: AsyncConnection, retention: Retention, now: datetime) -> datetime:
    """A dead letter not yet replayed will be published again: the consumers that handled its event must still
    remember it, however old. They handled it at most the stream's max age before the letter was written."""
    cutoff = now - retention.events_keep
    oldest = (
        await conn.execute(select(func.min(dead_letters.c.at)).where(dead_letters.c.replayed_at.is_(None)))
    ).scalar()
    if oldest is not None:
        cutoff = min(cutoff, oldest - retention.stream_max_age)
    return cutoff


def _outbox_due(cutoff: datetime):
    return outbox.c.published_at.is_not(None) & (outbox.c.published_at < cutoff)


def _mail_due(cutoff: datetime):
    return (
        mail.c.status.in_(FINISHED)
        & (mail.c.created_at < cutoff)
        & or_(mail.c.text_body != "", mail.c.html_body != "", mail.c.attachment.is_not(None))
    )


async def prunable(engine: AsyncEngine, retention: Retention, now: datetime) -> dict[str, int]:
    """How many rows of each table a prune at `now` would remove (or, for mail, reduce)."""
    async with engine.connect() as conn:
        handled_cutoff = await _handled_cutoff(conn, retention, now)
        counts = {}
        for name, table, where in (
            ("outbox", outbox, _outbox_due(now - retention.events_keep)),
            ("handled_events", handled_events, handled_events.c.handled_at < handled_cutoff),
            ("mail", mail, _mail_due(now - retention.mail_keep)),
        ):
            counts[name] = (await conn.execute(select(func.count()).select_from(table).where(where))).scalar()
        return counts


async def prune(
    engine: AsyncEngine, retention: Retention, now: datetime, batch: int = BATCH
) -> dict[str, int]:
    """Remove what is past keeping, a batch per transaction so no lock is held for long; returns the rows
    removed (outbox, handled_events) and reduced (mail)."""
    done = {"outbox": 0, "handled_events": 0, "mail": 0}
    async with engine.connect() as conn:
        handled_cutoff = await _handled_cutoff(conn, retention, now)
    outbox_due, mail_due = _outbox_due(now - retention.events_keep), _mail_due(now - retention.mail_keep)
    while True:
        async with engine.begin() as conn:
            ids = select(outbox.c.id).where(outbox_due).order_by(outbox.c.id).limit(batch)
            removed = (
                await conn.execute(delete(outbox).where(outbox.c.id.in_(ids.scalar_subquery())))
            ).rowcount
        done["outbox"] += removed
        if removed < batch:
            break
    while True:
        old = handled_events.c.handled_at < handled_cutoff
        async with engine.begin() as conn:
            # All consumers' rows of a batch of events, each of them past keeping.
            events = select(handled_events.c.event_id).where(old).limit(batch)
            removed = (
                await conn.execute(
                    delete(handled_events).where(old, handled_events.c.event_id.in_(events.scalar_subquery()))
                )
            ).rowcount
        done["handled_events"] += removed
        if removed == 0:
            break
    while True:
        async with engine.begin() as conn:
            ids = select(mail.c.id).where(mail_due).order_by(mail.c.id).limit(batch)
            reduced = (
                await conn.execute(
                    update(mail)
                    .where(mail.c.id.in_(ids.scalar_subquery()))
                    .values(text_body="", html_body="", attachment=None)
                )
            ).rowcount
        done["mail"] += reduced
        if reduced < batch:
            break
    return done
