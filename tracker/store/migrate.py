"""Alembic, driven from code: `tracker db upgrade` brings any database, empty or old, to the head."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str) -> None:
    # Alembic's env runs its own event loop; keep it off ours.
    await asyncio.to_thread(upgrade, url)


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


async def current_revision(url: str) -> str | None:
    """The database's schema revision, or None when it has none yet."""
    from sqlalchemy import inspect, text

    from tracker.store.db import make_engine

    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            has_table = await conn.run_sync(lambda sync: inspect(sync).has_table("alembic_version"))
            if not has_table:
                return None
            return await conn.scalar(text("SELECT version_num FROM alembic_version"))
    finally:
        await engine.dispose()
