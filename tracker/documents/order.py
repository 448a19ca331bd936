"""The rectification order (整改通知书) as the bureau serves it: a Chinese official document with its per-year number,
the legal authority, each hazard's grade, measure, interim precaution, deadline and printed basis, the duty to report
and what follows a missed deadline, the issuer's seal beside the last rows, the proof of service (送达回执) and the
copy list.

The data is read in one short read-only query set (`load_orders`, for many orders at once) and typeset by Typst from
templates/order.typ (a few tens of milliseconds of CPU; one is printed for every inspection), outside any
transaction, in a printer process (tracker.documents.printer), once: the PDF is kept with the fingerprint of what
it prints (tracker.documents.kept) and served again by every send, retry and download until that changes. Only the
system's fonts are used (WenQuanYi Micro Hei, or any CJK sans-serif).

What each hazard's required measure and interim precaution say is derived here, as the checklist items carry no
such text: the measure from the grade and the deadline, the precaution from the item's stop_use and the grade, in
the words of 《中华人民共和国安全生产法》第六十五条 where it speaks.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date
from functools import cache

from sqlalchemy import select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tracker.config import Settings, load_settings
from tracker.documents.printed import GRADE, cn_date, printed_basis
from tracker.documents.printer import typst_to_pdf
from tracker.domain.calendar import LOCAL_TZ
from tracker.domain.model import Mode, Severity
from tracker.store.tables import (
    facilities,
    findings,
    inspection_inspectors,
    inspections,
    orders,
    referrals,
    users,
)
from tracker.text.templating import DOCUMENT_TEMPLATES

ATTACHMENT_PREFIX = "order-pdf:"
TEMPLATE = "order.typ"  # in tracker/documents/templates
# The authority to order rectification, confirmed against the law's text (2021 revision).
AUTHORITY = "《中华人民共和国安全生产法》第六十五条"
# A sector's major-hazard standard named in a printed basis is named again in the authority line.
_STANDARD = re.compile(r"《[^《》]*重大事故隐患判定标准》")


class OrderMissing(LookupError):
    """No order with that id, or an order with no findings."""


@dataclass(frozen=True)
class Inspector:
    name: str
    warrant_no: str


@dataclass(frozen=True)
class OrderDocument:
    order: Row
    facility: Row
    inspection: Row
    inspectors: list[Inspector]
    findings: list[Row]
    referred_to: list[str]


def attachment_for(order_id: int) -> str:
    """What the `mail.attachment` column holds for an order's PDF."""
    return f"{ATTACHMENT_PREFIX}{order_id}"


def order_of_attachment(attachment: str) -> int | None:
    if not attachment.startswith(ATTACHMENT_PREFIX):
        return None
    rest = attachment[len(ATTACHMENT_PREFIX) :]
    return int(rest) if rest.isdigit() else None


def filename(order: Row) -> str:
    """The file's name by the order's number as printed, 〔2026〕3号 -> 整改通知书〔2026〕3号.pdf; an order
    issued before the numbering, by its id."""
    if order.year is None or order.number is None:
        return f"整改通知书-{order.id}.pdf"
    return f"整改通知书〔{order.year}〕{order.number}号.pdf"


def ascii_filename(order: Row) -> str:
    """The same name in ASCII, for a client that cannot read the UTF-8 one: zhenggai-2026-3.pdf."""
    if order.year is None or order.number is None:
        return f"zhenggai-{order.id}.pdf"
    return f"zhenggai-{order.year}-{order.number}.pdf"


def order_number(order: Row, prefix: str) -> str:
    """民安整〔2026〕1号: the issuer's abbreviation, the year and the order's number in that year."""
    return f"{prefix}〔{order.year}〕{order.number}号"


def _inspector(person: Row) -> Inspector:
    return Inspector(person.name or person.username, (person.warrant_no or "").strip())


async def load_order(conn: AsyncConnection, order_id: int) -> OrderDocument:
    doc = (await load_orders(conn, [order_id])).get(order_id)
    if doc is None:
        raise OrderMissing(f"no order with id {order_id} (or one without findings)")
    return doc


async def load_orders(conn: AsyncConnection, order_ids: list[int]) -> dict[int, OrderDocument]:
    """The printed matter of many orders in seven queries, however many orders (the mailer's batch); an order
    missing, or without findings, is left out."""
    ids = sorted(set(order_ids))
    if not ids:
        return {}
    order_rows = (await conn.execute(select(orders).where(orders.c.id.in_(ids)))).all()
    if not order_rows:
        return {}
    sites = {
        r.id: r
        for r in (
            await conn.execute(
                select(facilities).where(facilities.c.id.in_({o.facility_id for o in order_rows}))
            )
        ).all()
    }
    visits = {
        r.id: r
        for r in (
            await conn.execute(
                select(inspections).where(inspections.c.id.in_({o.inspection_id for o in order_rows}))
            )
        ).all()
    }
    by_order: dict[int, list[Row]] = {}
    # Found by their inspections, which are indexed: an order's findings are some of its inspection's.
    of_orders = select(findings).where(
        findings.c.inspection_id.in_({o.inspection_id for o in order_rows}), findings.c.order_id.in_(ids)
    )
    for row in (await conn.execute(of_orders.order_by(findings.c.id))).all():
        by_order.setdefault(row.order_id, []).append(row)
    crews = await _crews(conn, list(visits.values()))
    agencies: dict[int, set[str]] = {}
    finding_order = {f.id: order_id for order_id, rows in by_order.items() for f in rows}
    if finding_order:
        for finding_id, agency in await conn.execute(
            select(referrals.c.finding_id, referrals.c.agency).where(
                referrals.c.finding_id.in_(finding_order)
            )
        ):
            agencies.setdefault(finding_order[finding_id], set()).add(agency)
    return {
        o.id: OrderDocument(
            order=o,
            facility=sites[o.facility_id],
            inspection=visits[o.inspection_id],
            inspectors=crews[o.inspection_id],
            findings=by_order[o.id],
            referred_to=sorted(agencies.get(o.id, ())),
        )
        for o in order_rows
        if by_order.get(o.id)
    }


async def _crews(conn: AsyncConnection, visits: list[Row]) -> dict[int, list[Inspector]]:
    """record.crew_of for many inspections at once: the crew in order, or the submitter alone."""
    crews: dict[int, list[Inspector]] = {v.id: [] for v in visits}
    columns = (users.c.id, users.c.name, users.c.username, users.c.warrant_no)
    listed = await conn.execute(
        select(inspection_inspectors.c.inspection_id, *columns)
        .join(inspection_inspectors, inspection_inspectors.c.user_id == users.c.id)
        .where(inspection_inspectors.c.inspection_id.in_(crews))
        .order_by(inspection_inspectors.c.inspection_id, inspection_inspectors.c.position)
    )
    for person in listed:
        crews[person.inspection_id].append(_inspector(person))
    alone = {v.id: v.inspector_id for v in visits if not crews[v.id]}
    if alone:
        submitters = {
            person.id: person
            for person in await conn.execute(select(*columns).where(users.c.id.in_(set(alone.values()))))
        }
        for visit_id, user_id in alone.items():
            crews[visit_id] = [_inspector(submitters[user_id])]
    return crews


def onsite_day(inspection: Row) -> date:
    """The day of the visit as taken on the phone; an inspection recorded before that was kept, its submission."""
    moment = inspection.onsite_at or inspection.submitted_at
    return moment.astimezone(LOCAL_TZ).date()


def required_measure(finding: Row) -> str:
    if finding.severity == Severity.MAJOR:
        return "制定并实施治理方案，落实责任、措施、资金、时限和应急预案，限期消除隐患"
    if not finding.deadline_days:
        return "立即整改，消除隐患"
    return "限期整改，消除隐患"


def interim_precaution(finding: Row) -> str:
    if finding.stop_use:
        return "整改完毕前停止使用相关场所、设施、设备"
    if finding.severity == Severity.MAJOR:
        return "排除前或者排除过程中无法保证安全的，从危险区域内撤出人员，暂时停止使用相关设施、设备"
    return "整改完毕前加强巡查，落实防范措施"


def copy_to(town: str, referred_to: list[str]) -> list[str]:
    """Who receives a copy: the facility's town (its government or sub-district office) and, where a finding was
    referred, the agency it was referred to (the fire-rescue service)."""
    if town.endswith("街道"):
        office = f"{town}办事处"
    elif town.endswith(("镇", "乡")):
        office = f"{town}人民政府"
    else:
        office = town
    return [office, *referred_to]


def printed(doc: OrderDocument, settings: Settings | None = None) -> dict:
    """Everything the document prints, as plain data: the template reads it as JSON, the fingerprint hashes it."""
    settings = settings or load_settings()
    rows = [
        {
            "description": f.item_zh + (f"（{f.description.strip()}）" if f.description.strip() else ""),
            "grade": GRADE[f.severity],
            "major": f.severity == Severity.MAJOR,
            "measure": required_measure(f),
            "precaution": interim_precaution(f),
            "due": cn_date(f.due_day) if f.due_day else "立即",
            "basis": printed_basis(f.basis),
        }
        for f in doc.findings
    ]
    bases = " ".join(r["basis"] for r in rows)
    standards = list(dict.fromkeys(_STANDARD.findall(bases)))
    return {
        "number": order_number(doc.order, settings.order_prefix),
        "issuer": settings.bureau_name,
        "facility": doc.facility.name,
        "self_reported": doc.inspection.mode == Mode.SELF,
        # A lapse on the facility's register of certificates: nobody visited, nobody signs as inspector.
        "from_register": doc.inspection.mode == Mode.REGISTER,
        "onsite": cn_date(onsite_day(doc.inspection)),
        "inspectors": [{"name": i.name, "warrant_no": i.warrant_no or ""} for i in doc.inspectors],
        "authority": AUTHORITY,
        "standards": standards,
        "rows": rows,
        "has_major": any(r["major"] for r in rows),
        "issued": cn_date(doc.order.issued_at),
        "copies": copy_to(doc.facility.town, doc.referred_to),
        "filename": filename(doc.order),
    }


def fingerprint(context: dict) -> str:
    """What the document prints, and the template that prints it, in 64 hex digits: a stored document whose
    fingerprint no longer matches is printed again (an extension moved a deadline, a facility renamed)."""
    canonical = json.dumps(context, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(f"{_template_digest()}\n{canonical}".encode()).hexdigest()


@cache
def _template_digest() -> str:
    return hashlib.sha256((DOCUMENT_TEMPLATES / TEMPLATE).read_bytes()).hexdigest()


def typeset_inputs(context: dict) -> dict[str, str]:
    """The printed matter as the Typst template reads it: `sys.inputs.order`, one JSON text."""
    return {"order": json.dumps(context, ensure_ascii=False)}


def render_pdf(doc: OrderDocument, settings: Settings | None = None) -> bytes:
    """The order printed here and now (tests, tools); the product prints through tracker.documents.kept."""
    return typst_to_pdf(TEMPLATE, typeset_inputs(printed(doc, settings)))


async def order_pdf(engine: AsyncEngine, order_id: int, settings: Settings | None = None) -> bytes:
    """The order's PDF as kept (tracker.documents.kept): printed once, again only when what it prints changed."""
    from tracker.documents.kept import order_document

    return (await order_document(engine, order_id, settings))[1]
