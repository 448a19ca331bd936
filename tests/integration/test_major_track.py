"""A major hazard under supervision (挂牌督办) through the public API, with its reactions and mail (the fast
layer, tests/support/fast.py), SQLite or PostgreSQL and an SMTP server: its notice, plan, interim measure, rectification, 验收 and the sector lead's
sign-off, which alone closes it."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select

from tests.support import SmtpRecorder
from tests.support.stack import PASSWORD, Stack, login_token
from tracker.clock import FixedClock
from tracker.domain.calendar import LOCAL_TZ
from tracker.domain.errors import NotAllowed
from tracker.domain.model import Actor, Role
from tracker.service.admin import add_user, set_sectors
from tracker.service.loop import decide_extension, issue_order, request_extension
from tracker.store.tables import extension_requests, referrals, users
from tracker.web.app import create_app
from tracker.web.auth import COOKIE, csrf_token

PLAN = {
    "measures": "更换防火门，增设自动喷水灭火系统",
    "funds": "12万元，县级养老服务补助资金",
    "unit": "汇龙镇敬老院",
    "person": "负责人F1",
    "deadline": "2027-03-31",
    "interim_measures": "三楼东侧房间停用，住养老人已转移至一楼",
    "emergency_plan": "夜间双人值班，每两小时巡查一次",
}


@pytest.fixture
async def stack(open_stack, database_url: str):
    # The fast layer, on both databases (the notice numbers are counted in SQL): each reaction called as the
    # worker calls it; the loop through the real nats-server is tests/integration/test_loop.py's.
    stack = await open_stack(database_url, fast=True)
    # The demo's chief and lead answer for the elderly sector; another lead for children only.
    await set_sectors(stack.engine, "chief", ["elderly"])
    await set_sectors(stack.engine, "lead", ["elderly"])
    await add_user(
        stack.engine,
        role="bureau_lead",
        username="lead2",
        password=PASSWORD,
        email="lead2@mzj.cn",
        sectors=["children"],
    )
    await add_user(
        stack.engine,
        role="section_chief",
        username="chief2",
        password=PASSWORD,
        email="chief2@mzj.cn",
        sectors=["children"],
    )
    return stack


async def view(stack: Stack, finding_id: int, who: str = "inspector") -> dict:
    response = await stack.client.get(f"/api/findings/{finding_id}", headers=await stack.token(who))
    assert response.status_code == 200, response.text
    return response.json()


async def post(stack: Stack, who: str, finding_id: int, step: str, body: dict):
    return await stack.client.post(
        f"/api/findings/{finding_id}/{step}", headers=await stack.token(who), json=body
    )


async def report_major(stack: Stack, ref: str = "major-1") -> dict:
    major = next(i.code for i in stack.catalog.items(facility_type="nursing_home") if i.severity == "major")
    response = await stack.client.post(
        "/api/inspections",
        headers=await stack.token("inspector"),
        json={
            "facility_id": 1,
            "mode": "unannounced",
            "client_ref": ref,
            "items": [{"item": major, "result": "fail", "note": "三楼防火门损坏"}],
        },
    )
    assert response.status_code == 201, response.text
    [found] = response.json()["findings"]

    async def ordered() -> dict | None:
        seen = await view(stack, found["id"])
        return seen if seen["status"] == "ordered" else None

    return await stack.wait_for(ordered, what="the order")


async def through_to_signoff(stack: Stack, finding_id: int) -> None:
    assert (await post(stack, "head", finding_id, "plan", PLAN)).status_code == 201
    assert (await post(stack, "inspector", finding_id, "interim", {"note": "停用到位"})).status_code == 201
    assert (await post(stack, "head", finding_id, "rectification", {"note": "已更换"})).status_code == 201
    assert (await post(stack, "inspector", finding_id, "verification", {"accepted": True})).status_code == 201
    accepted = await post(stack, "chief", finding_id, "acceptance", {"accepted": True, "note": "验收合格"})
    assert accepted.status_code == 201


async def test_a_major_hazard_goes_through_every_stage_to_the_sector_leads_signoff(
    stack: Stack, smtp_recorder: SmtpRecorder
):
    found = await report_major(stack)
    fid = found["id"]
    notice = found["supervision"]
    year = datetime.fromisoformat(notice["judged_at"]).astimezone(LOCAL_TZ).year
    assert notice["notice_no"] == f"民安督〔{year}〕1号"
    assert notice["supervisor"] == "县民政局"
    assert notice["lead"]["username"] == "lead"
    assert notice["judged_by"]["username"] == "inspector"
    assert notice["stage"] == "plan" and notice["stage_due_at"] is not None
    assert notice["plan"] is None and notice["signed_off_at"] is None

    # The rectification waits for the plan and the verified interim measure.
    early = await post(stack, "head", fid, "rectification", {"note": "已更换"})
    assert early.status_code == 409, early.text
    assert (await post(stack, "town", fid, "plan", PLAN)).status_code == 403
    incomplete = await post(stack, "head", fid, "plan", {**PLAN, "funds": ""})
    assert incomplete.status_code == 422
    planned = await post(stack, "head", fid, "plan", PLAN)
    assert planned.status_code == 201, planned.text
    assert planned.json()["supervision"]["stage"] == "interim"
    assert planned.json()["supervision"]["plan"] == PLAN

    progress = await post(stack, "head", fid, "progress", {"note": "防火门已订货"})
    assert progress.status_code == 201, progress.text
    assert [p["note"] for p in progress.json()["supervision"]["progress"]] == ["防火门已订货"]

    assert (await post(stack, "head", fid, "interim", {"note": "已停用"})).status_code == 403
    interim = await post(stack, "inspector", fid, "interim", {"note": "三楼东侧已停用，人员已撤离"})
    assert interim.status_code == 201, interim.text
    assert interim.json()["supervision"]["stage"] == "rectification"
    assert interim.json()["supervision"]["interim_verified_at"] is not None

    submitted = await post(stack, "head", fid, "rectification", {"note": "防火门已更换"})
    assert submitted.status_code == 201, submitted.text
    verified = await post(stack, "inspector", fid, "verification", {"accepted": True, "note": "复查合格"})
    assert verified.status_code == 201, verified.text
    assert verified.json()["status"] != "closed"
    assert verified.json()["closed_at"] is None
    assert verified.json()["supervision"]["stage"] == "acceptance"
    # Its 复查 is done: no 复查 deadline chases it while 验收 and the sign-off run on theirs.
    assert submitted.json()["review_deadline"] is not None and verified.json()["review_deadline"] is None

    assert (await post(stack, "lead", fid, "acceptance", {"accepted": True, "note": "x"})).status_code == 403
    assert (
        await post(stack, "chief2", fid, "acceptance", {"accepted": True, "note": "x"})
    ).status_code == 403
    accepted = await post(
        stack, "chief", fid, "acceptance", {"accepted": True, "note": "现场验收合格，报告附后"}
    )
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["supervision"]["stage"] == "signoff"
    assert accepted.json()["supervision"]["accepted_at"] is not None
    assert accepted.json()["status"] != "closed"
    # Whoever takes the next step was told by mail: the inspector, the section chief, the lead.
    for to, stage in (
        ("head-f1@example.cn", "治理方案"),
        ("inspector@mzj.cn", "临时措施"),
        ("chief@mzj.cn", "验收"),
        ("lead@mzj.cn", "签字"),
    ):
        await stack.wait_for(
            lambda to=to, stage=stage: [
                m for m in smtp_recorder.messages if to in m.rcpt_tos and f"待办理：{stage}" in m.subject
            ],
            what=f"the mail to {to} for {stage}",
        )
    assert not [m for m in smtp_recorder.messages if "chief2@mzj.cn" in m.rcpt_tos]

    signed = await post(stack, "lead", fid, "signoff", {"note": "同意销号"})
    assert signed.status_code == 201, signed.text
    closed = signed.json()
    assert closed["status"] == "closed" and closed["closed_at"] is not None
    assert closed["supervision"]["stage"] == "closed"
    assert closed["supervision"]["signed_off_by"]["username"] == "lead"
    assert closed["supervision"]["signed_off_at"] is not None
    assert [h["action"] for h in closed["history"]] == [
        "reported",
        "supervision_opened",
        "ordered",
        "supervision_plan",
        "supervision_progress",
        "supervision_interim_verified",
        "rectification_submitted",
        "supervision_awaits_acceptance",
        "supervision_accepted",
        "closed",
    ]
    await stack.wait_for(
        lambda: [
            m for m in smtp_recorder.messages if "head-f1@example.cn" in m.rcpt_tos and "已销号" in m.subject
        ],
        what="the closure mail",
    )


async def test_only_the_sectors_bureau_lead_signs_off(stack: Stack):
    fid = (await report_major(stack))["id"]
    early = await post(stack, "lead", fid, "signoff", {"note": "同意"})
    assert early.status_code == 409  # not yet accepted
    await through_to_signoff(stack, fid)
    for who in ("inspector", "head", "town", "lead2", "chief", "admin"):
        refused = await post(stack, who, fid, "signoff", {"note": "同意销号"})
        assert refused.status_code == 403, (who, refused.text)
    still = await view(stack, fid)
    assert still["status"] != "closed" and still["supervision"]["stage"] == "signoff"
    assert (await post(stack, "lead", fid, "signoff", {"note": ""})).json()["status"] == "closed"


async def test_a_failed_acceptance_sends_it_back_to_the_facility(stack: Stack):
    fid = (await report_major(stack))["id"]
    assert (await post(stack, "head", fid, "plan", PLAN)).status_code == 201
    assert (await post(stack, "inspector", fid, "interim", {"note": "停用到位"})).status_code == 201
    assert (await post(stack, "head", fid, "rectification", {"note": "已更换"})).status_code == 201
    assert (await post(stack, "inspector", fid, "verification", {"accepted": True})).status_code == 201
    failed = await post(stack, "chief", fid, "acceptance", {"accepted": False, "note": "闭门器未安装"})
    assert failed.status_code == 201, failed.text
    assert failed.json()["status"] == "ordered" and failed.json()["round"] == 2
    assert failed.json()["supervision"]["stage"] == "rectification"
    assert failed.json()["supervision"]["accepted_at"] is None


async def test_a_failed_acceptance_gives_the_items_own_days_and_tells_the_facility_its_report(
    stack: Stack, smtp_recorder: SmtpRecorder
):
    found = await report_major(stack)
    fid = found["id"]
    item_days = stack.catalog.item(found["item"]["code"]).deadline_days("major")
    assert item_days != stack.policy.rejection_deadline_days
    assert (await post(stack, "head", fid, "plan", PLAN)).status_code == 201
    assert (await post(stack, "inspector", fid, "interim", {"note": "停用到位"})).status_code == 201
    assert (await post(stack, "head", fid, "rectification", {"note": "已更换"})).status_code == 201
    passed = await post(stack, "inspector", fid, "verification", {"accepted": True, "note": "复查通过"})
    assert passed.status_code == 201
    failed = await post(stack, "chief", fid, "acceptance", {"accepted": False, "note": "闭门器未安装"})
    assert failed.status_code == 201, failed.text
    [step] = [h for h in failed.json()["history"] if h["action"] == "supervision_acceptance_failed"]
    # A structural fix sent back gets its item's own working days, as an inspector's rejection does.
    assert step["data"]["days"] == item_days
    assert failed.json()["deadline"] == step["data"]["due_day"]
    [mail] = await stack.wait_for(
        lambda: (
            [
                m
                for m in smtp_recorder.messages
                if "head-f1@example.cn" in m.rcpt_tos and "闭门器未安装" in _plain(m)
            ]
            or None
        ),
        what="the facility's mail of the failed acceptance",
    )
    assert "复查通过" not in _plain(mail)


async def test_the_section_chief_is_asked_for_the_acceptance_again_after_a_failed_one(
    stack: Stack, smtp_recorder: SmtpRecorder
):
    fid = (await report_major(stack))["id"]
    assert (await post(stack, "head", fid, "plan", PLAN)).status_code == 201
    assert (await post(stack, "inspector", fid, "interim", {"note": "停用到位"})).status_code == 201

    def asked() -> list:
        return [
            m for m in smtp_recorder.messages if "chief@mzj.cn" in m.rcpt_tos and "待办理：验收" in m.subject
        ]

    for round_ in (1, 2):
        assert (await post(stack, "head", fid, "rectification", {"note": "已更换"})).status_code == 201
        passed = await post(stack, "inspector", fid, "verification", {"accepted": True, "note": "复查通过"})
        assert passed.json()["supervision"]["stage"] == "acceptance"
        await stack.wait_for(
            lambda n=round_: len(asked()) >= n or None, what=f"the acceptance asked, {round_}"
        )
        if round_ == 1:
            failed = await post(
                stack, "chief", fid, "acceptance", {"accepted": False, "note": "闭门器未安装"}
            )
            assert failed.status_code == 201
    assert len(asked()) == 2


def _plain(mail) -> str:
    return mail.message.get_body(("plain",)).get_content()


async def test_a_general_finding_has_no_supervision(stack: Stack):
    general = next(
        i.code for i in stack.catalog.items(facility_type="nursing_home") if i.severity == "general"
    )
    response = await stack.client.post(
        "/api/inspections",
        headers=await stack.token("inspector"),
        json={
            "facility_id": 1,
            "mode": "unannounced",
            "client_ref": "general-1",
            "items": [{"item": general, "result": "fail"}],
        },
    )
    [found] = response.json()["findings"]
    assert found["supervision"] is None
    assert (await post(stack, "head", found["id"], "plan", PLAN)).status_code == 409


async def _actor(stack: Stack, username: str, sectors: frozenset[str] = frozenset()) -> Actor:
    async with stack.engine.connect() as conn:
        row = (await conn.execute(select(users).where(users.c.username == username))).one()
    return Actor(row.id, row.username, Role(row.role), row.facility_id, row.town, sectors)


async def test_more_time_on_a_major_is_the_section_chiefs_of_its_sector(stack: Stack):
    fid = (await report_major(stack))["id"]
    head = await _actor(stack, "head")
    now = stack.clock.now()
    async with stack.engine.begin() as conn:
        request_id = await request_extension(conn, head, fid, 10, "防火门需定制，供货周期长", now)
    deciders = {
        "inspector": await _actor(stack, "inspector"),
        "lead": await _actor(stack, "lead", frozenset({"elderly"})),
        "chief2": await _actor(stack, "chief2", frozenset({"children"})),
        "admin": await _actor(stack, "admin"),
    }
    for actor in deciders.values():
        with pytest.raises(NotAllowed):
            async with stack.engine.begin() as conn:
                await decide_extension(conn, actor, request_id, True, None, "", stack.policy, now)
    chief = await _actor(stack, "chief", frozenset({"elderly"}))
    async with stack.engine.begin() as conn:
        new_day = await decide_extension(conn, chief, request_id, True, None, "同意", stack.policy, now)
    assert new_day is not None
    async with stack.engine.connect() as conn:
        decided = (
            await conn.execute(select(extension_requests).where(extension_requests.c.id == request_id))
        ).one()
    assert decided.status == "accepted" and decided.decided_by == chief.id
    assert (await view(stack, fid))["deadline"] == new_day.isoformat()


# 2026-12-07 10:00 in Qidong: GB 35181-2025 is in force, so four fire items make a suspected 重大火灾隐患.
COMPOSITE_DAY = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


@pytest.fixture
async def quiet_stack(open_stack, database_url: str):
    """The API alone, its clock fixed: nothing reacts (the tests never wait), no mail goes out."""
    stack = await open_stack(
        database_url, fast=True, smtp=False, start=False, clock=FixedClock(COMPOSITE_DAY)
    )
    await set_sectors(stack.engine, "chief", ["elderly"])
    await set_sectors(stack.engine, "lead", ["elderly"])
    return stack


async def test_a_suspected_major_fire_hazard_waits_at_its_judgement_for_the_fire_services_answer(quiet_stack):
    stack = quiet_stack
    response = await stack.client.post(
        "/api/inspections",
        headers=await stack.token("inspector"),
        json={
            "facility_id": 1,
            "mode": "unannounced",
            "client_ref": "fire-1",
            "items": [
                {"item": code, "result": "fail", "note": "现场发现"}
                for code in ("FIRE-LANE-01", "FIRE-EXIT-01", "FIRE-HYDRANT-01", "FIRE-EXT-01")
            ],
        },
    )
    assert response.status_code == 201, response.text
    [made] = [f for f in response.json()["findings"] if f["item"]["code"] == "RULE-FIRE-COMPOSITE-01"]
    notice = made["supervision"]
    assert notice["stage"] == "judgement" and notice["referred_to"] and notice["referral_answer"] is None
    assert (await post(stack, "head", made["id"], "plan", PLAN)).status_code == 409
    assert (await post(stack, "head", made["id"], "referral", {"answer": "是"})).status_code == 403
    answered = await post(
        stack, "inspector", made["id"], "referral", {"answer": "经消防救援机构判定为重大火灾隐患"}
    )
    assert answered.status_code == 201, answered.text
    assert answered.json()["supervision"]["stage"] == "plan"
    assert answered.json()["supervision"]["referral_answer"] == "经消防救援机构判定为重大火灾隐患"
    async with stack.engine.connect() as conn:
        referral = (await conn.execute(select(referrals).where(referrals.c.finding_id == made["id"]))).one()
    assert referral.answer == "经消防救援机构判定为重大火灾隐患" and referral.answered_by == "inspector"
    again = await post(stack, "inspector", made["id"], "referral", {"answer": "再次"})
    assert again.status_code == 409
    assert (await post(stack, "head", made["id"], "plan", PLAN)).status_code == 201


class Browser:
    """One person's session on the pages, with the form token that goes with it."""

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

    async def page(self, finding_id: int) -> str:
        response = await self.client.get(f"/findings/{finding_id}")
        assert response.status_code == 200, response.text
        return response.text

    async def step(self, finding_id: int, **data: str) -> httpx.Response:
        csrf = csrf_token(self.stack.ctx.secret, self.client.cookies[COOKIE])
        return await self.client.post(f"/findings/{finding_id}/supervision", data={"csrf": csrf, **data})


FORMS = ("plan-form", "interim-form", "acceptance-form", "signoff-form", "progress-form")


def forms_in(page: str) -> list[str]:
    return [form for form in FORMS if f'id="{form}"' in page]


async def test_the_finding_page_shows_the_stages_and_the_next_form_to_whose_step_it_is(quiet_stack):
    stack = quiet_stack
    major = next(i.code for i in stack.catalog.items(facility_type="nursing_home") if i.severity == "major")
    response = await stack.client.post(
        "/api/inspections",
        headers=await stack.token("inspector"),
        json={
            "facility_id": 1,
            "mode": "routine",
            "client_ref": "page-1",
            "items": [{"item": major, "result": "fail"}],
        },
    )
    [found] = response.json()["findings"]
    fid = found["id"]
    async with stack.engine.begin() as conn:
        await issue_order(conn, response.json()["id"], stack.policy, COMPOSITE_DAY)
    people = {
        name: await Browser(stack).login(name) for name in ("head", "inspector", "town", "chief", "lead")
    }
    try:
        page = await people["head"].page(fid)
        assert "重大事故隐患挂牌督办" in page and found["supervision"]["notice_no"] in page
        assert forms_in(page) == ["plan-form"]
        # The order page sends the head to the plan before any rectification.
        order = await people["head"].client.get(f"/orders/{(await view(stack, fid))['order_id']}")
        assert f'id="supervision-first-{fid}"' in order.text and "/rectification" not in order.text
        for other in ("inspector", "town", "chief", "lead"):
            assert forms_in(await people[other].page(fid)) == [], other
        refused = await people["inspector"].step(fid, step="plan", **PLAN)
        assert refused.status_code == 403
        filed = await people["head"].step(fid, step="plan", **PLAN)
        assert filed.status_code == 303, filed.text

        page = await people["head"].page(fid)
        assert PLAN["measures"] in page and forms_in(page) == ["progress-form"]
        assert forms_in(await people["inspector"].page(fid)) == ["interim-form"]
        seen = await people["inspector"].step(fid, step="interim", note="三楼已停用")
        assert seen.status_code == 303, seen.text

        assert (await post(stack, "head", fid, "rectification", {"note": "已整改"})).status_code == 201
        page = await people["inspector"].page(fid)
        assert 'id="verify-form"' in page
        assert (await post(stack, "inspector", fid, "verification", {"accepted": True})).status_code == 201
        # Verified, it awaits 验收: no verification form any more, the chief's form instead.
        assert 'id="verify-form"' not in await people["inspector"].page(fid)
        assert "待验收" in await people["head"].page(fid)
        assert forms_in(await people["chief"].page(fid)) == ["acceptance-form"]
        assert forms_in(await people["lead"].page(fid)) == []
        accepted = await people["chief"].step(fid, step="acceptance", decision="accept", note="验收合格")
        assert accepted.status_code == 303, accepted.text

        assert forms_in(await people["lead"].page(fid)) == ["signoff-form"]
        assert forms_in(await people["chief"].page(fid)) == []
        assert (await people["town"].step(fid, step="signoff", note="")).status_code == 403
        signed = await people["lead"].step(fid, step="signoff", note="同意销号")
        assert signed.status_code == 303, signed.text
        page = await people["head"].page(fid)
        assert "分管局领导签字，销号" in page and forms_in(page) == []
        assert (await view(stack, fid))["status"] == "closed"
    finally:
        for browser in people.values():
            await browser.client.aclose()


async def test_a_downgrade_approved_takes_the_finding_off_the_track(quiet_stack):
    stack = quiet_stack
    major = next(i.code for i in stack.catalog.items(facility_type="nursing_home") if i.severity == "major")
    response = await stack.client.post(
        "/api/inspections",
        headers=await stack.token("inspector"),
        json={
            "facility_id": 1,
            "mode": "routine",
            "client_ref": "down-1",
            "items": [
                {"item": major, "result": "fail", "severity": "general", "severity_reason": "裂缝细小"}
            ],
        },
    )
    [found] = response.json()["findings"]
    # It stays major, and under supervision, until the decision.
    assert found["severity"] == "major" and found["supervision"]["stage"] == "plan"
    decided = await stack.client.post(
        f"/api/findings/{found['id']}/downgrade",
        headers=await stack.token("chief"),
        json={"approved": True, "note": "同意"},
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["severity"] == "general" and decided.json()["supervision"] is None
    assert "supervision_withdrawn" in [h["action"] for h in decided.json()["history"]]


async def test_a_downgrade_after_the_verification_is_the_sectors_and_its_review_runs_again(quiet_stack):
    stack = quiet_stack
    await add_user(
        stack.engine,
        role="section_chief",
        username="chief2",
        password=PASSWORD,
        email="chief2@mzj.cn",
        sectors=["children"],
    )
    major = next(i.code for i in stack.catalog.items(facility_type="nursing_home") if i.severity == "major")
    response = await stack.client.post(
        "/api/inspections",
        headers=await stack.token("inspector"),
        json={
            "facility_id": 1,
            "mode": "routine",
            "client_ref": "down-late",
            "items": [
                {"item": major, "result": "fail", "severity": "general", "severity_reason": "裂缝细小"}
            ],
        },
    )
    fid = response.json()["findings"][0]["id"]
    async with stack.engine.begin() as conn:  # as the pipeline does, with no broker here
        await issue_order(conn, response.json()["id"], stack.policy, COMPOSITE_DAY)
    assert (await post(stack, "head", fid, "plan", PLAN)).status_code == 201
    assert (await post(stack, "inspector", fid, "interim", {"note": "停用到位"})).status_code == 201
    assert (await post(stack, "head", fid, "rectification", {"note": "已加固"})).status_code == 201
    passed = await post(stack, "inspector", fid, "verification", {"accepted": True, "note": "复查通过"})
    assert passed.json()["supervision"]["stage"] == "acceptance"
    assert passed.json()["review_deadline"] is None

    # A section chief of another sector cannot take it off the track, nor is offered the form.
    pages = {who: await Browser(stack).login(who) for who in ("chief", "chief2")}
    try:
        assert 'id="downgrade-form"' in await pages["chief"].page(fid)
        assert 'id="downgrade-form"' not in await pages["chief2"].page(fid)
    finally:
        for browser in pages.values():
            await browser.client.aclose()
    other = await post(stack, "chief2", fid, "downgrade", {"approved": True, "note": "同意"})
    assert other.status_code == 403, other.text
    decided = await post(stack, "chief", fid, "downgrade", {"approved": True, "note": "同意"})
    assert decided.status_code == 200, decided.text
    seen = decided.json()
    assert seen["severity"] == "general" and seen["supervision"] is None and seen["status"] == "submitted"
    # Its verification is asked for again (and swept) rather than waiting for nobody.
    assert seen["review_deadline"] is not None
