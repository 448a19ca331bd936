"""What an inspection recorded on site, read back: for the 现场检查记录, the API's answer, the report and the ledger."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tracker.domain.errors import NotFound
from tracker.store.tables import (
    facilities,
    findings,
    inspection_inspectors,
    inspection_item_photos,
    inspection_items,
    inspections,
    users,
)


@dataclass(frozen=True)
class Inspector:
    id: int
    name: str
    warrant_no: str | None  # 执法证号; None where the register has none yet


@dataclass(frozen=True)
class CheckedItem:
    item_code: str
    result: str  # pass | fail | na | fixed
    note: str
    photo_ids: tuple[str, ...]  # photos of an item fixed during the visit (a failed item's are its finding's)


@dataclass(frozen=True)
class InspectionRecord:
    inspection: Any  # the inspections row
    facility: Any  # the facilities row
    onsite_at: datetime  # on-site time taken on the phone, or the submission's for inspections without one
    inspectors: tuple[Inspector, ...]  # the submitter first
    person_present: str
    items: tuple[CheckedItem, ...]  # in the order checked
    finding_ids: tuple[int, ...]

    @property
    def fixed(self) -> tuple[CheckedItem, ...]:
        return tuple(i for i in self.items if i.result == "fixed")


async def crew_of(conn: AsyncConnection, inspection: Any) -> list[Any]:
    """Who inspected (id, name, username, warrant_no), the submitter first: the one reading of the crew that the
    on-site record and the order both print."""
    crew = (
        await conn.execute(
            select(users.c.id, users.c.name, users.c.username, users.c.warrant_no)
            .join(inspection_inspectors, inspection_inspectors.c.user_id == users.c.id)
            .where(inspection_inspectors.c.inspection_id == inspection.id)
            .order_by(inspection_inspectors.c.position)
        )
    ).all()
    if not crew:  # written by other means than report_inspection: its submitter alone
        crew = (
            await conn.execute(
                select(users.c.id, users.c.name, users.c.username, users.c.warrant_no).where(
                    users.c.id == inspection.inspector_id
                )
            )
        ).all()
    return list(crew)


@dataclass(frozen=True)
class Visit:
    onsite_at: datetime
    inspectors: tuple[Inspector, ...]  # the submitter first
    person_present: str


async def visit_of(conn: AsyncConnection, inspection_id: int) -> Visit:
    """When, by whom and before whom an inspection was made: what the answer to its POST repeats, without the
    items and photos of the whole record."""
    inspection = await _inspection(conn, inspection_id)
    return Visit(
        inspection.onsite_at or inspection.submitted_at,
        inspectors_of(await crew_of(conn, inspection)),
        inspection.person_present,
    )


async def _inspection(conn: AsyncConnection, inspection_id: int) -> Any:
    inspection = (await conn.execute(select(inspections).where(inspections.c.id == inspection_id))).first()
    if inspection is None:
        raise NotFound(f"no inspection with id {inspection_id}")
    return inspection


def inspectors_of(crew: Iterable[Any]) -> tuple[Inspector, ...]:
    """The crew's users rows (id, name, username, warrant_no) as inspectors, in their order."""
    return tuple(Inspector(c.id, c.name or c.username, c.warrant_no) for c in crew)


async def inspection_record(conn: AsyncConnection, inspection_id: int) -> InspectionRecord:
    inspection = await _inspection(conn, inspection_id)
    facility = (await conn.execute(select(facilities).where(facilities.c.id == inspection.facility_id))).one()
    crew = await crew_of(conn, inspection)
    photos: dict[str, list[str]] = {}
    for row in await conn.execute(
        select(inspection_item_photos.c.item_code, inspection_item_photos.c.photo_id)
        .where(inspection_item_photos.c.inspection_id == inspection_id)
        .order_by(inspection_item_photos.c.photo_id)
    ):
        photos.setdefault(row.item_code, []).append(row.photo_id)
    items = (
        await conn.execute(
            select(inspection_items)
            .where(inspection_items.c.inspection_id == inspection_id)
            .order_by(inspection_items.c.item_code)
        )
    ).all()
    finding_ids = (
        await conn.execute(
            select(findings.c.id).where(findings.c.inspection_id == inspection_id).order_by(findings.c.id)
        )
    ).scalars()
    return InspectionRecord(
        inspection=inspection,
        facility=facility,
        onsite_at=inspection.onsite_at or inspection.submitted_at,
        inspectors=inspectors_of(crew),
        person_present=inspection.person_present,
        items=tuple(
            CheckedItem(i.item_code, i.result, i.note, tuple(photos.get(i.item_code, ()))) for i in items
        ),
        finding_ids=tuple(finding_ids),
    )


def _fixed_query(
    since: datetime | None,
    until: datetime | None,
    facility_ids: Sequence[int] | None,
    where: Mapping[str, Any] | None = None,
) -> Any:
    on_site = func.coalesce(inspections.c.onsite_at, inspections.c.submitted_at)
    query = (
        select(
            inspections.c.id.label("inspection_id"),
            on_site.label("onsite_at"),
            inspections.c.mode,
            facilities.c.id.label("facility_id"),
            facilities.c.name.label("facility_name"),
            facilities.c.town,
            facilities.c.type.label("facility_type"),
            inspection_items.c.item_code,
            inspection_items.c.note,
        )
        .join(inspections, inspections.c.id == inspection_items.c.inspection_id)
        .join(facilities, facilities.c.id == inspections.c.facility_id)
        .where(inspection_items.c.result == "fixed")
    )
    if since is not None:
        query = query.where(on_site >= since)
    if until is not None:
        query = query.where(on_site < until)
    if facility_ids is not None:
        query = query.where(inspections.c.facility_id.in_(facility_ids))
    columns = {
        "town": facilities.c.town,
        "facility_type": facilities.c.type,
        "facility_id": facilities.c.id,
        "mode": inspections.c.mode,
    }
    for name, value in (where or {}).items():
        if name == "item_codes":
            query = query.where(inspection_items.c.item_code.in_(value))
        else:
            query = query.where(columns[name] == value)
    return query


async def fixed_items(
    conn: AsyncConnection,
    since: datetime | None = None,
    until: datetime | None = None,
    facility_ids: Sequence[int] | None = None,
) -> list[Any]:
    """The items fixed during a visit (当场整改) whose on-site time lies in [since, until), oldest first: one row
    each with the inspection, its on-site time (the submission's where none was taken), mode, facility, item
    and note. For the ledger's 是否当场整改 and the report's count."""
    query = _fixed_query(since, until, facility_ids)
    return list((await conn.execute(query.order_by("onsite_at", "inspection_id", "item_code"))).all())


async def fixed_count(
    conn: AsyncConnection,
    since: datetime | None = None,
    until: datetime | None = None,
    facility_ids: Sequence[int] | None = None,
    **where: Any,
) -> int:
    """How many items were fixed during a visit in [since, until); `where` narrows by town, facility_type,
    facility_id, mode or item_codes, as a dashboard is narrowed."""
    shape = (since is not None, until is not None, facility_ids is not None, tuple(sorted(where)))
    values = {"since": since, "until": until, "facility_ids": list(facility_ids or ()), **where}
    # execute, not scalar: the dashboard's reads hand in a statement runner that only executes.
    return (await conn.execute(_fixed_count(*shape), values)).scalar_one()


@cache
def _fixed_count(since: bool, until: bool, ids: bool, names: tuple[str, ...]) -> Any:
    """fixed_count's statement, built once per shape (which bounds and filters are given) with its values bound
    by name: building it anew took about a millisecond of every dashboard page."""
    lists = ("facility_ids", "item_codes")
    bound = {n: bindparam(n, expanding=n in lists) for n in ("since", "until", "facility_ids", *names)}
    given = (bound["since"] if since else None, bound["until"] if until else None)
    query = _fixed_query(*given, bound["facility_ids"] if ids else None, {n: bound[n] for n in names})
    return select(func.count()).select_from(query.subquery())


__all__ = [
    "CheckedItem",
    "InspectionRecord",
    "Inspector",
    "Visit",
    "fixed_count",
    "fixed_items",
    "inspection_record",
    "inspectors_of",
    "visit_of",
]
