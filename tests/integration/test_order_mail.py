"""The order mail as a facility head's phone receives it: from the bureau by name, one column no wider than a
phone's screen, the findings as cards, the attachment and the way to ask for more time named, no internal number."""

from __future__ import annotations

import io
import re
from email.headerregistry import Address

import pytest
from PIL import Image
from sqlalchemy import select

from tests.support import SmtpRecorder
from tests.support.stack import Stack
from tracker.service import notify
from tracker.store.tables import findings, mail

SENDER = "启东市民政局 <anquan@mzj.example.cn>"


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(out, "PNG")
    return out.getvalue()


@pytest.fixture
async def stack(open_stack, database_url: str) -> Stack:
    # The fast layer: the reactions and the mailer called in line, on both databases.
    return await open_stack(database_url, fast=True, settings={"mail_from": SENDER})


async def test_the_order_mail_comes_from_the_bureau_by_name_and_reads_on_a_phone(
    stack: Stack, smtp_recorder: SmtpRecorder
):
    inspector = await stack.token("inspector")
    photo = await stack.client.post(
        "/api/photos", headers=inspector, files={"file": ("a.png", _png(), "image/png")}
    )
    items = _general_items(stack, 2)
    ids = await _report(
        stack,
        inspector,
        "order-mail-1",
        [
            {"item": items[0], "result": "fail", "note": "安全出口堵塞", "photos": [photo.json()["id"]]},
            {"item": items[1], "result": "fail", "note": "灭火器过期"},
        ],
    )

    [mail] = await stack.wait_for(
        lambda: [m for m in smtp_recorder.messages if "整改通知书" in m.subject], what="the order mail"
    )
    [sender] = mail.message["From"].addresses
    assert sender == Address("启东市民政局", addr_spec="anquan@mzj.example.cn")
    assert mail.mail_from == "anquan@mzj.example.cn"
    assert mail.message["Message-ID"].endswith("@mzj.example.cn>")

    html = mail.message.get_body(("html",)).get_content()
    text = mail.message.get_body(("plain",)).get_content()
    # One column, at most 600 px wide, findings one under another: no table of columns to scroll sideways.
    assert "max-width:600px" in html and "<table" not in html
    assert 'name="viewport"' in html
    seen = re.sub(r"<[^>]*>", "", html)
    for item in items:
        assert stack.catalog.item(item).zh in seen
    # No internal number, as "#12" or otherwise beside the hazards.
    for words in (seen, text, mail.subject):
        assert not re.search(r"#\s*\d", words)
        assert not any(f"[{i}]" in words for i in ids)
    [attached] = [part.get_filename() for part in mail.message.iter_attachments()]
    assert attached.endswith(".pdf") and attached.removesuffix(".pdf") in text
    assert f"见附件“{attached.removesuffix('.pdf')}”" in seen
    assert "申请延期整改" in text and "申请延期整改" in seen


async def test_the_order_mail_is_written_as_it_is_sent_and_kept_as_it_went(
    stack: Stack, smtp_recorder: SmtpRecorder
):
    """The worker queues the order's mail unwritten, in the transaction that issues the order; the mailer writes it
    from the database as it sends it (as it prints the order's PDF then) and keeps on the row what it sent."""
    stack.mailing = False
    inspector = await stack.token("inspector")
    items = _general_items(stack, 3)
    await _report(
        stack,
        inspector,
        "order-mail-2",
        [{"item": item, "result": "fail", "note": f"问题{n}"} for n, item in enumerate(items)],
    )
    [queued] = await stack.wait_for(lambda: _order_mails(stack), what="the order mail queued")
    order_id = int(queued.about.removeprefix("order:"))
    assert queued.status == "queued" and queued.attachment == f"order-pdf:{order_id}"
    assert (queued.subject, queued.text_body, queued.html_body) == ("", "", "")

    stack.mailing = True
    [received] = await stack.wait_for(lambda: smtp_recorder.messages, what="the order mail sent")
    [kept] = await _order_mails(stack)
    assert kept.status == "sent" and kept.to_addr == queued.to_addr
    assert kept.subject == received.subject and "整改通知书" in kept.subject
    assert all(f"问题{n}" in kept.text_body and f"问题{n}" in kept.html_body for n in range(3))
    assert kept.text_body.strip() == received.message.get_body(("plain",)).get_content().strip()
    async with stack.engine.connect() as conn:
        again = await notify.order_mail(conn, stack.settings, order_id, stack.clock.now())
    assert (kept.subject, kept.text_body, kept.html_body) == (again.subject, again.text, again.html)


def _general_items(stack: Stack, n: int) -> list[str]:
    return [i.code for i in stack.catalog.items(facility_type="nursing_home") if i.severity == "general"][:n]


async def _report(stack: Stack, inspector: dict, client_ref: str, items: list[dict]) -> list[int]:
    """An unannounced inspection of facility 1 with these items; the ids of its findings."""
    response = await stack.client.post(
        "/api/inspections",
        headers=inspector,
        json={"facility_id": 1, "mode": "unannounced", "client_ref": client_ref, "items": items},
    )
    assert response.status_code == 201, response.text
    return [f["id"] for f in response.json()["findings"]]


async def _order_mails(stack: Stack) -> list:
    async with stack.engine.connect() as conn:
        return list((await conn.execute(select(mail).where(mail.c.kind == "order"))).all())


async def test_an_order_mail_that_cannot_be_written_is_tried_again_and_the_order_stands(
    stack: Stack, smtp_recorder: SmtpRecorder, monkeypatch: pytest.MonkeyPatch
):
    """Written as it is sent, an order's mail that cannot be written then (the database away, a fault in its
    words) waits on its row with the reason and is tried again, as one the mail server turned away; the order
    stays issued, its deadline running, and the mail goes once it can be written."""
    import tracker.mail.sender as sender

    def cannot_write(*args, **kwargs):
        raise RuntimeError("the words cannot be had")

    monkeypatch.setattr(sender, "order_mail", cannot_write)
    inspector = await stack.token("inspector")
    await _report(stack, inspector, "order-mail-3", [{"item": _general_items(stack, 1)[0], "result": "fail"}])
    [waiting] = await stack.wait_for(lambda: _tried(stack), what="the order mail tried once and kept queued")
    assert waiting.status == "queued" and "cannot write the message" in waiting.last_error
    assert waiting.text_body == "" and smtp_recorder.messages == []
    async with stack.engine.connect() as conn:
        ordered = (await conn.execute(select(findings.c.status, findings.c.due_at))).all()
    assert [status for status, _ in ordered] == ["ordered"] and ordered[0].due_at is not None

    monkeypatch.undo()
    [received] = await stack.wait_for(lambda: smtp_recorder.messages, what="the order mail sent")
    [sent] = await _order_mails(stack)
    assert sent.status == "sent" and sent.subject == received.subject and sent.text_body


async def _tried(stack: Stack) -> list:
    return [m for m in await _order_mails(stack) if m.attempts >= 1]
