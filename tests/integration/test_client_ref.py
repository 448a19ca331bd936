"""A client_ref is its sender's idempotency key: sent again by the same person it answers with their first
inspection; sent by anyone else it is a new key, and nobody gets another person's inspection back. Through the
API against a real database; no worker, relay or mailer is started, none is needed."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.stack import PASSWORD, Stack, add_facility
from tracker.service.admin import add_user
from tracker.service.loop import issue_order


@pytest.fixture
async def stack(open_stack, database_url: str) -> Stack:
    # QD001 in 汇龙镇, with its people. Nothing started: nothing reacts.
    stack = await open_stack(database_url, fast=True, smtp=False, start=False, facilities=("QD001",))
    await add_facility(stack.engine, "QD002", town="南阳镇", email="head-qd002@example.cn")
    await add_user(
        stack.engine, role="inspector", username="inspector2", password=PASSWORD, email="i2@mzj.cn"
    )
    return stack


SECRET_NOTE = "QD002 三楼疏散通道堵塞"


def body(
    stack: Stack, facility_id: int, ref: str, mode: str = "unannounced", n: int = 0, note: str = "通道堵塞"
) -> dict[str, Any]:
    code = [i.code for i in stack.catalog.items(facility_type="nursing_home") if i.severity == "general"][n]
    return {
        "facility_id": facility_id,
        "mode": mode,
        "client_ref": ref,
        "items": [{"item": code, "result": "fail", "note": note}],
    }


async def send(stack: Stack, who: str, payload: dict[str, Any]):
    return await stack.client.post("/api/inspections", headers=await stack.token(who), json=payload)


@pytest.fixture
async def first(stack: Stack) -> dict[str, Any]:
    """The inspector's inspection of QD002 (南阳镇), sent with the ref an attacker would replay, and ordered:
    its findings now name their owner."""
    response = await send(stack, "inspector", body(stack, 2, "demo-1", note=SECRET_NOTE))
    assert response.status_code == 201, response.text
    async with stack.engine.begin() as conn:
        await issue_order(conn, response.json()["id"], stack.policy, stack.clock.now())
    return response.json()


def shows_nothing_of(response, first: dict[str, Any]) -> bool:
    """Neither the first inspection's id, nor its findings, their note or their owner's address."""
    data = response.json()
    shown = {f["id"] for f in data.get("findings", [])}
    return (
        data.get("id") != first["id"]
        and not shown & {f["id"] for f in first["findings"]}
        and SECRET_NOTE not in response.text
        and "head-qd002@example.cn" not in response.text
    )


async def test_the_same_sender_sending_a_ref_again_gets_their_first_inspection(stack: Stack, first: dict):
    again = await send(stack, "inspector", body(stack, 2, "demo-1", note=SECRET_NOTE))
    assert again.status_code == 200
    assert again.json()["id"] == first["id"] and again.json()["created"] is False
    assert [f["id"] for f in again.json()["findings"]] == [f["id"] for f in first["findings"]]
    assert again.json()["findings"][0]["owner"]["email"] == "head-qd002@example.cn"  # theirs to see


@pytest.mark.parametrize(
    ("who", "facility_id", "mode"),
    [("head", 1, "self"), ("town", 1, "unannounced"), ("inspector2", 2, "unannounced")],
)
async def test_anyone_else_sending_the_same_ref_is_refused_409_and_sees_nothing_of_the_first(
    stack: Stack, first: dict, who: str, facility_id: int, mode: str
):
    response = await send(stack, who, body(stack, facility_id, "demo-1", mode))
    assert response.status_code == 409, response.text
    assert response.json()["field"] == "client_ref"
    assert shows_nothing_of(response, first) and str(first["id"]) not in response.text
    lead = await stack.token("lead")
    assert (await stack.client.get("/api/findings", headers=lead)).json()["total"] == len(first["findings"])


@pytest.mark.parametrize("who", ["head", "town"])
async def test_someone_who_may_not_report_there_is_refused_before_any_ref_is_looked_up(
    stack: Stack, first: dict, who: str
):
    # QD002 is neither the head's facility nor in the town officer's town.
    response = await send(stack, who, body(stack, 2, "demo-1", "self" if who == "head" else "unannounced"))
    assert response.status_code == 403
    assert shows_nothing_of(response, first)


async def test_a_known_ref_with_a_facility_that_does_not_exist_is_refused(stack: Stack, first: dict):
    response = await send(stack, "inspector", body(stack, 999999, "demo-1"))
    assert response.status_code == 422
    assert response.json()["field"] == "facility_id"


async def test_the_same_sender_reusing_a_ref_for_another_facility_is_told_so_and_shown_nothing(
    stack: Stack, first: dict
):
    response = await send(stack, "inspector", body(stack, 1, "demo-1"))
    assert response.status_code == 409
    assert response.json()["field"] == "client_ref"
    assert "client_ref" in response.json()["detail"]
    assert shows_nothing_of(response, first) and str(first["id"]) not in response.text


async def test_a_ref_claimed_in_advance_gets_nothing_and_the_real_submission_goes_in_under_a_fresh_ref(
    stack: Stack,
):
    claimed = await send(stack, "head", body(stack, 1, "visit-2026-12-06", "self"))
    assert claimed.status_code == 201
    refused = await send(stack, "inspector", body(stack, 1, "visit-2026-12-06", n=1))
    assert refused.status_code == 409 and refused.json()["field"] == "client_ref"
    assert str(claimed.json()["id"]) not in refused.text
    # What the phone's queue does on that answer: the same inspection again under a new ref.
    real = await send(stack, "inspector", body(stack, 1, "visit-2026-12-06-again", n=1))
    assert real.status_code == 201 and real.json()["id"] != claimed.json()["id"]
    lead = await stack.token("lead")
    assert (await stack.client.get("/api/findings", headers=lead)).json()["total"] == 2


async def test_the_loops_steps_themselves_refuse_a_finding_the_actor_may_not_see(stack: Stack, first: dict):
    """Not only the routes: the use cases ask the visibility rule, so a route that forgot it would still answer
    a town officer of 汇龙镇 that a finding of 南阳镇 does not exist."""
    from sqlalchemy import select

    from tracker.domain.errors import NotFound
    from tracker.domain.model import Actor, Role
    from tracker.service.loop import request_extension, submit_rectification, verify
    from tracker.store.tables import users

    async with stack.engine.connect() as conn:
        town_id = await conn.scalar(select(users.c.id).where(users.c.username == "town"))
    town = Actor(town_id, "town", Role.TOWN_OFFICER, town="汇龙镇")
    finding_id = first["findings"][0]["id"]
    now = stack.clock.now()
    steps = [
        lambda conn: verify(conn, town, finding_id, True, "看过了", [], stack.policy, now),
        lambda conn: submit_rectification(conn, town, finding_id, "改好了", [], now),
        lambda conn: request_extension(conn, town, finding_id, 5, "再等等", now),
    ]
    for step in steps:
        async with stack.engine.begin() as conn:
            with pytest.raises(NotFound):
                await step(conn)


@pytest.mark.parametrize(("who", "mode"), [("head", "self"), ("town", "unannounced")])
async def test_a_facility_out_of_reach_and_one_that_does_not_exist_get_the_same_answer(
    stack: Stack, who: str, mode: str
):
    elsewhere = await send(stack, who, body(stack, 2, "probe-1", mode))
    nowhere = await send(stack, who, body(stack, 999999, "probe-2", mode))
    assert elsewhere.status_code == nowhere.status_code == 403
    assert elsewhere.json() == nowhere.json()
