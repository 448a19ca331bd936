"""The checklist catalog: items, categories, facility types and composite rules.

Everything here is data read from `checklists/*.yaml`; nothing in the code names an item.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tracker.domain.model import Severity
from tracker.domain.time import local_day

# The values a checklist file may write (tracker.domain.model.Severity).
SEVERITIES: tuple[str, ...] = tuple(s.value for s in Severity)
ALL_MATCHED = "all_matched"
# The category of an item a campaign defines itself is "campaign:<campaign code>".
CAMPAIGN_CATEGORY_PREFIX = "campaign:"


def local_today() -> date:
    """The bureau's day now (China Standard Time), for the command line's defaults."""
    return local_day(datetime.now(UTC))


class ChecklistInvalid(Exception):
    """The checklist files are wrong; `problems` lists every fault as "file.yaml:LINE: message"."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the checklist files"
        super().__init__("\n  ".join([head + ":", *self.problems]))


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


# Words that mark a basis as unchecked: they may stand in an internal note, never on a served document.
UNVERIFIED_MARKERS: tuple[str, ...] = ("待核", "未核实", "可能属", "估算", "est.")


def unverified_marker(text: str) -> str | None:
    """The first doubt marker in `text`, or None when it may be printed."""
    lowered = text.lower()
    return next((marker for marker in UNVERIFIED_MARKERS if marker in lowered), None)


class Basis(_Frozen):
    """What an item says, and how it grades, at some facility types.

    `basis` is printed on orders and mail: a citation checked against the official text at article level,
    or only the law's name. `basis_note` is for inspectors only (doubts, the article to check).
    `major_situation` names the situation of a major-hazard standard the item quotes: "MCA-2023-1-4" is
    《养老机构重大事故隐患判定标准》 aspect 1, situation 4; "MCA-2024-2" an aspect of the 2024 children's
    standard whose situation text was not checked. The mapping counts as verified only with `basis_verified`.
    """

    basis: str
    basis_note: str
    basis_verified: bool
    severity: Severity = Field(strict=False)  # read from the file's words
    stop_use: bool
    major_situation: str | None


class Item(_Frozen):
    """One thing an inspector checks.

    `facility_types` holds concrete facility-type codes: the loader expands the YAML's `[all]` to
    every facility type whose checklists include this item's category. `basis`, `basis_note`,
    `basis_verified`, `severity`, `stop_use` and `major_situation` are the item's general view;
    `by_facility_type` holds, per concrete facility type, a different `Basis` (e.g. the elderly-care
    standard at elderly-care institutions). `for_facility_type(code)` gives the item as that type sees
    it: use it for anything recorded or printed for a facility.
    """

    code: str
    category: str
    zh: str
    en: str
    facility_types: list[str]
    severity: Severity = Field(strict=False)  # read from the file's words
    deadline_general_days: int = Field(ge=0)
    deadline_major_days: int = Field(ge=0)
    stop_use: bool
    basis: str
    basis_verified: bool
    hint_zh: str
    hint_en: str
    major_situation: str | None
    checklist_version: str
    basis_note: str = ""
    by_facility_type: dict[str, Basis] = Field(default_factory=dict)

    # Lists make the generated hash fail; an item is identified by its code within a version.
    def __hash__(self) -> int:
        return hash((self.code, self.checklist_version))

    def deadline_days(self, severity: str) -> int:
        """Working days allowed to fix a finding of this item at `severity`; 0 means immediately."""
        if severity == Severity.GENERAL:
            return self.deadline_general_days
        if severity == Severity.MAJOR:
            return self.deadline_major_days
        raise ValueError(f"unknown severity {severity!r}; expected one of {SEVERITIES}")

    def applies_to(self, facility_type: str) -> bool:
        return facility_type in self.facility_types

    def for_facility_type(self, facility_type: str) -> Item:
        """The item as a facility of `facility_type` sees it: that type's printed basis, internal note,
        default severity, stop-use flag and major-hazard situation; the general view where it has none."""
        if not self.by_facility_type:
            return self
        found = self.by_facility_type.get(facility_type)
        update = found.model_dump() if found is not None else {}
        return self.model_copy(update={**update, "by_facility_type": {}})


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
    # Defaults for a facility of this type; the register may say otherwise per facility.
    sector: str
    ownership: str

    def __hash__(self) -> int:
        return hash(self.code)


# Who checks (tracker.stats.coverage reads an inspection's level from its submitter's role) and the calendar
# windows a frequency is counted in, with their length in months.
CHECK_LEVELS = ("bureau", "town")
CHECK_UNITS = {"month": 1, "quarter": 3, "year": 12}
UNIT_WORDS = {"month": "每月", "quarter": "每季度", "year": "每年"}
LEVEL_WORDS = {"bureau": "民政局", "town": "镇（街道）"}


class Frequency(_Frozen):
    """How often one level must check a facility: `times` checks per calendar `per` (year, quarter, month).
    `basis` is the rule's printed citation; None where the frequency is the bureau's own choice, which is
    configuration and never printed as a regulation."""

    level: str
    times: int
    per: str
    basis: str | None = None
    basis_verified: bool = False
    basis_note: str | None = None

    @property
    def rate(self) -> float:
        return self.times / CHECK_UNITS[self.per]

    def words(self) -> str:
        """每季度至少1次（本局安排） or 每年至少1次（《养老机构管理办法》）."""
        source = self.basis if self.basis else "本局安排"
        return f"{LEVEL_WORDS[self.level]}{UNIT_WORDS[self.per]}至少{self.times}次（{source}）"


class RuleElement(_Frozen):
    """One element of a composite judgement. It counts once however many of `items` failed; where the
    standard sets a quantity (`quantity_zh`, e.g. more than half of the fire doors damaged), it counts only
    when a failure of one of its items is recorded as reaching that quantity."""

    code: str
    zh: str
    clause: str | None
    items: list[str]
    quantity_zh: str | None

    def __hash__(self) -> int:
        return hash(self.code)


class RuleThreshold(_Frozen):
    """How many elements make the judgement at one of the standard's place categories (`place_zh`), and
    which facility types of the bureau are such places. `among` limits the count to some elements."""

    place_zh: str
    facility_types: list[str]
    min_elements: int = Field(ge=1)
    among: list[str] | None

    def __hash__(self) -> int:
        return hash((self.place_zh, self.min_elements))


class RuleVersion(_Frozen):
    """One edition of the standard behind a composite rule, in effect from `effective` until the next one.

    `basis` is what a served document may print; `note` is for staff only.
    """

    version: str
    effective: date
    basis: str
    basis_verified: bool
    note: str
    elements: list[RuleElement]
    thresholds: list[RuleThreshold]

    def __hash__(self) -> int:
        return hash(self.version)

    def threshold_for(self, facility_type: str) -> RuleThreshold | None:
        """The first threshold whose places include `facility_type`; None where the standard does not apply."""
        return next((t for t in self.thresholds if facility_type in t.facility_types), None)


RuleKind = Literal["composite", "raise"]
RuleBacking = Literal["standard", "local"]


class Rule(_Frozen):
    """A judgement over the failed items of one inspection.

    A "composite" rule follows a standard's composite judgement (GB 35181): when enough of its elements
    fail at one of its places it makes one finding of its own and refers it to `refer_to`; the element
    findings keep their grade. A "raise" rule lifts the failed items it names to major when at least
    `min_failed` of `any_of_items` fail. A rule backed by a local rule rather than a standard only advises
    until an admin records the document that adopts it (tracker.service.composite).
    """

    code: str
    zh: str
    en: str
    kind: RuleKind = "raise"
    backing: RuleBacking = "local"
    basis: str
    basis_verified: bool
    any_of_items: list[str] = Field(default_factory=list)
    min_failed: int | None = Field(default=None, ge=1)
    raises: Literal["all_matched"] | list[str] = ALL_MATCHED
    refer_to: str | None = None
    versions: list[RuleVersion] = Field(default_factory=list)

    def __hash__(self) -> int:
        return hash(self.code)

    def raises_item(self, item_code: str) -> bool:
        if self.raises == ALL_MATCHED:
            return item_code in self.any_of_items
        return item_code in self.raises

    def version_on(self, day: date) -> RuleVersion | None:
        """The edition in effect on `day`: the latest effective on or before it; before the first, the first."""
        ordered = sorted(self.versions, key=lambda v: v.effective)
        current = ordered[0] if ordered else None
        for candidate in ordered:
            if candidate.effective <= day:
                current = candidate
        return current


@dataclass(frozen=True, slots=True)
class RuleHit:
    """A composite rule lifted one failed item of an inspection to `new_severity`."""

    rule_code: str
    item_code: str
    new_severity: Severity = Severity.MAJOR


class Campaign(_Frozen):
    """A seasonal set of checks (flood season, heat, cold wave, pre-holiday) a bureau publishes for a while.

    `item_codes` lists, in file order, both the catalog items the campaign refers to and the items it
    defines itself (`own_items`, whose category is "campaign:<code>"). `season_from`/`season_to` are the
    usual window as "MM-DD"; the window of an actual publication is chosen when publishing. A window whose
    end comes before its start runs over the new year (a cold-wave season, say).
    """

    code: str
    zh: str
    en: str
    version: str
    season_from: str
    season_to: str
    facility_types: list[str]
    item_codes: list[str]
    own_items: list[Item]

    def __hash__(self) -> int:
        return hash((self.code, self.version))

    @property
    def category(self) -> str:
        return CAMPAIGN_CATEGORY_PREFIX + self.code

    def season(self, year: int) -> tuple[date, date]:
        """The usual window starting in `year`."""
        start = date.fromisoformat(f"{year}-{self.season_from}")
        end = date.fromisoformat(f"{year}-{self.season_to}")
        if end < start:
            end = date.fromisoformat(f"{year + 1}-{self.season_to}")
        return start, end


class Catalog:
    """All checklist items, facility types, rules and campaigns of one checklist directory, read-only.

    A category may have several versions (see the loader). Unless `as_of` is given, the catalog answers
    with the version of each category in effect today (China Standard Time), so a new version takes over
    on its effective date without a restart; `at(day)` gives the view of another day. Older and future
    versions stay reachable with `version=`: `item(code, version="2024.1")`, `category(code, version)`.
    """

    def __init__(
        self,
        categories: Mapping[str, Category | Sequence[Category]],
        facility_types: dict[str, FacilityType],
        rules: list[Rule],
        campaigns: dict[str, Campaign] | None = None,
        as_of: date | None = None,
        facility_groups: Mapping[str, Sequence[str]] | None = None,
        frequencies: Mapping[tuple[str, str], Sequence[Frequency]] | None = None,
    ) -> None:
        self._versions: dict[str, list[Category]] = {}
        for code, value in categories.items():
            versions = [value] if isinstance(value, Category) else list(value)
            if not versions:
                raise ValueError(f"category {code!r} has no version")
            self._versions[code] = sorted(versions, key=lambda c: c.effective)
        self._facility_types = dict(facility_types)
        self._rules = list(rules)
        self._campaigns = dict(campaigns or {})
        self._facility_groups = {name: list(codes) for name, codes in (facility_groups or {}).items()}
        self._campaign_items = {item.code: item for c in self._campaigns.values() for item in c.own_items}
        self._frequencies = {key: tuple(asked) for key, asked in (frequencies or {}).items()}
        self._as_of = as_of
        self._current: tuple[date, dict[str, Category], dict[str, Item]] | None = None
        # The versions in effect by day, shared with every view `at` makes: a report asks for its day's.
        self._by_day: dict[date, tuple[date, dict[str, Category], dict[str, Item]]] = {}

    def at(self, day: date) -> Catalog:
        """The same data, answering with the versions in effect on `day`."""
        view = Catalog.__new__(Catalog)
        view.__dict__.update(self.__dict__)
        view._as_of = day
        view._current = None
        return view

    def frequencies(self, facility_type: str, ownership: str) -> tuple[Frequency, ...]:
        """How often, and by which level, a facility of this type and ownership must be checked
        (checklists/frequencies.yaml); each frequency given counts on its own. Empty where nothing is asked."""
        return self._frequencies.get((facility_type, ownership), ())

    @property
    def as_of(self) -> date:
        return self._as_of if self._as_of is not None else local_today()

    def _state(self) -> tuple[dict[str, Category], dict[str, Item]]:
        day = self.as_of
        if self._current is None or self._current[0] != day:
            if day not in self._by_day:
                current = {code: _in_effect(versions, day) for code, versions in self._versions.items()}
                items = {item.code: item for cat in current.values() for item in cat.items}
                self._by_day[day] = (day, current, items)
            self._current = self._by_day[day]
        return self._current[1], self._current[2]

    @property
    def categories(self) -> dict[str, Category]:
        """The version of each category in effect as of `as_of`."""
        return dict(self._state()[0])

    def versions(self, category: str) -> list[Category]:
        """Every version of a category, oldest effective date first."""
        try:
            return list(self._versions[category])
        except KeyError:
            raise KeyError(f"unknown checklist category {category!r}") from None

    def category(self, code: str, version: str | None = None) -> Category:
        if version is None:
            try:
                return self._state()[0][code]
            except KeyError:
                raise KeyError(f"unknown checklist category {code!r}") from None
        for candidate in self.versions(code):
            if candidate.version == version:
                return candidate
        raise KeyError(f"checklist {code!r} has no version {version!r}")

    @property
    def facility_types(self) -> dict[str, FacilityType]:
        return dict(self._facility_types)

    @property
    def facility_groups(self) -> dict[str, list[str]]:
        """Named groups of facility types (e.g. the elderly-care institutions a standard binds)."""
        return {name: list(codes) for name, codes in self._facility_groups.items()}

    @property
    def rules(self) -> list[Rule]:
        return list(self._rules)

    @property
    def campaigns(self) -> dict[str, Campaign]:
        return dict(self._campaigns)

    def item(self, code: str, version: str | None = None) -> Item:
        """The item as the current version of its checklist words it, or as version `version` did.

        Items that a campaign defines itself are found too, so that findings can be recorded for them.
        """
        if version is not None:
            for versions in self._versions.values():
                for category in versions:
                    if category.version == version:
                        for item in category.items:
                            if item.code == code:
                                return item
            for campaign in self._campaigns.values():
                if (
                    campaign.version == version
                    and code in self._campaign_items
                    and code in campaign.item_codes
                ):
                    return self._campaign_items[code]
            raise KeyError(f"no checklist item {code!r} in version {version!r}")
        found = self._state()[1].get(code) or self._campaign_items.get(code)
        if found is None:
            raise KeyError(f"unknown checklist item {code!r}")
        return found

    def has(self, code: str) -> bool:
        return code in self._state()[1] or code in self._campaign_items

    def items(self, facility_type: str | None = None, category: str | None = None) -> list[Item]:
        """Items of the current versions in file order, optionally only those for one facility type
        and/or one category. Campaign items are not among them: see `campaign_items`. With
        `facility_type`, each item is as that type sees it (`Item.for_facility_type`).

        An unknown facility type or category raises KeyError: a typo must not look like "nothing to
        check".
        """
        if facility_type is not None and facility_type not in self._facility_types:
            raise KeyError(f"unknown facility type {facility_type!r}")
        if category is not None and category not in self._versions:
            raise KeyError(f"unknown checklist category {category!r}")
        return [
            item if facility_type is None else item.for_facility_type(facility_type)
            for item in self._state()[1].values()
            if (category is None or item.category == category)
            and (facility_type is None or item.applies_to(facility_type))
        ]

    def campaign_items(self, campaign: str, facility_type: str | None = None) -> list[Item]:
        """The items of a campaign in file order: referenced ones as the current checklists word them.

        With `facility_type`, only the items that apply to it (none if the campaign is not for it), each
        as that type sees it.
        A referenced item that the current version of its checklist dropped is left out.
        """
        try:
            found = self._campaigns[campaign]
        except KeyError:
            raise KeyError(f"unknown campaign {campaign!r}") from None
        if facility_type is not None and facility_type not in self._facility_types:
            raise KeyError(f"unknown facility type {facility_type!r}")
        if facility_type is not None and facility_type not in found.facility_types:
            return []
        current = self._state()[1]
        result = []
        for code in found.item_codes:
            item = self._campaign_items.get(code) or current.get(code)
            if item is not None and facility_type is None:
                result.append(item)
            elif item is not None and item.applies_to(facility_type):
                result.append(item.for_facility_type(facility_type))
        return result

    def __repr__(self) -> str:
        categories, items = self._state()
        return (
            f"Catalog({len(categories)} categories, {len(items)} items, "
            f"{len(self._facility_types)} facility types, {len(self._rules)} rules, "
            f"{len(self._campaigns)} campaigns)"
        )


def _in_effect(versions: list[Category], day: date) -> Category:
    """The latest version effective on or before `day`; before the first one, the first one."""
    current = versions[0]
    for candidate in versions:
        if candidate.effective <= day:
            current = candidate
    return current
