"""The one visibility rule (tracker.domain.model.visible_to) applied to queries and to one finding."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, false, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from tracker.domain.errors import NotFound
from tracker.domain.model import Actor, FacilityRef, Scope, can_see, visible_to
from tracker.store.tables import facilities, findings


def within(
    scope: Scope,
    query: Select[Any],
    facility_id: ColumnElement[Any] = facilities.c.id,
    town: ColumnElement[Any] = facilities.c.town,
) -> Select[Any]:
    """`query` narrowed to the facilities `scope` covers, by the columns that hold a facility's id and town."""
    if scope.everything:
        return query
    if scope.facility_id is not None:
        return query.where(facility_id == scope.facility_id)
    if scope.town is not None:
        return query.where(town == scope.town)
    return query.where(false())


def scoped(actor: Actor, query: Select[Any]) -> Select[Any]:
    """`query` (which reads the facilities table) narrowed to what `actor` may see."""
    return within(visible_to(actor), query)


async def visible_finding(conn: AsyncConnection, actor: Actor, finding_id: int) -> Row[Any]:
    """The finding's facility (id, town), if `actor` may see it. Someone who may not see a finding is told it
    does not exist, not that it is forbidden."""
    row = (
        await conn.execute(
            select(facilities.c.id, facilities.c.town)
            .join(findings, findings.c.facility_id == facilities.c.id)
            .where(findings.c.id == finding_id)
        )
    ).first()
    if row is None or not can_see(actor, FacilityRef(row.id, row.town)):
        raise NotFound(f"no finding with id {finding_id}")
    return row
