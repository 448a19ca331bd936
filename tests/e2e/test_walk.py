"""The inspector's walk on a phone: one section at a time under a progress bar, the draft kept on the phone
through a reload, a warning before leaving, refusals said in words and put right, and a done page that gives
the deadlines and where the order went."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.sync_api import Dialog, Page, expect

from tests.e2e.conftest import PASSWORD, PIPELINE_SECONDS, ROOT, Server, login, name_the_crew, png, shot
from tests.e2e.test_pages_under_csp import watch

pytestmark = pytest.mark.e2e


def _walk(page: Page, server: Server, code: str, *categories: str) -> None:
    [facility] = server.api("GET", "/api/facilities", "insp", params={"q": code}).json()
    login(page, server, "insp", f"/inspect/{facility['id']}")
    for category in categories:
        page.check(f"input[name=cat][value={category}]")
    page.click("#start-walk")
    page.wait_for_url("**/walk?**")
    page.wait_for_selector("#inspection[data-ready]", state="attached")


def _findings_of(server: Server, code: str) -> int:
    [facility] = server.api("GET", "/api/facilities", "insp", params={"q": code}).json()
    return server.api("GET", "/api/findings", "insp", params={"facility_id": facility["id"]}).json()["total"]


def _eventually(page: Page, predicate: Callable[[], bool], what: str) -> None:
    for _ in range(100):
        if predicate():
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"no sign of {what}")


def _draft_answers(page: Page) -> int:
    """How many answers the draft on the phone holds (IndexedDB, one per person and walk), once it holds the person
    present."""
    return page.evaluate(
        """() => new Promise((resolve) => {
        const opened = indexedDB.open('tracker-drafts', 1);
        opened.onupgradeneeded = () => opened.result.createObjectStore('drafts', {keyPath: 'key'});
        opened.onsuccess = () => {
          const got = opened.result.transaction('drafts').objectStore('drafts')
            .get(document.getElementById('inspection').dataset.user + '|' + location.pathname + location.search);
          got.onsuccess = () => {
            opened.result.close();
            const d = got.result;
            resolve(d && d.present ? Object.keys(d.answers).filter((k) => d.answers[k].result).length : -1);
          };
        };
        })"""
    )


def test_a_reload_mid_walk_restores_every_answer_and_photo_and_leaving_warns(
    server: Server, new_page: Callable[[], Page], tmp_path: Path
) -> None:
    photo = tmp_path / "exit.png"
    photo.write_bytes(png(rgb=(160, 30, 30)))
    before = _findings_of(server, "E2E01")
    page = new_page()
    problems = watch(page)
    _walk(page, server, "E2E01", "fire", "ebike")
    total = page.locator("fieldset.item").count()
    first_section = page.locator("section.walk-section[data-section='0'] fieldset.item").count()
    assert 0 < first_section < total
    # One section at a time, and nothing answered yet.
    expect(page.locator("section.walk-section[data-section='1']")).to_be_hidden()
    expect(page.locator("#progress")).to_have_text(f"已检查 0 / {total} · 有隐患 0")
    # The crew hint names the inspector as people read it.
    expect(page.get_by_text("检查人员应不少于两人：检查员甲之外")).to_be_visible()
    onsite = page.locator("#onsite-time").inner_text()

    # Items are worded as the hazard, so they are answered 有隐患 / 无隐患.
    items = page.locator("section.walk-section[data-section='0'] fieldset.item")
    hazard = items.nth(2)
    expect(hazard.locator("label.r-fail")).to_have_text("有隐患")
    hazard.locator("label.r-fail").click()
    hazard.locator("textarea").fill("安全出口堆放轮椅和杂物")
    hazard.locator(".photo-input").set_input_files(str(photo))
    expect(hazard.locator(".thumbs img")).to_have_count(1)
    fine = items.nth(3)
    fine.locator("label.r-pass").click()
    # Answered and fine: folded to one line, opened again by a tap.
    expect(fine.locator(".fold-line")).to_contain_text("无隐患")
    expect(fine.locator("label.r-pass")).to_be_hidden()
    expect(page.locator("#progress")).to_have_text(f"已检查 2 / {total} · 有隐患 1")

    # The section list jumps to the second section; its count says what is done there.
    page.click("#sections-toggle")
    expect(page.locator("#section-list button[data-goto='0']")).to_contain_text(f"2/{first_section}")
    page.click("#section-list button[data-goto='1']")
    expect(page.locator("section.walk-section[data-section='1']")).to_be_visible()
    expect(page.locator("section.walk-section[data-section='0']")).to_be_hidden()
    second = page.locator("section.walk-section[data-section='1'] fieldset.item").first
    second.locator("label.r-na").click()
    expect(page.locator("#progress")).to_have_text(f"已检查 3 / {total} · 有隐患 1")
    page.click("#prev-section")
    name_the_crew(page, "护理部主任周红")
    page.wait_for_function("""() => document.getElementById('person-present').value === '护理部主任周红'""")
    _eventually(page, lambda: _draft_answers(page) == 3, "the draft to hold three answers")
    shot(page, "30-walk-section")

    # Leaving with unsent answers asks first; staying keeps the page.
    walk_url = page.url
    seen: list[str] = []

    def stay(dialog: Dialog) -> None:
        seen.append(dialog.type)
        dialog.dismiss()

    page.once("dialog", stay)
    page.locator("header a[href='/my']").click()
    _eventually(page, lambda: seen == ["beforeunload"], "a warning before leaving")
    assert page.url == walk_url
    expect(page.locator("#progress")).to_have_text(f"已检查 3 / {total} · 有隐患 1")

    # A reload (or a crash, or Back) loses nothing: answers, note, photo, crew, person present, on-site time.
    page.once("dialog", lambda dialog: dialog.accept())
    page.reload()
    expect(page.locator("#draft-note")).to_be_visible()
    hazard = page.locator(f"#{hazard.get_attribute('id')}")
    expect(hazard.locator("input[value=fail]")).to_be_checked()
    expect(hazard.locator("textarea")).to_have_value("安全出口堆放轮椅和杂物")
    expect(hazard.locator(".thumbs img")).to_have_count(1)
    expect(page.locator(f"#{fine.get_attribute('id')} .fold-line")).to_be_visible()
    expect(page.locator(f"#{second.get_attribute('id')} input[value=na]")).to_be_checked()
    expect(page.locator("#crew input[type=checkbox]:checked")).to_have_count(1)
    expect(page.locator("#person-present")).to_have_value("护理部主任周红")
    expect(page.locator("#onsite-time")).to_have_text(onsite)
    expect(page.locator("#progress")).to_have_text(f"已检查 3 / {total} · 有隐患 1")
    shot(page, "31-walk-restored")

    # Sent once, with the restored photo; the done page gives the deadline and where the order went.
    page.click("#review")
    expect(page.locator("#review-panel")).to_be_visible()
    page.click("#submit")
    page.wait_for_url("**/inspect/done/*")
    expect(page.locator("#done-findings .deadline")).to_contain_text("整改期限")
    expect(page.locator("#order-mail")).to_contain_text("head1@facility.example.cn")
    expect(page.locator("#order-mail")).to_contain_text("已发送至 张建国", timeout=PIPELINE_SECONDS * 1000)
    # A blocked exit is put right the same day: said so, not as "0 working days".
    expect(page.locator("#done-findings .deadline")).to_contain_text("（当日）")
    shot(page, "32-walk-done")
    assert _findings_of(server, "E2E01") == before + 1
    href = page.locator("#done-findings a.card").first.get_attribute("href")
    finding = server.api("GET", href.replace("/findings/", "/api/findings/"), "insp").json()
    assert finding["description"] == "安全出口堆放轮椅和杂物" and len(finding["photos"]) == 1

    # The draft went with the inspection: the walk opens afresh.
    page.goto(walk_url)
    page.wait_for_selector("#inspection[data-ready]", state="attached")
    expect(page.locator("#draft-note")).to_be_hidden()
    expect(page.locator("#progress")).to_have_text(f"已检查 0 / {total} · 有隐患 0")
    assert problems == []


def test_a_too_long_note_is_refused_in_words_and_sent_once_shortened(
    server: Server, new_page: Callable[[], Page]
) -> None:
    before = _findings_of(server, "E2E02")
    page = new_page()
    _walk(page, server, "E2E02", "fire")
    item = page.locator("fieldset.item").nth(4)
    item.locator("label.r-fail").click()
    # Pasted by a browser that does not hold the box to its limit.
    item.locator("textarea").evaluate("(box) => { box.value = '消'.repeat(4100); }")
    page.click("#rest-pass")
    name_the_crew(page)
    page.click("#review")
    expect(page.locator("#status")).to_contain_text("问题描述太长：4100 字，最多 4000 字")
    expect(page.locator("#status")).not_to_contain_text("object")
    expect(page.locator("#review-panel")).to_be_hidden()
    expect(item).to_have_class(re.compile(r"\brefused\b"))
    expect(item.locator("textarea")).to_be_visible()

    item.locator("textarea").fill("消防控制室无人值班")
    page.click("#review")
    page.click("#submit")
    page.wait_for_url("**/inspect/done/*")
    assert _findings_of(server, "E2E02") == before + 1


def _tracker(server: Server, *args: str, stdin: str = "") -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    subprocess.run(
        [sys.executable, "-m", "tracker", *args, "--data", str(server.data_dir)],
        cwd=ROOT,
        env=env,
        input=stdin.encode(),
        check=True,
        capture_output=True,
        timeout=60,
    )


def test_a_queued_inspection_the_server_refuses_is_said_in_words_and_put_right(
    server: Server, new_page: Callable[[], Page]
) -> None:
    _tracker(
        server,
        "users",
        "add",
        "--role",
        "inspector",
        "--username",
        "insp-leaving",
        "--name",
        "检查员丙",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    before = _findings_of(server, "E2E02")
    page = new_page()
    _walk(page, server, "E2E02", "fire")
    item = page.locator("fieldset.item").first
    item.locator("label.r-fail").click()
    item.locator("textarea").fill("厨房灭火器失效")
    page.click("#rest-pass")
    page.locator("#crew label.choice", has_text="检查员丙").click()
    page.fill("#person-present", "站长")
    page.click("#review")
    page.context.set_offline(True)
    page.click("#submit")
    expect(page.locator("#queue-count")).to_contain_text("1")

    # While the phone had no signal, the co-inspector left the register: the server refuses the inspection.
    _tracker(server, "users", "deactivate", "insp-leaving")
    page.context.set_offline(False)
    expect(page.locator("#refusal")).to_contain_text("同行检查人员已不在检查人员名册中")
    expect(page.locator("#queue")).not_to_contain_text("object")
    assert _findings_of(server, "E2E02") == before

    # Elsewhere, the waiting inspection says why it was refused and opens again to be put right.
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("header a[href='/my']").click()
    page.wait_for_url("**/my")
    expect(page.locator("#queue")).to_contain_text("同行检查人员已不在检查人员名册中")
    shot(page, "33-walk-refused-queue")
    page.locator("#queue a.queue-edit").click()
    page.wait_for_url("**/walk?**")
    expect(page.locator("#draft-note")).to_be_visible()
    expect(page.locator("#refusal")).to_contain_text("同行检查人员已不在检查人员名册中")
    expect(item.locator("textarea")).to_have_value("厨房灭火器失效")
    # The page comes from the register as it is now: the one who left is no longer offered.
    expect(page.locator("#crew")).not_to_contain_text("检查员丙")
    page.locator("#crew label.choice", has_text="检查员乙").click()
    page.click("#review")
    page.click("#submit")
    page.wait_for_url("**/inspect/done/*")
    expect(page.locator("#queue")).to_be_hidden()
    assert _findings_of(server, "E2E02") == before + 1


def test_a_refusal_while_the_page_waits_is_said_at_once_and_not_parked_as_no_signal(
    server: Server, new_page: Callable[[], Page]
) -> None:
    _tracker(
        server,
        "users",
        "add",
        "--role",
        "inspector",
        "--username",
        "insp-gone",
        "--name",
        "检查员丁",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    before = _findings_of(server, "E2E01")
    page = new_page()
    _walk(page, server, "E2E01", "gas")
    item = page.locator("fieldset.item").first
    item.locator("label.r-fail").click()
    item.locator("textarea").fill("燃气报警器未通电")
    page.click("#rest-pass")
    page.locator("#crew label.choice", has_text="检查员丁").click()
    page.fill("#person-present", "厨师长")
    page.click("#review")
    _tracker(server, "users", "deactivate", "insp-gone")
    page.click("#submit")
    expect(page.locator("#refusal")).to_contain_text("同行检查人员已不在检查人员名册中")
    expect(page.locator("#status")).not_to_contain_text("没有网络")
    expect(page.locator("#queue")).to_be_hidden()
    expect(page.locator("#onsite")).to_be_visible()

    page.locator("#crew label.choice", has_text="检查员丁").click()
    page.locator("#lone").check()
    page.click("#review")
    page.click("#submit")
    page.wait_for_url("**/inspect/done/*")
    expect(page.locator("#done")).to_be_visible()
    assert _findings_of(server, "E2E01") == before + 1


def test_a_draft_stays_with_its_inspector_on_a_shared_phone(
    server: Server, new_page: Callable[[], Page]
) -> None:
    page = new_page()
    _walk(page, server, "E2E02", "fire")
    first = page.locator("section.walk-section[data-section='0'] fieldset.item").first
    first.locator("label.r-fail").click()
    first.locator("textarea").fill("检查员甲写下的问题")
    _eventually(
        page,
        lambda: page.evaluate("() => document.getElementById('draft-note') !== null"),
        "the walk page",
    )
    walk_url = page.url
    page.wait_for_timeout(500)  # the draft is written 200 ms after typing
    # The next person on this phone logs in (the first logs out, or not) and opens the same walk.
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("form[action='/logout'] button")
    page.wait_for_url(lambda url: "/logout" not in url)
    login(page, server, "insp2", quote(walk_url.removeprefix(server.base_url), safe="/"))
    page.wait_for_selector("#inspection[data-ready]", state="attached")
    expect(page.locator("#draft-note")).to_be_hidden()
    expect(
        page.locator("section.walk-section[data-section='0'] fieldset.item").first.locator("textarea")
    ).to_have_value("")


def test_marking_the_rest_no_hazard_leaves_every_answer_given_and_names_the_sections_it_filled(
    server: Server, new_page: Callable[[], Page]
) -> None:
    page = new_page()
    _walk(page, server, "E2E01", "fire", "ebike")
    first = page.locator("section.walk-section[data-section='0'] fieldset.item")
    second = page.locator("section.walk-section[data-section='1'] fieldset.item")
    total, in_first, in_second = page.locator("fieldset.item").count(), first.count(), second.count()
    hazard, fixed = first.nth(1), first.nth(2)
    hazard.locator("label.r-fail").click()
    hazard.locator("textarea").fill("疏散通道堆放杂物")
    fixed.locator("label.r-fixed").click()
    fixed.locator("textarea").fill("当场移走")
    page.click("#next-section")
    absent = second.nth(0)
    absent.locator("label.r-na").click()
    page.click("#prev-section")

    page.click("#rest-pass")
    # Only what was not answered became 无隐患; each answer given stays as it was.
    expect(hazard.locator("input[value=fail]")).to_be_checked()
    expect(hazard.locator("textarea")).to_have_value("疏散通道堆放杂物")
    expect(fixed.locator("input[value=fixed]")).to_be_checked()
    expect(absent.locator("input[value=na]")).to_be_checked()
    expect(page.locator("#progress")).to_have_text(f"已检查 {total} / {total} · 有隐患 1")
    assert page.locator("fieldset.item input[value=pass]:checked").count() == total - 3
    # And it says how many, in which sections: the second was never opened.
    expect(page.locator("#status")).to_have_text(
        f"已将 {total - 3} 项未检查项标为无隐患：消防安全 {in_first - 2} 项、电动自行车停放充电 {in_second - 1} 项。"
    )
    shot(page, "34-walk-rest-pass")
    # Pressed again, there is nothing left to mark.
    page.click("#rest-pass")
    expect(page.locator("#status")).to_have_text("没有未检查的项目。")


def _draft_records(page: Page, age_ms: int | None = None) -> list[str]:
    """The keys of what the phone keeps of drafts (the answers, and each photo apart); given an age, every record's
    last save is first set that long ago, as if the phone had lain in a drawer."""
    return page.evaluate(
        """(age) => new Promise((resolve) => {
        const opened = indexedDB.open('tracker-drafts', 1);
        opened.onupgradeneeded = () => opened.result.createObjectStore('drafts', {keyPath: 'key'});
        opened.onsuccess = () => {
          const t = opened.result.transaction('drafts', 'readwrite'), store = t.objectStore('drafts');
          const keys = [];
          store.openCursor().onsuccess = (e) => {
            const c = e.target.result;
            if (!c) { return; }
            keys.push(c.key);
            if (age !== null) { c.update({...c.value, saved: Date.now() - age}); }
            c.continue();
          };
          t.oncomplete = () => { opened.result.close(); resolve(keys); };
        };
        })""",
        age_ms,
    )


def test_a_draft_says_its_age_when_restored_and_is_dropped_with_its_photos_after_seven_days(
    server: Server, new_page: Callable[[], Page], tmp_path: Path
) -> None:
    photo = tmp_path / "wire.png"
    photo.write_bytes(png(rgb=(30, 30, 160)))
    page = new_page()
    _walk(page, server, "E2E01", "gas")
    total = page.locator("fieldset.item").count()
    hazard = page.locator("fieldset.item").first
    hazard.locator("label.r-fail").click()
    hazard.locator("textarea").fill("燃气软管老化")
    hazard.locator(".photo-input").set_input_files(str(photo))
    expect(hazard.locator(".thumbs img")).to_have_count(1)
    _eventually(page, lambda: len(_draft_records(page)) == 2, "the draft and its photo on the phone")
    page.wait_for_timeout(500)  # the last keystroke's save (200 ms) has landed

    day = 86_400_000
    _draft_records(page, 2 * day + 3_600_000)
    page.once("dialog", lambda dialog: dialog.accept())
    page.reload()
    page.wait_for_selector("#inspection[data-ready]", state="attached")
    expect(page.locator("#draft-note")).to_be_visible()
    expect(page.locator("#draft-text")).to_contain_text("2 天前）。草稿 7 天未修改即自动删除。")
    expect(hazard.locator("textarea")).to_have_value("燃气软管老化")
    expect(hazard.locator(".thumbs img")).to_have_count(1)
    shot(page, "35-walk-draft-age")

    # A week and a day untouched: gone when a page opens, the photo with it; the walk starts afresh.
    _draft_records(page, 8 * day)
    page.once("dialog", lambda dialog: dialog.accept())
    page.reload()
    page.wait_for_selector("#inspection[data-ready]", state="attached")
    expect(page.locator("#draft-note")).to_be_hidden()
    expect(page.locator("#progress")).to_have_text(f"已检查 0 / {total} · 有隐患 0")
    expect(hazard.locator("textarea")).to_have_value("")
    assert _draft_records(page) == []
