"""The logout button ends the session itself: the same cookie, copied to another browser, opens nothing more,
and neither does it as a bearer token."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlparse

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Server, login

pytestmark = pytest.mark.e2e


def test_the_logout_button_ends_the_session_wherever_its_cookie_was_copied(
    server: Server, new_page: Callable[[], Page]
) -> None:
    page = new_page()
    login(page, server, "insp", "/my")
    [session] = [c for c in page.context.cookies() if c["name"] == "tracker_session"]
    copy = new_page()
    copy.context.add_cookies([session])
    copy.goto(f"{server.base_url}/my")
    assert urlparse(copy.url).path == "/my"
    bearer = {"Authorization": f"Bearer {session['value']}"}
    assert httpx.get(f"{server.base_url}/api/facilities", headers=bearer, timeout=10).status_code == 200

    page.click("form[action='/logout'] button")
    page.wait_for_url("**/login")
    expect(page.locator("input[name=password]")).to_be_visible()
    assert not [c for c in page.context.cookies() if c["name"] == "tracker_session"]

    copy.goto(f"{server.base_url}/my")
    assert urlparse(copy.url).path == "/login"
    assert httpx.get(f"{server.base_url}/api/facilities", headers=bearer, timeout=10).status_code == 401
