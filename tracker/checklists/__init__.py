"""Checklists as data: the catalog of items, facility types and composite rules.

catalog = load_catalog()              # checklists/ of the repository, or TRACKER_CHECKLISTS_DIR
catalog.items(facility_type="nursing_home", category="fire")
apply_rules(catalog.rules, [("FIRE-EXIT-01", "general"), ...])
"""

from tracker.checklists.loader import load_catalog
from tracker.checklists.model import (
    Catalog,
    Category,
    ChecklistInvalid,
    FacilityType,
    Item,
    Rule,
    RuleHit,
    Severity,
)
from tracker.checklists.rules import apply_rules

__all__ = [
    "Catalog",
    "Category",
    "ChecklistInvalid",
    "FacilityType",
    "Item",
    "Rule",
    "RuleHit",
    "Severity",
    "apply_rules",
    "load_catalog",
]
