"""An inspector finds a hazard on the phone; the facility head answers from the mail; the inspector closes it."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Page, Response, expect

from tests.e2e.conftest import Server, login, name_the_crew, order_link, png, shot

pytestmark = pytest.mark.e2e
INSPECT_BUDGET_BYTES = 100 * 1024


def test_unannounced_inspection_to_verified_closure(
    server: Server, new_page: Callable[[], Page], tmp_path: Path
) -> None:
    photo = tmp_path / "exit.png"
    photo.write_bytes(png())
    evidence = tmp_path / "evidence.png"  # as a phone's camera takes it: shrunk on the page before it is sent
    evidence.write_bytes(png(2400, 1800, rgb=(40, 160, 60)))

    # The inspector, on the phone.
    inspector = new_page()
    login(inspector, server, "insp")
    sizes: list[int] = []

    def count(response: Response) -> None:
        body = response.body() if response.ok else b""
        sizes.append(len(body))

    inspector.on("response", count)
    inspector.goto(f"{server.base_url}/inspect")
    inspector.wait_for_load_state("networkidle")
    inspector.remove_listener("response", count)
    assert sum(sizes) < INSPECT_BUDGET_BYTES, f"first load of /inspect is {sum(sizes)} bytes"
    shot(inspector, "01-inspect-search")

    inspector.fill("#q", "汇龙")
    inspector.click(".search button")
    inspector.click("a.card[data-code=E2E01]")
    expect(inspector.locator("h1")).to_have_text("汇龙镇测试敬老院")
    assert inspector.locator("input[name=mode][value=unannounced]").is_checked()
    inspector.check("input[name=cat][value=fire]")
    shot(inspector, "02-inspect-setup")
    inspector.click("#start-walk")
    inspector.wait_for_url("**/walk?**")  # and its scripts loaded
    expect(inspector.locator(".mode-badge")).to_contain_text("四不两直")

    # A general hazard: a major one goes the supervision's way (plan, interim measure, 验收, sign-off) instead.
    first = inspector.locator("fieldset.item[data-sev=general]").first
    code = first.get_attribute("data-code")
    first.locator("label.r-fail").click()
    expect(first.locator(".fail-details")).to_be_visible()
    first.locator("textarea").fill("安全出口被杂物堵塞")
    first.locator(".photo-input").set_input_files(str(photo))
    expect(first.locator(".thumbs img")).to_have_count(1)
    inspector.click("#rest-pass")
    name_the_crew(inspector)
    shot(inspector, "03-inspect-walk")
    inspector.click("#review")
    expect(inspector.locator("#review-panel")).to_be_visible()
    shot(inspector, "04-inspect-review")
    inspector.click("#submit")
    inspector.wait_for_url(re.compile(r"/inspect/done/\d+$"))
    expect(inspector.locator("#done")).to_be_visible()
    shot(inspector, "05-inspect-done")
    finding_href = inspector.locator("a.card[href^='/findings/']").first.get_attribute("href")
    assert finding_href
    finding_id = int(finding_href.rsplit("/", 1)[1])
    reported = server.api("GET", f"/api/findings/{finding_id}", "insp").json()
    assert reported["item"]["code"] == code
    assert [p["stage"] for p in reported["photos"]] == ["report"]
    inspection = server.api("GET", f"/api/findings/{finding_id}", "insp").json()["inspection_id"]
    assert inspection

    # The order mail reaches the facility head; its link opens the order without a password.
    # Other tests' orders go to the same head: wait for this finding's order and read its own mail.
    order_id = server.wait_for(
        lambda: server.api("GET", f"/api/findings/{finding_id}", "insp").json()["order_id"],
        what="the finding's order",
    )
    mail = server.order_mail("head1@facility.example.cn", order_id)
    link = order_link(mail)
    assert link.startswith(server.base_url + "/orders/")
    head = new_page()
    head.goto(link)
    section = head.locator(f"section.finding[data-finding='{finding_id}']")
    expect(section).to_be_visible()
    expect(section.locator(".photos img")).to_have_count(1)
    head.wait_for_function(
        "(img) => img.complete && img.naturalWidth > 0",
        arg=section.locator(".photos img").element_handle(),
        timeout=10_000,
    )
    expect(section).to_contain_text("整改期限")
    shot(head, "06-order-page")
    printable = head.request.get(server.base_url + head.locator("#order-pdf").get_attribute("href"))
    assert printable.status == 200 and printable.headers["content-type"] == "application/pdf"
    assert printable.body().startswith(b"%PDF")
    section.locator("textarea[name=note]").fill("已清理安全出口杂物，设置警示标识")
    section.locator("input[name=photo]").set_input_files(str(evidence))
    section.locator("form.rectify button[type=submit]").click()
    expect(head.locator("#sent-message")).to_be_visible()
    expect(
        head.locator(f"section.finding[data-finding='{finding_id}'] .pill[data-status]")
    ).to_have_attribute("data-status", "submitted")
    shot(head, "07-order-submitted")

    # The inspector verifies it from "my work".
    inspector.goto(f"{server.base_url}/my")
    expect(inspector.locator(f"#waiting a[data-finding='{finding_id}']")).to_be_visible()
    shot(inspector, "08-my-work")
    inspector.click(f"#waiting a[data-finding='{finding_id}']")
    # The inspector's photo with the finding, the facility's in its account: each once.
    expect(inspector.locator(".photos img")).to_have_count(1)
    expect(inspector.locator("#account .account-photos img")).to_have_count(1)
    # Shown as thumbnails; a tap opens each photo as kept.
    sizes_kept = []
    for href, src in inspector.locator(".photos a:has(img), .account-photos a:has(img)").evaluate_all(
        "links => links.map(a => [a.getAttribute('href'), a.querySelector('img').getAttribute('src')])"
    ):
        assert src == f"{href}/thumbnail"
        kept = inspector.request.get(server.base_url + href)
        assert kept.status == 200
        sizes_kept.append(Image.open(io.BytesIO(kept.body())).size)
    assert sorted(sizes_kept) == [(48, 32), (1600, 1200)], sizes_kept
    inspector.fill("#verify-form textarea[name=note]", "现场复查，通道畅通")
    shot(inspector, "09-verify")
    inspector.click("#accept")
    expect(inspector.locator(".pill[data-status]")).to_have_attribute("data-status", "closed")
    shot(inspector, "10-finding-closed")

    closed = server.api("GET", f"/api/findings/{finding_id}", "insp").json()
    assert closed["status"] == "closed"
    assert [h["action"] for h in closed["history"]] == [
        "reported",
        "ordered",
        "rectification_submitted",
        "closed",
    ]
    assert sorted(p["stage"] for p in closed["photos"]) == ["evidence", "report"]
    head.reload()
    expect(
        head.locator(f"section.finding[data-finding='{finding_id}'] .pill[data-status]")
    ).to_have_attribute("data-status", "closed")
