"""Escalation actions the bureau records on a finding (催办 → 约谈 → 通报 → 移送 → 责令停业整顿, 信用措施), and who may."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from tracker.domain.errors import InvalidInput, NotAllowed
from tracker.domain.model import Actor, Ownership


class ActionKind(StrEnum):
    URGE = "urge"  # 催办
    INTERVIEW = "interview"  # 约谈
    NOTICE = "notice"  # 通报
    REFERRAL = "referral"  # 移送 (to another agency: 消防、市场监管、住建 …)
    SUSPENSION = "suspension"  # 责令停业整顿
    CREDIT = "credit"  # 信用措施: only for a private (民办) facility


WORDS: dict[str, str] = {
    ActionKind.URGE: "催办",
    ActionKind.INTERVIEW: "约谈",
    ActionKind.NOTICE: "通报",
    ActionKind.REFERRAL: "移送",
    ActionKind.SUSPENSION: "责令停业整顿",
    ActionKind.CREDIT: "信用措施",
}


def words(kind: str, to: str | None = None) -> str:
    """The action as the bureau writes it: 催办, 约谈 …, 移送至消防救援机构."""
    if kind == ActionKind.REFERRAL and to:
        return f"移送至{to}"
    return WORDS.get(kind, kind)


def may_record_action(actor: Actor, sector: str) -> None:
    """Only a section chief or bureau lead of the facility's sector acts on the bureau's behalf."""
    if not actor.answers_for(sector):
        raise NotAllowed("only a section chief or bureau lead of the facility's sector records an action")


def check_action(
    kind: str, to: str | None, note: str, ownership: str, on_day: date, reported_day: date, today: date
) -> None:
    """A referral names to whom; a credit measure is for a private facility only; the day lies between the
    day the hazard was found and today."""
    if kind not in WORDS:
        raise InvalidInput("kind", f"kind must be one of {', '.join(WORDS)}")
    if kind == ActionKind.REFERRAL and not (to or "").strip():
        raise InvalidInput("to", "a referral names the agency it goes to (e.g. 消防救援机构)")
    if kind == ActionKind.CREDIT and ownership != Ownership.PRIVATE:
        raise InvalidInput("kind", "a credit measure (信用措施) applies to a private (民办) facility only")
    if not note.strip():
        raise InvalidInput("note", "say what was done")
    if on_day > today:
        raise InvalidInput("on_day", "an action is recorded once taken, not ahead of time")
    if on_day < reported_day:
        raise InvalidInput("on_day", "before the hazard was found")
