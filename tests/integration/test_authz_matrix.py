"""Who may do what, on every route of the app: one table of expected answers, checked against the real app on a
real SQLite database.

The table below has one row per route (method and path template, as the app declares them; a `#name` after the
path is a second case of the same route) and one column per caller: anonymous, someone holding the order link
of facility A1, and one user of each role. A cell is one status for every target, or three, `own/other/town`:
the answer when the request is about facility A1 (the facility head's own, in the town officer's town), about
A2 (another facility of the same town), or about B1 (a facility of another town). Besides the status, no answer
may carry the name or head's email of a facility the caller may not see.

A route the app has and the table lacks fails `test_it_has_a_row_for_every_route`, and so does a row whose
route is gone. Every cell runs on its own copy of the seeded database when it writes, so that one caller's
change never decides another's answer.
"""

from __future__ import annotations

import asyncio
import io
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import iter_route_contexts
from PIL import Image
from sqlalchemy import select
from starlette.routing import Mount

from tracker.checklists import Catalog, load_catalog
from tracker.config import Settings
from tracker.service import notify, plans
from tracker.service.admin import add_user
from tracker.service.context import Context
from tracker.service.loop import issue_order
from tracker.store.db import make_engine
from tracker.store.migrate import upgrade_async
from tracker.store.tables import certificates, extension_requests, facilities
from tracker.web.app import create_app
from tracker.web.auth import COOKIE, CSRF_HEADER, csrf_token

ANON, TOKEN = "anonymous", "order_token"
ROLES = ("inspector", "facility_head", "town_officer", "section_chief", "bureau_lead", "admin")
CALLERS = (ANON, TOKEN, *ROLES)
TARGETS = ("own", "other", "town")  # facility A1, A2 (same town), B1 (another town)

# fmt: off
MATRIX_TEXT = """
method path                                                        anonymous  order_token  inspector    facility_head  town_officer  section_chief  bureau_lead  admin
GET    /openapi.json                                               401        401          200          200            200           200            200          200
GET    /docs                                                       401        401          200          200            200           200            200          200
GET    /redoc                                                      401        401          200          200            200           200            200          200
GET    /static/{path:path}                                         200        200          200          200            200           200            200          200
GET    /healthz                                                    200        200          200          200            200           200            200          200
GET    /metrics                                                    200        200          200          200            200           200            200          200
GET    /                                                           200        200          303          303            303           303            303          200
GET    /sw.js                                                      200        200          200          200            200           200            200          200
GET    /lang/{code}                                                303        303          303          303            303           303            303          303
GET    /login                                                      200        200          200          200            200           200            200          200
POST   /login                                                      303        303          303          303            303           303            303          303
POST   /login#forged                                               403        403          403          403            403           403            403          403
POST   /logout                                                     303        403          303          303            303           303            303          303
POST   /logout#forged                                              303        403          403          403            403           403            403          403
POST   /api/token                                                  200        200          200          200            200           200            200          200
POST   /api/logout                                                 401        401          204          204            204           204            204          204
GET    /api/facilities                                             401        401          200          200            200           200            200          200
GET    /api/checklists                                             401        401          200          200            200           200            200          200
POST   /api/photos                                                 401        401          201          201            201           201            201          201
POST   /api/attachments                                            401        401          201          201            201           201            201          201
GET    /api/photos/{photo_id}                                      401        401          200          200/404/404    200/200/404   200            200          200
GET    /api/photos/{photo_id}/thumbnail                            401        401          200          200/404/404    200/200/404   200            200          200
POST   /api/inspections                                            401        401          201          201/403/403    201/201/403   201            201          201
POST   /api/inspections#replayed-client_ref                        401        401          200          409/403/403    409/409/403   409            409          409
POST   /api/inspections#mode-self                                  401        401          403          201/403/403    403           403            403          403
GET    /api/findings                                               401        401          200          200            200           200            200          200
GET    /api/findings/{finding_id}                                  401        401          200          200/404/404    200/200/404   200            200          200
POST   /api/findings/{finding_id}/rectification                    401        401          403          201/404/404    403/403/404   403            403          403
POST   /api/findings/{finding_id}/verification                     401        401          201          403/404/404    201/201/404   201            201          201
POST   /api/findings/{finding_id}/downgrade                        401        401          403          403/404/404    403/403/404   200            200          200
POST   /api/findings/{finding_id}/actions                          401        401          403          403/404/404    403/403/404   201            201          403
POST   /api/findings/{finding_id}/plan                             401        401          403          201/404/404    403/403/404   403            403          403
POST   /api/findings/{finding_id}/progress                         401        401          403          409/404/404    403/403/404   403            403          403
POST   /api/findings/{finding_id}/interim                          401        401          409          403/404/404    403/403/404   403            403          403
POST   /api/findings/{finding_id}/acceptance                       401        401          403          403/404/404    403/403/404   409            403          403
POST   /api/findings/{finding_id}/signoff                          401        401          403          403/404/404    403/403/404   403            409          403
POST   /api/findings/{finding_id}/referral                         401        401          409          403/404/404    403/403/404   409            409          403
GET    /api/inspectors                                             401        401          200          403            200           200            200          200
GET    /api/stats/closure                                          401        401          403          403            200/200/403   200            200          200
GET    /api/stats/coverage                                         401        401          403          403            200/200/403   200            200          200
GET    /inspect                                                    401        401          200          200            200           200            200          200
GET    /inspect/{facility_id}                                      401        401          200          200/404/404    200/200/404   200            200          200
GET    /inspect/{facility_id}/walk                                 401        401          200          200/404/404    200/200/404   200            200          200
GET    /inspect/done/{inspection_id}                               401        401          200          200/404/404    200/200/404   200            200          200
GET    /inspections/{inspection_id}/record.pdf                     401        401          200          200/404/404    200/200/404   200            200          200
GET    /my                                                         401        401          200          200            200           200            200          200
GET    /findings/{finding_id}                                      401        401          200          200/404/404    200/200/404   200            200          200
GET    /findings/{finding_id}/closure.pdf                          401        401          404          404            404           404            404          404
POST   /findings/{finding_id}/verify                               401        401          303          403/404/404    303/303/404   303            303          303
POST   /findings/{finding_id}/extension/{request_id}               401        401          303          403/404/404    403/403/404   303            303          303
POST   /findings/{finding_id}/downgrade                            401        401          403          403/404/404    403/403/404   303            303          303
POST   /findings/{finding_id}/actions                              401        401          403          403/404/404    403/403/404   303            303          403
POST   /findings/{finding_id}/rectification                        401        401          403          303/404/404    403/403/404   403            403          403
POST   /findings/{finding_id}/supervision                          401        401          403          303/404/404    403/403/404   403            403          403
POST   /findings/{finding_id}/extension                            401        401          403          303/404/404    403/403/404   403            403          403
GET    /orders/{order_id}                                          401        200/403/403  200          200/404/404    200/200/404   200            200          200
GET    /orders/{order_id}/pdf                                      401        200/403/403  200          200/404/404    200/200/404   200            200          200
GET    /orders/{order_id}/photos/{photo_id}                        401        200/403/403  200          200/404/404    200/200/404   200            200          200
GET    /orders/{order_id}/photos/{photo_id}/thumbnail              401        200/403/403  200          200/404/404    200/200/404   200            200          200
POST   /orders/{order_id}/findings/{finding_id}/rectification      401        303/403/403  403          303/404/404    403/403/404   403            403          403
POST   /orders/{order_id}/findings/{finding_id}/extension          401        303/403/403  403          303/404/404    403/403/404   403            403          403
GET    /self-report                                                401        401          403          200            403           403            403          403
POST   /self-report                                                401        401          403          303            403           403            403          403
GET    /dashboard                                                  401        401          403          403            200/200/403   200            200          200
GET    /dashboard/findings                                         401        401          403          403            200/200/403   200            200          200
GET    /dashboard/coverage                                         401        401          403          403            200/200/403   200            200          200
GET    /dashboard/export.xlsx                                      401        401          403          403            200/200/403   200            200          200
GET    /dashboard/ledger.xlsx                                      401        401          403          403            200/200/403   200            200          200
GET    /dashboard/report.pdf                                       401        401          403          403            200/200/403   200            200          200
GET    /dashboard/upward                                           401        401          403          403            200/200/403   200            200          200
GET    /dashboard/upward.xlsx                                      401        401          403          403            200/200/403   200            200          200
GET    /dashboard/upward.pdf                                       401        401          403          403            200/200/403   200            200          200
GET    /certificates                                               401        401          200          303            200           200            200          200
GET    /facilities/{facility_id}/certificates                      401        401          200          200/404/404    200/200/404   200            200          200
POST   /facilities/{facility_id}/certificates                      401        401          403          303/404/404    403/403/404   403            403          403
POST   /facilities/{facility_id}/certificates/{entry_id}/delete    401        401          403          303/404/404    403/403/404   403            403          403
GET    /plans                                                      401        401          404          404            404           200            200          200
POST   /plans                                                      401        401          404          404            404           303            303          303
GET    /plans/{plan_id}                                            401        401          404          404            404           200            200          200
POST   /plans/{plan_id}/close                                      401        401          404          404            404           303            303          303
GET    /public/checks                                              200        200          200          200            200           200            200          200
GET    /admin/mail                                                 401        401          403          403            403           403            403          200
GET    /admin/mail/{name}                                          401        401          403          403            403           403            403          200
"""
# fmt: on
# Why some rows read as they do:
# - / is the administrator's home and the login's; everyone else is sent on to their own first page.
# - /docs and the schema need a login: they map every route and parameter for whoever asks.
# - `#forged` is the same request sent cross-site, without the form's anti-forgery token: refused. A logout with
#   no cookie has nothing to forge and only goes back to the login page; the order link's token put in the
#   session cookie's place is a cookie like any other, and without the form's token its logout is refused.
# - `#replayed-client_ref` sends the client_ref of the inspector's earlier inspection of the target: only its
#   submitter gets it back (200, nothing created); anyone else is told it is taken (409) and sees nothing of it.
# - `#mode-self` files a self-inspection (自查自纠), which only the facility's own head may.
# - The major track's steps are asked of the major finding whose downgrade waits (at stage 治理方案): the head files
#   its plan (201); whoever else may take a later step passes the check of who they are and is told the step is
#   not yet due (409). The chief and lead answer for the elderly sector these nursing homes belong to; the finding
#   was referred nowhere, so recording a referral's answer is not due either.
# - closure.pdf is the 销号 document of a signed-off major hazard; none is signed off here, so nobody gets one. Who
#   gets a signed-off one is tested in test_upward_filing.py.
# - A plan drawn at random (双随机) is sealed: only chiefs, leads and the administrator see or close it; to everyone
#   else it does not exist (404), and an inspector sees their own checks on /my. The public page (一公开) needs no
#   login and names no person.

Key = tuple[str, str]  # (method, path template with an optional #case)
Cell = tuple[int, int, int]  # own, other facility, other town


def _parse(text: str) -> dict[Key, dict[str, Cell]]:
    lines = [line.split() for line in text.strip().splitlines()]
    header, rows = lines[0], lines[1:]
    assert tuple(header[2:]) == CALLERS, header
    table: dict[Key, dict[str, Cell]] = {}
    for method, path, *cells in rows:
        assert len(cells) == len(CALLERS), f"{method} {path}: {len(cells)} cells"
        assert (method, path) not in table, f"{method} {path} twice"
        expected = {}
        for caller, cell in zip(CALLERS, cells, strict=True):
            statuses = tuple(int(s) for s in cell.split("/"))
            expected[caller] = statuses * 3 if len(statuses) == 1 else statuses
            assert len(expected[caller]) == 3, f"{method} {path} {caller}: {cell}"
        table[(method, path)] = expected
    return table


MATRIX = _parse(MATRIX_TEXT)


def _route(key: Key) -> tuple[str, str]:
    method, path = key
    return method, path.split("#")[0]


def app_routes(app: Any) -> set[tuple[str, str]]:
    """Every (method, path template) the app answers; HEAD goes with GET, a mount serves GET below its path."""
    found = set()
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, Mount):
            found.add(("GET", f"{route.path}/{{path:path}}"))
            continue
        for method in route.methods or ():
            if method != "HEAD":
                found.add((method, route.path))
    return found


# ---- the seeded world ------------------------------------------------------------------------------------

PASSWORD = "matrix-pass-2026"
SECRET = "matrix-secret-0123456789-abcdefghij"
BASE = "http://tracker.test"
TOWN_A, TOWN_B = "汇龙镇", "南阳镇"
USERNAMES = {
    "inspector": "inspector",
    "facility_head": "head-a1",
    "town_officer": "town-a",
    "section_chief": "chief",
    "bureau_lead": "lead",
    "admin": "admin",
}


@dataclass
class Place:
    """One facility and what was seeded there: an inspection by the inspector, its order with four findings
    (one open, one whose rectification waits for verification with a photo, one whose head asked for more
    time, one of a major item recorded as general whose downgrade waits for a decision), and the order's link
    as mailed."""

    code: str
    town: str
    name: str
    head_email: str
    facility_id: int = 0
    inspection_id: int = 0
    client_ref: str = ""
    order_id: int = 0
    open_finding: int = 0
    submitted_finding: int = 0
    asked_finding: int = 0
    extension_request: int = 0
    downgrade_finding: int = 0
    photo_id: str = ""
    order_token: str = ""
    certificate_id: int = 0


@dataclass
class World:
    folder: Path
    template: Path
    catalog: Catalog
    places: dict[str, Place]  # by target
    bearer: dict[str, str] = field(default_factory=dict)  # by role
    cookie: dict[str, str] = field(default_factory=dict)  # by role
    items: list[str] = field(default_factory=list)
    major_item: str = ""
    category: str = ""
    mail_name: str = "matrix-0001.eml"
    plan_id: int = 0

    def settings(self, db: Path) -> Settings:
        return Settings(
            data_dir=self.folder,
            database_url=f"sqlite+aiosqlite:///{db}",
            nats_url="nats://127.0.0.1:4222",
            smtp_url="smtp://127.0.0.1:25",
            secret_key=SECRET,
            base_url=BASE,
        )


def _places() -> dict[str, Place]:
    return {
        "own": Place("MXA1", TOWN_A, "Facility Alpha One", "head.alpha.one@example.cn"),
        "other": Place("MXA2", TOWN_A, "Facility Alpha Two", "head.alpha.two@example.cn"),
        "town": Place("MXB1", TOWN_B, "Facility Bravo One", "head.bravo.one@example.cn"),
    }


MINUTES_PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 40, 40)).save(out, format="JPEG")
    return out.getvalue()


def _hidden_inputs(html: str) -> dict[str, str]:
    fields = {}
    for tag in re.findall(r"<input[^>]*>", html):
        if 'type="hidden"' in tag:
            name, value = re.search(r'name="([^"]*)"', tag), re.search(r'value="([^"]*)"', tag)
            if name:
                fields[name.group(1)] = value.group(1) if value else ""
    return fields


async def _login_cookie(client: httpx.AsyncClient, username: str) -> str:
    """A session as a browser gets it: the login page's form, filled in and sent back."""
    page = await client.get("/login", params={"next": "/my"})
    form = {**_hidden_inputs(page.text), "username": username, "password": PASSWORD, "next": "/my"}
    response = await client.post("/login", data=form, headers=_same_site())
    assert response.status_code == 303, response.text
    return response.cookies[COOKIE]


def _same_site() -> dict[str, str]:
    return {"Origin": BASE, "Sec-Fetch-Site": "same-origin"}


async def _seed(world: World) -> None:
    await upgrade_async(f"sqlite+aiosqlite:///{world.template}")
    engine = make_engine(f"sqlite+aiosqlite:///{world.template}")
    ctx = Context(settings=world.settings(world.template), engine=engine, catalog=world.catalog)
    app = create_app(ctx)
    try:
        async with engine.begin() as conn:
            for place in world.places.values():
                place.facility_id = (
                    await conn.execute(
                        facilities.insert().values(
                            code=place.code,
                            name=place.name,
                            type="nursing_home",
                            town=place.town,
                            head_name=f"负责人{place.code}",
                            head_email=place.head_email,
                        )
                    )
                ).inserted_primary_key[0]
        people = [
            ("inspector", "inspector", {"warrant_no": "MX-0001"}),
            # A second holder of a 执法证号: a plan's team has two or more.
            ("inspector", "inspector-2", {"warrant_no": "MX-0002"}),
            ("facility_head", "head-a1", {"facility": "MXA1"}),
            ("facility_head", "head-a2", {"facility": "MXA2"}),
            ("facility_head", "head-b1", {"facility": "MXB1"}),
            ("town_officer", "town-a", {"town": TOWN_A}),
            # Escalation actions are for the facility's sector: the chief's is elderly care, the lead's every one.
            ("section_chief", "chief", {"sectors": ["elderly"]}),
            ("bureau_lead", "lead", {"sectors": ["elderly", "children", "social_affairs", "relief"]}),
            ("admin", "admin", {}),
        ]
        for role, username, where in people:
            email = {"head-a1": "head.alpha.one@example.cn", "head-a2": "head.alpha.two@example.cn"}.get(
                username, "head.bravo.one@example.cn" if username == "head-b1" else f"{username}@mzj.cn"
            )
            await add_user(engine, role=role, username=username, password=PASSWORD, email=email, **where)

        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client,
        ):
            for role, username in USERNAMES.items():
                answer = await client.post("/api/token", json={"username": username, "password": PASSWORD})
                assert answer.status_code == 200, answer.text
                world.bearer[role] = answer.json()["access_token"]
            heads = {}
            for target, username in zip(TARGETS, ("head-a1", "head-a2", "head-b1"), strict=True):
                answer = await client.post("/api/token", json={"username": username, "password": PASSWORD})
                heads[target] = {"Authorization": f"Bearer {answer.json()['access_token']}"}
            inspector = {"Authorization": f"Bearer {world.bearer['inspector']}"}
            for target, place in world.places.items():
                place.client_ref = f"matrix-{place.code}"
                reported = await client.post(
                    "/api/inspections",
                    headers=inspector,
                    json={
                        "facility_id": place.facility_id,
                        "mode": "unannounced",
                        "client_ref": place.client_ref,
                        "items": [
                            *({"item": code, "result": "fail", "note": "通道堵塞"} for code in world.items),
                            {
                                "item": world.major_item,
                                "result": "fail",
                                "note": "墙体裂缝",
                                "severity": "general",
                                "severity_reason": "裂缝细小，未见发展",
                            },
                        ],
                    },
                )
                assert reported.status_code == 201, reported.text
                place.inspection_id = reported.json()["id"]
                by_item = {f["item"]["code"]: f["id"] for f in reported.json()["findings"]}
                place.open_finding, place.submitted_finding, place.asked_finding = (
                    by_item[code] for code in world.items
                )
                place.downgrade_finding = by_item[world.major_item]
                # What the worker does on inspection.submitted and order.issued: the order, then its mail.
                async with engine.begin() as conn:
                    issued = await issue_order(conn, place.inspection_id, ctx.policy, datetime.now(UTC))
                    await notify.order_issued(conn, ctx, issued, datetime.now(UTC))
                place.order_id = issued.order_id
                async with engine.connect() as conn:  # its mail as the mailer writes it when it sends it
                    written = await notify.order_mail(conn, ctx.settings, place.order_id, datetime.now(UTC))
                text = written.text
                place.order_token = re.search(r"[?&]token=([\w.\-]+)", text).group(1)

                photo = await client.post(
                    "/api/photos", headers=heads[target], files={"file": ("p.jpg", _jpeg(), "image/jpeg")}
                )
                assert photo.status_code == 201, photo.text
                place.photo_id = photo.json()["id"]
                sent = await client.post(
                    f"/api/findings/{place.submitted_finding}/rectification",
                    headers=heads[target],
                    json={"note": "已整改", "photos": [place.photo_id]},
                )
                assert sent.status_code == 201, sent.text
                asked = await client.post(
                    f"/orders/{place.order_id}/findings/{place.asked_finding}/extension",
                    data={"token": place.order_token, "days": "10", "reason": "等待施工队"},
                )
                assert asked.status_code == 303, asked.text
                async with engine.connect() as conn:
                    place.extension_request = await conn.scalar(
                        select(extension_requests.c.id).where(
                            extension_requests.c.finding_id == place.asked_finding
                        )
                    )
            async with engine.begin() as conn:
                for place in world.places.values():
                    place.certificate_id = (
                        await conn.execute(
                            certificates.insert().values(
                                facility_id=place.facility_id,
                                kind="lift_inspection",
                                label="1号梯",
                                expires_on=date(2030, 1, 31),
                                updated_at=datetime.now(UTC),
                            )
                        )
                    ).inserted_primary_key[0]
            announced = await plans.announce(
                engine,
                name="matrix plan",
                period_from=date(2026, 1, 1),
                period_to=date(2036, 12, 31),
                team_size=2,
                now=datetime.now(UTC),
                share="1",
            )
            await plans.make_draw(engine, announced.plan_id, datetime.now(UTC))
            world.plan_id = announced.plan_id
            for role, username in USERNAMES.items():
                client.cookies.clear()
                world.cookie[role] = await _login_cookie(client, username)
    finally:
        await engine.dispose()
    world.settings(world.template).mail_dir.mkdir(parents=True, exist_ok=True)
    (world.settings(world.template).mail_dir / world.mail_name).write_text(
        "From: tracker@test\nTo: head.alpha.one@example.cn\nSubject: matrix\n\nbody\n"
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("matrix")
    catalog = load_catalog()
    general = [i for i in catalog.items(facility_type="nursing_home") if i.severity == "general"]
    built = World(folder, folder / "template.db", catalog, _places())
    built.items = [i.code for i in general[:3]]
    built.category = general[0].category
    built.major_item = next(
        i.code for i in catalog.items(facility_type="nursing_home") if i.severity == "major"
    )
    asyncio.run(_seed(built))
    yield built


# ---- one request per (route, caller, target) --------------------------------------------------------------


@dataclass
class Call:
    url: str
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    data: dict[str, str] | None = None
    files: dict[str, Any] | None = None


def _inspection(
    world: World, place: Place, caller: str, ref: str | None = None, mode: str | None = None
) -> Call:
    own_mode = "self" if caller == "facility_head" else "unannounced"
    return Call(
        "/api/inspections",
        json={
            "facility_id": place.facility_id,
            "mode": mode or own_mode,
            "client_ref": ref or f"cell-{uuid.uuid4()}",
            "items": [{"item": world.items[0], "result": "fail", "note": "灭火器过期"}],
        },
    )


def _month() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


def _scope(place: Place) -> dict[str, Any]:
    return {"town": place.town, "facility_id": place.facility_id}


PLAN = {
    "measures": "加固墙体",
    "funds": "5万元",
    "unit": "敬老院",
    "person": "院长",
    "deadline": "2027-06-30",
    "interim_measures": "相关房间停用",
    "emergency_plan": "夜间巡查",
}

Build = Callable[[World, Place, str], Call]
REQUESTS: dict[Key, Build] = {
    ("GET", "/openapi.json"): lambda w, p, c: Call("/openapi.json"),
    ("GET", "/docs"): lambda w, p, c: Call("/docs"),
    ("GET", "/redoc"): lambda w, p, c: Call("/redoc"),
    ("GET", "/static/{path:path}"): lambda w, p, c: Call("/static/app.css"),
    ("GET", "/healthz"): lambda w, p, c: Call("/healthz"),
    ("GET", "/metrics"): lambda w, p, c: Call("/metrics"),
    ("GET", "/"): lambda w, p, c: Call("/"),
    ("GET", "/sw.js"): lambda w, p, c: Call("/sw.js"),
    ("GET", "/lang/{code}"): lambda w, p, c: Call("/lang/en", params={"next": "/"}),
    ("GET", "/login"): lambda w, p, c: Call("/login"),
    ("POST", "/login"): lambda w, p, c: Call("/login", data=_credentials(c)),
    ("POST", "/login#forged"): lambda w, p, c: Call("/login", data=_credentials(c)),
    ("POST", "/logout"): lambda w, p, c: Call("/logout", data={}),
    ("POST", "/logout#forged"): lambda w, p, c: Call("/logout", data={}),
    ("POST", "/api/token"): lambda w, p, c: Call(
        "/api/token", json={"username": _credentials(c)["username"], "password": PASSWORD}
    ),
    ("POST", "/api/logout"): lambda w, p, c: Call("/api/logout"),
    ("GET", "/api/facilities"): lambda w, p, c: Call("/api/facilities", params={"q": p.code}),
    ("GET", "/api/checklists"): lambda w, p, c: Call("/api/checklists"),
    ("POST", "/api/photos"): lambda w, p, c: Call(
        "/api/photos", files={"file": ("p.jpg", _jpeg(), "image/jpeg")}
    ),
    ("POST", "/api/attachments"): lambda w, p, c: Call(
        "/api/attachments", files={"file": ("minutes.pdf", MINUTES_PDF, "application/pdf")}
    ),
    ("GET", "/api/photos/{photo_id}"): lambda w, p, c: Call(f"/api/photos/{p.photo_id}"),
    ("GET", "/api/photos/{photo_id}/thumbnail"): lambda w, p, c: Call(f"/api/photos/{p.photo_id}/thumbnail"),
    ("POST", "/api/inspections"): lambda w, p, c: _inspection(w, p, c),
    ("POST", "/api/inspections#replayed-client_ref"): lambda w, p, c: _inspection(w, p, c, ref=p.client_ref),
    ("POST", "/api/inspections#mode-self"): lambda w, p, c: _inspection(w, p, c, mode="self"),
    ("GET", "/api/findings"): lambda w, p, c: Call("/api/findings", params={"facility_id": p.facility_id}),
    ("GET", "/api/findings/{finding_id}"): lambda w, p, c: Call(f"/api/findings/{p.open_finding}"),
    ("POST", "/api/findings/{finding_id}/rectification"): lambda w, p, c: Call(
        f"/api/findings/{p.open_finding}/rectification", json={"note": "已更换灭火器"}
    ),
    ("POST", "/api/findings/{finding_id}/verification"): lambda w, p, c: Call(
        f"/api/findings/{p.submitted_finding}/verification", json={"accepted": True, "note": "复查合格"}
    ),
    ("POST", "/api/findings/{finding_id}/downgrade"): lambda w, p, c: Call(
        f"/api/findings/{p.downgrade_finding}/downgrade",
        json={"approved": True, "note": "同意按一般隐患处理"},
    ),
    ("POST", "/api/findings/{finding_id}/actions"): lambda w, p, c: Call(
        f"/api/findings/{p.open_finding}/actions", json={"kind": "urge", "note": "电话催办"}
    ),
    ("POST", "/findings/{finding_id}/actions"): lambda w, p, c: Call(
        f"/findings/{p.open_finding}/actions", data={"kind": "urge", "note": "电话催办"}
    ),
    ("GET", "/api/inspectors"): lambda w, p, c: Call("/api/inspectors"),
    ("POST", "/api/findings/{finding_id}/plan"): lambda w, p, c: Call(
        f"/api/findings/{p.downgrade_finding}/plan", json=PLAN
    ),
    ("POST", "/api/findings/{finding_id}/progress"): lambda w, p, c: Call(
        f"/api/findings/{p.downgrade_finding}/progress", json={"note": "材料已订购"}
    ),
    ("POST", "/api/findings/{finding_id}/interim"): lambda w, p, c: Call(
        f"/api/findings/{p.downgrade_finding}/interim", json={"note": "已停用"}
    ),
    ("POST", "/api/findings/{finding_id}/acceptance"): lambda w, p, c: Call(
        f"/api/findings/{p.downgrade_finding}/acceptance", json={"accepted": True, "note": "验收合格"}
    ),
    ("POST", "/api/findings/{finding_id}/signoff"): lambda w, p, c: Call(
        f"/api/findings/{p.downgrade_finding}/signoff", json={"note": "同意销号"}
    ),
    ("POST", "/api/findings/{finding_id}/referral"): lambda w, p, c: Call(
        f"/api/findings/{p.downgrade_finding}/referral", json={"answer": "经消防救援机构判定为重大火灾隐患"}
    ),
    ("POST", "/findings/{finding_id}/downgrade"): lambda w, p, c: Call(
        f"/findings/{p.downgrade_finding}/downgrade", data={"decision": "approve", "note": ""}
    ),
    ("POST", "/findings/{finding_id}/rectification"): lambda w, p, c: Call(
        f"/findings/{p.open_finding}/rectification", data={"note": "已更换灭火器"}
    ),
    ("POST", "/findings/{finding_id}/supervision"): lambda w, p, c: Call(
        f"/findings/{p.downgrade_finding}/supervision", data={"step": "plan", **PLAN}
    ),
    ("POST", "/findings/{finding_id}/extension"): lambda w, p, c: Call(
        f"/findings/{p.open_finding}/extension", data={"days": "5", "reason": "材料未到"}
    ),
    ("GET", "/api/stats/closure"): lambda w, p, c: Call("/api/stats/closure", params=_scope(p)),
    ("GET", "/api/stats/coverage"): lambda w, p, c: Call("/api/stats/coverage", params=_scope(p)),
    ("GET", "/inspect"): lambda w, p, c: Call("/inspect", params={"q": p.code}),
    ("GET", "/inspect/{facility_id}"): lambda w, p, c: Call(f"/inspect/{p.facility_id}"),
    ("GET", "/inspect/{facility_id}/walk"): lambda w, p, c: Call(
        f"/inspect/{p.facility_id}/walk",
        params={"mode": "self" if c == "facility_head" else "unannounced", "cat": w.category},
    ),
    ("GET", "/inspect/done/{inspection_id}"): lambda w, p, c: Call(f"/inspect/done/{p.inspection_id}"),
    ("GET", "/inspections/{inspection_id}/record.pdf"): lambda w, p, c: Call(
        f"/inspections/{p.inspection_id}/record.pdf"
    ),
    ("GET", "/my"): lambda w, p, c: Call("/my"),
    ("GET", "/findings/{finding_id}"): lambda w, p, c: Call(f"/findings/{p.open_finding}"),
    ("GET", "/findings/{finding_id}/closure.pdf"): lambda w, p, c: Call(
        f"/findings/{p.open_finding}/closure.pdf"
    ),
    ("POST", "/findings/{finding_id}/verify"): lambda w, p, c: Call(
        f"/findings/{p.submitted_finding}/verify", data={"decision": "accept", "note": "复查合格"}
    ),
    ("POST", "/findings/{finding_id}/extension/{request_id}"): lambda w, p, c: Call(
        f"/findings/{p.asked_finding}/extension/{p.extension_request}",
        data={"decision": "accept", "days": "5", "note": ""},
    ),
    ("GET", "/orders/{order_id}"): lambda w, p, c: Call(f"/orders/{p.order_id}"),
    ("GET", "/orders/{order_id}/pdf"): lambda w, p, c: Call(f"/orders/{p.order_id}/pdf"),
    ("GET", "/orders/{order_id}/photos/{photo_id}"): lambda w, p, c: Call(
        f"/orders/{p.order_id}/photos/{p.photo_id}"
    ),
    ("GET", "/orders/{order_id}/photos/{photo_id}/thumbnail"): lambda w, p, c: Call(
        f"/orders/{p.order_id}/photos/{p.photo_id}/thumbnail"
    ),
    ("POST", "/orders/{order_id}/findings/{finding_id}/rectification"): lambda w, p, c: Call(
        f"/orders/{p.order_id}/findings/{p.open_finding}/rectification", data={"note": "已更换灭火器"}
    ),
    ("POST", "/orders/{order_id}/findings/{finding_id}/extension"): lambda w, p, c: Call(
        f"/orders/{p.order_id}/findings/{p.open_finding}/extension", data={"days": "5", "reason": "材料未到"}
    ),
    ("GET", "/self-report"): lambda w, p, c: Call("/self-report"),
    ("POST", "/self-report"): lambda w, p, c: Call(
        "/self-report",
        data={"item": w.items[0], "note": "自查发现", "severity": "", "client_ref": f"self-{uuid.uuid4()}"},
    ),
    ("GET", "/dashboard"): lambda w, p, c: Call("/dashboard", params=_scope(p)),
    ("GET", "/dashboard/findings"): lambda w, p, c: Call("/dashboard/findings", params=_scope(p)),
    ("GET", "/dashboard/coverage"): lambda w, p, c: Call("/dashboard/coverage", params=_scope(p)),
    ("GET", "/dashboard/export.xlsx"): lambda w, p, c: Call(
        "/dashboard/export.xlsx", params={**_scope(p), "table": "findings", "metric": "found"}
    ),
    ("GET", "/dashboard/ledger.xlsx"): lambda w, p, c: Call(
        "/dashboard/ledger.xlsx", params={"town": p.town}
    ),
    ("GET", "/dashboard/report.pdf"): lambda w, p, c: Call(
        "/dashboard/report.pdf", params={"month": _month(), "town": p.town}
    ),
    ("GET", "/dashboard/upward"): lambda w, p, c: Call(
        "/dashboard/upward", params={"month": _month(), "town": p.town}
    ),
    ("GET", "/dashboard/upward.xlsx"): lambda w, p, c: Call(
        "/dashboard/upward.xlsx", params={"month": _month(), "town": p.town}
    ),
    ("GET", "/dashboard/upward.pdf"): lambda w, p, c: Call(
        "/dashboard/upward.pdf", params={"month": _month(), "town": p.town}
    ),
    ("GET", "/certificates"): lambda w, p, c: Call("/certificates"),
    ("GET", "/facilities/{facility_id}/certificates"): lambda w, p, c: Call(
        f"/facilities/{p.facility_id}/certificates"
    ),
    ("POST", "/facilities/{facility_id}/certificates"): lambda w, p, c: Call(
        f"/facilities/{p.facility_id}/certificates",
        data={"kind": "health_certificate", "label": "张三", "number": "", "expires_on": "2030-06-30"},
    ),
    ("POST", "/facilities/{facility_id}/certificates/{entry_id}/delete"): lambda w, p, c: Call(
        f"/facilities/{p.facility_id}/certificates/{p.certificate_id}/delete", data={}
    ),
    ("GET", "/plans"): lambda w, p, c: Call("/plans"),
    ("POST", "/plans"): lambda w, p, c: Call(
        "/plans",
        data={
            "name": "matrix draw",
            "from": "2027-01-01",
            "to": "2027-03-31",
            "by": "count",
            "count": "1",
            "team_size": "2",
        },
    ),
    ("GET", "/plans/{plan_id}"): lambda w, p, c: Call(f"/plans/{w.plan_id}"),
    ("POST", "/plans/{plan_id}/close"): lambda w, p, c: Call(f"/plans/{w.plan_id}/close", data={}),
    ("GET", "/public/checks"): lambda w, p, c: Call("/public/checks"),
    ("GET", "/admin/mail"): lambda w, p, c: Call("/admin/mail"),
    ("GET", "/admin/mail/{name}"): lambda w, p, c: Call(f"/admin/mail/{w.mail_name}"),
}


def _credentials(caller: str) -> dict[str, str]:
    return {"username": USERNAMES.get(caller, "inspector"), "password": PASSWORD, "next": "/my"}


# Rows whose request names no facility: asked once per caller, and the answer holds for every target.
TARGET_FREE = {
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/redoc"),
    ("GET", "/static/{path:path}"),
    ("GET", "/healthz"),
    # Asked from loopback, as a Prometheus on the host asks; test_metrics refuses anyone else.
    ("GET", "/metrics"),
    ("GET", "/"),
    ("GET", "/sw.js"),
    ("GET", "/lang/{code}"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/login#forged"),
    ("POST", "/logout"),
    ("POST", "/logout#forged"),
    ("POST", "/api/token"),
    ("POST", "/api/logout"),
    ("GET", "/api/checklists"),
    ("GET", "/api/inspectors"),
    ("POST", "/api/photos"),
    ("GET", "/my"),
    ("GET", "/certificates"),
    ("GET", "/self-report"),
    ("POST", "/self-report"),
    ("GET", "/admin/mail"),
    ("GET", "/admin/mail/{name}"),
    ("GET", "/plans"),
    ("POST", "/plans"),
    ("GET", "/plans/{plan_id}"),
    ("POST", "/plans/{plan_id}/close"),
    ("GET", "/public/checks"),
}


def _may_see(caller: str, target: str) -> bool:
    if caller in ("facility_head", TOKEN):
        return target == "own"
    if caller == "town_officer":
        return target != "town"
    return caller != ANON


async def _ask(world: World, db: Path, key: Key, caller: str, place: Place) -> httpx.Response:
    method, path = _route(key)
    call = REQUESTS[key](world, place, caller)
    forged = key[1].endswith("#forged")
    headers: dict[str, str] = {}
    cookies: dict[str, str] = {}
    if method != "GET":
        headers.update(
            {"Origin": "https://attacker.example", "Sec-Fetch-Site": "cross-site"} if forged else _same_site()
        )
    if caller == TOKEN:
        if path.startswith("/orders/"):
            if method == "GET":
                call.params["token"] = place_token(world)
            else:
                call.data = {**(call.data or {}), "token": place_token(world)}
        else:
            # The link's token tried as a login: it must open nothing but its order.
            headers["Authorization"] = f"Bearer {place_token(world)}"
            cookies[COOKIE] = place_token(world)
    elif caller in ROLES:
        if path.startswith("/api/"):
            headers["Authorization"] = f"Bearer {world.bearer[caller]}"
        else:
            cookies[COOKIE] = world.cookie[caller]
            if method != "GET" and not forged:
                csrf = csrf_token(SECRET, world.cookie[caller])
                headers[CSRF_HEADER] = csrf
                call.data = {**(call.data or {}), "csrf": csrf}
    engine = make_engine(f"sqlite+aiosqlite:///{db}")
    app = create_app(Context(settings=world.settings(db), engine=engine, catalog=world.catalog))
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url=BASE, cookies=cookies
            ) as client,
        ):
            if (method, path) == ("POST", "/login") and not forged:
                page = await client.get("/login")
                call.data = {**_hidden_inputs(page.text), **(call.data or {})}
            return await client.request(
                method,
                call.url,
                params=call.params,
                json=call.json,
                data=call.data,
                files=call.files,
                headers=headers,
            )
    finally:
        await engine.dispose()


def place_token(world: World) -> str:
    """The order link held by the `order_token` caller: the one mailed for facility A1's order."""
    return world.places["own"].order_token


def _copy(world: World, to: Path) -> Path:
    shutil.copyfile(world.template, to)
    return to


def _leaks(world: World, caller: str, response: httpx.Response) -> list[str]:
    kind = response.headers.get("content-type", "")
    if not kind.startswith(("application/json", "text/")):
        return []
    body = response.text
    return [
        f"{marker!r} of {target}"
        for target, place in world.places.items()
        if not _may_see(caller, target)
        for marker in (place.name, place.head_email)
        if marker in body
    ]


# ---- the tests ------------------------------------------------------------------------------------------


def test_it_has_a_row_for_every_route(world: World) -> None:
    app = create_app(Context(settings=world.settings(world.template), engine=None, catalog=world.catalog))
    served = app_routes(app)
    rows = {_route(key) for key in MATRIX}
    missing = sorted(served - rows)
    gone = sorted(rows - served)
    assert not missing, f"routes without a row in the authorization matrix: {missing}"
    assert not gone, f"rows of the authorization matrix for routes the app no longer has: {gone}"
    assert set(REQUESTS) == set(MATRIX), sorted(set(REQUESTS) ^ set(MATRIX))


@pytest.mark.parametrize("key", list(MATRIX), ids=lambda key: f"{key[0]} {key[1]}")
async def test_each_caller_gets_the_answer_in_the_table(world: World, key: Key, tmp_path: Path) -> None:
    method, _ = _route(key)
    shared = _copy(world, tmp_path / "reads.db")
    wrong = []
    for caller in CALLERS:
        for n, target in enumerate(TARGETS[:1] if key in TARGET_FREE else TARGETS):
            # A write gets its own copy of the world; reads share one.
            db = shared if method == "GET" else _copy(world, tmp_path / f"{caller}-{target}.db")
            response = await _ask(world, db, key, caller, world.places[target])
            expected = MATRIX[key][caller][n]
            if response.status_code != expected:
                wrong.append(
                    f"{caller} on {target}: {response.status_code}, expected {expected} ({response.text[:160]!r})"
                )
            if leaked := _leaks(world, caller, response):
                wrong.append(f"{caller} on {target}: the answer shows {', '.join(leaked)}")
    assert not wrong, f"{key[0]} {key[1]}:\n" + "\n".join(wrong)
