"""The weekly digest: queued by the scheduler's job, delivered over real SMTP, once per week and person."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.integration.test_stats import TOWN_A, craft
from tests.support import SmtpRecorder
from tests.support.stack import Stack, make_stack
from tracker.clock import FixedClock
from tracker.domain.calendar import LOCAL_TZ
from tracker.entry.scheduler import LeasedJobs
from tracker.mail.digest import last_week
from tracker.service.admin import add_user

# Monday morning: last week is 2025-03-10 .. 03-16.
MONDAY = datetime(2025, 3, 17, 9, 0, tzinfo=LOCAL_TZ).astimezone(UTC)


@pytest.fixture
async def stack(tmp_path: Path, database_url: str, smtp_recorder: SmtpRecorder):
    stack = await make_stack(
        tmp_path, database_url, "nats://127.0.0.1:4222", smtp_recorder.url, clock=FixedClock(MONDAY)
    )
    await craft(stack.engine)
    await add_user(
        stack.engine, role="bureau_lead", username="lead", password="pw-123456", email="lead@mzj.cn"
    )
    await add_user(
        stack.engine, role="section_chief", username="chief", password="pw-123456", email="chief@mzj.cn"
    )
    await add_user(
        stack.engine,
        role="town_officer",
        username="town",
        password="pw-123456",
        email="town@mzj.cn",
        town=TOWN_A,
    )
    await add_user(stack.engine, role="town_officer", username="nomail", password="pw-123456", town="南阳镇")
    await add_user(
        stack.engine,
        role="facility_head",
        username="head",
        password="pw-123456",
        email="head@example.cn",
        facility="F1",
    )
    await stack.start(worker=False, relay=False, mailer=True)
    yield stack
    await stack.close()


def test_it_takes_the_last_whole_week():
    week = last_week(MONDAY)
    assert (week.start.isoformat(), week.end.isoformat()) == ("2025-03-10", "2025-03-17")


async def test_it_sends_the_weekly_digest_once_per_week_and_person(stack: Stack, smtp_recorder: SmtpRecorder):
    jobs = LeasedJobs(stack.ctx)
    await jobs.digest_job()
    await jobs.digest_job()  # the job runs every 15 minutes: the second run of the week finds nothing to do
    rows = await stack.mail_rows("digest")
    assert sorted(r.to_addr for r in rows) == ["chief@mzj.cn", "lead@mzj.cn", "town@mzj.cn"]
    await stack.wait_for(lambda: len(smtp_recorder.messages) == 3, what="three digests delivered")

    lead = next(m for m in smtp_recorder.messages if "lead@mzj.cn" in m.rcpt_tos)
    text = lead.message.get_body(("plain",)).get_content()
    assert "2025-03-10" in lead.subject and "未销号重大事故隐患 2 项" in lead.subject
    assert "发现隐患：2（上周 3）" in text  # 6 and 8; the week before: 1, 2 and 4
    assert "本周升级督办 / Escalated this week: 2" in text
    assert "隐患4" in text and "隐患8" in text
    assert "/dashboard/findings?metric=open_major&from=2025-03-10&to=2025-03-17" in text

    town = next(m for m in smtp_recorder.messages if "town@mzj.cn" in m.rcpt_tos)
    town_text = town.message.get_body(("plain",)).get_content()
    assert TOWN_A in town.subject and "未销号重大事故隐患 1 项" in town.subject
    assert "隐患4" in town_text and "隐患8" not in town_text  # 8 is in another town

    # Another scheduler taking over later in the week sends nothing again; next Monday brings the next week.
    later = LeasedJobs(stack.ctx, holder="other")
    stack.ctx.clock = FixedClock(MONDAY + timedelta(days=2))
    await jobs.resign()
    await later.digest_job()
    assert len(await stack.mail_rows("digest")) == 3
    stack.ctx.clock = FixedClock(MONDAY + timedelta(days=7))
    await later.digest_job()
    assert len(await stack.mail_rows("digest")) == 6
