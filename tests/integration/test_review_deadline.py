"""The bureau's own 复查 deadline and the deadline of a rejected rectification, through the API on SQLite and
PostgreSQL, with the mail checked at a real SMTP server: a submitted rectification is to be verified within 3 working
days; the inspector is reminded the day before; past it, the sector's section chief hears, later its bureau lead;
one mail per recipient per sweep. A rejection gives the days the verifier chose, by default the item's own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event

from tests.integration.test_actions import add_team
from tests.support import SmtpRecorder
from tests.support.stack import Stack, add_facility, make_stack
from tracker.clock import FixedClock
from tracker.domain.calendar import WorkingCalendar
from tracker.domain.policy import PolicySettings, deadline_for
from tracker.service.loop import issue_order
from tracker.service.review_sweep import review_sweep
from tracker.store.db import make_engine

# Monday 2026-11-02, 09:00 in Shanghai. Submitted then, the 复查 is due by Thursday 11-05; the inspector is reminded
# on Wednesday at 09:00, the section chief hears on Friday at 09:00, the lead three working days later (Wednesday).
T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
WEDNESDAY = datetime(2026, 11, 4, 1, 0, tzinfo=UTC)
FRIDAY = datetime(2026, 11, 6, 1, 0, tzinfo=UTC)
NEXT_WEDNESDAY = datetime(2026, 11, 11, 1, 0, tzinfo=UTC)
NO_NATS = "nats://127.0.0.1:9"


@pytest.fixture
async def stack(tmp_path: Path, database_url: str, smtp_recorder: SmtpRecorder):
    stack = await make_stack(tmp_path, database_url, NO_NATS, smtp_recorder.url, clock=FixedClock(T0))
    await add_facility(stack.engine, "F1")  # an elderly-care home
    await add_team(stack)
    await stack.start(worker=False, relay=False)  # the mailer, to the SMTP server
    yield stack
    await stack.close()


def general_items(stack: Stack, n: int) -> list:
    items = [
        i
        for i in stack.catalog.items(facility_type="nursing_home")
        if i.severity == "general" and i.deadline_days("general") not in (0, 5)
    ]
    return items[:n]


async def submitted(stack: Stack, n: int) -> list[dict]:
    """`n` hazards found, ordered and answered by the facility, all at T0."""
    response = await stack.client.post(
        "/api/inspections",
        headers=await stack.token("inspector"),
        json={
            "facility_id": 1,
            "mode": "routine",
            "client_ref": f"review-{n}",
            "items": [{"item": i.code, "result": "fail", "note": "隐患"} for i in general_items(stack, n)],
        },
    )
    assert response.status_code == 201, response.text
    async with stack.engine.begin() as conn:
        await issue_order(conn, response.json()["id"], stack.policy, stack.clock.now())
    views = []
    for f in response.json()["findings"]:
        answer = await stack.client.post(
            f"/api/findings/{f['id']}/rectification",
            headers=await stack.token("head"),
            json={"note": "已整改"},
        )
        assert answer.status_code == 201, answer.text
        views.append(answer.json())
    return views


async def view(stack: Stack, finding_id: int) -> dict:
    response = await stack.client.get(f"/api/findings/{finding_id}", headers=await stack.token("chief"))
    assert response.status_code == 200, response.text
    return response.json()


async def sweep_at(stack: Stack, moment: datetime):
    """One 复查 sweep with the clock at `moment`, so the mailer sends what it queues."""
    stack.clock.at = moment
    return await review_sweep(stack.engine, stack.policy, moment, "http://t")


def mails(recorder: SmtpRecorder, to: str, marker: str) -> list:
    return [m for m in recorder.messages if to in m.rcpt_tos and marker in m.subject]


async def test_an_unverified_rectification_reminds_the_inspector_then_escalates_in_its_sector(
    stack: Stack, smtp_recorder: SmtpRecorder
):
    one, two = await submitted(stack, 2)
    assert one["status"] == "submitted" and one["review_deadline"] == "2026-11-05"
    assert not one["review_overdue"]

    assert (await sweep_at(stack, WEDNESDAY - timedelta(seconds=1))).reminded == []
    reminded = await sweep_at(stack, WEDNESDAY)
    assert sorted(reminded.reminded) == [one["id"], two["id"]] and reminded.escalated == []
    assert reminded.mailed == {"inspector@mzj.cn": [one["id"], two["id"]]}
    again = await sweep_at(stack, WEDNESDAY + timedelta(hours=1))
    assert (again.reminded, again.escalated) == ([], [])
    [reminder] = await stack.wait_for(
        lambda: mails(smtp_recorder, "inspector@mzj.cn", "复查提醒"), what="the 复查 reminder"
    )
    text = reminder.message.get_body(("plain",)).get_content()
    assert f"http://t/findings/{one['id']}" in text and f"http://t/findings/{two['id']}" in text
    assert "2026-11-05" in text

    # Thursday passes unverified: on Friday at 09:00 the elderly-care section's chief hears, once for both.
    assert (await sweep_at(stack, FRIDAY - timedelta(seconds=1))).escalated == []
    escalated = await sweep_at(stack, FRIDAY)
    assert sorted(escalated.escalated) == [(one["id"], 1), (two["id"], 1)]
    assert escalated.mailed == {"chief@mzj.cn": [one["id"], two["id"]]}
    [to_chief] = await stack.wait_for(
        lambda: mails(smtp_recorder, "chief@mzj.cn", "复查超期"), what="the escalation to the chief"
    )
    assert "第1级" in to_chief.subject
    stack.clock.at = FRIDAY
    overdue = await view(stack, one["id"])
    assert overdue["review_overdue"] and overdue["review_level"] == 1
    assert [h["data"]["level"] for h in overdue["history"] if h["action"] == "review_escalated"] == [1]

    # The dashboard's 复查超期, and the list behind it.
    period = {"from": "2026-11-01", "to": "2026-12-01"}
    page = await stack.client.get("/dashboard", params=period, headers=await stack.token("lead"))
    assert 'id="review-overdue">2</a>' in page.text
    listed = await stack.client.get(
        "/dashboard/findings",
        params={**period, "metric": "review_overdue"},
        headers=await stack.token("lead"),
    )
    assert listed.status_code == 200 and "复查超期" in listed.text
    assert f"/findings/{one['id']}" in listed.text and f"/findings/{two['id']}" in listed.text

    # One is verified: the other climbs to the sector's bureau lead three working days later.
    stack.clock.at = FRIDAY + timedelta(hours=2)
    closed = await stack.client.post(
        f"/api/findings/{one['id']}/verification",
        headers=await stack.token("inspector"),
        json={"accepted": True},
    )
    assert closed.status_code == 201, closed.text
    assert closed.json()["review_deadline"] is None and not closed.json()["review_overdue"]
    up = await sweep_at(stack, NEXT_WEDNESDAY)
    assert up.escalated == [(two["id"], 2)] and up.mailed == {"lead@mzj.cn": [two["id"]]}
    await stack.wait_for(
        lambda: mails(smtp_recorder, "lead@mzj.cn", "第2级"), what="the escalation to the lead"
    )
    assert (await sweep_at(stack, NEXT_WEDNESDAY + timedelta(days=30))).escalated == []
    # Nobody outside the sector, and no town office, heard of it.
    assert not [m for m in smtp_recorder.messages if {"oc@mzj.cn", "town@mzj.cn"} & set(m.rcpt_tos)]
    stack.clock.at = NEXT_WEDNESDAY
    page = await stack.client.get("/dashboard", params=period, headers=await stack.token("lead"))
    assert 'id="review-overdue">1</a>' in page.text
    # At the end of October nothing was overdue.
    october = await stack.client.get(
        "/dashboard", params={"from": "2026-10-01", "to": "2026-11-01"}, headers=await stack.token("lead")
    )
    assert 'id="review-overdue">0</a>' in october.text


async def test_a_rejection_gets_the_days_the_verifier_chose_or_the_items_own(stack: Stack):
    chosen, default = await submitted(stack, 2)
    stack.clock.at = T0 + timedelta(days=1)
    calendar, policy = WorkingCalendar(), PolicySettings()
    inspector = await stack.token("inspector")
    rejected = await stack.client.post(
        f"/api/findings/{chosen['id']}/verification",
        headers=inspector,
        json={"accepted": False, "note": "未整改到位", "deadline_days": 20},
    )
    assert rejected.status_code == 201, rejected.text
    assert (
        rejected.json()["deadline"] == deadline_for(stack.clock.now(), 20, calendar, policy).day.isoformat()
    )
    assert rejected.json()["status"] == "ordered" and rejected.json()["review_deadline"] is None

    item_days = general_items(stack, 2)[1].deadline_days("general")
    kept = await stack.client.post(
        f"/api/findings/{default['id']}/verification",
        headers=inspector,
        json={"accepted": False, "note": "仍有问题"},
    )
    assert kept.status_code == 201, kept.text
    expected = deadline_for(stack.clock.now(), item_days, calendar, policy).day.isoformat()
    assert kept.json()["deadline"] == expected
    [entry] = [h for h in kept.json()["history"] if h["action"] == "rejected"]
    assert entry["data"]["days"] == item_days and entry["data"]["chosen"] is False

    # A choice out of range is refused, naming the field; nothing changes.
    again = await stack.client.post(
        f"/api/findings/{default['id']}/rectification",
        headers=await stack.token("head"),
        json={"note": "再次整改"},
    )
    assert again.status_code == 201
    for days in (-1, 91, "soon"):
        refused = await stack.client.post(
            f"/api/findings/{default['id']}/verification",
            headers=inspector,
            json={"accepted": False, "note": "仍有问题", "deadline_days": days},
        )
        assert refused.status_code == 422 and "deadline_days" in refused.text
    assert (await view(stack, default["id"]))["status"] == "submitted"


async def test_the_page_form_takes_the_verifiers_days(stack: Stack):
    [finding] = await submitted(stack, 1)
    page = await stack.client.get(f"/findings/{finding['id']}", headers=await stack.token("inspector"))
    item_days = general_items(stack, 1)[0].deadline_days("general")
    assert f'name="deadline_days" id="deadline-days" min="0" max="90" value="{item_days}"' in page.text


async def test_a_dry_run_counts_every_row_past_a_batch_and_more_rows_take_no_more_statements(stack: Stack):
    # An engine of the sweep's own, so that only its statements are counted (the stack's serves the web and mailer).
    engine = make_engine(stack.settings.db_url)
    statements: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    try:
        two = [f["id"] for f in await submitted(stack, 2)]
        assert sorted((await review_sweep(engine, stack.policy, WEDNESDAY, "http://t")).reminded) == two
        for_two = len(statements)
        six = [f["id"] for f in await submitted(stack, 6)]
        dry = await review_sweep(engine, stack.policy, WEDNESDAY, "http://t", dry_run=True, batch=4)
        assert sorted(dry.reminded) == six
        statements.clear()
        swept = await review_sweep(engine, stack.policy, WEDNESDAY, "http://t")
        assert sorted(swept.reminded) == six and swept.mailed == {"inspector@mzj.cn": six}
        assert len(statements) == for_two

        # Past the 复查 deadline, in batches of three: all eight counted, then raised, in one mail to the chief.
        dry = await review_sweep(engine, stack.policy, FRIDAY, "http://t", dry_run=True, batch=3)
        assert sorted(dry.escalated) == [(i, 1) for i in sorted(two + six)]
        swept = await review_sweep(engine, stack.policy, FRIDAY, "http://t", batch=3)
        assert sorted(swept.escalated) == [(i, 1) for i in sorted(two + six)]
        assert swept.mailed == {"chief@mzj.cn": sorted(two + six)}
        again = await review_sweep(engine, stack.policy, FRIDAY, "http://t", dry_run=True)
        assert (again.reminded, again.escalated) == ([], [])
    finally:
        await engine.dispose()
