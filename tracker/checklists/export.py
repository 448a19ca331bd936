"""Paper fallback: the checklist of one facility type as a printable PDF or an Excel sheet.

Both list every item of the checklist versions in effect (catalog.as_of), grouped by category in the
order the facility type lists its categories, with a result column to tick and a notes column.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment

from tracker.checklists.model import Catalog, Category, FacilityType, Item
from tracker.documents.spreadsheets import append_row
from tracker.domain.model import Severity

SEVERITY_ZH = {"general": "一般事故隐患", "major": "重大事故隐患"}
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


_HTML = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{{ ftype.zh }}安全检查表</title>
<style>
@page { size: A4 landscape; margin: 14mm 10mm 16mm 10mm;
  @bottom-center { content: "第 " counter(page) " 页 共 " counter(pages) " 页"; font-size: 8pt;
    white-space: nowrap; } }
body { font-family: "WenQuanYi Micro Hei", "Noto Sans CJK SC", "Source Han Sans SC", sans-serif;
  font-size: 8pt; color: #000; }
h1 { text-align: center; font-size: 17pt; letter-spacing: 2pt; margin: 0 0 1mm; }
.sub { text-align: center; font-size: 9pt; margin: 0 0 3mm; }
.fields { width: 100%; border-collapse: collapse; margin-bottom: 3mm; font-size: 9pt; }
.fields td { padding: 1.5mm 0; }
.blank { display: inline-block; border-bottom: 0.6pt solid #000; min-width: 55mm; }
table.items { width: 100%; border-collapse: collapse; table-layout: fixed; }
table.items th, table.items td { border: 0.6pt solid #000; padding: 1mm 1.2mm; vertical-align: top; }
table.items thead th { background: #e8e8e8; font-weight: bold; text-align: center; }
table.items thead { display: table-header-group; }
tr { page-break-inside: avoid; }
tr.cat td { background: #f3f3f3; font-weight: bold; font-size: 9pt; }
.code { white-space: nowrap; font-family: "DejaVu Sans Mono", monospace; font-size: 7pt; }
.en { color: #333; font-size: 6.8pt; margin-top: 0.8mm; }
.major { font-weight: bold; }
.basis { font-size: 6.8pt; }
.box { display: inline-block; width: 2.6mm; height: 2.6mm; border: 0.6pt solid #000; margin-right: 0.8mm;
  vertical-align: -0.4mm; }
.tick { white-space: nowrap; line-height: 1.7; }
.sign { width: 100%; margin-top: 8mm; font-size: 10pt; page-break-inside: avoid; }
.sign td { padding-top: 6mm; }
.note { font-size: 7pt; color: #333; margin-top: 2mm; }
</style></head>
<body>
<h1>{{ ftype.zh }}安全检查表</h1>
<p class="sub">{{ ftype.en }} — safety inspection checklist · 适用设施类型：{{ ftype.zh }}（{{ ftype.code }}）</p>
<p class="sub" style="font-size:7pt">{{ versions }}</p>
<table class="fields"><tr>
<td>被检查单位：<span class="blank"></span></td>
<td>检查日期：<span class="blank" style="min-width:35mm"></span></td>
<td>检查方式：□ 暗访 □ 例行 □ 自查 □ 专项</td></tr></table>
<table class="items">
<colgroup><col style="width:4%"><col style="width:11%"><col style="width:30%"><col style="width:6%">
<col style="width:10%"><col style="width:17%"><col style="width:8%"><col style="width:14%"></colgroup>
<thead><tr><th>序号</th><th>编码</th><th>检查内容 / Check</th><th>隐患等级</th><th>整改期限</th>
<th>依据</th><th>检查结果</th><th>备注</th></tr></thead>
<tbody>
{% for section in sections %}
<tr class="cat"><td colspan="8">{{ loop.index }}. {{ section.category.zh }} {{ section.category.en }}
（版本 {{ section.category.version }}，{{ section.category.effective.isoformat() }} 起施行）</td></tr>
{% for item in section.items %}
<tr>
<td style="text-align:center">{{ numbers[item.code] }}</td>
<td class="code">{{ item.code }}</td>
<td>{{ item.zh }}<div class="en">{{ item.en }}</div></td>
<td class="{{ item.severity }}">{{ severity_zh[item.severity] }}</td>
<td>{{ deadline(item) }}</td>
<td class="basis">{{ item.basis }}</td>
<td class="tick">{% for choice in choices %}<span class="box"></span>{{ choice }}<br>{% endfor %}</td>
<td></td>
</tr>
{% endfor %}
{% endfor %}
</tbody></table>
<p class="note">说明：“立即”指现场立即整改；整改期限按工作日计算；标注“停用整改”的隐患在整改完成前应停止使用相关场所、设施或服务。共 {{ total }} 项。</p>
<table class="sign"><tr>
<td>检查人员（签名）：<span class="blank" style="min-width:45mm"></span></td>
<td>被检查单位负责人（签名）：<span class="blank" style="min-width:45mm"></span></td>
<td>日期：<span class="blank" style="min-width:30mm"></span></td></tr></table>
</body></html>
"""


def render_html(catalog: Catalog, facility_type: str) -> str:
    """The printable page as HTML (what the PDF is made from)."""
    ftype, sections = _sections(catalog, facility_type)
    items = [item for section in sections for item in section.items]
    versions = "；".join(f"{s.category.zh} {s.category.version}" for s in sections)
    template = Environment(autoescape=True).from_string(_HTML)
    return template.render(
        ftype=ftype,
        sections=sections,
        numbers={item.code: number for number, item in enumerate(items, start=1)},
        total=len(items),
        versions=f"检查表版本：{versions}",
        severity_zh=SEVERITY_ZH,
        deadline=deadline_text,
        choices=RESULT_CHOICES,
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
                    SEVERITY_ZH[item.severity],
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
