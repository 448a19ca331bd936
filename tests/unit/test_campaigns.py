"""Campaign checklists as data: the shipped ones, how broken ones are reported, and who sees what."""

from __future__ import annotations

import textwrap
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tracker.checklists import ChecklistInvalid, load_catalog
from tracker.checklists.campaigns import Publication, default_window, visible_items

SEASONAL = {"flood_season", "heat", "cold_wave", "pre_holiday"}

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

FIRE = """\
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
  - code: FIRE-HOME-01
    zh: 仅养老机构的条目
    en: Nursing homes only
    facility_types: [nursing_home]
    severity: general
    deadline: 5
    basis: 《中华人民共和国消防法》第十六条
"""

HEAT = """\
campaign: heat
version: "2026.1"
title: {zh: 高温天气安全专项检查, en: Heatwave safety campaign}
season: {from: "06-15", to: "09-15"}
facility_types: [all]
items:
  - ref: FIRE-EXIT-01
  - ref: FIRE-HOME-01
  - code: HEAT-WATCH-01
    zh: 高温期间未加强巡视
    en: No closer rounds in a heatwave
    facility_types: [nursing_home]
    severity: general
    deadline: {general: immediate, major: 3}
    basis: 《防暑降温措施管理办法》
"""


def _write(directory: Path, heat: str = HEAT, **more: str) -> Path:
    (directory / "campaigns").mkdir(exist_ok=True)
    (directory / "facility_types.yaml").write_text(FACILITY_TYPES, encoding="utf-8")
    (directory / "fire.yaml").write_text(FIRE, encoding="utf-8")
    (directory / "campaigns" / "heat.yaml").write_text(textwrap.dedent(heat), encoding="utf-8")
    for name, text in more.items():
        (directory / "campaigns" / f"{name}.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    return directory


def _line(text: str, needle: str) -> int:
    return next(number for number, line in enumerate(text.splitlines(), start=1) if needle in line)


def _problems(directory: Path) -> list[str]:
    with pytest.raises(ChecklistInvalid) as caught:
        load_catalog(directory)
    return caught.value.problems


def _publication(campaign: str, types: tuple[str, ...], pub_id: int = 1) -> Publication:
    return Publication(
        id=pub_id,
        campaign=campaign,
        campaign_version="2026.1",
        facility_types=types,
        starts_on=date(2026, 6, 15),
        ends_on=date(2026, 9, 15),
        published_at=datetime(2026, 6, 1, tzinfo=UTC),
        published_by="",
        withdrawn_at=None,
    )


def test_it_ships_the_four_seasonal_campaigns() -> None:
    catalog = load_catalog()
    assert set(catalog.campaigns) == SEASONAL | {"qingming"}
    assert set(catalog.campaigns["qingming"].facility_types) == {"funeral_home", "cemetery", "columbarium"}
    for code, campaign in catalog.campaigns.items():
        assert campaign.zh and campaign.en and campaign.version, code
        if code in SEASONAL:
            assert set(campaign.facility_types) == set(catalog.facility_types), code
        items = catalog.campaign_items(code)
        assert len(items) == len(campaign.item_codes) >= 8, code
        for item in campaign.own_items:
            assert item.category == f"campaign:{code}" and item.checklist_version == campaign.version
            assert item.zh and item.en and item.basis and item.hint_zh and item.hint_en, item.code
            # Own items can be recorded in an inspection like any other item.
            assert catalog.has(item.code) and catalog.item(item.code) == item
        # Campaign items are not part of the standing checklists.
        assert not {i.code for i in campaign.own_items} & {i.code for i in catalog.items()}


def test_it_resolves_references_and_facility_types(tmp_path: Path) -> None:
    catalog = load_catalog(_write(tmp_path))
    heat = catalog.campaigns["heat"]
    assert heat.item_codes == ["FIRE-EXIT-01", "FIRE-HOME-01", "HEAT-WATCH-01"]
    assert heat.facility_types == ["nursing_home", "cemetery"]
    assert [i.code for i in catalog.campaign_items("heat", "cemetery")] == ["FIRE-EXIT-01"]
    assert catalog.campaign_items("heat", "nursing_home") == [
        catalog.item("FIRE-EXIT-01"),
        catalog.item("FIRE-HOME-01"),
        catalog.item("HEAT-WATCH-01"),
    ]
    assert catalog.item("HEAT-WATCH-01", version="2026.1").code == "HEAT-WATCH-01"
    with pytest.raises(KeyError):
        catalog.campaign_items("snow")


def test_it_works_out_the_season_over_the_new_year(tmp_path: Path) -> None:
    cold = HEAT.replace("campaign: heat", "campaign: cold").replace(
        '{from: "06-15", to: "09-15"}', '{from: "11-15", to: "03-15"}'
    )
    cold = cold.replace("HEAT-WATCH-01", "COLD-WATCH-01")
    catalog = load_catalog(_write(tmp_path, cold=cold))
    assert catalog.campaigns["cold"].season(2026) == (date(2026, 11, 15), date(2027, 3, 15))
    assert default_window(catalog, "cold", date(2027, 1, 10)) == (date(2026, 11, 15), date(2027, 3, 15))
    assert default_window(catalog, "cold", date(2027, 3, 16)) == (date(2027, 11, 15), date(2028, 3, 15))
    assert default_window(catalog, "heat", date(2026, 9, 16)) == (date(2027, 6, 15), date(2027, 9, 15))


def test_it_shows_published_items_to_the_published_types_only(tmp_path: Path) -> None:
    catalog = load_catalog(_write(tmp_path))
    only_cemeteries = _publication("heat", ("cemetery",))
    assert [(i.code, p) for i, p in visible_items(catalog, [only_cemeteries], "cemetery")] == [
        ("FIRE-EXIT-01", [only_cemeteries])
    ]
    assert visible_items(catalog, [only_cemeteries], "nursing_home") == []
    both = _publication("heat", ("nursing_home", "cemetery"), pub_id=2)
    shown = visible_items(catalog, [only_cemeteries, both])
    assert [(i.code, [p.id for p in pubs]) for i, pubs in shown] == [
        ("FIRE-EXIT-01", [1, 2]),
        ("FIRE-HOME-01", [2]),
        ("HEAT-WATCH-01", [2]),
    ]
    # A publication of a campaign that has since left the files shows nothing.
    assert visible_items(catalog, [_publication("snow", ("cemetery",))], "cemetery") == []


@pytest.mark.parametrize(
    ("old", "new", "needle", "message"),
    [
        (
            "  - ref: FIRE-HOME-01",
            "  - ref: FIRE-NOPE-01",
            "FIRE-NOPE-01",
            "campaign heat: unknown item 'FIRE-NOPE-01'",
        ),
        (
            "  - ref: FIRE-HOME-01",
            "  - ref: 'FIRE-EXIT-01'",
            "'FIRE-EXIT-01'",
            "item: FIRE-EXIT-01 is listed twice in this campaign (first at line 7)",
        ),
        (
            "facility_types: [all]",
            "facility_types: [hospital]",
            "[hospital]",
            "campaign heat: unknown facility type",
        ),
        ('to: "09-15"', 'to: "09-31"', "season:", "season: to must be a month and day written MM-DD"),
        ("campaign: heat", "campaign: hot", "campaign:", "campaign 'hot' must be lower_snake_case and equal"),
        (
            "    en: No closer rounds in a heatwave\n",
            "",
            "code: HEAT-WATCH-01",
            "item HEAT-WATCH-01: missing en",
        ),
        (
            "deadline: {general: immediate, major: 3}",
            "deadline: later",
            "later",
            "item HEAT-WATCH-01: bad deadline",
        ),
        (
            "  - ref: FIRE-HOME-01\n  - code: HEAT-WATCH-01",
            "  - code: FIRE-HOME-01",
            "code: FIRE-HOME-01",
            "item FIRE-HOME-01: code of a checklist item (at fire.yaml:13); refer to it with `- ref: FIRE-HOME-01`",
        ),
        (
            "code: HEAT-WATCH-01",
            "code: FIRE-HOT-01",
            "code: FIRE-HOT-01",
            "code prefix FIRE- is already used by fire.yaml",
        ),
        (
            "  - ref: FIRE-HOME-01",
            "  - ref: FIRE-HOME-01\n    note: x",
            "note: x",
            "item: unknown key 'note'",
        ),
    ],
)
def test_it_reports_a_broken_campaign_at_its_line(
    tmp_path: Path, old: str, new: str, needle: str, message: str
) -> None:
    heat = HEAT.replace(old, new, 1)
    assert heat != HEAT
    problems = _problems(_write(tmp_path, heat))
    assert len(problems) == 1, problems
    if needle == "code: FIRE-HOT-01":  # the prefix clash is reported at the start of the file
        assert problems[0].startswith(f"campaigns/heat.yaml:1: {message}"), problems
    else:
        assert problems[0].startswith(f"campaigns/heat.yaml:{_line(heat, needle)}: {message}"), problems


def test_it_reports_an_own_item_for_a_type_the_campaign_is_not_for(tmp_path: Path) -> None:
    heat = HEAT.replace("facility_types: [all]", "facility_types: [cemetery]")
    problems = _problems(_write(tmp_path, heat))
    line = _line(heat, "facility_types: [nursing_home]")
    assert problems == [
        f"campaigns/heat.yaml:{line}: item HEAT-WATCH-01: facility type 'nursing_home' is not one this campaign is for"
    ]


def test_it_reports_two_campaigns_defining_the_same_code(tmp_path: Path) -> None:
    other = HEAT.replace("campaign: heat", "campaign: summer")
    problems = _problems(_write(tmp_path, summer=other))
    line = _line(other, "code: HEAT-WATCH-01")
    assert (
        problems[0]
        == f"campaigns/summer.yaml:{line}: item HEAT-WATCH-01: duplicate code (first at campaigns/heat.yaml:{line})"
    )
