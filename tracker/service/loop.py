"""The steps of the loop after a finding is reported: order, rectify, verify."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from tracker.domain import model
from tracker.domain import supervision as track
from tracker.domain.calendar import LOCAL_TZ, WorkingCalendar, fallback_years_warning
from tracker.domain.errors import InvalidInput, InvalidTransition, NotAllowed, NotFound, StaleFinding
from tracker.domain.model import Actor, ExtensionStatus, Mode, Role, Status
from tracker.domain.policy import (
    Deadline,
    PolicySettings,
    deadline_for,
    first_escalation_at,
    rejection_workdays,
    review_deadline,
)
from tracker.domain.supervision import Stage
from tracker.events.schemas import (
    ExtensionDecided,
    ExtensionRequested,
    FindingClosed,
    OrderIssued,
    RectificationRejected,
    RectificationSubmitted,
    SupervisionAdvanced,
)
from tracker.service.context import load_calendar
from tracker.service.order_links import facility_heads
from tracker.service.photos import PDF
from tracker.service.sectors import facility_sector
from tracker.service.supervision_stage import advance, supervision_of
from tracker.service.visibility import visible_finding
from tracker.store.db import is_sqlite
from tracker.store.outbox import add_events
from tracker.store.tables import (
    extension_requests,
    facilities,
    findings,
    history,
    inspections,
    order_numbers,
    orders,
    photo_links,
    photos,
    rectifications,
    verifications,
)

log = logging.getLogger("tracker.deadlines")
_warned_years: set[int] = set()


# The most working days a verifier may give a rejected rectification (a structural fix may take months).
MAX_REJECTION_DAYS = 90


@dataclass(frozen=True)
class IssuedOrder:
    """An order and where its mail goes (its words are written by the mailer as it sends it): as issuing it
    wrote them (`issue_order`), or read again (`tracker.service.notify.read_issued`)."""

    order: Any
    address: str  # the findings' owner's, else the facility head's on the register
    event_id: str = ""  # the OrderIssued event's, when just issued

    @property
    def order_id(self) -> int:
        return self.order.id


async def issue_order(
    conn: AsyncConnection, inspection_id: int, policy: PolicySettings, now: datetime
) -> IssuedOrder | None:
    """Give every reported finding of an inspection an owner and a deadline, under one order per facility. A
    facility's self-inspection raises no bureau order: its findings get the same owner and deadline on the
    facility's own register (order_id stays empty), and still need evidence and the bureau's verification."""
    issued = await issue_orders(conn, [inspection_id], policy, now)
    return issued[0] if issued else None


async def issue_orders(
    conn: AsyncConnection, inspection_ids: list[int], policy: PolicySettings, now: datetime
) -> list[IssuedOrder]:
    """issue_order for several inspections in one go, each kind of row read or written by one statement for them
    all (the worker issues a batch of submitted inspections so, inside SQLite's one write lock). The orders
    issued, in their inspections' order; none for an inspection with nothing reported or for a self-inspection."""
    # Locked as read (PostgreSQL; SQLite's writer holds the whole database): nothing changes them before the
    # updates below. Their status is checked here, not in the query: beside a list of inspections, a condition
    # on it would have SQLite walk the index entries of every reported finding.
    read = await conn.execute(_FINDINGS_OF, {"inspection_ids": sorted(set(inspection_ids))})
    reported: dict[int, list[Any]] = {}
    for finding in read:
        if finding.status == Status.REPORTED.value:
            reported.setdefault(finding.inspection_id, []).append(finding)
    if not reported:
        return []
    facility_ids = sorted({found[0].facility_id for found in reported.values()})
    facility = {row.id: row for row in await conn.execute(_FACILITIES, {"facility_ids": facility_ids})}
    head = await facility_heads(conn, facility_ids)
    order = {
        row.inspection_id: row for row in await conn.execute(_ORDERS_OF, {"inspection_ids": list(reported)})
    }
    unnumbered = [
        inspection_id
        for inspection_id, found in reported.items()
        if inspection_id not in order and found[0].mode != Mode.SELF.value
    ]
    if unnumbered:
        year = now.astimezone(LOCAL_TZ).year
        numbers = await next_order_numbers(conn, year, len(unnumbered))
        new = [
            {
                "inspection_id": inspection_id,
                "facility_id": reported[inspection_id][0].facility_id,
                "issued_at": now,
                "year": year,
                "number": number,
            }
            for inspection_id, number in zip(unnumbered, numbers, strict=True)
        ]
        # RETURNING in parameter order would be a statement a row on SQLite: matched by inspection instead.
        order.update({row.inspection_id: row for row in await conn.execute(_NEW_ORDER, new)})

    calendar = await load_calendar(conn)
    # Findings with the same number of days share a deadline, worked out once.
    deadlines: dict[int, Deadline] = {}
    for found in reported.values():
        for finding in found:
            model.order(Status(finding.status))
            days = finding.deadline_days or 0
            if days not in deadlines:
                deadlines[days] = deadline_for(now, days, calendar, policy)
    timing = {days: _timing(deadline, calendar, policy) for days, deadline in deadlines.items()}
    for deadline in deadlines.values():
        if deadline.estimated and deadline.day.year not in _warned_years:
            # Once per year and process: the finding itself carries the warning for every reader.
            _warned_years.add(deadline.day.year)
            log.warning("%s", fallback_years_warning({deadline.day.year}))

    keys, owners, logged, issued, events = [], [], [], [], []
    for inspection_id, found in reported.items():
        place = facility[found[0].facility_id]
        its_head = head.get(place.id)
        its_order = order.get(inspection_id)
        key = {
            "order_id": its_order.id if its_order else None,
            "owner_user_id": its_head.id if its_head else None,
        }
        owner = {
            "owner_name": place.head_name,
            "owner_email": (its_head.email if its_head else None) or place.head_email,
            "ordered_at": now,
        }
        action = "ordered" if its_order else "self_registered"
        for finding in found:
            days = finding.deadline_days or 0
            due = deadlines[days]
            keys.append({"finding_id": finding.id, **key})
            owners.append({"finding_id": finding.id, **owner, **timing[days]})
            logged.append(
                {
                    "finding_id": finding.id,
                    "at": now,
                    "action": action,
                    "actor_id": None,
                    "note": "",
                    "data": {"due_day": due.day.isoformat(), "estimated": due.estimated},
                }
            )
        if its_order is None:
            continue
        event = OrderIssued(
            order_id=its_order.id,
            inspection_id=inspection_id,
            facility_id=place.id,
            finding_ids=[f.id for f in found],
            occurred_at=now,
        )
        events.append(event)
        issued.append(IssuedOrder(its_order, owner["owner_email"], event.event_id))
    await conn.execute(_OWN_FINDINGS, keys)
    await conn.execute(_ORDER_FINDING, owners)
    await conn.execute(_LOGGED, logged)
    if events:
        await add_events(conn, events, now)
    return issued


# What issuing orders reads and writes, built once: building a statement and its cache key cost SQLAlchemy more
# than running it, inside the write lock.
_FINDINGS_OF = (
    select(findings)
    .where(findings.c.inspection_id.in_(bindparam("inspection_ids", expanding=True)))
    .order_by(findings.c.id)
    .with_for_update()
)
_FACILITIES = select(facilities).where(facilities.c.id.in_(bindparam("facility_ids", expanding=True)))
_ORDERS_OF = select(orders).where(orders.c.inspection_id.in_(bindparam("inspection_ids", expanding=True)))
_NEW_ORDER = insert(orders).returning(*orders.c)
_LOGGED = insert(history)

# The findings ordered: their owner, their deadline and when they are first reminded and escalated. The two keys
# (the order, the owner's login) are set by a statement of their own: SQLite takes a slower path for every column
# of an UPDATE that changes a foreign key, and the rest changes the findings' status in a dozen indexes. Both run
# a finding at a time (executemany), in the transaction that locked the findings as it read them, reported
# (_FINDINGS_OF), so nothing comes between them.
_OWN_FINDINGS = (
    update(findings)
    .where(findings.c.id == bindparam("finding_id"))
    .values(order_id=bindparam("order_id"), owner_user_id=bindparam("owner_user_id"))
)
_ORDER_FINDING = (
    update(findings)
    .where(findings.c.id == bindparam("finding_id"), findings.c.status == Status.REPORTED.value)
    .values(
        status=Status.ORDERED.value,
        **{
            column: bindparam(column)
            for column in (
                "owner_name",
                "owner_email",
                "ordered_at",
                "due_at",
                "due_day",
                "due_estimated",
                "due_from",
                "due_workdays",
                "remind_at",
                "next_escalation_at",
            )
        },
    )
)


def _timing(deadline: Deadline, calendar: WorkingCalendar, policy: PolicySettings) -> dict[str, Any]:
    """A deadline as the columns of an ordered finding: when it is due, and first reminded and escalated."""
    return {
        "due_at": deadline.due_at,
        "due_day": deadline.day,
        "due_estimated": deadline.estimated,
        "due_from": deadline.counted_from,
        "due_workdays": deadline.workdays,
        "remind_at": deadline.remind_at,
        "next_escalation_at": first_escalation_at(deadline, calendar, policy),
    }


async def next_order_number(conn: AsyncConnection, year: int) -> int:
    """The next number of `year`, 1 for its first order."""
    return (await next_order_numbers(conn, year, 1))[0]


async def next_order_numbers(conn: AsyncConnection, year: int, count: int) -> range:
    """The next `count` numbers of `year`, from 1 for its first order. One upsert: a second issuer waits on the
    year's row until the first commits, then counts on from its numbers; a rolled-back order gives its back."""
    last = (await conn.execute(_COUNTED[is_sqlite(conn)], {"year": year, "last_number": count})).scalar_one()
    return range(last - count + 1, last + 1)


def _counting(dialect_insert: Any) -> Any:
    counted = dialect_insert(order_numbers)
    return counted.on_conflict_do_update(
        index_elements=[order_numbers.c.year],
        set_={"last_number": order_numbers.c.last_number + counted.excluded.last_number},
    ).returning(order_numbers.c.last_number)


_COUNTED = {True: _counting(sqlite_insert), False: _counting(postgresql_insert)}


async def load_finding(conn: AsyncConnection, finding_id: int):
    row = (await conn.execute(select(findings).where(findings.c.id == finding_id))).first()
    if row is None:
        raise NotFound(f"no finding with id {finding_id}")
    return row


async def load_visible_finding(conn: AsyncConnection, actor: Actor, finding_id: int):
    """The finding, if `actor` may see it; otherwise NotFound, as if it did not exist. Every step of the loop
    asks through here, so no entry point can forget the visibility rule."""
    await visible_finding(conn, actor, finding_id)
    return await load_finding(conn, finding_id)


async def submit_rectification(
    conn: AsyncConnection,
    actor: Actor,
    finding_id: int,
    note: str,
    photo_ids: list[str],
    now: datetime,
    policy: PolicySettings | None = None,
) -> int:
    """The facility's answer; the bureau's 复查 deadline starts to run (tracker.service.review_sweep)."""
    finding = await load_visible_finding(conn, actor, finding_id)
    model.may_submit_rectification(actor, finding.facility_id)
    transition = model.submit(Status(finding.status))
    tracked = await supervision_of(conn, finding_id)
    if tracked is not None:
        track.may_rectify(Stage(tracked.stage))
    if not note.strip():
        raise InvalidInput("note", "describe what was done")
    await _check_photos(conn, actor, photo_ids)
    review = review_deadline(now, finding.severity, await load_calendar(conn), policy or PolicySettings())
    await _move(
        conn,
        finding,
        transition,
        now,
        submitted_at=now,
        review_due_at=review.deadline.due_at,
        review_day=review.deadline.day,
        review_remind_at=review.deadline.remind_at,
        review_escalation_at=review.escalate_at,
        review_level=0,
    )
    rectification_id = (
        await conn.execute(
            insert(rectifications).values(
                finding_id=finding_id,
                note=note,
                submitted_by=actor.id,
                submitted_at=now,
                review_due_at=review.deadline.due_at,
            )
        )
    ).inserted_primary_key[0]
    await _link_photos(conn, finding_id, photo_ids, "evidence")
    await _log(
        conn,
        finding_id,
        now,
        transition.action,
        actor.id,
        note,
        {"photos": photo_ids, "review_day": review.deadline.day.isoformat()},
    )
    await add_events(
        conn,
        [
            RectificationSubmitted(
                finding_id=finding_id,
                facility_id=finding.facility_id,
                rectification_id=rectification_id,
                occurred_at=now,
            )
        ],
        now,
    )
    return rectification_id


async def verify(
    conn: AsyncConnection,
    actor: Actor,
    finding_id: int,
    accepted: bool,
    note: str,
    photo_ids: list[str],
    policy: PolicySettings,
    now: datetime,
    deadline_days: int | None = None,
) -> int:
    """Close the finding, or send it back with a new deadline: `deadline_days` working days as the verifier
    chose, by default the item's own deadline days. Either way its 复查 is done."""
    finding = await load_visible_finding(conn, actor, finding_id)
    model.may_verify(actor, finding.facility_id)
    transition = model.verify(Status(finding.status), accepted)
    if deadline_days is not None and not 0 <= deadline_days <= MAX_REJECTION_DAYS:
        raise InvalidInput(
            "deadline_days", f"deadline_days must be a whole number in 0..{MAX_REJECTION_DAYS}"
        )
    tracked = await supervision_of(conn, finding_id)
    # A major hazard is not closed by its verification: accepted, it awaits 验收 and the lead's sign-off.
    step = track.verified(Stage(tracked.stage), accepted) if tracked is not None else None
    await _check_photos(conn, actor, photo_ids)
    await conn.execute(
        update(rectifications)
        .where(rectifications.c.finding_id == finding_id, rectifications.c.reviewed_at.is_(None))
        .values(reviewed_at=now)
    )
    reviewed = {
        "review_due_at": None,
        "review_day": None,
        "review_remind_at": None,
        "review_escalation_at": None,
        "review_level": 0,
    }
    verification_id = await record_verification(conn, finding_id, accepted, note, actor.id, now)
    await _link_photos(conn, finding_id, photo_ids, "verification")
    if accepted and step is not None:
        # Its 复查 is done: the status stays submitted while 验收 and the sign-off run on their own deadlines.
        done = await conn.execute(
            update(findings)
            .where(findings.c.id == finding_id, findings.c.status == Status.SUBMITTED.value)
            .values(**reviewed)
        )
        if done.rowcount != 1:
            raise StaleFinding(f"finding {finding_id} changed meanwhile; try again")
        await advance(
            conn, finding_id, step, policy, now, actor.id, note, {"verification_id": verification_id}
        )
        advanced = SupervisionAdvanced(
            finding_id=finding_id, facility_id=finding.facility_id, stage=step.after.value, occurred_at=now
        )
        await add_events(conn, [advanced], now)
        return verification_id
    if accepted:
        await _move(
            conn,
            finding,
            transition,
            now,
            closed_at=now,
            closed_by=actor.id,
            remind_at=None,
            next_escalation_at=None,
            **reviewed,
        )
        await _log(conn, finding_id, now, transition.action, actor.id, note, {})
        event = FindingClosed(
            finding_id=finding_id,
            facility_id=finding.facility_id,
            verification_id=verification_id,
            occurred_at=now,
        )
    else:
        back = await rejection(conn, finding, deadline_days, policy, now)
        await send_back(conn, finding, back, now, **reviewed)
        await _log(
            conn,
            finding_id,
            now,
            transition.action,
            actor.id,
            note,
            {
                "due_day": back.deadline.day.isoformat(),
                "days": back.days,
                "chosen": deadline_days is not None,
            },
        )
        event = back.rejected(finding, verification_id, now)
    await add_events(conn, [event], now)
    return verification_id


@dataclass(frozen=True)
class Rejection:
    """A failed check's new deadline (复查 by the inspector, or 验收 by the section chief) and its first
    escalation."""

    days: int
    deadline: Deadline
    next_escalation_at: datetime

    def rejected(self, finding, verification_id: int, now: datetime) -> RectificationRejected:
        return RectificationRejected(
            finding_id=finding.id,
            facility_id=finding.facility_id,
            verification_id=verification_id,
            due_day=self.deadline.day,
            occurred_at=now,
        )


async def rejection(
    conn: AsyncConnection, finding, deadline_days: int | None, policy: PolicySettings, now: datetime
) -> Rejection:
    """The deadline a rejected rectification gets: `deadline_days` working days as the checker chose, by default
    the item's own deadline days (a structural fix may take months)."""
    calendar = await load_calendar(conn)
    days = rejection_workdays(deadline_days, finding.deadline_days, policy)
    deadline = deadline_for(now, days, calendar, policy)
    return Rejection(days, deadline, first_escalation_at(deadline, calendar, policy))


async def send_back(conn: AsyncConnection, finding, back: Rejection, now: datetime, **values) -> None:
    """The submitted finding goes back to the facility (ordered) under its new deadline, for one more round."""
    deadline = back.deadline
    await _move(
        conn,
        finding,
        model.verify(Status.SUBMITTED, accepted=False),
        now,
        due_at=deadline.due_at,
        due_day=deadline.day,
        due_estimated=deadline.estimated,
        due_from=deadline.counted_from,
        due_workdays=deadline.workdays,
        remind_at=deadline.remind_at,
        next_escalation_at=back.next_escalation_at,
        round=finding.round + 1,
        **values,
    )


async def record_verification(
    conn: AsyncConnection, finding_id: int, accepted: bool, note: str, actor_id: int, now: datetime
) -> int:
    """The verification's row (the note the facility's mail and the ledger give); its id."""
    return (
        await conn.execute(
            insert(verifications).values(
                finding_id=finding_id, accepted=accepted, note=note, verified_by=actor_id, verified_at=now
            )
        )
    ).inserted_primary_key[0]


async def _move(
    conn: AsyncConnection, finding, transition: model.Transition, now: datetime, **values
) -> None:
    changed = await conn.execute(
        update(findings)
        .where(findings.c.id == finding.id, findings.c.status == transition.before.value)
        .values(status=transition.after.value, **values)
    )
    if changed.rowcount != 1:
        raise StaleFinding(f"finding {finding.id} changed meanwhile; try again")


async def _log(
    conn: AsyncConnection,
    finding_id: int,
    now: datetime,
    action: str,
    actor_id: int | None,
    note: str,
    data: dict,
) -> None:
    await conn.execute(
        insert(history).values(
            finding_id=finding_id, at=now, action=action, actor_id=actor_id, note=note, data=data
        )
    )


async def _check_photos(
    conn: AsyncConnection, actor: Actor, photo_ids: list[str], documents: bool = False
) -> None:
    """The photos are the actor's own uploads; a PDF only where `documents` are taken (an action's letter)."""
    if not photo_ids:
        return
    query = select(photos.c.id).where(photos.c.id.in_(photo_ids), photos.c.uploaded_by == actor.id)
    if not documents:
        query = query.where(photos.c.content_type != PDF)
    owned = set((await conn.execute(query)).scalars())
    missing = [p for p in photo_ids if p not in owned]
    if missing:
        raise InvalidInput("photos", f"unknown photo id(s): {', '.join(missing)}")


async def _link_photos(conn: AsyncConnection, finding_id: int, photo_ids: list[str], stage: str) -> None:
    if photo_ids:
        await conn.execute(
            insert(photo_links),
            [{"photo_id": p, "finding_id": finding_id, "stage": stage} for p in photo_ids],
        )


# ---- more time for a finding: asked by the facility head, decided on the inspector's side --------------

MAX_EXTENSION_DAYS = 60
# Who may decide a request besides the inspector who found the hazard.
EXTENSION_DECIDERS = frozenset({Role.SECTION_CHIEF, Role.BUREAU_LEAD, Role.ADMIN})


async def pending_extension(conn: AsyncConnection, finding_id: int):
    return (
        await conn.execute(
            select(extension_requests)
            .where(
                extension_requests.c.finding_id == finding_id,
                extension_requests.c.status == ExtensionStatus.PENDING.value,
            )
            .order_by(extension_requests.c.id.desc())
            .limit(1)
        )
    ).first()


def _check_days(days: int) -> None:
    if not 1 <= days <= MAX_EXTENSION_DAYS:
        raise InvalidInput("days", f"days must be a whole number in 1..{MAX_EXTENSION_DAYS}")


async def request_extension(
    conn: AsyncConnection, actor: Actor, finding_id: int, days: int, reason: str, now: datetime
) -> int:
    """The facility head asks for `days` more working days for an open finding, saying why."""
    finding = await load_visible_finding(conn, actor, finding_id)
    model.may_submit_rectification(actor, finding.facility_id)
    if Status(finding.status) is not Status.ORDERED:
        raise InvalidTransition(
            f"more time can only be asked for an open finding, not a {finding.status} one"
        )
    _check_days(days)
    if not reason.strip():
        raise InvalidInput("reason", "say why more time is needed")
    if await pending_extension(conn, finding_id) is not None:
        raise InvalidTransition("a request for more time is already waiting for a decision")
    request_id = (
        await conn.execute(
            insert(extension_requests).values(
                finding_id=finding_id,
                days=days,
                reason=reason.strip(),
                requested_by=actor.id,
                requested_at=now,
                due_day_before=finding.due_day,
                status=ExtensionStatus.PENDING.value,
                decision_note="",
            )
        )
    ).inserted_primary_key[0]
    await _log(
        conn,
        finding_id,
        now,
        "extension_requested",
        actor.id,
        reason.strip(),
        {"days": days, "request_id": request_id},
    )
    asked = ExtensionRequested(
        finding_id=finding_id,
        facility_id=finding.facility_id,
        request_id=request_id,
        days=days,
        occurred_at=now,
    )
    await add_events(conn, [asked], now)
    return request_id


async def may_decide_extension(conn: AsyncConnection, actor: Actor, finding) -> None:
    """The inspector who found it, or a section chief, bureau lead or admin; never the facility itself. More time
    on a major hazard only the section chief of its sector gives."""
    model.may_verify(actor, finding.facility_id)
    if await supervision_of(conn, finding.id) is not None:
        track.may_decide_extension(actor, (await facility_sector(conn, finding.facility_id)).sector)
        return
    if actor.role in EXTENSION_DECIDERS:
        return
    inspector_id = await conn.scalar(
        select(inspections.c.inspector_id).where(inspections.c.id == finding.inspection_id)
    )
    if actor.role is not Role.INSPECTOR or inspector_id != actor.id:
        raise NotAllowed("only the finding's inspector or a section chief may decide on more time")


async def decide_extension(
    conn: AsyncConnection,
    actor: Actor,
    request_id: int,
    accepted: bool,
    days: int | None,
    note: str,
    policy: PolicySettings,
    now: datetime,
) -> date | None:
    """Accept (the deadline moves `days` working days past the later of the old deadline and today; reminder
    and escalation are recomputed) or refuse (the deadline stays). Returns the new deadline day, if any."""
    request = (
        await conn.execute(select(extension_requests).where(extension_requests.c.id == request_id))
    ).first()
    if request is None:
        raise NotFound(f"no request for more time with id {request_id}")
    finding = await load_visible_finding(conn, actor, request.finding_id)
    await may_decide_extension(conn, actor, finding)
    if request.status != ExtensionStatus.PENDING:
        raise InvalidTransition(f"the request was already {request.status}")
    new_day: date | None = None
    if accepted:
        if Status(finding.status) is not Status.ORDERED:
            raise InvalidTransition(f"the finding is {finding.status}; its deadline no longer runs")
        days = request.days if days is None else days
        _check_days(days)
        calendar = await load_calendar(conn)
        base = max(finding.due_at, now) if finding.due_at is not None else now
        deadline = deadline_for(base, days, calendar, policy)
        changed = await conn.execute(
            update(findings)
            .where(
                findings.c.id == finding.id,
                findings.c.status == Status.ORDERED.value,
                findings.c.due_at == finding.due_at
                if finding.due_at is not None
                else findings.c.due_at.is_(None),
            )
            .values(
                due_at=deadline.due_at,
                due_day=deadline.day,
                due_estimated=deadline.estimated,
                due_from=deadline.counted_from,
                due_workdays=deadline.workdays,
                remind_at=deadline.remind_at,
                next_escalation_at=first_escalation_at(deadline, calendar, policy),
            )
        )
        if changed.rowcount != 1:
            raise StaleFinding(f"finding {finding.id} changed meanwhile; try again")
        new_day = deadline.day
    elif not note.strip():
        raise InvalidInput("note", "say why more time is refused")
    decided = await conn.execute(
        update(extension_requests)
        .where(
            extension_requests.c.id == request_id,
            extension_requests.c.status == ExtensionStatus.PENDING.value,
        )
        .values(
            status=(ExtensionStatus.ACCEPTED if accepted else ExtensionStatus.REFUSED).value,
            decided_by=actor.id,
            decided_at=now,
            decision_note=note.strip(),
            new_due_day=new_day,
        )
    )
    if decided.rowcount != 1:
        raise StaleFinding(f"request {request_id} was decided meanwhile")
    data: dict = {"request_id": request_id}
    if new_day is not None:
        data.update(
            due_day=new_day.isoformat(),
            days=days,
            due_day_before=finding.due_day.isoformat() if finding.due_day else None,
        )
    await _log(
        conn,
        finding.id,
        now,
        "extension_accepted" if accepted else "extension_refused",
        actor.id,
        note.strip(),
        data,
    )
    told = ExtensionDecided(
        finding_id=finding.id,
        facility_id=finding.facility_id,
        request_id=request_id,
        accepted=accepted,
        due_day=new_day if accepted else finding.due_day,
        occurred_at=now,
    )
    await add_events(conn, [told], now)
    return new_day
