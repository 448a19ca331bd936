"""Deadline, reminder and escalation policy, as pure functions.

Rules (numbers live in ``PolicySettings``):

- A rectification deadline is counted in Chinese working days from the *local* (Asia/Shanghai) date
  the order was issued. It ends at 23:59:59 local time on its day, so the facility has the whole of
  its last working day. ``workdays == 0`` means "immediately": the end of the order's own day if that
  is a working day, else the end of the next working day.
- A reminder goes out at ``remind_hour`` local time, ``remind_before_workdays`` working days before
  the deadline day, unless that moment is not after the order was issued.
- When the deadline passes the hazard escalates to level 1; it then climbs one level every
  ``escalate_every_workdays`` working days, at ``remind_hour`` local time, up to ``max_level``.
  Each level notifies one role of ``LADDER``.
- A failed verification gives the facility a new deadline of ``rejection_deadline_days`` working days.
- A deadline counted over an estimated year is counted again, from the same start, once that year's schedule is
  loaded; it moves only if the new day is later (``settled_deadline``): a facility is never given less time than
  it was told.

Every datetime in and out is timezone-aware; results are UTC. A naive datetime raises ``ValueError``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time

from tracker.domain.calendar import LOCAL_TZ, WorkingCalendar

LADDER: tuple[str, ...] = ("facility_head", "town_officer", "section_chief", "bureau_lead")

_END_OF_DAY = time(23, 59, 59)


def _default_deadline_days() -> dict[str, int]:
    return {"general": 10, "major": 30}


@dataclass(frozen=True)
class PolicySettings:
    """Configurable numbers of the policy; defaults follow the bureau's usual practice."""

    # Working days allowed per severity when a checklist item sets no deadline of its own.
    default_deadline_days: dict[str, int] = field(default_factory=_default_deadline_days)
    remind_before_workdays: int = 2
    escalate_every_workdays: int = 3
    max_level: int = len(LADDER)
    remind_hour: int = 9
    rejection_deadline_days: int = 5

    def __post_init__(self) -> None:
        for severity, days in self.default_deadline_days.items():
            if not _is_int(days) or days < 0:
                raise ValueError(
                    f"default deadline for {severity!r} must be a whole number >= 0, got {days!r}"
                )
        _require_int("remind_before_workdays", self.remind_before_workdays, 0)
        # Zero would re-escalate on the same day forever.
        _require_int("escalate_every_workdays", self.escalate_every_workdays, 1)
        _require_int("max_level", self.max_level, 1, len(LADDER))
        _require_int("remind_hour", self.remind_hour, 0, 23)
        _require_int("rejection_deadline_days", self.rejection_deadline_days, 0)

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
    ordered_at: datetime, workdays: int, calendar: WorkingCalendar, settings: PolicySettings
) -> Deadline:
    """The deadline ``workdays`` working days after the local date of ``ordered_at`` (0: immediate)."""
    ordered_at = _require_aware("ordered_at", ordered_at)
    if not _is_int(workdays) or workdays < 0:
        raise ValueError(f"workdays must be a whole number >= 0, got {workdays!r}")
    due = calendar.add_workdays(_local_date(ordered_at), workdays)
    reminder = calendar.add_workdays(due.day, -settings.remind_before_workdays)
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


def rejection_deadline(
    rejected_at: datetime, calendar: WorkingCalendar, settings: PolicySettings
) -> Deadline:
    """The new deadline after a failed verification."""
    return deadline_for(rejected_at, settings.rejection_deadline_days, calendar, settings)


def first_escalation_at(deadline: Deadline) -> datetime:
    """The first escalation (to level 1) is due the moment the deadline passes."""
    return deadline.due_at


def next_escalation_at(
    escalated_at: datetime, level: int, calendar: WorkingCalendar, settings: PolicySettings
) -> datetime | None:
    """When to climb past ``level``, reached at ``escalated_at``; None once at ``max_level``.

    The next step is at ``remind_hour`` local time on the day ``escalate_every_workdays`` working days
    after the local date of ``escalated_at``.
    """
    escalated_at = _require_aware("escalated_at", escalated_at)
    if not _is_int(level) or level < 1:
        raise ValueError(f"level must be a whole number >= 1, got {level!r}")
    if level >= settings.max_level:
        return None
    step = calendar.add_workdays(_local_date(escalated_at), settings.escalate_every_workdays)
    return _local_moment(step.day, time(settings.remind_hour))


def recipients_role(level: int) -> str:
    """The role notified at escalation ``level`` (1-based)."""
    if not _is_int(level) or not 1 <= level <= len(LADDER):
        raise ValueError(f"escalation level must be in 1..{len(LADDER)}, got {level!r}")
    return LADDER[level - 1]


def is_overdue(due_at: datetime, now: datetime) -> bool:
    """True once ``now`` is strictly after ``due_at``."""
    return _require_aware("now", now) > _require_aware("due_at", due_at)
