"""Facilities say who runs them and their sector; section chiefs and leads say which sectors they answer for."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from tracker.clock import FixedClock
from tracker.domain.model import Role
from tracker.service.admin import add_user, import_facilities, set_facility, set_sectors
from tracker.service.sectors import sector_emails, sectors_of
from tracker.store.tables import facilities, users

START = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)


@pytest.fixture
async def stack(open_stack, database_url: str):
    # Nothing started: nothing reacts, and the outbox just fills.
    return await open_stack(
        database_url, fast=True, smtp=False, start=False, facilities=(), clock=FixedClock(START)
    )


async def _facilities(stack) -> dict[str, tuple[str, str]]:
    async with stack.engine.connect() as conn:
        rows = await conn.execute(select(facilities.c.code, facilities.c.ownership, facilities.c.sector))
        return {r.code: (r.ownership, r.sector) for r in rows}


async def test_the_register_takes_ownership_and_sector_or_the_defaults_of_the_type(stack, tmp_path: Path):
    csv = tmp_path / "facilities.csv"
    csv.write_text(
        "code,name,type,town,head_name,head_email,ownership,sector\n"
        "A1,汇龙镇敬老院,nursing_home,汇龙镇,张三,a@example.cn,,\n"
        "A2,启东市中心敬老院,nursing_home,汇龙镇,李四,b@example.cn,private,\n"
        "A3,启东市殡仪馆,funeral_home,汇龙镇,王五,c@example.cn,,\n"
        "A4,启东市救助管理站,relief_station,汇龙镇,赵六,d@example.cn,,\n"
        "A5,某某敬老院,nursing_home,汇龙镇,钱七,e@example.cn,county,\n"
        "A6,某某敬老院,nursing_home,汇龙镇,孙八,f@example.cn,,welfare\n",
        encoding="utf-8",
    )
    report = await import_facilities(stack.engine, stack.catalog, csv)
    assert report.added == 4
    assert report.problems == [
        "line 6: ownership 'county' is not one of bureau, town, private",
        "line 7: sector 'welfare' is not one of elderly, children, social_affairs, relief",
    ]
    assert await _facilities(stack) == {
        "A1": ("town", "elderly"),
        "A2": ("private", "elderly"),
        "A3": ("bureau", "social_affairs"),
        "A4": ("bureau", "relief"),
    }


async def test_a_register_without_the_new_columns_still_imports(stack, tmp_path: Path):
    csv = tmp_path / "facilities.csv"
    csv.write_text(
        "code,name,type,town,head_name,head_email\nB1,未成年人保护中心,children_centre,汇龙镇,张三,a@example.cn\n",
        encoding="utf-8",
    )
    report = await import_facilities(stack.engine, stack.catalog, csv)
    assert (report.added, report.problems) == (1, [])
    assert await _facilities(stack) == {"B1": ("bureau", "children")}
    await set_facility(stack.engine, "B1", ownership="private")
    assert await _facilities(stack) == {"B1": ("private", "children")}
    with pytest.raises(ValueError, match="--sector"):
        await set_facility(stack.engine, "B1", sector="welfare")
    with pytest.raises(ValueError, match="no facility"):
        await set_facility(stack.engine, "NOPE", sector="relief")


async def test_chiefs_and_leads_answer_for_their_sectors_only(stack):
    common = {"password": "long-enough-1"}
    chief = await add_user(
        stack.engine,
        role="section_chief",
        username="yang",
        email="yang@mzj.example.cn",
        sectors=["elderly"],
        **common,
    )
    lead = await add_user(
        stack.engine,
        role="bureau_lead",
        username="chen",
        email="chen@mzj.example.cn",
        sectors=["elderly", "children", "elderly"],
        **common,
    )
    await add_user(
        stack.engine,
        role="section_chief",
        username="zhou",
        email="zhou@mzj.example.cn",
        sectors=["relief"],
        **common,
    )
    async with stack.engine.connect() as conn:
        assert await sectors_of(conn, chief) == {"elderly"}
        assert await sectors_of(conn, lead) == {"elderly", "children"}
        assert await sector_emails(conn, Role.SECTION_CHIEF, "elderly") == ["yang@mzj.example.cn"]
        assert await sector_emails(conn, Role.BUREAU_LEAD, "children") == ["chen@mzj.example.cn"]
        assert await sector_emails(conn, Role.BUREAU_LEAD, "relief") == []
    with pytest.raises(ValueError, match="--sector: only a section chief or a bureau lead"):
        await add_user(stack.engine, role="inspector", username="li", sectors=["elderly"], **common)
    with pytest.raises(ValueError, match="unknown sector"):
        await add_user(stack.engine, role="bureau_lead", username="wu", sectors=["welfare"], **common)
    async with stack.engine.connect() as conn:
        assert not (await conn.execute(select(users.c.id).where(users.c.username.in_(["li", "wu"])))).all()

    await set_sectors(stack.engine, "chen", ["relief"])
    async with stack.engine.connect() as conn:
        assert await sectors_of(conn, lead) == {"relief"}
        assert await sector_emails(conn, Role.BUREAU_LEAD, "elderly") == []


async def test_a_major_hazard_is_told_to_the_leads_of_its_sector_only(stack):
    """The alert of a new major hazard, its closure and a facility's own report of one go to the people of the
    facility's sector; a sector with nobody recorded falls back to everyone of the role."""
    from tests.support.stack import add_facility
    from tracker.domain.model import Actor
    from tracker.service import notify
    from tracker.service.reporting import InspectionInput, ItemResult, report_inspection
    from tracker.store.tables import mail

    home = await add_facility(stack.engine, "E1")  # a nursing home: the elderly sector
    relief = await add_facility(stack.engine, "R1", type_="relief_station")
    async with stack.engine.begin() as conn:
        await conn.execute(facilities.update().where(facilities.c.id == relief).values(sector="relief"))
    common = {"password": "long-enough-1"}
    inspector = await add_user(stack.engine, role="inspector", username="li", email="li@mzj.cn", **common)
    for username, role, sector in [
        ("lead-e", "bureau_lead", "elderly"),
        ("lead-c", "bureau_lead", "children"),
        ("chief-e", "section_chief", "elderly"),
        ("chief-c", "section_chief", "children"),
    ]:
        await add_user(
            stack.engine, role=role, username=username, email=f"{username}@mzj.cn", sectors=[sector], **common
        )
    major = next(i.code for i in stack.catalog.items(facility_type="nursing_home") if i.severity == "major")
    who = Actor(inspector, "li", Role.INSPECTOR)

    async def alerted(facility_id: int, ref: str) -> list[str]:
        reported = await report_inspection(
            stack.engine,
            stack.catalog,
            who,
            InspectionInput(facility_id, "unannounced", ref, [ItemResult(major, "fail", "东楼墙体开裂")]),
            START,
        )
        [finding_id] = reported.finding_ids
        async with stack.engine.begin() as conn:
            await notify.major_reported(conn, stack.ctx, finding_id, START)
            rows = await conn.execute(
                select(mail.c.to_addr).where(
                    mail.c.kind == "major_alert", mail.c.about == f"finding:{finding_id}"
                )
            )
            return sorted(rows.scalars())

    assert await alerted(home, "m-1") == ["lead-e@mzj.cn"]
    # Nobody answers for relief: every lead hears rather than nobody.
    assert await alerted(relief, "m-2") == ["lead-c@mzj.cn", "lead-e@mzj.cn"]
