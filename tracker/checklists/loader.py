"""Read and check the checklist YAML files, then build a Catalog.

Every problem in every file is collected before anything is returned, so whoever edits the data sees
the whole list at once, and a half-valid directory never yields a partial catalog. Problems point at
the line of the offending key, or at the start of the item when the key is missing.

Layout of a checklist directory:

    facility_types.yaml            facility types and the categories each takes
    frequencies.yaml               how often each level must check each type and ownership (optional)
    rules.yaml                     composite rules (optional)
    fire.yaml                      a category: `category: fire`, its `version` and `effective` date
    fire-2025.yaml                 another version of the same category (anything after the first "-")
    campaigns/flood_season.yaml    a campaign checklist (optional folder), `campaign: flood_season`

An item's `basis` is printed on served documents, so it may not carry a doubt ("待核", "未核实", …): doubts
go to `basis_note`. `by_facility_type` gives another basis and grade at some facility types or groups of
them (`groups:` in facility_types.yaml), e.g. the elderly-care standard at elderly-care institutions only.

Versions of one category must differ in `version` and in `effective`. Item codes belong to one
category (they may recur in its versions, never in another category or a campaign); items a campaign
defines itself use a code prefix of their own.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from tracker.checklists.model import (
    ALL_MATCHED,
    CAMPAIGN_CATEGORY_PREFIX,
    CHECK_LEVELS,
    CHECK_UNITS,
    SEVERITIES,
    Basis,
    Campaign,
    Catalog,
    Category,
    ChecklistInvalid,
    FacilityType,
    Frequency,
    Item,
    Rule,
    unverified_marker,
)
from tracker.domain.model import Ownership, Sector, Severity

SECTORS = tuple(s.value for s in Sector)
OWNERSHIPS = tuple(o.value for o in Ownership)

ENV_DIR = "TRACKER_CHECKLISTS_DIR"
FACILITY_TYPES_FILE = "facility_types.yaml"
RULES_FILE = "rules.yaml"
FREQUENCIES_FILE = "frequencies.yaml"
CAMPAIGNS_DIR = "campaigns"
ALL_FACILITY_TYPES = "all"
IMMEDIATE = "immediate"
# About a year of working days; anything longer is a typo, not a deadline.
MAX_DEADLINE_DAYS = 250

_ITEM_CODE = re.compile(r"^[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+$")
_LOWER_CODE = re.compile(r"^[a-z][a-z0-9_]*$")
# A standard, its year, the aspect and (when its text was checked) the situation: MCA-2023-1-4, MCA-2024-2.
_SITUATION = re.compile(r"^[A-Z]+-\d{4}-\d+(?:-\d+)?$")

_CATEGORY_KEYS = {"category", "version", "effective", "title", "items"}
_ITEM_KEYS = {
    "code",
    "zh",
    "en",
    "facility_types",
    "severity",
    "deadline",
    "stop_use",
    "basis",
    "basis_verified",
    "hint",
    "major_situation",
    "basis_note",
    "by_facility_type",
}
# What may differ by facility type; anything not given there is the item's own.
_BASIS_KEYS = ("basis", "basis_note", "basis_verified", "severity", "stop_use", "major_situation")
_FACILITY_FILE_KEYS = {"version", "facility_types", "groups"}
_FACILITY_KEYS = {"code", "zh", "en", "checklists", "sector", "ownership"}
_RULES_FILE_KEYS = {"version", "effective", "rules"}
_RULE_KEYS = {"code", "zh", "en", "kind", "backing", "basis", "basis_verified", "when", "raises"}
_COMPOSITE_RULE_KEYS = {
    "code",
    "zh",
    "en",
    "kind",
    "backing",
    "basis",
    "basis_verified",
    "refer_to",
    "versions",
}
_RULE_VERSION_KEYS = {"version", "effective", "basis", "basis_verified", "note", "elements", "thresholds"}
_ELEMENT_KEYS = {"code", "zh", "clause", "items", "quantity"}
_THRESHOLD_KEYS = {"place", "facility_types", "min_elements", "among"}
_WHEN_KEYS = {"any_of_items", "min_failed"}
_CAMPAIGN_KEYS = {"campaign", "version", "title", "season", "facility_types", "items"}
_FREQUENCY_FILE_KEYS = {"version", "frequencies"}
_FREQUENCY_KEYS = {"facility_types", "ownership", "checks", "basis", "basis_verified", "basis_note", "local"}
_CHECKS = re.compile(r"^(\d+) per (" + "|".join(CHECK_UNITS) + r")$")
_MONTH_DAY = re.compile(r"^\d{2}-\d{2}$")


def default_directory() -> Path:
    """TRACKER_CHECKLISTS_DIR if set, else the repository's checklists/ folder."""
    override = os.environ.get(ENV_DIR)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "checklists"


def load_catalog(directory: Path | None = None, as_of: date | None = None) -> Catalog:
    """Load every checklist file of `directory`; raise ChecklistInvalid listing all problems.

    The catalog answers with the versions in effect on `as_of`, or on each day's today if None.
    """
    root = Path(directory) if directory is not None else default_directory()
    problems = _Problems()
    if not root.is_dir():
        raise ChecklistInvalid([f"{root}: checklist directory not found"])

    for stray in sorted(root.glob("*.yml")):
        problems.add(stray.name, 1, "checklist files must end in .yaml; this file is ignored")

    facility_path = root / FACILITY_TYPES_FILE
    facility_types: dict[str, _Draft] | None = None
    groups: dict[str, list[str]] = {}
    if facility_path.is_file():
        facility_types, groups = _read_facility_types(facility_path, problems)
    else:
        problems.add(FACILITY_TYPES_FILE, 1, "missing: every checklist directory needs one")

    category_paths = [
        path
        for path in sorted(root.glob("*.yaml"))
        if path.name not in {FACILITY_TYPES_FILE, RULES_FILE, FREQUENCIES_FILE}
    ]
    if not category_paths:
        raise ChecklistInvalid([f"{root}: no category files (*.yaml) found", *problems.messages])
    categories = [c for c in (_read_category(path, problems) for path in category_paths) if c is not None]

    rules_path = root / RULES_FILE
    rules = _read_rules(rules_path, problems) if rules_path.is_file() else []
    frequencies_path = root / FREQUENCIES_FILE
    frequencies = (
        _read_frequencies(frequencies_path, facility_types, groups, problems)
        if frequencies_path.is_file()
        else {}
    )

    campaign_root = root / CAMPAIGNS_DIR
    campaigns: list[_CampaignDraft] = []
    if campaign_root.is_dir():
        for stray in sorted(campaign_root.glob("*.yml")):
            problems.add(_campaign_file(stray), 1, "campaign files must end in .yaml; this file is ignored")
        drafts = (_read_campaign(path, problems) for path in sorted(campaign_root.glob("*.yaml")))
        campaigns = [c for c in drafts if c is not None]

    # A file that does not parse still names its category, so types listing it are not faulted too.
    category_codes = {_category_of_file(path) for path in category_paths}
    _check_across_files(categories, category_codes, facility_types, groups, rules, problems)
    _check_versions(categories, problems)
    _check_campaigns(campaigns, categories, facility_types, groups, problems)
    if problems.messages:
        raise ChecklistInvalid(problems.messages)
    return _build(categories, facility_types or {}, groups, rules, campaigns, as_of, frequencies)


def _category_of_file(path: Path) -> str:
    """`fire.yaml` and `fire-2025.yaml` both hold the fire checklist."""
    return path.stem.split("-", 1)[0]


def _campaign_file(path: Path) -> str:
    return f"{CAMPAIGNS_DIR}/{path.name}"


# --- YAML that remembers line numbers ---------------------------------------------------------


class _Map(dict[Any, Any]):
    """A YAML mapping that knows the 1-based line where it and each of its keys start."""

    line: int = 1
    key_lines: dict[Any, int]


class _Seq(list[Any]):
    """A YAML sequence that knows the 1-based line of itself and of each element."""

    line: int = 1
    item_lines: list[int]


class _LineLoader(yaml.SafeLoader):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        # PyYAML keeps the last of two equal keys silently; we report them instead.
        self.duplicate_keys: list[tuple[int, Any]] = []
        self.unhashable_keys: list[int] = []


def _construct_map(loader: _LineLoader, node: yaml.MappingNode) -> _Map:
    loader.flatten_mapping(node)
    result = _Map()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            hash(key)
        except TypeError:
            loader.unhashable_keys.append(line)
            continue
        if key in result:
            loader.duplicate_keys.append((line, key))
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = line
    return result


def _construct_seq(loader: _LineLoader, node: yaml.SequenceNode) -> _Seq:
    result = _Seq(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_seq)


class _Problems:
    def __init__(self) -> None:
        self._found: list[tuple[str, int, str]] = []

    def add(self, file: str, line: int, message: str) -> None:
        self._found.append((file, line, message))

    def __len__(self) -> int:
        return len(self._found)

    @property
    def messages(self) -> list[str]:
        """In file and line order, so the list reads like a walk through the files."""
        ordered = sorted(self._found, key=lambda found: (found[0], found[1]))
        return [f"{file}:{line}: {message}" for file, line, message in ordered]


def _read_yaml(path: Path, problems: _Problems, name: str | None = None) -> _Map | None:
    """The top-level mapping of a file, or None after reporting why there is none."""
    name = name or path.name
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.add(name, 1, f"cannot read the file: {exc}")
        return None
    loader = _LineLoader(text)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problems.add(name, mark.line + 1 if mark else 1, f"not valid YAML: {exc.problem or exc}")
        return None
    except yaml.YAMLError as exc:
        problems.add(name, 1, f"not valid YAML: {exc}")
        return None
    finally:
        loader.dispose()
    for line, key in loader.duplicate_keys:
        problems.add(name, line, f"key {key!r} appears twice in the same mapping")
    for line in loader.unhashable_keys:
        problems.add(name, line, "a key must be plain text")
    if not isinstance(data, _Map):
        problems.add(name, 1, "the file must hold a mapping at the top level")
        return None
    return data


# --- field readers ------------------------------------------------------------------------------


@dataclass
class _Fields:
    """Typed reads from one YAML mapping; each fault is reported at the line of its key."""

    file: str
    data: _Map
    problems: _Problems
    label: str

    def line(self, key: Any = None) -> int:
        if key is not None and key in self.data.key_lines:
            return int(self.data.key_lines[key])
        return self.data.line

    def fail(self, key: Any, message: str) -> None:
        prefix = f"{self.label}: " if self.label else ""
        self.problems.add(self.file, self.line(key), prefix + message)

    def only(self, allowed: set[str]) -> None:
        for key in self.data:
            if key not in allowed:
                self.fail(key, f"unknown key {key!r} (allowed: {', '.join(sorted(allowed))})")

    def text(self, key: str, required: bool = True) -> str | None:
        value = self.data.get(key)
        if value is None:
            if required:
                self.fail(key, f"missing {key}")
            return None
        # YAML turns bare words such as `no` or `2024.1` into bools and numbers; text must be text.
        if not isinstance(value, str) or not value.strip():
            self.fail(key, f"{key} must be non-empty text (quote it), got {value!r}")
            return None
        return value.strip()

    def flag(self, key: str, default: bool) -> bool | None:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            self.fail(key, f"{key} must be true or false, got {value!r}")
            return None
        return value

    def day(self, key: str) -> date | None:
        value = self.data.get(key)
        if value is None:
            self.fail(key, f"missing {key}")
            return None
        # A datetime is a date too, but a checklist takes effect on a day, not at an hour.
        if not isinstance(value, date) or isinstance(value, datetime):
            self.fail(key, f"{key} must be a date written YYYY-MM-DD, got {value!r}")
            return None
        return value

    def bilingual(self, key: str, required: bool = True) -> tuple[str, str] | None:
        value = self.data.get(key)
        if value is None:
            if required:
                self.fail(key, f"missing {key} (a mapping with zh and en)")
            return None
        if not isinstance(value, _Map):
            self.fail(key, f"{key} must be a mapping with zh and en")
            return None
        inner = _Fields(self.file, value, self.problems, _join(self.label, key))
        inner.only({"zh", "en"})
        zh, en = inner.text("zh"), inner.text("en")
        return (zh, en) if zh is not None and en is not None else None

    def codes(self, key: str) -> list[tuple[str, int]] | None:
        """A non-empty list of codes with the line of each."""
        value = self.data.get(key)
        if not isinstance(value, _Seq) or not value:
            self.fail(key, f"{key} must be a non-empty list" if key in self.data else f"missing {key}")
            return None
        result: list[tuple[str, int]] = []
        seen: set[str] = set()
        for element, line in zip(value, value.item_lines, strict=True):
            if not isinstance(element, str) or not element.strip():
                self.problems.add(self.file, line, f"{_join(self.label, key)}: {element!r} is not a code")
            elif element in seen:
                self.problems.add(self.file, line, f"{_join(self.label, key)}: {element!r} is listed twice")
            else:
                seen.add(element)
                result.append((element, line))
        return result


def _join(label: str, key: str) -> str:
    return f"{label} {key}" if label else key


@dataclass
class _Draft:
    """What one YAML entry said, kept with its place in the file until every file has been read.

    An incomplete draft has faults already reported; it still takes part in the checks across files
    (duplicate codes, references) so that one fault does not hide or fake others.
    """

    file: str
    line: int
    code: str
    values: dict[str, Any]
    refs: list[tuple[str, int]] = field(default_factory=list)
    complete: bool = True
    # Facility types a composite rule's thresholds name, checked once every file has been read.
    type_refs: list[tuple[str, int]] = field(default_factory=list)
    # An item's `by_facility_type` entries: (type or group, line, resolved basis), checked once types are known.
    overrides: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)


@dataclass
class _CategoryDraft:
    file: str
    line: int
    code: str
    values: dict[str, Any]
    items: list[_Draft]
    complete: bool = True
    version: str | None = None
    effective: date | None = None
    version_line: int = 1
    effective_line: int = 1


@dataclass
class _CampaignDraft:
    file: str
    line: int
    code: str
    values: dict[str, Any]
    items: list[_Draft]
    # Every entry in file order: (code, line, True for a reference to a checklist item).
    entries: list[tuple[str, int, bool]]
    type_refs: list[tuple[str, int]] | None
    complete: bool = True


# --- the three kinds of file ---------------------------------------------------------------------


def _read_facility_types(path: Path, problems: _Problems) -> tuple[dict[str, _Draft], dict[str, list[str]]]:
    data = _read_yaml(path, problems)
    result: dict[str, _Draft] = {}
    if data is None:
        return result, {}
    top = _Fields(path.name, data, problems, "")
    top.only(_FACILITY_FILE_KEYS)
    entries = data.get("facility_types")
    if not isinstance(entries, _Seq) or not entries:
        top.fail("facility_types", "facility_types must be a non-empty list")
        return result, {}
    for entry, line in zip(entries, entries.item_lines, strict=True):
        if not isinstance(entry, _Map):
            problems.add(path.name, line, "each facility type must be a mapping")
            continue
        fields = _Fields(path.name, entry, problems, "facility type")
        code = fields.text("code")
        if code is not None:
            fields.label = f"facility type {code}"
            if not _LOWER_CODE.match(code) or code == ALL_FACILITY_TYPES:
                fields.fail("code", f"code {code!r} must be lower_snake_case and not {ALL_FACILITY_TYPES!r}")
                code = None
            elif code in result:
                first = result[code]
                fields.fail("code", f"duplicate facility type code (first at {first.file}:{first.line})")
                code = None
        fields.only(_FACILITY_KEYS)
        zh, en = fields.text("zh"), fields.text("en")
        checklists = fields.codes("checklists")
        sector = fields.text("sector")
        if sector is not None and sector not in SECTORS:
            fields.fail("sector", f"sector {sector!r} must be one of {', '.join(SECTORS)}")
            sector = None
        ownership = fields.text("ownership")
        if ownership is not None and ownership not in OWNERSHIPS:
            fields.fail("ownership", f"ownership {ownership!r} must be one of {', '.join(OWNERSHIPS)}")
            ownership = None
        if code is None:
            continue
        values = {
            "code": code,
            "zh": zh,
            "en": en,
            "checklists": [c for c, _ in checklists or []],
            "sector": sector,
            "ownership": ownership,
        }
        complete = None not in (zh, en, checklists, sector, ownership)
        result[code] = _Draft(path.name, entry.line, code, values, refs=checklists or [], complete=complete)
    return result, _read_groups(top, result)


def _read_groups(top: _Fields, types: dict[str, _Draft]) -> dict[str, list[str]]:
    """`groups: {elderly_care_institutions: [nursing_home, ...]}`: names an item's `by_facility_type` may use."""
    raw = top.data.get("groups")
    if raw is None:
        return {}
    if not isinstance(raw, _Map):
        top.fail("groups", "groups must be a mapping of a group name to a list of facility types")
        return {}
    inner = _Fields(top.file, raw, top.problems, "groups")
    result: dict[str, list[str]] = {}
    for name in raw:
        if not isinstance(name, str) or not _LOWER_CODE.match(name) or name in types:
            inner.fail(name, f"group {name!r} must be lower_snake_case and not a facility type's code")
            continue
        codes = inner.codes(name)
        if codes is None:
            continue
        for code, line in codes:
            if code not in types:
                top.problems.add(top.file, line, f"group {name}: unknown facility type {code!r}")
        result[name] = [code for code, _ in codes]
    return result


def _read_category(path: Path, problems: _Problems) -> _CategoryDraft | None:
    data = _read_yaml(path, problems)
    if data is None:
        return None
    name = path.name
    top = _Fields(name, data, problems, "")
    top.only(_CATEGORY_KEYS)
    code = top.text("category")
    expected = _category_of_file(path)
    if code is not None and code != expected:
        top.fail("category", f"category {code!r} must equal the file name {expected!r}")
        code = None
    version = top.text("version")
    effective = top.day("effective")
    title = top.bilingual("title")
    entries = data.get("items")
    if not isinstance(entries, _Seq) or not entries:
        top.fail("items", "items must be a non-empty list")
        entries = _Seq()
        entries.item_lines = []
    items: list[_Draft] = []
    for entry, line in zip(entries, entries.item_lines, strict=True):
        if not isinstance(entry, _Map):
            problems.add(name, line, "each item must be a mapping")
            continue
        draft = _read_item(name, entry, code or expected, version or "", problems)
        if draft is not None:
            items.append(draft)
    complete = None not in (code, version, effective, title)
    values: dict[str, Any] = {}
    if complete:
        assert title is not None  # for the type checker
        values = {"code": code, "zh": title[0], "en": title[1], "version": version, "effective": effective}
    return _CategoryDraft(
        name,
        data.line,
        code or expected,
        values,
        items,
        complete,
        version=version,
        effective=effective,
        version_line=top.line("version"),
        effective_line=top.line("effective"),
    )


def _read_item(file: str, entry: _Map, category: str, version: str, problems: _Problems) -> _Draft | None:
    fields = _Fields(file, entry, problems, "item")
    code = fields.text("code")
    if code is not None:
        fields.label = f"item {code}"
        if not _ITEM_CODE.match(code):
            fields.fail("code", "code must be UPPER-KEBAB with a category prefix, e.g. FIRE-EXIT-01")
    fields.only(_ITEM_KEYS)
    zh, en = fields.text("zh"), fields.text("en")
    deadline = _read_deadline(fields)
    hint = fields.bilingual("hint", required=False)
    own = _read_basis(fields, None)
    overrides = _read_overrides(fields, own)
    facility_refs = _read_item_facility_types(fields)
    if code is None:
        return None
    basis, verified, severity, stop_use, situation = (
        own.get("basis"),
        own.get("basis_verified"),
        own.get("severity"),
        own.get("stop_use"),
        own.get("major_situation"),
    )
    values = {
        "code": code,
        "category": category,
        "zh": zh,
        "en": en,
        "severity": severity,
        "deadline_general_days": deadline[0] if deadline else 0,
        "deadline_major_days": deadline[1] if deadline else 0,
        "stop_use": stop_use,
        "basis": basis,
        "basis_verified": verified,
        "hint_zh": hint[0] if hint else "",
        "hint_en": hint[1] if hint else "",
        "major_situation": situation,
        "checklist_version": version,
        "basis_note": own.get("basis_note") or "",
        "by_facility_type": {},
    }
    complete = (
        _ITEM_CODE.match(code) is not None
        and None not in (zh, en, basis, deadline, stop_use, verified, facility_refs, overrides)
        and severity in SEVERITIES
    )
    draft = _Draft(file, entry.line, code, values, refs=facility_refs or [], complete=complete)
    draft.overrides = overrides or []
    return draft


def _read_basis(fields: _Fields, inherited: dict[str, Any] | None) -> dict[str, Any]:
    """The basis keys of an item (`inherited` None) or of one `by_facility_type` entry (the item's values
    filling in what the entry leaves out), each fault reported at its key. A faulty value is None."""

    def given(key: str) -> bool:
        return inherited is None or key in fields.data

    result: dict[str, Any] = dict(inherited or {})
    if given("basis"):
        result["basis"] = fields.text("basis")
        marker = unverified_marker(result["basis"] or "")
        if marker is not None:
            fields.fail(
                "basis",
                f"basis is printed on orders and mail and must not hold {marker!r}; "
                "print the law's name only and put the doubt in basis_note",
            )
    if given("basis_note"):
        result["basis_note"] = fields.text("basis_note", required=False) or ""
    if given("basis_verified"):
        result["basis_verified"] = fields.flag("basis_verified", False)
    if given("severity"):
        severity = fields.data.get("severity")
        if severity not in SEVERITIES:
            fields.fail("severity", f"severity must be one of {', '.join(SEVERITIES)}, got {severity!r}")
            severity = None
        result["severity"] = severity
    if given("stop_use"):
        result["stop_use"] = fields.flag("stop_use", False)
    if given("major_situation"):
        situation = fields.data.get("major_situation")
        if situation is not None and (not isinstance(situation, str) or not _SITUATION.match(situation)):
            fields.fail("major_situation", f"major_situation must look like MCA-2023-1-2, got {situation!r}")
        result["major_situation"] = situation
    if result.get("severity") == Severity.GENERAL and result.get("stop_use"):
        fields.fail("stop_use", "stop_use is for major hazards only; make the item major or drop stop_use")
    if result.get("severity") == Severity.GENERAL and result.get("major_situation") is not None:
        fields.fail("major_situation", "an item mapped to a major-hazard situation must be major")
    return result


def _read_overrides(fields: _Fields, own: dict[str, Any]) -> list[tuple[str, int, dict[str, Any]]] | None:
    """`by_facility_type: {TYPE or GROUP: {basis: …, severity: …}}` as (key, line, resolved basis)."""
    raw = fields.data.get("by_facility_type")
    if raw is None:
        return []
    if not isinstance(raw, _Map) or not raw:
        fields.fail("by_facility_type", "by_facility_type must map facility types or groups to a basis")
        return None
    result: list[tuple[str, int, dict[str, Any]]] = []
    sound = True
    for key, value in raw.items():
        line = int(raw.key_lines[key])
        label = _join(fields.label, f"by_facility_type {key}")
        if not isinstance(value, _Map) or not value:
            fields.problems.add(fields.file, line, f"{label}: must be a mapping of {', '.join(_BASIS_KEYS)}")
            sound = False
            continue
        inner = _Fields(fields.file, value, fields.problems, label)
        inner.only(set(_BASIS_KEYS))
        before = len(fields.problems)
        resolved = _read_basis(inner, own)
        sound = sound and len(fields.problems) == before
        result.append((str(key), line, resolved))
    return result if sound else None


def _read_item_facility_types(fields: _Fields) -> list[tuple[str, int]] | None:
    refs = fields.codes("facility_types")
    if refs is None:
        return None
    names = [name for name, _ in refs]
    if ALL_FACILITY_TYPES in names and len(names) > 1:
        fields.fail("facility_types", f"{ALL_FACILITY_TYPES!r} cannot be combined with other facility types")
        return None
    return refs


def _read_deadline(fields: _Fields) -> tuple[int, int] | None:
    """(general, major) working days, 0 for "immediate"; a scalar applies to both severities."""
    raw = fields.data.get("deadline")
    if raw is None:
        fields.fail("deadline", "missing deadline")
        return None
    if not isinstance(raw, _Map):
        days = _deadline_days(raw)
        if isinstance(days, str):
            fields.fail("deadline", days)
            return None
        return days, days
    inner = _Fields(fields.file, raw, fields.problems, _join(fields.label, "deadline"))
    inner.only(set(SEVERITIES))
    result: list[int] = []
    for severity in SEVERITIES:
        if severity not in raw:
            inner.fail(None, f"missing {severity}")
            continue
        days = _deadline_days(raw[severity])
        if isinstance(days, str):
            inner.fail(severity, f"{severity}: {days}")
        else:
            result.append(days)
    return (result[0], result[1]) if len(result) == 2 else None


def _deadline_days(value: Any) -> int | str:
    """Working days for one deadline value, or the reason it is not one."""
    if value == IMMEDIATE:
        return 0
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_DEADLINE_DAYS:
        return value
    return (
        f"bad deadline {value!r}: use {IMMEDIATE!r} or a whole number of working days "
        f"from 1 to {MAX_DEADLINE_DAYS}"
    )


def _read_rules(path: Path, problems: _Problems) -> list[_Draft]:
    data = _read_yaml(path, problems)
    result: list[_Draft] = []
    if data is None:
        return result
    top = _Fields(path.name, data, problems, "")
    top.only(_RULES_FILE_KEYS)
    entries = data.get("rules")
    if not isinstance(entries, _Seq):
        top.fail("rules", "rules must be a list (it may be empty: [])")
        return result
    seen: dict[str, int] = {}
    for entry, line in zip(entries, entries.item_lines, strict=True):
        if not isinstance(entry, _Map):
            problems.add(path.name, line, "each rule must be a mapping")
            continue
        draft = _read_rule(path.name, entry, problems)
        if draft is None:
            continue
        if draft.code in seen:
            problems.add(
                path.name, draft.line, f"rule {draft.code}: duplicate code (first at line {seen[draft.code]})"
            )
            continue
        seen[draft.code] = draft.line
        result.append(draft)
    return result


def _read_rule(file: str, entry: _Map, problems: _Problems) -> _Draft | None:
    fields = _Fields(file, entry, problems, "rule")
    code = fields.text("code")
    if code is not None:
        fields.label = f"rule {code}"
        if not _ITEM_CODE.match(code):
            fields.fail("code", "code must be UPPER-KEBAB, e.g. RULE-FIRE-COMPOSITE-01")
    kind = entry.get("kind", "raise")
    if kind not in ("raise", "composite"):
        fields.fail("kind", f"kind must be raise or composite, got {kind!r}")
        kind = None
    backing = entry.get("backing", "local")
    if backing not in ("standard", "local"):
        fields.fail("backing", f"backing must be standard or local, got {backing!r}")
        backing = None
    fields.only(_COMPOSITE_RULE_KEYS if kind == "composite" else _RULE_KEYS)
    zh, en, basis = fields.text("zh"), fields.text("en"), fields.text("basis")
    verified = fields.flag("basis_verified", False)
    values: dict[str, Any] = {
        "code": code,
        "zh": zh,
        "en": en,
        "kind": kind,
        "backing": backing,
        "basis": basis,
        "basis_verified": verified,
    }
    parts: tuple[Any, ...]
    if kind == "composite":
        refer_to = fields.text("refer_to")
        versions, refs, type_refs = _read_rule_versions(fields)
        values.update(refer_to=refer_to, versions=versions)
        parts = (refer_to, versions)
    else:
        listed, min_failed = _read_when(fields)
        raises, raised_refs = _read_raises(fields, listed)
        refs, type_refs = (listed or []) + raised_refs, []
        values.update(any_of_items=[name for name, _ in listed or []], min_failed=min_failed, raises=raises)
        parts = (listed, min_failed, raises)
    if code is None:
        return None
    required = (zh, en, kind, backing, basis, verified, *parts)
    complete = _ITEM_CODE.match(code) is not None and None not in required
    return _Draft(file, entry.line, code, values, refs=refs, complete=complete, type_refs=type_refs)


def _read_rule_versions(
    fields: _Fields,
) -> tuple[list[dict[str, Any]] | None, list[tuple[str, int]], list[tuple[str, int]]]:
    """The editions of a composite rule's standard: (versions, item refs, facility-type refs)."""
    raw = fields.data.get("versions")
    if not isinstance(raw, _Seq) or not raw:
        fields.fail("versions", "versions must be a non-empty list of editions of the standard")
        return None, [], []
    versions: list[dict[str, Any]] = []
    refs: list[tuple[str, int]] = []
    type_refs: list[tuple[str, int]] = []
    complete = True
    seen_days: set[date] = set()
    for entry, line in zip(raw, raw.item_lines, strict=True):
        if not isinstance(entry, _Map):
            fields.problems.add(fields.file, line, f"{fields.label}: each version must be a mapping")
            complete = False
            continue
        inner = _Fields(fields.file, entry, fields.problems, _join(fields.label, "version"))
        inner.only(_RULE_VERSION_KEYS)
        name, effective = inner.text("version"), inner.day("effective")
        if name is not None:
            inner.label = f"{fields.label} version {name}"
        basis, verified = inner.text("basis"), inner.flag("basis_verified", False)
        note = inner.text("note", False)
        if effective is not None and effective in seen_days:
            inner.fail("effective", "two versions of a rule cannot take effect the same day")
        if effective is not None:
            seen_days.add(effective)
        elements = _read_elements(inner, refs)
        thresholds = _read_thresholds(inner, elements, type_refs)
        if None in (name, effective, basis, verified, elements, thresholds):
            complete = False
            continue
        versions.append(
            {
                "version": name,
                "effective": effective,
                "basis": basis,
                "basis_verified": verified,
                "note": note or "",
                "elements": elements,
                "thresholds": thresholds,
            }
        )
    return (versions if complete else None), refs, type_refs


def _read_elements(fields: _Fields, refs: list[tuple[str, int]]) -> list[dict[str, Any]] | None:
    raw = fields.data.get("elements")
    if not isinstance(raw, _Seq) or not raw:
        fields.fail("elements", "elements must be a non-empty list")
        return None
    result: list[dict[str, Any]] = []
    complete = True
    for entry, line in zip(raw, raw.item_lines, strict=True):
        if not isinstance(entry, _Map):
            fields.problems.add(fields.file, line, f"{fields.label}: each element must be a mapping")
            complete = False
            continue
        inner = _Fields(fields.file, entry, fields.problems, _join(fields.label, "element"))
        inner.only(_ELEMENT_KEYS)
        code, zh = inner.text("code"), inner.text("zh")
        clause, quantity = inner.text("clause", False), inner.text("quantity", False)
        items = inner.codes("items")
        if code is not None and any(code == e["code"] for e in result):
            inner.fail("code", f"element {code!r} is listed twice")
            code = None
        if None in (code, zh, items):
            complete = False
            continue
        assert items is not None  # for the type checker
        refs.extend(items)
        result.append(
            {
                "code": code,
                "zh": zh,
                "clause": clause,
                "items": [c for c, _ in items],
                "quantity_zh": quantity,
            }
        )
    return result if complete else None


def _read_thresholds(
    fields: _Fields, elements: list[dict[str, Any]] | None, type_refs: list[tuple[str, int]]
) -> list[dict[str, Any]] | None:
    raw = fields.data.get("thresholds")
    if not isinstance(raw, _Seq) or not raw:
        fields.fail("thresholds", "thresholds must be a non-empty list")
        return None
    known = {e["code"] for e in elements or []}
    result: list[dict[str, Any]] = []
    complete = True
    for entry, line in zip(raw, raw.item_lines, strict=True):
        if not isinstance(entry, _Map):
            fields.problems.add(fields.file, line, f"{fields.label}: each threshold must be a mapping")
            complete = False
            continue
        inner = _Fields(fields.file, entry, fields.problems, _join(fields.label, "threshold"))
        inner.only(_THRESHOLD_KEYS)
        place, types = inner.text("place"), inner.codes("facility_types")
        among = inner.codes("among") if "among" in entry else []
        count = entry.get("min_elements")
        pool = len(among) if among else len(known)
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            inner.fail("min_elements", f"min_elements must be a whole number >= 1, got {count!r}")
            count = None
        elif elements is not None and count > pool:
            inner.fail("min_elements", f"min_elements {count} exceeds the {pool} elements it counts")
            count = None
        for name, at in among or []:
            if elements is not None and name not in known:
                fields.problems.add(fields.file, at, f"{inner.label}: unknown element {name!r}")
                count = None
        type_refs.extend(types or [])
        if None in (place, types, count, among):
            complete = False
            continue
        assert types is not None and among is not None  # for the type checker
        result.append(
            {
                "place_zh": place,
                "facility_types": [t for t, _ in types],
                "min_elements": count,
                "among": [a for a, _ in among] or None,
            }
        )
    return result if complete else None


def _read_when(fields: _Fields) -> tuple[list[tuple[str, int]] | None, int | None]:
    when = fields.data.get("when")
    if not isinstance(when, _Map):
        fields.fail("when", "when must be a mapping with any_of_items and min_failed")
        return None, None
    inner = _Fields(fields.file, when, fields.problems, _join(fields.label, "when"))
    inner.only(_WHEN_KEYS)
    listed = inner.codes("any_of_items")
    value = when.get("min_failed")
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        inner.fail("min_failed", f"min_failed must be a whole number >= 1, got {value!r}")
        return listed, None
    if listed is not None and value > len(listed):
        inner.fail(
            "min_failed",
            f"min_failed {value} exceeds the {len(listed)} items listed; the rule can never fire",
        )
        return listed, None
    return listed, value


def _read_raises(
    fields: _Fields, listed: list[tuple[str, int]] | None
) -> tuple[str | list[str] | None, list[tuple[str, int]]]:
    raw = fields.data.get("raises")
    if raw == ALL_MATCHED:
        return ALL_MATCHED, []
    if not isinstance(raw, _Seq):
        fields.fail("raises", f"raises must be {ALL_MATCHED!r} or a list of item codes, got {raw!r}")
        return None, []
    refs = fields.codes("raises") or []
    names = {name for name, _ in listed or []}
    for name, line in refs:
        if listed is not None and name not in names:
            fields.problems.add(
                fields.file, line, f"{fields.label}: raises {name!r}, which is not in when.any_of_items"
            )
    return [name for name, _ in refs], refs


# --- checks that need every file -----------------------------------------------------------------


def _check_across_files(
    categories: list[_CategoryDraft],
    category_codes: set[str],
    facility_types: dict[str, _Draft] | None,
    groups: dict[str, list[str]],
    rules: list[_Draft],
    problems: _Problems,
) -> None:
    first_item = _check_codes([(c.code, c.file, c.line, c.items) for c in categories], problems)

    if facility_types is not None:
        for ftype in facility_types.values():
            for name, line in ftype.refs:
                if name not in category_codes:
                    problems.add(ftype.file, line, f"facility type {ftype.code}: unknown category {name!r}")
        for category in categories:
            for item in category.items:
                _resolve_facility_types(item, category.code, facility_types, problems)
                _resolve_overrides(item, facility_types, groups, problems)

    for rule in rules:
        for name, line in rule.refs:
            if name not in first_item:
                problems.add(rule.file, line, f"rule {rule.code}: unknown item {name!r}")
        for name, line in rule.type_refs:
            if facility_types is not None and name not in facility_types:
                problems.add(rule.file, line, f"rule {rule.code}: unknown facility type {name!r}")


def _resolve_facility_types(
    item: _Draft, category: str, facility_types: dict[str, _Draft], problems: _Problems
) -> None:
    """Turn `[all]` into concrete codes and check that a named type really takes this category."""
    names = [name for name, _ in item.refs]
    if names == [ALL_FACILITY_TYPES]:
        item.values["facility_types"] = [
            code for code, ftype in facility_types.items() if category in ftype.values["checklists"]
        ]
        return
    for name, line in item.refs:
        ftype = facility_types.get(name)
        if ftype is None:
            problems.add(item.file, line, f"item {item.code}: unknown facility type {name!r}")
        elif ftype.complete and category not in ftype.values["checklists"]:
            problems.add(
                item.file,
                line,
                f"item {item.code}: facility type {name!r} does not take the {category!r} checklist "
                f"(see {FACILITY_TYPES_FILE})",
            )
    item.values["facility_types"] = names


def _resolve_overrides(
    item: _Draft, facility_types: dict[str, _Draft], groups: dict[str, list[str]], problems: _Problems
) -> None:
    """Expand each `by_facility_type` key (a type or a group) to the types the item applies to."""
    applies = set(item.values.get("facility_types") or [])
    resolved: dict[str, dict[str, Any]] = {}
    named_at: dict[str, int] = {}
    for key, line, basis in item.overrides:
        if key in facility_types:
            codes = [key]
        elif key in groups:
            codes = [code for code in groups[key] if code in applies]
        else:
            problems.add(
                item.file,
                line,
                f"item {item.code}: by_facility_type names {key!r}, neither a facility type nor a group",
            )
            continue
        if key in facility_types and key not in applies:
            problems.add(
                item.file,
                line,
                f"item {item.code}: by_facility_type names {key!r}, which the item does not apply to",
            )
            continue
        for code in codes:
            if code in named_at:
                problems.add(
                    item.file,
                    line,
                    f"item {item.code}: facility type {code!r} is given a basis twice (first at line {named_at[code]})",
                )
                continue
            named_at[code] = line
            resolved[code] = basis
    item.values["by_facility_type"] = resolved


def _check_codes(groups: list[tuple[str, str, int, list[_Draft]]], problems: _Problems) -> dict[str, _Draft]:
    """Item codes unique and one prefix per owner; `groups` are (owner, file, line, items).

    The owner is a category (all its versions) or a campaign. A code may recur in another file of
    the same owner, i.e. in another version of the same checklist, and nowhere else.
    """
    first_item: dict[str, _Draft] = {}
    owner_of: dict[str, str] = {}
    prefix_owner: dict[str, tuple[str, str]] = {}
    for owner, file, line, items in groups:
        prefix = None
        for item in items:
            earlier = first_item.get(item.code)
            if earlier is not None and (owner_of[item.code] != owner or earlier.file == item.file):
                problems.add(
                    item.file,
                    item.line,
                    f"item {item.code}: duplicate code (first at {earlier.file}:{earlier.line})",
                )
                continue
            if earlier is None:
                first_item[item.code] = item
                owner_of[item.code] = owner
            head = item.code.split("-", 1)[0]
            prefix = prefix or head
            if head != prefix:
                problems.add(
                    item.file,
                    item.line,
                    f"item {item.code}: code must start with this file's prefix {prefix}-",
                )
        if prefix is not None:
            first_owner, first_file = prefix_owner.setdefault(prefix, (owner, file))
            if first_owner != owner:
                problems.add(file, line, f"code prefix {prefix}- is already used by {first_file}")
    return first_item


def _check_versions(categories: list[_CategoryDraft], problems: _Problems) -> None:
    """Two files of one category must differ in version and in effective date."""
    by_version: dict[tuple[str, str], _CategoryDraft] = {}
    by_day: dict[tuple[str, date], _CategoryDraft] = {}
    # The older file comes first, so the complaint lands on the newer one.
    for category in sorted(categories, key=lambda c: (c.effective or date.max, c.file)):
        if category.version is not None:
            first = by_version.setdefault((category.code, category.version), category)
            if first is not category:
                problems.add(
                    category.file,
                    category.version_line,
                    f"version {category.version!r} of the {category.code!r} checklist is already in {first.file}",
                )
        if category.effective is not None:
            earlier = by_day.setdefault((category.code, category.effective), category)
            if earlier is not category:
                problems.add(
                    category.file,
                    category.effective_line,
                    f"effective {category.effective.isoformat()}: {earlier.file} takes effect the same day; "
                    "give each version of a checklist its own date",
                )


# --- campaigns ------------------------------------------------------------------------------------


def _read_campaign(path: Path, problems: _Problems) -> _CampaignDraft | None:
    name = _campaign_file(path)
    data = _read_yaml(path, problems, name)
    if data is None:
        return None
    top = _Fields(name, data, problems, "")
    top.only(_CAMPAIGN_KEYS)
    code = top.text("campaign")
    if code is not None and (code != path.stem or not _LOWER_CODE.match(code)):
        top.fail(
            "campaign", f"campaign {code!r} must be lower_snake_case and equal the file name {path.stem!r}"
        )
        code = None
    version = top.text("version")
    title = top.bilingual("title")
    season = _read_season(top)
    type_refs = top.codes("facility_types")
    entries = data.get("items")
    if not isinstance(entries, _Seq) or not entries:
        top.fail("items", "items must be a non-empty list")
        entries = _Seq()
        entries.item_lines = []
    category = CAMPAIGN_CATEGORY_PREFIX + (code or path.stem)
    items: list[_Draft] = []
    order: list[tuple[str, int, bool]] = []
    seen: dict[str, int] = {}
    for entry, line in zip(entries, entries.item_lines, strict=True):
        if not isinstance(entry, _Map):
            problems.add(name, line, "each item must be a mapping: `- ref: CODE` or a whole item")
            continue
        if "ref" in entry:
            fields = _Fields(name, entry, problems, "item")
            fields.only({"ref"})
            ref = fields.text("ref")
            if ref is None:
                continue
            if ref in seen:
                fields.fail("ref", f"{ref} is listed twice in this campaign (first at line {seen[ref]})")
                continue
            seen[ref] = entry.line
            order.append((ref, fields.line("ref"), True))
            continue
        draft = _read_item(name, entry, category, version or "", problems)
        if draft is None:
            continue
        if draft.code in seen:
            problems.add(
                name,
                draft.line,
                f"item {draft.code}: listed twice in this campaign (first at line {seen[draft.code]})",
            )
            continue
        seen[draft.code] = draft.line
        items.append(draft)
        order.append((draft.code, draft.line, False))
    complete = None not in (code, version, title, season, type_refs)
    values: dict[str, Any] = {}
    if complete:
        assert title is not None and season is not None  # for the type checker
        values = {
            "code": code,
            "zh": title[0],
            "en": title[1],
            "version": version,
            "season_from": season[0],
            "season_to": season[1],
            "item_codes": [entry[0] for entry in order],
        }
    return _CampaignDraft(name, data.line, code or path.stem, values, items, order, type_refs, complete)


def _read_season(top: _Fields) -> tuple[str, str] | None:
    """The usual window, `season: {from: "06-01", to: "09-30"}`."""
    raw = top.data.get("season")
    if not isinstance(raw, _Map):
        top.fail("season", 'season must be a mapping like {from: "06-01", to: "09-30"}')
        return None
    inner = _Fields(top.file, raw, top.problems, "season")
    inner.only({"from", "to"})
    result: list[str] = []
    for key in ("from", "to"):
        value = inner.text(key)
        if value is None:
            continue
        try:
            # 2000 is a leap year, so 02-29 is a valid month-day.
            valid = _MONTH_DAY.match(value) is not None and date.fromisoformat(f"2000-{value}") is not None
        except ValueError:
            valid = False
        if valid:
            result.append(value)
        else:
            inner.fail(key, f"{key} must be a month and day written MM-DD, got {value!r}")
    return (result[0], result[1]) if len(result) == 2 else None


def _check_campaigns(
    campaigns: list[_CampaignDraft],
    categories: list[_CategoryDraft],
    facility_types: dict[str, _Draft] | None,
    type_groups: dict[str, list[str]],
    problems: _Problems,
) -> None:
    if not campaigns:
        return
    # Category codes were checked already (quietly redone here); only clashes with a campaign are new.
    checklist_items = _check_codes([(c.code, c.file, c.line, c.items) for c in categories], _Problems())
    groups: list[tuple[str, str, int, list[_Draft]]] = []
    for campaign in campaigns:
        for item in campaign.items:
            earlier = checklist_items.get(item.code)
            if earlier is not None:
                problems.add(
                    item.file,
                    item.line,
                    f"item {item.code}: code of a checklist item (at {earlier.file}:{earlier.line}); "
                    f"refer to it with `- ref: {item.code}` instead",
                )
        own = [item for item in campaign.items if item.code not in checklist_items]
        groups.append((CAMPAIGN_CATEGORY_PREFIX + campaign.code, campaign.file, campaign.line, own))
    # The first item of each category claims its prefix, so a campaign cannot borrow FIRE- for its own.
    seeded = [(c.code, c.file, c.line, c.items[:1]) for c in categories]
    _check_codes([*seeded, *groups], problems)
    for campaign in campaigns:
        for code, line, is_ref in campaign.entries:
            if is_ref and code not in checklist_items:
                problems.add(campaign.file, line, f"campaign {campaign.code}: unknown item {code!r}")
        _resolve_campaign_types(campaign, facility_types, problems)
        for item in campaign.items:
            if facility_types is not None:
                _resolve_overrides(item, facility_types, type_groups, problems)


def _resolve_campaign_types(
    campaign: _CampaignDraft, facility_types: dict[str, _Draft] | None, problems: _Problems
) -> None:
    if campaign.type_refs is None or facility_types is None:
        return
    names = [name for name, _ in campaign.type_refs]
    if ALL_FACILITY_TYPES in names:
        if len(names) > 1:
            problems.add(
                campaign.file,
                campaign.type_refs[0][1],
                f"campaign {campaign.code}: {ALL_FACILITY_TYPES!r} cannot be combined with other facility types",
            )
        names = list(facility_types)
    else:
        unknown = [(name, line) for name, line in campaign.type_refs if name not in facility_types]
        for name, line in unknown:
            problems.add(campaign.file, line, f"campaign {campaign.code}: unknown facility type {name!r}")
        if unknown:
            return  # the items' types cannot be judged against a list with a typo in it
    campaign.values["facility_types"] = names
    for item in campaign.items:
        refs = [name for name, _ in item.refs]
        if refs == [ALL_FACILITY_TYPES]:
            item.values["facility_types"] = list(names)
            continue
        for name, line in item.refs:
            if name not in facility_types:
                problems.add(item.file, line, f"item {item.code}: unknown facility type {name!r}")
            elif name not in names:
                problems.add(
                    item.file,
                    line,
                    f"item {item.code}: facility type {name!r} is not one this campaign is for",
                )
        item.values["facility_types"] = refs


def _build(
    categories: list[_CategoryDraft],
    facility_types: dict[str, _Draft],
    groups: dict[str, list[str]],
    rules: list[_Draft],
    campaigns: list[_CampaignDraft],
    as_of: date | None,
    frequencies: dict[tuple[str, str], list[Frequency]] | None = None,
) -> Catalog:
    drafts = [
        *categories,
        *(i for c in categories for i in c.items),
        *facility_types.values(),
        *rules,
        *campaigns,
        *(i for c in campaigns for i in c.items),
    ]
    # Every incomplete draft reported a problem, so none should reach here.
    assert all(draft.complete for draft in drafts), "incomplete checklist entry without a reported problem"
    built: dict[str, list[Category]] = {}
    for c in categories:
        built.setdefault(c.code, []).append(Category(**c.values, items=[_item(item) for item in c.items]))
    ftypes = {code: FacilityType(**draft.values) for code, draft in facility_types.items()}
    built_campaigns = {
        c.code: Campaign(**c.values, own_items=[_item(item) for item in c.items]) for c in campaigns
    }
    rules_built = [Rule(**draft.values) for draft in rules]
    return Catalog(
        built, ftypes, rules_built, built_campaigns, as_of, facility_groups=groups, frequencies=frequencies
    )


def _item(draft: _Draft) -> Item:
    by_type = {code: Basis(**basis) for code, basis in draft.values["by_facility_type"].items()}
    return Item(**{**draft.values, "by_facility_type": by_type})


# --- frequencies ------------------------------------------------------------------------------------------


def _read_frequencies(
    path: Path, facility_types: dict[str, _Draft] | None, groups: dict[str, list[str]], problems: _Problems
) -> dict[tuple[str, str], list[Frequency]]:
    """Per (facility type, ownership), every frequency asked of it, in file order: a cited minimum and the
    bureau's own more frequent choice each count, so a missed one is named with its own source."""
    data = _read_yaml(path, problems)
    out: dict[tuple[str, str], list[Frequency]] = {}
    if data is None:
        return out
    top = _Fields(path.name, data, problems, "")
    top.only(_FREQUENCY_FILE_KEYS)
    entries = data.get("frequencies")
    if not isinstance(entries, _Seq) or not entries:
        top.fail("frequencies", "frequencies must be a non-empty list")
        return out
    known = facility_types or {}
    for entry, line in zip(entries, entries.item_lines, strict=True):
        if not isinstance(entry, _Map):
            problems.add(path.name, line, "each frequency must be a mapping")
            continue
        fields = _Fields(path.name, entry, problems, "frequency")
        fields.only(_FREQUENCY_KEYS)
        types = _frequency_types(fields, known, groups)
        ownerships = _frequency_ownerships(fields)
        checks = _frequency_checks(fields)
        source = _frequency_source(fields)
        if types is None or ownerships is None or checks is None or source is None:
            continue
        for level, (times, per) in checks.items():
            frequency = Frequency(level=level, times=times, per=per, **source)
            for key in ((t, o) for t in types for o in ownerships):
                if frequency not in out.setdefault(key, []):
                    out[key].append(frequency)
    return out


def _frequency_types(
    fields: _Fields, known: dict[str, _Draft], groups: dict[str, list[str]]
) -> list[str] | None:
    if fields.data.get("facility_types") == ALL_FACILITY_TYPES:
        return list(known)
    refs = fields.codes("facility_types")
    if refs is None:
        return None
    names: list[str] = []
    for name, line in refs:
        if name in groups:
            names.extend(groups[name])
        elif name in known or not known:
            names.append(name)
        else:
            fields.problems.add(fields.file, line, f"frequency: unknown facility type or group {name!r}")
            return None
    return names


def _frequency_ownerships(fields: _Fields) -> list[str] | None:
    if fields.data.get("ownership") == "all":
        return list(OWNERSHIPS)
    refs = fields.codes("ownership")
    if refs is None:
        return None
    wrong = [(name, line) for name, line in refs if name not in OWNERSHIPS]
    for name, line in wrong:
        fields.problems.add(
            fields.file, line, f"frequency: ownership {name!r} must be one of {', '.join(OWNERSHIPS)} or all"
        )
    return None if wrong else [name for name, _ in refs]


def _frequency_checks(fields: _Fields) -> dict[str, tuple[int, str]] | None:
    value = fields.data.get("checks")
    if not isinstance(value, _Map) or not value:
        fields.fail("checks", "checks must map a level (bureau, town) to 'N per year|quarter|month'")
        return None
    inner = _Fields(fields.file, value, fields.problems, "frequency checks")
    inner.only(set(CHECK_LEVELS))
    out: dict[str, tuple[int, str]] = {}
    for level, text in value.items():
        if level not in CHECK_LEVELS:
            continue
        found = _CHECKS.match(text) if isinstance(text, str) else None
        if found is None or not 1 <= int(found.group(1)) <= 31:
            inner.fail(
                level, f"{level}: {text!r} must read 'N per year', 'N per quarter' or 'N per month', N 1-31"
            )
            continue
        out[level] = (int(found.group(1)), found.group(2))
    return out if len(out) == len(value) else None


def _frequency_source(fields: _Fields) -> dict[str, Any] | None:
    """A rule's printed basis, or `local: true` for the bureau's own choice; exactly one of them."""
    local = fields.flag("local", False)
    basis = fields.text("basis", required=False)
    verified = fields.flag("basis_verified", False)
    note = fields.text("basis_note", required=False)
    if local is None or verified is None:
        return None
    if local and basis is not None:
        fields.fail("basis", "the bureau's own choice (local: true) cites no basis: it is not a regulation")
        return None
    if not local and basis is None:
        fields.fail(
            "basis", "missing basis: a frequency is a cited rule (basis) or the bureau's own (local: true)"
        )
        return None
    if basis is not None and (marker := unverified_marker(basis)) is not None:
        fields.fail("basis", f"basis is printed and may not say {marker!r}; put doubts in basis_note")
        return None
    return {"basis": basis, "basis_verified": bool(verified), "basis_note": note}
