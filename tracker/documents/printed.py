"""How the bureau's served documents and mails write things: dates, grades, and a basis with no internal doubt."""

from __future__ import annotations

import functools
import re
from datetime import date, datetime

from tracker.checklists.model import unverified_marker
from tracker.domain.time import local_day
from tracker.text.labels import GRADE

__all__ = ["GRADE", "cn_date", "printed_basis"]
_PARENTHESIS = re.compile(r"（[^（）]*）|\([^()]*\)")


def cn_date(day: date | datetime) -> str:
    """2027年1月18日: how a served document writes a date (a moment in China Standard Time)."""
    if isinstance(day, datetime):
        day = local_day(day)
    return f"{day.year}年{day.month}月{day.day}日"


@functools.lru_cache(maxsize=4096)  # a handful of bases, printed on every order, mail and list
def printed_basis(text: str) -> str:
    """The basis as it may be printed: any clause or parenthesis holding a doubt left out. A finding's basis is the
    checked one already (tracker.checklists, migration 0022); this keeps a doubt off a served page all the same,
    should one slip into a finding by other means."""
    clauses = []
    for clause in re.split(r"[；;]", text or ""):
        clause = _PARENTHESIS.sub(lambda m: "" if _doubtful(m.group(0)) else m.group(0), clause).strip()
        if clause and not _doubtful(clause):
            clauses.append(clause)
    return "；".join(clauses)


def _doubtful(text: str) -> bool:
    return unverified_marker(text) is not None
