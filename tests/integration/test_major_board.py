"""The major-hazard board on the dashboard: every open major hazard of the page's scope, its stage, the days left
at that stage, its 包保领导 and the steps taken, each linking to the finding; on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import date, datetime

import pytest

from tests.support.stack import PASSWORD, Stack
from tracker.service.admin import add_user
from tracker.stats.board import major_board
from tracker.stats.periods import local_day
from tracker.stats.query import Filter
from tracker.store.db import read

MAJOR, GENERAL = "BLDG-DANGER-01", "FIRE-EXIT-01"  # in an elderly-care home: a major and a general hazard
PLAN = {
    "measures": "东楼整体加固",
    "funds": "38万元",
    "unit": "测试敬老院F1",
    "person": "负责人F1",
    "deadline": "2027-03-31",
    "interim_measures": "东楼停用",
    "emergency_plan": "应急疏散预案",
}
ROW = re.compile(r'<li class="board-row[^"]*" data-finding="(\d+)" data-stage="(\w*)">(.*?)</li>', re.S)


@pytest.fixture
async def stack(open_stack, database_url: str):
    # The fast layer (reactions called in line): the board's queries on both databases are the point.
    stack = await open_stack(database_url, fast=True, facilities=(("F1", "汇龙镇"), ("G1", "南阳镇")))
    await add_user(stack.engine, role="town_officer", username="town2", password=PASSWORD, town="南阳镇")
    await add_user(
        stack.engine,
        role="bureau_lead",
        username="chen",
        password=PASSWORD,
        name="陈局长",
        sectors=["elderly"],
    )
    return stack


async def _report(stack: Stack, facility_id: int, ref: str, items: list[str]) -> list[dict]:
    response = await stack.client.post(
        "/api/inspections",
        headers=await stack.token("inspector"),
        json={
            "facility_id": facility_id,
            "mode": "unannounced",
            "client_ref": ref,
            "items": [{"item": code, "result": "fail", "note": "现场发现"} for code in items],
        },
    )
    assert response.status_code == 201, response.text
    return response.json()["findings"]


async def _view(stack: Stack, finding_id: int) -> dict:
    response = await stack.client.get(f"/api/findings/{finding_id}", headers=await stack.token("chief"))
    assert response.status_code == 200, response.text
    return response.json()


async def _ordered(stack: Stack, finding_id: int) -> dict:
    async def seen() -> dict | None:
        view = await _view(stack, finding_id)
        return view if view["status"] == "ordered" else None

    return await stack.wait_for(seen, what=f"finding {finding_id} ordered")


async def _board(stack: Stack, who: str) -> dict[int, tuple[str, str]]:
    page = await stack.client.get("/dashboard", headers=await stack.token(who))
    assert page.status_code == 200, page.text
    assert 'id="major-board"' in page.text
    return {int(fid): (stage, body) for fid, stage, body in ROW.findall(page.text)}


def _days(day: str, today: date) -> int:
    return (date.fromisoformat(day) - today).days


async def test_the_board_lists_the_open_majors_of_the_scope_with_stage_days_lead_and_actions(stack: Stack):
    by_item = {f["item"]["code"]: f for f in await _report(stack, 1, "f1", [MAJOR, GENERAL])}
    home_major, home_general = by_item[MAJOR]["id"], by_item[GENERAL]["id"]
    [other] = await _report(stack, 2, "g1", [MAJOR])
    other_major = other["id"]
    await _ordered(stack, home_major)
    await _ordered(stack, other_major)
    # F1's major gets its plan and its interim measure checked: it is at the rectification now.
    for who, step, body in (("head", "plan", PLAN), ("inspector", "interim", {"note": "东楼已停用"})):
        response = await stack.client.post(
            f"/api/findings/{home_major}/{step}", headers=await stack.token(who), json=body
        )
        assert response.status_code == 201, response.text
    # The sector's lead summoned F1's head for a talk (约谈): an escalation action on record.
    talk = await stack.client.post(
        f"/api/findings/{home_major}/actions",
        headers=await stack.token("chen"),
        json={"kind": "interview", "note": "约谈院长，督促落实治理方案"},
    )
    assert talk.status_code == 201, talk.text
    home, away = await _view(stack, home_major), await _view(stack, other_major)
    assert home["supervision"]["stage"] == "rectification" and away["supervision"]["stage"] == "plan"

    board = await _board(stack, "chief")
    assert set(board) == {home_major, other_major}  # the general hazard is not on it
    today = local_day(stack.clock.now())
    stage, row = board[home_major]
    assert stage == "rectification" and "整改" in row and "陈局长" in row
    # At the rectification the finding's own deadline runs.
    assert f"{_days(home['deadline'], today)} 天" in row
    assert f'href="/findings/{home_major}"' in row
    # The supervision's steps on record (the notice, the plan, the interim check) and the 约谈.
    assert re.search(r"已采取措施</span><a [^>]*>4</a> <span class=\"sub\">其中督办措施 1</span>", row)
    stage, row = board[other_major]
    assert stage == "plan" and "治理方案" in row and "陈局长" in row
    assert re.search(r"已采取措施</span><a [^>]*>1</a></span>", row)  # its notice
    assert "民安督〔" in row and f'href="/findings/{other_major}"' in row
    # The plan's own deadline, as the finding's supervision gives it.
    plan_day = local_day(datetime.fromisoformat(away["supervision"]["stage_due_at"]))
    assert f"{(plan_day - today).days} 天" in row

    # A town officer sees their own town's, and not another town's.
    assert set(await _board(stack, "town")) == {home_major}
    assert set(await _board(stack, "town2")) == {other_major}
    assert home_general not in board


async def test_the_board_reads_the_rows_nearest_deadline_first_and_counts_what_it_leaves_out(stack: Stack):
    found = [(await _report(stack, 1, f"f{n}", [MAJOR]))[0]["id"] for n in range(3)]
    for fid in found:
        await _ordered(stack, fid)
    now = stack.clock.now()
    board = await read(stack.engine, lambda conn: major_board(conn, Filter(), now, "民安督", limit=2))
    assert board.total == 3 and len(board.rows) == 2
    assert [r.stage.value for r in board.rows] == ["plan", "plan"]
    assert all(r.lead == "陈局长" and r.actions == 1 for r in board.rows)
    dues = [r.due_at for r in board.rows]
    assert dues == sorted(dues)
    nobody = await read(stack.engine, lambda conn: major_board(conn, Filter(town="南阳镇"), now, "民安督"))
    assert nobody.rows == [] and nobody.total == 0
