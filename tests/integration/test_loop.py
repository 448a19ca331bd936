"""The closed loop through the public API, on the real nats-server, SQLite or PostgreSQL, and an SMTP server."""

from __future__ import annotations

import asyncio
import io
from datetime import date

import pytest
from PIL import Image

from tests.support import SmtpRecorder
from tests.support.stack import Stack
from tracker.documents.printed import cn_date


def _png() -> bytes:
    # A photo that decodes: uploads are opened and encoded again, so a PNG signature alone is refused.
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(out, "PNG")
    return out.getvalue()


PNG = _png()


@pytest.fixture
async def stack(open_stack, database_url: str) -> Stack:
    return await open_stack(database_url, facilities=("F1", ("F2", "南阳镇")))


def items_of(stack: Stack, severity: str, n: int = 1) -> list[str]:
    return [i.code for i in stack.catalog.items(facility_type="nursing_home") if i.severity == severity][:n]


async def finding(stack: Stack, finding_id: int, who: str = "inspector") -> dict:
    response = await stack.client.get(f"/api/findings/{finding_id}", headers=await stack.token(who))
    assert response.status_code == 200, response.text
    return response.json()


async def wait_status(stack: Stack, finding_id: int, status: str) -> dict:
    async def reached() -> dict | None:
        view = await finding(stack, finding_id)
        return view if view["status"] == status else None

    return await stack.wait_for(reached, what=f"finding {finding_id} to be {status}")


def mails_to(recorder: SmtpRecorder, address: str, marker: str) -> list:
    return [m for m in recorder.messages if address in m.rcpt_tos and marker in m.subject]


async def test_it_closes_the_loop_from_finding_to_verified_closure(stack: Stack, smtp_recorder: SmtpRecorder):
    inspector = await stack.token("inspector")
    head = await stack.token("head")
    photo = await stack.client.post(
        "/api/photos", headers=inspector, files={"file": ("a.png", PNG, "image/png")}
    )
    assert photo.status_code == 201, photo.text
    failed, passed = items_of(stack, "general", 2)
    response = await stack.client.post(
        "/api/inspections",
        headers=inspector,
        json={
            "facility_id": 1,
            "mode": "unannounced",
            "client_ref": "phone-1",
            "items": [
                {"item": failed, "result": "fail", "note": "安全出口堵塞", "photos": [photo.json()["id"]]},
                {"item": passed, "result": "pass"},
            ],
        },
    )
    assert response.status_code == 201, response.text
    [reported] = response.json()["findings"]
    assert reported["status"] == "reported"

    ordered = await wait_status(stack, reported["id"], "ordered")
    assert ordered["deadline"] is not None
    assert ordered["owner"]["email"] == "head-f1@example.cn"
    [order_mail] = await stack.wait_for(
        lambda: mails_to(smtp_recorder, "head-f1@example.cn", "整改通知书"), what="the order mail"
    )
    text = order_mail.message.get_body(("plain",)).get_content()
    item = stack.catalog.item(failed)
    # The facility reads the deadline as the order prints it, and no internal code.
    assert item.zh in text and item.basis in text and cn_date(date.fromisoformat(ordered["deadline"])) in text
    assert failed not in text
    assert f"http://tracker.test/orders/{ordered['order_id']}?token=" in text

    answer = await stack.client.post(
        f"/api/findings/{reported['id']}/rectification", headers=head, json={"note": "已清理通道"}
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "submitted"
    await stack.wait_for(
        lambda: mails_to(smtp_recorder, "inspector@mzj.cn", "待复查"), what="verification request"
    )

    own = await stack.client.post(
        f"/api/findings/{reported['id']}/verification",
        headers=head,
        json={"accepted": True, "note": "我自己验收"},
    )
    assert own.status_code == 403
    rejected = await stack.client.post(
        f"/api/findings/{reported['id']}/verification",
        headers=inspector,
        json={"accepted": False, "note": "仍有杂物"},
    )
    assert rejected.status_code == 201, rejected.text
    assert rejected.json()["status"] == "ordered" and rejected.json()["round"] == 2
    await stack.wait_for(
        lambda: mails_to(smtp_recorder, "head-f1@example.cn", "复查未通过"), what="rejection mail"
    )

    again = await stack.client.post(
        f"/api/findings/{reported['id']}/rectification", headers=head, json={"note": "杂物已全部清走"}
    )
    assert again.status_code == 201, again.text
    closed = await stack.client.post(
        f"/api/findings/{reported['id']}/verification",
        headers=await stack.token("chief"),
        json={"accepted": True, "note": "合格"},
    )
    assert closed.status_code == 201 and closed.json()["status"] == "closed"
    await stack.wait_for(lambda: mails_to(smtp_recorder, "head-f1@example.cn", "已销号"), what="closure mail")

    view = await finding(stack, reported["id"])
    assert [h["action"] for h in view["history"]] == [
        "reported",
        "ordered",
        "rectification_submitted",
        "rejected",
        "rectification_submitted",
        "closed",
    ]
    assert {p["stage"] for p in view["photos"]} == {"report"}
    # Every message that went out went out once: order, two verification requests, rejection, closure.
    await stack.wait_for(lambda: len(smtp_recorder.messages) >= 5, what="all five messages")
    await asyncio.sleep(0.5)
    ids = [m.message["Message-ID"] for m in smtp_recorder.messages]
    assert len(ids) == len(set(ids)) == 5


async def test_it_alerts_the_bureau_lead_at_once_of_a_major_hazard(stack: Stack, smtp_recorder: SmtpRecorder):
    [major] = items_of(stack, "major")
    response = await stack.client.post(
        "/api/inspections",
        headers=await stack.token("inspector"),
        json={
            "facility_id": 1,
            "mode": "routine",
            "client_ref": "major-1",
            "items": [{"item": major, "result": "fail"}],
        },
    )
    assert response.status_code == 201, response.text
    [found] = response.json()["findings"]
    assert found["severity"] == "major" and found["listed_for_supervision"] is True
    [alert] = await stack.wait_for(
        lambda: mails_to(smtp_recorder, "lead@mzj.cn", "重大事故隐患"), what="alert"
    )
    assert stack.catalog.item(major).zh in alert.message.get_body(("plain",)).get_content()


async def test_it_returns_the_first_inspection_when_a_client_ref_is_sent_twice(stack: Stack):
    inspector = await stack.token("inspector")
    body = {
        "facility_id": 1,
        "mode": "routine",
        "client_ref": "twice",
        "items": [{"item": items_of(stack, "general")[0], "result": "fail"}],
    }
    first = await stack.client.post("/api/inspections", headers=inspector, json=body)
    second = await stack.client.post("/api/inspections", headers=inspector, json=body)
    assert first.status_code == 201 and second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    assert [f["id"] for f in first.json()["findings"]] == [f["id"] for f in second.json()["findings"]]
    listed = await stack.client.get("/api/findings", headers=inspector)
    assert listed.json()["total"] == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"facility_id": 999}, "facility_id"),
        ({"mode": "secret"}, "mode"),
        ({"items": [{"item": "NO-SUCH-ITEM", "result": "fail"}]}, "items[0].item"),
        ({"items": [{"item": "X", "result": "maybe"}]}, "result"),
    ],
)
async def test_it_rejects_bad_input_naming_the_field_and_keeps_nothing(
    stack: Stack, change: dict, field: str
):
    inspector = await stack.token("inspector")
    body = {
        "facility_id": 1,
        "mode": "routine",
        "client_ref": "bad",
        "items": [{"item": items_of(stack, "general")[0], "result": "fail"}],
        **change,
    }
    response = await stack.client.post("/api/inspections", headers=inspector, json=body)
    assert response.status_code == 422
    assert field in response.text
    assert (await stack.client.get("/api/findings", headers=inspector)).json()["total"] == 0


async def test_it_shows_a_facility_head_only_their_own_facility(stack: Stack):
    inspector = await stack.token("inspector")
    code = items_of(stack, "general")[0]
    other = await stack.client.post(
        "/api/inspections",
        headers=inspector,
        json={
            "facility_id": 2,
            "mode": "routine",
            "client_ref": "other",
            "items": [{"item": code, "result": "fail"}],
        },
    )
    other_id = other.json()["findings"][0]["id"]
    head = await stack.token("head")
    assert [f["id"] for f in (await stack.client.get("/api/facilities", headers=head)).json()] == [1]
    assert (await stack.client.get(f"/api/findings/{other_id}", headers=head)).status_code == 404
    assert (await stack.client.get("/api/findings", headers=head)).json()["total"] == 0
    submitted = await stack.client.post(
        f"/api/findings/{other_id}/rectification", headers=head, json={"note": "不是我的"}
    )
    assert submitted.status_code == 404
    town = await stack.token("town")  # 汇龙镇's office does not see 南阳镇's facility either
    assert (await stack.client.get(f"/api/findings/{other_id}", headers=town)).status_code == 404
    assert (await stack.client.get("/api/findings")).status_code == 401


async def test_it_refuses_an_upload_that_is_not_a_photo(stack: Stack):
    inspector = await stack.token("inspector")
    response = await stack.client.post(
        "/api/photos", headers=inspector, files={"file": ("x.png", b"<script>alert(1)</script>", "image/png")}
    )
    assert response.status_code == 415
    assert "file" in response.json()["detail"]
