"""Engines for SQLite (WAL, immediate write transactions) and PostgreSQL, and small dialect helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import Engine, Table, event, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from tracker.store.tables import leases
from tracker.store.write_turns import TurnTakingConnection


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(
            url, connect_args={"timeout": 30, "factory": TurnTakingConnection}, **kwargs
        )
        tune_sqlite(engine.sync_engine)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True, **kwargs)


def tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so that BEGIN below is ours.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Every process's cache of pages goes stale when another process writes, and is read again at its next
        # transaction: mapped, the file's pages are read without a copy each.
        cursor.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A transaction that reads then writes cannot wait for the lock in deferred mode; take it up front.
        # Reads marked read-only need no lock at all under WAL, and SQLite refuses them any write (query_only),
        # switched on the connection only when it goes from writing to reading or back.
        read = conn.get_execution_options().get(READ_ONLY, False)
        if conn.info.get(READ_ONLY) is not read:
            # On the driver's connection: a setting of the connection, not a statement of the transaction.
            cursor = conn.connection.dbapi_connection.cursor()
            cursor.execute(f"PRAGMA query_only={'ON' if read else 'OFF'}")
            cursor.close()
            conn.info[READ_ONLY] = read
        conn.exec_driver_sql("BEGIN" if read else "BEGIN IMMEDIATE")


READ_ONLY = "tracker_read_only"
MMAP_BYTES = 1 << 30  # address space, not memory: the pages are the kernel's file cache


@asynccontextmanager
async def read_only(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection for reading, every statement from one snapshot: on SQLite a read transaction under WAL,
    which does not take the write lock that writers queue for; on PostgreSQL a read-only REPEATABLE READ
    transaction (under the default READ COMMITTED, a page reading the day book's state and then its rows
    could see a catch-up commit in between, and count the same findings twice)."""
    async with engine.connect() as conn:
        options: dict[str, Any] = {READ_ONLY: True}
        if conn.dialect.name == "postgresql":
            options.update(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        await conn.execution_options(**options)
        try:
            yield conn
        finally:
            await conn.rollback()


T = TypeVar("T")


async def read(engine: AsyncEngine, job: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """`await job(conn)` in one read-only snapshot, as read_only."""
    async with read_only(engine) as conn:
        return await job(conn)


def is_sqlite(conn: AsyncConnection) -> bool:
    return conn.dialect.name == "sqlite"


def insert_ignoring_duplicates(conn: AsyncConnection, table: Table) -> Any:
    """INSERT that silently skips rows whose unique key is already there. Built once per database kind and
    table; give it its values as the statement's parameters to keep it so."""
    return ignoring_duplicates(is_sqlite(conn), table)


@cache
def ignoring_duplicates(on_sqlite: bool, table: Table) -> Any:
    return (sqlite if on_sqlite else postgresql).insert(table).on_conflict_do_nothing()


async def take_lease(conn: AsyncConnection, name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
    """Hold or renew the named lease; True when `holder` has it until now + ttl."""
    renew = (
        update(leases)
        .where(leases.c.name == name)
        .where((leases.c.holder == holder) | (leases.c.expires_at < now))
        .values(holder=holder, expires_at=now + ttl)
    )
    if (await conn.execute(renew)).rowcount == 1:
        return True
    created = await conn.execute(
        insert_ignoring_duplicates(conn, leases).values(name=name, holder=holder, expires_at=now + ttl)
    )
    if created.rowcount == 1:
        return True
    # Someone created the row just now (maybe this holder's other job): try once more against it.
    return (await conn.execute(renew)).rowcount == 1


async def drop_lease(conn: AsyncConnection, name: str, holder: str) -> None:
    await conn.execute(
        update(leases)
        .where(leases.c.name == name, leases.c.holder == holder)
        .values(expires_at=datetime(1970, 1, 1, tzinfo=UTC))
    )
