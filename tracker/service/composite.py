"""What the rules make of an inspection, written down: the one finding a composite rule makes for the building
or unit inspected, its links to the element findings, its referral to the agency that determines it, and what
an advising rule said, for staff. Also the admin's side: adopting a local rule and recording an agency's answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tracker.checklists import Catalog
from tracker.checklists.rules import ADVICE_ZH, CompositeHit, Failure, Judgement, judge
from tracker.domain.errors import InvalidInput
from tracker.domain.model import Severity, Status
from tracker.domain.policy import PolicySettings
from tracker.service.supervision import referral_answered
from tracker.service.supervision_stage import supervision_of
from tracker.store.tables import finding_links, findings, history, referrals, rule_adoptions, rule_notes

COMPOSITE_CATEGORY = "fire"


class Failed(Protocol):
    item: str
    quantity_met: bool


async def judgement(
    conn: AsyncConnection,
    catalog: Catalog,
    facility_type: str,
    failed: Sequence[Failed],
    severities: Mapping[str, str],
) -> Judgement:
    """Judge the failures with the rules in effect on the catalog's day and the local documents adopted."""
    codes = {f.item for f in failed}
    # An adoption only decides a rule no standard backs, and only when one of its items failed: most
    # inspections need not read them.
    adopted = (
        {r.rule_code: r.effective for r in (await conn.execute(select(rule_adoptions))).all()}
        if any(
            r.kind != "composite" and r.backing != "standard" and codes.intersection(r.any_of_items)
            for r in catalog.rules
        )
        else {}
    )
    failures = [Failure(f.item, severities[f.item], f.quantity_met) for f in failed]
    return judge(catalog.rules, facility_type, catalog.as_of, failures, adopted)


async def record(
    conn: AsyncConnection,
    catalog: Catalog,
    judged: Judgement,
    *,
    inspection_id: int,
    facility: Row,
    mode: str,
    actor_id: int,
    now: datetime,
    element_ids: Mapping[str, int],
) -> list[tuple[int, dict[str, Any]]]:
    """Write what `judged` asks beyond the element findings; the findings made, as (id, row), to be reported."""
    for advice in judged.advice:
        await conn.execute(
            insert(rule_notes).values(
                inspection_id=inspection_id,
                rule_code=advice.rule_code,
                note=ADVICE_ZH,
                item_codes=list(advice.item_codes),
                created_at=now,
            )
        )
    made = []
    for hit in judged.composites:
        rule = next(r for r in catalog.rules if r.code == hit.rule_code)
        row = _composite_row(catalog, hit, rule.zh, rule.en, inspection_id, facility, mode, now)
        finding_id = (await conn.execute(insert(findings).values(row))).inserted_primary_key[0]
        elements = {code: e.code for e in hit.version.elements for code in e.items}
        await conn.execute(
            insert(finding_links),
            [
                {"finding_id": finding_id, "element_finding_id": element_ids[code], "element": elements[code]}
                for code in hit.item_codes
            ],
        )
        await conn.execute(
            insert(referrals).values(finding_id=finding_id, agency=rule.refer_to, referred_at=now)
        )
        await conn.execute(
            insert(history).values(
                finding_id=finding_id,
                at=now,
                action="reported",
                actor_id=actor_id,
                note=row["description"],
                data={
                    "severity": row["severity"],
                    "mode": mode,
                    "rule": hit.rule_code,
                    "version": hit.version.version,
                    "elements": list(hit.elements),
                    "referred_to": rule.refer_to,
                },
            )
        )
        made.append((finding_id, row))
    return made


def _composite_row(
    catalog: Catalog,
    hit: CompositeHit,
    zh: str,
    en: str,
    inspection_id: int,
    facility: Row,
    mode: str,
    now: datetime,
) -> dict[str, Any]:
    words = {e.code: e.zh for e in hit.version.elements}
    # The longest deadline its elements' items allow a major finding: no deadline of its own is invented.
    days = max(catalog.item(code).deadline_days(Severity.MAJOR.value) for code in hit.item_codes)
    return {
        "inspection_id": inspection_id,
        "facility_id": facility.id,
        "item_code": hit.rule_code,
        "category": COMPOSITE_CATEGORY,
        "item_zh": zh,
        "item_en": en,
        "basis": hit.version.basis,
        "severity": Severity.MAJOR.value,
        "severity_rule": hit.rule_code,
        "stop_use": False,
        "description": f"{hit.place_zh}存在综合判定要素{len(hit.elements)}项："
        + "；".join(words[code] for code in hit.elements),
        "status": Status.REPORTED.value,
        "listed_for_supervision": True,
        "deadline_days": days,
        "escalation_level": 0,
        "round": 1,
        "reported_at": now,
        "town": facility.town,
        "facility_type": facility.type,
        "mode": mode,
        "is_repeat": False,
    }


# --- the admin's side ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleState:
    code: str
    zh: str
    kind: str
    backing: str
    document: str | None
    effective: date | None

    @property
    def binding(self) -> bool:
        return self.backing == "standard" or self.document is not None


async def rule_states(engine: AsyncEngine, catalog: Catalog) -> list[RuleState]:
    """Every rule with the local document that adopted it, if any."""
    async with engine.connect() as conn:
        adopted = {r.rule_code: r for r in (await conn.execute(select(rule_adoptions))).all()}
    return [
        RuleState(
            rule.code,
            rule.zh,
            rule.kind,
            rule.backing,
            adopted[rule.code].document if rule.code in adopted else None,
            adopted[rule.code].effective if rule.code in adopted else None,
        )
        for rule in catalog.rules
    ]


async def adopt(
    engine: AsyncEngine, catalog: Catalog, code: str, document: str, effective: date, by: str, now: datetime
) -> None:
    """Record the local document that makes a locally backed rule bind from `effective`; a new one replaces it."""
    rule = next((r for r in catalog.rules if r.code == code), None)
    if rule is None:
        raise InvalidInput("rule", f"unknown rule {code!r}")
    if rule.backing != "local":
        raise InvalidInput("rule", f"{code} is backed by a standard already; there is nothing to adopt")
    if not document.strip():
        raise InvalidInput("document", "the document number is required")
    values = {"document": document.strip(), "effective": effective, "adopted_at": now, "adopted_by": by}
    async with engine.begin() as conn:
        changed = await conn.execute(
            update(rule_adoptions).where(rule_adoptions.c.rule_code == code).values(**values)
        )
        if changed.rowcount == 0:
            await conn.execute(insert(rule_adoptions).values(rule_code=code, **values))


async def answer_referral(engine: AsyncEngine, referral_id: int, answer: str, by: str, now: datetime) -> None:
    """Record the agency's answer to a referral, once."""
    if not answer.strip():
        raise InvalidInput("answer", "the answer is required")
    async with engine.begin() as conn:
        referral = (await conn.execute(select(referrals).where(referrals.c.id == referral_id))).first()
        if referral is None:
            raise InvalidInput("referral", f"no referral with id {referral_id}")
        done = await conn.execute(
            update(referrals)
            .where(referrals.c.id == referral_id, referrals.c.answered_at.is_(None))
            .values(answered_at=now, answer=answer.strip(), answered_by=by)
        )
        if done.rowcount == 0:
            raise InvalidInput("referral", f"referral {referral_id} was answered already")
        # A major hazard's notice waiting at its judgement for this answer goes on to its plan.
        tracked = await supervision_of(conn, referral.finding_id)
        if tracked is not None:
            finding = (await conn.execute(select(findings).where(findings.c.id == referral.finding_id))).one()
            await referral_answered(conn, finding, tracked, answer.strip(), None, PolicySettings(), now)


async def referral_list(engine: AsyncEngine) -> list[Row]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(referrals).order_by(referrals.c.id))).all())


async def advice_notes(engine: AsyncEngine) -> list[Row]:
    """What advising rules said of inspections, oldest first: for staff only."""
    async with engine.connect() as conn:
        return list((await conn.execute(select(rule_notes).order_by(rule_notes.c.id))).all())
