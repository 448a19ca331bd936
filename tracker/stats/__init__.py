"""The one query layer: every figure of the dashboard, the exports, the monthly report, the digest and the API.

The definitions are in `tracker.stats.query`'s docstring; the pages show them as a footnote."""

from tracker.stats.periods import Period, parse_period
from tracker.stats.query import Filter
from tracker.stats.scope import may_view_stats, scoped

__all__ = ["Filter", "Period", "may_view_stats", "parse_period", "scoped"]
