"""The last run of each scheduler job and what it did, for /metrics on any web process."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from tracker.store.tables import job_runs


async def record_run(
    engine: AsyncEngine, name: str, finished_at: datetime, seconds: float, counts: dict
) -> None:
    # Only the scheduler holding the lease writes, so an update, else an insert, does not race.
    values = {"finished_at": finished_at, "seconds": seconds, "counts": counts}
    async with engine.begin() as conn:
        if (
            await conn.execute(update(job_runs).where(job_runs.c.name == name).values(**values))
        ).rowcount == 0:
            await conn.execute(insert(job_runs).values(name=name, **values))


async def last_runs(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(job_runs).order_by(job_runs.c.name))).all())
