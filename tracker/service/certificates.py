"""Each facility's register of what expires (证照台账): lift, boiler and pressure-vessel inspections, the fire
system's annual test, the food business licence, staff health and control-room certificates.

The facility head keeps their own facility's register; the bureau and the facility's sector read it; an operator
imports lines by CSV, all or nothing. The scheduler's sweep reminds the head and the sector's section chiefs 30 and
7 days before an entry expires, and once it has lapsed raises a finding on the kind's checklist item through the
same step as an inspection (tracker.service.reporting), so the order follows from the same reaction. Each step is
claimed with a conditional update on the entry's `stage`, so reruns, restarts and two sweeps at once do it once."""

from __future__ import annotations

import csv
import hashlib
import io
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tracker.checklists import Catalog
from tracker.checklists.certificates import CertificateKind, load_kinds
from tracker.domain.certificates import REMIND_BEFORE, Entry, Stage, days_left, stage_due
from tracker.domain.errors import DomainError, InvalidInput, NotAllowed, NotFound
from tracker.domain.model import Actor, Mode, Role
from tracker.domain.time import local_day
from tracker.mail.queue import queue_mail
from tracker.mail.render import render
from tracker.service.reporting import InspectionInput, ItemResult, Notices, report_within
from tracker.service.sectors import sector_emails, sector_people
from tracker.service.visibility import visible_facility
from tracker.store.db import insert_ignoring_duplicates, read_only
from tracker.store.people import shown_name
from tracker.store.tables import certificates, facilities, findings, inspections, users

log = logging.getLogger("tracker.service.certificates")

# More than this many due in one sweep are left for the next one.
BATCH = 1000
CSV_COLUMNS = ("facility", "kind", "label", "number", "expires_on")

_kinds: dict[int, tuple[Catalog, dict[str, CertificateKind]]] = {}


def kinds_for(catalog: Catalog) -> dict[str, CertificateKind]:
    """The kinds checked against `catalog`, read once per catalog."""
    held = _kinds.get(id(catalog))
    if held is None or held[0] is not catalog:
        held = (catalog, load_kinds(catalog))
        _kinds[id(catalog)] = held
    return held[1]


# ---- reading and keeping the register ------------------------------------------------------------------------


async def _facility(conn: AsyncConnection, actor: Actor, facility_id: int) -> Row[Any]:
    """The facility, if `actor` may read its register: its own head, the bureau, its town's office. Anyone else
    is told it does not exist."""
    return await visible_facility(conn, actor, facility_id)


def may_edit(actor: Actor, facility_id: int) -> bool:
    """Only the facility's own head keeps its register on the page (an operator imports by CSV)."""
    return actor.role is Role.FACILITY_HEAD and actor.facility_id == facility_id


@dataclass(frozen=True)
class Register:
    facility: Row[Any]
    entries: list[Row[Any]]
    editable: bool


async def register_of(engine: AsyncEngine, actor: Actor, facility_id: int) -> Register:
    """The facility's entries, soonest to expire first, with who last changed each."""
    async with read_only(engine) as conn:
        facility = await _facility(conn, actor, facility_id)
        editor = users.alias("editor")
        rows = (
            await conn.execute(
                select(certificates, shown_name(editor).label("updated_by_name"))
                .outerjoin(editor, editor.c.id == certificates.c.updated_by)
                .where(certificates.c.facility_id == facility_id)
                .order_by(certificates.c.expires_on, certificates.c.kind, certificates.c.label)
            )
        ).all()
    return Register(facility, list(rows), may_edit(actor, facility_id))


def _check_applies(catalog: Catalog, kinds: dict[str, CertificateKind], entry: Entry, ftype: str) -> None:
    item = catalog.item(kinds[entry.kind].item)
    if not item.applies_to(ftype):
        raise InvalidInput("kind", f"{entry.kind} ({item.code}) does not apply to a {ftype}")


async def _upsert(
    conn: AsyncConnection, facility_id: int, entry: Entry, by: int | None, now: datetime
) -> str:
    """Add the entry, or change the one of the same (kind, label): a new expiry date starts its reminders again."""
    current = (
        await conn.execute(
            select(certificates.c.id, certificates.c.expires_on, certificates.c.number).where(
                certificates.c.facility_id == facility_id,
                certificates.c.kind == entry.kind,
                certificates.c.label == entry.label,
            )
        )
    ).first()
    if current is None:
        await conn.execute(
            insert_ignoring_duplicates(conn, certificates).values(
                facility_id=facility_id,
                kind=entry.kind,
                label=entry.label,
                number=entry.number,
                expires_on=entry.expires_on,
                stage=Stage.NONE,
                updated_by=by,
                updated_at=now,
            )
        )
        return "added"
    if current.expires_on == entry.expires_on and current.number == entry.number:
        return "unchanged"
    values: dict[str, Any] = {"number": entry.number, "updated_by": by, "updated_at": now}
    if current.expires_on != entry.expires_on:
        values.update(expires_on=entry.expires_on, stage=Stage.NONE, finding_id=None)
    await conn.execute(update(certificates).where(certificates.c.id == current.id).values(**values))
    return "changed"


async def save_entry(
    engine: AsyncEngine,
    catalog: Catalog,
    actor: Actor,
    facility_id: int,
    kind: str,
    label: str,
    number: str,
    expires_on: str,
    now: datetime,
) -> str:
    """The head adds or changes one entry of their own facility's register ("added", "changed", "unchanged")."""
    kinds = kinds_for(catalog)
    async with engine.begin() as conn:
        facility = await _facility(conn, actor, facility_id)
        if not may_edit(actor, facility_id):
            raise NotAllowed("only the head of this facility keeps its register")
        entry = Entry.parse(kind, label, number, expires_on, frozenset(kinds))
        _check_applies(catalog, kinds, entry, facility.type)
        return await _upsert(conn, facility_id, entry, actor.id, now)


async def remove_entry(engine: AsyncEngine, actor: Actor, facility_id: int, entry_id: int) -> None:
    async with engine.begin() as conn:
        await _facility(conn, actor, facility_id)
        if not may_edit(actor, facility_id):
            raise NotAllowed("only the head of this facility keeps its register")
        gone = await conn.execute(
            delete(certificates).where(
                certificates.c.id == entry_id, certificates.c.facility_id == facility_id
            )
        )
        if gone.rowcount != 1:
            raise NotFound(f"no entry {entry_id} on this register")


# ---- CSV import ------------------------------------------------------------------------------------------------


class ImportRejected(DomainError):
    """The file had faulty lines; nothing was imported. `problems` says `line N: message` for each."""

    status_code = 422

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass
class Imported:
    added: int = 0
    changed: int = 0
    unchanged: int = 0


async def import_csv(
    engine: AsyncEngine, catalog: Catalog, text: str, now: datetime, by: int | None = None
) -> Imported:
    """Import `facility,kind,label,number,expires_on` lines (a header first; the facility by its code). Every line
    is checked before any is written: one faulty line and nothing is imported, with every fault named by line."""
    kinds = kinds_for(catalog)
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in next(reader, [])]
    if tuple(header) != CSV_COLUMNS:
        raise ImportRejected(
            [f"line 1: the header must be {','.join(CSV_COLUMNS)}, got {','.join(header)!r}"]
        )
    async with engine.begin() as conn:
        known = {r.code: r for r in (await conn.execute(select(facilities))).all()}
        problems: list[str] = []
        lines: list[tuple[int, Entry]] = []
        seen: dict[tuple[int, str, str], int] = {}
        for cells in reader:
            n = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(CSV_COLUMNS):
                problems.append(f"line {n}: {len(cells)} fields, expected {len(CSV_COLUMNS)}")
                continue
            code, kind, label, number, expires_on = cells
            facility = known.get(code.strip())
            if facility is None:
                problems.append(f"line {n}: facility: no facility with code {code.strip()!r}")
                continue
            try:
                entry = Entry.parse(kind, label, number, expires_on, frozenset(kinds))
                _check_applies(catalog, kinds, entry, facility.type)
            except InvalidInput as error:
                problems.append(f"line {n}: {error.field}: {error}")
                continue
            key = (facility.id, entry.kind, entry.label)
            if key in seen:
                problems.append(f"line {n}: the same entry as line {seen[key]}")
                continue
            seen[key] = n
            lines.append((facility.id, entry))
        if problems:
            raise ImportRejected(problems)
        done = Imported()
        for facility_id, entry in lines:
            outcome = await _upsert(conn, facility_id, entry, by, now)
            setattr(done, outcome, getattr(done, outcome) + 1)
    return done


# ---- the sweep -------------------------------------------------------------------------------------------------


@dataclass
class CertificateSweep:
    reminded: list[tuple[int, int]] = field(default_factory=list)  # (entry, days before)
    lapsed: list[tuple[int, int]] = field(default_factory=list)  # (entry, finding)
    unraised: list[int] = field(default_factory=list)  # lapsed with nobody to raise it in the bureau's name
    mails: int = 0


async def _heads(conn: AsyncConnection, facility: Row[Any]) -> list[str]:
    """The facility's heads with an address, else the address on the facility's record."""
    found = (
        await conn.execute(
            select(users.c.email).where(
                users.c.facility_id == facility.id,
                users.c.role == Role.FACILITY_HEAD.value,
                users.c.active,
                users.c.email.is_not(None),
            )
        )
    ).scalars()
    emails = sorted({e for e in found if e})
    return emails or ([facility.head_email] if facility.head_email else [])


async def _raiser(conn: AsyncConnection, sector: str) -> Actor | None:
    """In whose name a lapse is raised: the first section chief of the facility's sector, else an admin. The
    inspection row needs a person of the bureau; the order says the register was checked, not a visit."""
    chiefs = await sector_people(conn, Role.SECTION_CHIEF, sector)
    person = chiefs[0] if chiefs else None
    if person is None:
        person = (
            await conn.execute(
                select(users)
                .where(users.c.role == Role.ADMIN.value, users.c.active)
                .order_by(users.c.id)
                .limit(1)
            )
        ).first()
    if person is None:
        return None
    return Actor(person.id, person.username, Role(person.role), display_name=person.name or "")


def lapse_note(kind: CertificateKind, entry: Row[Any]) -> str:
    number = f"，编号{entry.number}" if entry.number else ""
    return f"{kind.zh}：{entry.label}{number}，有效期至{entry.expires_on.isoformat()}，已过期"


async def sweep_certificates(
    engine: AsyncEngine,
    catalog: Catalog,
    now: datetime,
    base_url: str,
    notices: Notices | None = None,
    *,
    dry_run: bool = False,
) -> CertificateSweep:
    """Remind and raise what is due as of `now`, in one transaction: one mail per recipient and reminder listing
    their entries; one finding per lapsed entry, with its inspection, order and events as any finding's."""
    kinds = kinds_for(catalog)
    today = local_day(now)
    result = CertificateSweep()
    query = (
        select(
            certificates,
            facilities.c.name.label("facility_name"),
            facilities.c.code.label("facility_code"),
            facilities.c.type.label("facility_type"),
            facilities.c.sector,
        )
        .join(facilities, facilities.c.id == certificates.c.facility_id)
        .where(
            # Only rows with a step due: one waiting for its next reminder is not read again and again.
            or_(
                and_(certificates.c.stage < Stage.LAPSED, certificates.c.expires_on < today),
                *(
                    and_(
                        certificates.c.stage < stage,
                        certificates.c.expires_on <= today + timedelta(days=days),
                    )
                    for stage, days in REMIND_BEFORE.items()
                ),
            )
        )
        .order_by(certificates.c.expires_on, certificates.c.id)
        .limit(None if dry_run else BATCH)
    )
    async with engine.begin() as conn:
        rows = [r for r in (await conn.execute(query)).all() if stage_due(r.expires_on, today) > r.stage]
        if dry_run:
            for r in rows:
                due = stage_due(r.expires_on, today)
                if due is Stage.LAPSED:
                    result.lapsed.append((r.id, 0))
                else:
                    result.reminded.append((r.id, REMIND_BEFORE[due]))
            return result
        letters: dict[tuple[str, str, int], list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            due = stage_due(row.expires_on, today)
            kind = kinds.get(row.kind)
            if due is Stage.LAPSED:
                raised = await _raise(conn, catalog, kind, row, now, notices, result)
                if raised is None:
                    continue
            elif not await _claim(conn, row, due):
                continue
            else:
                days = REMIND_BEFORE[due]
                result.reminded.append((row.id, days))
                listed = {
                    **row._mapping,
                    "kind_zh": kind.zh if kind else row.kind,
                    "kind_en": kind.en if kind else row.kind,
                    "days_left": days_left(row.expires_on, today),
                }
                facility = (
                    await conn.execute(select(facilities).where(facilities.c.id == row.facility_id))
                ).one()
                for to in await _heads(conn, facility):
                    letters[(to, "certificate_due", days)].append(listed)
                for to in await sector_emails(conn, Role.SECTION_CHIEF, row.sector):
                    letters[(to, "certificate_due_staff", days)].append(listed)
        for (to, mail_kind, days), listed in letters.items():
            listed.sort(key=lambda r: (r["expires_on"], r["facility_code"], r["id"]))
            message = render(mail_kind, rows=listed, days=days, base_url=base_url)
            # The entries and dates named: the same entries at a new date are a new message.
            named = ",".join(f"{r['id']}@{r['expires_on'].isoformat()}" for r in listed)
            about = "certificates:" + hashlib.sha256(named.encode()).hexdigest()[:40]
            if await queue_mail(
                conn, kind=mail_kind, about=about, variant=str(days), to=to, message=message, now=now
            ):
                result.mails += 1
    return result


async def _claim(conn: AsyncConnection, row: Row[Any], due: Stage) -> bool:
    claimed = await conn.execute(
        update(certificates)
        .where(
            certificates.c.id == row.id,
            certificates.c.stage == row.stage,
            certificates.c.expires_on == row.expires_on,
        )
        .values(stage=due)
    )
    return claimed.rowcount == 1


async def _raise(
    conn: AsyncConnection,
    catalog: Catalog,
    kind: CertificateKind | None,
    row: Row[Any],
    now: datetime,
    notices: Notices | None,
    result: CertificateSweep,
) -> int | None:
    """Claim the lapse and raise its finding in the same transaction; None when it cannot be raised (left for
    a later sweep, and logged)."""
    if (
        kind is None
        or not catalog.has(kind.item)
        or not catalog.item(kind.item).applies_to(row.facility_type)
    ):
        log.warning(
            "certificate %s: kind %s names no item for a %s; not raised", row.id, row.kind, row.facility_type
        )
        result.unraised.append(row.id)
        return None
    actor = await _raiser(conn, row.sector)
    if actor is None:
        log.warning(
            "certificate %s lapsed: no section chief of %s and no admin to raise it", row.id, row.sector
        )
        result.unraised.append(row.id)
        return None
    if not await _claim(conn, row, Stage.LAPSED):
        return None
    ref = f"certificate:{row.id}:{row.expires_on.isoformat()}"
    # The same date lapsed before (it was changed and changed back): that finding stands for it, whoever raised it.
    finding_id = await conn.scalar(
        select(findings.c.id)
        .join(inspections, inspections.c.id == findings.c.inspection_id)
        .where(inspections.c.client_ref == ref)
        .order_by(findings.c.id)
        .limit(1)
    )
    if finding_id is None:
        reported = await report_within(
            conn,
            catalog,
            actor,
            InspectionInput(
                facility_id=row.facility_id,
                mode=Mode.REGISTER,
                client_ref=ref,
                items=[ItemResult(kind.item, "fail", lapse_note(kind, row))],
            ),
            now,
            notices,
        )
        finding_id = reported.finding_ids[0]
    await conn.execute(update(certificates).where(certificates.c.id == row.id).values(finding_id=finding_id))
    result.lapsed.append((row.id, finding_id))
    return finding_id


__all__ = [
    "CSV_COLUMNS",
    "CertificateSweep",
    "ImportRejected",
    "Imported",
    "Register",
    "import_csv",
    "kinds_for",
    "may_edit",
    "register_of",
    "remove_entry",
    "save_entry",
    "sweep_certificates",
]
