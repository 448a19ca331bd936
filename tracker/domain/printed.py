"""How the bureau's served documents and mails write things: dates, grades, and a basis with no internal doubt."""

from __future__ import annotations

import re
from datetime import date, datetime

from tracker.domain.calendar import LOCAL_TZ

GRADE = {"general": "一般事故隐患", "major": "重大事故隐患"}
# Words that mark a doubt of the checklist's authors: they never reach a facility. A finding stored before the
# printed basis was split from the internal note may still hold one; such a clause is left out.
DOUBT_MARKERS = ("待核", "未核实", "可能属", "估算", "est.")
_PARENTHESIS = re.compile(r"（[^（）]*）|\([^()]*\)")


def cn_date(day: date | datetime) -> str:
    """2027年1月18日: how a served document writes a date (a moment in China Standard Time)."""
    if isinstance(day, datetime):
        day = day.astimezone(LOCAL_TZ).date()
    return f"{day.year}年{day.month}月{day.day}日"


def printed_basis(text: str) -> str:
    """The basis as it may be printed: any clause or parenthesis holding a doubt left out."""
    clauses = []
    for clause in re.split(r"[；;]", text or ""):
        clause = _PARENTHESIS.sub(lambda m: "" if _doubtful(m.group(0)) else m.group(0), clause).strip()
        if clause and not _doubtful(clause):
            clauses.append(clause)
    return "；".join(clauses)


def _doubtful(text: str) -> bool:
    return any(marker in text for marker in DOUBT_MARKERS)
