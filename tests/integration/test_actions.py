"""Escalation actions on record, through the API, on SQLite and PostgreSQL: the sector's section chief or bureau lead
records 催办, 约谈, 通报, 移送, 责令停业整顿 and 信用措施; they show in the finding's history, on the order page, in the
ledger and on the dashboard; nobody else may record them."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook
from PIL import Image

from tests.support.stack import PASSWORD, Stack
from tracker.clock import FixedClock
from tracker.service.admin import add_user, set_facility
from tracker.service.loop import issue_order
from tracker.service.order_links import order_link

# A Monday morning in Shanghai, far from any holiday.
T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
NO_NATS = "nats://127.0.0.1:9"


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "blue").save(out, "PNG")
    return out.getvalue()


async def add_team(stack: Stack) -> None:
    """The people of an elderly-care facility's sector, and some who are not."""
    people = [
        {"role": "inspector", "username": "inspector", "email": "inspector@mzj.cn"},
        {"role": "facility_head", "username": "head", "email": "head@example.cn", "facility": "F1"},
        {"role": "town_officer", "username": "town", "email": "town@mzj.cn", "town": "汇龙镇"},
        {"role": "section_chief", "username": "chief", "email": "chief@mzj.cn", "sectors": ["elderly"]},
        {"role": "bureau_lead", "username": "lead", "email": "lead@mzj.cn", "sectors": ["elderly", "relief"]},
        {"role": "section_chief", "username": "other-chief", "email": "oc@mzj.cn", "sectors": ["children"]},
    ]
    for person in people:
        await add_user(stack.engine, password=PASSWORD, **person)


@pytest.fixture
async def stack(open_stack, database_url: str) -> Stack:
    # F1 a 敬老院: elderly, town-run. Nothing started: nothing reacts.
    stack = await open_stack(
        database_url,
        fast=True,
        smtp=False,
        start=False,
        facilities=("F1", ("F2", "南阳镇")),
        people=False,
        clock=FixedClock(T0),
    )
    await add_team(stack)
    return stack


async def ordered_finding(stack: Stack, facility_id: int = 1, ref: str = "a-1") -> dict:
    """One hazard found by the inspector and ordered (the worker's step, called directly here)."""
    item = next(i for i in stack.catalog.items(facility_type="nursing_home") if i.severity == "general")
    response = await stack.client.post(
        "/api/inspections",
        headers=await stack.token("inspector"),
        json={
            "facility_id": facility_id,
            "mode": "unannounced",
            "client_ref": ref,
            "items": [{"item": item.code, "result": "fail", "note": "安全出口堵塞"}],
        },
    )
    assert response.status_code == 201, response.text
    async with stack.engine.begin() as conn:
        await issue_order(conn, response.json()["id"], stack.policy, stack.clock.now())
    finding_id = response.json()["findings"][0]["id"]
    view = await stack.client.get(f"/api/findings/{finding_id}", headers=await stack.token("inspector"))
    assert view.json()["status"] == "ordered"
    return view.json()


async def act(stack: Stack, who: str, finding_id: int, **body) -> object:
    return await stack.client.post(
        f"/api/findings/{finding_id}/actions", headers=await stack.token(who), json=body
    )


async def test_it_records_every_kind_and_shows_it_in_the_history(stack: Stack):
    await set_facility(stack.engine, "F1", ownership="private")  # 信用措施 needs a private home
    finding = await ordered_finding(stack)
    stack.clock.at = T0 + timedelta(days=2)  # found on Monday, acted on by Wednesday
    photo = await stack.client.post(
        "/api/photos", headers=await stack.token("chief"), files={"file": ("m.png", _png(), "image/png")}
    )
    assert photo.status_code == 201, photo.text
    kinds = [
        ("chief", {"kind": "urge", "note": "电话催办，要求本周内整改"}),
        ("chief", {"kind": "interview", "note": "约谈院长", "photos": [photo.json()["id"]]}),
        ("lead", {"kind": "notice", "note": "全县通报"}),
        ("lead", {"kind": "referral", "note": "移送消防", "to": "县消防救援大队"}),
        ("lead", {"kind": "suspension", "note": "责令停业整顿至隐患消除", "on_day": "2026-11-03"}),
        ("chief", {"kind": "credit", "note": "纳入信用记录"}),
    ]
    for who, body in kinds:
        response = await act(stack, who, finding["id"], **body)
        assert response.status_code == 201, response.text
        assert response.json()["action_id"]

    view = (
        await stack.client.get(f"/api/findings/{finding['id']}", headers=await stack.token("inspector"))
    ).json()
    recorded = [h for h in view["history"] if h["action"].startswith("action_")]
    assert [h["action"] for h in recorded] == [
        "action_urge",
        "action_interview",
        "action_notice",
        "action_referral",
        "action_suspension",
        "action_credit",
    ]
    assert [h["actor"] for h in recorded] == ["chief", "chief", "lead", "lead", "lead", "chief"]
    assert recorded[3]["data"]["to"] == "县消防救援大队" and recorded[1]["note"] == "约谈院长"
    assert recorded[4]["data"]["on_day"] == "2026-11-03"
    assert {"id": photo.json()["id"], "stage": "action", "content_type": "image/png"} in view["photos"]
    # In the order they were taken: the suspension on the Tuesday, recorded a day late.
    assert [a["words"] for a in view["actions"]] == [
        "责令停业整顿",
        "催办",
        "约谈",
        "通报",
        "移送至县消防救援大队",
        "信用措施",
    ]
    # The facility reads them on its order page, in the bureau's words.
    async with stack.engine.connect() as conn:
        link = await order_link(conn, stack.ctx, finding["order_id"], stack.clock.now())
    order_page = await stack.client.get(link)
    assert order_page.status_code == 200
    for words in ("催办", "约谈", "通报", "移送至县消防救援大队", "责令停业整顿", "信用措施"):
        assert words in order_page.text
    # Its days as the order writes them, not as ISO dates.
    assert "2026年11月3日" in order_page.text and "2026-11-03" not in order_page.text

    # The ledger's 督办措施 column, and the dashboard's counts per kind.
    period = {"from": "2026-11-01", "to": "2026-12-01"}
    ledger = await stack.client.get(
        "/dashboard/ledger.xlsx", params=period, headers=await stack.token("lead")
    )
    assert ledger.status_code == 200
    sheet = load_workbook(io.BytesIO(ledger.content)).active
    header = [c.value for c in sheet[2]]
    row = dict(zip(header, [c.value for c in sheet[3]], strict=True))
    assert row["督办措施"].split("；") == [
        "2026年11月3日责令停业整顿：责令停业整顿至隐患消除",
        "2026年11月4日催办：电话催办，要求本周内整改",
        "2026年11月4日约谈：约谈院长",
        "2026年11月4日通报：全县通报",
        "2026年11月4日移送至县消防救援大队：移送消防",
        "2026年11月4日信用措施：纳入信用记录",
    ]
    page = await stack.client.get("/dashboard", params=period, headers=await stack.token("lead"))
    assert page.status_code == 200
    for kind in ("urge", "interview", "notice", "referral", "suspension", "credit"):
        assert f'<li data-kind="{kind}">' in page.text
    assert '<li data-kind="urge">催办 <b>1</b></li>' in page.text
    before = {"from": "2026-10-01", "to": "2026-11-01"}
    earlier = await stack.client.get("/dashboard", params=before, headers=await stack.token("lead"))
    assert '<li data-kind="urge">催办 <b>0</b></li>' in earlier.text


async def test_it_refuses_everyone_but_the_sectors_chiefs_and_leads(stack: Stack):
    finding = await ordered_finding(stack)
    body = {"kind": "urge", "note": "催办"}
    for who in ("inspector", "head", "town", "other-chief"):
        response = await act(stack, who, finding["id"], **body)
        assert response.status_code == 403, (who, response.text)
    # A finding someone cannot see is answered as if it did not exist.
    elsewhere = await ordered_finding(stack, facility_id=2, ref="b-1")
    assert (await act(stack, "head", elsewhere["id"], **body)).status_code == 404
    assert (await act(stack, "town", elsewhere["id"], **body)).status_code == 404
    assert (await act(stack, "chief", 9999, **body)).status_code == 404
    view = (
        await stack.client.get(f"/api/findings/{finding['id']}", headers=await stack.token("chief"))
    ).json()
    assert view["actions"] == [] and not [h for h in view["history"] if h["action"].startswith("action_")]


async def test_a_referral_names_its_agency_and_credit_is_for_private_homes_only(stack: Stack):
    finding = await ordered_finding(stack)
    missing = await act(stack, "chief", finding["id"], kind="referral", note="移送")
    assert missing.status_code == 422 and "to" in missing.json()["detail"]
    blank = await act(stack, "chief", finding["id"], kind="referral", note="移送", to="  ")
    assert blank.status_code == 422 and "to" in blank.json()["detail"]
    credit = await act(stack, "lead", finding["id"], kind="credit", note="信用惩戒")
    assert credit.status_code == 422 and "kind" in credit.json()["detail"]
    unknown = await act(stack, "lead", finding["id"], kind="fine", note="罚款")
    assert unknown.status_code == 422
    ahead = await act(
        stack, "lead", finding["id"], kind="urge", note="催办", on_day=str(T0.date() + timedelta(days=3))
    )
    assert ahead.status_code == 422 and "on_day" in ahead.json()["detail"]
    view = (
        await stack.client.get(f"/api/findings/{finding['id']}", headers=await stack.token("chief"))
    ).json()
    assert view["actions"] == []


async def test_the_finding_page_gives_the_sectors_chief_a_form(stack: Stack):
    finding = await ordered_finding(stack)
    page = await stack.client.get(f"/findings/{finding['id']}", headers=await stack.token("chief"))
    assert page.status_code == 200 and 'id="action-form"' in page.text
    assert 'value="credit"' not in page.text  # a town-run home: no credit measure offered
    for who in ("inspector", "other-chief"):
        other = await stack.client.get(f"/findings/{finding['id']}", headers=await stack.token(who))
        assert other.status_code == 200 and 'id="action-form"' not in other.text


MINUTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


async def test_the_minutes_may_be_a_pdf_served_only_as_a_download(stack: Stack):
    finding = await ordered_finding(stack)
    chief = await stack.token("chief")
    pdf = await stack.client.post(
        "/api/attachments", headers=chief, files={"file": ("纪要.pdf", MINUTES, "application/pdf")}
    )
    assert pdf.status_code == 201, pdf.text
    broken = await stack.client.post(
        "/api/attachments", headers=chief, files={"file": ("x.pdf", b"%PDF-1.4 cut short", "application/pdf")}
    )
    assert broken.status_code == 415 and "file" in broken.text
    as_photo = await stack.client.post(
        "/api/photos", headers=chief, files={"file": ("x.pdf", MINUTES, "application/pdf")}
    )
    assert as_photo.status_code == 415
    done = await act(
        stack, "chief", finding["id"], kind="interview", note="约谈纪要附后", photos=[pdf.json()["id"]]
    )
    assert done.status_code == 201, done.text
    assert {"id": pdf.json()["id"], "stage": "action", "content_type": "application/pdf"} in done.json()[
        "photos"
    ]
    served = await stack.client.get(f"/api/photos/{pdf.json()['id']}", headers=await stack.token("inspector"))
    assert served.status_code == 200 and served.content == MINUTES
    assert served.headers["content-type"] == "application/pdf"
    assert served.headers["content-disposition"].startswith("attachment")
    # A document is an action's letter, never a rectification's evidence.
    head = await stack.token("head")
    upload = await stack.client.post(
        "/api/attachments", headers=head, files={"file": ("e.pdf", MINUTES, "application/pdf")}
    )
    evidence = await stack.client.post(
        f"/api/findings/{finding['id']}/rectification",
        headers=head,
        json={"note": "已整改", "photos": [upload.json()["id"]]},
    )
    assert evidence.status_code == 422 and "photos" in evidence.text
