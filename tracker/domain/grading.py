"""A finding's grade: an item the checklist maps to a major hazard is never recorded lower in silence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tracker.domain.errors import InvalidInput, InvalidTransition, NotAllowed
from tracker.domain.model import Actor, Mode, Role, Severity

# Who may approve or refuse recording a major-mapped item as general.
DOWNGRADE_DECIDERS = frozenset({Role.SECTION_CHIEF, Role.BUREAU_LEAD, Role.ADMIN})
PENDING, APPROVED, REFUSED = "pending", "approved", "refused"
# How far ahead of the server a phone's clock may run when it stamps the on-site time.
CLOCK_SKEW = timedelta(minutes=15)


@dataclass(frozen=True)
class Grade:
    severity: Severity
    downgrade: str | None = None  # pending: the inspector asked for general, a section chief decides
    reason: str | None = None


def grade(default: Severity, given: Severity | None, reason: str, field: str = "severity_reason") -> Grade:
    """The grade a failed item is recorded with. An item whose default is major, recorded as general, needs a
    reason; the finding stays major (listed, mailed as major) and its downgrade waits for a decision. Any other
    grade the inspector gives is taken as given."""
    reason = reason.strip()
    if given is None or given is default:
        return Grade(default, reason=reason or None)
    if default is Severity.MAJOR and given is Severity.GENERAL:
        if not reason:
            raise InvalidInput(
                field, "this item is a major hazard by default: say why it is recorded as general"
            )
        return Grade(Severity.MAJOR, PENDING, reason)
    return Grade(given, reason=reason or None)


def may_decide_downgrade(actor: Actor) -> None:
    if actor.role not in DOWNGRADE_DECIDERS:
        raise NotAllowed("only a section chief, a bureau lead or an admin may decide on a downgrade")


def decide_downgrade(state: str | None, approved: bool) -> str:
    if state != PENDING:
        raise InvalidTransition("no downgrade of this finding waits for a decision")
    return APPROVED if approved else REFUSED


def crew(mode: Mode, submitter_id: int, others: list[int]) -> list[int]:
    """Who made the check, the submitter first. A facility's self-inspection has no bureau inspectors."""
    if mode is Mode.SELF and others:
        raise InvalidInput("inspectors", "a self-inspection is made by the facility: it names no inspectors")
    if submitter_id in others:
        raise InvalidInput("inspectors", "the submitter is an inspector already; list only the others")
    if len(set(others)) != len(others):
        raise InvalidInput("inspectors", "an inspector is listed twice")
    return [submitter_id, *others]


def onsite_time(onsite_at: datetime | None, now: datetime) -> datetime | None:
    """The on-site time as taken on the phone: with a time zone, not ahead of the server beyond a phone
    clock's drift; a time a few minutes ahead is taken as now."""
    if onsite_at is None:
        return None
    if onsite_at.tzinfo is None:
        raise InvalidInput("onsite_at", "give the on-site time with its time zone")
    if onsite_at > now + CLOCK_SKEW:
        raise InvalidInput("onsite_at", "the on-site time lies in the future")
    return min(onsite_at, now)
