"""The figures sent upward equal the dashboard's for the same period: the same functions, on the crafted findings of
tests/integration/test_stats.py (March 2025), with F4 run privately and two escalation actions on record; read back
from the workbook and the PDF as a reader would."""

from __future__ import annotations

import io
import re
import subprocess
from datetime import date
from html import unescape
from pathlib import Path

import pytest
from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.integration.test_stats import AFTER, MARCH, TOWN_A, craft
from tests.support.stack import PASSWORD, make_stack, prepared_engine
from tracker.checklists import load_catalog
from tracker.clock import FixedClock
from tracker.documents import reports, upward
from tracker.service.admin import add_user
from tracker.stats import oversight
from tracker.stats.periods import Period
from tracker.stats.query import Filter
from tracker.store.tables import facilities, finding_actions, inspection_items
from tracker.text.templating import percent
from tracker.web.upward_page import line_cells


async def enrich(engine: AsyncEngine) -> None:
    """test_stats' crafted findings, F4 run privately, two escalation actions and two items fixed on the spot."""
    await craft(engine)
    async with engine.begin() as conn:
        await conn.execute(update(facilities).where(facilities.c.code == "F4").values(ownership="private"))
        await conn.execute(
            insert(finding_actions),
            [
                {
                    "finding_id": 4,
                    "kind": "interview",
                    "note": "约谈",
                    "on_day": date(2025, 3, 15),
                    "at": AFTER,
                    "by_user": 1,
                },
                {
                    "finding_id": 8,
                    "kind": "referral",
                    "to_whom": "消防救援机构",
                    "note": "移送",
                    "on_day": date(2025, 3, 20),
                    "at": AFTER,
                    "by_user": 1,
                },
                {
                    "finding_id": 8,
                    "kind": "urge",
                    "note": "催办",
                    "on_day": date(2025, 2, 20),
                    "at": AFTER,
                    "by_user": 1,
                },
            ],
        )
        # One item put right during the visit (当场整改) at F4, one at F1.
        await conn.execute(
            insert(inspection_items),
            [
                {"inspection_id": 7, "item_code": "FIRE-EXT-01", "result": "fixed", "note": "当场更换"},
                {"inspection_id": 1, "item_code": "FIRE-EXIT-02", "result": "fixed", "note": "当场清理"},
            ],
        )


@pytest.fixture
async def engine(database_url: str):
    engine = await prepared_engine(database_url)
    await enrich(engine)
    yield engine
    await engine.dispose()


async def test_the_upward_figures_are_the_dashboards(engine: AsyncEngine):
    catalog = load_catalog()
    for town in (None, TOWN_A):
        u = await upward.gather_upward(engine, MARCH, town, AFTER, catalog)
        d = await reports.gather(engine, MARCH, Filter(town=town), AFTER, catalog, list_limit=None)
        async with engine.connect() as conn:
            actions = await oversight.action_counts(conn, MARCH, Filter(town=town))
        total = u.total
        for name in upward.FINDING_COUNTS:
            assert total.counts[name] == d.summary.current.counts[name], name
        assert total.closure_rate == d.summary.current.rates["closure_rate"]
        assert total.fixed == d.fixed
        assert total.actions == {kind: actions[kind] for kind in upward.ACTIONS}
        assert [r.id for r in u.majors] == [r.id for r in d.open_major]
        # Each split adds up to the total: ownership, and facility type.
        by_ownership = [line for line in u.lines if line.key in ("public", "private")]
        by_type = [line for line in u.lines if line.key.startswith("type:")]
        for split in (by_ownership, by_type):
            for name in upward.FINDING_COUNTS:
                assert sum(line.counts[name] for line in split) == total.counts[name], name
            for attribute in ("facilities", "covered", "checks", "people", "fixed"):
                assert sum(getattr(line, attribute) for line in split) == getattr(total, attribute), attribute
            for kind in upward.ACTIONS:
                assert sum(line.actions[kind] for line in split) == total.actions[kind]


async def test_the_upward_figures_as_worked_out_by_hand(engine: AsyncEngine):
    u = await upward.gather_upward(engine, MARCH, None, AFTER, load_catalog())
    lines = {line.key: line for line in u.lines}
    total, private = lines["total"], lines["private"]
    # Checks made in March (not self-inspections): inspections 1, 2, 3, 4, 6, 7; no team recorded, one each.
    assert (total.facilities, total.covered, total.checks, total.people) == (4, 4, 6, 6)
    assert (total.counts["found"], total.found_general, total.counts["found_major"]) == (7, 5, 2)
    assert (total.fixed, total.counts["closed"], total.counts["overdue"]) == (2, 5, 2)
    assert total.actions == {"interview": 1, "notice": 0, "referral": 1, "suspension": 0}
    # F4, run privately: findings 7 and 8 (8 major, overdue), one check (7; 8 was its own), one item fixed.
    assert (private.facilities, private.checks, private.fixed) == (1, 1, 1)
    assert (private.counts["found"], private.counts["found_major"], private.counts["overdue"]) == (2, 1, 1)
    assert private.actions["referral"] == 1 and lines["public"].actions["interview"] == 1
    assert [line.label for line in u.lines][:3] == ["合计", "公办", "民办"]
    assert {line.label for line in u.lines[3:]} == {"养老机构（敬老院）", "助餐点（幸福食堂）", "殡仪馆"}


def test_it_reads_a_quarter():
    assert upward.parse_quarter("2027Q1") == Period(date(2027, 1, 1), date(2027, 4, 1))
    assert upward.parse_quarter("2026q4") == Period(date(2026, 10, 1), date(2027, 1, 1))
    with pytest.raises(ValueError, match="2027Q1"):
        upward.parse_quarter("2027-1")


async def test_the_workbook_and_the_pdf_carry_the_figures(engine: AsyncEngine, tmp_path: Path):
    from openpyxl import load_workbook

    catalog = load_catalog()
    u = await upward.gather_upward(engine, MARCH, None, AFTER, catalog)
    book = load_workbook(io.BytesIO(upward.workbook(u, catalog)))
    sheet = book["上报汇总"]
    headers = [cell.value for cell in sheet[reports.HEADER_ROW]]
    total = {h: cell.value for h, cell in zip(headers, sheet[reports.HEADER_ROW + 1], strict=True)}
    assert total["分组"] == "合计" and total["检查家次"] == 6 and total["出动人次"] == 6
    assert total["发现隐患"] == 7 and total["其中重大事故隐患"] == 2 and total["当场整改"] == 2
    assert total["约谈"] == 1 and total["移送"] == 1 and total["整改率"] == pytest.approx(3 / 7)
    assert [c.value for c in book["重大事故隐患"]["A"][reports.HEADER_ROW :]] == [4, 8]
    target = tmp_path / "upward.pdf"
    target.write_bytes(upward.pdf(u, catalog, AFTER))
    words = subprocess.run(
        ["pdftotext", "-layout", str(target), "-"], capture_output=True, text=True, check=True
    )
    text = words.stdout
    assert "安全检查与隐患整改情况报告" in text and "2025年3月" in text
    assert "检查家次" in text and "出动人次" in text and "公办" in text and "民办" in text
    assert "未销号重大事故隐患清单" in text and "Closure" not in text


# --- the page: /dashboard/upward, its links and its downloads ---------------------------------------------------

CELL = re.compile(r'<td data-line="([^"]+)" data-figure="([^"]+)">(?:<a href="([^"]+)">)?([^<]*)')


@pytest.fixture
async def stack(tmp_path, database_url: str):
    stack = await make_stack(
        tmp_path, database_url, "nats://127.0.0.1:4222", "smtp://127.0.0.1:2525", clock=FixedClock(AFTER)
    )
    await enrich(stack.engine)
    for role, name, extra in (
        ("bureau_lead", "lead", {}),
        ("section_chief", "chief", {}),
        ("town_officer", "town", {"town": TOWN_A}),
        ("facility_head", "head", {"facility": "F1"}),
    ):
        await add_user(stack.engine, role=role, username=name, password=PASSWORD, **extra)
    yield stack
    await stack.client.aclose()
    await stack.engine.dispose()


def cells(html: str) -> dict[tuple[str, str], tuple[str, str | None]]:
    return {
        (line, key): (unescape(shown), unescape(href) if href else None)
        for line, key, href, shown in CELL.findall(html)
    }


async def test_the_page_shows_the_reports_figures_each_linked_to_its_records(stack):
    catalog = load_catalog()
    for who, town in (("lead", None), ("chief", None), ("town", TOWN_A)):
        headers = await stack.token(who)
        page = await stack.client.get("/dashboard/upward?month=2025-03", headers=headers)
        assert page.status_code == 200, page.text
        assert "上报统计" in page.text and "2025年3月" in page.text
        shown = cells(page.text)
        u = await upward.gather_upward(stack.engine, MARCH, town, AFTER, catalog)
        expected = {
            (line.key, key): percent(value) if isinstance(value, float) or value is None else str(value)
            for line in u.lines
            for key, value in line_cells(line)
        }
        assert {k: v[0] for k, v in shown.items()} == expected, who
    # The lead's: a figure's link opens a list of exactly that many records.
    lead = await stack.token("lead")
    shown = cells((await stack.client.get("/dashboard/upward?month=2025-03", headers=lead)).text)
    assert shown[("total", "found")][0] == "7" and shown[("total", "found_major")][0] == "2"
    for key in ("found", "found_major", "found_general", "overdue"):
        value, href = shown[("total", key)]
        assert href is not None and href.startswith("/dashboard/findings?"), key
        listed = await stack.client.get(href, headers=lead)
        assert re.search(r'<span id="count">(\d+)</span>', listed.text).group(1) == value, key
    for line in ("total", "type:nursing_home"):
        value, href = shown[(line, "facilities")]
        listed = await stack.client.get(href, headers=lead)
        assert listed.text.count('<li data-facility="') == int(value), line
    value, href = shown[("total", "covered")]
    listed = await stack.client.get(href, headers=lead)
    assert listed.text.count('<li data-facility="') == int(value) == 4
    # 公办 / 民办 have no list to link to yet.
    assert shown[("private", "found")] == ("2", None)
    dashboard = await stack.client.get("/dashboard?from=2025-03-01&to=2025-04-01", headers=lead)
    assert 'id="upward-link"' in dashboard.text and "/dashboard/upward?month=2025-03" in dashboard.text


async def test_the_downloads_are_the_reports_and_a_facility_head_is_refused(stack):
    from openpyxl import load_workbook

    lead = await stack.token("lead")
    book = await stack.client.get("/dashboard/upward.xlsx?month=2025-03", headers=lead)
    assert book.status_code == 200, book.text
    assert book.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml"
    )
    sheet = load_workbook(io.BytesIO(book.content))["上报汇总"]
    headers = [cell.value for cell in sheet[reports.HEADER_ROW]]
    total = {h: cell.value for h, cell in zip(headers, sheet[reports.HEADER_ROW + 1], strict=True)}
    assert total["发现隐患"] == 7 and total["检查家次"] == 6
    pdf = await stack.client.get("/dashboard/upward.pdf?quarter=2025Q1", headers=lead)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    page = await stack.client.get("/dashboard/upward?quarter=2025q1", headers=lead)
    assert page.status_code == 200 and "2025年第1季度" in page.text
    assert 'href="/dashboard/upward.pdf?quarter=2025Q1"' in page.text
    head = await stack.token("head")
    for url in (
        "/dashboard/upward?month=2025-03",
        "/dashboard/upward.xlsx?month=2025-03",
        "/dashboard/upward.pdf?month=2025-03",
    ):
        refused = await stack.client.get(url, headers=head)
        assert refused.status_code in (403, 404), url
    town = await stack.token("town")
    other = await stack.client.get("/dashboard/upward?month=2025-03&town=南阳镇", headers=town)
    assert other.status_code == 403
    bad = await stack.client.get("/dashboard/upward?quarter=2025Q5", headers=lead)
    assert bad.status_code == 422
