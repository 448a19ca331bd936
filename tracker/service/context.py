"""What the service functions need, handed in once: settings, policy, checklists and the clock."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tracker.checklists import Catalog
from tracker.clock import Clock, SystemClock
from tracker.config import Settings
from tracker.domain.calendar import WorkingCalendar, YearSchedule
from tracker.domain.policy import PolicySettings
from tracker.store.tables import calendar_years


@dataclass
class Context:
    settings: Settings
    engine: AsyncEngine
    catalog: Catalog
    policy: PolicySettings = field(default_factory=PolicySettings)
    clock: Clock = field(default_factory=SystemClock)

    @property
    def secret(self) -> str:
        return self.settings.require("secret_key")


async def load_calendar(conn: AsyncConnection) -> WorkingCalendar:
    """The working-day calendar with every official schedule an admin has loaded."""
    rows = (await conn.execute(select(calendar_years.c.schedule))).scalars().all()
    return WorkingCalendar(YearSchedule.from_dict(row) for row in rows)
