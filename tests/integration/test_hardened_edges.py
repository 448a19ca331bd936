"""Hardened edges (issue 17, items 4, 5, 7, 8 and part of 10), through the app and the real database and SMTP
server: security headers, order links that end, one bad mail among good ones, formulas in exports, who may
file a self-inspection, and the API's documentation behind a login."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy import insert, select, update

from tests.support import SmtpRecorder
from tests.support.stack import PASSWORD, Stack, add_people, make_stack
from tracker.clock import FixedClock
from tracker.domain.model import Actor, Role
from tracker.mail.sender import SmtpTarget, deliver_batch
from tracker.service.admin import add_user, import_facilities
from tracker.service.loop import issue_order, submit_rectification, verify
from tracker.service.order_links import order_link
from tracker.service.reporting import InspectionInput, ItemResult, report_inspection
from tracker.store.tables import facilities, mail, users
from tracker.web.app import create_app

START = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # a Monday, 10:00 in the bureau
NO_NATS = "nats://127.0.0.1:9"  # nothing here publishes: the outbox just fills
HTML = {"Accept": "text/html"}


@pytest.fixture
async def stack(open_stack, database_url: str) -> Stack:
    # Nothing started: nothing reacts, and the outbox just fills.
    return await open_stack(database_url, fast=True, smtp=False, start=False, clock=FixedClock(START))


async def actor(stack: Stack, username: str) -> Actor:
    async with stack.engine.connect() as conn:
        row = (await conn.execute(select(users).where(users.c.username == username))).one()
    return Actor(row.id, row.username, Role(row.role), row.facility_id, row.town)


def general_item(stack: Stack) -> str:
    return next(i.code for i in stack.catalog.items(facility_type="nursing_home") if i.severity == "general")


async def ordered_finding(stack: Stack, ref: str, at: datetime, facility_id: int = 1) -> tuple[int, int]:
    """One failed item reported and ordered (the worker's step, run here): (finding id, order id)."""
    inspector = await actor(stack, "inspector")
    reported = await report_inspection(
        stack.engine,
        stack.catalog,
        inspector,
        InspectionInput(
            facility_id, "unannounced", ref, [ItemResult(general_item(stack), "fail", "通道堵塞")]
        ),
        at,
    )
    async with stack.engine.begin() as conn:
        issued = await issue_order(conn, reported.inspection_id, stack.policy, at)
    return reported.finding_ids[0], issued.order_id


async def mailed_link(stack: Stack, order_id: int, at: datetime) -> str:
    """The order link as the order mail carries it, minus the site's address."""
    async with stack.engine.connect() as conn:
        link = await order_link(conn, stack.ctx, order_id, at)
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


async def close(stack: Stack, finding_id: int, at: datetime) -> None:
    head, chief = await actor(stack, "head"), await actor(stack, "chief")
    async with stack.engine.begin() as conn:
        await submit_rectification(conn, head, finding_id, "已整改", [], at - timedelta(hours=2))
    async with stack.engine.begin() as conn:
        await verify(conn, chief, finding_id, True, "复查合格", [], stack.policy, at)


# --- security headers ------------------------------------------------------------------------------------


def assert_secured(response: httpx.Response) -> None:
    csp = response.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"


async def test_it_sends_security_headers_on_pages_the_api_and_order_pages(stack: Stack) -> None:
    _, order_id = await ordered_finding(stack, "headers-1", START)
    link = await mailed_link(stack, order_id, START)

    inspector = await stack.token("inspector")
    walk = await stack.client.get("/inspect", headers={**HTML, **inspector})
    assert walk.status_code == 200
    assert_secured(walk)
    assert "no-store" not in walk.headers.get("cache-control", "")
    api = await stack.client.get("/api/facilities", headers=inspector)
    assert api.status_code == 200
    assert_secured(api)
    page = await stack.client.get(link, headers=HTML)
    assert page.status_code == 200 and "整改通知书" in page.text
    assert_secured(page)
    assert page.headers["cache-control"] == "no-store"
    pdf = await stack.client.get(link.replace("?", "/pdf?"))
    assert pdf.status_code == 200 and pdf.headers["cache-control"] == "no-store"
    # Plain http: no HSTS, which would make browsers insist on https at an address that has none.
    assert "strict-transport-security" not in page.headers


async def test_it_asks_for_https_only_when_the_site_is_served_over_https(stack: Stack) -> None:
    https = stack.settings.model_copy(update={"base_url": "https://tracker.example.gov.cn"})
    ctx = type(stack.ctx)(settings=https, engine=stack.engine, catalog=stack.catalog, clock=stack.clock)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(ctx)), base_url="https://tracker.example.gov.cn"
    ) as client:
        answer = await client.get("/healthz")
    assert answer.headers["strict-transport-security"].startswith("max-age=31536000")
    plain = await stack.client.get("/healthz")
    assert "strict-transport-security" not in plain.headers


# --- order links -----------------------------------------------------------------------------------------


async def test_an_order_link_ends_fourteen_days_after_the_order_closed(stack: Stack) -> None:
    finding_id, order_id = await ordered_finding(stack, "grace-1", START)
    link = await mailed_link(stack, order_id, START)
    closed_at = START + timedelta(days=10)
    await close(stack, finding_id, closed_at)

    stack.clock.at = closed_at + timedelta(days=13)
    still = await stack.client.get(link, headers=HTML)
    assert still.status_code == 200 and f'data-finding="{finding_id}"' in still.text

    stack.clock.at = closed_at + timedelta(days=15)
    ended = await stack.client.get(link, headers=HTML)
    assert ended.status_code == 403
    assert "此链接已失效" in ended.text and f'data-finding="{finding_id}"' not in ended.text
    assert (await stack.client.get(link.replace("?", "/pdf?"))).status_code == 403


async def test_an_open_order_keeps_its_link_while_another_finding_of_it_is_open(stack: Stack) -> None:
    """Closed means every finding of the order closed: one still open keeps the link working."""
    inspector = await actor(stack, "inspector")
    items = [i.code for i in stack.catalog.items(facility_type="nursing_home") if i.severity == "general"][:2]
    reported = await report_inspection(
        stack.engine,
        stack.catalog,
        inspector,
        InspectionInput(1, "unannounced", "grace-2", [ItemResult(code, "fail", "问题") for code in items]),
        START,
    )
    async with stack.engine.begin() as conn:
        order_id = (await issue_order(conn, reported.inspection_id, stack.policy, START)).order_id
    link = await mailed_link(stack, order_id, START)
    await close(stack, reported.finding_ids[0], START + timedelta(days=2))
    stack.clock.at = START + timedelta(days=30)
    assert (await stack.client.get(link, headers=HTML)).status_code == 200
    # Answering for the open one through the link still works.
    answer = await stack.client.post(
        f"/orders/{order_id}/findings/{reported.finding_ids[1]}/rectification",
        data={"token": urlsplit(link).query.removeprefix("token="), "note": "已整改"},
        headers=HTML,
    )
    assert answer.status_code == 303, answer.text


async def test_an_order_link_stops_acting_for_a_head_who_was_replaced(stack: Stack) -> None:
    finding_id, order_id = await ordered_finding(stack, "head-1", START)
    link = await mailed_link(stack, order_id, START)
    assert (await stack.client.get(link, headers=HTML)).status_code == 200

    async with stack.engine.begin() as conn:
        await conn.execute(update(users).where(users.c.username == "head").values(active=False))
    await add_user(
        stack.engine,
        role="facility_head",
        username="head2",
        password=PASSWORD,
        email="new@example.cn",
        facility="F1",
    )
    replaced = await stack.client.get(link, headers=HTML)
    assert replaced.status_code == 403 and "此链接已失效" in replaced.text
    answer = await stack.client.post(
        f"/orders/{order_id}/findings/{finding_id}/rectification",
        data={"token": urlsplit(link).query.removeprefix("token="), "note": "以旧链接提交"},
        headers=HTML,
    )
    assert answer.status_code == 403
    # The new head's own link (a reminder's, say) opens the order.
    assert (
        await stack.client.get(await mailed_link(stack, order_id, START), headers=HTML)
    ).status_code == 200


# --- one poisoned mail among good ones ---------------------------------------------------------------------


async def test_one_mail_that_cannot_be_built_fails_alone_and_the_others_go_out(
    tmp_path: Path, smtp_recorder: SmtpRecorder
) -> None:
    stack = await make_stack(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 't.db'}", NO_NATS, smtp_recorder.url)
    try:
        rows = [
            # As queued before subjects were cleaned: a facility name with a line separator in the subject.
            {"to_addr": "poisoned@example.cn", "subject": "整改通知书 汇龙镇\u2028敬老院"},
            {"to_addr": "fine@example.cn", "subject": "整改通知书 南阳镇敬老院"},
        ]
        async with stack.engine.begin() as conn:
            for n, row in enumerate(rows):
                await conn.execute(
                    insert(mail).values(
                        dedupe_key=f"order|order:{n}||{row['to_addr']}",
                        kind="order",
                        about=f"order:{n}",
                        text_body="正文",
                        html_body="<p>正文</p>",
                        status="queued",
                        attempts=0,
                        next_attempt_at=START,
                        created_at=START,
                        **row,
                    )
                )
        await deliver_batch(
            stack.engine, SmtpTarget(smtp_recorder.url), "tracker@test", FixedClock(START), "t"
        )

        [received] = await smtp_recorder.wait_for(1)
        assert received.rcpt_tos == ["fine@example.cn"] and received.subject == "整改通知书 南阳镇敬老院"
        by_to = {r.to_addr: r for r in await stack.mail_rows()}
        assert by_to["fine@example.cn"].status == "sent"
        poisoned = by_to["poisoned@example.cn"]
        assert poisoned.status == "failed" and "cannot build the message" in poisoned.last_error
    finally:
        await stack.close()


async def test_the_csv_import_refuses_a_line_separator_and_names_the_line(tmp_path: Path) -> None:
    stack = await make_stack(
        tmp_path, f"sqlite+aiosqlite:///{tmp_path / 't.db'}", NO_NATS, "smtp://127.0.0.1:9"
    )
    try:
        csv = tmp_path / "facilities.csv"
        csv.write_text(
            "code,name,type,town,head_name,head_email\n"
            "C1,汇龙镇敬老院,nursing_home,汇龙镇,张三,a@example.cn\n"
            "C2,南阳镇\u2028敬老院,nursing_home,南阳镇,李四,b@example.cn\n"
            "C3,北新镇敬老院,nursing_home,北新镇,王\u0007五,c@example.cn\n",
            encoding="utf-8",
        )
        report = await import_facilities(stack.engine, stack.catalog, csv)
        assert report.added == 1
        assert report.problems == [
            "line 3: control or invisible characters (name has U+2028)",
            "line 4: control or invisible characters (head_name has U+0007)",
        ]
        async with stack.engine.connect() as conn:
            assert (await conn.execute(select(facilities.c.code))).scalars().all() == ["C1"]
    finally:
        await stack.close()


# --- formulas in the exports ------------------------------------------------------------------------------


async def test_a_name_that_looks_like_a_formula_is_exported_as_text(tmp_path: Path) -> None:
    stack = await make_stack(
        tmp_path,
        f"sqlite+aiosqlite:///{tmp_path / 't.db'}",
        NO_NATS,
        "smtp://127.0.0.1:9",
        clock=FixedClock(START),
    )
    try:
        evil = '=HYPERLINK("http://evil.example/x","点击查看")'
        async with stack.engine.begin() as conn:
            await conn.execute(
                insert(facilities).values(
                    code="EVIL",
                    name=evil,
                    type="nursing_home",
                    town="汇龙镇",
                    head_name="@SUM(1+1)",
                    head_email="h@example.cn",
                )
            )
        await add_people(stack.engine, "EVIL")
        await ordered_finding(stack, "formula-1", START)
        answer = await stack.client.get(
            "/dashboard/export.xlsx",
            params={"table": "findings", "metric": "found", "from": "2026-11-01", "to": "2026-11-30"},
            headers=await stack.token("lead"),
        )
        assert answer.status_code == 200, answer.text
        sheet = load_workbook(io.BytesIO(answer.content)).active
        [row] = list(sheet.iter_rows(min_row=4))  # below the sheet's title, what it counts, and its headers
        assert row[1].value == evil and row[1].data_type == "s"
        owner = row[15]
        assert owner.value == "@SUM(1+1)" and owner.data_type == "s"
    finally:
        await stack.close()


# --- who may file what, and the API's documentation --------------------------------------------------------


async def test_an_inspector_may_not_file_a_self_inspection(stack: Stack) -> None:
    answer = await stack.client.post(
        "/api/inspections",
        headers=await stack.token("inspector"),
        json={
            "facility_id": 1,
            "mode": "self",
            "client_ref": "self-by-inspector",
            "items": [{"item": general_item(stack), "result": "fail", "note": "冒充自查"}],
        },
    )
    assert answer.status_code == 403, answer.text
    assert "self-inspection" in answer.json()["detail"]
    own = await stack.client.post(
        "/api/inspections",
        headers=await stack.token("head"),
        json={
            "facility_id": 1,
            "mode": "self",
            "client_ref": "self-by-head",
            "items": [{"item": general_item(stack), "result": "fail", "note": "自查发现"}],
        },
    )
    assert own.status_code == 201, own.text


async def test_the_api_documentation_needs_a_login(stack: Stack) -> None:
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert (await stack.client.get(path)).status_code == 401, path
    # A browser is sent to the login page and back.
    browser = await stack.client.get("/docs", headers=HTML)
    assert browser.status_code == 303 and browser.headers["location"] == "/login?next=/docs"
    token = await stack.token("head")
    document = await stack.client.get("/openapi.json", headers=token)
    assert document.status_code == 200 and "/api/inspections" in document.json()["paths"]
    docs = await stack.client.get("/docs", headers=token)
    assert docs.status_code == 200 and '<script src="/static/docs.js">' in docs.text
    assert "<script>" not in docs.text
    # Tests and tools still have the document without a request.
    assert "/api/inspections" in create_app(stack.ctx).openapi()["paths"]


async def test_the_api_documentation_loads_only_files_of_our_own(stack: Stack) -> None:
    token = await stack.token("head")
    for path in ("/docs", "/redoc"):
        page = await stack.client.get(path, headers=token)
        assert page.status_code == 200
        policy = page.headers["content-security-policy"]
        assert "http" not in policy and "script-src 'self';" in policy, policy
        assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert assets and all(a.startswith("/static/") for a in assets), assets
        for asset in assets:
            served = await stack.client.get(asset)
            assert served.status_code == 200 and served.content, asset


async def test_an_unexpected_error_is_a_page_in_the_readers_language_and_json_under_the_api(
    stack: Stack,
) -> None:
    app = create_app(stack.ctx)

    async def broken() -> None:
        raise RuntimeError("a fault nobody planned for")

    app.add_api_route("/broken-page", broken)
    app.add_api_route("/api/broken", broken)
    # The app answers first and Starlette then re-raises for the server's log; the client sees the answer.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        page = await client.get("/broken-page", headers={"Accept": "text/html"})
        english = await client.get("/broken-page", headers={"Accept": "text/html"}, cookies={"lang": "en"})
        api = await client.get("/api/broken", headers={"Accept": "text/html"})
    assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")
    assert "系统出错，请稍后重试" in page.text and "a fault nobody planned for" not in page.text
    assert english.status_code == 500 and "Something went wrong on our side" in english.text
    assert api.status_code == 500 and api.json() == {"detail": "internal error"}
