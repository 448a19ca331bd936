"""The bureau's dashboard, the lists behind its numbers, its Excel exports, the monthly report and
`GET /api/stats/closure`. All figures come from tracker.stats via tracker.documents.reports.gather.

Who sees what is decided in tracker.stats.scope: town officers their own town; section chiefs, bureau leads
and admins every town; facility heads and inspectors get 403."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from datetime import timedelta
from functools import cache
from typing import Annotated, Any
from urllib.parse import quote_plus, urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup, escape
from sqlalchemy.ext.asyncio import AsyncConnection

from tracker.checklists import Catalog
from tracker.documents import ledger, reports
from tracker.documents.printer import print_html
from tracker.domain.model import Actor, Role, visible_to
from tracker.domain.time import LOCAL_TZ, shown
from tracker.stats import coverage as cover
from tracker.stats import oversight
from tracker.stats import query as q
from tracker.stats.board import major_board
from tracker.stats.periods import Period, parse_period
from tracker.store.db import read
from tracker.text.catalogue import lang_of, pick
from tracker.text.labels import DIMENSION_NAMES, METRIC_NAMES, SEVERITY_NAMES, STATUS_NAMES, value_label
from tracker.text.templating import percent
from tracker.web.auth import COOKIE, context, csrf_token, session_actor
from tracker.web.bounds import (
    DAY_PATTERN,
    END_DAY,
    FIRST_DAY,
    MAX_PAGE,
    MONTH_PATTERN,
    FacilityFilter,
    reporting_day,
)
from tracker.web.desk import XLSX, coverage_url, desk_words, render_desk, scoped_filter
from tracker.web.pages.common import templates

router = APIRouter()
Who = Annotated[Actor, Depends(session_actor)]
LIST_METRICS = (*q.COUNTS, oversight.REVIEW_OVERDUE)
PAGE_SIZE = 200
# The dashboard shows the first rows of its two lists; the whole list is one link away, PAGE_SIZE at a time.
DASHBOARD_ROWS = 50
# Rows of a breakdown table the dashboard shows before "all N ›": a county's four hundred facilities, each with
# seven linked figures, were most of the page's time and weight (0.6 MB, 200 ms to render at a million findings).
BREAKDOWN_ROWS = 20


def _period(start: str | None, end: str | None, request: Request) -> Period:
    reporting_day("from", start)
    reporting_day("to", end)
    try:
        return parse_period(start, end, context(request).clock.now())
    except ValueError as error:
        raise HTTPException(status_code=422, detail=f"from/to: {error}") from None


class Filters:
    """The drill-down query parameters every page and export accepts."""

    def __init__(
        self,
        town: str | None = None,
        facility_type: str | None = None,
        facility_id: FacilityFilter = None,
        category: str | None = None,
        severity: str | None = None,
        mode: str | None = None,
    ) -> None:
        self.values = {
            "town": town,
            "facility_type": facility_type,
            "facility_id": facility_id,
            "category": category,
            "severity": severity,
            "mode": mode,
        }

    def for_(self, actor: Actor) -> q.Filter:
        return scoped_filter(actor, **self.values)


async def _dashboard(
    request: Request, actor: Actor, period: Period, flt: q.Filter, whole_lists: bool = False
) -> reports.Dashboard:
    ctx = context(request)
    list_limit = None if whole_lists else DASHBOARD_ROWS
    now = ctx.clock.now()

    d = await reports.gather(ctx.engine, period, flt, now, ctx.catalog, list_limit)
    scope = visible_to(actor)
    if not scope.everything:
        d.towns = [scope.town or ""]
    if not whole_lists:  # the page, not an export: the major-hazard board as it stands now
        prefix = ctx.settings.supervision_prefix
        d.board = await read(ctx.engine, lambda conn: major_board(conn, flt, now, prefix, DASHBOARD_ROWS))
    return d


@router.get("/dashboard", response_class=HTMLResponse, tags=["dashboard"])
async def dashboard_page(
    request: Request,
    actor: Who,
    filters: Annotated[Filters, Depends()],
    start: Annotated[str | None, Query(alias="from", pattern=DAY_PATTERN)] = None,
    end: Annotated[str | None, Query(alias="to", pattern=DAY_PATTERN)] = None,
    whole: Annotated[str | None, Query(alias="all", description="a breakdown to show whole")] = None,
    last: Annotated[
        str | None,
        Query(pattern=DAY_PATTERN, description="the period's last day, included (the page's form)"),
    ] = None,
) -> Response:
    # People name a period by its last day (2026年11月2日至11月8日); links and the API keep `to`, the day after.
    if last and not end:
        last_day = reporting_day("last", last)
        assert last_day is not None
        end = (last_day + timedelta(days=1)).isoformat()
    period = _period(start, end, request)
    flt = filters.for_(actor)
    d = await _dashboard(request, actor, period, flt)
    now = context(request).clock.now()

    async def bureau_side(conn: AsyncConnection) -> dict[str, Any]:
        return {
            "actions": await oversight.action_counts(conn, period, flt),
            "review_overdue": await oversight.review_overdue_count(conn, period, flt, now),
            "coverage": await cover.coverage(conn, period, flt, now, context(request).catalog),
        }

    side = await read(context(request).engine, bureau_side)
    ctx = context(request)
    return HTMLResponse(dashboard_html(d, ctx.catalog, actor, ctx.settings.county_word, whole, side, request))


def dashboard_html(
    d: reports.Dashboard,
    catalog: Catalog | None,
    actor: Actor,
    county: str,
    whole: str | None = None,
    side: dict[str, Any] | None = None,
    request: Request | None = None,
) -> str:
    """The dashboard page of `d` as `actor` sees it, the whole area named `county` (the settings' word), with the
    breakdown `whole` shown whole, in the language of `request` (Chinese without one) with its navigation."""
    period = d.period
    after = (
        Period(period.end, period.end + timedelta(days=period.days))
        if not period.is_month()
        else Period.month(period.end.year, period.end.month)
    )
    query = {"from": period.start.isoformat(), "to": period.end.isoformat(), **d.flt.params()}
    lang = lang_of(request)
    session = request.cookies.get(COOKIE) if request is not None else None
    return templates.env.get_template("dashboard.html").render(
        **reports.report_context(d, catalog, links=True, county=county, lang=lang),
        **desk_words(request),
        request=request,
        csrf=csrf_token(context(request).secret, session) if request is not None and session else "",
        as_of_local=d.summary.as_of.astimezone(LOCAL_TZ),
        actor=actor,
        query=query,
        export=lambda table: f"/dashboard/export.xlsx?{urlencode({**query, 'table': table})}",
        shift=lambda p: (
            f"/dashboard?{urlencode({**query, 'from': p.start.isoformat(), 'to': p.end.isoformat()})}"
        ),
        previous=period.previous(),
        after=after,
        last_day=period.end - timedelta(days=1),
        town_officer=actor.role is Role.TOWN_OFFICER,
        breakdown_rows=BREAKDOWN_ROWS,
        whole=whole,
        whole_url=lambda dim: f"/dashboard?{urlencode({**query, 'all': dim})}#by-{dim}",
        figure=_figure(d),
        cells=_cells(d),
        rows=_rows(lang),
        # The bureau's own side (tracker.stats.oversight): actions taken per kind, and 复查超期.
        side=side,
        review_url=q.findings_url(oversight.REVIEW_OVERDUE, period, d.flt),
        coverage_url=lambda name: coverage_url(period, d.flt, name),
    )


@router.get("/dashboard/coverage", response_class=HTMLResponse, tags=["dashboard"])
async def coverage_page(
    request: Request,
    actor: Who,
    start: Annotated[str | None, Query(alias="from", pattern=DAY_PATTERN)] = None,
    end: Annotated[str | None, Query(alias="to", pattern=DAY_PATTERN)] = None,
    town: str | None = None,
    facility_type: str | None = None,
    listed: Annotated[str, Query(alias="list", description="which facilities to list")] = "not_checked",
    last: Annotated[
        str | None,
        Query(pattern=DAY_PATTERN, description="the period's last day, included (the page's form)"),
    ] = None,
) -> Response:
    """Coverage (tracker.stats.coverage): facilities in scope, checked, not checked, due, overdue for a check and
    never checked in the period, each figure the link to its list of facilities."""
    if listed not in cover.LISTS:
        raise HTTPException(status_code=422, detail=f"list: one of {', '.join(cover.LISTS)}")
    if last and not end:  # as the dashboard's form: the last day included
        last_day = reporting_day("last", last)
        assert last_day is not None
        end = (last_day + timedelta(days=1)).isoformat()
    period = _period(start, end, request)
    flt = scoped_filter(actor, town, facility_type)
    ctx = context(request)
    now = ctx.clock.now()
    result = await read(ctx.engine, lambda conn: cover.coverage(conn, period, flt, now, ctx.catalog))
    scope = visible_to(actor)
    towns = await read(ctx.engine, q.facility_towns) if scope.everything else [scope.town or ""]
    return render_desk(
        request,
        "dashboard_coverage.html",
        {
            "c": result,
            "flt": flt,
            "towns": towns,
            "town_officer": actor.role is Role.TOWN_OFFICER,
            "listed": listed,
            "county": ctx.settings.county_word,
            "rows": result.listed(listed),
            "lists": cover.LISTS,
            "url": lambda name: coverage_url(period, flt, name),
            "last_day": period.end - timedelta(days=1),
            "type_name": lambda code: value_label("facility_type", code, ctx.catalog),
            "back": f"/dashboard?{urlencode({'from': period.start.isoformat(), 'to': period.end.isoformat(), **({'town': flt.town} if flt.town else {})})}",
        },
    )


@router.get("/api/stats/coverage", tags=["stats"])
async def coverage_api(
    request: Request,
    actor: Who,
    start: Annotated[str | None, Query(alias="from", pattern=DAY_PATTERN)] = None,
    end: Annotated[str | None, Query(alias="to", pattern=DAY_PATTERN)] = None,
    town: str | None = None,
    facility_type: str | None = None,
) -> dict[str, Any]:
    """Coverage of the period (`to` excluded): `{"facilities", "checked", "rate", "not_checked": [{"id", "code",
    "name", "town"}…]}` over the facilities the caller may see (a town officer's town); definitions in
    tracker.stats.coverage."""
    period = _period(start, end, request)
    flt = scoped_filter(actor, town, facility_type)
    ctx = context(request)
    now = ctx.clock.now()
    result = await read(ctx.engine, lambda conn: cover.coverage(conn, period, flt, now, ctx.catalog))
    return result.as_api()


def _figure(d: reports.Dashboard) -> Callable[..., Markup]:
    """A figure as the link to the findings behind it; a rate links to those of its numerator. In Python, not a
    template macro: a page shows some 500 of them, and as a macro they took a third of its rendering."""

    def figure(name: str, value: Any, flt: q.Filter | None = None) -> Markup:
        if name in q.RATES:
            listed = q.RATES[name][0]
            url, title, shown = d.url(listed, flt), METRIC_NAMES[listed][0], percent(value)
            return Markup(f'<a href="{escape(url)}" title="{escape(title)}">{escape(shown)}</a>')
        return Markup(f'<a href="{escape(d.url(name, flt))}">{escape(value)}</a>')

    return figure


def _cells(d: reports.Dashboard) -> Callable[[str, q.Group], Markup]:
    """A breakdown row's figures as `figure` writes them, a cell each: one format string filled per row, not a
    template loop calling `figure` per cell (the page's most repeated work). Each links to q.findings_url of its
    metric, the period and the row's filter: the page's query with the row's value in its field, of which all but
    that value is encoded once per dimension."""
    titles = {m: escape(METRIC_NAMES[listed][0]) for m, (listed, _) in q.RATES.items()}
    link = '<td><a href="/dashboard/findings?metric={}&amp;{{row}}"{}>{{{}}}</a></td>'
    template = "".join(
        link.format(q.RATES[m][0], f' title="{titles[m]}"', m) if m in q.RATES else link.format(m, "", m)
        for m in reports.TABLE_METRICS
    )
    span = {"from": d.period.start.isoformat(), "to": d.period.end.isoformat()}
    order = [each.name for each in fields(q.Filter)]

    @cache
    def around(dimension: str) -> tuple[str, str, str]:
        """The row's query before its value (the period, the filter's fields before the value's) and after it."""
        column, rest = q.DIMENSION_COLUMN[dimension], d.flt.with_group(dimension, None).params()
        before = {k: v for k, v in rest.items() if order.index(k) < order.index(column)}
        after = urlencode({k: v for k, v in rest.items() if k not in before})
        return urlencode({**span, **before}), column, f"&{after}" if after else ""

    def cells(dimension: str, g: q.Group) -> Markup:
        head, column, tail = around(dimension)
        own = f"&{column}={quote_plus(str(g.key))}" if g.key not in (None, "") else ""
        shown = {
            m: escape(percent(g.rates[m])) if m in q.RATES else g.counts[m] for m in reports.TABLE_METRICS
        }
        return Markup(template.format(row=escape(head + own + tail), **shown))

    return cells


def _rows(lang: str) -> Callable[[str, list[q.FindingRow]], Markup]:
    """The rows of the list of overdue findings or of open major ones (`which`), joined here as `cells` joins a row's
    figures: in the template, their some 800 escaped values and 300 calls were a third of the page's rendering."""

    def rows(which: str, listed: list[q.FindingRow]) -> Markup:
        out = []
        for r in listed:
            item, owner = escape(pick(lang, r.item_zh, r.item_en)), escape(r.owner_name or "")
            head = f'<tr><td><a href="/findings/{r.id}">{r.id}</a></td>'
            head += (
                f'<td class="text">{escape(r.facility_name)} <span class="sub">{escape(r.town)}</span></td>\n'
            )
            if which == "overdue":
                major = "major" if r.severity == "major" else ""
                severity = escape(pick(lang, *SEVERITY_NAMES[r.severity]))
                middle = f'<td class="wrap">{item}</td>\n<td class="text {major}">{severity}</td>\n'
                middle += f"<td>{r.due_day}</td><td>{r.days_overdue}</td><td>{r.escalation_level}</td>"
            else:
                status = escape(pick(lang, *STATUS_NAMES[r.status]))
                middle = f'<td class="wrap">{item}</td><td class="text">{status}</td>\n'
                middle += f"<td>{escape(shown(r.reported_at))}</td><td>{r.due_day or '—'}</td>"
            out.append(f'\n{head}{middle}<td class="text">{owner}</td></tr>\n')
        return Markup("".join(out))

    return rows


@router.get("/dashboard/findings", response_class=HTMLResponse, tags=["dashboard"])
async def findings_page(
    request: Request,
    actor: Who,
    filters: Annotated[Filters, Depends()],
    metric: str = "found",
    start: Annotated[str | None, Query(alias="from", pattern=DAY_PATTERN)] = None,
    end: Annotated[str | None, Query(alias="to", pattern=DAY_PATTERN)] = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
) -> Response:
    """The findings behind one number, a page of PAGE_SIZE at a time: their count is the number on the
    dashboard."""
    if metric not in LIST_METRICS:
        raise HTTPException(status_code=422, detail=f"metric: one of {', '.join(LIST_METRICS)}")
    period = _period(start, end, request)
    flt = filters.for_(actor)
    ctx = context(request)
    now = ctx.clock.now()

    async def listed(conn: AsyncConnection) -> tuple[int, list[q.FindingRow]]:
        if metric == oversight.REVIEW_OVERDUE:
            count = await oversight.review_overdue_count(conn, period, flt, now)
            offset = (page - 1) * PAGE_SIZE
            return count, await oversight.review_overdue_list(conn, period, flt, now, PAGE_SIZE, offset)
        count = await q.finding_count(conn, metric, period, flt, now)
        (rows,) = await q.finding_lists(conn, (metric,), period, flt, now, PAGE_SIZE, (page - 1) * PAGE_SIZE)
        return count, rows

    count, rows = await read(ctx.engine, listed)
    query = {"metric": metric, "from": period.start.isoformat(), "to": period.end.isoformat(), **flt.params()}
    pages = max(1, -(-count // PAGE_SIZE))

    def page_url(n: int) -> str | None:
        return (
            f"/dashboard/findings?{urlencode({**query, 'page': n})}"
            if 1 <= n <= pages and n != page
            else None
        )

    return render_desk(
        request,
        "dashboard_findings.html",
        {
            "rows": rows,
            "count": count,
            "first": (page - 1) * PAGE_SIZE + 1,
            "page": page,
            "pages": pages,
            "previous_page": page_url(page - 1),
            "next_page": page_url(page + 1),
            "metric": metric,
            "metric_name": METRIC_NAMES[metric],
            "period": period,
            "flt": flt,
            "dimension_names": DIMENSION_NAMES,
            "as_of": period.as_of(ctx.clock.now()),
            "export": f"/dashboard/export.xlsx?{urlencode({**query, 'table': 'findings'})}",
            "back": f"/dashboard?{urlencode({'from': query['from'], 'to': query['to'], **({'town': flt.town} if flt.town else {})})}",
            "table": reports.finding_table(rows, "清单", "", ctx.catalog),
        },
    )


@router.get("/dashboard/export.xlsx", tags=["dashboard"])
async def export(
    request: Request,
    actor: Who,
    filters: Annotated[Filters, Depends()],
    table: str = "all",
    metric: str = "found",
    start: Annotated[str | None, Query(alias="from", pattern=DAY_PATTERN)] = None,
    end: Annotated[str | None, Query(alias="to", pattern=DAY_PATTERN)] = None,
) -> Response:
    """Any table of the dashboard as .xlsx (`table=summary|town|…|overdue|all`), or the list behind a number
    (`table=findings&metric=…`)."""
    period = _period(start, end, request)
    flt = filters.for_(actor)
    ctx = context(request)
    if table == "findings":
        if metric not in LIST_METRICS:
            raise HTTPException(status_code=422, detail=f"metric: one of {', '.join(LIST_METRICS)}")
        now = ctx.clock.now()
        if metric == oversight.REVIEW_OVERDUE:
            rows = await read(ctx.engine, lambda conn: oversight.review_overdue_list(conn, period, flt, now))
        else:
            (rows,) = await read(ctx.engine, lambda conn: q.finding_lists(conn, (metric,), period, flt, now))
        sheets = [reports.finding_table(rows, METRIC_NAMES[metric][0], METRIC_NAMES[metric][0], ctx.catalog)]
        name = f"findings-{metric}-{period.start}-{period.end}.xlsx"
    else:
        d = await _dashboard(request, actor, period, flt, whole_lists=True)
        tables = reports.all_tables(d, ctx.catalog)
        if table != "all" and table not in tables:
            raise HTTPException(status_code=422, detail=f"table: one of all, findings, {', '.join(tables)}")
        sheets = list(tables.values()) if table == "all" else [tables[table]]
        name = f"dashboard-{table}-{period.start}-{period.end}.xlsx"
    about = reports.caption(period, flt.town, period.as_of(ctx.clock.now()))
    return Response(
        reports.workbook(sheets, about),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/dashboard/ledger.xlsx", tags=["dashboard"])
async def ledger_export(
    request: Request,
    actor: Who,
    town: str | None = None,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
) -> Response:
    """The hazard ledger (隐患台账) of the inspections made in the period (`to` excluded, as on the dashboard), in the
    towns the caller may see."""
    period = _period(start, end, request)
    ctx = context(request)
    book = await ledger.ledger(
        ctx.engine, period, scoped_filter(actor, town).town, ctx.catalog, ctx.settings.county_word
    )
    last = period.end - timedelta(days=1)
    return Response(
        ledger.workbook(book),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="ledger-{period.start}-{last}.xlsx"'},
    )


@router.get("/dashboard/report.pdf", tags=["dashboard"])
async def report_pdf(
    request: Request,
    actor: Who,
    month: Annotated[str, Query(pattern=MONTH_PATTERN)],
    town: str | None = None,
) -> Response:
    """The monthly report, as `tracker report --month … --format pdf` makes it."""
    try:
        period = Period.parse_month(month)
    except ValueError as error:
        raise HTTPException(status_code=422, detail=f"month: {error}") from None
    if period.start < FIRST_DAY or period.end > END_DAY:
        raise HTTPException(
            status_code=422,
            detail=f"month: from {FIRST_DAY:%Y-%m} to {END_DAY - timedelta(days=1):%Y-%m} only, not {month}",
        )
    d = await _dashboard(request, actor, period, scoped_filter(actor, town), whole_lists=True)
    body = await print_html(reports.pdf_html(d, context(request).catalog, context(request).clock.now()))
    return Response(
        body,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="report-{month}.pdf"'},
    )


@router.get("/api/stats/closure", tags=["stats"])
async def closure(
    request: Request,
    actor: Who,
    filters: Annotated[Filters, Depends()],
    start: Annotated[str | None, Query(alias="from", pattern=DAY_PATTERN)] = None,
    end: Annotated[str | None, Query(alias="to", pattern=DAY_PATTERN)] = None,
    group_by: str | None = None,
) -> dict[str, Any]:
    """The dashboard's figures as JSON: the period's totals with their change against the previous period and,
    with `group_by`, one row per town, facility type, facility, category, severity or inspection mode. Every
    figure carries the URL of the findings behind it."""
    if group_by is not None and group_by not in q.DIMENSIONS:
        raise HTTPException(status_code=422, detail=f"group_by: one of {', '.join(q.DIMENSIONS)}")
    period = _period(start, end, request)
    flt = filters.for_(actor)
    ctx = context(request)
    now = ctx.clock.now()

    async def figures(conn: AsyncConnection) -> tuple[q.Summary, list[q.Group] | None]:
        s = await q.summary(conn, period, flt, now)
        return s, await q.breakdown(conn, group_by, period, flt, now) if group_by else None

    s, groups = await read(ctx.engine, figures)
    body: dict[str, Any] = {
        **s.as_dict(),
        "scope": flt.params(),
        "definitions": q.__doc__,
        "links": {m: q.findings_url(m, period, flt) for m in q.COUNTS},
    }
    if groups is not None:
        body["group_by"] = group_by
        body["groups"] = [
            {
                **g.as_dict(),
                "links": {
                    m: q.findings_url(m, period, flt.with_group(group_by, g.key))
                    for m in ("found", "closed", "open", "overdue")
                },
            }
            for g in groups
        ]
    return body


__all__ = ["router"]
