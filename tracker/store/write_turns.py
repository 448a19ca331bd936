"""Writers to one SQLite file take turns on a lock file beside it, looking for it every few milliseconds.

SQLite has one write lock per file, and a connection that finds it taken sleeps in its busy handler (1, 2,
5 … then 100 ms at a time) before it tries again. Under load the lock is free for a moment between two
transactions, and a sleeping writer mostly misses it: the web's connections and the worker's waited seconds
for each other. Here every write transaction first takes an exclusive `flock` on `<database>.writers`, trying
again every TURN_STEP seconds (the group writer, tracker.store.writer, on its event loop; any other connection
in the driver's own thread), and gives it back when it commits or rolls back.
After TURN_SECONDS it fails as SQLite would ("database is locked"). SQLite's busy handler stays, for writers
that do not come this way (another program)."""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import time
from typing import Any

log = logging.getLogger("tracker.store")

TURN_SECONDS = 30.0  # as long as SQLite's own busy timeout
TURN_STEP = 0.002


class TurnTakingConnection(sqlite3.Connection):
    """A sqlite3 connection whose `BEGIN IMMEDIATE` waits for the writers' lock file first. Read
    transactions (`BEGIN`) never touch it."""

    def __init__(self, database: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        self._holding = False
        self._turns = _open_lock_file(os.fsdecode(database))

    def cursor(self, factory: Any = None) -> sqlite3.Cursor:  # type: ignore[override]
        return super().cursor(factory or _TurnTakingCursor)

    def execute(self, sql: str, parameters: Any = ()) -> sqlite3.Cursor:  # type: ignore[override]
        return self.cursor().execute(sql, parameters)  # sqlite3's own would bypass the cursor's

    def try_turn(self) -> bool:
        """Take the lock file if it is free, without waiting; whether this connection has it now."""
        if self._turns is None or self._holding:
            return True
        try:
            fcntl.flock(self._turns, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        self._holding = True
        return True

    def take_turn(self) -> None:
        """Wait for the lock file (blocking this thread), at most TURN_SECONDS."""
        given_up = time.monotonic() + TURN_SECONDS
        while not self.try_turn():
            if time.monotonic() > given_up:
                raise sqlite3.OperationalError("database is locked")
            time.sleep(TURN_STEP)

    def give_turn(self) -> None:
        if self._holding and not self.in_transaction:
            self._holding = False
            fcntl.flock(self._turns, fcntl.LOCK_UN)  # type: ignore[arg-type]

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.give_turn()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.give_turn()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._holding = False
            if self._turns is not None:
                os.close(self._turns)  # lets go of the lock with it
                self._turns = None


class _TurnTakingCursor(sqlite3.Cursor):
    def execute(self, sql: str, parameters: Any = ()) -> sqlite3.Cursor:  # type: ignore[override]
        connection: TurnTakingConnection = self.connection  # type: ignore[assignment]
        if sql.lstrip()[:15].upper() == "BEGIN IMMEDIATE":
            connection.take_turn()
            try:
                return super().execute(sql, parameters)
            except BaseException:
                connection.give_turn()
                raise
        return super().execute(sql, parameters)


def _open_lock_file(database: str) -> int | None:
    """The lock file beside `database`, made with the database file's permissions; None (SQLite's busy
    handler alone) for an in-memory database, or when the file cannot be had."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    path = database + ".writers"
    try:
        mode = os.stat(database).st_mode & 0o666
    except OSError:
        mode = 0o600
    for flags in (os.O_RDWR | os.O_CREAT, os.O_RDONLY):  # a read-only descriptor can still be locked
        try:
            return os.open(path, flags | os.O_CLOEXEC, mode)
        except OSError as error:
            failed = error
    log.warning("writers will not take turns at %s (%s): SQLite's busy handler alone", path, failed)
    return None
