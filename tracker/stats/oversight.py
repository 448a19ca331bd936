"""The bureau's own side on the dashboard, read straight from its tables (no day book: they stay small): the
escalation actions taken in a period per kind, and 复查超期 (verification overdue).

- actions (督办措施): finding_actions whose day taken (on_day, a local day) lies in [from, to), per kind.
- review_overdue (复查超期) at T = min(to, now): a rectification submitted before T whose 复查 deadline passed
  before T and that was not verified before T (rectifications.review_due_at / reviewed_at); counted per finding.
Both narrowed by the page's filters and scope, as the other figures (the findings row's town, type, …)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tracker.domain.actions import WORDS
from tracker.stats import query as q
from tracker.stats.periods import Period, local_day
from tracker.store.tables import finding_actions, findings, rectifications

REVIEW_OVERDUE = "review_overdue"


async def action_counts(conn: AsyncConnection, period: Period, flt: q.Filter) -> dict[str, int]:
    """How many actions of each kind were taken in the period, every kind listed (0 where none)."""
    by_facility = (await action_counts_by_facility(conn, period, flt)).values()
    return {kind: sum(counts[kind] for counts in by_facility) for kind in WORDS}


async def action_counts_by_facility(
    conn: AsyncConnection, period: Period, flt: q.Filter
) -> dict[int, dict[str, int]]:
    """action_counts per facility (the upward report splits them by ownership and type)."""
    rows = await conn.execute(
        select(findings.c.facility_id, finding_actions.c.kind, func.count().label("n"))
        .join(findings, findings.c.id == finding_actions.c.finding_id)
        .where(
            finding_actions.c.on_day >= period.start,
            finding_actions.c.on_day < period.end,
            *flt.clauses(),
        )
        .group_by(findings.c.facility_id, finding_actions.c.kind)
    )
    out: dict[int, dict[str, int]] = {}
    for row in rows.all():
        out.setdefault(row.facility_id, dict.fromkeys(WORDS, 0))[row.kind] = int(row.n)
    return out


def _review_overdue_ids(moment: datetime, flt: q.Filter) -> Any:
    return (
        select(rectifications.c.finding_id)
        .distinct()
        .join(findings, findings.c.id == rectifications.c.finding_id)
        .where(
            rectifications.c.review_due_at < moment,
            rectifications.c.submitted_at < moment,
            or_(rectifications.c.reviewed_at.is_(None), rectifications.c.reviewed_at >= moment),
            *flt.clauses(),
        )
    )


async def review_overdue_count(conn: AsyncConnection, period: Period, flt: q.Filter, now: datetime) -> int:
    ids = _review_overdue_ids(period.as_of(now), flt).subquery()
    return int((await conn.execute(select(func.count()).select_from(ids))).scalar_one())


async def review_overdue_list(
    conn: AsyncConnection,
    period: Period,
    flt: q.Filter,
    now: datetime,
    limit: int | None = None,
    offset: int = 0,
) -> list[q.FindingRow]:
    """The findings behind 复查超期, as the other lists show theirs (tracker.stats.query.finding_lists)."""
    moment = period.as_of(now)
    query = (
        select(*q.LIST_COLUMNS)
        .where(findings.c.id.in_(_review_overdue_ids(moment, flt)))
        .order_by(findings.c.submitted_at, findings.c.id)
    )
    if limit is not None:
        query = query.limit(limit).offset(offset)
    rows = (await conn.execute(query)).all()
    names = await q._facilities(conn)
    return [q._row(r, moment, local_day(moment), names) for r in rows]
