"""The figures sent upward each month or quarter (上报): checks made (检查家次), inspectors sent (出动人次), facilities
covered and the rate, hazards found (一般 / 重大), 当场整改, rectified and the rate, overdue, 约谈 / 通报 / 移送 / 停业整顿,
in total and split by ownership (公办 / 民办) and facility type; and the open major hazards.

The total line is the dashboard's own: the same functions for the same period and town (reports.gather, the
dashboard's 当场整改 and 督办措施, tracker.stats.coverage), so the report and the dashboard cannot disagree. The
splits add the same figures up per facility, by the facility's ownership and type as registered now."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tracker.checklists import Catalog
from tracker.config import load_settings
from tracker.documents import reports
from tracker.documents.printer import html_to_pdf
from tracker.domain.actions import WORDS
from tracker.service import record
from tracker.stats import oversight
from tracker.stats import query as q
from tracker.stats.coverage import Coverage, coverage, inspection_counts
from tracker.stats.periods import Period
from tracker.store.db import read
from tracker.text.labels import value_label
from tracker.text.templating import environment

# 公办: run by the bureau or a town; 民办: private, publicly built and privately run included (tracker.domain.model).
OWNERSHIP_GROUPS = {"bureau": "public", "town": "public", "private": "private"}
FINDING_COUNTS = ("found", "found_major", "closed", "closed_of_found", "overdue", "open_major")
ACTIONS = ("interview", "notice", "referral", "suspension")
# The actions as the bureau writes them (tracker.domain.actions, the pages' words too).
ACTION_NAMES = {kind: WORDS[kind] for kind in ACTIONS}


def parse_quarter(text: str) -> Period:
    """2027Q1 → 2027-01-01 .. 2027-04-01."""
    try:
        year, quarter = text.upper().split("Q")
        first = date(int(year), 3 * (int(quarter) - 1) + 1, 1)
    except ValueError:
        raise ValueError(f"{text!r} is not a quarter like 2027Q1") from None
    after = first.month + 2
    return Period(first, date(first.year + after // 12, after % 12 + 1, 1))


@dataclass
class Line:
    """One line of the report: the total, 公办 or 民办, or one facility type."""

    key: str
    label: str
    facilities: int = 0
    covered: int = 0
    checks: int = 0
    people: int = 0
    fixed: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FINDING_COUNTS, 0))
    actions: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ACTIONS, 0))
    facility_ids: list[int] = field(default_factory=list)

    @property
    def coverage_rate(self) -> float | None:
        return self.covered / self.facilities if self.facilities else None

    @property
    def found_general(self) -> int:
        return self.counts["found"] - self.counts["found_major"]

    @property
    def closure_rate(self) -> float | None:
        found = self.counts["found"]
        return self.counts["closed_of_found"] / found if found else None


@dataclass
class Upward:
    period: Period
    town: str | None
    as_of: datetime
    lines: list[Line]
    majors: list[q.FindingRow]
    dashboard: reports.Dashboard
    coverage: Coverage

    @property
    def total(self) -> Line:
        return self.lines[0]

    def words(self) -> str:
        """2027年第1季度 or 2027年1月, else the days."""
        start, p = self.period.start, self.period
        quarter = (start.month - 1) // 3 + 1
        if p.is_month():
            return f"{start.year}年{start.month}月"
        if p == parse_quarter(f"{start.year}Q{quarter}"):
            return f"{start.year}年第{quarter}季度"
        return p.words()


async def gather_upward(
    engine: AsyncEngine, period: Period, town: str | None, now: datetime, catalog: Catalog | None
) -> Upward:
    flt = q.Filter(town=town)
    d = await reports.gather(engine, period, flt, now, catalog, list_limit=None)

    async def facilities_side(conn: AsyncConnection) -> tuple[Coverage, Any, Any, dict[str, int]]:
        return (
            await coverage(conn, period, flt, now, catalog),
            await inspection_counts(conn, period, flt),
            await oversight.action_counts_by_facility(conn, period, flt),
            await oversight.action_counts(conn, period, flt),
        )

    cov, visits, acts, action_totals = await read(engine, facilities_side)
    per_facility = {group.key: group.counts for group in d.breakdowns["facility"]}
    total = Line("total", "合计")
    lines: dict[str, Line] = {
        "total": total,
        "public": Line("public", "公办"),
        "private": Line("private", "民办"),
    }
    for row in cov.rows:
        own_key = OWNERSHIP_GROUPS.get(row.ownership, "public")
        type_key = f"type:{row.type}"
        if type_key not in lines:
            lines[type_key] = Line(type_key, value_label("facility_type", row.type, catalog).split(" / ")[0])
        for line in (total, lines[own_key], lines[type_key]):
            line.facility_ids.append(row.id)
            line.facilities += 1
            line.covered += row.checked
            checks, people = visits.get(row.id, (0, 0))
            line.checks += checks
            line.people += people
            if line is total:
                continue  # the total's findings and actions are the dashboard's own, below
            for name in FINDING_COUNTS:
                line.counts[name] += per_facility.get(row.id, {}).get(name, 0)
            for kind in ACTIONS:
                line.actions[kind] += acts.get(row.id, {}).get(kind, 0)
    total.counts = {name: d.summary.current.counts[name] for name in FINDING_COUNTS}
    total.actions = {kind: action_totals[kind] for kind in ACTIONS}
    total.fixed = d.fixed
    splits = [line for key, line in lines.items() if key != "total"]

    async def fixed(conn: AsyncConnection) -> list[int]:
        where = {"town": town} if town else {}
        return [
            await record.fixed_count(
                conn, period.start_utc, period.end_utc, facility_ids=line.facility_ids, **where
            )
            if line.facility_ids
            else 0
            for line in splits
        ]

    for line, n in zip(splits, await read(engine, fixed), strict=True):
        line.fixed = n
    ordered = [
        total,
        *(lines[k] for k in ("public", "private")),
        *sorted(
            (line for key, line in lines.items() if key.startswith("type:")),
            key=lambda line: _type_order(line, catalog),
        ),
    ]
    return Upward(period, town, d.summary.as_of, ordered, d.open_major, d, cov)


def _type_order(line: Line, catalog: Catalog | None) -> int:
    codes = list(catalog.facility_types) if catalog is not None else []
    code = line.key.removeprefix("type:")
    return codes.index(code) if code in codes else len(codes)


# --- Excel and PDF ----------------------------------------------------------------------------------------

HEADERS = [
    "分组",
    "机构数",
    "已检查机构数",
    "检查覆盖率",
    "检查家次",
    "出动人次",
    "发现隐患",
    "其中一般事故隐患",
    "其中重大事故隐患",
    "当场整改",
    "销号",
    "本期发现且已销号",
    "整改率",
    "逾期未整改",
    "重大事故隐患未销号",
    *(ACTION_NAMES[kind] for kind in ACTIONS),
]


def line_values(line: Line) -> list[Any]:
    c = line.counts
    return [
        line.label,
        line.facilities,
        line.covered,
        line.coverage_rate,
        line.checks,
        line.people,
        c["found"],
        line.found_general,
        c["found_major"],
        line.fixed,
        c["closed"],
        c["closed_of_found"],
        line.closure_rate,
        c["overdue"],
        c["open_major"],
        *(line.actions[kind] for kind in ACTIONS),
    ]


def tables(u: Upward, catalog: Catalog | None) -> list[reports.Table]:
    figures = reports.Table(
        "上报汇总",
        f"安全检查与隐患整改情况统计表 {u.words()}",
        HEADERS,
        [line_values(line) for line in u.lines],
        {3: reports.PERCENT, 12: reports.PERCENT},
    )
    majors = reports.finding_table(u.majors, "重大事故隐患", "未销号重大事故隐患清单", catalog)
    return [figures, majors]


def workbook(u: Upward, catalog: Catalog | None) -> bytes:
    return reports.workbook(tables(u, catalog), reports.caption(u.period, u.town, u.as_of))


def pdf_html(u: Upward, catalog: Catalog | None, generated_at: datetime) -> str:
    """The HTML the upward report's PDF is printed from. A4, Chinese only: the figures in three tables (checks,
    hazards, actions), then the open major hazards."""
    return (
        environment()
        .get_template("upward_pdf.html")
        .render(
            u=u,
            catalog=catalog,
            label=value_label,
            action_names=ACTION_NAMES,
            actions=ACTIONS,
            county=load_settings().county_word,
            generated_at=generated_at,
            last_day=u.period.end - timedelta(days=1),
        )
    )


def pdf(u: Upward, catalog: Catalog | None, generated_at: datetime) -> bytes:
    """The upward report as PDF, printed in this process (the command line)."""
    return html_to_pdf(pdf_html(u, catalog, generated_at))
