"""Plans drawn at random (双随机) and their publication (一公开), on a real database through the app.

The world: eight nursing homes, four in 汇龙镇 and four in 南阳镇, and a funeral home; four inspectors holding a
执法证号, two of each town, and the usual one person of each role (whose inspector holds none, so is never drawn).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, select

from tests.integration.test_order_pages import Browser
from tests.support.stack import PASSWORD, Stack, add_facility, add_people, make_stack
from tracker.clock import FixedClock
from tracker.domain.draw import seed_hash
from tracker.domain.errors import NotFound
from tracker.domain.model import Actor, Role
from tracker.service import plans
from tracker.service.admin import add_user
from tracker.service.context import Context
from tracker.store.tables import planned_check_inspectors, planned_checks, users
from tracker.store.tables import plans as plan_rows
from tracker.web.app import create_app

T0 = datetime(2027, 1, 11, 2, 0, tzinfo=UTC)  # 10:00 in China, inside the plans' period
NO_NATS = "nats://127.0.0.1:9"
HUILONG, NANYANG = "汇龙镇", "南阳镇"
DRAWN_INSPECTORS = {"insp-a": HUILONG, "insp-b": HUILONG, "insp-c": NANYANG, "insp-d": NANYANG}


@pytest.fixture
async def stack(tmp_path: Path, database_url: str):
    stack = await make_stack(tmp_path, database_url, NO_NATS, "smtp://127.0.0.1:9", clock=FixedClock(T0))
    for n in range(1, 9):
        await add_facility(stack.engine, f"N{n}", town=HUILONG if n <= 4 else NANYANG)
    await add_facility(stack.engine, "F9", type_="funeral_home", town=HUILONG)
    await add_people(stack.engine, "N1", town=HUILONG)
    for n, (username, town) in enumerate(DRAWN_INSPECTORS.items()):
        await add_user(
            stack.engine,
            role="inspector",
            username=username,
            password=PASSWORD,
            name=f"检查员{username[-1].upper()}",
            town=town,
            warrant_no=f"3206812000{n}",
        )
    yield stack
    await stack.close()


async def drawn(stack: Stack, name: str, seed: str = "seed-2027", **kwargs) -> int:
    parameters = {"share": "0.5", "team_size": 2, "facility_type": "nursing_home", **kwargs}
    announced = await plans.announce(
        stack.engine,
        name=name,
        period_from=date(2027, 1, 1),
        period_to=date(2027, 3, 31),
        now=T0,
        seed=seed,
        created_by="chief",
        **parameters,
    )
    await plans.make_draw(stack.engine, announced.plan_id, T0)
    return announced.plan_id


async def checks_of(stack: Stack, plan_id: int) -> list[plans.drawing.DrawnCheck]:
    async with stack.engine.connect() as conn:
        return await plans.recorded_checks(conn, plan_id)


async def people(stack: Stack) -> dict[int, str]:
    async with stack.engine.connect() as conn:
        return {r.id: r.username for r in await conn.execute(select(users.c.id, users.c.username))}


async def inspect(stack: Stack, username: str, facility_id: int, ref: str, mode: str = "unannounced") -> int:
    item = next(i for i in stack.catalog.items(facility_type="nursing_home") if i.severity == "general")
    response = await stack.client.post(
        "/api/inspections",
        headers=await stack.token(username),
        json={
            "facility_id": facility_id,
            "mode": mode,
            "client_ref": ref,
            "items": [{"item": item.code, "result": "fail", "note": "消防通道堆放杂物"}],
        },
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def test_it_draws_again_the_same_from_its_seed_and_otherwise_when_the_register_changes(stack):
    first = await drawn(stack, "2027Q1")
    assert (
        len(await checks_of(stack, first)) == 4
    )  # half of eight nursing homes; the funeral home is out of scope
    assert (await plans.verify(stack.engine, "2027Q1")).ok

    # One more nursing home: the same seed over the changed register draws another plan.
    await add_facility(stack.engine, "N9", town=NANYANG)
    again = await drawn(stack, "2027Q1-again")
    assert await checks_of(stack, again) != await checks_of(stack, first)
    # The first plan still verifies: it is drawn again from the registers as they were, not as they are.
    kept = await plans.verify(stack.engine, "2027Q1")
    assert kept.ok and kept.register_changed_since

    # A team changed by hand after the draw is caught.
    some = (await checks_of(stack, first))[0]
    async with stack.engine.begin() as conn:
        check_id = await conn.scalar(
            select(planned_checks.c.id).where(
                planned_checks.c.plan_id == first, planned_checks.c.facility_id == some.facility_id
            )
        )
        await conn.execute(
            delete(planned_check_inspectors).where(
                planned_check_inspectors.c.check_id == check_id,
                planned_check_inspectors.c.user_id == some.inspector_ids[0],
            )
        )
    tampered = await plans.verify(stack.engine, "2027Q1")
    assert tampered.seed_matches_hash and not tampered.draw_matches and not tampered.ok


async def test_it_never_sends_an_inspector_to_a_facility_of_their_own_town_while_others_can_go(stack):
    plan_id = await drawn(stack, "all", share="1")
    names = await people(stack)
    async with stack.engine.connect() as conn:
        towns = dict((await conn.execute(select(users.c.id, users.c.town))).all())
        _plan, checks, teams = await plans.plan_detail(conn, Actor(0, "op", Role.ADMIN), plan_id)
    assert len(checks) == 8
    for check in checks:
        team = [p.id for p in teams[check.id]]
        assert len(team) == 2 and not check.own_town
        assert all(towns[i] != check.town for i in team), (check.code, [names[i] for i in team])
        assert all(names[i] in DRAWN_INSPECTORS for i in team)  # never the inspector without a 执法证号


async def test_a_drawn_plan_is_sealed_from_heads_and_towns_and_an_inspector_sees_only_their_own(stack):
    plan_id = await drawn(stack, "sealed", share="1")
    for username in ("head", "town", "inspector", "insp-a"):
        headers = {**await stack.token(username), "Accept": "text/html"}
        for path in ("/plans", f"/plans/{plan_id}"):
            assert (await stack.client.get(path, headers=headers)).status_code == 404, (username, path)
        closing = await stack.client.post(f"/plans/{plan_id}/close", headers=headers, data={"csrf": ""})
        assert closing.status_code == 404, username
    for username in ("chief", "lead", "admin"):
        listed = await stack.client.get("/plans", headers=await stack.token(username))
        assert listed.status_code == 200 and f'data-plan="{plan_id}"' in listed.text
        page = await stack.client.get(f"/plans/{plan_id}", headers=await stack.token(username))
        assert page.status_code == 200 and page.text.count("data-check=") == 8

    names = await people(stack)
    async with stack.engine.connect() as conn:
        mine = {
            r.check_id
            for r in await conn.execute(select(planned_check_inspectors))
            if names[r.user_id] == "insp-a"
        }
    assert mine  # teams of two over eight checks and four inspectors: everyone has some
    my_page = (await stack.client.get("/my", headers=await stack.token("insp-a"))).text
    shown = {int(part.split('"')[1]) for part in my_page.split("data-check=")[1:]}
    assert shown == mine
    # Nobody's work page shows a plan to someone who is on none of its checks.
    for username in ("inspector", "head", "town"):
        page = (await stack.client.get("/my", headers=await stack.token(username))).text
        assert "data-check=" not in page, username


async def test_a_submitted_inspection_fulfils_its_planned_check_and_only_in_an_open_plan(stack):
    plan_id = await drawn(stack, "fulfil", share="0.5")
    checks = await checks_of(stack, plan_id)
    drawn_ids = {c.facility_id for c in checks}
    target = min(drawn_ids)
    other = next(i for i in range(1, 9) if i not in drawn_ids)

    inspection_id = await inspect(stack, "insp-a", target, "plan-1")
    await inspect(stack, "insp-c", other, "plan-2")  # a facility not drawn: nothing to fulfil
    async with stack.engine.connect() as conn:
        done = dict(
            (
                await conn.execute(
                    select(planned_checks.c.facility_id, planned_checks.c.inspection_id).where(
                        planned_checks.c.plan_id == plan_id
                    )
                )
            ).all()
        )
    assert done[target] == inspection_id
    assert [f for f, i in done.items() if i is not None] == [target]

    # Once the plan is closed, an inspection of a drawn facility fulfils nothing more.
    async with stack.engine.begin() as conn:
        await plans.close_plan(conn, plan_id, "chief", T0)
    late = sorted(drawn_ids - {target})[0]
    await inspect(stack, "insp-a", late, "plan-3")
    async with stack.engine.connect() as conn:
        assert (
            await conn.scalar(
                select(planned_checks.c.inspection_id).where(
                    planned_checks.c.plan_id == plan_id, planned_checks.c.facility_id == late
                )
            )
            is None
        )


async def test_the_public_page_shows_the_checks_made_and_no_names(stack):
    plan_id = await drawn(stack, "2027年第一季度双随机抽查", share="0.5")
    checks = await checks_of(stack, plan_id)
    made, not_made = checks[0].facility_id, checks[1].facility_id
    await inspect(stack, "insp-a", made, "pub-1")

    page = await stack.client.get("/public/checks")  # nobody logged in
    assert page.status_code == 200
    assert "2027年第一季度双随机抽查" in page.text
    assert f"测试敬老院 N{made}" in page.text
    assert f"测试敬老院 N{not_made}" not in page.text  # a check not made does not tell who is still to come
    assert "四不两直" in page.text and "发现隐患 1 处" in page.text
    async with stack.engine.connect() as conn:
        everyone = (await conn.execute(select(users.c.name, users.c.username, users.c.warrant_no))).all()
    for person in everyone:
        for word in (person.name, person.warrant_no):
            if word:
                assert word not in page.text, word
    assert "消防通道堆放杂物" not in page.text  # the inspector's note
    assert "seed-2027" not in page.text  # the seed is published once the plan is closed
    async with stack.engine.begin() as conn:
        await plans.close_plan(conn, plan_id, "chief", T0)
    assert "seed-2027" in (await stack.client.get("/public/checks")).text

    closed = Context(
        settings=stack.settings.model_copy(update={"public_checks": False}),
        engine=stack.engine,
        catalog=stack.catalog,
        clock=stack.clock,
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(closed)), base_url="http://tracker.test"
    ) as client:
        assert (await client.get("/public/checks")).status_code == 404


async def test_closing_is_for_the_bureau_and_happens_once(stack):
    plan_id = await drawn(stack, "close")
    with pytest.raises(NotFound):
        await plans.close(stack.engine, Actor(1, "town", Role.TOWN_OFFICER, town=HUILONG), plan_id, T0)
    chief = Actor(1, "chief", Role.SECTION_CHIEF, display_name="周科长")
    await plans.close(stack.engine, chief, plan_id, T0)
    with pytest.raises(plans.InvalidTransition):
        await plans.close(stack.engine, chief, plan_id, T0)


async def test_a_facilitys_own_self_inspection_fulfils_no_planned_check(stack):
    plan_id = await drawn(stack, "self", share="1")
    await inspect(stack, "head", 1, "self-1", mode="self")  # the head of N1 reports on their own facility
    async with stack.engine.connect() as conn:
        fulfilled = await conn.scalar(
            select(planned_checks.c.inspection_id).where(
                planned_checks.c.plan_id == plan_id, planned_checks.c.facility_id == 1
            )
        )
    assert fulfilled is None


DRAW_FORM = {
    "name": "2027年第一季度养老机构双随机抽查",
    "from": "2027-01-01",
    "to": "2027-03-31",
    "by": "share",
    "share": "0.5",
    "count": "",
    "team_size": "2",
    "facility_type": "nursing_home",
    "seed": "页面种子-1",
}


async def plan_names(stack: Stack) -> list[str]:
    async with stack.engine.connect() as conn:
        return list((await conn.scalars(select(plan_rows.c.name).order_by(plan_rows.c.id))).all())


async def test_a_chief_draws_a_plan_on_the_page_and_it_verifies_as_drawn_on_the_command_line(stack):
    chief = await Browser(stack).login("chief")
    try:
        page = await chief.client.get("/plans")
        assert page.status_code == 200 and 'id="draw-plan"' in page.text and "抽取新计划" in page.text

        sent = await chief.client.post("/plans", data={**DRAW_FORM, "csrf": chief.csrf})
        assert sent.status_code == 303, sent.text
        plan_id = int(sent.headers["location"].split("/")[2].split("?")[0])
        shown = await chief.client.get(sent.headers["location"])
        assert shown.status_code == 200 and "计划已抽取" in shown.text
        assert seed_hash("页面种子-1") in shown.text  # the hash recorded before the draw, on the plan's page
        assert shown.text.count("data-check=") == 4  # half of the eight nursing homes

        checked = await plans.verify(stack.engine, DRAW_FORM["name"])
        assert checked.ok
        # The same parameters through the command line's function on an identical register draw the same checks.
        again = await drawn(stack, "as on the command line", seed="页面种子-1")
        assert await checks_of(stack, again) == await checks_of(stack, plan_id)

        # No seed given: one is made, kept with the plan, and the draw still verifies.
        by_count = {**DRAW_FORM, "name": "按家数", "by": "count", "count": "3", "share": "", "seed": ""}
        sent = await chief.client.post("/plans", data={**by_count, "csrf": chief.csrf})
        assert sent.status_code == 303, sent.text
        assert (await plans.verify(stack.engine, "按家数")).ok
        assert len(await checks_of(stack, int(sent.headers["location"].split("/")[2].split("?")[0]))) == 3
    finally:
        await chief.close()


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"from": "2027-04-01", "to": "2027-03-31"}, "不能早于起始日期"),
        ({"share": "0"}, "抽取比例须大于0"),
        ({"team_size": "1"}, "每组检查人员须为2至10人"),
        ({"team_size": "5"}, "持有执法证号的检查人员不足5人"),
        ({"from": "明天"}, "请填写检查期间的起始日期"),
        ({"by": "count", "count": "0"}, "抽取家数须为1家或以上"),
    ],
)
async def test_a_bad_draw_is_refused_in_words_with_the_form_kept(stack, change, said):
    chief = await Browser(stack).login("chief")
    try:
        form = {**DRAW_FORM, **change}
        refused = await chief.client.post("/plans", data={**form, "csrf": chief.csrf})
        assert refused.status_code == 400
        assert said in refused.text
        for field in ("name", "from", "to", "share", "team_size", "seed"):
            assert f'name="{field}" value="{form[field]}"' in refused.text, field
        assert '<option value="nursing_home" selected>' in refused.text
        assert await plan_names(stack) == []
    finally:
        await chief.close()


async def test_a_plan_of_the_same_name_or_without_the_form_token_is_not_drawn(stack):
    chief = await Browser(stack).login("chief")
    try:
        assert (await chief.client.post("/plans", data={**DRAW_FORM, "csrf": "forged"})).status_code == 403
        assert await plan_names(stack) == []
        await chief.client.post("/plans", data={**DRAW_FORM, "csrf": chief.csrf})
        twice = await chief.client.post("/plans", data={**DRAW_FORM, "csrf": chief.csrf})
        assert twice.status_code == 400 and "已有名为" in twice.text
        assert await plan_names(stack) == [DRAW_FORM["name"]]
    finally:
        await chief.close()


async def test_only_chiefs_leads_and_the_administrator_draw_from_the_page(stack):
    for username in ("head", "town", "inspector", "insp-a"):
        person = await Browser(stack).login(username)
        try:
            assert (await person.client.get("/plans")).status_code == 404, username
            sent = await person.client.post("/plans", data={**DRAW_FORM, "csrf": person.csrf})
            assert sent.status_code == 404, username
        finally:
            await person.close()
    assert await plan_names(stack) == []
    for n, username in enumerate(("lead", "admin")):
        person = await Browser(stack).login(username)
        try:
            form = {**DRAW_FORM, "name": f"plan {n}", "csrf": person.csrf}
            assert (await person.client.post("/plans", data=form)).status_code == 303, username
        finally:
            await person.close()
    assert await plan_names(stack) == ["plan 0", "plan 1"]
