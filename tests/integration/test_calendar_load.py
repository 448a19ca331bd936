"""Loading a year's holiday schedule settles the deadlines estimated over it: through the public API, the worker's
reactions, the admin task the CLI runs and the mailer, on SQLite and PostgreSQL and a real SMTP server."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import select, update

from tests.integration.test_findings_basis import _alembic
from tests.integration.test_loop import PNG, finding, mails_to, wait_status
from tests.support import SmtpRecorder
from tests.support.stack import Stack, add_facility, default_catalog
from tracker.clock import FixedClock
from tracker.domain.calendar import LOCAL_TZ, WorkdayResult
from tracker.domain.model import Actor, Role
from tracker.domain.policy import PolicySettings
from tracker.service.admin import add_user, load_calendar_year
from tracker.service.context import load_calendar
from tracker.service.loop import issue_order
from tracker.service.reporting import InspectionInput, ItemResult, report_inspection
from tracker.store.db import make_engine
from tracker.store.migrate import alembic_config, upgrade_async
from tracker.store.tables import findings

# Monday 25 January 2027, mid-morning: no schedule for 2027 is loaded, so deadlines are estimated.
ORDERED = datetime(2027, 1, 25, 10, 0, tzinfo=LOCAL_TZ).astimezone(UTC)
TEN_DAYS, SEVEN_DAYS = "BLDG-CRACK-01", "BLDG-WINDOW-01"  # general items: 10 and 7 working days

# Invented for the test, not the State Council's (unpublished when this was written): 2-5 to 2-14 off, and Sunday
# 1-31 a make-up working day.
SCHEDULE_2027 = {
    "year": 2027,
    "holidays": ["2027-01-01", "2027-02-05", *(f"2027-02-{d:02d}" for d in range(8, 13))],
    "workdays": ["2027-01-31"],
}


@pytest.fixture
async def stack(open_stack, database_url: str):
    # The fast layer: the worker's reactions and the mailer called in line, on both databases.
    return await open_stack(database_url, fast=True, clock=FixedClock(ORDERED))


async def order_two_findings(stack: Stack) -> tuple[dict, dict]:
    inspector = await stack.token("inspector")
    photo = await stack.client.post(
        "/api/photos", headers=inspector, files={"file": ("a.png", PNG, "image/png")}
    )
    assert photo.status_code == 201, photo.text
    response = await stack.client.post(
        "/api/inspections",
        headers=inspector,
        json={
            "facility_id": 1,
            "mode": "unannounced",
            "client_ref": "phone-2027-01-25",
            "items": [
                {"item": code, "result": "fail", "note": "见照片", "photos": [photo.json()["id"]]}
                for code in (TEN_DAYS, SEVEN_DAYS)
            ],
        },
    )
    assert response.status_code == 201, response.text
    by_item = {f["item"]["code"]: f["id"] for f in response.json()["findings"]}
    return (
        await wait_status(stack, by_item[TEN_DAYS], "ordered"),
        await wait_status(stack, by_item[SEVEN_DAYS], "ordered"),
    )


async def test_it_moves_an_estimated_deadline_later_when_the_schedule_is_loaded_and_tells_the_facility(
    stack: Stack, smtp_recorder: SmtpRecorder
):
    ten, seven = await order_two_findings(stack)
    # The estimate knows the Spring Festival (除夕 2-5 to 初三 2-8, 初一 and 初二 made up on 2-9 and 2-10): ten
    # working days from 1-25 end on Friday 2-12, not on 2-8 inside the festival as Monday to Friday would have it.
    assert (ten["deadline"], ten["deadline_estimated"]) == ("2027-02-12", True)
    assert (seven["deadline"], seven["deadline_estimated"]) == ("2027-02-03", True)
    await stack.wait_for(
        lambda: mails_to(smtp_recorder, "head-f1@example.cn", "整改通知书"), what="the order"
    )

    loaded_at = ORDERED + timedelta(days=1)
    assert isinstance(stack.clock, FixedClock)
    stack.clock.at = loaded_at  # the app's, the worker's and the mailer's clock alike
    loaded = await load_calendar_year(
        stack.engine, SCHEDULE_2027, loaded_at, base_url=stack.settings.base_url
    )
    assert [(m.finding_id, m.before, m.after) for m in loaded.moved] == [
        (ten["id"], date(2027, 2, 12), date(2027, 2, 15))
    ]

    # Counted again: 1-26..29, Sunday 1-31 and 2-1..4 are nine; 2-5 to 2-14 are off; Monday 2-15 is the tenth.
    moved = await finding(stack, ten["id"])
    assert (moved["deadline"], moved["deadline_estimated"], moved["deadline_warning"]) == (
        "2027-02-15",
        False,
        None,
    )
    assert moved["due_at"] == datetime(2027, 2, 15, 23, 59, 59, tzinfo=LOCAL_TZ).astimezone(UTC).isoformat()
    assert moved["overdue"] is False and moved["escalation_level"] == 0
    settled = moved["history"][-1]
    assert settled["action"] == "deadline_settled"
    assert settled["data"] == {"year": 2027, "due_day_before": "2027-02-12", "due_day": "2027-02-15"}

    # Seven days would now end on 2-2, a day earlier than the facility was told: its deadline stays, and is final.
    kept = await finding(stack, seven["id"])
    assert (kept["deadline"], kept["deadline_estimated"]) == ("2027-02-03", False)
    assert "deadline_settled" not in [h["action"] for h in kept["history"]]

    [told] = await stack.wait_for(
        lambda: mails_to(smtp_recorder, "head-f1@example.cn", "整改期限顺延"), what="the facility to be told"
    )
    text = told.message.get_body(("plain",)).get_content()
    assert "按2027年节假日安排顺延" in told.subject and "1项" in told.subject
    assert "原整改期限 2027年2月12日，顺延至 2027年2月15日" in text
    # The facility reads the hazard in words, never the checklist's code.
    assert stack.catalog.item(TEN_DAYS).zh in text and stack.catalog.item(SEVEN_DAYS).zh not in text
    assert TEN_DAYS not in text
    assert f"http://tracker.test/findings/{ten['id']}" in text
    html = told.message.get_body(("html",)).get_content()
    assert "2027年2月15日" in html

    # Loaded again, the schedule moves nothing more and mails nobody again.
    again = await load_calendar_year(stack.engine, SCHEDULE_2027, loaded_at, base_url=stack.settings.base_url)
    assert again.moved == []
    assert len(await stack.mail_rows("deadline_moved")) == 1


async def test_the_migration_keeps_the_start_of_deadlines_still_counted_from_their_order(database_url: str):
    await upgrade_async(database_url)
    engine = make_engine(database_url)
    try:
        facility = await add_facility(engine, "F1")
        inspector = await add_user(engine, role="inspector", username="inspector", password="correct-horse")
        done = await report_inspection(
            engine,
            default_catalog(),
            Actor(inspector, "inspector", Role.INSPECTOR),
            InspectionInput(facility, "routine", "old", [ItemResult(TEN_DAYS, "fail"), ItemResult(SEVEN_DAYS, "fail")]),
            ORDERED,
        )  # fmt: skip
        async with engine.begin() as conn:
            await issue_order(conn, done.inspection_id, PolicySettings(), ORDERED)
        first, rejected = done.finding_ids
        # Back to before 0027; one finding was rejected meanwhile, so its deadline no longer runs from the order.
        await _alembic(command.downgrade, alembic_config(database_url), "0027-1")
        async with engine.begin() as conn:
            await conn.execute(update(findings).where(findings.c.id == rejected).values(round=2))
        await _alembic(command.upgrade, alembic_config(database_url), "head")

        async with engine.connect() as conn:
            rows = {
                r.id: r
                for r in (
                    await conn.execute(select(findings.c.id, findings.c.due_from, findings.c.due_workdays))
                )
            }
        assert (rows[first].due_from, rows[first].due_workdays) == (ORDERED, 10)
        assert (rows[rejected].due_from, rows[rejected].due_workdays) == (None, None)

        loaded = await load_calendar_year(engine, SCHEDULE_2027, ORDERED, base_url="http://tracker.test")
        assert [(m.finding_id, m.after) for m in loaded.moved] == [(first, date(2027, 2, 15))]
    finally:
        await engine.dispose()


async def test_the_kept_calendar_is_counted_again_once_a_year_is_loaded(database_url: str):
    await upgrade_async(database_url)
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            before = await load_calendar(conn)
            assert await load_calendar(conn) is before  # kept while the schedules are as they were
        estimated = before.add_workdays(date(2027, 2, 4), 1)
        assert estimated.estimated

        await load_calendar_year(engine, SCHEDULE_2027, ORDERED, base_url="http://tracker.test")
        async with engine.connect() as conn:
            after = await load_calendar(conn)
        # The loaded schedule's holidays count, not the estimate the kept calendar had counted.
        assert after is not before and after.known_years() == {2027}
        assert after.add_workdays(date(2027, 2, 4), 1) == WorkdayResult(date(2027, 2, 15), estimated=False)
        assert before.add_workdays(date(2027, 2, 4), 1) == estimated
    finally:
        await engine.dispose()
