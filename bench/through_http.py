"""The pipeline through HTTP, as a phone reaches it: `POST /api/inspections` at a steady rate to tracker's roles
running as `tracker up` runs them (web, relay, worker(s), mailer: each `python -m tracker <role>`), with an
aiosmtpd sink in the bench's process standing for the mail server.

Two phases on one fresh database: at rest (one inspection a second) and under load (50 a second). For each
inspection: the POST's send time (the bench's clock), its order mail row's `created_at` (queued) and `sent_at`
(accepted by the sink), both written by tracker's SystemClock on the same machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from parts import (
    PASSWORD,
    RoleProcess,
    add_facilities,
    add_people,
    bench_items,
    cpu_seconds,
    inspection,
    log,
    ms,
    percentile,
    process_tree,
    role_env,
    seconds,
    wait_for,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from tracker.checklists import load_catalog
from tracker.store.db import make_engine
from tracker.store.migrate import upgrade
from tracker.store.tables import mail, orders


@dataclass
class Phase:
    name: str
    rate: float  # inspections a second, as sent
    seconds: float  # how long they were sent for
    findings_each: int
    sent: dict[int, datetime] = field(default_factory=dict)  # inspection id: when its POST was sent
    answers: list[float] = field(default_factory=list)  # seconds of each POST
    failed: list[str] = field(default_factory=list)
    queued: list[float] = field(default_factory=list)  # POST sent -> order mail row created
    sunk: list[float] = field(default_factory=list)  # POST sent -> order mail accepted by the sink
    ordered: int = 0
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds each process spent over the phase


def to_payload(number: int, facility_id: int, items: list[Any], run: str) -> dict[str, Any]:
    data = inspection(number, facility_id, items)
    return {
        "facility_id": data.facility_id,
        "mode": data.mode,
        "client_ref": f"{run}-{data.client_ref}",
        "items": [{"item": i.item, "result": i.result, "note": i.note} for i in data.items],
    }


class Phone:
    """The inspectors' phones, as one aiohttp session logged in as the inspector. aiohttp rather than httpx:
    the bench shares the machine's cores with the roles it measures, and httpx spent about as much CPU on a
    POST as the web role did to answer it."""

    def __init__(self, base_url: str) -> None:
        connector = aiohttp.TCPConnector(limit=500)
        self.session = aiohttp.ClientSession(
            base_url, connector=connector, timeout=aiohttp.ClientTimeout(total=120)
        )
        self.headers: dict[str, str] = {}

    async def __aenter__(self) -> Phone:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()

    async def up(self) -> bool:
        try:
            async with self.session.get("/healthz") as answer:
                return answer.status == 200
        except aiohttp.ClientError:
            return False

    async def log_in(self) -> None:
        body = {"username": "inspector", "password": PASSWORD}
        async with self.session.post("/api/token", json=body) as answer:
            answer.raise_for_status()
            self.headers = {"Authorization": f"Bearer {(await answer.json())['access_token']}"}

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        """The status and the answer (JSON when 201, else the start of its text)."""
        async with self.session.post(path, json=body, headers=self.headers) as answer:
            if answer.status == 201:
                return answer.status, await answer.json()
            return answer.status, (await answer.text())[:200]


async def send_steadily(
    phone: Phone, phase: Phase, facility_ids: list[int], items: list[Any], first: int
) -> None:
    """POST `phase.rate` inspections a second for `phase.seconds`, each at its time whatever the answers
    before it (an open loop: a slow server does not slow the senders down)."""
    count = round(phase.rate * phase.seconds)
    start = time.monotonic()

    async def post(number: int) -> None:
        body = to_payload(number, facility_ids[number % len(facility_ids)], items, phase.name)
        sent = datetime.now(UTC)
        began = time.perf_counter()
        try:
            status, answer = await phone.post("/api/inspections", body)
        except (aiohttp.ClientError, TimeoutError) as error:
            phase.failed.append(repr(error))
            return
        phase.answers.append(time.perf_counter() - began)
        if status != 201:
            phase.failed.append(f"{status} {answer}")
            return
        phase.sent[answer["id"]] = sent

    tasks = []
    for n in range(count):
        delay = start + n / phase.rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(post(first + n)))
    await asyncio.gather(*tasks)


async def run_http(args: argparse.Namespace, data_dir: Path, nats_url: str, url: str) -> list[Phase]:
    # The SMTP sink is the tests' aiosmtpd recorder, beside the product rather than in it.
    from tests.support.services import SmtpRecorder, free_port

    log(f"through HTTP: migrating a fresh {url.split(':')[0]} database")
    await asyncio.to_thread(upgrade, url)
    items = bench_items(load_catalog(), args.per_inspection)
    setup = make_engine(url)
    try:
        facility_ids = await add_facilities(setup, args.facilities)
        await add_people(setup, facility_ids)
    finally:
        await setup.dispose()

    sink = SmtpRecorder()
    sink.start()
    port = free_port()
    env = role_env(url, nats_url, data_dir, smtp_url=sink.url)
    logs = data_dir / "http"
    logs.mkdir(exist_ok=True)
    roles = [
        RoleProcess(env, logs / "web.log", "web", "--port", str(port)),
        RoleProcess(env, logs / "relay.log", "relay"),
        *(RoleProcess(env, logs / f"worker{n}.log", "worker") for n in range(1, args.workers + 1)),
        RoleProcess(env, logs / "mailer.log", "mailer"),
    ]
    reader = create_async_engine(url, connect_args={"timeout": 30} if url.startswith("sqlite") else {})
    phases = [
        Phase("at rest", args.rest_rate, args.rest_seconds, args.per_inspection),
        Phase("under load", args.load_rate, args.load_seconds, args.per_inspection),
    ]

    def check() -> None:
        for role in roles:
            role.check()

    try:
        for role in roles:
            await role.start()
        async with Phone(f"http://127.0.0.1:{port}") as phone:
            await wait_for(phone.up, 60, "the web role", check)
            await phone.log_in()
            # One inspection first, through every role: the consumers exist and the processes are warm.
            warm = Phase("warm-up", 1, 1, args.per_inspection)
            await send_steadily(phone, warm, facility_ids, items, 0)
            await until_mailed(reader, warm, check, sunk=True, timeout=60)

            first = 1
            for phase in phases:
                log(f"through HTTP, {phase.name}: {phase.rate:g} inspections/s for {phase.seconds:g} s")
                before = cpu_by_process(roles)
                await send_steadily(phone, phase, facility_ids, items, first)
                first += round(phase.rate * phase.seconds)
                if phase.failed:
                    log(f"{len(phase.failed)} POSTs failed, first: {phase.failed[0]}")
                await until_mailed(reader, phase, check, sunk=phase is phases[0], timeout=args.timeout)
                after = cpu_by_process(roles)
                phase.cpu = {name: after[name] - before.get(name, 0.0) for name in after}
    finally:
        for role in reversed(roles):
            await role.stop()
        sink.stop()
        await reader.dispose()
    return phases


def cpu_by_process(roles: list[RoleProcess]) -> dict[str, float]:
    """CPU seconds so far of each role (with its children: the mailer's printers), of the nats-server the bench
    started, and of the bench itself (the HTTP client and the SMTP sink)."""
    tree = process_tree()
    found: dict[str, float] = {}
    for role in roles:
        if role.process is not None:
            found[role.log_path.stem] = cpu_seconds(role.process.pid, tree)  # web, relay, worker1, mailer
    for pid in tree.get(os.getpid(), []):
        if Path(f"/proc/{pid}/comm").exists() and "nats" in Path(f"/proc/{pid}/comm").read_text():
            found["nats-server"] = cpu_seconds(pid, tree)
    found["bench (HTTP client, SMTP sink)"] = cpu_seconds(os.getpid())
    return found


async def until_mailed(reader: Any, phase: Phase, check: Any, sunk: bool, timeout: float) -> None:
    """Wait until every inspection of `phase` has its order mail queued (and, with `sunk`, accepted by the
    sink), then read the latencies."""

    async def rows() -> list[Any]:
        query = (
            select(orders.c.inspection_id, mail.c.created_at, mail.c.sent_at)
            .join(mail, mail.c.about == "order:" + orders.c.id.cast(mail.c.about.type))
            .where(mail.c.kind == "order", orders.c.inspection_id.in_(list(phase.sent)))
        )
        async with reader.connect() as conn:
            return list((await conn.execute(query)).all())

    async def done() -> bool:
        found = await rows()
        return len(found) == len(phase.sent) and (not sunk or all(r.sent_at for r in found))

    try:
        await wait_for(done, timeout, f"the order mails of {phase.name}", check)
    except TimeoutError as error:
        log(str(error))
    found = await rows()
    phase.ordered = len(found)
    phase.queued = [seconds(phase.sent[r.inspection_id], r.created_at) for r in found]
    phase.sunk = [seconds(phase.sent[r.inspection_id], r.sent_at) for r in found if r.sent_at]


def print_http(args: argparse.Namespace, phases: list[Phase]) -> None:
    print(
        f"through HTTP: POST /api/inspections ({args.per_inspection} failed items each) to `python -m tracker "
        f"web`; relay, {args.workers} worker(s) and mailer as their own processes; an aiosmtpd sink"
    )
    for phase in phases:
        count = len(phase.sent)
        print(
            f"  {phase.name}: {phase.rate:g} inspections/s for {phase.seconds:g} s; {count} accepted, "
            f"{len(phase.failed)} failed, {phase.ordered} ordered with their mail queued"
        )
        if phase.answers:
            print(
                f"    POST answered                          p50 {ms(percentile(phase.answers, 50)):>8}, "
                f"p99 {ms(percentile(phase.answers, 99)):>8}, max {ms(max(phase.answers)):>8}"
            )
        if phase.queued:
            print(
                f"    report -> order mail queued            p50 {ms(percentile(phase.queued, 50)):>8}, "
                f"p99 {ms(percentile(phase.queued, 99)):>8}, max {ms(max(phase.queued)):>8}"
            )
        if phase.sunk:
            print(
                f"    report -> order mail in the sink       p50 {ms(percentile(phase.sunk, 50)):>8}, "
                f"p99 {ms(percentile(phase.sunk, 99)):>8}, max {ms(max(phase.sunk)):>8}"
            )
        if phase.cpu and count:
            used = ", ".join(f"{name} {1000 * cpu / count:.1f}" for name, cpu in phase.cpu.items())
            print(f"    CPU ms per inspection, from sending the first to its last order mail: {used}")
    print(flush=True)
