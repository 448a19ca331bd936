"""Rules over the failed items of one inspection: composite judgements (GB 35181) and local raising rules.

Pure: the caller passes the facility type, the day that chooses the standard's edition, the failures, and
which local rules a recorded document has adopted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from tracker.checklists.model import SEVERITIES, Rule, RuleHit, RuleVersion
from tracker.domain.model import Severity

ADVICE_ZH = "建议按重大事故隐患研判"


@dataclass(frozen=True, slots=True)
class Failure:
    """A failed item of the inspection; `quantity_met` says the failure reaches the quantity an element
    of a standard sets (e.g. more than half of the emergency lights damaged)."""

    item_code: str
    severity: str
    quantity_met: bool = False


@dataclass(frozen=True, slots=True)
class CompositeHit:
    """A composite rule fired: `elements` (codes, in the rule's order) were counted from `item_codes`."""

    rule_code: str
    version: RuleVersion
    place_zh: str
    min_elements: int
    elements: tuple[str, ...]
    item_codes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Advice:
    """A rule no standard or adopted document backs would have fired: staff are advised, no grade changes."""

    rule_code: str
    item_codes: tuple[str, ...]


@dataclass(frozen=True)
class Judgement:
    raised: list[RuleHit] = field(default_factory=list)
    composites: list[CompositeHit] = field(default_factory=list)
    advice: list[Advice] = field(default_factory=list)


def judge(
    rules: Iterable[Rule],
    facility_type: str,
    day: date,
    failures: Iterable[Failure],
    adopted: Mapping[str, date],
) -> Judgement:
    """What the rules make of one inspection's failures.

    A composite rule takes the edition of its standard in effect on `day`; it fires when the elements
    counted reach the threshold for the facility's place category, and not at all where the edition
    names no such place. A raise rule binds when a standard backs it or when `adopted` records a document
    in effect on `day` (rule code -> effective day); otherwise the items it would raise are only advised.
    """
    failed = list(failures)
    judgement = Judgement()
    binding: list[Rule] = []
    for rule in rules:
        if rule.kind == "composite":
            hit = _composite(rule, facility_type, day, failed)
            if hit is not None:
                judgement.composites.append(hit)
        elif rule.backing == "standard" or (rule.code in adopted and adopted[rule.code] <= day):
            binding.append(rule)
        else:
            matched = _matched(rule, failed)
            if matched:
                judgement.advice.append(Advice(rule.code, tuple(matched)))
    judgement.raised.extend(apply_rules(binding, [(f.item_code, f.severity) for f in failed]))
    return judgement


def _composite(rule: Rule, facility_type: str, day: date, failed: list[Failure]) -> CompositeHit | None:
    version = rule.version_on(day)
    if version is None:
        return None
    threshold = version.threshold_for(facility_type)
    if threshold is None:
        return None
    counted: list[str] = []
    items: list[str] = []
    for element in version.elements:
        if threshold.among is not None and element.code not in threshold.among:
            continue
        behind = [
            f.item_code
            for f in failed
            if f.item_code in element.items and (element.quantity_zh is None or f.quantity_met)
        ]
        if behind:
            counted.append(element.code)
            items.extend(code for code in behind if code not in items)
    if len(counted) < threshold.min_elements:
        return None
    return CompositeHit(
        rule.code, version, threshold.place_zh, threshold.min_elements, tuple(counted), tuple(items)
    )


def _matched(rule: Rule, failed: list[Failure]) -> list[str]:
    """The failed items of a raise rule's list when at least `min_failed` distinct ones failed."""
    codes = list(dict.fromkeys(f.item_code for f in failed if f.item_code in rule.any_of_items))
    return codes if rule.min_failed is not None and len(codes) >= rule.min_failed else []


def apply_rules(rules: Iterable[Rule], failed: Iterable[tuple[str, str]]) -> list[RuleHit]:
    """Which failed items the raise rules lift to major.

    `failed` holds (item_code, severity) for each failed finding of one inspection. A rule fires when
    at least `min_failed` distinct items of its list failed, whatever their severity; it then raises
    the failed items it names that still have a general finding. An item is raised once, by the first
    rule (in file order) that reaches it. Hits come in rule order, then in the order of `failed`.
    Composite rules never raise an item: they make a finding of their own (see `judge`).
    """
    first_seen: dict[str, None] = {}
    has_general: set[str] = set()
    for code, severity in failed:
        if severity not in SEVERITIES:
            raise ValueError(f"unknown severity {severity!r} for {code}; expected one of {SEVERITIES}")
        first_seen.setdefault(code, None)
        if severity == Severity.GENERAL:
            has_general.add(code)

    hits: list[RuleHit] = []
    raised: set[str] = set()
    for rule in rules:
        if rule.kind != "raise" or rule.min_failed is None:
            continue
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
