"""The day book: what a week's or month's page reads instead of every finding, kept by the scheduler.

Per town and value of each dimension (facility type, facility, category, severity, mode) it holds:

- each week's (Monday first) and calendar month's flows over its days before `through`: stored once when the
  period ends, and again each day while it runs (stats_periods);
- the stock snapshot (open, open major, overdue) at 00:00 of each week's and month's first day and of `through`
  (stats_stocks);
- per town, days to close of the findings closed in each week's and month's days before `through`;
- which findings were overdue at 00:00 of `through`: with the day's history they give overdue now.

All of it is counted from the findings rows by the definitions in tracker.stats.query; what happened since
00:00 of `through` is read from the rows, so a day book that lags makes a page slower, never wrong. Writers do
none of this work. A catch-up also derives what they leave alone: a finding reported before an earlier-stored
one of the same item at the same facility (a clock set back) makes that one a repeat; and a change in the
history since the last catch-up that reaches back before `through` (a clock set back, a downgrade approved)
hands the days from then on back to be counted again.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, func, insert, select, union_all, update
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


def _units(first: date, last: date) -> list[tuple[str, Period]]:
    """Every week and month with a day in [first, last]."""
    out: list[tuple[str, Period]] = []
    week = Period.week_of(first)
    while week.start <= last:
        out.append(("week", week))
        week = Period(week.end, week.end + timedelta(days=7))
    month = Period.month(first.year, first.month)
    while month.start <= last:
        out.append(("month", month))
        month = Period.month(month.end.year, month.end.month)
    return out


def _count(metric: str, period: Period, now: datetime) -> Any:
    return lambda c: func.sum(case((q.predicate(metric, period, now, c), 1), else_=0))


def _stock_sums(day: date) -> list[Any]:
    # Counted at 00:00 of `day` as at a past moment (the rows' deadlines and submissions, not their status).
    ending = Period(day - timedelta(days=1), day)
    return [_count(m, ending, ending.end_utc + timedelta(days=1)) for m in DAYBOOK_STOCKS]


def open_rows(moment: datetime, *where: Any) -> Any:
    """The findings open at `moment`, with every column the figures read, as two ranges of the closed_at index."""
    columns = [f.c.id, f.c.reported_at, *(f.c[n] for n in q.STATS_COLUMNS)]
    return union_all(*(select(*columns).where(part, *where) for part in q.open_parts(moment)))


async def _flows(conn: AsyncConnection, period: Period, until: date) -> dict[q.Cell, list[int]]:
    """The period's flows over its days before `until`."""
    if until <= period.start:
        return {}
    cut = Period(period.start, min(period.end, until))
    columns = [f.c.reported_at, *(f.c[n] for n in q.STATS_COLUMNS)]
    source = union_all(
        select(*columns).where(q.predicate("found", cut, cut.end_utc)),
        select(*columns).where(
            q.predicate("closed", cut, cut.end_utc), ~q.predicate("found", cut, cut.end_utc)
        ),
    )
    return await q.cell_counts(conn, [_count(m, cut, cut.end_utc) for m in DAYBOOK_FLOWS], source)


async def _close_days(conn: AsyncConnection, period: Period, until: date) -> list[tuple[str, int, int]]:
    if until <= period.start:
        return []
    cut = Period(period.start, min(period.end, until))
    days = q.DaysBetween(f.c.reported_at, f.c.closed_at).label("days")
    query = select(f.c.town, days, func.count()).where(q.predicate("closed", cut, cut.end_utc))
    return [(t, int(d), int(n)) for t, d, n in (await conn.execute(query.group_by(f.c.town, days))).all()]


async def _reopened(conn: AsyncConnection, held: Any) -> date:
    """The first day whose counts changed since the last catch-up: `through`, or earlier when the history since
    reaches back (a clock set back, a downgrade approved) or findings became repeats after the fact."""
    since = [history.c.id > held.history_id]
    starts = [held.through]
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
    for moment in (earliest, regraded, *made.scalars()):
        if moment is not None:
            starts.append(local_day(moment))
    return min(starts)


async def catch_up(engine: AsyncEngine, now: datetime) -> date | None:
    """Count every day completed LAG before `now` that the day book does not hold yet, and the stocks at its
    00:00. Returns the new `through`, or None when there was nothing to do or another run got there first."""
    today = local_day(now - LAG)
    async with engine.connect() as conn:
        held = (await conn.execute(select(stats_state))).first()
        seen = [(await conn.execute(select(func.max(t.c.id)))).scalar() or 0 for t in (history, f)]
        if held is None:
            first = (await conn.execute(select(func.min(f.c.reported_at)))).scalar()
            start = min(local_day(first), today) if first is not None else today
        else:
            start = min(await _reopened(conn, held), today)
            if start == held.through == today:
                ids = {"history_id": seen[0], "finding_id": seen[1]}
                await conn.execute(update(stats_state).where(stats_state.c.id == 1).values(**ids))
                await conn.commit()
                return None
            await conn.commit()
        units = [(u, p, await _flows(conn, p, today)) for u, p in _units(start, today)]
        close = [(u, p, await _close_days(conn, p, today)) for u, p, _ in units]
        days = [start + timedelta(days=n) for n in range(1, (today - start).days)]
        stocks = {
            day: await q.cell_counts(conn, _stock_sums(day), open_rows(local_midnight(day)))
            for day in [*(d for d in days if q.snapshot_day(d)), today]
        }
        midnight = local_midnight(today)
        members = open_rows(midnight, *q.overdue_terms(midnight, f.c, False))
        overdue = list((await conn.execute(select(members.subquery().c.id))).scalars())
    async with engine.begin() as conn:
        if (await conn.execute(select(stats_state))).first() != held:
            return None
        for unit, period, flows in units:
            where = (stats_periods.c.unit == unit, stats_periods.c.start == period.start)
            await conn.execute(delete(stats_periods).where(*where))
            await _insert(
                conn,
                stats_periods,
                [_row(c, DAYBOOK_FLOWS, v, unit=unit, start=period.start) for c, v in flows.items()],
            )
        for unit, period, counted in close:
            where = (stats_close_days.c.unit == unit, stats_close_days.c.start == period.start)
            await conn.execute(delete(stats_close_days).where(*where))
            rows = [
                {"unit": unit, "start": period.start, "town": t, "days": d, "closed": n}
                for t, d, n in counted
            ]
            await _insert(conn, stats_close_days, rows)
        await conn.execute(delete(stats_stocks).where(stats_stocks.c.day > start))
        for day, cells in stocks.items():
            await _insert(conn, stats_stocks, [_row(c, DAYBOOK_STOCKS, v, day=day) for c, v in cells.items()])
        await conn.execute(delete(stats_overdue))
        await _insert(conn, stats_overdue, [{"finding_id": i} for i in overdue])
        await conn.execute(delete(stats_state))
        await conn.execute(
            insert(stats_state).values(id=1, through=today, history_id=seen[0], finding_id=seen[1])
        )
    log.info("day book holds the days before %s (from %s counted again)", today, start)
    return today


def _row(cell: q.Cell, names: tuple[str, ...], values: list[int], **key: Any) -> dict[str, Any]:
    town, dim, value = cell
    return {**key, "town": town, "dim": dim, "key": value, **dict(zip(names, values, strict=True))}


async def _insert(conn: AsyncConnection, table: Any, rows: list[dict[str, Any]], chunk: int = 5000) -> None:
    for n in range(0, len(rows), chunk):
        await conn.execute(insert(table), rows[n : n + chunk])


async def through(conn: AsyncConnection) -> date | None:
    """The first day the day book does not hold; None when it holds nothing."""
    return (await conn.execute(select(stats_state.c.through))).scalar()


async def rebuild(engine: AsyncEngine, now: datetime) -> date | None:
    """Start the day book over from the findings rows."""
    async with engine.begin() as conn:
        for table in (stats_state, *TABLES):
            await conn.execute(delete(table))
    return await catch_up(engine, now)
