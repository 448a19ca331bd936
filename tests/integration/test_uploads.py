"""What a request may carry, and what becomes of its photos: a body limit, ten photos at most, nothing stored
for an action that is refused, no EXIF kept, a thumbnail for lists shown only to who may see the photo, unused
photos cleared after a day, and one note limit on pages and API. Through the pages and the API against a real database; no worker, relay or mailer is needed."""

from __future__ import annotations

import io
import random
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select

from tests.support.stack import (
    PASSWORD,
    Stack,
    add_facility,
    add_people,
    default_catalog,
    login_token,
    prepared_engine,
    settings_for,
)
from tracker.clock import FixedClock
from tracker.entry.scheduler import LeasedJobs
from tracker.service.admin import add_user
from tracker.service.loop import issue_order
from tracker.store.tables import findings, inspections, photo_links, photos
from tracker.web.app import create_app
from tracker.web.auth import COOKIE, csrf_token

GPS_IFD = 0x8825


def camera_jpeg(n: int = 0) -> bytes:
    """A phone photo as the phone stores it: sideways (40 x 20, red left half), EXIF saying "turn 90 degrees
    clockwise to view", and where it was taken."""
    image = Image.new("RGB", (40, 20), (255, 0, 0))
    image.paste((0, 0, 255 - n), (20, 0, 40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    gps = exif.get_ifd(GPS_IFD)
    gps[1], gps[2], gps[3], gps[4] = "N", (31.0, 58.0, 12.0), "E", (121.0, 10.0, 5.0)
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


async def make(tmp_path: Path, database_url: str, **settings: Any) -> Stack:
    base = settings_for(tmp_path, database_url, "nats://127.0.0.1:1", "smtp://127.0.0.1:1")
    stack = Stack(
        settings=base.model_copy(update=settings),
        engine=await prepared_engine(database_url),
        catalog=default_catalog(),
        clock=FixedClock(datetime.now(UTC).replace(microsecond=0)),
    )
    await add_facility(stack.engine, "F1")
    await add_facility(stack.engine, "F2", town="南阳镇")
    await add_people(stack.engine, "F1")
    await add_user(
        stack.engine,
        role="town_officer",
        username="town2",
        password=PASSWORD,
        email="t2@mzj.cn",
        town="南阳镇",
    )
    return stack


@pytest.fixture
async def stack(tmp_path: Path, database_url: str) -> AsyncIterator[Stack]:
    stack = await make(tmp_path, database_url)
    yield stack
    await stack.close()


class Page:
    """One person logged in on the pages, with the form token that goes with their session."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(stack.ctx)),
            base_url="http://tracker.test",
            headers={"Accept": "text/html"},
        )

    async def login(self, username: str) -> Page:
        form = await self.client.get("/login")
        response = await self.client.post(
            "/login",
            data={"username": username, "password": PASSWORD, "login_token": login_token(form.text)},
        )
        assert response.status_code == 303, response.text
        return self

    @property
    def csrf(self) -> str:
        return csrf_token(self.stack.ctx.secret, self.client.cookies[COOKIE])


@pytest.fixture
async def page(stack: Stack) -> AsyncIterator[Any]:
    opened: list[Page] = []

    async def login(username: str) -> Page:
        opened.append(await Page(stack).login(username))
        return opened[-1]

    yield login
    for p in opened:
        await p.client.aclose()


def item(stack: Stack, n: int = 0) -> str:
    return [i.code for i in stack.catalog.items(facility_type="nursing_home") if i.severity == "general"][n]


async def report(stack: Stack, ref: str, photo_ids: list[str] | None = None, note: str = "通道堵塞"):
    return await stack.client.post(
        "/api/inspections",
        headers=await stack.token("inspector"),
        json={
            "facility_id": 1,
            "mode": "unannounced",
            "client_ref": ref,
            "items": [{"item": item(stack), "result": "fail", "note": note, "photos": photo_ids or []}],
        },
    )


async def ordered_finding(stack: Stack, ref: str = "r1") -> int:
    response = await report(stack, ref)
    assert response.status_code == 201, response.text
    async with stack.engine.begin() as conn:
        await issue_order(conn, response.json()["id"], stack.policy, stack.clock.now())
    return response.json()["findings"][0]["id"]


async def upload(stack: Stack, data: bytes, who: str = "inspector") -> str:
    response = await stack.client.post(
        "/api/photos", headers=await stack.token(who), files={"file": ("p.jpg", data, "image/jpeg")}
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def stored(stack: Stack) -> tuple[int, int]:
    """Photo rows, and files in the photo folder."""
    async with stack.engine.connect() as conn:
        rows = await conn.scalar(select(func.count()).select_from(photos))
    folder = stack.settings.photo_dir
    return rows, len(list(folder.iterdir())) if folder.exists() else 0


def files(n: int) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("photo", (f"p{i}.jpg", camera_jpeg(i), "image/jpeg")) for i in range(n)]


# ---- how many photos ------------------------------------------------------------------------------------


async def test_the_api_takes_at_most_ten_photos_per_item(stack: Stack):
    ids = [await upload(stack, camera_jpeg(i)) for i in range(21)]
    refused = await report(stack, "many", ids)
    assert refused.status_code == 422
    assert any(error["field"].endswith(".photos") for error in refused.json()["errors"])
    assert "photos" in refused.json()["detail"]
    async with stack.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(inspections)) == 0
    assert (await report(stack, "ten", ids[:10])).status_code == 201


async def test_a_page_form_with_21_photos_is_refused_and_stores_none(stack: Stack, page):
    head = await page("head")
    form = await head.client.get("/self-report")
    ref = re.search(r'name="client_ref" value="([^"]+)"', form.text).group(1)
    data = {"csrf": head.csrf, "item": item(stack), "note": "杂物堵塞通道", "client_ref": ref}
    response = await head.client.post("/self-report", data=data, files=files(21))
    assert response.status_code == 422
    assert "最多 10 张" in response.text and "杂物堵塞通道" in response.text
    assert await stored(stack) == (0, 0)


# ---- nothing stored for a refused action --------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("inspector", 409),  # nothing was submitted yet to verify
        ("head", 403),  # a facility cannot verify its own hazard
        ("town2", 404),  # another town's finding does not exist for them
    ],
)
async def test_a_refused_verification_stores_no_photo(stack: Stack, page, who: str, status: int):
    finding_id = await ordered_finding(stack)
    person = await page(who)
    response = await person.client.post(
        f"/findings/{finding_id}/verify",
        data={"csrf": person.csrf, "decision": "reject", "note": "整改不到位"},
        files=files(3),
    )
    assert response.status_code == status
    assert await stored(stack) == (0, 0)


async def test_a_refused_rectification_stores_no_photo(stack: Stack, page):
    finding_id = await ordered_finding(stack)
    answered = await stack.client.post(
        f"/api/findings/{finding_id}/rectification",
        headers=await stack.token("head"),
        json={"note": "已清理"},
    )
    assert answered.status_code == 201
    head = await page("head")
    async with stack.engine.connect() as conn:
        order_id = await conn.scalar(select(findings.c.order_id).where(findings.c.id == finding_id))
    response = await head.client.post(
        f"/orders/{order_id}/findings/{finding_id}/rectification",
        data={"csrf": head.csrf, "note": "又清理了一次"},
        files=files(3),
    )
    assert response.status_code == 409
    assert await stored(stack) == (0, 0)


async def test_an_allowed_verification_keeps_its_photos_linked(stack: Stack, page):
    finding_id = await ordered_finding(stack)
    await stack.client.post(
        f"/api/findings/{finding_id}/rectification",
        headers=await stack.token("head"),
        json={"note": "已清理"},
    )
    inspector = await page("inspector")
    response = await inspector.client.post(
        f"/findings/{finding_id}/verify", data={"csrf": inspector.csrf, "decision": "accept"}, files=files(2)
    )
    assert response.status_code == 303, response.text
    view = (await stack.client.get(f"/api/findings/{finding_id}", headers=await stack.token("lead"))).json()
    assert view["status"] == "closed" and [p["stage"] for p in view["photos"]] == ["verification"] * 2


async def test_the_finding_page_shows_each_photo_once_the_facilitys_in_its_account(stack: Stack, page):
    found = await upload(stack, camera_jpeg(1))
    reported = await report(stack, "once", [found])
    finding_id = reported.json()["findings"][0]["id"]
    async with stack.engine.begin() as conn:
        await issue_order(conn, reported.json()["id"], stack.policy, stack.clock.now())
    evidence = await upload(stack, camera_jpeg(2), who="head")
    answered = await stack.client.post(
        f"/api/findings/{finding_id}/rectification",
        headers=await stack.token("head"),
        json={"note": "已清理", "photos": [evidence]},
    )
    assert answered.status_code == 201, answered.text
    shown = (await (await page("inspector")).client.get(f"/findings/{finding_id}")).text
    assert shown.count(f"/api/photos/{found}/thumbnail") == 1
    assert shown.count(f"/api/photos/{evidence}/thumbnail") == 1
    account = shown[shown.index('id="account"') :]
    assert f"/api/photos/{evidence}/thumbnail" in account[: account.index("</section>")]


# ---- what is kept of a photo --------------------------------------------------------------------------


def assert_clean_and_upright(data: bytes) -> None:
    with Image.open(io.BytesIO(data)) as image:
        assert GPS_IFD not in image.getexif() and dict(image.getexif()) == {}
        assert image.size == (20, 40)
        assert image.convert("RGB").getpixel((10, 5))[0] > 200  # the red half on top


async def test_an_api_upload_is_kept_without_exif_and_upright(stack: Stack):
    original = camera_jpeg()
    with Image.open(io.BytesIO(original)) as image:
        assert GPS_IFD in image.getexif()
    photo_id = await upload(stack, original)
    served = await stack.client.get(f"/api/photos/{photo_id}", headers=await stack.token("inspector"))
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    assert_clean_and_upright(served.content)
    assert (stack.settings.photo_dir / photo_id).read_bytes() == served.content


async def test_a_page_upload_is_kept_without_exif_and_upright(stack: Stack, page):
    head = await page("head")
    form = await head.client.get("/self-report")
    ref = re.search(r'name="client_ref" value="([^"]+)"', form.text).group(1)
    sent = await head.client.post(
        "/self-report",
        data={"csrf": head.csrf, "item": item(stack), "note": "电动车楼道充电", "client_ref": ref},
        files=files(1),
    )
    assert sent.status_code == 303, sent.text
    async with stack.engine.connect() as conn:
        [photo_id] = (await conn.execute(select(photo_links.c.photo_id))).scalars().all()
    served = await stack.client.get(f"/api/photos/{photo_id}", headers=await stack.token("head"))
    assert_clean_and_upright(served.content)


# ---- thumbnails -------------------------------------------------------------------------------------------


def phone_photo() -> bytes:
    """A 2000 x 1500 photo of fine detail, as heavy as a phone's."""
    image = Image.frombytes("RGB", (2000, 1500), random.Random(3).randbytes(2000 * 1500 * 3))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92)
    return out.getvalue()


async def test_an_upload_gets_a_thumbnail_of_at_most_320_px_and_30_kb_shown_as_the_photo_is(stack: Stack):
    photo_id = await upload(stack, phone_photo())
    inspector = await stack.token("inspector")
    small = await stack.client.get(f"/api/photos/{photo_id}/thumbnail", headers=inspector)
    full = await stack.client.get(f"/api/photos/{photo_id}", headers=inspector)
    assert small.status_code == 200 and small.headers["content-type"] == "image/jpeg"
    assert len(small.content) <= 30 * 1024 < len(full.content)
    with Image.open(io.BytesIO(small.content)) as image:
        assert image.size == (320, 240)
    # Made on upload, kept beside the photo.
    assert (stack.settings.photo_dir / f"{photo_id}.thumb").read_bytes() == small.content

    # Only the one who sent it sees it until a finding uses it; then whoever may see the facility, as the photo.
    town2, lead = await stack.token("town2"), await stack.token("lead")
    for who, status in ((town2, 404), (lead, 404)):
        assert (await stack.client.get(f"/api/photos/{photo_id}", headers=who)).status_code == status
        assert (
            await stack.client.get(f"/api/photos/{photo_id}/thumbnail", headers=who)
        ).status_code == status
    assert (await report(stack, "thumbed", [photo_id])).status_code == 201
    for who, status in ((town2, 404), (lead, 200)):
        assert (await stack.client.get(f"/api/photos/{photo_id}", headers=who)).status_code == status
        assert (
            await stack.client.get(f"/api/photos/{photo_id}/thumbnail", headers=who)
        ).status_code == status


async def test_a_photo_kept_before_thumbnails_gets_one_on_its_first_request(stack: Stack):
    photo_id = await upload(stack, phone_photo())
    kept = stack.settings.photo_dir / f"{photo_id}.thumb"
    kept.unlink()  # as a photo uploaded before thumbnails were made
    small = await stack.client.get(
        f"/api/photos/{photo_id}/thumbnail", headers=await stack.token("inspector")
    )
    assert small.status_code == 200 and len(small.content) <= 30 * 1024
    assert kept.read_bytes() == small.content


async def test_a_pdf_document_has_no_thumbnail(stack: Stack):
    sent = await stack.client.post(
        "/api/attachments",
        headers=await stack.token("lead"),
        files={"file": ("m.pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n", "application/pdf")},
    )
    assert sent.status_code == 201, sent.text
    asked = await stack.client.get(
        f"/api/photos/{sent.json()['id']}/thumbnail", headers=await stack.token("lead")
    )
    assert asked.status_code == 404


# ---- photos nobody used -------------------------------------------------------------------------------


async def test_the_clean_up_removes_an_unlinked_photo_after_a_day_and_keeps_the_others(stack: Stack):
    # Yesterday (not tomorrow: a token signed in the future is not valid yet, whatever the clock says).
    stack.clock.at -= timedelta(hours=25)
    used = await upload(stack, camera_jpeg(1))
    assert (await report(stack, "with-photo", [used])).status_code == 201
    unused = await upload(stack, camera_jpeg(2))
    stack.clock.at += timedelta(hours=25)
    fresh = await upload(stack, camera_jpeg(3))  # unused too, but only just sent

    await LeasedJobs(stack.ctx).photo_job()

    async with stack.engine.connect() as conn:
        left = set((await conn.execute(select(photos.c.id))).scalars())
    assert left == {used, fresh}
    # Each with its thumbnail; the unused photo's went with it.
    assert {p.name for p in stack.settings.photo_dir.iterdir()} == {
        used,
        fresh,
        f"{used}.thumb",
        f"{fresh}.thumb",
    }
    lead = await stack.token("lead")
    assert (await stack.client.get(f"/api/photos/{used}", headers=lead)).status_code == 200
    assert (
        await stack.client.get(f"/api/photos/{unused}", headers=await stack.token("inspector"))
    ).status_code == 404


# ---- how large a request and a note may be ------------------------------------------------------------


async def test_a_body_over_the_limit_is_refused_with_413(tmp_path: Path, database_url: str):
    stack = await make(tmp_path, database_url, max_body_mb=1)
    try:
        headers = await stack.token("inspector")
        big = b"\xff\xd8\xff" + b"\x00" * (2 * 1024 * 1024)
        declared = await stack.client.post("/api/photos", headers=headers, files={"file": ("a.jpg", big)})
        assert declared.status_code == 413
        assert "request body" in declared.json()["detail"] and "1 MB" in declared.json()["detail"]
        assert (
            "script-src 'self'" in declared.headers["Content-Security-Policy"]
        )  # refused early, still guarded

        async def chunks():  # sent without a Content-Length: counted as it arrives
            yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'
            for _ in range(40):
                yield b"\x00" * 65536

        streamed = await stack.client.post(
            "/api/photos",
            headers={**headers, "Content-Type": "multipart/form-data; boundary=b"},
            content=chunks(),
        )
        assert streamed.status_code == 413

        on_a_page = await stack.client.post("/self-report", headers={"Accept": "text/html"}, content=big)
        assert on_a_page.status_code == 413 and "1 MB" in on_a_page.text and "照片" in on_a_page.text
        await upload(stack, camera_jpeg())  # a photo under the limit still goes in
    finally:
        await stack.close()


async def test_a_note_of_300000_characters_on_a_page_is_refused_and_kept(stack: Stack, page):
    head = await page("head")
    form = await head.client.get("/self-report")
    assert 'maxlength="4000"' in form.text and "/static/counter.js" in form.text
    ref = re.search(r'name="client_ref" value="([^"]+)"', form.text).group(1)
    note = ("护理楼二层走廊堆放杂物，" * 30000)[:300000]
    refused = await head.client.post(
        "/self-report",
        data={"csrf": head.csrf, "item": item(stack), "note": note, "client_ref": ref},
        files=files(1),  # as a browser sends the form (multipart: the note is 900 kB of UTF-8, as typed)
    )
    assert refused.status_code == 422
    assert note in refused.text  # kept in the text box, to be shortened
    async with stack.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(inspections)) == 0
    assert await stored(stack) == (0, 0)


async def test_pages_and_api_hold_notes_to_the_same_4000_characters(stack: Stack, page):
    head = await page("head")
    form = await head.client.get("/self-report")
    ref = re.search(r'name="client_ref" value="([^"]+)"', form.text).group(1)
    data = {"csrf": head.csrf, "item": item(stack), "client_ref": ref}
    over = await head.client.post("/self-report", data={**data, "note": "x" * 4001})
    assert over.status_code == 422
    # 4000 as the text box counts them: its line breaks travel as two characters each.
    lines = ("x" * 99 + "\r\n") * 39 + "x" * 100
    assert (await head.client.post("/self-report", data={**data, "note": lines})).status_code == 303

    assert (await report(stack, "api-over", note="x" * 4001)).status_code == 422
    assert (await report(stack, "api-at", note="x" * 4000)).status_code == 201


async def test_a_verification_note_over_the_limit_is_refused_and_kept(stack: Stack, page):
    finding_id = await ordered_finding(stack)
    await stack.client.post(
        f"/api/findings/{finding_id}/rectification",
        headers=await stack.token("head"),
        json={"note": "已清理"},
    )
    inspector = await page("inspector")
    note = "未见整改照片" * 700
    response = await inspector.client.post(
        f"/findings/{finding_id}/verify",
        data={"csrf": inspector.csrf, "decision": "reject", "note": note},
        files=files(1),
    )
    assert response.status_code == 422 and note in response.text
    assert await stored(stack) == (0, 0)


async def test_a_rectification_note_over_the_limit_is_refused_and_kept_on_the_order_page(stack: Stack, page):
    finding_id = await ordered_finding(stack)
    async with stack.engine.connect() as conn:
        order_id = await conn.scalar(select(findings.c.order_id).where(findings.c.id == finding_id))
    head = await page("head")
    note = "已清理楼道杂物并张贴禁止堆放标识" * 300
    response = await head.client.post(
        f"/orders/{order_id}/findings/{finding_id}/rectification",
        data={"csrf": head.csrf, "note": note},
        files=files(2),
    )
    assert response.status_code == 422 and note in response.text
    assert await stored(stack) == (0, 0)


# ---- what slips into text -------------------------------------------------------------------------------


async def test_a_nul_or_control_character_in_a_query_or_a_text_is_refused_422_not_a_500(stack: Stack, page):
    # PostgreSQL refuses a NUL in any text: before, each of these was a 500 there.
    token = await stack.client.post("/api/token", json={"username": "a\u0000b", "password": "x-password-1"})
    assert token.status_code == 422 and token.json()["field"] == "body"
    headers = await stack.token("inspector")
    found = await stack.client.get("/api/facilities", params={"q": "a\x00"}, headers=headers)
    assert found.status_code == 422 and found.json()["field"] == "query"
    ledger = await stack.client.get("/dashboard/ledger.xlsx", params={"town": "x\x01"}, headers=headers)
    assert ledger.status_code == 422
    reported = await report(stack, "nul-1", note="漏水\u0000")
    assert reported.status_code == 422
    form = await stack.client.get("/login")
    by_form = await stack.client.post(
        "/login", data={"username": "a\x00", "password": "x", "login_token": login_token(form.text)}
    )
    assert by_form.status_code == 422
    assert await stored(stack) == (0, 0)


async def test_a_control_character_in_a_note_keeps_the_ledger_whole(stack: Stack):
    from openpyxl import load_workbook

    assert (await report(stack, "vt-1", note="漏水\u000b见照片")).status_code == 201
    today = stack.clock.now().date()
    answer = await stack.client.get(
        "/dashboard/ledger.xlsx",
        params={
            "from": (today - timedelta(days=1)).isoformat(),
            "to": (today + timedelta(days=2)).isoformat(),
        },
        headers=await stack.token("lead"),
    )
    assert answer.status_code == 200, answer.text
    sheet = load_workbook(io.BytesIO(answer.content)).active
    notes = [c.value for row in sheet.iter_rows(min_row=3) for c in row if isinstance(c.value, str)]
    assert any("漏水 见照片" in n for n in notes), notes


async def test_a_self_reported_hazard_refused_on_its_page_stores_no_photo(stack: Stack, page):
    head = await page("head")
    sent = await head.client.post(
        "/self-report",
        data={"csrf": head.csrf, "item": item(stack), "note": "配电箱门缺失"},
    )
    assert sent.status_code == 303, sent.text
    async with stack.engine.connect() as conn:
        finding_id = await conn.scalar(select(func.max(findings.c.id)))
    inspector = await page("inspector")
    refused = await inspector.client.post(
        f"/findings/{finding_id}/rectification",
        data={"csrf": inspector.csrf, "note": "我来答"},
        files=files(3),
    )
    assert refused.status_code == 403
    assert await stored(stack) == (0, 0)
    too_long = await head.client.post(
        f"/findings/{finding_id}/extension",
        data={"csrf": head.csrf, "days": "5", "reason": "等" * 4001},
    )
    assert too_long.status_code == 422


async def test_a_bearer_client_ends_its_own_session(stack: Stack):
    headers = await stack.token("inspector")
    assert (await stack.client.get("/api/facilities", headers=headers)).status_code == 200
    assert (await stack.client.post("/api/logout", headers=headers)).status_code == 204
    assert (await stack.client.get("/api/facilities", headers=headers)).status_code == 401
