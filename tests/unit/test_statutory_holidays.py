"""The statutory estimate of a year whose official holiday schedule is not published yet."""

from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar
import pytest

from tracker.domain.statutory_holidays import LUNAR_FESTIVALS, statutory_days_off

NAMES = ("Spring Festival", "Tomb-sweeping Day", "Dragon Boat Festival", "Mid-autumn Festival")


def days_of(year: int) -> list[date]:
    first = date(year, 1, 1)
    return [first + timedelta(days=i) for i in range((date(year + 1, 1, 1) - first).days)]


@pytest.mark.parametrize("year", [2025, 2026])
def test_it_puts_each_lunar_festival_on_a_day_the_published_schedule_has_it(year: int) -> None:
    for day, name in zip(LUNAR_FESTIVALS[year], NAMES, strict=True):
        assert chinese_calendar.get_holiday_detail(day) == (True, name), day


@pytest.mark.parametrize("year", [2025, 2026])
def test_it_gives_the_days_off_a_published_year_gives_net_of_its_make_up_days(year: int) -> None:
    off = statutory_days_off(year)
    assert off is not None
    published_off = {d for d in days_of(year) if d.weekday() < 5 and not chinese_calendar.is_workday(d)}
    make_up = {d for d in days_of(year) if d.weekday() >= 5 and chinese_calendar.is_workday(d)}
    # Every day the estimate takes off was off that year, and it leaves as many working days in the year.
    assert off <= published_off
    assert len(off) == len(published_off) - len(make_up) == 13


def test_it_knows_2027_and_makes_up_the_festival_days_that_fall_on_a_weekend() -> None:
    off = statutory_days_off(2027)
    assert off is not None
    assert sorted(off) == [
        date(2027, 1, 1),
        # 春节: 除夕 Fri 2-5, 初一 and 初二 on the weekend (made up Tue 2-9 and Wed 2-10), 初三 Mon 2-8.
        date(2027, 2, 5),
        date(2027, 2, 8),
        date(2027, 2, 9),
        date(2027, 2, 10),
        date(2027, 4, 5),  # 清明
        # 劳动节: 5-1 and 5-2 fall on the weekend, made up Mon 5-3 and Tue 5-4.
        date(2027, 5, 3),
        date(2027, 5, 4),
        date(2027, 6, 9),  # 端午
        date(2027, 9, 15),  # 中秋
        # 国庆: Fri 10-1, then the weekend, made up Mon 10-4 and Tue 10-5.
        date(2027, 10, 1),
        date(2027, 10, 4),
        date(2027, 10, 5),
    ]


def test_it_gives_a_day_more_when_mid_autumn_falls_in_the_national_day_holiday() -> None:
    # 2028: 中秋 is Tue 10-3, already a 国庆 day; Sun 10-1 and the shared day are made up on 10-4 and 10-5.
    off = statutory_days_off(2028)
    assert off is not None
    assert sorted(d for d in off if d.month == 10) == [date(2028, 10, d) for d in (2, 3, 4, 5)]
    assert len(off) == 13


def test_it_does_not_guess_a_year_outside_its_table() -> None:
    assert statutory_days_off(2024) is None
    assert statutory_days_off(2061) is None
    assert min(LUNAR_FESTIVALS) == 2025 and max(LUNAR_FESTIVALS) == 2060
