"""Who inspected, when, with whom present; items fixed on the spot; downgrades that wait for a section chief;
self-reported hazards that raise no order. Through the API on a real database, with each reaction run as the
worker runs it (the loop on the real nats-server is tests/integration/test_loop.py's)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from PIL import Image
from sqlalchemy import select

from tests.support.fast import react as react_to_the_outbox
from tests.support.stack import Stack
from tracker.clock import FixedClock
from tracker.documents import reports
from tracker.documents.printed import cn_date
from tracker.domain.calendar import LOCAL_TZ
from tracker.service import notify
from tracker.service.admin import set_sectors, set_warrant_no
from tracker.service.photos import remove_unlinked
from tracker.service.record import fixed_count, fixed_items, inspection_record
from tracker.stats import daybook
from tracker.stats import query as q
from tracker.stats.periods import Period, local_day
from tracker.store.tables import (
    findings,
    inspection_inspectors,
    inspections,
    orders,
    users,
)
from tracker.text.labels import MODE_NAMES


def _png() -> bytes:
    # A photo that decodes: uploads are opened and encoded again.
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(out, "PNG")
    return out.getvalue()


PNG = _png()
# A Wednesday morning in Shanghai, far from any holiday.
NOW = datetime(2026, 11, 18, 2, 0, tzinfo=UTC)


@pytest.fixture
async def stack(open_stack, database_url: str) -> Stack:
    # Nothing started: the reactions are run below (`react`), one by one, as the worker would run them.
    stack = await open_stack(database_url, fast=True, smtp=False, start=False, clock=FixedClock(NOW))
    # A downgrade of a major under supervision is decided by the chief or lead of the facility's sector.
    await set_sectors(stack.engine, "chief", ["elderly"])
    await set_sectors(stack.engine, "lead", ["elderly"])
    return stack


async def react(stack: Stack) -> None:
    """Hand every event waiting in the outbox to the reactions that want it, until none is left."""
    await react_to_the_outbox(stack.ctx, NOW)


def item(stack: Stack, severity: str, n: int = 0) -> str:
    return [i.code for i in stack.catalog.items(facility_type="nursing_home") if i.severity == severity][n]


async def user_id(stack: Stack, username: str) -> int:
    async with stack.engine.connect() as conn:
        return await conn.scalar(select(users.c.id).where(users.c.username == username))


async def inspect(stack: Stack, who: str = "inspector", **body) -> tuple[int, dict]:
    body = {"facility_id": 1, "mode": "unannounced", "client_ref": f"ref-{NOW.timestamp()}", **body}
    response = await stack.client.post("/api/inspections", headers=await stack.token(who), json=body)
    return response.status_code, response.json()


async def finding(stack: Stack, finding_id: int) -> dict:
    response = await stack.client.get(f"/api/findings/{finding_id}", headers=await stack.token("chief"))
    assert response.status_code == 200, response.text
    return response.json()


async def mails(stack: Stack, kind: str) -> list[str]:
    return sorted(row.to_addr for row in await stack.mail_rows(kind))


# ---- no silent downgrade --------------------------------------------------------------------------------


async def test_it_refuses_a_major_item_recorded_as_general_without_a_reason(stack: Stack):
    major = item(stack, "major")
    status, answer = await inspect(
        stack, items=[{"item": major, "result": "fail", "note": "消防通道被占用", "severity": "general"}]
    )
    assert status == 422
    assert answer["field"] == "items[0].severity_reason"
    assert "severity_reason" in answer["detail"]
    async with stack.engine.connect() as conn:
        assert (await conn.execute(select(inspections.c.id))).all() == []


async def test_with_a_reason_it_stays_major_until_a_section_chief_approves(stack: Stack):
    major = item(stack, "major")
    status, answer = await inspect(
        stack,
        items=[
            {
                "item": major,
                "result": "fail",
                "note": "一处疏散指示灯不亮",
                "severity": "general",
                "severity_reason": "仅一处指示灯故障，已报修",
            }
        ],
    )
    assert status == 201, answer
    [reported] = answer["findings"]
    assert reported["severity"] == "major" and reported["listed_for_supervision"]
    assert reported["downgrade"] == "pending" and reported["severity_reason"] == "仅一处指示灯故障，已报修"

    await react(stack)
    # Ordered and mailed as the major hazard it still is.
    ordered = await finding(stack, reported["id"])
    assert ordered["status"] == "ordered" and ordered["severity"] == "major"
    assert await mails(stack, "major_alert") == ["lead@mzj.cn"]
    [order_mail] = await stack.mail_rows("order")
    async with stack.engine.connect() as conn:  # written as the mailer writes it when it sends it
        written = await notify.order_mail(conn, stack.settings, ordered["order_id"], NOW)
    assert order_mail.attachment == f"order-pdf:{ordered['order_id']}" and "重大事故隐患" in written.text

    path = f"/api/findings/{reported['id']}/downgrade"
    by_inspector = await stack.client.post(
        path, headers=await stack.token("inspector"), json={"approved": True}
    )
    assert by_inspector.status_code == 403
    assert (await finding(stack, reported["id"]))["severity"] == "major"

    approved = await stack.client.post(
        path, headers=await stack.token("chief"), json={"approved": True, "note": "同意"}
    )
    assert approved.status_code == 200, approved.text
    view = approved.json()
    assert view["severity"] == "general" and not view["listed_for_supervision"]
    assert view["downgrade"] == "approved"
    # The general deadline from today, never later than the major one that was running.
    assert view["deadline"] <= ordered["deadline"]
    actions = [(h["action"], h["actor"]) for h in view["history"]]
    assert ("downgrade_requested", "inspector") in actions and ("downgrade_approved", "chief") in actions
    again = await stack.client.post(
        path, headers=await stack.token("lead"), json={"approved": False, "note": "x"}
    )
    assert again.status_code == 409
    # The facility hears of the new grade and the deadline that runs now, in the bureau's words only.
    await react(stack)
    [regraded] = await stack.mail_rows("regrade")
    assert regraded.to_addr == "head-f1@example.cn"
    deadline = cn_date(date.fromisoformat(view["deadline"]))
    assert (
        "一般事故隐患" in regraded.text_body
        and deadline in regraded.subject
        and "你单位" in regraded.text_body
    )
    assert "仅一处指示灯故障" not in regraded.text_body


async def test_a_refused_downgrade_keeps_it_major(stack: Stack):
    major = item(stack, "major")
    _, answer = await inspect(
        stack,
        items=[
            {
                "item": major,
                "result": "fail",
                "note": "燃气报警器失效",
                "severity": "general",
                "severity_reason": "轻微",
            }
        ],
    )
    [reported] = answer["findings"]
    path = f"/api/findings/{reported['id']}/downgrade"
    no_reason = await stack.client.post(path, headers=await stack.token("lead"), json={"approved": False})
    assert no_reason.status_code == 422 and no_reason.json()["field"] == "note"
    refused = await stack.client.post(
        path, headers=await stack.token("lead"), json={"approved": False, "note": "报警器失效即属重大"}
    )
    assert refused.status_code == 200, refused.text
    view = refused.json()
    assert view["severity"] == "major" and view["listed_for_supervision"] and view["downgrade"] == "refused"
    assert [h["action"] for h in view["history"]][-1] == "downgrade_refused"


async def test_an_approved_downgrade_is_counted_again_at_the_next_catch_up(stack: Stack):
    major = item(stack, "major")
    _, answer = await inspect(
        stack,
        items=[
            {
                "item": major,
                "result": "fail",
                "note": "外墙空鼓",
                "severity": "general",
                "severity_reason": "面积小",
            }
        ],
    )
    await react(stack)
    later = NOW + timedelta(days=3)
    assert await daybook.catch_up(stack.engine, later) is not None  # the day it was found counted it major
    stack.clock.at = later
    response = await stack.client.post(
        f"/api/findings/{answer['findings'][0]['id']}/downgrade",
        headers=await stack.token("chief"),
        json={"approved": True},
    )
    assert response.status_code == 200, response.text
    # Caught up again (the scheduler's job, not the downgrade's transaction), the week's figures from the day
    # book are the rows': one general hazard found, no major.
    assert await daybook.catch_up(stack.engine, later) == local_day(later)  # from the day it was found
    week = Period.week_of(local_day(NOW))
    async with stack.engine.connect() as conn:
        book = [await q.breakdown(conn, d, week, q.Filter(), later) for d in q.DIMENSIONS]
        rows = [await q.breakdown(conn, d, week, q.Filter(), later, exact_rows=True) for d in q.DIMENSIONS]
        figures = await q.figures(conn, week, q.Filter(), later)
    assert book == rows
    assert figures.counts["found"] == 1 and figures.counts["found_major"] == 0


# ---- fixed on the spot ----------------------------------------------------------------------------------


async def test_an_item_fixed_on_the_spot_raises_nothing_and_is_counted(stack: Stack):
    inspector = await stack.token("inspector")
    photo = await stack.client.post(
        "/api/photos", headers=inspector, files={"file": ("a.png", PNG, "image/png")}
    )
    fixed, passed = item(stack, "general", 0), item(stack, "general", 1)
    no_note = await inspect(stack, items=[{"item": fixed, "result": "fixed"}])
    assert no_note[0] == 422 and no_note[1]["field"] == "items[0].note"

    status, answer = await inspect(
        stack,
        items=[
            {
                "item": fixed,
                "result": "fixed",
                "note": "灭火器压力不足，当场更换",
                "photos": [photo.json()["id"]],
            },
            {"item": passed, "result": "pass"},
        ],
    )
    assert status == 201, answer
    assert answer["findings"] == [] and answer["fixed"] == 1
    await react(stack)
    async with stack.engine.connect() as conn:
        assert (await conn.execute(select(findings.c.id))).all() == []
        assert (await conn.execute(select(orders.c.id))).all() == []
        record = await inspection_record(conn, answer["id"])
        assert [(i.item_code, i.note, i.photo_ids) for i in record.fixed] == [
            (fixed, "灭火器压力不足，当场更换", (photo.json()["id"],))
        ]
        assert await fixed_count(conn, NOW - timedelta(days=1), NOW + timedelta(days=1)) == 1
        assert await fixed_count(conn, NOW + timedelta(minutes=1), NOW + timedelta(days=1)) == 0
        [row] = await fixed_items(conn, facility_ids=[1])
        assert row.item_code == fixed and row.facility_name == "测试敬老院 F1"
    assert await stack.mail_rows() == []
    # The photo of a fixed item is the inspection's: the section chief sees it too.
    seen = await stack.client.get(f"/api/photos/{photo.json()['id']}", headers=await stack.token("chief"))
    assert seen.status_code == 200
    # The daily clean-up of photos nothing uses keeps it.
    assert await remove_unlinked(stack.engine, stack.settings.photo_dir, NOW + timedelta(days=3)) == []


async def test_the_dashboard_and_the_monthly_figures_count_what_was_fixed_on_the_spot(stack: Stack):
    fixed = item(stack, "general", 0)
    category = stack.catalog.item(fixed).category
    other = next(c for c in stack.catalog.categories if c != category)
    status, _ = await inspect(
        stack, items=[{"item": fixed, "result": "fixed", "note": "插线板私拉乱接，当场拆除"}]
    )
    assert status == 201
    lead = await stack.token("lead")

    async def shown(**narrowed: str) -> int:
        params = {"from": "2026-11-01", "to": "2026-12-01", **narrowed}
        page = await stack.client.get("/dashboard", params=params, headers=lead)
        assert page.status_code == 200, page.text
        card = page.text.split('id="card-fixed"', 1)[1]
        return int(card.split('<div class="value">', 1)[1].split("<", 1)[0])

    assert await shown() == 1
    assert await shown(town="汇龙镇", category=category, mode="unannounced") == 1
    assert await shown(town="南阳镇") == 0 and await shown(category=other) == 0
    assert await shown(severity="major") == 0 and await shown(mode="routine") == 0
    assert await shown(**{"from": "2026-10-01", "to": "2026-11-01"}) == 0
    # The monthly report and its JSON read the same figure.
    month = Period(date(2026, 11, 1), date(2026, 12, 1))
    d = await reports.gather(stack.engine, month, q.Filter(), NOW, stack.catalog)
    assert d.fixed == 1 and d.as_dict()["fixed_on_the_spot"] == 1


# ---- who inspected, when, with whom present ---------------------------------------------------------------


async def test_it_keeps_the_onsite_time_the_inspectors_and_the_person_present(stack: Stack):
    await set_warrant_no(stack.engine, "chief", "32068100123")
    register = await stack.client.get("/api/inspectors", headers=await stack.token("inspector"))
    assert register.status_code == 200
    by_name = {p["name"]: p for p in register.json()}
    assert by_name["chief"]["warrant_no"] == "32068100123" and "head" not in by_name
    assert (await stack.client.get("/api/inspectors", headers=await stack.token("head"))).status_code == 403

    onsite = NOW - timedelta(hours=26)  # checked yesterday with no signal, sent today
    status, answer = await inspect(
        stack,
        items=[{"item": item(stack, "general"), "result": "pass"}],
        onsite_at=onsite.isoformat(),
        inspectors=[by_name["chief"]["id"]],
        person_present="王芳（护理部主任）",
    )
    assert status == 201, answer
    assert answer["onsite_at"] == onsite.isoformat()
    assert [(p["name"], p["warrant_no"]) for p in answer["inspectors"]] == [
        ("inspector", None),
        ("chief", "32068100123"),
    ]
    assert answer["person_present"] == "王芳（护理部主任）"
    async with stack.engine.connect() as conn:
        row = (await conn.execute(select(inspections).where(inspections.c.id == answer["id"]))).one()
        crew = (
            await conn.execute(
                select(inspection_inspectors.c.user_id, inspection_inspectors.c.position)
                .where(inspection_inspectors.c.inspection_id == answer["id"])
                .order_by(inspection_inspectors.c.position)
            )
        ).all()
    assert row.onsite_at == onsite and row.submitted_at == NOW
    assert crew == [(await user_id(stack, "inspector"), 0), (by_name["chief"]["id"], 1)]


async def test_the_answer_to_a_post_shows_the_findings_as_they_are_read_back(stack: Stack):
    # The answer is made from the rows just written; sent again, it is read back: both as a GET shows them.
    body = {
        "client_ref": "answer-as-read",
        "items": [
            {"item": item(stack, "general", 0), "result": "fail", "note": "灭火器压力不足"},
            {"item": item(stack, "general", 1), "result": "fail", "note": "疏散指示灯不亮"},
            {"item": item(stack, "general", 2), "result": "pass"},
        ],
        "person_present": "王芳",
    }
    status, first = await inspect(stack, **body)
    assert status == 201 and len(first["findings"]) == 2
    status, again = await inspect(stack, **body)
    assert status == 200 and again == {**first, "created": False}
    for shown in first["findings"]:
        read = await finding(stack, shown["id"])
        assert {key: read[key] for key in shown} == shown
        assert shown["status"] == "reported" and shown["description"] in ("灭火器压力不足", "疏散指示灯不亮")


async def test_the_answer_gives_the_findings_as_read_back_whatever_zone_the_clock_tells_time_in(
    open_stack, database_url: str
):
    # The answer is made from the values written, not read back: a moment in it is given in UTC, as a read gives it.
    stack = await open_stack(
        database_url, fast=True, smtp=False, start=False, clock=FixedClock(NOW.astimezone(LOCAL_TZ))
    )
    items = [{"item": item(stack, "general"), "result": "fail", "note": "插线板私拉乱接"}]
    status, answer = await inspect(stack, client_ref="clock-in-shanghai", items=items)
    assert status == 201, answer
    [shown] = answer["findings"]
    assert shown["reported_at"] == NOW.isoformat()
    read = await finding(stack, shown["id"])
    assert {key: read[key] for key in shown} == shown


async def test_the_answer_gives_the_onsite_time_as_kept_whatever_zone_the_phone_sent_it_in(stack: Stack):
    # A phone in Shanghai sends its local time; the answer, sent again or not, gives the time as it is kept.
    onsite = (NOW - timedelta(hours=3)).astimezone(timezone(timedelta(hours=8)))
    body = {
        "client_ref": "onsite-in-local-time",
        "items": [{"item": item(stack, "general"), "result": "pass"}],
        "onsite_at": onsite.isoformat(),
    }
    status, first = await inspect(stack, **body)
    assert status == 201, first
    status, again = await inspect(stack, **body)
    assert status == 200
    assert first["onsite_at"] == again["onsite_at"] == onsite.astimezone(UTC).isoformat()


async def test_it_refuses_inspectors_outside_the_register_and_an_onsite_time_to_come(stack: Stack):
    items = [{"item": item(stack, "general"), "result": "pass"}]
    head = await inspect(stack, items=items, inspectors=[await user_id(stack, "head")])
    assert head[0] == 422 and head[1]["field"] == "inspectors"
    me = await inspect(stack, items=items, inspectors=[await user_id(stack, "inspector")])
    assert me[0] == 422 and me[1]["field"] == "inspectors"
    ahead = await inspect(stack, items=items, onsite_at=(NOW + timedelta(hours=2)).isoformat())
    assert ahead[0] == 422 and ahead[1]["field"] == "onsite_at"
    # A lone check is taken (an old phone's queue may still hold one): one inspector on record.
    status, lone = await inspect(stack, items=items)
    assert status == 201 and [p["name"] for p in lone["inspectors"]] == ["inspector"]
    assert lone["onsite_at"] == NOW.isoformat()  # no time taken on the phone: the submission's


# ---- self-reported hazards ------------------------------------------------------------------------------


async def test_a_self_report_raises_no_order_and_closes_with_the_bureaus_verification(stack: Stack):
    status, answer = await inspect(
        stack,
        who="head",
        mode="self",
        items=[{"item": item(stack, "general"), "result": "fail", "note": "自查发现插线板私拉乱接"}],
    )
    assert status == 201, answer
    await react(stack)
    [found] = answer["findings"]
    view = await finding(stack, found["id"])
    assert view["status"] == "ordered" and view["order_id"] is None and view["deadline"] is not None
    assert [h["action"] for h in view["history"]] == ["reported", "self_registered"]
    async with stack.engine.connect() as conn:
        assert (await conn.execute(select(orders.c.id))).all() == []
    assert await stack.mail_rows("order") == [] and await stack.mail_rows("supervision_notice") == []
    # The bureau's view of the hazards facilities reported themselves.
    listed = await stack.client.get(
        "/api/findings", headers=await stack.token("chief"), params={"mode": "self"}
    )
    assert [f["id"] for f in listed.json()["items"]] == [found["id"]]

    head = await stack.token("head")
    path = f"/api/findings/{found['id']}"
    assert (
        await stack.client.post(f"{path}/rectification", headers=head, json={"note": "已整改"})
    ).status_code == 201
    own = await stack.client.post(f"{path}/verification", headers=head, json={"accepted": True})
    assert own.status_code == 403
    await react(stack)
    assert await mails(stack, "verification_request") == ["chief@mzj.cn"]
    closed = await stack.client.post(
        f"{path}/verification", headers=await stack.token("chief"), json={"accepted": True, "note": "合格"}
    )
    assert closed.status_code == 201 and closed.json()["status"] == "closed"


async def test_a_self_reported_major_hazard_raises_a_supervision_notice_not_an_order(stack: Stack):
    status, answer = await inspect(
        stack,
        who="head",
        mode="self",
        items=[{"item": item(stack, "major"), "result": "fail", "note": "自查发现燃气管道漏气"}],
    )
    assert status == 201, answer
    await react(stack)
    assert await stack.mail_rows("order") == [] and await stack.mail_rows("major_alert") == []
    assert await mails(stack, "supervision_notice") == ["chief@mzj.cn", "lead@mzj.cn"]
    notice = (await stack.mail_rows("supervision_notice"))[0]
    assert "督办" in notice.subject and "自查" in notice.text_body and "/findings/" in notice.text_body
    assert (await finding(stack, answer["findings"][0]["id"]))["listed_for_supervision"]


# ---- modes ----------------------------------------------------------------------------------------------


async def test_a_covert_inspection_is_its_own_mode(stack: Stack):
    status, answer = await inspect(
        stack,
        mode="covert",
        items=[{"item": item(stack, "general"), "result": "fail", "note": "夜间无人值守"}],
    )
    assert status == 201, answer
    assert (await finding(stack, answer["findings"][0]["id"]))["mode"] == "covert"
    assert MODE_NAMES["covert"][0] == "暗查暗访" and MODE_NAMES["unannounced"][0] == "四不两直"
