"""The 复查 deadline, the rejection's working days, and the rules of escalation actions: pure, nothing running."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from tracker.domain.actions import check_action, may_record_action, words
from tracker.domain.calendar import WorkingCalendar
from tracker.domain.errors import InvalidInput, NotAllowed
from tracker.domain.model import Actor, Role
from tracker.domain.policy import (
    REVIEW_LADDER,
    PolicySettings,
    next_review_escalation_at,
    rejection_workdays,
    review_deadline,
)

CAL = WorkingCalendar()
SETTINGS = PolicySettings()
CST = timezone(timedelta(hours=8))


def local(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=CST).astimezone(UTC)


def test_a_review_is_due_three_working_days_on_reminded_the_day_before_and_escalated_the_next_morning():
    review = review_deadline(local(2026, 11, 2, 9), "general", CAL, SETTINGS)  # a Monday
    assert review.deadline.day == date(2026, 11, 5)
    assert review.deadline.due_at == local(2026, 11, 5, 23) + timedelta(minutes=59, seconds=59)
    assert review.deadline.remind_at == local(2026, 11, 4, 9)
    assert review.escalate_at == local(2026, 11, 6, 9)
    assert next_review_escalation_at(review.escalate_at, 1, CAL, SETTINGS) == local(2026, 11, 11, 9)
    assert next_review_escalation_at(review.escalate_at, len(REVIEW_LADDER), CAL, SETTINGS) is None
    assert REVIEW_LADDER == ("section_chief", "bureau_lead")


def test_a_review_due_on_a_friday_escalates_on_monday_morning_not_at_midnight():
    review = review_deadline(local(2026, 11, 3, 15), "general", CAL, SETTINGS)  # a Tuesday
    assert review.deadline.day == date(2026, 11, 6)
    assert review.escalate_at == local(2026, 11, 9, 9)


def test_review_days_are_per_severity_and_checked():
    quick = PolicySettings(review_deadline_days={"general": 3, "major": 1})
    assert review_deadline(local(2026, 11, 2, 9), "major", CAL, quick).deadline.day == date(2026, 11, 3)
    with pytest.raises(ValueError, match="review deadline"):
        PolicySettings(review_deadline_days={"general": -1})
    with pytest.raises(ValueError, match="no review deadline"):
        review_deadline(local(2026, 11, 2, 9), "minor", CAL, SETTINGS)


def test_a_rejection_takes_the_verifiers_days_else_the_items_else_the_policys():
    assert rejection_workdays(20, 7, SETTINGS) == 20
    assert rejection_workdays(0, 7, SETTINGS) == 0
    assert rejection_workdays(None, 7, SETTINGS) == 7
    assert rejection_workdays(None, None, SETTINGS) == SETTINGS.rejection_deadline_days == 5


CHIEF = Actor(1, "yang", Role.SECTION_CHIEF, sectors=frozenset({"elderly"}))
LEAD = Actor(2, "chen", Role.BUREAU_LEAD, sectors=frozenset({"children", "elderly"}))


@pytest.mark.parametrize(
    "actor",
    [
        Actor(3, "li", Role.INSPECTOR),
        Actor(4, "wang", Role.FACILITY_HEAD, facility_id=1),
        Actor(5, "hl", Role.TOWN_OFFICER, town="汇龙镇"),
        Actor(6, "admin", Role.ADMIN),
        Actor(7, "zhou", Role.SECTION_CHIEF, sectors=frozenset({"relief"})),
    ],
)
def test_only_the_sectors_chief_or_lead_records_an_action(actor: Actor):
    may_record_action(CHIEF, "elderly")
    may_record_action(LEAD, "elderly")
    with pytest.raises(NotAllowed):
        may_record_action(actor, "elderly")


def test_an_action_names_its_referral_suits_the_facility_and_is_not_dated_ahead():
    today, found = date(2026, 11, 4), date(2026, 11, 2)

    def check(
        kind: str, to: str | None = None, ownership: str = "town", on: date = today, note: str = "说明"
    ):
        check_action(kind, to, note, ownership, on, found, today)

    for kind in ("urge", "interview", "notice", "suspension"):
        check(kind)
    check("referral", to="县消防救援大队")
    check("credit", ownership="private")
    for bad, field in (
        (lambda: check("referral"), "to"),
        (lambda: check("credit", ownership="bureau"), "kind"),
        (lambda: check("credit", ownership="town"), "kind"),
        (lambda: check("fine"), "kind"),
        (lambda: check("urge", note=" "), "note"),
        (lambda: check("urge", on=date(2026, 11, 5)), "on_day"),
        (lambda: check("urge", on=date(2026, 11, 1)), "on_day"),
    ):
        with pytest.raises(InvalidInput) as refused:
            bad()
        assert refused.value.field == field
    assert words("referral", "县市场监管局") == "移送至县市场监管局" and words("suspension") == "责令停业整顿"
