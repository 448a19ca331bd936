"""What a checklist item prints as its legal basis, and how it grades, at each type of facility.

A served document (order, order page, mail) prints only `basis`; doubts live in `basis_note`. The 2023
elderly-care standard binds 养老机构 only (its 第二条), the 2024 children's-welfare standard 儿童福利机构 only.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tracker.checklists import ChecklistInvalid, load_catalog
from tracker.entry.cli import app

ELDERLY_STANDARD = "养老机构重大事故隐患判定标准"
CHILDREN_STANDARD = "儿童福利机构重大事故隐患判定标准"
ELDERLY_INSTITUTIONS = {"nursing_home", "elderly_service_center"}
DOUBTS = ("待核", "未核实", "可能属", "估算", "est.")
# An article, clause or section cited: 第二十八条, 第（二）项, 第8.3节.
ARTICLE = re.compile(r"第[一二三四五六七八九十百零〇\d.（）]+[条款项节]")
# The situations DOMAIN.md gives word for word ([confirmed, secondary]), and 第四条（一）–（三） as read in a
# repost of the 2023 text (search: pages corpus, "养老机构重大事故隐患判定标准 第六条 日常管理").
VERBATIM = {
    "BLDG-DANGER-01": "建筑设施经鉴定属于C级、D级危房或者经住房城乡建设部门研判建筑安全存在重大隐患",
    "BLDG-PANEL-01": "违规使用易燃可燃材料为芯材的彩钢板搭建有人活动的建筑或者大量使用易燃可燃材料装修装饰",
    "SE-REG-01": "使用未取得许可生产、未经检验或者检验不合格、国家明令淘汰、已经报废的电梯、锅炉、氧气管道等特种设备",
    "INF-CLINIC-01": "内设医疗机构的，未依法取得医疗机构执业许可证或者未依法办理备案",
    "SE-STAFF-01": "使用未取得相应资格的人员从事特种设备安全管理、检测等工作",
}


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def _every_view(catalog):
    """(facility type, item as that type sees it) for every standing and campaign item."""
    for ftype in catalog.facility_types:
        for item in catalog.items(facility_type=ftype):
            yield ftype, item
        for campaign in catalog.campaigns:
            for item in catalog.campaign_items(campaign, ftype):
                yield ftype, item


# --- the shipped checklists ---------------------------------------------------------------------------


def test_it_prints_no_doubt_in_any_basis_at_any_facility_type(catalog) -> None:
    views = list(_every_view(catalog))
    assert len(views) > 1000
    for ftype, item in views:
        assert not [d for d in DOUBTS if d in item.basis.lower()], (ftype, item.code, item.basis)


def test_it_cites_an_article_only_where_it_was_checked(catalog) -> None:
    for ftype, item in _every_view(catalog):
        if not item.basis_verified:
            assert not ARTICLE.search(item.basis), (ftype, item.code, item.basis)


def test_it_keeps_the_doubts_in_the_note_for_inspectors(catalog) -> None:
    exit_item = catalog.item("FIRE-EXIT-01")
    assert exit_item.basis == "《中华人民共和国消防法》第二十八条"
    assert "未核实" in exit_item.basis_note
    assert "条款待核" not in catalog.item("GAS-CYL-01").basis
    assert "条款待核" in catalog.item("GAS-CYL-01").basis_note


@pytest.mark.parametrize(
    "facility_type",
    [
        "funeral_home",
        "marriage_registry",
        "child_welfare_institution",
        "children_centre",
        "relief_station",
        "day_care_center",
        "neighbourhood_point",
        "columbarium",
    ],
)
def test_it_never_prints_the_elderly_standard_outside_elderly_care_institutions(
    catalog, facility_type
) -> None:
    for item in catalog.items(facility_type=facility_type):
        assert ELDERLY_STANDARD not in item.basis, item.code
        # Nor any other text written for 养老机构 (GB 38600, 民政部令第66号, 民发〔2023〕37号).
        assert "养老机构" not in item.basis, item.code
        assert not (item.major_situation or "").startswith("MCA-2023"), item.code


def test_it_grades_by_the_elderly_standard_only_at_elderly_care_institutions(catalog) -> None:
    for ftype in ELDERLY_INSTITUTIONS:
        cited = [item for item in catalog.items(facility_type=ftype) if ELDERLY_STANDARD in item.basis]
        assert {item.code for item in cited} >= {
            "BLDG-DANGER-01",
            "SE-REG-01",
            "SE-STAFF-01",
            "FOOD-LICENSE-01",
        }
        assert all(item.severity == "major" and item.major_situation for item in cited)
    for code in ("SE-REG-01", "SE-STAFF-01", "FOOD-LICENSE-01", "BLDG-DANGER-01", "FIRE-COND-01"):
        home = catalog.item(code).for_facility_type("nursing_home")
        funeral = catalog.item(code).for_facility_type("funeral_home")
        assert home.severity == "major" and home.basis.endswith("项"), code
        assert funeral.severity == "general" and not funeral.stop_use and funeral.major_situation is None, (
            code
        )
        assert "中华人民共和国" in funeral.basis, code


def test_it_cites_the_childrens_standard_at_childrens_welfare_institutions_only(catalog) -> None:
    cited = {
        item.code
        for item in catalog.items(facility_type="child_welfare_institution")
        if CHILDREN_STANDARD in item.basis
    }
    assert cited >= {"BLDG-DANGER-01", "FIRE-COND-01", "SE-REG-01", "SE-STAFF-01", "FOOD-LICENSE-01"}
    for code in cited:
        item = catalog.item(code).for_facility_type("child_welfare_institution")
        # The situations' own words were not found: the law's name only, the mapping marked unverified.
        assert item.basis == "《儿童福利机构重大事故隐患判定标准》（民政部办公厅，民办发〔2024〕14号）", code
        assert not item.basis_verified and item.major_situation.startswith("MCA-2024-"), code
        assert "未核实" in item.basis_note, code
    for ftype in set(catalog.facility_types) - {"child_welfare_institution"}:
        assert not [i.code for i in catalog.items(facility_type=ftype) if CHILDREN_STANDARD in i.basis], ftype


def test_it_quotes_a_mapped_situation_word_for_word(catalog) -> None:
    for code, text in VERBATIM.items():
        assert catalog.item(code).zh == text, code


def test_it_keeps_extra_conditions_as_general_items_of_their_own(catalog) -> None:
    extra = {
        "SE-USEREG-01": ("未办理使用登记", "《中华人民共和国特种设备安全法》第三十三条"),
        "SE-OPER-01": ("作业人员", "《中华人民共和国特种设备安全法》第十四条"),
        "INF-CLINIC-02": ("护理站", "《医疗机构管理条例》"),
    }
    for code, (words, basis) in extra.items():
        for ftype in ("nursing_home", "funeral_home" if code.startswith("SE") else "relief_station"):
            item = catalog.item(code).for_facility_type(ftype)
            assert words in item.zh and item.basis == basis, code
            assert item.severity == "general" and item.major_situation is None, code
    assert "未办理使用登记" not in catalog.item("SE-REG-01").zh
    assert "作业人员" not in catalog.item("SE-STAFF-01").zh


def test_it_ships_the_new_facility_types_and_items(catalog) -> None:
    types = catalog.facility_types
    assert types["child_welfare_institution"].zh == "儿童福利机构"
    assert types["day_care_center"].zh == "日间照料中心"
    assert types["columbarium"].zh == "骨灰堂" and types["cemetery"].zh == "公墓"
    assert types["mental_welfare_institution"].zh == "精神卫生福利机构"
    assert types["community_service_facility"].zh == "城乡社区综合服务设施"
    assert {k: set(v) for k, v in catalog.facility_groups.items()} == {
        "elderly_care_institutions": ELDERLY_INSTITUTIONS
    }
    expected = {
        "nursing_home": {
            "SVC-CHOKE-01",
            "SVC-FALL-01",
            "SVC-BED-01",
            "SVC-SCALD-01",
            "SVC-CALL-01",
            "SVC-RESTRAIN-01",
        },
        "child_welfare_institution": {
            "SVC-CHILD-CHECK-01",
            "SVC-CHILD-WATER-01",
            "SVC-CHILD-LOST-01",
            "SVC-CHILD-GATE-01",
            "BLDG-CHILDWIN-01",
        },
        "funeral_home": {"FIRE-FUEL-01", "SVC-EXHAUST-01", "SVC-MORGUE-01", "SVC-CROWD-01"},
        "relief_station": {"SVC-RELIEF-SCREEN-01", "SVC-RELIEF-REFER-01"},
        "marriage_registry": {
            "MGMT-RESP-01",
            "MGMT-LEDGER-01",
            "MGMT-TRAIN-01",
            "FIRE-SKILL-01",
            "FIRE-MINI-01",
            "FIRE-SMOKE-01",
            "FIRE-HOT-01",
        },
        "meal_point": {"FIRE-HOOD-01", "MGMT-LEDGER-01"},
    }
    for ftype, codes in expected.items():
        assert codes <= {item.code for item in catalog.items(facility_type=ftype)}, ftype
    # A children's welfare institution takes every item a minors' protection centre takes.
    centre = {item.code for item in catalog.items(facility_type="children_centre")}
    assert centre <= {item.code for item in catalog.items(facility_type="child_welfare_institution")}


def test_it_ships_qingming_and_a_flood_season_into_october(catalog) -> None:
    qingming = catalog.campaigns["qingming"]
    assert (qingming.season_from, qingming.season_to) == ("03-20", "04-10")
    assert {i.code for i in catalog.campaign_items("qingming", "cemetery")} >= {"SVC-CROWD-01", "QM-BURN-01"}
    assert catalog.campaign_items("qingming", "nursing_home") == []
    assert catalog.campaigns["flood_season"].season_to.startswith("10-")


def test_it_shows_the_internal_note_in_the_cli() -> None:
    result = CliRunner().invoke(app, ["checklists", "show", "SE-REG-01"])
    assert result.exit_code == 0, result.output
    assert "依据 basis (printed): 《中华人民共和国特种设备安全法》" in result.output
    assert "内部说明 note (inspectors only): " in result.output and "SE-USEREG-01" in result.output
    assert "at nursing_home: major  STOP USE" in result.output
    at_funeral = CliRunner().invoke(
        app, ["checklists", "show", "SE-REG-01", "--facility-type", "funeral_home"]
    )
    assert "at nursing_home" not in at_funeral.output and "养老机构" not in at_funeral.output


# --- the loader ---------------------------------------------------------------------------------------

FACILITY_TYPES = """\
version: "1"
groups:
  elderly: [nursing_home]
facility_types:
  - code: nursing_home
    zh: 养老机构
    en: Nursing home
    checklists: [fire]
    sector: elderly
    ownership: town
  - code: funeral_home
    zh: 殡仪馆
    en: Funeral home
    checklists: [fire]
    sector: social_affairs
    ownership: bureau
"""

FIRE = """\
category: fire
version: "1"
effective: 2024-01-01
title: {zh: 消防安全, en: Fire safety}
items:
  - code: FIRE-COND-01
    zh: 不具备消防安全技术条件
    en: No basic fire-safety conditions
    facility_types: [all]
    severity: general
    deadline: {general: 10, major: 60}
    basis: BASIS
    basis_note: 一般机构由消防救援机构判定
    by_facility_type:
      OVERRIDE_KEY:
        basis: OVERRIDE_BASIS
        severity: major
        stop_use: true
        major_situation: MCA-2023-1-2
        basis_verified: true
"""


def _write(directory: Path, fire: str, types: str = FACILITY_TYPES) -> Path:
    (directory / "facility_types.yaml").write_text(textwrap.dedent(types), encoding="utf-8")
    (directory / "fire.yaml").write_text(textwrap.dedent(fire), encoding="utf-8")
    return directory


def _fire(
    basis: str = "《中华人民共和国消防法》",
    key: str = "elderly",
    override: str = "《养老机构重大事故隐患判定标准》第四条第（二）项",
) -> str:
    return FIRE.replace("OVERRIDE_KEY", key).replace("OVERRIDE_BASIS", override).replace("BASIS", basis)


def _problems(directory: Path) -> list[str]:
    with pytest.raises(ChecklistInvalid) as caught:
        load_catalog(directory)
    return caught.value.problems


def test_it_resolves_a_basis_and_grade_per_facility_type(tmp_path: Path) -> None:
    catalog = load_catalog(_write(tmp_path, _fire()))
    general = catalog.item("FIRE-COND-01")
    home = general.for_facility_type("nursing_home")
    assert (general.severity, general.stop_use, general.basis) == (
        "general",
        False,
        "《中华人民共和国消防法》",
    )
    assert (home.severity, home.stop_use, home.major_situation) == ("major", True, "MCA-2023-1-2")
    assert home.basis == "《养老机构重大事故隐患判定标准》第四条第（二）项" and home.basis_verified
    # What an entry leaves out is the item's own.
    assert home.basis_note == "一般机构由消防救援机构判定"
    assert catalog.items(facility_type="funeral_home")[0].basis == "《中华人民共和国消防法》"
    assert catalog.items(facility_type="nursing_home")[0].severity == "major"


@pytest.mark.parametrize("doubt", DOUBTS)
def test_it_refuses_a_doubt_in_a_printed_basis(tmp_path: Path, doubt: str) -> None:
    text = _fire(basis=f"《城镇燃气管理条例》（条款{doubt}）")
    problems = _problems(_write(tmp_path, text))
    line = next(n for n, row in enumerate(text.splitlines(), 1) if row.strip().startswith("basis: 《城镇"))
    assert problems == [
        f"fire.yaml:{line}: item FIRE-COND-01: basis is printed on orders and mail and must not hold "
        f"{doubt!r}; print the law's name only and put the doubt in basis_note"
    ]


def test_it_refuses_a_doubt_in_a_basis_for_one_facility_type(tmp_path: Path) -> None:
    text = _fire(override="可能属《养老机构重大事故隐患判定标准》第三方面情形")
    problems = _problems(_write(tmp_path, text))
    assert len(problems) == 1 and "by_facility_type elderly: basis is printed" in problems[0]
    assert "'可能属'" in problems[0]


def test_it_refuses_by_facility_type_keys_it_does_not_know(tmp_path: Path) -> None:
    problems = _problems(_write(tmp_path, _fire(key="hospital")))
    assert len(problems) == 1
    assert "by_facility_type names 'hospital', neither a facility type nor a group" in problems[0]


def test_it_refuses_a_type_given_a_basis_twice(tmp_path: Path) -> None:
    text = _fire().replace(
        "        basis_verified: true\n",
        "        basis_verified: true\n      nursing_home:\n        severity: major\n",
    )
    problems = _problems(_write(tmp_path, text))
    assert len(problems) == 1 and "facility type 'nursing_home' is given a basis twice" in problems[0]


def test_it_refuses_stop_use_on_a_general_grade_for_a_type(tmp_path: Path) -> None:
    text = _fire().replace("        severity: major\n", "        severity: general\n")
    problems = _problems(_write(tmp_path, text))
    assert any("stop_use is for major hazards only" in p for p in problems)
    assert any("must be major" in p for p in problems)


def test_it_refuses_a_doubt_on_the_command_line(tmp_path: Path) -> None:
    directory = _write(tmp_path, _fire(basis="《城镇燃气管理条例》（条款待核）"))
    result = CliRunner().invoke(app, ["checklists", "validate", str(directory)])
    assert result.exit_code == 1
    assert "fire.yaml:" in result.output and "must not hold '待核'" in result.output
