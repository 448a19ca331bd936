"""What the service functions need, handed in once: settings, policy, checklists and the clock."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

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
    """The working-day calendar with every official schedule an admin has loaded. The last one built is kept
    while the schedules stay as they were, with the working days it has counted (WorkingCalendar.add_workdays)."""
    global _calendar
    rows = (await conn.execute(_SCHEDULES)).scalars().all()
    if _calendar is None or _calendar[0] != rows:
        _calendar = (rows, WorkingCalendar(YearSchedule.from_dict(row) for row in rows))
    return _calendar[1]


_SCHEDULES = select(calendar_years.c.schedule).order_by(calendar_years.c.year)
_calendar: tuple[Sequence[Any], WorkingCalendar] | None = None
