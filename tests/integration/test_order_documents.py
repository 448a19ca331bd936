"""The order's PDF is printed once and kept: the mail, its retry and every download serve the kept document, and it
is printed again only when what it prints changes (an extension moves the deadline), through the pages and the
in-process stack on the real nats-server, database and SMTP server."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import select

from tests.integration.test_order_pages import Browser, general_item, order_mail, ordered, pdf_text, report
from tests.support import SmtpRecorder
from tests.support.stack import Stack
from tracker.documents.printed import cn_date
from tracker.store.tables import extension_requests, findings, order_documents

HEAD = "head-f1@example.cn"


@pytest.fixture
async def stack(open_stack, database_url: str, smtp_recorder: SmtpRecorder) -> AsyncIterator[Stack]:
    # The real stack: the mail's retry by the running mailer is part of what is checked.
    yield await open_stack(database_url)
    smtp_recorder.refuse(False)


async def kept(stack: Stack, order_id: int):
    async with stack.engine.connect() as conn:
        return (
            await conn.execute(select(order_documents).where(order_documents.c.order_id == order_id))
        ).first()


async def sent_rows(stack: Stack):
    rows = await stack.mail_rows("order")
    return rows if rows and all(row.status == "sent" for row in rows) else None


async def due_day(stack: Stack, finding_id: int):
    async with stack.engine.connect() as conn:
        return await conn.scalar(select(findings.c.due_day).where(findings.c.id == finding_id))


async def test_the_order_is_printed_once_for_its_mail_retry_and_downloads_and_again_when_its_deadline_moves(
    stack: Stack, smtp_recorder: SmtpRecorder, tmp_path: Path
) -> None:
    # The SMTP server refuses the first tries (451): the order mail is sent by a retry.
    smtp_recorder.refuse(True)
    finding_id = await report(stack, general_item(stack), "doc-1")
    order_id = (await ordered(stack, finding_id))["order_id"]
    await stack.wait_for(lambda: smtp_recorder.refused_count >= 1 or None, what="a refused try")
    first = await stack.wait_for(lambda: kept(stack, order_id), what="the kept document")
    smtp_recorder.refuse(False)
    received = await stack.wait_for(lambda: order_mail(smtp_recorder, HEAD, order_id), what="the order mail")
    # The server has the message before the mailer records it sent: wait for the record.
    [row] = await stack.wait_for(lambda: sent_rows(stack), what="the order mail recorded as sent")
    assert row.attempts >= 2
    [attached] = [p for p in received.message.iter_attachments() if p.get_content_type() == "application/pdf"]
    # The retry sent the document kept at the first try, not a new printing of it.
    assert attached.get_content() == first.pdf
    assert attached.get_filename() == first.filename
    before = await due_day(stack, finding_id)
    assert cn_date(before) in pdf_text(first.pdf, tmp_path)

    # The facility head downloads it from the mail's link: the same document, still not printed again.
    link = re.search(
        r"http://tracker\.test(/orders/\d+\?token=\S+)", received.message.get_body(("plain",)).get_content()
    )
    token = parse_qs(urlparse(link.group(1)).query)["token"][0]
    download = await stack.client.get(f"/orders/{order_id}/pdf", params={"token": token})
    assert download.status_code == 200 and download.content == first.pdf
    assert (await kept(stack, order_id)).rendered_at == first.rendered_at

    # More time granted: the deadline the order prints moves, so the document is printed again, once.
    asked = await stack.client.post(
        f"/orders/{order_id}/findings/{finding_id}/extension",
        data={"token": token, "days": "10", "reason": "消防改造需等待施工队"},
    )
    assert asked.status_code == 303, asked.text
    inspector = await Browser(stack).login("inspector")
    try:
        async with stack.engine.connect() as conn:
            [request] = (await conn.execute(select(extension_requests))).all()
        granted = await inspector.client.post(
            f"/findings/{finding_id}/extension/{request.id}",
            data={"csrf": inspector.csrf, "decision": "accept", "days": "8", "note": "同意"},
        )
        assert granted.status_code == 303, granted.text
        after = await due_day(stack, finding_id)
        assert after > before
        moved = await stack.client.get(f"/orders/{order_id}/pdf", params={"token": token})
        assert moved.status_code == 200
        text = pdf_text(moved.content, tmp_path)
        assert cn_date(after) in text and cn_date(before) not in text
        second = await kept(stack, order_id)
        assert second.pdf == moved.content and second.printed != first.printed
        # The bureau's side downloads the same, kept document.
        again = await inspector.client.get(f"/orders/{order_id}/pdf")
        assert again.status_code == 200 and again.content == second.pdf
        assert (await kept(stack, order_id)).rendered_at == second.rendered_at
    finally:
        await inspector.close()
