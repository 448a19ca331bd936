"""The rectification order (整改通知书) as a printable PDF, in the bureau's official layout.

The data is read in one short read-only query set (`load_order`); the rendering, which takes WeasyPrint a
few hundred milliseconds of CPU, happens outside any transaction, in a printer process of its own
(`order_pdf`, called by the mailer when it sends and by the order page's download). Only the system's fonts are used (WenQuanYi Micro Hei, or any CJK sans-serif).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jinja2 import Environment, StrictUndefined
from sqlalchemy import select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tracker.domain.calendar import LOCAL_TZ
from tracker.store.db import read_only
from tracker.store.tables import facilities, findings, inspections, orders, users

ATTACHMENT_PREFIX = "order-pdf:"
PRINTERS = max(1, min(2, os.cpu_count() or 1))
# The issuing bureau printed on the order; TRACKER_BUREAU_NAME names it, e.g. 启东市民政局.
DEFAULT_ISSUER = "县民政局"
ISSUER_EN = "County Civil Affairs Bureau"
SEVERITY = {"general": ("一般隐患", "General"), "major": ("重大事故隐患", "MAJOR")}
MODE = {
    "unannounced": ("四不两直", "unannounced"),
    "covert": ("暗查暗访", "covert"),
    "routine": ("日常检查", "routine"),
    "special": ("专项检查", "special"),
    "self": ("自查自纠", "self-inspection"),
}


class OrderMissing(LookupError):
    """No order with that id, or an order with no findings."""


@dataclass(frozen=True)
class OrderDocument:
    order: Row
    facility: Row
    inspection: Row
    inspector_name: str
    findings: list[Row]


def attachment_for(order_id: int) -> str:
    """What the `mail.attachment` column holds for an order's PDF."""
    return f"{ATTACHMENT_PREFIX}{order_id}"


def order_of_attachment(attachment: str) -> int | None:
    if not attachment.startswith(ATTACHMENT_PREFIX):
        return None
    rest = attachment[len(ATTACHMENT_PREFIX) :]
    return int(rest) if rest.isdigit() else None


def filename(order_id: int) -> str:
    return f"整改通知书-{order_id}.pdf"


async def load_order(conn: AsyncConnection, order_id: int) -> OrderDocument:
    order = (await conn.execute(select(orders).where(orders.c.id == order_id))).first()
    if order is None:
        raise OrderMissing(f"no order with id {order_id}")
    facility = (await conn.execute(select(facilities).where(facilities.c.id == order.facility_id))).one()
    inspection = (
        await conn.execute(select(inspections).where(inspections.c.id == order.inspection_id))
    ).one()
    inspector = (
        await conn.execute(
            select(users.c.name, users.c.username).where(users.c.id == inspection.inspector_id)
        )
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
        inspector_name=inspector.name or inspector.username,
        findings=rows,
    )


def _local(moment: datetime) -> datetime:
    return moment.astimezone(LOCAL_TZ)


def _cn_date(moment: datetime) -> str:
    day = _local(moment)
    return f"{day.year}年{day.month}月{day.day}日"


_HTML = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>整改通知书 {{ order.id }}</title>
<style>
@page { size: A4; margin: 20mm 18mm 18mm 18mm;
  @bottom-center { content: "第 " counter(page) " 页"; font-size: 8pt; color: #444; } }
body { font-family: "WenQuanYi Micro Hei", "Noto Sans CJK SC", "Source Han Sans SC", sans-serif;
  font-size: 10.5pt; line-height: 1.6; color: #000; }
h1 { font-size: 20pt; text-align: center; letter-spacing: 4pt; margin: 0; }
.en { color: #444; font-size: 8pt; }
.title-en { text-align: center; margin: 0 0 4pt; }
.number { text-align: right; margin: 6pt 0 10pt; }
.to { font-weight: bold; margin: 6pt 0; }
p.body { text-indent: 2em; margin: 4pt 0; }
table { border-collapse: collapse; width: 100%; margin: 8pt 0; font-size: 9.5pt; table-layout: fixed; }
th, td { border: .6pt solid #000; padding: 3pt 4pt; vertical-align: top; text-align: left; }
th { background: #eee; font-weight: bold; white-space: nowrap; }
td.n, td.code, td.due, td.sev { white-space: nowrap; }
.major { color: #b00020; font-weight: bold; }
tr { page-break-inside: avoid; }
.requirements { margin: 6pt 0; }
.requirements li { margin: 2pt 0; }
.signatures { width: 100%; margin-top: 18pt; border: 0; page-break-inside: avoid; }
.signatures td { border: 0; width: 50%; padding: 4pt 8pt 4pt 0; vertical-align: top; }
.line { display: inline-block; border-bottom: .6pt solid #000; width: 38mm; height: 12pt; }
.seal { margin: 4pt 0 0 auto; width: 40mm; height: 40mm; box-sizing: border-box; border: .8pt dashed #888;
  border-radius: 50%; text-align: center; color: #888; font-size: 8pt; padding-top: 4mm; }
.issuer { text-align: center; margin: -22mm 0 0 auto; width: 40mm; }
</style></head>
<body>
<h1>安全隐患整改通知书</h1>
<p class="title-en en">Rectification order for safety hazards</p>
<p class="number">编号 No.：民安整〔{{ issued.year }}〕第 {{ order.id }} 号</p>
<p class="to">{{ facility.name }}（负责人：{{ facility.head_name }}）：</p>
<p class="body">{{ issued_cn }}，{{ issuer }}检查人员 {{ inspector }} 对你单位（机构编码 {{ facility.code }}，{{ facility.town }}）
进行了安全检查（{{ mode[0] }}），发现下列安全隐患。现责令你单位按下表所列期限整改完毕，并将整改情况及照片通过系统报送。</p>
<p class="en">An inspection ({{ mode[1] }}) of {{ facility.name }} on {{ issued.strftime('%Y-%m-%d') }} by {{ inspector }} found the
hazards below. Fix each by its deadline and report what was done, with photos.</p>
<table>
<colgroup><col style="width: 7%"><col style="width: 17%"><col style="width: 35%"><col style="width: 11%">
<col style="width: 12%"><col style="width: 18%"></colgroup>
<thead><tr><th>序号<br><span class="en">No.</span></th><th>编码<br><span class="en">Code</span></th>
<th>隐患内容<br><span class="en">Hazard</span></th><th>等级<br><span class="en">Severity</span></th>
<th>整改期限<br><span class="en">Deadline</span></th><th>依据<br><span class="en">Legal basis</span></th></tr></thead>
<tbody>
{% for f in findings %}
<tr><td class="n">{{ loop.index }}</td><td class="code">{{ f.item_code }}</td>
<td>{{ f.item_zh }}<br><span class="en">{{ f.item_en }}</span>{% if f.description %}<br>说明：{{ f.description }}{% endif %}
{% if f.stop_use %}<br><span class="major">须停止使用直至整改完毕</span>{% endif %}</td>
<td class="sev {{ 'major' if f.severity == 'major' }}">{{ severity[f.severity][0] }}</td>
<td class="due">{{ f.due_day or '—' }}{% if f.due_estimated %}<br><span class="en">（估算 est.）</span>{% endif %}</td>
<td>{{ f.basis or '—' }}</td></tr>
{% endfor %}
</tbody></table>
<ol class="requirements">
<li>整改期限按工作日计算，至期限当日24时止。<span class="en">Deadlines count working days and end at midnight.</span></li>
<li>逾期未整改的，将逐级督办。<span class="en">Hazards open past the deadline are escalated.</span></li>
{% if has_major %}<li class="major">重大事故隐患已列入挂牌督办，整改完毕须经复查销号。<span class="en">Major hazards are listed for supervision until verified.</span></li>{% endif %}
</ol>
<table class="signatures"><tr>
<td>检查人员（签字）<span class="en">Inspector</span>：<span class="line"></span><br>
{{ inspector }}<br><br>
被检查单位负责人（签字）<span class="en">Facility head</span>：<span class="line"></span><br>
日期 <span class="en">Date</span>：<span class="line"></span></td>
<td><div class="seal">（盖章 seal）</div>
<p class="issuer">{{ issuer }}<br>{{ issued_cn }}</p></td>
</tr></table>
</body></html>
"""

_env = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render_html(doc: OrderDocument) -> str:
    issued = _local(doc.order.issued_at)
    context: dict[str, Any] = {
        "order": doc.order,
        "facility": doc.facility,
        "findings": doc.findings,
        "inspector": doc.inspector_name,
        "issued": issued,
        "issued_cn": _cn_date(doc.order.issued_at),
        "issuer": os.environ.get("TRACKER_BUREAU_NAME") or DEFAULT_ISSUER,
        "severity": SEVERITY,
        "mode": MODE.get(doc.inspection.mode, (doc.inspection.mode, doc.inspection.mode)),
        "has_major": any(f.severity == "major" for f in doc.findings),
    }
    return _env.from_string(_HTML).render(context)


def html_to_pdf(html: str) -> bytes:
    """WeasyPrint's part: a few hundred milliseconds of CPU for a one- or two-page order."""
    from weasyprint import HTML  # heavy; imported when the first order is printed

    return HTML(string=html).write_pdf()


def render_pdf(doc: OrderDocument) -> bytes:
    return html_to_pdf(render_html(doc))


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
    async with read_only(engine) as conn:
        doc = await load_order(conn, order_id)
    html = render_html(doc)
    try:
        return await asyncio.get_running_loop().run_in_executor(_printer(), html_to_pdf, html)
    except BrokenProcessPool:
        # A printer process died (killed, out of memory): start afresh next time, render this one here.
        global _pool
        with _pool_lock:
            _pool = None
        return await asyncio.to_thread(html_to_pdf, html)
