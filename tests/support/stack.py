"""The whole product in one test: the FastAPI app over httpx, and the worker, relay and mailer as tasks,
against a real nats-server, a real database and a real SMTP server."""

from __future__ import annotations

import asyncio
import functools
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.migrated import migrate_or_copy
from tracker.checklists import Catalog, load_catalog
from tracker.clock import Clock, SystemClock
from tracker.config import Settings
from tracker.domain.policy import PolicySettings
from tracker.events.relay import run_relay
from tracker.handlers.consuming import start_broker
from tracker.mail.sender import run_mailer
from tracker.service.admin import add_user
from tracker.service.context import Context
from tracker.store.db import make_engine
from tracker.store.tables import facilities, mail, outbox
from tracker.web.app import create_app

PASSWORD = "test-pass-123"
SECRET = "test-secret-key-0123456789-abcdefghijkl"


async def prepared_engine(url: str) -> AsyncEngine:
    """An engine on the database at `url`, at the head revision (a new database is a copy of a migrated one)."""
    await migrate_or_copy(url)
    return make_engine(url)


async def add_facility(
    engine: AsyncEngine,
    code: str,
    *,
    type_: str = "nursing_home",
    town: str = "汇龙镇",
    email: str | None = None,
) -> int:
    async with engine.begin() as conn:
        result = await conn.execute(
            insert(facilities).values(
                code=code,
                name=f"测试敬老院 {code}",
                type=type_,
                town=town,
                head_name=f"负责人{code}",
                head_email=email or f"head-{code.lower()}@example.cn",
            )
        )
        return result.inserted_primary_key[0]


async def add_people(engine: AsyncEngine, facility_code: str, town: str = "汇龙镇") -> None:
    """One person of each role; the facility head belongs to `facility_code`."""
    await add_user(
        engine, role="inspector", username="inspector", password=PASSWORD, email="inspector@mzj.cn"
    )
    await add_user(
        engine,
        role="facility_head",
        username="head",
        password=PASSWORD,
        email=f"head-{facility_code.lower()}@example.cn",
        facility=facility_code,
    )
    await add_user(
        engine, role="town_officer", username="town", password=PASSWORD, email="town@mzj.cn", town=town
    )
    await add_user(engine, role="section_chief", username="chief", password=PASSWORD, email="chief@mzj.cn")
    await add_user(engine, role="bureau_lead", username="lead", password=PASSWORD, email="lead@mzj.cn")
    await add_user(engine, role="admin", username="admin", password=PASSWORD, email="admin@mzj.cn")


def settings_for(tmp: Path, database_url: str, nats_url: str, smtp_url: str) -> Settings:
    return Settings(
        data_dir=tmp,
        database_url=database_url,
        nats_url=nats_url,
        smtp_url=smtp_url,
        secret_key=SECRET,
        base_url="http://tracker.test",
        mailer_poll_seconds=0.1,
        mail_from="tracker@test",
    )


@dataclass
class Stack:
    settings: Settings
    engine: AsyncEngine
    catalog: Catalog
    clock: Clock = field(default_factory=SystemClock)
    policy: PolicySettings = field(default_factory=PolicySettings)
    ctx: Context = field(init=False)
    client: httpx.AsyncClient = field(init=False)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task] = field(default_factory=list)
    broker: Any = None

    def __post_init__(self) -> None:
        self.ctx = Context(
            settings=self.settings,
            engine=self.engine,
            catalog=self.catalog,
            policy=self.policy,
            clock=self.clock,
        )
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(self.ctx)), base_url="http://tracker.test"
        )

    async def start(self, *, worker: bool = True, relay: bool = True, mailer: bool = True) -> None:
        if relay:
            self.tasks.append(
                asyncio.create_task(
                    run_relay(
                        self.engine,
                        self.settings.nats_servers,
                        self.clock,
                        self.stop,
                        poll_seconds=0.05,
                        replicas=self.settings.stream_replicas,
                    )
                )
            )
        if worker:
            await self.start_worker()
        if mailer:
            self.tasks.append(
                asyncio.create_task(
                    run_mailer(
                        self.engine,
                        self.settings.smtp_url,
                        self.settings.mail_sender,
                        self.clock,
                        self.stop,
                        0.1,
                        retry_base=0.3,
                        settings=self.settings,
                    )
                )
            )

    async def start_worker(self) -> None:
        await self.wait_for(self._streams_exist, what="the relay to declare the streams")
        self.broker = await start_broker(self.ctx, self.settings.nats_servers)

    async def _streams_exist(self) -> bool:
        import nats
        from nats.js.errors import NotFoundError

        nc = await nats.connect(self.settings.nats_servers)
        try:
            await nc.jetstream().stream_info("TRACKER")
            return True
        except (NotFoundError, TimeoutError):  # not declared yet, or (in a cluster) no stream leader yet
            return False
        finally:
            await nc.close()

    async def close(self) -> None:
        self.stop.set()
        for task in self.tasks:
            try:
                await asyncio.wait_for(task, 10)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()
        if self.broker is not None:
            await self.broker.stop()
        await self.client.aclose()
        await self.engine.dispose()

    async def token(self, username: str) -> dict[str, str]:
        response = await self.client.post("/api/token", json={"username": username, "password": PASSWORD})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    async def wait_for(
        self, predicate: Callable[[], Any], timeout: float = 60.0, what: str = "condition"
    ) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")

    async def mail_rows(self, kind: str | None = None) -> list[Any]:
        query = select(mail).order_by(mail.c.id)
        if kind:
            query = query.where(mail.c.kind == kind)
        async with self.engine.connect() as conn:
            return list((await conn.execute(query)).all())

    async def unpublished(self) -> int:
        async with self.engine.connect() as conn:
            return len((await conn.execute(select(outbox.c.id).where(outbox.c.published_at.is_(None)))).all())


def now() -> datetime:
    return datetime.now(UTC)


def login_token(login_page: str) -> str:
    """The anti-forgery value the login page's form posts back (its cookie came with the page)."""
    found = re.search(r'name="login_token" value="([^"]+)"', login_page)
    assert found, login_page
    return found.group(1)


async def make_stack(
    tmp: Path,
    database_url: str,
    nats_url: str,
    smtp_url: str,
    *,
    cls: type[Stack] = Stack,
    settings: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Stack:
    engine = await prepared_engine(database_url)
    return cls(
        settings=settings_for(tmp, database_url, nats_url, smtp_url).model_copy(update=settings or {}),
        engine=engine,
        catalog=kwargs.pop("catalog", None) or default_catalog(),
        **kwargs,
    )


@functools.cache
def default_catalog() -> Catalog:
    """The checklists as shipped, read once per test run: reading them takes a second or two, and a Catalog is
    read-only."""
    return load_catalog()
