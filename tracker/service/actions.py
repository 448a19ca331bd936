"""Escalation actions on record: a section chief or bureau lead of the facility's sector records what the bureau
did about a finding (催办, 约谈, 通报, 移送, 责令停业整顿, 信用措施), with the minutes or letter as photos."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tracker.domain.actions import check_action, may_record_action, words
from tracker.domain.calendar import LOCAL_TZ
from tracker.domain.errors import FindingAlreadyClosed
from tracker.domain.model import Actor, Status
from tracker.service.loop import _check_photos, _link_photos, _log, load_visible_finding
from tracker.service.sectors import facility_sector
from tracker.store.tables import finding_actions, users

# The stage of an action's attachments among a finding's photos.
STAGE = "action"


async def may_act(conn: AsyncConnection, actor: Actor, finding_id: int) -> Any:
    """The finding, if `actor` may record an action on it: NotFound when they cannot see it, NotAllowed when
    they are not a section chief or lead of its facility's sector."""
    finding = await load_visible_finding(conn, actor, finding_id)
    facility = await facility_sector(conn, finding.facility_id)
    may_record_action(actor, facility.sector)
    return finding


async def check_before(
    conn: AsyncConnection,
    actor: Actor,
    finding_id: int,
    kind: str,
    note: str,
    to: str | None,
    on_day: date | None,
    now: datetime,
) -> tuple[date, str | None]:
    """Everything record_action checks but the photos, so a page can refuse before it stores any; returns the
    day of the action and to whom (a referral's agency) as recorded."""
    finding = await may_act(conn, actor, finding_id)
    if finding.status == Status.CLOSED.value:
        raise FindingAlreadyClosed("the finding is closed; record actions while it is open")
    facility = await facility_sector(conn, finding.facility_id)
    today = now.astimezone(LOCAL_TZ).date()
    day = on_day or today
    to = (to or "").strip() or None
    reported = finding.reported_at.astimezone(LOCAL_TZ).date()
    check_action(kind, to, note, facility.ownership, day, reported, today)
    return day, to


async def record_action(
    conn: AsyncConnection,
    actor: Actor,
    finding_id: int,
    kind: str,
    note: str,
    to: str | None,
    on_day: date | None,
    photo_ids: list[str],
    now: datetime,
) -> int:
    """Record one action; it shows in the finding's history, on its order page, in the ledger and on the
    dashboard. Returns its id."""
    day, to = await check_before(conn, actor, finding_id, kind, note, to, on_day, now)
    await _check_photos(conn, actor, photo_ids, documents=True)
    action_id = (
        await conn.execute(
            insert(finding_actions).values(
                finding_id=finding_id,
                kind=kind,
                to_whom=to if kind == "referral" else None,
                note=note.strip(),
                on_day=day,
                at=now,
                by_user=actor.id,
                photos=photo_ids,
            )
        )
    ).inserted_primary_key[0]
    await _link_photos(conn, finding_id, photo_ids, STAGE)
    data = {"action_id": action_id, "kind": kind, "to": to, "on_day": day.isoformat(), "photos": photo_ids}
    await _log(conn, finding_id, now, f"action_{kind}", actor.id, note.strip(), data)
    return action_id


async def actions_of(conn: AsyncConnection, finding_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The actions recorded on these findings, in the order taken, as the API and the pages show them."""
    if not finding_ids:
        return {}
    rows = await conn.execute(
        select(
            finding_actions, func.coalesce(func.nullif(users.c.name, ""), users.c.username).label("by_name")
        )
        .join(users, users.c.id == finding_actions.c.by_user)
        .where(finding_actions.c.finding_id.in_(finding_ids))
        .order_by(finding_actions.c.on_day, finding_actions.c.id)
    )
    out: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r.finding_id, []).append(
            {
                "id": r.id,
                "kind": r.kind,
                "words": words(r.kind, r.to_whom),
                "to": r.to_whom,
                "note": r.note,
                "on_day": r.on_day.isoformat(),
                "by": r.by_name,
                "photos": list(r.photos or []),
            }
        )
    return out
