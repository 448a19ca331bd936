"""What a facility head and the verifier notice: chosen photos shown before sending, a refusal that keeps the
note and says so where the form is, no inspector menu for the head, the facility's account above the decision
and a word after 销号, people by their names, the days granted as granted."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import PIPELINE_SECONDS, Server, login, order_link, png, shot

pytestmark = pytest.mark.e2e

HEAD_NAME = "张建国"  # head1's name, from the facilities' CSV (head_name): the head was added without --name
INSPECTOR_NAME = "检查员甲"


def _report(server: Server, code: str, note: str) -> tuple[int, int]:
    """One failed general item at facility `code`, through the API; (finding id, order id) once ordered."""
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
            "items": [{"item": item["code"], "result": "fail", "note": note}],
        },
    )
    assert answer.status_code == 201, answer.text
    finding_id = answer.json()["findings"][0]["id"]

    def ordered() -> int | None:
        return server.api("GET", f"/api/findings/{finding_id}", "insp").json()["order_id"]

    return finding_id, server.wait_for(
        ordered, timeout=PIPELINE_SECONDS, what=f"finding {finding_id} ordered"
    )


def test_the_head_sees_each_chosen_photo_and_keeps_the_note_when_a_file_is_refused(
    server: Server, new_page: Callable[[], Page], tmp_path: Path
) -> None:
    finding_id, order_id = _report(server, "E2E01", "灭火器压力不足")
    head = new_page()
    head.goto(order_link(server.order_mail("head1@facility.example.cn", order_id)))
    section = head.locator(f"section.finding[data-finding='{finding_id}']")

    # An earlier request for more time: its banner must not stand over what happens next.
    section.locator("details.extension summary").click()
    section.locator(".extension-form input[name=days]").fill("10")
    section.locator(".extension-form textarea[name=reason]").fill("等待厂家送货")
    section.locator(".extension-form button[type=submit]").click()
    expect(head.locator("#asked-message")).to_be_visible()

    # A photo chosen: a thumbnail and its size (as it will be sent, shrunk on the phone) before sending.
    camera = tmp_path / "camera.png"
    camera.write_bytes(png(2400, 1800, rgb=(30, 120, 200)))
    section = head.locator(f"section.finding[data-finding='{finding_id}']")
    section.locator("input[name=photo]").set_input_files(str(camera))
    expect(section.locator(".chosen-list img")).to_have_count(1)
    expect(section.locator(".chosen-total")).to_contain_text("已选 1 张照片")
    expect(section.locator(".chosen-size")).to_have_text(re.compile(r"^\d+(\.\d)? (KB|MB)$"))
    head.wait_for_function(
        "(img) => img.complete && img.naturalWidth > 0",
        arg=section.locator(".chosen-list img").element_handle(),
    )
    shot(head, "facility-01-photo-chosen")

    # A file that is no photo: refused in words beside the form; the note stays as typed.
    note = "已更换灭火器三具，并张贴检查记录卡"
    section.locator("textarea[name=note]").fill(note)
    section.locator("input[name=photo]").set_input_files(
        {"name": "清单.txt", "mimeType": "text/plain", "buffer": "不是照片".encode()}
    )
    expect(section.locator(".chosen-total")).to_contain_text("已选 1 张照片")
    section.locator("form.rectify button[type=submit]").click()
    refused = head.locator(f"section.finding[data-finding='{finding_id}'] #error-message")
    expect(refused).to_contain_text("只能上传 JPEG、PNG 或 WebP 格式的照片")
    expect(refused).to_contain_text("请重新选择照片")
    expect(head.locator("#asked-message")).to_have_count(0)
    section = head.locator(f"section.finding[data-finding='{finding_id}']")
    expect(section.locator("textarea[name=note]")).to_have_value(note)
    shot(head, "facility-02-file-refused")

    section.locator("input[name=photo]").set_input_files(str(camera))
    expect(section.locator(".chosen-list img")).to_have_count(1)
    section.locator("form.rectify button[type=submit]").click()
    expect(head.locator(f"section.finding[data-finding='{finding_id}'] #sent-message")).to_be_visible()
    expect(head.locator("#asked-message")).to_have_count(0)


def test_a_logged_in_head_has_no_inspection_menu(server: Server, new_page: Callable[[], Page]) -> None:
    _, order_id = _report(server, "E2E01", "疏散指示标志损坏")
    head = new_page()
    login(head, server, "head1", f"/orders/{order_id}")
    expect(head.locator("h1")).to_contain_text("整改通知书")
    for path in (f"/orders/{order_id}", "/my"):
        head.goto(server.base_url + path)
        expect(head.locator("header nav")).to_be_visible()
        expect(head.locator("header nav a[href='/inspect']")).to_have_count(0)
        expect(head.locator("header nav")).not_to_contain_text("开始检查")
    inspector = new_page()
    login(inspector, server, "insp", "/my")
    expect(inspector.locator("header nav a[href='/inspect']")).to_have_text("开始检查")


def test_the_verifier_reads_the_facilitys_account_first_and_is_told_of_the_closure(
    server: Server, new_page: Callable[[], Page], tmp_path: Path
) -> None:
    finding_id, order_id = _report(server, "E2E01", "消防通道堆放杂物")
    evidence = tmp_path / "after.png"
    evidence.write_bytes(png(640, 480, rgb=(40, 160, 60)))
    head = new_page()
    head.goto(order_link(server.order_mail("head1@facility.example.cn", order_id)))
    section = head.locator(f"section.finding[data-finding='{finding_id}']")
    section.locator("textarea[name=note]").fill("杂物已全部清走，通道畅通")
    section.locator("input[name=photo]").set_input_files(str(evidence))
    expect(section.locator(".chosen-list img")).to_have_count(1)
    section.locator("form.rectify button[type=submit]").click()
    expect(head.locator("#sent-message")).to_be_visible()

    inspector = new_page()
    login(inspector, server, "insp", f"/findings/{finding_id}")
    account = inspector.locator("#account")
    expect(account).to_contain_text("杂物已全部清走，通道畅通")
    expect(account).to_contain_text(HEAD_NAME)
    expect(account.locator(".account-photos img")).to_have_count(1)
    above = account.bounding_box()
    decision = inspector.locator("#verify-form").bounding_box()
    assert above and decision and above["y"] + above["height"] <= decision["y"], (above, decision)
    shot(inspector, "facility-03-verify")

    inspector.fill("#verify-form textarea[name=note]", "现场复查，通道畅通")
    inspector.click("#accept")
    done = inspector.locator("#done")
    expect(done).to_contain_text("已销号")
    expect(done).to_contain_text("汇龙镇测试敬老院")
    expect(inspector.locator(".pill[data-status]")).to_have_attribute("data-status", "closed")
    history = inspector.locator("ol.history")
    expect(history).to_contain_text(HEAD_NAME)
    expect(history).to_contain_text(INSPECTOR_NAME)
    expect(history).not_to_contain_text("head1")
    expect(history).not_to_contain_text(" insp")
    shot(inspector, "facility-04-closed")


def test_a_partial_grant_shows_the_days_granted(server: Server, new_page: Callable[[], Page]) -> None:
    finding_id, order_id = _report(server, "E2E01", "厨房燃气报警器失效")
    head = new_page()
    head.goto(order_link(server.order_mail("head1@facility.example.cn", order_id)))
    section = head.locator(f"section.finding[data-finding='{finding_id}']")
    section.locator("details.extension summary").click()
    section.locator(".extension-form input[name=days]").fill("30")
    section.locator(".extension-form textarea[name=reason]").fill("   ")  # blank to the server: refused
    section.locator(".extension-form button[type=submit]").click()
    section = head.locator(f"section.finding[data-finding='{finding_id}']")
    expect(section.locator("#error-message")).to_contain_text("请写明理由")
    expect(section.locator("details.extension")).to_have_attribute("open", "")
    expect(head.locator("#asked-message")).to_have_count(0)
    section.locator(".extension-form input[name=days]").fill("30")
    section.locator(".extension-form textarea[name=reason]").fill("需要燃气公司上门更换")
    section.locator(".extension-form button[type=submit]").click()
    expect(head.locator("#asked-message")).to_be_visible()

    inspector = new_page()
    login(inspector, server, "insp", f"/findings/{finding_id}")
    expect(inspector.locator("#extensions")).to_contain_text(HEAD_NAME)
    inspector.fill("#extension-form input[name=days]", "20")
    inspector.click("#extension-accept")
    granted = inspector.locator("#extensions li[data-status=accepted]")
    expect(granted).to_contain_text("同意 20 个工作日（申请 30 个）")
    expect(granted).not_to_contain_text("已同意 · 30")

    head.reload()
    expect(
        head.locator(f"section.finding[data-finding='{finding_id}'] .extension-decisions")
    ).to_contain_text("同意 20 个工作日（申请 30 个）")
