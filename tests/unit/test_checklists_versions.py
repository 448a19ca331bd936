"""Several versions of one checklist: which one is in effect, and the older ones kept for old inspections."""

from __future__ import annotations

import textwrap
from datetime import date
from pathlib import Path

import pytest

from tracker.checklists import ChecklistInvalid, load_catalog

FACILITY_TYPES = """\
version: "1"
facility_types:
  - code: nursing_home
    zh: 养老机构
    en: Nursing home
    checklists: [fire, gas]
    sector: elderly
    ownership: town
"""

FIRE_2024 = """\
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
  - code: FIRE-OLD-01
    zh: 旧条目
    en: An item the next version drops
    facility_types: [all]
    severity: general
    deadline: 5
    basis: 旧依据
"""

FIRE_2025 = """\
category: fire
version: "2025.1"
effective: 2025-11-01
title: {zh: 消防安全, en: Fire safety}
items:
  - code: FIRE-EXIT-01
    zh: 安全出口、疏散通道上锁或堵塞
    en: Exits or escape routes locked or blocked
    facility_types: [all]
    severity: general
    deadline: {general: immediate, major: 5}
    basis: GB 35181-2025
  - code: FIRE-NEW-01
    zh: 新条目
    en: An item new in 2025
    facility_types: [all]
    severity: major
    deadline: 10
    basis: GB 35181-2025
"""

GAS = """\
category: gas
version: "2024.1"
effective: 2024-01-01
title: {zh: 燃气安全, en: Gas safety}
items:
  - code: GAS-HOSE-01
    zh: 燃气软管老化
    en: Gas hose perished
    facility_types: [all]
    severity: general
    deadline: 7
    basis: 《城镇燃气管理条例》
"""


def _write(directory: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (directory / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return directory


def _line(text: str, needle: str) -> int:
    return next(number for number, line in enumerate(text.splitlines(), start=1) if needle in line)


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return _write(
        tmp_path,
        {
            "facility_types.yaml": FACILITY_TYPES,
            "fire.yaml": FIRE_2024,
            "fire-2025.yaml": FIRE_2025,
            "gas.yaml": GAS,
        },
    )


def test_it_uses_the_version_in_effect_on_the_day(directory: Path) -> None:
    before = load_catalog(directory, as_of=date(2025, 10, 31))
    after = load_catalog(directory, as_of=date(2025, 11, 1))
    assert before.categories["fire"].version == "2024.1"
    assert after.categories["fire"].version == "2025.1"
    assert before.item("FIRE-EXIT-01").en == "Exit locked"
    assert after.item("FIRE-EXIT-01").en == "Exits or escape routes locked or blocked"
    assert after.item("FIRE-EXIT-01").deadline_days("major") == 5
    assert [i.code for i in before.items(category="fire")] == ["FIRE-EXIT-01", "FIRE-OLD-01"]
    assert [i.code for i in after.items(facility_type="nursing_home")] == [
        "FIRE-EXIT-01",
        "FIRE-NEW-01",
        "GAS-HOSE-01",
    ]
    # A category with one version is the same whatever the day.
    assert before.categories["gas"] == after.categories["gas"]


def test_it_keeps_older_versions_loadable_by_code_and_version(directory: Path) -> None:
    catalog = load_catalog(directory, as_of=date(2026, 1, 1))
    old = catalog.item("FIRE-EXIT-01", version="2024.1")
    assert old.en == "Exit locked" and old.checklist_version == "2024.1"
    assert catalog.item("FIRE-OLD-01", version="2024.1").zh == "旧条目"
    assert not catalog.has("FIRE-OLD-01")
    with pytest.raises(KeyError):
        catalog.item("FIRE-OLD-01")
    with pytest.raises(KeyError):
        catalog.item("FIRE-NEW-01", version="2024.1")
    assert [c.version for c in catalog.versions("fire")] == ["2024.1", "2025.1"]
    assert catalog.category("fire", "2024.1").effective == date(2024, 1, 1)
    with pytest.raises(KeyError):
        catalog.category("fire", "2023.1")


def test_it_moves_a_view_to_another_day_without_reloading(directory: Path) -> None:
    catalog = load_catalog(directory, as_of=date(2026, 1, 1))
    earlier = catalog.at(date(2024, 6, 1))
    assert earlier.categories["fire"].version == "2024.1"
    assert catalog.categories["fire"].version == "2025.1"  # the original view is unchanged
    assert earlier.as_of == date(2024, 6, 1)


def test_it_uses_the_first_version_before_any_takes_effect(directory: Path) -> None:
    catalog = load_catalog(directory, as_of=date(2020, 1, 1))
    assert catalog.categories["fire"].version == "2024.1"


def test_it_follows_today_when_no_day_is_given(directory: Path) -> None:
    from tracker.checklists.model import local_today

    catalog = load_catalog(directory)
    expected = "2025.1" if local_today() >= date(2025, 11, 1) else "2024.1"
    assert catalog.categories["fire"].version == expected


def test_it_reports_two_files_with_the_same_version(tmp_path: Path) -> None:
    twin = FIRE_2025.replace('version: "2025.1"', 'version: "2024.1"')
    _write(
        tmp_path,
        {"facility_types.yaml": FACILITY_TYPES, "fire.yaml": FIRE_2024, "fire-b.yaml": twin, "gas.yaml": GAS},
    )
    with pytest.raises(ChecklistInvalid) as caught:
        load_catalog(tmp_path)
    assert caught.value.problems == [
        f"fire-b.yaml:{_line(twin, 'version:')}: version '2024.1' of the 'fire' checklist is already in fire.yaml"
    ]


def test_it_reports_two_versions_taking_effect_the_same_day(tmp_path: Path) -> None:
    same_day = FIRE_2025.replace("effective: 2025-11-01", "effective: 2024-01-01")
    _write(
        tmp_path,
        {
            "facility_types.yaml": FACILITY_TYPES,
            "fire.yaml": FIRE_2024,
            "fire-2025.yaml": same_day,
            "gas.yaml": GAS,
        },
    )
    with pytest.raises(ChecklistInvalid) as caught:
        load_catalog(tmp_path)
    assert caught.value.problems == [
        (
            f"fire.yaml:{_line(FIRE_2024, 'effective:')}: effective 2024-01-01: fire-2025.yaml takes effect "
            "the same day; give each version of a checklist its own date"
        )
    ]


def test_it_still_forbids_a_code_in_another_category(tmp_path: Path) -> None:
    gas = GAS.replace("code: GAS-HOSE-01", "code: FIRE-EXIT-01")
    _write(
        tmp_path,
        {
            "facility_types.yaml": FACILITY_TYPES,
            "fire.yaml": FIRE_2024,
            "fire-2025.yaml": FIRE_2025,
            "gas.yaml": gas,
        },
    )
    with pytest.raises(ChecklistInvalid) as caught:
        load_catalog(tmp_path)
    assert caught.value.problems == [
        f"gas.yaml:{_line(gas, 'FIRE-EXIT-01')}: item FIRE-EXIT-01: duplicate code (first at fire-2025.yaml:6)",
    ]


def test_it_names_the_category_before_the_dash(tmp_path: Path) -> None:
    _write(tmp_path, {"facility_types.yaml": FACILITY_TYPES, "fire.yaml": FIRE_2024, "gas.yaml": GAS})
    wrong = FIRE_2025  # says `category: fire` in a file of the gas checklist
    (tmp_path / "gas-2025.yaml").write_text(wrong, encoding="utf-8")
    with pytest.raises(ChecklistInvalid) as caught:
        load_catalog(tmp_path)
    assert caught.value.problems[0] == "gas-2025.yaml:1: category 'fire' must equal the file name 'gas'"
