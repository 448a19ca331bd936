"""APScheduler jobs. Every scheduler runs them; only the holder of the database lease acts, and a standby
takes over when the holder's lease runs out."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from tracker.mail.check_reminders import queue_check_reminders
from tracker.mail.digest import queue_digests
from tracker.metrics import scheduler_metrics
from tracker.service.certificates import sweep_certificates
from tracker.service.context import Context
from tracker.service.photos import remove_unlinked
from tracker.service.reporting import Notices
from tracker.service.review_sweep import review_sweep
from tracker.service.supervision_sweep import sweep_supervisions
from tracker.service.sweep import sweep
from tracker.stats import daybook
from tracker.store.db import drop_lease, take_lease
from tracker.store.job_runs import record_run
from tracker.store.retention import Retention, prune

log = logging.getLogger("tracker.entry.scheduler")
LEASE = "scheduler"


class LeasedJobs:
    def __init__(self, ctx: Context, holder: str | None = None) -> None:
        self.ctx = ctx
        self.holder = holder or f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self.ttl = timedelta(seconds=max(3.0, 3 * ctx.settings.sweep_seconds))
        self.active = False
        self.metrics = scheduler_metrics()

    async def _lead(self) -> bool:
        async with self.ctx.engine.begin() as conn:
            active = await take_lease(conn, LEASE, self.holder, self.ctx.clock.now(), self.ttl)
        self.metrics.active.set(int(active))
        if active != self.active:
            log.info("scheduler %s is now %s", self.holder, "active" if active else "standing by")
        self.active = active
        return active

    async def _run(self, job: str, work: Callable[[], Awaitable[dict[str, int]]]) -> None:
        """Run one job if this scheduler holds the lease, and say so in one line: what it did and how long it
        took (a standby says nothing). The counts also go to /metrics (job_runs, and this process's port)."""
        if not await self._lead():
            return
        started = time.perf_counter()
        try:
            counts = await work()
        except Exception:
            self.metrics.runs.labels(job, "failed").inc()
            log.exception("%s failed; the next run tries again", job)
            return
        seconds = time.perf_counter() - started
        now = self.ctx.clock.now()
        self.metrics.runs.labels(job, "done").inc()
        self.metrics.last_run.labels(job).set(now.timestamp())
        self.metrics.last_seconds.labels(job).set(seconds)
        for what, n in counts.items():
            self.metrics.last_counts.labels(job, what).set(n)
        said = ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in counts.items()) or "done"
        log.info("%s: %s (%.2f s)", job, said, seconds)
        try:
            await record_run(self.ctx.engine, job, now, seconds, counts)
        except Exception:
            log.warning("%s: could not record the run", job, exc_info=True)

    async def sweep_job(self) -> None:
        await self._run("sweep", self._sweeps)

    async def _sweeps(self) -> dict[str, int]:
        # Four sweeps over four kinds of deadline; one failing must not hold the others back.
        counts: dict[str, int] = {}
        for name, run in (
            ("sweep", self._deadlines),
            ("review sweep", self._reviews),
            ("supervision sweep", self._supervisions),
            ("certificate sweep", self._certificates),
        ):
            try:
                counts.update(await run())
            except Exception:
                log.exception("%s failed; the next run tries again", name)
        return counts

    async def _deadlines(self) -> dict[str, int]:
        result = await sweep(self.ctx.engine, self.ctx.policy, self.ctx.clock.now())
        return {"reminded": len(result.reminded), "escalated": len(result.escalated)}

    async def _reviews(self) -> dict[str, int]:
        """The bureau's own 复查 deadlines."""
        reviews = await review_sweep(
            self.ctx.engine, self.ctx.policy, self.ctx.clock.now(), self.ctx.settings.base_url
        )
        return {"review_reminded": len(reviews.reminded), "review_escalated": len(reviews.escalated)}

    async def _supervisions(self) -> dict[str, int]:
        """The stage deadlines of major hazards under supervision (tracker.service.supervision_sweep)."""
        majors = await sweep_supervisions(
            self.ctx.engine,
            self.ctx.policy,
            self.ctx.clock.now(),
            self.ctx.settings.base_url,
            self.ctx.settings.supervision_prefix,
        )
        return {
            "supervision_reminded": len(majors.reminded),
            "supervision_escalated": len(majors.escalated),
            "progress_late": len(majors.progress_late),
            "supervision_mails": majors.mails,
        }

    async def _certificates(self) -> dict[str, int]:
        """The facilities' registers of what expires (tracker.service.certificates)."""
        settings = self.ctx.settings
        done = await sweep_certificates(
            self.ctx.engine,
            self.ctx.catalog,
            self.ctx.clock.now(),
            settings.base_url,
            Notices(self.ctx.policy, settings.bureau_name, settings.supervision_prefix),
        )
        return {
            "certificates_reminded": len(done.reminded),
            "certificates_lapsed": len(done.lapsed),
            "certificate_mails": done.mails,
        }

    async def digest_job(self) -> None:
        """The weekly digest of last week; the mail table's dedupe key keeps it to once per week and person."""

        async def digests() -> dict[str, int]:
            queued = await queue_digests(
                self.ctx.engine, self.ctx.clock.now(), self.ctx.settings.base_url, self.ctx.catalog
            )
            return {"queued": queued}

        await self._run("digest", digests)

    async def check_reminder_job(self) -> None:
        """Facilities whose last year, quarter or month passed without their checks remind their section, once
        per chief and window (tracker.mail.check_reminders)."""

        async def reminders() -> dict[str, int]:
            queued = await queue_check_reminders(
                self.ctx.engine, self.ctx.clock.now(), self.ctx.catalog, self.ctx.settings.base_url
            )
            return {"queued": queued}

        await self._run("check_reminders", reminders)

    async def daybook_job(self) -> None:
        """Count the days completed since into the dashboard's day book, and derive the repeat flags writers
        leave alone (tracker.stats.daybook)."""

        async def catch_up() -> dict[str, int]:
            through = await daybook.catch_up(self.ctx.engine, self.ctx.clock.now())
            return {"moved": int(through is not None)}

        await self._run("daybook", catch_up)

    async def photo_job(self) -> None:
        """Clear away the photos uploaded more than a day ago that nothing came to use."""

        async def photos() -> dict[str, int]:
            gone = await remove_unlinked(self.ctx.engine, self.ctx.settings.photo_dir, self.ctx.clock.now())
            return {"removed": len(gone)}

        await self._run("photos", photos)

    async def prune_job(self) -> None:
        """What is past keeping (tracker.store.retention), a batch per transaction."""

        async def pruned() -> dict[str, int]:
            done = await prune(
                self.ctx.engine, Retention.from_settings(self.ctx.settings), self.ctx.clock.now()
            )
            return {
                "outbox": done["outbox"],
                "handled_events": done["handled_events"],
                "mail_reduced": done["mail"],
            }

        await self._run("prune", pruned)

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
        (jobs.check_reminder_job, 60 * 60),  # a window ends at midnight: its reminders go out within the hour
        (jobs.daybook_job, 10 * 60),  # soon after midnight; otherwise it finds little to do
        (jobs.photo_job, 60 * 60),
        (jobs.prune_job, 60 * 60),
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
    # APScheduler's own two lines per run ("Running job", "executed successfully") say nothing _run does not,
    # and a standby would print them too.
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)
    logging.getLogger("apscheduler.scheduler").setLevel(logging.WARNING)
    scheduler.start()
    log.info("scheduler %s started, sweeping every %ss", jobs.holder, ctx.settings.sweep_seconds)
    try:
        await stop.wait()
    finally:
        scheduler.shutdown(wait=False)
        await jobs.resign()
