"""APScheduler jobs. Every scheduler runs them; only the holder of the database lease acts, and a standby
takes over when the holder's lease runs out."""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from datetime import UTC, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from tracker.service.context import Context
from tracker.service.photos import remove_unlinked
from tracker.service.review_sweep import review_sweep
from tracker.service.supervision_sweep import sweep_supervisions
from tracker.service.sweep import sweep
from tracker.stats import daybook
from tracker.stats.digest import queue_digests
from tracker.store.db import drop_lease, take_lease

log = logging.getLogger("tracker.scheduler")
LEASE = "scheduler"


class LeasedJobs:
    def __init__(self, ctx: Context, holder: str | None = None) -> None:
        self.ctx = ctx
        self.holder = holder or f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self.ttl = timedelta(seconds=max(3.0, 3 * ctx.settings.sweep_seconds))
        self.active = False

    async def _lead(self) -> bool:
        async with self.ctx.engine.begin() as conn:
            active = await take_lease(conn, LEASE, self.holder, self.ctx.clock.now(), self.ttl)
        if active != self.active:
            log.info("scheduler %s is now %s", self.holder, "active" if active else "standing by")
        self.active = active
        return active

    async def sweep_job(self) -> None:
        if not await self._lead():
            return
        # Three sweeps over three kinds of deadline; one failing must not hold the others back.
        for name, run in (
            ("sweep", self._deadlines),
            ("review sweep", self._reviews),
            ("supervision sweep", self._supervisions),
        ):
            try:
                await run()
            except Exception:
                log.exception("%s failed; the next run tries again", name)

    async def _deadlines(self) -> None:
        result = await sweep(self.ctx.engine, self.ctx.policy, self.ctx.clock.now())
        if result.reminded or result.escalated:
            log.info("sweep: %d reminded, %d escalated", len(result.reminded), len(result.escalated))

    async def _reviews(self) -> None:
        """The bureau's own 复查 deadlines."""
        reviews = await review_sweep(
            self.ctx.engine, self.ctx.policy, self.ctx.clock.now(), self.ctx.settings.base_url
        )
        if reviews.reminded or reviews.escalated:
            log.info("review sweep: %d reminded, %d escalated", len(reviews.reminded), len(reviews.escalated))

    async def _supervisions(self) -> None:
        """The stage deadlines of major hazards under supervision (tracker.service.supervision_sweep)."""
        majors = await sweep_supervisions(
            self.ctx.engine,
            self.ctx.policy,
            self.ctx.clock.now(),
            self.ctx.settings.base_url,
            self.ctx.settings.supervision_prefix,
        )
        if majors.mails:
            log.info(
                "supervision sweep: %d reminded, %d escalated, %d progress late, %d mails",
                len(majors.reminded),
                len(majors.escalated),
                len(majors.progress_late),
                majors.mails,
            )

    async def digest_job(self) -> None:
        """The weekly digest of last week; the mail table's dedupe key keeps it to once per week and person."""
        if not await self._lead():
            return
        await queue_digests(self.ctx.engine, self.ctx.clock.now(), self.ctx.settings.base_url)

    async def daybook_job(self) -> None:
        """Bring the dashboard's day book up to a few minutes ago (daybook.LAG)."""
        if not await self._lead():
            return
        await daybook.catch_up(self.ctx.engine, self.ctx.clock.now())

    async def photo_job(self) -> None:
        """Clear away the photos uploaded more than a day ago that nothing came to use."""
        if not await self._lead():
            return
        await remove_unlinked(self.ctx.engine, self.ctx.settings.photo_dir, self.ctx.clock.now())

    async def resign(self) -> None:
        if self.active:
            async with self.ctx.engine.begin() as conn:
                await drop_lease(conn, LEASE, self.holder)


async def run_scheduler(ctx: Context, stop: asyncio.Event, holder: str | None = None) -> None:
    jobs = LeasedJobs(ctx, holder)
    scheduler = AsyncIOScheduler(timezone=UTC)
    for job, seconds in (
        (jobs.sweep_job, ctx.settings.sweep_seconds),
        (jobs.digest_job, 15 * 60),  # the digest's week begins on Monday: it goes out within 15 minutes
        (jobs.daybook_job, 10 * 60),  # a page reads at most the last quarter hour from the findings rows
        (jobs.photo_job, 60 * 60),
    ):
        scheduler.add_job(
            job,
            "interval",
            seconds=seconds,
            id=job.__name__,
            max_instances=1,
            coalesce=True,
            next_run_time=ctx.clock.now(),
        )
    scheduler.start()
    log.info("scheduler %s started, sweeping every %ss", jobs.holder, ctx.settings.sweep_seconds)
    try:
        await stop.wait()
    finally:
        scheduler.shutdown(wait=False)
        await jobs.resign()
