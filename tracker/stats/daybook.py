"""The day book: the dashboard's figures of every completed local day, kept so that a month's page reads a few
thousand rows rather than every finding.

For each town and each value of each dimension (facility type, facility, category, severity, mode) it holds:

- the flows of each day D before `through`: findings found on D, closed on D, closed on D by their deadline,
  closed on D in the same week or month they were found in (what a week's or month's closure rate needs), and
  the majors and repeats among them;
- the same flows summed per month (its days before `through`), so a month is one row per cell;
- the stocks at 00:00 of each day D up to and including `through`: open, open major, overdue;
- how many calendar days each finding closed on D took, from the day it was found (days to close);
- which findings were overdue at 00:00 of `through`, and whose deadline passed since, up to the moment the
  day in progress is held to, with no other change: with the day's history they give "overdue now".

The day book of one value holds the same per month for the findings with one value of one dimension, per
town and value of every dimension, and its day in progress too (see tracker.store.tables).

All of it is worked out from the findings rows by the pure functions below, which follow the definitions in
tracker.stats.query (the tests hold the two equal on crafted and random data and through the real loop).
`catch_up` adds the days completed since the last run (the scheduler calls it every few minutes); `rebuild`
starts over (`tracker stats rebuild`, after findings were loaded by other means than the loop). Days from
`through` on are read from the findings rows, so a day book that lags makes the page slower, never wrong.

A completed day never changes: the loop writes every change at the clock's now. Should the clock ever stand
before `through` (set back by hand), `touch` pulls `through` back to now's day in the writer's transaction.
"""

from __future__ import annotations

import asyncio
import logging
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import (
    Date,
    String,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tracker.domain.model import Severity
from tracker.stats.periods import local_day, local_midnight
from tracker.store.db import read_only
from tracker.store.tables import (
    DAYBOOK_DIMENSIONS,
    DAYBOOK_FLOWS,
    DAYBOOK_STOCKS,
    findings,
    history,
    stats_close_days,
    stats_flows,
    stats_months,
    stats_overdue_members,
    stats_overdue_passed,
    stats_running,
    stats_state,
    stats_stocks,
    stats_value_close_days,
    stats_value_months,
    stats_value_stocks,
    stats_value_today,
    stats_value_today_close_days,
)

log = logging.getLogger(__name__)
f = findings

# The columns of a finding the day book reads.
FACT_COLUMNS = (
    f.c.id,
    f.c.reported_at,
    f.c.closed_at,
    f.c.due_at,
    f.c.submitted_at,
    f.c.status,
    f.c.severity,
    f.c.category,
    f.c.facility_id,
    f.c.town,
    f.c.facility_type,
    f.c.mode,
    f.c.is_repeat,
)

Cell = tuple[str, str, str]  # (town, dimension, key): what the day book stores
Group = tuple[str, str]  # (dimension, key): what a page reads, summed over the towns in scope
GROUP_DIMENSIONS = ("town", *DAYBOOK_DIMENSIONS)
FLOW_INDEX = {name: n for n, name in enumerate(DAYBOOK_FLOWS)}


class Fact(NamedTuple):
    """One finding as the day book reads it (a plain tuple: database rows are slow to read by name)."""

    id: int
    reported_at: datetime
    closed_at: datetime | None
    due_at: datetime | None
    submitted_at: datetime | None
    status: str
    severity: str
    category: str
    facility_id: int
    town: str
    facility_type: str
    mode: str
    is_repeat: bool


async def read_facts(conn: AsyncConnection, query: Any) -> list[Fact]:
    return [Fact._make(row) for row in (await conn.execute(query)).all()]


# China Standard Time has been UTC+8 all year since 1991: adding the offset is local_day() without a time-zone
# lookup, many times faster over a million findings (a unit test holds the two equal).
_CST = timedelta(hours=8)


def day_of(moment: datetime) -> date:
    """The local (China Standard Time) day of an aware UTC moment."""
    return (moment + _CST).date()


def cells(fact: Any) -> tuple[Cell, ...]:
    """The cells one finding counts in: its town and its value of each dimension."""
    town = fact.town
    return (
        (town, "facility_type", fact.facility_type),
        (town, "facility", str(fact.facility_id)),
        (town, "category", fact.category),
        (town, "severity", fact.severity),
        (town, "mode", fact.mode),
    )


def groups(fact: Any) -> tuple[Group, ...]:
    """The groups one finding counts in, as a dashboard breaks figures down: its town and its value of each
    dimension (in GROUP_DIMENSIONS' order)."""
    return (
        ("town", fact.town),
        ("facility_type", fact.facility_type),
        ("facility", str(fact.facility_id)),
        ("category", fact.category),
        ("severity", fact.severity),
        ("mode", fact.mode),
    )


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def flows_of(fact: Any) -> list[tuple[date, str]]:
    """(day, flow) for each flow the finding counts in: found on the day it was reported, closed on the day it
    was closed. Matches tracker.stats.query.predicate for found, found_major, repeat, closed and on_time; a
    week's or month's closed_of_found is the sum of closed_same_week or closed_same_month over its days."""
    found = day_of(fact.reported_at)
    major = fact.severity == Severity.MAJOR
    out = [(found, "found")]
    if major:
        out.append((found, "found_major"))
    if fact.is_repeat:
        out.append((found, "repeat"))
        if major:
            out.append((found, "repeat_major"))
    if fact.closed_at is not None:
        closed = day_of(fact.closed_at)
        out.append((closed, "closed"))
        if major:
            out.append((closed, "closed_major"))
        if fact.due_at is not None and fact.closed_at <= fact.due_at:
            out.append((closed, "on_time"))
        if week_start(found) == week_start(closed):
            out.append((closed, "closed_same_week"))
        if (found.year, found.month) == (closed.year, closed.month):
            out.append((closed, "closed_same_month"))
    return out


# The flows counted on the day a finding was reported; the others are counted on the day it was closed.
FOUND_FLOWS = frozenset({"found", "found_major", "repeat", "repeat_major"})


def flows_before(fact: Any, until: datetime) -> list[tuple[date, str]]:
    """flows_of, less the flows of what happened at or after `until` (the finding as it stood then)."""
    closed_later = fact.closed_at is not None and fact.closed_at >= until
    if fact.reported_at >= until:
        return []
    return [(d, flow) for d, flow in flows_of(fact) if not closed_later or flow in FOUND_FLOWS]


def flows_from(fact: Any, since: datetime) -> list[tuple[date, str]]:
    """flows_of, of what happened at or after `since` only."""
    found_then = fact.reported_at >= since
    closed_then = fact.closed_at is not None and fact.closed_at >= since
    return [(d, flow) for d, flow in flows_of(fact) if (found_then if flow in FOUND_FLOWS else closed_then)]


def stock_spans(fact: Any) -> list[tuple[str, date, date | None]]:
    """(stock, first day, last day or None for still running) of the days D at whose 00:00 the finding counts
    in the stock. With M the 00:00 of D, tracker.stats.query says: open when reported before M and not closed
    before M; overdue when also its deadline passed before M and it was at the facility at M."""
    found = day_of(fact.reported_at)
    closed = day_of(fact.closed_at) if fact.closed_at is not None else None
    out: list[tuple[str, date, date | None]] = [("open", found + timedelta(days=1), closed)]
    if fact.severity == Severity.MAJOR:
        out.append(("open_major", found + timedelta(days=1), closed))
    if fact.due_at is not None:
        first = max(found, day_of(fact.due_at)) + timedelta(days=1)
        ends = [day for day in (closed,) if day is not None]
        if not (fact.submitted_at is None or fact.status == "ordered"):
            ends.append(day_of(fact.submitted_at))
        last = min(ends) if ends else None
        if last is None or last >= first:
            out.append(("overdue", first, last))
    return out


def days_to_close(fact: Any) -> tuple[date, int] | None:
    """(day closed, calendar days from the day found to the day closed) of a closed finding."""
    if fact.closed_at is None:
        return None
    closed = day_of(fact.closed_at)
    return closed, (closed - day_of(fact.reported_at)).days


@dataclass
class Book:
    """What the day book stores for a range of days, worked out from findings in memory."""

    flows: dict[tuple[date, Cell], list[int]]  # counts in the order of DAYBOOK_FLOWS
    stocks: dict[tuple[date, Cell], list[int]]  # counts in the order of DAYBOOK_STOCKS
    close_days: Counter[tuple[date, str, int]]
    overdue_at_end: list[int]  # ids of the findings overdue at 00:00 of the last stock day


def compute(
    facts: Iterable[Any], flow_days: tuple[date, date], stock_days: tuple[date, date], until: datetime
) -> Book:
    """The flows of the days in [flow_days), the stocks of the days in [stock_days) and the days to close of the
    findings closed in [flow_days), of what happened before `until` (which falls within the last flow day or at
    its end). `facts` must hold every finding that counts in any of them: those reported or closed in the flow
    days, and those open at any 00:00 of the stock days."""
    flow_from, flow_to = flow_days
    stock_from, stock_to = stock_days
    # Counters of cells per (day, flow), and of stock spans starting and ending per (stock, day): a finding
    # adds its five cells to each with one Counter.update.
    by_flow: dict[tuple[date, str], Counter[Cell]] = defaultdict(Counter)
    starts: dict[tuple[str, date], Counter[Cell]] = defaultdict(Counter)
    stops: dict[tuple[str, date], Counter[Cell]] = defaultdict(Counter)
    close_days: Counter[tuple[date, str, int]] = Counter()
    last_day = stock_to - timedelta(days=1)
    overdue_at_end: list[int] = []
    for fact in facts:
        fact_cells = cells(fact)
        for day, flow in flows_before(fact, until):
            if flow_from <= day < flow_to:
                by_flow[(day, flow)].update(fact_cells)
        for stock, first, last in stock_spans(fact):
            start = max(first, stock_from)
            stop = stock_to if last is None else min(last + timedelta(days=1), stock_to)
            if start < stop:
                starts[(stock, start)].update(fact_cells)
                if stop < stock_to:
                    stops[(stock, stop)].update(fact_cells)
                elif stock == "overdue" and start <= last_day:
                    overdue_at_end.append(fact.id)
        closing = days_to_close(fact)
        if closing is not None and flow_from <= closing[0] < flow_to and fact.closed_at < until:
            close_days[(closing[0], fact.town, closing[1])] += 1
    flows = _counted(by_flow, DAYBOOK_FLOWS)
    stocks: dict[tuple[date, Cell], list[int]] = {}
    for column, stock in enumerate(DAYBOOK_STOCKS):
        level: Counter[Cell] = Counter()
        for day in _days(stock_from, stock_to):
            level.update(starts.get((stock, day), ()))
            ended = stops.get((stock, day))
            if ended:
                level.subtract(ended)
                level = +level  # drops the cells at zero
            for cell, n in level.items():
                row = stocks.get((day, cell))
                if row is None:
                    row = stocks[(day, cell)] = [0] * len(DAYBOOK_STOCKS)
                row[column] = n
    return Book(flows, stocks, close_days, overdue_at_end)


def _counted(per_name: dict[tuple[date, str], Counter[Any]], names: Sequence[str]) -> dict[Any, list[int]]:
    """Counters of cells per (day, count name) as one row of counts (in `names`' order) per (day, cell)."""
    out: dict[Any, list[int]] = {}
    for (day, name), counted in per_name.items():
        column = names.index(name)
        for cell, n in counted.items():
            row = out.get((day, cell))
            if row is None:
                row = out[(day, cell)] = [0] * len(names)
            row[column] = n
    return out


ValueCell = tuple[
    str, str, str, str, str
]  # (town, of_dim, of_key, dim, key): what the day book of one value stores


def value_cells(fact: Any) -> tuple[ValueCell, ...]:
    """The cells one finding counts in in the day book of one value: for each of its values (of_dim, of_key), its
    town and its value of each dimension, of_dim's own among them."""
    town = fact.town
    values = [(dim, key) for _, dim, key in cells(fact)]
    return tuple((town, of_dim, of_key, dim, key) for of_dim, of_key in values for dim, key in values)


def month_starts(first: date, last: date) -> list[date]:
    """The first days of the months in [first, last]."""
    out = []
    month = first.replace(day=1)
    while month <= last:
        if month >= first:
            out.append(month)
        month = (month + timedelta(days=32)).replace(day=1)
    return out


@dataclass
class ValueBook:
    """What the day book of one value stores for a range of months, worked out from findings in memory."""

    months: dict[tuple[date, ValueCell], list[int]]  # per month's first day, in the order of DAYBOOK_FLOWS
    stocks: dict[tuple[date, ValueCell], list[int]]  # in the order of DAYBOOK_STOCKS
    close_days: Counter[tuple[str, str, date, str, int]]  # (of_dim, of_key, month, town, days to close)


def compute_values(
    facts: Iterable[Any], first_month: date, today: date, stock_days: Sequence[date]
) -> ValueBook:
    """The day book of one value: the flows of the days in [first_month, today) summed per month, the stocks at
    00:00 of each of `stock_days`, and the days to close of the findings closed in those days. `facts` must hold
    every finding reported or closed from first_month on, and those open at any of the stock days."""
    # The cells are counted as numbers, each finding's found once per combination of its values: 25 cells a
    # finding, hashing tuples of strings would cost most of the time.
    by_flow: dict[tuple[date, str], Counter[int]] = defaultdict(Counter)
    # Spans of stock days (indexes into `days`) starting and ending per (stock, index), summed up below.
    starts: dict[tuple[str, int], Counter[int]] = defaultdict(Counter)
    stops: dict[tuple[str, int], Counter[int]] = defaultdict(Counter)
    close_days: Counter[tuple[str, str, date, str, int]] = Counter()
    days = sorted(stock_days)
    number: dict[ValueCell, int] = {}
    numbered: dict[tuple[Any, ...], tuple[int, ...]] = {}

    def cells_of(fact: Any) -> tuple[int, ...]:
        values = (fact.town, fact.facility_type, fact.facility_id, fact.category, fact.severity, fact.mode)
        found = numbered.get(values)
        if found is None:
            found = numbered[values] = tuple(number.setdefault(c, len(number)) for c in value_cells(fact))
        return found

    for fact in facts:
        fact_cells: tuple[int, ...] = ()
        for day, flow in flows_of(fact):
            if first_month <= day < today:
                fact_cells = fact_cells or cells_of(fact)
                by_flow[(day.replace(day=1), flow)].update(fact_cells)
        for stock, first, last in stock_spans(fact):
            start = bisect_left(days, first)
            stop = len(days) if last is None else bisect_right(days, last)
            if start < stop:
                fact_cells = fact_cells or cells_of(fact)
                starts[(stock, start)].update(fact_cells)
                if stop < len(days):
                    stops[(stock, stop)].update(fact_cells)
        closing = days_to_close(fact)
        if closing is not None and first_month <= closing[0] < today:
            month = closing[0].replace(day=1)
            for _, dim, key in cells(fact):
                close_days[(dim, key, month, fact.town, closing[1])] += 1
    by_stock: dict[tuple[date, str], Counter[int]] = {}
    for stock in DAYBOOK_STOCKS:
        level: Counter[int] = Counter()
        for n, day in enumerate(days):
            level.update(starts.get((stock, n), ()))
            level.subtract(stops.get((stock, n), ()))
            by_stock[(day, stock)] = +level  # without the cells at zero
    cell = list(number)
    return ValueBook(
        {(day, cell[n]): counts for (day, n), counts in _counted(by_flow, DAYBOOK_FLOWS).items()},
        {(day, cell[n]): counts for (day, n), counts in _counted(by_stock, DAYBOOK_STOCKS).items()},
        close_days,
    )


def value_of(fact: Any, dim: str) -> str:
    """A finding's value of one dimension, as the day book's cells key it."""
    return str(fact.facility_id) if dim == "facility" else getattr(fact, dim)


@dataclass
class ValueToday:
    """The day in progress of the day book of one value, worked out from findings in memory."""

    flows: dict[ValueCell, list[int]]  # in the order of DAYBOOK_FLOWS
    close_days: Counter[tuple[str, str, str, int]]  # (of_dim, of_key, town, days to close)


def compute_value_today(facts: Iterable[Any], today: date, until: datetime) -> ValueToday:
    """The flows of the day `today` and the days to close of the findings closed on it, in the day book of one
    value, of what happened before `until` (within that day or at its end). `facts` must hold every finding
    reported or closed that day; others are passed over."""
    midnight = local_midnight(today)
    flows: dict[ValueCell, list[int]] = {}
    close_days: Counter[tuple[str, str, str, int]] = Counter()
    width = len(DAYBOOK_FLOWS)
    for fact in facts:
        if fact.reported_at < midnight and (fact.closed_at is None or fact.closed_at < midnight):
            continue
        columns = [FLOW_INDEX[flow] for day, flow in flows_before(fact, until) if day == today]
        if not columns:
            continue
        for cell in value_cells(fact):
            row = flows.get(cell)
            if row is None:
                row = flows[cell] = [0] * width
            for column in columns:
                row[column] += 1
        closing = days_to_close(fact)
        if closing is not None and closing[0] == today and fact.closed_at < until:
            for _, dim, key in cells(fact):
                close_days[(dim, key, fact.town, closing[1])] += 1
    return ValueToday(flows, close_days)


def _days(first: date, after: date) -> Iterable[date]:
    day = first
    while day < after:
        yield day
        day += timedelta(days=1)


# --- storing -------------------------------------------------------------------------------------------------


# What one page reads once (see one_reading): the state, what happened since it per town, the facility names.
_reading: ContextVar[dict[Any, Any] | None] = ContextVar("reading", default=None)


class State(NamedTuple):
    through: date  # the day book holds every day before it...
    upto: datetime  # ...and what happened on it before this moment (its 00:00 when nothing of it)
    values_through: date | None = None  # the `through` the day book of one value was written for

    @property
    def values(self) -> bool:
        """Whether the day book of one value holds what `through` says (it is written once a day)."""
        return self.values_through == self.through

    @property
    def partial(self) -> bool:
        """Whether the rows of day `through` in stats_flows and stats_close_days are to be read."""
        return self.upto > local_midnight(self.through)

    @property
    def stored_after(self) -> date:
        """The day after the last one whose rows in stats_flows and stats_close_days are to be read."""
        return self.through + timedelta(days=1) if self.partial else self.through


_STATE = select(stats_state.c.through, stats_state.c.partial_until, stats_state.c.values_through).where(
    stats_state.c.id == 1
)


async def state(conn: AsyncConnection) -> State | None:
    """How far the day book has caught up; None when it holds nothing. Read once within one_reading()."""
    memo = _reading.get()
    if memo is not None and "state" in memo:
        return memo["state"]
    row = (await conn.execute(_STATE)).first()
    found = None
    if row is not None and row.through is not None:
        found = State(row.through, row.partial_until or local_midnight(row.through), row.values_through)
    if memo is not None:
        memo["state"] = found
    return found


async def through(conn: AsyncConnection) -> date | None:
    """The first day the day book does not hold all of; None when it holds nothing."""
    held = await state(conn)
    return held.through if held else None


async def touch(conn: AsyncConnection, now: datetime) -> None:
    """Call in any transaction that changes a finding at `now`: if the clock stands before what the day book
    holds, what it holds from now's day on is handed back to the rows."""
    today = local_day(now)
    t = stats_state.c
    await conn.execute(
        update(stats_state)
        .where(t.id == 1, or_(t.through > today, t.partial_until > now))
        .values(through=case((t.through > today, today), else_=t.through), partial_until=None)
    )


async def reopen(conn: AsyncConnection, day: date) -> None:
    """Call when a finding found on `day` changes a dimension after the fact (a downgrade approved turns it
    general): what the day book holds from that day on, and of the day in progress, is handed back to the rows,
    and the next catch_up works it out again."""
    t = stats_state.c
    await conn.execute(
        update(stats_state)
        .where(t.id == 1, t.through >= day)
        .values(through=case((t.through > day, day), else_=t.through), partial_until=None)
    )


def _facts_query(since: date | None, until: datetime) -> Any:
    """Every finding that counts in the flows from the day `since` to the moment `until` or the stocks at the
    00:00s after `since` up to `until`: reported before `until`, and not closed before `since`."""
    query = select(*FACT_COLUMNS).where(f.c.reported_at < until)
    if since is not None:
        query = query.where(or_(f.c.closed_at.is_(None), f.c.closed_at >= local_midnight(since)))
    return query


def _rows(book: Book) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    def cell_row(day: date, cell: Cell, counts: list[int], names: Sequence[str]) -> dict[str, Any]:
        town, dim, key = cell
        return {"day": day, "town": town, "dim": dim, "key": key, **dict(zip(names, counts, strict=True))}

    flows = [cell_row(day, cell, c, DAYBOOK_FLOWS) for (day, cell), c in book.flows.items()]
    stocks = [cell_row(day, cell, c, DAYBOOK_STOCKS) for (day, cell), c in book.stocks.items()]
    close = [
        {"day": day, "town": town, "days": days, "closed": n}
        for (day, town, days), n in book.close_days.items()
    ]
    return flows, stocks, close


CHUNK = 20_000  # rows per transaction


async def _insert(conn: AsyncConnection, table: Any, rows: list[dict[str, Any]], chunk: int = 5000) -> None:
    for n in range(0, len(rows), chunk):
        await conn.execute(insert(table), rows[n : n + chunk])


def _month_rows(
    book: Book, prior: dict[tuple[Any, ...], dict[str, int]], first_month: date, today: date
) -> list[dict[str, Any]]:
    """The month rows from the new days' flows before `today` (the day in progress is left out) and the same
    month's earlier days (`prior`)."""
    months: dict[tuple[date, Cell], list[int]] = {}

    def add(month: date, cell: Cell, counts: Sequence[int]) -> None:
        row = months.setdefault((month, cell), [0] * len(DAYBOOK_FLOWS))
        for n, value in enumerate(counts):
            row[n] += value

    for (town, dim, key), counts in prior.items():
        add(first_month, (town, dim, key), [counts[n] for n in DAYBOOK_FLOWS])
    for (day, cell), counts in book.flows.items():
        if day < today:
            add(day.replace(day=1), cell, counts)
    return [
        {"day": month, "town": town, "dim": dim, "key": key, **dict(zip(DAYBOOK_FLOWS, counts, strict=True))}
        for (month, (town, dim, key)), counts in months.items()
    ]


# Writers take their `now` before they wait for the write lock (up to SQLite's busy timeout) and commit. The
# day book is kept up to a moment this far behind the clock, so that nothing written with an earlier `now` can
# still be on its way when it is read.
LAG = timedelta(minutes=5)


async def catch_up(engine: AsyncEngine, now: datetime) -> date | None:
    """Bring the day book up to `now` less LAG: every day completed by then, and the day in progress up to that
    moment. Returns the new `through`, or None when there was nothing to add or another writer moved the day
    book meanwhile (the next call picks it up)."""
    upto = now - LAG
    today = local_day(upto)
    async with read_only(engine) as conn:
        held = await state(conn)
        if held is not None and (held.through > today or held.upto >= upto):
            return None
        if held is not None and held.through == today:
            if held.values:
                facts = await facts_since(conn, local_midnight(today), None)
            else:  # a clock set back: the day book of one value is worked out again for today's month
                facts = await read_facts(conn, _facts_query(today.replace(day=1), upto))
        else:
            if held is None:
                first = (
                    await conn.execute(select(f.c.reported_at).order_by(f.c.reported_at).limit(1))
                ).scalar()
                start = local_day(first) if first is not None and first < upto else today
            else:
                start = held.through
            first_month = start.replace(day=1)
            prior = await flow_sums(conn, first_month, start, None) if held is not None else {}
            # From the month's first day: the day book of one value works its month out again.
            facts = await read_facts(conn, _facts_query(first_month if held else None, upto))
    if held is not None and held.through == today:
        return await _refresh_today(engine, held, facts, upto)
    # Flows of [start, today]; stocks at the 00:00s after the last run's (its own stay), through today's. Worked
    # out in a thread: the first run over a large database takes a while, and the event loop keeps serving.
    book = await asyncio.to_thread(
        compute,
        facts,
        (start, today + timedelta(days=1)),
        (start if held is None else held.through + timedelta(days=1), today + timedelta(days=1)),
        upto,
    )
    flows, stocks, close = _rows(book)
    months = _month_rows(book, prior, first_month, today)
    # The day book of one value: its months from first_month's on again, its stocks at the month starts since
    # the last run's `through` and at today's 00:00.
    stocks_from = first_month if held is None else held.through + timedelta(days=1)
    stock_days = sorted({*month_starts(stocks_from, today), today})
    value_rows = _value_rows(await asyncio.to_thread(compute_values, facts, first_month, today, stock_days))
    value_today = _value_today_rows(await asyncio.to_thread(compute_value_today, facts, today, upto), today)
    # Readers trust what `stats_state` says only, so the new days' rows can go in over several short
    # transactions (SQLite's writers are not kept waiting by a first build over a large database); the month
    # rows, the members of "overdue" and the state itself change together, last.
    async with engine.begin() as conn:
        if await state(conn) != held:
            return None
        if held is None:  # a first build: whatever an unfinished one left goes
            for table in (stats_flows, stats_close_days, stats_stocks, *VALUE_TABLES):
                await conn.execute(delete(table))
        else:
            await conn.execute(delete(stats_flows).where(stats_flows.c.day >= start))
            await conn.execute(delete(stats_close_days).where(stats_close_days.c.day >= start))
            await conn.execute(delete(stats_stocks).where(stats_stocks.c.day > held.through))
    written = [(stats_flows, flows), (stats_stocks, stocks), (stats_close_days, close)]
    if held is None:  # unread until the state says so: in short transactions too
        written += list(zip(VALUE_TABLES, value_rows, strict=True))
    for table, rows in written:
        for n in range(0, len(rows), CHUNK):
            async with engine.begin() as conn:
                await _insert(conn, table, rows[n : n + CHUNK])
    async with engine.begin() as conn:
        if await state(conn) != held:
            return (
                None  # the rows written stay beyond what the state says, unread, and the next run clears them
            )
        await conn.execute(delete(stats_months).where(stats_months.c.day >= first_month))
        await _insert(conn, stats_months, months)
        await conn.execute(delete(stats_overdue_members))
        await _insert(conn, stats_overdue_members, [{"finding_id": i} for i in book.overdue_at_end])
        if held is not None:
            await _replace_values(conn, value_rows, first_month, held.through, stock_days)
        await _write_passed(conn, today, upto)
        await _write_running(conn, today)
        await _write_value_today(conn, value_today)
        await conn.execute(delete(stats_state))
        await conn.execute(
            insert(stats_state).values(id=1, through=today, partial_until=upto, values_through=today)
        )
    log.info(
        "day book holds the days before %s and that day up to %s (%d flow rows, %d stock rows)",
        today,
        upto.isoformat(),
        len(flows),
        len(stocks),
    )
    return today


VALUE_TABLES = (stats_value_months, stats_value_stocks, stats_value_close_days)
# Every table of the day book but its state.
TABLES = (
    stats_flows,
    stats_months,
    stats_stocks,
    stats_close_days,
    stats_overdue_members,
    stats_overdue_passed,
    stats_running,
    *VALUE_TABLES,
    stats_value_today,
    stats_value_today_close_days,
)


async def _write_passed(conn: AsyncConnection, today: date, upto: datetime) -> None:
    """Store the findings whose deadline passed from today's 00:00 to `upto`, still ordered and unchanged since
    00:00: what tracker.stats.query reads of them for overdue now (a finding with no history since 00:00 is
    as it was then), counted here in one statement, over one snapshot of the rows."""
    midnight = local_midnight(today)
    changed = select(history.c.finding_id).where(history.c.at >= midnight)
    passed = select(f.c.id).where(
        f.c.status == "ordered", f.c.due_at >= midnight, f.c.due_at < upto, f.c.id.not_in(changed)
    )
    await conn.execute(delete(stats_overdue_passed))
    await conn.execute(insert(stats_overdue_passed).from_select(["finding_id"], passed))


async def _write_running(conn: AsyncConnection, today: date) -> None:
    """Work stats_running out again, in SQL, from what the transaction has written: the running month's rows,
    the day in progress (which moves open and open major from today's 00:00 to its moment), the stocks at
    today's 00:00 and the deadlines passed since (stats_overdue_passed, overdue)."""
    month = today.replace(day=1)
    zero = literal_column("0")

    def cells(t: Any) -> list[Any]:
        return [t.c.dim, t.c.town, t.c.key]

    def passed_cells(dim: str) -> Any:
        key = cast(f.c.facility_id, String) if dim == "facility" else f.c[dim]
        return (
            select(
                literal_column(f"'{dim}'"),
                f.c.town,
                key,
                *(zero for _ in DAYBOOK_FLOWS),
                zero,
                zero,
                func.count(),
            )
            .select_from(f.join(stats_overdue_passed, stats_overdue_passed.c.finding_id == f.c.id))
            .group_by(f.c.town, key)
        )

    m, fl, st = stats_months, stats_flows, stats_stocks
    parts = union_all(
        select(*cells(m), *(m.c[n] for n in DAYBOOK_FLOWS), *(zero.label(n) for n in DAYBOOK_STOCKS)).where(
            m.c.day == month
        ),
        select(
            *cells(fl),
            *(fl.c[n] for n in DAYBOOK_FLOWS),
            fl.c.found - fl.c.closed,
            fl.c.found_major - fl.c.closed_major,
            zero,
        ).where(fl.c.day == today),
        select(*cells(st), *(zero for _ in DAYBOOK_FLOWS), *(st.c[n] for n in DAYBOOK_STOCKS)).where(
            st.c.day == today
        ),
        *(passed_cells(dim) for dim in DAYBOOK_DIMENSIONS),
    ).subquery()
    counts = (*DAYBOOK_FLOWS, *DAYBOOK_STOCKS)
    summed = select(
        parts.c.dim, literal(month, Date), parts.c.town, parts.c.key, *(func.sum(parts.c[n]) for n in counts)
    ).group_by(parts.c.dim, parts.c.town, parts.c.key)
    await conn.execute(delete(stats_running))
    await conn.execute(insert(stats_running).from_select(["dim", "day", "town", "key", *counts], summed))


def _value_rows(book: ValueBook) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    def cell_row(day: date, cell: ValueCell, counts: list[int], names: Sequence[str]) -> dict[str, Any]:
        town, of_dim, of_key, dim, key = cell
        return {
            "of_dim": of_dim,
            "of_key": of_key,
            "day": day,
            "town": town,
            "dim": dim,
            "key": key,
            **dict(zip(names, counts, strict=True)),
        }

    months = [cell_row(day, cell, c, DAYBOOK_FLOWS) for (day, cell), c in book.months.items()]
    stocks = [cell_row(day, cell, c, DAYBOOK_STOCKS) for (day, cell), c in book.stocks.items()]
    close = [
        {"of_dim": of_dim, "of_key": of_key, "day": month, "town": town, "days": days, "closed": n}
        for (of_dim, of_key, month, town, days), n in book.close_days.items()
    ]
    return months, stocks, close


def _value_today_rows(book: ValueToday, today: date) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    flows = [
        {
            "of_dim": of_dim,
            "of_key": of_key,
            "day": today,
            "town": town,
            "dim": dim,
            "key": key,
            **dict(zip(DAYBOOK_FLOWS, counts, strict=True)),
        }
        for (town, of_dim, of_key, dim, key), counts in book.flows.items()
    ]
    close = [
        {"of_dim": of_dim, "of_key": of_key, "day": today, "town": town, "days": days, "closed": n}
        for (of_dim, of_key, town, days), n in book.close_days.items()
    ]
    return flows, close


async def _write_value_today(conn: AsyncConnection, rows: tuple[list[dict[str, Any]], ...]) -> None:
    """Replace the day in progress of the day book of one value (of the day the state's `through` will say)."""
    flows, close = rows
    await conn.execute(delete(stats_value_today))
    await conn.execute(delete(stats_value_today_close_days))
    await _insert(conn, stats_value_today, flows)
    await _insert(conn, stats_value_today_close_days, close)


async def _replace_values(
    conn: AsyncConnection,
    rows: tuple[list[dict[str, Any]], ...],
    first_month: date,
    last_through: date,
    stock_days: Sequence[date],
) -> None:
    """Write the day book of one value of a catch-up over the last run's: its months from `first_month` on and
    its stocks at `stock_days`. Of the stocks stored, those after the last run's `through` go, and that day's
    too unless it is a month's first day not worked out anew."""
    months, stocks, close = rows
    await conn.execute(delete(stats_value_months).where(stats_value_months.c.day >= first_month))
    await conn.execute(delete(stats_value_close_days).where(stats_value_close_days.c.day >= first_month))
    day = stats_value_stocks.c.day
    keep_last = last_through.day == 1 and last_through not in stock_days
    await conn.execute(
        delete(stats_value_stocks).where(day > last_through if keep_last else day >= last_through)
    )
    await _insert(conn, stats_value_months, months)
    await _insert(conn, stats_value_stocks, stocks)
    await _insert(conn, stats_value_close_days, close)


async def _refresh_today(engine: AsyncEngine, held: State, facts: list[Fact], upto: datetime) -> date | None:
    """Store the flows and days to close of the day in progress up to `upto`, from the findings reported or
    closed on it (`facts`)."""
    today = held.through
    book = compute(facts, (today, today + timedelta(days=1)), (today, today), upto)
    flows, _, close = _rows(book)
    first_month = today.replace(day=1)
    value_rows = None if held.values else _value_rows(compute_values(facts, first_month, today, [today]))
    # Some thousand findings by the day's end, 25 cells each: in a thread, as the event loop keeps serving.
    value_today = _value_today_rows(await asyncio.to_thread(compute_value_today, facts, today, upto), today)
    async with engine.begin() as conn:
        if await state(conn) != held:
            return None
        await conn.execute(delete(stats_flows).where(stats_flows.c.day >= today))
        await conn.execute(delete(stats_close_days).where(stats_close_days.c.day >= today))
        await _insert(conn, stats_flows, flows)
        await _insert(conn, stats_close_days, close)
        if value_rows is not None:
            await _replace_values(conn, value_rows, first_month, today, [today])
        await _write_passed(conn, today, upto)
        await _write_running(conn, today)
        await _write_value_today(conn, value_today)
        await conn.execute(
            update(stats_state).where(stats_state.c.id == 1).values(partial_until=upto, values_through=today)
        )
    return today


async def clear(engine: AsyncEngine) -> None:
    """Empty the day book: every figure comes from the rows until the next catch_up."""
    async with engine.begin() as conn:
        await conn.execute(delete(stats_state))
        for table in TABLES:
            await conn.execute(delete(table))


async def rebuild(engine: AsyncEngine, now: datetime) -> date | None:
    """Start the day book over from the findings rows."""
    await clear(engine)
    return await catch_up(engine, now)


# --- reading -------------------------------------------------------------------------------------------------


@cache
def _flow_query(table: str, per_day: bool, dims: tuple[str, ...], one_value: bool, one_town: bool) -> Any:
    """The statement of _flow_sums, built once per shape (see _group_query)."""
    t = _TABLES[table]
    sums = [_sum(t.c[n]).label(n) for n in DAYBOOK_FLOWS]
    if not per_day:
        where = [t.c.dim.in_(dims)]
    elif not one_value:  # the severity rows hold every finding once: per-day totals are theirs
        where = [t.c.dim == "severity"]
    else:  # the totals of the findings with one value of one dimension
        where = [t.c.dim == bindparam("only_dim"), t.c.key == bindparam("only_key")]
    where += [t.c.day >= bindparam("first"), t.c.day < bindparam("after")]
    if one_town:
        where.append(t.c.town == bindparam("town"))
    keys = [t.c.day] if per_day else [t.c.town, t.c.dim, t.c.key]
    return select(*keys, *sums).where(*where).group_by(*keys)


async def _flow_sums(
    conn: AsyncConnection,
    table: str,
    first: date,
    after: date,
    town: str | None,
    per_day: bool,
    dims: Sequence[str],
    only: tuple[str, str] | None = None,
) -> dict[tuple[Any, ...], dict[str, int]]:
    query = _flow_query(table, per_day, tuple(dims), only is not None, town is not None)
    params: dict[str, Any] = {"first": first, "after": after}
    if only is not None:
        params["only_dim"], params["only_key"] = only
    if town is not None:
        params["town"] = town
    width = 1 if per_day else 3
    out: dict[tuple[Any, ...], dict[str, int]] = {}
    for row in (await conn.execute(query, params)).all():
        out[tuple(row[:width])] = dict(zip(DAYBOOK_FLOWS, map(int, row[width:]), strict=True))
    return out


async def flow_sums(
    conn: AsyncConnection,
    first: date,
    after: date,
    town: str | None,
    by_day: bool = False,
    dims: Sequence[str] = DAYBOOK_DIMENSIONS,
    only: tuple[str, str] | None = None,
) -> dict[tuple[Any, ...], dict[str, int]]:
    """The flows of the days in [first, after) summed per (town, dim, key), or per day with `by_day` (of the
    findings with the value `only` = (dim, key) of one dimension, if given)."""
    return await _flow_sums(conn, "flows", first, after, town, by_day, dims, only)


async def month_sums(
    conn: AsyncConnection,
    first_month: date,
    last_month: date,
    town: str | None,
    totals: bool = False,
    dims: Sequence[str] = DAYBOOK_DIMENSIONS,
    only: tuple[str, str] | None = None,
) -> dict[tuple[Any, ...], dict[str, int]]:
    """The flows of the months from `first_month` to `last_month` (their first days), of their days before
    `through`: per (town, dim, key), or per month with `totals` (as flow_sums' `only`)."""
    after = last_month + timedelta(days=1)
    return await _flow_sums(conn, "months", first_month, after, town, totals, dims, only)


_TABLES = {
    "flows": stats_flows,
    "months": stats_months,
    "stocks": stats_stocks,
    "running": stats_running,
    "value_months": stats_value_months,
    "value_stocks": stats_value_stocks,
}
_COUNTS = {
    "stocks": DAYBOOK_STOCKS,
    "value_stocks": DAYBOOK_STOCKS,
    "running": DAYBOOK_FLOWS + DAYBOOK_STOCKS,
}


@cache
def _group_query(table: str, dims: tuple[str, ...], span: bool, one_town: bool) -> Any:
    """The sums per group of one day's rows of `table` (with `span`, of the days in [first, after)), of every
    town or one. A dimension's group sums its cells over the towns; a town's group sums the town's severity
    cells, which hold each finding once (in the day book of one value, the cells of that value's dimension).
    Built once per shape and run with the days, town and value as parameters: a page runs several and building
    them costs more than SQLite takes to answer."""
    t = _TABLES[table]
    names = _COUNTS.get(table, DAYBOOK_FLOWS)
    where = (
        [t.c.day >= bindparam("first"), t.c.day < bindparam("after")]
        if span
        else [t.c.day == bindparam("first")]
    )
    once = "severity"
    if table.startswith("value_"):
        where += [t.c.of_dim == bindparam("of_dim"), t.c.of_key == bindparam("of_key")]
        once = bindparam("of_dim")
    if one_town:
        where.append(t.c.town == bindparam("town"))
    sums = [_sum(t.c[n]) for n in names]
    parts = []
    by_key = [d for d in dims if d != "town"]
    if by_key:
        parts.append(
            select(t.c.dim, t.c.key, *sums).where(t.c.dim.in_(by_key), *where).group_by(t.c.dim, t.c.key)
        )
    if "town" in dims:
        parts.append(
            select(literal_column("'town'"), t.c.town, *sums)
            .where(t.c.dim == once, *where)
            .group_by(t.c.town)
        )
    return parts[0] if len(parts) == 1 else union_all(*parts)


async def group_sums(
    conn: AsyncConnection,
    table: str,
    first: date,
    after: date | None,
    town: str | None,
    dims: Sequence[str] = GROUP_DIMENSIONS,
    of: tuple[str, str] | None = None,
) -> dict[Group, list[int]]:
    """Per group of the dimensions `dims` ("town" among them or not), the sums of `table`'s counts (in
    DAYBOOK_FLOWS' or DAYBOOK_STOCKS' order): "flows" over the days in [first, after); "months" of the month
    starting on `first` (its days before `through`); "stocks" at 00:00 of `first`, which must be at or before
    `through`. "running": the running month starting on `first` so far (see stats_running), its flows then its
    stocks. "value_months" and "value_stocks" (the day book of the one value `of` = (dim, key)): the same as
    "months", and "stocks" at a month's first day or at `through`."""
    query = _group_query(table, tuple(dims), after is not None, town is not None)
    params: dict[str, Any] = {"first": first}
    if after is not None:
        params["after"] = after
    if town is not None:
        params["town"] = town
    if of is not None:
        params["of_dim"], params["of_key"] = of
    # The sums are integers on both databases (SUM of an integer column): taken as they come.
    return {(dim, key): counts for dim, key, *counts in (await conn.execute(query, params)).all()}


@cache
def _value_running_query(dims: tuple[str, ...], one_town: bool) -> Any:
    """The sums per group of the running month of one value so far: its month's stored days, the day in
    progress up to stats_state.partial_until (which moves open and open major from 00:00 to that moment) and
    the stocks at the day's 00:00; as stats_running is for every finding, in one statement."""
    zero = literal_column("0")

    def narrow(t: Any, day: str) -> list[Any]:
        where = [
            t.c.of_dim == bindparam("of_dim"),
            t.c.of_key == bindparam("of_key"),
            t.c.day == bindparam(day),
        ]
        return [*where, t.c.town == bindparam("town")] if one_town else where

    m, td, st = stats_value_months, stats_value_today, stats_value_stocks
    parts = union_all(
        select(
            m.c.dim,
            m.c.key,
            m.c.town,
            *(m.c[n] for n in DAYBOOK_FLOWS),
            *(zero.label(n) for n in DAYBOOK_STOCKS),
        ).where(*narrow(m, "month")),
        select(
            td.c.dim,
            td.c.key,
            td.c.town,
            *(td.c[n] for n in DAYBOOK_FLOWS),
            td.c.found - td.c.closed,
            td.c.found_major - td.c.closed_major,
            zero,
        ).where(*narrow(td, "today")),
        select(
            st.c.dim, st.c.key, st.c.town, *(zero for _ in DAYBOOK_FLOWS), *(st.c[n] for n in DAYBOOK_STOCKS)
        ).where(*narrow(st, "today")),
    ).subquery("running")
    sums = [_sum(parts.c[n]) for n in DAYBOOK_FLOWS + DAYBOOK_STOCKS]
    selects = []
    by_key = [d for d in dims if d != "town"]
    if by_key:
        # Every dimension's cells (a page's case): no filter for the database to check on each row.
        every = set(by_key) == set(DAYBOOK_DIMENSIONS)
        selects.append(
            select(parts.c.dim, parts.c.key, *sums)
            .where(*([] if every else [parts.c.dim.in_(by_key)]))
            .group_by(parts.c.dim, parts.c.key)
        )
    if "town" in dims:  # the value's own dimension's cells hold each finding once
        selects.append(
            select(literal_column("'town'"), parts.c.town, *sums)
            .where(parts.c.dim == bindparam("of_dim"))
            .group_by(parts.c.town)
        )
    return selects[0] if len(selects) == 1 else union_all(*selects)


async def value_running_sums(
    conn: AsyncConnection,
    month: date,
    today: date,
    town: str | None,
    dims: Sequence[str],
    of: tuple[str, str],
) -> dict[Group, list[int]]:
    """Per group of `dims`, the running month starting on `month` so far of the findings with the value `of`:
    its flows, then open and open major at stats_state.partial_until and overdue at today's 00:00. Read only
    while partial_until is set, for the day `through` (today)."""
    params: dict[str, Any] = {"month": month, "today": today, "of_dim": of[0], "of_key": of[1]}
    if town is not None:
        params["town"] = town
    query = _value_running_query(tuple(dims), town is not None)
    return {(dim, key): counts for dim, key, *counts in (await conn.execute(query, params)).all()}


@cache
def _close_days_query(one_town: bool) -> Any:
    t = stats_close_days
    query = select(t.c.days, _sum(t.c.closed)).where(
        t.c.day >= bindparam("first"), t.c.day < bindparam("after")
    )
    if one_town:
        query = query.where(t.c.town == bindparam("town"))
    return query.group_by(t.c.days)


async def close_day_counts(conn: AsyncConnection, first: date, after: date, town: str | None) -> Counter[int]:
    params: dict[str, Any] = {"first": first, "after": after}
    if town is not None:
        params["town"] = town
    rows = (await conn.execute(_close_days_query(town is not None), params)).all()
    return Counter({int(days): int(n) for days, n in rows})


@cache
def _value_close_days_query(one_key: bool, one_town: bool) -> Any:
    t = stats_value_close_days
    query = select(t.c.days, _sum(t.c.closed)).where(
        t.c.of_dim == bindparam("of_dim"), t.c.day == bindparam("month")
    )
    if one_key:
        query = query.where(t.c.of_key == bindparam("of_key"))
    if one_town:
        query = query.where(t.c.town == bindparam("town"))
    return query.group_by(t.c.days)


async def value_close_day_counts(
    conn: AsyncConnection, of: tuple[str, str | None], month: date, town: str | None
) -> Counter[int]:
    """Days to close of the findings with the value `of` closed in the month's days before `through`; with no
    key, of every finding ("severity", None holds each finding once)."""
    params: dict[str, Any] = {"of_dim": of[0], "of_key": of[1], "month": month}
    if town is not None:
        params["town"] = town
    query = _value_close_days_query(of[1] is not None, town is not None)
    rows = (await conn.execute(query, params)).all()
    return Counter({int(days): int(n) for days, n in rows})


@cache
def _value_today_close_days_query(one_town: bool) -> Any:
    t = stats_value_today_close_days
    query = select(t.c.days, _sum(t.c.closed)).where(
        t.c.of_dim == bindparam("of_dim"), t.c.day == bindparam("day"), t.c.of_key == bindparam("of_key")
    )
    if one_town:
        query = query.where(t.c.town == bindparam("town"))
    return query.group_by(t.c.days)


async def value_today_close_day_counts(
    conn: AsyncConnection, of: tuple[str, str], today: date, town: str | None
) -> Counter[int]:
    """Days to close of the findings with the value `of` closed on the day in progress, up to
    stats_state.partial_until; read only while it is set."""
    params: dict[str, Any] = {"of_dim": of[0], "of_key": of[1], "day": today}
    if town is not None:
        params["town"] = town
    rows = (await conn.execute(_value_today_close_days_query(town is not None), params)).all()
    return Counter({int(days): int(n) for days, n in rows})


@contextmanager
def one_reading() -> Iterator[None]:
    """Within it (one page, one report), `through` and the findings of the days the day book does not hold
    yet are read once, however many figures need them: one page, one moment."""
    token = _reading.set({})
    try:
        yield
    finally:
        _reading.reset(token)


def reading_memo() -> dict[Any, Any] | None:
    """The memo of the reading in progress (one_reading), for the query layer's own once-per-page reads."""
    return _reading.get()


@cache
def _facts_since_query(one_town: bool, of_dim: str | None) -> Any:
    """facts_since's statement, built once per shape and run with the moment, town and key as parameters (built
    per call, it cost a page more than SQLite took to answer). The facility is compared as `facility_id + 0`,
    which no index serves, so that the planner reads the span's range of reported_at or closed_at: it took the
    facility's index and walked its two years of findings."""
    since = bindparam("since")
    narrow = [f.c.town == bindparam("town")] if one_town else []
    if of_dim is not None:
        value = f.c.facility_id + 0 if of_dim == "facility" else f.c[of_dim]
        narrow.append(value == bindparam("of_key"))
    reported = select(*FACT_COLUMNS).where(f.c.reported_at >= since, *narrow)
    closed_only = select(*FACT_COLUMNS).where(f.c.closed_at >= since, f.c.reported_at < since, *narrow)
    return union_all(reported, closed_only)


async def facts_since(
    conn: AsyncConnection, since: datetime, town: str | None, of: tuple[str, str] | None = None
) -> list[Fact]:
    """The findings reported or closed from `since` on (with the value `of`, if given): what the flows of the
    days not yet in the day book are worked out from (the caller keeps the days it wants). A page reads them
    once, through tail()."""
    params: dict[str, Any] = {"since": since}
    if town is not None:
        params["town"] = town
    if of is not None:
        params["of_key"] = int(of[1]) if of[0] == "facility" else of[1]
    query = _facts_since_query(town is not None, of[0] if of else None)
    return [Fact._make(row) for row in (await conn.execute(query, params)).all()]


@dataclass
class Tail:
    """The findings reported or closed since the moment the day book holds (State.upto), with the flows per day
    and group and the days to close per day closed of what happened since: worked out once per reading, however
    many figures need them."""

    facts: list[Fact]
    flows: dict[date, dict[Group, list[int]]]  # counts in DAYBOOK_FLOWS' order
    closings: dict[date, Counter[int]]  # day closed -> days to close -> findings


async def tail(
    conn: AsyncConnection, since: datetime, town: str | None, of: tuple[str, str] | None = None
) -> Tail:
    memo = _reading.get()
    if memo is not None and ("tail", since, town, of) in memo:
        return memo[("tail", since, town, of)]
    result = tail_of(await facts_since(conn, since, town, of), since)
    if memo is not None:
        memo[("tail", since, town, of)] = result
    return result


def tail_of(facts: list[Fact], since: datetime) -> Tail:
    """The Tail of `facts`, findings reported or closed from `since` on."""
    # The groups of each (day, flow) are listed, then counted at once (Counter counts a list in C).
    members: dict[tuple[date, int], list[Group]] = defaultdict(list)
    closings: dict[date, Counter[int]] = defaultdict(Counter)
    for fact in facts:
        fact_groups = groups(fact)
        for day, flow in flows_from(fact, since):
            members[(day, FLOW_INDEX[flow])].extend(fact_groups)
        closing = days_to_close(fact)
        if closing is not None and fact.closed_at >= since:
            closings[closing[0]][closing[1]] += 1
    flows: dict[date, dict[Group, list[int]]] = {}
    width = len(DAYBOOK_FLOWS)
    for (day, column), listed in members.items():
        per_group = flows.setdefault(day, {})
        for group, n in Counter(listed).items():
            row = per_group.get(group)
            if row is None:
                row = per_group[group] = [0] * width
            row[column] = n
    return Tail(facts, flows, closings)


def narrowed(tail: Tail, since: datetime, of: tuple[str, str]) -> Tail:
    """The part of a Tail since `since` of the findings with the value `of` = (dim, key)."""
    dim, key = of
    return tail_of([fact for fact in tail.facts if value_of(fact, dim) == key], since)


def _sum(column: Any) -> Any:
    # The zero written in the statement, not bound: a day book read sums up to a dozen counts, and each bound
    # zero is one more parameter to pass and convert on every call.
    return func.coalesce(func.sum(column), literal_column("0"))


__all__ = [
    "TABLES",
    "Book",
    "catch_up",
    "cells",
    "clear",
    "close_day_counts",
    "compute",
    "compute_value_today",
    "compute_values",
    "days_to_close",
    "facts_since",
    "flow_sums",
    "flows_of",
    "group_sums",
    "groups",
    "month_sums",
    "narrowed",
    "one_reading",
    "reading_memo",
    "rebuild",
    "stock_spans",
    "tail",
    "tail_of",
    "through",
    "touch",
    "value_cells",
    "value_close_day_counts",
    "value_of",
    "value_running_sums",
    "value_today_close_day_counts",
]
