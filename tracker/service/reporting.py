"""Reporting an inspection: its failed items become findings, and the facts go to the outbox. Items fixed
during the visit (当场整改) are kept on the inspection and raise nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tracker.checklists import Catalog
from tracker.checklists.model import Item
from tracker.domain.calendar import LOCAL_TZ
from tracker.domain.errors import InvalidInput, ReferenceInUse
from tracker.domain.grading import PENDING, Grade, crew, grade, onsite_time
from tracker.domain.model import Actor, FacilityRef, Mode, Role, Severity, Status, may_report, visible_to
from tracker.domain.policy import PolicySettings
from tracker.events.schemas import FindingReported, InspectionSubmitted, SupervisionAdvanced
from tracker.service import composite, plans
from tracker.service.photos import PDF
from tracker.service.record import Inspector, Visit, inspectors_of
from tracker.service.supervision_stage import DEFAULT_SUPERVISOR, open_for
from tracker.store.db import read_only
from tracker.store.outbox import add_events
from tracker.store.tables import (
    facilities,
    findings,
    history,
    inspection_inspectors,
    inspection_item_photos,
    inspection_items,
    inspections,
    photo_links,
    photos,
    users,
)
from tracker.store.writer import write

RESULTS = ("pass", "fail", "na", "fixed")


@dataclass(frozen=True)
class ItemResult:
    item: str
    result: str  # pass | fail | na | fixed (当场整改: fixed during the visit)
    note: str = ""
    severity: Severity | None = None
    photos: list[str] = field(default_factory=list)
    # The failure reaches the quantity a composite rule's element sets (e.g. over half the lights damaged).
    quantity_met: bool = False
    severity_reason: str = ""  # why a major-mapped item is recorded as general


@dataclass(frozen=True)
class InspectionInput:
    facility_id: int
    mode: Mode
    client_ref: str
    items: list[ItemResult]
    onsite_at: datetime | None = None  # taken on the phone when the check began
    inspectors: list[int] = field(default_factory=list)  # user ids besides the submitter
    person_present: str = ""


@dataclass(frozen=True)
class Notices:
    """What a major finding's 挂牌督办 notice is given at once: the stage deadlines' policy, the supervising unit
    and the number's prefix (from the settings)."""

    policy: PolicySettings = field(default_factory=PolicySettings)
    supervisor: str = DEFAULT_SUPERVISOR
    prefix: str = ""


@dataclass(frozen=True)
class Reported:
    inspection_id: int
    finding_ids: list[int]
    created: bool
    fixed: int = 0  # items fixed during the visit
    # As written, for the answer to read nothing back: every finding's row (None when some were written
    # otherwise: a composite rule's), and when, by whom and before whom the visit was made.
    rows: list[Any] | None = None
    visit: Visit | None = None


async def report_inspection(
    engine: AsyncEngine,
    catalog: Catalog,
    actor: Actor,
    data: InspectionInput,
    now: datetime,
    notices: Notices | None = None,
) -> Reported:
    """Record an inspection once per (submitter, client_ref): the same person sending the same ref again gets
    the first inspection back and creates nothing. Whether they may report at this facility is checked before
    any ref is looked up, and a ref is only ever looked up among the sender's own inspections."""

    async def report(conn: AsyncConnection) -> Reported:
        return await report_within(conn, catalog, actor, data, now, notices)

    try:
        return await write(engine, report)
    except IntegrityError:
        # The same person's other request with this client_ref won the race; answer with its inspection.
        async with engine.connect() as conn:
            existing = await _existing(conn, actor, data)
        if existing is None:
            raise
        return existing


async def report_within(
    conn: AsyncConnection,
    catalog: Catalog,
    actor: Actor,
    data: InspectionInput,
    now: datetime,
    notices: Notices | None = None,
) -> Reported:
    """report_inspection in the caller's transaction, for a step that raises findings together with its own
    change (a lapsed certificate's claim, tracker.service.certificates): the same checks, rows and events."""
    facility, mode = await _authorized(conn, actor, data)
    existing = await _existing(conn, actor, data)
    if existing is not None:
        return existing
    return await _record(conn, catalog, actor, data, facility, mode, now, notices or Notices())


async def check_inspection(
    engine: AsyncEngine, catalog: Catalog, actor: Actor, data: InspectionInput, now: datetime
) -> None:
    """What report_inspection checks before it writes, for a form that stores its photos only once the
    report is allowed (the photo ids are not checked: there are none yet)."""
    async with read_only(engine) as conn:
        facility, mode = await _authorized(conn, actor, data)
        catalog = catalog.at(now.astimezone(LOCAL_TZ).date())
        await _check_items(conn, catalog, actor, facility.type, data.items)
        _grades(catalog, facility.type, data.items)
        crew(mode, actor.id, data.inspectors)


async def _fixed_on(conn: AsyncConnection, inspection_id: int) -> int:
    """How many items of an inspection were fixed during the visit."""
    return await conn.scalar(
        select(func.count()).where(
            inspection_items.c.inspection_id == inspection_id, inspection_items.c.result == "fixed"
        )
    )


def default_grade(item: Item, facility_type: str) -> Severity:
    """The grade an item maps to at a facility of this type, before the inspector says anything."""
    return Severity(item.for_facility_type(facility_type).severity)


def _grades(catalog: Catalog, facility_type: str, items: list[ItemResult]) -> dict[str, Grade]:
    """Each failed item's grade; a major-mapped one recorded as general needs its reason (tracker.domain.grading)."""
    return {
        i.item: grade(
            default_grade(catalog.item(i.item), facility_type),
            Severity(i.severity) if i.severity else None,
            i.severity_reason,
            f"items[{n}].severity_reason",
        )
        for n, i in enumerate(items)
        if i.result == "fail"
    }


async def _authorized(conn: AsyncConnection, actor: Actor, data: InspectionInput) -> tuple[Row[Any], Mode]:
    try:
        mode = Mode(data.mode)
    except ValueError:
        raise InvalidInput(
            "mode", f"unknown mode {data.mode!r}; one of {', '.join(m.value for m in Mode)}"
        ) from None
    facility = (await conn.execute(_FACILITY, {"facility_id": data.facility_id})).first()
    if facility is None:
        if not visible_to(actor).everything:
            # Answered word for word as a facility outside their reach, so that ids cannot be probed.
            may_report(actor, FacilityRef(-1, ""), mode)
        raise InvalidInput("facility_id", f"no facility with id {data.facility_id}")
    may_report(actor, FacilityRef(facility.id, facility.town), mode)
    return facility, mode


async def _existing(conn: AsyncConnection, actor: Actor, data: InspectionInput) -> Reported | None:
    sent = (await conn.execute(_SENT, {"client_ref": data.client_ref})).all()
    first = next((row for row in sent if row.inspector_id == actor.id), None)
    if first is None:
        # A ref is one submission's: another person's is refused whole, never answered with what it holds.
        # Phones make refs with randomUUID, so a ref taken by someone else is a replay, not a clash.
        if sent:
            raise ReferenceInUse(
                "client_ref", "this client_ref belongs to another submission; send a new one"
            )
        return None
    if first.facility_id != data.facility_id:
        raise ReferenceInUse(
            "client_ref", "you already sent this client_ref for another inspection; send a new one"
        )
    ids = (
        await conn.execute(
            select(findings.c.id).where(findings.c.inspection_id == first.id).order_by(findings.c.id)
        )
    ).scalars()
    return Reported(first.id, list(ids), created=False, fixed=await _fixed_on(conn, first.id))


async def _record(
    conn: AsyncConnection,
    catalog: Catalog,
    actor: Actor,
    data: InspectionInput,
    facility: Row[Any],
    mode: Mode,
    now: datetime,
    notices: Notices,
) -> Reported:
    # The checklist versions in effect on the day of the inspection, not of the server's restart.
    catalog = catalog.at(now.astimezone(LOCAL_TZ).date())
    await _check_items(conn, catalog, actor, facility.type, data.items)
    team = await _crew(conn, crew(mode, actor.id, data.inspectors))
    onsite_at = onsite_time(data.onsite_at, now)
    if len(data.person_present) > 100:
        raise InvalidInput("person_present", "at most 100 characters")

    inspection_id = (
        await conn.execute(
            _NEW_INSPECTION,
            {
                "client_ref": data.client_ref,
                "facility_id": facility.id,
                "mode": mode.value,
                "inspector_id": actor.id,
                "submitted_at": now,
                "checklist_versions": {
                    catalog.item(i.item).category: catalog.item(i.item).checklist_version for i in data.items
                },
                "onsite_at": onsite_at,
                "person_present": data.person_present.strip(),
            },
        )
    ).scalar_one()
    await conn.execute(
        _INSPECTORS,
        [{"inspection_id": inspection_id, "user_id": u.id, "position": n} for n, u in enumerate(team)],
    )
    await conn.execute(
        _ITEMS,
        [
            {"inspection_id": inspection_id, "item_code": i.item, "result": i.result, "note": i.note}
            for i in data.items
        ],
    )
    # A planned check (双随机) of this facility in its period is fulfilled with the inspection, in its transaction.
    await plans.fulfil(conn, facility.id, inspection_id, mode.value, onsite_at or now)
    fixed = [i for i in data.items if i.result == "fixed"]
    fixed_photos = [
        {"photo_id": p, "inspection_id": inspection_id, "item_code": i.item} for i in fixed for p in i.photos
    ]
    if fixed_photos:
        await conn.execute(insert(inspection_item_photos), fixed_photos)

    failed = [i for i in data.items if i.result == "fail"]
    # The grade and printed basis are those of the facility's type (the elderly-care standard binds only there).
    # A major-mapped item recorded as general stays major, its downgrade pending, until a section chief decides.
    grades = _grades(catalog, facility.type, data.items)
    severities: dict[str, str] = {code: g.severity.value for code, g in grades.items()}
    raised_by: dict[str, str] = {}
    judged = await composite.judgement(conn, catalog, facility.type, failed, severities)
    for hit in judged.raised:
        if severities[hit.item_code] != hit.new_severity:
            severities[hit.item_code] = hit.new_severity
            raised_by[hit.item_code] = hit.rule_code

    # One statement per kind of row, not per finding: the write lock is held for as short as can be.
    repeats = await _found_before(conn, facility.id, [r.item for r in failed], now)
    rows = []
    for result in failed:
        item = catalog.item(result.item).for_facility_type(facility.type)
        severity = severities[result.item]
        rows.append(
            {
                "inspection_id": inspection_id,
                "facility_id": facility.id,
                "item_code": item.code,
                "category": item.category,
                "item_zh": item.zh,
                "item_en": item.en,
                "basis": item.basis,
                "severity": severity,
                "severity_rule": raised_by.get(item.code),
                "severity_reason": grades[item.code].reason,
                "downgrade": grades[item.code].downgrade,
                "stop_use": item.stop_use,
                "description": result.note,
                "status": Status.REPORTED.value,
                "listed_for_supervision": severity == Severity.MAJOR.value,
                "deadline_days": item.deadline_days(severity),
                "escalation_level": 0,
                "round": 1,
                "reported_at": now,
                "town": facility.town,
                "facility_type": facility.type,
                "mode": mode.value,
                "is_repeat": item.code in repeats,
            }
        )
    finding_ids: list[int] = []
    if rows:
        # One statement for all of them: RETURNING in parameter order would be a statement a row on SQLite,
        # so the rows written are matched to the items by code, which an inspection lists once.
        written = dict((await conn.execute(_NEW_FINDINGS, rows)).all())
        finding_ids = [written[row["item_code"]] for row in rows]
        await conn.execute(
            _HISTORY,
            [
                {
                    "finding_id": finding_id,
                    "at": now,
                    "action": "reported",
                    "actor_id": actor.id,
                    "note": row["description"],
                    "data": {"severity": row["severity"], "mode": mode.value, "rule": row["severity_rule"]},
                }
                for finding_id, row in zip(finding_ids, rows, strict=True)
            ]
            + [
                # The inspector asked for general; the finding stays major until a section chief decides.
                {
                    "finding_id": finding_id,
                    "at": now,
                    "action": "downgrade_requested",
                    "actor_id": actor.id,
                    "note": row["severity_reason"],
                    "data": {"from": Severity.MAJOR.value, "to": Severity.GENERAL.value},
                }
                for finding_id, row in zip(finding_ids, rows, strict=True)
                if row["downgrade"] == PENDING
            ],
        )
    links = [
        {"photo_id": photo, "finding_id": finding_id, "stage": "report"}
        for finding_id, result in zip(finding_ids, failed, strict=True)
        for photo in result.photos
    ]
    if links:
        await conn.execute(insert(photo_links), links)
    made = await composite.record(
        conn,
        catalog,
        judged,
        inspection_id=inspection_id,
        facility=facility,
        mode=mode.value,
        actor_id=actor.id,
        now=now,
        element_ids={row["item_code"]: fid for fid, row in zip(finding_ids, rows, strict=True)},
    )
    finding_ids += [fid for fid, _ in made]
    rows += [row for _, row in made]
    # Every major finding is put under supervision at once, judged by the one who graded it.
    majors = [
        fid for fid, row in zip(finding_ids, rows, strict=True) if row["severity"] == Severity.MAJOR.value
    ]
    opened = await open_for(
        conn, majors, actor.id, notices.policy, now, supervisor=notices.supervisor, prefix=notices.prefix
    )
    events: list = [
        FindingReported(
            finding_id=finding_id,
            inspection_id=inspection_id,
            facility_id=facility.id,
            item_code=row["item_code"],
            severity=row["severity"],
            occurred_at=now,
        )
        for finding_id, row in zip(finding_ids, rows, strict=True)
    ]
    events += [
        SupervisionAdvanced(finding_id=fid, facility_id=facility.id, stage=stage.value, occurred_at=now)
        for fid, stage in opened
    ]
    events.append(
        InspectionSubmitted(
            inspection_id=inspection_id, facility_id=facility.id, finding_ids=finding_ids, occurred_at=now
        )
    )
    await add_events(conn, events, now)
    return Reported(
        inspection_id,
        finding_ids,
        created=True,
        fixed=len(fixed),
        rows=None if made else [_as_written(row, fid) for fid, row in zip(finding_ids, rows, strict=True)],
        # In UTC, as the column keeps it and a read gives it back: a phone sends its own zone's time.
        visit=Visit((onsite_at or now).astimezone(UTC), team, data.person_present.strip()),
    )


def _as_written(values: dict[str, Any], finding_id: int) -> Any:
    """A finding's row as a read would give it: the values written (their moments in UTC, as the columns keep
    them), each other column's own default or NULL."""
    written = {k: v.astimezone(UTC) if isinstance(v, datetime) else v for k, v in values.items()}
    return SimpleNamespace(**{**_UNWRITTEN, **written, "id": finding_id})


async def _found_before(
    conn: AsyncConnection, facility_id: int, item_codes: list[str], now: datetime
) -> set[str]:
    """The items that already failed at this facility (repeat findings, as tracker.stats counts them). A finding
    of them reported later than `now` (a clock set back) is made a repeat of this one by the day book's catch-up,
    not here."""
    if not item_codes:
        return set()
    earlier = await conn.execute(_FOUND, {"facility_id": facility_id, "codes": item_codes, "now": now})
    return set(earlier.scalars())


async def _check_items(
    conn: AsyncConnection, catalog: Catalog, actor: Actor, facility_type: str, items: list[ItemResult]
) -> None:
    if not items:
        raise InvalidInput("items", "an inspection needs at least one checked item")
    seen: set[str] = set()
    for n, result in enumerate(items):
        where = f"items[{n}]"
        if not catalog.has(result.item):
            raise InvalidInput(f"{where}.item", f"unknown checklist item {result.item!r}")
        if not catalog.item(result.item).applies_to(facility_type):
            raise InvalidInput(f"{where}.item", f"{result.item} does not apply to a {facility_type}")
        if result.item in seen:
            raise InvalidInput(f"{where}.item", f"{result.item} is listed twice")
        seen.add(result.item)
        if result.result not in RESULTS:
            raise InvalidInput(f"{where}.result", "result must be pass, fail, na or fixed")
        if result.result == "fixed" and not result.note.strip():
            raise InvalidInput(f"{where}.note", "say what was fixed during the visit")
        if result.severity is not None and result.severity not in tuple(Severity):
            raise InvalidInput(f"{where}.severity", "severity must be general or major")
        if result.photos:
            if result.result not in ("fail", "fixed"):
                raise InvalidInput(f"{where}.photos", "photos belong to failed or fixed items")
            owned = set(
                (
                    await conn.execute(
                        select(photos.c.id).where(
                            photos.c.id.in_(result.photos),
                            photos.c.uploaded_by == actor.id,
                            photos.c.content_type != PDF,  # an action's letter, never an inspection's photo
                        )
                    )
                ).scalars()
            )
            missing = [p for p in result.photos if p not in owned]
            if missing:
                raise InvalidInput(f"{where}.photos", f"unknown photo id(s): {', '.join(missing)}")


async def _crew(conn: AsyncConnection, team: list[int]) -> tuple[Inspector, ...]:
    """Who made the check, the submitter first. Co-inspectors come from the register: active people of the
    bureau or a town's office."""
    people = {u.id: u for u in await conn.execute(_PEOPLE, {"ids": team})}
    unknown = [
        str(u)
        for u in team[1:]
        if u not in people or not people[u].active or people[u].role == Role.FACILITY_HEAD.value
    ]
    if unknown:
        raise InvalidInput("inspectors", f"not in the register of inspectors: {', '.join(unknown)}")
    return inspectors_of(people[i] for i in team)


# What reporting reads and writes, built once: building a statement and its cache key cost SQLAlchemy more than
# running it, inside the write lock.
_FACILITY = select(facilities.c.id, facilities.c.town, facilities.c.type).where(
    facilities.c.id == bindparam("facility_id")
)
_SENT = select(inspections.c.id, inspections.c.facility_id, inspections.c.inspector_id).where(
    inspections.c.client_ref == bindparam("client_ref")
)
_PEOPLE = select(
    users.c.id, users.c.name, users.c.username, users.c.warrant_no, users.c.active, users.c.role
).where(users.c.id.in_(bindparam("ids", expanding=True)))
_NEW_INSPECTION = insert(inspections).returning(inspections.c.id)
_INSPECTORS = insert(inspection_inspectors)
_ITEMS = insert(inspection_items)
# Only the new ids come back, by item code: the rows are known, and reading every column of them back cost about a
# tenth of the report inside the write lock.
_NEW_FINDINGS = insert(findings).returning(findings.c.item_code, findings.c.id)
_UNWRITTEN = {
    column.name: column.default.arg if column.default is not None and column.default.is_scalar else None
    for column in findings.c
}
_HISTORY = insert(history)
_FOUND = (
    select(findings.c.item_code)
    .where(
        findings.c.facility_id == bindparam("facility_id"),
        findings.c.item_code.in_(bindparam("codes", expanding=True)),
        findings.c.reported_at < bindparam("now"),
    )
    .distinct()
)


__all__ = [
    "InspectionInput",
    "ItemResult",
    "Reported",
    "check_inspection",
    "default_grade",
    "report_inspection",
    "report_within",
]
