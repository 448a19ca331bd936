"""The order mail as a facility head's phone receives it: from the bureau by name, one column no wider than a
phone's screen, the findings as cards, the attachment and the way to ask for more time named, no internal number."""

from __future__ import annotations

import io
import re
from email.headerregistry import Address

import pytest
from PIL import Image
from sqlalchemy import delete, select

from tests.support import SmtpRecorder
from tests.support.stack import Stack
from tracker.service import notify
from tracker.store.tables import mail

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


async def test_the_order_mail_written_as_the_order_is_issued_is_the_one_read_again(stack: Stack):
    """The worker writes the order's mail from what issuing the order read and wrote; an order published without
    its mail (the demo's, an earlier version's) has it written from the database. Both give the same mail."""
    inspector = await stack.token("inspector")
    items = _general_items(stack, 3)
    ids = sorted(
        await _report(
            stack,
            inspector,
            "order-mail-2",
            [{"item": item, "result": "fail", "note": f"问题{n}"} for n, item in enumerate(items)],
        )
    )
    [written] = await stack.wait_for(lambda: _order_mails(stack), what="the order mail")
    order_id = int(written.about.removeprefix("order:"))
    async with stack.engine.connect() as conn:
        transaction = await conn.begin()
        await conn.execute(delete(mail).where(mail.c.id == written.id))
        again = await notify.read_issued(conn, order_id, ids)
        await notify.order_issued(conn, stack.ctx, again, written.created_at)
        [read] = (await conn.execute(select(mail).where(mail.c.kind == "order"))).all()
        await transaction.rollback()
    for column in ("to_addr", "subject", "text_body", "html_body", "attachment"):
        assert getattr(read, column) == getattr(written, column), column
    assert "问题2" in written.text_body and written.attachment == f"order-pdf:{order_id}"


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
