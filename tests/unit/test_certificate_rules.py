"""The register of what expires, without I/O: when each reminder and the lapse fall due, what a line must hold,
and the kinds as data, each naming a checklist item that exists."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from tracker.checklists import ChecklistInvalid, load_catalog
from tracker.checklists.certificates import load_kinds
from tracker.checklists.loader import default_directory
from tracker.domain.certificates import Entry, Stage, stage_due
from tracker.domain.errors import InvalidInput

EXPIRES = date(2027, 3, 31)


@pytest.mark.parametrize(
    ("today", "stage"),
    [
        (date(2027, 2, 28), Stage.NONE),  # 31 days before
        (date(2027, 3, 1), Stage.MONTH),  # 30 days before
        (date(2027, 3, 23), Stage.MONTH),  # 8 days before
        (date(2027, 3, 24), Stage.WEEK),  # 7 days before
        (date(2027, 3, 31), Stage.WEEK),  # the last valid day
        (date(2027, 4, 1), Stage.LAPSED),
    ],
)
def test_it_says_which_step_is_due_on_a_day(today: date, stage: Stage):
    assert stage_due(EXPIRES, today) is stage


def test_it_checks_a_line_naming_the_field():
    kinds = frozenset({"lift_inspection"})
    entry = Entry.parse(" lift_inspection ", " 1号梯 ", "", "2027-03-31", kinds)
    assert (entry.kind, entry.label, entry.expires_on) == ("lift_inspection", "1号梯", EXPIRES)
    for args, field in (
        (("boat", "1号", "", "2027-03-31"), "kind"),
        (("lift_inspection", " ", "", "2027-03-31"), "label"),
        (("lift_inspection", "1号", "", "31.03.2027"), "expires_on"),
        (("lift_inspection", "1号", "", "1927-03-31"), "expires_on"),
        (("lift_inspection", "x" * 101, "", "2027-03-31"), "label"),
    ):
        with pytest.raises(InvalidInput) as error:
            Entry.parse(*args, kinds)
        assert error.value.field == field


def test_every_kind_names_an_item_of_the_checklists():
    catalog = load_catalog()
    kinds = load_kinds(catalog)
    assert set(kinds) == {
        "lift_inspection",
        "boiler_inspection",
        "pressure_vessel_inspection",
        "fire_system_test",
        "food_licence",
        "health_certificate",
        "control_room_operator",
    }
    assert all(catalog.has(k.item) for k in kinds.values())


def test_a_kind_naming_no_item_is_refused_with_file_and_line(tmp_path: Path):
    (tmp_path / "certificates").mkdir()
    source = (default_directory() / "certificates" / "kinds.yaml").read_text(encoding="utf-8")
    (tmp_path / "certificates" / "kinds.yaml").write_text(source.replace("FIRE-MAINT-01", "FIRE-NONE-99"))
    with pytest.raises(ChecklistInvalid) as error:
        load_kinds(load_catalog(), tmp_path)
    assert len(error.value.problems) == 1
    assert error.value.problems[0].startswith("certificates/kinds.yaml:")
    assert "FIRE-NONE-99" in error.value.problems[0]
