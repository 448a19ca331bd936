"""How the relay learns that outbox rows committed, instead of finding them at its next poll: at once when they
were written in its own process, by LISTEN/NOTIFY on PostgreSQL, and on a SQLite file by its data_version,
which changes when another connection commits and costs a few microseconds to read."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

from sqlalchemy import Engine, event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger("tracker.events.relay")

CHANNEL = "tracker_outbox"
_ROWS_ADDED = "tracker_outbox_rows_added"
# How often the relay looks at a SQLite file's data_version while it waits.
SQLITE_LOOK_SECONDS = 0.01
RECHECK_SECONDS = 0.02  # after an in-process wake: by then the commit that woke the relay has finished

_wakers: set[Callable[[], None]] = set()
_watched: weakref.WeakSet[Engine] = weakref.WeakSet()


async def announce(conn: AsyncConnection) -> None:
    """Outbox rows were added in `conn`'s transaction: wake the relays once it commits."""
    sync = conn.sync_connection
    assert sync is not None
    engine = sync.engine
    if engine not in _watched:
        _watched.add(engine)
        event.listen(engine, "commit", _committed)
        event.listen(engine, "rollback", _rolled_back)
    sync.info[_ROWS_ADDED] = True
    if conn.dialect.name == "postgresql":
        await conn.execute(text(f"NOTIFY {CHANNEL}"))  # delivered when (and only if) the transaction commits


def _committed(sync: Any) -> None:
    if sync.info.pop(_ROWS_ADDED, False):
        for wake in tuple(_wakers):
            wake()


def _rolled_back(sync: Any) -> None:
    sync.info.pop(_ROWS_ADDED, None)


class Wake:
    """What the relay waits on between batches."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.look: Callable[[], bool] | None = None

    async def wait(self, timeout: float) -> None:
        """Until rows may have committed, or `timeout` seconds."""
        if self.look is None:
            with suppress(TimeoutError):
                await asyncio.wait_for(self.event.wait(), timeout)
        else:
            loop = asyncio.get_running_loop()
            until = loop.time() + timeout
            while not self.event.is_set() and not self.look() and loop.time() < until:
                with suppress(TimeoutError):
                    await asyncio.wait_for(self.event.wait(), SQLITE_LOOK_SECONDS)
        self.event.clear()


@asynccontextmanager
async def watch(engine: AsyncEngine) -> AsyncIterator[Wake]:
    wake = Wake()
    loop = asyncio.get_running_loop()

    def again() -> None:
        loop.call_later(RECHECK_SECONDS, wake.event.set)

    def woken() -> None:
        # SQLAlchemy's "commit" event comes just before the commit itself: look now, and once more just after.
        loop.call_soon_threadsafe(wake.event.set)
        loop.call_soon_threadsafe(again)

    _wakers.add(woken)
    try:
        if engine.dialect.name == "postgresql":
            async with _listening(engine, woken):
                yield wake
        elif engine.url.database not in (None, "", ":memory:"):
            with _data_version(engine.url.database) as wake.look:
                yield wake
        else:
            yield wake
    finally:
        _wakers.discard(woken)


@asynccontextmanager
async def _listening(engine: AsyncEngine, woken: Callable[[], None]) -> AsyncIterator[None]:
    """LISTEN on a connection of the relay's own for as long as it runs. Should it be lost (the server
    restarted), the relay finds the rows at its polls."""

    def notified(*_: object) -> None:
        woken()

    try:
        conn = await engine.connect()
        listening = (await conn.get_raw_connection()).driver_connection
        await listening.add_listener(CHANNEL, notified)
    except Exception as error:  # noqa: BLE001 - the database away now: the polls still find the rows
        log.warning("relay could not LISTEN, polling only: %r", error)
        yield
        return
    try:
        yield
    finally:
        with suppress(Exception):  # back to the pool without its listener
            await listening.remove_listener(CHANNEL, notified)
        with suppress(Exception):
            await conn.close()


class _data_version:
    """A function that says whether another connection committed to the SQLite file since it last looked."""

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.seen = self._read()

    def _read(self) -> int:
        return self.conn.execute("PRAGMA data_version").fetchone()[0]

    def __call__(self) -> bool:
        try:
            now = self._read()
        except sqlite3.Error:  # say yes: the relay then reads the outbox itself
            return True
        changed, self.seen = now != self.seen, now
        return changed

    def __enter__(self) -> _data_version:
        return self

    def __exit__(self, *_: object) -> None:
        self.conn.close()
