"""The day book: what a week's or month's page reads instead of every finding, kept by the scheduler.

Per town, per value of each dimension (facility type, facility, category, severity, mode), for every finding
and for the findings of each one value of a dimension (of_dim, of_key: a page narrowed to it), it holds:

- each week's (Monday first) and calendar month's flows over its days before `through`: stored once when the
  period ends, and again each day while it runs (stats_periods);
- the stock snapshot (open, open major, overdue) at 00:00 of each week's and month's first day and of `through`
  (stats_stocks);
- days to close of the findings closed in each week's and month's days before `through` (stats_close_days);
- which findings were overdue at 00:00 of `through`: with the day's history they give overdue now.

All of it is counted by the database from the findings rows, by the definitions in tracker.stats.query, and
written in the same statement (INSERT … SELECT); what happened since 00:00 of `through` is read from the rows, so
a day book that lags makes a page slower, never wrong. Writers do none of this work. A catch-up also derives what
they leave alone: a finding reported before an earlier-stored one of the same item at the same facility (a clock
set back) makes that one a repeat; and a change in the history since the last catch-up that reaches back before
`through` (a clock set back, a downgrade approved) hands the days from then on back to be counted again.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import String, cast, delete, func, insert, literal, select, text, union_all, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tracker.stats import query as q
from tracker.stats.periods import Period, local_day, local_midnight
from tracker.store.tables import (
    DAYBOOK_FLOWS,
    DAYBOOK_STOCKS,
    findings,
    history,
    stats_close_days,
    stats_overdue,
    stats_periods,
    stats_state,
    stats_stocks,
)

log = logging.getLogger(__name__)
f = findings
# A transaction stamped just before midnight may commit just after it: a day is counted this long after it ends.
LAG = timedelta(minutes=5)
TABLES = (stats_periods, stats_stocks, stats_close_days, stats_overdue)
KEYS = q.KEYS


def _units(first: date, last: date) -> list[tuple[str, Period]]:
    """Every week and month with a day in [first, last]."""
    weeks = (Period.week_of(last).start - Period.week_of(first).start).days // 7 + 1
    months = (last.year - first.year) * 12 + last.month - first.month + 1
    return [
        (unit, p) for unit, n in (("week", weeks), ("month", months)) for p in q.trend_periods(unit, last, n)
    ]


def _spread(
    table: Any, fixed: dict[str, Any], names: tuple[str, ...], sums: Any, source: Any, by: Any = None
) -> Any:
    """INSERT into `table` the counts `sums(c)` (labelled columns `names`) over the findings of `source` per cell,
    all in the database: one GROUP BY by the finest grain (and the labelled columns `by(c)`), then each cell
    summed from it, of every finding (of_dim "") or of each value of a dimension, per town and (dimension, key),
    or per `by` instead. `fixed`: the columns of the period (or day) they are for."""
    rel = source.subquery()
    keys = [cast(rel.c[column], String).label(dim) for dim, column in KEYS.items()]
    extra = by(rel.c) if by else []
    grain = select(rel.c.town, *keys, *extra, *sums(rel.c))
    g = grain.group_by(rel.c.town, *(rel.c[c] for c in KEYS.values()), *extra).cte("grain")
    arms = []
    for of_dim in ("", *KEYS):
        of_key = [g.c[of_dim]] if of_dim else []
        for dim in [None] if by else KEYS:
            cell = [g.c[dim]] if dim else [g.c[e.name] for e in extra]
            head = [literal(v).label(k) for k, v in {**fixed, "of_dim": of_dim}.items()]
            head += [*of_key] or [literal("").label("of_key")]
            head += [g.c.town, *([literal(dim).label("dim")] if dim else [])]
            shown = [cell[0].label("key")] if dim else cell
            total = [func.sum(g.c[n]).label(n) for n in names]
            arms.append(select(*head, *shown, *total).group_by(*of_key, g.c.town, *cell))
    columns = [*fixed, "of_dim", "of_key", "town", *(["days"] if by else ["dim", "key"]), *names]
    return insert(table).from_select(columns, union_all(*arms))


def _source(period: Period) -> Any:
    """The findings found or closed in the period."""
    columns = [f.c.reported_at, *(f.c[n] for n in q.STATS_COLUMNS)]
    found, closed = (q.predicate(m, period, period.end_utc) for m in ("found", "closed"))
    return union_all(select(*columns).where(found), select(*columns).where(closed, ~found))


async def _write_unit(conn: AsyncConnection, unit: str, period: Period, until: date) -> None:
    for table in (stats_periods, stats_close_days):
        await conn.execute(delete(table).where(table.c.unit == unit, table.c.start == period.start))
    if until <= period.start:
        return
    cut, fixed = Period(period.start, min(period.end, until)), {"unit": unit, "start": period.start}
    flows = lambda c: [q._count(n, cut, cut.end_utc, c) for n in DAYBOOK_FLOWS]  # noqa: E731
    await conn.execute(_spread(stats_periods, fixed, DAYBOOK_FLOWS, flows, _source(cut)))
    closed = select(*(f.c[n] for n in ("reported_at", *q.STATS_COLUMNS))).where(
        q.predicate("closed", cut, cut.end_utc)
    )
    count, days = (
        (lambda c: [func.count().label("closed")]),
        (lambda c: [q.DaysBetween(c.reported_at, c.closed_at).label("days")]),
    )
    await conn.execute(_spread(stats_close_days, fixed, ("closed",), count, closed, days))


def open_rows(moment: datetime, *where: Any) -> Any:
    """The findings open at `moment`, with every column the figures read, as two ranges of the closed_at index."""
    columns = [f.c.id, f.c.reported_at, *(f.c[n] for n in q.STATS_COLUMNS)]
    return union_all(*(select(*columns).where(part, *where) for part in q.open_parts(moment)))


async def _write_stocks(conn: AsyncConnection, day: date) -> None:
    # Counted at 00:00 of `day` as at a past moment (the rows' deadlines and submissions, not their status).
    ending = Period(day - timedelta(days=1), day)
    sums = lambda c: [q._count(n, ending, ending.end_utc + timedelta(days=1), c) for n in DAYBOOK_STOCKS]  # noqa: E731
    await conn.execute(delete(stats_stocks).where(stats_stocks.c.day == day))
    await conn.execute(
        _spread(stats_stocks, {"day": day}, DAYBOOK_STOCKS, sums, open_rows(local_midnight(day)))
    )


async def _reopened(conn: AsyncConnection, held: Any) -> date:
    """The first day whose counts changed since the last catch-up: `through`, or earlier when the history since
    reaches back (a clock set back, a downgrade approved) or findings became repeats after the fact."""
    since = [history.c.id > held.history_id]
    earliest = (await conn.execute(select(func.min(history.c.at)).where(*since))).scalar()
    downgraded = select(func.min(f.c.reported_at)).join(history, history.c.finding_id == f.c.id)
    regraded = (
        await conn.execute(downgraded.where(*since, history.c.action == "downgrade_approved"))
    ).scalar()
    new, later = f.alias("new"), f.alias("later")
    repeats = (
        select(later.c.id)
        .join(new, (new.c.facility_id == later.c.facility_id) & (new.c.item_code == later.c.item_code))
        .where(new.c.id > held.finding_id, later.c.reported_at > new.c.reported_at, ~later.c.is_repeat)
    )
    made = await conn.execute(
        update(f).where(f.c.id.in_(repeats)).values(is_repeat=True).returning(f.c.reported_at)
    )
    return min(
        [held.through, *(local_day(m) for m in (earliest, regraded, *made.scalars()) if m is not None)]
    )


async def catch_up(engine: AsyncEngine, now: datetime) -> date | None:
    """Count every day completed LAG before `now` that the day book does not hold yet, and the stocks at its
    00:00, in one transaction. Returns the new `through`, or None when there was nothing to do."""
    today = local_day(now - LAG)
    async with engine.begin() as conn:
        # One catch-up at a time (SQLite's BEGIN IMMEDIATE does the same).
        if conn.dialect.name == "postgresql":
            await conn.execute(text("LOCK TABLE stats_state IN EXCLUSIVE MODE"))
        held = (await conn.execute(select(stats_state))).first()
        seen = [(await conn.execute(select(func.max(t.c.id)))).scalar() or 0 for t in (history, f)]
        if held is None:
            first = (await conn.execute(select(func.min(f.c.reported_at)))).scalar()
            start = min(local_day(first), today) if first is not None else today
        else:
            start = min(await _reopened(conn, held), today)
        if held is None or start != held.through or held.through != today:
            for unit, period in _units(start, today):
                await _write_unit(conn, unit, period, today)
            # The snapshots of the days after `start` are taken again; of `start` itself kept if it is a week's
            # or month's first day (a past period's end), else dropped with it.
            kept = start if q.snapshot_day(start) else start - timedelta(days=1)
            await conn.execute(delete(stats_stocks).where(stats_stocks.c.day > kept))
            days = [start + timedelta(days=n) for n in range(1, (today - start).days)]
            for day in [*(d for d in days if q.snapshot_day(d)), today]:
                await _write_stocks(conn, day)
            midnight = local_midnight(today)
            members = open_rows(midnight, *q.overdue_terms(midnight, f.c, False)).subquery()
            await conn.execute(delete(stats_overdue))
            await conn.execute(insert(stats_overdue).from_select(["finding_id"], select(members.c.id)))
        await conn.execute(delete(stats_state))
        await conn.execute(
            insert(stats_state).values(id=1, through=today, history_id=seen[0], finding_id=seen[1])
        )
        if held is not None and start == held.through == today:
            return None
    log.info("day book holds the days before %s (from %s counted again)", today, start)
    return today


through = q.book_through  # the first day the day book does not hold; None when it holds nothing


async def rebuild(engine: AsyncEngine, now: datetime) -> date | None:
    """Start the day book over from the findings rows."""
    async with engine.begin() as conn:
        for table in (stats_state, *TABLES):
            await conn.execute(delete(table))
    return await catch_up(engine, now)
