"""The paper fallback: a PDF (read back with pdftotext) and an Excel sheet (read back with openpyxl)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests.support.stack import default_catalog
from tracker.checklists.export import XLSX_HEADER_ROW, XLSX_HEADERS, export_xlsx

ROOT = Path(__file__).resolve().parents[2]


def _tracker(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    return subprocess.run(
        [sys.executable, "-m", "tracker", "checklists", *args],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="needs pdftotext (apt-get install poppler-utils)"
)
def test_it_prints_every_item_of_the_facility_type_to_pdf(tmp_path: Path) -> None:
    out = tmp_path / "cemetery.pdf"
    done = _tracker("export", "--facility-type", "cemetery", "--format", "pdf", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_bytes().startswith(b"%PDF")
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True, check=True).stdout
    catalog = default_catalog()
    items = catalog.items(facility_type="cemetery")
    assert f"wrote {out}: {len(items)} items for cemetery" in done.stdout
    for item in items:
        assert item.code in text, item.code
    others = {i.code for i in catalog.items()} - {i.code for i in items}
    assert not [code for code in others if code in text]
    # Chinese comes out as Chinese text, with the title, the tick boxes and the signature line.
    compact = "".join(text.split())
    for words in (
        "公墓安全检查表",
        "检查结果",
        "合格",
        "不合格",
        "不适用",
        "备注",
        "检查人员（签名）",
        "被检查单位负责人（签名）",
        "重大事故隐患",
        "一般事故隐患",
    ):
        assert words in compact, words
    # A sheet that may reach a facility prints no doubt about its own basis.
    assert "待核" not in compact and "未核实" not in compact


def test_it_writes_one_row_per_item_to_xlsx(tmp_path: Path) -> None:
    catalog = default_catalog()
    out = tmp_path / "meal_point.xlsx"
    assert export_xlsx(catalog, "meal_point", out) == len(catalog.items(facility_type="meal_point"))
    sheet = load_workbook(out).active
    assert sheet is not None
    assert sheet["A1"].value == "助餐点（幸福食堂）安全检查表"
    assert [c.value for c in sheet[XLSX_HEADER_ROW]] == list(XLSX_HEADERS)
    column = {name: index for index, name in enumerate(XLSX_HEADERS)}
    rows = [
        row
        for row in sheet.iter_rows(min_row=XLSX_HEADER_ROW + 1, values_only=True)
        if isinstance(row[0], int)
    ]
    # Items come category by category, in the order the facility type lists its checklists.
    order = catalog.facility_types["meal_point"].checklists
    expected = sorted(catalog.items(facility_type="meal_point"), key=lambda i: order.index(i.category))
    assert [row[column["编码"]] for row in rows] == [item.code for item in expected]
    assert [row[0] for row in rows] == list(range(1, len(expected) + 1))
    for row, item in zip(rows, expected, strict=True):
        assert row[column["检查内容"]] == item.zh
        assert row[column["Check item"]] == item.en
        assert row[column["类别"]] == catalog.categories[item.category].zh
        assert row[column["隐患等级"]] == {"general": "一般事故隐患", "major": "重大事故隐患"}[item.severity]
        assert row[column["一般事故隐患整改期限（工作日，0为立即）"]] == item.deadline_days("general")
        assert row[column["重大事故隐患整改期限（工作日，0为立即）"]] == item.deadline_days("major")
        assert row[column["停用整改"]] == ("是" if item.stop_use else "否")
        assert row[column["依据"]] == item.basis
        assert row[column["检查表版本"]] == item.checklist_version
        assert row[column["检查结果"]] is None and row[column["备注"]] is None
    [validation] = sheet.data_validations.dataValidation
    assert validation.formula1 == '"合格,不合格,不适用"'


def test_it_refuses_an_unknown_facility_type_or_format(tmp_path: Path) -> None:
    bad_type = _tracker(
        "export", "--facility-type", "hospital", "--format", "pdf", "--out", str(tmp_path / "x.pdf")
    )
    assert bad_type.returncode == 2 and "unknown facility type 'hospital'" in bad_type.stderr
    bad_format = _tracker(
        "export", "--facility-type", "cemetery", "--format", "doc", "--out", str(tmp_path / "x")
    )
    assert bad_format.returncode == 2 and "neither pdf nor xlsx" in bad_format.stderr
    assert not list(tmp_path.iterdir())
