"""A grade recorded lower than the checklist's, who decides it, who made the check and when: no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tracker.domain import grading
from tracker.domain.errors import InvalidInput, InvalidTransition, NotAllowed
from tracker.domain.model import Actor, Mode, Role, Severity

NOW = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


def test_it_needs_a_reason_to_record_a_major_item_as_general():
    with pytest.raises(InvalidInput) as refused:
        grading.grade(Severity.MAJOR, Severity.GENERAL, "  ", "items[2].severity_reason")
    assert refused.value.field == "items[2].severity_reason"


def test_with_a_reason_the_finding_stays_major_and_waits_for_a_decision():
    graded = grading.grade(Severity.MAJOR, Severity.GENERAL, " 仅一处 ")
    assert graded == grading.Grade(Severity.MAJOR, "pending", "仅一处")


@pytest.mark.parametrize(
    "default, given, expected",
    [
        (Severity.MAJOR, None, Severity.MAJOR),
        (Severity.GENERAL, None, Severity.GENERAL),
        (Severity.GENERAL, Severity.MAJOR, Severity.MAJOR),  # raising a grade needs nobody's approval
    ],
)
def test_any_other_grade_is_taken_as_given(default, given, expected):
    graded = grading.grade(default, given, "")
    assert graded.severity is expected and graded.downgrade is None


@pytest.mark.parametrize("role", [Role.SECTION_CHIEF, Role.BUREAU_LEAD, Role.ADMIN])
def test_a_section_chief_lead_or_admin_decides_a_downgrade(role):
    grading.may_decide_downgrade(Actor(1, "x", role))


@pytest.mark.parametrize("role", [Role.INSPECTOR, Role.TOWN_OFFICER, Role.FACILITY_HEAD])
def test_nobody_else_decides_a_downgrade(role):
    with pytest.raises(NotAllowed):
        grading.may_decide_downgrade(Actor(1, "x", role, facility_id=1, town="汇龙镇"))


def test_a_downgrade_is_decided_once():
    assert grading.decide_downgrade("pending", approved=True) == "approved"
    assert grading.decide_downgrade("pending", approved=False) == "refused"
    for state in (None, "approved", "refused"):
        with pytest.raises(InvalidTransition):
            grading.decide_downgrade(state, approved=True)


def test_the_crew_is_the_submitter_first_then_the_others():
    assert grading.crew(Mode.COVERT, 7, [3, 9]) == [7, 3, 9]
    assert grading.crew(Mode.UNANNOUNCED, 7, []) == [7]  # a lone check is recorded as one


@pytest.mark.parametrize("mode, others", [(Mode.ROUTINE, [7]), (Mode.ROUTINE, [3, 3]), (Mode.SELF, [3])])
def test_it_refuses_a_crew_that_repeats_someone_or_names_inspectors_on_a_self_inspection(mode, others):
    with pytest.raises(InvalidInput) as refused:
        grading.crew(mode, 7, others)
    assert refused.value.field == "inspectors"


def test_the_onsite_time_keeps_an_earlier_time_and_takes_a_phone_clock_a_little_ahead_as_now():
    assert grading.onsite_time(None, NOW) is None
    assert grading.onsite_time(NOW - timedelta(days=2), NOW) == NOW - timedelta(days=2)
    assert grading.onsite_time(NOW + timedelta(minutes=5), NOW) == NOW


@pytest.mark.parametrize("given", [NOW + timedelta(hours=1), datetime(2026, 12, 6, 8, 0)])
def test_it_refuses_an_onsite_time_to_come_or_without_a_time_zone(given):
    with pytest.raises(InvalidInput) as refused:
        grading.onsite_time(given, NOW)
    assert refused.value.field == "onsite_at"
