"""Deadline, reminder and escalation policy, as pure functions.

Rules (numbers live in ``PolicySettings``):

- A rectification deadline is counted in Chinese working days from the *local* (Asia/Shanghai) date
  the order was issued. It ends at 23:59:59 local time on its day, so the facility has the whole of
  its last working day. ``workdays == 0`` means "immediately": the end of the order's own day if that
  is a working day, else the end of the next working day.
- A reminder goes out at ``remind_hour`` local time, ``remind_before_workdays`` working days before
  the deadline day, unless that moment is not after the order was issued.
- When the deadline passes the hazard escalates to level 1 at ``remind_hour`` local time of the next
  working day (never at midnight, never on a holiday eve); it then climbs one level every
  ``escalate_every_workdays`` working days, at ``remind_hour`` local time, up to the top of the
  facility's ladder (``LADDERS``, by who runs it) or ``max_level``, whichever is lower.
  Level 1 is always the facility itself (催办); each later level tells the people of one step.
- A failed verification gives the facility a new deadline: the working days the verifier chose, by default the
  item's own deadline days (``rejection_deadline_days`` where the finding has none).
- A submitted rectification is to be verified (复查) within ``review_deadline_days`` working days per severity
  (3 by default), counted like a deadline from the day it was submitted. The inspector is reminded
  ``review_remind_before_workdays`` working days before at ``remind_hour``; an overdue 复查 escalates on the
  bureau's own side (``REVIEW_LADDER``: the sector's section chiefs, then its bureau leads) at ``remind_hour``
  of the first working day after its day, then one level every ``escalate_every_workdays`` working days.
- A deadline counted over an estimated year is counted again, from the same start, once that year's schedule is
  loaded; it moves only if the new day is later (``settled_deadline``): a facility is never given less time than
  it was told.

Every datetime in and out is timezone-aware; results are UTC. A naive datetime raises ``ValueError``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from enum import StrEnum

from tracker.domain.calendar import LOCAL_TZ, WorkingCalendar
from tracker.domain.model import Ownership, Role, Severity


class Rung(StrEnum):
    """Who is told at a step of the ladder. Bureau people are only those of the facility's sector."""

    FACILITY = "facility"  # the facility itself: 催办 in its own words
    TOWN = "town"  # 镇（街道）: the town officers of the facility's town
    SECTION = "section"  # 业务科室: the section chiefs of the facility's sector
    SECTOR_LEAD = "sector_lead"  # 分管局领导: the bureau leads of the facility's sector
    PRINCIPAL = "principal"  # 主要负责人: the bureau's principal lead (TRACKER_PRINCIPAL)


Step = frozenset[Rung]

# The ladder per ownership, as data: level n tells the rungs of step n (level 1 is the facility).
LADDERS: dict[Ownership, tuple[Step, ...]] = {
    Ownership.BUREAU: (
        frozenset({Rung.FACILITY}),
        frozenset({Rung.SECTION}),
        frozenset({Rung.SECTOR_LEAD}),
        frozenset({Rung.PRINCIPAL}),
    ),
    Ownership.TOWN: (
        frozenset({Rung.FACILITY}),
        frozenset({Rung.TOWN}),
        frozenset({Rung.SECTION}),
        frozenset({Rung.SECTOR_LEAD}),
    ),
    Ownership.PRIVATE: (
        frozenset({Rung.FACILITY}),
        frozenset({Rung.SECTION, Rung.TOWN}),
        frozenset({Rung.SECTOR_LEAD}),
    ),
}


def validate_ladders(ladders: dict[Ownership, tuple[Step, ...]]) -> None:
    """Every ownership has a ladder; level 1 is the facility alone, and no later step is empty or the
    facility again. Raises ValueError naming the ladder and level at fault."""
    missing = [o.value for o in Ownership if o not in ladders]
    if missing:
        raise ValueError(f"no escalation ladder for ownership {', '.join(missing)}")
    for ownership, steps in ladders.items():
        if not steps or steps[0] != frozenset({Rung.FACILITY}):
            raise ValueError(f"ladder {ownership}: level 1 must be the facility alone")
        for level, step in enumerate(steps[1:], start=2):
            if not step or not all(isinstance(r, Rung) for r in step):
                raise ValueError(f"ladder {ownership}, level {level}: a step names one or more rungs")
            if Rung.FACILITY in step:
                raise ValueError(f"ladder {ownership}, level {level}: the facility is told at level 1 only")


validate_ladders(LADDERS)
LADDER_HEIGHT = max(len(steps) for steps in LADDERS.values())

# Who hears of an overdue 复查, level by level: the bureau's own side, never the facility.
REVIEW_LADDER: tuple[Role, ...] = (Role.SECTION_CHIEF, Role.BUREAU_LEAD)

_END_OF_DAY = time(23, 59, 59)


def _default_deadline_days() -> dict[str, int]:
    return {Severity.GENERAL: 10, Severity.MAJOR: 30}


def _default_review_days() -> dict[str, int]:
    return {Severity.GENERAL: 3, Severity.MAJOR: 3}


@dataclass(frozen=True)
class PolicySettings:
    """Configurable numbers of the policy; defaults follow the bureau's usual practice."""

    # Working days allowed per severity when a checklist item sets no deadline of its own.
    default_deadline_days: dict[str, int] = field(default_factory=_default_deadline_days)
    remind_before_workdays: int = 2
    escalate_every_workdays: int = 3
    max_level: int = LADDER_HEIGHT
    remind_hour: int = 9
    rejection_deadline_days: int = 5
    # Working days the bureau has to verify (复查) a submitted rectification, per severity.
    review_deadline_days: dict[str, int] = field(default_factory=_default_review_days)
    review_remind_before_workdays: int = 1
    # The major-hazard track (tracker.domain.supervision): working days for each stage's step, and how often the
    # facility reports its progress between its plan and the verified rectification.
    major_plan_days: int = 5
    major_interim_days: int = 1
    major_acceptance_days: int = 5
    major_signoff_days: int = 3
    major_progress_every_days: int = 10

    def __post_init__(self) -> None:
        for severity, days in self.default_deadline_days.items():
            if not _is_int(days) or days < 0:
                raise ValueError(
                    f"default deadline for {severity!r} must be a whole number >= 0, got {days!r}"
                )
        for severity, days in self.review_deadline_days.items():
            if not _is_int(days) or days < 0:
                raise ValueError(
                    f"review deadline for {severity!r} must be a whole number >= 0, got {days!r}"
                )
        _require_int("review_remind_before_workdays", self.review_remind_before_workdays, 0)
        _require_int("remind_before_workdays", self.remind_before_workdays, 0)
        # Zero would re-escalate on the same day forever.
        _require_int("escalate_every_workdays", self.escalate_every_workdays, 1)
        _require_int("max_level", self.max_level, 1, LADDER_HEIGHT)
        _require_int("remind_hour", self.remind_hour, 0, 23)
        _require_int("rejection_deadline_days", self.rejection_deadline_days, 0)
        for name in ("major_plan_days", "major_interim_days", "major_acceptance_days", "major_signoff_days"):
            _require_int(name, getattr(self, name), 0)
        _require_int("major_progress_every_days", self.major_progress_every_days, 1)

    def deadline_workdays(self, severity: str, item_days: int | None = None) -> int:
        """The item's own deadline if it has one, else the default for ``severity``."""
        if item_days is not None:
            if not _is_int(item_days) or item_days < 0:
                raise ValueError(f"item deadline must be a whole number >= 0, got {item_days!r}")
            return item_days
        try:
            return self.default_deadline_days[severity]
        except KeyError:
            raise ValueError(f"no default deadline for severity {severity!r}") from None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _require_int(name: str, value: object, low: int, high: int | None = None) -> None:
    in_range = isinstance(value, int) and value >= low and (high is None or value <= high)
    if isinstance(value, bool) or not in_range:
        bounds = f">= {low}" if high is None else f"in {low}..{high}"
        raise ValueError(f"{name} must be a whole number {bounds}, got {value!r}")


def _require_aware(name: str, moment: datetime) -> datetime:
    if not isinstance(moment, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {moment.isoformat()}")
    return moment.astimezone(UTC)


def _local_date(moment: datetime) -> date:
    return moment.astimezone(LOCAL_TZ).date()


def _local_moment(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=LOCAL_TZ).astimezone(UTC)


@dataclass(frozen=True)
class Deadline:
    """A rectification deadline.

    ``due_at`` is the end (23:59:59 local) of the local working day ``day``, in UTC. ``estimated`` is
    True when any day counted came from the estimate of a year with no published schedule. ``remind_at`` is in
    UTC, or None. ``counted_from`` and ``workdays`` are what it was counted from, kept to count it again.
    """

    due_at: datetime
    day: date
    estimated: bool
    remind_at: datetime | None
    counted_from: datetime
    workdays: int


def deadline_for(
    ordered_at: datetime,
    workdays: int,
    calendar: WorkingCalendar,
    settings: PolicySettings,
    remind_before: int | None = None,
) -> Deadline:
    """The deadline ``workdays`` working days after the local date of ``ordered_at`` (0: immediate), reminded
    ``remind_before`` working days before (the policy's ``remind_before_workdays`` unless given)."""
    ordered_at = _require_aware("ordered_at", ordered_at)
    if not _is_int(workdays) or workdays < 0:
        raise ValueError(f"workdays must be a whole number >= 0, got {workdays!r}")
    before = settings.remind_before_workdays if remind_before is None else remind_before
    due = calendar.add_workdays(_local_date(ordered_at), workdays)
    reminder = calendar.add_workdays(due.day, -before)
    reminder_moment = _local_moment(reminder.day, time(settings.remind_hour))
    remind_at = reminder_moment if reminder_moment > ordered_at else None
    return Deadline(
        due_at=_local_moment(due.day, _END_OF_DAY),
        day=due.day,
        # A dropped reminder's counting shapes nothing the caller sees, so it cannot make this a guess.
        estimated=due.estimated or (remind_at is not None and reminder.estimated),
        remind_at=remind_at,
        counted_from=ordered_at,
        workdays=workdays,
    )


def settled_deadline(
    day: date,
    counted_from: datetime,
    workdays: int,
    calendar: WorkingCalendar,
    settings: PolicySettings,
    now: datetime,
) -> Deadline | None:
    """The deadline due on ``day``, counted again from ``counted_from`` with ``calendar`` (which now knows a year's
    schedule); None unless it falls later than ``day``. A reminder whose moment has already passed at ``now`` is
    dropped: the facility is told the new day when it moves."""
    now = _require_aware("now", now)
    again = deadline_for(counted_from, workdays, calendar, settings)
    if again.day <= day:
        return None
    if again.remind_at is not None and again.remind_at <= now:
        return replace(again, remind_at=None)
    return again


def rejection_workdays(chosen: int | None, item_days: int | None, settings: PolicySettings) -> int:
    """The working days a rejected rectification gets: the verifier's choice, else the item's own deadline
    days, else ``rejection_deadline_days``."""
    if chosen is not None:
        return chosen
    return item_days if item_days is not None else settings.rejection_deadline_days


def rejection_deadline(
    rejected_at: datetime,
    calendar: WorkingCalendar,
    settings: PolicySettings,
    workdays: int | None = None,
) -> Deadline:
    """The new deadline after a failed verification (``workdays``, else ``rejection_deadline_days``)."""
    days = settings.rejection_deadline_days if workdays is None else workdays
    return deadline_for(rejected_at, days, calendar, settings)


@dataclass(frozen=True)
class ReviewDeadline:
    """When a submitted rectification is to be verified (复查) by: ``deadline`` (its day, end of day, reminder)
    and ``escalate_at``, the first escalation (level 1 of ``REVIEW_LADDER``)."""

    deadline: Deadline
    escalate_at: datetime


def review_deadline(
    submitted_at: datetime, severity: str, calendar: WorkingCalendar, settings: PolicySettings
) -> ReviewDeadline:
    """The 复查 deadline of a rectification submitted at ``submitted_at`` for a finding of ``severity``."""
    try:
        days = settings.review_deadline_days[severity]
    except KeyError:
        raise ValueError(f"no review deadline for severity {severity!r}") from None
    deadline = deadline_for(
        submitted_at, days, calendar, settings, remind_before=settings.review_remind_before_workdays
    )
    # Not at midnight: at the start of the next working day, as a facility's first escalation.
    return ReviewDeadline(deadline, first_escalation_at(deadline, calendar, settings))


def next_review_escalation_at(
    escalated_at: datetime, level: int, calendar: WorkingCalendar, settings: PolicySettings
) -> datetime | None:
    """When an overdue 复查 at ``level`` climbs on; None at the top of ``REVIEW_LADDER``."""
    escalated_at = _require_aware("escalated_at", escalated_at)
    if not _is_int(level) or level < 1:
        raise ValueError(f"level must be a whole number >= 1, got {level!r}")
    if level >= len(REVIEW_LADDER):
        return None
    step = calendar.add_workdays(_local_date(escalated_at), settings.escalate_every_workdays)
    return _local_moment(step.day, time(settings.remind_hour))


def first_escalation_at(deadline: Deadline, calendar: WorkingCalendar, settings: PolicySettings) -> datetime:
    """The first escalation (to level 1) is due at ``remind_hour`` local time of the working day after the
    deadline day: mail goes out in office hours, not at midnight or on a holiday eve."""
    after = calendar.add_workdays(deadline.day, 1)
    return _local_moment(after.day, time(settings.remind_hour))


def top_level(ownership: Ownership | str, settings: PolicySettings) -> int:
    """The highest level a facility of ``ownership`` climbs to: its ladder's top, or ``max_level``."""
    return min(settings.max_level, len(LADDERS[Ownership(ownership)]))


def next_escalation_at(
    escalated_at: datetime,
    level: int,
    calendar: WorkingCalendar,
    settings: PolicySettings,
    ownership: Ownership | str = Ownership.TOWN,
) -> datetime | None:
    """When to climb past ``level``, reached at ``escalated_at``; None once at the top of the ladder.

    The next step is at ``remind_hour`` local time on the day ``escalate_every_workdays`` working days
    after the local date of ``escalated_at``.
    """
    escalated_at = _require_aware("escalated_at", escalated_at)
    if not _is_int(level) or level < 1:
        raise ValueError(f"level must be a whole number >= 1, got {level!r}")
    if level >= top_level(ownership, settings):
        return None
    step = calendar.add_workdays(_local_date(escalated_at), settings.escalate_every_workdays)
    return _local_moment(step.day, time(settings.remind_hour))


def ladder_step(ownership: Ownership | str, level: int) -> Step:
    """The rungs told at escalation ``level`` (1-based) of a facility of ``ownership``."""
    steps = LADDERS[Ownership(ownership)]
    if not _is_int(level) or not 1 <= level <= len(steps):
        raise ValueError(f"escalation level for {ownership} must be in 1..{len(steps)}, got {level!r}")
    return steps[level - 1]


def is_overdue(due_at: datetime, now: datetime) -> bool:
    """True once ``now`` is strictly after ``due_at``."""
    return _require_aware("now", now) > _require_aware("due_at", due_at)
