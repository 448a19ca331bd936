"""Rules through report_inspection on a real database: the one composite finding GB 35181 makes for a building,
its links and referral, none at a cemetery, and a local rule that advises until a document adopts it."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.documents import pdf_words, words
from tests.support.stack import add_facility, default_catalog, prepared_engine
from tracker.documents.order import load_order, render_pdf
from tracker.domain.errors import InvalidInput
from tracker.domain.model import Actor, Role
from tracker.domain.policy import PolicySettings
from tracker.service import composite
from tracker.service.loop import issue_order
from tracker.service.reporting import InspectionInput, ItemResult, report_inspection
from tracker.store.tables import finding_links, findings, referrals, rule_notes, supervisions, users

# 2026-12-07 10:00 in Qidong: GB 35181-2025 is in force.
NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
INSPECTOR = Actor(id=1, username="insp", role=Role.INSPECTOR)
TITLE = "重大火灾隐患（综合判定，待消防救援机构确认）"


@pytest.fixture
async def engine(database_url: str):
    engine = await prepared_engine(database_url)
    async with engine.begin() as conn:
        await conn.execute(
            insert(users).values(id=1, username="insp", password_hash="x", role="inspector", name="检查员")
        )
    try:
        yield engine
    finally:
        await engine.dispose()


async def _report(engine: AsyncEngine, facility: int, ref: str, fails: list[str], **kw) -> list[int]:
    items = [
        ItemResult(code, "fail", "现场发现", quantity_met=code in kw.get("quantity", ())) for code in fails
    ]
    data = InspectionInput(facility, "unannounced", ref, items)
    return (
        await report_inspection(engine, default_catalog(), INSPECTOR, data, kw.get("now", NOW))
    ).finding_ids


async def _findings(engine: AsyncEngine, ids: list[int]) -> dict[str, object]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(findings).where(findings.c.id.in_(ids)))).all()
    return {row.item_code: row for row in rows}


async def _order_text(engine: AsyncEngine, ids: list[int]) -> str:
    async with engine.begin() as conn:
        inspection = await conn.scalar(select(findings.c.inspection_id).where(findings.c.id == ids[0]))
        event = await issue_order(conn, inspection, PolicySettings(), NOW)
        assert event is not None
        doc = await load_order(conn, event.order_id)
    return pdf_words(await asyncio.to_thread(render_pdf, doc))


async def test_it_makes_one_referred_composite_finding_linking_its_elements(engine: AsyncEngine) -> None:
    home = await add_facility(engine, "H1")
    ids = await _report(
        engine, home, "c1", ["FIRE-LANE-01", "FIRE-EXIT-01", "FIRE-HYDRANT-01", "FIRE-EXT-01"]
    )
    assert len(ids) == 5
    found = await _findings(engine, ids)
    made = found["RULE-FIRE-COMPOSITE-01"]
    assert (made.item_zh, made.severity, made.listed_for_supervision, made.category) == (
        TITLE,
        "major",
        True,
        "fire",
    )
    assert made.basis == "GB 35181-2025《重大火灾隐患判定规则》"
    assert made.description.startswith("老年人照料设施存在综合判定要素3项：")
    # The elements keep their own grade: general, not listed for supervision.
    for code in ("FIRE-LANE-01", "FIRE-EXIT-01", "FIRE-HYDRANT-01", "FIRE-EXT-01"):
        assert (found[code].severity, found[code].listed_for_supervision) == ("general", False)
    async with engine.connect() as conn:
        links = (await conn.execute(select(finding_links).order_by(finding_links.c.element_finding_id))).all()
        referral = (await conn.execute(select(referrals))).one()
    assert [(link.finding_id, link.element_finding_id, link.element) for link in links] == [
        (made.id, found["FIRE-LANE-01"].id, "LANE"),
        (made.id, found["FIRE-EXIT-01"].id, "EXIT"),
        (made.id, found["FIRE-HYDRANT-01"].id, "WATER"),
    ]
    assert (referral.finding_id, referral.agency, referral.answered_at) == (made.id, "消防救援机构", None)

    # It goes through the loop like any finding: on the order, as a major hazard with its printed basis.
    text = await _order_text(engine, ids)
    assert words(TITLE) in text and words("GB 35181-2025《重大火灾隐患判定规则》") in text
    # What it prints of its own holds no internal doubt (the items' own bases are the checklists' business).
    printed = made.item_zh + made.basis + made.description
    assert not any(word in printed for word in ("待核", "未核", "可能属", "估算"))


EVERY_ELEMENT = [
    "FIRE-LANE-01",
    "FIRE-DOOR-01",
    "FIRE-EXIT-01",
    "FIRE-EXIT-02",
    "FIRE-LIGHT-01",
    "FIRE-HYDRANT-01",
    "FIRE-AUTO-02",
    "FIRE-CTRL-01",
]


async def test_every_element_failing_still_makes_one_finding_for_each_building(engine: AsyncEngine) -> None:
    # An elderly home (老年人照料设施) and a children's centre (儿童活动场所), each failing all eight 2025 elements.
    places = {"H7": ("nursing_home", "老年人照料设施"), "K1": ("children_centre", "儿童活动场所")}
    for code, (type_, place) in places.items():
        building = await add_facility(engine, code, type_=type_)
        ids = await _report(
            engine, building, f"all-{code}", EVERY_ELEMENT, quantity=("FIRE-DOOR-01", "FIRE-LIGHT-01")
        )
        async with engine.connect() as conn:
            rows = (await conn.execute(select(findings).where(findings.c.id.in_(ids)))).all()
            made = [row for row in rows if row.item_code == "RULE-FIRE-COMPOSITE-01"]
            assert len(made) == 1, code
            links = (
                await conn.execute(select(finding_links).where(finding_links.c.finding_id == made[0].id))
            ).all()
        assert made[0].description.startswith(f"{place}存在综合判定要素8项：")
        assert len(links) == 8
        # The eight element findings keep their own grade; one major hazard stands for the building.
        assert sorted(row.severity for row in rows) == ["general"] * 8 + ["major"]
    async with engine.connect() as conn:
        assert len((await conn.execute(select(referrals))).all()) == 2


async def test_one_element_below_the_threshold_makes_nothing(engine: AsyncEngine) -> None:
    home = await add_facility(engine, "H2")
    ids = await _report(engine, home, "c2", ["FIRE-LANE-01", "FIRE-EXIT-01", "FIRE-LIGHT-01"])
    assert "RULE-FIRE-COMPOSITE-01" not in await _findings(engine, ids)
    async with engine.connect() as conn:
        assert (await conn.execute(select(referrals))).all() == []


async def test_an_inspection_before_2025_11_01_is_judged_by_the_2017_edition(engine: AsyncEngine) -> None:
    home = await add_facility(engine, "H3")
    fails = ["FIRE-EXIT-01", "FIRE-LIGHT-01", "FIRE-DOOR-01"]
    quantity = ("FIRE-LIGHT-01", "FIRE-DOOR-01")
    ids = await _report(
        engine, home, "c3", fails, quantity=quantity, now=datetime(2025, 10, 20, 2, tzinfo=UTC)
    )
    made = (await _findings(engine, ids))["RULE-FIRE-COMPOSITE-01"]
    assert made.basis == "GB 35181-2017《重大火灾隐患判定方法》"


async def test_nothing_is_made_at_a_cemetery(engine: AsyncEngine) -> None:
    cemetery = await add_facility(engine, "C1", type_="cemetery")
    fails = [
        "FIRE-LANE-01",
        "FIRE-EXIT-01",
        "FIRE-EXIT-02",
        "FIRE-HYDRANT-01",
        "FIRE-AUTO-02",
        "FIRE-CTRL-01",
    ]
    ids = await _report(engine, cemetery, "c4", fails)
    assert len(ids) == len(fails)
    assert all(row.severity == "general" for row in (await _findings(engine, ids)).values())


async def test_a_referral_is_answered_once(engine: AsyncEngine) -> None:
    home = await add_facility(engine, "H4")
    await _report(engine, home, "c5", ["FIRE-LANE-01", "FIRE-EXIT-01", "FIRE-AUTO-02"])
    [open_one] = await composite.referral_list(engine)
    await composite.answer_referral(engine, open_one.id, "经判定为重大火灾隐患", "fire-liaison", NOW)
    [answered] = await composite.referral_list(engine)
    assert (answered.answer, answered.answered_by, answered.answered_at) == (
        "经判定为重大火灾隐患",
        "fire-liaison",
        NOW,
    )
    with pytest.raises(InvalidInput, match="answered already"):
        await composite.answer_referral(engine, open_one.id, "again", "x", NOW)
    # The major hazard's notice waited at its judgement for this answer; now its plan is due.
    async with engine.connect() as conn:
        notice = (
            await conn.execute(select(supervisions).where(supervisions.c.finding_id == open_one.finding_id))
        ).one()
    assert (notice.stage, notice.referral_answer) == ("plan", "经判定为重大火灾隐患")


NIGHT = ["EBIKE-INDOOR-01", "FIRE-AUTO-02", "SVC-DUTY-01"]


async def test_the_advising_rule_changes_no_grade_and_prints_nothing_on_the_order(
    engine: AsyncEngine,
) -> None:
    home = await add_facility(engine, "H5")
    ids = await _report(engine, home, "n1", NIGHT)
    found = await _findings(engine, ids)
    assert {code: row.severity for code, row in found.items()} == dict.fromkeys(NIGHT, "general")
    async with engine.connect() as conn:
        [note] = (await conn.execute(select(rule_notes))).all()
    assert (note.rule_code, note.note, note.item_codes) == (
        "RULE-NIGHT-FIRE-01",
        "建议按重大事故隐患研判",
        NIGHT,
    )
    text = await _order_text(engine, ids)
    assert "建议按重大事故隐患研判" not in text and "RULE-NIGHT-FIRE-01" not in text
    # Every hazard the order carries is graded general.
    ordered = await _findings(engine, ids)
    assert {row.order_id is not None and row.severity for row in ordered.values()} == {"general"}


async def test_adopting_the_local_rule_with_a_document_makes_it_grade(engine: AsyncEngine) -> None:
    catalog = default_catalog()
    home = await add_facility(engine, "H6")
    await composite.adopt(
        engine, catalog, "RULE-NIGHT-FIRE-01", "启民发〔2026〕9号", date(2026, 12, 1), "admin", NOW
    )
    ids = await _report(engine, home, "n2", NIGHT)
    found = await _findings(engine, ids)
    assert {code: (row.severity, row.severity_rule) for code, row in found.items()} == dict.fromkeys(
        NIGHT, ("major", "RULE-NIGHT-FIRE-01")
    )
    states = {s.code: s for s in await composite.rule_states(engine, catalog)}
    assert (
        states["RULE-NIGHT-FIRE-01"].binding and states["RULE-NIGHT-FIRE-01"].document == "启民发〔2026〕9号"
    )
    with pytest.raises(InvalidInput, match="standard"):
        await composite.adopt(engine, catalog, "RULE-FIRE-COMPOSITE-01", "x", date(2026, 12, 1), "admin", NOW)


def test_an_admin_adopts_a_local_rule_and_answers_a_referral_from_the_command_line(tmp_path) -> None:
    import asyncio

    from tests.integration.test_cli import rows, tracker

    data = tmp_path / "data"
    assert tracker("db", "upgrade", "--data", data, cwd=tmp_path).returncode == 0
    listed = tracker("rules", "list", "--data", data, cwd=tmp_path)
    assert "RULE-NIGHT-FIRE-01  raise  advising only: no local document recorded" in listed.stdout
    assert "RULE-FIRE-COMPOSITE-01  composite  binding: standard" in listed.stdout

    adopted = tracker(
        "rules", "adopt", "RULE-NIGHT-FIRE-01", "--document", "启民发〔2026〕9号", "--effective", "2026-12-01",
        "--data", data, cwd=tmp_path,
    )  # fmt: skip
    assert adopted.returncode == 0, adopted.stderr
    assert (
        "RULE-NIGHT-FIRE-01  raise  binding: 启民发〔2026〕9号 from 2026-12-01"
        in tracker("rules", "list", "--data", data, cwd=tmp_path).stdout
    )
    refused = tracker(
        "rules", "adopt", "RULE-FIRE-COMPOSITE-01", "--document", "x", "--effective", "2026-12-01",
        "--data", data, cwd=tmp_path,
    )  # fmt: skip
    assert refused.returncode == 2 and "backed by a standard" in refused.stderr

    async def a_composite_finding() -> None:
        engine = await prepared_engine(f"sqlite+aiosqlite:///{data / 'tracker.db'}")
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    insert(users).values(
                        id=1, username="insp", password_hash="x", role="inspector", name="检"
                    )
                )
            home = await add_facility(engine, "H9")
            await _report(engine, home, "cli", ["FIRE-LANE-01", "FIRE-EXIT-01", "FIRE-AUTO-02"])
        finally:
            await engine.dispose()

    asyncio.run(a_composite_finding())
    assert (
        "   1  finding 4  消防救援机构  referred 2026-12-07  open"
        in tracker("rules", "referrals", "--data", data, cwd=tmp_path).stdout
    )

    async def night_failures() -> None:
        engine = await prepared_engine(f"sqlite+aiosqlite:///{data / 'tracker.db'}")
        try:
            home = await add_facility(engine, "H10")
            await _report(engine, home, "cli-night", NIGHT, now=datetime(2026, 11, 30, 2, tzinfo=UTC))
        finally:
            await engine.dispose()

    # Before the adopting document's effective day the local rule still only advises.
    asyncio.run(night_failures())
    assert (
        "inspection 2  RULE-NIGHT-FIRE-01  建议按重大事故隐患研判: EBIKE-INDOOR-01, FIRE-AUTO-02, SVC-DUTY-01"
        in (tracker("rules", "notes", "--data", data, cwd=tmp_path).stdout)
    )
    answered = tracker(
        "rules", "answer", "1", "--answer", "确认为重大火灾隐患", "--by", "fire-liaison", "--data", data,
        cwd=tmp_path,
    )  # fmt: skip
    assert answered.returncode == 0, answered.stderr
    assert rows(data, "SELECT answer, answered_by FROM referrals") == [("确认为重大火灾隐患", "fire-liaison")]


async def test_the_composite_finding_goes_through_the_loop_as_one_major_hazard(
    open_stack, database_url: str, smtp_recorder
) -> None:
    from tests.integration.test_loop import mails_to, wait_status
    from tests.support.stack import add_people

    # The fast layer: the reactions and the mailer called in line (the loop on the real nats-server is
    # tests/integration/test_loop.py's).
    stack = await open_stack(database_url, fast=True, start=False, facilities=())
    try:
        await add_facility(stack.engine, "F1")
        await add_people(stack.engine, "F1")
        await stack.start()
        items = [
            {"item": "FIRE-LANE-01", "result": "fail"},
            {"item": "FIRE-EXIT-01", "result": "fail"},
            # Emergency lights damaged beyond the standard's share: the inspector says so on the failure.
            {"item": "FIRE-LIGHT-01", "result": "fail", "quantity_met": True},
        ]
        response = await stack.client.post(
            "/api/inspections",
            headers=await stack.token("inspector"),
            json={"facility_id": 1, "mode": "unannounced", "client_ref": "loop-1", "items": items},
        )
        assert response.status_code == 201, response.text
        served = {f["item"]["code"]: f for f in response.json()["findings"]}
        assert set(served) == {"FIRE-LANE-01", "FIRE-EXIT-01", "FIRE-LIGHT-01", "RULE-FIRE-COMPOSITE-01"}
        made = served.pop("RULE-FIRE-COMPOSITE-01")
        assert (made["severity"], made["listed_for_supervision"]) == ("major", True)
        assert {(f["severity"], f["listed_for_supervision"]) for f in served.values()} == {("general", False)}

        # The bureau lead hears of one major hazard, the composite one; its elements raise no alert.
        [alert] = await stack.wait_for(
            lambda: mails_to(smtp_recorder, "lead@mzj.cn", "重大事故隐患"), what="the major alert"
        )
        assert TITLE in alert.message.get_body(("plain",)).get_content()
        # Ordered with the rest of the inspection, under the same order mailed to the facility head.
        view = await wait_status(stack, made["id"], "ordered")
        assert view["deadline"] is not None
        [order_mail] = await stack.wait_for(
            lambda: mails_to(smtp_recorder, "head-f1@example.cn", "整改通知"), what="the order mail"
        )
        assert TITLE in order_mail.message.get_body(("plain",)).get_content()
        # The elements are general: the one major alert queued is the composite finding's.
        assert [row.about for row in await stack.mail_rows("major_alert")] == [f"finding:{made['id']}"]
    finally:
        await stack.close()
