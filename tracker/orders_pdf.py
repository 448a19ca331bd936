"""The rectification order (整改通知书) as the bureau serves it: a Chinese official document with its per-year number,
the legal authority, each hazard's grade, measure, interim precaution, deadline and printed basis, the duty to report
and what follows a missed deadline, the issuer's seal beside the last rows, the proof of service (送达回执) and the
copy list.

The data is read in one short read-only query set (`load_order`); the rendering, which takes WeasyPrint a few
hundred milliseconds of CPU, happens outside any transaction, in a printer process of its own (`order_pdf`, called
by the mailer when it sends and by the order page's download). Only the system's fonts are used (WenQuanYi Micro
Hei, or any CJK sans-serif).

What each hazard's required measure and interim precaution say is derived here, as the checklist items carry no
such text: the measure from the grade and the deadline, the precaution from the item's stop_use and the grade, in
the words of 《中华人民共和国安全生产法》第六十五条 where it speaks.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import re
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy import select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tracker.config import Settings, load_settings
from tracker.domain.calendar import LOCAL_TZ
from tracker.printed import GRADE, cn_date, printed_basis
from tracker.service import record
from tracker.store.db import read_only
from tracker.store.tables import (
    facilities,
    findings,
    inspections,
    orders,
    referrals,
)

ATTACHMENT_PREFIX = "order-pdf:"
PRINTERS = max(1, min(2, os.cpu_count() or 1))
TEMPLATES = Path(__file__).parent / "web" / "templates"
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


async def inspectors_of(conn: AsyncConnection, inspection: Row) -> list[Inspector]:
    """Everyone who inspected, the submitter first, each with the number of their enforcement warrant (执法证号)."""
    return [
        Inspector(person.name or person.username, (person.warrant_no or "").strip())
        for person in await record.crew_of(conn, inspection)
    ]


async def _referred_to(conn: AsyncConnection, finding_ids: list[int]) -> list[str]:
    """The agencies a finding of the order was referred to (a suspected 重大火灾隐患 to the fire-rescue service)."""
    agencies = select(referrals.c.agency).where(referrals.c.finding_id.in_(finding_ids)).distinct()
    return sorted((await conn.execute(agencies)).scalars())


async def load_order(conn: AsyncConnection, order_id: int) -> OrderDocument:
    order = (await conn.execute(select(orders).where(orders.c.id == order_id))).first()
    if order is None:
        raise OrderMissing(f"no order with id {order_id}")
    facility = (await conn.execute(select(facilities).where(facilities.c.id == order.facility_id))).one()
    inspection = (
        await conn.execute(select(inspections).where(inspections.c.id == order.inspection_id))
    ).one()
    rows = list(
        (
            await conn.execute(
                select(findings).where(findings.c.order_id == order_id).order_by(findings.c.id)
            )
        ).all()
    )
    if not rows:
        raise OrderMissing(f"order {order_id} has no findings")
    return OrderDocument(
        order=order,
        facility=facility,
        inspection=inspection,
        inspectors=await inspectors_of(conn, inspection),
        findings=rows,
        referred_to=await _referred_to(conn, [f.id for f in rows]),
    )


def onsite_day(inspection: Row) -> date:
    """The day of the visit as taken on the phone; an inspection recorded before that was kept, its submission."""
    moment = inspection.onsite_at or inspection.submitted_at
    return moment.astimezone(LOCAL_TZ).date()


def required_measure(finding: Row) -> str:
    if finding.severity == "major":
        return "制定并实施治理方案，落实责任、措施、资金、时限和应急预案，限期消除隐患"
    if not finding.deadline_days:
        return "立即整改，消除隐患"
    return "限期整改，消除隐患"


def interim_precaution(finding: Row) -> str:
    if finding.stop_use:
        return "整改完毕前停止使用相关场所、设施、设备"
    if finding.severity == "major":
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


@cache
def document_env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["cn_date"] = cn_date
    return env


def render_html(doc: OrderDocument, settings: Settings | None = None) -> str:
    settings = settings or load_settings()
    rows = [
        {
            "description": f.item_zh + (f"（{f.description.strip()}）" if f.description.strip() else ""),
            "grade": GRADE[f.severity],
            "major": f.severity == "major",
            "measure": required_measure(f),
            "precaution": interim_precaution(f),
            "due": cn_date(f.due_day) if f.due_day else "立即",
            "basis": printed_basis(f.basis),
        }
        for f in doc.findings
    ]
    bases = " ".join(r["basis"] for r in rows)
    standards = list(dict.fromkeys(_STANDARD.findall(bases)))
    return (
        document_env()
        .get_template("order_pdf.html")
        .render(
            number=order_number(doc.order, settings.order_prefix),
            issuer=settings.bureau_name,
            facility=doc.facility,
            self_reported=doc.inspection.mode == "self",
            onsite=cn_date(onsite_day(doc.inspection)),
            inspectors=doc.inspectors,
            authority=AUTHORITY,
            standards=standards,
            rows=rows,
            has_major=any(r["major"] for r in rows),
            issued=cn_date(doc.order.issued_at),
            copies=copy_to(doc.facility.town, doc.referred_to),
        )
    )


def html_to_pdf(html: str) -> bytes:
    """WeasyPrint's part: a few hundred milliseconds of CPU for a one- or two-page order."""
    from weasyprint import HTML  # heavy; imported when the first order is printed

    return HTML(string=html).write_pdf()


def render_pdf(doc: OrderDocument, settings: Settings | None = None) -> bytes:
    return html_to_pdf(render_html(doc, settings))


_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


def _printer() -> ProcessPoolExecutor:
    """Processes of their own for WeasyPrint: its layout is CPU-bound Python that would otherwise hold the GIL
    of the process running the event loop (relay, worker, web) for the whole rendering."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(max_workers=PRINTERS, mp_context=multiprocessing.get_context("spawn"))
        return _pool


async def order_pdf(engine: AsyncEngine, order_id: int) -> bytes:
    """Read the order, then render it in a printer process with no transaction held. The read takes no write
    lock on SQLite: the mailer renders ahead while it writes, and cancels what it no longer needs."""
    return (await order_pdf_file(engine, order_id))[1]


async def order_pdf_file(engine: AsyncEngine, order_id: int) -> tuple[str, bytes]:
    """The order's PDF with its file name (by the order's number), as the mail attaches it."""
    async with read_only(engine) as conn:
        doc = await load_order(conn, order_id)
    return filename(doc.order), await print_html(render_html(doc))


async def print_html(html: str) -> bytes:
    """A document's HTML to PDF in a printer process, off the event loop."""
    try:
        return await asyncio.get_running_loop().run_in_executor(_printer(), html_to_pdf, html)
    except BrokenProcessPool:
        # A printer process died (killed, out of memory): start afresh next time, render this one here.
        global _pool
        with _pool_lock:
            _pool = None
        return await asyncio.to_thread(html_to_pdf, html)
