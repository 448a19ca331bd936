"""The migrations build exactly the schema the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from tracker.store.db import make_engine
from tracker.store.migrate import alembic_config, current_revision, head_revision, upgrade_async
from tracker.store.tables import metadata


async def test_it_migrates_an_empty_database_to_the_declared_schema(database_url: str):
    await upgrade_async(database_url)
    assert await current_revision(database_url) == head_revision()
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": False}), metadata
                )
            )
    finally:
        await engine.dispose()
    assert diff == []


async def test_its_primary_keys_are_in_the_declared_column_order(database_url: str):
    """The order of a key's columns decides which ranges a query reads (the day book's tables are stored in
    key order); Alembic's comparison does not look at it."""
    await upgrade_async(database_url)
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            built = await conn.run_sync(
                lambda sync: {
                    name: inspect(sync).get_pk_constraint(name)["constrained_columns"]
                    for name in metadata.tables
                }
            )
    finally:
        await engine.dispose()
    declared = {name: [c.name for c in table.primary_key.columns] for name, table in metadata.tables.items()}
    assert built == declared


async def test_it_upgrades_twice_without_harm(database_url: str):
    await upgrade_async(database_url)
    await upgrade_async(database_url)
    assert await current_revision(database_url) == head_revision()


async def test_it_downgrades_the_day_book_and_upgrades_again_to_the_declared_schema(database_url: str):
    """Migration 0036 replaced the day book's tables and the dashboard's indexes (0038 added statistics on
    PostgreSQL): down below both and up again."""
    await upgrade_async(database_url)
    config = alembic_config(database_url)
    await asyncio.to_thread(command.downgrade, config, "0037")
    assert await current_revision(database_url) != head_revision()
    await asyncio.to_thread(command.upgrade, config, "head")
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": False}), metadata
                )
            )
    finally:
        await engine.dispose()
    assert diff == []
