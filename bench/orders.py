"""Orders to print and mail, for bench/render.py and bench/mail.py: a fresh database (SQLite file, or the
PostgreSQL one given) migrated to head, facilities and people written straight into their tables, and each order
raised as tracker raises it (`report_inspection`, then `issue_order`), with its order mail queued by
`tracker.service.notify.order_issued` as the worker queues it (attachment `order-pdf:<id>`)."""

from __future__ import annotations

import asyncio
import os
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from tracker.checklists import load_catalog
from tracker.clock import FixedClock
from tracker.config import Settings
from tracker.domain.model import Actor, Role
from tracker.domain.policy import PolicySettings
from tracker.passwords import hash_password
from tracker.service.context import Context
from tracker.service.loop import issue_order
from tracker.service.notify import order_issued
from tracker.service.reporting import InspectionInput, ItemResult, report_inspection
from tracker.store.db import make_engine
from tracker.store.migrate import upgrade_async
from tracker.store.tables import facilities, users

FACILITY_TYPE = "nursing_home"
# A Monday morning, far from any holiday: every order's deadlines fall on ordinary working days.
T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def rss_mb(pid: int) -> float:
    """A process's resident memory (VmRSS), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def settings_for(url: str, data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=url,
        secret_key="bench-secret-key-0123456789abcdef",
        base_url="http://tracker.bench",
    )


async def fresh_database(url: str) -> AsyncEngine:
    await upgrade_async(url)
    return make_engine(url)


async def make_orders(engine: AsyncEngine, settings: Settings, n: int, per_order: int) -> list[int]:
    """`n` orders of `per_order` general findings each (ten facilities in turn), every one's order mail queued."""
    catalog = load_catalog()
    ctx = Context(settings=settings, engine=engine, catalog=catalog, clock=FixedClock(T0))
    items = [
        i
        for i in catalog.items(facility_type=FACILITY_TYPE)
        if i.severity == "general" and not any(i.code in r.any_of_items for r in catalog.rules)
    ][:per_order]
    password = hash_password("bench-pass-123")
    async with engine.begin() as conn:
        sites = []
        for k in range(1, 11):
            code = f"B{k:03d}"
            added = await conn.execute(
                insert(facilities).values(
                    code=code,
                    name=f"测试敬老院 {code}",
                    type=FACILITY_TYPE,
                    town="汇龙镇",
                    head_name=f"负责人{code}",
                    head_email=f"head-{code.lower()}@example.cn",
                )
            )
            sites.append(added.inserted_primary_key[0])
        inspector = await conn.execute(
            insert(users).values(
                username="inspector",
                password_hash=password,
                role=Role.INSPECTOR.value,
                name="王检查",
                email="inspector@example.cn",
                active=True,
                warrant_no="32060020261234",
            )
        )
    actor = Actor(inspector.inserted_primary_key[0], "inspector", Role.INSPECTOR, None, None)
    order_ids = []
    for k in range(n):
        at = T0 + timedelta(seconds=k)
        reported = await report_inspection(
            engine,
            catalog,
            actor,
            InspectionInput(
                sites[k % len(sites)],
                "routine",
                f"bench-{k}",
                [ItemResult(i.code, "fail", f"检查发现隐患 {k}-{j}") for j, i in enumerate(items)],
            ),
            at,
        )
        async with engine.begin() as conn:
            event = await issue_order(conn, reported.inspection_id, PolicySettings(), at)
            assert event is not None
            await order_issued(conn, ctx, event.order_id, event.finding_ids, at)
        order_ids.append(event.order_id)
        if (k + 1) % max(1, n // 10) == 0:
            log(f"orders: {k + 1}/{n}")
    return order_ids


def run(main) -> None:
    asyncio.run(main)
