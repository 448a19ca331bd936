"""The hazard ledger (隐患台账) as the bureau opens it in Excel: its columns, a hazard's whole history in one row,
a defect fixed during the visit, the period's days both included, and only the towns the reader may see; from the
dashboard's link and from `tracker report --ledger`."""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.integration.test_cli import clean_env
from tests.support.stack import PASSWORD, Stack, add_facility, add_people, login_token
from tracker.documents.ledger import COLUMNS
from tracker.domain.model import Actor, Role
from tracker.domain.policy import PolicySettings
from tracker.service.admin import add_user
from tracker.service.loop import (
    decide_extension,
    issue_order,
    request_extension,
    submit_rectification,
    verify,
)
from tracker.service.reporting import InspectionInput, ItemResult, report_inspection
from tracker.stats.periods import Period
from tracker.store.tables import (
    extension_requests,
    facilities,
    findings,
    inspection_inspectors,
    inspection_items,
    users,
)
from tracker.web.app import create_app

EXPECTED_COLUMNS = [
    "序号",
    "检查日期",
    "检查人员",
    "单位",
    "隐患部位及描述",
    "类别",
    "等级",
    "依据",
    "整改措施",
    "责任人",
    "整改期限",
    "是否当场整改",
    "是否挂牌督办",
    "延期情况",
    "督办措施",
    "整改完成日期",
    "复查人",
    "复查日期",
    "复查结论",
    "销号日期",
]


def at(day: int, hour: int = 10) -> datetime:
    """`hour` o'clock China time on a day of November 2026."""
    return datetime(2026, 11, day, hour - 8, 0, tzinfo=UTC)


@pytest.fixture
async def stack(open_stack, database_url: str) -> Stack:
    # The pages and services alone: no broker, relay or mailer takes part in a ledger.
    return await open_stack(database_url, fast=True, smtp=False, start=False, facilities=())


async def _actor(engine: AsyncEngine, username: str) -> Actor:
    async with engine.connect() as conn:
        row = (await conn.execute(select(users).where(users.c.username == username))).one()
    return Actor(
        id=row.id, username=row.username, role=Role(row.role), facility_id=row.facility_id, town=row.town
    )


async def _inspect(
    stack: Stack, actor: Actor, facility_id: int, ref: str, items: list[ItemResult], when: datetime
):
    reported = await report_inspection(
        stack.engine, stack.catalog, actor, InspectionInput(facility_id, "unannounced", ref, items), when
    )
    async with stack.engine.begin() as conn:
        await issue_order(conn, reported.inspection_id, PolicySettings(), when)
    return reported


async def _a_month_of_work(stack: Stack) -> None:
    """汇龙镇's home, checked on 3 November by 王明 and 李红: an exit blocked (ordered, more time granted, fixed,
    verified, closed) and an extinguisher fixed during the visit; 南阳镇's home on 5 November: a major hazard;
    汇龙镇's home again on 9 November, the day after the period."""
    home = await add_facility(stack.engine, "F1")
    other = await add_facility(stack.engine, "F2", town="南阳镇")
    await add_people(stack.engine, "F1")
    async with stack.engine.begin() as conn:
        await conn.execute(update(users).where(users.c.username == "inspector").values(name="王明"))
        await conn.execute(update(users).where(users.c.username == "chief").values(name="陈科长"))
    colleague = await add_user(stack.engine, role="inspector", username="li", password=PASSWORD, name="李红")
    inspector, head, chief = [await _actor(stack.engine, u) for u in ("inspector", "head", "chief")]

    first = await _inspect(
        stack,
        inspector,
        home,
        "nov-3",
        [ItemResult("FIRE-EXIT-01", "fail", note="东侧楼梯间堆放杂物"), ItemResult("FIRE-ELEC-01", "pass")],
        at(3),
    )
    async with stack.engine.begin() as conn:
        await conn.execute(
            insert(inspection_inspectors),
            [
                {"inspection_id": first.inspection_id, "user_id": colleague, "position": 1},
            ],
        )
        await conn.execute(
            insert(inspection_items).values(
                inspection_id=first.inspection_id,
                item_code="FIRE-EXT-01",
                result="fixed",
                note="更换过期灭火器2具",
            )
        )
    [exit_blocked] = first.finding_ids
    async with stack.engine.begin() as conn:
        request_id = await request_extension(conn, head, exit_blocked, 3, "需联系清运", at(3, 15))
    async with stack.engine.begin() as conn:
        await decide_extension(conn, chief, request_id, True, None, "同意", PolicySettings(), at(4))
    async with stack.engine.begin() as conn:
        await submit_rectification(conn, head, exit_blocked, "已清理", [], at(6))
    async with stack.engine.begin() as conn:
        await verify(conn, chief, exit_blocked, True, "通道畅通", [], PolicySettings(), at(9))

    # A head's name that reads like a formula, as an export's reader must never see run.
    async with stack.engine.begin() as conn:
        await conn.execute(
            update(facilities).where(facilities.c.id == other).values(head_name='=HYPERLINK("x")')
        )
    await _inspect(stack, inspector, other, "nov-5", [ItemResult("FIRE-COND-01", "fail")], at(5))
    await _inspect(stack, inspector, home, "nov-9", [ItemResult("FIRE-ELEC-01", "fail")], at(9, 9))


def _sheet(data: bytes) -> tuple[str, list[str], list[list]]:
    sheet = load_workbook(io.BytesIO(data)).active
    title = sheet.cell(row=1, column=1).value
    headers = [c.value for c in sheet[2]]
    rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=3)]
    return title, headers, rows


def _day(value: object) -> date | None:
    return value.date() if isinstance(value, datetime) else value  # openpyxl reads a date cell as a datetime


async def test_the_ledger_holds_each_hazard_and_each_defect_fixed_on_the_spot(stack: Stack) -> None:
    await _a_month_of_work(stack)
    async with stack.engine.connect() as conn:
        closed = (await conn.execute(select(findings).where(findings.c.item_code == "FIRE-EXIT-01"))).one()
        [granted] = (await conn.execute(select(extension_requests))).all()
    chief = await _logged_in(stack, "chief")
    response = await chief.get("/dashboard/ledger.xlsx", params={"from": "2026-11-02", "to": "2026-11-09"})
    assert response.status_code == 200
    title, headers, rows = _sheet(response.content)

    assert list(COLUMNS) == EXPECTED_COLUMNS and headers == EXPECTED_COLUMNS
    assert title == "隐患台账（全县，2026年11月2日至11月8日）"
    assert [r[0] for r in rows] == [1, 2, 3]  # the 9 November inspection is after the period
    exit_row, fixed_row, major_row = (dict(zip(headers, r, strict=True)) for r in rows)

    assert _day(exit_row["检查日期"]) == date(2026, 11, 3)
    assert exit_row["检查人员"] == "王明、李红" and exit_row["单位"] == "测试敬老院 F1"
    assert exit_row["隐患部位及描述"] == "安全出口、疏散通道上锁、堵塞或被占用（东侧楼梯间堆放杂物）"
    assert exit_row["类别"] == "消防安全" and exit_row["等级"] == "一般事故隐患"
    assert exit_row["依据"] == "《中华人民共和国消防法》第二十八条"  # the checklist's doubt left out
    assert exit_row["整改措施"] == "立即整改，消除隐患" and exit_row["责任人"] == "负责人F1"
    assert _day(exit_row["整改期限"]) == closed.due_day == granted.new_due_day
    assert exit_row["是否当场整改"] == "否" and exit_row["是否挂牌督办"] == "否"
    due = granted.new_due_day
    assert (
        exit_row["延期情况"]
        == f"2026年11月3日申请延期3个工作日，已同意，延至{due.year}年{due.month}月{due.day}日"
    )
    assert _day(exit_row["整改完成日期"]) == date(2026, 11, 6)
    assert exit_row["复查人"] == "陈科长" and _day(exit_row["复查日期"]) == date(2026, 11, 9)
    assert exit_row["复查结论"] == "合格：通道畅通" and _day(exit_row["销号日期"]) == date(2026, 11, 9)

    assert fixed_row["是否当场整改"] == "是" and fixed_row["等级"] == "一般事故隐患"
    assert (
        fixed_row["隐患部位及描述"].startswith("灭火器")
        and fixed_row["整改措施"] == "当场整改：更换过期灭火器2具"
    )
    assert fixed_row["整改期限"] is None and _day(fixed_row["整改完成日期"]) == date(2026, 11, 3)

    assert major_row["单位"] == "测试敬老院 F2" and major_row["等级"] == "重大事故隐患"
    assert major_row["是否挂牌督办"] == "是" and major_row["销号日期"] is None
    # A name that reads like a formula stays a name.
    sheet = load_workbook(io.BytesIO(response.content)).active
    cell = sheet.cell(row=5, column=EXPECTED_COLUMNS.index("责任人") + 1)
    assert cell.data_type == "s" and cell.value == '=HYPERLINK("x")' and cell.quotePrefix


async def test_a_town_officer_gets_the_ledger_of_their_town_and_an_inspector_none(stack: Stack) -> None:
    await _a_month_of_work(stack)
    period = {"from": "2026-11-02", "to": "2026-11-09"}
    town = await _logged_in(stack, "town")  # 汇龙镇
    title, _, rows = _sheet((await town.get("/dashboard/ledger.xlsx", params=period)).content)
    assert title == "隐患台账（汇龙镇，2026年11月2日至11月8日）" and {r[3] for r in rows} == {"测试敬老院 F1"}
    other = await town.get("/dashboard/ledger.xlsx", params={**period, "town": "南阳镇"})
    assert other.status_code == 403
    inspector = await _logged_in(stack, "inspector")
    assert (await inspector.get("/dashboard/ledger.xlsx", params=period)).status_code == 403
    dashboard = await (await _logged_in(stack, "chief")).get("/dashboard", params=period)
    assert (
        'id="export-ledger"' in dashboard.text and "/dashboard/ledger.xlsx?from=2026-11-02" in dashboard.text
    )


async def test_the_command_writes_the_ledger_of_one_town(
    stack: Stack, database_url: str, tmp_path: Path
) -> None:
    await _a_month_of_work(stack)
    out = tmp_path / "ledger.xlsx"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tracker",
            "report",
            "--ledger",
            "--from",
            "2026-11-02",
            "--to",
            "2026-11-09",
            "--town",
            "汇龙镇",
            "--out",
            str(out),
        ],
        cwd=tmp_path,
        env=clean_env(TRACKER_DATABASE_URL=database_url, TRACKER_COUNTY_WORD="全市"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    title, headers, rows = _sheet(out.read_bytes())
    assert title == "隐患台账（汇龙镇，2026年11月2日至11月9日）" and headers == EXPECTED_COLUMNS
    # Both days included: the 9 November inspection is in; 南阳镇's is not.
    assert [r[3] for r in rows] == ["测试敬老院 F1"] * 3
    assert "wrote" in done.stdout and "3 row(s)" in done.stdout


def test_a_period_is_written_with_both_days_and_no_interval() -> None:
    assert Period(date(2026, 11, 2), date(2026, 11, 9)).words() == "2026年11月2日至11月8日"
    assert Period(date(2026, 12, 28), date(2027, 1, 4)).words() == "2026年12月28日至2027年1月3日"
    assert Period(date(2026, 11, 2), date(2026, 11, 9)).label() == "2026年11月2日至11月8日"


async def _logged_in(stack: Stack, username: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(stack.ctx)), base_url="http://tracker.test"
    )
    form = await client.get("/login")
    response = await client.post(
        "/login",
        data={
            "username": username,
            "password": PASSWORD,
            "next": "/my",
            "login_token": login_token(form.text),
        },
    )
    assert response.status_code == 303, response.text
    stack.tasks.append(_closing(client, stack))
    return client


def _closing(client: httpx.AsyncClient, stack: Stack) -> asyncio.Task:
    async def close() -> None:
        await stack.stop.wait()
        await client.aclose()

    return asyncio.get_running_loop().create_task(close())
