"""Chinese working-day calendar.

Deadlines are counted in Chinese working days: official holidays are days off, and make-up working
days (调休) that fall on a weekend count as working days. The answer for a day comes from, in order:

1. a ``YearSchedule`` an admin loaded for that year (the State Council publishes one each autumn);
2. the ``chinese_calendar`` package (1.11 knows 2004-2026 and raises ``NotImplementedError`` beyond);
3. for years neither knows, an estimate: Monday to Friday less the days off the law fixes (元旦, 春节, 清明, 劳动节,
   端午, 中秋, 国庆 and their 补假; ``statutory_holidays``), with no make-up working days, which only the published
   schedule tells. Such answers are *estimated* and say so.

Pure: no I/O and no clock reads.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import chinese_calendar

from tracker.domain.statutory_holidays import statutory_days_off
from tracker.domain.time import LOCAL_TZ as LOCAL_TZ  # the zone its days are counted in

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SCHEDULE_KEYS = frozenset({"year", "holidays", "workdays"})
_ONE_DAY = timedelta(days=1)


def _check_plain_date(day: object) -> date:
    # A datetime is a date subclass but its .date() is not the local date unless it is local time.
    if isinstance(day, datetime) or not isinstance(day, date):
        raise TypeError(f"expected a datetime.date, got {type(day).__name__}")
    return day


class ScheduleError(ValueError):
    """A holiday schedule given as data is malformed; the message names the offending entry."""


def _is_weekday(day: date) -> bool:
    return day.weekday() < 5


@dataclass(frozen=True)
class YearSchedule:
    """The official holiday schedule of one year, loaded by an admin as data.

    ``holidays`` are days off (usually Monday-Friday days that would otherwise be working days; a
    weekend day may be listed too and stays a day off). ``workdays`` are make-up working days (调休)
    that fall on a Saturday or Sunday. Any day in neither list follows Monday to Friday.
    """

    year: int
    holidays: frozenset[date]
    workdays: frozenset[date]

    def __post_init__(self) -> None:
        if isinstance(self.year, bool) or not isinstance(self.year, int):
            raise ScheduleError(f"schedule year must be an integer, got {self.year!r}")
        if not 1 <= self.year <= 9999:
            raise ScheduleError(f"schedule year {self.year} is out of range")
        # Accept any iterable of dates from callers but keep the stored value immutable and hashable.
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        object.__setattr__(self, "workdays", frozenset(self.workdays))
        for label, days in (("holidays", self.holidays), ("workdays", self.workdays)):
            for day in days:
                try:
                    _check_plain_date(day)
                except TypeError as exc:
                    raise ScheduleError(f"{self.year} {label}: {exc}") from None
            outside = sorted(d for d in days if d.year != self.year)
            if outside:
                listed = ", ".join(d.isoformat() for d in outside)
                raise ScheduleError(f"{self.year} {label}: {listed} outside the year {self.year}")
        both = self.holidays & self.workdays
        if both:
            listed = ", ".join(d.isoformat() for d in sorted(both))
            raise ScheduleError(f"{self.year}: {listed} listed both as holiday and as make-up workday")
        weekday_workdays = sorted(d for d in self.workdays if _is_weekday(d))
        if weekday_workdays:
            # A Monday-Friday "make-up day" changes nothing, so it is almost surely a typo in the data.
            listed = ", ".join(d.isoformat() for d in weekday_workdays)
            raise ScheduleError(
                f"{self.year} workdays: {listed} fall on Monday-Friday; make-up workdays must be weekend days"
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> YearSchedule:
        """Build from ``{"year": 2027, "holidays": ["2027-01-01", ...], "workdays": [...]}``.

        Dates are ``YYYY-MM-DD`` strings or ``datetime.date`` objects (YAML turns unquoted dates into
        dates). A missing list means none. Raises ``ValueError`` naming the offending entry.
        """
        if not isinstance(data, Mapping):
            raise ScheduleError(f"schedule must be a mapping, got {type(data).__name__}")
        unknown = set(data) - _SCHEDULE_KEYS
        if unknown:
            # A misspelt key would otherwise silently load an empty list.
            raise ScheduleError(f"unknown schedule keys: {', '.join(sorted(map(str, unknown)))}")
        if "year" not in data:
            raise ScheduleError("schedule has no 'year'")
        year = data["year"]
        if isinstance(year, bool) or not isinstance(year, int):
            raise ScheduleError(f"schedule year must be an integer, got {year!r}")
        parsed: dict[str, frozenset[date]] = {}
        for label in ("holidays", "workdays"):
            raw = data.get(label) or []
            if isinstance(raw, (str, bytes)) or not isinstance(raw, Iterable):
                raise ScheduleError(f"{year} {label}: expected a list of dates, got {type(raw).__name__}")
            days: set[date] = set()
            for item in raw:
                days.add(_parse_day(item, year, label))
            parsed[label] = frozenset(days)
        return cls(year=year, holidays=parsed["holidays"], workdays=parsed["workdays"])


def _parse_day(item: object, year: int, label: str) -> date:
    if isinstance(item, datetime):
        raise ScheduleError(f"{year} {label}: {item!r} is a date-time, expected a date")
    if isinstance(item, date):
        return item
    # fromisoformat alone would also take "20270101" or week dates, which no admin means here.
    if not isinstance(item, str) or not _ISO_DATE.match(item):
        raise ScheduleError(f"{year} {label}: {item!r} is not a YYYY-MM-DD date")
    try:
        return date.fromisoformat(item)
    except ValueError:
        raise ScheduleError(f"{year} {label}: {item!r} is not a valid date") from None


@dataclass(frozen=True)
class WorkdayResult:
    """A day found by counting working days, and whether any day counted was an estimate."""

    day: date
    estimated: bool


class WorkingCalendar:
    """Answers "is this a working day?" from loaded schedules, chinese_calendar, then the statutory estimate."""

    def __init__(self, schedules: Iterable[YearSchedule] = ()) -> None:
        self._schedules: dict[int, YearSchedule] = {}
        for schedule in schedules:
            if schedule.year in self._schedules:
                # Two schedules for one year would make the answer depend on load order.
                raise ValueError(f"more than one holiday schedule given for {schedule.year}")
            self._schedules[schedule.year] = schedule
        self._library_years: dict[int, bool] = {}
        # Answers of add_workdays, kept: a calendar never changes, and every order counts the same few spans.
        self._counted: dict[tuple[date, int], WorkdayResult] = {}

    def known_years(self) -> set[int]:
        """Years with a loaded schedule."""
        return set(self._schedules)

    def _library_knows(self, year: int) -> bool:
        known = self._library_years.get(year)
        if known is None:
            try:
                chinese_calendar.is_workday(date(year, 1, 1))
                known = True
            except NotImplementedError:
                known = False
            self._library_years[year] = known
        return known

    def is_estimated(self, day: date) -> bool:
        """True when the answer for ``day``'s year is the estimate, not a published schedule."""
        day = _check_plain_date(day)
        return day.year not in self._schedules and not self._library_knows(day.year)

    def is_workday(self, day: date) -> bool:
        day = _check_plain_date(day)
        schedule = self._schedules.get(day.year)
        if schedule is not None:
            if day in schedule.workdays:
                return True
            if day in schedule.holidays:
                return False
            return _is_weekday(day)
        if self._library_knows(day.year):
            return _library_workday(day)
        return _estimated_workday(day)

    def add_workdays(self, start: date, n: int) -> WorkdayResult:
        """The ``n``-th working day after ``start``.

        ``n == 0``: ``start`` itself if it is a working day, else the next working day.
        ``n < 0``: the ``|n|``-th working day before ``start`` (used for reminders).
        ``estimated`` is True if any day looked at lay in a fallback year.
        """
        start = _check_plain_date(start)
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"n must be an int, got {type(n).__name__}")
        counted = self._counted.get((start, n))
        if counted is None:
            counted = self._counted[(start, n)] = self._count(start, n)
        return counted

    def _count(self, start: date, n: int) -> WorkdayResult:
        if n == 0:
            day = start
            estimated = self.is_estimated(day)
            while not self.is_workday(day):
                day += _ONE_DAY
                estimated = estimated or self.is_estimated(day)
            return WorkdayResult(day=day, estimated=estimated)
        step = _ONE_DAY if n > 0 else -_ONE_DAY
        remaining = abs(n)
        day = start
        estimated = False
        while remaining:
            day += step
            estimated = estimated or self.is_estimated(day)
            if self.is_workday(day):
                remaining -= 1
        return WorkdayResult(day=day, estimated=estimated)

    def workdays_between(self, start: date, end: date) -> int:
        """Working days in ``(start, end]``; negative (the count in ``(end, start]``) if ``end < start``."""
        start = _check_plain_date(start)
        end = _check_plain_date(end)
        if end < start:
            return -self.workdays_between(end, start)
        count = 0
        day = start + _ONE_DAY
        while day <= end:
            if self.is_workday(day):
                count += 1
            day += _ONE_DAY
        return count


@functools.cache
def _library_workday(day: date) -> bool:
    """chinese_calendar's answer, kept: the library scans its whole table of holidays on every call, and a
    deadline counts up to some tens of days for each finding it is given to."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        # The probe said the year is known; stay safe if the library disagrees for one day.
        return _is_weekday(day)


def _estimated_workday(day: date) -> bool:
    off = statutory_days_off(day.year)
    return _is_weekday(day) and (off is None or day not in off)


def fallback_years_warning(years: set[int]) -> str:
    """A bilingual notice that ``years`` were estimated; empty string for no years."""
    if not years:
        return ""
    ordered = sorted(years)
    zh_years = "、".join(str(y) for y in ordered)
    en_years = ", ".join(str(y) for y in ordered)
    schedules = "schedule" if len(ordered) == 1 else "schedules"
    return (
        f"{zh_years} 年法定节假日安排尚未导入，工作日按法定节日估算（不含调休） / "
        f"Official {en_years} holiday {schedules} not loaded: working days estimated from the statutory "
        "holidays, without make-up working days"
    )
