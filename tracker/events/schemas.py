"""The event catalogue: facts in the past tense, each with an id, a time, a version and what it is about."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from tracker.domain.model import Severity


def new_event_id() -> str:
    return str(uuid.uuid4())


def _envelope(schema: dict[str, Any], cls: type[BaseModel]) -> None:
    """Document the message as it goes on the wire (tracker.events.codec): the event's fields and `type`,
    naming the event. Without it a reader holding to the documented schema (no other properties) would
    refuse every real message."""
    name = getattr(cls, "name", None)
    if isinstance(name, str):
        schema["properties"] = {
            "type": {"const": name, "title": "Type", "type": "string"},
            **schema["properties"],
        }
        schema["required"] = ["type", *schema.get("required", [])]


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_envelope)

    name: ClassVar[str]
    event_id: str = Field(default_factory=new_event_id)
    version: Literal[1] = 1
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def subject(cls) -> str:
        """The subject of the event's type; consumers of the type read it."""
        return f"tracker.{cls.name}"

    def published_subject(self) -> str:
        """The subject this event goes out on: its type's, and below it what consumers filter by, if any."""
        return self.subject()


class InspectionSubmitted(Event):
    """An inspector submitted an inspection; its failed items became findings."""

    name: ClassVar[str] = "inspection.submitted"
    inspection_id: int
    facility_id: int
    finding_ids: list[int]


class FindingReported(Event):
    """A hazard was found and recorded."""

    name: ClassVar[str] = "finding.reported"
    finding_id: int
    inspection_id: int
    facility_id: int
    item_code: str
    severity: Severity

    def published_subject(self) -> str:
        # The major alert reads only ….major: it no longer receives (and acknowledges) every general finding.
        return f"{self.subject()}.{self.severity}"


class OrderIssued(Event):
    """A rectification order went to the facility: owners and deadlines are set."""

    name: ClassVar[str] = "order.issued"
    order_id: int
    inspection_id: int
    facility_id: int
    finding_ids: list[int]

    def published_subject(self) -> str:
        # Its mail is queued with it, in the same transaction. One published on the bare subject (by an
        # earlier version, or the demo's seed) is mailed by a reaction of its own, which reads that subject alone.
        return f"{self.subject()}.mailed"


class RectificationSubmitted(Event):
    """The facility answered a finding with evidence of what it fixed."""

    name: ClassVar[str] = "rectification.submitted"
    finding_id: int
    facility_id: int
    rectification_id: int


class FindingClosed(Event):
    """Someone other than the facility verified the fix; the finding is closed (销号)."""

    name: ClassVar[str] = "finding.closed"
    finding_id: int
    facility_id: int
    verification_id: int


class RectificationRejected(Event):
    """Verification failed: the finding went back to the facility with a new deadline."""

    name: ClassVar[str] = "rectification.rejected"
    finding_id: int
    facility_id: int
    verification_id: int
    due_day: date


class FindingReminded(Event):
    """The deadline is near and the finding is still open: a reminder was raised."""

    name: ClassVar[str] = "finding.reminded"
    finding_id: int
    facility_id: int
    round: int
    due_day: date


class FindingEscalated(Event):
    """The finding stayed open past its deadline and went one level up the ladder."""

    name: ClassVar[str] = "finding.escalated"
    finding_id: int
    facility_id: int
    level: int
    round: int


class Raised(BaseModel):
    """One (finding, level) a sweep escalated."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    finding_id: int
    level: int


class SweepCompleted(Event):
    """A sweep raised reminders and escalations (each also its own event, committed with this one); the
    people they reach get one mail each for the whole sweep."""

    name: ClassVar[str] = "sweep.completed"
    sweep_id: str
    reminded: list[int]
    escalated: list[Raised]


class ExtensionRequested(Event):
    """The facility asked for more working days on an open finding; its inspector is to decide."""

    name: ClassVar[str] = "extension.requested"
    finding_id: int
    facility_id: int
    request_id: int
    days: int


class ExtensionDecided(Event):
    """More time was granted (the deadline moved to `due_day`) or refused (`due_day` still runs)."""

    name: ClassVar[str] = "extension.decided"
    finding_id: int
    facility_id: int
    request_id: int
    accepted: bool
    due_day: date | None


class FindingRegraded(Event):
    """A section chief approved recording a major-mapped finding as general; `due_day` is the deadline that
    runs now (None while it has none)."""

    name: ClassVar[str] = "finding.regraded"
    finding_id: int
    facility_id: int
    severity: Severity
    due_day: date | None


class SupervisionAdvanced(Event):
    """A major hazard under supervision (挂牌督办) reached `stage` (tracker.domain.supervision.Stage values): the
    step before it was taken; whoever takes the next is to hear."""

    name: ClassVar[str] = "supervision.advanced"
    finding_id: int
    facility_id: int
    stage: Literal["judgement", "plan", "interim", "rectification", "acceptance", "signoff", "closed"]


CATALOGUE: dict[str, type[Event]] = {
    cls.name: cls
    for cls in (
        InspectionSubmitted,
        FindingReported,
        OrderIssued,
        RectificationSubmitted,
        FindingClosed,
        RectificationRejected,
        FindingReminded,
        FindingEscalated,
        SweepCompleted,
        ExtensionRequested,
        ExtensionDecided,
        FindingRegraded,
        SupervisionAdvanced,
    )
}
