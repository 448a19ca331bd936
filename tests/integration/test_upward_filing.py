"""A major hazard signed off is filed upward: a record on the finding and the 销号 document (PDF) mailed to each
address of TRACKER_UPWARD_EMAILS, once, with the reactions called in line (tests/support/fast.py), SQLite or
PostgreSQL and an SMTP server."""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, select, update

from tests.support import SmtpRecorder
from tests.support.stack import (
    PASSWORD,
    Stack,
)
from tracker.events.codec import decode
from tracker.events.schemas import FindingClosed
from tracker.handlers.base import handle_one
from tracker.handlers.reactions import REACTIONS
from tracker.service.admin import add_user
from tracker.store.tables import findings, history, mail, outbox, rule_notes, upward_filings, users

UPWARD = "aw@qidong.gov.cn, mzj@nantong.gov.cn"
INTERNAL = "内部意见：院长与分管科室沟通不畅，暂不公开"


async def _stack(open_stack, database_url: str, upward: str) -> Stack:
    # The fast layer: the reactions and the mailer called in line, on both databases.
    stack = await open_stack(database_url, fast=True, settings={"upward_emails": upward})
    engine = stack.engine
    # The sector's own: the section chief and the bureau lead of elderly care, with names on the document.
    await add_user(
        engine, role="section_chief", username="zhou", password=PASSWORD, name="周科长", sectors=["elderly"]
    )
    await add_user(
        engine,
        role="bureau_lead",
        username="chen",
        password=PASSWORD,
        name="陈局长",
        email="chen@mzj.cn",
        sectors=["elderly"],
    )
    await add_user(engine, role="town_officer", username="town2", password=PASSWORD, town="南阳镇")
    async with engine.begin() as conn:
        await conn.execute(update(users).where(users.c.username == "inspector").values(name="王明"))
    return stack


@pytest.fixture
async def stack(open_stack, database_url: str):
    return await _stack(open_stack, database_url, UPWARD)


async def _post(stack: Stack, who: str, path: str, body: dict) -> dict:
    response = await stack.client.post(path, headers=await stack.token(who), json=body)
    assert response.status_code == 201, (path, response.text)
    return response.json()


async def _view(stack: Stack, finding_id: int) -> dict:
    response = await stack.client.get(f"/api/findings/{finding_id}", headers=await stack.token("chen"))
    assert response.status_code == 200, response.text
    return response.json()


async def major_signed_off(stack: Stack) -> dict:
    """A dangerous building at F1 through every stage of its supervision, signed off by the sector's lead."""
    item = "BLDG-DANGER-01"  # major in an elderly-care home
    reported = await _post(
        stack,
        "inspector",
        "/api/inspections",
        {
            "facility_id": 1,
            "mode": "unannounced",
            "client_ref": "major-1",
            "items": [{"item": item, "result": "fail", "note": "东楼二层墙体开裂，经鉴定为C级危房"}],
        },
    )
    [finding] = reported["findings"]
    fid = finding["id"]
    assert finding["severity"] == "major"
    async with stack.engine.begin() as conn:
        inspection_id = await conn.scalar(select(findings.c.inspection_id).where(findings.c.id == fid))
        # What an advising rule told the inspectors: for staff, never printed on a served document.
        await conn.execute(
            insert(rule_notes).values(
                inspection_id=inspection_id,
                rule_code="TEST-NOTE",
                note=INTERNAL,
                item_codes=[item],
                created_at=datetime.now(UTC),
            )
        )
    await stack.wait_for(lambda: _ordered(stack, fid), what="the order")
    await _post(
        stack,
        "head",
        f"/api/findings/{fid}/plan",
        {
            "measures": "东楼整体加固，外墙裂缝注浆修补",
            "funds": "38万元，县财政专项",
            "unit": "测试敬老院F1",
            "person": "负责人F1",
            "deadline": "2027-03-31",
            "interim_measures": "东楼停用，老人全部转移至西楼",
            "emergency_plan": "东楼坍塌应急疏散预案",
        },
    )
    await _post(stack, "inspector", f"/api/findings/{fid}/interim", {"note": "东楼已停用，无人居住"})
    await _post(stack, "head", f"/api/findings/{fid}/rectification", {"note": "加固完成，经鉴定为B级"})
    await _post(
        stack, "inspector", f"/api/findings/{fid}/verification", {"accepted": True, "note": "现场复查合格"}
    )
    await _post(
        stack, "zhou", f"/api/findings/{fid}/acceptance", {"accepted": True, "note": "验收合格，同意销号"}
    )
    closed = await _post(stack, "chen", f"/api/findings/{fid}/signoff", {"note": "同意销号，恢复使用"})
    assert closed["status"] == "closed"
    return closed


async def _ordered(stack: Stack, fid: int) -> bool:
    return (await _view(stack, fid))["status"] == "ordered"


def _upward_mails(smtp: SmtpRecorder) -> list:
    return [m for m in smtp.messages if "销号备案" in m.subject]


def _pdf_text(data: bytes, tmp: Path) -> str:
    path = tmp / "closure.pdf"
    path.write_bytes(data)
    done = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, timeout=60, check=True)
    return re.sub(r"\s+", "", done.stdout.decode())


async def test_a_major_signed_off_is_filed_upward_once_with_its_closure_document(
    stack: Stack, smtp_recorder: SmtpRecorder, tmp_path: Path
):
    closed = await major_signed_off(stack)
    fid, notice_no = closed["id"], closed["supervision"]["notice_no"]
    assert re.fullmatch(r"民安督〔\d{4}〕1号", notice_no)

    mails = await stack.wait_for(
        lambda: len(_upward_mails(smtp_recorder)) == 2 and _upward_mails(smtp_recorder)
    )
    assert sorted(r for m in mails for r in m.rcpt_tos) == ["aw@qidong.gov.cn", "mzj@nantong.gov.cn"]
    attached = []
    for message in mails:
        assert notice_no in message.subject and "测试敬老院 F1" in message.subject
        [pdf] = list(message.message.iter_attachments())
        assert pdf.get_content_type() == "application/pdf"
        # Filed by its notice's number, never by an internal id.
        assert pdf.get_filename() == f"重大事故隐患销号备案表{notice_no.removeprefix('民安督')}.pdf"
        attached.append(pdf.get_content())
    text = _pdf_text(attached[0], tmp_path)
    assert "重大事故隐患治理销号备案表" in text and f"督办编号：{notice_no}" in text
    assert "测试敬老院F1" in text and "汇龙镇" in text
    assert "建筑设施经鉴定属于C级、D级危房" in text and "东楼二层墙体开裂" in text
    assert "《养老机构重大事故隐患判定标准》" in text  # the checked basis, as the order prints it
    assert "东楼整体加固" in text and "38万元" in text and "东楼坍塌应急疏散预案" in text
    assert "东楼停用，老人全部转移至西楼" in text and "王明" in text and "东楼已停用，无人居住" in text
    assert "加固完成，经鉴定为B级" in text and "现场复查合格" in text
    assert "周科长" in text and "验收合格，同意销号" in text
    assert "陈局长" in text and "同意销号，恢复使用" in text  # the sign-off: who and what they wrote
    assert "县民政局（盖章）" in text
    assert INTERNAL not in text and "内部意见" not in text
    for doubt in ("待核", "未核实", "可能属"):
        assert doubt not in text
    assert "完成时限2027年3月31日" in text
    # Chinese only, dates as a served document writes them.
    assert not re.search(r"[A-Za-z]{3,}", text) and not re.search(r"\d{4}-\d{2}-\d{2}", text)

    # On record: one filing, in the finding's history, naming where it went.
    view = await _view(stack, fid)
    [filed] = [h for h in view["history"] if h["action"] == "filed_upward"]
    assert filed["data"]["recipients"] == ["aw@qidong.gov.cn", "mzj@nantong.gov.cn"]

    # Redelivered, and the same closure announced again under a new event id: no second filing, no second mail.
    async with stack.engine.connect() as conn:
        payload = await conn.scalar(
            select(outbox.c.payload).where(outbox.c.subject == FindingClosed.subject())
        )
    event = decode(payload.encode(), expected=FindingClosed)
    reaction = next(r for r in REACTIONS if r.consumer == "file_the_closure_upward")
    await handle_one(reaction, stack.ctx, event)
    await handle_one(reaction, stack.ctx, event.model_copy(update={"event_id": "replayed-closure"}))
    async with stack.engine.connect() as conn:
        assert len((await conn.execute(select(upward_filings))).all()) == 1
        assert len((await conn.execute(select(mail).where(mail.c.kind == "upward_filing"))).all()) == 2
        assert (
            len(
                (
                    await conn.execute(
                        select(history).where(history.c.finding_id == fid, history.c.action == "filed_upward")
                    )
                ).all()
            )
            == 1
        )

    # The bureau may download it; the facility's head is told there is no such document.
    lead = await stack.client.get(f"/findings/{fid}/closure.pdf", headers=await stack.token("chen"))
    assert lead.status_code == 200 and lead.headers["content-type"] == "application/pdf"
    assert notice_no in _pdf_text(lead.content, tmp_path)
    assert "xiaohao-" in lead.headers["content-disposition"]
    page = await stack.client.get(f"/findings/{fid}", headers=await stack.token("chen"))
    assert f'href="/findings/{fid}/closure.pdf"' in page.text
    town = await stack.client.get(f"/findings/{fid}/closure.pdf", headers=await stack.token("town"))
    assert town.status_code == 200  # the town officer of its town
    for outsider in ("head", "town2"):
        refused = await stack.client.get(f"/findings/{fid}/closure.pdf", headers=await stack.token(outsider))
        assert refused.status_code == 404, outsider
    page = await stack.client.get(f"/findings/{fid}", headers=await stack.token("head"))
    assert page.status_code == 200 and "closure.pdf" not in page.text


async def test_with_no_address_configured_the_filing_is_recorded_and_no_mail_goes(
    open_stack, database_url: str, smtp_recorder: SmtpRecorder
):
    stack = await _stack(open_stack, database_url, "")
    try:
        closed = await major_signed_off(stack)

        async def filed() -> list:
            return [h for h in (await _view(stack, closed["id"]))["history"] if h["action"] == "filed_upward"]

        [record] = await stack.wait_for(filed, what="the filing on record")
        assert record["data"]["recipients"] == [] and "TRACKER_UPWARD_EMAILS" in record["note"]
        # The facility hears of the closure; nothing goes upward.
        await stack.wait_for(lambda: [m for m in smtp_recorder.messages if "已销号" in m.subject])
        assert _upward_mails(smtp_recorder) == []
        async with stack.engine.connect() as conn:
            assert (await conn.execute(select(mail).where(mail.c.kind == "upward_filing"))).all() == []
        page = await stack.client.get(f"/findings/{closed['id']}", headers=await stack.token("chen"))
        assert "未配置上报地址" in page.text
    finally:
        await stack.close()
