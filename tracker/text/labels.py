"""The labels of what the product counts and prints — grade, status, inspection mode, role, the dashboard's
figures and breakdowns — in both languages, all taken from the one catalogue (tracker.text.catalogue).

The rule for a hazard's grade: it is written by its legal name, 一般事故隐患 / 重大事故隐患, wherever it stands as
a label — pages, mail, the documents served in the bureau's name, Excel. The short 一般 / 重大
(`severity.*.short`) are for a narrow table column whose heading already says what is graded (the monthly
report's overdue list, the "其中重大" counts); 重大隐患 is not written. Facility types and check categories are
named by the checklists' data (tracker.checklists), escalation actions by tracker.domain.actions."""

from __future__ import annotations

from typing import Any

from tracker.text.catalogue import catalogue

SEVERITIES = ("general", "major")
STATUSES = ("reported", "ordered", "submitted", "closed")
MODES = ("unannounced", "covert", "routine", "self", "special", "register")
METRICS = (
    "found",
    "closed",
    "closed_of_found",
    "closure_rate",
    "on_time",
    "on_time_rate",
    "open",
    "overdue",
    "open_major",
    "found_major",
    "repeat",
    "escalated",
    "review_overdue",
)
DIMENSIONS = ("town", "facility_type", "facility", "category", "severity", "mode")


def pair(key: str) -> tuple[str, str]:
    """The label `key` as (Chinese, English)."""
    return catalogue("zh")[key], catalogue("en")[key]


def pairs(prefix: str, keys: tuple[str, ...]) -> dict[str, tuple[str, str]]:
    return {key: pair(f"{prefix}.{key}") for key in keys}


# The grade as a served document prints it.
GRADE: dict[str, str] = {severity: pair(f"severity.{severity}")[0] for severity in SEVERITIES}

# What the figures are about, as (中文, English) pairs.
METRIC_NAMES = pairs("metric", METRICS)
DIMENSION_NAMES = pairs("dimension", DIMENSIONS)
SEVERITY_NAMES = pairs("severity", SEVERITIES)
MODE_NAMES = pairs("mode", MODES)
STATUS_NAMES = pairs("status", STATUSES)


def value_label(dimension: str, key: str, catalog: Any = None, name: str | None = None) -> str:
    """ "中文 / English" for one group of a breakdown; facility types and categories named by the checklists'
    `catalog` (tracker.checklists.Catalog)."""
    named: tuple[str, str] | None = None
    if dimension == "severity":
        named = SEVERITY_NAMES.get(key)
    elif dimension == "mode":
        named = MODE_NAMES.get(key)
    elif dimension == "facility_type" and catalog is not None and key in catalog.facility_types:
        kind = catalog.facility_types[key]
        named = (kind.zh, kind.en)
    elif dimension == "category" and catalog is not None and key in catalog.categories:
        cat = catalog.categories[key]
        named = (cat.zh, cat.en)
    if named:
        return f"{named[0]} / {named[1]}"
    return name or key
