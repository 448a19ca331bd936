"""Rules over one inspection's failures: GB 35181's composite judgement by edition, place and threshold, and
local rules that advise until a document adopts them."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from tracker.checklists import ChecklistInvalid, Rule, RuleHit, apply_rules, load_catalog
from tracker.checklists.rules import Advice, Failure, judge

COMPOSITE = "RULE-FIRE-COMPOSITE-01"
NIGHT = "RULE-NIGHT-FIRE-01"
AFTER_2025 = date(2026, 12, 7)
BEFORE_2025 = date(2025, 10, 31)


@pytest.fixture(scope="module")
def rules() -> list[Rule]:
    return load_catalog().rules


def _fail(*codes: str, quantity: tuple[str, ...] = ()) -> list[Failure]:
    return [Failure(code, "general", code in quantity) for code in codes]


# --- GB 35181-2025 at its thresholds ------------------------------------------------------------------


def test_it_makes_one_composite_finding_at_three_elements_and_raises_no_element(rules: list[Rule]) -> None:
    failed = _fail("FIRE-LANE-01", "FIRE-EXT-01", "FIRE-EXIT-01", "FIRE-HYDRANT-01")
    judged = judge(rules, "nursing_home", AFTER_2025, failed, {})
    [hit] = judged.composites
    assert (hit.rule_code, hit.version.version, hit.place_zh, hit.min_elements) == (
        COMPOSITE,
        "GB 35181-2025",
        "老年人照料设施",
        3,
    )
    assert hit.elements == ("LANE", "EXIT", "WATER")
    assert hit.item_codes == ("FIRE-LANE-01", "FIRE-EXIT-01", "FIRE-HYDRANT-01")
    # The element findings keep their own grade: nothing is raised.
    assert judged.raised == [] and judged.advice == []


def test_it_makes_nothing_one_element_below_the_threshold(rules: list[Rule]) -> None:
    failed = _fail("FIRE-LANE-01", "FIRE-EXIT-01", "FIRE-EXT-01", "FIRE-DRILL-01")
    assert judge(rules, "nursing_home", AFTER_2025, failed, {}).composites == []


def test_an_element_with_a_quantity_counts_only_when_the_failure_reaches_it(rules: list[Rule]) -> None:
    failed = _fail("FIRE-LANE-01", "FIRE-EXIT-01", "FIRE-LIGHT-01")
    assert judge(rules, "nursing_home", AFTER_2025, failed, {}).composites == []
    reached = _fail("FIRE-LANE-01", "FIRE-EXIT-01", "FIRE-LIGHT-01", quantity=("FIRE-LIGHT-01",))
    [hit] = judge(rules, "nursing_home", AFTER_2025, reached, {}).composites
    assert hit.elements == ("LANE", "EXIT", "LIGHTING")


@pytest.mark.parametrize(
    ("facility_type", "place"),
    [
        ("elderly_service_center", "老年人照料设施"),
        ("children_centre", "儿童活动场所"),
        ("relief_station", "人员密集场所"),
    ],
)
def test_it_fires_at_each_place_the_2025_edition_names(
    rules: list[Rule], facility_type: str, place: str
) -> None:
    failed = _fail("FIRE-LANE-01", "FIRE-EXIT-01", "FIRE-AUTO-02")
    [hit] = judge(rules, facility_type, AFTER_2025, failed, {}).composites
    assert hit.place_zh == place


@pytest.mark.parametrize("facility_type", ["cemetery", "marriage_registry", "funeral_home", "meal_point"])
def test_it_never_fires_outside_the_standards_places(rules: list[Rule], facility_type: str) -> None:
    every = _fail(
        "FIRE-LANE-01",
        "FIRE-DOOR-01",
        "FIRE-EXIT-01",
        "FIRE-EXIT-02",
        "FIRE-LIGHT-01",
        "FIRE-HYDRANT-01",
        "FIRE-AUTO-02",
        "FIRE-CTRL-01",
        quantity=("FIRE-DOOR-01", "FIRE-LIGHT-01"),
    )
    for day in (AFTER_2025, BEFORE_2025):
        assert judge(rules, facility_type, day, every, {}).composites == []


# --- GB 35181-2017 for inspections before 2025-11-01 -------------------------------------------------------


def test_an_inspection_before_2025_11_01_is_judged_by_the_2017_edition(rules: list[Rule]) -> None:
    # Three 2025 elements, but only one of them (7.3.3) is among the 2017 crowded-place elements.
    failed = _fail("FIRE-LANE-01", "FIRE-EXIT-01", "FIRE-HYDRANT-01")
    assert judge(rules, "nursing_home", BEFORE_2025, failed, {}).composites == []
    assert len(judge(rules, "nursing_home", date(2025, 11, 1), failed, {}).composites) == 1


def test_the_2017_edition_counts_its_evacuation_elements_at_three(rules: list[Rule]) -> None:
    failed = _fail(
        "FIRE-EXIT-01", "FIRE-LIGHT-01", "FIRE-DOOR-01", quantity=("FIRE-LIGHT-01", "FIRE-DOOR-01")
    )
    [hit] = judge(rules, "nursing_home", BEFORE_2025, failed, {}).composites
    assert (hit.version.version, hit.place_zh) == ("GB 35181-2017", "人员密集场所")
    assert hit.elements == ("7.3.3", "7.3.6", "7.3.7")
    assert hit.version.basis == "GB 35181-2017《重大火灾隐患判定方法》"
    two = _fail("FIRE-EXIT-01", "FIRE-LIGHT-01", quantity=("FIRE-LIGHT-01",))
    assert judge(rules, "nursing_home", BEFORE_2025, two, {}).composites == []


def test_the_printed_basis_carries_no_internal_doubt(rules: list[Rule]) -> None:
    [composite] = [r for r in rules if r.code == COMPOSITE]
    for version in composite.versions:
        assert not any(word in version.basis for word in ("待核", "未核", "可能属", "估算", "est."))
    assert composite.refer_to == "消防救援机构"


def test_the_2025_edition_stays_unverified_until_its_chapter_6_is_read(rules: list[Rule]) -> None:
    # Only its number, title, dates and terms were read (checklists/rules.yaml says where): the elements,
    # quantities and thresholds it is judged by are the 2017 figures, and the staff note says so.
    [composite] = [r for r in rules if r.code == COMPOSITE]
    edition = composite.version_on(AFTER_2025)
    assert edition is not None and edition.version == "GB 35181-2025"
    assert (edition.effective, edition.basis) == (date(2025, 11, 1), "GB 35181-2025《重大火灾隐患判定规则》")
    assert edition.basis_verified is False and not composite.basis_verified
    assert "未能读到原文" in edition.note and "2017年版" in edition.note
    assert {t.place_zh: t.min_elements for t in edition.thresholds} == {
        "老年人照料设施": 3,
        "儿童活动场所": 3,
        "人员密集场所": 3,
    }


# --- the local rule: advice until adopted ----------------------------------------------------------------

NIGHT_FAILURES = _fail("EBIKE-INDOOR-01", "FIRE-AUTO-02", "SVC-DUTY-01", "FIRE-EXT-01")


def test_an_unadopted_local_rule_only_advises(rules: list[Rule]) -> None:
    judged = judge(rules, "nursing_home", AFTER_2025, NIGHT_FAILURES, {})
    assert judged.raised == []
    assert judged.advice == [Advice(NIGHT, ("EBIKE-INDOOR-01", "FIRE-AUTO-02", "SVC-DUTY-01"))]


def test_an_adopted_local_rule_grades_from_its_effective_day(rules: list[Rule]) -> None:
    adopted = {NIGHT: date(2026, 12, 1)}
    judged = judge(rules, "nursing_home", AFTER_2025, NIGHT_FAILURES, adopted)
    assert judged.raised == [
        RuleHit(NIGHT, "EBIKE-INDOOR-01"),
        RuleHit(NIGHT, "FIRE-AUTO-02"),
        RuleHit(NIGHT, "SVC-DUTY-01"),
    ]
    assert judged.advice == []
    before = judge(rules, "nursing_home", date(2026, 11, 30), NIGHT_FAILURES, adopted)
    assert before.raised == [] and [a.rule_code for a in before.advice] == [NIGHT]


# --- apply_rules: the counting of a binding raise rule --------------------------------------------------


def _rule(code: str, items: list[str], min_failed: int, raises: str | list[str] = "all_matched") -> Rule:
    return Rule(
        code=code,
        zh="规则",
        en="Rule",
        backing="standard",
        basis="test",
        basis_verified=False,
        any_of_items=items,
        min_failed=min_failed,
        raises=raises,
    )


THREE_OF_FOUR = _rule("RULE-A-01", ["A-1", "A-2", "A-3", "A-4"], 3)


def test_it_raises_every_matched_item_when_the_threshold_is_exactly_met() -> None:
    failed = [("A-1", "general"), ("X-9", "general"), ("A-3", "general"), ("A-4", "general")]
    assert apply_rules([THREE_OF_FOUR], failed) == [
        RuleHit("RULE-A-01", "A-1"),
        RuleHit("RULE-A-01", "A-3"),
        RuleHit("RULE-A-01", "A-4"),
    ]


def test_it_raises_nothing_below_the_threshold_and_leaves_majors_alone() -> None:
    assert apply_rules([THREE_OF_FOUR], [("A-1", "general"), ("A-2", "general")]) == []
    failed = [("A-1", "major"), ("A-2", "general"), ("A-3", "major")]
    assert apply_rules([THREE_OF_FOUR], failed) == [RuleHit("RULE-A-01", "A-2", "major")]


def test_it_refuses_an_unknown_severity() -> None:
    with pytest.raises(ValueError, match="serious"):
        apply_rules([THREE_OF_FOUR], [("A-1", "serious")])


# --- the loader ----------------------------------------------------------------------------------------

FACILITY_TYPES = """\
version: "1"
facility_types:
  - code: nursing_home
    zh: 养老机构
    en: Nursing home
    checklists: [fire]
    sector: elderly
    ownership: town
"""

FIRE = """\
category: fire
version: "1"
effective: 2024-01-01
title: {zh: 消防安全, en: Fire safety}
items:
  - code: FIRE-EXIT-01
    zh: 安全出口上锁
    en: Exit locked
    facility_types: [all]
    severity: general
    deadline: 3
    basis: 《消防法》
  - code: FIRE-LANE-01
    zh: 消防车道被占用
    en: Fire lane blocked
    facility_types: [all]
    severity: general
    deadline: 3
    basis: 《消防法》
"""

COMPOSITE_YAML = """\
rules:
  - code: RULE-FIRE-01
    zh: 综合判定
    en: Composite
    kind: composite
    backing: standard
    basis: GB 35181
    refer_to: 消防救援机构
    versions:
      - version: GB 35181-2025
        effective: 2025-11-01
        basis: GB 35181-2025《重大火灾隐患判定规则》
        elements:
          - {code: EXIT, zh: 出口, items: [FIRE-EXIT-01]}
          - {code: LANE, zh: 车道, items: [FIRE-LANE-01]}
        thresholds:
          - place: 老年人照料设施
            facility_types: [nursing_home, nursing_hom]
            min_elements: 3
"""


def test_the_loader_reports_unknown_places_and_thresholds_that_cannot_be_reached(tmp_path: Path) -> None:
    files = {"facility_types.yaml": FACILITY_TYPES, "fire.yaml": FIRE, "rules.yaml": COMPOSITE_YAML}
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(ChecklistInvalid) as caught:
        load_catalog(tmp_path)
    assert caught.value.problems == [
        "rules.yaml:18: rule RULE-FIRE-01: unknown facility type 'nursing_hom'",
        "rules.yaml:19: rule RULE-FIRE-01 version GB 35181-2025 threshold: "
        "min_elements 3 exceeds the 2 elements it counts",
    ]
