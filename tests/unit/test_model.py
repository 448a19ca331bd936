"""The life of a finding and who may move it, with nothing running."""

from __future__ import annotations

import pytest

from tracker.domain import model
from tracker.domain.errors import FindingAlreadyClosed, InvalidTransition, NotAllowed
from tracker.domain.model import Actor, FacilityRef, Mode, Role, Status

HEAD = Actor(1, "head", Role.FACILITY_HEAD, facility_id=7)
INSPECTOR = Actor(2, "insp", Role.INSPECTOR)
TOWN = Actor(3, "town", Role.TOWN_OFFICER, town="汇龙镇")


def test_it_walks_the_loop_reported_ordered_submitted_closed():
    assert model.order(Status.REPORTED).after is Status.ORDERED
    assert model.submit(Status.ORDERED).after is Status.SUBMITTED
    assert model.verify(Status.SUBMITTED, accepted=True).after is Status.CLOSED


def test_it_returns_a_rejected_rectification_to_ordered():
    transition = model.verify(Status.SUBMITTED, accepted=False)
    assert transition.after is Status.ORDERED and transition.action == "rejected"


@pytest.mark.parametrize(
    "step", [lambda s: model.order(s), lambda s: model.submit(s), lambda s: model.verify(s, True)]
)
def test_it_refuses_any_step_on_a_closed_finding(step):
    with pytest.raises(FindingAlreadyClosed):
        step(Status.CLOSED)


def test_it_refuses_to_verify_what_was_not_submitted():
    with pytest.raises(InvalidTransition):
        model.verify(Status.ORDERED, accepted=True)


def test_it_never_lets_a_facility_verify_its_own_hazard():
    with pytest.raises(NotAllowed):
        model.may_verify(HEAD, 7)
    with pytest.raises(NotAllowed):
        model.may_verify(HEAD, 8)
    model.may_verify(INSPECTOR, 7)


def test_it_lets_only_the_facilitys_own_head_submit_evidence():
    model.may_submit_rectification(HEAD, 7)
    for actor, facility in ((HEAD, 8), (INSPECTOR, 7)):
        with pytest.raises(NotAllowed):
            model.may_submit_rectification(actor, facility)


def test_it_scopes_what_each_role_sees():
    mine, other = FacilityRef(7, "汇龙镇"), FacilityRef(8, "南阳镇")
    assert model.can_see(HEAD, mine) and not model.can_see(HEAD, other)
    assert model.can_see(TOWN, mine) and not model.can_see(TOWN, other)
    assert model.can_see(INSPECTOR, other)


def test_it_describes_what_each_role_sees_as_one_scope():
    assert model.visible_to(HEAD) == model.Scope(facility_id=7)
    assert model.visible_to(TOWN) == model.Scope(town="汇龙镇")
    assert model.visible_to(INSPECTOR) == model.Scope(everything=True)
    for role in (Role.SECTION_CHIEF, Role.BUREAU_LEAD, Role.ADMIN):
        assert model.visible_to(Actor(4, "x", role)).everything


def test_someone_with_no_facility_or_town_on_record_sees_nothing():
    anywhere = FacilityRef(7, "汇龙镇")
    for actor in (Actor(5, "h", Role.FACILITY_HEAD), Actor(6, "t", Role.TOWN_OFFICER)):
        assert model.visible_to(actor) == model.Scope()
        assert not model.can_see(actor, anywhere)


def test_it_lets_a_facility_head_report_only_a_self_inspection_of_their_own_facility():
    model.may_report(HEAD, FacilityRef(7, "汇龙镇"), Mode.SELF)
    with pytest.raises(NotAllowed):
        model.may_report(HEAD, FacilityRef(7, "汇龙镇"), Mode.UNANNOUNCED)
    with pytest.raises(NotAllowed):
        model.may_report(HEAD, FacilityRef(8, "南阳镇"), Mode.SELF)


def test_a_person_is_shown_by_name_and_by_login_only_without_one():
    assert Actor(1, "head-QD001", Role.FACILITY_HEAD, display_name="刘志强").name == "刘志强"
    assert Actor(2, "inspector", Role.INSPECTOR).name == "inspector"
