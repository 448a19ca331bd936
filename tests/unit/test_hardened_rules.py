"""The pure rules behind issue 17's edges: who may self-inspect, when an order link ends, what a subject and an
imported name may hold, what the log and an Excel cell keep, and which headers go with which answer."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from openpyxl import Workbook

from tracker import tokens
from tracker.documents.spreadsheets import append_row
from tracker.domain import model
from tracker.domain.errors import NotAllowed
from tracker.domain.model import Actor, FacilityRef, Mode, Role
from tracker.domain.text import hidden_characters, one_line
from tracker.mail.render import KINDS, render
from tracker.web.access_log import RedactTokens, redact
from tracker.web.headers import headers_for

FACILITY = FacilityRef(7, "汇龙镇")
NOW = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
SECRET = "unit-secret-key-0123456789-abcdefghijkl"
GRACE = timedelta(days=14)


@pytest.mark.parametrize(
    "actor",
    [
        Actor(1, "insp", Role.INSPECTOR),
        Actor(2, "town", Role.TOWN_OFFICER, town="汇龙镇"),
        Actor(3, "chief", Role.SECTION_CHIEF),
        Actor(4, "admin", Role.ADMIN),
    ],
    ids=lambda a: a.role.value,
)
def test_only_a_facility_head_files_a_self_inspection(actor: Actor) -> None:
    with pytest.raises(NotAllowed, match="self-inspection"):
        model.may_report(actor, FACILITY, Mode.SELF)
    model.may_report(actor, FACILITY, Mode.UNANNOUNCED)
    model.may_report(Actor(5, "head", Role.FACILITY_HEAD, facility_id=7), FACILITY, Mode.SELF)


def claims(head: int | None) -> dict:
    link = tokens.order_link("https://t.example", SECRET, 9, head, NOW)
    return tokens.read(SECRET, link.split("token=")[1], NOW)


def test_an_order_link_names_its_head_and_ends_two_weeks_after_the_order_closed() -> None:
    mailed = claims(head=5)
    assert mailed["sub"] == "order:9" and mailed["head"] == 5
    assert mailed["exp"] - mailed["iat"] == 60 * 86400
    tokens.check_order_link(mailed, 5, None, NOW + timedelta(days=59), GRACE)  # open: up to its 60 days
    closed = NOW + timedelta(days=3)
    tokens.check_order_link(mailed, 5, closed, closed + timedelta(days=13), GRACE)
    with pytest.raises(tokens.LinkEnded, match="closed"):
        tokens.check_order_link(mailed, 5, closed, closed + timedelta(days=15), GRACE)
    with pytest.raises(tokens.LinkEnded, match="head"):
        tokens.check_order_link(mailed, 6, None, NOW, GRACE)
    with pytest.raises(tokens.LinkEnded, match="head"):
        tokens.check_order_link(mailed, None, None, NOW, GRACE)
    # A facility with no head's account yet: the link opens until someone takes the post.
    tokens.check_order_link(claims(head=None), None, None, NOW, GRACE)
    with pytest.raises(tokens.LinkEnded):
        tokens.check_order_link(claims(head=None), 5, None, NOW, GRACE)
    # A link from before heads were named in it does not act for anyone.
    old = tokens.read(SECRET, tokens.sign(SECRET, "order:9", NOW, timedelta(days=60), scope="order"), NOW)
    with pytest.raises(tokens.LinkEnded):
        tokens.check_order_link(old, 5, None, NOW, GRACE)


def test_it_finds_and_flattens_the_characters_that_break_a_line() -> None:
    assert hidden_characters("汇龙镇敬老院") == []
    assert hidden_characters("a\u2028b\u2029c\x85d\te\u202ef\x07\u2028") == [
        "U+2028",
        "U+2029",
        "U+0085",
        "U+0009",
        "U+202E",
        "U+0007",
    ]
    assert one_line(" 汇龙镇\u2028敬老院\r\n  整改 ") == "汇龙镇 敬老院 整改"


# The certificate reminders' and the overdue-check reminder's subjects carry only a count, a number of days or a
# window, no name.
NAMELESS_SUBJECTS = ("certificate_due", "check_overdue")


@pytest.mark.parametrize("kind", [k for k in KINDS if not k.startswith(NAMELESS_SUBJECTS)])
def test_no_subject_carries_a_line_separator_from_a_name(kind: str) -> None:
    facility = SimpleNamespace(name="汇龙镇\u2028敬老院\u2029", head_name="王\x85建国", town="汇龙镇")
    finding = SimpleNamespace(
        id=7,
        item_code="FIRE-EXIT-01",
        item_zh="安全出口\u2028堵塞",
        item_en="Exit blocked",
        severity="general",
        due_day=NOW.date(),
        due_estimated=False,
        basis="",
        description="",
        stop_use=False,
    )
    message = render(
        kind,
        facility=facility,
        findings=[finding],
        link="https://t.example/orders/1?token=abc",
        level=2,
        note="",
        inspector_name="李",
        days=10,
        accepted=True,
        day=NOW.date(),
        year=NOW.year,
        items=[{"finding": finding, "before": NOW.date(), "after": NOW.date(), "link": "https://t.example"}],
        name="李\u2028四",
        levels="1、2",
        by_zh="2026年11月3日9时",
        urged=[finding],
        reminded=[],
        base_url="https://t.example",
        notice_no="民安督〔2026〕1号",
        issuer="启东市民政局",
        attachment="整改通知书〔2026〕1号",
        rows=[
            SimpleNamespace(
                **vars(finding),
                facility_name=facility.name,
                town=facility.town,
                submitted_day=NOW.date(),
                review_day=NOW.date(),
            )
        ],
    )
    assert hidden_characters(message.subject) == []
    assert message.subject == message.subject.strip()


def test_the_log_keeps_no_order_token() -> None:
    assert redact("GET /orders/5?token=eyJ.abc.def HTTP/1.1") == "GET /orders/5?token=[redacted] HTTP/1.1"
    assert (
        redact("GET /lang/en?next=%2Forders%2F5%3Ftoken%3DeyJ.abc&x=1")
        == "GET /lang/en?next=%2Forders%2F5%3Ftoken%3D[redacted]&x=1"
    )
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        "",
        0,
        '%s - "%s %s HTTP/%s" %d',
        ("1.2.3.4:5", "GET", "/orders/5?token=eyJ.x", "1.1", 200),
        None,
    )
    RedactTokens().filter(record)
    assert record.getMessage() == '1.2.3.4:5 - "GET /orders/5?token=[redacted] HTTP/1.1" 200'


def test_a_cell_that_would_be_a_formula_is_kept_as_text() -> None:
    sheet = Workbook().active
    row = ['=HYPERLINK("http://x")', "+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "汇龙镇", -5, 3.5, None]
    append_row(sheet, row)
    cells = list(sheet[1])
    assert [c.value for c in cells] == row
    assert [c.data_type for c in cells[:7]] == ["s"] * 7
    assert all(c.quotePrefix for c in cells[:6]) and not cells[6].quotePrefix
    assert cells[7].data_type == "n" and cells[8].data_type == "n"


def test_headers_go_with_the_answer() -> None:
    page = dict(headers_for("/inspect", https=False))
    assert b"script-src 'self';" in page[b"content-security-policy"]
    assert b"unsafe-inline" not in page[b"content-security-policy"]
    assert page[b"x-frame-options"] == b"DENY" and b"strict-transport-security" not in page
    assert b"cache-control" not in page
    order = dict(headers_for("/orders/3", https=True))
    assert order[b"cache-control"] == b"no-store"
    assert order[b"strict-transport-security"].startswith(b"max-age=")
