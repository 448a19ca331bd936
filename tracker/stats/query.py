"""The one query layer behind the dashboard, the exports, the monthly report, the digest and the API.

Every figure is the number of findings matching one *metric predicate* (below) within a period, a scope and
optional filters. The same predicate gives the list of findings behind the figure (`finding_ids`,
`findings_url`), so any number shown can be checked finding by finding.

The town, facility type and inspection mode are read from their copies on the findings row (written with the
finding, see tracker.store.tables), so the figures read the findings table alone, mostly from its two covering
indexes: one grouped query gives the headline figures and every breakdown of a period at once.

Definitions, for a period [from, to) of local (China Standard Time) days and the moment T = min(to, now):

- found (发现): reported_at in [from, to).
- closed (销号): closed_at in [from, to), whenever the finding was found.
- closed_of_found: found in the period and closed before `to`.
- closure rate (整改率) = closed_of_found / found. A finding found in the previous period and closed in this
  one counts in `closed` but not in this period's closure rate.
- on_time (按期销号): closed in the period with closed_at <= due_at, the deadline in force when it was closed
  (after a failed verification that is the new deadline set at the rejection). A finding closed on its
  deadline day is on time: due_at is 23:59:59 local time of that day.
- on-time closure rate (按期整改率) = on_time / closed.
- open (未销号) at T: reported before T and not closed before T (closed_at is null or >= T).
- overdue (逾期) at T: open at T, its deadline passed (due_at < T), and at the facility's side at T. At T = now
  that is its status (ordered): "status ordered and due_at < now". For a past T it is rebuilt from the row:
  never (re)submitted since its last order or rejection before T (submitted_at null or >= T, or status
  ordered); one case cannot be rebuilt: a finding rejected after T is judged by its later deadline.
- open_major (重大隐患未销号): open at T and severity major — the figure that must reach zero.
- found_major: found in the period and severity major.
- repeat (重复发现): found in the period, and the same checklist item was found failing at the same facility
  before (an earlier finding with the same facility_id and item_code; kept on the row as is_repeat).
- days to close: calendar days from the local day found to the local day closed (0 when closed the day it was
  found), over the findings closed in the period; median and the 90th percentile by nearest rank (the
  smallest value with at least 90 % of the values at or below it).
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from datetime import date, datetime, timedelta
from functools import cache, cached_property, lru_cache
from typing import Any
from urllib.parse import urlencode
from weakref import WeakKeyDictionary

from sqlalchemy import ColumnElement, String, and_, case, cast, func, literal, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import bindparam
from sqlalchemy.types import BigInteger, Date

from tracker.domain.model import Severity
from tracker.stats.periods import Period, local_day, local_midnight
from tracker.store.tables import (
    DAYBOOK_DIMENSIONS,
    DAYBOOK_FLOWS,
    DAYBOOK_STOCKS,
    STATS_COLUMNS,
    DaysBetween,
    facilities,
    findings,
    history,
    stats_close_days,
    stats_overdue,
    stats_periods,
    stats_state,
    stats_stocks,
)
from tracker.text.labels import METRICS

BOOK = (*DAYBOOK_FLOWS, *DAYBOOK_STOCKS)  # every count the day book keeps, repeat_major besides the figures
COUNTS = tuple(m for m in METRICS if m in BOOK)  # the figures that are counts, in the order they are shown
STOCKS = frozenset(DAYBOOK_STOCKS)  # counted at a moment; the others over the period
DIMENSIONS = ("town", "facility_type", "facility", "category", "severity", "mode")
RATES = {"closure_rate": ("closed_of_found", "found"), "on_time_rate": ("on_time", "closed")}
DIMENSION_COLUMN = {d: "facility_id" if d == "facility" else d for d in DIMENSIONS}
MAJOR = Severity.MAJOR.value

f = findings


@dataclass(frozen=True)
class Filter:
    """Which findings a figure is about: a town (the scope) and optional drill-down filters, each the findings
    column of the same name."""

    town: str | None = None
    facility_type: str | None = None
    facility_id: int | None = None
    category: str | None = None
    severity: str | None = None
    mode: str | None = None

    def params(self) -> dict[str, str]:
        return {name: str(value) for name, value in self._set()}

    def with_group(self, dimension: str, key: Any) -> Filter:
        return replace(self, **{DIMENSION_COLUMN[dimension]: key})

    def _set(self) -> list[tuple[str, Any]]:
        values = ((name, getattr(self, name)) for name in _FILTER_FIELDS)
        return [(name, value) for name, value in values if value not in (None, "")]

    def clauses(self, c: Any = f.c) -> list[ColumnElement[bool]]:
        return [c[name] == value for name, value in self._set()]

    def one_value(self) -> tuple[str, str] | None:
        """The day book's (dimension, key) of the one value besides the town the filter narrows to: ("", "") for
        none, None for more than one (the day book keeps no such cells)."""
        others = [(d, str(v)) for d, v in self._set() if d != "town"]
        named = [("facility" if d == "facility_id" else d, v) for d, v in others]
        return ("", "") if not named else named[0] if len(named) == 1 else None


_FILTER_FIELDS = [each.name for each in fields(Filter)]


def _in(column: Any, start: Any, end: Any) -> ColumnElement[bool]:
    return and_(column >= start, column < end)


def open_parts(moment: Any, c: Any = f.c) -> list[ColumnElement[bool]]:
    # Reported before the moment and not closed before it, as two ranges of the closed_at index.
    return [
        and_(c.closed_at.is_(None), c.reported_at < moment),
        and_(c.closed_at >= moment, c.reported_at < moment),
    ]


def open_at(moment: Any, c: Any = f.c) -> ColumnElement[bool]:
    return or_(*open_parts(moment, c))


def overdue_terms(moment: Any, c: Any, present: bool) -> list[ColumnElement[bool]]:
    """What overdue asks of a finding open at `moment` besides; `present`: the moment is now, and the status
    itself says whether the finding is at the facility."""
    at_facility = (
        c.status == "ordered"
        if present
        else or_(c.submitted_at.is_(None), c.submitted_at >= moment, c.status == "ordered")
    )
    return [c.due_at.is_not(None), c.due_at < moment, at_facility]


def overdue_at(moment: datetime, c: Any = f.c, present: bool = False) -> ColumnElement[bool]:
    return and_(open_at(moment, c), *overdue_terms(moment, c, present))


def _stock_terms(metric: str, moment: Any, present: bool, c: Any = f.c) -> list[ColumnElement[bool]]:
    """What a stock asks of a finding open at the moment, besides being open."""
    if metric == "overdue":
        return overdue_terms(moment, c, present)
    return [c.severity == MAJOR] if metric == "open_major" else []


def predicate(metric: str, period: Period, now: datetime, c: Any = f.c) -> ColumnElement[bool]:
    """The condition a finding meets to count in `metric` for `period`, as of `now`. `c` is the findings table's
    columns, or those of a subquery over it."""
    return _predicate(metric, *_bounds(period, now), c)


def _bounds(period: Period, now: datetime) -> tuple[datetime, datetime, datetime, bool]:
    """The period's start and end, its moment and whether that is now: what a predicate is of."""
    return period.start_utc, period.end_utc, period.as_of(now), period.as_of(now) == now


def _predicate(metric: str, start: Any, end: Any, moment: Any, present: bool, c: Any = f.c) -> Any:
    """predicate of the values, or of bound parameters in a statement built once."""
    if metric in STOCKS:
        return and_(open_at(moment, c), *_stock_terms(metric, moment, present, c))
    found, closed = _in(c.reported_at, start, end), _in(c.closed_at, start, end)
    terms = {
        "found": [found],
        "closed": [closed],
        "closed_of_found": [found, c.closed_at < end],
        "on_time": [closed, c.due_at.is_not(None), c.closed_at <= c.due_at],
        "found_major": [found, c.severity == MAJOR],
        "repeat": [found, c.is_repeat],
        "repeat_major": [found, c.is_repeat, c.severity == MAJOR],
    }
    if metric not in terms:
        raise ValueError(f"unknown metric {metric!r}")
    return and_(*terms[metric])


def _count(metric: str, period: Period, now: datetime, c: Any) -> Any:
    """The sum counting `metric` over the columns `c` of the findings or a subquery over them."""
    return func.coalesce(func.sum(case((predicate(metric, period, now, c), 1), else_=0)), 0).label(metric)


def _relevant(period: Period, now: datetime, flt: Filter) -> Any:
    """Every finding that can count in some figure of the period, as disjoint ranges of the two covering indexes:
    found in it; closed in it, found outside it; open at its moment, found before both and not closed in it."""
    start, end, moment = period.start_utc, period.end_utc, period.as_of(now)
    before = min(start, moment)
    not_found = or_(f.c.reported_at < start, f.c.reported_at >= end)
    not_closed = or_(f.c.closed_at < start, f.c.closed_at >= end)
    parts = [
        _in(f.c.reported_at, start, end),
        and_(_in(f.c.closed_at, start, end), not_found),
        and_(f.c.closed_at.is_(None), f.c.reported_at < before),
        and_(f.c.closed_at >= moment, not_closed, f.c.reported_at < before),
    ]
    columns = [f.c.id, f.c.reported_at, *(f.c[name] for name in STATS_COLUMNS)]
    return union_all(*(select(*columns).where(part, *flt.clauses()) for part in parts))


# --- from the day book (tracker.stats.daybook) ------------------------------------------------------------

KEYS = {d: DIMENSION_COLUMN[d] for d in DAYBOOK_DIMENSIONS}


def unit_of(period: Period) -> str | None:
    """The day book's name for the period's kind, if it keeps it: a calendar month or a week from Monday."""
    if period.is_month():
        return "month"
    return "week" if period.days == 7 and period.start.weekday() == 0 else None


def snapshot_day(day: date) -> bool:
    """Whether the day book keeps the stocks at 00:00 of `day` (besides those of its `through`)."""
    return day.day == 1 or day.weekday() == 0


# What one read has read already (one connection: one snapshot): the day book's `through`, the facilities.
_READ: WeakKeyDictionary[Any, dict[Any, Any]] = WeakKeyDictionary()


async def book_through(conn: AsyncConnection) -> date | None:
    """The day book's first day it does not hold (tracker.stats.daybook), asked once per read."""
    memo = _READ.setdefault(conn.sync_connection, {})
    if "through" not in memo:
        memo["through"] = (await conn.execute(select(stats_state.c.through))).scalar()
    return memo["through"]


# A statement built once per shape (functools.cache) binds its values by name when it runs.
_v = bindparam


def _where(names: Sequence[str], c: Any = f.c) -> list[ColumnElement[bool]]:
    """The filter whose fields `names` are set, as bound values."""
    return [c[name] == _v(name) for name in names]


def _cells(t: Any, names: Sequence[str]) -> list[Any]:
    """The day book's cells of the filter `names`: of its one value (bound of_dim, of_key), in its town."""
    return [t.of_dim == _v("of_dim"), t.of_key == _v("of_key"), *_where([n for n in names if n == "town"], t)]


def _book(values: dict[str, Any]) -> list[Any]:
    """`values` labelled in BOOK's order, 0 for the counts it lacks."""
    return [(values[n] if n in values else literal(0)).label(n) for n in BOOK]


def _since(names: Sequence[str], at_now: bool, tag: str = "") -> list[Any]:
    """The findings of [start, end) found or closed from `since` on (bound, each name + `tag`), each with its
    DAYBOOK_FLOWS as 0 or 1 (`at_now`: then how it moved open and open major from then to `now`: 1, -1 or 0)."""
    start, end, since, c = _v(f"start{tag}"), _v(f"end{tag}"), _v(f"since{tag}"), f.c
    major, closed = c.severity == MAJOR, _in(c.closed_at, since, end)
    on_time = and_(closed, c.due_at.is_not(None), c.closed_at <= c.due_at)

    def one(*terms: Any) -> Any:
        return case((and_(*terms), 1), else_=0)

    # Found since (found in the period, so closed_of_found if closed), and closed since but found before.
    found = [literal(1), one(major), one(c.is_repeat), one(c.is_repeat, major), one(closed), one(on_time)]
    found = dict(zip(DAYBOOK_FLOWS, [*found, one(closed)], strict=True))
    earlier = [*(literal(0) for _ in range(4)), literal(1), one(on_time), one(_in(c.reported_at, start, end))]
    earlier = dict(zip(DAYBOOK_FLOWS, earlier, strict=True))
    if at_now:
        now = _v("now")
        stays, gone = or_(c.closed_at.is_(None), c.closed_at >= now), c.closed_at < now
        found |= {"open": one(stays), "open_major": one(stays, major)}
        earlier |= {"open": -one(gone), "open_major": -one(gone, major)}
    grain = [c.town, *(c[column] for column in KEYS.values())]
    # facility_id + 0: read by the time, not every finding the facility ever had (SQLite guesses its index cheaper)
    where = [c.facility_id + 0 == _v(n) if n == "facility_id" else c[n] == _v(n) for n in names]
    found_since = select(*grain, *_book(found)).where(_in(c.reported_at, since, end), *where)
    return [found_since, select(*grain, *_book(earlier)).where(closed, c.reported_at < since, *where)]


def _overdue_moves(names: Sequence[str]) -> list[Any]:
    """How overdue moved from the snapshot at the bound `midnight` (stats_overdue) to `now`: a finding with no
    history since is as it was then, overdue now if it was, or if its deadline passed since. So: its members that
    changed since go, the changed ones overdue now come, and so do the unchanged whose deadline passed since."""
    midnight, now = _v("midnight"), _v("now")
    changed = select(history.c.finding_id).where(history.c.at >= midnight)
    members = select(stats_overdue.c.finding_id).where(stats_overdue.c.finding_id.in_(changed))
    ordered, grain = f.c.status == "ordered", [f.c.town, *(f.c[c] for c in KEYS.values())]

    def signed(sign: int, *where: Any) -> Any:
        return select(*grain, *_book({"overdue": literal(sign)})).where(*where, *_where(names))

    return [
        signed(-1, f.c.id.in_(members)),
        signed(1, f.c.id.in_(changed), ordered, f.c.due_at < now),
        signed(1, ordered, f.c.due_at >= midnight, f.c.due_at < now, f.c.id.not_in(changed)),
    ]


@cache
def _book_query(
    names: Sequence[str], once: str, stored: bool, rows_since: bool, running: bool, dims: Sequence[str]
) -> Any:
    """Every count of a week or month per group (dimension, key) of `dims` and of `once`, the dimension every
    finding is counted once in: the stored cells of its days before `through` (`stored`), its stocks at the end
    (stored) or now (`running`: stored at 00:00, moved by the day's rows), and the rows since (`rows_since`);
    "before" in `dims`: also the previous period's stored cells of `once` (bound first_before), as one group."""
    wanted = sorted({once, *dims} - {"town", "before"})
    s, p = stats_stocks.c, stats_periods.c
    cells = [
        (s, [s.day == _v("day")]),
        *([(p, [p.unit == _v("unit"), p.start == _v("first")])] if stored else []),
    ]
    arms, rows = [], []
    for t, where in cells:  # each stored cell wanted as it is, and those of `once` by their town
        where += _cells(t, names)
        counts = _book({n: t[n] for n in BOOK if n in t})
        arms.append(select(t.dim, t.key, *counts).where(*where, t.dim.in_(wanted)))
        arms.append(
            select(literal("town").label("dim"), t.town.label("key"), *counts).where(*where, t.dim == once)
        )
    earlier = [(s, [s.day == _v("first")]), (p, [p.unit == _v("unit"), p.start == _v("first_before")])]
    for t, where in earlier if "before" in dims else []:  # its stocks at its end, the period's start
        counts = _book({n: t[n] for n in BOOK if n in t})
        arms.append(
            select(literal("before"), literal(""), *counts).where(*where, *_cells(t, names), t.dim == once)
        )
    if rows_since:  # what happened since 00:00 of `through`
        rows += _since(names, running)
    if running:  # overdue now: the snapshot's, moved
        rows += _overdue_moves(names)
    return _summed(arms + _per_dimension(union_all(*rows), wanted) if rows else arms)


def _per_dimension(source: Any, wanted: list[str]) -> list[Any]:
    """The rows of `source` (the day book's grain and BOOK's counts) summed per town and per key of each of
    `wanted`."""
    rel = source.cte().prefix_with("MATERIALIZED")  # read once, summed once per dimension
    arms = []
    for dim in ("town", *wanted):
        key = cast(rel.c[KEYS.get(dim, dim)], String)
        sums = (func.sum(rel.c[n]).label(n) for n in BOOK)
        arms.append(select(literal(dim).label("dim"), key.label("key"), *sums).group_by(key))
    return arms


def _rows_arms(period: Period, now: datetime, flt: Filter, dims: Sequence[str]) -> list[Any]:
    """The same from the findings rows that can count in the period, grouped by the finest grain first."""
    rel = _relevant(period, now, flt).subquery()
    grain = [rel.c.town, *(rel.c[c] for c in KEYS.values())]
    grouped = select(*grain, *(_count(m, period, now, rel.c) for m in BOOK)).group_by(*grain)
    return _per_dimension(grouped, sorted({"severity", *dims} - {"town"}))


def _summed(arms: list[Any]) -> Any:
    """The arms' counts added up per (dimension, key), as integers (PostgreSQL's sum of sums is a slow numeric)."""
    every = union_all(*arms).subquery()
    query = select(every.c.dim, every.c.key, *(cast(func.sum(every.c[n]), BigInteger) for n in BOOK))
    return query.group_by(every.c.dim, every.c.key)


Sums = dict[Any, dict[str, int]]  # group key -> counts


async def _book_answers(conn: AsyncConnection, period: Period, flt: Filter, now: datetime) -> date | None:
    """The day book's `through` if it can answer for the period's counts (a week or month, one value at most)."""
    of, unit, moment = flt.one_value(), unit_of(period), period.as_of(now)
    through = None if of is None or unit is None else await book_through(conn)
    day = local_day(moment)
    if through is None or day > through or (day != through and (moment == now or not snapshot_day(day))):
        return None
    return through


async def _counts(
    conn: AsyncConnection,
    period: Period,
    flt: Filter,
    now: datetime,
    dims: Sequence[str],
    exact_rows: bool = False,
    previous: bool = False,
) -> tuple[dict[str, int], dict[str, Sums]]:
    """Every count of the period in total and per group of each of `dims`: from the day book when it can answer,
    else (or with `exact_rows`) from the findings rows; with `previous`, the previous period's totals too (in
    sums["before"][""]), read in the same statement if the day book holds that period whole."""
    of, unit, moment = flt.one_value(), unit_of(period), period.as_of(now)
    through = None if exact_rows else await _book_answers(conn, period, flt, now)
    running, day, before = moment == now, local_day(moment), period.previous()
    if through is None or of is None:
        query, values, once = _summed(_rows_arms(period, now, flt, dims)), {}, "severity"
    else:  # from the day book
        names, since, once = tuple(flt.params()), max(period.start, through), of[0] or "severity"
        if previous and before.end <= through and before.as_of(now) != now:
            dims = (*dims, "before")
        query = _book_query(names, once, period.start < through, since < period.end, running, tuple(dims))
        values = dict(flt._set(), of_dim=of[0], of_key=of[1], unit=unit, first=period.start, day=day, now=now)
        values |= {"start": period.start_utc, "end": period.end_utc, "since": local_midnight(since)}
        values |= {"midnight": local_midnight(through), "first_before": before.start}
    totals: dict[str, int] = dict.fromkeys(BOOK, 0)
    sums: dict[str, Sums] = {d: {} for d in dims}
    for dim, key, *got in (await conn.execute(query, values)).all():
        counts = dict(zip(BOOK, got, strict=True))
        if dim == once:  # every finding counted once, in its one value's group (or severity's)
            totals = {n: totals[n] + counts[n] for n in BOOK}
        if dim in sums:
            sums[dim][int(key) if dim == "facility" else key] = counts
    return totals, sums


def _rates(counts: dict[str, int]) -> dict[str, float | None]:
    return {name: (counts[num] / counts[den] if counts[den] else None) for name, (num, den) in RATES.items()}


@dataclass
class Figures:
    counts: dict[str, int]
    rates: dict[str, float | None]

    def value(self, name: str) -> float | int | None:
        return self.counts[name] if name in self.counts else self.rates[name]


def _figures(counts: dict[str, int]) -> Figures:
    whole = {m: counts.get(m, 0) for m in COUNTS}
    return Figures(whole, _rates(whole))


@dataclass
class Summary:
    period: Period
    previous: Period
    as_of: datetime
    current: Figures
    before: Figures

    def change(self, name: str) -> float | int | None:
        now, then = self.current.value(name), self.before.value(name)
        return None if now is None or then is None else now - then

    def as_dict(self) -> dict[str, Any]:
        each = {"value": self.current.value, "previous": self.before.value, "change": self.change}
        return {
            "period": {"from": self.period.start.isoformat(), "to": self.period.end.isoformat()},
            "previous_period": {"from": self.previous.start.isoformat(), "to": self.previous.end.isoformat()},
            "as_of": self.as_of.isoformat(),
            "figures": {n: {k: value(n) for k, value in each.items()} for n in (*COUNTS, *RATES)},
        }


async def figures(
    conn: AsyncConnection, period: Period, flt: Filter, now: datetime, exact_rows: bool = False
) -> Figures:
    return _figures((await _counts(conn, period, flt, now, (), exact_rows))[0])


async def summary(
    conn: AsyncConnection, period: Period, flt: Filter, now: datetime, exact_rows: bool = False
) -> Summary:
    """Every headline figure of the period and of the period before it."""
    return (await overview(conn, period, flt, now, dimensions=(), exact_rows=exact_rows))[0]


@dataclass
class Group:
    key: Any
    label: str
    town: str | None
    counts: dict[str, int]

    @cached_property
    def rates(self) -> dict[str, float | None]:
        return _rates(self.counts)

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, **self.counts, **self.rates}


async def _facilities(conn: AsyncConnection) -> dict[int, tuple[str, str]]:
    """Every facility's (name, town), by town, read once per read: a page names hundreds of them and lists the towns."""
    memo = _READ.setdefault(conn.sync_connection, {})
    if "facilities" not in memo:
        query = select(facilities.c.id, facilities.c.name, facilities.c.town).order_by(facilities.c.town)
        memo["facilities"] = {id_: (name, town) for id_, name, town in (await conn.execute(query)).all()}
    return memo["facilities"]


async def facility_towns(conn: AsyncConnection) -> list[str]:
    """Every town with a facility, in order."""
    return list(dict.fromkeys(town for _, town in (await _facilities(conn)).values()))


async def _groups(conn: AsyncConnection, sums: Sums, dimension: str, labeller: Any = None) -> list[Group]:
    """The groups of one dimension, most found first, then most open; groups with nothing to count left out."""
    names = await _facilities(conn) if dimension == "facility" else {}
    ranked = []
    for key, counts in sums.items():
        group_counts = {m: counts[m] for m in COUNTS}
        if any(group_counts.values()):
            name, town = names.get(key, (None, None))
            label = labeller(dimension, key, name) if labeller else (name or str(key))
            ranked.append((-counts["found"], -counts["open"], label, Group(key, label, town, group_counts)))
    return [each[3] for each in sorted(ranked, key=lambda r: r[:3])]


async def breakdown(
    conn: AsyncConnection,
    dimension: str,
    period: Period,
    flt: Filter,
    now: datetime,
    labeller: Any = None,
    exact_rows: bool = False,
) -> list[Group]:
    """The figures per town, facility type, facility, category, severity or inspection mode; groups with
    nothing to count are left out. `labeller(dimension, key, name)` names a group."""
    if dimension not in DIMENSION_COLUMN:
        raise ValueError(f"group_by must be one of {', '.join(DIMENSIONS)}")
    _, sums = await _counts(conn, period, flt, now, (dimension,), exact_rows)
    return await _groups(conn, sums[dimension], dimension, labeller)


async def overview(
    conn: AsyncConnection,
    period: Period,
    flt: Filter,
    now: datetime,
    labeller: Any = None,
    dimensions: Sequence[str] = DIMENSIONS,
    exact_rows: bool = False,
) -> tuple[Summary, dict[str, list[Group]], dict[str, Sums]]:
    """The headline figures with their change, and the breakdown by each of `dimensions` (and the raw sums per
    group, which top_from reads)."""
    totals, sums = await _counts(conn, period, flt, now, dimensions, exact_rows, previous=True)
    previous, cells = period.previous(), sums.pop("before", None)  # read with the period's, if it could be
    if cells is None:
        cells = {"": (await _counts(conn, previous, flt, now, (), exact_rows))[0]}
    summary = Summary(period, previous, period.as_of(now), _figures(totals), _figures(cells.get("", {})))
    return summary, {d: await _groups(conn, sums[d], d, labeller) for d in dimensions}, sums


# --- trends -----------------------------------------------------------------------------------------------


@dataclass
class Bucket:
    period: Period
    found: int = 0
    closed: int = 0
    closed_of_found: int = 0
    on_time: int = 0

    @property
    def closure_rate(self) -> float | None:
        return self.closed_of_found / self.found if self.found else None

    def as_dict(self) -> dict[str, Any]:
        counts = {n: getattr(self, n) for n in (*BUCKET, "closure_rate")}
        return {"from": self.period.start.isoformat(), "to": self.period.end.isoformat(), **counts}


BUCKET = ("found", "closed", "closed_of_found", "on_time")


def trend_periods(unit: str, last_day: date, count: int) -> list[Period]:
    """`count` whole weeks (Monday first) or calendar months, the last one holding `last_day`."""
    out = [Period.week_of(last_day) if unit == "week" else Period.month(last_day.year, last_day.month)]
    while len(out) < count:
        out.append(
            Period.week_of(out[-1].start - timedelta(days=1)) if unit == "week" else out[-1].previous()
        )
    return out[::-1]


async def trends(
    conn: AsyncConnection, units: Any, period: Period, flt: Filter, count: int = 12, exact_rows: bool = False
) -> list[list[Bucket]]:
    """Found, closed, closed-of-found (found in the bucket and closed within it) and on-time closures per week or
    month (each of `units`, in one statement) for `count` buckets ending with the one holding the period's last
    day, each as the period's figures: from the day book's weeks or months and the rows since, or from the rows."""
    if not set(units) <= {"week", "month"}:
        raise ValueError("unit must be week or month")
    of, every, shapes = flt.one_value(), {}, []
    through = None if exact_rows or of is None else await book_through(conn)
    dim, key = (of[0], of[1]) if of and of[0] else ("severity", None)
    values = {"dim": dim, "key": key, "of_dim": "", "of_key": "", **dict(flt._set())}
    for unit in units:
        every[unit] = {p.start: Bucket(p) for p in trend_periods(unit, period.end - timedelta(days=1), count)}
        first, end = next(iter(every[unit])), period.end  # the stored ones: from the first to `through`
        values |= {f"starts{unit}": first, f"ends{unit}": min(end, through or end)}
        rows = []  # the buckets read from the rows, since their start or the day book's `through`
        for i, b in enumerate(every[unit].values()):
            since, tag = max(b.period.start, through or b.period.start), f"{unit}{i}"
            if since < b.period.end:
                rows.append(tag)
                values |= {f"first{tag}": b.period.start, f"since{tag}": local_midnight(since)}
                values |= {f"start{tag}": b.period.start_utc, f"end{tag}": b.period.end_utc}
        shapes.append((unit, tuple(rows)))
    query = _trend_query(tuple(flt.params()), through is not None, key is not None, tuple(shapes))
    for unit, start, *flows in (await conn.execute(query, values)).all():
        for name, n in zip(BUCKET, flows, strict=True):
            setattr(every[unit][start], name, getattr(every[unit][start], name) + int(n or 0))
    return [list(every[unit].values()) for unit in units]


@cache
def _trend_query(names: tuple[str, ...], stored: bool, keyed: bool, shapes: tuple[Any, ...]) -> Any:
    """Each bucket's flows, per (unit, buckets read from the rows) of `shapes`: the stored weeks or months (bound
    starts+unit to ends+unit, dim, and key if `keyed`) if `stored`, those buckets' rows since (bound first, start,
    end, since+tag)."""
    arms, p = [], stats_periods.c
    for unit, rows in shapes:
        which = literal(unit).label("unit")
        if stored:  # the stored weeks or months, one value's cells when narrowed to one
            where = [p.unit == unit, p.start >= _v(f"starts{unit}"), p.start < _v(f"ends{unit}")]
            where += [p.dim == _v("dim"), *_cells(p, names), *([p.key == _v("key")] if keyed else [])]
            stored_ = select(which, p.start, *(func.sum(p[n]).label(n) for n in BUCKET))
            arms.append(stored_.where(*where).group_by(p.start))
        for tag in rows:  # and the rows since
            rel = union_all(*_since(names, False, tag)).subquery()
            first = _v(f"first{tag}", type_=Date).label("start")
            arms.append(select(which, first, *(func.sum(rel.c[n]) for n in BUCKET)))
    return union_all(*arms)


# --- days to close ----------------------------------------------------------------------------------------


@dataclass
class DaysToClose:
    count: int
    median: float | None
    p90: float | None


def days_to_close_of(histogram: Counter[int]) -> DaysToClose:
    """Count, median and 90th percentile (nearest rank) of days to close from {days: findings closed}."""
    steps = sorted((days, n) for days, n in histogram.items() if n > 0)
    count = sum(n for _, n in steps)
    if not count:
        return DaysToClose(0, None, None)

    def at(position: int) -> int:
        """The value at `position` (from 0) of the closings in order."""
        seen = 0
        for days, n in steps:
            seen += n
            if position < seen:
                return days
        raise IndexError(position)

    middle = count // 2
    median = at(middle) if count % 2 else (at(middle - 1) + at(middle)) / 2
    return DaysToClose(count, median, at(max(0, math.ceil(0.9 * count) - 1)))


async def days_to_close(
    conn: AsyncConnection, period: Period, flt: Filter, now: datetime, exact_rows: bool = False
) -> DaysToClose:
    """Calendar days from the day found to the day closed (local days), over the findings closed in the
    period: their count, median and 90th percentile."""
    unit, of = unit_of(period), flt.one_value()
    through = None if exact_rows or unit is None or of is None else await book_through(conn)
    stored = through is not None and period.start < through
    since = max(period.start_utc, local_midnight(through)) if stored else period.start_utc
    values = dict(flt._set(), unit=unit, first=period.start, since=since, end=period.end_utc)
    values |= {"of_dim": of[0], "of_key": of[1]} if of else {}
    histogram: Counter[int] = Counter()
    query = _days_query(tuple(flt.params()), stored, since < period.end_utc)  # not stored: since is the start
    for n_days, n in (await conn.execute(query, values)).all():
        histogram[int(n_days)] += int(n)
    return days_to_close_of(histogram)


@cache
def _days_query(names: tuple[str, ...], stored: bool, rows: bool) -> Any:
    """days_to_close's statement per shape, its values bound by name: the stored days, and the rows closed since."""
    t, days = stats_close_days.c, DaysBetween(f.c.reported_at, f.c.closed_at)
    where = [t.unit == _v("unit"), t.start == _v("first"), *_cells(t, names)]
    arms = [select(t.days, func.sum(t.closed)).where(*where).group_by(t.days)] if stored else []
    where = [_in(f.c.closed_at, _v("since"), _v("end")), *_where(names)]
    return union_all(*arms, *([select(days, func.count()).where(*where).group_by(days)] if rows else []))


# --- lists ------------------------------------------------------------------------------------------------


@dataclass
class FindingRow:
    id: int
    item_code: str
    item_zh: str
    item_en: str
    category: str
    severity: str
    status: str
    reported_at: datetime
    due_day: date | None
    closed_at: datetime | None
    escalation_level: int
    owner_name: str | None
    round: int
    facility_id: int
    facility_name: str
    town: str
    facility_type: str
    mode: str
    days_overdue: int | None

    def as_dict(self) -> dict[str, Any]:
        return {k: v.isoformat() if isinstance(v, date) else v for k, v in asdict(self).items()}


# FindingRow's fields as the findings row holds them (not the facility's name nor days overdue), then due_at.
_ROW_FIELDS = [each.name for each in fields(FindingRow) if each.name in findings.c]
LIST_COLUMNS = [*(f.c[name] for name in _ROW_FIELDS), f.c.due_at]


def _row(row: Any, moment: datetime, today: date, names: dict[int, tuple[str, str]]) -> FindingRow:
    *values, due_at = row
    r = dict(zip(_ROW_FIELDS, values, strict=True))
    due_day, overdue = r["due_day"], None
    if due_day is not None and r["closed_at"] is None and due_at is not None and due_at < moment:
        overdue = (today - due_day).days
    return FindingRow(**r, facility_name=names[r["facility_id"]][0], days_overdue=overdue)


def _parts(metric: str, where: list[Any], *bounds: Any) -> list[list[Any]]:
    """The findings behind one figure (`where` besides; `bounds` as _bounds gives them, or bound parameters) as
    disjoint ranges of an index each: a stock's as two ranges of the closed_at index (unclosed, or closed at or
    after the moment); a flow's as one."""
    if metric not in STOCKS:
        return [[_predicate(metric, *bounds), *where]]
    _, _, moment, present = bounds
    return [[part, *_stock_terms(metric, moment, present), *where] for part in open_parts(moment)]


async def finding_ids(
    conn: AsyncConnection, metric: str, period: Period, flt: Filter, now: datetime
) -> list[int]:
    """The ids of the findings behind one figure, in id order: `len()` of this is the figure."""
    parts = _parts(metric, flt.clauses(), *_bounds(period, now))
    ids = union_all(*(select(f.c.id).where(*part) for part in parts)).subquery()
    return list((await conn.execute(select(ids.c.id).order_by(ids.c.id))).scalars())


async def finding_count(
    conn: AsyncConnection, metric: str, period: Period, flt: Filter, now: datetime
) -> int:
    """How many findings finding_lists lists: a count of each range, added up."""
    parts = _parts(metric, flt.clauses(), *_bounds(period, now))
    counts = [select(func.count()).where(*p).scalar_subquery() for p in parts]
    return int((await conn.execute(select(sum(counts[1:], counts[0])))).scalar_one())


async def finding_lists(
    conn: AsyncConnection,
    metrics: Sequence[str],
    period: Period,
    flt: Filter,
    now: datetime,
    limit: int | None = None,
    offset: int = 0,
) -> list[list[FindingRow]]:
    """The findings behind each figure of `metrics` with what a reader needs to check them, in one statement (the
    dashboard shows two lists); overdue ones oldest first. A page of each with `limit` and `offset`."""
    start, end, moment, present = _bounds(period, now)
    values = dict(flt._set(), start=start, end=end, moment=moment, limit=limit, offset=offset)
    query = _lists_query(tuple(metrics), tuple(flt.params()), present, limit is not None)
    names, lists = await _facilities(conn), [[] for _ in metrics]
    for i, _, *row in (await conn.execute(query, values)).all():
        lists[i].append(_row(row, moment, local_day(moment), names))
    return lists


@cache
def _lists_query(metrics: tuple[str, ...], names: tuple[str, ...], present: bool, paged: bool) -> Any:
    """finding_lists' statement per shape, its values bound by name; `paged`: its ids first, limit and offset."""
    arms, bounds = [], (_v("start"), _v("end"), _v("moment"), present)
    for i, metric in enumerate(metrics):
        at = f.c.due_at if metric == "overdue" else f.c.reported_at
        if paged:
            ids = select(f.c.id).where(_predicate(metric, *bounds), *_where(names)).order_by(at, f.c.id)
            ids = ids.limit(_v("limit")).offset(_v("offset"))
        else:
            ids = union_all(*(select(f.c.id).where(*part) for part in _parts(metric, _where(names), *bounds)))
        arms.append(select(literal(i).label("list"), at.label("at"), *LIST_COLUMNS).where(f.c.id.in_(ids)))
    return union_all(*arms).order_by("list", "at", "id")


async def overdue_list(
    conn: AsyncConnection, period: Period, flt: Filter, now: datetime, limit: int | None = None
) -> list[FindingRow]:
    """Overdue at the period's as-of moment, oldest deadline first, with days overdue (calendar days after
    the deadline day), escalation level and owner."""
    return (await finding_lists(conn, ("overdue",), period, flt, now, limit))[0]


@dataclass
class FacilityCount:
    facility_id: int
    name: str
    town: str
    count: int
    major: int


async def top_from(conn: AsyncConnection, sums: Sums, metric: str, limit: int = 10) -> list[FacilityCount]:
    """The facilities with the most findings in `metric` ("open" or "repeat") from per-facility sums, most
    first, with how many of those are major."""
    major = {"open": "open_major", "repeat": "repeat_major"}[metric]
    ranked = heapq.nsmallest(
        limit,
        ((c[metric], key, c.get(major, 0)) for key, c in sums.items() if c.get(metric)),
        key=lambda r: (-r[0], r[1]),
    )
    names = await _facilities(conn)
    return [FacilityCount(key, *names[key], n, m) for n, key, m in ranked]


async def top_facilities(
    conn: AsyncConnection,
    metric: str,
    period: Period,
    flt: Filter,
    now: datetime,
    limit: int = 10,
    exact_rows: bool = False,
) -> list[FacilityCount]:
    """Facilities with the most findings in `metric` (use "open" or "repeat"), most first."""
    _, sums = await _counts(conn, period, flt, now, ("facility",), exact_rows)
    return await top_from(conn, sums["facility"], metric, limit)


async def escalations(conn: AsyncConnection, period: Period, flt: Filter) -> list[tuple[int, int, datetime]]:
    """(finding id, level, when) of every escalation raised in the period."""
    query = (
        select(f.c.id, history.c.data, history.c.at)
        .join(history, history.c.finding_id == f.c.id)
        .where(
            *flt.clauses(),
            history.c.action == "escalated",
            _in(history.c.at, period.start_utc, period.end_utc),
        )
        .order_by(history.c.at, history.c.id)
    )
    return [(r.id, int((r.data or {}).get("level", 0)), r.at) for r in (await conn.execute(query)).all()]


@lru_cache(maxsize=4096)
def findings_url(metric: str, period: Period, flt: Filter, base: str = "/dashboard/findings") -> str:
    """Where the list behind a figure is shown: `/dashboard/findings?metric=overdue&from=…&to=…&town=…`."""
    span = {"from": period.start.isoformat(), "to": period.end.isoformat(), **flt.params()}
    return f"{base}?{urlencode({'metric': metric, **span})}"
