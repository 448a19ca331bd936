"""The one query layer behind the dashboard, the exports, the monthly report, the digest and the API.

Every figure is the number of findings matching one *metric predicate* (below) within a period, a scope and
optional filters. The same predicate gives the list of findings behind the figure (`finding_ids`,
`findings_url`), so any number shown can be checked finding by finding.

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
- overdue (逾期) at T: open at T, its deadline passed (due_at < T), and at the facility's side at T: never
  (re)submitted since its last order or rejection before T (submitted_at null or >= T, or status ordered).
  At T = now this is exactly "status ordered and due_at < now". For a past T one case cannot be rebuilt from
  the findings row: a finding rejected after T is judged by its later deadline.
- open_major (重大隐患未销号): open at T and severity major — the figure that must reach zero.
- found_major: found in the period and severity major.
- repeat (重复发现): found in the period, and the same checklist item was found failing at the same facility
  before (an earlier finding with the same facility_id and item_code).
- days to close: closed_at - reported_at in days, over the findings closed in the period; median and the
  90th percentile by nearest rank (the smallest value with at least 90 % of the values at or below it).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    exists,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from tracker.stats.periods import Period, local_day
from tracker.store.tables import facilities, findings, history, inspections

COUNTS = ("found", "closed", "closed_of_found", "on_time", "open", "overdue", "open_major", "found_major", "repeat")
# Stock figures are counted at a moment; flows over the period.
STOCKS = frozenset({"open", "overdue", "open_major"})
METRICS = COUNTS
DIMENSIONS = ("town", "facility_type", "facility", "category", "severity", "mode")
RATES = {"closure_rate": ("closed_of_found", "found"), "on_time_rate": ("on_time", "closed")}

f = findings
_earlier = findings.alias("earlier")


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
        return {k: str(v) for k, v in asdict(self).items() if v not in (None, "")}

    def with_group(self, dimension: str, key: Any) -> Filter:
        name = "facility_id" if dimension == "facility" else dimension
        return replace(self, **{name: key})

    def clauses(self) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if self.town:
            out.append(facilities.c.town == self.town)
        if self.facility_type:
            out.append(facilities.c.type == self.facility_type)
        if self.facility_id is not None:
            out.append(f.c.facility_id == self.facility_id)
        if self.category:
            out.append(f.c.category == self.category)
        if self.severity:
            out.append(f.c.severity == self.severity)
        if self.mode:
            out.append(inspections.c.mode == self.mode)
        return out


def _in(column: Any, start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(column >= start, column < end)


def open_at(moment: datetime) -> ColumnElement[bool]:
    return and_(f.c.reported_at < moment, or_(f.c.closed_at.is_(None), f.c.closed_at >= moment))


def overdue_at(moment: datetime) -> ColumnElement[bool]:
    at_facility = or_(f.c.submitted_at.is_(None), f.c.submitted_at >= moment, f.c.status == "ordered")
    return and_(open_at(moment), f.c.due_at.is_not(None), f.c.due_at < moment, at_facility)


def predicate(metric: str, period: Period, now: datetime) -> ColumnElement[bool]:
    """The condition a finding meets to count in `metric` for `period`, as of `now`."""
    start, end, moment = period.start_utc, period.end_utc, period.as_of(now)
    found = _in(f.c.reported_at, start, end)
    if metric == "found":
        return found
    if metric == "closed":
        return _in(f.c.closed_at, start, end)
    if metric == "closed_of_found":
        return and_(found, f.c.closed_at.is_not(None), f.c.closed_at < end)
    if metric == "on_time":
        return and_(_in(f.c.closed_at, start, end), f.c.due_at.is_not(None), f.c.closed_at <= f.c.due_at)
    if metric == "open":
        return open_at(moment)
    if metric == "overdue":
        return overdue_at(moment)
    if metric == "open_major":
        return and_(open_at(moment), f.c.severity == "major")
    if metric == "found_major":
        return and_(found, f.c.severity == "major")
    if metric == "repeat":
        return and_(found, exists().where(
            _earlier.c.facility_id == f.c.facility_id, _earlier.c.item_code == f.c.item_code,
            _earlier.c.reported_at < f.c.reported_at))
    raise ValueError(f"unknown metric {metric!r}")


def _relevant(period: Period, now: datetime) -> ColumnElement[bool]:
    """Rows that can count in any metric of the period: lets the database skip the rest by index."""
    start, end, moment = period.start_utc, period.end_utc, period.as_of(now)
    return or_(_in(f.c.reported_at, start, end), _in(f.c.closed_at, start, end),
               and_(f.c.closed_at.is_(None), f.c.reported_at < moment), f.c.closed_at >= moment)


def _base(columns: Sequence[Any], flt: Filter) -> Select[Any]:
    query = select(*columns).select_from(
        f.join(facilities, facilities.c.id == f.c.facility_id).join(inspections, inspections.c.id == f.c.inspection_id))
    for clause in flt.clauses():
        query = query.where(clause)
    return query


def _sums(period: Period, now: datetime, metrics: Sequence[str] = COUNTS) -> list[Any]:
    return [func.coalesce(func.sum(case((predicate(m, period, now), 1), else_=0)), 0).label(m) for m in metrics]


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
            "figures": {n: {"value": self.current.value(n), "previous": self.before.value(n),
                            "change": self.change(n)} for n in names},
        }


async def figures(conn: AsyncConnection, period: Period, flt: Filter, now: datetime) -> Figures:
    row = (await conn.execute(_base(_sums(period, now), flt).where(_relevant(period, now)))).one()
    counts = {m: int(getattr(row, m)) for m in COUNTS}
    return Figures(counts, _rates(counts))


async def summary(conn: AsyncConnection, period: Period, flt: Filter, now: datetime) -> Summary:
    """Every headline figure of the period and of the period before it."""
    previous = period.previous()
    return Summary(period, previous, period.as_of(now), await figures(conn, period, flt, now),
                   await figures(conn, previous, flt, now))


@dataclass
class Group:
    key: Any
    label: str
    town: str | None
    counts: dict[str, int]
    rates: dict[str, float | None] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, **self.counts, **self.rates}


def _dimension_columns(dimension: str) -> list[Any]:
    if dimension == "town":
        return [facilities.c.town.label("key")]
    if dimension == "facility_type":
        return [facilities.c.type.label("key")]
    if dimension == "facility":
        return [f.c.facility_id.label("key"), facilities.c.name.label("name"), facilities.c.town.label("town")]
    if dimension == "category":
        return [f.c.category.label("key")]
    if dimension == "severity":
        return [f.c.severity.label("key")]
    if dimension == "mode":
        return [inspections.c.mode.label("key")]
    raise ValueError(f"group_by must be one of {', '.join(DIMENSIONS)}")


async def breakdown(conn: AsyncConnection, dimension: str, period: Period, flt: Filter, now: datetime,
                    labeller: Any = None) -> list[Group]:
    """The figures per town, facility type, facility, category, severity or inspection mode; groups with
    nothing to count are left out. `labeller(dimension, key, name)` names a group."""
    keys = _dimension_columns(dimension)
    query = _base([*keys, *_sums(period, now)], flt).where(_relevant(period, now)).group_by(*keys)
    groups = []
    for row in (await conn.execute(query)).all():
        counts = {m: int(getattr(row, m)) for m in COUNTS}
        if not any(counts.values()):
            continue
        name = getattr(row, "name", None)
        label = labeller(dimension, row.key, name) if labeller else (name or str(row.key))
        groups.append(Group(row.key, label, getattr(row, "town", None), counts, _rates(counts)))
    groups.sort(key=lambda g: (-g.counts["found"], -g.counts["open"], str(g.label)))
    return groups


# --- trends -----------------------------------------------------------------------------------------------

def _local(conn: AsyncConnection, column: Any) -> Any:
    if conn.dialect.name == "sqlite":
        return func.datetime(column, "+8 hours")
    return column + text("interval '8 hours'")


def _bucket(conn: AsyncConnection, column: Any, unit: str) -> Any:
    local = _local(conn, column)
    if conn.dialect.name == "sqlite":
        if unit == "week":
            return func.date(local, "weekday 0", "-6 days")
        return func.strftime("%Y-%m-01", local)
    return func.to_char(func.date_trunc(unit, local), "YYYY-MM-DD")


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
        return {"from": self.period.start.isoformat(), "to": self.period.end.isoformat(), "found": self.found,
                "closed": self.closed, "closed_of_found": self.closed_of_found, "on_time": self.on_time,
                "closure_rate": self.closure_rate}


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


async def trend(conn: AsyncConnection, unit: str, period: Period, flt: Filter, count: int = 12) -> list[Bucket]:
    """Found, closed, closed-of-found (found in the bucket and closed within it) and on-time closures per week
    or month, for `count` buckets ending with the one holding the period's last day. Each bucket's figures
    follow the definitions above with the bucket as the period."""
    if unit not in ("week", "month"):
        raise ValueError("unit must be week or month")
    buckets = {b.period.start: b for b in
               (Bucket(p) for p in trend_periods(unit, period.end - timedelta(days=1), count))}
    first = min(buckets)
    start, end = buckets[first].period.start_utc, max(b.period.end_utc for b in buckets.values())
    reported = _bucket(conn, f.c.reported_at, unit)
    closed_bucket = _bucket(conn, f.c.closed_at, unit)
    same = func.coalesce(func.sum(case((and_(f.c.closed_at.is_not(None), closed_bucket == reported), 1), else_=0)), 0)
    q1 = _base([reported.label("b"), func.count().label("n"), same.label("cf")], flt).where(
        _in(f.c.reported_at, start, end)).group_by(reported)
    on_time = func.coalesce(func.sum(case((f.c.closed_at <= f.c.due_at, 1), else_=0)), 0)
    q2 = _base([closed_bucket.label("b"), func.count().label("n"), on_time.label("ot")], flt).where(
        _in(f.c.closed_at, start, end)).group_by(closed_bucket)
    for row in (await conn.execute(q1)).all():
        bucket = buckets.get(date.fromisoformat(str(row.b)[:10]))
        if bucket:
            bucket.found, bucket.closed_of_found = int(row.n), int(row.cf)
    for row in (await conn.execute(q2)).all():
        bucket = buckets.get(date.fromisoformat(str(row.b)[:10]))
        if bucket:
            bucket.closed, bucket.on_time = int(row.n), int(row.ot)
    return [buckets[k] for k in sorted(buckets)]


# --- days to close ----------------------------------------------------------------------------------------

@dataclass
class DaysToClose:
    count: int
    median: float | None
    p90: float | None


def nearest_rank(values: Sequence[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


async def days_to_close(conn: AsyncConnection, period: Period, flt: Filter, now: datetime) -> DaysToClose:
    if conn.dialect.name == "sqlite":
        days = (func.julianday(f.c.closed_at) - func.julianday(f.c.reported_at))
    else:
        days = func.extract("epoch", f.c.closed_at - f.c.reported_at) / 86400.0
    rows = (await conn.execute(_base([days.label("d")], flt).where(predicate("closed", period, now)))).scalars()
    values = [float(v) for v in rows]
    return DaysToClose(len(values), statistics.median(values) if values else None, nearest_rank(values, 0.9))


# --- lists ------------------------------------------------------------------------------------------------

LIST_COLUMNS = [
    f.c.id, f.c.item_code, f.c.item_zh, f.c.item_en, f.c.category, f.c.severity, f.c.status, f.c.reported_at,
    f.c.due_day, f.c.due_at, f.c.closed_at, f.c.escalation_level, f.c.owner_name, f.c.round,
    f.c.facility_id, facilities.c.name.label("facility_name"), facilities.c.town, facilities.c.type.label("facility_type"),
    inspections.c.mode,
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


def _row(row: Any, moment: datetime) -> FindingRow:
    overdue = None
    if row.due_day is not None and row.closed_at is None and row.due_at is not None and row.due_at < moment:
        overdue = (local_day(moment) - row.due_day).days
    return FindingRow(row.id, row.item_code, row.item_zh, row.item_en, row.category, row.severity, row.status,
                      row.reported_at, row.due_day, row.closed_at, row.escalation_level, row.owner_name, row.round,
                      row.facility_id, row.facility_name, row.town, row.facility_type, row.mode, overdue)


async def finding_ids(conn: AsyncConnection, metric: str, period: Period, flt: Filter, now: datetime) -> list[int]:
    """The ids of the findings behind one figure, in id order: `len()` of this is the figure."""
    query = _base([f.c.id], flt).where(predicate(metric, period, now)).order_by(f.c.id)
    return list((await conn.execute(query)).scalars())


async def finding_list(conn: AsyncConnection, metric: str, period: Period, flt: Filter, now: datetime,
                       limit: int | None = None) -> list[FindingRow]:
    """The findings behind one figure with what a reader needs to check them; overdue ones oldest first."""
    query = _base(LIST_COLUMNS, flt).where(predicate(metric, period, now))
    if metric == "overdue":
        query = query.order_by(f.c.due_at, f.c.id)
    else:
        query = query.order_by(f.c.reported_at, f.c.id)
    if limit:
        query = query.limit(limit)
    moment = period.as_of(now)
    return [_row(r, moment) for r in (await conn.execute(query)).all()]


async def overdue_list(conn: AsyncConnection, period: Period, flt: Filter, now: datetime,
                       limit: int | None = None) -> list[FindingRow]:
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


async def top_facilities(conn: AsyncConnection, metric: str, period: Period, flt: Filter, now: datetime,
                         limit: int = 10) -> list[FacilityCount]:
    """Facilities with the most findings in `metric` (use "open" or "repeat"), most first."""
    n = func.count().label("n")
    major = func.coalesce(func.sum(case((f.c.severity == "major", 1), else_=0)), 0).label("major")
    query = (_base([f.c.facility_id, facilities.c.name, facilities.c.town, n, major], flt)
             .where(predicate(metric, period, now))
             .group_by(f.c.facility_id, facilities.c.name, facilities.c.town)
             .order_by(n.desc(), f.c.facility_id).limit(limit))
    return [FacilityCount(r.facility_id, r.name, r.town, int(r.n), int(r.major))
            for r in (await conn.execute(query)).all()]


async def escalations(conn: AsyncConnection, period: Period, flt: Filter) -> list[tuple[int, int, datetime]]:
    """(finding id, level, when) of every escalation raised in the period."""
    query = (_base([f.c.id, history.c.data, history.c.at], flt).join(history, history.c.finding_id == f.c.id)
             .where(history.c.action == "escalated", _in(history.c.at, period.start_utc, period.end_utc))
             .order_by(history.c.at, history.c.id))
    return [(r.id, int((r.data or {}).get("level", 0)), r.at) for r in (await conn.execute(query)).all()]


def findings_url(metric: str, period: Period, flt: Filter, base: str = "/dashboard/findings") -> str:
    """Where the list behind a figure is shown: `/dashboard/findings?metric=overdue&from=…&to=…&town=…`."""
    query = {"metric": metric, "from": period.start.isoformat(), "to": period.end.isoformat(), **flt.params()}
    return f"{base}?{urlencode(query)}"


def hand_written_group_by() -> str:
    """The baseline the bench compares against: one GROUP BY over the findings table."""
    return ("SELECT fa.town, COUNT(*) FROM findings fi JOIN facilities fa ON fa.id = fi.facility_id "
            "WHERE fi.reported_at >= :start AND fi.reported_at < :end GROUP BY fa.town")


__all__ = ["COUNTS", "DIMENSIONS", "METRICS", "RATES", "STOCKS", "Bucket", "DaysToClose", "FacilityCount",
           "Figures", "Filter", "FindingRow", "Group", "Summary", "breakdown", "days_to_close", "escalations",
           "figures", "finding_ids", "finding_list", "findings_url", "hand_written_group_by", "nearest_rank",
           "overdue_list", "predicate", "summary", "top_facilities", "trend", "trend_periods"]
