"""Working-day calendar: official holidays, make-up days, loaded schedules and the statutory estimate."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import chinese_calendar
import pytest

from tracker.domain.calendar import (
    ScheduleError,
    WorkdayResult,
    WorkingCalendar,
    YearSchedule,
    fallback_years_warning,
)

# Official 2026 schedule (State Council notice), hard-coded so a wrong library release is caught.
SPRING_FESTIVAL_2026 = [date(2026, 2, 15) + timedelta(days=i) for i in range(9)]  # 2-15 .. 2-23
SPRING_FESTIVAL_2026_MAKEUP = [date(2026, 2, 14), date(2026, 2, 28)]  # both Saturdays
NATIONAL_DAY_2026 = [date(2026, 10, 1) + timedelta(days=i) for i in range(7)]  # 10-01 .. 10-07
NATIONAL_DAY_2026_MAKEUP = [date(2026, 9, 20), date(2026, 10, 10)]  # a Sunday and a Saturday


def schedule_2027() -> YearSchedule:
    # Invented for the tests: the real 2027 schedule was not published when this was written.
    return YearSchedule.from_dict(
        {"year": 2027, "holidays": ["2027-01-01", "2027-01-05"], "workdays": ["2027-01-02"]}
    )


def test_it_knows_fixed_2026_holidays_for_sure() -> None:
    cal = WorkingCalendar()
    assert not cal.is_workday(date(2026, 1, 1))  # New Year's Day, a Thursday
    assert not cal.is_workday(date(2026, 2, 17))  # Spring Festival day, a Tuesday
    assert not cal.is_workday(date(2026, 10, 1))  # National Day, a Thursday
    assert cal.is_workday(date(2026, 3, 9))  # an ordinary Monday
    assert not cal.is_workday(date(2026, 3, 7))  # an ordinary Saturday


def test_it_treats_spring_festival_2026_as_days_off_and_makeup_saturdays_as_workdays() -> None:
    cal = WorkingCalendar()
    for day in SPRING_FESTIVAL_2026:
        assert not cal.is_workday(day), day
        assert chinese_calendar.is_holiday(day), day
    for day in SPRING_FESTIVAL_2026_MAKEUP:
        assert day.weekday() >= 5
        assert cal.is_workday(day), day
        assert chinese_calendar.is_workday(day), day
    assert not cal.is_estimated(date(2026, 2, 17))


def test_it_treats_national_day_2026_as_days_off_and_its_makeup_weekend_days_as_workdays() -> None:
    cal = WorkingCalendar()
    for day in NATIONAL_DAY_2026:
        assert not cal.is_workday(day), day
    for day in NATIONAL_DAY_2026_MAKEUP:
        assert day.weekday() >= 5
        assert cal.is_workday(day), day


def test_it_agrees_with_chinese_calendar_on_every_day_of_2026() -> None:
    cal = WorkingCalendar()
    day = date(2026, 1, 1)
    while day.year == 2026:
        assert cal.is_workday(day) == chinese_calendar.is_workday(day), day
        day += timedelta(days=1)


def test_it_matches_chinese_calendar_lists_of_2026_makeup_days() -> None:
    makeup = {
        d
        for d in chinese_calendar.get_workdays(date(2026, 1, 1), date(2026, 12, 31), include_weekends=True)
        if d.weekday() >= 5
    }
    assert set(SPRING_FESTIVAL_2026_MAKEUP) | set(NATIONAL_DAY_2026_MAKEUP) <= makeup


def test_it_counts_workdays_across_spring_festival_2026() -> None:
    cal = WorkingCalendar()
    # From Thu 2-12: Fri 2-13, Sat 2-14 (make-up), then the 9-day break, then 2-24, 2-25, 2-26.
    result = cal.add_workdays(date(2026, 2, 12), 5)
    assert result == WorkdayResult(day=date(2026, 2, 26), estimated=False)
    assert result.day == _oracle_add(date(2026, 2, 12), 5)


def test_it_counts_workdays_across_national_day_2026() -> None:
    cal = WorkingCalendar()
    # From Wed 9-30: Thu 10-08, Fri 10-09, Sat 10-10 (make-up).
    assert cal.add_workdays(date(2026, 9, 30), 3).day == date(2026, 10, 10)
    assert cal.add_workdays(date(2026, 9, 30), 3).day == _oracle_add(date(2026, 9, 30), 3)
    assert cal.workdays_between(date(2026, 9, 30), date(2026, 10, 10)) == 3


def _oracle_add(start: date, n: int) -> date:
    # An independent count straight from the library, to cross-check add_workdays.
    day = start
    while n:
        day += timedelta(days=1)
        if chinese_calendar.is_workday(day):
            n -= 1
    return day


def test_it_returns_start_for_zero_workdays_on_a_workday_and_the_next_workday_otherwise() -> None:
    cal = WorkingCalendar()
    assert cal.add_workdays(date(2026, 3, 9), 0).day == date(2026, 3, 9)
    assert cal.add_workdays(date(2026, 3, 7), 0).day == date(2026, 3, 9)
    assert cal.add_workdays(date(2026, 10, 1), 0).day == date(2026, 10, 8)
    assert cal.add_workdays(date(2026, 2, 14), 0).day == date(2026, 2, 14)


def test_it_counts_backwards_for_negative_n() -> None:
    cal = WorkingCalendar()
    assert cal.add_workdays(date(2026, 10, 8), -1).day == date(2026, 9, 30)
    assert cal.add_workdays(date(2026, 3, 9), -2).day == date(2026, 3, 5)


def test_it_estimates_2027_from_the_statutory_holidays_without_crashing() -> None:
    cal = WorkingCalendar()
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(date(2027, 1, 4))  # the trap this estimate exists for
    assert cal.is_estimated(date(2027, 1, 1))
    assert not cal.is_estimated(date(2026, 12, 31))
    assert not cal.is_workday(date(2027, 1, 1))  # a Friday, and New Year's Day
    assert not cal.is_workday(date(2027, 1, 2))
    assert cal.is_workday(date(2027, 1, 4))
    # 春节 2027: 除夕 Fri 2-5 to 初三 Mon 2-8; 初一 and 初二 fall on the weekend and are made up on 2-9 and 2-10.
    assert [cal.is_workday(date(2027, 2, d)) for d in range(4, 12)] == [
        True, False, False, False, False, False, False, True
    ]  # fmt: skip


def test_it_counts_an_order_of_late_january_2027_past_the_spring_festival() -> None:
    cal = WorkingCalendar()
    # Mon 1-25, 10 working days: 1-26..29 and 2-1..4 are 8; 2-5..2-10 are off; Thu 2-11 and Fri 2-12.
    assert cal.add_workdays(date(2027, 1, 25), 10) == WorkdayResult(date(2027, 2, 12), estimated=True)
    # The 5th working day from Mon 2-1 would be 2-5, 除夕: it is Thu 2-11 instead.
    assert cal.add_workdays(date(2027, 2, 1), 4).day == date(2027, 2, 11)


def test_it_falls_back_for_years_before_the_library_data() -> None:
    cal = WorkingCalendar()
    assert cal.is_estimated(date(2003, 6, 2))
    assert cal.is_workday(date(2003, 6, 2))


def test_it_marks_a_count_that_crosses_into_2027_as_estimated() -> None:
    cal = WorkingCalendar()
    # Sun 12-20: Dec 21-25 and 28-31 are 9 workdays; Fri 2027-01-01 is New Year's Day, Mon 01-04 the 10th.
    assert cal.add_workdays(date(2026, 12, 20), 10) == WorkdayResult(date(2027, 1, 4), estimated=True)
    assert cal.add_workdays(date(2026, 12, 20), 9) == WorkdayResult(date(2026, 12, 31), estimated=False)


def test_it_lets_a_loaded_2027_schedule_take_precedence() -> None:
    cal = WorkingCalendar([schedule_2027()])
    assert cal.known_years() == {2027}
    assert not cal.is_estimated(date(2027, 1, 1))
    assert not cal.is_workday(date(2027, 1, 1))  # weekday declared holiday
    assert cal.is_workday(date(2027, 1, 2))  # Saturday make-up day
    assert not cal.is_workday(date(2027, 1, 3))  # ordinary Sunday
    assert not cal.is_workday(date(2027, 1, 5))  # Tuesday declared holiday
    # Dec 21-31 give 9; Jan 1 is off, Sat Jan 2 is the 10th; Mon Jan 4 the 11th; Jan 5 skipped.
    assert cal.add_workdays(date(2026, 12, 20), 10) == WorkdayResult(date(2027, 1, 2), estimated=False)
    assert cal.add_workdays(date(2026, 12, 20), 12) == WorkdayResult(date(2027, 1, 6), estimated=False)


def test_it_lets_a_loaded_schedule_override_chinese_calendar_for_a_known_year() -> None:
    override = YearSchedule(year=2026, holidays=frozenset({date(2026, 3, 9)}), workdays=frozenset())
    cal = WorkingCalendar([override])
    assert not cal.is_workday(date(2026, 3, 9))
    # A loaded year follows only its own lists: the library's National Day no longer applies.
    assert cal.is_workday(date(2026, 10, 1))


def test_it_stays_estimated_when_counting_through_a_fallback_year_into_a_loaded_one() -> None:
    loaded_2028 = YearSchedule(year=2028, holidays=frozenset(), workdays=frozenset())
    cal = WorkingCalendar([loaded_2028])
    result = cal.add_workdays(date(2026, 12, 31), 300)
    assert result.day.year == 2028
    assert result.estimated


def test_it_counts_workdays_between_as_half_open_interval() -> None:
    cal = WorkingCalendar()
    assert cal.workdays_between(date(2026, 3, 9), date(2026, 3, 9)) == 0
    assert cal.workdays_between(date(2026, 3, 6), date(2026, 3, 9)) == 1  # Fri -> Mon
    assert cal.workdays_between(date(2026, 2, 13), date(2026, 2, 24)) == 2  # 2-14 make-up and 2-24
    assert cal.workdays_between(date(2026, 3, 9), date(2026, 3, 6)) == -1
    assert cal.workdays_between(date(2026, 12, 31), date(2027, 1, 4)) == 1  # estimated: Fri is New Year's Day


def test_it_rejects_a_datetime_where_a_date_is_expected() -> None:
    cal = WorkingCalendar()
    with pytest.raises(TypeError):
        cal.is_workday(datetime(2026, 3, 9, 12, 0))  # type: ignore[arg-type]


def test_it_rejects_two_schedules_for_one_year() -> None:
    with pytest.raises(ValueError, match="2027"):
        WorkingCalendar([schedule_2027(), schedule_2027()])


def test_it_parses_a_schedule_from_a_dict() -> None:
    schedule = YearSchedule.from_dict(
        {"year": 2027, "holidays": ["2027-01-01", date(2027, 10, 1)], "workdays": ["2027-02-06"]}
    )
    assert schedule.year == 2027
    assert schedule.holidays == frozenset({date(2027, 1, 1), date(2027, 10, 1)})
    assert schedule.workdays == frozenset({date(2027, 2, 6)})
    assert YearSchedule.from_dict({"year": 2027}).holidays == frozenset()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"year": 2027, "holidays": ["2026-12-31"]}, "2026-12-31 outside the year 2027"),
        ({"year": 2027, "workdays": ["2028-01-01"]}, "outside the year"),
        ({"year": 2027, "holidays": ["2027-1-1"]}, "not a YYYY-MM-DD"),
        ({"year": 2027, "holidays": ["2027/01/01"]}, "not a YYYY-MM-DD"),
        ({"year": 2027, "holidays": ["20270101"]}, "not a YYYY-MM-DD"),
        ({"year": 2027, "holidays": ["2027-02-30"]}, "not a valid date"),
        ({"year": 2027, "holidays": [20270101]}, "not a YYYY-MM-DD"),
        ({"year": 2027, "holidays": [datetime(2027, 1, 1)]}, "date-time"),
        ({"year": 2027, "holidays": "2027-01-01"}, "list of dates"),
        ({"year": 2027, "holidays": ["2027-02-06"], "workdays": ["2027-02-06"]}, "both"),
        ({"year": 2027, "workdays": ["2027-02-08"]}, "Monday-Friday"),
        ({"year": "2027"}, "integer"),
        ({"holidays": []}, "no 'year'"),
        ({"year": 2027, "holiday": ["2027-01-01"]}, "unknown schedule keys: holiday"),
        (["2027-01-01"], "mapping"),
    ],
)
def test_it_rejects_malformed_schedules_with_a_clear_message(data: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        YearSchedule.from_dict(data)  # type: ignore[arg-type]


def test_it_raises_schedule_error_which_is_a_value_error() -> None:
    with pytest.raises(ScheduleError):
        YearSchedule(year=2027, holidays=frozenset({date(2026, 1, 1)}), workdays=frozenset())


def test_it_writes_a_bilingual_fallback_warning() -> None:
    assert fallback_years_warning({2027}) == (
        "2027 年法定节假日安排尚未导入，工作日按法定节日估算（不含调休） / "
        "Official 2027 holiday schedule not loaded: working days estimated from the statutory holidays, "
        "without make-up working days"
    )
    two = fallback_years_warning({2028, 2027})
    assert two.startswith("2027、2028 年")
    assert "Official 2027, 2028 holiday schedules not loaded" in two
    assert fallback_years_warning(set()) == ""
