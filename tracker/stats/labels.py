"""Chinese and English names of what the figures are about."""

from __future__ import annotations

from tracker.checklists import Catalog

METRIC_NAMES: dict[str, tuple[str, str]] = {
    "found": ("发现隐患", "Found"),
    "closed": ("销号隐患", "Closed"),
    "closed_of_found": ("本期发现且已销号", "Found and closed in period"),
    "closure_rate": ("整改率", "Closure rate"),
    "on_time": ("按期销号", "Closed on time"),
    "on_time_rate": ("按期整改率", "On-time closure rate"),
    "open": ("未销号", "Open"),
    "overdue": ("逾期未整改", "Overdue"),
    "open_major": ("未销号重大事故隐患", "Open major hazards"),
    "found_major": ("发现重大事故隐患", "Major hazards found"),
    "repeat": ("重复发现", "Repeat findings"),
    "escalated": ("升级督办", "Escalated"),
    "review_overdue": ("复查超期", "Verification overdue"),
}

DIMENSION_NAMES: dict[str, tuple[str, str]] = {
    "town": ("镇（街道）", "Town"),
    "facility_type": ("机构类型", "Facility type"),
    "facility": ("机构", "Facility"),
    "category": ("隐患类别", "Category"),
    "severity": ("隐患等级", "Severity"),
    "mode": ("检查方式", "Inspection mode"),
}

SEVERITY_NAMES = {"general": ("一般事故隐患", "General"), "major": ("重大事故隐患", "Major")}
MODE_NAMES = {
    "unannounced": ("四不两直", "Unannounced"),
    "covert": ("暗查暗访", "Covert"),
    "routine": ("日常检查", "Routine"),
    "self": ("自查自纠", "Self-inspection"),
    "special": ("专项检查", "Special campaign"),
    "register": ("证照到期", "Certificate lapsed"),
}
STATUS_NAMES = {
    "reported": ("已上报", "Reported"),
    "ordered": ("整改中", "Being rectified"),
    "submitted": ("待复查", "Awaiting verification"),
    "closed": ("已销号", "Closed"),
}


def value_label(dimension: str, key: str, catalog: Catalog | None = None, name: str | None = None) -> str:
    """ "中文 / English" for one group of a breakdown."""
    pair: tuple[str, str] | None = None
    if dimension == "severity":
        pair = SEVERITY_NAMES.get(key)
    elif dimension == "mode":
        pair = MODE_NAMES.get(key)
    elif dimension == "facility_type" and catalog is not None and key in catalog.facility_types:
        kind = catalog.facility_types[key]
        pair = (kind.zh, kind.en)
    elif dimension == "category" and catalog is not None and key in catalog.categories:
        cat = catalog.categories[key]
        pair = (cat.zh, cat.en)
    if pair:
        return f"{pair[0]} / {pair[1]}"
    return name or key
