"""Reminders and escalations: a sweep over the deadline index, one event per (finding, level),
whoever sweeps and however many sweep at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, select, update

from tests.support import SmtpRecorder
from tests.support.stack import Stack
from tracker.clock import FixedClock
from tracker.documents.printed import cn_date
from tracker.domain.model import Actor, Role
from tracker.entry.scheduler import LeasedJobs
from tracker.service.admin import set_sectors
from tracker.service.loop import decide_extension, request_extension
from tracker.service.sweep import sweep
from tracker.stats import daybook
from tracker.stats import query as q
from tracker.stats.periods import Period, local_day
from tracker.store.db import make_engine
from tracker.store.tables import findings, outbox, users

# A Monday morning in Shanghai, far from any holiday, so the working days are plain to count.
T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)


@pytest.fixture
async def stack(open_stack, database_url: str) -> Stack:
    stack = await open_stack(database_url, start=False, clock=FixedClock(T0))
    await set_sectors(stack.engine, "chief", ["elderly"])
    await set_sectors(stack.engine, "lead", ["elderly"])
    await stack.start()
    return stack


async def open_findings(stack: Stack, n: int) -> list[dict]:
    codes = [
        i.code
        for i in stack.catalog.items(facility_type="nursing_home")
        if i.severity == "general" and i.deadline_days("general") >= 5
    ][:n]
    assert len(codes) == n
    response = await stack.client.post(
        "/api/inspections",
        headers=await stack.token("inspector"),
        json={
            "facility_id": 1,
            "mode": "routine",
            "client_ref": f"sweep-{n}",
            "items": [{"item": c, "result": "fail"} for c in codes],
        },
    )
    assert response.status_code == 201, response.text
    ids = [f["id"] for f in response.json()["findings"]]

    async def all_ordered() -> list[dict] | None:
        async with stack.engine.connect() as conn:
            rows = (await conn.execute(select(findings).where(findings.c.id.in_(ids)))).all()
        return [r._asdict() for r in rows] if all(r.status == "ordered" for r in rows) else None

    return await stack.wait_for(all_ordered, what="orders")


async def escalated_events(stack: Stack) -> list[str]:
    async with stack.engine.connect() as conn:
        return list(
            (
                await conn.execute(
                    select(outbox.c.payload).where(outbox.c.subject == "tracker.finding.escalated")
                )
            ).scalars()
        )


def mails(recorder: SmtpRecorder, to: str, marker: str) -> list:
    return [m for m in recorder.messages if to in m.rcpt_tos and marker in m.subject]


async def test_it_reminds_then_escalates_up_the_ladder_one_level_at_a_time(
    stack: Stack, smtp_recorder: SmtpRecorder
):
    [row] = await open_findings(stack, 1)
    assert row["remind_at"] is not None and row["remind_at"] < row["due_at"]

    before = await sweep(stack.engine, stack.policy, row["remind_at"] - timedelta(seconds=1))
    assert not before.reminded and not before.escalated
    reminded = await sweep(stack.engine, stack.policy, row["remind_at"])
    assert reminded.reminded == [row["id"]] and not reminded.escalated
    await stack.wait_for(lambda: mails(smtp_recorder, "head-f1@example.cn", "整改提醒"), what="reminder")

    # A 乡镇 facility: 催办 to the facility (and its inspector told), then its town, then the sector's
    # section chief, then the sector's bureau lead.
    ladder = [
        ("head-f1@example.cn", "催办"),
        ("town@mzj.cn", "第2级"),
        ("chief@mzj.cn", "第3级"),
        ("lead@mzj.cn", "第4级"),
    ]
    assert (await sweep(stack.engine, stack.policy, row["due_at"] + timedelta(seconds=1))).escalated == []
    moment = row["next_escalation_at"]
    for level, (person, marker) in enumerate(ladder, start=1):
        result = await sweep(stack.engine, stack.policy, moment)
        assert result.escalated == [(row["id"], level)]
        again = await sweep(stack.engine, stack.policy, moment)
        assert again.escalated == [], "the same level must not be raised twice"
        await stack.wait_for(
            lambda p=person, m=marker: mails(smtp_recorder, p, m),
            what=f"level {level} mail to {person}",
        )
        if level == 1:
            await stack.wait_for(
                lambda: mails(smtp_recorder, "inspector@mzj.cn", "到期未整改"), what="the inspector told"
            )
        moment += timedelta(days=7)
    assert (await sweep(stack.engine, stack.policy, moment + timedelta(days=30))).escalated == []
    assert len(await escalated_events(stack)) == 4
    view = (await stack.client.get(f"/api/findings/{row['id']}", headers=await stack.token("chief"))).json()
    assert view["escalation_level"] == 4 and view["overdue"] is False  # the API's clock is still T0


async def test_it_reminds_again_before_a_deadline_given_more_time(stack: Stack, smtp_recorder: SmtpRecorder):
    [row] = await open_findings(stack, 1)
    assert (await sweep(stack.engine, stack.policy, row["remind_at"])).reminded == [row["id"]]
    await stack.wait_for(
        lambda: mails(smtp_recorder, "head-f1@example.cn", "整改提醒"), what="first reminder"
    )

    moment = row["remind_at"] + timedelta(minutes=5)
    async with stack.engine.begin() as conn:
        ids = dict((await conn.execute(select(users.c.username, users.c.id))).all())
        head = Actor(ids["head"], "head", Role.FACILITY_HEAD, facility_id=1)
        asked = await request_extension(conn, head, row["id"], 10, "消防改造需等待施工队", moment)
    async with stack.engine.begin() as conn:
        inspector = Actor(ids["inspector"], "inspector", Role.INSPECTOR)
        new_day = await decide_extension(conn, inspector, asked, True, None, "同意", stack.policy, moment)
        later = (await conn.execute(select(findings).where(findings.c.id == row["id"]))).one()
    assert new_day is not None and new_day > row["due_day"] and later.remind_at > moment

    assert (await sweep(stack.engine, stack.policy, later.remind_at)).reminded == [row["id"]]
    await stack.wait_for(
        lambda: len(mails(smtp_recorder, "head-f1@example.cn", "整改提醒")) == 2 or None,
        what="second reminder",
    )
    first, second = mails(smtp_recorder, "head-f1@example.cn", "整改提醒")
    # The facility reads its days as the order writes them (2027年1月18日).
    assert cn_date(row["due_day"]) in first.subject and cn_date(new_day) in second.subject


async def test_two_sweeps_at_once_raise_each_level_exactly_once(stack: Stack):
    rows = await open_findings(stack, 6)
    moment = max(r["next_escalation_at"] for r in rows)
    first, second = await asyncio.gather(
        sweep(stack.engine, stack.policy, moment, batch=2), sweep(stack.engine, stack.policy, moment, batch=2)
    )
    raised = sorted(first.escalated + second.escalated)
    assert raised == sorted((r["id"], 1) for r in rows)
    assert len(await escalated_events(stack)) == 6


async def test_only_the_lease_holder_sweeps_and_a_standby_takes_over_when_it_dies(stack: Stack):
    rows = await open_findings(stack, 2)
    clock = stack.clock
    assert isinstance(clock, FixedClock)
    clock.at = max(r["next_escalation_at"] for r in rows)
    one, two = LeasedJobs(stack.ctx, "one"), LeasedJobs(stack.ctx, "two")
    await asyncio.gather(one.sweep_job(), two.sweep_job())
    assert [one.active, two.active].count(True) == 1
    active, standby = (one, two) if one.active else (two, one)
    assert len(await escalated_events(stack)) == 2

    # The active scheduler dies without a word; its lease runs out and the standby acts.
    clock.at += timedelta(days=7)
    await standby.sweep_job()
    assert standby.active and len(await escalated_events(stack)) == 4
    await active.sweep_job()
    assert not active.active, "the old holder must stand by once the lease is taken"
    async with stack.engine.connect() as conn:
        levels = (await conn.execute(select(func.max(findings.c.escalation_level)))).scalar()
    assert levels == 2


async def test_the_lease_holder_keeps_the_day_book_and_it_counts_what_the_rows_count(stack: Stack):
    await open_findings(stack, 2)
    clock = stack.clock
    assert isinstance(clock, FixedClock)
    clock.at = T0 + timedelta(days=3, hours=2)  # Thursday, the findings still at the facility
    one, two = LeasedJobs(stack.ctx, "one"), LeasedJobs(stack.ctx, "two")
    await asyncio.gather(one.daybook_job(), two.daybook_job())
    async with stack.engine.connect() as conn:
        assert await daybook.through(conn) == local_day(clock.at)
        week = Period.week_of(local_day(T0))
        book = await q.overview(conn, week, q.Filter(), clock.at)
        rows = await q.overview(conn, week, q.Filter(), clock.at, exact_rows=True)
    assert book[:2] == rows[:2]
    counts = book[0].current.counts
    assert (counts["found"], counts["open"], counts["overdue"], counts["closed"]) == (2, 2, 0, 0)


async def test_a_sweep_makes_no_more_statements_for_six_due_rows_than_for_two(stack: Stack):
    # An engine of the sweep's own, so that only its statements are counted (the stack's serves the web and worker).
    engine = make_engine(stack.settings.db_url)
    statements: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    try:
        two = await open_findings(stack, 2)
        moment = max(r["next_escalation_at"] for r in two)
        assert len((await sweep(engine, stack.policy, moment)).escalated) == 2
        for_two = len(statements)
        statements.clear()
        six = await open_findings(stack, 6)
        # Their deadlines differ by item: all six made due at the same moment as the first two were.
        async with stack.engine.begin() as conn:
            await conn.execute(
                update(findings)
                .where(findings.c.id.in_([r["id"] for r in six]))
                .values(next_escalation_at=moment)
            )
        assert sorted((await sweep(engine, stack.policy, moment)).escalated) == sorted(
            (r["id"], 1) for r in six
        )
        assert len(statements) == for_two
    finally:
        await engine.dispose()
    assert len(await escalated_events(stack)) == 8
