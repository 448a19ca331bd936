"""A finding keeps the printed basis and default grade of its facility's type, on the real databases; the
0022 migration rewrites the basis of findings recorded before, so no order printed again holds a doubt."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select, update

from tests.support.stack import add_facility, default_catalog
from tracker.domain.model import Actor, Role
from tracker.service.admin import add_user
from tracker.service.reporting import InspectionInput, ItemResult, report_inspection
from tracker.store.db import make_engine
from tracker.store.migrate import alembic_config, upgrade_async
from tracker.store.tables import findings

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
ELDERLY_STANDARD = "《养老机构重大事故隐患判定标准》（民政部办公厅，2023年11月27日）第四条第（四）项"


async def _report(
    engine, catalog, actor: Actor, facility_id: int, ref: str
) -> dict[str, tuple[str, str, bool]]:
    items = [
        ItemResult("SE-REG-01", "fail", "电梯检验合格标志已过期"),
        ItemResult("SE-USEREG-01", "fail", "锅炉未登记"),
    ]
    done = await report_inspection(
        engine, catalog, actor, InspectionInput(facility_id, "routine", ref, items), NOW
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(select(findings).where(findings.c.id.in_(done.finding_ids)))).all()
    return {row.item_code: (row.basis, row.severity, row.listed_for_supervision) for row in rows}


async def test_a_finding_keeps_the_basis_and_grade_of_its_facility_type(database_url: str) -> None:
    await upgrade_async(database_url)
    engine = make_engine(database_url)
    catalog = default_catalog()
    try:
        home = await add_facility(engine, "N1")
        funeral = await add_facility(engine, "FH1", type_="funeral_home")
        children = await add_facility(engine, "C1", type_="child_welfare_institution")
        inspector = await add_user(engine, role="inspector", username="inspector", password="correct-horse")
        actor = Actor(inspector, "inspector", Role.INSPECTOR)

        at_home = await _report(engine, catalog, actor, home, "a")
        assert at_home["SE-REG-01"] == (ELDERLY_STANDARD, "major", True)
        assert at_home["SE-USEREG-01"] == ("《中华人民共和国特种设备安全法》第三十三条", "general", False)

        at_funeral = await _report(engine, catalog, actor, funeral, "b")
        assert at_funeral["SE-REG-01"] == ("《中华人民共和国特种设备安全法》", "general", False)

        at_children = await _report(engine, catalog, actor, children, "c")
        basis, severity, _ = at_children["SE-REG-01"]
        assert basis.startswith("《儿童福利机构重大事故隐患判定标准》") and severity == "major"
    finally:
        await engine.dispose()


async def test_the_migration_rewrites_an_old_doubtful_basis(database_url: str, tmp_path: Path) -> None:
    from alembic import command

    await upgrade_async(database_url)
    engine = make_engine(database_url)
    catalog = default_catalog()
    try:
        funeral = await add_facility(engine, "FH1", type_="funeral_home")
        inspector = await add_user(engine, role="inspector", username="inspector", password="correct-horse")
        ids = (
            await report_inspection(
                engine,
                catalog,
                Actor(inspector, "inspector", Role.INSPECTOR),
                InspectionInput(
                    funeral,
                    "routine",
                    "old",
                    [ItemResult("SE-REG-01", "fail"), ItemResult("SE-MAINT-01", "fail")],
                ),
                NOW,
            )
        ).finding_ids
        # What rows recorded before this change hold: the elderly standard at a funeral home, and a doubt.
        async with engine.begin() as conn:
            await conn.execute(update(findings).where(findings.c.id == ids[0]).values(basis=ELDERLY_STANDARD))
            await conn.execute(
                update(findings)
                .where(findings.c.id == ids[1])
                .values(
                    basis="《中华人民共和国特种设备安全法》第四十五条；《电梯维护保养规则》TSG T5002（条款待核）"
                )
            )
            await conn.execute(update(findings).where(findings.c.id == ids[1]).values(item_code="SE-GONE-01"))
        url = database_url
        config = alembic_config(url)
        await _alembic(command.downgrade, config, "0022-1")
        await _alembic(command.upgrade, config, "head")
        async with engine.connect() as conn:
            rows = {
                r.id: r.basis for r in (await conn.execute(select(findings.c.id, findings.c.basis))).all()
            }
        assert rows[ids[0]] == "《中华人民共和国特种设备安全法》"
        # An item no longer in the checklists keeps its text without the doubtful part.
        assert rows[ids[1]] == "《中华人民共和国特种设备安全法》第四十五条；《电梯维护保养规则》TSG T5002"
    finally:
        await engine.dispose()


async def _alembic(action, config, revision: str) -> None:
    import asyncio

    await asyncio.to_thread(action, config, revision)
