"""Everything the dashboard, the monthly report (PDF, Excel, JSON) and the exports show, gathered once from
the query layer in tracker.stats, and the Excel and PDF renderings of it."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tracker.checklists import Catalog
from tracker.config import load_settings
from tracker.documents import charts
from tracker.documents.printer import html_to_pdf
from tracker.documents.spreadsheets import append_row
from tracker.domain.model import Severity
from tracker.domain.time import LOCAL_TZ, local_day, shown
from tracker.service import record
from tracker.stats import query as q
from tracker.stats.board import Board
from tracker.stats.periods import Period
from tracker.store.db import read
from tracker.text.catalogue import translate
from tracker.text.labels import (
    DIMENSION_NAMES,
    METRIC_NAMES,
    MODE_NAMES,
    SEVERITY_NAMES,
    STATUS_NAMES,
    value_label,
)
from tracker.text.templating import environment

HEADLINE = ("found", "closed", "closure_rate", "on_time_rate", "open", "overdue", "open_major")
TABLE_METRICS = (
    "found",
    "closed",
    "closed_of_found",
    "closure_rate",
    "on_time",
    "on_time_rate",
    "open",
    "overdue",
    "open_major",
    "repeat",
)


@dataclass
class Dashboard:
    period: Period
    flt: q.Filter
    now: datetime
    summary: q.Summary
    breakdowns: dict[str, list[q.Group]]
    weeks: list[q.Bucket]
    months: list[q.Bucket]
    days: q.DaysToClose
    overdue: list[q.FindingRow]
    open_major: list[q.FindingRow]
    top_open: list[q.FacilityCount]
    top_repeat: list[q.FacilityCount]
    escalated: list[tuple[int, int, datetime]] = field(default_factory=list)
    towns: list[str] = field(default_factory=list)
    # Items put right while the inspectors were there (当场整改): no finding, so counted from the inspections.
    fixed: int = 0
    # The major-hazard board (tracker.stats.board), read for the dashboard page only.
    board: Board | None = None

    def url(self, metric: str, flt: q.Filter | None = None, period: Period | None = None) -> str:
        return q.findings_url(metric, period or self.period, flt or self.flt)

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.summary.as_dict(),
            "scope": self.flt.params(),
            "breakdowns": {d: [g.as_dict() for g in groups] for d, groups in self.breakdowns.items()},
            "trend": {"week": [b.as_dict() for b in self.weeks], "month": [b.as_dict() for b in self.months]},
            "days_to_close": {"count": self.days.count, "median": self.days.median, "p90": self.days.p90},
            "fixed_on_the_spot": self.fixed,
            "overdue": [r.as_dict() for r in self.overdue],
            "open_major": [r.as_dict() for r in self.open_major],
            "top_open_facilities": [vars(r) for r in self.top_open],
            "top_repeat_facilities": [vars(r) for r in self.top_repeat],
            "escalated": [
                {"finding_id": i, "level": lv, "at": at.isoformat()} for i, lv, at in self.escalated
            ],
        }


async def gather(
    engine: AsyncEngine,
    period: Period,
    flt: q.Filter,
    now: datetime,
    catalog: Catalog | None,
    list_limit: int | None = None,
) -> Dashboard:
    """Every figure of one dashboard or monthly report, from the one query layer, in one snapshot."""

    def labeller(dimension: str, key: Any, name: str | None) -> str:
        return value_label(dimension, str(key), catalog, name)

    async def figures(conn: AsyncConnection) -> Any:
        summary, breakdowns, sums = await q.overview(conn, period, flt, now, labeller)
        top_open = await q.top_from(conn, sums["facility"], "open")
        top_repeat = await q.top_from(conn, sums["facility"], "repeat")
        fixed = await _fixed_on_the_spot(conn, period, flt, catalog)
        return summary, breakdowns, top_open, top_repeat, await q.facility_towns(conn), fixed

    # The trends end with the bucket holding today when the period runs on past it: no empty weeks to come.
    upto = min(period.end, local_day(now) + timedelta(days=1))
    trend_period = Period(period.start, upto) if upto > period.start else period

    async def trends(conn: AsyncConnection) -> Any:
        weeks, months = await q.trends(conn, ("week", "month"), trend_period, flt, 12)
        return weeks, months, await q.days_to_close(conn, period, flt, now)

    async def lists(conn: AsyncConnection) -> Any:
        overdue, open_major = await q.finding_lists(
            conn, ("overdue", "open_major"), period, flt, now, list_limit
        )
        # Escalations are in the report's JSON, not on the page (the one with a list_limit): not read for it.
        return overdue, open_major, await q.escalations(conn, period, flt) if list_limit is None else []

    async def everything(conn: AsyncConnection) -> Any:
        return await figures(conn), await trends(conn), await lists(conn)

    (
        (summary, breakdowns, top_open, top_repeat, towns, fixed),
        (weeks, months, days),
        (overdue, open_major, escalated),
    ) = await read(engine, everything)
    return Dashboard(
        period=period,
        flt=flt,
        now=now,
        summary=summary,
        breakdowns=breakdowns,
        weeks=weeks,
        months=months,
        days=days,
        overdue=overdue,
        open_major=open_major,
        top_open=top_open,
        top_repeat=top_repeat,
        escalated=escalated,
        towns=towns,
        fixed=fixed,
    )


# --- tables: what the Excel export and the report show ----------------------------------------------------

PERCENT = "0.0%"
POINTS = "+0.0%;-0.0%;0.0%"
# Each sheet opens with its title and what its figures are (period, town, time counted); the table follows.
HEADER_ROW = 3
DATE = "yyyy-mm-dd"
DATETIME = "yyyy-mm-dd hh:mm"


@dataclass
class Table:
    name: str  # sheet name, Chinese
    title: str
    headers: list[str]
    rows: list[list[Any]]
    formats: dict[int, str] = field(default_factory=dict)  # column index -> Excel number format
    cell_formats: dict[tuple[int, int], str] = field(default_factory=dict)  # (row, column) -> format


def _local(moment: datetime | None) -> datetime | None:
    return moment.astimezone(LOCAL_TZ).replace(tzinfo=None) if moment else None


def _metric_header(metric: str) -> str:
    return METRIC_NAMES[metric][0]


def summary_table(d: Dashboard) -> Table:
    rows = []
    for name in (*HEADLINE, "found_major", "repeat"):
        rows.append(
            [
                METRIC_NAMES[name][0],
                METRIC_NAMES[name][1],
                d.summary.current.value(name),
                d.summary.before.value(name),
                d.summary.change(name),
            ]
        )
    # A rate's row reads as percentages, its change as percentage points (+2.0%); a count's as a number.
    rate_rows = [i for i, name in enumerate((*HEADLINE, "found_major", "repeat")) if name in q.RATES]
    cells = {(i, col): PERCENT for i in rate_rows for col in (2, 3)}
    cells.update({(i, 4): POINTS for i in rate_rows})
    return Table(
        "汇总",
        f"汇总 Summary {d.period.label()}",
        ["指标", "Figure", "本期", "上期", "变化"],
        rows,
        {},
        cells,
    )


def breakdown_table(d: Dashboard, dimension: str) -> Table:
    zh, en = DIMENSION_NAMES[dimension]
    headers = [zh, *(_metric_header(m) for m in TABLE_METRICS)]
    rows = [
        [g.label, *(g.counts.get(m, g.rates.get(m)) for m in TABLE_METRICS)] for g in d.breakdowns[dimension]
    ]
    formats = {i + 1: PERCENT for i, m in enumerate(TABLE_METRICS) if m in q.RATES}
    return Table(f"按{zh}", f"按{zh}统计 By {en.lower()}", headers, rows, formats)


def trend_table(d: Dashboard, unit: str) -> Table:
    buckets = d.weeks if unit == "week" else d.months
    headers = ["起始日期", "截止日期", "发现", "销号", "本期发现且已销号", "按期销号", "整改率"]
    rows = [
        [b.period.start, b.period.end, b.found, b.closed, b.closed_of_found, b.on_time, b.closure_rate]
        for b in buckets
    ]
    name = "周趋势" if unit == "week" else "月趋势"
    return Table(name, f"{name} Trend by {unit}", headers, rows, {0: DATE, 1: DATE, 6: PERCENT})


FINDING_HEADERS = [
    "编号",
    "机构",
    "镇（街道）",
    "机构类型",
    "检查项",
    "隐患内容",
    "隐患类别",
    "隐患等级",
    "检查方式",
    "状态",
    "发现时间",
    "整改期限",
    "销号时间",
    "逾期天数",
    "督办级别",
    "责任人",
]
FINDING_FORMATS = {10: DATETIME, 11: DATE, 12: DATETIME}


def finding_table(rows: list[q.FindingRow], name: str, title: str, catalog: Catalog | None = None) -> Table:
    out = []
    for r in rows:
        out.append(
            [
                r.id,
                r.facility_name,
                r.town,
                value_label("facility_type", r.facility_type, catalog),
                r.item_code,
                r.item_zh,
                value_label("category", r.category, catalog),
                SEVERITY_NAMES.get(r.severity, (r.severity,))[0],
                MODE_NAMES.get(r.mode, (r.mode,))[0],
                STATUS_NAMES.get(r.status, (r.status,))[0],
                _local(r.reported_at),
                r.due_day,
                _local(r.closed_at),
                r.days_overdue,
                r.escalation_level,
                r.owner_name or "",
            ]
        )
    return Table(name, title, FINDING_HEADERS, out, FINDING_FORMATS)


def facility_table(rows: list[q.FacilityCount], name: str, title: str, what: str) -> Table:
    return Table(
        name,
        title,
        ["机构", "镇（街道）", what, "其中重大事故隐患"],
        [[r.name, r.town, r.count, r.major] for r in rows],
    )


def all_tables(d: Dashboard, catalog: Catalog | None = None) -> dict[str, Table]:
    tables = {"summary": summary_table(d)}
    for dimension in q.DIMENSIONS:
        tables[dimension] = breakdown_table(d, dimension)
    tables["trend_week"] = trend_table(d, "week")
    tables["trend_month"] = trend_table(d, "month")
    tables["overdue"] = finding_table(d.overdue, "逾期清单", "逾期隐患清单 Overdue hazards", catalog)
    tables["open_major"] = finding_table(
        d.open_major, "重大事故隐患", "未销号重大事故隐患 Open major hazards", catalog
    )
    tables["top_open"] = facility_table(d.top_open, "未销号最多机构", "未销号隐患最多的机构", "未销号隐患")
    tables["top_repeat"] = facility_table(d.top_repeat, "重复发现最多机构", "重复发现最多的机构", "重复发现")
    return tables


def caption(period: Period, town: str | None, as_of: datetime) -> str:
    """What a sheet's figures are: 统计期 2026年3月1日至3月31日 · 范围 汇龙镇 · 统计至 2026-04-01 00:00（北京时间）."""
    scope = town or load_settings().county_word
    # Counted to the period's end reads as the end of its last day, as on the dashboard.
    counted = f"{period.end - timedelta(days=1)} 24:00" if as_of >= period.end_utc else shown(as_of)
    return f"统计期：{period.words()}（首尾两日均计入） · 范围：{scope} · 统计至：{counted}（北京时间）"


def workbook(tables: list[Table], about: str = "") -> bytes:
    """A real .xlsx: each sheet's title and `about` (period, town, time counted) above its Chinese headers,
    numbers as numbers, rates as percentages, dates as dates, one sheet per table."""
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    book = Workbook()
    book.remove(book.active)
    for table in tables:
        sheet = book.create_sheet(table.name[:31])
        append_row(sheet, [table.title or table.name])
        sheet["A1"].font = Font(bold=True, size=13)
        append_row(sheet, [about])
        append_row(sheet, table.headers)
        for cell in sheet[HEADER_ROW]:
            cell.font = Font(bold=True)
            cell.fill = PatternFill("solid", fgColor="DDE6F2")
        for row in table.rows:
            append_row(sheet, row)
        for col, fmt in table.formats.items():
            for (cell,) in sheet.iter_rows(min_row=HEADER_ROW + 1, min_col=col + 1, max_col=col + 1):
                cell.number_format = fmt
        for (row, col), fmt in table.cell_formats.items():
            sheet.cell(row=HEADER_ROW + 1 + row, column=col + 1).number_format = fmt
        for i, header in enumerate(table.headers, start=1):
            width = max(
                [
                    len(str(header)) * 2,
                    *(len(str(r[i - 1])) if r[i - 1] is not None else 0 for r in table.rows[:200]),
                ]
            )
            sheet.column_dimensions[sheet.cell(row=1, column=i).column_letter].width = min(
                60, max(8, width + 2)
            )
        sheet.freeze_panes = f"A{HEADER_ROW + 1}"
        if table.rows:
            sheet.auto_filter.ref = f"A{HEADER_ROW}:{sheet.cell(row=HEADER_ROW, column=len(table.headers)).column_letter}{HEADER_ROW + len(table.rows)}"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# --- charts and the PDF -----------------------------------------------------------------------------------


def trend_chart(d: Dashboard, unit: str, links: bool = True, lang: str = "zh") -> str:
    words = {key: translate(lang, f"chart.{key}") for key in (unit, "found", "closed")}
    buckets = d.weeks if unit == "week" else d.months
    labels = [f"{b.period.start:%m-%d}" if unit == "week" else f"{b.period.start:%Y-%m}" for b in buckets]
    title = words[unit]
    link_rows = None
    if links:
        link_rows = [
            [d.url("found", period=b.period) for b in buckets],
            [d.url("closed", period=b.period) for b in buckets],
        ]
    return charts.bars(
        labels,
        [(words["found"], [b.found for b in buckets]), (words["closed"], [b.closed for b in buckets])],
        title=title,
        links=link_rows,
    )


def open_by_town_chart(d: Dashboard, links: bool = True, lang: str = "zh") -> str:
    groups = sorted(d.breakdowns["town"], key=lambda g: -g.counts["open"])[:12]
    rows = [
        (g.label, g.counts["open"], d.url("open", d.flt.with_group("town", g.key)) if links else None)
        for g in groups
    ]
    title = translate(lang, "chart.town")
    return charts.hbars(rows, title=title, colour="#d9822b")


async def _fixed_on_the_spot(
    conn: AsyncConnection, period: Period, flt: q.Filter, catalog: Catalog | None
) -> int:
    """当场整改 in the period and scope; such an item is a general hazard by definition, never a major one."""
    if flt.severity == Severity.MAJOR:
        return 0
    where: dict[str, Any] = {
        name: getattr(flt, name)
        for name in ("town", "facility_type", "facility_id", "mode")
        if getattr(flt, name) is not None
    }
    if flt.category is not None:
        if catalog is None or flt.category not in catalog.categories:
            return 0  # an unknown category holds no items (the other figures answer it with zeros too)
        where["item_codes"] = [i.code for i in catalog.items(category=flt.category)]
    return await record.fixed_count(conn, period.start_utc, period.end_utc, **where)


def report_context(
    d: Dashboard, catalog: Catalog | None, links: bool, county: str, lang: str = "zh"
) -> dict[str, Any]:
    return {
        "d": d,
        "metric_names": METRIC_NAMES,
        "dimension_names": DIMENSION_NAMES,
        "headline": HEADLINE,
        "table_metrics": TABLE_METRICS,
        "rates": q.RATES,
        "severity_names": SEVERITY_NAMES,
        "status_names": STATUS_NAMES,
        "mode_names": MODE_NAMES,
        "week_chart": trend_chart(d, "week", links, lang),
        "month_chart": trend_chart(d, "month", links, lang),
        "town_chart": open_by_town_chart(d, links, lang),
        "catalog": catalog,
        "label": value_label,
        "tz": LOCAL_TZ,
        "county": county,
    }


def pdf_html(d: Dashboard, catalog: Catalog | None, generated_at: datetime) -> str:
    """The monthly report as the HTML its PDF is printed from: summary figures, charts, breakdown tables,
    overdue and major hazards. The web prints it in the printer processes (`print_html`), off its event loop."""
    return (
        environment()
        .get_template("report_pdf.html")
        .render(
            **report_context(d, catalog, links=False, county=load_settings().county_word),
            generated_at=generated_at,
            last_day=d.period.end - timedelta(days=1),
        )
    )


def pdf(d: Dashboard, catalog: Catalog | None, generated_at: datetime) -> bytes:
    """The monthly report as PDF, printed in this process (the command line)."""
    return html_to_pdf(pdf_html(d, catalog, generated_at))


def to_json(d: Dashboard) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        if isinstance(value, datetime | date):
            return value.isoformat()
        return value

    return plain(d.as_dict())
