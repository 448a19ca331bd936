"""Every kind of page under the strict Content-Security-Policy: styled, its scripts running, and the browser
reporting no blocked script or style.

Named to run after test_dashboard.py (its asyncio cannot start once the session's Playwright loop runs) and
test_loop_pages.py (which reads the first order mail to head1): pytest runs the files in name order."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Server, login, order_link
from tests.e2e.test_order_access import _report

pytestmark = pytest.mark.e2e


def watch(page: Page) -> list[str]:
    """What the browser refused or failed on the page: CSP violations land in the console, script errors too."""
    problems: list[str] = []

    def console(message) -> None:
        url = message.location.get("url", "")
        # The browser asks for /favicon.ico by itself; there is none.
        if message.type == "error" and not url.endswith("/favicon.ico"):
            problems.append(f"{url}: {message.text}")

    page.on("console", console)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return problems


def test_the_pages_work_under_the_content_security_policy(
    server: Server, new_page: Callable[[], Page]
) -> None:
    finding_id, order_id = _report(server, "E2E01")
    link = order_link(server.order_mail("head1@facility.example.cn", order_id))
    [facility] = server.api("GET", "/api/facilities", "insp", params={"q": "E2E01"}).json()

    inspector = new_page()
    problems = watch(inspector)
    login(inspector, server, "insp", f"/inspect/{facility['id']}")
    answer = inspector.goto(f"{server.base_url}/inspect/{facility['id']}")
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    inspector.check("input[name=cat][value=fire]")
    inspector.click("#start-walk")
    inspector.wait_for_url("**/walk?**")
    # inspect.js runs: answering "fail" opens the item's details.
    inspector.locator("fieldset.item").first.locator("label.r-fail").click()
    expect(inspector.locator("fieldset.item").first.locator(".fail-details")).to_be_visible()
    assert (
        inspector.evaluate("getComputedStyle(document.querySelector('header.top')).backgroundColor")
        == "rgb(11, 37, 69)"
    )
    inspector.goto(f"{server.base_url}/my")

    lead = new_page()
    problems += watch(lead)
    login(lead, server, "lead", "/dashboard")
    expect(lead.locator("header.top")).to_be_visible()  # the site's navigation, on the dashboard too
    # The dashboard's styles, moved out of the page into /static/dashboard.css, apply.
    assert lead.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(246, 247, 249)"
    lead.goto(f"{server.base_url}/findings/{finding_id}")

    head = new_page()
    problems += watch(head)
    page = head.goto(link)
    assert page.status == 200 and page.headers["cache-control"] == "no-store"
    expect(head.locator(f"section.finding[data-finding='{finding_id}']")).to_be_visible()

    assert problems == []
