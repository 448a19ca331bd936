"""What a finding's page shows of a major hazard's supervision: the stages with who and when, and which form of the
next step (if any) the person looking may use. The forms post to /findings/{id}/supervision (tracker.web.pages.findings)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tracker.domain.model import Actor, Role
from tracker.domain.supervision import ORDER, PLAN_FIELDS, PROGRESS_STAGES, Stage
from tracker.domain.time import local_day


def _local_day(value: str | None) -> str | None:
    return local_day(datetime.fromisoformat(value)).isoformat() if value else None


def the_form(actor: Actor, facility: Any, s: dict[str, Any]) -> str | None:
    """The form of the step the supervision waits for, if it is `actor`'s to take."""
    stage = Stage(s["stage"])
    own_head = actor.role is Role.FACILITY_HEAD and actor.facility_id == facility.id
    if stage is Stage.JUDGEMENT and s["referred_to"] and not s["referral_answer"]:
        if actor.role is Role.INSPECTOR or actor.answers_for(facility.sector):
            return "referral"
    if stage is Stage.PLAN and own_head:
        return "plan"
    if stage is Stage.INTERIM and actor.role is Role.INSPECTOR:
        return "interim"
    if stage is Stage.ACCEPTANCE and actor.answers_for(facility.sector, Role.SECTION_CHIEF):
        return "acceptance"
    if stage is Stage.SIGNOFF and actor.answers_for(facility.sector, Role.BUREAU_LEAD):
        return "signoff"
    return None


def supervision_context(actor: Actor, facility: Any, view: dict[str, Any], now: datetime) -> dict[str, Any]:
    s = view.get("supervision")
    if not s:
        return {}
    stage = Stage(s["stage"])
    due = s["stage_due_at"]
    return {
        "sup_stages": [st.value for st in ORDER if st is not Stage.CLOSED] + [Stage.CLOSED.value],
        # Closed: every stage is done.
        "sup_at": len(ORDER) if stage is Stage.CLOSED else ORDER.index(stage),
        "sup_due": _local_day(due),
        "sup_overdue": bool(due and datetime.fromisoformat(due) < now),
        "sup_progress_due": _local_day(s["progress_due_at"]),
        "sup_form": the_form(actor, facility, s),
        "sup_progress": stage in PROGRESS_STAGES
        and actor.role is Role.FACILITY_HEAD
        and actor.facility_id == facility.id,
        "plan_fields": PLAN_FIELDS,
    }


def may_verify_now(view: dict[str, Any]) -> bool:
    """A major hazard is verified at its rectification stage only; after that it awaits 验收 and sign-off."""
    s = view.get("supervision")
    return s is None or s["stage"] == Stage.RECTIFICATION.value
