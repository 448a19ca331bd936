"""The reporting pipeline on the embedded default (SQLite + nats-server), or PostgreSQL: latency through HTTP,
then throughput against two baselines.

First, through HTTP (bench/through_http.py): tracker's roles as their own processes, inspections POSTed at
one a second (at rest) and then at 50 a second (under load); from each POST to its order mail queued, and
(at rest) to the mail accepted by an SMTP sink.

Then throughput: findings are reported through the service layer (`report_inspection`), the relay publishes
the outbox to JetStream, the worker's consumers issue one rectification order per inspection and queue its
mail. A finding is done when the `order` mail row of its order exists. No mailer runs here.

Baselines, measured in the same run, on the same machine and the same nats-server:
  A  raw JetStream: N messages of the pipeline's event sizes published with nats-py's publish_async (acks
     gathered in chunks of 500), then read by a pull consumer fetching 100 at a time;
  B  raw SQL: the pipeline's own N finding rows, as reported, inserted into a copy of the findings table
     with SQLAlchemy async `insert()`, 100 rows per commit, on the same database kind.

    python bench/pipeline.py [--quick] [--database sqlite|postgresql] [--findings N] [--no-http|--http-only]

Figures go to stdout, progress to stderr. The last line is `ratio <pipeline findings/s ÷ slower baseline>`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import nats
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, StorageType, StreamConfig
from nats.js.errors import NotFoundError
from parts import (
    BASE_URL,
    ROOT,
    SECRET,
    InProcessWorker,
    Progress,
    RoleProcess,
    add_facilities,
    add_people,
    bench_items,
    inspection,
    log,
    ms,
    percentile,
    role_env,
    seconds,
    wait_for,
)
from sqlalchemy import Column, Index, MetaData, Table, func, insert, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from through_http import print_http, run_http

from tracker.checklists import Item, load_catalog
from tracker.clock import SystemClock
from tracker.config import Settings
from tracker.domain.model import Status
from tracker.events.codec import encode
from tracker.events.relay import ensure_streams, run_relay
from tracker.events.schemas import FindingReported, InspectionSubmitted
from tracker.events.stream import DUPLICATE_WINDOW, STREAM_NAME
from tracker.handlers.reactions import REACTIONS
from tracker.service.context import Context
from tracker.service.reporting import report_inspection
from tracker.store.db import make_engine
from tracker.store.migrate import upgrade
from tracker.store.tables import findings, mail, orders, outbox
from tracker.store.write_turns import TurnTakingConnection

PUBLISH_CHUNK = 500
FETCH_BATCH = 100
INSERT_BATCH = 100


class LockTimes:
    """Times the turns at SQLite's write lock taken in this process (tracker.store.write_turns: every write
    transaction of tracker's engines takes one, whether through aiosqlite or the group writer): the wait for
    the turn and how long it is then held, from the turn taken to the commit or rollback that gives it back."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.holds: list[float] = []
        try_turn, give = TurnTakingConnection.try_turn, TurnTakingConnection.give_turn

        # Every way to the turn goes through try_turn: the group writer's tries on its event loop, and the
        # blocking take_turn of the other connections. A wait runs from the first try that failed.
        def timed_try(conn: TurnTakingConnection) -> bool:
            if conn._holding:
                return True
            asked = getattr(conn, "bench_asked", None) or time.perf_counter()
            if not try_turn(conn):
                conn.bench_asked = asked  # type: ignore[attr-defined]
                return False
            conn.bench_asked = None  # type: ignore[attr-defined]
            conn.bench_taken = time.perf_counter()  # type: ignore[attr-defined]
            self.waits.append(conn.bench_taken - asked)  # type: ignore[attr-defined]
            return True

        def timed_give(conn: TurnTakingConnection) -> None:
            if conn._holding:
                self.holds.append(time.perf_counter() - conn.bench_taken)  # type: ignore[attr-defined]
            give(conn)

        TurnTakingConnection.try_turn = timed_try  # type: ignore[method-assign]
        TurnTakingConnection.give_turn = timed_give  # type: ignore[method-assign]


# ----------------------------------------------------------------------------------------------------------
# The pipeline run
# ----------------------------------------------------------------------------------------------------------


@dataclass
class PipelineResult:
    findings: int
    inspections: int
    submit_seconds: float  # first to last reported_at
    e2e_seconds: float  # first reported_at to last order mail created_at
    wall_seconds: float  # first submission started to the last order mail seen by polling
    latencies: list[float]  # per finding: reported_at to its order mail's created_at
    calls: list[float]  # seconds of each report_inspection call
    hops: dict[str, list[float]]  # per inspection, seconds of each hop
    consumers: dict[str, tuple[int, int]]  # consumer: (messages in the stream for it, deliveries)
    locks: dict[str, LockTimes]  # role: its engine's write transactions
    relay_poll_seconds: float
    database_url: str
    payload_sizes: dict[str, float] = field(default_factory=dict)  # subject: mean payload bytes
    failures: list[float] = field(default_factory=list)  # seconds of each call that failed and was repeated

    @property
    def rate(self) -> float:
        return self.findings / self.e2e_seconds


def reader_engine(url: str) -> AsyncEngine:
    """An engine for the bench's own reads. tracker's engines take SQLite's write lock for every transaction
    (BEGIN IMMEDIATE), reads too; polling through one would compete with the pipeline. This one does not."""
    return create_async_engine(url, connect_args={"timeout": 30})


async def run_pipeline(args: argparse.Namespace, data_dir: Path, nats_url: str, url: str) -> PipelineResult:
    n, k = args.findings, args.per_inspection
    count = n // k
    log(f"migrating a fresh {url.split(':')[0]} database")
    await asyncio.to_thread(upgrade, url)
    catalog = load_catalog()
    items = bench_items(catalog, k)
    settings = Settings(
        data_dir=data_dir, database_url=url, nats_url=nats_url, secret_key=SECRET, base_url=BASE_URL
    )
    clock = SystemClock()

    # One engine per role, as separate processes have; the bench reads through its own.
    web_engine, relay_engine, reader = make_engine(url), make_engine(url), reader_engine(url)
    turns = LockTimes()
    locks = {"submitters and relay" if args.worker == "subprocess" else "submitters, relay and worker": turns}
    worker_engine = None
    facility_ids = await add_facilities(web_engine, min(args.facilities, count))
    actor = await add_people(web_engine, facility_ids)

    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_streams(js, settings.stream_replicas)

    workers: list[InProcessWorker | RoleProcess]
    if args.worker == "inprocess":
        worker_engine = make_engine(url)
        ctx = Context(settings=settings, engine=worker_engine, catalog=catalog, clock=clock)
        workers = [InProcessWorker(ctx, settings.nats_servers, data_dir / "worker.log")]
    else:
        env = role_env(url, nats_url, data_dir)
        workers = [RoleProcess(env, data_dir / f"worker{n}.log") for n in range(1, args.workers + 1)]

    def check_workers() -> None:
        for worker in workers:
            worker.check()

    async def consumers_ready() -> bool:
        for reaction in REACTIONS:
            try:
                await js.consumer_info(STREAM_NAME, reaction.consumer)
            except NotFoundError:
                return False
        return True

    async def order_mails() -> int:
        async with reader.connect() as conn:
            query = select(func.count()).select_from(mail).where(mail.c.kind == "order")
            return await conn.scalar(query) or 0

    stop = asyncio.Event()
    relay_task: asyncio.Task[None] | None = None
    submitters: list[asyncio.Task[None]] = []
    failures: list[float] = []  # seconds of each report_inspection call that failed
    try:
        for worker in workers:
            await worker.start()
        await wait_for(consumers_ready, 60, "the worker's durable consumers", check_workers)
        relay_task = asyncio.create_task(
            run_relay(relay_engine, settings.nats_servers, clock, stop, settings.relay_poll_seconds)
        )

        log(f"pipeline: {count} inspections x {k} findings from {args.submitters} submitters")
        submitted = Progress("findings submitted", count * k)
        queued = Progress("findings with their order mail queued", count * k)
        calls: list[float] = []
        next_number = 0

        async def submitter() -> None:
            nonlocal next_number
            while next_number < count:
                number, next_number = next_number, next_number + 1
                data = inspection(number, facility_ids[number % len(facility_ids)], items)
                for attempt in range(1, 4):
                    called = time.perf_counter()
                    try:
                        result = await report_inspection(web_engine, catalog, actor, data, clock.now())
                        break
                    except OperationalError as error:
                        # "database is locked": the busy timeout (30 s) ran out waiting for the write lock.
                        # A phone would send the inspection again with the same client_ref; so does this.
                        failures.append(time.perf_counter() - called)
                        log(f"report_inspection failed (attempt {attempt}), sending it again: {error.orig!r}")
                        if attempt == 3:
                            raise
                calls.append(time.perf_counter() - called)
                if len(result.finding_ids) != k:
                    raise RuntimeError(f"inspection {number}: {len(result.finding_ids)} findings, not {k}")
                submitted.update(len(calls) * k)

        started = time.perf_counter()
        submitters = [asyncio.create_task(submitter()) for _ in range(args.submitters)]
        deadline = time.monotonic() + args.timeout
        mails = 0
        while mails < count:
            for task in submitters:
                if task.done() and task.exception() is not None:
                    await task  # raises the submitter's error
            if relay_task.done():
                relay_task.result()
                raise RuntimeError("the relay stopped")
            check_workers()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{mails}/{count} order mails after {args.timeout:.0f} s")
            await asyncio.sleep(0.1)
            mails = await order_mails()
            queued.update(mails * k)
        wall = time.perf_counter() - started
        await asyncio.gather(*submitters)
    finally:
        for task in submitters:
            task.cancel()
        await asyncio.gather(*submitters, return_exceptions=True)
        stop.set()
        if relay_task is not None:
            try:
                await asyncio.wait_for(relay_task, 15)
            except (TimeoutError, asyncio.CancelledError):
                relay_task.cancel()
            except Exception as error:  # noqa: BLE001 - the loop above raised it already if it mattered
                log(f"relay ended with {error!r}")
        for worker in workers:
            await worker.stop()

    try:
        log("reading the timestamps back")
        deliveries = {}
        for reaction in REACTIONS:
            info = await js.consumer_info(STREAM_NAME, reaction.consumer)
            deliveries[reaction.consumer] = info.delivered.consumer_seq
        stored = await stream_times(js, {InspectionSubmitted.subject(): "inspection_id"})
        result = await measure(
            reader, count * k, count, wall, calls, stored, deliveries, locks, settings.relay_poll_seconds, url
        )
        result.failures = failures
        return result
    finally:
        await nc.close()
        for engine in (web_engine, relay_engine, reader, worker_engine):
            if engine is not None:
                await engine.dispose()


async def stream_times(js: JetStreamContext, keys: dict[str, str]) -> dict[str, dict[int, datetime]]:
    """For each subject, when JetStream stored each event (the server's timestamp), by the id in `keys`."""
    found: dict[str, dict[int, datetime]] = {}
    for n, (subject, key) in enumerate(keys.items()):
        durable = f"bench_probe_{n}"
        info = await js.add_consumer(
            STREAM_NAME,
            ConsumerConfig(durable_name=durable, filter_subject=subject, ack_policy=AckPolicy.NONE),
        )
        times: dict[int, datetime] = {}
        sub = await js.pull_subscribe_bind(durable, STREAM_NAME)
        got = 0
        while got < (info.num_pending or 0):
            for msg in await sub.fetch(PUBLISH_CHUNK, timeout=10):
                times.setdefault(json.loads(msg.data)[key], msg.metadata.timestamp)
                got += 1
        await sub.unsubscribe()
        await js.delete_consumer(STREAM_NAME, durable)
        found[subject] = times
    return found


async def measure(
    engine: AsyncEngine,
    n: int,
    inspections: int,
    wall: float,
    calls: list[float],
    stored: dict[str, dict[int, datetime]],
    deliveries: dict[str, int],
    locks: dict[str, LockTimes],
    relay_poll_seconds: float,
    url: str,
) -> PipelineResult:
    """The figures from the timestamps in the database (all from a SystemClock) and in JetStream."""
    async with engine.connect() as conn:
        finding_rows = (await conn.execute(select(findings.c.order_id, findings.c.reported_at))).all()
        mail_at = dict(
            (await conn.execute(select(mail.c.about, mail.c.created_at).where(mail.c.kind == "order"))).all()
        )
        order_rows = (
            await conn.execute(select(orders.c.id, orders.c.inspection_id, orders.c.issued_at))
        ).all()
        events = (await conn.execute(select(outbox.c.subject, outbox.c.payload))).all()
        submitted_at = dict(
            (
                await conn.execute(
                    select(findings.c.inspection_id, func.min(findings.c.reported_at)).group_by(
                        findings.c.inspection_id
                    )
                )
            ).all()
        )

    if len(finding_rows) != n or any(row.order_id is None for row in finding_rows):
        raise RuntimeError(f"expected {n} ordered findings in the database")
    latencies = [seconds(row.reported_at, mail_at[f"order:{row.order_id}"]) for row in finding_rows]
    reported = [row.reported_at for row in finding_rows]
    first, last_reported, last_mail = min(reported), max(reported), max(mail_at.values())

    sizes: dict[str, list[int]] = defaultdict(list)
    per_subject: dict[str, int] = defaultdict(int)
    for row in events:
        sizes[row.subject].append(len(row.payload.encode()))
        per_subject[row.subject] += 1
    in_stream_submitted = stored[InspectionSubmitted.subject()]
    hops: dict[str, list[float]] = defaultdict(list)
    for order in order_rows:
        t0 = submitted_at[order.inspection_id]
        t1 = in_stream_submitted[order.inspection_id]
        hops["relay: reported -> InspectionSubmitted in JetStream"].append(seconds(t0, t1))
        # The order's mail is queued in the transaction that issues it (its created_at is the now).
        hops["worker: -> issue_the_order begins, order mail queued"].append(seconds(t1, order.issued_at))
    consumers = {
        r.consumer: (per_subject.get(r.event.subject(), 0), deliveries[r.consumer])
        for r in REACTIONS
        if deliveries[r.consumer] or per_subject.get(r.event.subject())
    }
    return PipelineResult(
        findings=n,
        inspections=inspections,
        submit_seconds=seconds(first, last_reported),
        e2e_seconds=seconds(first, last_mail),
        wall_seconds=wall,
        latencies=latencies,
        calls=calls,
        hops=dict(hops),
        consumers=consumers,
        locks=locks,
        relay_poll_seconds=relay_poll_seconds,
        database_url=url,
        payload_sizes={subject: sum(v) / len(v) for subject, v in sizes.items()},
    )


# ----------------------------------------------------------------------------------------------------------
# Baseline A: raw JetStream
# ----------------------------------------------------------------------------------------------------------


@dataclass
class JetStreamResult:
    messages: int
    publish_seconds: float
    consume_seconds: float
    sizes: tuple[int, int]

    @property
    def rate(self) -> float:
        return self.messages / (self.publish_seconds + self.consume_seconds)


def event_payloads(items: list[Item], k: int) -> tuple[bytes, bytes]:
    """Real encoded events, with ids of the magnitude a 10,000-finding run reaches."""
    finding = encode(
        FindingReported(
            finding_id=10_000,
            inspection_id=1_000,
            facility_id=20,
            item_code=items[0].code,
            severity="general",
        )
    )
    submitted = encode(
        InspectionSubmitted(inspection_id=1_000, facility_id=20, finding_ids=list(range(10_000, 10_000 + k)))
    )
    return finding, submitted


async def raw_jetstream(nats_url: str, n: int, k: int, payloads: tuple[bytes, bytes]) -> JetStreamResult:
    """K FindingReported-sized messages to one InspectionSubmitted-sized one, as the pipeline has them."""
    finding, submitted = payloads
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        await js.add_stream(
            StreamConfig(
                name="BENCH_RAW",
                subjects=["bench.raw.>"],
                storage=StorageType.FILE,
                duplicate_window=DUPLICATE_WINDOW,
            )
        )
        progress = Progress("baseline A published", n)
        started = time.perf_counter()
        for start in range(0, n, PUBLISH_CHUNK):
            acks = []
            for i in range(start, min(n, start + PUBLISH_CHUNK)):
                # With a message id, as the relay publishes: the server deduplicates on it.
                payload = submitted if i % (k + 1) == k else finding
                acks.append(
                    await js.publish_async("bench.raw.event", payload, headers={"Nats-Msg-Id": f"raw-{i}"})
                )
            await asyncio.gather(*acks)
            progress.update(min(n, start + PUBLISH_CHUNK))
        published = time.perf_counter()
        sub = await js.pull_subscribe("bench.raw.>", durable="bench_raw", stream="BENCH_RAW")
        progress = Progress("baseline A consumed", n)
        got = 0
        while got < n:
            msgs = await sub.fetch(FETCH_BATCH, timeout=10)
            for msg in msgs:
                await msg.ack()
            got += len(msgs)
            progress.update(got)
        consumed = time.perf_counter()
        return JetStreamResult(n, published - started, consumed - published, (len(finding), len(submitted)))
    finally:
        await nc.close()


# ----------------------------------------------------------------------------------------------------------
# Baseline B: raw SQL inserts
# ----------------------------------------------------------------------------------------------------------


@dataclass
class SqlResult:
    rows: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


# Columns that ordering fills in later; a row goes into baseline B as report_inspection wrote it.
AS_REPORTED = {
    "status": Status.REPORTED.value,
    "order_id": None,
    "owner_user_id": None,
    "owner_name": None,
    "owner_email": None,
    "due_at": None,
    "due_day": None,
    "due_estimated": False,
    "remind_at": None,
    "next_escalation_at": None,
    "ordered_at": None,
}


async def reported_rows(url: str) -> list[dict[str, Any]]:
    """The pipeline's own finding rows, every column but the id, as they were when reported."""
    engine = reader_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(findings).order_by(findings.c.id))).mappings().all()
    finally:
        await engine.dispose()
    return [
        {name: AS_REPORTED.get(name, value) for name, value in row.items() if name != "id"} for row in rows
    ]


async def raw_sql(url: str, rows: list[dict[str, Any]]) -> SqlResult:
    # The findings table's columns, defaults and indexes, without its foreign keys (their tables are absent).
    metadata = MetaData()
    table = Table(
        "findings",
        metadata,
        *(
            Column(
                c.name,
                c.type,
                primary_key=c.primary_key,
                nullable=c.nullable,
                default=c.default.arg if c.default is not None else None,
            )  # type: ignore[attr-defined]
            for c in findings.columns
        ),
    )
    for index in findings.indexes:
        Index(index.name, *(table.c[c.name] for c in index.columns))
    engine = make_engine(url)  # tracker's engine: on SQLite WAL, synchronous=NORMAL
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        progress = Progress("baseline B inserted", len(rows))
        started = time.perf_counter()
        for start in range(0, len(rows), INSERT_BATCH):
            async with engine.begin() as conn:
                await conn.execute(insert(table), rows[start : start + INSERT_BATCH])
            progress.update(min(len(rows), start + INSERT_BATCH))
        return SqlResult(len(rows), time.perf_counter() - started)
    finally:
        await engine.dispose()


# ----------------------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------------------


def print_machine(args: argparse.Namespace) -> None:
    database = "one SQLite file (WAL)" if args.database == "sqlite" else "a throwaway PostgreSQL server"
    print(
        f"tracker pipeline benchmark on {database}, migrated with tracker.store.migrate.upgrade, and one "
        "nats-server (JetStream file storage) per phase"
    )
    print(f"  machine: {os.cpu_count()} cores; 1-minute load average {args.load_before:.1f} at the start")
    print(flush=True)


def print_pipeline(args: argparse.Namespace, p: PipelineResult) -> None:
    worker = (
        f"`python -m tracker worker` in {args.workers} child process(es)"
        if args.worker == "subprocess"
        else "build_broker(...) started in this process"
    )
    print(
        f"throughput: {p.findings} findings as {p.inspections} inspections of "
        f"{args.per_inspection} failed items; {args.submitters} concurrent submitters; "
        f"{min(args.facilities, p.inspections)} facilities"
    )
    print(
        "  submissions call tracker.service.reporting.report_inspection directly: "
        "the HTTP layer is NOT measured"
    )
    print(
        f"  relay: run_relay in this process (poll {p.relay_poll_seconds} s); worker: {worker}; "
        "mailer: not running"
    )
    print(f"  1-minute load average {os.getloadavg()[0]:.1f} at the end")
    print()
    print("pipeline (times from the database, all written by a SystemClock, and from JetStream)")
    print(
        f"  submission phase: first to last reported_at      {p.submit_seconds:8.2f} s "
        f"{p.findings / p.submit_seconds:8.0f} findings/s"
    )
    print(
        f"  end to end: first reported_at to last order mail {p.e2e_seconds:8.2f} s {p.rate:8.0f} findings/s"
    )
    print(
        f"  wall clock: first call to last order mail seen   {p.wall_seconds:8.2f} s "
        f"{p.findings / p.wall_seconds:8.0f} findings/s"
    )
    print(
        "  latency per finding, reported_at -> order mail created_at: "
        f"p50 {ms(percentile(p.latencies, 50))}, "
        f"p99 {ms(percentile(p.latencies, 99))}, max {ms(max(p.latencies))}"
    )
    print(
        f"  report_inspection call ({p.inspections} calls): p50 {ms(percentile(p.calls, 50))}, "
        f"p99 {ms(percentile(p.calls, 99))}, max {ms(max(p.calls))}"
    )
    if p.failures:
        print(
            f"  report_inspection FAILED {len(p.failures)} times with 'database is locked' (no write lock "
            f"within the busy timeout; longest {max(p.failures):.1f} s); each was sent again"
        )
    print("  hops per inspection                                           p50 /       p99 /       max")
    for name, values in p.hops.items():
        print(
            f"    {name:<56} {ms(percentile(values, 50)):>9} / {ms(percentile(values, 99)):>9} / "
            f"{ms(max(values)):>9}"
        )
    print("  consumers                 events  deliveries (more deliveries than events = redelivered)")
    for name, (events, delivered) in p.consumers.items():
        print(f"    {name:<24} {events:7d} {delivered:11d}")
    if any(lock.waits for lock in p.locks.values()):  # SQLite's only
        print(
            "  SQLite write lock (turns)               transactions   wait p50 / p99 / total"
            "      held p50 / max / total"
        )
    for role, lock in p.locks.items():
        if lock.waits:
            print(
                f"    {role:<36} {len(lock.waits):8d}  {ms(percentile(lock.waits, 50)):>8} / "
                f"{ms(percentile(lock.waits, 99)):>8} / {sum(lock.waits):6.1f} s   "
                f"{ms(percentile(lock.holds, 50)):>8} / {ms(max(lock.holds)):>8} / "
                f"{sum(lock.holds):6.1f} s"
            )
    if args.worker == "subprocess" and args.database == "sqlite":
        print("    (the worker runs in a child process; its transactions are not timed)")
    sizes = ", ".join(
        f"{subject.removeprefix('tracker.')} {size:.0f} B"
        for subject, size in sorted(p.payload_sizes.items())
    )
    print(f"  mean event sizes: {sizes}")
    print(flush=True)


def print_baseline_a(args: argparse.Namespace, js: JetStreamResult) -> None:
    print(
        f"baseline A: raw JetStream, {js.messages} messages of {js.sizes[0]} B (a FindingReported) and "
        f"{js.sizes[1]} B (an InspectionSubmitted), {args.per_inspection}:1, with Nats-Msg-Id"
    )
    print(
        f"  publish_async, acks gathered {PUBLISH_CHUNK} at a time {js.publish_seconds:7.2f} s "
        f"{js.messages / js.publish_seconds:8.0f} msg/s"
    )
    print(
        f"  pull consumer, fetch {FETCH_BATCH}, ack each          {js.consume_seconds:7.2f} s "
        f"{js.messages / js.consume_seconds:8.0f} msg/s"
    )
    print(
        f"  publish + consume                         {js.publish_seconds + js.consume_seconds:7.2f} s "
        f"{js.rate:8.0f} msg/s",
        flush=True,
    )


def print_baseline_b(args: argparse.Namespace, sql: SqlResult) -> None:
    print(
        f"baseline B: raw SQL on {args.database}, {sql.rows} finding rows (the findings columns and indexes, "
        f"no foreign keys), insert() {INSERT_BATCH} rows per commit"
    )
    print(f"  inserts                                   {sql.seconds:7.2f} s {sql.rate:8.0f} rows/s")
    print()


def print_table(p: PipelineResult, js: JetStreamResult, sql: SqlResult) -> None:
    slower = min(js.rate, sql.rate)
    table = [
        ("pipeline, end to end", f"{p.rate:.0f} findings/s", "1.000"),
        ("baseline A, raw JetStream publish + consume", f"{js.rate:.0f} msg/s", f"{p.rate / js.rate:.3f}"),
        (
            f"baseline B, raw SQL insert, {INSERT_BATCH} per commit",
            f"{sql.rate:.0f} rows/s",
            f"{p.rate / sql.rate:.3f}",
        ),
    ]
    print(f"| {'what':<44} | {'figure':>16} | pipeline ÷ figure |")
    print(f"| {'-' * 44} | {'-' * 16} | {'-' * 17} |")
    for what, figure, ratio in table:
        print(f"| {what:<44} | {figure:>16} | {ratio:>17} |")
    print(f"slower baseline: {'A, raw JetStream' if js.rate <= sql.rate else 'B, raw SQL'} ({slower:.0f}/s)")
    print(f"ratio {p.rate / slower:.3f}")


# ----------------------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--findings", type=int, default=5_000, help="findings to report (default 5000)")
    parser.add_argument(
        "--per-inspection", type=int, default=10, help="failed items per inspection (default 10)"
    )
    parser.add_argument(
        "--data",
        type=Path,
        help="an empty folder for the databases, the nats stores and the roles' logs "
        "(default: a temporary folder, removed afterwards)",
    )
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="a SQLite file (default), or a throwaway PostgreSQL server",
    )
    parser.add_argument(
        "--worker",
        choices=("subprocess", "inprocess"),
        default="subprocess",
        help="run `python -m tracker worker` as child processes (default), or the broker in this process",
    )
    parser.add_argument("--workers", type=int, help="worker processes (default 1 on SQLite, 2 on PostgreSQL)")
    parser.add_argument("--submitters", type=int, default=4, help="concurrent submitting tasks (default 4)")
    parser.add_argument("--facilities", type=int, default=20, help="facilities the inspections rotate over")
    parser.add_argument(
        "--timeout", type=float, default=540, help="seconds the pipeline may take (default 540)"
    )
    parser.add_argument("--rest-rate", type=float, default=1.0, help="inspections/s at rest (default 1)")
    parser.add_argument("--rest-seconds", type=float, default=30, help="seconds at rest (default 30)")
    parser.add_argument("--load-rate", type=float, default=50.0, help="inspections/s under load (default 50)")
    parser.add_argument("--load-seconds", type=float, default=60, help="seconds under load (default 60)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a quick run: 2000 findings, 10 s at rest, 15 s under load (unless given)",
    )
    phases = parser.add_mutually_exclusive_group()
    phases.add_argument("--no-http", action="store_true", help="skip the phases through HTTP")
    phases.add_argument("--http-only", action="store_true", help="only the phases through HTTP: no ratio")
    given = set()
    for arg in sys.argv[1:]:
        given.add(arg.split("=")[0])
    args = parser.parse_args()
    if args.quick:
        for option, value in (("--findings", 2000), ("--rest-seconds", 10), ("--load-seconds", 15)):
            if option not in given:
                setattr(args, option[2:].replace("-", "_"), value)
    if args.workers is None:
        args.workers = 2 if args.database == "postgresql" else 1
    if args.per_inspection < 1 or args.findings < args.per_inspection:
        parser.error("need --findings >= --per-inspection >= 1")
    if args.findings % args.per_inspection:
        parser.error("--findings must be a multiple of --per-inspection")
    if args.submitters < 1 or args.facilities < 1 or args.workers < 1:
        parser.error("--submitters, --facilities and --workers must be at least 1")
    return args


class Databases:
    """Fresh databases, one per phase: SQLite files in the data folder, or databases of one throwaway
    PostgreSQL server."""

    def __init__(self, kind: str, data_dir: Path) -> None:
        self.kind, self.data_dir = kind, data_dir
        self.server: Any = None
        if kind == "postgresql":
            from tests.support.services import PostgresServer

            # In a folder of its own: under root the server runs as `postgres`, which cannot enter data_dir.
            self.server = PostgresServer()
            self.server.start()
            log(f"PostgreSQL on port {self.server.port}")

    def fresh(self, name: str) -> str:
        if self.server is None:
            return f"sqlite+aiosqlite:///{self.data_dir / f'{name}.db'}"
        self.server.create_database(name)
        return self.server.url_for(name)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


async def run(args: argparse.Namespace, data_dir: Path) -> None:
    # SIGTERM cancels the run like Ctrl-C does, so that the roles, the servers and the temporary
    # folder are cleaned up on the way out.
    from tests.support.services import NatsServer

    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    args.load_before = os.getloadavg()[0]
    # What tracker's code in this process logs (the relay, the in-process worker) goes to a file, at the
    # level its roles log at.
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        handlers=[logging.FileHandler(data_dir / "bench.log", encoding="utf-8")],
    )
    databases = await asyncio.to_thread(Databases, args.database, data_dir)
    try:
        print_machine(args)
        # Each phase has a nats-server of its own: the stream then holds that phase's events only.
        if not args.no_http:
            with NatsServer(data_dir / "nats-http") as server:
                phases = await run_http(args, data_dir, server.url, databases.fresh("http"))
            print_http(args, phases)
        if args.http_only:
            return
        with NatsServer(data_dir / "nats") as server:
            log(f"nats-server pid {server.pid} on {server.url}")
            pipeline = await run_pipeline(args, data_dir, server.url, databases.fresh("pipeline"))
            print_pipeline(args, pipeline)  # at once: the figures survive a baseline that fails
            log("baseline A: raw JetStream")
            items = bench_items(load_catalog(), args.per_inspection)
            js = await raw_jetstream(
                server.url, args.findings, args.per_inspection, event_payloads(items, args.per_inspection)
            )
        print_baseline_a(args, js)
        log("baseline B: raw SQL inserts")
        sql = await raw_sql(databases.fresh("raw"), await reported_rows(pipeline.database_url))
        print_baseline_b(args, sql)
        print_table(pipeline, js, sql)
    finally:
        await asyncio.to_thread(databases.stop)


def main() -> int:
    args = parse_args()
    # The servers (nats-server, PostgreSQL, the SMTP sink) live with the tests' support code, beside the
    # product rather than in it.
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))

    temporary = args.data is None
    data_dir = Path(tempfile.mkdtemp(prefix="tracker-bench-")) if temporary else args.data.resolve()
    if not temporary:
        data_dir.mkdir(parents=True, exist_ok=True)
        if any(data_dir.iterdir()):
            raise SystemExit(f"--data {data_dir}: the folder must be empty (the run needs fresh databases)")
    try:
        asyncio.run(run(args, data_dir))
    except (KeyboardInterrupt, asyncio.CancelledError):
        log("interrupted; stopping what was started")
        return 130
    finally:
        if temporary:
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
