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
- open_major (未销号重大事故隐患): open at T and severity major — the figure that must reach zero.
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
    bindparam,
    case,
    func,
    literal,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Integer

from tracker.domain.model import Severity
from tracker.stats import daybook
from tracker.stats.periods import Period, local_day, local_midnight
from tracker.store.tables import (
    DAYBOOK_FLOWS,
    DAYBOOK_STOCKS,
    STATS_COLUMNS,
    facilities,
    findings,
    history,
    stats_overdue_members,
    stats_overdue_passed,
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
_DIMENSION_COLUMN = {
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

    def shape(self) -> tuple[str, ...]:
        """The fields set: what a statement built once per shape filters by (_narrowing)."""
        return tuple(name for name, _ in self._set())

    def bound(self) -> dict[str, Any]:
        """The values of _narrowing's parameters."""
        return {f"f_{name}": value for name, value in self._set()}


_FILTER_FIELDS = [each.name for each in fields(Filter)]


def _narrowing(shape: tuple[str, ...]) -> list[ColumnElement[bool]]:
    """Filter.clauses with the values as parameters (Filter.bound), for a statement built once."""
    return [f.c[name] == bindparam(f"f_{name}") for name in shape]


def _in(column: Any, start: Any, end: Any) -> ColumnElement[bool]:
    return and_(column >= start, column < end)


@dataclass(frozen=True)
class Span:
    """What a period's conditions are drawn from: its bounds and as-of moment, as values (`of`), or as the
    parameters of a statement built once per shape (`parameters`); and whether the moment is now."""

    start: Any
    end: Any
    moment: Any
    present: bool

    @classmethod
    def of(cls, period: Period, now: datetime) -> Span:
        moment = period.as_of(now)
        return cls(period.start_utc, period.end_utc, moment, moment == now)

    @classmethod
    def parameters(cls, present: bool) -> Span:
        return cls(bindparam("start"), bindparam("end"), bindparam("moment"), present)

    def values(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "moment": self.moment}


def _open_parts(moment: Any, c: Any = f.c) -> list[ColumnElement[bool]]:
    # Reported before the moment and not closed before it, as two ranges of the closed_at index.
    return [
        and_(c.closed_at.is_(None), c.reported_at < moment),
        and_(c.closed_at >= moment, c.reported_at < moment),
    ]


def open_at(moment: Any, c: Any = f.c) -> ColumnElement[bool]:
    return or_(*_open_parts(moment, c))


def _stock_terms(metric: str, span: Span, c: Any = f.c) -> list[ColumnElement[bool]]:
    """What a stock asks of a finding open at the span's moment, besides being open."""
    if metric == "open":
        return []
    if metric == "open_major":
        return [c.severity == Severity.MAJOR.value]
    if metric == "overdue":
        return _overdue_terms(span.moment, c, span.present)
    raise ValueError(f"not a stock: {metric!r}")


def _overdue_terms(moment: Any, c: Any, present: bool) -> list[ColumnElement[bool]]:
    at_facility = (
        c.status == "ordered"
        if present
        else or_(c.submitted_at.is_(None), c.submitted_at >= moment, c.status == "ordered")
    )
    return [c.due_at.is_not(None), c.due_at < moment, at_facility]


def overdue_at(moment: datetime, c: Any = f.c, present: bool = False) -> ColumnElement[bool]:
    """`present`: the moment is now, and the status itself says whether the finding is at the facility."""
    return and_(open_at(moment, c), *_overdue_terms(moment, c, present))


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
        return and_(_in(c.reported_at, start, end), c.severity == Severity.MAJOR.value)
    if metric == "repeat":
        return and_(_in(c.reported_at, start, end), c.is_repeat)
    if metric == "repeat_major":
        return and_(_in(c.reported_at, start, end), c.is_repeat, c.severity == Severity.MAJOR.value)
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
        column = _DIMENSION_COLUMN[dimension]
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
    answer (see _book_counts), else from the findings rows. `exact_rows` reads the rows regardless."""
    one = _one_value(flt)[1]
    if not exact_rows and dimensions and one is not None:
        # A month narrowed to one value: from the day book of that value, when it holds the month.
        dims = [one[0], *(d for d in dimensions if d != one[0])]
        groups = await _value_counts(conn, period, flt.town, one, now, dims)
        if groups is not None:
            return _from_groups(groups, dimensions, once=one[0])
    if not exact_rows and not dimensions and one is not None:
        # The totals of one value of one dimension are that value's group in the day book: in the day book of
        # that value when it holds the month (one group read), else among its dimension's groups.
        groups = await _value_counts(conn, period, flt.town, one, now, [one[0]])
        if groups is None:
            groups = await _book_counts(conn, period, Filter(town=flt.town), now, [one[0]])
        if groups is not None:
            return groups.get(one, dict.fromkeys(TALLIES, 0)), {}
    if not exact_rows and _town_only(flt):
        # Every finding is in one severity group: the totals need those only.
        dims = ["severity", *(d for d in dimensions if d != "severity")]
        book = await _book_counts(conn, period, flt, now, dims)
        if book is not None:
            return _from_groups(book, dimensions)
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


_EVERY_FACILITY = select(facilities.c.id, facilities.c.name, facilities.c.town)


async def _facility_names(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """(name, town) of the facilities `ids`; within one_reading(), of every facility, read once for the page."""
    memo = daybook.reading_memo()
    if memo is not None:
        if "facilities" not in memo:
            every = await conn.execute(_EVERY_FACILITY)
            memo["facilities"] = {id_: (name, town) for id_, name, town in every.all()}
        return memo["facilities"]
    if not ids:
        return {}
    rows = await conn.execute(
        select(facilities.c.id, facilities.c.name, facilities.c.town).where(
            facilities.c.id.in_(sorted(set(ids)))
        )
    )
    return {id_: (name, town) for id_, name, town in rows.all()}


async def facility_towns(conn: AsyncConnection) -> list[str]:
    """Every town with a facility, in order; within one_reading(), from the facilities read once for the page."""
    if daybook.reading_memo() is not None:
        return sorted({town for _, town in (await _facility_names(conn, [])).values()})
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
    if dimension not in _DIMENSION_COLUMN:
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


# --- from the day book ------------------------------------------------------------------------------------


# The flow that gives closed_of_found over the days of a week or a calendar month.
def _closed_of_found_flow(period: Period) -> str | None:
    if period.is_month():
        return "closed_same_month"
    if period.days == 7 and period.start.weekday() == 0:
        return "closed_same_week"
    return None


def _town_only(flt: Filter) -> bool:
    """The day book is kept per town and one dimension at a time: it answers when the figures are filtered by
    town or not at all. A month narrowed to one value more is the day book of one value's (_value_counts);
    other drill-downs read the rows."""
    return replace(flt, town=None) == Filter()


GroupKey = daybook.Group
_F = daybook.FLOW_INDEX
NO_FLOWS = [0] * len(DAYBOOK_FLOWS)
NO_STOCKS = [0] * len(DAYBOOK_STOCKS)
# The columns of daybook.GROUP_DIMENSIONS, in its order.
_GROUP_COLUMNS = [f.c.town, f.c.facility_type, f.c.facility_id, f.c.category, f.c.severity, f.c.mode]


@cache
def _overdue_changes(one_town: bool, of_dim: str | None = None, with_passed: bool = False) -> Any:
    """The findings that move "overdue" since 00:00 (see _overdue_now), each with its sign: one statement,
    built once, run with the moments (and town, and the key of one value of `of_dim`) as parameters. With
    `with_passed`, the day book's count holds the deadlines passed up to the moment `passed` already."""
    midnight, passed, now = bindparam("midnight"), bindparam("passed"), bindparam("now")
    here = [f.c.town == bindparam("town")] if one_town else []
    if of_dim is not None:
        here.append(f.c[_DIMENSION_COLUMN[of_dim]] == bindparam("of_key"))
    changed = select(history.c.finding_id).where(history.c.at >= midnight)
    counted = [stats_overdue_members, *([stats_overdue_passed] if with_passed else [])]
    counted_changed = [select(t.c.finding_id).where(t.c.finding_id.in_(changed)) for t in counted]
    members_changed = select(*_GROUP_COLUMNS, literal_column("-1").label("sign")).where(
        f.c.id.in_(counted_changed[0] if len(counted_changed) == 1 else union_all(*counted_changed)), *here
    )
    overdue_changed = select(*_GROUP_COLUMNS, literal_column("1").label("sign")).where(
        f.c.id.in_(changed), f.c.status == "ordered", f.c.due_at < now, *here
    )
    passed_since = select(*_GROUP_COLUMNS, literal_column("1").label("sign")).where(
        f.c.status == "ordered", f.c.due_at >= passed, f.c.due_at < now, f.c.id.not_in(changed), *here
    )
    return union_all(members_changed, overdue_changed, passed_since)


async def _overdue_now(
    conn: AsyncConnection,
    now: datetime,
    through: date,
    counted: dict[GroupKey, list[int]],
    town: str | None,
    wanted: frozenset[str],
    of: tuple[str, str] | None = None,
    passed_until: datetime | None = None,
) -> Counter[GroupKey]:
    """Overdue now (status ordered, deadline passed) per group, from the day book's count at today's 00:00 (M)
    in `counted` and what changed since. A finding with no history since M is in the same state as at M:
    overdue now if it was at M, or if its deadline passed since M. So: overdue at M, less the members of M
    that changed since, plus the changed ones overdue now, plus the unchanged ones whose deadline passed since
    M. With `passed_until` (stats_running's count), `counted` holds those whose deadline passed before that
    moment too (stats_overdue_passed, as the catch-up found them): the ones of them changed since go, as
    members of M do, and only the deadlines passed since that moment are read."""
    midnight = local_midnight(through)
    params: dict[str, Any] = {"midnight": midnight, "passed": passed_until or midnight, "now": now}
    if town is not None:
        params["town"] = town
    if of is not None:
        params["of_key"] = int(of[1]) if of[0] == "facility" else of[1]
    statement = _overdue_changes(town is not None, of[0] if of else None, passed_until is not None)
    rows = (await conn.execute(statement, params)).all()
    stock = DAYBOOK_STOCKS.index("overdue")
    out: Counter[GroupKey] = Counter({g: c[stock] for g, c in counted.items() if c[stock]})
    for sign in (1, -1):
        signed = [row for row in rows if int(row[-1]) == sign]
        # Each wanted dimension's keys of the findings that move it, counted at once (Counter counts in C).
        for column, dim in enumerate(daybook.GROUP_DIMENSIONS):
            if dim in wanted:
                keys = Counter(row[column] for row in signed)
                for key, n in keys.items():
                    out[(dim, str(key) if dim == "facility" else key)] += sign * n
    return out


def _add_counts(into: dict[GroupKey, list[int]], group: GroupKey, counts: Sequence[int]) -> None:
    row = into.get(group)
    if row is None:
        into[group] = list(counts)
    else:
        for n, value in enumerate(counts):
            row[n] += value


async def _book_counts(
    conn: AsyncConnection,
    period: Period,
    flt: Filter,
    now: datetime,
    dims: Sequence[str] = daybook.GROUP_DIMENSIONS,
) -> dict[GroupKey, dict[str, int]] | None:
    """Every count of the period per group (dimension, key) of the dimensions `dims` (the town among them or
    not) from the day book: the stored days' flows, the later days' flows worked out from their rows by the
    day book's own rules, and the stocks at the end of the period (stored) or now (the stock at today's 00:00
    moved by today's flows; overdue from the rows). None when the day book has not caught up far enough."""
    held = await daybook.state(conn)
    if held is None:
        return None
    through, upto = held.through, held.upto
    start, end, today = period.start, period.end, local_day(now)
    running = period.as_of(now) < period.end_utc
    if (running and (through != today or start > today or now < upto)) or (not running and end > through):
        return None
    wanted = frozenset(dims)
    # The running month while the day book holds the day in progress: its days, the day in progress and the
    # stocks at that moment are one read (stats_running; overdue in it is at today's 00:00).
    whole_so_far = running and held.partial and period.is_month()
    flows: dict[GroupKey, list[int]] = {}
    stocks: dict[GroupKey, list[int]] = {}
    if whole_so_far:
        width = len(DAYBOOK_FLOWS)
        for group, counts in (await daybook.group_sums(conn, "running", start, None, flt.town, dims)).items():
            flows[group], stocks[group] = counts[:width], counts[width:]
    elif start < min(end, through):
        flows = (
            await daybook.group_sums(conn, "months", start, None, flt.town, dims)  # its days before `through`
            if period.is_month()
            else await daybook.group_sums(conn, "flows", start, min(end, through), flt.town, dims)
        )
    partial: dict[GroupKey, list[int]] = {}  # the day in progress, up to `upto`
    tail = None  # and what happened since, from the rows
    if start <= through < end:
        if held.partial and not whole_so_far:
            partial = await daybook.group_sums(
                conn, "flows", through, through + timedelta(days=1), flt.town, dims
            )
            for group, counts in partial.items():
                _add_counts(flows, group, counts)
        tail = await daybook.tail(conn, upto, flt.town)
        for day, per_group in tail.flows.items():
            if start <= day < end:
                for group, counts in per_group.items():
                    if group[0] in wanted:
                        _add_counts(flows, group, counts)
    if running:
        assert tail is not None  # a running period holds the day in progress (checked above)
        if not whole_so_far:
            stocks = await daybook.group_sums(conn, "stocks", today, None, flt.town, dims)
        # stats_running counts the deadlines passed up to `upto` already (stats_overdue_passed).
        overdue = await _overdue_now(
            conn, now, today, stocks, flt.town, wanted, passed_until=held.upto if whole_so_far else None
        )
        # Open now = open at today's 00:00 + found since - closed since (before now, as open_at reads it): what
        # the day book holds of today, then the rows since.
        for group, counts in partial.items():
            row = stocks.setdefault(group, list(NO_STOCKS))
            row[0] += counts[_F["found"]] - counts[_F["closed"]]
            row[1] += counts[_F["found_major"]] - counts[_F["closed_major"]]
        _move_open(stocks, tail.facts, upto, now, wanted)
        _set_overdue(stocks, overdue)
    else:
        stocks = await daybook.group_sums(conn, "stocks", end, None, flt.town, dims)
    same = _closed_of_found_flow(period)
    # The day book knows closed_of_found for a week or a month; for other periods it is counted from the rows.
    of_found = await _closed_of_found_rows(conn, period, flt.town, dims) if same is None else {}
    return _group_counts(flows, stocks, same, of_found)


def _move_open(
    stocks: dict[GroupKey, list[int]],
    facts: Sequence[Any],
    since: datetime,
    now: datetime,
    wanted: frozenset[str],
) -> None:
    """Open and open major at `since` (in `stocks`) moved to `now` by the findings reported or closed between,
    of `facts`: those found add, those closed take away (closed before now, as open_at reads it)."""
    # (stock column, sign) -> the groups of each finding that moves it, counted at once below.
    moved: dict[tuple[int, int], list[GroupKey]] = defaultdict(list)
    for fact in facts:
        found = since <= fact.reported_at < now
        if found != (fact.closed_at is not None and since <= fact.closed_at < now):
            sign = 1 if found else -1
            fact_groups = daybook.groups(fact)
            moved[(0, sign)].extend(fact_groups)
            if fact.severity == Severity.MAJOR:
                moved[(1, sign)].extend(fact_groups)
    for (column, sign), listed in moved.items():
        for group, n in Counter(listed).items():
            if group[0] in wanted:
                stocks.setdefault(group, list(NO_STOCKS))[column] += sign * n


def _set_overdue(stocks: dict[GroupKey, list[int]], overdue: Counter[GroupKey]) -> None:
    for group in stocks.keys() | overdue.keys():
        stocks.setdefault(group, list(NO_STOCKS))[2] = overdue.get(group, 0)


def _group_counts(
    flows: dict[GroupKey, list[int]],
    stocks: dict[GroupKey, list[int]],
    same: str | None,
    of_found: dict[GroupKey, int],
) -> dict[GroupKey, dict[str, int]]:
    """The counts per group from the day book's flows and stocks; closed_of_found from the flow `same`, else
    from `of_found`."""
    same_column = _F[same] if same else None
    out: dict[GroupKey, dict[str, int]] = {}
    for group in flows.keys() | stocks.keys():
        fl = flows.get(group, NO_FLOWS)
        found, closed, on_time, found_major, repeat, repeat_major = _FLOW_COUNTS(fl)
        open_, open_major, overdue = stocks.get(group, NO_STOCKS)
        out[group] = {
            "found": found,
            "closed": closed,
            "closed_of_found": of_found.get(group, 0) if same_column is None else fl[same_column],
            "on_time": on_time,
            "open": open_,
            "overdue": overdue,
            "open_major": open_major,
            "found_major": found_major,
            "repeat": repeat,
            "repeat_major": repeat_major,
        }
    return out


_FLOW_COUNTS = itemgetter(
    *(_F[n] for n in ("found", "closed", "on_time", "found_major", "repeat", "repeat_major"))
)


def _value_book_holds(held: daybook.State | None, period: Period, now: datetime) -> bool:
    """Whether the day book of one value answers for the period: a month it holds to its end, or the running
    month with the day book caught up to today."""
    if held is None or not held.values or not period.is_month():
        return False
    today = local_day(now)
    if period.as_of(now) < period.end_utc:
        return held.through == today and period.start <= today and now >= held.upto
    return period.end <= held.through


async def _value_counts(
    conn: AsyncConnection,
    period: Period,
    town: str | None,
    of: tuple[str, str],
    now: datetime,
    dims: Sequence[str],
) -> dict[GroupKey, dict[str, int]] | None:
    """Every count of a month, of the findings with the value `of`, per group of `dims` (of's dimension among
    them), from the day book of one value: the month's stored days' flows and, for the running month, today's;
    the stocks at the month's end (stored) or now (today's 00:00 moved by today's findings; overdue as
    _overdue_now). Today's up to the moment the day book holds are stored with it, and what happened since
    comes from the rows (all of today's, while it does not hold the day in progress). None when it does not
    hold the month."""
    held = await daybook.state(conn)
    if not _value_book_holds(held, period, now):
        return None
    assert held is not None
    wanted = frozenset(dims)
    if period.as_of(now) >= period.end_utc:
        flows = await daybook.group_sums(conn, "value_months", period.start, None, town, dims, of)
        stocks = await daybook.group_sums(conn, "value_stocks", period.end, None, town, dims, of)
        return _group_counts(flows, stocks, "closed_same_month", {})
    today = held.through
    if held.partial:
        width = len(DAYBOOK_FLOWS)
        flows, stocks = {}, {}
        for group, counts in (
            await daybook.value_running_sums(conn, period.start, today, town, dims, of)
        ).items():
            flows[group], stocks[group] = counts[:width], counts[width:]
        since = held.upto
        tail = daybook.narrowed(await daybook.tail(conn, since, town), since, of)
    else:
        flows = await daybook.group_sums(conn, "value_months", period.start, None, town, dims, of)
        stocks = await daybook.group_sums(conn, "value_stocks", today, None, town, dims, of)
        since = local_midnight(today)
        tail = await daybook.tail(conn, since, town, of)
    for group, counts in tail.flows.get(today, {}).items():
        if group[0] in wanted:
            _add_counts(flows, group, counts)
    overdue = await _overdue_now(conn, now, today, stocks, town, wanted, of)
    _move_open(stocks, tail.facts, since, now, wanted)
    _set_overdue(stocks, overdue)
    return _group_counts(flows, stocks, "closed_same_month", {})


async def _closed_of_found_rows(
    conn: AsyncConnection, period: Period, town: str | None, dims: Sequence[str]
) -> dict[GroupKey, int]:
    """closed_of_found per group, from the rows: a range of the reported_at index per dimension."""
    where = [predicate("closed_of_found", period, period.end_utc)]
    if town is not None:
        where.append(f.c.town == town)
    out: dict[GroupKey, int] = {}
    for dim in dims:
        column = f.c[_DIMENSION_COLUMN[dim]]
        query = select(column, func.count()).where(*where).group_by(column)
        for key, n in (await conn.execute(query)).all():
            out[(dim, str(key))] = int(n)
    return out


def _from_groups(
    groups: dict[GroupKey, dict[str, int]], dimensions: Sequence[str], once: str = "severity"
) -> tuple[dict[str, int], dict[str, Sums]]:
    """Totals and per-dimension sums from groups. Every finding is in exactly one group of the dimension
    `once`, so the totals are the sums of those."""
    totals: dict[str, int] = dict.fromkeys(COUNTS, 0)
    sums: dict[str, Sums] = {d: {} for d in dimensions}
    for (dim, key), counts in groups.items():
        if dim == once:
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
    if not exact_rows and answers and await _book_trend(conn, unit, out, flt.town, only):
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
    conn: AsyncConnection, unit: str, buckets: list[Bucket], town: str | None, only: tuple[str, str] | None
) -> bool:
    """Fill the buckets from the day book's daily totals (of one dimension's value, with `only`) and, for the
    days it does not hold yet, the rows. False (buckets untouched) when it holds nothing."""
    held = await daybook.state(conn)
    if held is None:
        return False
    through, upto = held.through, held.upto
    first, after = buckets[0].period.start, buckets[-1].period.end
    same = "closed_same_week" if unit == "week" else "closed_same_month"
    days: dict[date, Counter[str]] = defaultdict(Counter)  # a month's stored days are summed on its first day
    if unit == "month":  # the months' complete days, then the day in progress up to `upto`
        stored = [
            await daybook.month_sums(conn, first, buckets[-1].period.start, town, totals=True, only=only)
        ]
        if first <= through < after and held.partial:
            day_after = through + timedelta(days=1)
            stored.append(await daybook.flow_sums(conn, through, day_after, town, by_day=True, only=only))
    else:  # the days, the one in progress with them
        last = min(after, held.stored_after)
        stored = (
            [await daybook.flow_sums(conn, first, last, town, by_day=True, only=only)] if first < last else []
        )
    for sums in stored:
        for (day,), counts in sums.items():
            days[day].update(counts)
    if through < after:
        for day, per_group in (await daybook.tail(conn, upto, town)).flows.items():
            if first <= day < after:
                # The day's totals are its severity groups'; one value's are its group's.
                rows = (
                    [c for (dim, _), c in per_group.items() if dim == "severity"]
                    if only is None
                    else [per_group.get(only, NO_FLOWS)]
                )
                for counts in rows:
                    days[day].update(dict(zip(DAYBOOK_FLOWS, counts, strict=True)))
    for bucket in buckets:
        for day, counts in days.items():
            if bucket.period.start <= day < bucket.period.end:
                bucket.found += counts["found"]
                bucket.closed += counts["closed"]
                bucket.closed_of_found += counts[same]
                bucket.on_time += counts["on_time"]
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
    one = _one_value(flt)[1]
    if not exact_rows and one is not None:
        held = await daybook.state(conn)
        if _value_book_holds(held, period, now):
            assert held is not None
            histogram.update(await daybook.value_close_day_counts(conn, one, period.start, flt.town))
            if period.as_of(now) < period.end_utc:  # and today's: stored up to a moment, then from the rows
                today = held.through
                if held.partial:
                    histogram.update(await daybook.value_today_close_day_counts(conn, one, today, flt.town))
                    tail = daybook.narrowed(await daybook.tail(conn, held.upto, flt.town), held.upto, one)
                else:
                    tail = await daybook.tail(conn, local_midnight(today), flt.town, one)
                histogram.update(tail.closings.get(today, Counter()))
            return days_to_close_of(histogram)
    held = None if exact_rows or not _town_only(flt) else await daybook.state(conn)
    if held is None:
        days = DaysBetween(f.c.reported_at, f.c.closed_at).label("days")
        query = _base([days, func.count()], flt).where(predicate("closed", period, now)).group_by(days)
        histogram.update({int(n_days): int(n) for n_days, n in (await conn.execute(query)).all()})
        return days_to_close_of(histogram)
    start, end = period.start, period.end
    through, upto = held.through, held.upto
    if period.is_month() and held.values:
        # A month's days before `through` as one row per town and days: the day book of one value's, summed
        # over the severities (each finding is in one); the day in progress from its own rows.
        histogram.update(await daybook.value_close_day_counts(conn, ("severity", None), start, flt.town))
        if start <= through < end and held.partial:
            histogram.update(
                await daybook.close_day_counts(conn, through, through + timedelta(days=1), flt.town)
            )
    else:
        stored = min(end, held.stored_after)  # the day in progress with the others, up to `upto`
        if start < stored:
            histogram.update(await daybook.close_day_counts(conn, start, stored, flt.town))
    if through < end:
        for day, closed in (await daybook.tail(conn, upto, flt.town)).closings.items():
            if start <= day < end:
                histogram.update(closed)
    return days_to_close_of(histogram)


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
    return [[part, *rest] for part in _open_parts(span.moment)]


def _ids(metric: str, span: Span, where: list[ColumnElement[bool]]) -> Any:
    """The ids behind one figure."""
    if metric not in STOCKS:
        return select(f.c.id).where(_condition(metric, span), *where)
    return union_all(*(select(f.c.id).where(*part) for part in _stock_parts(metric, span, where)))


# The statements behind a figure are built once per shape (the metric, whether its moment is now, the filters
# set) and run with the period, the moment and the filters' values as parameters (_parameters): built per
# call, the two lists of a page cost its client more than PostgreSQL took to answer them.


def _parameters(period: Period, flt: Filter, now: datetime) -> tuple[bool, dict[str, Any]]:
    """Whether the period's moment is now (a statement's shape depends on it) and the statement's parameters."""
    span = Span.of(period, now)
    return span.present, {**span.values(), **flt.bound()}


def _listed(metric: str, span: Span, where: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    return f.c.id.in_(_ids(metric, span, where)) if metric in STOCKS else _condition(metric, span)


@cache
def _ids_query(metric: str, present: bool, shape: tuple[str, ...]) -> Any:
    where = _narrowing(shape)
    return select(f.c.id).where(*where, _listed(metric, Span.parameters(present), where)).order_by(f.c.id)


@cache
def _count_query(metric: str, present: bool, shape: tuple[str, ...]) -> Any:
    span, where = Span.parameters(present), _narrowing(shape)
    if metric in STOCKS:  # a count of each range, added up
        counts = [
            select(func.count()).select_from(f).where(*part).scalar_subquery()
            for part in _stock_parts(metric, span, where)
        ]
        return select(counts[0] + counts[1])
    return select(func.count()).select_from(_ids(metric, span, where).subquery())


@cache
def _list_query(metric: str, present: bool, shape: tuple[str, ...], paged: bool) -> Any:
    """finding_list's statement; `paged`, with the parameters limit and offset."""
    span, where = Span.parameters(present), _narrowing(shape)
    order = [f.c.due_at if metric == "overdue" else f.c.reported_at, f.c.id]
    if not paged:
        query = select(*LIST_COLUMNS).where(*where, _listed(metric, span, where))
    else:
        # A page's ids first, from the list's index alone where it carries them, then those rows: checked row
        # by row, PostgreSQL read some thousand majors' rows to find the first 50 still open.
        page = (
            select(f.c.id)
            .where(*where, _condition(metric, span))
            .order_by(*order)
            .limit(bindparam("limit"))
            .offset(bindparam("offset"))
        )
        query = select(*LIST_COLUMNS).where(f.c.id.in_(page))
    return query.order_by(*order)


async def finding_ids(
    conn: AsyncConnection, metric: str, period: Period, flt: Filter, now: datetime
) -> list[int]:
    """The ids of the findings behind one figure, in id order: `len()` of this is the figure."""
    present, params = _parameters(period, flt, now)
    query = _ids_query(metric, present, flt.shape())
    return list((await conn.execute(query, params)).scalars())


async def finding_count(
    conn: AsyncConnection, metric: str, period: Period, flt: Filter, now: datetime
) -> int:
    """How many findings finding_list lists."""
    present, params = _parameters(period, flt, now)
    return int((await conn.execute(_count_query(metric, present, flt.shape()), params)).scalar_one())


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
    A page of them with `limit` and `offset`."""
    # The facility names are read after: joined, SQLite's planner may start from the facilities and walk
    # every finding of each (seen with the moment as a bound parameter).
    present, params = _parameters(period, flt, now)
    if limit is not None:
        params.update(limit=limit, offset=offset)
    query = _list_query(metric, present, flt.shape(), limit is not None)
    moment = period.as_of(now)
    rows = (await conn.execute(query, params)).all()
    names = await _facility_names(conn, [r[14] for r in rows])
    return [_row(r, moment, local_day(moment), names) for r in rows]


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


@cache
def _escalations_query(shape: tuple[str, ...]) -> Any:
    return (
        select(f.c.id, history.c.data, history.c.at)
        .join(history, history.c.finding_id == f.c.id)
        .where(
            *_narrowing(shape),
            history.c.action == "escalated",
            _in(history.c.at, bindparam("start"), bindparam("end")),
        )
        .order_by(history.c.at, history.c.id)
    )


async def escalations(conn: AsyncConnection, period: Period, flt: Filter) -> list[tuple[int, int, datetime]]:
    """(finding id, level, when) of every escalation raised in the period."""
    params = {"start": period.start_utc, "end": period.end_utc, **flt.bound()}
    rows = (await conn.execute(_escalations_query(flt.shape()), params)).all()
    return [(r.id, int((r.data or {}).get("level", 0)), r.at) for r in rows]


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


__all__ = [
    "COUNTS",
    "DIMENSIONS",
    "METRICS",
    "RATES",
    "STOCKS",
    "Bucket",
    "DaysToClose",
    "FacilityCount",
    "Figures",
    "Filter",
    "FindingRow",
    "Group",
    "Summary",
    "breakdown",
    "days_to_close",
    "days_to_close_of",
    "escalations",
    "facility_towns",
    "figures",
    "finding_count",
    "finding_ids",
    "finding_list",
    "findings_url",
    "hand_written_group_by",
    "overdue_list",
    "overview",
    "predicate",
    "summary",
    "top_facilities",
    "top_from",
    "trend",
    "trend_periods",
]
