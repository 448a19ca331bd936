"""The steps of a major hazard's supervision (挂牌督办) after its notice: the facility's plan and progress reports,
the inspector's check of the interim measure, the section chief's 验收 and the bureau lead's sign-off (销号), which
alone closes it; and the fire-rescue service's answer to a referral. Each step is one transaction with its history
row and events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tracker.domain import supervision as track
from tracker.domain.errors import InvalidInput, InvalidTransition, StaleFinding
from tracker.domain.model import Actor, Status
from tracker.domain.policy import PolicySettings, deadline_for
from tracker.domain.supervision import LABELS_EN, LABELS_ZH, Stage, notice_number
from tracker.events.schemas import FindingClosed, SupervisionAdvanced
from tracker.service.context import load_calendar
from tracker.service.loop import (
    _check_photos,
    _link_photos,
    load_visible_finding,
    record_verification,
    rejection,
    send_back,
)
from tracker.service.sectors import facility_sector
from tracker.service.supervision_stage import advance, supervision_of
from tracker.store.outbox import add_events
from tracker.store.people import shown_name
from tracker.store.tables import (
    findings,
    history,
    referrals,
    supervision_reports,
    supervisions,
    users,
    verifications,
)


async def _tracked(conn: AsyncConnection, actor: Actor, finding_id: int) -> tuple[Any, Any, str]:
    """The finding (if `actor` may see it), its supervision and its facility's sector."""
    finding = await load_visible_finding(conn, actor, finding_id)
    tracked = await supervision_of(conn, finding_id)
    if tracked is None:
        raise InvalidTransition("the finding is not a major hazard under supervision")
    sector = (await facility_sector(conn, finding.facility_id)).sector
    return finding, tracked, sector


def _advanced(finding: Any, stage: Stage, now: datetime) -> SupervisionAdvanced:
    return SupervisionAdvanced(
        finding_id=finding.id, facility_id=finding.facility_id, stage=stage.value, occurred_at=now
    )


async def file_plan(
    conn: AsyncConnection,
    actor: Actor,
    finding_id: int,
    plan: dict[str, str],
    photo_ids: list[str],
    policy: PolicySettings,
    now: datetime,
) -> None:
    """The facility's 治理方案 with the 五落实; an optional photo or scan of the signed plan. The interim measure is
    then to be verified, and progress reports fall due."""
    finding, tracked, _ = await _tracked(conn, actor, finding_id)
    track.may_act_for_facility(actor, finding.facility_id)
    step = track.file_plan(Stage(tracked.stage))
    plan = {name: str(plan.get(name, "")).strip() for name in track.PLAN_FIELDS}
    for name, value in plan.items():
        if not value:
            raise InvalidInput(name, f"the plan needs its {name}")
    await _check_photos(conn, actor, photo_ids)
    progress = deadline_for(now, policy.major_progress_every_days, await load_calendar(conn), policy)
    await advance(
        conn,
        finding_id,
        step,
        policy,
        now,
        actor.id,
        plan["measures"],
        {"plan": plan, "photos": photo_ids},
        plan=plan,
        plan_at=now,
        plan_by=actor.id,
        progress_due_at=progress.due_at,
        progress_overdue_told=False,
    )
    await _link_photos(conn, finding_id, photo_ids, "plan")
    await add_events(conn, [_advanced(finding, step.after, now)], now)


async def verify_interim(
    conn: AsyncConnection,
    actor: Actor,
    finding_id: int,
    note: str,
    photo_ids: list[str],
    policy: PolicySettings,
    now: datetime,
) -> None:
    """An inspector saw the interim measure (停用/撤人) in place: the rectification may now be submitted."""
    finding, tracked, _ = await _tracked(conn, actor, finding_id)
    track.may_verify_interim(actor)
    step = track.verify_interim(Stage(tracked.stage))
    if not note.strip():
        raise InvalidInput("note", "say what was seen in place")
    await _check_photos(conn, actor, photo_ids)
    await advance(
        conn,
        finding_id,
        step,
        policy,
        now,
        actor.id,
        note.strip(),
        {"photos": photo_ids},
        interim_verified_at=now,
        interim_verified_by=actor.id,
        interim_note=note.strip(),
    )
    await _link_photos(conn, finding_id, photo_ids, "interim")
    await add_events(conn, [_advanced(finding, step.after, now)], now)


async def report_progress(
    conn: AsyncConnection, actor: Actor, finding_id: int, note: str, policy: PolicySettings, now: datetime
) -> int:
    """The facility's progress report; the next one falls due an interval later."""
    finding, tracked, _ = await _tracked(conn, actor, finding_id)
    track.may_act_for_facility(actor, finding.facility_id)
    track.may_report_progress(Stage(tracked.stage))
    if not note.strip():
        raise InvalidInput("note", "say how far the work has come")
    report_id = (
        await conn.execute(
            insert(supervision_reports).values(
                finding_id=finding_id, at=now, by_user=actor.id, note=note.strip()
            )
        )
    ).inserted_primary_key[0]
    nxt = deadline_for(now, policy.major_progress_every_days, await load_calendar(conn), policy)
    await conn.execute(
        update(supervisions)
        .where(supervisions.c.finding_id == finding_id)
        .values(progress_due_at=nxt.due_at, progress_overdue_told=False)
    )
    await conn.execute(
        insert(history).values(
            finding_id=finding_id,
            at=now,
            action="supervision_progress",
            actor_id=actor.id,
            note=note.strip(),
            data={"report_id": report_id, "next_due_day": nxt.day.isoformat()},
        )
    )
    return report_id


async def accept(
    conn: AsyncConnection,
    actor: Actor,
    finding_id: int,
    accepted: bool,
    note: str,
    photo_ids: list[str],
    policy: PolicySettings,
    now: datetime,
) -> None:
    """验收 by the section chief of the facility's sector, with its report. Passed, the bureau lead signs off;
    failed, the facility rectifies again under a new deadline, as after a rejection."""
    finding, tracked, sector = await _tracked(conn, actor, finding_id)
    track.may_accept(actor, sector)
    step = track.accept(Stage(tracked.stage), accepted)
    if not note.strip():
        raise InvalidInput("note", "the acceptance (验收) needs its report")
    await _check_photos(conn, actor, photo_ids)
    values: dict[str, Any] = {"acceptance_note": note.strip()}
    data: dict[str, Any] = {"accepted": accepted}
    # Failed, as after an inspector's rejection: the item's own deadline days (a structural fix may take months).
    back = await rejection(conn, finding, None, policy, now)
    if accepted:
        values.update(accepted_at=now, accepted_by=actor.id)
    else:
        data.update(due_day=back.deadline.day.isoformat(), days=back.days)
    await advance(conn, finding_id, step, policy, now, actor.id, note.strip(), data, **values)
    await _link_photos(conn, finding_id, photo_ids, "acceptance")
    events: list = [_advanced(finding, step.after, now)]
    if not accepted:
        await send_back(conn, finding, back, now, escalation_level=0)
        # The failed 验收 is on record as a rejection, so the facility's mail and the ledger give its report,
        # not the inspector's note that had passed the rectification.
        verification_id = await record_verification(conn, finding_id, False, note.strip(), actor.id, now)
        events.append(back.rejected(finding, verification_id, now))
    await add_events(conn, events, now)


async def sign_off(
    conn: AsyncConnection, actor: Actor, finding_id: int, note: str, policy: PolicySettings, now: datetime
) -> None:
    """The bureau lead of the facility's sector signs off (销号): the finding is closed, as by a verification."""
    finding, tracked, sector = await _tracked(conn, actor, finding_id)
    track.may_sign_off(actor, sector)
    step = track.sign_off(Stage(tracked.stage))
    await advance(
        conn,
        finding_id,
        step,
        policy,
        now,
        actor.id,
        note.strip(),
        {"signed_off": True},
        signed_off_at=now,
        signed_off_by=actor.id,
        signoff_note=note.strip(),
        progress_due_at=None,
    )
    closed = await conn.execute(
        update(findings)
        .where(findings.c.id == finding_id, findings.c.status == Status.SUBMITTED.value)
        .values(
            status=Status.CLOSED.value,
            closed_at=now,
            closed_by=actor.id,
            remind_at=None,
            next_escalation_at=None,
        )
    )
    if closed.rowcount != 1:
        raise StaleFinding(f"finding {finding_id} changed meanwhile; try again")
    verification_id = await _last_verification(conn, finding_id)
    await add_events(
        conn,
        [
            _advanced(finding, Stage.CLOSED, now),
            FindingClosed(
                finding_id=finding_id,
                facility_id=finding.facility_id,
                verification_id=verification_id,
                occurred_at=now,
            ),
        ],
        now,
    )


async def answer_referral(
    conn: AsyncConnection, actor: Actor, finding_id: int, answer: str, policy: PolicySettings, now: datetime
) -> None:
    """The fire-rescue service's answer to a referred 重大火灾隐患, recorded on the referral (as `tracker rules
    answer` does) and on the notice; the judgement is then complete and the plan falls due."""
    finding, tracked, sector = await _tracked(conn, actor, finding_id)
    track.may_answer_referral(actor, sector)
    if not answer.strip():
        raise InvalidInput("answer", "the answer is required")
    referral = (await conn.execute(select(referrals).where(referrals.c.finding_id == finding_id))).first()
    if referral is None:
        raise InvalidTransition("the finding was not referred to another agency")
    done = await conn.execute(
        update(referrals)
        .where(referrals.c.id == referral.id, referrals.c.answered_at.is_(None))
        .values(answered_at=now, answer=answer.strip(), answered_by=actor.username)
    )
    if done.rowcount == 0:
        raise InvalidTransition("the referral was answered already")
    await referral_answered(conn, finding, tracked, answer.strip(), actor.id, policy, now)


async def referral_answered(
    conn: AsyncConnection,
    finding: Any,
    tracked: Any,
    answer: str,
    actor_id: int | None,
    policy: PolicySettings,
    now: datetime,
) -> None:
    """A referral's answer, recorded on the referrals row already, copied to the notice; a judgement waiting for
    it is complete."""
    step = track.answer_referral(Stage(tracked.stage))
    await advance(
        conn,
        finding.id,
        step,
        policy,
        now,
        actor_id,
        answer,
        {"referred_to": tracked.referred_to},
        referral_answer=answer,
    )
    if step.after is not step.before:
        await add_events(conn, [_advanced(finding, step.after, now)], now)


async def withdraw(conn: AsyncConnection, finding_id: int, actor_id: int, now: datetime) -> None:
    """A downgrade approved: the finding is general and leaves the track; its history keeps the notice."""
    tracked = await supervision_of(conn, finding_id)
    if tracked is None:
        return
    await conn.execute(delete(supervision_reports).where(supervision_reports.c.finding_id == finding_id))
    await conn.execute(delete(supervisions).where(supervisions.c.finding_id == finding_id))
    await conn.execute(
        insert(history).values(
            finding_id=finding_id,
            at=now,
            action="supervision_withdrawn",
            actor_id=actor_id,
            note="",
            data={"year": tracked.year, "number": tracked.number},
        )
    )


async def _last_verification(conn: AsyncConnection, finding_id: int) -> int | None:
    return await conn.scalar(
        select(verifications.c.id)
        .where(verifications.c.finding_id == finding_id, verifications.c.accepted)
        .order_by(verifications.c.id.desc())
        .limit(1)
    )


# ---- what the API and the page show ---------------------------------------------------------------------


async def supervision_view(conn: AsyncConnection, finding_id: int, prefix: str) -> dict[str, Any] | None:
    """The `supervision` of GET /api/findings/{id}: None for a finding not on the major track."""
    row = await supervision_of(conn, finding_id)
    if row is None:
        return None
    ids = {
        row.lead_id,
        row.judged_by,
        row.plan_by,
        row.interim_verified_by,
        row.accepted_by,
        row.signed_off_by,
    } - {None}
    names = {
        u.id: {"id": u.id, "name": u.name or u.username, "username": u.username}
        for u in (
            await conn.execute(select(users.c.id, users.c.name, users.c.username).where(users.c.id.in_(ids)))
        ).all()
    }
    reports = (
        await conn.execute(
            select(supervision_reports, shown_name(users).label("by_name"))
            .join(users, users.c.id == supervision_reports.c.by_user)
            .where(supervision_reports.c.finding_id == finding_id)
            .order_by(supervision_reports.c.id)
        )
    ).all()
    stage = Stage(row.stage)

    def at(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "notice_no": notice_number(prefix, row.year, row.number),
        "year": row.year,
        "number": row.number,
        "supervisor": row.supervisor,
        "lead": names.get(row.lead_id),
        "stage": stage.value,
        "stage_label": {"zh": LABELS_ZH[stage], "en": LABELS_EN[stage]},
        "stage_due_at": at(row.stage_due_at),
        "judged_by": names.get(row.judged_by),
        "judged_at": at(row.judged_at),
        "judged_basis": row.judged_basis,
        "referred_to": row.referred_to,
        "referral_answer": row.referral_answer,
        "plan": row.plan,
        "plan_at": at(row.plan_at),
        "interim_verified_at": at(row.interim_verified_at),
        "interim_verified_by": names.get(row.interim_verified_by),
        "interim_note": row.interim_note,
        "progress_due_at": at(row.progress_due_at),
        "progress": [{"at": r.at.isoformat(), "by": r.by_name, "note": r.note} for r in reports],
        "accepted_at": at(row.accepted_at),
        "accepted_by": names.get(row.accepted_by),
        "acceptance_note": row.acceptance_note,
        "signed_off_by": names.get(row.signed_off_by),
        "signed_off_at": at(row.signed_off_at),
        "signoff_note": row.signoff_note,
    }
