"""Who may see the figures, and of what.

- Town officers (区镇民政办): their own town only; asking for another town is refused.
- Section chiefs, bureau leads and admins: every town, or one town they choose.
- Facility heads: none of it (403).
- Inspectors: none of it either (403). They see every finding they need on their own pages, but the
  dashboard is the bureau's account of its own performance, reported upward; the issue names only the
  leads, section chiefs, admins and town officers as its readers, so inspectors are left out until the
  bureau asks otherwise.
"""

from __future__ import annotations

from dataclasses import replace

from tracker.domain.errors import NotAllowed
from tracker.domain.model import Actor, Role, visible_to
from tracker.stats.query import Filter

ALL_TOWNS = frozenset({Role.SECTION_CHIEF, Role.BUREAU_LEAD, Role.ADMIN})
STATS_ROLES = ALL_TOWNS | {Role.TOWN_OFFICER}


def may_view_stats(actor: Actor) -> bool:
    return actor.role in STATS_ROLES


def scoped(actor: Actor, flt: Filter) -> Filter:
    """The filter narrowed to what `actor` may see; NotAllowed when they may see none of it."""
    if not may_view_stats(actor):
        raise NotAllowed("the dashboard is for bureau leads, section chiefs, admins and town officers")
    scope = visible_to(actor)
    if scope.everything:
        return flt
    if flt.town and flt.town != scope.town:
        raise NotAllowed("a town officer sees the figures of their own town only")
    return replace(flt, town=scope.town or "\x00no town")
