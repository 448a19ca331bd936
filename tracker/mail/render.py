"""Each message is three templates: subject, plain text, HTML. Staff read Chinese first and English below; a
facility reads Chinese only, as on the order it was served: no item codes or finding numbers, dates as
2027年1月18日 (`TO_FACILITY`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tracker.domain.text import one_line
from tracker.text.catalogue import catalogue
from tracker.text.templating import strict

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


# Kinds that differ only in their words share their templates, which ask for the words of `kind`.
TEMPLATE = {"review_reminder": "review", "review_escalation": "review"}

__all__ = ["KINDS", "TO_FACILITY", "Rendered", "catalogue", "render"]


def render(kind: str, **context: Any) -> Rendered:
    if kind not in KINDS:
        raise ValueError(f"unknown mail kind {kind!r}")
    to_facility = kind in TO_FACILITY
    context = {"for_staff": not to_facility, **context, "kind": kind}
    name = f"mail/{TEMPLATE.get(kind, kind)}"
    env = strict()
    # A name with a line separator in it would break the Subject header, and the mail with it.
    subject = one_line(env.get_template(f"{name}.subject.txt").render(context))
    text = env.get_template(f"{name}.txt").render(context)
    html = env.get_template(f"{name}.html").render(context)
    return Rendered(subject=subject, text=text, html=html)
