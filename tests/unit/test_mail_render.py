"""Every message: subject, text and HTML, nothing unescaped; staff read Chinese first with English below, a
facility reads Chinese only, with no item code or finding number and dates as 2027年1月18日."""

from __future__ import annotations

import html
import re
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest

from tracker.mail.render import KINDS, TO_FACILITY, catalogue, render
from tracker.stats.periods import Period

FACILITY = SimpleNamespace(name="启东市中心敬老院", head_name="王建国", town="汇龙镇")


def finding(**changes: object) -> SimpleNamespace:
    values = {
        "id": 7,
        "item_code": "FIRE-EXIT-01",
        "item_zh": "安全出口堵塞",
        "item_en": "Exit blocked",
        "severity": "general",
        "due_day": date(2026, 12, 4),
        "due_estimated": False,
        "basis": "《消防法》第二十八条",
        "description": "",
        "stop_use": False,
    }
    return SimpleNamespace(**{**values, **changes})


def context(**changes: object) -> dict:
    return {
        "facility": FACILITY,
        "findings": [finding()],
        "link": "https://t.example/orders/1?token=abc",
        "level": 2,
        "note": "已整改",
        "inspector_name": "李检查",
        "days": 10,
        "accepted": True,
        "day": date(2026, 12, 18),
        "year": 2026,
        "items": [
            {
                "finding": finding(),
                "before": date(2026, 12, 1),
                "after": date(2026, 12, 4),
                "link": "https://t.example/findings/7",
            }
        ],
        "name": "张科长",
        "levels": "2",
        "reminded": [],
        "by_zh": "2026年12月7日9时",
        "by_en": "2026-12-07 09:00",
        "notice_no": "民安督〔2026〕3号",
        "issuer": "启东市民政局",
        "attachment": "整改通知书〔2026〕3号",
        **changes,
    }


# The 复查 mails list findings of many facilities to the bureau's people: their own test below.
REVIEW_KINDS = ("review_reminder", "review_escalation")
# So do the reminders of expiring certificates (tracker.service.certificates): their own test too.
CERTIFICATE_KINDS = ("certificate_due", "certificate_due_staff")
# The overdue-for-check reminder lists facilities, not findings: its own test below.
CHECK_KINDS = ("check_overdue",)
OWN_TESTS = {*REVIEW_KINDS, *CERTIFICATE_KINDS, *CHECK_KINDS}


@pytest.mark.parametrize("kind", sorted(set(KINDS) - TO_FACILITY - OWN_TESTS))
def test_it_renders_every_kind_for_staff_in_both_languages(kind: str):
    message = render(kind, **context())
    assert message.subject and "\n" not in message.subject
    assert "安全出口堵塞" in message.text and "Exit blocked" in message.text
    assert "《消防法》第二十八条" in message.text and "2026-12-04" in message.text
    assert message.html.index('lang="zh-CN"') < message.html.index('lang="en"')


LINK = "https://t.example/orders/1?token=abc"


@pytest.mark.parametrize("kind", sorted(TO_FACILITY - set(CERTIFICATE_KINDS)))
def test_a_facility_reads_its_mail_in_chinese_only_with_no_internal_code(kind: str):
    moved = {"finding": finding(), "before": date(2027, 1, 11), "after": date(2027, 1, 18), "link": LINK}
    # A 催办 lists the hazards due soon at the same unit too: those read in the facility's words as well.
    soon = finding(id=9, item_code="FIRE-EXT-02", item_zh="灭火器过期", due_day=date(2027, 1, 20))
    message = render(
        kind, **context(findings=[finding(due_day=date(2027, 1, 18))], items=[moved], reminded=[soon])
    )
    assert message.subject and "\n" not in message.subject
    html_words = re.sub(r"<[^>]*>", "", message.html)  # what the reader sees, not the markup
    for text in (message.subject, message.text, html_words):
        assert not re.search(r"[A-Za-z]{3,}", text.replace(LINK, "")), kind
        assert "FIRE-EXIT-01" not in text and "#7" not in text and "[7]" not in text
        assert "FIRE-EXT-02" not in text and "[9]" not in text
        assert "2027-01-18" not in text and "2027-01-20" not in text and "贵单位" not in text
    assert "安全出口堵塞" in message.text and "《消防法》第二十八条" in message.text
    if kind != "extension_decision":  # its date is the new deadline, in the subject
        assert "2027年1月18日" in message.text and "2027年1月18日" in message.html
    if kind == "urge":
        assert "灭火器过期" in message.text and "2027年1月20日" in message.text
    assert 'lang="en"' not in message.html


def test_the_facility_is_urged_about_its_own_unit_not_told_of_a_ladder_level():
    message = render("urge", **context())
    assert message.subject == "【催办】启东市中心敬老院：隐患逾期未整改，请于2026年12月7日9时前完成整改并报告"
    assert message.text.startswith("王建国：") and "你单位以下隐患已超过整改期限" in message.text
    assert "报送整改情况和整改前、后的照片" in message.text
    assert "第1级" not in message.text and "机构负责人" not in message.text


def test_it_puts_the_answer_link_in_the_order():
    message = render("order", **context())
    assert "https://t.example/orders/1?token=abc" in message.text
    assert 'href="https://t.example/orders/1?token=abc"' in message.html


def test_it_escapes_what_people_typed_in_html_but_not_in_text():
    message = render("order", **context(findings=[finding(description="<script>alert(1)</script>")]))
    assert "<script>" not in message.html and "&lt;script&gt;" in message.html
    assert "<script>alert(1)</script>" in message.text


def test_it_tells_staff_but_not_the_facility_when_a_deadline_was_estimated():
    estimated = [finding(due_estimated=True, due_day=date(2027, 1, 8))]
    for kind in ("order", "reminder", "urge"):
        message = render(kind, **context(findings=estimated))
        assert "2027年1月8日" in message.text
        for text in (message.text, message.html):
            assert "估算" not in text and "estimated" not in text, kind
    for kind in ("major_alert", "escalation", "deadline_passed"):
        message = render(kind, **context(findings=estimated))
        assert "按法定节日估算" in message.text and "estimated from the statutory holidays" in message.html


def test_it_says_your_unit_and_prints_no_doubt_of_the_checklist():
    doubtful = [
        finding(
            basis="《中华人民共和国消防法》第二十八条；可能属《养老机构重大事故隐患判定标准》第三方面情形（原文未核实）"
        )
    ]
    message = render("order", **context(findings=doubtful))
    assert "你单位" in message.text and "贵单位" not in message.text
    for text in (message.text, message.html):
        assert "《中华人民共和国消防法》第二十八条" in text
        assert "可能属" not in text and "未核实" not in text and "养老机构" not in text


def test_it_shouts_a_major_hazard_and_a_stop_order():
    message = render("major_alert", **context(findings=[finding(severity="major", stop_use=True)]))
    assert "重大事故隐患" in message.subject
    assert "须停止使用直至整改完毕" in message.text


def test_it_names_the_levels_and_facilities_of_an_escalation():
    lines = [
        finding(id=7, site="测试敬老院 F1（汇龙镇）", level=2, link="https://t.example/findings/7"),
        finding(id=8, site="殡仪馆（城区）", level=3, link="https://t.example/findings/8"),
    ]
    message = render("escalation", **context(findings=lines, levels="2、3"))
    assert "第2、3级" in message.subject and "2 项隐患" in message.subject
    assert "测试敬老院 F1（汇龙镇）" in message.text and "殡仪馆（城区）" in message.text
    assert "第3级" in message.text and 'href="https://t.example/findings/8"' in message.html


def test_it_urges_the_facility_in_its_own_words():
    message = render("urge", **context(reminded=[finding(id=9, item_zh="灭火器过期")]))
    assert "催办" in message.subject and "请于2026年12月7日9时前完成整改并报告" in message.subject
    assert "你单位以下隐患已超过整改期限" in message.text and "督促" not in message.text
    assert "灭火器过期" in message.text and "整改期限即将到期" in message.text
    now = render("urge", **context(by_zh=None, by_en=None))
    assert "请立即完成整改并报告" in now.subject


def test_it_files_a_closed_major_hazard_upward_under_its_notice_number_in_chinese_only():
    message = render("upward_filing", **{**context(findings=[finding(severity="major")]), "for_staff": False})
    assert "民安督〔2026〕3号" in message.subject and "销号备案" in message.subject
    assert "启东市民政局挂牌督办的重大事故隐患" in message.text and "附件" in message.text
    assert "重大事故隐患" in message.html and "安全出口堵塞" in message.html
    for text in (message.subject, message.text, re.sub(r"<[^>]*>", "", message.html)):
        assert not re.search(r"[A-Za-z]{3,}", text) and "FIRE-EXIT-01" not in text


def test_it_refuses_an_unknown_kind():
    with pytest.raises(ValueError, match="unknown mail kind"):
        render("gossip", **context())


def test_it_keeps_every_sentence_in_the_catalogue_in_both_languages():
    assert set(catalogue("zh")) == set(catalogue("en"))
    templates = Path(render.__code__.co_filename).parent / "templates"
    chinese = re.compile(r"[\u4e00-\u9fff]")
    assert [p.name for p in templates.iterdir() if chinese.search(p.read_text(encoding="utf-8"))] == []


def test_it_asks_the_inspector_about_more_time_and_tells_the_facility_either_way():
    asked = render("extension_request", **context(note="等待施工队"))
    assert "申请延长整改期限 10 个工作日" in asked.subject and "等待施工队" in asked.text
    granted = render("extension_decision", **context(note="同意"))
    assert "延期已同意" in granted.subject and "2026年12月18日" in granted.subject
    refused = render(
        "extension_decision", **context(accepted=False, day=date(2026, 12, 4), note="期限已足够")
    )
    assert "延期未同意" in refused.subject and "2026年12月4日" in refused.subject
    assert "期限已足够" in refused.text and "More time refused" not in refused.html


def test_it_tells_the_facility_the_old_and_the_new_day_of_a_moved_deadline():
    message = render("deadline_moved", **context(year=2027, items=[
        {"finding": finding(item_zh="<b>墙体裂缝</b>"), "before": date(2027, 2, 12), "after": date(2027, 2, 18), "link": "https://t.example/findings/7"}
    ]))  # fmt: skip
    assert "【整改期限顺延】启东市中心敬老院：1项隐患的整改期限按2027年节假日安排顺延" in message.subject
    assert "原整改期限 2027年2月12日，顺延至 2027年2月18日" in message.text
    assert "https://t.example/findings/7" in message.text
    assert "&lt;b&gt;墙体裂缝" in message.html and "<b>墙体裂缝" not in message.html
    for text in (message.text, message.html):
        assert "估算" not in text.split("顺延如下")[1]  # the new day is not marked as a guess to the facility


@pytest.mark.parametrize("kind", REVIEW_KINDS)
def test_it_lists_every_rectification_waiting_for_verification_in_one_mail(kind: str):
    rows = [
        {
            "id": n,
            "item_code": "FIRE-EXIT-01",
            "item_zh": "安全出口堵塞",
            "item_en": "Exit blocked",
            "severity": "general",
            "facility_name": f"敬老院<{n}>",
            "town": "汇龙镇",
            "submitted_day": date(2026, 11, 2),
            "review_day": date(2026, 11, 5),
        }
        for n in (7, 8)
    ]
    level = 1 if kind == "review_escalation" else 0
    message = render(kind, rows=rows, level=level, base_url="https://t.example")
    assert "2 项" in message.subject and "\n" not in message.subject
    assert "https://t.example/findings/7" in message.text and "https://t.example/findings/8" in message.text
    assert "2026-11-05" in message.text and "敬老院<8>" in message.text and "敬老院&lt;8&gt;" in message.html
    assert message.html.index('lang="zh-CN"') < message.html.index('lang="en"')
    if level:
        assert "第1级" in message.subject and "科室负责人" in message.text


def test_a_major_hazards_steps_read_to_the_facility_in_chinese_only():
    steps = [
        {
            "id": 7,
            "facility": FACILITY.name,
            "item_zh": "安全出口堵塞",
            "notice_no": "民安督〔2026〕1号",
            "what": "overdue",
            "stage_zh": "治理方案",
            "stage_en": "Remediation plan",
            "day": date(2027, 1, 18),
            "level": 1,
            "link": LINK,
        }
    ]
    for kind, extra in (
        ("supervision_due", {"steps": steps, "link": None}),
        ("supervision_step", {"stage": "plan"}),
    ):
        message = render(kind, **{**context(), **extra, "for_staff": False})
        html_words = re.sub(r"<[^>]*>", "", message.html)
        for text in (message.subject, message.text, html_words):
            assert not re.search(r"[A-Za-z]{3,}", text.replace(LINK, "")), (kind, text)
            assert "[7]" not in text and "FIRE-EXIT-01" not in text
        assert 'lang="en"' not in message.html
    assert (
        "治理方案：期限 2027年1月18日 已过（第1级督办）"
        in render("supervision_due", **{**context(), "steps": steps, "link": None, "for_staff": False}).text
    )


def test_the_order_names_its_attachment_and_how_to_ask_for_more_time():
    message = render("order", **context())
    for text in (message.text, re.sub(r"<[^>]*>", "", message.html)):
        assert "整改通知书见附件“整改通知书〔2026〕3号”" in text
        assert "申请延期整改" in text and "工作日天数和理由" in text


@pytest.mark.parametrize("kind", sorted(set(KINDS) - OWN_TESTS))
def test_every_mail_is_one_column_a_phone_shows_whole_with_no_internal_number(kind: str):
    message = render(kind, **context(findings=[finding(link="https://t.example/findings/7")]))
    assert "max-width:600px" in message.html and 'name="viewport"' in message.html
    if kind != "digest":  # its figures are a three-column table of short numbers
        assert "<table" not in message.html, kind
    seen = re.sub(r"<[^>]*>", "", message.html)
    assert "#7" not in seen and not re.search(r"(^|\s)7(\s|$)", seen, re.M), kind


@pytest.mark.parametrize("kind", REVIEW_KINDS)
def test_the_review_mails_link_each_finding_without_showing_its_number(kind: str):
    rows = [
        {
            "id": 7,
            "item_code": "FIRE-EXIT-01",
            "item_zh": "安全出口堵塞",
            "item_en": "Exit blocked",
            "severity": "general",
            "facility_name": "敬老院",
            "town": "汇龙镇",
            "submitted_day": date(2026, 11, 2),
            "review_day": date(2026, 11, 5),
        }
    ]
    message = render(kind, rows=rows, level=1, base_url="https://t.example")
    assert 'href="https://t.example/findings/7"' in message.html
    assert "#7" not in re.sub(r"<[^>]*>", "", message.html) and "<table" not in message.html


def certificate_rows() -> list[dict]:
    return [
        {
            "id": 3,
            "facility_id": 1,
            "facility_name": "启东市中心敬老院",
            "facility_code": "QD001",
            "kind_zh": "电梯定期检验（下次检验日期）",
            "kind_en": "Lift periodic inspection",
            "label": "1号梯",
            "number": "3106-2019-0012",
            "expires_on": date(2027, 1, 18),
            "days_left": 7,
        }
    ]


def test_a_facility_is_reminded_of_its_certificates_in_chinese_only():
    message = render("certificate_due", rows=certificate_rows(), days=7, base_url="https://t.example")
    assert message.subject == "【证照到期提醒】1 项证照或检验将于 7 日内到期"
    link = "https://t.example/facilities/1/certificates"
    for text in (message.subject, message.text, re.sub(r"<[^>]*>", "", message.html)):
        assert not re.search(r"[A-Za-z]{3,}", text.replace(link, ""))
    assert "1号梯" in message.text and "2027年1月18日" in message.text and "还剩 7 天" in message.text
    assert (
        'lang="en"' not in message.html and "<table" not in message.html and "max-width:600px" in message.html
    )


def test_the_section_is_reminded_of_certificates_in_both_languages():
    message = render("certificate_due_staff", rows=certificate_rows(), days=30, base_url="https://t.example")
    assert "\n" not in message.subject and "expire within 30 days" in message.subject
    assert "启东市中心敬老院" in message.text and "Lift periodic inspection" in message.text
    assert "2027-01-18" in message.text
    assert 'href="https://t.example/facilities/1/certificates"' in message.html
    assert (
        message.html.index('lang="zh-CN"') < message.html.index('lang="en"') and "<table" not in message.html
    )


# What each staff mail lists beside its findings: a major hazard's steps, a week's escalations, 复查 rows.
STAFF_LISTS: dict[str, dict] = {
    "supervision_due": {
        "link": None,
        "steps": [
            {
                "id": 7,
                "facility": "测试敬老院 F1",
                "item_zh": "安全出口堵塞",
                "notice_no": "民安督〔2026〕1号",
                "what": "overdue",
                "stage_zh": "治理方案",
                "stage_en": "Remediation plan",
                "day": date(2027, 1, 18),
                "level": 1,
                "link": "https://t.example/findings/7",
            }
        ],
    },
    "digest": {
        "week": Period(date(2026, 11, 30), date(2026, 12, 7)),
        "figures": [],
        "town": "汇龙镇",
        "escalated": [(7, 2, None), (8, 2, None), (9, 3, None)],
    },
}


# The certificate reminder lists a register's entries and the overdue-for-check one facilities, not findings
# (their own tests above).
@pytest.mark.parametrize(
    "kind", sorted(set(KINDS) - TO_FACILITY - {"certificate_due_staff"} - set(CHECK_KINDS))
)
def test_a_staff_mails_text_names_each_finding_as_its_html_does_never_by_number(kind: str):
    site = "测试敬老院 F1（汇龙镇）"
    rows = [
        {
            "id": 7,
            "item_code": "FIRE-EXIT-01",
            "item_zh": "安全出口堵塞",
            "item_en": "Exit blocked",
            "severity": "general",
            "facility_name": "测试敬老院 F1",
            "town": "汇龙镇",
            "submitted_day": date(2026, 11, 2),
            "review_day": date(2026, 11, 5),
        }
    ]
    lines = [finding(site=site, level=2, link="https://t.example/findings/7")]
    message = render(
        kind, **context(findings=lines, rows=rows, base_url="https://t.example", **STAFF_LISTS.get(kind, {}))
    )
    seen = html.unescape(re.sub(r"<[^>]*>", "", message.html))
    for text in (message.text, seen):
        assert "[7]" not in text and not re.search(r"#\d", text), (kind, text)
    assert "安全出口堵塞" in message.text
    for name in (site, "测试敬老院 F1", FACILITY.name, "第2级", "第3级"):
        if name in seen:
            assert name in message.text, (kind, name)


def test_the_overdue_for_check_reminder_names_each_facility_and_whose_frequency_it_is():
    facilities = [
        {
            "name": "中心敬老院",
            "town": "汇龙镇",
            "required": "镇（街道）每月至少1次（本局安排）",
            "last": "2027-02-10",
        },
        {"name": "公墓", "town": "南阳镇", "required": "民政局每年至少1次（本局安排）", "last": None},
    ]
    message = render(
        "check_overdue",
        window_zh="2027年3月",
        window_en="2027-03",
        facilities=facilities,
        link="https://t.example/dashboard/coverage?list=overdue",
    )
    assert (
        message.subject
        == "【超期未检】2027年3月：2 家机构未按频次检查 / Overdue for a check, 2027-03: 2 facilities"
    )
    assert "中心敬老院（汇龙镇）：镇（街道）每月至少1次（本局安排）；最近检查 2027-02-10" in message.text
    assert "公墓（南阳镇）：民政局每年至少1次（本局安排）；最近检查 从未检查" in message.text
    assert "max-width:600px" in message.html and "<table" not in message.html
    assert message.html.index('lang="zh-CN"') < message.html.index('lang="en"')
