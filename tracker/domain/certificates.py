"""A facility's register of what expires: when its reminders are due and when an entry has lapsed.

Pure: `today` (the bureau's local day) is passed in. An entry's `expires_on` is the last day it holds (the
下次检验日期 of a lift, the end date printed on a licence); it has lapsed from the day after."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import IntEnum

from tracker.domain.errors import InvalidInput


class Stage(IntEnum):
    """How far an entry's sweep has gone for its current expiry date; a new date starts again at NONE."""

    NONE = 0
    MONTH = 1  # reminded 30 days before
    WEEK = 2  # reminded 7 days before
    LAPSED = 3  # expired: a finding was raised on its checklist item


# Days before expiry each reminder goes out.
REMIND_BEFORE = {Stage.MONTH: 30, Stage.WEEK: 7}
HORIZON_DAYS = max(REMIND_BEFORE.values())
MAX_LABEL = 100
MAX_NUMBER = 60


def stage_due(expires_on: date, today: date) -> Stage:
    """The furthest stage due on `today`. An entry registered a week before it expires gets the 7-day reminder
    only, one registered already expired raises its finding at once."""
    if today > expires_on:
        return Stage.LAPSED
    left = (expires_on - today).days
    if left <= REMIND_BEFORE[Stage.WEEK]:
        return Stage.WEEK
    if left <= REMIND_BEFORE[Stage.MONTH]:
        return Stage.MONTH
    return Stage.NONE


def days_left(expires_on: date, today: date) -> int:
    return (expires_on - today).days


@dataclass(frozen=True)
class Entry:
    """One line of the register as someone typed it, checked."""

    kind: str
    label: str
    number: str
    expires_on: date

    @classmethod
    def parse(cls, kind: str, label: str, number: str, expires_on: str, kinds: frozenset[str]) -> Entry:
        kind, label, number, expires_on = kind.strip(), label.strip(), number.strip(), expires_on.strip()
        if kind not in kinds:
            raise InvalidInput("kind", f"unknown kind {kind!r}; one of {', '.join(sorted(kinds))}")
        if not label:
            raise InvalidInput("label", "say which one: the equipment's number or the person's name")
        if len(label) > MAX_LABEL:
            raise InvalidInput("label", f"at most {MAX_LABEL} characters")
        if len(number) > MAX_NUMBER:
            raise InvalidInput("number", f"at most {MAX_NUMBER} characters")
        if any(c in text for text in (label, number) for c in "\x00\r\n"):
            raise InvalidInput("label", "one line of text")
        try:
            day = date.fromisoformat(expires_on)
        except ValueError:
            raise InvalidInput("expires_on", f"{expires_on!r} is not a date written YYYY-MM-DD") from None
        if not 2000 <= day.year <= 2100:
            raise InvalidInput("expires_on", f"{expires_on} is not a plausible expiry date")
        return cls(kind, label, number, day)
