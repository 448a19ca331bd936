"""Coverage: which facilities were checked in a period, and which are due or overdue a check by the frequencies
in checklists/frequencies.yaml. One GROUP BY over the inspections per facility and level; no read model.

For a period [from, to) and a scope (town, facility type), and T = min(to, now) as for the other stock figures:

- a check is an inspection other than a self-inspection (mode self) or a lapse found on a certificate register
  (mode register, nobody visited), dated by when it began on site (onsite_at,
  else submitted_at); its level is its submitter's: a town officer's is the town's, anyone else's the bureau's.
- facilities: the facilities in scope. checked (已检查): at least one check in the period.
- rate (覆盖率) = checked / facilities (null without facilities). not_checked: facilities not checked.
- due (应检未检): for some level, the calendar window of its frequency (year, quarter, month) holding T's last day
  has had fewer checks by that level than the frequency asks.
- overdue (超期未检): for some level, the whole window before that one had fewer checks than asked.
- never (从未检查): no check at all before T.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tracker.checklists import Catalog, Frequency
from tracker.checklists.model import CHECK_UNITS
from tracker.domain.model import Mode
from tracker.stats.periods import Period, local_day, local_midnight
from tracker.stats.query import Filter
from tracker.store.tables import facilities, inspection_inspectors, inspections, users

# Each list's name is the catalogue's `coverage.<list>` (tracker.text).
LISTS = ("facilities", "checked", "not_checked", "due", "overdue", "never")

_AT = func.coalesce(inspections.c.onsite_at, inspections.c.submitted_at)
# Neither a facility's own self-inspection nor a lapse found on its certificate register is a visit.
_A_VISIT = inspections.c.mode.not_in((Mode.SELF.value, Mode.REGISTER.value))
_LEVEL = case((users.c.role == "town_officer", "town"), else_="bureau")


def window(day: date, per: str) -> Period:
    """The calendar year, quarter or month holding `day`."""
    months = CHECK_UNITS[per]
    first = date(day.year, 1 if per == "year" else (day.month - 1) // months * months + 1, 1)
    after_month = first.month - 1 + months
    return Period(first, date(first.year + after_month // 12, after_month % 12 + 1, 1))


@dataclass(frozen=True)
class FacilityCoverage:
    id: int
    code: str
    name: str
    town: str
    type: str
    ownership: str
    sector: str
    checked: bool
    due: bool
    overdue: bool
    never: bool
    last_check: datetime | None
    # The frequencies whose last whole window passed without their checks (overdue), and those still owed.
    missed: tuple[Frequency, ...] = ()
    owed: tuple[Frequency, ...] = ()

    def is_in(self, name: str) -> bool:
        return name == "facilities" or (not self.checked if name == "not_checked" else getattr(self, name))

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "code": self.code, "name": self.name, "town": self.town}


@dataclass
class Coverage:
    period: Period
    as_of: datetime
    rows: list[FacilityCoverage] = field(default_factory=list)

    def listed(self, name: str) -> list[FacilityCoverage]:
        if name not in LISTS:
            raise ValueError(f"list must be one of {', '.join(LISTS)}")
        return [row for row in self.rows if row.is_in(name)]

    def count(self, name: str) -> int:
        return len(self.listed(name))

    @property
    def rate(self) -> float | None:
        return self.count("checked") / len(self.rows) if self.rows else None

    def as_api(self) -> dict[str, Any]:
        """`GET /api/stats/coverage`: exactly these four keys."""
        return {
            "facilities": len(self.rows),
            "checked": self.count("checked"),
            "rate": self.rate,
            "not_checked": [row.as_dict() for row in self.listed("not_checked")],
        }


def _counted(start: datetime, end: datetime) -> Any:
    return func.coalesce(func.sum(case((and_(_AT >= start, _AT < end), 1), else_=0)), 0)


def _in_scope(flt: Filter) -> list[Any]:
    c = facilities.c
    where = [c.town == flt.town] if flt.town else []
    if flt.facility_type:
        where.append(c.type == flt.facility_type)
    if flt.facility_id is not None:
        where.append(c.id == flt.facility_id)
    return where


async def coverage(
    conn: AsyncConnection, period: Period, flt: Filter, now: datetime, catalog: Catalog | None
) -> Coverage:
    """Every facility in scope, with whether it was checked in the period and is due, overdue or never checked at
    T; ordered by town and code."""
    moment = period.as_of(now)
    day = local_day(moment - timedelta(microseconds=1))
    windows = {per: window(day, per) for per in CHECK_UNITS}
    earlier = {per: window(w.start - timedelta(days=1), per) for per, w in windows.items()}
    columns = [
        inspections.c.facility_id,
        _LEVEL.label("level"),
        _counted(period.start_utc, period.end_utc).label("in_period"),
        func.max(case((_AT < moment, _AT))).label("last_check"),
        *(_counted(local_midnight(w.start), moment).label(f"now_{per}") for per, w in windows.items()),
        *(_counted(w.start_utc, w.end_utc).label(f"before_{per}") for per, w in earlier.items()),
    ]
    checks = (
        select(*columns)
        .join(users, users.c.id == inspections.c.inspector_id)
        .join(facilities, facilities.c.id == inspections.c.facility_id)
        .where(_A_VISIT, users.c.role != "facility_head", *_in_scope(flt))
        .group_by(inspections.c.facility_id, _LEVEL)
    )
    by_facility: dict[int, dict[str, Any]] = {}
    for row in (await conn.execute(checks)).all():
        by_facility.setdefault(row.facility_id, {})[row.level] = row
    c = facilities.c
    listed = select(c.id, c.code, c.name, c.town, c.type, c.ownership, c.sector).where(*_in_scope(flt))
    out = Coverage(period, moment)
    for f in (await conn.execute(listed.order_by(c.town, c.code))).all():
        levels = by_facility.get(f.id, {})
        asked = catalog.frequencies(f.type, f.ownership) if catalog is not None else ()
        owed = tuple(q for q in asked if _done(levels.get(q.level), "now", q) < q.times)
        missed = tuple(q for q in asked if _done(levels.get(q.level), "before", q) < q.times)
        lasts = [r.last_check for r in levels.values() if r.last_check is not None]
        done = {"checked": any(r.in_period for r in levels.values()), "last_check": max(lasts, default=None)}
        owing = {"due": bool(owed), "overdue": bool(missed), "never": not lasts}
        out.rows.append(FacilityCoverage(**f._mapping, **done, **owing, missed=missed, owed=owed))
    return out


def _done(row: Any, when: str, frequency: Frequency) -> int:
    return int(getattr(row, f"{when}_{frequency.per}")) if row is not None else 0


async def inspection_counts(conn: AsyncConnection, period: Period, flt: Filter) -> dict[int, tuple[int, int]]:
    """Per facility in scope, its checks in the period (检查家次) and the inspectors they took (出动人次: each
    check's team as recorded, the submitter included; one where an old check recorded no team)."""
    team = (
        select(inspection_inspectors.c.inspection_id, func.count().label("people"))
        .group_by(inspection_inspectors.c.inspection_id)
        .subquery()
    )
    query = (
        select(
            inspections.c.facility_id,
            func.count().label("checks"),
            func.coalesce(func.sum(func.coalesce(team.c.people, 1)), 0).label("people"),
        )
        .join(users, users.c.id == inspections.c.inspector_id)
        .join(facilities, facilities.c.id == inspections.c.facility_id)
        .outerjoin(team, team.c.inspection_id == inspections.c.id)
        .where(
            _A_VISIT,
            users.c.role != "facility_head",
            _AT >= period.start_utc,
            _AT < period.end_utc,
            *_in_scope(flt),
        )
        .group_by(inspections.c.facility_id)
    )
    return {row.facility_id: (int(row.checks), int(row.people)) for row in (await conn.execute(query)).all()}
