"""The order's PDF (attached to the order mail, and downloadable), requests for more time, and self-inspection:
through the pages, with the reactions and the mailer called in line (tests/support/fast.py), on SQLite and
PostgreSQL and a real SMTP server."""

from __future__ import annotations

import re
import subprocess
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from sqlalchemy import select

from tests.support import SmtpRecorder
from tests.support.stack import PASSWORD, Stack, login_token
from tracker.documents.printed import cn_date
from tracker.domain.calendar import LOCAL_TZ
from tracker.store.tables import extension_requests, findings, history, orders
from tracker.web.app import create_app
from tracker.web.auth import COOKIE, csrf_token


@pytest.fixture
async def stack(open_stack, database_url: str) -> Stack:
    # The fast layer: the reactions and the mailer called in line, on both databases.
    return await open_stack(database_url, fast=True, facilities=("F1", ("F2", "南阳镇")))


class Browser:
    """One person's session on the pages: a cookie jar of their own, and the form token that goes with it."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(stack.ctx)), base_url="http://tracker.test"
        )

    async def login(self, username: str) -> Browser:
        form = await self.client.get("/login")
        response = await self.client.post(
            "/login",
            data={
                "username": username,
                "password": PASSWORD,
                "next": "/my",
                "login_token": login_token(form.text),
            },
        )
        assert response.status_code == 303, response.text
        return self

    @property
    def csrf(self) -> str:
        return csrf_token(self.stack.ctx.secret, self.client.cookies[COOKIE])

    async def close(self) -> None:
        await self.client.aclose()


def general_item(stack: Stack, n: int = 0) -> str:
    return [i.code for i in stack.catalog.items(facility_type="nursing_home") if i.severity == "general"][n]


async def report(stack: Stack, code: str, ref: str, facility_id: int = 1) -> int:
    response = await stack.client.post(
        "/api/inspections",
        headers=await stack.token("inspector"),
        json={
            "facility_id": facility_id,
            "mode": "unannounced",
            "client_ref": ref,
            "items": [{"item": code, "result": "fail", "note": "通道堵塞"}],
        },
    )
    assert response.status_code == 201, response.text
    return response.json()["findings"][0]["id"]


async def ordered(stack: Stack, finding_id: int) -> dict:
    headers = await stack.token("inspector")

    async def get() -> dict | None:
        view = (await stack.client.get(f"/api/findings/{finding_id}", headers=headers)).json()
        return view if view["status"] == "ordered" else None

    return await stack.wait_for(get, what=f"finding {finding_id} to be ordered")


def order_mail(recorder: SmtpRecorder, to: str, order_id: int):
    for received in recorder.messages:
        text = received.message.get_body(("plain",)).get_content()
        if to in received.rcpt_tos and f"/orders/{order_id}?token=" in text:
            return received
    return None


def pdf_text(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "order.pdf"
    path.write_bytes(data)
    done = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, timeout=30, check=True
    )
    return done.stdout.decode()


async def test_it_attaches_the_order_pdf_to_the_order_mail(
    stack: Stack, smtp_recorder: SmtpRecorder, tmp_path: Path
) -> None:
    code = general_item(stack)
    order_id = (await ordered(stack, await report(stack, code, "pdf-1")))["order_id"]
    received = await stack.wait_for(
        lambda: order_mail(smtp_recorder, "head-f1@example.cn", order_id), what="the order mail"
    )
    [row] = await stack.mail_rows("order")
    assert row.attachment == f"order-pdf:{order_id}"

    [pdf] = [
        part for part in received.message.iter_attachments() if part.get_content_type() == "application/pdf"
    ]
    # Named by the order's number as printed on it, not by the database's id.
    async with stack.engine.connect() as conn:
        year, number = (
            await conn.execute(select(orders.c.year, orders.c.number).where(orders.c.id == order_id))
        ).one()
    assert pdf.get_filename() == f"整改通知书〔{year}〕{number}号.pdf"
    text = pdf_text(pdf.get_content(), tmp_path)
    # The served document names the hazard in words, not by the checklist's internal code.
    assert "测试敬老院 F1" in text and stack.catalog.item(code).zh[:6] in text and "整改通知书" in text
    assert code not in text
    assert stack.catalog.item(code).basis[:6] in text
    # The message itself: the unit named in the subject, addressed as 你单位 in the body, in Chinese only.
    assert "整改通知书" in received.subject and "测试敬老院 F1" in received.subject
    body = received.message.get_body(("plain",)).get_content()
    assert "你单位" in body and code not in body and "Please" not in body

    # Downloadable from the order page by the mail's token, and by nobody else's.
    link = re.search(
        r"http://tracker\.test(/orders/\d+\?token=\S+)", received.message.get_body(("plain",)).get_content()
    ).group(1)
    token = parse_qs(urlparse(link).query)["token"][0]
    page = await stack.client.get(link)
    assert page.status_code == 200 and f"/orders/{order_id}/pdf?token=" in page.text
    download = await stack.client.get(f"/orders/{order_id}/pdf", params={"token": token})
    assert download.status_code == 200 and download.headers["content-type"] == "application/pdf"
    assert f'filename="zhenggai-{year}-{number}.pdf"' in download.headers["content-disposition"]
    assert download.content.startswith(b"%PDF") and "送达回执" in pdf_text(download.content, tmp_path)
    other = (await ordered(stack, await report(stack, general_item(stack), "pdf-2", facility_id=2)))[
        "order_id"
    ]
    assert (await stack.client.get(f"/orders/{other}/pdf", params={"token": token})).status_code == 403
    assert (
        await stack.client.get(f"/orders/{order_id}/pdf", headers={"Accept": "text/html"})
    ).status_code == 303  # to the login page
    head = await Browser(stack).login("head")
    chief = await Browser(stack).login("chief")
    try:
        assert (await head.client.get(f"/orders/{order_id}/pdf")).status_code == 200
        assert (await head.client.get(f"/orders/{other}/pdf")).status_code == 404
        assert (await chief.client.get(f"/orders/{other}/pdf")).status_code == 200
    finally:
        await head.close()
        await chief.close()


async def _finding_row(stack: Stack, finding_id: int):
    async with stack.engine.connect() as conn:
        return (await conn.execute(select(findings).where(findings.c.id == finding_id))).one()


def _mails(recorder: SmtpRecorder, to: str, marker: str) -> list:
    return [m for m in recorder.messages if to in m.rcpt_tos and marker in m.subject]


def _text(mail) -> str:
    return mail.message.get_body(preferencelist=("plain",)).get_content()


async def test_it_moves_the_deadline_when_the_inspector_grants_more_time(
    stack: Stack, smtp_recorder: SmtpRecorder
) -> None:
    finding_id = await report(stack, general_item(stack), "ext-1")
    order_id = (await ordered(stack, finding_id))["order_id"]
    received = await stack.wait_for(
        lambda: order_mail(smtp_recorder, "head-f1@example.cn", order_id), what="the order mail"
    )
    link = re.search(
        r"http://tracker\.test(/orders/\d+\?token=\S+)", received.message.get_body(("plain",)).get_content()
    ).group(1)
    token = parse_qs(urlparse(link).query)["token"][0]
    before = await _finding_row(stack, finding_id)

    # The facility head asks from the order page opened by the mail's link.
    no_reason = await stack.client.post(
        f"/orders/{order_id}/findings/{finding_id}/extension",
        data={"token": token, "days": "10", "reason": " "},
    )
    assert no_reason.status_code == 422
    asked = await stack.client.post(
        f"/orders/{order_id}/findings/{finding_id}/extension",
        data={"token": token, "days": "10", "reason": "消防改造需等待施工队"},
    )
    assert asked.status_code == 303, asked.text
    page = await stack.client.get(asked.headers["location"])
    assert "等待检查人员决定" in page.text and 'class="stack extension-form"' not in page.text
    twice = await stack.client.post(
        f"/orders/{order_id}/findings/{finding_id}/extension",
        data={"token": token, "days": "3", "reason": "再申请"},
    )
    assert twice.status_code == 409
    # The inspector is asked to decide, with the reason and a link to the finding.
    [asking] = await stack.wait_for(
        lambda: _mails(smtp_recorder, "inspector@mzj.cn", "延期申请"), what="the request for more time"
    )
    assert "10 个工作日" in asking.subject and "消防改造需等待施工队" in _text(asking)
    assert f"/findings/{finding_id}" in _text(asking)

    inspector = await Browser(stack).login("inspector")
    head = await Browser(stack).login("head")
    try:
        mine = await inspector.client.get("/my")
        assert 'id="asking"' in mine.text and "消防改造需等待施工队" in mine.text
        shown = await inspector.client.get(f"/findings/{finding_id}")
        assert "消防改造需等待施工队" in shown.text and 'id="extension-form"' in shown.text
        async with stack.engine.connect() as conn:
            [request] = (await conn.execute(select(extension_requests))).all()
        assert request.status == "pending" and request.days == 10

        # The facility cannot decide its own request.
        own = await head.client.post(
            f"/findings/{finding_id}/extension/{request.id}",
            data={"csrf": head.csrf, "decision": "accept", "days": "30"},
        )
        assert own.status_code == 403
        granted = await inspector.client.post(
            f"/findings/{finding_id}/extension/{request.id}",
            data={"csrf": inspector.csrf, "decision": "accept", "days": "8", "note": "同意"},
        )
        assert granted.status_code == 303, granted.text
        after = await _finding_row(stack, finding_id)
        assert after.status == "ordered" and after.due_day > before.due_day
        assert after.due_at > before.due_at
        # The first escalation: 09:00 of the working day after the new deadline day.
        first = after.next_escalation_at.astimezone(LOCAL_TZ)
        assert first.date() > after.due_day and (first.hour, first.minute) == (9, 0)
        assert after.remind_at is not None and after.remind_at < after.due_at
        assert stack.ctx.clock.now() < after.remind_at
        [told] = await stack.wait_for(
            lambda: _mails(smtp_recorder, "head-f1@example.cn", "延期已同意"), what="the grant"
        )
        assert cn_date(after.due_day) in told.subject and "同意" in _text(told)
        calendar_days = (after.due_day - before.due_day).days
        assert 8 <= calendar_days <= 8 + 20  # eight working days, with weekends and holidays between

        # Refused, with a reason: the deadline stays.
        await stack.client.post(
            f"/orders/{order_id}/findings/{finding_id}/extension",
            data={"token": token, "days": "5", "reason": "设备未到货"},
        )
        async with stack.engine.connect() as conn:
            second = (
                await conn.execute(select(extension_requests).where(extension_requests.c.status == "pending"))
            ).one()
        no_note = await inspector.client.post(
            f"/findings/{finding_id}/extension/{second.id}",
            data={"csrf": inspector.csrf, "decision": "refuse"},
        )
        assert no_note.status_code == 422
        refused = await inspector.client.post(
            f"/findings/{finding_id}/extension/{second.id}",
            data={"csrf": inspector.csrf, "decision": "refuse", "note": "期限已足够"},
        )
        assert refused.status_code == 303
        assert (await _finding_row(stack, finding_id)).due_day == after.due_day
        [refusal] = await stack.wait_for(
            lambda: _mails(smtp_recorder, "head-f1@example.cn", "延期未同意"), what="the refusal"
        )
        assert cn_date(after.due_day) in refusal.subject and "期限已足够" in _text(refusal)
        order_page = await stack.client.get(link)
        assert (
            f"新的整改期限：{cn_date(after.due_day)}" in order_page.text and "期限已足够" in order_page.text
        )

        async with stack.engine.connect() as conn:
            actions = (
                await conn.execute(
                    select(history.c.action, history.c.data)
                    .where(history.c.finding_id == finding_id)
                    .order_by(history.c.id)
                )
            ).all()
        assert [a.action for a in actions] == [
            "reported",
            "ordered",
            "extension_requested",
            "extension_accepted",
            "extension_requested",
            "extension_refused",
        ]
        assert actions[3].data["due_day"] == after.due_day.isoformat()
        assert date.fromisoformat(actions[3].data["due_day_before"]) == before.due_day
    finally:
        await inspector.close()
        await head.close()


async def test_it_keeps_a_self_reported_hazard_on_the_facilitys_register_and_closes_it_with_the_bureau(
    stack: Stack, smtp_recorder: SmtpRecorder
) -> None:
    head = await Browser(stack).login("head")
    inspector = await Browser(stack).login("inspector")
    code = general_item(stack, 1)
    try:
        form = await head.client.get("/self-report")
        assert form.status_code == 200 and code in form.text
        ref = re.search(r'name="client_ref" value="([^"]+)"', form.text).group(1)
        assert (await inspector.client.get("/self-report")).status_code == 403
        forged = await head.client.post(
            "/self-report", data={"csrf": "nope", "item": code, "note": "x", "client_ref": ref}
        )
        assert forged.status_code == 403
        data = {"csrf": head.csrf, "item": code, "note": "自查发现疏散通道堆放杂物", "client_ref": ref}
        sent = await head.client.post("/self-report", data=data)
        assert sent.status_code == 303, sent.text
        again = await head.client.post("/self-report", data=data)  # a second tap: the same inspection
        assert again.headers["location"] == sent.headers["location"]
        done = await head.client.get(sent.headers["location"])
        assert "自查自纠" in done.text
        finding_id = int(re.search(r'href="/findings/(\d+)"', done.text).group(1))

        view = await ordered(stack, finding_id)
        assert view["item"]["code"] == code
        # No bureau order: it is on the facility's own register, answered on the finding's page.
        assert view["order_id"] is None and view["deadline"] is not None
        register = await head.client.get("/my")
        assert f'data-finding="{finding_id}"' in register.text.split('id="own"')[1]
        page = await head.client.get(f"/findings/{finding_id}")
        assert 'id="answer-form"' in page.text
        # More time is asked for on the same page; the bureau decides.
        asked = await head.client.post(
            f"/findings/{finding_id}/extension", data={"csrf": head.csrf, "days": "5", "reason": "等待配件"}
        )
        assert asked.status_code == 303, asked.text
        async with stack.engine.connect() as conn:
            [request] = (
                await conn.execute(
                    select(extension_requests).where(extension_requests.c.finding_id == finding_id)
                )
            ).all()
        assert (request.days, request.status) == (5, "pending")
        answer = await head.client.post(
            f"/findings/{finding_id}/rectification", data={"csrf": head.csrf, "note": "已清理"}
        )
        assert answer.status_code == 303, answer.text
        # Its verification is asked of the bureau, not of the facility that reported it.
        await stack.wait_for(
            lambda: [
                m for m in smtp_recorder.messages if "chief@mzj.cn" in m.rcpt_tos and "待复查" in m.subject
            ],
            what="the verification request to the section chief",
        )
        assert not [
            m for m in smtp_recorder.messages if "head-f1@example.cn" in m.rcpt_tos and "待复查" in m.subject
        ]
        closed = await stack.client.post(
            f"/api/findings/{finding_id}/verification",
            headers=await stack.token("chief"),
            json={"accepted": True, "note": "合格"},
        )
        assert closed.status_code == 201 and closed.json()["status"] == "closed"
        assert not [m for m in smtp_recorder.messages if "整改通知书" in m.subject]
    finally:
        await head.close()
        await inspector.close()
