"""The inspector's done page, as read right after submitting: each hazard's deadline in words. Through the pages
against a real database; no worker, relay or mailer is needed (the order is issued by hand)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx

from tests.support.stack import (
    PASSWORD,
    Stack,
    add_facility,
    add_people,
    login_token,
    prepared_engine,
    settings_for,
)
from tracker.checklists import load_catalog
from tracker.clock import FixedClock
from tracker.service.loop import issue_order
from tracker.web.app import create_app

# Tuesday 8 December 2026, 09:00 in China: an ordinary working day.
TUESDAY = datetime(2026, 12, 8, 1, 0, tzinfo=UTC)


async def test_a_deadline_on_the_day_of_the_order_reads_same_day_not_zero_working_days(
    tmp_path: Path, database_url: str
) -> None:
    stack = Stack(
        settings=settings_for(tmp_path, database_url, "nats://127.0.0.1:1", "smtp://127.0.0.1:1"),
        engine=await prepared_engine(database_url),
        catalog=load_catalog(),
        clock=FixedClock(TUESDAY),
    )
    inspector = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(stack.ctx)), base_url="http://tracker.test"
    )
    try:
        home = await add_facility(stack.engine, "F1")
        await add_people(stack.engine, "F1")
        general = [i for i in stack.catalog.items(facility_type="nursing_home") if i.severity == "general"]
        at_once = next(i for i in general if i.deadline_days("general") == 0)
        ten_days = next(i for i in general if i.deadline_days("general") == 10)
        submitted = await stack.client.post(
            "/api/inspections",
            headers=await stack.token("inspector"),
            json={
                "facility_id": home,
                "mode": "unannounced",
                "client_ref": "same-day",
                "items": [
                    {"item": at_once.code, "result": "fail", "note": "插线板串接"},
                    {"item": ten_days.code, "result": "fail", "note": "东楼三层"},
                ],
            },
        )
        assert submitted.status_code == 201, submitted.text
        inspection_id = submitted.json()["id"]
        async with stack.engine.begin() as conn:
            await issue_order(conn, inspection_id, stack.policy, TUESDAY)

        form = await inspector.get("/login")
        await inspector.post(
            "/login",
            data={"username": "inspector", "password": PASSWORD, "login_token": login_token(form.text)},
        )
        done = await inspector.get(f"/inspect/done/{inspection_id}")
        assert done.status_code == 200
        assert "整改期限 2026年12月8日（当日）" in done.text
        assert "（0 个工作日）" not in done.text
        assert "整改期限 2026年12月22日（10 个工作日）" in done.text
    finally:
        await inspector.aclose()
        await stack.close()
