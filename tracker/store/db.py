"""Engines for SQLite (WAL, immediate write transactions) and PostgreSQL, and small dialect helpers."""

from __future__ import annotations

import asyncio
import re
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine, Table, create_engine, event, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DisconnectionError
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
    engine = create_async_engine(url, pool_size=10, max_overflow=10, **kwargs)
    _ping_when_idle(engine.sync_engine)
    return engine


IDLE_BEFORE_PING = 10.0  # seconds


def _ping_when_idle(engine: Engine) -> None:
    """pool_pre_ping, cheaper: on checkout, a connection the driver knows closed (the server restarted, say) is
    replaced, and one that sat in the pool IDLE_BEFORE_PING seconds or more is pinged first, for a drop the
    driver has not seen. The asyncpg dialect's ping is three round trips (BEGIN, a query, ROLLBACK), and a
    dashboard page checks out three connections: pinged every time, they took a sixth of a page's time. A
    connection that fails sooner after its last use, unseen, fails its statement, and SQLAlchemy then replaces
    every connection of the pool."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        # The pool connects afresh and checks out again.
        if dbapi_connection.driver_connection.is_closed():
            raise DisconnectionError("the server closed the connection")
        since = record.info.get("idle_since")  # none yet: just connected
        if since is None or time.monotonic() - since < IDLE_BEFORE_PING:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError(f"the connection did not answer a ping: {exc}") from exc


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
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A transaction that reads then writes cannot wait for the lock in deferred mode; take it up front.
        # Reads marked read-only need no lock at all under WAL.
        read = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read else "BEGIN IMMEDIATE")


READ_ONLY = "tracker_read_only"


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
    """`await job(conn)` in one read-only snapshot, as read_only. On a SQLite file the whole job runs in one
    worker thread on a synchronous connection to the same file: through aiosqlite each statement is four
    hand-offs to the driver's thread and back, which took a dashboard page (15 statements) a third to a half
    of its time. So `job` may await nothing but `conn.execute`."""
    reader = _sqlite_reader(engine)
    if reader is None:
        async with read_only(engine) as conn:
            return await job(conn)
    return await asyncio.to_thread(_read_in_thread, reader, job)


async def read_together(engine: AsyncEngine, *jobs: Callable[[AsyncConnection], Awaitable[Any]]) -> list[Any]:
    """Each of `jobs` run as read() runs one, all of them in one snapshot; their results in order. On
    PostgreSQL each has a connection of its own and they run at once: the first exports its snapshot and the
    others take it (SET TRANSACTION SNAPSHOT), so they read the same moment, and while one job's Python works
    on its rows the others' statements are in the server. Elsewhere they run in turn, in one read()."""
    if engine.dialect.name != "postgresql" or len(jobs) < 2:

        async def in_turn(conn: AsyncConnection) -> list[Any]:
            return [await job(conn) for job in jobs]

        return await read(engine, in_turn)
    async with read_only(engine) as first:
        snapshot = (await first.execute(text("SELECT pg_export_snapshot()"))).scalar_one()
        if not _SNAPSHOT_ID.fullmatch(snapshot):  # it is written into the statement below
            raise RuntimeError(f"unexpected snapshot id {snapshot!r}")

        async def beside(job: Callable[[AsyncConnection], Awaitable[Any]]) -> Any:
            async with read_only(engine) as conn:
                await conn.execute(text(f"SET TRANSACTION SNAPSHOT '{snapshot}'"))
                return await job(conn)

        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(jobs[0](first)), *(group.create_task(beside(j)) for j in jobs[1:])]
        except (
            ExceptionGroup
        ) as failed:  # the first failure, as read() would raise it; the others are stopped
            raise failed.exceptions[0] from None
    return [task.result() for task in tasks]


_SNAPSHOT_ID = re.compile(r"[0-9A-Fa-f-]+")

_readers: weakref.WeakKeyDictionary[AsyncEngine, Engine] = weakref.WeakKeyDictionary()


def _sqlite_reader(engine: AsyncEngine) -> Engine | None:
    """The synchronous engine read() uses for `engine`'s SQLite file (one per engine, gone with it); None for
    PostgreSQL and for an in-memory database, which another connection would not see."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return None
    reader = _readers.get(engine)
    if reader is None:
        reader = create_engine(
            engine.url.set(drivername="sqlite"),
            connect_args={"timeout": 30, "check_same_thread": False},
            execution_options={READ_ONLY: True},
        )
        tune_sqlite(reader)

        @event.listens_for(reader, "connect")
        def _read_only(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute("PRAGMA query_only=ON")

        _readers[engine] = reader
        weakref.finalize(engine, reader.dispose)
    return reader


class _Statements:
    """What a read job uses of AsyncConnection (execute), over a synchronous connection: its awaits never
    suspend, so the job runs to its end in one step (_read_in_thread)."""

    def __init__(self, conn: Connection) -> None:
        self.dialect = conn.dialect
        self._conn = conn

    async def execute(self, statement: Any, parameters: Any = None) -> Any:
        return self._conn.execute(statement, parameters)


def _read_in_thread(reader: Engine, job: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    with reader.connect() as conn:
        steps = job(cast(AsyncConnection, _Statements(conn))).__await__()
        try:
            steps.send(None)
        except StopIteration as done:
            return cast(T, done.value)
        finally:
            conn.rollback()
        steps.close()
        raise RuntimeError("a read job awaited something other than conn.execute")


def is_sqlite(conn: AsyncConnection) -> bool:
    return conn.dialect.name == "sqlite"


def insert_ignoring_duplicates(conn: AsyncConnection, table: Table) -> Any:
    """INSERT that silently skips rows whose unique key is already there."""
    dialect = sqlite if is_sqlite(conn) else postgresql
    return dialect.insert(table).on_conflict_do_nothing()


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
