"""Chinese by default; English by a switch that is remembered; and back."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Server, login, shot

pytestmark = pytest.mark.e2e


def test_switch_to_english_and_back(server: Server, new_page: Callable[[], Page]) -> None:
    page = new_page()
    page.goto(f"{server.base_url}/login")
    expect(page.locator("h1")).to_have_text("登录")
    login(page, server, "insp", "/inspect")
    expect(page.locator("h1")).to_have_text("开始检查")

    page.click("#lang-switch")
    page.wait_for_url("**/inspect")
    expect(page.locator("h1")).to_have_text("Start an inspection")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.reload()
    expect(page.locator("h1")).to_have_text("Start an inspection")
    assert any(c["name"] == "lang" and c["value"] == "en" for c in page.context.cookies())

    # Pages further on, and the checklist's own words, follow the switch.
    page.click("a.card[data-code=E2E02]")
    expect(page.locator("legend").first).to_have_text("Mode")
    page.check("input[name=cat][value=fire]")
    page.click("#start-walk")
    page.wait_for_url("**/walk?**")  # and its scripts loaded
    expect(page.locator(".mode-badge")).to_have_text("Unannounced (four no's, two straights)")
    expect(page.locator("fieldset.item label.r-pass").first).to_have_text("No hazard")
    shot(page, "13-walk-english")
    page.goto(f"{server.base_url}/my")
    expect(page.locator("h1")).to_have_text("My work")

    page.click("#lang-switch")
    page.wait_for_url("**/my")
    expect(page.locator("h1")).to_have_text("我的工作")
    page.reload()
    expect(page.locator("h1")).to_have_text("我的工作")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
