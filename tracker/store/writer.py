"""Write transactions committed in groups, one writer per process, on a SQLite file.

Through aiosqlite each statement of a transaction is handed to the driver's thread and waits for the event
loop to come back to it. Under load the loop is busy with other requests, and a POST held SQLite's one write
lock about three times as long as its statements took while every other process's writer waited. Here the
process's writes queue for one task that looks for its turn at the lock (tracker.store.write_turns) every few
milliseconds, and the moment it has it runs every job that came meanwhile, each in a savepoint of one
transaction, at once, on a synchronous connection in the event loop's own thread, and commits. The lock is
never held while the loop is busy with something else (a thread that waited for the turn had to wait for
the loop too, holding the lock), and the loop never waits for the lock. So a job may await nothing but
`conn.execute` and `conn.scalar`. On PostgreSQL, and on an in-memory SQLite database, a job is simply run in
a transaction of its own."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
import weakref
from collections.abc import Awaitable, Callable
from contextvars import Context, copy_context
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine, RootTransaction, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tracker.store import write_turns
from tracker.store.db import tune_sqlite
from tracker.store.write_turns import TurnTakingConnection

log = logging.getLogger("tracker.store")

T = TypeVar("T")
Job = Callable[[AsyncConnection], Awaitable[Any]]
# A job, its caller's answer, its caller's context, and when it came (the event loop's time).
Waiting = tuple[Job, asyncio.Future[Any], Context, float]

CHECKPOINT_SECONDS = 1.0  # how often a writer folds SQLite's log back into the file, after its turn
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
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.waiting: list[Waiting] = []
        self.task: asyncio.Task[None] | None = None
        self.checkpointed = 0.0
        self.checkpointing: asyncio.Future[None] | None = None

    async def run(self, job: Job) -> Any:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self.waiting.append((job, done, copy_context(), loop.time()))
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._commit_groups())
        return await done

    async def _commit_groups(self) -> None:
        loop = asyncio.get_running_loop()
        while self.waiting:
            group: list[Waiting] = []
            try:
                with self.engine.connect() as conn:
                    # Each job waits at most TURN_SECONDS from when it came: the longest waiting sets the bound.
                    transaction = await _begin(conn, self.waiting[0][3] + write_turns.TURN_SECONDS)
                    # Every job that came while the turn was awaited goes in this group.
                    group, self.waiting = self.waiting, []
                    self._commit(conn, transaction, group)
                self._checkpoint_now_and_then()
            except Exception as error:  # noqa: BLE001 - the turn, the connection or the commit: the group's
                if group:
                    failed = group
                elif _locked(error):  # the turn not had in time: those who waited TURN_SECONDS hear so
                    failed = [w for w in self.waiting if loop.time() >= w[3] + write_turns.TURN_SECONDS]
                else:
                    failed = self.waiting
                self.waiting = [w for w in self.waiting if w not in failed]
                for _, done, _, _ in failed:
                    if not done.done():
                        done.set_exception(error)
            except BaseException:
                for _, done, _, _ in group + self.waiting:
                    done.cancel()
                self.waiting = []
                raise
            if self.waiting:
                # Between two groups of a backlog, the loop serves others and other processes may take a turn.
                await asyncio.sleep(write_turns.TURN_STEP)

    def _commit(self, conn: Connection, transaction: RootTransaction, group: list[Waiting]) -> None:
        """Each job in a savepoint, for at most GROUP_SECONDS, then the commit; the jobs left over go first in
        the next turn. Callers hear only once their group has committed."""
        answers: list[tuple[asyncio.Future[Any], bool, Any]] = []
        began = time.monotonic()
        with transaction:
            for n, (job, done, context, _) in enumerate(group):
                if time.monotonic() - began > GROUP_SECONDS:
                    self.waiting[:0] = group[n:]
                    del group[n:]
                    break
                if done.cancelled():
                    continue
                savepoint = conn.begin_nested()
                try:
                    result = context.run(_run_at_once, conn, job)
                except Exception as error:  # noqa: BLE001 - the job's caller gets it
                    savepoint.rollback()
                    answers.append((done, False, error))
                else:
                    savepoint.commit()
                    answers.append((done, True, result))
        for done, succeeded, value in answers:
            if done.done():
                continue
            if succeeded:
                done.set_result(value)
            else:
                done.set_exception(value)

    def _checkpoint_now_and_then(self) -> None:
        """SQLite's log folded back into the file, at most every CHECKPOINT_SECONDS, in a thread, once the turn
        is given back. SQLite does it inside a commit every thousand pages, and so holds the turn for tens of
        milliseconds while it copies them and syncs the file; a passive checkpoint waits for no one."""
        loop = asyncio.get_running_loop()
        running = self.checkpointing is not None and not self.checkpointing.done()
        if running or loop.time() - self.checkpointed < CHECKPOINT_SECONDS:
            return
        self.checkpointed = loop.time()
        self.checkpointing = loop.run_in_executor(None, _checkpoint, self.engine)
        self.checkpointing.add_done_callback(_checked)


def _checkpoint(engine: Engine) -> None:
    raw = engine.raw_connection()  # no transaction: a checkpoint runs outside one
    try:
        raw.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
    finally:
        raw.close()


def _checked(checkpointing: asyncio.Future[None]) -> None:
    if not checkpointing.cancelled() and checkpointing.exception() is not None:
        log.warning("could not fold SQLite's log back into the file: %r", checkpointing.exception())


async def _begin(conn: Connection, given_up: float) -> RootTransaction:
    """A write transaction once the turn at the lock file and SQLite's lock are had, looked for every TURN_STEP
    on the event loop, which serves others meanwhile and runs the group the moment it has them. The writer's
    connection does not wait in SQLite's busy handler: a program that writes without the lock file makes BEGIN
    fail at once (giving the turn back), and the turn is looked for again. At `given_up` (the loop's time) this
    fails as SQLite would."""
    turns = cast(TurnTakingConnection, conn.connection.dbapi_connection)
    loop = asyncio.get_running_loop()
    while True:
        if turns.try_turn():
            try:
                return conn.begin()  # BEGIN IMMEDIATE (tracker.store.db)
            except OperationalError as error:
                if not _locked(error):
                    raise
        if loop.time() > given_up:
            raise OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked"))
        await asyncio.sleep(write_turns.TURN_STEP)


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
    """The group writer of `engine`'s SQLite file on the running event loop (one synchronous engine per
    engine, closed with it); None for PostgreSQL and for an in-memory database, which another connection
    would not see."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return None
    writer = _writers.get(engine)
    if writer is None:
        sync = create_engine(
            engine.url.set(drivername="sqlite"),
            connect_args={"check_same_thread": False, "factory": TurnTakingConnection},
        )
        tune_sqlite(sync)
        event.listen(sync, "connect", _no_busy_wait)
        writer = _writers[engine] = _GroupWriter(sync)
        # Closed with `engine`: SQLite folds its log back into the file when the last connection closes, and
        # a file copied after dispose() must hold every commit.
        event.listen(engine.sync_engine, "engine_disposed", lambda _engine: sync.dispose())
        weakref.finalize(engine, sync.dispose)
    elif writer.task is not None and writer.task.get_loop() is not asyncio.get_running_loop():
        writer = _writers[engine] = _GroupWriter(writer.engine)  # a task serves one loop
    return writer


def _locked(error: Exception) -> bool:
    return isinstance(error, OperationalError) and "database is locked" in str(error.orig)


def _no_busy_wait(dbapi_connection: Any, _record: Any) -> None:
    # After tune_sqlite's: this connection waits for SQLite's lock on the event loop (_begin), never in it, and
    # leaves the checkpoints to _checkpoint_now_and_then.
    dbapi_connection.execute("PRAGMA busy_timeout=0")
    dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")
