"""The figures sent upward on the dashboard: `/dashboard/upward?quarter=2027Q1` (or `?month=2027-01`), the table of
`tracker report --upward` from the same function (tracker.documents.upward.gather_upward), each figure the link to
the dashboard's list of the records behind it, and the workbook and the PDF of the same period to download.

Scoped like the other dashboard pages (tracker.stats.scope): a town officer sees their own town; facility heads and
inspectors are refused."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup, escape

from tracker.documents import upward
from tracker.documents.printer import print_html
from tracker.domain.model import Actor, Role, visible_to
from tracker.domain.time import LOCAL_TZ
from tracker.stats import query as q
from tracker.stats.periods import Period
from tracker.store.db import read
from tracker.text.templating import percent
from tracker.web.auth import context, session_actor
from tracker.web.bounds import END_DAY, FIRST_DAY, MONTH_PATTERN
from tracker.web.desk import XLSX, coverage_url, render_desk, scoped_filter

router = APIRouter()
Who = Annotated[Actor, Depends(session_actor)]
QUARTER_PATTERN = r"^\d{4}[Qq][1-4]$"
# The findings list behind each findings column (tracker.stats.query metrics); a rate links to its numerator.
FINDING_LINKS = {
    "found": ("found", None),
    "found_general": ("found", "general"),
    "found_major": ("found_major", None),
    "closed": ("closed", None),
    "closed_of_found": ("closed_of_found", None),
    "closure_rate": ("closed_of_found", None),
    "overdue": ("overdue", None),
    "open_major": ("open_major", None),
}
# The coverage list behind each coverage column (tracker.stats.coverage.LISTS).
COVERAGE_LINKS = {"facilities": "facilities", "covered": "checked", "coverage_rate": "checked"}


def _period(month: str | None, quarter: str | None, today: date) -> tuple[Period, str]:
    """The month or quarter asked for (the current quarter when neither is), and its name for files and links."""
    if month and quarter:
        raise HTTPException(
            status_code=422, detail="quarter: give one of month=2027-01 or quarter=2027Q1, not both"
        )
    try:
        if month:
            period, name = Period.parse_month(month), month
        else:
            name = (quarter or f"{today.year}Q{(today.month - 1) // 3 + 1}").upper()
            period = upward.parse_quarter(name)
    except ValueError as error:
        raise HTTPException(status_code=422, detail=f"{'month' if month else 'quarter'}: {error}") from None
    if period.start < FIRST_DAY or period.end > END_DAY:
        field = "month" if month else "quarter"
        raise HTTPException(
            status_code=422, detail=f"{field}: {name} is outside the years the tracker counts"
        )
    return period, name


async def _asked(
    request: Request,
    actor: Who,
    month: Annotated[str | None, Query(pattern=MONTH_PATTERN)] = None,
    quarter: Annotated[str | None, Query(pattern=QUARTER_PATTERN)] = None,
    town: str | None = None,
) -> tuple[upward.Upward, str]:
    """The figures asked for by the page and both downloads (the same query), and the period's name."""
    ctx = context(request)
    now = ctx.clock.now()
    period, name = _period(month, quarter, now.astimezone(LOCAL_TZ).date())
    flt = scoped_filter(actor, town)  # 403 for heads and inspectors, a town officer's own town
    return await upward.gather_upward(ctx.engine, period, flt.town, now, ctx.catalog), name


Asked = Annotated[tuple[upward.Upward, str], Depends(_asked)]


def cell_links(u: upward.Upward, line: upward.Line) -> dict[str, str]:
    """Where each figure of `line` is listed: the findings list or the coverage list of the same period, town and
    (for a facility-type line) type. 公办 / 民办 have no list of their own yet (the lists filter by town and type,
    not ownership), nor have 检查家次, 出动人次, 当场整改 and the actions."""
    if line.key not in ("total",) and not line.key.startswith("type:"):
        return {}
    facility_type = line.key.removeprefix("type:") if line.key.startswith("type:") else None
    flt = q.Filter(town=u.town, facility_type=facility_type)
    links = {column: coverage_url(u.period, flt, name) for column, name in COVERAGE_LINKS.items()}
    for column, (metric, severity) in FINDING_LINKS.items():
        links[column] = q.findings_url(metric, u.period, q.Filter(u.town, facility_type, severity=severity))
    return links


def line_cells(line: upward.Line) -> list[tuple[str, Any]]:
    """The figures of a line in the report's column order (upward.HEADERS after 分组), each with its key."""
    c = line.counts
    return [
        ("facilities", line.facilities),
        ("covered", line.covered),
        ("coverage_rate", line.coverage_rate),
        ("checks", line.checks),
        ("people", line.people),
        ("found", c["found"]),
        ("found_general", line.found_general),
        ("found_major", c["found_major"]),
        ("fixed", line.fixed),
        ("closed", c["closed"]),
        ("closed_of_found", c["closed_of_found"]),
        ("closure_rate", line.closure_rate),
        ("overdue", c["overdue"]),
        ("open_major", c["open_major"]),
        *((kind, line.actions[kind]) for kind in upward.ACTIONS),
    ]


def _shown(value: Any) -> str:
    return percent(value) if isinstance(value, float) or value is None else str(value)


def figure(u: upward.Upward, line: upward.Line) -> list[Markup]:
    links = cell_links(u, line)
    cells = []
    for key, value in line_cells(line):
        attrs = f'data-line="{escape(line.key)}" data-figure="{key}"'
        shown = escape(_shown(value))
        if key in links and value is not None:
            cells.append(Markup(f'<td {attrs}><a href="{escape(links[key])}">{shown}</a></td>'))
        else:
            cells.append(Markup(f"<td {attrs}>{shown}</td>"))
    return cells


def _download(name: str, town: str | None, fmt: str) -> str:
    key = "quarter" if "Q" in name else "month"
    return f"/dashboard/upward.{fmt}?{urlencode({key: name, **({'town': town} if town else {})})}"


@router.get("/dashboard/upward", response_class=HTMLResponse, tags=["dashboard"])
async def upward_page(request: Request, actor: Who, asked: Asked) -> Response:
    """The figures sent upward for a month or a quarter, as `tracker report --upward` writes them."""
    u, name = asked
    ctx = context(request)
    scope = visible_to(actor)
    towns = await read(ctx.engine, q.facility_towns) if scope.everything else [scope.town or ""]
    return render_desk(
        request,
        "dashboard_upward.html",
        {
            "u": u,
            "name": name,
            "kind": "quarter" if "Q" in name else "month",
            "towns": towns,
            "town_officer": actor.role is Role.TOWN_OFFICER,
            "county": ctx.settings.county_word,
            "keys": [key for key, _ in line_cells(u.total)],
            "cells": lambda line: figure(u, line),
            "xlsx": _download(name, u.town, "xlsx"),
            "pdf": _download(name, u.town, "pdf"),
            "majors": u.majors,
            "back": f"/dashboard?{urlencode({'from': u.period.start.isoformat(), 'to': u.period.end.isoformat(), **({'town': u.town} if u.town else {})})}",
            "last_day": u.period.end - timedelta(days=1),
        },
    )


def _attachment(body: bytes, media_type: str, filename: str) -> Response:
    return Response(
        body, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


@router.get("/dashboard/upward.xlsx", tags=["dashboard"])
async def upward_xlsx(request: Request, asked: Asked) -> Response:
    """The workbook of `tracker report --upward --format xlsx` for the same period and town."""
    u, name = asked
    body = upward.workbook(u, context(request).catalog)
    return _attachment(body, XLSX, f"upward-{name}{'-town' if u.town else ''}.xlsx")


@router.get("/dashboard/upward.pdf", tags=["dashboard"])
async def upward_pdf(request: Request, asked: Asked) -> Response:
    """The PDF of `tracker report --upward --format pdf` for the same period and town (A4, Chinese only)."""
    u, name = asked
    ctx = context(request)
    body = await print_html(upward.pdf_html(u, ctx.catalog, ctx.clock.now()))
    return _attachment(body, "application/pdf", f"upward-{name}{'-town' if u.town else ''}.pdf")


__all__ = ["router"]
