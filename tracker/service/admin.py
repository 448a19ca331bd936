"""Operator tasks behind the CLI: facilities from CSV, users, calendar years."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tracker.checklists import Catalog
from tracker.domain.calendar import YearSchedule
from tracker.domain.model import Ownership, Role, Sector
from tracker.domain.policy import PolicySettings
from tracker.domain.text import hidden_characters
from tracker.passwords import hash_password
from tracker.service import logins
from tracker.service.deadlines import Moved, settle_deadlines
from tracker.store.db import insert_ignoring_duplicates
from tracker.store.tables import calendar_years, facilities, user_sectors, users

COLUMNS = ("code", "name", "type", "town", "head_name", "head_email")
# Optional: left out or empty, they take the defaults of the facility's type.
OPTIONAL_COLUMNS = ("ownership", "sector")
SECTORS = tuple(s.value for s in Sector)
OWNERSHIPS = tuple(o.value for o in Ownership)
# Only section chiefs and bureau leads answer for sectors.
SECTOR_ROLES = (Role.SECTION_CHIEF, Role.BUREAU_LEAD)
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class ImportReport:
    added: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)


async def import_facilities(engine: AsyncEngine, catalog: Catalog, path: Path) -> ImportReport:
    """Keep every good row; report each bad one by its line number. A known code is left as it is."""
    report = ImportReport()
    text = path.read_text(encoding="utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        report.problems.append(f"line 1: missing column(s) {', '.join(missing)}")
        return report
    good: list[dict[str, str]] = []
    seen: set[str] = set()
    for row in reader:
        line = reader.line_num
        values = {c: (row.get(c) or "").strip() for c in COLUMNS + OPTIONAL_COLUMNS}
        empty = [c for c in COLUMNS if not values[c]]
        hidden = {c: hidden_characters(values[c]) for c in values if hidden_characters(values[c])}
        if empty:
            report.problems.append(f"line {line}: empty {', '.join(empty)}")
        elif hidden:
            named = "; ".join(f"{c} has {', '.join(chars)}" for c, chars in hidden.items())
            report.problems.append(f"line {line}: control or invisible characters ({named})")
        elif values["type"] not in catalog.facility_types:
            report.problems.append(f"line {line}: unknown facility type {values['type']!r}")
        elif not EMAIL.match(values["head_email"]):
            report.problems.append(
                f"line {line}: head_email {values['head_email']!r} is not an email address"
            )
        elif values["ownership"] and values["ownership"] not in OWNERSHIPS:
            report.problems.append(
                f"line {line}: ownership {values['ownership']!r} is not one of {', '.join(OWNERSHIPS)}"
            )
        elif values["sector"] and values["sector"] not in SECTORS:
            report.problems.append(
                f"line {line}: sector {values['sector']!r} is not one of {', '.join(SECTORS)}"
            )
        elif values["code"] in seen:
            report.problems.append(f"line {line}: code {values['code']} appears twice in the file")
        else:
            seen.add(values["code"])
            kind = catalog.facility_types[values["type"]]
            values["ownership"] = values["ownership"] or kind.ownership
            values["sector"] = values["sector"] or kind.sector
            good.append(values)
    async with engine.begin() as conn:
        for values in good:
            result = await conn.execute(insert_ignoring_duplicates(conn, facilities).values(**values))
            if result.rowcount == 1:
                report.added += 1
            else:
                report.skipped += 1
    return report


async def add_user(
    engine: AsyncEngine,
    *,
    role: str,
    username: str,
    password: str,
    email: str | None = None,
    facility: str | None = None,
    town: str | None = None,
    name: str = "",
    warrant_no: str | None = None,
    sectors: list[str] | None = None,
) -> int:
    try:
        role_ = Role(role)
    except ValueError:
        raise ValueError(
            f"--role: unknown role {role!r}; one of {', '.join(r.value for r in Role)}"
        ) from None
    _acceptable(password)
    if email is not None and not EMAIL.match(email):
        raise ValueError(f"--email: {email!r} is not an email address")
    if role_ is Role.FACILITY_HEAD and not facility:
        raise ValueError("--facility: a facility head needs the code of their facility")
    if role_ is Role.TOWN_OFFICER and not town:
        raise ValueError("--town: a town officer needs their town")
    sectors_ = _sectors(role_, sectors or [])
    name = _name(name) if name.strip() else ""
    async with engine.begin() as conn:
        facility_id = None
        if facility:
            place = (
                await conn.execute(
                    select(facilities.c.id, facilities.c.head_name).where(facilities.c.code == facility)
                )
            ).first()
            if place is None:
                raise ValueError(f"--facility: no facility with code {facility!r}")
            facility_id = place.id
            # A facility's head is named as the facilities' CSV names them (head_name), unless --name says.
            if not name and role_ is Role.FACILITY_HEAD:
                name = place.head_name
        if await conn.scalar(select(users.c.id).where(users.c.username == username)):
            raise ValueError(f"--username: {username!r} exists already")
        result = await conn.execute(
            insert(users).values(
                username=username,
                password_hash=hash_password(password),
                role=role_.value,
                name=name or username,
                email=email,
                facility_id=facility_id,
                town=town,
                active=True,
                warrant_no=_warrant_no(warrant_no),
            )
        )
        user_id = result.inserted_primary_key[0]
        for sector in sectors_:
            await conn.execute(insert(user_sectors).values(user_id=user_id, sector=sector))
        return user_id


def _sectors(role: Role, sectors: list[str]) -> list[str]:
    unknown = [s for s in sectors if s not in SECTORS]
    if unknown:
        raise ValueError(f"--sector: unknown sector {unknown[0]!r}; one of {', '.join(SECTORS)}")
    if sectors and role not in SECTOR_ROLES:
        raise ValueError("--sector: only a section chief or a bureau lead answers for a sector")
    return sorted(set(sectors))


async def set_sectors(engine: AsyncEngine, username: str, sectors: list[str]) -> None:
    """Replace the sectors a section chief or bureau lead answers for."""
    async with engine.begin() as conn:
        row = (
            await conn.execute(select(users.c.id, users.c.role).where(users.c.username == username))
        ).first()
        if row is None:
            raise ValueError(f"USERNAME: no user {username!r}")
        chosen = _sectors(Role(row.role), sectors)
        await conn.execute(user_sectors.delete().where(user_sectors.c.user_id == row.id))
        for sector in chosen:
            await conn.execute(insert(user_sectors).values(user_id=row.id, sector=sector))


async def set_facility(
    engine: AsyncEngine, code: str, *, ownership: str | None = None, sector: str | None = None
) -> None:
    """Change who runs a facility or its sector; escalations from now on follow the new ladder."""
    values = {}
    if ownership is not None:
        if ownership not in OWNERSHIPS:
            raise ValueError(f"--ownership: {ownership!r} is not one of {', '.join(OWNERSHIPS)}")
        values["ownership"] = ownership
    if sector is not None:
        if sector not in SECTORS:
            raise ValueError(f"--sector: {sector!r} is not one of {', '.join(SECTORS)}")
        values["sector"] = sector
    if not values:
        raise ValueError("nothing to change: give --ownership and/or --sector")
    async with engine.begin() as conn:
        changed = await conn.execute(update(facilities).where(facilities.c.code == code).values(**values))
    if changed.rowcount != 1:
        raise ValueError(f"CODE: no facility {code!r}")


def _acceptable(password: str) -> None:
    if len(password) < 8:
        raise ValueError("password: at least 8 characters")


async def set_password(engine: AsyncEngine, username: str, password: str) -> int:
    """Give `username` a new password and end every session they had; how many were open."""
    _acceptable(password)
    hashed = hash_password(password)
    async with engine.begin() as conn:
        user_id = await _user_id(conn, username)
        await conn.execute(update(users).where(users.c.id == user_id).values(password_hash=hashed))
        await logins.forgive_account(conn, username)
        return await logins.end_sessions_of(conn, user_id)


async def deactivate_user(engine: AsyncEngine, username: str) -> int:
    """`username` may no longer log in, and every session they had ends now; how many were open."""
    async with engine.begin() as conn:
        user_id = await _user_id(conn, username)
        await conn.execute(update(users).where(users.c.id == user_id).values(active=False))
        return await logins.end_sessions_of(conn, user_id)


async def _user_id(conn: AsyncConnection, username: str) -> int:
    user_id = await conn.scalar(select(users.c.id).where(users.c.username == username))
    if user_id is None:
        raise ValueError(f"no user {username!r}")
    return user_id


def _warrant_no(value: str | None) -> str | None:
    """An enforcement warrant number (执法证号) as printed on the card; empty means none."""
    if value is None or not value.strip():
        return None
    if len(value.strip()) > 40 or any(c.isspace() for c in value.strip()):
        raise ValueError(
            f"--warrant-no: {value!r} is not a warrant number (no spaces, at most 40 characters)"
        )
    return value.strip()


async def set_warrant_no(engine: AsyncEngine, username: str, warrant_no: str | None) -> None:
    """Record (or with an empty value, clear) a person's 执法证号."""
    async with engine.begin() as conn:
        changed = await conn.execute(
            update(users).where(users.c.username == username).values(warrant_no=_warrant_no(warrant_no))
        )
    if changed.rowcount != 1:
        raise ValueError(f"USERNAME: no user {username!r}")


async def set_town(engine: AsyncEngine, username: str, town: str) -> None:
    """Record (or with an empty value, clear) a person's town: a town officer's office, an inspector's home town,
    which the random draw (双随机) keeps them away from."""
    town = town.strip()
    if len(town) > 60 or hidden_characters(town):
        raise ValueError(f"--town: {town!r} is not a town (at most 60 characters)")
    async with engine.begin() as conn:
        role = await conn.scalar(select(users.c.role).where(users.c.username == username))
        if role is None:
            raise ValueError(f"USERNAME: no user {username!r}")
        if role == Role.TOWN_OFFICER.value and not town:
            raise ValueError("--town: a town officer needs their town")
        await conn.execute(update(users).where(users.c.username == username).values(town=town or None))


def _name(value: str) -> str:
    """A person's name as pages, mail and documents print it (张建国, 汇龙镇民政办): one line, at most 100."""
    value = value.strip()
    if not value or len(value) > 100 or hidden_characters(value) or any(c in value for c in "\r\n"):
        raise ValueError(f"--name: {value!r} is not a name (one line, 1 to 100 characters)")
    return value


async def set_name(engine: AsyncEngine, username: str, name: str) -> None:
    """Give a person the name pages and mail show instead of their login."""
    async with engine.begin() as conn:
        changed = await conn.execute(
            update(users).where(users.c.username == username).values(name=_name(name))
        )
    if changed.rowcount != 1:
        raise ValueError(f"USERNAME: no user {username!r}")


@dataclass(frozen=True)
class CalendarLoaded:
    schedule: YearSchedule
    moved: list[Moved]


async def load_calendar_year(
    engine: AsyncEngine,
    data: dict,
    now: datetime,
    *,
    base_url: str,
    policy: PolicySettings | None = None,
) -> CalendarLoaded:
    """Store a year's official schedule; in the same transaction the estimated deadlines over that year are
    counted again, moved only later, and each facility concerned is mailed (tracker.service.deadlines)."""
    schedule = YearSchedule.from_dict(data)
    stored = {
        "year": schedule.year,
        "holidays": sorted(d.isoformat() for d in schedule.holidays),
        "workdays": sorted(d.isoformat() for d in schedule.workdays),
    }
    async with engine.begin() as conn:
        await conn.execute(calendar_years.delete().where(calendar_years.c.year == schedule.year))
        await conn.execute(insert(calendar_years).values(year=schedule.year, schedule=stored, loaded_at=now))
        moved = await settle_deadlines(conn, schedule.year, policy or PolicySettings(), now, base_url)
    return CalendarLoaded(schedule, moved)
