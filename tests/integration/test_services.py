"""The service controllers themselves work: real servers start, keep data and answer."""

from __future__ import annotations

import uuid
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import asyncpg
import nats
import pytest
from nats.js.api import StorageType, StreamConfig
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support import NatsServer, PostgresServer, SmtpRecorder

# nats-py 2.16's publish() has no msg_id argument; deduplication is this header.
MSG_ID = "Nats-Msg-Id"


def _stream_name() -> str:
    # The session server is shared: every test uses its own stream.
    return f"T{uuid.uuid4().hex[:10].upper()}"


async def test_nats_jetstream_publish_and_consume(nats_server: NatsServer) -> None:
    name = _stream_name()
    subject = f"{name.lower()}.events"
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name=name, subjects=[f"{name.lower()}.>"], storage=StorageType.FILE))
        for i in range(10):
            ack = await js.publish(subject, f"m{i}".encode(), headers={MSG_ID: f"id-{i}"})
            assert not ack.duplicate
        # The same message id again is recognised as a duplicate and not stored twice.
        again = await js.publish(subject, b"m0", headers={MSG_ID: "id-0"})
        assert again.duplicate

        sub = await js.pull_subscribe(subject, durable="reader", stream=name)
        received: list[bytes] = []
        for _ in range(5):  # bounded: 10 messages arrive in one or two fetches
            if len(received) >= 10:
                break
            for msg in await sub.fetch(10, timeout=2):
                received.append(msg.data)
                await msg.ack()
        assert received == [f"m{i}".encode() for i in range(10)]
        assert (await js.stream_info(name)).state.messages == 10
    finally:
        await nc.close()


async def test_nats_restart_keeps_file_stream(tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "nats")
    server.start()
    try:
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name="KEEP", subjects=["keep.>"], storage=StorageType.FILE))
        for i in range(50):
            await js.publish("keep.x", str(i).encode(), headers={MSG_ID: str(i)})
        await nc.close()

        for stop in (server.stop, server.kill):  # graceful, then a crash
            port = server.port
            stop()
            assert not server.running
            server.start()
            assert server.port == port
            nc = await nats.connect(server.url)
            js = nc.jetstream()
            assert (await js.stream_info("KEEP")).state.messages == 50
            first = await js.get_msg("KEEP", seq=1)
            assert first.data == b"0"
            await nc.close()
    finally:
        server.stop()


def test_nats_start_failure_is_loud(tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "nats", extra_args=["--no-such-option"], start_timeout=5)
    with pytest.raises(RuntimeError, match="nats-server on port"):
        server.start()
    assert not server.running


def _mail(subject: str, to: str = "head@facility.example") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "tracker@bureau.example"
    message["To"] = to
    message["Subject"] = subject
    message.set_content("请于2026年12月31日前完成整改。")
    return message


async def test_smtp_recorder_receives_mail(smtp_recorder: SmtpRecorder) -> None:
    await aiosmtplib.send(_mail("整改通知书 A-001"), hostname=smtp_recorder.host, port=smtp_recorder.port)
    [mail] = await smtp_recorder.wait_for(1)
    assert mail.mail_from == "tracker@bureau.example"
    assert mail.rcpt_tos == ["head@facility.example"]
    assert mail.subject == "整改通知书 A-001"
    body = mail.message.get_body(preferencelist=("plain",))
    assert body is not None and "完成整改" in body.get_content()


async def test_smtp_recorder_refuses_and_recovers(smtp_recorder: SmtpRecorder) -> None:
    smtp_recorder.refuse(True)
    with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
        await aiosmtplib.send(_mail("first try"), hostname=smtp_recorder.host, port=smtp_recorder.port)
    assert refused.value.code == 451
    assert smtp_recorder.refused_count == 1 and smtp_recorder.messages == []

    smtp_recorder.refuse(False)
    smtp_recorder.stop()  # down altogether: the connection itself fails
    with pytest.raises(aiosmtplib.SMTPConnectError):
        await aiosmtplib.send(_mail("while down"), hostname=smtp_recorder.host, port=smtp_recorder.port)
    smtp_recorder.start()  # same port again
    await aiosmtplib.send(_mail("second try"), hostname=smtp_recorder.host, port=smtp_recorder.port)
    [mail] = await smtp_recorder.wait_for(1)
    assert mail.subject == "second try"


async def test_smtp_recorder_accepts_login() -> None:
    with SmtpRecorder(accept_any_login=True) as recorder:
        await aiosmtplib.send(
            _mail("with login"), hostname=recorder.host, port=recorder.port, username="u", password="p"
        )
        [mail] = await recorder.wait_for(1)
        assert mail.subject == "with login"


async def test_postgres_accepts_asyncpg(postgres_server: PostgresServer) -> None:
    conn = await asyncpg.connect(postgres_server.dsn)
    try:
        assert await conn.fetchval("select current_user") == "tracker"
        assert await conn.fetchval("show server_encoding") == "UTF8"
    finally:
        await conn.close()


async def test_database_url_gives_usable_engine(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("create table finding (id integer primary key, title text not null)"))
            await conn.execute(
                text("insert into finding (id, title) values (:id, :title)"),
                [{"id": 1, "title": "灭火器过期"}, {"id": 2, "title": "电动车违规充电"}],
            )
        async with engine.connect() as conn:
            rows = (await conn.execute(text("select id, title from finding order by id"))).all()
        assert [tuple(row) for row in rows] == [(1, "灭火器过期"), (2, "电动车违规充电")]
    finally:
        await engine.dispose()
