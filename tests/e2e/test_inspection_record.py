"""On the phone: the on-site time, the co-inspector and the person present, an item fixed on the spot and a
major item recorded as general with its reason, all kept through a submission made with no signal."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Server, login, shot
from tests.e2e.test_pages_under_csp import watch

pytestmark = pytest.mark.e2e


def test_the_walk_records_who_when_and_what_was_fixed_through_an_offline_queue(
    server: Server, new_page: Callable[[], Page]
) -> None:
    [facility] = server.api("GET", "/api/facilities", "insp", params={"q": "E2E02"}).json()
    page = new_page()
    problems = watch(page)  # nothing refused under the Content-Security-Policy, no script error
    login(page, server, "insp", f"/inspect/{facility['id']}")
    page.locator("label.choice", has_text="暗查暗访").click()
    page.check("input[name=cat][value=fire]")
    shot(page, "20-inspect-setup-modes")
    page.click("#start-walk")
    page.wait_for_url("**/walk?**")
    expect(page.locator(".mode-badge")).to_have_text("暗查暗访")
    expect(page.locator("#onsite-time")).not_to_have_text("—")
    expect(page.locator("#crew")).to_contain_text("E3206002")  # the register, with warrant numbers

    major = page.locator("fieldset.item[data-sev=major]").first
    major.locator("label.r-fail").click()
    major.locator("textarea").fill("一处防火分隔未封堵")
    major.locator(".sev label:not(.major)").click()
    expect(major.locator(".downgrade")).to_be_visible()
    fixed = page.locator("fieldset.item[data-sev=general]").first
    fixed.locator("label.r-fixed").click()
    expect(fixed.locator(".sev")).to_be_hidden()
    page.click("#rest-pass")

    # Nothing goes before the reason, the co-inspector and (at a covert check, optional) the person present.
    page.click("#review")
    expect(page.locator("#status")).to_contain_text(
        fixed.get_attribute("data-code")
    )  # no note on the fixed one
    fixed.locator("textarea").fill("灭火器过期，当场更换")
    page.click("#review")
    expect(page.locator("#status")).to_contain_text("理由")
    major.locator(".downgrade input").fill("仅一处，面积很小")
    page.click("#review")
    expect(page.locator("#status")).to_contain_text("同行检查人员")
    page.locator("#crew label.choice", has_text="检查员乙").click()
    page.fill("#person-present", "值班主任刘明")
    page.click("#review")
    expect(page.locator("#review-panel")).to_be_visible()
    expect(page.locator("#review-body")).to_contain_text("当场整改 1")
    expect(page.locator("#review-body")).to_contain_text("待审核")
    shot(page, "21-inspect-review-fixed-downgrade")

    page.context.set_offline(True)
    page.click("#submit")
    expect(page.locator("#queue-count")).to_contain_text("1")
    page.context.set_offline(False)
    page.wait_for_url("**/inspect/done/*", timeout=20_000)
    expect(page.locator("#done-fixed")).to_have_text("当场整改 1 项")
    expect(page.locator("#done-inspectors")).to_contain_text("检查员甲")
    expect(page.locator("#done-inspectors")).to_contain_text("检查员乙（执法证号 E3206002）")
    expect(page.locator("#done-present")).to_have_text("值班主任刘明")
    expect(page.locator("#fixed-items")).to_contain_text("灭火器过期，当场更换")
    shot(page, "22-inspect-done-record")

    # The only failure: the request made while the phone had no signal.
    assert [p for p in problems if "ERR_INTERNET_DISCONNECTED" not in p] == []
    inspection_id = int(page.url.rsplit("/", 1)[1])
    with sqlite3.connect(server.data_dir / "tracker.db") as db:
        [(mode, onsite, submitted, present)] = db.execute(
            "SELECT mode, onsite_at, submitted_at, person_present FROM inspections WHERE id = ?",
            (inspection_id,),
        ).fetchall()
        crew = db.execute(
            "SELECT u.username FROM inspection_inspectors i JOIN users u ON u.id = i.user_id"
            " WHERE i.inspection_id = ? ORDER BY i.position",
            (inspection_id,),
        ).fetchall()
        results = dict(
            db.execute(
                "SELECT result, count(*) FROM inspection_items WHERE inspection_id = ? GROUP BY result",
                (inspection_id,),
            ).fetchall()
        )
        [(severity, downgrade, reason)] = db.execute(
            "SELECT severity, downgrade, severity_reason FROM findings WHERE inspection_id = ?",
            (inspection_id,),
        ).fetchall()
    # The on-site time is the walk page's opening, taken on the phone, before the queued submission arrived.
    assert onsite is not None and datetime.fromisoformat(onsite) <= datetime.fromisoformat(submitted)
    assert (mode, present, crew) == ("covert", "值班主任刘明", [("insp",), ("insp2",)])
    assert results["fixed"] == 1 and results["fail"] == 1
    assert (severity, downgrade, reason) == ("major", "pending", "仅一处，面积很小")
