"""Migration 0024 gives the open major findings already recorded their supervision notice, numbered per year."""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy import text

from tracker.store.db import make_engine
from tracker.store.migrate import upgrade


async def test_open_majors_get_their_notice_and_the_closed_ones_none(database_url: str):
    await asyncio.to_thread(upgrade, database_url, "0023")
    engine = make_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO facilities (id, code, name, type, town, head_name, head_email, ownership, sector)"
                    " VALUES (1, 'F1', '敬老院', 'nursing_home', '汇龙镇', '张', 'h@example.cn', 'town', 'elderly')"
                )
            )
            for uid, name, role in ((1, "insp", "inspector"), (2, "lead", "bureau_lead")):
                await conn.execute(
                    text(
                        "INSERT INTO users (id, username, password_hash, role, name, active)"
                        " VALUES (:id, :name, 'x', :role, :name, :yes)"
                    ),
                    {"id": uid, "name": name, "role": role, "yes": True},
                )
            await conn.execute(text("INSERT INTO user_sectors (user_id, sector) VALUES (2, 'elderly')"))
            await conn.execute(
                text(
                    "INSERT INTO inspections (id, facility_id, mode, inspector_id, submitted_at, client_ref,"
                    " checklist_versions, person_present) VALUES (1, 1, 'routine', 1, :at, 'r1', '{}', '')"
                ),
                {"at": datetime(2026, 3, 1, 2)},
            )
            rows = [
                (1, "major", "ordered", datetime(2026, 3, 1, 2)),
                (2, "major", "submitted", datetime(2026, 3, 2, 2)),
                (3, "major", "closed", datetime(2026, 3, 3, 2)),
                (4, "general", "ordered", datetime(2026, 3, 4, 2)),
                (5, "major", "ordered", datetime(2025, 12, 31, 17)),  # 2026-01-01 01:00 in China
            ]
            for fid, severity, status, at in rows:
                await conn.execute(
                    text(
                        "INSERT INTO findings (id, inspection_id, facility_id, item_code, category, item_zh, item_en,"
                        " basis, severity, stop_use, description, status, listed_for_supervision,"
                        " escalation_level, round, reported_at, town, facility_type, mode, is_repeat, due_estimated)"
                        " VALUES (:id, 1, 1, 'X', 'fire', '项', 'item', '依据', :severity, :no, '', :status,"
                        " :no, 0, 1, :at, '汇龙镇', 'nursing_home', 'routine', :no, :no)"
                    ),
                    {"id": fid, "severity": severity, "status": status, "at": at, "no": False},
                )
    finally:
        await engine.dispose()
    await asyncio.to_thread(upgrade, database_url, "0024")
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            notices = (
                await conn.execute(
                    text(
                        "SELECT finding_id, year, number, stage, lead_id, judged_by, judged_basis FROM supervisions"
                        " ORDER BY finding_id"
                    )
                )
            ).all()
            counted = dict(
                (await conn.execute(text("SELECT year, last_number FROM supervision_numbers"))).all()
            )
    finally:
        await engine.dispose()
    assert [tuple(n) for n in notices] == [
        (1, 2026, 2, "plan", 2, 1, "依据"),
        (2, 2026, 3, "rectification", 2, 1, "依据"),
        (5, 2026, 1, "plan", 2, 1, "依据"),
    ]
    assert counted == {2026: 3}
