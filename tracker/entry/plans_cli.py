"""`tracker plans …`: plans of checks drawn at random (双随机): draw, verify, list, show, close."""

from __future__ import annotations

import getpass
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")

plans_app = typer.Typer(help="Plans of checks drawn at random (双随机).", no_args_is_help=True)

Data = Annotated[
    Path | None, typer.Option("--data", help="Data folder [default: $TRACKER_DATA_DIR, else ./var]")
]


def _run(data: Path | None, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Run `work` against the database; a refused step ends the command with its reason."""
    from tracker.domain.errors import DomainError, InvalidInput
    from tracker.entry.cli import with_database

    try:
        return with_database(data, work)
    except InvalidInput as error:
        typer.secho(f"--{error.field.replace('_', '-')}: {error}", fg="red", err=True)
        raise typer.Exit(2) from None
    except DomainError as error:
        typer.secho(str(error), fg="red", err=True)
        raise typer.Exit(2) from None


def _day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date like 2027-01-01", param_hint=option) from None


def _by(by: str | None) -> str:
    return (by or getpass.getuser()).strip()[:100]


def _team(team) -> str:
    return ", ".join(f"{p.name}（{p.warrant_no or '无执法证号'}）" for p in team)


@plans_app.command("draw")
def plans_draw(
    name: Annotated[
        str, typer.Option("--name", help="The plan's name, e.g. 2027年第一季度养老机构双随机抽查")
    ],
    period_from: Annotated[str, typer.Option("--from", help="First day of the period, e.g. 2027-01-01")],
    period_to: Annotated[str, typer.Option("--to", help="Last day of the period, e.g. 2027-03-31")],
    share: Annotated[
        str | None, typer.Option("--share", help="The share of facilities drawn, e.g. 0.25")
    ] = None,
    count: Annotated[int | None, typer.Option("--count", help="Or a number of facilities")] = None,
    team_size: Annotated[int, typer.Option("--team-size", help="Inspectors per check")] = 2,
    facility_type: Annotated[
        str | None, typer.Option("--facility-type", help="Only facilities of this type (nursing_home …)")
    ] = None,
    seed: Annotated[
        str | None, typer.Option("--seed", help="The seed [default: 128 random bits from the system]")
    ] = None,
    by: Annotated[str | None, typer.Option("--by", help="Who draws it [default: the login]")] = None,
    data: Data = None,
) -> None:
    """Record a plan with its seed's SHA-256 and the registers as they are, then draw facilities and teams."""
    from sqlalchemy import select

    from tracker.service import plans
    from tracker.store.tables import facilities, users

    first, last = _day(period_from, "--from"), _day(period_to, "--to")
    if share is None and count is None:
        share = "0.25"
    now = datetime.now(UTC)
    announced = _run(
        data,
        lambda engine: plans.announce(
            engine,
            name=name,
            period_from=first,
            period_to=last,
            team_size=team_size,
            now=now,
            share=share,
            count=count,
            facility_type=facility_type,
            seed=seed,
            created_by=_by(by),
        ),
    )
    typer.echo(f"plan {name.strip()!r} ({first} – {last}) recorded before the draw:")
    typer.echo(f"  seed SHA-256      {announced.seed_hash}")
    typer.echo(
        f"  registers SHA-256 {announced.register_hash} "
        f"({announced.facilities} facilities, {announced.inspectors} inspectors)"
    )
    if announced.without_warrant:
        typer.secho(
            f"  {announced.without_warrant} inspector(s) without a 执法证号 left out of the register "
            "(tracker users set NAME --warrant-no …)",
            fg="yellow",
        )

    async def drawn(engine):
        result = await plans.make_draw(engine, announced.plan_id, datetime.now(UTC))
        async with engine.connect() as conn:
            places = {r.id: r for r in await conn.execute(select(facilities))}
            people = {
                r.id: r for r in await conn.execute(select(users.c.id, users.c.name, users.c.warrant_no))
            }
        return result, places, people

    result, places, people = _run(data, drawn)
    typer.echo(f"drawn {len(result.checks)} of {announced.facilities} facilities, teams of {team_size}:")
    for check in result.checks:
        place = places[check.facility_id]
        note = "  (own town: too few inspectors from elsewhere)" if check.own_town else ""
        team = _team(people[i] for i in check.inspector_ids)
        typer.echo(f"  {place.code}  {place.name}  {place.town}  {team}{note}")
    if seed is None:
        typer.echo("the seed is kept with the plan; `tracker plans verify NAME` draws it again from it")


@plans_app.command("verify")
def plans_verify(name: Annotated[str, typer.Argument(help="The plan's name")], data: Data = None) -> None:
    """Draw the plan again from its seed and the registers as they were; exit 1 when it does not match."""
    from tracker.service import plans

    result = _run(data, lambda engine: plans.verify(engine, name))
    yes = {True: "yes", False: "NO"}
    typer.echo(f"plan {name!r}:")
    typer.echo(f"  the seed's SHA-256 is the one recorded before the draw: {yes[result.seed_matches_hash]}")
    typer.echo(
        f"  the registers are those recorded (SHA-256):             {yes[result.register_matches_hash]}"
    )
    typer.echo(f"  the draw made again equals the checks on record:        {yes[result.draw_matches]}")
    if result.register_changed_since:
        typer.echo("  (today's registers differ from those recorded: the draw used those recorded)")
    if result.ok:
        typer.secho("the draw matches", fg="green")
    else:
        typer.secho("the draw does NOT match", fg="red")
        raise typer.Exit(1)


@plans_app.command("list")
def plans_list(data: Data = None) -> None:
    """Every plan: its period, checks fulfilled of those drawn, open or closed."""
    from tracker.domain.model import Actor, Role
    from tracker.service import plans
    from tracker.store.db import read_only

    operator = Actor(0, "operator", Role.ADMIN)

    async def rows(engine):
        async with read_only(engine) as conn:
            return await plans.list_plans(conn, operator)

    for p in _run(data, rows):
        state = "closed" if p.closed_at else ("drawn" if p.drawn_at else "announced")
        typer.echo(
            f"{p.id:>4}  {p.name}  {p.period_from} – {p.period_to}  {p.facility_type or 'all types'}  "
            f"{p.done or 0}/{p.checks or 0} fulfilled  {state}"
        )


@plans_app.command("show")
def plans_show(name: Annotated[str, typer.Argument(help="The plan's name")], data: Data = None) -> None:
    """A plan, its seed's hash (the seed once closed) and each check with its team and state."""
    from tracker.domain.model import Actor, Role
    from tracker.domain.time import local_day
    from tracker.service import plans
    from tracker.store.db import read_only

    operator = Actor(0, "operator", Role.ADMIN)

    async def detail(engine):
        async with read_only(engine) as conn:
            plan = await plans.plan_by_name(conn, name)
            return await plans.plan_detail(conn, operator, plan.id)

    plan, checks, teams = _run(data, detail)
    typer.echo(f"{plan.name}  {plan.period_from} – {plan.period_to}  {plan.facility_type or 'all types'}")
    typer.echo(
        f"  drawn by {plan.created_by or '?'}; share {plan.share or '-'}, count {plan.count or '-'}, team {plan.team_size}"
    )
    typer.echo(f"  seed SHA-256 {plan.seed_hash}; registers SHA-256 {plan.register_hash}")
    if plan.closed_at:
        typer.echo(f"  closed by {plan.closed_by}; seed {plan.seed}")
    for c in checks:
        state = f"done {local_day(c.onsite_at)} (inspection {c.inspection_id})" if c.inspection_id else "open"
        typer.echo(f"  {c.code}  {c.facility_name}  {c.town}  {_team(teams.get(c.id, []))}  {state}")


@plans_app.command("close")
def plans_close(
    name: Annotated[str, typer.Argument(help="The plan's name")],
    by: Annotated[str | None, typer.Option("--by", help="Who closes it [default: the login]")] = None,
    data: Data = None,
) -> None:
    """Close a plan: inspections from then on fulfil none of its checks; its seed is published."""
    from tracker.service import plans

    async def close(engine):
        async with engine.begin() as conn:
            plan = await plans.plan_by_name(conn, name)
            await plans.close_plan(conn, plan.id, _by(by), datetime.now(UTC))

    _run(data, close)
    typer.echo(f"plan {name!r} closed")
