"""The relay publishes rows when they commit, not at its next poll: here it would poll only every ten minutes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.support import NatsServer, SmtpRecorder
from tests.support.stack import Stack, add_facility, add_people, make_stack
from tracker.events.relay import run_relay
from tracker.store import outbox_wake
from tracker.store.db import make_engine
from tracker.store.tables import leases

NEVER = 600.0  # seconds between polls: longer than any wait below


@pytest.fixture
async def stack(tmp_path: Path, database_url: str, own_nats: NatsServer, smtp_recorder: SmtpRecorder):
    stack = await make_stack(tmp_path, database_url, own_nats.url, smtp_recorder.url)
    await add_facility(stack.engine, "F1")
    await add_people(stack.engine, "F1")
    yield stack
    await stack.close()


async def report(stack: Stack, ref: str) -> None:
    code = next(i.code for i in stack.catalog.items(facility_type="nursing_home") if i.severity == "general")
    response = await stack.client.post(
        "/api/inspections",
        headers=await stack.token("inspector"),
        json={
            "facility_id": 1,
            "mode": "routine",
            "client_ref": ref,
            "items": [{"item": code, "result": "fail"}],
        },
    )
    assert response.status_code == 201, response.text


async def relay_active(stack: Stack) -> bool:
    async with stack.engine.connect() as conn:
        return await conn.scalar(select(leases.c.holder).where(leases.c.name == "relay")) is not None


async def all_published(stack: Stack) -> bool:
    return await stack.unpublished() == 0


@pytest.mark.parametrize("same_process", [True, False], ids=["same process", "another process"])
async def test_the_relay_publishes_what_commits_without_waiting_for_its_poll(
    stack: Stack, same_process: bool, monkeypatch: pytest.MonkeyPatch
):
    if not same_process:
        # As if the web ran in a process of its own: the relay hears of the commit only through the
        # database (LISTEN/NOTIFY on PostgreSQL, the file's data_version on SQLite).
        monkeypatch.setattr(outbox_wake, "_committed", outbox_wake._rolled_back)
    relay_engine = make_engine(stack.settings.db_url)
    stop = asyncio.Event()
    relay = asyncio.create_task(
        run_relay(relay_engine, stack.settings.nats_servers, stack.clock, stop, NEVER)
    )
    try:
        await stack.wait_for(lambda: relay_active(stack), what="the relay to take its lease")
        await asyncio.sleep(0.5)  # past its first look at the outbox: from here on it waits for a wake
        await report(stack, "woken-1")
        await stack.wait_for(lambda: all_published(stack), timeout=30, what="the rows published")
        await report(stack, "woken-2")
        await stack.wait_for(lambda: all_published(stack), timeout=30, what="the next rows published")
    finally:
        stop.set()
        await asyncio.wait_for(relay, 15)
        await relay_engine.dispose()
