"""Retention: what pruning removes and what it leaves, on SQLite and PostgreSQL, and a redelivery after pruning,
on a real nats-server and SMTP server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats
import pytest
from sqlalchemy import func, insert, select

from tests.support import NatsServer, SmtpRecorder
from tests.support.rows import order_mail
from tests.support.stack import Stack, default_catalog, prepared_engine
from tracker.config import ConfigError, load_settings
from tracker.events.stream import STREAM_NAME, StreamLimits, ensure_streams
from tracker.store.retention import Retention, prunable, prune
from tracker.store.tables import dead_letters, handled_events, history, mail, outbox

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
KEEP = Retention(
    events_keep=timedelta(days=30), mail_keep=timedelta(days=365), stream_max_age=timedelta(days=7)
)


def _outbox(event_id: str, created: datetime, published: datetime | None) -> dict:
    return {
        "event_id": event_id,
        "subject": "tracker.test.happened",
        "payload": "{}",
        "created_at": created,
        "published_at": published,
    }


async def test_it_prunes_only_what_is_past_keeping(database_url: str):
    engine = await prepared_engine(database_url)
    old, recent = NOW - timedelta(days=31), NOW - timedelta(days=29)
    async with engine.begin() as conn:
        await conn.execute(
            insert(outbox),
            [
                *(_outbox(f"old-{i}", old, old) for i in range(5)),
                _outbox("old-unpublished", old, None),  # the relay has yet to send it: never pruned
                _outbox("recent", recent, recent),
            ],
        )
        await conn.execute(
            insert(handled_events),
            [
                *(
                    {"consumer": c, "event_id": f"old-{i}", "handled_at": old}
                    for i in range(5)
                    for c in ("a", "b")
                ),
                {"consumer": "a", "event_id": "recent", "handled_at": recent},
            ],
        )
        await conn.execute(
            insert(mail),
            [
                *(
                    order_mail(f"sent-{i}", "sent", NOW - timedelta(days=400), "order-pdf:1")
                    for i in range(3)
                ),
                order_mail("failed", "failed", NOW - timedelta(days=400)),
                order_mail("queued", "queued", NOW - timedelta(days=400)),  # still to be tried: kept whole
                order_mail("young", "sent", NOW - timedelta(days=300)),
            ],
        )
    # Small batches: every batch goes, not only the first.
    assert await prunable(engine, KEEP, NOW) == {"outbox": 5, "handled_events": 10, "mail": 4}
    assert await prune(engine, KEEP, NOW, batch=2) == {"outbox": 5, "handled_events": 10, "mail": 4}
    assert await prunable(engine, KEEP, NOW) == {"outbox": 0, "handled_events": 0, "mail": 0}

    async with engine.connect() as conn:
        assert set((await conn.execute(select(outbox.c.event_id))).scalars()) == {"old-unpublished", "recent"}
        assert set((await conn.execute(select(handled_events.c.event_id))).scalars()) == {"recent"}
        rows = {r.dedupe_key: r for r in (await conn.execute(select(mail))).all()}
    # Every mail row stays (its unique key still stops a second message); the old finished ones keep their record.
    assert len(rows) == 6
    reduced = rows["sent-0"]
    assert (reduced.text_body, reduced.html_body, reduced.attachment) == ("", "", None)
    assert (reduced.to_addr, reduced.kind, reduced.subject, reduced.status) == (
        "head@example.cn",
        "order",
        "整改通知书 sent-0",
        "sent",
    )
    assert reduced.created_at == NOW - timedelta(days=400) and reduced.sent_at is not None
    assert rows["failed"].text_body == "" and rows["failed"].status == "failed"
    assert rows["queued"].text_body == "正文" and rows["young"].text_body == "正文"
    await engine.dispose()


async def test_it_keeps_what_a_waiting_dead_letter_needs(database_url: str):
    """An event sent again from the dead letters is skipped by the consumers that handled it: their record stays
    while the letter waits, however old."""
    engine = await prepared_engine(database_url)
    long_ago = NOW - timedelta(days=90)
    async with engine.begin() as conn:
        await conn.execute(
            insert(handled_events),
            [
                {"consumer": "a", "event_id": "e1", "handled_at": long_ago},
            ],
        )
        await conn.execute(
            insert(dead_letters).values(
                consumer="b", subject="tracker.test.happened", reason="boom", payload="{}", at=long_ago
            )
        )
    assert (await prune(engine, KEEP, NOW))["handled_events"] == 0
    async with engine.begin() as conn:
        await conn.execute(dead_letters.update().values(replayed_at=NOW))
    assert (await prune(engine, KEEP, NOW))["handled_events"] == 1
    await engine.dispose()


def test_it_refuses_to_forget_handled_events_before_the_stream_forgets_the_message(
    monkeypatch, tmp_path: Path
):
    monkeypatch.setenv("TRACKER_STREAM_MAX_AGE_DAYS", "14")
    monkeypatch.setenv("TRACKER_EVENTS_KEEP_DAYS", "10")
    with pytest.raises(ConfigError, match="TRACKER_EVENTS_KEEP_DAYS"):
        load_settings(tmp_path)
    monkeypatch.setenv("TRACKER_EVENTS_KEEP_DAYS", "15")
    assert load_settings(tmp_path).events_keep_days == 15
    monkeypatch.setenv("TRACKER_MAIL_KEEP_DAYS", "3")
    with pytest.raises(ConfigError, match="TRACKER_MAIL_KEEP_DAYS"):
        load_settings(tmp_path)


async def test_it_puts_age_and_size_limits_on_a_stream_declared_without(own_nats: NatsServer):
    nc = await nats.connect(own_nats.url)
    js = nc.jetstream()
    try:
        await js.add_stream(name=STREAM_NAME, subjects=["tracker.>"], duplicate_window=3600.0)
        await ensure_streams(js, 1, StreamLimits(max_age_days=3, max_mb=64))
        config = (await js.stream_info(STREAM_NAME)).config
        assert config.max_age == 3 * 86400 and config.max_bytes == 64 * 1024 * 1024
        assert config.duplicate_window == 3600.0
        await ensure_streams(js, 1, StreamLimits(max_age_days=5, max_mb=128))
        config = (await js.stream_info(STREAM_NAME)).config
        assert config.max_age == 5 * 86400 and config.max_bytes == 128 * 1024 * 1024
    finally:
        await nc.close()


@pytest.fixture
async def stack(open_stack, database_url: str) -> Stack:
    return await open_stack(database_url)


async def _drained(stack: Stack) -> bool:
    nc = await nats.connect(stack.settings.nats_servers)
    try:
        infos = await nc.jetstream().consumers_info(STREAM_NAME)
    finally:
        await nc.close()
    if any(i.num_pending or i.num_ack_pending for i in infos):
        return False
    async with stack.engine.connect() as conn:
        return not (
            await conn.execute(select(func.count()).select_from(mail).where(mail.c.status == "queued"))
        ).scalar()


async def test_a_redelivery_after_pruning_does_nothing_twice(stack: Stack, smtp_recorder: SmtpRecorder):
    inspector = await stack.token("inspector")
    item = next(i.code for i in stack.catalog.items(facility_type="nursing_home") if i.severity == "general")
    response = await stack.client.post(
        "/api/inspections",
        headers=inspector,
        json={
            "facility_id": 1,
            "mode": "unannounced",
            "client_ref": "phone-1",
            "items": [{"item": item, "result": "fail", "note": "安全出口堵塞"}],
        },
    )
    assert response.status_code == 201, response.text
    finding_id = response.json()["findings"][0]["id"]
    await stack.wait_for(
        lambda: [m for m in smtp_recorder.messages if "整改通知书" in m.subject], what="order mail"
    )
    await stack.wait_for(lambda: _drained(stack), what="every consumer to finish")
    async with stack.engine.connect() as conn:
        events = (await conn.execute(select(outbox.c.event_id, outbox.c.subject, outbox.c.payload))).all()
        mails_before = (await conn.execute(select(func.count()).select_from(mail))).scalar()
        history_before = (await conn.execute(select(func.count()).select_from(history))).scalar()
    received_before = len(smtp_recorder.messages)
    assert events and mails_before >= 1

    # Long after: every record of those events is gone and the mail is down to its record.
    later = datetime.now(UTC) + timedelta(days=stack.settings.mail_keep_days + 1)
    pruned = await prune(stack.engine, Retention.from_settings(stack.settings), later)
    assert pruned["outbox"] == len(events) and pruned["handled_events"] > 0 and pruned["mail"] == mails_before

    # The same events again, as a replay would send them: the stream cannot hold them this long, and even so
    # nothing is done twice.
    nc = await nats.connect(stack.settings.nats_servers)
    try:
        js = nc.jetstream()
        for event in events:
            await js.publish(
                event.subject, event.payload.encode(), headers={"Nats-Msg-Id": f"again-{event.event_id}"}
            )
    finally:
        await nc.close()
    await stack.wait_for(lambda: _drained(stack), what="the redelivered events to be handled")
    await asyncio.sleep(0.5)  # a mailer poll or two: a second message would be on its way by now
    async with stack.engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(mail))).scalar() == mails_before
        assert (await conn.execute(select(func.count()).select_from(history))).scalar() == history_before
        letters = (await conn.execute(select(func.count()).select_from(dead_letters))).scalar()
        # The consumers did take the events again (and found nothing left to do).
        handled_again = (await conn.execute(select(func.count()).select_from(handled_events))).scalar()
    assert handled_again >= pruned["handled_events"]
    assert len(smtp_recorder.messages) == received_before
    assert letters == 0
    view = await stack.client.get(f"/api/findings/{finding_id}", headers=inspector)
    assert view.json()["status"] == "ordered"


async def test_only_the_active_scheduler_says_a_line_per_job_run(database_url: str, tmp_path: Path, caplog):
    from tracker.config import Settings
    from tracker.entry.scheduler import LeasedJobs
    from tracker.service.context import Context
    from tracker.store.job_runs import last_runs

    engine = await prepared_engine(database_url)
    ctx = Context(
        settings=Settings(data_dir=tmp_path, database_url=database_url),
        engine=engine,
        catalog=default_catalog(),
    )
    active, standby = LeasedJobs(ctx, "active"), LeasedJobs(ctx, "standby")
    caplog.set_level("INFO")
    await active.prune_job()
    await active.sweep_job()
    caplog.clear()
    await standby.sweep_job()
    await standby.prune_job()
    assert caplog.records == []  # the standby runs nothing and says nothing
    await active.sweep_job()
    await active.prune_job()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert lines[0].startswith("sweep: 0 reminded, 0 escalated, 0 review reminded")
    assert lines[1].startswith("prune: 0 outbox, 0 handled events, 0 mail reduced")
    assert {run.name for run in await last_runs(engine)} == {"sweep", "prune"}
    await active.resign()
    await engine.dispose()
