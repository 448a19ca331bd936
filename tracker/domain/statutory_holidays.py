"""The days off that the law itself fixes, for estimating a year whose official schedule is not yet published.

《全国年节及纪念日放假办法》, as amended by the State Council's decision of 2024 (in force since 1 January 2025), gives
every citizen: 元旦 1 day (1月1日); 春节 4 days (农历除夕、正月初一至初三); 清明节 1 day (农历清明当日); 劳动节 2 days
(5月1日、2日); 端午节 1 day (农历端午当日); 中秋节 1 day (农历中秋当日); 国庆节 3 days (10月1日、2日、3日). A holiday that
falls on a Saturday or Sunday is made up on a working day (补假); the published schedules put it on the working days
right after the festival, and so does the estimate. Make-up working days (调休) that bring a weekend into the week
are known only from the published schedule: the estimate has none, so it stays an estimate.

Pure: no I/O and no clock reads.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

_ONE_DAY = timedelta(days=1)

# Per year: 除夕 (the last day of the lunar year before 正月初一), 清明 (the solar term's day, China Standard Time),
# 端午 (五月初五) and 中秋 (八月十五), in the Gregorian calendar. Computed once with lunardate 0.3.0 and the solar
# terms of chinese-calendar 1.11, and checked against chinese-calendar's published 2025 and 2026 holidays
# (tests/unit/test_statutory_holidays.py). Years outside the table are not estimated beyond Monday to Friday.
LUNAR_FESTIVALS: dict[int, tuple[date, date, date, date]] = {
    2025: (date(2025, 1, 28), date(2025, 4, 4), date(2025, 5, 31), date(2025, 10, 6)),
    2026: (date(2026, 2, 16), date(2026, 4, 5), date(2026, 6, 19), date(2026, 9, 25)),
    2027: (date(2027, 2, 5), date(2027, 4, 5), date(2027, 6, 9), date(2027, 9, 15)),
    2028: (date(2028, 1, 25), date(2028, 4, 4), date(2028, 5, 28), date(2028, 10, 3)),
    2029: (date(2029, 2, 12), date(2029, 4, 4), date(2029, 6, 16), date(2029, 9, 22)),
    2030: (date(2030, 2, 2), date(2030, 4, 5), date(2030, 6, 5), date(2030, 9, 12)),
    2031: (date(2031, 1, 22), date(2031, 4, 5), date(2031, 6, 24), date(2031, 10, 1)),
    2032: (date(2032, 2, 10), date(2032, 4, 4), date(2032, 6, 12), date(2032, 9, 19)),
    2033: (date(2033, 1, 30), date(2033, 4, 4), date(2033, 6, 1), date(2033, 9, 8)),
    2034: (date(2034, 2, 18), date(2034, 4, 5), date(2034, 6, 20), date(2034, 9, 27)),
    2035: (date(2035, 2, 7), date(2035, 4, 5), date(2035, 6, 10), date(2035, 9, 16)),
    2036: (date(2036, 1, 27), date(2036, 4, 4), date(2036, 5, 30), date(2036, 10, 4)),
    2037: (date(2037, 2, 14), date(2037, 4, 4), date(2037, 6, 18), date(2037, 9, 24)),
    2038: (date(2038, 2, 3), date(2038, 4, 5), date(2038, 6, 7), date(2038, 9, 13)),
    2039: (date(2039, 1, 23), date(2039, 4, 5), date(2039, 5, 27), date(2039, 10, 2)),
    2040: (date(2040, 2, 11), date(2040, 4, 4), date(2040, 6, 14), date(2040, 9, 20)),
    2041: (date(2041, 1, 31), date(2041, 4, 4), date(2041, 6, 3), date(2041, 9, 10)),
    2042: (date(2042, 1, 21), date(2042, 4, 4), date(2042, 6, 22), date(2042, 9, 28)),
    2043: (date(2043, 2, 9), date(2043, 4, 5), date(2043, 6, 11), date(2043, 9, 17)),
    2044: (date(2044, 1, 29), date(2044, 4, 4), date(2044, 5, 31), date(2044, 10, 5)),
    2045: (date(2045, 2, 16), date(2045, 4, 4), date(2045, 6, 19), date(2045, 9, 25)),
    2046: (date(2046, 2, 5), date(2046, 4, 4), date(2046, 6, 8), date(2046, 9, 15)),
    2047: (date(2047, 1, 25), date(2047, 4, 5), date(2047, 5, 29), date(2047, 10, 4)),
    2048: (date(2048, 2, 13), date(2048, 4, 4), date(2048, 6, 15), date(2048, 9, 22)),
    2049: (date(2049, 2, 1), date(2049, 4, 4), date(2049, 6, 4), date(2049, 9, 11)),
    2050: (date(2050, 1, 22), date(2050, 4, 4), date(2050, 6, 23), date(2050, 9, 30)),
    2051: (date(2051, 2, 10), date(2051, 4, 5), date(2051, 6, 13), date(2051, 9, 19)),
    2052: (date(2052, 1, 31), date(2052, 4, 4), date(2052, 6, 1), date(2052, 9, 7)),
    2053: (date(2053, 2, 18), date(2053, 4, 4), date(2053, 6, 20), date(2053, 9, 26)),
    2054: (date(2054, 2, 7), date(2054, 4, 4), date(2054, 6, 10), date(2054, 9, 16)),
    2055: (date(2055, 1, 27), date(2055, 4, 5), date(2055, 5, 30), date(2055, 10, 5)),
    2056: (date(2056, 2, 14), date(2056, 4, 4), date(2056, 6, 17), date(2056, 9, 24)),
    2057: (date(2057, 2, 3), date(2057, 4, 4), date(2057, 6, 6), date(2057, 9, 13)),
    2058: (date(2058, 1, 23), date(2058, 4, 4), date(2058, 6, 25), date(2058, 10, 2)),
    2059: (date(2059, 2, 11), date(2059, 4, 5), date(2059, 6, 14), date(2059, 9, 21)),
    2060: (date(2060, 2, 1), date(2060, 4, 4), date(2060, 6, 3), date(2060, 9, 9)),
}


def _is_weekday(day: date) -> bool:
    return day.weekday() < 5


@cache
def statutory_days_off(year: int) -> frozenset[date] | None:
    """The Monday-Friday days off the law gives in ``year``, 补假 included; None for a year outside the table."""
    lunar = LUNAR_FESTIVALS.get(year)
    if lunar is None:
        return None
    eve, qingming, duanwu, zhongqiu = lunar
    festivals = sorted(
        [
            [date(year, 1, 1)],
            [eve + _ONE_DAY * i for i in range(4)],
            [qingming],
            [date(year, 5, 1), date(year, 5, 2)],
            [duanwu],
            [zhongqiu],
            [date(year, 10, 1), date(year, 10, 2), date(year, 10, 3)],
        ]
    )
    festival_days = {day for days in festivals for day in days}
    off: set[date] = set()
    for days in festivals:
        # A festival day on a weekend, or on a day another festival already took (中秋 in 国庆), is owed.
        owed = 0
        for day in days:
            if _is_weekday(day) and day not in off:
                off.add(day)
            else:
                owed += 1
        day = days[-1]
        while owed:
            day += _ONE_DAY
            if _is_weekday(day) and day not in off and day not in festival_days:
                off.add(day)
                owed -= 1
    return frozenset(off)
