"""The major-hazard track (挂牌督办): the stages a finding graded major goes through, who takes each step, and the
order of the steps. Pure: the service reads and writes the `supervisions` row around these functions.

判定 → 治理方案 → 临时措施 (verified by an inspector) → 整改 (the rectification, verified as any) → 验收 (the sector's
section chief) → 签字 (the sector's bureau lead) → 销号. A suspected 重大火灾隐患 referred to the fire-rescue service
waits at 判定 for its answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tracker.domain.errors import FindingAlreadyClosed, InvalidTransition, NotAllowed
from tracker.domain.model import Actor, Role


class Stage(StrEnum):
    JUDGEMENT = "judgement"  # 判定
    PLAN = "plan"  # 治理方案
    INTERIM = "interim"  # 临时措施
    RECTIFICATION = "rectification"  # 整改
    ACCEPTANCE = "acceptance"  # 验收
    SIGNOFF = "signoff"  # 签字
    CLOSED = "closed"  # 销号


LABELS_ZH: dict[Stage, str] = {
    Stage.JUDGEMENT: "判定",
    Stage.PLAN: "治理方案",
    Stage.INTERIM: "临时措施",
    Stage.RECTIFICATION: "整改",
    Stage.ACCEPTANCE: "验收",
    Stage.SIGNOFF: "签字",
    Stage.CLOSED: "销号",
}

LABELS_EN: dict[Stage, str] = {
    Stage.JUDGEMENT: "Judgement",
    Stage.PLAN: "Remediation plan",
    Stage.INTERIM: "Interim measure",
    Stage.RECTIFICATION: "Rectification",
    Stage.ACCEPTANCE: "Acceptance",
    Stage.SIGNOFF: "Sign-off",
    Stage.CLOSED: "Closed",
}

ORDER: tuple[Stage, ...] = tuple(Stage)

# The stages where the facility reports its progress at an interval: from the plan until the rectification is done.
PROGRESS_STAGES = frozenset({Stage.INTERIM, Stage.RECTIFICATION})

# The 五落实 of a 治理方案, as the API names them.
PLAN_FIELDS: tuple[str, ...] = (
    "measures",
    "funds",
    "unit",
    "person",
    "deadline",
    "interim_measures",
    "emergency_plan",
)


# What leads a notice number unless TRACKER_SUPERVISION_PREFIX says otherwise.
DEFAULT_NOTICE_PREFIX = "民安督"


def notice_number(prefix: str, year: int, number: int) -> str:
    """The printed notice number, e.g. 民安督〔2026〕3号."""
    return f"{prefix}〔{year}〕{number}号"


@dataclass(frozen=True)
class Step:
    before: Stage
    after: Stage
    action: str


def _require(current: Stage, allowed: Stage, step: str) -> None:
    if current is Stage.CLOSED:
        raise FindingAlreadyClosed(f"the major hazard is closed (销号); cannot {step}")
    if current is not allowed:
        raise InvalidTransition(f"cannot {step} a major hazard at stage {current.value}")


def first_stage(referral_pending: bool) -> Stage:
    """A suspected 重大火灾隐患 waits for the fire-rescue service's answer; any other major goes to its plan."""
    return Stage.JUDGEMENT if referral_pending else Stage.PLAN


def answer_referral(current: Stage) -> Step:
    """The referral's answer recorded: the judgement is complete and the plan is due. Recorded later, the
    answer changes no stage."""
    if current is Stage.JUDGEMENT:
        return Step(current, Stage.PLAN, "supervision_referral_answered")
    if current is Stage.CLOSED:
        raise FindingAlreadyClosed(
            "the major hazard is closed (销号); its referral can no longer be answered"
        )
    return Step(current, current, "supervision_referral_answered")


def file_plan(current: Stage) -> Step:
    _require(current, Stage.PLAN, "file a remediation plan for")
    return Step(current, Stage.INTERIM, "supervision_plan")


def verify_interim(current: Stage) -> Step:
    _require(current, Stage.INTERIM, "verify the interim measure of")
    return Step(current, Stage.RECTIFICATION, "supervision_interim_verified")


def may_rectify(current: Stage) -> None:
    """The rectification is submitted the normal way, once the interim measure has been verified."""
    _require(current, Stage.RECTIFICATION, "submit a rectification for")


def verified(current: Stage, accepted: bool) -> Step:
    """An inspector's verification: accepted, the hazard awaits 验收; rejected, it stays at rectification."""
    _require(current, Stage.RECTIFICATION, "verify the rectification of")
    if accepted:
        return Step(current, Stage.ACCEPTANCE, "supervision_awaits_acceptance")
    return Step(current, Stage.RECTIFICATION, "rejected")


def accept(current: Stage, accepted: bool) -> Step:
    """验收: passed, it goes to the bureau lead's sign-off; failed, back to rectification."""
    _require(current, Stage.ACCEPTANCE, "record the acceptance (验收) of")
    if accepted:
        return Step(current, Stage.SIGNOFF, "supervision_accepted")
    return Step(current, Stage.RECTIFICATION, "supervision_acceptance_failed")


def sign_off(current: Stage) -> Step:
    _require(current, Stage.SIGNOFF, "sign off")
    return Step(current, Stage.CLOSED, "closed")


def may_report_progress(current: Stage) -> None:
    if current not in PROGRESS_STAGES:
        raise InvalidTransition(
            f"progress is reported between the plan and the verified rectification, not at {current.value}"
        )


# ---- who takes each step ---------------------------------------------------------------------------------


def may_act_for_facility(actor: Actor, facility_id: int) -> None:
    """The plan and the progress reports: the head of that facility."""
    if actor.role is not Role.FACILITY_HEAD or actor.facility_id != facility_id:
        raise NotAllowed("only the head of this facility files its plan and progress reports")


def may_verify_interim(actor: Actor) -> None:
    if actor.role is not Role.INSPECTOR:
        raise NotAllowed("an inspector verifies the interim measure (停用/撤人) on site")


def may_accept(actor: Actor, sector: str) -> None:
    if not actor.answers_for(sector, Role.SECTION_CHIEF):
        raise NotAllowed("the acceptance (验收) of a major hazard is the section chief's of its sector")


def may_sign_off(actor: Actor, sector: str) -> None:
    if not actor.answers_for(sector, Role.BUREAU_LEAD):
        raise NotAllowed("only the bureau lead of its sector signs off (销号) a major hazard")


def may_answer_referral(actor: Actor, sector: str) -> None:
    """The referral's answer is recorded on the bureau's side: an inspector, or a chief or lead of the sector."""
    if actor.role is not Role.INSPECTOR and not actor.answers_for(sector):
        raise NotAllowed("the fire-rescue service's answer is recorded by an inspector or the sector's chief")


def may_decide_extension(actor: Actor, sector: str) -> None:
    """More time on a major hazard is the section chief's of its sector to give."""
    if not actor.answers_for(sector, Role.SECTION_CHIEF):
        raise NotAllowed("more time on a major hazard is decided by the section chief of its sector")


def whose_step(stage: Stage) -> Role | None:
    """The role whose step a stage waits for, None once closed."""
    return {
        Stage.JUDGEMENT: Role.INSPECTOR,
        Stage.PLAN: Role.FACILITY_HEAD,
        Stage.INTERIM: Role.INSPECTOR,
        Stage.RECTIFICATION: Role.FACILITY_HEAD,
        Stage.ACCEPTANCE: Role.SECTION_CHIEF,
        Stage.SIGNOFF: Role.BUREAU_LEAD,
    }.get(stage)
