"""Each message is three templates: subject, plain text, HTML; Chinese first, English below."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

KINDS = (
    "order",
    "reminder",
    "escalation",
    "major_alert",
    "verification_request",
    "closure",
    "rejection",
    "digest",
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

SEVERITY = {"general": ("一般隐患", "general hazard"), "major": ("重大事故隐患", "MAJOR hazard")}
LEVEL_ROLE = {
    1: ("机构负责人", "facility head"),
    2: ("区镇民政办", "town civil-affairs office"),
    3: ("科室负责人", "bureau section chief"),
    4: ("局领导", "bureau lead"),
}


def render(kind: str, **context: Any) -> Rendered:
    if kind not in KINDS:
        raise ValueError(f"unknown mail kind {kind!r}")
    context = {"severity_names": SEVERITY, "level_roles": LEVEL_ROLE, **context}
    subject = _env.get_template(f"{kind}.subject.txt").render(context).strip().replace("\n", " ")
    text = _env.get_template(f"{kind}.txt").render(context)
    html = _env.get_template(f"{kind}.html").render(context)
    return Rendered(subject=subject, text=text, html=html)
