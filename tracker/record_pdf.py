"""The on-site inspection record (现场检查记录) as a PDF: who checked, when, with whom present; every item checked
and its result; the hazards found and the defects fixed during the visit; lines for the inspectors' and the
person present's signatures. Printed from what the inspection stored, in the order PDF's printer processes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tracker.checklists import Catalog
from tracker.config import Settings, load_settings
from tracker.domain.calendar import LOCAL_TZ
from tracker.orders_pdf import Inspector, document_env, inspectors_of, print_html
from tracker.printed import GRADE, cn_date
from tracker.stats.labels import MODE_NAMES
from tracker.store.db import read_only
from tracker.store.tables import facilities, findings, inspection_items, inspections

RESULT = {"pass": "符合", "fail": "不符合", "na": "不适用", "fixed": "当场整改"}


class RecordMissing(LookupError):
    """No inspection with that id."""


@dataclass(frozen=True)
class CheckedItem:
    code: str
    category: str
    text: str
    result: str
    note: str
    grade: str  # the finding's grade where the item failed


@dataclass(frozen=True)
class InspectionRecord:
    inspection: Row
    facility: Row
    inspectors: list[Inspector]
    items: list[CheckedItem]


def filename(inspection_id: int) -> str:
    return f"现场检查记录-{inspection_id}.pdf"


def _words(catalog: Catalog, code: str, versions: dict[str, str]) -> tuple[str, str]:
    """(category, item text) as the checklist version the inspection used worded them."""
    try:
        current = catalog.item(code)
        item = catalog.item(code, versions.get(current.category)) if current.category in versions else current
        category = catalog.categories.get(item.category)
        return (category.zh if category else ""), item.zh
    except KeyError:
        return "", code


async def load_record(conn: AsyncConnection, inspection_id: int, catalog: Catalog) -> InspectionRecord:
    inspection = (await conn.execute(select(inspections).where(inspections.c.id == inspection_id))).first()
    if inspection is None:
        raise RecordMissing(f"no inspection with id {inspection_id}")
    facility = (await conn.execute(select(facilities).where(facilities.c.id == inspection.facility_id))).one()
    found = {
        f.item_code: f
        for f in await conn.execute(
            select(findings.c.item_code, findings.c.item_zh, findings.c.severity, findings.c.severity_rule)
            .where(findings.c.inspection_id == inspection_id)
            .order_by(findings.c.id)
        )
    }
    checked = await conn.execute(
        select(inspection_items).where(inspection_items.c.inspection_id == inspection_id)
    )
    # In the checklists' own order, as the inspector walked them.
    position = {item.code: n for n, item in enumerate(catalog.items())}
    items = []
    for row in sorted(checked, key=lambda r: (position.get(r.item_code, len(position)), r.item_code)):
        category, text = _words(catalog, row.item_code, inspection.checklist_versions or {})
        finding = found.get(row.item_code)
        items.append(
            CheckedItem(
                code=row.item_code,
                category=category,
                text=finding.item_zh if finding is not None else text,
                result=RESULT.get(row.result, row.result),
                note=row.note or "",
                grade=GRADE.get(finding.severity, "") if finding is not None else "",
            )
        )
    # A finding no item stands for (a composite judgement over several items) is listed after the items.
    listed = {
        row.item_code
        for row in await conn.execute(
            select(inspection_items.c.item_code).where(inspection_items.c.inspection_id == inspection_id)
        )
    }
    for code, finding in found.items():
        if code not in listed:
            items.append(
                CheckedItem(code, "", finding.item_zh, RESULT["fail"], "", GRADE.get(finding.severity, ""))
            )
    return InspectionRecord(
        inspection=inspection,
        facility=facility,
        inspectors=await inspectors_of(conn, inspection),
        items=items,
    )


def _moment(moment: datetime) -> str:
    local = moment.astimezone(LOCAL_TZ)
    return f"{cn_date(local)}{local.hour}时{local.minute:02d}分"


def render_html(record: InspectionRecord, settings: Settings | None = None) -> str:
    settings = settings or load_settings()
    inspection = record.inspection
    failed = [i for i in record.items if i.grade]
    return (
        document_env()
        .get_template("record_pdf.html")
        .render(
            issuer=settings.bureau_name,
            facility=record.facility,
            onsite=_moment(inspection.onsite_at or inspection.submitted_at),
            mode=MODE_NAMES.get(inspection.mode, (inspection.mode,))[0],
            inspectors=record.inspectors,
            person_present=inspection.person_present,
            items=record.items,
            failed=failed,
            major=sum(1 for i in failed if i.grade == GRADE["major"]),
            fixed=[i for i in record.items if i.result == RESULT["fixed"]],
            self_inspection=inspection.mode == "self",
        )
    )


async def record_pdf(engine: AsyncEngine, inspection_id: int, catalog: Catalog) -> bytes:
    async with read_only(engine) as conn:
        record = await load_record(conn, inspection_id, catalog)
    return await print_html(render_html(record))
