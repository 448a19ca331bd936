"""Paper fallback: the checklist of one facility type as a printable PDF or an Excel sheet.

Both list every item of the checklist versions in effect (catalog.as_of), grouped by category in the
order the facility type lists its categories, with a result column to tick and a notes column.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tracker.checklists.model import Catalog, Category, FacilityType, Item
from tracker.documents.spreadsheets import append_row
from tracker.domain.model import Severity
from tracker.text.labels import GRADE
from tracker.text.templating import environment

RESULT_CHOICES = ("合格", "不合格", "不适用")


@dataclass(frozen=True, slots=True)
class _Section:
    category: Category
    items: list[Item]


def deadline_text(item: Item) -> str:
    """ "一般 5 / 重大 10 个工作日", with 立即 for on-the-spot fixes and the stop-use warning."""

    def days(severity: str) -> str:
        value = item.deadline_days(severity)
        return "立即" if value == 0 else f"{value}"

    text = f"一般 {days(Severity.GENERAL)} / 重大 {days(Severity.MAJOR)}（工作日）"
    return text + "；停用整改" if item.stop_use else text


def _sections(catalog: Catalog, facility_type: str) -> tuple[FacilityType, list[_Section]]:
    ftype = catalog.facility_types[facility_type]
    categories = catalog.categories
    sections = [
        _Section(categories[code], catalog.items(facility_type=facility_type, category=code))
        for code in ftype.checklists
        if code in categories
    ]
    return ftype, [s for s in sections if s.items]


def render_html(catalog: Catalog, facility_type: str) -> str:
    """The printable page as HTML (what the PDF is made from)."""
    ftype, sections = _sections(catalog, facility_type)
    items = [item for section in sections for item in section.items]
    versions = "；".join(f"{s.category.zh} {s.category.version}" for s in sections)
    return (
        environment()
        .get_template("checklist_pdf.html")
        .render(
            ftype=ftype,
            sections=sections,
            numbers={item.code: number for number, item in enumerate(items, start=1)},
            total=len(items),
            versions=f"检查表版本：{versions}",
            severity_zh=GRADE,
            deadline=deadline_text,
            choices=RESULT_CHOICES,
        )
    )


def export_pdf(catalog: Catalog, facility_type: str, out: Path) -> int:
    """Write the printable checklist of `facility_type` to `out`; returns the number of items."""
    from weasyprint import HTML  # heavy; only for this command

    HTML(string=render_html(catalog, facility_type)).write_pdf(str(out))
    return len(catalog.items(facility_type=facility_type))


XLSX_HEADERS = (
    "序号",
    "编码",
    "类别",
    "检查内容",
    "Check item",
    "隐患等级",
    "一般事故隐患整改期限（工作日，0为立即）",
    "重大事故隐患整改期限（工作日，0为立即）",
    "停用整改",
    "依据",
    "依据已核实",
    "检查要点",
    "检查结果",
    "备注",
    "检查表版本",
)
# Title, facility type and a blank line come first; the headers are on this row.
XLSX_HEADER_ROW = 3


def export_xlsx(catalog: Catalog, facility_type: str, out: Path) -> int:
    """Write the checklist of `facility_type` as one Excel sheet to `out`; returns the number of items."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    ftype, sections = _sections(catalog, facility_type)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "检查表"
    last_column = get_column_letter(len(XLSX_HEADERS))
    append_row(sheet, [f"{ftype.zh}安全检查表"])
    sheet.merge_cells(f"A1:{last_column}1")
    sheet["A1"].font = Font(size=16, bold=True)
    sheet["A1"].alignment = Alignment(horizontal="center")
    append_row(
        sheet,
        [f"设施类型：{ftype.zh}（{ftype.code}）    被检查单位：            检查日期：            检查人员："],
    )
    sheet.merge_cells(f"A2:{last_column}2")
    sheet.append(list(XLSX_HEADERS))
    thin = Side(style="thin")
    for cell in sheet[XLSX_HEADER_ROW]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="E8E8E8")
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        cell.border = Border(top=thin, bottom=thin, left=thin, right=thin)
    number = 0
    for section in sections:
        for item in section.items:
            number += 1
            append_row(
                sheet,
                [
                    number,
                    item.code,
                    section.category.zh,
                    item.zh,
                    item.en,
                    GRADE[item.severity],
                    item.deadline_days(Severity.GENERAL),
                    item.deadline_days(Severity.MAJOR),
                    "是" if item.stop_use else "否",
                    item.basis,
                    "是" if item.basis_verified else "否",
                    item.hint_zh,
                    "",
                    "",
                    item.checklist_version,
                ],
            )
    first, last = XLSX_HEADER_ROW + 1, XLSX_HEADER_ROW + number
    if number:
        result_column = get_column_letter(XLSX_HEADERS.index("检查结果") + 1)
        choice = DataValidation(type="list", formula1=f'"{",".join(RESULT_CHOICES)}"', allow_blank=True)
        choice.add(f"{result_column}{first}:{result_column}{last}")
        sheet.add_data_validation(choice)
        for row in sheet.iter_rows(min_row=first, max_row=last):
            for cell in row:
                cell.alignment = Alignment(vertical="top", wrap_text=True)
                cell.border = Border(top=thin, bottom=thin, left=thin, right=thin)
    widths = (6, 18, 12, 48, 48, 10, 12, 12, 8, 40, 8, 40, 12, 24, 10)
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = f"C{first}"
    sheet.auto_filter.ref = f"A{XLSX_HEADER_ROW}:{last_column}{max(last, XLSX_HEADER_ROW)}"
    sheet.print_title_rows = f"{XLSX_HEADER_ROW}:{XLSX_HEADER_ROW}"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.append([])
    sheet.append(["检查人员（签名）：", "", "", "", "被检查单位负责人（签名）：", "", "", "", "", "日期："])
    book.save(out)
    return number
