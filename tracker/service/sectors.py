"""Who answers for a facility's sector: the section chiefs and bureau leads recorded for it (user_sectors)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from tracker.domain.model import Role
from tracker.store.tables import facilities, user_sectors, users


async def sectors_of(conn: AsyncConnection, user_id: int) -> frozenset[str]:
    return frozenset((await conn.execute(_SECTORS, {"user_id": user_id})).scalars())


# Every request reads it: built once.
_SECTORS = select(user_sectors.c.sector).where(user_sectors.c.user_id == bindparam("user_id"))


async def sector_people(conn: AsyncConnection, role: Role, sector: str) -> list[Row[Any]]:
    """The active people of `role` who answer for `sector`, by name."""
    query = (
        select(users)
        .join(user_sectors, user_sectors.c.user_id == users.c.id)
        .where(users.c.role == role.value, users.c.active, user_sectors.c.sector == sector)
        .order_by(users.c.name, users.c.id)
    )
    return list((await conn.execute(query)).all())


async def sector_emails(conn: AsyncConnection, role: Role, sector: str) -> list[str]:
    return sorted({p.email for p in await sector_people(conn, role, sector) if p.email})


async def facility_sector(conn: AsyncConnection, facility_id: int) -> Row[Any]:
    """The facility's (sector, ownership, town)."""
    query = select(facilities.c.sector, facilities.c.ownership, facilities.c.town).where(
        facilities.c.id == facility_id
    )
    return (await conn.execute(query)).one()


class SectorEmails:
    """The addresses of a role's people in a sector, asked once per sweep rather than once per finding."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.seen: dict[tuple[Role, str], list[str]] = {}

    async def of(self, role: Role, sector: str) -> list[str]:
        if (role, sector) not in self.seen:
            self.seen[(role, sector)] = await sector_emails(self.conn, role, sector)
        return self.seen[(role, sector)]
