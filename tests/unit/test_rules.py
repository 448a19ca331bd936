"""Composite rules: counting failed items of one inspection against a threshold."""

from __future__ import annotations

import pytest

from tracker.checklists import Rule, RuleHit, apply_rules, load_catalog


def _rule(code: str, items: list[str], min_failed: int, raises: str | list[str] = "all_matched") -> Rule:
    return Rule(
        code=code,
        zh="规则",
        en="Rule",
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


def test_it_raises_nothing_one_short_of_the_threshold() -> None:
    assert apply_rules([THREE_OF_FOUR], [("A-1", "general"), ("A-2", "general"), ("X-9", "general")]) == []


def test_it_counts_an_item_failed_twice_once() -> None:
    failed = [("A-1", "general"), ("A-1", "general"), ("A-2", "general")]
    assert apply_rules([THREE_OF_FOUR], failed) == []


def test_it_counts_major_items_but_only_raises_general_ones() -> None:
    failed = [("A-1", "major"), ("A-2", "general"), ("A-3", "major")]
    assert apply_rules([THREE_OF_FOUR], failed) == [RuleHit("RULE-A-01", "A-2", "major")]


def test_it_raises_an_item_with_a_general_finding_even_if_another_is_major() -> None:
    failed = [("A-1", "major"), ("A-1", "general"), ("A-2", "major"), ("A-3", "major")]
    assert apply_rules([THREE_OF_FOUR], failed) == [RuleHit("RULE-A-01", "A-1")]


def test_it_raises_only_the_items_a_rule_names() -> None:
    rule = _rule("RULE-B-01", ["A-1", "A-2", "A-3"], 2, raises=["A-1"])
    assert apply_rules([rule], [("A-2", "general"), ("A-3", "general")]) == []
    assert apply_rules([rule], [("A-2", "general"), ("A-1", "general")]) == [RuleHit("RULE-B-01", "A-1")]


def test_it_raises_an_item_once_by_the_first_rule_that_reaches_it() -> None:
    other = _rule("RULE-C-01", ["A-3", "A-4", "C-1"], 2)
    failed = [("A-1", "general"), ("A-2", "general"), ("A-3", "general"), ("C-1", "general")]
    assert apply_rules([THREE_OF_FOUR, other], failed) == [
        RuleHit("RULE-A-01", "A-1"),
        RuleHit("RULE-A-01", "A-2"),
        RuleHit("RULE-A-01", "A-3"),
        RuleHit("RULE-C-01", "C-1"),
    ]


def test_it_leaves_its_input_alone_and_gives_the_same_answer_twice() -> None:
    failed = [("A-1", "general"), ("A-2", "general"), ("A-3", "general")]
    before = list(failed)
    assert apply_rules([THREE_OF_FOUR], failed) == apply_rules([THREE_OF_FOUR], iter(failed))
    assert failed == before


def test_it_rejects_an_unknown_severity() -> None:
    with pytest.raises(ValueError):
        apply_rules([THREE_OF_FOUR], [("A-1", "serious")])


# --- the shipped rules ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rules() -> list[Rule]:
    return load_catalog().rules


def test_it_makes_three_fire_elements_a_major_fire_hazard(rules: list[Rule]) -> None:
    failed = [
        ("FIRE-EXIT-01", "general"),
        ("FIRE-LIGHT-01", "general"),
        ("FIRE-EXT-01", "general"),
        ("FIRE-DOOR-01", "general"),
    ]
    assert apply_rules(rules, failed) == [
        RuleHit("RULE-FIRE-COMPOSITE-01", "FIRE-EXIT-01"),
        RuleHit("RULE-FIRE-COMPOSITE-01", "FIRE-LIGHT-01"),
        RuleHit("RULE-FIRE-COMPOSITE-01", "FIRE-DOOR-01"),
    ]


def test_it_leaves_two_fire_elements_general(rules: list[Rule]) -> None:
    failed = [("FIRE-EXIT-01", "general"), ("FIRE-LIGHT-01", "general"), ("FIRE-EXT-01", "general")]
    assert apply_rules(rules, failed) == []


def test_it_combines_categories_in_the_night_fire_rule(rules: list[Rule]) -> None:
    failed = [
        ("EBIKE-INDOOR-01", "general"),
        ("FIRE-AUTO-02", "general"),
        ("SVC-DUTY-01", "general"),
        ("FOOD-SAMPLE-01", "general"),
    ]
    assert apply_rules(rules, failed) == [
        RuleHit("RULE-NIGHT-FIRE-01", "EBIKE-INDOOR-01"),
        RuleHit("RULE-NIGHT-FIRE-01", "FIRE-AUTO-02"),
        RuleHit("RULE-NIGHT-FIRE-01", "SVC-DUTY-01"),
    ]
    assert apply_rules(rules, failed[:2]) == []


def test_it_needs_at_least_two_categories_to_fire_the_night_rule(rules: list[Rule]) -> None:
    catalog = load_catalog()
    night = next(rule for rule in rules if rule.code == "RULE-NIGHT-FIRE-01")
    per_category: dict[str, int] = {}
    for code in night.any_of_items:
        category = catalog.item(code).category
        per_category[category] = per_category.get(category, 0) + 1
    assert max(per_category.values()) < night.min_failed
