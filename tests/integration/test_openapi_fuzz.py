"""Every operation of the OpenAPI document, fuzzed in-process on SQLite with schemathesis: whatever is sent,
the answer is never a server error, and every refusal (4xx) says what was wrong in its `detail`.

Run as a bureau lead and as a facility head (bearer tokens), a bounded number of examples per operation, with a
fixed seed so that a run is repeatable."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.support.stack import PASSWORD, SECRET, add_facility, add_people
from tracker.checklists import Catalog, load_catalog
from tracker.config import Settings
from tracker.service.context import Context
from tracker.store.db import make_engine
from tracker.store.migrate import upgrade_async
from tracker.web.app import create_app

EXAMPLES_PER_OPERATION = 25
IDENTITIES = {"bureau_lead": "lead", "facility_head": "head"}
# Requests sent per (identity, operation), and their answers by status class: the run's figures.
SENT: Counter[tuple[str, str]] = Counter()
ANSWERS: Counter[str] = Counter()


@dataclass
class Fuzzed:
    identity: str
    app: object
    headers: dict[str, str]


def _settings(folder: Path) -> Settings:
    return Settings(
        data_dir=folder,
        database_url=f"sqlite+aiosqlite:///{folder / 'tracker.db'}",
        nats_url="nats://127.0.0.1:4222",
        smtp_url="smtp://127.0.0.1:25",
        secret_key=SECRET,
        base_url="http://tracker.test",
    )


async def _seed(folder: Path, catalog: Catalog) -> dict[str, str]:
    """Two towns' facilities, a person of each role, one inspection with findings; the bearer tokens."""
    url = _settings(folder).db_url
    await upgrade_async(url)
    engine = make_engine(url)
    try:
        await add_facility(engine, "F1")
        await add_facility(engine, "F2", town="南阳镇")
        await add_people(engine, "F1")
        app = create_app(Context(settings=_settings(folder), engine=engine, catalog=catalog))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            tokens = {}
            for username in ("inspector", *IDENTITIES.values()):
                answer = await client.post("/api/token", json={"username": username, "password": PASSWORD})
                tokens[username] = answer.json()["access_token"]
            items = [i.code for i in catalog.items(facility_type="nursing_home") if i.severity == "general"]
            for facility_id in (1, 2):
                reported = await client.post(
                    "/api/inspections",
                    headers={"Authorization": f"Bearer {tokens['inspector']}"},
                    json={
                        "facility_id": facility_id,
                        "mode": "unannounced",
                        "client_ref": f"fuzz-{facility_id}",
                        "items": [{"item": code, "result": "fail", "note": "通道堵塞"} for code in items[:2]],
                    },
                )
                assert reported.status_code == 201, reported.text
        return tokens
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Catalog, dict[str, str]]]:
    folder = tmp_path_factory.mktemp("fuzz")
    catalog = load_catalog()
    tokens = asyncio.run(_seed(folder, catalog))
    yield folder, catalog, tokens


@pytest.fixture(scope="module", params=list(IDENTITIES))
def fuzzed(request: pytest.FixtureRequest, seeded: tuple[Path, Catalog, dict[str, str]]) -> Iterator[Fuzzed]:
    folder, catalog, tokens = seeded
    engine = make_engine(_settings(folder).db_url)
    app = create_app(Context(settings=_settings(folder), engine=engine, catalog=catalog))
    yield Fuzzed(request.param, app, {"Authorization": f"Bearer {tokens[IDENTITIES[request.param]]}"})


@pytest.fixture(scope="module", autouse=True)
def figures(request: pytest.FixtureRequest) -> Iterator[None]:
    """Print what the run covered, for the record: operations, requests, answers by class."""
    yield
    if SENT:
        operations = len({operation for _, operation in SENT})
        answers = ", ".join(f"{n} {kind}" for kind, n in sorted(ANSWERS.items()))
        line = f"OpenAPI fuzz: {operations} operations, {sum(SENT.values())} requests ({answers})"
        capture = request.config.pluginmanager.get_plugin("capturemanager")
        with capture.global_and_fixture_disabled():
            print(f"\n{line}")


def _document_app() -> object:
    """The app as far as its OpenAPI document goes: no database is touched to build it."""
    return create_app(Context(settings=_settings(Path("unused")), engine=None, catalog=load_catalog()))


# Loaded when the module is collected, so that every operation is a test of its own; the requests go to the
# app of the `fuzzed` fixture, on a seeded database.
_DOCUMENT_APP = _document_app()
# Not /api/logout: it would end the very session the fuzzer asks with (tests/integration/test_uploads.py has it).
schema = schemathesis.openapi.from_dict(_DOCUMENT_APP.openapi()).exclude(path="/api/logout")
schema.app = _DOCUMENT_APP


def _what_was_wrong(status: int, body: bytes) -> str | None:
    """The complaint about a 4xx body that does not say what was wrong, or None when it does."""
    try:
        detail = json.loads(body).get("detail")
    except (ValueError, AttributeError):
        return f"the body is not a JSON object: {body[:200]!r}"
    if not isinstance(detail, str) or not detail.strip():
        return f"`detail` is not a sentence: {detail!r}"
    if status == 422 and ":" not in detail:
        return f"a 422 whose detail names no field: {detail!r}"
    return None


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_it_answers_every_request_without_a_server_error_and_says_what_was_wrong(
    case: schemathesis.Case, fuzzed: Fuzzed
) -> None:
    response = case.call(headers=fuzzed.headers, app=fuzzed.app)
    SENT[(fuzzed.identity, case.operation.label)] += 1
    ANSWERS[f"{response.status_code // 100}xx"] += 1
    request = f"{case.method} {case.formatted_path} {case.query or ''} -> {response.status_code}"
    assert response.status_code < 500, f"{request}: {response.content[:300]!r}"
    if 400 <= response.status_code < 500:
        complaint = _what_was_wrong(response.status_code, response.content)
        assert complaint is None, f"{request}: {complaint}"


# Issue 17, item 9: out-of-range values reached the database or the calendar and came back as 500s.
OUT_OF_RANGE = [
    ("/dashboard?from=0001-01-01", "from"),
    ("/dashboard?to=9999-12-31", "to"),
    ("/dashboard/findings?from=0001-01-01&to=0001-02-01", "from"),
    ("/dashboard/findings?page=46116860184273880", "page"),
    ("/dashboard/export.xlsx?table=findings&from=0001-01-01", "from"),
    ("/dashboard/report.pdf?month=0001-01", "month"),
    ("/dashboard/upward?month=0001-01", "month"),
    ("/dashboard/upward.pdf?quarter=9999Q4", "quarter"),
    ("/dashboard/ledger.xlsx?from=0001-01-01", "from"),
    ("/api/stats/closure?from=0001-01-01", "from"),
    ("/api/stats/closure?facility_id=9223372036854775808", "facility_id"),
    ("/api/findings/9223372036854775808", "finding_id"),
    ("/api/findings/2147483648", "finding_id"),
    ("/api/findings?facility_id=9223372036854775808", "facility_id"),
    ("/api/findings?offset=9223372036854775808", "offset"),
    # The same ids on the pages, which the document leaves out.
    ("/findings/9223372036854775808", "finding_id"),
    ("/inspect/9223372036854775808", "facility_id"),
    ("/inspect/done/9223372036854775808", "inspection_id"),
    ("/inspections/9223372036854775808/record.pdf", "inspection_id"),
    ("/orders/9223372036854775808?token=x", "order_id"),
]


@pytest.mark.parametrize(("url", "field"), OUT_OF_RANGE)
async def test_it_answers_an_out_of_range_value_422_naming_it(
    url: str, field: str, seeded: tuple[Path, Catalog, dict[str, str]]
) -> None:
    folder, catalog, tokens = seeded
    engine = make_engine(_settings(folder).db_url)
    app = create_app(Context(settings=_settings(folder), engine=engine, catalog=catalog))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            response = await client.get(url, headers={"Authorization": f"Bearer {tokens['lead']}"})
    finally:
        await engine.dispose()
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith(f"{field}: "), response.json()


async def test_it_answers_an_inspection_of_an_out_of_range_facility_422(
    seeded: tuple[Path, Catalog, dict[str, str]],
) -> None:
    folder, catalog, tokens = seeded
    engine = make_engine(_settings(folder).db_url)
    app = create_app(Context(settings=_settings(folder), engine=engine, catalog=catalog))
    body = {
        "facility_id": 2**63,
        "mode": "unannounced",
        "client_ref": "out-of-range",
        "items": [{"item": catalog.items(facility_type="nursing_home")[0].code, "result": "fail"}],
    }
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            response = await client.post(
                "/api/inspections", json=body, headers={"Authorization": f"Bearer {tokens['inspector']}"}
            )
    finally:
        await engine.dispose()
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "facility_id"
