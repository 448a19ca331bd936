"""What the desk's pages share — the dashboard and its lists (tracker.web.dashboard), the figures sent upward
(tracker.web.upward_page): the reader's scope as a query filter, the words of the reader's one language, rendering
a page with them, and the link to a coverage list."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response

from tracker.domain.model import Actor
from tracker.stats import query as q
from tracker.stats.periods import Period
from tracker.stats.scope import scoped
from tracker.text.catalogue import lang_of, pick, translate
from tracker.web.pages.common import render

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def scoped_filter(
    actor: Actor,
    town: str | None = None,
    facility_type: str | None = None,
    facility_id: int | None = None,
    category: str | None = None,
    severity: str | None = None,
    mode: str | None = None,
) -> q.Filter:
    """The drill-down asked for, narrowed to what `actor` may see (tracker.stats.scope); an empty value is no
    filter."""
    return scoped(
        actor,
        q.Filter(
            town or None, facility_type or None, facility_id, category or None, severity or None, mode or None
        ),
    )


def desk_words(request: Request | None) -> dict[str, Any]:
    """What the desk's pages write in the reader's one language: a period's name, one half of a "中文 / English"
    label, and the words `t` and `pick` bound to the language once (as the environment's context functions they
    looked it up again at each of a page's some 300 calls)."""
    lang = lang_of(request)

    def period_name(p: Period) -> str:
        if lang != "en":
            return f"{p.start.year}年{p.start.month}月" if p.is_month() else p.words()
        last = p.end - timedelta(days=1)
        return f"{p.start:%Y-%m}" if p.is_month() else f"{p.start.isoformat()} – {last.isoformat()}"

    def half(label: str) -> str:
        zh, sep, en = str(label).partition(" / ")
        return en if sep and lang == "en" and en else zh

    return {
        "period_name": period_name,
        "half": half,
        "t": partial(translate, lang),
        "pick": partial(pick, lang),
    }


def render_desk(request: Request, name: str, values: dict[str, Any], status_code: int = 200) -> Response:
    """The desk's page `name` with `values` and the desk's words."""
    return render(request, name, {**desk_words(request), **values}, status_code=status_code)


def coverage_url(period: Period, flt: q.Filter, name: str) -> str:
    """The coverage list `name` (tracker.stats.coverage.LISTS) of the period, in the town and facility type of
    `flt`."""
    scope = {k: v for k, v in flt.params().items() if k in ("town", "facility_type")}
    query = {"from": period.start.isoformat(), "to": period.end.isoformat(), **scope, "list": name}
    return f"/dashboard/coverage?{urlencode(query)}"
