"""The migrations build exactly the schema the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from tracker.store.db import make_engine
from tracker.store.migrate import current_revision, head_revision, upgrade_async
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


async def test_on_postgresql_the_indexes_carry_the_declared_columns(postgres_server):
    """INCLUDE is not compared by Alembic: the day book's keys must carry its counts and the lists' indexes the
    ids, or PostgreSQL reads every cell's and candidate's row from the table again."""
    url = postgres_server.create_database("t_include")
    await upgrade_async(url)
    declared = {}
    for table in metadata.tables.values():
        for owner in (table.primary_key, *table.indexes):
            include = owner.dialect_options["postgresql"]["include"]
            if include:
                declared[owner.name] = ", ".join(include)
    assert "pk_stats_flows" in declared and "ix_findings_list_major" in declared
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            built = {
                name: (await conn.execute(text(f"SELECT pg_get_indexdef('{name}'::regclass)"))).scalar_one()
                for name in declared
            }
    finally:
        await engine.dispose()
    assert {name: d.partition(" INCLUDE (")[2].rstrip(")") for name, d in built.items()} == declared
