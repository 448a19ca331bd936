"""Fresh databases at the head revision without running every migration for each test: the chain is run once per
test run into a template (a SQLite file; a PostgreSQL template database), and each test's new database is a
copy of it. Running the chain takes seconds; the copy, milliseconds. Tests of the migrations themselves call
alembic on an empty database (`database_url`) and never come here."""

from __future__ import annotations

import atexit
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from tracker.store.db import make_engine
from tracker.store.migrate import current_revision, upgrade_async

_sqlite_template: Path | None = None
_pg_templates: dict[str, str] = {}  # server (host:port) -> its template database


def _sqlite_path(url: str) -> Path | None:
    database = make_url(url).database
    return Path(database) if database and database != ":memory:" else None


async def _migrated_sqlite() -> Path:
    # Tests run one at a time in a process: no lock needed around the first one.
    global _sqlite_template
    if _sqlite_template is None:
        folder = Path(tempfile.mkdtemp(prefix="tracker-template-"))
        atexit.register(shutil.rmtree, folder, True)
        await upgrade_async(f"sqlite+aiosqlite:///{folder / 'template.db'}")
        _sqlite_template = folder / "template.db"
    return _sqlite_template


def _copy_sqlite(source: Path, target: Path) -> None:
    # The backup API copies a consistent database whatever its WAL holds.
    target.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()


async def _migrated_postgres(url: str) -> None:
    """Make the empty database at `url` again, as a copy of this server's migrated template."""
    parsed = make_url(url)
    server = f"{parsed.host}:{parsed.port}"
    admin = make_engine(parsed.set(database="postgres").render_as_string(hide_password=False))
    try:
        template = _pg_templates.get(server)
        if template is not None:  # the same port may be another server by now (tests start their own)
            async with admin.connect() as conn:
                found = await conn.scalar(
                    text("SELECT 1 FROM pg_database WHERE datname = :t"), {"t": template}
                )
            template = template if found else None
        if template is None:
            template = f"t_template_{os.getpid()}"
            async with admin.connect() as conn:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{template}"'))
                await conn.execute(text(f'CREATE DATABASE "{template}"'))
            await upgrade_async(parsed.set(database=template).render_as_string(hide_password=False))
            _pg_templates[server] = template
        async with admin.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'DROP DATABASE "{parsed.database}"'))
            await conn.execute(text(f'CREATE DATABASE "{parsed.database}" TEMPLATE "{template}"'))
    finally:
        await admin.dispose()


async def migrate_or_copy(url: str) -> None:
    """Bring the database at `url` to the head: a copy of the template when it does not exist yet (SQLite) or
    is empty (PostgreSQL), else the migrations that it lacks."""
    if url.startswith("sqlite"):
        path = _sqlite_path(url)
        if path is not None and not path.exists():
            _copy_sqlite(await _migrated_sqlite(), path)
            return
    elif url.startswith("postgresql") and await current_revision(url) is None:
        await _migrated_postgres(url)
        return
    await upgrade_async(url)
