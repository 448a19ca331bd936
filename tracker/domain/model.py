"""Who asks, and the life of one finding: reported -> ordered -> submitted -> closed, rejected back to ordered."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tracker.domain.errors import FindingAlreadyClosed, InvalidTransition, NotAllowed


class Role(StrEnum):
    INSPECTOR = "inspector"
    FACILITY_HEAD = "facility_head"
    TOWN_OFFICER = "town_officer"
    SECTION_CHIEF = "section_chief"
    BUREAU_LEAD = "bureau_lead"
    ADMIN = "admin"


class Ownership(StrEnum):
    """Who runs a facility; it decides the escalation ladder."""

    BUREAU = "bureau"  # 局属
    TOWN = "town"  # 乡镇（街道）
    PRIVATE = "private"  # 民办、公建民营


class Sector(StrEnum):
    """The bureau's line of business a facility belongs to; only that sector's chiefs and leads are told."""

    ELDERLY = "elderly"  # 养老服务
    CHILDREN = "children"  # 儿童福利、未成年人保护
    SOCIAL_AFFAIRS = "social_affairs"  # 社会事务：殡葬、婚姻登记、精神卫生福利、社区设施
    RELIEF = "relief"  # 社会救助：救助管理站


class Status(StrEnum):
    REPORTED = "reported"
    ORDERED = "ordered"
    SUBMITTED = "submitted"
    CLOSED = "closed"


class Severity(StrEnum):
    GENERAL = "general"
    MAJOR = "major"


class ExtensionStatus(StrEnum):
    """Where a facility's request for more time stands."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    REFUSED = "refused"


class Mode(StrEnum):
    UNANNOUNCED = "unannounced"  # 四不两直: no notice, no escort; the inspectors show who they are on arrival
    COVERT = "covert"  # 暗查暗访: the inspectors do not make themselves known while they look
    ROUTINE = "routine"
    SELF = "self"
    SPECIAL = "special"
    # 证照到期: a certificate on the facility's register lapsed (tracker.service.certificates); nobody visited, and
    # no person picks it on a form.
    REGISTER = "register"


# Who may look at everything the bureau oversees.
BUREAU_ROLES = frozenset({Role.SECTION_CHIEF, Role.BUREAU_LEAD, Role.ADMIN, Role.INSPECTOR})


@dataclass(frozen=True)
class Actor:
    id: int
    username: str
    role: Role
    facility_id: int | None = None
    town: str | None = None
    # The sectors a section chief or bureau lead answers for (Sector values).
    sectors: frozenset[str] = frozenset()
    # The person's name as people read it (users.name); pages show it rather than the login.
    display_name: str = ""

    @property
    def name(self) -> str:
        return self.display_name or self.username

    @property
    def is_facility(self) -> bool:
        return self.role is Role.FACILITY_HEAD

    def answers_for(self, sector: str, role: Role | None = None) -> bool:
        """True for a section chief or bureau lead (or only `role`) of `sector`."""
        roles = (role,) if role is not None else (Role.SECTION_CHIEF, Role.BUREAU_LEAD)
        return self.role in roles and sector in self.sectors


@dataclass(frozen=True)
class FacilityRef:
    id: int
    town: str


@dataclass(frozen=True)
class Scope:
    """The facilities someone may see: every one, those of one town, one facility, or (all empty) none."""

    everything: bool = False
    town: str | None = None
    facility_id: int | None = None

    def covers(self, facility: FacilityRef) -> bool:
        if self.everything:
            return True
        if self.facility_id is not None:
            return self.facility_id == facility.id
        return self.town is not None and self.town == facility.town


def visible_to(actor: Actor) -> Scope:
    """A facility head sees their own facility, a town officer their town, the bureau everything."""
    if actor.role is Role.FACILITY_HEAD:
        return Scope(facility_id=actor.facility_id)
    if actor.role is Role.TOWN_OFFICER:
        return Scope(town=actor.town)
    return Scope(everything=actor.role in BUREAU_ROLES)


def can_see(actor: Actor, facility: FacilityRef) -> bool:
    return visible_to(actor).covers(facility)


def may_report(actor: Actor, facility: FacilityRef, mode: Mode) -> None:
    """Inspectors and the bureau report anywhere, never as a self-inspection; a facility head only self-inspects
    their own facility."""
    if actor.role is Role.FACILITY_HEAD:
        if actor.facility_id != facility.id or mode is not Mode.SELF:
            raise NotAllowed("a facility head may only report a self-inspection of their own facility")
        return
    if mode is Mode.SELF:
        raise NotAllowed("only a facility head files a self-inspection (自查自纠), of their own facility")
    if actor.role is Role.TOWN_OFFICER and actor.town != facility.town:
        raise NotAllowed("a town officer may only inspect facilities of their town")


def may_submit_rectification(actor: Actor, finding_facility_id: int) -> None:
    if actor.role is not Role.FACILITY_HEAD or actor.facility_id != finding_facility_id:
        raise NotAllowed("only the head of this facility may submit its rectification")


def may_verify(actor: Actor, finding_facility_id: int) -> None:
    """Closing needs someone other than the facility."""
    if actor.role is Role.FACILITY_HEAD or actor.facility_id == finding_facility_id:
        raise NotAllowed("a facility cannot verify or close its own hazard")


@dataclass(frozen=True)
class Transition:
    before: Status
    after: Status
    action: str


def _require(current: Status, allowed: Status, step: str) -> None:
    if current is Status.CLOSED:
        raise FindingAlreadyClosed(f"the finding is closed; cannot {step}")
    if current is not allowed:
        raise InvalidTransition(f"cannot {step} a finding that is {current.value}")


def order(current: Status) -> Transition:
    _require(current, Status.REPORTED, "order")
    return Transition(current, Status.ORDERED, "ordered")


def submit(current: Status) -> Transition:
    _require(current, Status.ORDERED, "submit a rectification for")
    return Transition(current, Status.SUBMITTED, "rectification_submitted")


def verify(current: Status, accepted: bool) -> Transition:
    _require(current, Status.SUBMITTED, "verify")
    if accepted:
        return Transition(current, Status.CLOSED, "closed")
    return Transition(current, Status.ORDERED, "rejected")
