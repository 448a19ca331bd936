"""Each facility's register of what expires, on SQLite and PostgreSQL: imported by CSV all or nothing, kept by the
facility's head on its page, reminded 30 and 7 days before to the head and the section once each, and on expiry
one finding on the kind's checklist item that the worker orders as any other, however often the sweep runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.integration.test_actions import add_team
from tests.integration.test_order_pages import Browser
from tests.support import NatsServer, SmtpRecorder
from tests.support.documents import pdf_words
from tests.support.stack import Stack, add_facility, make_stack
from tracker.clock import FixedClock
from tracker.documents.order import load_order, render_pdf
from tracker.service.certificates import ImportRejected, import_csv, sweep_certificates
from tracker.service.reporting import Notices
from tracker.store.tables import certificates, findings, inspections, mail, orders

# Monday 2026-11-02, 09:00 in Shanghai.
T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
EXPIRES = date(2026, 12, 15)
NO_NATS = "nats://127.0.0.1:9"

GOOD = """facility,kind,label,number,expires_on
F1,lift_inspection,1号梯,T-2019-001,2026-12-15
F1,health_certificate,张三,JK-88,2027-03-01
F2,fire_system_test,主楼,,2027-05-31
"""

BAD = """facility,kind,label,number,expires_on
F1,lift_inspection,2号梯,T-2019-002,2026-12-20
F9,lift_inspection,1号梯,,2026-12-15
F1,spaceship,1号,,2026-12-15
F1,boiler_inspection,1号炉,,15/12/2026
F1,lift_inspection,,,2026-12-15
F1,lift_inspection,2号梯,,2026-12-21
"""


def at(day: date) -> datetime:
    """09:00 of a local day."""
    return datetime(day.year, day.month, day.day, 1, 0, tzinfo=UTC)


@pytest.fixture
async def stack(tmp_path: Path, database_url: str) -> AsyncIterator[Stack]:
    stack = await make_stack(tmp_path, database_url, NO_NATS, "smtp://127.0.0.1:9", clock=FixedClock(T0))
    await add_facility(stack.engine, "F1")  # 敬老院: elderly sector
    await add_facility(stack.engine, "F2", town="南阳镇")
    await add_team(stack)
    yield stack
    await stack.close()


async def entries(stack: Stack) -> list:
    async with stack.engine.connect() as conn:
        return list((await conn.execute(select(certificates).order_by(certificates.c.id))).all())


async def test_it_imports_a_good_csv_and_refuses_a_bad_one_whole_naming_each_line(stack: Stack):
    done = await import_csv(stack.engine, stack.catalog, GOOD, T0)
    assert (done.added, done.changed, done.unchanged) == (3, 0, 0)
    assert [(e.kind, e.label, e.expires_on) for e in await entries(stack)] == [
        ("lift_inspection", "1号梯", EXPIRES),
        ("health_certificate", "张三", date(2027, 3, 1)),
        ("fire_system_test", "主楼", date(2027, 5, 31)),
    ]

    with pytest.raises(ImportRejected) as rejected:
        await import_csv(stack.engine, stack.catalog, BAD, T0)
    problems = rejected.value.problems
    assert [p.split(":")[0] for p in problems] == ["line 3", "line 4", "line 5", "line 6", "line 7"]
    assert "F9" in problems[0] and "spaceship" in problems[1] and "15/12/2026" in problems[2]
    assert "label" in problems[3] and "line 2" in problems[4]
    # Line 2 was good, but nothing of a faulty file is imported.
    assert len(await entries(stack)) == 3

    # The same file again changes nothing; a new date for the lift is a change.
    again = await import_csv(stack.engine, stack.catalog, GOOD.replace("2026-12-15", "2027-12-15"), T0)
    assert (again.added, again.changed, again.unchanged) == (0, 1, 2)


async def test_a_head_sees_and_keeps_only_their_own_facilitys_register(stack: Stack):
    await import_csv(stack.engine, stack.catalog, GOOD, T0)
    head = await Browser(stack).login("head")
    chief = await Browser(stack).login("chief")
    try:
        own = await head.client.get("/facilities/1/certificates")
        assert own.status_code == 200
        assert "1号梯" in own.text and 'id="cert-add"' in own.text
        assert "主楼" not in own.text  # F2's entry
        assert (await head.client.get("/facilities/2/certificates")).status_code == 404
        home = await head.client.get("/certificates")
        assert home.status_code == 303 and home.headers["location"] == "/facilities/1/certificates"

        added = await head.client.post(
            "/facilities/1/certificates",
            data={
                "csrf": head.csrf,
                "kind": "food_licence",
                "label": "食堂",
                "number": "JY1320",
                "expires_on": "2027-06-30",
            },
        )
        assert added.status_code == 303, added.text
        elsewhere = await head.client.post(
            "/facilities/2/certificates",
            data={"csrf": head.csrf, "kind": "food_licence", "label": "食堂", "expires_on": "2027-06-30"},
        )
        assert elsewhere.status_code == 404
        assert [(e.facility_id, e.label) for e in await entries(stack) if e.kind == "food_licence"] == [
            (1, "食堂")
        ]

        # The section reads any facility's register but keeps none.
        seen = await chief.client.get("/facilities/2/certificates")
        assert seen.status_code == 200 and "主楼" in seen.text and 'id="cert-add"' not in seen.text
        refused = await chief.client.post(
            "/facilities/1/certificates",
            data={"csrf": chief.csrf, "kind": "food_licence", "label": "二食堂", "expires_on": "2027-06-30"},
        )
        assert refused.status_code == 403
        assert len(await entries(stack)) == 4
    finally:
        await head.close()
        await chief.close()


async def sweep(stack: Stack, day: date):
    return await sweep_certificates(stack.engine, stack.catalog, at(day), "http://tracker.test", Notices())


async def mails(stack: Stack) -> list[tuple[str, str]]:
    async with stack.engine.connect() as conn:
        rows = await conn.execute(
            select(mail.c.kind, mail.c.to_addr, mail.c.subject).where(mail.c.kind.like("certificate%"))
        )
        return sorted((r.kind, r.to_addr) for r in rows)


async def test_it_reminds_the_head_and_the_section_30_and_7_days_before_once_each(stack: Stack):
    await import_csv(stack.engine, stack.catalog, GOOD, T0)
    month_before = EXPIRES - timedelta(days=30)
    assert (await sweep(stack, month_before - timedelta(days=1))).reminded == []
    first = await sweep(stack, month_before)
    assert first.reminded == [((await entries(stack))[0].id, 30)]
    expected = [("certificate_due", "head@example.cn"), ("certificate_due_staff", "chief@mzj.cn")]
    assert await mails(stack) == expected
    # Again the same day, the next day, after a restart (a new sweep is all a restart is): nothing new.
    for day in (month_before, month_before + timedelta(days=1), EXPIRES - timedelta(days=8)):
        again = await sweep(stack, day)
        assert again.reminded == [] and again.mails == 0
    assert await mails(stack) == expected

    week = await sweep(stack, EXPIRES - timedelta(days=7))
    assert [days for _, days in week.reminded] == [7]
    assert await mails(stack) == sorted(expected * 2)
    assert (await sweep(stack, EXPIRES - timedelta(days=6))).mails == 0
    assert await mails(stack) == sorted(expected * 2)
    async with stack.engine.connect() as conn:
        subjects = (
            await conn.execute(select(mail.c.subject).where(mail.c.kind == "certificate_due"))
        ).scalars()
        assert sorted(subjects) == sorted(
            [
                "【证照到期提醒】1 项证照或检验将于 30 日内到期",
                "【证照到期提醒】1 项证照或检验将于 7 日内到期",
            ]
        )


@pytest.fixture
async def loop_stack(
    tmp_path: Path, database_url: str, own_nats: NatsServer, smtp_recorder: SmtpRecorder
) -> AsyncIterator[Stack]:
    stack = await make_stack(tmp_path, database_url, own_nats.url, smtp_recorder.url, clock=FixedClock(T0))
    await add_facility(stack.engine, "F1")
    await add_facility(stack.engine, "F2", town="南阳镇")
    await add_team(stack)
    await stack.start()
    yield stack
    await stack.close()


async def counted(stack: Stack) -> tuple[int, int, int]:
    async with stack.engine.connect() as conn:
        return (
            await conn.scalar(select(func.count()).select_from(findings)),
            await conn.scalar(select(func.count()).select_from(orders)),
            await conn.scalar(select(func.count()).select_from(inspections)),
        )


async def test_an_expiry_raises_one_finding_and_one_order_once_however_often_the_sweep_runs(
    loop_stack: Stack, smtp_recorder: SmtpRecorder
):
    stack = loop_stack
    await import_csv(stack.engine, stack.catalog, GOOD, T0)
    lapsed_day = EXPIRES + timedelta(days=1)
    assert (await sweep(stack, EXPIRES)).lapsed == []  # the last valid day
    first = await sweep(stack, lapsed_day)
    second = await sweep(stack, lapsed_day)
    assert len(first.lapsed) == 1 and second.lapsed == []
    entry_id, finding_id = first.lapsed[0]

    async def ordered() -> bool:
        async with stack.engine.connect() as conn:
            return (
                await conn.scalar(select(findings.c.status).where(findings.c.id == finding_id)) == "ordered"
            )

    await stack.wait_for(ordered, what="the worker to order the lapsed certificate's finding")
    async with stack.engine.connect() as conn:
        row = (await conn.execute(select(findings).where(findings.c.id == finding_id))).one()
        assert (
            await conn.execute(select(certificates.c.finding_id).where(certificates.c.id == entry_id))
        ).scalar() == (finding_id)
    assert (row.item_code, row.mode, row.facility_id) == ("SE-REG-01", "register", 1)
    assert "1号梯" in row.description and "2026-12-15" in row.description
    assert row.order_id is not None
    # The order says the register was checked; nobody visited, so no inspector is named or signs.
    async with stack.engine.connect() as conn:
        doc = await load_order(conn, row.order_id)
    printed = pdf_words(await asyncio.to_thread(render_pdf, doc, stack.settings))
    assert "本局核查你单位证照台账" in printed and "检查人员" not in printed
    # Nor is there an on-site record to download: nobody was on site.
    chief = await Browser(stack).login("chief")
    try:
        record = await chief.client.get(f"/inspections/{row.inspection_id}/record.pdf")
        assert record.status_code == 404 and "没有现场检查记录" in record.text
    finally:
        await chief.close()
    # The facility head is served the order by mail, as for any finding.
    await stack.wait_for(
        lambda: [
            m for m in smtp_recorder.messages if "head@example.cn" in m.rcpt_tos and "整改通知" in m.subject
        ],
        what="the order mail",
    )

    # More sweeps on later days, and the worker's redeliveries, raise nothing more.
    for day in (lapsed_day, lapsed_day + timedelta(days=1), lapsed_day + timedelta(days=30)):
        assert (await sweep(stack, day)).lapsed == []
    assert await counted(stack) == (1, 1, 1)

    # A date changed and changed back lapses as the same finding, not a second one.
    await import_csv(stack.engine, stack.catalog, GOOD.replace("2026-12-15", "2027-12-15"), T0)
    await import_csv(stack.engine, stack.catalog, GOOD, T0)
    assert (await sweep(stack, lapsed_day + timedelta(days=31))).lapsed == [(entry_id, finding_id)]
    assert await counted(stack) == (1, 1, 1)
