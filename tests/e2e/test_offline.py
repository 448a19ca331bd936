"""No signal at the moment of submitting: the inspection waits on the phone and arrives once, later."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Server, login, name_the_crew, png, shot

pytestmark = pytest.mark.e2e


def test_an_inspection_submitted_offline_arrives_exactly_once(
    server: Server, new_page: Callable[[], Page], tmp_path: Path
) -> None:
    photo = tmp_path / "stairs.png"
    photo.write_bytes(png(rgb=(30, 30, 160)))
    [facility] = server.api("GET", "/api/facilities", "insp", params={"q": "E2E03"}).json()

    def findings_there() -> int:
        return server.api("GET", "/api/findings", "insp", params={"facility_id": facility["id"]}).json()[
            "total"
        ]

    before = findings_there()
    page = new_page()
    login(page, server, "insp", f"/inspect/{facility['id']}")
    page.check("input[name=cat][value=fire]")
    page.click("#start-walk")
    page.wait_for_url("**/walk?**")  # and its scripts loaded
    item = page.locator("fieldset.item").first
    item.locator("label.r-fail").click()
    item.locator("textarea").fill("楼梯间堆放杂物")
    item.locator(".photo-input").set_input_files(str(photo))
    expect(item.locator(".thumbs img")).to_have_count(1)
    page.click("#rest-pass")
    name_the_crew(page)
    page.click("#review")

    page.context.set_offline(True)
    page.click("#submit")
    expect(page.locator("#queue")).to_be_visible()
    expect(page.locator("#queue-count")).to_contain_text("1")
    expect(page.locator("#status")).to_contain_text("没有网络")
    shot(page, "14-offline-waiting")
    assert findings_there() == before

    # The signal returns: the phone sends it by itself, with the same client_ref, and shows what arrived.
    page.context.set_offline(False)
    page.wait_for_url("**/inspect/done/*", timeout=20_000)
    expect(page.locator("#done")).to_be_visible()
    expect(page.locator("#queue")).to_be_hidden()
    assert findings_there() == before + 1
    [finding_link] = page.locator("a.card[href^='/findings/']").all()
    finding = server.api(
        "GET", finding_link.get_attribute("href").replace("/findings/", "/api/findings/"), "insp"
    ).json()
    assert [p["stage"] for p in finding["photos"]] == ["report"]

    # The same inspection sent once more (an answer lost on the way, a second tap) creates nothing new.
    with sqlite3.connect(server.data_dir / "tracker.db") as db:
        [(client_ref, inspection_id)] = db.execute(
            "SELECT client_ref, id FROM inspections WHERE facility_id = ?", (facility["id"],)
        ).fetchall()
    again = page.evaluate(
        """async ([facility, ref, item]) => {
        const r = await fetch('/api/inspections', {method: 'POST', credentials: 'same-origin',
          headers: {'Content-Type': 'application/json',
                    'X-CSRF-Token': document.getElementById('queue').dataset.csrf},
          body: JSON.stringify({facility_id: facility, mode: 'unannounced', client_ref: ref,
                                items: [{item: item, result: 'fail', note: 'again'}]})});
        return [r.status, await r.json()]; }""",
        [facility["id"], client_ref, finding["item"]["code"]],
    )
    assert again[0] == 200 and again[1]["id"] == inspection_id and again[1]["created"] is False
    assert findings_there() == before + 1


def test_the_inspection_page_opens_again_with_no_signal(server: Server, new_page: Callable[[], Page]) -> None:
    [facility] = server.api("GET", "/api/facilities", "insp", params={"q": "E2E01"}).json()
    page = new_page()
    login(page, server, "insp", f"/inspect/{facility['id']}")
    page.check("input[name=cat][value=fire]")
    page.click("#start-walk")
    page.wait_for_url("**/walk?**")
    # The service worker registered by the first page takes control and keeps this one.
    # As a function: an expression is evaluated with eval() in the page, which its CSP refuses.
    page.wait_for_function(
        "() => navigator.serviceWorker && navigator.serviceWorker.controller !== null", timeout=15_000
    )
    # ...once its copy is written (the worker keeps it behind the page's back, after the page has loaded).
    page.wait_for_function(
        "async () => !!(await (await caches.open('tracker-pages-v1')).match(location.href))", timeout=15_000
    )
    items = page.locator("fieldset.item").count()
    assert items > 0
    walk_url = page.url

    page.context.set_offline(True)
    try:
        response = page.reload()
        assert response is not None and response.status == 200 and response.from_service_worker
        assert page.url == walk_url
        expect(page.locator("fieldset.item")).to_have_count(items)
        # The static files came from the phone too: styled, and the scripts run.
        assert (
            page.evaluate("getComputedStyle(document.querySelector('header.top')).backgroundColor")
            == "rgb(11, 37, 69)"
        )
        page.wait_for_function("() => window.TrackerQueue !== undefined", timeout=10_000)
        page.locator("fieldset.item").first.locator("label.r-fail").click()
        expect(page.locator("fieldset.item").first.locator(".fail-details")).to_be_visible()
        shot(page, "15-offline-reloaded")
        # A page never visited is not there: the browser's own offline error, not a stale page.
        with pytest.raises(PlaywrightError, match=r"ERR_INTERNET_DISCONNECTED|ERR_FAILED"):
            page.goto(f"{server.base_url}/inspect/{facility['id'] + 1}")
    finally:
        page.context.set_offline(False)


def test_a_ref_taken_by_someone_else_meanwhile_goes_in_under_a_fresh_ref(
    server: Server, new_page: Callable[[], Page]
) -> None:
    [facility] = server.api("GET", "/api/facilities", "insp", params={"q": "E2E02"}).json()

    def findings_of(username: str) -> int:
        answer = server.api("GET", "/api/findings", username, params={"facility_id": facility["id"]})
        return answer.json()["total"]

    before = findings_of("insp")
    page = new_page()
    login(page, server, "insp", f"/inspect/{facility['id']}")
    page.check("input[name=cat][value=fire]")
    page.click("#start-walk")
    page.wait_for_url("**/walk?**")
    item = page.locator("fieldset.item").first
    item.locator("label.r-fail").click()
    item.locator("textarea").fill("灭火器压力不足")
    page.click("#rest-pass")
    name_the_crew(page)
    page.click("#review")
    page.context.set_offline(True)
    page.click("#submit")
    expect(page.locator("#queue-count")).to_contain_text("1")
    [ref] = page.evaluate(
        """() => new Promise((resolve, reject) => {
        const opened = indexedDB.open('tracker', 1);
        opened.onerror = () => reject(opened.error);
        opened.onsuccess = () => {
          const all = opened.result.transaction('outbox').objectStore('outbox').getAll();
          all.onsuccess = () => { opened.result.close(); resolve(all.result.map(r => r.client_ref)); };
        };
        })"""
    )

    # Someone else sends that very ref first (a replay, or a ref guessed in advance).
    code = server.api("GET", "/api/checklists", "insp2", params={"facility_type": "nursing_home"}).json()[0]
    claimed = server.api(
        "POST",
        "/api/inspections",
        "insp2",
        json={
            "facility_id": facility["id"],
            "mode": "routine",
            "client_ref": ref,
            "items": [{"item": code["code"], "result": "pass", "note": ""}],
        },
    )
    assert claimed.status_code == 201, claimed.text

    # The signal returns: the server refuses the ref (409), the phone sends the same inspection again
    # under a fresh one, and the inspector sees what arrived as usual.
    page.context.set_offline(False)
    page.wait_for_url("**/inspect/done/*", timeout=20_000)
    expect(page.locator("#queue")).to_be_hidden()
    assert findings_of("insp") == before + 1
    with sqlite3.connect(server.data_dir / "tracker.db") as db:
        refs = dict(
            db.execute(
                "SELECT u.username, i.client_ref FROM inspections i JOIN users u ON u.id = i.inspector_id "
                "WHERE i.id IN (?, ?)",
                (claimed.json()["id"], int(page.url.rsplit("/", 1)[1])),
            ).fetchall()
        )
    assert refs["insp2"] == ref and refs["insp"] != ref
