"""Checklists as data: the catalog of items, facility types and composite rules.

catalog = load_catalog()              # checklists/ of the repository, or TRACKER_CHECKLISTS_DIR
catalog.items(facility_type="nursing_home", category="fire")
apply_rules(catalog.rules, [("FIRE-EXIT-01", "general"), ...])
catalog.item("FIRE-EXIT-01", version="2024.1")   # as an older version of the fire checklist worded it
catalog.at(date(2026, 1, 1)).items()             # the versions in effect on another day
catalog.campaign_items("flood_season", "nursing_home")

Publishing campaigns (tracker.checklists.campaigns) and export (tracker.checklists.export) touch the
database and WeasyPrint/openpyxl, so they are imported from their modules, not from here.
"""

from tracker.checklists.loader import load_catalog
from tracker.checklists.model import (
    Campaign,
    Catalog,
    Category,
    ChecklistInvalid,
    FacilityType,
    Frequency,
    Item,
    Rule,
    RuleHit,
    Severity,
)
from tracker.checklists.rules import apply_rules

__all__ = [
    "Campaign",
    "Catalog",
    "Category",
    "ChecklistInvalid",
    "FacilityType",
    "Frequency",
    "Item",
    "Rule",
    "RuleHit",
    "Severity",
    "apply_rules",
    "load_catalog",
]
