"""A bureau lead in headless Chromium: logs in, reads the dashboard, follows a number to the findings behind
it, downloads that list as Excel and finds the same findings in it. Self-contained: the app runs in a thread
of this test (uvicorn) on a SQLite database filled with the demo data."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.sync_api import sync_playwright

from tests.e2e.demo_web import demo_web
from tracker.entry.demo import PASSWORD

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).parent / "screenshots"
pytestmark = pytest.mark.e2e


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    with demo_web(tmp_path, "e2e-dashboard-secret-0123456789-abcdef") as url:
        yield url


def test_it_takes_a_bureau_lead_from_a_number_to_its_findings_and_their_excel_file(
    server: str, tmp_path: Path
):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        page.goto(f"{server}/login?next=/dashboard")
        page.fill("input[name=username]", "lead")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/dashboard")
        assert "整改率" in page.inner_text("#headline")  # one language at a time: Chinese by default
        assert page.locator("svg").count() >= 3
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / "20-dashboard.png"), full_page=False)

        link = page.locator("#card-open .value a")
        shown = int(link.inner_text())
        assert shown > 0, "the demo data has open findings"
        link.click()
        page.wait_for_url("**/dashboard/findings?metric=open*")
        assert int(page.inner_text("#count")) == shown
        ids_on_page = [int(a) for a in page.locator("#findings tr td:first-child a").all_inner_texts()]
        assert len(ids_on_page) == shown

        with page.expect_download() as info:
            page.click("#export")
        target = tmp_path / "open.xlsx"
        info.value.save_as(target)
        sheet = load_workbook(io.BytesIO(target.read_bytes())).active
        title, about, *rows = list(sheet.iter_rows(values_only=True))  # the sheet says what it counts first
        assert title[0] == "未销号" and about[0].startswith("统计期：")
        assert rows[0][0] == "编号" and rows[0][1] == "机构"
        assert [r[0] for r in rows[1:]] == ids_on_page
        assert all(isinstance(r[10], datetime) for r in rows[1:])  # found at: a date-time cell, not text

        phone = browser.new_page(viewport={"width": 390, "height": 844})
        phone.context.add_cookies(page.context.cookies())
        phone.goto(f"{server}/dashboard")
        assert phone.locator("#card-open").is_visible()
        phone.screenshot(path=str(SHOTS / "21-dashboard-phone.png"))
        browser.close()
