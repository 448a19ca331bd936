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
import time
import weakref
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import Context, copy_context
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine, RootTransaction, create_engine, event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tracker.store.db import tune_sqlite
from tracker.store.write_turns import TurnTakingConnection

T = TypeVar("T")
Job = Callable[[AsyncConnection], Awaitable[Any]]
Waiting = tuple[Job, asyncio.Future[Any], Context]  # a job, its caller's answer, its caller's context

GROUP_SECONDS = 0.05  # a group takes no new job after this long: the lock, and the event loop, are held


async def write(engine: AsyncEngine, job: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """`await job(conn)` in a write transaction; its result once that has committed. A job that raises is
    rolled back alone (its savepoint) and its caller gets the error; the rest of its group commits."""
    writer = _writer(engine)
    if writer is None:
        async with engine.begin() as conn:
            return await job(conn)
    return cast(T, await writer.run(job))


class _GroupWriter:
    def __init__(self, engine: Engine, thread: ThreadPoolExecutor) -> None:
        self.engine = engine
        self.thread = thread  # where a group waits for its turn, and SQLite's lock
        self.waiting: list[Waiting] = []
        self.task: asyncio.Task[None] | None = None

    async def run(self, job: Job) -> Any:
        done = asyncio.get_running_loop().create_future()
        self.waiting.append((job, done, copy_context()))
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._commit_groups())
        return await done

    async def _commit_groups(self) -> None:
        while self.waiting:
            group, self.waiting = self.waiting, []
            try:
                await self._commit(group)
            except Exception as error:  # noqa: BLE001 - the turn, the connection or the commit: the group's
                for _, done, _ in group:
                    if not done.done():
                        done.set_exception(error)
            except BaseException:
                for _, done, _ in group + self.waiting:
                    done.cancel()
                self.waiting = []
                raise

    async def _commit(self, group: list[Waiting]) -> None:
        beginning = asyncio.get_running_loop().run_in_executor(self.thread, self._begin)
        try:
            conn, transaction = await asyncio.shield(beginning)
        except asyncio.CancelledError:
            # The thread may still get the turn: it rolls back and lets go once it has.
            beginning.add_done_callback(self._let_go)
            raise
        committed: list[tuple[asyncio.Future[Any], Any]] = []
        began = time.monotonic()
        with conn, transaction:
            for n, (job, done, context) in enumerate(group):
                if time.monotonic() - began > GROUP_SECONDS:
                    self.waiting[:0] = group[n:]  # the rest go first in the next turn
                    del group[n:]
                    break
                if done.cancelled():
                    continue
                savepoint = conn.begin_nested()
                try:
                    result = context.run(_run_at_once, conn, job)
                except Exception as error:  # noqa: BLE001 - the job's caller gets it
                    savepoint.rollback()
                    done.set_exception(error)
                else:
                    savepoint.commit()
                    committed.append((done, result))
        for done, result in committed:
            if not done.done():
                done.set_result(result)

    def _begin(self) -> tuple[Connection, RootTransaction]:
        """In the writer's thread: a connection, its turn and SQLite's lock (BEGIN IMMEDIATE)."""
        conn = self.engine.connect()
        try:
            return conn, conn.begin()
        except BaseException:
            conn.close()
            raise

    def _let_go(self, began: asyncio.Future[tuple[Connection, RootTransaction]]) -> None:
        if not began.cancelled() and began.exception() is None:
            conn, transaction = began.result()
            self.thread.submit(lambda: (transaction.rollback(), conn.close()))


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


_writers: weakref.WeakKeyDictionary[AsyncEngine, _GroupWriter] = weakref.WeakKeyDictionary()


def _writer(engine: AsyncEngine) -> _GroupWriter | None:
    """The group writer of `engine`'s SQLite file on the running event loop (one engine and thread per
    engine, closed with it); None for PostgreSQL and for an in-memory database, which another connection
    would not see."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return None
    writer = _writers.get(engine)
    if writer is None:
        sync = create_engine(
            engine.url.set(drivername="sqlite"),
            connect_args={"timeout": 30, "check_same_thread": False, "factory": TurnTakingConnection},
        )
        tune_sqlite(sync)
        thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tracker-writer")
        writer = _writers[engine] = _GroupWriter(sync, thread)
        # Closed with `engine`: SQLite folds its log back into the file when the last connection closes, and
        # a file copied after dispose() must hold every commit.
        event.listen(engine.sync_engine, "engine_disposed", lambda _engine: sync.dispose())
        weakref.finalize(engine, sync.dispose)
        weakref.finalize(engine, thread.shutdown, wait=False)
    elif writer.task is not None and writer.task.get_loop() is not asyncio.get_running_loop():
        writer = _writers[engine] = _GroupWriter(writer.engine, writer.thread)  # a task serves one loop
    return writer
