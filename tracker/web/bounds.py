"""The ranges the web accepts for ids, list positions and reporting dates. A value outside them is answered
422 naming its field (tracker.web.app's handler), never carried to the database or the calendar, where it
failed as a 500: an id past 64 bits overflowed SQLite's integer, a day in year 1 the local-time conversion."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import HTTPException, Path, Query

# Ids are INTEGER columns: 32 bits on PostgreSQL, so the lower of the two databases' limits.
MAX_ID = 2**31 - 1
# Far more rows than any list will hold; keeps an offset, and a page times its size, inside 64 bits.
MAX_OFFSET = 10**9
MAX_PAGE = 10**6
# Reporting periods: nothing this bureau inspected lies before 2000, and a period may end by 2100.
FIRST_DAY = date(2000, 1, 1)
END_DAY = date(2100, 1, 1)
DAY_PATTERN = r"^(\d{4}-\d{2}-\d{2})?$"
MONTH_PATTERN = r"^\d{4}-\d{1,2}$"

# An id in a URL's path, and an id filter in its query.
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
FacilityFilter = Annotated[int | None, Query(ge=1, le=MAX_ID)]


def reporting_day(name: str, text: str | None) -> date | None:
    """An ISO day given as the `name` query value, inside [FIRST_DAY, END_DAY]; empty is None."""
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise HTTPException(status_code=422, detail=f"{name}: not a date like 2025-03-01") from None
    if not FIRST_DAY <= day <= END_DAY:
        raise HTTPException(
            status_code=422, detail=f"{name}: dates from {FIRST_DAY} to {END_DAY} only, not {text}"
        )
    return day
