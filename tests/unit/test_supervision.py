"""The order of a major hazard's stages and who takes each step (tracker.domain.supervision)."""

from __future__ import annotations

import pytest

from tracker.domain import supervision as track
from tracker.domain.errors import FindingAlreadyClosed, InvalidTransition, NotAllowed
from tracker.domain.model import Actor, Role
from tracker.domain.supervision import Stage

HEAD = Actor(1, "head", Role.FACILITY_HEAD, facility_id=7)
INSPECTOR = Actor(2, "insp", Role.INSPECTOR)
CHIEF = Actor(3, "chief", Role.SECTION_CHIEF, sectors=frozenset({"elderly"}))
LEAD = Actor(4, "lead", Role.BUREAU_LEAD, sectors=frozenset({"elderly"}))
OTHER_LEAD = Actor(5, "lead2", Role.BUREAU_LEAD, sectors=frozenset({"children"}))
ADMIN = Actor(6, "admin", Role.ADMIN)


def test_a_major_goes_from_its_plan_to_the_sign_off_in_order():
    stage = track.first_stage(referral_pending=False)
    assert stage is Stage.PLAN
    stage = track.file_plan(stage).after
    stage = track.verify_interim(stage).after
    track.may_rectify(stage)
    stage = track.verified(stage, accepted=True).after
    stage = track.accept(stage, accepted=True).after
    assert stage is Stage.SIGNOFF
    assert track.sign_off(stage).after is Stage.CLOSED


def test_a_referred_one_waits_at_its_judgement_for_the_answer():
    stage = track.first_stage(referral_pending=True)
    assert stage is Stage.JUDGEMENT
    with pytest.raises(InvalidTransition):
        track.file_plan(stage)
    assert track.answer_referral(stage).after is Stage.PLAN
    assert track.answer_referral(Stage.INTERIM).after is Stage.INTERIM


def test_no_step_is_skipped_and_a_closed_one_takes_none():
    with pytest.raises(InvalidTransition):
        track.may_rectify(Stage.INTERIM)
    with pytest.raises(InvalidTransition):
        track.sign_off(Stage.ACCEPTANCE)
    with pytest.raises(FindingAlreadyClosed):
        track.file_plan(Stage.CLOSED)
    assert track.verified(Stage.RECTIFICATION, accepted=False).after is Stage.RECTIFICATION
    assert track.accept(Stage.ACCEPTANCE, accepted=False).after is Stage.RECTIFICATION


def test_only_the_sectors_lead_signs_off_and_only_its_chief_accepts():
    track.may_sign_off(LEAD, "elderly")
    track.may_accept(CHIEF, "elderly")
    track.may_decide_extension(CHIEF, "elderly")
    for actor in (HEAD, INSPECTOR, CHIEF, OTHER_LEAD, ADMIN):
        with pytest.raises(NotAllowed):
            track.may_sign_off(actor, "elderly")
    for actor in (HEAD, INSPECTOR, LEAD, ADMIN):
        with pytest.raises(NotAllowed):
            track.may_accept(actor, "elderly")
        with pytest.raises(NotAllowed):
            track.may_decide_extension(actor, "elderly")
    with pytest.raises(NotAllowed):
        track.may_act_for_facility(HEAD, 8)
    with pytest.raises(NotAllowed):
        track.may_verify_interim(CHIEF)


def test_the_notice_number_reads_as_the_bureau_prints_it():
    assert track.notice_number("民安督", 2026, 3) == "民安督〔2026〕3号"
