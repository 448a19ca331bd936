"""The one visibility rule (tracker.domain.model.visible_to) applied to queries, to one facility and to one
finding. Every page, API call and use case asks here."""

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


def sees(actor: Actor, facility: Any) -> bool:
    """Whether `actor` may see `facility` (anything with the facility's `id` and `town`)."""
    return can_see(actor, FacilityRef(facility.id, facility.town))


async def visible_facility(conn: AsyncConnection, actor: Actor, facility_id: int) -> Row[Any]:
    """The facility's row, if `actor` may see it; otherwise NotFound, as if it did not exist."""
    row = (await conn.execute(select(facilities).where(facilities.c.id == facility_id))).first()
    if row is None or not sees(actor, row):
        raise NotFound(f"no facility with id {facility_id}")
    return row


async def visible_finding(conn: AsyncConnection, actor: Actor, finding_id: int) -> Row[Any]:
    """The finding's facility row, if `actor` may see the finding. Someone who may not see a finding is told it
    does not exist, not that it is forbidden."""
    row = (
        await conn.execute(
            select(facilities)
            .join(findings, findings.c.facility_id == facilities.c.id)
            .where(findings.c.id == finding_id)
        )
    ).first()
    if row is None or not sees(actor, row):
        raise NotFound(f"no finding with id {finding_id}")
    return row
