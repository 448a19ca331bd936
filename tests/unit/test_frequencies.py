"""Inspection frequencies as data (checklists/frequencies.yaml): the shipped file, and how the loader reports a
broken one, with file and line."""

from __future__ import annotations

import shutil
import textwrap
from datetime import date
from pathlib import Path

import pytest

from tracker.checklists import ChecklistInvalid, load_catalog
from tracker.checklists.loader import default_directory
from tracker.domain.model import Ownership
from tracker.stats.coverage import window
from tracker.stats.periods import Period


def test_every_facility_type_and_ownership_is_asked_at_least_one_check():
    catalog = load_catalog()
    for code in catalog.facility_types:
        for ownership in Ownership:
            assert catalog.frequencies(code, ownership.value), (code, ownership)


def test_only_the_yearly_check_of_elderly_care_institutions_is_printed_as_a_rule():
    catalog = load_catalog()
    cited = {
        (code, f.level, f.times, f.per, f.basis)
        for code in catalog.facility_types
        for f in catalog.frequencies(code, "town")
        if f.basis is not None
    }
    assert cited == {
        ("nursing_home", "bureau", 1, "year", "《养老机构管理办法》"),
        ("elderly_service_center", "bureau", 1, "year", "《养老机构管理办法》"),
    }
    # Its article was not checked against the text: the printed basis names the law only, the note says why.
    rule = next(f for f in catalog.frequencies("nursing_home", "private") if f.basis)
    assert rule.basis_verified is False and "第三十八条" in (rule.basis_note or "")
    assert rule.words() == "民政局每年至少1次（《养老机构管理办法》）"


def test_the_bureaus_own_choice_reads_as_such_never_as_a_regulation():
    catalog = load_catalog()
    words = [f.words() for f in catalog.frequencies("nursing_home", "town")]
    assert "民政局每季度至少1次（本局安排）" in words and "镇（街道）每月至少1次（本局安排）" in words


def _broken(tmp_path: Path, text: str) -> list[str]:
    folder = tmp_path / "checklists"
    shutil.copytree(default_directory(), folder)
    (folder / "frequencies.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    with pytest.raises(ChecklistInvalid) as caught:
        load_catalog(folder)
    return caught.value.problems


def test_it_reports_each_broken_frequency_at_its_line(tmp_path: Path):
    problems = _broken(
        tmp_path,
        """\
        version: "1"
        frequencies:
          - facility_types: [nursing_home]
            ownership: all
            checks: {bureau: 2 per week}
            local: true
          - facility_types: [spaceport]
            ownership: all
            checks: {bureau: 1 per year}
            local: true
          - facility_types: [meal_point]
            ownership: [county]
            checks: {town: 1 per month}
            local: true
          - facility_types: [meal_point]
            ownership: all
            checks: {town: 1 per month}
            basis: 《某某办法》
            local: true
          - facility_types: [meal_point]
            ownership: all
            checks: {province: 1 per year}
          - facility_types: [meal_point]
            ownership: all
            checks: {bureau: 1 per year}
            basis: 《某某办法》（待核）
        """,
    )
    assert problems == [
        "frequencies.yaml:5: frequency checks: bureau: '2 per week' must read 'N per year', 'N per quarter' or "
        "'N per month', N 1-31",
        "frequencies.yaml:7: frequency: unknown facility type or group 'spaceport'",
        "frequencies.yaml:12: frequency: ownership 'county' must be one of bureau, town, private or all",
        "frequencies.yaml:18: frequency: the bureau's own choice (local: true) cites no basis: it is not a "
        "regulation",
        "frequencies.yaml:20: frequency: missing basis: a frequency is a cited rule (basis) or the bureau's own "
        "(local: true)",
        "frequencies.yaml:22: frequency checks: unknown key 'province' (allowed: bureau, town)",
        "frequencies.yaml:26: frequency: basis is printed and may not say '待核'; put doubts in basis_note",
    ]


@pytest.mark.parametrize(
    ("day", "per", "first", "after"),
    [
        (date(2026, 11, 5), "quarter", date(2026, 10, 1), date(2027, 1, 1)),
        (date(2027, 3, 31), "quarter", date(2027, 1, 1), date(2027, 4, 1)),
        (date(2026, 12, 5), "month", date(2026, 12, 1), date(2027, 1, 1)),
        (date(2026, 3, 1), "year", date(2026, 1, 1), date(2027, 1, 1)),
    ],
)
def test_a_frequency_is_counted_in_calendar_windows(day: date, per: str, first: date, after: date):
    assert window(day, per) == Period(first, after)
