"""The bureau's clock as people read it: every day and time a person sees is China Standard Time.

Pure: nothing here reads the clock; `now` is passed in."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

# The bureau's zone, whatever the server's: a person's "today" and every time shown to them.
LOCAL_TZ = ZoneInfo("Asia/Shanghai")
SHOWN = "%Y-%m-%d %H:%M"


def local_day(now: datetime) -> date:
    """The bureau's calendar day of an aware moment."""
    return now.astimezone(LOCAL_TZ).date()


def local_midnight(day: date) -> datetime:
    """00:00 China Standard Time of `day`, as an aware UTC moment."""
    return datetime.combine(day, time(0), tzinfo=LOCAL_TZ).astimezone(UTC)


def shown(moment: datetime | str | None) -> str:
    """A moment as a person reads it: `2026-12-06 22:26`, China Standard Time. A naive moment is UTC (as the
    database keeps it); an ISO text is read first; nothing is an empty text."""
    if moment is None or moment == "":
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(LOCAL_TZ).strftime(SHOWN)
