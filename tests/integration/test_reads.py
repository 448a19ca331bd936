"""read(): a page's statements in one read-only snapshot."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError

from tests.support import PostgresServer
from tests.support.stack import add_facility, prepared_engine
from tracker.store.db import read
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
        # The pool's connections go from reading to writing and back: a write still writes, a read still refuses.
        async with engine.begin() as conn:
            await conn.execute(update(facilities).values(name="写入"))
        with pytest.raises(DBAPIError):
            await read(engine, rename)
        assert await read(engine, names) == ["写入"]
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


async def test_on_postgresql_a_connection_idle_in_the_pool_is_pinged_before_use():
    with PostgresServer() as server:
        engine = await prepared_engine(server.create_database("idle_ping"))
        try:
            await add_facility(engine, "F1")
            assert len(await read(engine, names)) == 1
            server.restart()  # blocks the event loop: the driver has not seen the drop at the next checkout
            assert len(await read(engine, names)) == 1  # the ping failed, and the connection was replaced
        finally:
            await engine.dispose()
