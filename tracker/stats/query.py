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
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from datetime import date, datetime, timedelta
from functools import cache, cached_property, lru_cache
from operator import itemgetter
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Integer

from tracker.stats.periods import Period, local_day, local_midnight
from tracker.store.tables import (
    DAYBOOK_DIMENSIONS,
    DAYBOOK_FLOWS,
    DAYBOOK_STOCKS,
    STATS_COLUMNS,
    facilities,
    findings,
    history,
    stats_close_days,
    stats_overdue,
    stats_periods,
    stats_state,
    stats_stocks,
)

COUNTS = (
    "found",
    "closed",
    "closed_of_found",
    "on_time",
    "open",
    "overdue",
    "open_major",
    "found_major",
    "repeat",
)
# Stock figures are counted at a moment; flows over the period.
STOCKS = frozenset({"open", "overdue", "open_major"})
METRICS = COUNTS
# Counted beside the figures for the top-facilities table's major column.
TALLIES = (*COUNTS, "repeat_major")
DIMENSIONS = ("town", "facility_type", "facility", "category", "severity", "mode")
RATES = {"closure_rate": ("closed_of_found", "found"), "on_time_rate": ("on_time", "closed")}

f = findings
# The finest grouping the figures are broken down by; town and facility type follow from the facility.
GRAIN = ("town", "facility_type", "facility_id", "category", "severity", "mode")
DIMENSION_COLUMN = {
    "town": "town",
    "facility_type": "facility_type",
    "facility": "facility_id",
    "category": "category",
    "severity": "severity",
    "mode": "mode",
}


@dataclass(frozen=True)
class Filter:
    """Which findings a figure is about: a town (the scope) and optional drill-down filters."""

    town: str | None = None
    facility_type: str | None = None
    facility_id: int | None = None
    category: str | None = None
    severity: str | None = None
    mode: str | None = None

    def params(self) -> dict[str, str]:
        # Read field by field: asdict() deep-copies, and a dashboard asks this of every figure it links.
        values = ((name, getattr(self, name)) for name in _FILTER_FIELDS)
        return {k: str(v) for k, v in values if v not in (None, "")}

    def with_group(self, dimension: str, key: Any) -> Filter:
        name = "facility_id" if dimension == "facility" else dimension
        return replace(self, **{name: key})

    def _set(self) -> list[tuple[str, Any]]:
        # Each field is the findings column of the same name.
        values = ((name, getattr(self, name)) for name in _FILTER_FIELDS)
        return [(name, value) for name, value in values if value is not None and value != ""]

    def clauses(self, c: Any = f.c) -> list[ColumnElement[bool]]:
        return [c[name] == value for name, value in self._set()]


_FILTER_FIELDS = [each.name for each in fields(Filter)]


def _in(column: Any, start: Any, end: Any) -> ColumnElement[bool]:
    return and_(column >= start, column < end)


@dataclass(frozen=True)
class Span:
    """What a period's conditions are drawn from: its bounds, its as-of moment and whether that is now."""

    start: Any
    end: Any
    moment: Any
    present: bool

    @classmethod
    def of(cls, period: Period, now: datetime) -> Span:
        moment = period.as_of(now)
        return cls(period.start_utc, period.end_utc, moment, moment == now)


def open_parts(moment: Any, c: Any = f.c) -> list[ColumnElement[bool]]:
    # Reported before the moment and not closed before it, as two ranges of the closed_at index.
    return [
        and_(c.closed_at.is_(None), c.reported_at < moment),
        and_(c.closed_at >= moment, c.reported_at < moment),
    ]


def open_at(moment: Any, c: Any = f.c) -> ColumnElement[bool]:
    return or_(*open_parts(moment, c))


def _stock_terms(metric: str, span: Span, c: Any = f.c) -> list[ColumnElement[bool]]:
    """What a stock asks of a finding open at the span's moment, besides being open."""
    if metric == "open":
        return []
    if metric == "open_major":
        return [c.severity == "major"]
    if metric == "overdue":
        return overdue_terms(span.moment, c, span.present)
    raise ValueError(f"not a stock: {metric!r}")


def overdue_terms(moment: Any, c: Any, present: bool) -> list[ColumnElement[bool]]:
    at_facility = (
        c.status == "ordered"
        if present
        else or_(c.submitted_at.is_(None), c.submitted_at >= moment, c.status == "ordered")
    )
    return [c.due_at.is_not(None), c.due_at < moment, at_facility]


def overdue_at(moment: datetime, c: Any = f.c, present: bool = False) -> ColumnElement[bool]:
    """`present`: the moment is now, and the status itself says whether the finding is at the facility."""
    return and_(open_at(moment, c), *overdue_terms(moment, c, present))


def predicate(metric: str, period: Period, now: datetime, c: Any = f.c) -> ColumnElement[bool]:
    """The condition a finding meets to count in `metric` for `period`, as of `now`. `c` is the findings table's
    columns, or those of a subquery over it."""
    return _condition(metric, Span.of(period, now), c)


def _condition(metric: str, span: Span, c: Any = f.c) -> ColumnElement[bool]:
    start, end = span.start, span.end
    if metric == "found":
        return _in(c.reported_at, start, end)
    if metric == "closed":
        return _in(c.closed_at, start, end)
    if metric == "closed_of_found":
        return and_(_in(c.reported_at, start, end), c.closed_at.is_not(None), c.closed_at < end)
    if metric == "on_time":
        return and_(_in(c.closed_at, start, end), c.due_at.is_not(None), c.closed_at <= c.due_at)
    if metric in STOCKS:
        return and_(open_at(span.moment, c), *_stock_terms(metric, span, c))
    if metric == "found_major":
        return and_(_in(c.reported_at, start, end), c.severity == "major")
    if metric == "repeat":
        return and_(_in(c.reported_at, start, end), c.is_repeat)
    if metric == "repeat_major":
        return and_(_in(c.reported_at, start, end), c.is_repeat, c.severity == "major")
    raise ValueError(f"unknown metric {metric!r}")


def _relevant_parts(period: Period, now: datetime) -> list[ColumnElement[bool]]:
    """Disjoint conditions that together hold every finding that can count in any metric of the period, each
    a range of one of the two covering indexes (reported_at, or closed_at then reported_at):

    - found in the period;
    - closed in the period, found outside it;
    - open at the as-of moment, found before it and before the period, and not closed in the period: still
      unclosed, or closed at or after the moment."""
    start, end, moment = period.start_utc, period.end_utc, period.as_of(now)
    before = min(start, moment)
    not_found = or_(f.c.reported_at < start, f.c.reported_at >= end)
    not_closed = or_(f.c.closed_at < start, f.c.closed_at >= end)
    return [
        _in(f.c.reported_at, start, end),
        and_(_in(f.c.closed_at, start, end), not_found),
        and_(f.c.closed_at.is_(None), f.c.reported_at < before),
        and_(f.c.closed_at >= moment, not_closed, f.c.reported_at < before),
    ]


def _relevant(period: Period, now: datetime, flt: Filter) -> Any:
    """The findings that can count in the period, with the columns the figures read: a UNION ALL of index
    ranges, as a subquery."""
    columns = [f.c.reported_at, *(f.c[name] for name in STATS_COLUMNS)]
    parts = [select(*columns).where(part, *flt.clauses()) for part in _relevant_parts(period, now)]
    return union_all(*parts).subquery("relevant")


def _base(columns: Sequence[Any], flt: Filter) -> Select[Any]:
    query = select(*columns).select_from(f)
    for clause in flt.clauses():
        query = query.where(clause)
    return query


def _sums(period: Period, now: datetime, c: Any = f.c, metrics: Sequence[str] = COUNTS) -> list[Any]:
    return [
        func.coalesce(func.sum(case((predicate(m, period, now, c), 1), else_=0)), 0).label(m) for m in metrics
    ]


async def _grouped(
    conn: AsyncConnection, period: Period, flt: Filter, now: datetime, keys: Sequence[str]
) -> list[tuple[dict[str, Any], dict[str, int]]]:
    """One query: every count of the period per combination of `keys` (finding columns), from the relevant
    findings only. Without keys, one row of totals."""
    rel = _relevant(period, now, flt)
    key_columns = [rel.c[k] for k in keys]
    query = select(*key_columns, *_sums(period, now, rel.c, TALLIES))
    if key_columns:
        query = query.group_by(*key_columns)
    out = []
    for row in (await conn.execute(query)).all():
        counts = {m: int(getattr(row, m)) for m in TALLIES}
        out.append(({k: getattr(row, k) for k in keys}, counts))
    return out


def _rates(counts: dict[str, int]) -> dict[str, float | None]:
    return {name: (counts[num] / counts[den] if counts[den] else None) for name, (num, den) in RATES.items()}


@dataclass
class Figures:
    counts: dict[str, int]
    rates: dict[str, float | None]

    def value(self, name: str) -> float | int | None:
        return self.counts[name] if name in self.counts else self.rates[name]


@dataclass
class Summary:
    period: Period
    previous: Period
    as_of: datetime
    current: Figures
    before: Figures

    def change(self, name: str) -> float | int | None:
        now, then = self.current.value(name), self.before.value(name)
        if now is None or then is None:
            return None
        return now - then

    def as_dict(self) -> dict[str, Any]:
        names = [*COUNTS, *RATES]
        return {
            "period": {"from": self.period.start.isoformat(), "to": self.period.end.isoformat()},
            "previous_period": {"from": self.previous.start.isoformat(), "to": self.previous.end.isoformat()},
            "as_of": self.as_of.isoformat(),
            "figures": {
                n: {
                    "value": self.current.value(n),
                    "previous": self.before.value(n),
                    "change": self.change(n),
                }
                for n in names
            },
        }


Sums = dict[Any, dict[str, int]]  # group key -> counts


def _add(into: dict[str, int], counts: dict[str, int]) -> None:
    for name, n in counts.items():
        into[name] = into.get(name, 0) + n


def _by_dimension(
    rows: Sequence[tuple[dict[str, Any], dict[str, int]]], dimensions: Sequence[str]
) -> dict[str, Sums]:
    """Finer-grained counts (from the rows) summed per group of each dimension."""
    out: dict[str, Sums] = {}
    for dimension in dimensions:
        column = DIMENSION_COLUMN[dimension]
        sums: Sums = {}
        for keys, counts in rows:
            _add(sums.setdefault(keys[column], {}), counts)
        out[dimension] = sums
    return out


def _figures(counts: dict[str, int]) -> Figures:
    whole = {m: counts.get(m, 0) for m in COUNTS}
    return Figures(whole, _rates(whole))


async def _counts(
    conn: AsyncConnection,
    period: Period,
    flt: Filter,
    now: datetime,
    dimensions: Sequence[str],
    exact_rows: bool = False,
) -> tuple[dict[str, int], dict[str, Sums]]:
    """Every count of the period in total and per group of each of `dimensions`: from the day book when it can
    answer (_book_counts), else from the findings rows. `exact_rows` reads the rows regardless."""
    groups = None if exact_rows else await _book_counts(conn, period, flt, now, dimensions)
    if groups is not None:
        return _from_groups(groups, dimensions, once=_one_value(flt)[1] or ("severity", ""))
    rows = await _grouped(conn, period, flt, now, GRAIN if dimensions else ())
    totals: dict[str, int] = dict.fromkeys(TALLIES, 0)
    for _, counts in rows:
        _add(totals, counts)
    return totals, _by_dimension(rows, dimensions)


async def figures(
    conn: AsyncConnection, period: Period, flt: Filter, now: datetime, exact_rows: bool = False
) -> Figures:
    totals, _ = await _counts(conn, period, flt, now, (), exact_rows)
    return _figures(totals)


async def summary(
    conn: AsyncConnection, period: Period, flt: Filter, now: datetime, exact_rows: bool = False
) -> Summary:
    """Every headline figure of the period and of the period before it."""
    previous = period.previous()
    return Summary(
        period,
        previous,
        period.as_of(now),
        await figures(conn, period, flt, now, exact_rows),
        await figures(conn, previous, flt, now, exact_rows),
    )


@dataclass
class Group:
    key: Any
    label: str
    town: str | None
    counts: dict[str, int]

    @cached_property
    def rates(self) -> dict[str, float | None]:
        # Worked out when read: a page shows the first rows of most breakdowns (of 400 facilities, ten).
        return _rates(self.counts)

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, **self.counts, **self.rates}


async def _facility_names(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """(name, town) of the facilities `ids`."""
    if not ids:
        return {}
    query = select(facilities.c.id, facilities.c.name, facilities.c.town)
    rows = await conn.execute(query.where(facilities.c.id.in_(sorted(set(ids)))))
    return {id_: (name, town) for id_, name, town in rows.all()}


async def facility_towns(conn: AsyncConnection) -> list[str]:
    """Every town with a facility, in order."""
    query = select(facilities.c.town).distinct().order_by(facilities.c.town)
    return list((await conn.execute(query)).scalars())


_pick_counts = itemgetter(*COUNTS)  # a group's sums hold every tally


async def _groups(conn: AsyncConnection, sums: Sums, dimension: str, labeller: Any = None) -> list[Group]:
    """The groups of one dimension, most found first, then most open; groups with nothing to count are left
    out."""
    names = await _facility_names(conn, list(sums)) if dimension == "facility" else {}
    ranked = []
    for key, all_counts in sums.items():
        values = _pick_counts(all_counts)
        if not any(values):
            continue
        name, town = names.get(key, _NO_NAME)
        label = labeller(dimension, key, name) if labeller else (name or str(key))
        group = Group(key, label, town, dict(zip(COUNTS, values, strict=False)))  # one value per name
        ranked.append((-all_counts["found"], -all_counts["open"], label, group))
    ranked.sort(key=_RANK)
    return [each[3] for each in ranked]


_NO_NAME = (None, None)
_RANK = itemgetter(0, 1, 2)


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
    group, which top_facilities reads)."""
    totals, sums = await _counts(conn, period, flt, now, dimensions, exact_rows)
    previous = period.previous()
    summary = Summary(
        period,
        previous,
        period.as_of(now),
        _figures(totals),
        await figures(conn, previous, flt, now, exact_rows),
    )
    return summary, {d: await _groups(conn, sums[d], d, labeller) for d in dimensions}, sums


# --- from the day book (tracker.stats.daybook) ------------------------------------------------------------

GroupKey = tuple[str, str]  # (dimension, key)
Cell = tuple[str, str, str]  # (town, dimension, key), as the day book keeps its counts
CELL_GRAIN = ("town", *(DIMENSION_COLUMN[d] for d in DAYBOOK_DIMENSIONS))


def unit_of(period: Period) -> str | None:
    """The day book's name for the period's kind, if it keeps it: a calendar month or a week from Monday."""
    if period.is_month():
        return "month"
    return "week" if period.days == 7 and period.start.weekday() == 0 else None


def snapshot_day(day: date) -> bool:
    """Whether the day book keeps the stocks at 00:00 of `day` (besides those of its `through`)."""
    return day.day == 1 or day.weekday() == 0


async def cell_counts(conn: AsyncConnection, sums: Sequence[Any], source: Any) -> dict[Cell, list[int]]:
    """`sums` (each a function of the columns) over the findings of `source` (a select with the grain's columns)
    per cell: one GROUP BY by the finest grain, spread over the cells in Python."""
    rel = source.subquery()
    grain = [rel.c[name] for name in CELL_GRAIN]
    columns = [column for s in sums for column in _listed_columns(s(rel.c))]
    rows = (await conn.execute(select(*grain, *columns).group_by(*grain))).all()
    out: dict[Cell, list[int]] = defaultdict(lambda: [0] * len(columns))
    for row in rows:
        values = [int(v or 0) for v in row[len(grain) :]]
        for n, dim in enumerate(DAYBOOK_DIMENSIONS, start=1):
            cell = out[(row[0], dim, str(row[n]))]
            for i, v in enumerate(values):
                cell[i] += v
    return out


def _listed_columns(made: Any) -> list[Any]:
    return made if isinstance(made, list) else [made]


def _to_groups(cells: Any, into: dict[GroupKey, list[int]], width: int, offset: int = 0) -> None:
    """Add cells ((town, dim, key), counts) to groups (dim, key), and to the town's group by its severities."""
    for (town, dim, key), counts in cells:
        targets = [(dim, key), ("town", town)] if dim == "severity" else [(dim, key)]
        for group in targets:
            row = into.setdefault(group, [0] * width)
            for n, value in enumerate(counts):
                row[offset + n] += int(value)


def _stored(table: Any, names: Sequence[str], flt: Filter, only: GroupKey | None, *where: Any) -> Any:
    t = table.c
    if flt.town is not None:
        where = (*where, t.town == flt.town)
    if only is not None:
        where = (*where, t.dim == only[0], t.key == only[1])
    return select(t.town, t.dim, t.key, *(t[n] for n in names)).where(*where)


def _sum(condition: Any) -> Any:
    return func.sum(case((condition, 1), else_=0))


def _tail_sums(period: Period, since: datetime, running_at: datetime | None) -> list[Any]:
    """The flows of the period's findings found or closed from `since` on, in DAYBOOK_FLOWS' order; with
    `running_at`, then how open and open major moved from `since` (00:00 today) to that moment (now)."""
    start, end = period.start_utc, period.end_utc

    def flows(c: Any) -> list[Any]:
        found, closed = _in(c.reported_at, since, end), _in(c.closed_at, since, end)
        major = c.severity == "major"
        return [
            found,
            and_(found, major),
            and_(found, c.is_repeat),
            and_(found, c.is_repeat, major),
            closed,
            and_(closed, c.due_at.is_not(None), c.closed_at <= c.due_at),
            and_(closed, _in(c.reported_at, start, end)),
        ]

    def moved(c: Any, sign: int, major: bool) -> Any:
        came = and_(c.reported_at >= since, or_(c.closed_at.is_(None), c.closed_at >= running_at))
        went = and_(c.reported_at < since, _in(c.closed_at, since, running_at))
        extra = [c.severity == "major"] if major else []
        return case((and_(came, *extra), 1), (and_(went, *extra), -1), else_=0)

    return [
        lambda c: [
            *(_sum(flow) for flow in flows(c)),
            *((func.sum(moved(c, 1, m)) for m in (False, True)) if running_at is not None else ()),
        ]
    ]


def _tail_rows(period: Period, since: datetime, flt: Filter) -> Any:
    columns = [f.c[name] for name in ("reported_at", *STATS_COLUMNS)]
    end = period.end_utc
    return union_all(
        select(*columns).where(_in(f.c.reported_at, since, end), *flt.clauses()),
        select(*columns).where(_in(f.c.closed_at, since, end), f.c.reported_at < since, *flt.clauses()),
    )


def _overdue_moves(midnight: datetime, now: datetime, flt: Filter) -> Any:
    """How overdue moved since the snapshot at 00:00 (stats_overdue): a finding with no history since is as it
    was then, overdue now if it was, or if its deadline passed since. So: its members that changed since go,
    the changed ones overdue now come, and so do the unchanged whose deadline passed since."""
    changed = select(history.c.finding_id).where(history.c.at >= midnight)
    grain = [f.c[name] for name in CELL_GRAIN]

    def signed(sign: int, *where: Any) -> Any:
        return select(*grain, literal(sign).label("sign")).where(*where, *flt.clauses())

    members = select(stats_overdue.c.finding_id).where(stats_overdue.c.finding_id.in_(changed))
    ordered = f.c.status == "ordered"
    return union_all(
        signed(-1, f.c.id.in_(members)),
        signed(1, f.c.id.in_(changed), ordered, f.c.due_at < now),
        signed(1, ordered, f.c.due_at >= midnight, f.c.due_at < now, f.c.id.not_in(changed)),
    )


async def _through(conn: AsyncConnection) -> date | None:
    return (await conn.execute(select(stats_state.c.through))).scalar()


async def _book_counts(
    conn: AsyncConnection, period: Period, flt: Filter, now: datetime, dims: Sequence[str]
) -> dict[GroupKey, dict[str, int]] | None:
    """Every count of a week or month per group (dimension, key), from the day book and the rows since 00:00 of
    its `through`: for the figures of all towns or one, or narrowed to one value more (its group only, then).
    None when the day book cannot answer."""
    answers, only = _one_value(flt)
    unit, through = unit_of(period), await _through(conn)
    if not answers or unit is None or through is None or (only is not None and dims):
        return None
    moment = period.as_of(now)
    running = moment == now
    day = local_day(moment)
    if running and day != through:
        return None
    if not running and (
        moment != local_midnight(day) or day > through or not (snapshot_day(day) or day == through)
    ):
        return None
    width = len(DAYBOOK_FLOWS) + len(DAYBOOK_STOCKS)
    groups: dict[GroupKey, list[int]] = {}
    stocks = (
        await conn.execute(_stored(stats_stocks, DAYBOOK_STOCKS, flt, only, stats_stocks.c.day == day))
    ).all()
    if not stocks:  # no snapshot of that moment (or nothing open then): the rows answer
        return None
    _to_groups(((r[:3], r[3:]) for r in stocks), groups, width, len(DAYBOOK_FLOWS))
    if period.start < through:
        t = stats_periods.c
        stored = _stored(stats_periods, DAYBOOK_FLOWS, flt, only, t.unit == unit, t.start == period.start)
        _to_groups(((r[:3], r[3:]) for r in (await conn.execute(stored)).all()), groups, width)
    since = max(period.start_utc, local_midnight(through))
    if since < period.end_utc:
        tail = await cell_counts(
            conn, _tail_sums(period, since, now if running else None), _tail_rows(period, since, flt)
        )
        _to_groups(tail.items(), groups, width)
    if running:
        moves = await cell_counts(conn, [lambda c: func.sum(c.sign)], _overdue_moves(since, now, flt))
        _to_groups(((cell, [0, 0, n]) for cell, (n,) in moves.items()), groups, width, len(DAYBOOK_FLOWS))
    return {group: _named(counts) for group, counts in groups.items()}


_BOOK_NAMES = [(n, name) for n, name in enumerate((*DAYBOOK_FLOWS, *DAYBOOK_STOCKS)) if name in TALLIES]


def _named(counts: list[int]) -> dict[str, int]:
    return {name: counts[n] for n, name in _BOOK_NAMES}


def _from_groups(
    groups: dict[GroupKey, dict[str, int]], dimensions: Sequence[str], once: GroupKey
) -> tuple[dict[str, int], dict[str, Sums]]:
    """Totals and per-dimension sums from groups. Every finding is in exactly one group of the dimension of
    `once`, so the totals are the sums of those."""
    totals: dict[str, int] = dict.fromkeys(TALLIES, 0)
    sums: dict[str, Sums] = {d: {} for d in dimensions}
    for (dim, key), counts in groups.items():
        if dim == once[0]:
            _add(totals, counts)
        if dim in sums:
            sums[dim][int(key) if dim == "facility" else key] = counts
    return totals, sums


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
        return {
            "from": self.period.start.isoformat(),
            "to": self.period.end.isoformat(),
            "found": self.found,
            "closed": self.closed,
            "closed_of_found": self.closed_of_found,
            "on_time": self.on_time,
            "closure_rate": self.closure_rate,
        }


def trend_periods(unit: str, last_day: date, count: int) -> list[Period]:
    """`count` whole weeks (Monday first) or calendar months, the last one holding `last_day`."""
    out: list[Period] = []
    if unit == "week":
        current = Period.week_of(last_day)
        for _ in range(count):
            out.append(current)
            current = Period(current.start - timedelta(days=7), current.start)
    else:
        current = Period.month(last_day.year, last_day.month)
        for _ in range(count):
            out.append(current)
            current = current.previous()
    return out[::-1]


async def trend(
    conn: AsyncConnection,
    unit: str,
    period: Period,
    flt: Filter,
    count: int = 12,
    exact_rows: bool = False,
) -> list[Bucket]:
    """Found, closed, closed-of-found (found in the bucket and closed within it) and on-time closures per week
    or month, for `count` buckets ending with the one holding the period's last day. Each bucket's figures
    follow the definitions above with the bucket as the period."""
    if unit not in ("week", "month"):
        raise ValueError("unit must be week or month")
    periods = trend_periods(unit, period.end - timedelta(days=1), count)
    out = [Bucket(p) for p in periods]
    answers, only = _one_value(flt)
    if not exact_rows and answers and await _book_trend(conn, unit, out, flt, only):
        return out
    bounds = [p.start_utc for p in periods]
    ends = [p.end_utc for p in periods]
    start, end = bounds[0], ends[-1]

    def index(column: Any) -> Any:
        """The bucket `column` falls in, as 0..count-1 (the query keeps to rows within the buckets)."""
        return case(
            *((column < e, literal(n)) for n, e in enumerate(ends[:-1])), else_=literal(len(ends) - 1)
        )

    def bucket_end(column: Any) -> Any:
        return case(*((column < e, e) for e in ends[:-1]), else_=ends[-1])

    found = index(f.c.reported_at).label("b")
    same = func.coalesce(
        func.sum(
            case((and_(f.c.closed_at.is_not(None), f.c.closed_at < bucket_end(f.c.reported_at)), 1), else_=0)
        ),
        0,
    )
    q1 = (
        _base([found, func.count().label("n"), same.label("cf")], flt)
        .where(_in(f.c.reported_at, start, end))
        .group_by(found)
    )
    closed = index(f.c.closed_at).label("b")
    on_time = func.coalesce(func.sum(case((f.c.closed_at <= f.c.due_at, 1), else_=0)), 0)
    q2 = (
        _base([closed, func.count().label("n"), on_time.label("ot")], flt)
        .where(_in(f.c.closed_at, start, end))
        .group_by(closed)
    )
    for row in (await conn.execute(q1)).all():
        out[int(row.b)].found, out[int(row.b)].closed_of_found = int(row.n), int(row.cf)
    for row in (await conn.execute(q2)).all():
        out[int(row.b)].closed, out[int(row.b)].on_time = int(row.n), int(row.ot)
    return out


def _one_value(flt: Filter) -> tuple[bool, tuple[str, str] | None]:
    """Whether the day book's daily totals can answer for the filter, and the one dimension's value besides
    the town it narrows to, as a day book cell's (dim, key)."""
    others = {k: v for k, v in asdict(replace(flt, town=None)).items() if v not in (None, "")}
    if len(others) > 1:
        return False, None
    if not others:
        return True, None
    ((name, value),) = others.items()
    return True, ("facility" if name == "facility_id" else name, str(value))


async def _book_trend(
    conn: AsyncConnection, unit: str, buckets: list[Bucket], flt: Filter, only: GroupKey | None
) -> bool:
    """Fill the buckets from the day book's weeks or months (of one value's group, with `only`) and the rows
    since 00:00 of its `through`. False (buckets untouched) when it holds nothing."""
    through = await _through(conn)
    if through is None:
        return False
    width = len(DAYBOOK_FLOWS)
    dim = only or ("severity", "")
    t = stats_periods.c
    starts = [b.period.start for b in buckets if b.period.start < through]
    stored = _stored(
        stats_periods, DAYBOOK_FLOWS, flt, only, t.unit == unit, t.start.in_(starts), t.dim == dim[0]
    )
    per_start: dict[date, list[int]] = defaultdict(lambda: [0] * width)
    for row in (await conn.execute(stored.add_columns(t.start))).all():
        if row.dim == dim[0]:
            for n, value in enumerate(row[3 : 3 + width]):
                per_start[row.start][n] += int(value)
    midnight = local_midnight(through)
    for bucket in buckets:
        counts = per_start[bucket.period.start]
        since = max(bucket.period.start_utc, midnight)
        if since < bucket.period.end_utc:
            tail = await cell_counts(
                conn, _tail_sums(bucket.period, since, None), _tail_rows(bucket.period, since, flt)
            )
            for (_, cell_dim, _), values in tail.items():
                if cell_dim == dim[0]:
                    counts = [a + b for a, b in zip(counts, values, strict=True)]
        named = dict(zip(DAYBOOK_FLOWS, counts, strict=True))
        bucket.found, bucket.closed = named["found"], named["closed"]
        bucket.closed_of_found, bucket.on_time = named["closed_of_found"], named["on_time"]
    return True


# --- days to close ----------------------------------------------------------------------------------------


class DaysBetween(FunctionElement[int]):
    """Calendar days from the local (China Standard Time, UTC+8 all year) day of one stored UTC moment to that
    of another, worked out by the database: counting them in Python means parsing every moment first."""

    type = Integer()
    inherit_cache = True
    name = "days_between"


@compiles(DaysBetween, "sqlite")
def _days_between_sqlite(element: DaysBetween, compiler: Any, **kw: Any) -> str:
    first, last = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(julianday(date({last}, '+8 hours')) - julianday(date({first}, '+8 hours')) AS INTEGER)"


@compiles(DaysBetween, "postgresql")
def _days_between_postgresql(element: DaysBetween, compiler: Any, **kw: Any) -> str:
    first, last = (compiler.process(c, **kw) for c in element.clauses)
    return f"(CAST({last} + INTERVAL '8 hours' AS DATE) - CAST({first} + INTERVAL '8 hours' AS DATE))"


@dataclass
class DaysToClose:
    count: int
    median: float | None
    p90: float | None


def days_to_close_of(histogram: Counter[int]) -> DaysToClose:
    """Count, median and 90th percentile (nearest rank) of days to close from {days: findings closed}, read off
    the histogram's running total: a month holds tens of thousands of closings but a hundred distinct days."""
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
    histogram: Counter[int] = Counter()
    unit = unit_of(period)
    through = None if exact_rows or unit is None or not _town_only(flt) else await _through(conn)
    since = period.start_utc
    if through is not None and period.start < through:
        t = stats_close_days.c
        where = [t.unit == unit, t.start == period.start, *([t.town == flt.town] if flt.town else [])]
        stored = select(t.days, func.sum(t.closed)).where(*where).group_by(t.days)
        histogram.update({int(d): int(n) for d, n in (await conn.execute(stored)).all()})
        since = max(since, local_midnight(through))
    if since < period.end_utc:
        days = DaysBetween(f.c.reported_at, f.c.closed_at).label("days")
        query = (
            _base([days, func.count()], flt).where(_in(f.c.closed_at, since, period.end_utc)).group_by(days)
        )
        histogram.update({int(n_days): int(n) for n_days, n in (await conn.execute(query)).all()})
    return days_to_close_of(histogram)


def _town_only(flt: Filter) -> bool:
    return replace(flt, town=None) == Filter()


# --- lists ------------------------------------------------------------------------------------------------

LIST_COLUMNS = [
    f.c.id,
    f.c.item_code,
    f.c.item_zh,
    f.c.item_en,
    f.c.category,
    f.c.severity,
    f.c.status,
    f.c.reported_at,
    f.c.due_day,
    f.c.due_at,
    f.c.closed_at,
    f.c.escalation_level,
    f.c.owner_name,
    f.c.round,
    f.c.facility_id,
    f.c.town,
    f.c.facility_type,
    f.c.mode,
]


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
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, date):
                out[key] = value.isoformat()
        return out


def _row(row: Any, moment: datetime, today: date, names: dict[int, tuple[str, str]]) -> FindingRow:
    # By position: reading two hundred rows by column name costs more than their query. LIST_COLUMNS are
    # FindingRow's fields in order, with due_at (9) besides and without the facility's name and days overdue.
    due_day, due_at, closed = row[8], row[9], row[10]
    overdue = None
    if due_day is not None and closed is None and due_at is not None and due_at < moment:
        overdue = (today - due_day).days
    return FindingRow(*row[:9], *row[10:15], names[row[14]][0], *row[15:], overdue)


def _stock_parts(
    metric: str, span: Span, where: list[ColumnElement[bool]]
) -> list[list[ColumnElement[bool]]]:
    """A stock's findings as two disjoint ranges of the covering closed_at index: unclosed, or closed at or
    after the moment (given the whole predicate, the planner walks every finding reported before the moment;
    given it again in each range, SQLite checks each row against both ranges: 20 ms, not 8, for 59,000)."""
    rest = [*_stock_terms(metric, span), *where]
    return [[part, *rest] for part in open_parts(span.moment)]


def _ids(metric: str, span: Span, where: list[ColumnElement[bool]]) -> Any:
    """The ids behind one figure."""
    if metric not in STOCKS:
        return select(f.c.id).where(_condition(metric, span), *where)
    return union_all(*(select(f.c.id).where(*part) for part in _stock_parts(metric, span, where)))


def _listed(metric: str, span: Span, where: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    return f.c.id.in_(_ids(metric, span, where)) if metric in STOCKS else _condition(metric, span)


async def finding_ids(
    conn: AsyncConnection, metric: str, period: Period, flt: Filter, now: datetime
) -> list[int]:
    """The ids of the findings behind one figure, in id order: `len()` of this is the figure."""
    span, where = Span.of(period, now), flt.clauses()
    query = select(f.c.id).where(*where, _listed(metric, span, where)).order_by(f.c.id)
    return list((await conn.execute(query)).scalars())


async def finding_count(
    conn: AsyncConnection, metric: str, period: Period, flt: Filter, now: datetime
) -> int:
    """How many findings finding_list lists: for a stock, a count of each range of the closed_at index."""
    span, where = Span.of(period, now), flt.clauses()
    if metric not in STOCKS:
        return int(
            (await conn.execute(select(func.count()).where(_condition(metric, span), *where))).scalar_one()
        )
    counts = [
        select(func.count()).where(*part).scalar_subquery() for part in _stock_parts(metric, span, where)
    ]
    return int((await conn.execute(select(counts[0] + counts[1]))).scalar_one())


async def finding_list(
    conn: AsyncConnection,
    metric: str,
    period: Period,
    flt: Filter,
    now: datetime,
    limit: int | None = None,
    offset: int = 0,
) -> list[FindingRow]:
    """The findings behind one figure with what a reader needs to check them; overdue ones oldest first.
    A page of them with `limit` and `offset`: its ids first, from an index alone where it can, then its rows."""
    span, where = Span.of(period, now), flt.clauses()
    order = [f.c.due_at if metric == "overdue" else f.c.reported_at, f.c.id]
    if limit is None:
        query = select(*LIST_COLUMNS).where(*where, _listed(metric, span, where))
    else:
        page = (
            select(f.c.id)
            .where(*where, _condition(metric, span))
            .order_by(*order)
            .limit(limit)
            .offset(offset)
        )
        query = select(*LIST_COLUMNS).where(f.c.id.in_(page))
    rows = (await conn.execute(query.order_by(*order))).all()
    names = await _facility_names(conn, [r[14] for r in rows])
    return [_row(r, span.moment, local_day(span.moment), names) for r in rows]


async def overdue_list(
    conn: AsyncConnection, period: Period, flt: Filter, now: datetime, limit: int | None = None
) -> list[FindingRow]:
    """Overdue at the period's as-of moment, oldest deadline first, with days overdue (calendar days after
    the deadline day), escalation level and owner."""
    return await finding_list(conn, "overdue", period, flt, now, limit)


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
    names = await _facility_names(conn, [key for _, key, _ in ranked])
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


def findings_url(metric: str, period: Period, flt: Filter, base: str = "/dashboard/findings") -> str:
    """Where the list behind a figure is shown: `/dashboard/findings?metric=overdue&from=…&to=…&town=…`."""
    return f"{base}?{_metric_query(metric)}&{_span_and_scope(period, flt)}"


@cache
def _metric_query(metric: str) -> str:
    return urlencode({"metric": metric})


@lru_cache(maxsize=4096)
def _span_and_scope(period: Period, flt: Filter) -> str:
    # A page links each group's figures, one URL per figure: the part they share is encoded once.
    return urlencode({"from": period.start.isoformat(), "to": period.end.isoformat(), **flt.params()})


def hand_written_group_by() -> str:
    """The baseline the bench compares against: one GROUP BY over the findings table."""
    return (
        "SELECT fa.town, COUNT(*) FROM findings fi JOIN facilities fa ON fa.id = fi.facility_id "
        "WHERE fi.reported_at >= :start AND fi.reported_at < :end GROUP BY fa.town"
    )
