"""The shipped checklist data, and how the loader reports broken files."""

from __future__ import annotations

import textwrap
from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from tracker.checklists import ChecklistInvalid, load_catalog

FACILITY_TYPE_CODES = {
    "nursing_home",
    "elderly_service_center",
    "neighbourhood_point",
    "meal_point",
    "children_centre",
    "funeral_home",
    "cemetery",
    "relief_station",
    "marriage_registry",
    "mental_health_point",
    "child_welfare_institution",
    "day_care_center",
    "columbarium",
    "mental_welfare_institution",
    "community_service_facility",
}
CATEGORY_CODES = {
    "fire",
    "ebike",
    "gas",
    "building",
    "special_equipment",
    "food",
    "infection",
    "service",
    "weather",
    "management",
}
# The confirmed situations of 《养老机构重大事故隐患判定标准》 (2023): aspect 1 items 1-4, aspect 2 items 1-3.
CONFIRMED_SITUATIONS = {
    "MCA-2023-1-1",
    "MCA-2023-1-2",
    "MCA-2023-1-3",
    "MCA-2023-1-4",
    "MCA-2023-2-1",
    "MCA-2023-2-2",
    "MCA-2023-2-3",
}
# The starting list of DOMAIN.md "Items by category": code -> default severity at an elderly-care institution.
STARTING_LIST = {
    "BLDG-DANGER-01": "major",
    "BLDG-PANEL-01": "major",
    "FIRE-COND-01": "major",
    "FIRE-FLOOR-01": "major",
    "FIRE-EXIT-01": "general",
    "FIRE-EXIT-02": "general",
    "FIRE-AUTO-01": "major",
    "FIRE-AUTO-02": "general",
    "FIRE-CTRL-01": "general",
    "FIRE-EXT-01": "general",
    "FIRE-LIGHT-01": "general",
    "FIRE-MAINT-01": "general",
    "FIRE-PATROL-01": "general",
    "FIRE-CHECK-01": "general",
    "FIRE-DRILL-01": "general",
    "EBIKE-INDOOR-01": "general",
    "EBIKE-LEAD-01": "general",
    "EBIKE-SHELTER-01": "general",
    "EBIKE-SHELTER-02": "general",
    "EBIKE-SHELTER-03": "general",
    "EBIKE-EXT-01": "general",
    "EBIKE-DETECT-01": "general",
    "EBIKE-WIRING-01": "general",
    "EBIKE-TIMER-01": "general",
    "EBIKE-CCTV-01": "general",
    "SE-REG-01": "major",
    "SE-STAFF-01": "major",
    "SE-MAINT-01": "general",
    "SE-LABEL-01": "general",
    "SE-RENEW-01": "general",
    "GAS-DETECT-01": "general",
    "GAS-SHUTOFF-01": "general",
    "GAS-HOSE-01": "general",
    "GAS-FLAME-01": "general",
    "GAS-CYL-01": "general",
    # Judged non-compliant only: major at an elderly home with FIRE-COND-01, the standard's whole situation.
    "GAS-INSTALL-01": "general",
    "FOOD-LICENSE-01": "major",
    "FOOD-SAMPLE-01": "general",
    "FOOD-HEALTH-01": "general",
    "FOOD-INTAKE-01": "general",
    "FOOD-SEPARATE-01": "general",
    "FOOD-DISINFECT-01": "general",
    "FOOD-STORE-01": "general",
    "FOOD-CAMERA-01": "general",
    "INF-CLINIC-01": "major",
    "INF-ISOLATE-01": "general",
    "INF-DISINFECT-01": "general",
    "INF-HAND-01": "general",
    "INF-SCREEN-01": "general",
    "INF-REPORT-01": "general",
    "SVC-ASSESS-01": "general",
    "SVC-DUTY-01": "general",
    "SVC-PLAN-01": "general",
    "WX-PLAN-01": "general",
    "WX-SUPPLY-01": "general",
    "WX-POWER-01": "general",
    "WX-ICE-01": "general",
    "WX-DUTY-01": "general",
}
STOP_USE = {"BLDG-DANGER-01", "SE-REG-01", "FOOD-LICENSE-01", "INF-CLINIC-01"}


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


# --- the shipped files ---------------------------------------------------------------------------


def test_it_loads_every_shipped_file(catalog) -> None:
    assert set(catalog.categories) == CATEGORY_CODES
    assert set(catalog.facility_types) == FACILITY_TYPE_CODES
    assert {rule.code for rule in catalog.rules} >= {"RULE-FIRE-COMPOSITE-01", "RULE-NIGHT-FIRE-01"}


def test_it_keeps_item_codes_unique_across_files(catalog) -> None:
    codes = [item.code for category in catalog.categories.values() for item in category.items]
    assert len(codes) == len(set(codes)) == len(catalog.items())


def test_it_gives_every_item_texts_basis_and_hint(catalog) -> None:
    for item in catalog.items():
        assert item.zh and item.en and item.basis, item.code
        assert item.hint_zh and item.hint_en, item.code
        # Chinese text is in Chinese; English text is not.
        assert any("\u4e00" <= ch <= "\u9fff" for ch in item.zh), item.code
        assert not any("\u4e00" <= ch <= "\u9fff" for ch in item.en + item.hint_en), item.code


def test_it_has_at_least_eight_items_per_category(catalog) -> None:
    for code, category in catalog.categories.items():
        # Safety management holds the few duties the Work Safety Law puts on every unit.
        assert len(category.items) >= (4 if code == "management" else 8), code
        assert category.zh and category.en and category.version
        assert isinstance(category.effective, date)
        assert all(
            item.category == code and item.checklist_version == category.version for item in category.items
        )


def test_it_lists_only_existing_categories_for_each_facility_type(catalog) -> None:
    for ftype in catalog.facility_types.values():
        assert ftype.checklists, ftype.code
        assert set(ftype.checklists) <= set(catalog.categories), ftype.code


def test_it_gives_every_facility_type_items_in_each_of_its_categories(catalog) -> None:
    for ftype in catalog.facility_types.values():
        for category in ftype.checklists:
            assert catalog.items(facility_type=ftype.code, category=category), (ftype.code, category)


def test_it_covers_the_starting_list(catalog) -> None:
    home = {item.code: item for item in catalog.items(facility_type="nursing_home")}
    for code, severity in STARTING_LIST.items():
        assert catalog.has(code), code
        assert home[code].severity == severity, code
    assert {code for code in STOP_USE if home[code].stop_use} == STOP_USE


def test_it_maps_the_confirmed_major_situations(catalog) -> None:
    mapped = [item for item in catalog.items(facility_type="nursing_home") if item.major_situation]
    assert {item.major_situation for item in mapped} == CONFIRMED_SITUATIONS
    for item in mapped:
        assert item.severity == "major" and item.basis_verified, item.code
        assert "养老机构重大事故隐患判定标准" in item.basis, item.code
    # The general view of an item names no situation of a standard that binds only some types.
    assert not [item.code for item in catalog.items() if item.major_situation]


def test_it_marks_stop_use_only_on_major_items(catalog) -> None:
    assert all(item.severity == "major" for item in catalog.items() if item.stop_use)


def test_it_counts_deadlines_in_working_days(catalog) -> None:
    exit_item = catalog.item("FIRE-EXIT-01")
    assert exit_item.deadline_days("general") == 0  # immediate
    assert exit_item.deadline_days("major") == 10
    with pytest.raises(ValueError):
        exit_item.deadline_days("urgent")


def test_it_filters_items_by_facility_type(catalog) -> None:
    assert catalog.items(facility_type="funeral_home", category="food") == []
    meal = {item.category for item in catalog.items(facility_type="meal_point")}
    assert {"food", "gas", "fire"} <= meal and "special_equipment" not in meal
    cemetery = catalog.items(facility_type="cemetery")
    assert {item.category for item in cemetery} == {"fire", "building", "service", "weather", "management"}
    assert catalog.item("FIRE-BURN-01") in cemetery
    assert not catalog.item("SE-OXY-01").applies_to("funeral_home")
    assert catalog.item("SE-OXY-01").applies_to("nursing_home")
    # `[all]` means every facility type that takes the category, nothing more.
    assert catalog.item("FOOD-SAMPLE-01").facility_types == [
        code for code, ftype in catalog.facility_types.items() if "food" in ftype.checklists
    ]


def test_it_rejects_unknown_codes_when_asked(catalog) -> None:
    with pytest.raises(KeyError):
        catalog.item("FIRE-NOPE-99")
    with pytest.raises(KeyError):
        catalog.items(facility_type="hospital")
    with pytest.raises(KeyError):
        catalog.items(category="traffic")
    assert not catalog.has("FIRE-NOPE-99")


def test_it_keeps_items_frozen(catalog) -> None:
    item = catalog.item("FIRE-EXIT-01")
    with pytest.raises(ValidationError):
        item.severity = "major"
    assert {item, catalog.item("FIRE-EXIT-01")} == {item}


# --- broken files --------------------------------------------------------------------------------

FACILITY_TYPES = """\
version: "1"
facility_types:
  - code: nursing_home
    zh: 养老机构
    en: Nursing home
    checklists: [fire]
    sector: elderly
    ownership: town
  - code: cemetery
    zh: 公墓
    en: Cemetery
    checklists: [fire]
    sector: social_affairs
    ownership: town
"""

GOOD_FIRE = """\
category: fire
version: "2024.1"
effective: 2024-01-01
title: {zh: 消防安全, en: Fire safety}
items:
  - code: FIRE-EXIT-01
    zh: 安全出口上锁
    en: Exit locked
    facility_types: [all]
    severity: general
    deadline: {general: immediate, major: 10}
    basis: 《中华人民共和国消防法》第二十八条
  - code: FIRE-EXT-01
    zh: 灭火器过期
    en: Extinguisher out of date
    facility_types: [nursing_home]
    severity: general
    deadline: 7
    basis: 《中华人民共和国消防法》第十六条
"""

BROKEN_FIRE = """\
category: fire
version: "2024.1"
effective: 2024-01-01
title: {zh: 消防安全, en: Fire safety}
items:
  - code: FIRE-EXIT-01
    zh: 安全出口上锁
    en: Exit locked
    facility_types: [all]
    severity: general
    deadline: {general: immediate, major: 10}
    basis: 《中华人民共和国消防法》第二十八条
  - code: FIRE-EXIT-01
    zh: 重复的编码
    en: Duplicate code
    facility_types: [all]
    severity: general
    deadline: 5
    basis: x
  - code: FIRE-LANE-01
    zh: 消防车通道被占用
    facility_types: [nursing_home, hospital]
    severity: general
    deadline: soon
    basis: 《中华人民共和国消防法》第二十八条
"""


DEADLINE_HELP = "use 'immediate' or a whole number of working days from 1 to 250"


def _write(directory: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (directory / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return directory


def _line(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line of the n-th line containing `needle`."""
    hits = [number for number, line in enumerate(text.splitlines(), start=1) if needle in line]
    return hits[occurrence - 1]


def _problems(directory: Path) -> list[str]:
    with pytest.raises(ChecklistInvalid) as caught:
        load_catalog(directory)
    assert str(caught.value).count("\n") == len(caught.value.problems)
    return caught.value.problems


def test_it_loads_a_small_valid_directory(tmp_path: Path) -> None:
    catalog = load_catalog(_write(tmp_path, {"facility_types.yaml": FACILITY_TYPES, "fire.yaml": GOOD_FIRE}))
    assert [item.code for item in catalog.items(facility_type="cemetery")] == ["FIRE-EXIT-01"]
    ext = catalog.item("FIRE-EXT-01")
    assert ext.deadline_days("general") == ext.deadline_days("major") == 7  # a scalar applies to both
    assert ext.hint_zh == "" and ext.basis_verified is False and ext.stop_use is False
    assert catalog.rules == []


def test_it_reports_each_problem_with_file_and_line(tmp_path: Path) -> None:
    problems = _problems(_write(tmp_path, {"facility_types.yaml": FACILITY_TYPES, "fire.yaml": BROKEN_FIRE}))
    second = _line(BROKEN_FIRE, "code: FIRE-EXIT-01", occurrence=2)
    lane = _line(BROKEN_FIRE, "code: FIRE-LANE-01")
    assert problems == [
        f"fire.yaml:{second}: item FIRE-EXIT-01: duplicate code (first at fire.yaml:{_line(BROKEN_FIRE, 'FIRE-EXIT-01')})",
        f"fire.yaml:{lane}: item FIRE-LANE-01: missing en",
        f"fire.yaml:{_line(BROKEN_FIRE, 'hospital')}: item FIRE-LANE-01: unknown facility type 'hospital'",
        f"fire.yaml:{_line(BROKEN_FIRE, 'soon')}: item FIRE-LANE-01: bad deadline 'soon': {DEADLINE_HELP}",
    ]


def test_it_never_returns_a_partial_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gas = GOOD_FIRE.replace("category: fire", "category: gas").replace("FIRE-", "GAS-")
    gas = gas.replace("deadline: 7", "deadline: 0")
    _write(tmp_path, {"facility_types.yaml": FACILITY_TYPES, "fire.yaml": GOOD_FIRE, "gas.yaml": gas})
    problems = _problems(tmp_path)
    not_gas = "does not take the 'gas' checklist (see facility_types.yaml)"
    assert problems == [
        # the type takes only fire, so gas items cannot name it
        f"gas.yaml:{_line(gas, '[nursing_home]')}: item GAS-EXT-01: facility type 'nursing_home' {not_gas}",
        f"gas.yaml:{_line(gas, 'deadline: 0')}: item GAS-EXT-01: bad deadline 0: {DEADLINE_HELP}",
    ]
    monkeypatch.setenv("TRACKER_CHECKLISTS_DIR", str(tmp_path))
    with pytest.raises(ChecklistInvalid):
        load_catalog()


def test_it_reads_the_directory_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "TRACKER_CHECKLISTS_DIR",
        str(
            _write(
                tmp_path,
                {
                    "facility_types.yaml": FACILITY_TYPES,
                    "fire.yaml": GOOD_FIRE,
                },
            )
        ),
    )
    assert [item.code for item in load_catalog().items()] == ["FIRE-EXIT-01", "FIRE-EXT-01"]


def test_it_reports_unknown_categories_in_facility_types(tmp_path: Path) -> None:
    types = FACILITY_TYPES.replace(
        "checklists: [fire]\n    sector: elderly", "checklists: [fire, gass]\n    sector: elderly"
    )
    problems = _problems(_write(tmp_path, {"facility_types.yaml": types, "fire.yaml": GOOD_FIRE}))
    assert problems == [
        f"facility_types.yaml:{_line(types, 'gass')}: facility type nursing_home: unknown category 'gass'"
    ]


def test_it_reports_rules_naming_unknown_items(tmp_path: Path) -> None:
    rules = """\
    rules:
      - code: RULE-FIRE-01
        zh: 综合判定
        en: Composite
        basis: GB 35181
        when:
          any_of_items: [FIRE-EXIT-01, FIRE-EXT-01, FIRE-NOPE-01]
          min_failed: 2
        raises: all_matched
    """
    problems = _problems(
        _write(
            tmp_path,
            {
                "facility_types.yaml": FACILITY_TYPES,
                "fire.yaml": GOOD_FIRE,
                "rules.yaml": rules,
            },
        )
    )
    assert problems == ["rules.yaml:7: rule RULE-FIRE-01: unknown item 'FIRE-NOPE-01'"]


def test_it_reports_yaml_that_does_not_parse(tmp_path: Path) -> None:
    broken = GOOD_FIRE.replace(
        "title: {zh: 消防安全, en: Fire safety}", "title: {zh: 消防安全, en: Fire safety"
    )
    problems = _problems(_write(tmp_path, {"facility_types.yaml": FACILITY_TYPES, "fire.yaml": broken}))
    assert len(problems) == 1 and problems[0].startswith("fire.yaml:") and "not valid YAML" in problems[0]


@pytest.mark.parametrize(
    ("old", "new", "needle", "message"),
    [
        (
            'version: "2024.1"',
            "version: 2024.1",
            "version:",
            "version must be non-empty text (quote it), got 2024.1",
        ),
        (
            "category: fire",
            "category: fires",
            "category:",
            "category 'fires' must equal the file name 'fire'",
        ),
        (
            "effective: 2024-01-01",
            "effective: 2024-1-1",
            "effective:",
            "effective must be a date written YYYY-MM-DD",
        ),
        (
            "    severity: general\n    deadline: 7",
            "    severity: minor\n    deadline: 7",
            "minor",
            "item FIRE-EXT-01: severity must be one of general, major, got 'minor'",
        ),
        (
            "    deadline: 7\n",
            "    deadline: 7\n    stop_use: true\n",
            "stop_use",
            "item FIRE-EXT-01: stop_use is for major",
        ),
        (
            "    deadline: 7\n",
            "    deadline: 7\n    colour: red\n",
            "colour",
            "item FIRE-EXT-01: unknown key 'colour'",
        ),
        (
            "    deadline: 7\n",
            "    deadline: 7\n    deadline: 8\n",
            "deadline: 8",
            "key 'deadline' appears twice",
        ),
        (
            "code: FIRE-EXT-01",
            "code: GAS-EXT-01",
            "GAS-EXT-01",
            "item GAS-EXT-01: code must start with this file's prefix FIRE-",
        ),
        (
            "facility_types: [nursing_home]",
            "facility_types: [all, nursing_home]",
            "[all, nursing_home]",
            "item FIRE-EXT-01: 'all' cannot be combined",
        ),
    ],
)
def test_it_reports_a_single_fault_at_its_line(
    tmp_path: Path, old: str, new: str, needle: str, message: str
) -> None:
    fire = GOOD_FIRE.replace(old, new, 1)
    assert fire != GOOD_FIRE
    problems = _problems(_write(tmp_path, {"facility_types.yaml": FACILITY_TYPES, "fire.yaml": fire}))
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"fire.yaml:{_line(fire, needle)}: {message}"), problems


def test_it_reports_a_missing_directory(tmp_path: Path) -> None:
    assert _problems(tmp_path / "nowhere") == [f"{tmp_path / 'nowhere'}: checklist directory not found"]
