"""Coverage against the frequencies of checklists/frequencies.yaml, on a crafted register whose answers are worked out
by hand, on SQLite and PostgreSQL; the API's exact shape and scope; the overdue-for-check reminder, once.

The period is March 2027; counted at T = 2027-04-01 00:00 (the period's end; now is 2027-04-10). T's last day is
03-31: its windows are March, Q1 and 2027; the windows before them February, Q4 2026 and 2026.

 facility  type          ownership town     frequencies (level: per window)               checks (level, local day)
 F1        nursing_home  town      汇龙镇    bureau year (rule), bureau quarter, town month  bureau 2026-12-15, town 02-10,
                                                                                           bureau 03-05 (two inspectors)
 F2        meal_point    town      汇龙镇    bureau year, town quarter                     bureau 2026-11-20, town 04-05
 F3        funeral_home  bureau    南阳镇    bureau quarter                                bureau 03-20
 F4        nursing_home  private   吕四港镇  as F1                                          bureau 2026-05-01, self 03-10
 F5        cemetery      town      南阳镇    bureau year, town quarter                     none

 F1: checked in March; due (no town check in March); not overdue (Feb town, Q4 and 2026 bureau checks made).
 F2: not checked; due (no 2027 bureau check, no Q1 town check: 04-05 is after T); overdue (no Q4 2026 town check).
 F3: checked; not due (Q1 check made); overdue (no Q4 2026 check).
 F4: not checked (a self-inspection is no check); due; overdue (no Q4 bureau, no February town check); checked
     once before (2026-05-01).
 F5: not checked, due, overdue, never checked.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.stack import PASSWORD, make_stack, prepared_engine
from tracker.checklists import load_catalog
from tracker.clock import FixedClock
from tracker.domain.calendar import LOCAL_TZ
from tracker.mail.check_reminders import queue_check_reminders
from tracker.mail.digest import digest_context
from tracker.service.admin import add_user
from tracker.stats.coverage import coverage, inspection_counts
from tracker.stats.periods import Period
from tracker.stats.query import Filter
from tracker.store.tables import facilities, inspection_inspectors, inspections, mail, users

MARCH = Period.month(2027, 3)
NOW = datetime(2027, 4, 10, 10, 0, tzinfo=LOCAL_TZ).astimezone(UTC)
TOWN_A = "汇龙镇"

REGISTER = [
    ("F1", "nursing_home", "town", TOWN_A, "elderly"),
    ("F2", "meal_point", "town", TOWN_A, "elderly"),
    ("F3", "funeral_home", "bureau", "南阳镇", "social_affairs"),
    ("F4", "nursing_home", "private", "吕四港镇", "elderly"),
    ("F5", "cemetery", "town", "南阳镇", "social_affairs"),
]
INSPECTOR, TOWN_OFFICER, HEAD, SECOND = 101, 102, 103, 104
# id: facility, submitter, mode, local day (year, month, day), team
CHECKS = {
    1: (1, INSPECTOR, "routine", (2026, 12, 15), []),
    2: (1, TOWN_OFFICER, "routine", (2027, 2, 10), [TOWN_OFFICER]),
    3: (1, INSPECTOR, "unannounced", (2027, 3, 5), [INSPECTOR, SECOND]),
    4: (2, INSPECTOR, "routine", (2026, 11, 20), [INSPECTOR]),
    5: (2, TOWN_OFFICER, "routine", (2027, 4, 5), [TOWN_OFFICER]),
    6: (3, INSPECTOR, "special", (2027, 3, 20), [INSPECTOR]),
    7: (4, HEAD, "self", (2027, 3, 10), [HEAD]),
    8: (4, INSPECTOR, "routine", (2026, 5, 1), [INSPECTOR]),
    # A lapse raised from F5's certificate register: nobody visited, so it is no check.
    9: (5, SECOND, "register", (2027, 3, 12), []),
}


def local(year: int, month: int, day: int, hour: int = 10) -> datetime:
    return datetime(year, month, day, hour, tzinfo=LOCAL_TZ).astimezone(UTC)


async def craft(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            insert(facilities),
            [
                {
                    "id": i,
                    "code": code,
                    "name": f"机构{code}",
                    "type": kind,
                    "ownership": ownership,
                    "town": town,
                    "sector": sector,
                    "head_name": f"负责人{code}",
                    "head_email": f"{code.lower()}@example.cn",
                }
                for i, (code, kind, ownership, town, sector) in enumerate(REGISTER, 1)
            ],
        )
        await conn.execute(
            insert(users),
            [
                {
                    "id": INSPECTOR,
                    "username": "i1",
                    "password_hash": "x",
                    "role": "inspector",
                    "active": True,
                },
                {
                    "id": TOWN_OFFICER,
                    "username": "t1",
                    "password_hash": "x",
                    "role": "town_officer",
                    "town": TOWN_A,
                    "active": True,
                },
                {
                    "id": HEAD,
                    "username": "h4",
                    "password_hash": "x",
                    "role": "facility_head",
                    "facility_id": 4,
                    "active": True,
                },
                {"id": SECOND, "username": "i2", "password_hash": "x", "role": "inspector", "active": True},
            ],
        )
        for n, (fac, who, mode, day, team) in CHECKS.items():
            await conn.execute(
                insert(inspections).values(
                    id=n,
                    client_ref=f"c-{n}",
                    facility_id=fac,
                    mode=mode,
                    inspector_id=who,
                    # Submitted the next day: a check counts on the day it began on site.
                    submitted_at=local(*day, hour=23) if n != 3 else local(2027, 3, 6),
                    onsite_at=local(*day),
                    checklist_versions={},
                )
            )
            if team:
                await conn.execute(
                    insert(inspection_inspectors),
                    [{"inspection_id": n, "user_id": u, "position": k} for k, u in enumerate(team)],
                )


@pytest.fixture
async def engine(database_url: str):
    engine = await prepared_engine(database_url)
    await craft(engine)
    yield engine
    await engine.dispose()


async def _coverage(engine: AsyncEngine, flt: Filter = Filter(), period: Period = MARCH, now: datetime = NOW):
    async with engine.connect() as conn:
        return await coverage(conn, period, flt, now, load_catalog())


def _codes(rows) -> set[str]:
    return {row.code for row in rows}


async def test_it_counts_coverage_as_worked_out_by_hand(engine: AsyncEngine):
    c = await _coverage(engine)
    assert c.count("facilities") == 5
    assert _codes(c.listed("checked")) == {"F1", "F3"}
    assert c.rate == pytest.approx(2 / 5)
    assert _codes(c.listed("not_checked")) == {"F2", "F4", "F5"}
    assert _codes(c.listed("due")) == {"F1", "F2", "F4", "F5"}
    assert _codes(c.listed("overdue")) == {"F2", "F3", "F4", "F5"}
    assert _codes(c.listed("never")) == {"F5"}
    rows = {row.code: row for row in c.rows}
    assert [(f.level, f.per) for f in rows["F4"].missed] == [("bureau", "quarter"), ("town", "month")]
    assert [(f.level, f.per) for f in rows["F1"].owed] == [("town", "month")]
    assert rows["F4"].last_check == local(2026, 5, 1)


async def test_a_town_sees_its_own_facilities_and_a_type_narrows_them(engine: AsyncEngine):
    town = await _coverage(engine, Filter(town=TOWN_A))
    assert _codes(town.rows) == {"F1", "F2"} and _codes(town.listed("checked")) == {"F1"}
    homes = await _coverage(engine, Filter(facility_type="nursing_home"))
    assert _codes(homes.rows) == {"F1", "F4"} and homes.rate == pytest.approx(1 / 2)


async def test_a_running_period_is_counted_at_now(engine: AsyncEngine):
    # April 2027 as of 04-10: F2's town check of 04-05 is in; Q2 and April are the running windows.
    c = await _coverage(engine, period=Period.month(2027, 4))
    assert _codes(c.listed("checked")) == {"F2"}
    assert _codes(c.listed("overdue")) == {"F1", "F2", "F4", "F5"}  # March (F1, F4) and Q1 (F2, F4, F5)


async def test_it_counts_checks_and_the_inspectors_they_took(engine: AsyncEngine):
    async with engine.connect() as conn:
        counted = await inspection_counts(conn, MARCH, Filter())
    # F1's check of 03-05 took two inspectors; F3's one; F4's self-inspection and F5's lapse are no checks.
    assert counted == {1: (1, 2), 3: (1, 1)}


async def test_it_reminds_each_section_once_per_missed_window(engine: AsyncEngine):
    await add_user(
        engine,
        role="section_chief",
        username="old",
        password=PASSWORD,
        email="old@mzj.cn",
        sectors=["elderly"],
    )
    await add_user(
        engine,
        role="section_chief",
        username="social",
        password=PASSWORD,
        email="social@mzj.cn",
        sectors=["social_affairs"],
    )
    catalog = load_catalog()
    # At 04-10: March passed without F1's and F4's town check, Q1 without F2's town, F4's bureau and F5's town
    # check, 2026 without F5's bureau check.
    assert await queue_check_reminders(engine, NOW, catalog, "https://t.example") == 4
    assert await queue_check_reminders(engine, NOW, catalog, "https://t.example") == 0
    async with engine.connect() as conn:
        sent = (
            await conn.execute(
                select(mail.c.to_addr, mail.c.about, mail.c.text_body)
                .where(mail.c.kind == "check_overdue")
                .order_by(mail.c.to_addr, mail.c.about)
            )
        ).all()
    assert [(m.to_addr, m.about) for m in sent] == [
        ("old@mzj.cn", "month-2027-03-01"),
        ("old@mzj.cn", "quarter-2027-01-01"),
        ("social@mzj.cn", "quarter-2027-01-01"),
        ("social@mzj.cn", "year-2026-01-01"),
    ]
    month = sent[0].text_body
    assert "机构F1" in month and "机构F4" in month and "机构F2" not in month and "2027年3月" in month
    assert "镇（街道）每月至少1次（本局安排）" in month
    assert "机构F5" in sent[3].text_body and "从未检查" in sent[3].text_body


async def test_the_weekly_digest_lists_the_facilities_overdue_for_a_check(engine: AsyncEngine):
    week = Period(date(2027, 3, 29), date(2027, 4, 5))
    context = await digest_context(
        engine, week, Filter(town=TOWN_A), NOW, "https://t.example", load_catalog()
    )
    # At the week's end (04-05 00:00) March and Q1 have passed: F1 missed its March town check, F2 its Q1 one.
    assert {row["name"] for row in context["check_overdue"]} == {"机构F1", "机构F2"}


@pytest.fixture
async def stack(tmp_path, database_url: str):
    stack = await make_stack(
        tmp_path, database_url, "nats://127.0.0.1:4222", "smtp://127.0.0.1:2525", clock=FixedClock(NOW)
    )
    await craft(stack.engine)
    for role, name, extra in (
        ("bureau_lead", "lead", {}),
        ("town_officer", "town", {"town": TOWN_A}),
        ("facility_head", "head", {"facility": "F1"}),
        ("inspector", "insp", {}),
    ):
        await add_user(stack.engine, role=role, username=name, password=PASSWORD, **extra)
    yield stack
    await stack.client.aclose()
    await stack.engine.dispose()


async def test_the_api_answers_exactly_its_shape_within_the_callers_scope(stack):
    query = "from=2027-03-01&to=2027-04-01"
    lead = await stack.client.get(f"/api/stats/coverage?{query}", headers=await stack.token("lead"))
    assert lead.status_code == 200, lead.text
    body = lead.json()
    assert list(body) == ["facilities", "checked", "rate", "not_checked"]
    assert (body["facilities"], body["checked"], body["rate"]) == (5, 2, pytest.approx(0.4))
    assert sorted(body["not_checked"], key=lambda f: f["id"]) == [
        {"id": 2, "code": "F2", "name": "机构F2", "town": TOWN_A},
        {"id": 4, "code": "F4", "name": "机构F4", "town": "吕四港镇"},
        {"id": 5, "code": "F5", "name": "机构F5", "town": "南阳镇"},
    ]
    town = await stack.token("town")
    own = (await stack.client.get(f"/api/stats/coverage?{query}", headers=town)).json()
    assert own == {
        "facilities": 2,
        "checked": 1,
        "rate": 0.5,
        "not_checked": [{"id": 2, "code": "F2", "name": "机构F2", "town": TOWN_A}],
    }
    other = await stack.client.get(f"/api/stats/coverage?{query}&town=南阳镇", headers=town)
    assert other.status_code == 403
    for who in ("head", "insp"):
        refused = await stack.client.get(f"/api/stats/coverage?{query}", headers=await stack.token(who))
        assert refused.status_code == 403


async def test_the_coverage_view_links_each_figure_to_its_list(stack):
    lead = await stack.token("lead")
    page = await stack.client.get(
        "/dashboard/coverage?from=2027-03-01&to=2027-04-01&list=overdue", headers=lead
    )
    assert page.status_code == 200, page.text
    assert (
        '<a href="/dashboard/coverage?from=2027-03-01&amp;to=2027-04-01&amp;list=never" id="count-never">1</a>'
        in page.text
    )
    assert page.text.count('<li data-facility="') == 4 and "40.0%" in page.text
    assert "上期未检" in page.text and "本局安排" in page.text
    assert (
        '<h2 id="listed">超期未检：4 家</h2>' in page.text and '<div class="name">应检未检</div>' in page.text
    )
    english = await stack.client.get(
        "/dashboard/coverage?from=2027-03-01&to=2027-04-01&list=overdue",
        headers={**lead, "Cookie": "lang=en"},
    )
    assert '<div class="name">Due a check</div>' in english.text and "应检未检" not in english.text
    dashboard = await stack.client.get("/dashboard?from=2027-03-01&to=2027-04-01", headers=lead)
    assert 'id="card-coverage"' in dashboard.text and "/dashboard/coverage?from=2027-03-01" in dashboard.text
    assert "从未检查 <b>1</b>" in dashboard.text
    bad = await stack.client.get("/dashboard/coverage?list=all", headers=lead)
    assert bad.status_code == 422
