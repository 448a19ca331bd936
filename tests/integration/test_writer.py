"""Writers to a SQLite file: the process's writes commit in groups, each job rolled back alone when it fails, and
every writer waits its turn at the lock file, woken when another lets it go."""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tracker.store import write_turns, writer
from tracker.store.db import make_engine
from tracker.store.write_turns import TurnTakingConnection
from tracker.store.writer import write


@pytest.fixture
async def engine(tmp_path: Path):
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'writes.db'}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE notes (n INTEGER PRIMARY KEY, said TEXT NOT NULL)"))
    yield engine
    await engine.dispose()


async def notes(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as conn:
        return list((await conn.execute(text("SELECT n FROM notes ORDER BY n"))).scalars())


def adding(n: int, fail: bool = False):
    async def add(conn: AsyncConnection) -> int:
        await conn.execute(text("INSERT INTO notes (n, said) VALUES (:n, 'x')"), {"n": n})
        if fail:
            raise ValueError(f"note {n} is refused")
        return n * 10

    return add


def lock_file_is_free(engine: AsyncEngine) -> bool:
    fd = os.open(f"{engine.url.database}.writers", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


async def test_writes_sent_at_once_all_commit_but_the_one_that_failed(engine: AsyncEngine):
    results = await asyncio.gather(
        *(write(engine, adding(n, fail=n == 7)) for n in range(1, 21)), return_exceptions=True
    )

    assert [r for r in results if isinstance(r, Exception)] == [results[6]]
    assert str(results[6]) == "note 7 is refused"
    assert [r for r in results if not isinstance(r, Exception)] == [n * 10 for n in range(1, 21) if n != 7]
    assert await notes(engine) == [n for n in range(1, 21) if n != 7]
    assert lock_file_is_free(engine)


async def test_a_writer_waits_while_another_holds_the_turn_and_goes_on_when_it_is_given_back(
    engine: AsyncEngine,
):
    # Another process's writer, as far as the lock file can tell: a connection of its own.
    other = sqlite3.connect(engine.url.database, factory=TurnTakingConnection, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO notes (n, said) VALUES (1, 'first')")

    grouped = asyncio.create_task(write(engine, adding(2)))

    async def through_aiosqlite() -> None:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO notes (n, said) VALUES (3, 'x')"))

    direct = asyncio.create_task(through_aiosqlite())
    await asyncio.sleep(0.3)  # the event loop goes on meanwhile: the waits are in threads
    assert not grouped.done() and not direct.done()
    assert not lock_file_is_free(engine)

    other.commit()
    assert await grouped == 20
    await direct
    assert await notes(engine) == [1, 2, 3]
    assert lock_file_is_free(engine)
    other.close()


async def test_a_write_job_that_awaits_anything_but_its_statements_is_refused_and_leaves_nothing(
    engine: AsyncEngine,
):
    async def dawdles(conn: AsyncConnection) -> None:
        await conn.execute(text("INSERT INTO notes (n, said) VALUES (1, 'x')"))
        await asyncio.sleep(0)

    with pytest.raises(RuntimeError, match="awaited something other"):
        await write(engine, dawdles)
    assert await notes(engine) == []
    assert await write(engine, adding(2)) == 20
    assert lock_file_is_free(engine)


async def test_the_event_loop_goes_on_while_a_group_waits_for_a_writer_that_takes_no_turns(
    engine: AsyncEngine,
):
    # Another program's writer: SQLite's lock, without the lock file. The group waits for it in its thread.
    other = sqlite3.connect(engine.url.database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticking = asyncio.create_task(tick())
    waiting = asyncio.create_task(write(engine, adding(1)))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    assert ticks >= 10  # served while the write waited
    other.rollback()
    assert await waiting == 10
    ticking.cancel()
    other.close()


async def test_a_writer_gives_up_as_sqlite_would_when_the_turn_never_comes(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(write_turns, "TURN_SECONDS", 0.2)
    other = sqlite3.connect(engine.url.database, factory=TurnTakingConnection, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")

    with pytest.raises(OperationalError, match="database is locked"):
        await write(engine, adding(1))
    with pytest.raises(OperationalError, match="database is locked"):
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO notes (n, said) VALUES (2, 'x')"))

    other.rollback()
    assert await write(engine, adding(3)) == 30
    assert await notes(engine) == [3]
    other.close()


def test_the_lock_file_has_the_database_files_permissions(tmp_path: Path):
    database = tmp_path / "kept.db"
    database.touch()
    os.chmod(database, 0o640)
    umask = os.umask(0o022)  # tracker's settings tighten it to 077 for the whole process, as SQLite's files
    try:
        sqlite3.connect(database, factory=TurnTakingConnection).close()
    finally:
        os.umask(umask)
    assert (tmp_path / "kept.db.writers").stat().st_mode & 0o777 == 0o640


async def test_the_log_is_folded_back_into_the_file_as_the_writes_go_on(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
):
    # SQLite's own checkpoints are off on the writer's connection (they ran inside a commit, holding the turn):
    # the writer folds the log back itself, so it does not grow with everything ever written.
    monkeypatch.setattr(writer, "CHECKPOINT_SECONDS", 0.02)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE blobs (n INTEGER PRIMARY KEY, data BLOB NOT NULL)"))

    def adding_a_blob(n: int):
        async def add(conn: AsyncConnection) -> None:
            await conn.execute(
                text("INSERT INTO blobs (n, data) VALUES (:n, :data)"), {"n": n, "data": os.urandom(100_000)}
            )

        return add

    for n in range(300):  # 30 MB in all
        await write(engine, adding_a_blob(n))
        await asyncio.sleep(0.005)
    log = Path(f"{engine.url.database}-wal")
    assert log.stat().st_size < 10_000_000
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM blobs")) == 300


def taking(n: int, seconds: float, seen: list[str]):
    async def add(conn: AsyncConnection) -> int:
        await conn.execute(text("INSERT INTO notes (n, said) VALUES (:n, 'x')"), {"n": n})
        time.sleep(seconds)  # statements that take this long: a big insert, a slow disk
        seen.append("job")
        return n

    return add


async def test_a_backlog_goes_in_groups_and_the_loop_serves_others_between_them(engine: AsyncEngine):
    await write(engine, adding(0))
    seen: list[str] = []

    async def others() -> None:
        while True:
            seen.append("other")
            await asyncio.sleep(0.001)

    serving = asyncio.create_task(others())
    await asyncio.gather(*(write(engine, taking(n, 0.01, seen)) for n in range(1, 41)))  # 0.4 s of jobs
    serving.cancel()
    during = seen[seen.index("job") : len(seen) - seen[::-1].index("job")]
    assert during.count("job") == 40
    assert during.count("other") >= 3  # a group takes at most GROUP_SECONDS (0.05 s) of them


async def test_another_process_has_its_turn_before_a_backlog_is_through(engine: AsyncEngine):
    await write(engine, adding(0))
    seen_there: list[int] = []

    def other_process() -> None:
        other = sqlite3.connect(engine.url.database, factory=TurnTakingConnection, isolation_level=None)
        time.sleep(0.03)  # the backlog has begun
        other.execute("BEGIN IMMEDIATE")
        seen_there.append(other.execute("SELECT count(*) FROM notes").fetchone()[0])
        other.rollback()
        other.close()

    thread = threading.Thread(target=other_process)
    thread.start()
    await asyncio.gather(*(write(engine, taking(n, 0.01, [])) for n in range(1, 41)))
    await asyncio.to_thread(thread.join)
    assert 1 <= seen_there[0] < 41  # not kept waiting for the whole backlog


async def test_a_job_waits_its_own_time_for_the_turn_not_that_of_the_job_before_it(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(write_turns, "TURN_SECONDS", 1.0)
    other = sqlite3.connect(engine.url.database, factory=TurnTakingConnection, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the turn for 1.4 s
    asyncio.get_running_loop().call_later(1.4, other.rollback)
    first = asyncio.create_task(write(engine, adding(1)))
    await asyncio.sleep(0.9)
    second = asyncio.create_task(write(engine, adding(2)))
    with pytest.raises(OperationalError, match="database is locked"):
        await first
    assert await second == 20
    assert await notes(engine) == [2]
    other.close()
