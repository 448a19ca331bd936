"""What each durable consumer receives, and a consumer made by an earlier version brought in line at start."""

from __future__ import annotations

import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig
from sqlalchemy import select, update

from tests.support import SmtpRecorder
from tests.support.stack import Stack
from tracker.events.relay import ensure_streams
from tracker.events.schemas import FindingReported, OrderIssued
from tracker.events.stream import STREAM_NAME
from tracker.service.loop import issue_order
from tracker.store.tables import findings, outbox

ALERT = "alert_the_bureau_lead"


@pytest.fixture
async def stack(open_stack, database_url: str) -> Stack:
    return await open_stack(database_url, start=False)


def item(stack: Stack, severity: str) -> str:
    return next(i.code for i in stack.catalog.items(facility_type="nursing_home") if i.severity == severity)


async def report(stack: Stack, ref: str, severity: str) -> int:
    response = await stack.client.post(
        "/api/inspections",
        headers=await stack.token("inspector"),
        json={
            "facility_id": 1,
            "mode": "routine",
            "client_ref": ref,
            "items": [{"item": item(stack, severity), "result": "fail"}],
        },
    )
    assert response.status_code == 201, response.text
    [finding] = response.json()["findings"]
    return finding["id"]


def alerts(recorder: SmtpRecorder) -> list:
    return [m for m in recorder.messages if "lead@mzj.cn" in m.rcpt_tos and "重大事故隐患" in m.subject]


async def alert_consumer(stack: Stack):
    nc = await nats.connect(stack.settings.nats_servers)
    try:
        return await nc.jetstream().consumer_info(STREAM_NAME, ALERT)
    finally:
        await nc.close()


async def test_the_major_alert_receives_the_major_findings_only(stack: Stack, smtp_recorder: SmtpRecorder):
    await stack.start()
    await report(stack, "general-1", "general")
    await report(stack, "major-1", "major")
    await stack.wait_for(lambda: alerts(smtp_recorder), what="the major's alert")
    await stack.wait_for(lambda: stack.mail_rows("order"), what="the general finding's order mail")
    info = await alert_consumer(stack)
    # The general finding was never delivered to the alert's consumer: only the major was.
    assert info.delivered.consumer_seq == 1
    assert info.num_pending == 0 and info.num_ack_pending == 0


async def test_an_alert_consumer_of_an_earlier_version_is_brought_in_line_and_misses_nothing(
    stack: Stack, smtp_recorder: SmtpRecorder
):
    # Before the upgrade: the earlier version's consumer read every finding.reported, and its relay had a
    # major hazard's event in the outbox, on that subject, not yet published.
    nc = await nats.connect(stack.settings.nats_servers)
    js = nc.jetstream()
    await ensure_streams(js)
    await js.add_consumer(
        STREAM_NAME,
        ConsumerConfig(
            durable_name=ALERT, filter_subject=FindingReported.subject(), ack_policy=AckPolicy.EXPLICIT
        ),
    )
    await nc.close()
    await stack.start(worker=False, relay=False)
    await report(stack, "major-before", "major")
    async with stack.engine.begin() as conn:
        await conn.execute(
            update(outbox)
            .where(outbox.c.subject == f"{FindingReported.subject()}.major")
            .values(subject=FindingReported.subject())
        )

    await stack.start(mailer=False)
    await stack.wait_for(lambda: alerts(smtp_recorder), what="the alert of the event before")
    await report(stack, "major-after", "major")
    await stack.wait_for(lambda: len(alerts(smtp_recorder)) == 2, what="the alert of the event after")

    info = await alert_consumer(stack)
    assert set(info.config.filter_subjects or []) == {
        f"{FindingReported.subject()}.major",
        FindingReported.subject(),
    }


async def mail_consumer(stack: Stack):
    nc = await nats.connect(stack.settings.nats_servers)
    try:
        return await nc.jetstream().consumer_info(STREAM_NAME, "mail_the_order")
    finally:
        await nc.close()


async def test_an_order_is_mailed_as_it_is_issued_and_one_of_an_earlier_version_by_its_own_reaction(
    stack: Stack, smtp_recorder: SmtpRecorder
):
    # Before the upgrade: an order issued by an earlier version, its mail left to a reaction of its own, and
    # its event on the bare subject, in the outbox, not yet published.
    await stack.start(worker=False, relay=False)
    before = await report(stack, "ordered-before", "general")
    async with stack.engine.begin() as conn:
        inspection_id = await conn.scalar(select(findings.c.inspection_id).where(findings.c.id == before))
        await issue_order(conn, inspection_id, stack.policy, stack.clock.now())
        await conn.execute(
            update(outbox)
            .where(outbox.c.subject == f"{OrderIssued.subject()}.mailed")
            .values(subject=OrderIssued.subject())
        )
    assert await stack.mail_rows("order") == []

    await stack.start(mailer=False)
    await stack.wait_for(lambda: stack.mail_rows("order"), what="the order mail of the earlier version")
    await report(stack, "ordered-after", "general")
    await stack.wait_for(lambda: _two(stack), what="the order mail of the order issued now")
    # The reaction of its own received the earlier version's event alone; the order of now was mailed as issued.
    info = await mail_consumer(stack)
    assert info.delivered.consumer_seq == 1
    assert info.num_pending == 0 and info.num_ack_pending == 0


async def _two(stack: Stack) -> bool:
    return len(await stack.mail_rows("order")) == 2
