"""Deadline, reminder and escalation policy."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from tracker.domain.calendar import WorkingCalendar, YearSchedule
from tracker.domain.model import Ownership
from tracker.domain.policy import (
    LADDERS,
    Deadline,
    PolicySettings,
    Rung,
    deadline_for,
    first_escalation_at,
    is_overdue,
    ladder_step,
    next_escalation_at,
    rejection_deadline,
    settled_deadline,
    validate_ladders,
)

CAL = WorkingCalendar()
SETTINGS = PolicySettings()


# Asia/Shanghai is UTC+8 all year (no DST), so a fixed offset keeps the expected values readable.
CST = timezone(timedelta(hours=8))


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=CST).astimezone(UTC)


def test_it_has_the_documented_defaults() -> None:
    assert SETTINGS.default_deadline_days == {"general": 10, "major": 30}
    assert (SETTINGS.remind_before_workdays, SETTINGS.escalate_every_workdays) == (2, 3)
    assert (SETTINGS.max_level, SETTINGS.remind_hour, SETTINGS.rejection_deadline_days) == (4, 9, 5)
    assert PolicySettings().default_deadline_days is not SETTINGS.default_deadline_days
    F, T, S, L, P = Rung.FACILITY, Rung.TOWN, Rung.SECTION, Rung.SECTOR_LEAD, Rung.PRINCIPAL
    assert {o: [set(step) for step in steps] for o, steps in LADDERS.items()} == {
        Ownership.BUREAU: [{F}, {S}, {L}, {P}],  # 业务科室 → 分管局领导 → 主要负责人
        Ownership.TOWN: [{F}, {T}, {S}, {L}],  # 镇（街道）分管 → 业务科室 → 分管局领导
        Ownership.PRIVATE: [{F}, {S, T}, {L}],  # 业务科室 and 属地镇（街道） together → 分管局领导
    }


def test_it_picks_the_item_deadline_before_the_severity_default() -> None:
    assert SETTINGS.deadline_workdays("general") == 10
    assert SETTINGS.deadline_workdays("major") == 30
    assert SETTINGS.deadline_workdays("major", 0) == 0
    assert SETTINGS.deadline_workdays("general", 7) == 7
    with pytest.raises(ValueError, match="severity"):
        SETTINGS.deadline_workdays("catastrophic")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_level": 0},
        {"max_level": 5},
        {"remind_hour": 24},
        {"escalate_every_workdays": 0},
        {"remind_before_workdays": -1},
        {"default_deadline_days": {"general": -1}},
    ],
)
def test_it_rejects_settings_out_of_range(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        PolicySettings(**kwargs)  # type: ignore[arg-type]


def test_it_ends_a_deadline_at_the_end_of_the_local_working_day_in_utc() -> None:
    # Mon 2026-03-09 10:00 local; 3 workdays -> Thu 03-12 23:59:59 local = 15:59:59 UTC.
    deadline = deadline_for(local(2026, 3, 9, 10), 3, CAL, SETTINGS)
    assert deadline.day == date(2026, 3, 12)
    assert deadline.due_at == datetime(2026, 3, 12, 15, 59, 59, tzinfo=UTC)
    assert deadline.due_at.tzinfo is UTC
    assert deadline.estimated is False
    # Reminder 2 workdays before Thursday: Tue 03-10 09:00 local = 01:00 UTC.
    assert deadline.remind_at == datetime(2026, 3, 10, 1, 0, tzinfo=UTC)


def test_it_counts_a_deadline_over_national_day_2026() -> None:
    # Wed 09-30: Thu 10-08, Fri 10-09, Sat 10-10 (make-up), Mon 10-12, Tue 10-13.
    deadline = deadline_for(local(2026, 9, 30, 15), 5, CAL, SETTINGS)
    assert deadline.day == date(2026, 10, 13)
    # Two workdays back from 10-13 are 10-12 and 10-10, the make-up Saturday.
    assert deadline.remind_at == local(2026, 10, 10, 9)


def test_it_counts_a_deadline_over_spring_festival_2026() -> None:
    deadline = deadline_for(local(2026, 2, 12, 11), 10, CAL, SETTINGS)
    # 2-13, 2-14 (make-up), 2-24..2-27, 2-28 (make-up), 3-02, 3-03, 3-04.
    assert deadline.day == date(2026, 3, 4)
    assert deadline.estimated is False


def test_it_counts_from_the_local_date_not_the_utc_date() -> None:
    # 2026-03-08 17:00 UTC is already Mon 03-09 01:00 local: one workday later is Tuesday.
    assert deadline_for(datetime(2026, 3, 8, 17, 0, tzinfo=UTC), 1, CAL, SETTINGS).day == date(2026, 3, 10)
    # 2026-03-08 15:00 UTC is still Sun 03-08 23:00 local: one workday later is Monday.
    assert deadline_for(datetime(2026, 3, 8, 15, 0, tzinfo=UTC), 1, CAL, SETTINGS).day == date(2026, 3, 9)
    # Fri 2026-03-06 16:30 UTC is Sat 00:30 local, so "immediate" rolls to Monday, not Friday.
    assert deadline_for(datetime(2026, 3, 6, 16, 30, tzinfo=UTC), 0, CAL, SETTINGS).day == date(2026, 3, 9)


def test_it_rolls_an_immediate_deadline_on_saturday_to_monday() -> None:
    deadline = deadline_for(local(2026, 3, 7, 11), 0, CAL, SETTINGS)
    assert deadline.day == date(2026, 3, 9)
    assert deadline.due_at == local(2026, 3, 9, 23, 59, 59)


def test_it_keeps_an_immediate_deadline_on_a_workday_and_on_a_makeup_saturday() -> None:
    assert deadline_for(local(2026, 3, 9, 8), 0, CAL, SETTINGS).day == date(2026, 3, 9)
    assert deadline_for(local(2026, 2, 14, 8), 0, CAL, SETTINGS).day == date(2026, 2, 14)
    assert deadline_for(local(2026, 10, 1, 8), 0, CAL, SETTINGS).day == date(2026, 10, 8)


def test_it_drops_a_reminder_that_would_not_come_after_the_order() -> None:
    assert deadline_for(local(2026, 3, 9, 10), 0, CAL, SETTINGS).remind_at is None
    assert deadline_for(local(2026, 3, 9, 10), 1, CAL, SETTINGS).remind_at is None
    # Deadline Wed: reminder Mon 09:00, exactly the order time, so not after it.
    assert deadline_for(local(2026, 3, 9, 9), 2, CAL, SETTINGS).remind_at is None
    assert deadline_for(local(2026, 3, 9, 8, 59), 2, CAL, SETTINGS).remind_at == local(2026, 3, 9, 9)


def test_it_reminds_on_the_deadline_day_when_configured_with_zero() -> None:
    settings = PolicySettings(remind_before_workdays=0, remind_hour=14)
    deadline = deadline_for(local(2026, 3, 9, 10), 3, CAL, settings)
    assert deadline.remind_at == local(2026, 3, 12, 14)


def test_it_marks_a_deadline_crossing_into_2027_as_estimated() -> None:
    deadline = deadline_for(local(2026, 12, 20, 10), 10, CAL, SETTINGS)
    assert deadline.estimated is True
    assert deadline.day == date(2027, 1, 4)  # the estimate knows New Year's Day
    assert deadline.due_at == datetime(2027, 1, 4, 15, 59, 59, tzinfo=UTC)
    assert deadline.remind_at == local(2026, 12, 30, 9)


def test_it_follows_a_loaded_2027_schedule_and_is_no_longer_estimated() -> None:
    schedule = YearSchedule.from_dict(
        {"year": 2027, "holidays": ["2027-01-01", "2027-01-04"], "workdays": ["2027-01-09"]}
    )
    cal = WorkingCalendar([schedule])
    # 9 workdays in Dec; Fri 1-1 and Mon 1-4 are off: Tue 1-5 is the 10th.
    deadline = deadline_for(local(2026, 12, 20, 10), 10, cal, SETTINGS)
    assert deadline == Deadline(
        due_at=local(2027, 1, 5, 23, 59, 59),
        day=date(2027, 1, 5),
        estimated=False,
        remind_at=local(2026, 12, 30, 9),  # two workdays back skip 1-4 and 1-1: 12-31, 12-30
        counted_from=local(2026, 12, 20, 10),
        workdays=10,
    )
    # 1-6, 1-7, 1-8, then Sat 1-9 (make-up) is the 4th workday after Tue 1-5.
    assert deadline_for(local(2027, 1, 5, 10), 4, cal, SETTINGS).day == date(2027, 1, 9)


def test_it_gives_a_rejection_deadline_in_working_days() -> None:
    deadline = rejection_deadline(local(2026, 9, 29, 16), CAL, SETTINGS)
    # Tue 9-29: Wed 9-30, Thu 10-08, Fri 10-09, Sat 10-10 (make-up), Mon 10-12.
    assert deadline.day == date(2026, 10, 12)


def test_it_escalates_first_at_nine_on_the_working_day_after_the_deadline() -> None:
    deadline = deadline_for(local(2026, 3, 9, 10), 3, CAL, SETTINGS)  # Thu 03-12
    assert first_escalation_at(deadline, CAL, SETTINGS) == local(2026, 3, 13, 9)
    friday = deadline_for(local(2026, 3, 9, 10), 4, CAL, SETTINGS)  # Fri 03-13: next working day is Monday
    assert first_escalation_at(friday, CAL, SETTINGS) == local(2026, 3, 16, 9)
    eve = deadline_for(local(2026, 9, 25, 10), 3, CAL, SETTINGS)  # Wed 09-30, the National Day eve
    assert eve.day == date(2026, 9, 30)
    assert first_escalation_at(eve, CAL, SETTINGS) == local(2026, 10, 8, 9)


@pytest.mark.parametrize(
    ("ownership", "expected"),
    [
        (Ownership.TOWN, [Rung.FACILITY, Rung.TOWN, Rung.SECTION, Rung.SECTOR_LEAD]),
        (Ownership.BUREAU, [Rung.FACILITY, Rung.SECTION, Rung.SECTOR_LEAD, Rung.PRINCIPAL]),
        (Ownership.PRIVATE, [Rung.FACILITY, frozenset({Rung.SECTION, Rung.TOWN}), Rung.SECTOR_LEAD]),
    ],
)
def test_it_steps_through_the_ownerships_ladder_and_stops_at_its_top(ownership, expected) -> None:
    deadline = deadline_for(local(2026, 3, 9, 10), 4, CAL, SETTINGS)  # Fri 03-13
    at: datetime | None = first_escalation_at(deadline, CAL, SETTINGS)
    level = 1
    seen: list[tuple[int, frozenset[Rung], datetime]] = []
    while at is not None:
        seen.append((level, ladder_step(ownership, level), at))
        at = next_escalation_at(at, level, CAL, SETTINGS, ownership)
        level += 1
    moments = [
        local(2026, 3, 16, 9),  # the Monday after the Friday deadline, 09:00
        local(2026, 3, 19, 9),  # Mon + 3 workdays = Thu
        local(2026, 3, 24, 9),  # Thu + 3 = Tue
        local(2026, 3, 27, 9),  # Tue + 3 = Fri
    ]
    assert [lv for lv, _, _ in seen] == list(range(1, len(LADDERS[ownership]) + 1))
    assert [at for _, _, at in seen] == moments[: len(seen)]
    for (_, step, _), rungs in zip(seen, expected, strict=True):
        assert step == (frozenset({rungs}) if isinstance(rungs, Rung) else rungs)


def test_it_counts_escalation_steps_in_working_days_over_holidays() -> None:
    nxt = next_escalation_at(local(2026, 9, 30, 0, 0, 1), 1, CAL, SETTINGS)
    assert nxt == local(2026, 10, 10, 9)  # 10-08, 10-09, then the make-up Saturday


def test_it_stops_escalating_at_a_lower_configured_max_level() -> None:
    settings = PolicySettings(max_level=2)
    assert next_escalation_at(local(2026, 3, 9, 10), 1, CAL, settings) is not None
    assert next_escalation_at(local(2026, 3, 9, 10), 2, CAL, settings) is None
    assert next_escalation_at(local(2026, 3, 9, 10), 4, CAL, SETTINGS) is None


def test_it_rejects_a_level_outside_the_ladder() -> None:
    for ownership, bad in (
        (Ownership.TOWN, 0),
        (Ownership.TOWN, 5),
        (Ownership.PRIVATE, 4),
        (Ownership.TOWN, -1),
    ):
        with pytest.raises(ValueError):
            ladder_step(ownership, bad)
    with pytest.raises(ValueError):
        next_escalation_at(local(2026, 3, 9, 10), 0, CAL, SETTINGS)
    assert next_escalation_at(local(2026, 3, 9, 10), 3, CAL, SETTINGS, Ownership.PRIVATE) is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({Ownership.PRIVATE: None}, "no escalation ladder for ownership private"),
        ({Ownership.TOWN: (frozenset({Rung.TOWN}),)}, "level 1 must be the facility"),
        ({Ownership.TOWN: (frozenset({Rung.FACILITY}), frozenset())}, "level 2: a step names"),
        (
            {Ownership.BUREAU: (frozenset({Rung.FACILITY}), frozenset({Rung.FACILITY, Rung.SECTION}))},
            "level 2: the facility is told at level 1 only",
        ),
        ({Ownership.TOWN: (frozenset({Rung.FACILITY}), frozenset({"town"}))}, "level 2: a step names"),
    ],
)
def test_it_validates_the_ladders(change, message) -> None:
    ladders = {o: s for o, s in {**LADDERS, **change}.items() if s is not None}
    with pytest.raises(ValueError, match=message):
        validate_ladders(ladders)


def test_it_is_overdue_only_strictly_after_the_deadline() -> None:
    due = datetime(2026, 3, 12, 15, 59, 59, tzinfo=UTC)
    assert not is_overdue(due, due)
    assert not is_overdue(due, due - timedelta(hours=1))
    assert is_overdue(due, due + timedelta(seconds=1))
    # An aware non-UTC moment is the same instant, so it compares correctly.
    assert is_overdue(due, local(2026, 3, 13, 0, 0, 0))


def test_it_rejects_naive_datetimes() -> None:
    naive = datetime(2026, 3, 9, 10, 0)
    aware = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="timezone-aware"):
        deadline_for(naive, 3, CAL, SETTINGS)
    with pytest.raises(ValueError, match="timezone-aware"):
        next_escalation_at(naive, 1, CAL, SETTINGS)
    with pytest.raises(ValueError, match="timezone-aware"):
        is_overdue(naive, aware)
    with pytest.raises(ValueError, match="timezone-aware"):
        is_overdue(aware, naive)


def test_it_rejects_a_negative_deadline() -> None:
    with pytest.raises(ValueError):
        deadline_for(local(2026, 3, 9, 10), -1, CAL, SETTINGS)


def schedule_2027_spring_festival() -> YearSchedule:
    # Invented for the tests: the real 2027 schedule was not published when this was written.
    return YearSchedule.from_dict(
        {
            "year": 2027,
            "holidays": [f"2027-02-{d:02d}" for d in (5, 8, 9, 10, 11, 12)],
            "workdays": ["2027-01-31", "2027-02-20"],
        }
    )


def test_it_settles_an_estimated_deadline_later_once_the_schedule_is_loaded() -> None:
    ordered = local(2027, 1, 25, 10)
    estimated = deadline_for(ordered, 10, CAL, SETTINGS)
    assert (estimated.day, estimated.estimated) == (date(2027, 2, 12), True)
    loaded = WorkingCalendar([schedule_2027_spring_festival()])
    # Sun 1-31 is a make-up day: 1-26..29, 1-31, 2-1..4 are 9; 2-5..2-14 are off; Mon 2-15 is the 10th.
    settled = settled_deadline(estimated.day, ordered, 10, loaded, SETTINGS, now=local(2027, 1, 26, 9))
    assert settled is not None
    assert (settled.day, settled.estimated) == (date(2027, 2, 15), False)
    assert settled.due_at == local(2027, 2, 15, 23, 59, 59)
    assert settled.remind_at == local(2027, 2, 3, 9)  # two working days back: 2-4, 2-3


def test_it_never_brings_a_deadline_forward() -> None:
    ordered = local(2027, 1, 25, 10)
    estimated = deadline_for(ordered, 10, CAL, SETTINGS)
    # A schedule with no festival at all would end the count earlier, on Mon 2-8: the estimate stands.
    bare = WorkingCalendar([YearSchedule(year=2027, holidays=frozenset(), workdays=frozenset())])
    assert deadline_for(ordered, 10, bare, SETTINGS).day == date(2027, 2, 8)
    assert settled_deadline(estimated.day, ordered, 10, bare, SETTINGS, now=ordered) is None
    assert settled_deadline(estimated.day, ordered, 10, CAL, SETTINGS, now=ordered) is None


def test_it_drops_a_reminder_whose_moment_passed_before_the_deadline_moved() -> None:
    ordered = local(2027, 1, 25, 10)
    loaded = WorkingCalendar([schedule_2027_spring_festival()])
    settled = settled_deadline(date(2027, 2, 12), ordered, 10, loaded, SETTINGS, now=local(2027, 2, 4, 8))
    assert settled is not None and settled.day == date(2027, 2, 15) and settled.remind_at is None
