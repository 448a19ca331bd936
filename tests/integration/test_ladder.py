"""The ladder follows who runs the facility, tells only the people of its sector (and town), and each
sweep gives each person one mail listing everything that reached them in it.

Three facilities in 汇龙镇: F1 run by the town (elderly), B1 run by the bureau (a funeral home, social
affairs), P1 private (elderly). Each sector has its own section chief and bureau lead; 港镇 has a town
officer who must hear of none of them; `boss` is the bureau's principal lead (TRACKER_PRINCIPAL).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import select, update

from tests.support import SmtpRecorder
from tests.support.stack import PASSWORD, Stack, add_facility, add_people
from tracker.clock import FixedClock
from tracker.documents.printed import cn_date
from tracker.domain.calendar import LOCAL_TZ
from tracker.events.codec import decode
from tracker.service import sweep_mail
from tracker.service.admin import add_user, set_facility, set_sectors
from tracker.service.context import load_calendar
from tracker.service.sweep import SweepResult, sweep
from tracker.store.tables import facilities, findings, history, mail, outbox

# A Monday morning in Shanghai, far from any holiday.
T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)

CHIEF, LEAD, TOWN = "chief@mzj.cn", "lead@mzj.cn", "town@mzj.cn"
CHIEF2, LEAD2, TOWN2, BOSS = "chief2@mzj.cn", "lead2@mzj.cn", "town2@mzj.cn", "boss@mzj.cn"
INSPECTOR = "inspector@mzj.cn"
STAFF = {CHIEF, LEAD, TOWN, CHIEF2, LEAD2, TOWN2, BOSS}


@pytest.fixture
async def stack(open_stack):
    # The fast layer, on SQLite: who hears what is the point here; the sweep's claims and its mail on the real
    # nats-server and PostgreSQL are tests/integration/test_scheduler.py's.
    stack = await open_stack(fast=True, facilities=(), clock=FixedClock(T0), settings={"principal": "boss"})
    await add_facility(stack.engine, "F1")
    await add_facility(stack.engine, "B1", type_="funeral_home")
    await add_facility(stack.engine, "P1")
    await add_facility(stack.engine, "N1", town="无人镇")
    await set_facility(stack.engine, "F1", ownership="town", sector="elderly")
    await set_facility(stack.engine, "B1", ownership="bureau", sector="social_affairs")
    await set_facility(stack.engine, "P1", ownership="private", sector="elderly")
    await set_facility(stack.engine, "N1", ownership="town", sector="elderly")
    await add_people(stack.engine, "F1")
    await set_sectors(stack.engine, "chief", ["elderly"])
    await set_sectors(stack.engine, "lead", ["elderly"])
    people = [
        ("section_chief", "chief2", CHIEF2, None, ["social_affairs"]),
        ("bureau_lead", "lead2", LEAD2, None, ["social_affairs"]),
        ("bureau_lead", "boss", BOSS, None, None),
        ("town_officer", "town2", TOWN2, "港镇", None),
    ]
    for role, username, email, town, sectors in people:
        await add_user(
            stack.engine,
            role=role,
            username=username,
            password=PASSWORD,
            email=email,
            town=town,
            sectors=sectors,
        )
    return stack


async def open_findings(stack: Stack, facility: str, n: int) -> list[dict]:
    async with stack.engine.connect() as conn:
        row = (await conn.execute(select(facilities).where(facilities.c.code == facility))).one()
    facility_id, type_ = row.id, row.type
    codes = [i.code for i in stack.catalog.items(facility_type=type_) if i.severity == "general"][:n]
    assert len(codes) == n
    response = await stack.client.post(
        "/api/inspections",
        headers=await stack.token("inspector"),
        json={
            "facility_id": facility_id,
            "mode": "routine",
            "client_ref": f"ladder-{facility}-{n}",
            "items": [{"item": c, "result": "fail"} for c in codes],
        },
    )
    assert response.status_code == 201, response.text
    ids = [f["id"] for f in response.json()["findings"]]

    async def all_ordered() -> list[dict] | None:
        async with stack.engine.connect() as conn:
            rows = (await conn.execute(select(findings).where(findings.c.id.in_(ids)))).all()
        return [r._asdict() for r in rows] if all(r.status == "ordered" for r in rows) else None

    return await stack.wait_for(all_ordered, what=f"the order for {facility}")


async def mailed(stack: Stack, result: SweepResult) -> dict[str, list]:
    """The mail one sweep queued, by recipient (the worker queues it all in one transaction)."""

    async def rows() -> list | None:
        async with stack.engine.connect() as conn:
            found = (await conn.execute(select(mail).where(mail.c.about == f"sweep:{result.sweep_id}"))).all()
        return list(found) or None

    by_recipient: dict[str, list] = {}
    for row in await stack.wait_for(rows, what="the sweep's mail"):
        by_recipient.setdefault(row.to_addr, []).append(row)
    return by_recipient


def first_moment(rows: list[dict]) -> datetime:
    return max(r["next_escalation_at"] for r in rows)


def links(text: str, finding_id: int) -> bool:
    """A staff mail names a finding in words and links its page (no internal number in brackets)."""
    return re.search(rf"/findings/{finding_id}\b", text) is not None


def reads_in_its_own_words(stack: Stack, text: str, rows: list[dict]) -> bool:
    """A facility's mail names each hazard in words, never by its item code or finding number."""
    return all(
        stack.catalog.item(r["item_code"]).zh in text
        and r["item_code"] not in text
        and f"[{r['id']}]" not in text
        for r in rows
    )


async def test_a_bureau_run_facility_goes_to_its_sections_chief_then_lead_then_the_principal_never_a_town(
    stack: Stack, smtp_recorder: SmtpRecorder
):
    rows = await open_findings(stack, "B1", 2)
    ids = sorted(r["id"] for r in rows)
    moment = first_moment(rows)

    level1 = await sweep(stack.engine, stack.policy, moment)
    assert sorted(level1.escalated) == [(i, 1) for i in ids]
    told = await mailed(stack, level1)
    # The facility is urged in its own words, once for both; the inspector hears the deadline passed.
    assert set(told) == {"head-b1@example.cn", INSPECTOR}
    [urge] = told["head-b1@example.cn"]
    assert urge.kind == "urge" and "催办" in urge.subject
    assert "你单位以下隐患已超过整改期限" in urge.text_body and "请于" in urge.text_body
    assert "督促" not in urge.text_body
    assert reads_in_its_own_words(stack, urge.text_body, rows) and "Please" not in urge.text_body
    [passed] = told[INSPECTOR]
    assert passed.kind == "deadline_passed" and all(links(passed.text_body, i) for i in ids)

    expected = [(2, {CHIEF2}), (3, {LEAD2}), (4, {BOSS})]
    for level, people in expected:
        moment += timedelta(days=7)
        result = await sweep(stack.engine, stack.policy, moment)
        assert sorted(result.escalated) == [(i, level) for i in ids]
        told = await mailed(stack, result)
        assert set(told) == people, f"level {level}"
        [message] = told[next(iter(people))]
        assert f"第{level}级" in message.subject and "测试敬老院 B1（汇龙镇）" in message.text_body
        assert all(f"/findings/{i}" in message.text_body for i in ids)
    assert (await sweep(stack.engine, stack.policy, moment + timedelta(days=30))).escalated == []

    # And it all went through the SMTP server.
    for person in ("head-b1@example.cn", INSPECTOR, CHIEF2, LEAD2, BOSS):
        await stack.wait_for(
            lambda p=person: [m for m in smtp_recorder.messages if p in m.rcpt_tos], what=f"mail to {person}"
        )
    assert not [m for m in smtp_recorder.messages if set(m.rcpt_tos) & {TOWN, TOWN2, CHIEF, LEAD}]


async def test_a_town_run_facility_goes_to_its_town_first_and_a_private_one_to_section_and_town_at_once(
    stack: Stack,
):
    town_rows = await open_findings(stack, "F1", 2)
    private_rows = await open_findings(stack, "P1", 1)
    moment = first_moment(town_rows + private_rows)
    # A dry run counts all that is due, past its first batch, and changes nothing.
    dry = await sweep(stack.engine, stack.policy, moment, dry_run=True, batch=2)
    assert len(dry.escalated) == 3 and {level for _, level in dry.escalated} == {1}
    level1 = await sweep(stack.engine, stack.policy, moment)
    assert len(level1.escalated) == 3
    told = await mailed(stack, level1)
    # One mail per recipient: F1 one 催办 listing both of its findings; the inspector one listing all three.
    assert set(told) == {"head-f1@example.cn", "head-p1@example.cn", INSPECTOR}
    assert all(len(messages) == 1 for messages in told.values())
    assert reads_in_its_own_words(stack, told["head-f1@example.cn"][0].text_body, town_rows)
    assert all(links(told[INSPECTOR][0].text_body, r["id"]) for r in town_rows + private_rows)
    # The sweep's event handled again (a redelivery past the handled-event record) queues nothing new.
    async with stack.engine.begin() as conn:
        payload = await conn.scalar(
            select(outbox.c.payload).where(outbox.c.subject == "tracker.sweep.completed")
        )
        event = decode(payload.encode() if isinstance(payload, str) else payload)
        await sweep_mail.sweep_raised(conn, stack.ctx, event, stack.clock.now())
    assert sum(len(m) for m in (await mailed(stack, level1)).values()) == 3

    level2 = await sweep(stack.engine, stack.policy, moment + timedelta(days=7))
    assert len(level2.escalated) == 3
    told = await mailed(stack, level2)
    # The town hears of F1 (its step 2) and P1 (section and town together); the elderly chief of P1 only.
    assert set(told) == {TOWN, CHIEF}
    [to_town] = told[TOWN]
    assert all(links(to_town.text_body, r["id"]) for r in town_rows + private_rows)
    assert "测试敬老院 F1（汇龙镇）" in to_town.text_body and "测试敬老院 P1（汇龙镇）" in to_town.text_body
    [to_chief] = told[CHIEF]
    assert links(to_chief.text_body, private_rows[0]["id"])
    assert not any(links(to_chief.text_body, r["id"]) for r in town_rows)

    level3 = await sweep(stack.engine, stack.policy, moment + timedelta(days=14))
    told = await mailed(stack, level3)
    # F1 climbs to the elderly section chief, P1 to the elderly lead; social affairs hears nothing.
    assert set(told) == {CHIEF, LEAD}
    assert not any(links(told[CHIEF][0].text_body, r["id"]) for r in private_rows)


async def test_a_finding_due_both_is_escalated_without_a_reminder_and_the_facility_gets_one_mail(
    stack: Stack,
):
    overdue, soon = await open_findings(stack, "F1", 2)
    moment = overdue["next_escalation_at"]
    # The second is not yet overdue but due its reminder at this sweep.
    async with stack.engine.begin() as conn:
        await conn.execute(
            update(findings)
            .where(findings.c.id == soon["id"])
            .values(remind_at=moment - timedelta(hours=1), next_escalation_at=moment + timedelta(days=3))
        )
    assert overdue["remind_at"] is not None and overdue["remind_at"] < moment  # never swept: a catch-up

    result = await sweep(stack.engine, stack.policy, moment)
    assert result.escalated == [(overdue["id"], 1)] and result.reminded == [soon["id"]]
    async with stack.engine.connect() as conn:
        reminded = (
            await conn.execute(select(outbox.c.payload).where(outbox.c.subject == "tracker.finding.reminded"))
        ).scalars()
        assert [str(soon["id"]) in p for p in reminded] == [True]
        marks = (
            await conn.execute(
                select(history.c.data).where(
                    history.c.finding_id == overdue["id"], history.c.action == "escalated"
                )
            )
        ).scalars()
        assert [m.get("reminder_dropped") for m in marks] == [True]
    told = await mailed(stack, result)
    [one] = told["head-f1@example.cn"]
    assert one.kind == "urge"
    # Both in the facility's words, the one due soon below the overdue one, its day as the order writes it.
    assert reads_in_its_own_words(stack, one.text_body, [overdue, soon])
    due_soon = one.text_body.index("整改期限即将到期")
    assert one.text_body.index(stack.catalog.item(soon["item_code"]).zh) > due_soon
    assert one.text_body.index(stack.catalog.item(overdue["item_code"]).zh) < due_soon
    assert cn_date(soon["due_day"]) in one.text_body and str(soon["due_day"]) not in one.text_body
    assert not [r for r in await stack.mail_rows("reminder") if r.to_addr == "head-f1@example.cn"]


async def test_the_first_escalation_falls_at_nine_on_the_next_working_day(stack: Stack):
    [row] = await open_findings(stack, "F1", 1)
    async with stack.engine.connect() as conn:
        calendar = await load_calendar(conn)
    next_day = calendar.add_workdays(row["due_day"], 1).day
    assert row["next_escalation_at"] == datetime.combine(next_day, time(9), tzinfo=LOCAL_TZ).astimezone(UTC)

    assert (await sweep(stack.engine, stack.policy, row["due_at"] + timedelta(seconds=1))).escalated == []
    before = row["next_escalation_at"] - timedelta(minutes=1)
    assert (await sweep(stack.engine, stack.policy, before)).escalated == []
    assert (await sweep(stack.engine, stack.policy, row["next_escalation_at"])).escalated == [(row["id"], 1)]


async def test_a_step_with_nobody_goes_up_the_ladder_and_says_so_on_the_finding(stack: Stack):
    [row] = await open_findings(stack, "N1", 1)  # 无人镇 has no town officer
    moment = row["next_escalation_at"]
    await mailed(stack, await sweep(stack.engine, stack.policy, moment))
    level2 = await sweep(stack.engine, stack.policy, moment + timedelta(days=7))
    assert level2.escalated == [(row["id"], 2)]
    told = await mailed(stack, level2)
    assert set(told) == {CHIEF}  # the next step up: the elderly section chief
    async with stack.engine.connect() as conn:
        [note] = (
            await conn.execute(
                select(history.c.note).where(
                    history.c.finding_id == row["id"], history.c.action == "escalation_unaddressed"
                )
            )
        ).scalars()
    assert "无人镇" in note and CHIEF in note
