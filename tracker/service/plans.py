"""Plans of checks drawn at random (双随机): announce a plan with its seed's hash, draw it, verify it, fulfil its
checks as inspections come in, close it; and what each person may see of them.

A plan is drawn in two steps, each committed: first the plan is recorded with the SHA-256 of its seed and the
registers of facilities and inspectors as they are (so the hash exists before any draw does), then the draw is
made from what was recorded and its checks written. Verifying draws again from the recorded seed and registers.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, bindparam, case, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tracker.domain import draw as drawing
from tracker.domain.errors import InvalidInput, InvalidTransition, NotFound
from tracker.domain.model import Actor, Mode, Role, Status
from tracker.domain.time import local_day
from tracker.store.tables import (
    facilities,
    findings,
    inspection_items,
    inspections,
    planned_check_inspectors,
    planned_checks,
    plans,
    users,
)

# Who sees and closes plans: the bureau's chiefs, leads and the administrator. Everyone else is told a plan does
# not exist; an inspector sees their own checks on their work page.
PLAN_ROLES = frozenset({Role.SECTION_CHIEF, Role.BUREAU_LEAD, Role.ADMIN})
# 双随机: a team of two or more inspectors goes to each facility drawn.
MIN_TEAM = 2
MAX_TEAM = 10
# The inspections that are a visit by the bureau's people, and so may fulfil a planned check.
VISITS = frozenset({Mode.UNANNOUNCED.value, Mode.COVERT.value, Mode.ROUTINE.value, Mode.SPECIAL.value})


@dataclass(frozen=True)
class Announced:
    plan_id: int
    seed_hash: str
    register_hash: str
    facilities: int
    inspectors: int
    without_warrant: int  # inspectors left out of the register: no 执法证号 recorded


@dataclass(frozen=True)
class Verification:
    seed_matches_hash: bool
    register_matches_hash: bool
    draw_matches: bool  # the draw made again equals the checks on record
    register_changed_since: bool  # today's registers differ from those recorded (not an error: people move)

    @property
    def ok(self) -> bool:
        return self.seed_matches_hash and self.register_matches_hash and self.draw_matches


def register_hash(register: dict[str, Any]) -> str:
    """The SHA-256 of the registers as canonical JSON (sorted keys, no spaces, UTF-8)."""
    text = json.dumps(register, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


async def read_registers(conn: AsyncConnection, facility_type: str | None) -> tuple[dict[str, Any], int]:
    """The facilities in scope and the inspectors who may be drawn (active, role inspector, holding a 执法证号),
    as the plan records them; and how many inspectors were left out for want of a 执法证号."""
    query = select(
        facilities.c.id, facilities.c.code, facilities.c.name, facilities.c.town, facilities.c.type
    )
    if facility_type:
        query = query.where(facilities.c.type == facility_type)
    places = [dict(r._mapping) for r in (await conn.execute(query.order_by(facilities.c.code))).all()]
    people = (
        await conn.execute(
            select(users.c.id, users.c.name, users.c.username, users.c.town, users.c.warrant_no)
            .where(users.c.active, users.c.role == Role.INSPECTOR.value)
            .order_by(users.c.id)
        )
    ).all()
    holding = [p for p in people if (p.warrant_no or "").strip()]
    inspectors = [
        {"id": p.id, "name": p.name or p.username, "town": p.town, "warrant_no": p.warrant_no}
        for p in holding
    ]
    return {"facilities": places, "inspectors": inspectors}, len(people) - len(holding)


def _entries(register: dict[str, Any]) -> tuple[list[drawing.FacilityEntry], list[drawing.InspectorEntry]]:
    return (
        [drawing.FacilityEntry(**f) for f in register["facilities"]],
        [drawing.InspectorEntry(**p) for p in register["inspectors"]],
    )


def draw_of(plan: Any) -> drawing.Draw:
    """The draw a recorded plan makes from its seed, registers and parameters."""
    places, people = _entries(plan.register)
    return drawing.draw(
        plan.seed, places, people, share=plan.share, count=plan.count, team_size=plan.team_size
    )


async def announce(
    engine: AsyncEngine,
    *,
    name: str,
    period_from: date,
    period_to: date,
    team_size: int,
    now: datetime,
    share: str | None = None,
    count: int | None = None,
    facility_type: str | None = None,
    seed: str | None = None,
    created_by: str = "",
) -> Announced:
    """Record a plan and its seed's hash, with the registers as they are now; nothing is drawn yet."""
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("name", "a plan's name, 1 to 200 characters")
    if period_to < period_from:
        raise InvalidInput("to", "the period ends before it begins")
    if not MIN_TEAM <= team_size <= MAX_TEAM:
        raise InvalidInput("team_size", f"a team of {MIN_TEAM} to {MAX_TEAM}")
    seed = secrets.token_hex(16) if seed is None else seed
    if not seed or len(seed) > 200:
        raise InvalidInput("seed", "a seed of 1 to 200 characters")
    async with engine.begin() as conn:
        if await conn.scalar(select(plans.c.id).where(plans.c.name == name)) is not None:
            raise InvalidInput("name", f"a plan named {name!r} exists already")
        register, without_warrant = await read_registers(conn, facility_type)
        if not register["facilities"]:
            raise InvalidInput("facility_type", "no facility in scope")
        drawing.how_many(len(register["facilities"]), share, count)
        if len(register["inspectors"]) < team_size:
            raise InvalidInput(
                "team_size",
                f"a team of {team_size} needs {team_size} inspectors holding a 执法证号; "
                f"the register has {len(register['inspectors'])}",
            )
        digest = register_hash(register)
        plan_id = (
            await conn.execute(
                insert(plans).values(
                    name=name,
                    period_from=period_from,
                    period_to=period_to,
                    facility_type=facility_type,
                    share=share,
                    count=count,
                    team_size=team_size,
                    created_by=created_by,
                    sealed=True,
                    seed_hash=drawing.seed_hash(seed),
                    seed=seed,
                    register=register,
                    register_hash=digest,
                    hash_recorded_at=now,
                )
            )
        ).inserted_primary_key[0]
    return Announced(
        plan_id,
        drawing.seed_hash(seed),
        digest,
        len(register["facilities"]),
        len(register["inspectors"]),
        without_warrant,
    )


async def make_draw(engine: AsyncEngine, plan_id: int, now: datetime) -> drawing.Draw:
    """Draw an announced plan from what it recorded and write its checks; a plan is drawn once."""
    async with engine.begin() as conn:
        plan = (await conn.execute(select(plans).where(plans.c.id == plan_id))).first()
        if plan is None:
            raise NotFound(f"no plan with id {plan_id}")
        claimed = await conn.execute(
            update(plans).where(plans.c.id == plan_id, plans.c.drawn_at.is_(None)).values(drawn_at=now)
        )
        if claimed.rowcount != 1:
            raise InvalidTransition(f"plan {plan.name!r} is drawn already")
        result = draw_of(plan)
        for check in result.checks:
            check_id = (
                await conn.execute(
                    insert(planned_checks).values(
                        plan_id=plan_id, facility_id=check.facility_id, own_town=check.own_town
                    )
                )
            ).inserted_primary_key[0]
            await conn.execute(
                insert(planned_check_inspectors),
                [{"check_id": check_id, "user_id": u} for u in check.inspector_ids],
            )
    return result


async def plan_by_name(conn: AsyncConnection, name: str) -> Any:
    plan = (await conn.execute(select(plans).where(plans.c.name == name))).first()
    if plan is None:
        raise NotFound(f"no plan named {name!r}")
    return plan


async def recorded_checks(conn: AsyncConnection, plan_id: int) -> list[drawing.DrawnCheck]:
    rows = (
        await conn.execute(
            select(planned_checks.c.id, planned_checks.c.facility_id, planned_checks.c.own_town).where(
                planned_checks.c.plan_id == plan_id
            )
        )
    ).all()
    teams: dict[int, list[int]] = {}
    for r in await conn.execute(
        select(planned_check_inspectors.c.check_id, planned_check_inspectors.c.user_id).where(
            planned_check_inspectors.c.check_id.in_([r.id for r in rows])
        )
    ):
        teams.setdefault(r.check_id, []).append(r.user_id)
    return sorted(
        (drawing.DrawnCheck(r.facility_id, tuple(sorted(teams.get(r.id, []))), r.own_town) for r in rows),
        key=lambda c: c.facility_id,
    )


async def verify(engine: AsyncEngine, name: str) -> Verification:
    """Draw the plan again from its seed and the registers as they were, and compare with what is on record."""
    async with engine.connect() as conn:
        plan = await plan_by_name(conn, name)
        if plan.drawn_at is None:
            raise InvalidTransition(f"plan {name!r} is announced but not drawn yet")
        recorded = await recorded_checks(conn, plan.id)
        today, _ = await read_registers(conn, plan.facility_type)
    again = sorted(draw_of(plan).checks, key=lambda c: c.facility_id)
    return Verification(
        seed_matches_hash=drawing.seed_hash(plan.seed) == plan.seed_hash,
        register_matches_hash=register_hash(plan.register) == plan.register_hash,
        draw_matches=again == recorded,
        register_changed_since=register_hash(today) != plan.register_hash,
    )


async def fulfil(
    conn: AsyncConnection, facility_id: int, inspection_id: int, mode: str, onsite: datetime
) -> None:
    """An inspection of a facility fulfils the open planned checks of it whose period holds its day. Only a visit
    does: a facility's self-inspection (自查自纠) or a lapse on its register (证照到期) fulfils none. One statement,
    in the transaction that records the inspection."""
    if mode not in VISITS:
        return
    await conn.execute(
        _FULFIL,
        {"day": local_day(onsite), "facility": facility_id, "inspection": inspection_id, "onsite": onsite},
    )


# Built once: every visit runs it.
_IN_PERIOD = select(plans.c.id).where(
    plans.c.drawn_at.is_not(None),
    plans.c.closed_at.is_(None),
    plans.c.period_from <= bindparam("day"),
    plans.c.period_to >= bindparam("day"),
)
_FULFIL = (
    update(planned_checks)
    .where(
        planned_checks.c.facility_id == bindparam("facility"),
        planned_checks.c.inspection_id.is_(None),
        planned_checks.c.plan_id.in_(_IN_PERIOD.scalar_subquery()),
    )
    .values(inspection_id=bindparam("inspection"), fulfilled_at=bindparam("onsite"))
)


def may_see_plans(actor: Actor) -> None:
    # A sealed plan is not there for anyone outside the bureau's chiefs and leads, not even forbidden.
    if actor.role not in PLAN_ROLES:
        raise NotFound("no such plan")


async def list_plans(conn: AsyncConnection, actor: Actor) -> list[Any]:
    """Every plan, newest first, with its checks and how many are fulfilled."""
    may_see_plans(actor)
    counts = _counts()
    return list(
        (
            await conn.execute(
                select(*_listed(), counts.c.checks, counts.c.done)
                .outerjoin(counts, counts.c.plan_id == plans.c.id)
                .order_by(plans.c.period_from.desc(), plans.c.id.desc())
            )
        ).all()
    )


def _listed() -> list[Any]:
    # Every column but the registers: a list needs none of them (and PostgreSQL cannot compare JSON).
    return [c for c in plans.c if c.name != "register"]


def _counts() -> Any:
    """Per plan, its checks and how many are fulfilled."""
    return (
        select(
            planned_checks.c.plan_id,
            func.count().label("checks"),
            func.count(planned_checks.c.inspection_id).label("done"),
        )
        .group_by(planned_checks.c.plan_id)
        .subquery()
    )


async def teams_of(conn: AsyncConnection, check_ids: list[int]) -> dict[int, list[Any]]:
    """Each check's team: id, name, 执法证号, town."""
    teams: dict[int, list[Any]] = {}
    if not check_ids:
        return teams
    for r in await conn.execute(
        select(
            planned_check_inspectors.c.check_id,
            users.c.id,
            func.coalesce(func.nullif(users.c.name, ""), users.c.username).label("name"),
            users.c.warrant_no,
            users.c.town,
        )
        .join(users, users.c.id == planned_check_inspectors.c.user_id)
        .where(planned_check_inspectors.c.check_id.in_(check_ids))
        .order_by(users.c.id)
    ):
        teams.setdefault(r.check_id, []).append(r)
    return teams


def _checks_query() -> Any:
    on_site = func.coalesce(inspections.c.onsite_at, inspections.c.submitted_at)
    return (
        select(
            planned_checks.c.id,
            planned_checks.c.plan_id,
            planned_checks.c.own_town,
            planned_checks.c.inspection_id,
            planned_checks.c.fulfilled_at,
            facilities.c.id.label("facility_id"),
            facilities.c.code,
            facilities.c.name.label("facility_name"),
            facilities.c.town,
            facilities.c.type.label("facility_type"),
            on_site.label("onsite_at"),
            inspections.c.mode,
        )
        .join(facilities, facilities.c.id == planned_checks.c.facility_id)
        .outerjoin(inspections, inspections.c.id == planned_checks.c.inspection_id)
    )


async def plan_detail(
    conn: AsyncConnection, actor: Actor, plan_id: int
) -> tuple[Any, list[Any], dict[int, list[Any]]]:
    """A plan, its checks by facility code, and each check's team."""
    may_see_plans(actor)
    plan = (await conn.execute(select(plans).where(plans.c.id == plan_id))).first()
    if plan is None:
        raise NotFound(f"no plan with id {plan_id}")
    checks = (
        await conn.execute(
            _checks_query().where(planned_checks.c.plan_id == plan_id).order_by(facilities.c.code)
        )
    ).all()
    return plan, list(checks), await teams_of(conn, [c.id for c in checks])


async def close(engine: AsyncEngine, actor: Actor, plan_id: int, now: datetime) -> None:
    """Close a plan: from then on no inspection fulfils its checks. Closed once."""
    async with engine.begin() as conn:
        may_see_plans(actor)
        await close_plan(conn, plan_id, actor.name, now)


async def close_plan(conn: AsyncConnection, plan_id: int, by: str, now: datetime) -> None:
    plan = (await conn.execute(select(plans.c.id, plans.c.name).where(plans.c.id == plan_id))).first()
    if plan is None:
        raise NotFound(f"no plan with id {plan_id}")
    closed = await conn.execute(
        update(plans)
        .where(plans.c.id == plan_id, plans.c.closed_at.is_(None))
        .values(closed_at=now, closed_by=by)
    )
    if closed.rowcount != 1:
        raise InvalidTransition(f"plan {plan.name!r} is closed already")


async def assignments_of(conn: AsyncConnection, actor: Actor) -> list[Any]:
    """An inspector's own planned checks in plans still open, soonest period end first."""
    if actor.role is not Role.INSPECTOR:
        return []
    return list(
        (
            await conn.execute(
                _checks_query()
                .add_columns(plans.c.name.label("plan_name"), plans.c.period_from, plans.c.period_to)
                .join(plans, plans.c.id == planned_checks.c.plan_id)
                .join(
                    planned_check_inspectors,
                    and_(
                        planned_check_inspectors.c.check_id == planned_checks.c.id,
                        planned_check_inspectors.c.user_id == actor.id,
                    ),
                )
                .where(plans.c.drawn_at.is_not(None), plans.c.closed_at.is_(None))
                .order_by(plans.c.period_to, facilities.c.code)
                .limit(100)
            )
        ).all()
    )


@dataclass(frozen=True)
class PublicCheck:
    facility_name: str
    day: date
    mode: str
    found: int  # hazards recorded as findings
    closed: int  # of those, closed (销号)
    fixed: int  # fixed during the visit (当场整改)


@dataclass(frozen=True)
class PublicPlan:
    name: str
    period_from: date
    period_to: date
    seed_hash: str
    register_hash: str
    seed: str | None  # published once the plan is closed: before, it would tell who is still to be visited
    drawn: int
    checks: list[PublicCheck]


async def public_checks(conn: AsyncConnection, limit_plans: int = 24) -> list[PublicPlan]:
    """一公开: per drawn plan, the checks made under it: the facility, the day, the mode, hazards found, closed and
    fixed on the spot. No person's name, no note, no photo; a check not yet made is not shown (the plan is sealed)."""
    counts = _counts()
    drawn = (
        await conn.execute(
            select(*_listed(), func.coalesce(counts.c.checks, 0).label("drawn"))
            .outerjoin(counts, counts.c.plan_id == plans.c.id)
            .where(plans.c.drawn_at.is_not(None))
            .order_by(plans.c.period_from.desc(), plans.c.id.desc())
            .limit(limit_plans)
        )
    ).all()
    if not drawn:
        return []
    made = (
        await conn.execute(
            _checks_query()
            .where(
                planned_checks.c.plan_id.in_([p.id for p in drawn]),
                planned_checks.c.inspection_id.is_not(None),
            )
            .order_by("onsite_at", facilities.c.code)
        )
    ).all()
    ids = [c.inspection_id for c in made]
    found: dict[int, tuple[int, int]] = {}
    fixed: dict[int, int] = {}
    if ids:
        closed = func.sum(case((findings.c.status == Status.CLOSED.value, 1), else_=0))
        for r in await conn.execute(
            select(findings.c.inspection_id, func.count(findings.c.id), closed)
            .where(findings.c.inspection_id.in_(ids))
            .group_by(findings.c.inspection_id)
        ):
            found[r[0]] = (r[1], int(r[2] or 0))
        for r in await conn.execute(
            select(inspection_items.c.inspection_id, func.count())
            .where(inspection_items.c.inspection_id.in_(ids), inspection_items.c.result == "fixed")
            .group_by(inspection_items.c.inspection_id)
        ):
            fixed[r[0]] = r[1]
    by_plan: dict[int, list[PublicCheck]] = {}
    for c in made:
        total, shut = found.get(c.inspection_id, (0, 0))
        by_plan.setdefault(c.plan_id, []).append(
            PublicCheck(
                c.facility_name, local_day(c.onsite_at), c.mode, total, shut, fixed.get(c.inspection_id, 0)
            )
        )
    return [
        PublicPlan(
            p.name,
            p.period_from,
            p.period_to,
            p.seed_hash,
            p.register_hash,
            p.seed if p.closed_at is not None else None,
            p.drawn,
            by_plan.get(p.id, []),
        )
        for p in drawn
    ]
