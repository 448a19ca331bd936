"""Writers to one SQLite file take turns on a lock file beside it, waiting in the kernel.

SQLite has one write lock per file, and a connection that finds it taken sleeps in its busy handler (1, 2,
5 … then 100 ms at a time) before it tries again. Under load the lock is free for a moment between two
transactions, and a sleeping writer mostly misses it: the web's many connections and the worker's one
waited seconds for each other. Here every write transaction first takes an exclusive `flock` on
`<database>.writers`, in the driver's own thread, and gives it back when it commits or rolls back; a writer
that waits is woken by the kernel the moment the lock file is let go. The busy handler stays, for writers
that do not come this way (another program, a checkpoint)."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from typing import Any


class TurnTakingConnection(sqlite3.Connection):
    """A sqlite3 connection whose `BEGIN IMMEDIATE` waits for the writers' lock file first. Read
    transactions (`BEGIN`) never touch it."""

    def __init__(self, database: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        self._turns: int | None = None
        path = os.fsdecode(database)
        if path and path != ":memory:" and not path.startswith("file:"):
            self._turns = os.open(path + ".writers", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._holding = False

    def cursor(self, factory: Any = None) -> sqlite3.Cursor:  # type: ignore[override]
        return super().cursor(factory or _TurnTakingCursor)

    def execute(self, sql: str, parameters: Any = ()) -> sqlite3.Cursor:  # type: ignore[override]
        return self.cursor().execute(sql, parameters)  # sqlite3's own would bypass the cursor's

    def take_turn(self) -> None:
        if self._turns is not None and not self._holding:
            fcntl.flock(self._turns, fcntl.LOCK_EX)
            self._holding = True

    def give_turn(self) -> None:
        if self._holding:
            self._holding = False
            fcntl.flock(self._turns, fcntl.LOCK_UN)  # type: ignore[arg-type]

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            if not self.in_transaction:
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
            self.give_turn()
            if self._turns is not None:
                os.close(self._turns)
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
