"""One catalogue per language and one template environment: every label has one source, and pages, mails and
served documents render with the same filters and words."""

from __future__ import annotations

import re
from pathlib import Path

from tracker.documents.printed import GRADE
from tracker.domain.actions import WORDS, ActionKind
from tracker.stats.coverage import LISTS
from tracker.text.catalogue import catalogue, translate
from tracker.text.labels import METRIC_NAMES, MODE_NAMES, SEVERITY_NAMES, STATUS_NAMES
from tracker.text.templating import environment, strict
from tracker.web.app import templates as app_templates
from tracker.web.pages.common import templates as page_templates

TRACKER = Path(__file__).parents[2] / "tracker"


def test_it_has_the_same_keys_in_both_languages():
    assert set(catalogue("zh")) == set(catalogue("en"))


def test_it_names_a_grade_by_its_legal_name_wherever_it_is_a_label():
    assert GRADE == {"general": "一般事故隐患", "major": "重大事故隐患"}
    assert SEVERITY_NAMES["major"] == (translate("zh", "severity.major"), translate("en", "severity.major"))
    for key in ("major_alert.subject", "supervision_due.subject", "supervision_step.subject"):
        assert translate("zh", key).startswith("【重大事故隐患"), key


def test_it_never_writes_the_short_name_of_a_major_hazard_as_a_label():
    sources = [*catalogue("zh").values()]
    for folder in ("web/templates", "mail/templates", "documents/templates"):
        sources += [p.read_text(encoding="utf-8") for p in (TRACKER / folder).iterdir()]
    assert not [s for s in sources if re.search(r"重大隐患(?!判定)", s)]


def test_the_dashboard_the_pages_and_the_documents_share_one_label_per_value():
    for key, (zh, en) in STATUS_NAMES.items():
        assert (zh, en) == (translate("zh", f"status.{key}"), translate("en", f"status.{key}"))
    for key, (zh, en) in MODE_NAMES.items():
        assert (zh, en) == (translate("zh", f"mode.{key}"), translate("en", f"mode.{key}"))
    assert METRIC_NAMES["open_major"] == ("未销号重大事故隐患", "Open major hazards")


def test_the_bureaus_escalation_actions_read_the_same_in_the_domain_and_on_the_pages():
    for kind in ActionKind:
        assert WORDS[kind] == translate("zh", f"action.action_{kind.value}")


def test_pages_mails_and_documents_render_with_one_environment():
    assert app_templates.env is environment() and page_templates.env is environment()
    assert strict().linked_to is environment()
    assert strict().filters is environment().filters and strict().globals is environment().globals


def test_it_escapes_html_and_leaves_text_alone():
    assert environment().autoescape("record_pdf.html") and strict().autoescape("mail/order.html")
    assert not strict().autoescape("mail/order.txt") and not strict().autoescape("mail/order.subject.txt")


def test_the_desks_pages_take_their_own_words_from_the_catalogue():
    # pick() is for a pair from data (a checklist item's text, a stage); a label the page writes is a key.
    desk = sorted((TRACKER / "web/templates").glob("dashboard*.html"))
    assert desk and not [p.name for p in desk if re.search(r"pick\(\s*'", p.read_text(encoding="utf-8"))]


def test_each_coverage_list_and_the_figures_definitions_are_words_of_both_catalogues():
    # A page's t() shows a missing key as the key itself; a list named in stats must be named in both languages.
    assert {name: catalogue("zh")[f"coverage.{name}"] for name in LISTS} == {
        "facilities": "机构总数",
        "checked": "已检查",
        "not_checked": "未检查",
        "due": "应检未检",
        "overdue": "超期未检",
        "never": "从未检查",
    }
    assert all(catalogue("en")[f"coverage.{name}"] for name in LISTS)
    assert catalogue("zh")["desk.definitions"].startswith("口径：统计期自起始日至截止日")
    assert catalogue("en")["desk.definitions"].startswith("Definitions: the period runs")
