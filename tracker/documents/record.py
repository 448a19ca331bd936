"""The on-site inspection record (现场检查记录) as a PDF: who checked, when, with whom present; every item checked
and its result; the hazards found and the defects fixed during the visit; lines for the inspectors' and the
person present's signatures. Printed from what the inspection stored, in the order PDF's printer processes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tracker.checklists import Catalog
from tracker.config import Settings, load_settings
from tracker.documents.printed import GRADE, cn_date
from tracker.documents.printer import print_html
from tracker.domain.calendar import LOCAL_TZ
from tracker.domain.model import Mode
from tracker.service.record import InspectionRecord, inspection_record
from tracker.store.db import read_only
from tracker.store.tables import findings
from tracker.text.labels import MODE_NAMES
from tracker.text.templating import strict

RESULT = {"pass": "符合", "fail": "不符合", "na": "不适用", "fixed": "当场整改"}


@dataclass(frozen=True)
class RecordRow:
    code: str
    category: str
    text: str
    result: str
    note: str
    grade: str  # the finding's grade where the item failed


@dataclass(frozen=True)
class PrintedRecord:
    """What the inspection recorded (tracker.service.record), with each item in the checklist's words."""

    recorded: InspectionRecord
    items: list[RecordRow]


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


async def load_record(conn: AsyncConnection, inspection_id: int, catalog: Catalog) -> PrintedRecord:
    recorded = await inspection_record(conn, inspection_id)
    found = {
        f.item_code: f
        for f in await conn.execute(
            select(findings.c.item_code, findings.c.item_zh, findings.c.severity)
            .where(findings.c.inspection_id == inspection_id)
            .order_by(findings.c.id)
        )
    }
    versions = recorded.inspection.checklist_versions or {}
    # In the checklists' own order, as the inspector walked them.
    position = {item.code: n for n, item in enumerate(catalog.items())}
    items = []
    for checked in sorted(
        recorded.items, key=lambda i: (position.get(i.item_code, len(position)), i.item_code)
    ):
        category, text = _words(catalog, checked.item_code, versions)
        finding = found.get(checked.item_code)
        items.append(
            RecordRow(
                code=checked.item_code,
                category=category,
                text=finding.item_zh if finding is not None else text,
                result=RESULT.get(checked.result, checked.result),
                note=checked.note or "",
                grade=GRADE.get(finding.severity, "") if finding is not None else "",
            )
        )
    # A finding no item stands for (a composite judgement over several items) is listed after the items.
    listed = {i.item_code for i in recorded.items}
    for code, finding in found.items():
        if code not in listed:
            items.append(
                RecordRow(code, "", finding.item_zh, RESULT["fail"], "", GRADE.get(finding.severity, ""))
            )
    return PrintedRecord(recorded, items)


def _moment(moment: datetime) -> str:
    local = moment.astimezone(LOCAL_TZ)
    return f"{cn_date(local)}{local.hour}时{local.minute:02d}分"


def render_html(record: PrintedRecord, settings: Settings | None = None) -> str:
    settings = settings or load_settings()
    recorded = record.recorded
    inspection = recorded.inspection
    failed = [i for i in record.items if i.grade]
    return (
        strict()
        .get_template("record_pdf.html")
        .render(
            issuer=settings.bureau_name,
            facility=recorded.facility,
            onsite=_moment(recorded.onsite_at),
            mode=MODE_NAMES.get(inspection.mode, (inspection.mode,))[0],
            inspectors=recorded.inspectors,
            person_present=recorded.person_present,
            items=record.items,
            failed=failed,
            major=sum(1 for i in failed if i.grade == GRADE["major"]),
            fixed=[i for i in record.items if i.result == RESULT["fixed"]],
            self_inspection=inspection.mode == Mode.SELF,
        )
    )


async def record_pdf(
    engine: AsyncEngine, inspection_id: int, catalog: Catalog, settings: Settings | None = None
) -> bytes:
    async with read_only(engine) as conn:
        record = await load_record(conn, inspection_id, catalog)
    return await print_html(render_html(record, settings))
