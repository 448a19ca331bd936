"""The hazard ledger (隐患台账) a bureau keeps, as an Excel sheet: one row per hazard found, and per defect fixed
during the visit (当场整改), by the day of the inspection, with its order, extensions, verification and closure.

A defect fixed during the visit is a general hazard by definition (small, fixed at once on discovery); it is
listed with 是否当场整改 = 是, what was done as its measure, and no deadline. A hazard's required measure is derived
from its grade as the order derives it (tracker.documents.order.required_measure); its basis is printed as the order
prints it."""

from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tracker.checklists import Catalog
from tracker.documents.order import required_measure
from tracker.documents.printed import GRADE, cn_date, printed_basis
from tracker.documents.spreadsheets import append_row
from tracker.domain.actions import words
from tracker.domain.calendar import LOCAL_TZ
from tracker.domain.model import ExtensionStatus
from tracker.stats.periods import Period
from tracker.store.db import read
from tracker.store.tables import (
    extension_requests,
    facilities,
    finding_actions,
    findings,
    inspection_inspectors,
    inspection_items,
    inspections,
    users,
    verifications,
)

COLUMNS = (
    "序号",
    "检查日期",
    "检查人员",
    "单位",
    "隐患部位及描述",
    "类别",
    "等级",
    "依据",
    "整改措施",
    "责任人",
    "整改期限",
    "是否当场整改",
    "是否挂牌督办",
    "延期情况",
    "督办措施",
    "整改完成日期",
    "复查人",
    "复查日期",
    "复查结论",
    "销号日期",
)
DATE_COLUMNS = ("检查日期", "整改期限", "整改完成日期", "复查日期", "销号日期")
WIDTHS = {
    "隐患部位及描述": 40,
    "依据": 30,
    "整改措施": 26,
    "延期情况": 30,
    "督办措施": 30,
    "复查结论": 20,
    "检查人员": 16,
    "单位": 22,
}
EXTENSION = {"pending": "待审核", "refused": "未同意"}


@dataclass(frozen=True)
class Ledger:
    title: str
    rows: list[list[Any]]


def _local_day(moment: datetime | None) -> date | None:
    return moment.astimezone(LOCAL_TZ).date() if moment else None


async def gather(
    conn: AsyncConnection, period: Period, town: str | None, catalog: Catalog | None
) -> list[list]:
    """The ledger's rows for the inspections made in `period` (the day on site), in one town or all."""
    inspected = func.coalesce(inspections.c.onsite_at, inspections.c.submitted_at)
    scope = [inspected >= period.start_utc, inspected < period.end_utc]
    if town is not None:
        scope.append(facilities.c.town == town)
    in_scope = (
        select(inspections.c.id).join(facilities, facilities.c.id == inspections.c.facility_id).where(*scope)
    )
    found_in_scope = select(findings.c.id).where(findings.c.inspection_id.in_(in_scope))

    found = (
        await conn.execute(
            select(findings, facilities.c.name.label("facility_name"), inspected.label("inspected_at"))
            .join(inspections, inspections.c.id == findings.c.inspection_id)
            .join(facilities, facilities.c.id == findings.c.facility_id)
            .where(*scope)
        )
    ).all()
    fixed = (
        await conn.execute(
            select(
                inspection_items,
                facilities.c.name.label("facility_name"),
                facilities.c.type.label("facility_type"),
                inspected.label("inspected_at"),
            )
            .join(inspections, inspections.c.id == inspection_items.c.inspection_id)
            .join(facilities, facilities.c.id == inspections.c.facility_id)
            .where(inspection_items.c.result == "fixed", *scope)
        )
    ).all()
    who = await _inspectors(conn, in_scope)
    asked = await _extensions(conn, found_in_scope)
    acted = await _actions(conn, found_in_scope)
    checked = await _last_verifications(conn, found_in_scope)

    # Per inspection, its hazards in the order found, then what was fixed during the visit.
    entries: list[tuple[datetime, int, int, list[Any]]] = []
    for f in found:
        verification = checked.get(f.id)
        entries.append(
            (
                f.inspected_at,
                f.inspection_id,
                f.id,
                [
                    _local_day(f.inspected_at),
                    who.get(f.inspection_id, ""),
                    f.facility_name,
                    f.item_zh + (f"（{f.description.strip()}）" if f.description.strip() else ""),
                    _category(catalog, f.category),
                    GRADE.get(f.severity, f.severity),
                    printed_basis(f.basis),
                    required_measure(f),
                    f.owner_name or "",
                    f.due_day,
                    "否",
                    "是" if f.listed_for_supervision else "否",
                    "；".join(asked.get(f.id, [])),
                    "；".join(acted.get(f.id, [])),
                    _local_day(f.submitted_at),
                    verification.name if verification else "",
                    _local_day(verification.verified_at) if verification else None,
                    _conclusion(verification),
                    _local_day(f.closed_at),
                ],
            )
        )
    for item in fixed:
        words = (
            catalog.item(item.item_code).for_facility_type(item.facility_type)
            if catalog is not None and catalog.has(item.item_code)
            else None
        )
        day = _local_day(item.inspected_at)
        entries.append(
            (
                item.inspected_at,
                item.inspection_id,
                1 << 62,
                [
                    day,
                    who.get(item.inspection_id, ""),
                    item.facility_name,
                    words.zh if words else item.item_code,
                    _category(catalog, words.category) if words else "",
                    GRADE["general"],
                    printed_basis(words.basis) if words else "",
                    "当场整改" + (f"：{item.note.strip()}" if item.note.strip() else ""),
                    "",
                    None,
                    "是",
                    "否",
                    "",
                    "",
                    day,
                    "",
                    None,
                    "",
                    None,
                ],
            )
        )
    entries.sort(key=lambda e: e[:3])
    return [[n, *values] for n, (*_, values) in enumerate(entries, start=1)]


async def _inspectors(conn: AsyncConnection, in_scope: Any) -> dict[int, str]:
    """Everyone who inspected, per inspection: the submitter first, then the others in their order."""
    names: dict[int, list[tuple[int, str]]] = defaultdict(list)
    submitters = await conn.execute(
        select(inspections.c.id, users.c.name, users.c.username)
        .join(users, users.c.id == inspections.c.inspector_id)
        .where(inspections.c.id.in_(in_scope))
    )
    for row in submitters:
        names[row.id].append((-1, row.name or row.username))
    others = await conn.execute(
        select(
            inspection_inspectors.c.inspection_id,
            inspection_inspectors.c.position,
            users.c.name,
            users.c.username,
        )
        .join(users, users.c.id == inspection_inspectors.c.user_id)
        .join(inspections, inspections.c.id == inspection_inspectors.c.inspection_id)
        .where(inspection_inspectors.c.inspection_id.in_(in_scope), users.c.id != inspections.c.inspector_id)
    )
    for row in others:
        names[row.inspection_id].append((row.position, row.name or row.username))
    return {i: "、".join(name for _, name in sorted(people)) for i, people in names.items()}


async def _extensions(conn: AsyncConnection, found_in_scope: Any) -> dict[int, list[str]]:
    asked: dict[int, list[str]] = defaultdict(list)
    rows = await conn.execute(
        select(extension_requests)
        .where(extension_requests.c.finding_id.in_(found_in_scope))
        .order_by(extension_requests.c.id)
    )
    for r in rows:
        if r.status == ExtensionStatus.ACCEPTED and r.new_due_day:
            outcome = f"已同意，延至{cn_date(r.new_due_day)}"
        else:
            outcome = EXTENSION.get(r.status, r.status)
        asked[r.finding_id].append(f"{cn_date(r.requested_at)}申请延期{r.days}个工作日，{outcome}")
    return asked


async def _actions(conn: AsyncConnection, found_in_scope: Any) -> dict[int, list[str]]:
    """The escalation actions on each hazard, in the order taken: "2026年11月5日约谈：…", "…移送至消防救援机构：…"."""
    acted: dict[int, list[str]] = defaultdict(list)
    rows = await conn.execute(
        select(finding_actions)
        .where(finding_actions.c.finding_id.in_(found_in_scope))
        .order_by(finding_actions.c.on_day, finding_actions.c.id)
    )
    for r in rows:
        note = r.note.strip()
        acted[r.finding_id].append(
            f"{cn_date(r.on_day)}{words(r.kind, r.to_whom)}" + (f"：{note}" if note else "")
        )
    return acted


async def _last_verifications(conn: AsyncConnection, found_in_scope: Any) -> dict[int, Any]:
    rows = await conn.execute(
        select(verifications, func.coalesce(users.c.name, users.c.username).label("name"))
        .join(users, users.c.id == verifications.c.verified_by)
        .where(verifications.c.finding_id.in_(found_in_scope))
        .order_by(verifications.c.id)
    )
    return {r.finding_id: r for r in rows}  # the later overwrites the earlier


def _conclusion(verification: Any) -> str:
    if verification is None:
        return ""
    verdict = "合格" if verification.accepted else "不合格"
    note = (verification.note or "").strip()
    return f"{verdict}：{note}" if note else verdict


def _category(catalog: Catalog | None, code: str) -> str:
    if catalog is not None and code in catalog.categories:
        return catalog.categories[code].zh
    if catalog is not None and code.startswith("campaign:") and code[9:] in catalog.campaigns:
        return catalog.campaigns[code[9:]].zh
    return code


async def ledger(
    engine: AsyncEngine, period: Period, town: str | None, catalog: Catalog | None, county_word: str
) -> Ledger:
    rows = await read(engine, lambda conn: gather(conn, period, town, catalog))
    return Ledger(f"隐患台账（{town or county_word}，{period.words()}）", rows)


def workbook(book_of: Ledger) -> bytes:
    """One sheet: the title in the first row, the columns' names in the second, a hazard per row below."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    book = Workbook()
    sheet = book.active
    sheet.title = "隐患台账"
    append_row(sheet, [book_of.title])
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(COLUMNS))
    sheet["A1"].font = Font(bold=True, size=14)
    sheet["A1"].alignment = Alignment(horizontal="center")
    sheet.append(list(COLUMNS))
    for cell in sheet[2]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDE6F2")
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    for row in book_of.rows:
        append_row(sheet, row)
        for cell in sheet[sheet.max_row]:
            cell.alignment = Alignment(vertical="top", wrap_text=True)
    for i, name in enumerate(COLUMNS, start=1):
        letter = sheet.cell(row=2, column=i).column_letter
        sheet.column_dimensions[letter].width = WIDTHS.get(name, max(8, len(name) * 2 + 2))
        if name in DATE_COLUMNS:
            sheet.column_dimensions[letter].width = 14
            for (cell,) in sheet.iter_rows(min_row=3, min_col=i, max_col=i):
                cell.number_format = 'yyyy"年"m"月"d"日"'
    sheet.freeze_panes = "A3"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
