"""Composite rules over the failed items of one inspection (GB 35181-style counting)."""

from __future__ import annotations

from collections.abc import Iterable

from tracker.checklists.model import SEVERITIES, Rule, RuleHit


def apply_rules(rules: Iterable[Rule], failed: Iterable[tuple[str, str]]) -> list[RuleHit]:
    """Which failed items the composite rules raise to major.

    `failed` holds (item_code, severity) for each failed finding of one inspection. A rule fires when
    at least `min_failed` distinct items of its list failed, whatever their severity; it then raises
    the failed items it names that still have a general finding. An item is raised once, by the first
    rule (in file order) that reaches it. Hits come in rule order, then in the order of `failed`.
    Unknown item codes are simply never matched: this function does not know the catalog.
    """
    first_seen: dict[str, None] = {}
    has_general: set[str] = set()
    for code, severity in failed:
        if severity not in SEVERITIES:
            raise ValueError(f"unknown severity {severity!r} for {code}; expected one of {SEVERITIES}")
        first_seen.setdefault(code, None)
        if severity == "general":
            has_general.add(code)

    hits: list[RuleHit] = []
    raised: set[str] = set()
    for rule in rules:
        listed = set(rule.any_of_items)
        # Two findings of the same item are one element of the count, as in GB 35181.
        matched = [code for code in first_seen if code in listed]
        if len(matched) < rule.min_failed:
            continue
        for code in matched:
            if code in has_general and code not in raised and rule.raises_item(code):
                raised.add(code)
                hits.append(RuleHit(rule_code=rule.code, item_code=code))
    return hits
