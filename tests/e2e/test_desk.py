"""The desk's side in headless Chromium, on the demo data: each role starts on its own page, every page (the
dashboard too) carries the navigation, the reader's name, the language switch and logout; an unknown address is
a page in the reader's language; a finding's times read in China time as 2026-12-06 22:26."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.e2e.demo_web import demo_web
from tracker.domain.time import shown
from tracker.entry.demo import PASSWORD

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).parent / "screenshots"
SHOWN = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$")
pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with demo_web(tmp_path_factory.mktemp("desk"), "e2e-desk-secret-0123456789-abcdefghij") as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def log_in(browser: Browser, server: str, username: str, width: int = 1280) -> Page:
    page = browser.new_page(viewport={"width": width, "height": 900}, locale="zh-CN")
    page.goto(f"{server}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)
    return page


def test_the_lead_lands_on_the_dashboard_with_name_language_switch_and_logout(
    server: str, browser: Browser
) -> None:
    page = log_in(browser, server, "lead")
    assert page.url == f"{server}/dashboard"
    expect(page.locator("#who")).to_have_text("陈局长")  # by name, not by login
    expect(page.locator("#nav-dashboard")).to_have_attribute("aria-current", "page")
    expect(page.locator("#lang-switch")).to_have_text("English")
    expect(page.locator("#logout")).to_be_visible()
    # One language at a time: the Chinese page says 整改率, not "Closure rate", and the other way round.
    headline = page.inner_text("#headline")
    assert "整改率" in headline and "Closure rate" not in headline
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "30-dashboard-1280.png"))
    page.click("#lang-switch")
    page.wait_for_url("**/dashboard")
    headline = page.inner_text("#headline")
    assert "Closure rate" in headline and "整改率" not in headline
    expect(page.locator("#lang-switch")).to_have_text("中文")
    # No card alone on a row at a desk: the eight headline cards fill two rows of four.
    tops = page.eval_on_selector_all(
        "#headline .card", "cards => cards.map(c => c.getBoundingClientRect().top)"
    )
    assert len(tops) == 8 and len(set(tops)) == 2 and tops.count(tops[0]) == 4
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280  # nothing wider than the screen
    page.click("#logout")
    page.wait_for_url("**/login")
    page.close()


@pytest.mark.parametrize(
    ("username", "home"),
    [("inspector", "/my"), ("head-QD001", "/my"), ("chief", "/dashboard"), ("admin", "/")],
)
def test_each_role_starts_on_its_own_page(server: str, browser: Browser, username: str, home: str) -> None:
    page = log_in(browser, server, username, width=390)
    assert page.url == f"{server}{home}"
    expect(page.locator("#who")).to_be_visible()
    expect(page.locator("#logout")).to_be_visible()
    nav = page.inner_text("#nav")
    if username == "admin":
        expect(page.locator("#users")).to_be_visible()
        expect(page.locator("#facilities")).to_be_visible()
        assert "邮件查看" in nav
    else:  # the API docs and the mail viewer are offered to the administrator only
        assert "邮件查看" not in nav and "接口文档" not in page.content()
    if username == "head-QD001":
        assert "开始检查" not in nav
    page.close()


def test_an_unknown_address_is_a_page_in_the_readers_language(server: str, browser: Browser) -> None:
    page = log_in(browser, server, "lead")
    answer = page.goto(f"{server}/no-such-page")
    assert answer is not None and answer.status == 404
    expect(page.locator("#error-message")).to_have_text("找不到该内容，或您无权查看。")
    expect(page.locator("#who")).to_have_text("陈局长")  # with the reader's navigation
    page.click("#lang-switch")
    page.wait_for_url("**/no-such-page")
    expect(page.locator("#error-message")).to_have_text("Not found, or you may not see it.")
    # A period that ends before it starts is a page too, not a JSON body.
    answer = page.goto(f"{server}/dashboard?from=2026-03-05&to=2026-03-01")
    assert answer is not None and answer.status == 422
    expect(page.locator("#error-message")).to_have_text(
        "Wrong period: the last day must come after the first."
    )
    assert page.request.get(f"{server}/api/no-such-thing").json() == {"detail": "Not Found"}
    page.close()


def test_every_time_on_a_finding_page_is_china_time(server: str, browser: Browser) -> None:
    page = log_in(browser, server, "lead")
    listed = page.request.get(f"{server}/api/findings", params={"limit": 200}).json()["items"]
    closed = next(f for f in listed if f["closed_at"])
    page.goto(f"{server}/findings/{closed['id']}")
    expect(page.locator("#reported-at")).to_have_text(shown(datetime.fromisoformat(closed["reported_at"])))
    expect(page.locator("#closed-at")).to_have_text(shown(datetime.fromisoformat(closed["closed_at"])))
    times = page.locator("time").all_inner_texts()
    assert len(times) >= 3, times  # found, closed, and the history's steps
    assert all(SHOWN.match(t) for t in times), times
    assert "UTC" not in page.inner_text("main") and "T" not in "".join(times)
    page.close()
