"""The API's documentation opens from the package alone: Swagger UI at /docs and ReDoc at /redoc draw the API
with nothing asked of any other site, under the docs' Content-Security-Policy, with no error in the console.

Named to run after test_dashboard.py, whose asyncio cannot start once the session's Playwright loop runs."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Page, Request, expect

from tests.e2e.conftest import Server, login
from tests.e2e.test_pages_under_csp import watch

pytestmark = pytest.mark.e2e
DRAWN_MS = 60_000


def elsewhere(page: Page, server: Server) -> list[str]:
    """Every request the page makes to another origin; refused before it leaves, so a CDN could not answer."""
    ours = urlparse(server.base_url).netloc
    asked: list[str] = []

    def check(request: Request) -> None:
        if urlparse(request.url).scheme in ("http", "https") and urlparse(request.url).netloc != ours:
            asked.append(request.url)

    page.context.on("request", check)
    page.context.route(lambda url: urlparse(url).netloc not in (ours, ""), lambda route: route.abort())
    return asked


def test_the_api_docs_open_with_nothing_from_another_site(
    server: Server, new_page: Callable[[], Page]
) -> None:
    page = new_page()
    asked = elsewhere(page, server)
    problems = watch(page)
    login(page, server, "insp", "/docs")

    answer = page.goto(f"{server.base_url}/docs")
    assert answer and answer.ok
    assert "cdn" not in answer.headers["content-security-policy"]
    # Each UI is a megabyte of script to parse, on a machine shared by many: wait as long as a page may take.
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("tracker", timeout=DRAWN_MS)
    expect(page.locator(".opblock-summary-path", has_text="/api/photos/{photo_id}/thumbnail")).to_be_visible()

    page.goto(f"{server.base_url}/redoc")
    expect(page.locator("h1").first).to_contain_text("tracker", timeout=DRAWN_MS)
    expect(page.get_by_text("/api/photos/{photo_id}/thumbnail").first).to_be_attached()
    page.wait_for_load_state("networkidle")

    assert asked == []
    assert problems == []
