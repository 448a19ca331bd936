"""Each message is three templates: subject, plain text, HTML. Staff read Chinese first and English below; a
facility reads Chinese only, as on the order it was served: no item codes or finding numbers, dates as
2027年1月18日 (`TO_FACILITY`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, pass_context, select_autoescape

from tracker.config import load_settings
from tracker.documents.printed import cn_date, printed_basis
from tracker.domain.text import one_line
from tracker.domain.time import shown
from tracker.product import named

KINDS = (
    "order",
    "reminder",
    "urge",
    "escalation",
    "deadline_passed",
    "major_alert",
    "supervision_notice",
    "verification_request",
    "closure",
    "rejection",
    "extension_request",
    "extension_decision",
    "regrade",
    "digest",
    "deadline_moved",
    "review_reminder",
    "review_escalation",
    "supervision_due",
    "supervision_step",
    "upward_filing",
    "certificate_due",
    "certificate_due_staff",
    "check_overdue",
)


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


_env = Environment(
    loader=PackageLoader("tracker.mail", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["shown"] = shown

_MESSAGES = Path(__file__).parent / "messages"


@cache
def catalogue(lang: str) -> dict[str, str]:
    """Every sentence of the mails, per language; the templates hold none of their own."""
    texts = json.loads((_MESSAGES / f"{lang}.json").read_text(encoding="utf-8"))
    return {key: named(lang, text) for key, text in texts.items()}


def _say(lang: str):
    def say(key: str, **values: Any) -> str:
        text = catalogue(lang)[key]
        return text.format(**values) if values else text

    return say


def _county() -> str:
    """全县 or 全市 (TRACKER_COUNTY_WORD): how the whole area is named."""
    return load_settings().county_word


@pass_context
def _day(context: Any, day: date | None) -> str:
    """A date as its reader writes it: 2027年1月18日 for a facility, ISO for staff (who also read English)."""
    if day is None:
        return "—"
    return day.isoformat() if context.get("for_staff", True) else cn_date(day)


_env.globals.update(zh=_say("zh"), en=_say("en"), county=_county)
_env.filters["printed"] = printed_basis
_env.filters["cn_date"] = cn_date
_env.filters["day"] = _day
# Mails read by the facility: Chinese only, as on the order; an estimated deadline is given as the date alone.
TO_FACILITY = frozenset(
    {
        "order",
        "reminder",
        "urge",
        "rejection",
        "closure",
        "extension_decision",
        "regrade",
        "deadline_moved",
        "certificate_due",
    }
)


def render(kind: str, **context: Any) -> Rendered:
    if kind not in KINDS:
        raise ValueError(f"unknown mail kind {kind!r}")
    to_facility = kind in TO_FACILITY
    context = {"for_staff": not to_facility, **context}
    # A name with a line separator in it would break the Subject header, and the mail with it.
    subject = one_line(_env.get_template(f"{kind}.subject.txt").render(context))
    text = _env.get_template(f"{kind}.txt").render(context)
    html = _env.get_template(f"{kind}.html").render(context)
    return Rendered(subject=subject, text=text, html=html)
