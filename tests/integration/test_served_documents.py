"""The documents the bureau serves, read as the facility reads them: the order PDF's text (pdftotext), its
per-year number, and what it must and must not say; on SQLite and PostgreSQL, through the real services."""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.documents import pdf_words, words
from tests.support.stack import (
    PASSWORD,
    Stack,
    add_facility,
    add_people,
    default_catalog,
    login_token,
    make_stack,
    prepared_engine,
    settings_for,
)
from tracker.checklists import Catalog
from tracker.config import Settings
from tracker.documents.order import load_order, render_pdf
from tracker.documents.printed import cn_date
from tracker.documents.record import load_record
from tracker.documents.record import render_html as record_html
from tracker.domain.model import Actor, Role
from tracker.domain.policy import PolicySettings
from tracker.service.admin import add_user
from tracker.service.loop import issue_order, next_order_number
from tracker.service.reporting import InspectionInput, ItemResult, report_inspection
from tracker.store.db import make_engine
from tracker.store.migrate import upgrade
from tracker.store.tables import (
    findings,
    inspection_inspectors,
    inspection_items,
    inspections,
    orders,
    referrals,
    users,
)
from tracker.web.app import create_app
from tracker.web.limits import MAX_NOTE_CHARS

SETTINGS = Settings(bureau_name="启东市民政局", order_prefix="启民安整", county_word="全市")
# 28 December 2026, 09:00 in China: a 30-working-day deadline falls in 2027, whose holidays are not loaded.
LATE_DECEMBER = datetime(2026, 12, 28, 1, 0, tzinfo=UTC)
DOUBTS = ("待核", "未核实", "可能属", "估算", "est.", "（估算", "estimated")


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = await prepared_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return default_catalog()


async def _inspector(engine: AsyncEngine, username: str = "wang") -> Actor:
    user_id = await add_user(
        engine, role="inspector", username=username, password="pass-1234-5678", name="王明"
    )
    return Actor(id=user_id, username=username, role=Role.INSPECTOR, facility_id=None, town=None)


async def _ordered(
    engine: AsyncEngine,
    catalog: Catalog,
    actor: Actor,
    facility_id: int,
    failed: dict[str, str],
    now: datetime,
    ref: str,
) -> int:
    """An inspection with these items failed (code -> note), reported and ordered at `now`; the order's id."""
    items = [ItemResult(code, "fail", note=note) for code, note in failed.items()]
    reported = await report_inspection(
        engine, catalog, actor, InspectionInput(facility_id, "unannounced", ref, items), now
    )
    async with engine.begin() as conn:
        issued = await issue_order(conn, reported.inspection_id, PolicySettings(), now)
    assert issued is not None
    return issued.order_id


async def _served_text(engine: AsyncEngine, order_id: int, tmp_path: Path) -> str:
    async with engine.connect() as conn:
        doc = await load_order(conn, order_id)
    return pdf_words(await asyncio.to_thread(render_pdf, doc, SETTINGS))


def _served_as_an_official_document(text: str, number: str, name: str) -> None:
    assert "事故隐患整改通知书" in text and number in text and f"{name}：" in text
    assert "根据《中华人民共和国安全生产法》第六十五条的规定" in text
    assert "送达回执" in text and "受送达人（签名或者盖章）" in text and "送达方式" in text
    assert text.count(number) >= 2  # on the order and on its proof of service
    assert "启东市民政局" in text and "抄送：" in text
    assert "逾期未整改" in text and "约谈、通报、移送" in text and "整改前、后的对比照片" in text
    for doubt in DOUBTS:
        assert doubt not in text, doubt
    # Chinese only: no English gloss, no ISO date.
    assert not re.search(r"\d{4}-\d{2}-\d{2}", text)
    assert not re.search(r"[A-Za-z]{3,}", re.sub(r"GB\d", "", text))


async def test_an_elderly_homes_order_cites_the_elderly_care_standard_and_no_doubt(
    engine: AsyncEngine, catalog: Catalog, tmp_path: Path
) -> None:
    home = await add_facility(engine, "QD001", type_="nursing_home", town="汇龙镇")
    actor = await _inspector(engine)
    order_id = await _ordered(
        engine,
        catalog,
        actor,
        home,
        {"BLDG-DANGER-01": "", "FIRE-EXIT-01": "二楼东侧走廊堆放杂物"},
        LATE_DECEMBER,
        "home-1",
    )
    # Checked with a colleague on the 27th, the phone offline; submitted the next morning.
    colleague = await add_user(
        engine, role="inspector", username="li", password="pass-1234-5678", name="李红"
    )
    async with engine.begin() as conn:
        inspection_id = await conn.scalar(select(orders.c.inspection_id).where(orders.c.id == order_id))
        await conn.execute(update(users).where(users.c.id == actor.id).values(warrant_no="32060001"))
        await conn.execute(update(users).where(users.c.id == colleague).values(warrant_no="32060002"))
        await conn.execute(
            insert(inspection_inspectors),
            [
                {"inspection_id": inspection_id, "user_id": colleague, "position": 1},
            ],
        )
        await conn.execute(
            update(inspections)
            .where(inspections.c.id == inspection_id)
            .values(onsite_at=datetime(2026, 12, 27, 7, 0, tzinfo=UTC))
        )
    text = await _served_text(engine, order_id, tmp_path)

    _served_as_an_official_document(text, "启民安整〔2026〕1号", "测试敬老院QD001")
    assert (
        "2026年12月27日，本局检查人员王明（执法证号：32060001）、李红（执法证号：32060002）对你单位进行了安全检查"
        in text
    )
    assert "检查人员（签名）：执法证号：32060001检查人员（签名）：执法证号：32060002" in text
    assert "按照《养老机构重大事故隐患判定标准》" in text
    assert (
        "重大事故隐患" in text
        and "一般事故隐患" in text
        and "一般隐患" not in text.replace("一般事故隐患", "")
    )
    assert "二楼东侧走廊堆放杂物" in text
    assert "依据：《养老机构重大事故隐患判定标准》（民政部办公厅，2023年11月27日）第四条第（一）项" in text
    assert "整改完毕前停止使用相关场所、设施、设备" in text  # a dangerous building is out of use until fixed
    assert "重大事故隐患已列入挂牌督办" in text
    assert "抄送：汇龙镇人民政府。" in text
    async with engine.connect() as conn:
        rows = (await conn.execute(select(findings).where(findings.c.order_id == order_id))).all()
    major = next(r for r in rows if r.item_code == "BLDG-DANGER-01")
    # Estimated in 2027: the finding keeps the flag for staff, the document gives the date alone.
    assert major.due_estimated and major.due_day.year == 2027
    assert f"{major.due_day.year}年{major.due_day.month}月{major.due_day.day}日" in text


async def test_a_long_orders_table_repeats_its_header_on_every_page_and_keeps_the_seal_with_its_last_row(
    engine: AsyncEngine, catalog: Catalog, tmp_path: Path
) -> None:
    home = await add_facility(engine, "QD009", type_="nursing_home", town="汇龙镇")
    actor = await _inspector(engine)
    codes = [i.code for i in catalog.items(facility_type="nursing_home")][:24]
    note = "东楼一至三层走道、楼梯间及北侧院内多处发现此问题，现场已拍照留存"
    order_id = await _ordered(
        engine, catalog, actor, home, dict.fromkeys(codes, note), LATE_DECEMBER, "long-1"
    )
    async with engine.connect() as conn:
        doc = await load_order(conn, order_id)
    path = tmp_path / "long.pdf"
    path.write_bytes(await asyncio.to_thread(render_pdf, doc, SETTINGS))
    # Read as the page shows it (-layout: each table row's cells side by side on one line), page by page.
    done = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, timeout=60, check=True
    )
    pages = [re.sub(r"\s+", "", page) for page in done.stdout.decode().split("\f") if page.strip()]
    *order_pages, receipt = pages
    assert len(order_pages) >= 2 and "送达回执" in receipt
    header = "序号隐患部位及描述等级整改措施及临时防范措施整改期限"
    assert all(header in page for page in order_pages)
    # The issuer's seal stands on the page of the last hazard, never alone.
    assert "（盖章）" in order_pages[-1] and re.search(
        rf"{len(doc.findings)}\S*(一般|重大)事故隐患", order_pages[-1]
    )


async def test_a_funeral_homes_order_cites_the_general_law_and_no_sectors_standard(
    engine: AsyncEngine, catalog: Catalog, tmp_path: Path
) -> None:
    funeral = await add_facility(engine, "BY001", type_="funeral_home", town="北城区街道")
    actor = await _inspector(engine)
    order_id = await _ordered(
        engine,
        catalog,
        actor,
        funeral,
        {"BLDG-DANGER-01": "", "FIRE-EXIT-01": "火化间通道堵塞"},
        LATE_DECEMBER,
        "funeral-1",
    )
    text = await _served_text(engine, order_id, tmp_path)

    _served_as_an_official_document(text, "启民安整〔2026〕1号", "测试敬老院BY001")
    assert "依据：《中华人民共和国安全生产法》" in text and "依据：《中华人民共和国消防法》第二十八条" in text
    assert "养老机构" not in text and "判定标准" not in text and "重大事故隐患" not in text
    assert "的规定，现责令你单位" in text  # the law alone: no sector standard named
    assert "抄送：北城区街道办事处。" in text


async def test_a_doubt_stored_in_a_findings_basis_never_reaches_the_facility(
    engine: AsyncEngine, catalog: Catalog, tmp_path: Path
) -> None:
    funeral = await add_facility(engine, "BY002", type_="funeral_home")
    actor = await _inspector(engine)
    order_id = await _ordered(engine, catalog, actor, funeral, {"FIRE-EXIT-01": ""}, LATE_DECEMBER, "doubt-1")
    # As findings held it before the printed basis was split from the internal note.
    async with engine.begin() as conn:
        await conn.execute(
            update(findings)
            .where(findings.c.order_id == order_id)
            .values(
                basis="《中华人民共和国消防法》第二十八条；可能属《养老机构重大事故隐患判定标准》第三方面情形（原文未核实）"
            )
        )
    text = await _served_text(engine, order_id, tmp_path)
    _served_as_an_official_document(text, "启民安整〔2026〕1号", "测试敬老院BY002")
    assert "依据：《中华人民共和国消防法》第二十八条" in text and "养老机构" not in text


async def test_a_childrens_welfare_institutions_order_names_its_own_standard(
    engine: AsyncEngine, catalog: Catalog, tmp_path: Path
) -> None:
    centre = await add_facility(engine, "ET001", type_="child_welfare_institution", town="南阳镇")
    actor = await _inspector(engine)
    order_id = await _ordered(
        engine,
        catalog,
        actor,
        centre,
        {"BLDG-DANGER-01": "宿舍楼经鉴定为C级危房"},
        LATE_DECEMBER,
        "children-1",
    )
    text = await _served_text(engine, order_id, tmp_path)

    _served_as_an_official_document(text, "启民安整〔2026〕1号", "测试敬老院ET001")
    assert "按照《儿童福利机构重大事故隐患判定标准》，现责令你单位" in text
    assert "依据：《儿童福利机构重大事故隐患判定标准》（民政部办公厅，民办发〔2024〕14号）" in text
    assert "重大事故隐患已列入挂牌督办" in text and "养老机构" not in text


async def test_the_first_order_of_a_new_year_is_number_one(
    engine: AsyncEngine, catalog: Catalog, tmp_path: Path
) -> None:
    home = await add_facility(engine, "QD002", type_="nursing_home")
    actor = await _inspector(engine)
    code = {"FIRE-EXIT-01": ""}
    # 31 December 23:30 and 1 January 00:30 in China: the year is the bureau's, not UTC's.
    last_evening = datetime(2026, 12, 31, 15, 30, tzinfo=UTC)
    first_night = datetime(2026, 12, 31, 16, 30, tzinfo=UTC)
    first = await _ordered(engine, catalog, actor, home, code, last_evening, "y-1")
    second = await _ordered(engine, catalog, actor, home, code, last_evening, "y-2")
    new_year = await _ordered(engine, catalog, actor, home, code, first_night, "y-3")
    after = await _ordered(engine, catalog, actor, home, code, first_night, "y-4")

    async with engine.connect() as conn:
        rows = {r.id: (r.year, r.number) for r in await conn.execute(select(orders))}
    assert [rows[i] for i in (first, second, new_year, after)] == [(2026, 1), (2026, 2), (2027, 1), (2027, 2)]
    assert "启民安整〔2027〕1号" in await _served_text(engine, new_year, tmp_path)


async def test_issuers_at_once_get_distinct_numbers(engine: AsyncEngine, catalog: Catalog) -> None:
    homes = [await add_facility(engine, f"QD1{n}", type_="nursing_home") for n in range(6)]
    actor = await _inspector(engine)
    inspections = []
    for n, home in enumerate(homes):
        items = [ItemResult("FIRE-EXIT-01", "fail")]
        reported = await report_inspection(
            engine, catalog, actor, InspectionInput(home, "unannounced", f"c-{n}", items), LATE_DECEMBER
        )
        inspections.append(reported.inspection_id)

    async def issue(inspection_id: int) -> None:
        async with engine.begin() as conn:
            await issue_order(conn, inspection_id, PolicySettings(), LATE_DECEMBER)

    await asyncio.gather(*(issue(i) for i in inspections))
    async with engine.connect() as conn:
        numbers = sorted((await conn.execute(select(orders.c.number).where(orders.c.year == 2026))).scalars())
    assert numbers == [1, 2, 3, 4, 5, 6]


async def test_the_on_site_record_is_downloadable_right_after_submission_by_who_may_see_it(
    database_url: str, tmp_path: Path
) -> None:
    # The pages alone: no broker, relay or mailer is needed to submit and print.
    stack = await make_stack(tmp_path, database_url, "nats://127.0.0.1:4222", "smtp://127.0.0.1:25")
    try:
        home = await add_facility(stack.engine, "F1")
        await add_facility(stack.engine, "F2", town="南阳镇")
        await add_people(stack.engine, "F1")
        await add_user(
            stack.engine, role="town_officer", username="nanyang", password=PASSWORD, town="南阳镇"
        )
        failed, passed, absent, fixed = [i.code for i in stack.catalog.items(facility_type="nursing_home")][
            :4
        ]
        submitted = await stack.client.post(
            "/api/inspections",
            headers=await stack.token("inspector"),
            json={
                "facility_id": home,
                "mode": "unannounced",
                "client_ref": "record-1",
                "items": [
                    {"item": failed, "result": "fail", "note": "东楼三层"},
                    {"item": passed, "result": "pass"},
                    {"item": absent, "result": "na"},
                ],
            },
        )
        assert submitted.status_code == 201, submitted.text
        inspection_id = submitted.json()["id"]
        # What the on-site record keeps besides (its recording is the phone's): an item fixed during the visit,
        # the person present, the colleague and the warrant numbers.
        async with stack.engine.begin() as conn:
            await conn.execute(
                insert(inspection_items).values(
                    inspection_id=inspection_id, item_code=fixed, result="fixed", note="当场清除杂物"
                )
            )
            await conn.execute(
                update(inspections).where(inspections.c.id == inspection_id).values(person_present="张院长")
            )
            await conn.execute(
                update(users).where(users.c.username == "inspector").values(warrant_no="32060009")
            )

        inspector = await _logged_in(stack, "inspector")
        done = await inspector.get(f"/inspect/done/{inspection_id}")
        link = f"/inspections/{inspection_id}/record.pdf"
        assert done.status_code == 200 and f'href="{link}"' in done.text
        record = await inspector.get(link)
        assert record.status_code == 200 and record.headers["content-type"] == "application/pdf"
        path = tmp_path / "record.pdf"
        path.write_bytes(record.content)
        text = re.sub(
            r"\s+",
            "",
            subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=True).stdout.decode(),
        )
        assert "现场检查记录" in text and "测试敬老院F1" in text and "四不两直" in text
        for code, result in ((failed, "不符合"), (passed, "符合"), (absent, "不适用"), (fixed, "当场整改")):
            words = re.sub(r"\s+", "", stack.catalog.item(code).zh)[:8]
            assert re.search(re.escape(words) + r".*?" + result, text), (code, result)
        assert "东楼三层" in text and "当场清除杂物" in text
        assert "发现事故隐患1项" in text and "当场整改（立查立改）1项" in text
        assert "检查人员（签名）执法证号：32060009" in text
        assert (
            "被检查单位在场人员（签名）" in text and text.count("张院长") == 2
        )  # named, and on the line to sign

        # The facility's head may fetch it; a town officer of another town, or nobody logged in, may not.
        assert (await (await _logged_in(stack, "head")).get(link)).status_code == 200
        assert (await (await _logged_in(stack, "nanyang")).get(link)).status_code == 404
        anonymous = await stack.client.get(link, headers={"Accept": "text/html"})
        assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
        assert (await inspector.get("/inspections/999/record.pdf")).status_code == 404
    finally:
        await stack.close()


async def test_the_order_and_record_downloads_print_the_issuer_the_app_was_given_not_the_environments(
    database_url: str, tmp_path: Path
) -> None:
    given = settings_for(tmp_path, database_url, "nats://127.0.0.1:1", "smtp://127.0.0.1:1").model_copy(
        update={"bureau_name": "海门区民政局", "order_prefix": "海民安整"}
    )
    stack = Stack(settings=given, engine=await prepared_engine(database_url), catalog=default_catalog())
    try:
        home = await add_facility(stack.engine, "F1")
        await add_people(stack.engine, "F1")
        actor = Actor(id=1, username="inspector", role=Role.INSPECTOR, facility_id=None, town=None)
        order_id = await _ordered(
            stack.engine,
            stack.catalog,
            actor,
            home,
            {"FIRE-EXIT-01": "走廊堆放杂物"},
            LATE_DECEMBER,
            "given-1",
        )
        async with stack.engine.connect() as conn:
            inspection_id = await conn.scalar(select(orders.c.inspection_id).where(orders.c.id == order_id))
        head = await _logged_in(stack, "head")

        def words(pdf: bytes, name: str) -> str:
            path = tmp_path / name
            path.write_bytes(pdf)
            done = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, timeout=60, check=True)
            return re.sub(r"\s+", "", done.stdout.decode())

        order = await head.get(f"/orders/{order_id}/pdf")
        assert order.status_code == 200 and order.headers["content-type"] == "application/pdf"
        order_text = words(order.content, "order.pdf")
        assert "海门区民政局" in order_text and "海民安整" in order_text
        assert "县民政局" not in order_text.replace("海门区民政局", "")
        record = await head.get(f"/inspections/{inspection_id}/record.pdf")
        assert record.status_code == 200
        record_text = words(record.content, "record.pdf")
        assert "海门区民政局" in record_text and "县民政局" not in record_text.replace("海门区民政局", "")
    finally:
        await stack.close()


async def _logged_in(stack: Stack, username: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(stack.ctx)), base_url="http://tracker.test"
    )
    form = await client.get("/login")
    response = await client.post(
        "/login",
        data={
            "username": username,
            "password": PASSWORD,
            "next": "/my",
            "login_token": login_token(form.text),
        },
    )
    assert response.status_code == 303, response.text
    stack.tasks.append(asyncio.create_task(_close_later(client, stack.stop)))
    return client


async def _close_later(client: httpx.AsyncClient, stop: asyncio.Event) -> None:
    await stop.wait()
    await client.aclose()


async def test_orders_issued_before_the_numbering_get_their_years_numbers_in_issue_order(
    database_url: str,
) -> None:
    await asyncio.to_thread(upgrade, database_url, "0020")
    engine = make_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO facilities (id, code, name, type, town, head_name, head_email) "
                    "VALUES (1, 'F1', '敬老院', 'nursing_home', '汇龙镇', '王', 'w@example.cn')"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO users (id, username, password_hash, role, name, active) VALUES (1, 'i', 'x', 'inspector', '', true)"
                )
            )
            # Issued in China on 31 Dec 2025 at 23:00, on 2 Jan 2026 and on 1 Jan 2026 at 00:10 (stored in UTC).
            issued = ["2025-12-31 15:00:00", "2026-01-02 01:00:00", "2025-12-31 16:10:00"]
            for n, moment in enumerate(issued, start=1):
                await conn.execute(
                    text(
                        "INSERT INTO inspections (id, client_ref, facility_id, mode, inspector_id, submitted_at, "
                        "checklist_versions, person_present) VALUES (:n, :ref, 1, 'routine', 1, :at, '{}', '')"
                    ),
                    {"n": n, "ref": f"r{n}", "at": datetime.fromisoformat(moment)},
                )
                await conn.execute(
                    text(
                        "INSERT INTO orders (id, inspection_id, facility_id, issued_at) VALUES (:n, :n, 1, :at)"
                    ),
                    {"n": n, "at": datetime.fromisoformat(moment)},
                )
    finally:
        await engine.dispose()
    engine = await prepared_engine(database_url)
    try:
        async with engine.connect() as conn:
            numbered = {r.id: (r.year, r.number) for r in await conn.execute(select(orders))}
        assert numbered == {1: (2025, 1), 3: (2026, 1), 2: (2026, 2)}
        async with engine.begin() as conn:
            assert await next_order_number(conn, 2026) == 3
            assert await next_order_number(conn, 2027) == 1
    finally:
        await engine.dispose()


async def test_a_referred_finding_copies_the_order_to_the_fire_rescue_service(
    engine: AsyncEngine, catalog: Catalog, tmp_path: Path
) -> None:
    home = await add_facility(engine, "QD004", type_="nursing_home", town="北城区街道")
    actor = await _inspector(engine)
    order_id = await _ordered(engine, catalog, actor, home, {"FIRE-EXIT-01": ""}, LATE_DECEMBER, "ref-1")
    async with engine.begin() as conn:
        finding_id = await conn.scalar(select(findings.c.id).where(findings.c.order_id == order_id))
        await conn.execute(
            insert(referrals).values(finding_id=finding_id, agency="消防救援机构", referred_at=LATE_DECEMBER)
        )
    assert "抄送：北城区街道办事处，消防救援机构。" in await _served_text(engine, order_id, tmp_path)


async def test_the_on_site_record_lists_a_composite_finding_after_the_items(
    engine: AsyncEngine, catalog: Catalog
) -> None:
    home = await add_facility(engine, "QD005", type_="nursing_home")
    actor = await _inspector(engine)
    failed = [ItemResult(code, "fail") for code in ("FIRE-LANE-01", "FIRE-EXIT-01", "FIRE-EXIT-02")]
    reported = await report_inspection(
        engine, catalog, actor, InspectionInput(home, "unannounced", "composite-1", failed), LATE_DECEMBER
    )
    async with engine.connect() as conn:
        record = await load_record(conn, reported.inspection_id, catalog)
    html = record_html(record, SETTINGS)
    assert [i.result for i in record.items] == ["不符合"] * 4
    assert (
        record.items[-1].text.startswith("重大火灾隐患（综合判定")
        and record.items[-1].grade == "重大事故隐患"
    )
    assert "发现事故隐患 4 项，其中重大事故隐患 1 项" in html


async def test_the_order_page_shows_the_documents_number_and_the_deadline_without_the_estimate(
    database_url: str, tmp_path: Path
) -> None:
    stack = await make_stack(tmp_path, database_url, "nats://127.0.0.1:4222", "smtp://127.0.0.1:25")
    try:
        home = await add_facility(stack.engine, "F1")
        await add_people(stack.engine, "F1")
        submitted = await stack.client.post(
            "/api/inspections",
            headers=await stack.token("inspector"),
            json={
                "facility_id": home,
                "mode": "unannounced",
                "client_ref": "page-1",
                "items": [{"item": "BLDG-DANGER-01", "result": "fail", "note": "C级危房"}],
            },
        )
        assert submitted.status_code == 201, submitted.text
        [finding] = submitted.json()["findings"]
        # Ordered on 28 December: the major hazard's 60 working days end in 2027, an estimated year.
        async with stack.engine.begin() as conn:
            issued = await issue_order(conn, submitted.json()["id"], PolicySettings(), LATE_DECEMBER)
        assert issued is not None
        async with stack.engine.connect() as conn:
            row = (await conn.execute(select(findings).where(findings.c.id == finding["id"]))).one()
        assert row.due_estimated and row.due_day.year == 2027

        head = await _logged_in(stack, "head")
        page = await head.get(f"/orders/{issued.order_id}")
        assert page.status_code == 200 and "民安整〔2026〕1号" in page.text
        # Dated as the served order dates it, in Chinese.
        assert cn_date(row.due_day) in page.text and "估算" not in page.text
        assert str(row.due_day) not in page.text and "下发日期 2026年12月28日" in page.text
        # Staff still see that the deadline was counted without the year's holidays.
        staff = await (await _logged_in(stack, "chief")).get(f"/findings/{finding['id']}")
        assert "估算" in staff.text
    finally:
        await stack.close()


async def test_what_an_inspector_typed_is_printed_as_typed_never_read_as_typesetting(
    engine: AsyncEngine, catalog: Catalog, tmp_path: Path
) -> None:
    # Typst markup and code in a finding's note: printed as the inspector typed it; nothing is read, run or styled.
    typed = '#read("/etc/hostname") *不加粗* _x_ $a^2$ ] [ \\ <标签> @引用 // 注释'
    home = await add_facility(engine, "QD010", type_="nursing_home", town="汇龙镇")
    actor = await _inspector(engine)
    order_id = await _ordered(engine, catalog, actor, home, {"FIRE-EXIT-01": typed}, LATE_DECEMBER, "typed-1")
    text = await _served_text(engine, order_id, tmp_path)
    # Had the note been read as Typst, none of it would show as typed.
    assert words(typed) in text


async def test_a_note_of_any_allowed_length_is_printed_whole_and_the_closing_part_still_follows(
    engine: AsyncEngine, catalog: Catalog, tmp_path: Path
) -> None:
    # A note as long as a phone may send, on a middle finding and on the last one (kept with the closing part when
    # it fits on a page): every word of both printed, then the requirements, the seal and the copy list.
    # Numbered sentences: a page break may fall inside one, the header and page number printed in between.
    sentences = [
        f"【{n:03d}】东楼楼梯间及北侧院内多处发现此问题，编号CODE31103206822016000123456789。"
        for n in range(80)
    ]
    note = "".join(sentences)[:MAX_NOTE_CHARS]
    whole = [sentence[:5] for sentence in sentences if sentence in note]
    home = await add_facility(engine, "QD011", type_="nursing_home", town="汇龙镇")
    actor = await _inspector(engine)
    codes = [i.code for i in catalog.items(facility_type="nursing_home")][:4]
    failed = {codes[0]: "", codes[1]: note, codes[2]: "", codes[3]: note}
    order_id = await _ordered(engine, catalog, actor, home, failed, LATE_DECEMBER, "long-note-1")
    text = await _served_text(engine, order_id, tmp_path)
    assert len(whole) > 40 and all(text.count(marker) == 2 for marker in whole)
    closing = text.rindex(whole[-1])
    assert text.index("逾期未整改", closing) < text.index("（盖章）", closing) < text.index("抄送：", closing)
