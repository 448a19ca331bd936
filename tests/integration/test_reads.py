"""read(): a page's statements in one read-only snapshot; on a SQLite file, all of them in one worker thread.
read_together(): several reads of one snapshot, at once on PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError

from tests.support import PostgresServer
from tests.support.stack import add_facility, prepared_engine
from tracker.store import db
from tracker.store.db import read, read_together
from tracker.store.tables import facilities


async def names(conn) -> list[str]:
    return list((await conn.execute(select(facilities.c.name).order_by(facilities.c.code))).scalars())


async def test_it_reads_what_was_committed_and_not_a_writers_transaction_in_progress(database_url):
    engine = await prepared_engine(database_url)
    try:
        await add_facility(engine, "F1")
        await add_facility(engine, "F2")
        before = await read(engine, names)
        assert len(before) == 2
        async with engine.begin() as writer:
            await writer.execute(update(facilities).values(name="改名中"))
            # The writer holds SQLite's write lock: a read waits for nothing and sees the last commit.
            assert await asyncio.wait_for(read(engine, names), 10) == before
        assert await read(engine, names) == ["改名中", "改名中"]
    finally:
        await engine.dispose()


async def test_it_refuses_to_write(database_url):
    engine = await prepared_engine(database_url)
    try:
        await add_facility(engine, "F1")

        async def rename(conn) -> None:
            await conn.execute(update(facilities).values(name="不该写入"))

        with pytest.raises(DBAPIError):
            await read(engine, rename)
        assert await read(engine, names) != ["不该写入"]
    finally:
        await engine.dispose()


async def test_on_sqlite_a_job_that_awaits_anything_else_is_stopped_with_a_clear_error(tmp_path):
    engine = await prepared_engine(f"sqlite+aiosqlite:///{tmp_path / 'tracker.db'}")
    try:
        await add_facility(engine, "F1")

        async def waits(conn) -> list[str]:
            await asyncio.sleep(0)
            return await names(conn)

        with pytest.raises(RuntimeError, match=r"other than conn\.execute"):
            await read(engine, waits)
        # Its connection went back to the pool in one piece.
        assert len(await read(engine, names)) == 1
    finally:
        await engine.dispose()


async def test_read_together_gives_each_jobs_result_in_order(database_url):
    engine = await prepared_engine(database_url)
    try:
        await add_facility(engine, "F1")
        await add_facility(engine, "F2")

        async def count(conn) -> int:
            return len(await names(conn))

        both = ["测试敬老院 F1", "测试敬老院 F2"]
        assert await read_together(engine, names, count, names) == [both, 2, both]
    finally:
        await engine.dispose()


async def test_read_together_raises_a_failing_jobs_own_error(database_url):
    engine = await prepared_engine(database_url)
    try:
        await add_facility(engine, "F1")

        async def fails(conn) -> None:
            await names(conn)
            raise LookupError("no such figure")

        with pytest.raises(LookupError, match="no such figure"):
            await read_together(engine, names, fails, names)
        assert len(await read(engine, names)) == 1  # and the pool is whole
    finally:
        await engine.dispose()


async def test_on_postgresql_read_togethers_jobs_run_at_once_in_one_snapshot(postgres_server):
    """The second job reads only after the first has read and a rename has been committed: it still reads the
    names from before, as does the first when it reads again. The first waits for the second to have started,
    so run in turn they would never end."""
    engine = await prepared_engine(postgres_server.create_database("t_together"))
    try:
        await add_facility(engine, "F1")
        await add_facility(engine, "F2")
        first_read, second_started, renamed = asyncio.Event(), asyncio.Event(), asyncio.Event()

        async def reads_then_waits(conn) -> tuple[list[str], list[str]]:
            before = await names(conn)
            first_read.set()
            await second_started.wait()
            await renamed.wait()
            return before, await names(conn)

        async def waits_then_reads(conn) -> list[str]:
            second_started.set()
            await renamed.wait()
            return await names(conn)

        async def rename_between() -> None:
            await first_read.wait()
            async with engine.begin() as writer:
                await writer.execute(update(facilities).values(name="改名后"))
            renamed.set()

        together = read_together(engine, reads_then_waits, waits_then_reads)
        (before, again), other = (await asyncio.wait_for(asyncio.gather(together, rename_between()), 30))[0]
        assert "改名后" not in before
        assert again == before == other
        assert await read(engine, names) == ["改名后", "改名后"]
    finally:
        await engine.dispose()


async def test_on_postgresql_a_connection_the_server_closed_is_replaced_on_checkout():
    with PostgresServer() as server:
        engine = await prepared_engine(server.create_database("closed"))
        try:
            await add_facility(engine, "F1")
            assert len(await read(engine, names)) == 1
            server.restart()
            await asyncio.sleep(0.5)  # the driver sees its connection closed
            assert len(await read(engine, names)) == 1  # not an error: the closed connection was replaced
        finally:
            await engine.dispose()


async def test_on_postgresql_a_connection_idle_in_the_pool_is_pinged_before_use(monkeypatch):
    monkeypatch.setattr(db, "IDLE_BEFORE_PING", 0.2)
    with PostgresServer() as server:
        engine = await prepared_engine(server.create_database("idle_ping"))
        try:
            await add_facility(engine, "F1")
            assert len(await read(engine, names)) == 1
            server.restart()  # blocks the event loop: the driver has not seen the drop at the next checkout
            assert len(await read(engine, names)) == 1  # the ping failed, and the connection was replaced
        finally:
            await engine.dispose()
