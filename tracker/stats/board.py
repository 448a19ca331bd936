"""The major-hazard board (重大事故隐患督办看板) of the dashboard: every open major hazard in the dashboard's scope, the
stage of its supervision (tracker.domain.supervision), the days left at that stage, its 包保领导 and the actions
taken on it. One query over the findings and their supervision rows, read as it stands now: the board shows
today's work whatever period the page counts.

Actions taken: the escalation actions recorded on it (finding_actions: 催办, 约谈, 通报, 移送, 责令停业整顿, 信用措施)
and the steps of its supervision on record (its history: the notice, the plan, the interim measure verified,
progress reports, the acceptance …).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tracker.domain.model import Severity
from tracker.domain.supervision import LABELS_EN, LABELS_ZH, Stage, notice_number
from tracker.stats.periods import local_day
from tracker.stats.query import Filter
from tracker.store.tables import facilities, finding_actions, findings, history, supervisions, users

f = findings
s = supervisions


@dataclass(frozen=True)
class BoardRow:
    finding_id: int
    facility_name: str
    town: str
    item_zh: str
    item_en: str
    stage: Stage | None  # None: a major hazard with no supervision record (graded before the track existed)
    notice_no: str | None
    due_at: datetime | None  # the stage's deadline; at the rectification, the finding's own
    days_left: int | None  # calendar days from today to that deadline's day; negative when overdue
    lead: str | None  # 包保领导
    steps: int  # supervision steps on record
    escalations: int  # escalation actions on record (催办, 约谈 …)

    @property
    def stage_zh(self) -> str:
        return LABELS_ZH[self.stage] if self.stage else "未建督办"

    @property
    def stage_en(self) -> str:
        return LABELS_EN[self.stage] if self.stage else "not listed"

    @property
    def actions(self) -> int:
        return self.steps + self.escalations

    @property
    def url(self) -> str:
        return f"/findings/{self.finding_id}"


@dataclass(frozen=True)
class Board:
    rows: list[BoardRow]
    total: int  # open major hazards in scope; rows holds the most urgent `limit` of them


def _open_majors(flt: Filter) -> list[Any]:
    return [f.c.severity == Severity.MAJOR.value, f.c.closed_at.is_(None), *flt.clauses()]


async def major_board(
    conn: AsyncConnection, flt: Filter, now: datetime, prefix: str, limit: int | None = None
) -> Board:
    """The open major hazards of `flt`'s scope, the nearest stage deadline first (those with none last)."""
    # The rectification runs on the finding's own deadline; every other stage has a deadline of its own.
    due = case((s.c.stage == Stage.RECTIFICATION.value, f.c.due_at), else_=s.c.stage_due_at)

    steps = (
        select(func.count())
        .where(history.c.finding_id == f.c.id, history.c.action.like("supervision%"))
        .scalar_subquery()
    )
    escalations = select(func.count()).where(finding_actions.c.finding_id == f.c.id).scalar_subquery()
    lead = users.alias("lead")
    lead_name = func.coalesce(func.nullif(lead.c.name, ""), lead.c.username).label("lead")
    what = [f.c.id, facilities.c.name, f.c.town, f.c.item_zh, f.c.item_en, s.c.stage, s.c.year, s.c.number]
    query = (
        select(*what, due.label("due"), lead_name, steps.label("steps"), escalations.label("escalations"))
        .select_from(f)
        .join(facilities, facilities.c.id == f.c.facility_id)
        .outerjoin(s, s.c.finding_id == f.c.id)
        .outerjoin(lead, lead.c.id == s.c.lead_id)
        .where(*_open_majors(flt))
        .order_by(due.is_(None), due, f.c.id)
        .limit(limit)
    )
    today, rows = local_day(now), []
    for r in (await conn.execute(query)).all():  # in BoardRow's order
        notice = notice_number(prefix, r.year, r.number) if r.year else None
        left = (local_day(r.due) - today).days if r.due else None
        head = (r.id, r.name, r.town, r.item_zh, r.item_en, Stage(r.stage) if r.stage else None, notice)
        rows.append(BoardRow(*head, r.due, left, r.lead, r.steps, r.escalations))
    total = len(rows)
    if limit is not None and total >= limit:
        counted = select(func.count()).select_from(f).where(*_open_majors(flt))
        total = (await conn.execute(counted)).scalar_one()
    return Board(rows, total)
