"""Reporting periods: half-open ranges of local (China Standard Time) days, [start, end)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from tracker.documents.printed import cn_date
from tracker.domain.time import local_day, local_midnight

__all__ = ["Period", "local_day", "local_midnight", "parse_period"]


@dataclass(frozen=True)
class Period:
    """Local days `start` (included) to `end` (excluded). `end` is the first day *after* the period."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"a period must end after it starts: {self.start} .. {self.end}")

    @property
    def start_utc(self) -> datetime:
        return local_midnight(self.start)

    @property
    def end_utc(self) -> datetime:
        return local_midnight(self.end)

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def previous(self) -> Period:
        """The period of equal length just before this one (a calendar month before, for a whole month)."""
        if self.is_month():
            return Period((self.start - timedelta(days=1)).replace(day=1), self.start)
        return Period(self.start - timedelta(days=self.days), self.start)

    def is_month(self) -> bool:
        return self.start.day == 1 and self.end == _next_month(self.start)

    def as_of(self, now: datetime) -> datetime:
        """The moment the period's stock figures (open, overdue) are counted at: its end, or now if sooner."""
        return min(self.end_utc, now)

    def label(self) -> str:
        if self.is_month():
            return f"{self.start.year}年{self.start.month}月 / {self.start:%Y-%m}"
        return self.words()

    def words(self) -> str:
        """2026年11月2日至11月8日: both days included, the year written once when it does not change."""
        last = self.end - timedelta(days=1)
        end = f"{last.month}月{last.day}日" if last.year == self.start.year else cn_date(last)
        return f"{cn_date(self.start)}至{end}"

    @classmethod
    def month(cls, year: int, month: int) -> Period:
        start = date(year, month, 1)
        return cls(start, _next_month(start))

    @classmethod
    def parse_month(cls, text: str) -> Period:
        try:
            year, month = (int(part) for part in text.split("-"))
            return cls.month(year, month)
        except ValueError:
            raise ValueError(f"{text!r} is not a month like 2025-03") from None

    @classmethod
    def week_of(cls, day: date) -> Period:
        monday = day - timedelta(days=day.weekday())
        return cls(monday, monday + timedelta(days=7))


def _next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def parse_period(start: str | None, end: str | None, now: datetime) -> Period:
    """From `from`/`to` query values (ISO dates, `to` excluded); a missing value means the current month."""
    if not start and not end:  # the current month, up to and including today
        today = local_day(now)
        return Period.month(today.year, today.month)
    try:
        first = date.fromisoformat(start) if start else None
        after = date.fromisoformat(end) if end else None
    except ValueError:
        raise ValueError("from/to must be dates like 2025-03-01") from None
    if first is None:
        assert after is not None
        first = (after - timedelta(days=1)).replace(day=1)
    if after is None:
        after = _next_month(first) if first.day == 1 else local_day(now) + timedelta(days=1)
    return Period(first, after)
