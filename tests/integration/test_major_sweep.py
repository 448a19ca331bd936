"""The stage deadlines of a major hazard under supervision remind and escalate like any deadline: one mail per
recipient and sweep listing every step that reached them, never a reminder and an escalation together."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, select

from tracker.clock import FixedClock
from tracker.domain.model import Actor, Role
from tracker.service.admin import set_sectors
from tracker.service.reporting import InspectionInput, ItemResult, Notices, report_inspection
from tracker.service.supervision_sweep import sweep_supervisions
from tracker.store.db import make_engine
from tracker.store.tables import mail, users

# Monday 2 November 2026, 10:00 in China: the plan (5 working days) is due on Monday 9 November, reminded on
# Thursday 5 November at 09:00, escalated when it passes and again three working days later at 09:00.
START = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
BASE = "http://tracker.test"


@pytest.fixture
async def stack(open_stack, database_url: str):
    # Nothing started: nothing reacts, and the outbox just fills.
    stack = await open_stack(database_url, fast=True, smtp=False, start=False, clock=FixedClock(START))
    await set_sectors(stack.engine, "chief", ["elderly"])
    await set_sectors(stack.engine, "lead", ["elderly"])
    return stack


async def report_majors(stack, n: int, ref: str = "sweep-1") -> list[int]:
    async with stack.engine.connect() as conn:
        row = (await conn.execute(select(users).where(users.c.username == "inspector"))).one()
    inspector = Actor(row.id, row.username, Role.INSPECTOR)
    majors = [i.code for i in stack.catalog.items(facility_type="nursing_home") if i.severity == "major"][:n]
    reported = await report_inspection(
        stack.engine,
        stack.catalog,
        inspector,
        InspectionInput(1, "unannounced", ref, [ItemResult(code, "fail") for code in majors]),
        START,
        Notices(stack.policy, prefix="民安督"),
    )
    return reported.finding_ids


async def sweep_at(stack, when: datetime):
    return await sweep_supervisions(stack.engine, stack.policy, when, BASE, "民安督")


async def mails(stack) -> list:
    async with stack.engine.connect() as conn:
        return list(
            (
                await conn.execute(select(mail).where(mail.c.kind == "supervision_due").order_by(mail.c.id))
            ).all()
        )


async def test_the_plan_is_reminded_then_escalated_up_the_sector_one_mail_per_recipient(stack):
    first, second = await report_majors(stack, 2)

    assert (await sweep_at(stack, datetime(2026, 11, 4, 2, 0, tzinfo=UTC))).mails == 0
    reminded = await sweep_at(stack, datetime(2026, 11, 5, 2, 0, tzinfo=UTC))
    assert sorted(reminded.reminded) == [first, second]
    [to_head] = await mails(stack)
    # Both hazards in one mail to the facility, whose step the plan is.
    assert to_head.to_addr == "head-f1@example.cn"
    assert "民安督〔2026〕1号" in to_head.text_body and "民安督〔2026〕2号" in to_head.text_body
    # In the facility's words: Chinese only, no finding numbers.
    assert "治理方案：2026年11月9日 到期" in to_head.text_body and f"[{first}]" not in to_head.text_body
    assert (await sweep_at(stack, datetime(2026, 11, 5, 3, 0, tzinfo=UTC))).mails == 0

    overdue = await sweep_at(stack, datetime(2026, 11, 10, 2, 0, tzinfo=UTC))
    assert sorted(overdue.escalated) == [(first, 1), (second, 1)]
    level1 = (await mails(stack))[1:]
    assert sorted(m.to_addr for m in level1) == ["chief@mzj.cn", "head-f1@example.cn"]
    assert all("第1级督办" in m.text_body and "民安督〔2026〕2号" in m.text_body for m in level1)
    [to_chief] = [m for m in level1 if m.to_addr == "chief@mzj.cn"]
    assert f"/findings/{second}" in to_chief.text_body and "2026-11-09" in to_chief.text_body
    assert (await sweep_at(stack, datetime(2026, 11, 12, 2, 0, tzinfo=UTC))).mails == 0

    level2 = await sweep_at(stack, datetime(2026, 11, 13, 2, 0, tzinfo=UTC))
    assert sorted(level2.escalated) == [(first, 2), (second, 2)]
    assert [m.to_addr for m in (await mails(stack))[3:]] == ["lead@mzj.cn"]
    assert (await sweep_at(stack, datetime(2026, 12, 1, 2, 0, tzinfo=UTC))).mails == 0


async def test_a_deadline_first_swept_after_it_passed_escalates_without_a_reminder(stack):
    [finding] = await report_majors(stack, 1)
    swept = await sweep_at(stack, datetime(2026, 11, 10, 2, 0, tzinfo=UTC))
    assert swept.reminded == [] and swept.escalated == [(finding, 1)]
    for message in await mails(stack):
        assert "到期" not in message.text_body and "第1级督办" in message.text_body


async def test_a_stage_escalates_at_nine_on_the_next_working_day_not_at_midnight(stack):
    [finding] = await report_majors(stack, 1)
    # The plan is due on Monday 9 November: 00:30 and 08:59 on Tuesday are too early to escalate it.
    for local_time in ((16, 30), (23, 59)):  # UTC on 9 November: 00:30 and 07:59 of the 10th in China
        swept = await sweep_at(stack, datetime(2026, 11, 9, *local_time, tzinfo=UTC))
        assert swept.escalated == [], local_time
    swept = await sweep_at(stack, datetime(2026, 11, 10, 1, 0, tzinfo=UTC))  # 09:00 in China
    assert swept.escalated == [(finding, 1)]


async def test_a_dry_run_counts_every_step_past_a_batch_and_more_rows_take_no_more_statements(stack):
    # An engine of the sweep's own, so that only the sweep's statements are counted.
    engine = make_engine(stack.settings.db_url)
    statements: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    thursday, tuesday = datetime(2026, 11, 5, 2, 0, tzinfo=UTC), datetime(2026, 11, 10, 2, 0, tzinfo=UTC)
    try:
        two = sorted(await report_majors(stack, 2, "two"))
        swept = await sweep_supervisions(engine, stack.policy, thursday, BASE, "民安督")
        assert (sorted(swept.reminded), swept.mails) == (two, 1)
        for_two = len(statements)
        six = sorted(await report_majors(stack, 6, "six"))
        dry = await sweep_supervisions(engine, stack.policy, thursday, BASE, "民安督", dry_run=True)
        assert sorted(dry.reminded) == six
        statements.clear()
        swept = await sweep_supervisions(engine, stack.policy, thursday, BASE, "民安督")
        assert (sorted(swept.reminded), swept.mails) == (six, 1)
        assert len(statements) == for_two

        # The plans overdue, in batches of three: all eight counted, then raised, one mail each to head and chief.
        dry = await sweep_supervisions(engine, stack.policy, tuesday, BASE, "民安督", dry_run=True, batch=3)
        assert sorted(dry.escalated) == [(i, 1) for i in sorted(two + six)]
        swept = await sweep_supervisions(engine, stack.policy, tuesday, BASE, "民安督", batch=3)
        assert sorted(swept.escalated) == [(i, 1) for i in sorted(two + six)] and swept.mails == 2
        to_chief = [m for m in await mails(stack) if m.to_addr == "chief@mzj.cn"]
        assert len(to_chief) == 1
        assert {int(i) for i in re.findall(r"/findings/(\d+)", to_chief[0].text_body)} == set(two + six)
        assert (
            await sweep_supervisions(engine, stack.policy, tuesday, BASE, "民安督", dry_run=True)
        ).escalated == []
    finally:
        await engine.dispose()
