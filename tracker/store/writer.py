"""Write transactions committed in groups, one writer per process, on a SQLite file.

Through aiosqlite each statement of a transaction is handed to the driver's thread and waits for the event
loop to come back to it. Under load the loop is busy with other requests, and a POST held SQLite's one write
lock about three times as long as its statements took while every other process's writer waited. Here the
process's writes queue for one task that waits for its turn at the lock (tracker.store.write_turns, in a
thread), then runs every job that came meanwhile, each in a savepoint of one transaction, at once, on a
synchronous connection in the event loop's own thread, and commits. So a job may await nothing but
`conn.execute` and `conn.scalar`. On PostgreSQL, and on an in-memory SQLite database, a job is simply run in
a transaction of its own."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tracker.store.db import tune_sqlite
from tracker.store.write_turns import TurnTakingConnection

T = TypeVar("T")
Job = Callable[[AsyncConnection], Awaitable[Any]]

TURN_SECONDS = 30.0  # how long a group waits for the lock, as long as SQLite's own busy timeout


async def write(engine: AsyncEngine, job: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """`await job(conn)` in a write transaction; its result once that has committed. A job that raises is
    rolled back alone (its savepoint) and its caller gets the error; the rest of its group commits."""
    sync = _synchronous(engine)
    if sync is None:
        async with engine.begin() as conn:
            return await job(conn)
    return cast(T, await _writer(sync).run(job))


class _GroupWriter:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.waiting: list[tuple[Job, asyncio.Future[Any]]] = []
        self.task: asyncio.Task[None] | None = None

    async def run(self, job: Job) -> Any:
        done = asyncio.get_running_loop().create_future()
        self.waiting.append((job, done))
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._commit_groups())
        return await done

    async def _commit_groups(self) -> None:
        while self.waiting:
            group, self.waiting = self.waiting, []
            try:
                await self._commit(group)
            except Exception as error:  # noqa: BLE001 - the lock, the connection or the commit: the group's
                for _, done in group:
                    if not done.done():
                        done.set_exception(error)
            except BaseException:
                for _, done in group:
                    done.cancel()
                raise

    async def _commit(self, group: list[tuple[Job, asyncio.Future[Any]]]) -> None:
        committed: list[tuple[asyncio.Future[Any], Any]] = []
        with self.engine.connect() as conn:
            await _take_turn(conn)
            with conn.begin():
                for job, done in group:
                    if done.cancelled():
                        continue
                    savepoint = conn.begin_nested()
                    try:
                        result = _run_at_once(conn, job)
                    except Exception as error:  # noqa: BLE001 - the job's caller gets it
                        savepoint.rollback()
                        done.set_exception(error)
                    else:
                        savepoint.commit()
                        committed.append((done, result))
        for done, result in committed:
            if not done.done():
                done.set_result(result)


async def _take_turn(conn: Connection) -> None:
    driver = cast(TurnTakingConnection, conn.connection.driver_connection)
    taking = asyncio.get_running_loop().run_in_executor(None, driver.take_turn)
    try:
        async with asyncio.timeout(TURN_SECONDS):
            await asyncio.shield(taking)
    except BaseException:
        # Closed and forgotten by the pool: the lock file goes with it, even if the thread takes it later.
        conn.invalidate()
        raise


class _Statements:
    """What a job uses of AsyncConnection, over a synchronous connection: its awaits never suspend, so the
    job runs to its end in one step."""

    def __init__(self, conn: Connection) -> None:
        self.dialect = conn.dialect
        self.sync_connection = conn  # tracker.store.outbox_wake marks the transaction through it

    async def execute(self, statement: Any, parameters: Any = None) -> Any:
        return self.sync_connection.execute(statement, parameters)

    async def scalar(self, statement: Any, parameters: Any = None) -> Any:
        return self.sync_connection.scalar(statement, parameters)


def _run_at_once(conn: Connection, job: Job) -> Any:
    steps = job(cast(AsyncConnection, _Statements(conn))).__await__()
    try:
        steps.send(None)
    except StopIteration as done:
        return done.value
    steps.close()
    raise RuntimeError("a write job awaited something other than conn.execute or conn.scalar")


_engines: weakref.WeakKeyDictionary[AsyncEngine, Engine] = weakref.WeakKeyDictionary()
_writers: weakref.WeakKeyDictionary[Engine, _GroupWriter] = weakref.WeakKeyDictionary()


def _synchronous(engine: AsyncEngine) -> Engine | None:
    """The synchronous engine of `engine`'s SQLite file (one per engine, gone with it); None for PostgreSQL
    and for an in-memory database, which another connection would not see."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return None
    sync = _engines.get(engine)
    if sync is None:
        sync = create_engine(
            engine.url.set(drivername="sqlite"),
            connect_args={"timeout": 30, "check_same_thread": False, "factory": TurnTakingConnection},
        )
        tune_sqlite(sync)
        _engines[engine] = sync
        weakref.finalize(engine, sync.dispose)
    return sync


def _writer(engine: Engine) -> _GroupWriter:
    """The engine's writer on the running event loop (a task serves one loop)."""
    writer = _writers.get(engine)
    if writer is None or (
        writer.task is not None and writer.task.get_loop() is not asyncio.get_running_loop()
    ):
        writer = _writers[engine] = _GroupWriter(engine)
    return writer
