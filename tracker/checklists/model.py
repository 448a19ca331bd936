"""The checklist catalog: items, categories, facility types and composite rules.

Everything here is data read from `checklists/*.yaml`; nothing in the code names an item.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["general", "major"]
SEVERITIES: tuple[Severity, ...] = ("general", "major")
ALL_MATCHED = "all_matched"


class ChecklistInvalid(Exception):
    """The checklist files are wrong; `problems` lists every fault as "file.yaml:LINE: message"."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the checklist files"
        super().__init__("\n  ".join([head + ":", *self.problems]))


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class Item(_Frozen):
    """One thing an inspector checks.

    `facility_types` holds concrete facility-type codes: the loader expands the YAML's `[all]` to
    every facility type whose checklists include this item's category. `major_situation` names the
    situation of 《养老机构重大事故隐患判定标准》 the item matches (e.g. "MCA-2023-1-2" = aspect 1,
    situation 2); it speaks for elderly-care institutions only.
    """

    code: str
    category: str
    zh: str
    en: str
    facility_types: list[str]
    severity: Severity
    deadline_general_days: int = Field(ge=0)
    deadline_major_days: int = Field(ge=0)
    stop_use: bool
    basis: str
    basis_verified: bool
    hint_zh: str
    hint_en: str
    major_situation: str | None
    checklist_version: str

    # Lists make the generated hash fail; an item is identified by its code within a version.
    def __hash__(self) -> int:
        return hash((self.code, self.checklist_version))

    def deadline_days(self, severity: str) -> int:
        """Working days allowed to fix a finding of this item at `severity`; 0 means immediately."""
        if severity == "general":
            return self.deadline_general_days
        if severity == "major":
            return self.deadline_major_days
        raise ValueError(f"unknown severity {severity!r}; expected one of {SEVERITIES}")

    def applies_to(self, facility_type: str) -> bool:
        return facility_type in self.facility_types


class Category(_Frozen):
    code: str
    zh: str
    en: str
    version: str
    effective: date
    items: list[Item]

    def __hash__(self) -> int:
        return hash((self.code, self.version))


class FacilityType(_Frozen):
    code: str
    zh: str
    en: str
    checklists: list[str]

    def __hash__(self) -> int:
        return hash(self.code)


class Rule(_Frozen):
    """A composite judgement: when at least `min_failed` of `any_of_items` fail in one inspection,
    the failed ones among `raises` (or all of them, for "all_matched") become major."""

    code: str
    zh: str
    en: str
    basis: str
    basis_verified: bool
    any_of_items: list[str]
    min_failed: int = Field(ge=1)
    raises: Literal["all_matched"] | list[str]

    def __hash__(self) -> int:
        return hash(self.code)

    def raises_item(self, item_code: str) -> bool:
        if self.raises == ALL_MATCHED:
            return item_code in self.any_of_items
        return item_code in self.raises


@dataclass(frozen=True, slots=True)
class RuleHit:
    """A composite rule lifted one failed item of an inspection to `new_severity`."""

    rule_code: str
    item_code: str
    new_severity: Severity = "major"


class Catalog:
    """All checklist items, facility types and rules of one checklist directory, read-only."""

    def __init__(
        self,
        categories: dict[str, Category],
        facility_types: dict[str, FacilityType],
        rules: list[Rule],
    ) -> None:
        self._categories = dict(categories)
        self._facility_types = dict(facility_types)
        self._rules = list(rules)
        self._items = {item.code: item for cat in self._categories.values() for item in cat.items}

    @property
    def categories(self) -> dict[str, Category]:
        return dict(self._categories)

    @property
    def facility_types(self) -> dict[str, FacilityType]:
        return dict(self._facility_types)

    @property
    def rules(self) -> list[Rule]:
        return list(self._rules)

    def item(self, code: str) -> Item:
        try:
            return self._items[code]
        except KeyError:
            raise KeyError(f"unknown checklist item {code!r}") from None

    def has(self, code: str) -> bool:
        return code in self._items

    def items(self, facility_type: str | None = None, category: str | None = None) -> list[Item]:
        """Items in file order, optionally only those for one facility type and/or one category.

        An unknown facility type or category raises KeyError: a typo must not look like "nothing to
        check".
        """
        if facility_type is not None and facility_type not in self._facility_types:
            raise KeyError(f"unknown facility type {facility_type!r}")
        if category is not None and category not in self._categories:
            raise KeyError(f"unknown checklist category {category!r}")
        return [
            item
            for item in self._items.values()
            if (category is None or item.category == category)
            and (facility_type is None or item.applies_to(facility_type))
        ]

    def __repr__(self) -> str:
        return (
            f"Catalog({len(self._categories)} categories, {len(self._items)} items, "
            f"{len(self._facility_types)} facility types, {len(self._rules)} rules)"
        )
