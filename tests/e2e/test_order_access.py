"""The order link opens its own order and nothing else, expires, and never lets a facility close its own hazard."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import PIPELINE_SECONDS, SECRET, Server, login, order_link, shot
from tracker import tokens

pytestmark = pytest.mark.e2e


def _report(server: Server, code: str) -> tuple[int, int]:
    """One failed item at facility `code`, through the API; returns (finding id, order id) once ordered."""
    [facility] = server.api("GET", "/api/facilities", "insp", params={"q": code}).json()
    items = server.api(
        "GET", "/api/checklists", "insp", params={"facility_type": facility["type"], "category": "fire"}
    ).json()
    item = next(i for i in items if i["severity"] == "general")
    answer = server.api(
        "POST",
        "/api/inspections",
        "insp",
        json={
            "facility_id": facility["id"],
            "mode": "unannounced",
            "client_ref": f"e2e-{uuid.uuid4()}",
            "items": [{"item": item["code"], "result": "fail", "note": "灭火器过期"}],
        },
    )
    assert answer.status_code == 201, answer.text
    finding_id = answer.json()["findings"][0]["id"]

    def ordered() -> int | None:
        return server.api("GET", f"/api/findings/{finding_id}", "insp").json()["order_id"]

    return finding_id, server.wait_for(
        ordered, timeout=PIPELINE_SECONDS, what=f"finding {finding_id} to be ordered"
    )


def test_the_token_opens_only_its_own_order_and_expires(server: Server, new_page: Callable[[], Page]) -> None:
    finding_a, order_a = _report(server, "E2E01")
    finding_b, order_b = _report(server, "E2E02")
    link = order_link(server.order_mail("head1@facility.example.cn", order_a))
    token = parse_qs(urlparse(link).query)["token"][0]
    page = new_page()

    assert page.goto(link).status == 200
    expect(page.locator(f"section.finding[data-finding='{finding_a}']")).to_be_visible()

    # Another order with this token: refused, and nothing of it shown.
    other = page.goto(f"{server.base_url}/orders/{order_b}?token={token}")
    assert other.status == 403
    expect(page.locator("#error-message")).to_be_visible()
    assert f"data-finding='{finding_b}'" not in page.content()
    shot(page, "11-order-other-refused")
    assert page.goto(f"{server.base_url}/orders/{order_b + 1000}?token={token}").status == 403

    # The order token is not a key to the API.
    bearer = {"Authorization": f"Bearer {token}"}
    assert server.api("GET", f"/api/findings/{finding_a}", headers=bearer).status_code == 401
    assert server.api("GET", "/api/findings", headers=bearer).status_code == 401

    # Expired, forged and garbage tokens are refused.
    past = datetime.now(UTC) - timedelta(days=61)
    expired = tokens.sign(SECRET, f"order:{order_a}", past, timedelta(days=60), scope="order")
    forged = tokens.sign(
        "another-secret-key-0123456789-abcdefghijkl",
        f"order:{order_a}",
        datetime.now(UTC),
        timedelta(days=60),
        scope="order",
    )
    user_scope = tokens.sign(SECRET, f"order:{order_a}", datetime.now(UTC), timedelta(days=1), scope="user")
    for bad in (expired, forged, user_scope, "not-a-token"):
        assert page.goto(f"{server.base_url}/orders/{order_a}?token={bad}").status == 403, bad
        expect(page.locator("#error-message")).to_be_visible()
    shot(page, "12-order-link-expired")

    # Writing with the token: only findings of its own order.
    wrong = page.request.post(
        f"{server.base_url}/orders/{order_a}/findings/{finding_b}/rectification",
        multipart={"token": token, "note": "试图改别家的"},
    )
    assert wrong.status == 404
    wrong = page.request.post(
        f"{server.base_url}/orders/{order_b}/findings/{finding_b}/rectification",
        multipart={"token": token, "note": "试图改别家的"},
    )
    assert wrong.status == 403
    assert server.api("GET", f"/api/findings/{finding_b}", "insp").json()["status"] == "ordered"

    # The facility head answers from the link, then, logged in, still cannot verify their own hazard.
    page.goto(link)
    section = page.locator(f"section.finding[data-finding='{finding_a}']")
    section.locator("textarea[name=note]").fill("已更换灭火器")
    section.locator("form.rectify button[type=submit]").click()
    expect(page.locator("#sent-message")).to_be_visible()
    assert server.api("GET", f"/api/findings/{finding_a}", "insp").json()["status"] == "submitted"

    head = new_page()
    login(head, server, "head1", f"/findings/{finding_a}")
    expect(head.locator(".pill[data-status]")).to_have_attribute("data-status", "submitted")
    expect(head.locator("#verify-form")).to_have_count(0)
    csrf = head.locator("#queue").get_attribute("data-csrf")
    assert csrf
    refused = head.request.post(
        f"{server.base_url}/findings/{finding_a}/verify",
        multipart={"csrf": csrf, "decision": "accept", "note": "自己验收"},
    )
    assert refused.status == 403
    own = server.api(
        "POST",
        f"/api/findings/{finding_a}/verification",
        "head1",
        json={"accepted": True, "note": "自己验收"},
    )
    assert own.status_code == 403
    assert server.api("GET", f"/api/findings/{finding_a}", "insp").json()["status"] == "submitted"

    # Logged in, the head opens their own order without a token, but not another facility's.
    assert head.goto(f"{server.base_url}/orders/{order_a}").status == 200
    assert head.goto(f"{server.base_url}/orders/{order_b}").status == 404
    assert head.goto(f"{server.base_url}/findings/{finding_b}").status == 404

    # A cookie-authenticated write without the anti-forgery header is refused; a form without its token too.
    forged_post = head.request.post(
        f"{server.base_url}/api/findings/{finding_a}/verification", data={"accepted": True, "note": "x"}
    )
    assert forged_post.status == 403
    inspector = new_page()
    login(inspector, server, "insp")
    no_header = inspector.request.post(
        f"{server.base_url}/api/findings/{finding_a}/verification", data={"accepted": True, "note": "x"}
    )
    assert no_header.status == 403
    no_field = inspector.request.post(
        f"{server.base_url}/findings/{finding_a}/verify", multipart={"decision": "accept", "note": "x"}
    )
    assert no_field.status == 403
    assert server.api("GET", f"/api/findings/{finding_a}", "insp").json()["status"] == "submitted"
    # With the session's token it goes through.
    inspector.goto(f"{server.base_url}/findings/{finding_a}")
    inspector.click("#accept")
    expect(inspector.locator(".pill[data-status]")).to_have_attribute("data-status", "closed")
