"""Chinese and English names of what the figures are about, as (中文, English) pairs from the one catalogue."""

from __future__ import annotations

from tracker.checklists import Catalog
from tracker.text.labels import DIMENSIONS, METRICS, MODES, SEVERITIES, STATUSES, pairs

METRIC_NAMES = pairs("metric", METRICS)
DIMENSION_NAMES = pairs("dimension", DIMENSIONS)
SEVERITY_NAMES = pairs("severity", SEVERITIES)
MODE_NAMES = pairs("mode", MODES)
STATUS_NAMES = pairs("status", STATUSES)


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
