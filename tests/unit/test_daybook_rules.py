"""The day book's own rules on one finding's life, worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from tracker.domain.calendar import LOCAL_TZ
from tracker.stats.daybook import (
    Fact,
    cells,
    compute,
    compute_value_today,
    compute_values,
    days_to_close,
    flows_before,
    flows_from,
    flows_of,
    month_starts,
    stock_spans,
    value_cells,
)
from tracker.store.tables import DAYBOOK_FLOWS

MON, TUE, WED, THU, FRI, SAT = (date(2026, 11, d) for d in range(2, 8))


def at(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute, second), tzinfo=LOCAL_TZ).astimezone(UTC)


def fact(**changes) -> Fact:
    life = {
        "id": 1,
        "reported_at": at(MON, 10),
        "closed_at": at(FRI, 15),
        "due_at": at(WED, 23, 59, 59),
        "submitted_at": at(THU, 9),
        "status": "closed",
        "severity": "major",
        "category": "fire",
        "facility_id": 7,
        "town": "汇龙镇",
        "facility_type": "nursing_home",
        "mode": "unannounced",
        "is_repeat": False,
    }
    return Fact(**(life | changes))


def test_a_finding_closed_late_in_the_week_it_was_found():
    assert flows_of(fact()) == [
        (MON, "found"),
        (MON, "found_major"),
        (FRI, "closed"),
        (FRI, "closed_major"),
        (FRI, "closed_same_week"),
        (FRI, "closed_same_month"),
    ]
    # Open at 00:00 of Tuesday to Friday; overdue at 00:00 of Thursday only (due Wednesday, submitted Thursday).
    assert stock_spans(fact()) == [("open", TUE, FRI), ("open_major", TUE, FRI), ("overdue", THU, THU)]
    assert days_to_close(fact()) == (FRI, 4)


def test_a_finding_closed_on_its_deadline_day_and_one_still_open():
    on_time = fact(closed_at=at(WED, 16), submitted_at=at(WED, 9), severity="general", is_repeat=True)
    assert (WED, "on_time") in flows_of(on_time) and (MON, "repeat") in flows_of(on_time)
    assert [s for s in stock_spans(on_time) if s[0] == "overdue"] == []
    still = fact(closed_at=None, submitted_at=None, status="ordered")
    assert stock_spans(still) == [("open", TUE, None), ("open_major", TUE, None), ("overdue", THU, None)]
    assert days_to_close(still) is None


def test_it_counts_each_cell_and_remembers_who_is_overdue_at_the_last_day():
    book = compute(
        [fact(), fact(id=2, closed_at=None, submitted_at=None, status="ordered")],
        (MON, SAT),
        (MON, SAT),
        at(SAT, 0),
    )
    by_severity = ("汇龙镇", "severity", "major")
    assert book.flows[(MON, by_severity)][:2] == [2, 2]  # found, found major
    assert book.stocks[(THU, by_severity)] == [2, 2, 2]  # open, open major, overdue
    assert book.stocks[(FRI, by_severity)] == [2, 2, 1]
    assert (SAT, by_severity) not in book.stocks  # outside the stock days asked for
    assert book.overdue_at_end == [2]
    assert book.close_days == {(FRI, "汇龙镇", 4): 1}


def test_a_moment_splits_a_findings_flows_into_what_came_before_and_after_it():
    """Reported Monday, closed Friday 15:00: caught up to Friday noon, the day book holds the finding found; what
    happened from noon on (the closing) is read from the rows."""
    closed = fact()
    noon = at(FRI, 12)
    before, after = flows_before(closed, noon), flows_from(closed, noon)
    assert sorted(before + after) == sorted(flows_of(closed))
    assert {flow for _, flow in before} == {"found", "found_major"}
    assert after == [
        (FRI, "closed"),
        (FRI, "closed_major"),
        (FRI, "closed_same_week"),
        (FRI, "closed_same_month"),
    ]
    assert flows_before(closed, at(MON, 8)) == [] and flows_from(closed, at(SAT, 0)) == []


def test_the_day_book_of_one_value_counts_each_value_against_each_other_by_month():
    """Two findings at one facility, one of them in another category, found in late October and closed in
    November: each value's month rows hold them per other value, and the stocks at 1 November hold both."""
    october = date(2026, 10, 1)
    late = fact(reported_at=at(date(2026, 10, 30), 9), due_at=at(date(2026, 10, 31), 23, 59, 59))
    gas = fact(id=2, category="gas", severity="general", reported_at=at(date(2026, 10, 30), 10))
    town = "汇龙镇"
    assert len(value_cells(late)) == 25  # five values, each against the five
    assert (town, "category", "fire", "severity", "major") in value_cells(late)
    book = compute_values([late, gas], october, SAT, month_starts(october, SAT))
    assert month_starts(october, SAT) == [october, MON.replace(day=1)]
    # October's flows: both found, one major; November's (its days before Saturday): both closed.
    assert book.months[(october, (town, "facility", "7", "category", "fire"))][:2] == [1, 1]
    assert book.months[(october, (town, "facility", "7", "category", "gas"))][:2] == [1, 0]
    assert book.months[(october, (town, "category", "gas", "category", "gas"))][:2] == [1, 0]
    november = MON.replace(day=1)
    closed = DAYBOOK_FLOWS.index("closed")
    assert book.months[(november, (town, "facility", "7", "severity", "major"))][closed] == 1
    assert book.months[(november, (town, "facility", "7", "facility", "7"))][closed] == 2
    # Open at 00:00 of 1 November, the major one overdue (due 31 October).
    assert book.stocks[(november, (town, "severity", "major", "category", "fire"))] == [1, 1, 1]
    assert book.stocks[(november, (town, "facility", "7", "facility", "7"))] == [2, 1, 1]
    assert (october, (town, "facility", "7", "facility", "7")) not in book.stocks
    # Days to close: each closed on Friday 6 November, seven days after 30 October.
    assert book.close_days[("facility", "7", november, town, 7)] == 2
    assert book.close_days[("category", "gas", november, town, 7)] == 1


def test_the_day_in_progress_of_one_value_counts_what_happened_before_the_moment():
    """Friday up to 14:00: a finding found on Monday and closed at 13:00, one found at 9:00 and closed at 15:00
    (found counts, the closing not yet), one found at 14:00 exactly (not yet) and one closed on Thursday (not
    Friday's)."""
    town = "汇龙镇"
    closed_today = fact(closed_at=at(FRI, 13))
    found_today = fact(
        id=2, category="gas", severity="general", reported_at=at(FRI, 9), closed_at=at(FRI, 15)
    )
    at_the_moment = fact(id=3, reported_at=at(FRI, 14), closed_at=None, status="ordered")
    yesterday = fact(id=4, closed_at=at(THU, 16))
    book = compute_value_today([closed_today, found_today, at_the_moment, yesterday], FRI, at(FRI, 14))
    found, closed = DAYBOOK_FLOWS.index("found"), DAYBOOK_FLOWS.index("closed")
    both = book.flows[(town, "facility", "7", "facility", "7")]
    assert (both[found], both[closed]) == (1, 1)
    assert book.flows[(town, "category", "gas", "severity", "general")][:2] == [1, 0]
    assert book.flows[(town, "category", "fire", "category", "fire")][found] == 0
    # Each of the first two finding's 25 cells, nothing else.
    assert set(book.flows) == {*value_cells(closed_today), *value_cells(found_today)}
    # Days to close: Monday to Friday, of the one closed before 14:00 only, per value of each dimension.
    assert book.close_days == {(dim, key, town, 4): 1 for _, dim, key in cells(closed_today)}
