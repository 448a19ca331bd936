"""The loop at the pace of a bureau on the scale-out deployment: POST /api/inspections at a steady rate to the roles
that `deploy/` starts, until each inspection's order mail, its order PDF attached, is received.

    .venv/bin/python bench/scaleout.py                     # 10 inspections/s, 10 findings each, for 60 s
    .venv/bin/python bench/scaleout.py --seconds 10        # shorter

The bench starts everything the way deploy/README.md does it, each its own process, in a temporary folder:
a throwaway PostgreSQL server (tests/support, as the tests start theirs), the 3-node NATS JetStream cluster with
`deploy/run-cluster.sh start` (its fixed ports 4222-4224, 6222-6224, 8222-8224 must be free), and the roles with
`deploy/run-roles.sh start` (web, two workers, the relay, two schedulers, the mailer; streams with 3 replicas), with
an aiosmtpd server in the bench's process as the SMTP relay. It stops all of it on the way out, even after an error.

For each inspection (bench/through_http.py): from the moment its POST was sent to its order mail row's
`created_at` (queued) and `sent_at` (received: accepted by the SMTP server). It prints the rate sent and the rate
mailed, p50/p90/p99 of both, how many received mails carried the order PDF, and the CPU seconds each role (with its
child processes: the mailer's printers) and each server used while the inspections went through.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from parts import (
    BASE_URL,
    ROOT,
    SECRET,
    add_facilities,
    add_people,
    bench_items,
    cpu_seconds,
    log,
    ms,
    percentile,
    process_tree,
    wait_for,
)
from sqlalchemy import func, select
from through_http import Phase, Phone, send_steadily, until_mailed

from tracker.checklists import load_catalog
from tracker.store.db import make_engine
from tracker.store.tables import mail

DEPLOY = ROOT / "deploy"
NATS_PORTS = (4222, 4223, 4224, 6222, 6223, 6224, 8222, 8223, 8224)
ROLES = ("web", "worker-1", "worker-2", "relay", "scheduler-1", "scheduler-2", "mailer")


def read_pid(path: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(path.read_text().split()[0])
    return None


class Deployment:
    """PostgreSQL, the NATS cluster and the roles, started and stopped as deploy/ does it."""

    def __init__(self, folder: Path) -> None:
        from tests.support.services import PostgresServer, SmtpRecorder, free_port

        self.folder = folder
        self.postgres = PostgresServer()
        self.sink = SmtpRecorder()
        self.web_port = free_port()
        password = secrets.token_hex(16)
        nats_url = ",".join(f"nats://tracker:{password}@127.0.0.1:{port}" for port in NATS_PORTS[:3])
        self.env = dict(
            os.environ,
            TRACKER_NATS_PASSWORD=password,
            TRACKER_NATS_ROUTE_PASSWORD=secrets.token_hex(16),
            TRACKER_NATS_DIR=str(folder / "nats"),
            TRACKER_RUN_DIR=str(folder / "roles"),
            TRACKER_DATA_DIR=str(folder / "data"),
            TRACKER_BIN=str(Path(sys.executable).parent / "tracker"),
            TRACKER_DATABASE_URL=self.postgres.url,
            TRACKER_NATS_URL=nats_url,
            TRACKER_SMTP_URL=self.sink.url,
            TRACKER_BASE_URL=BASE_URL,
            TRACKER_SECRET_KEY=SECRET,
            TRACKER_WEB_PORT=str(self.web_port),
            TRACKER_METRICS_BASE_PORT=str(free_port()),
        )
        self.started: list[str] = []

    def script(self, name: str, command: str) -> None:
        result = subprocess.run(
            [str(DEPLOY / name), command], env=self.env, capture_output=True, text=True, timeout=300
        )
        for line in (result.stdout + result.stderr).splitlines():
            log(f"{name} {command}: {line}")
        if result.returncode != 0:
            raise RuntimeError(f"deploy/{name} {command} failed with exit code {result.returncode}")

    def start(self) -> None:
        busy = [port for port in NATS_PORTS if _accepts(port)]
        if busy:
            raise SystemExit(f"deploy/nats/node*.conf listen on fixed ports, and these are in use: {busy}")
        self.postgres.start()
        self.started.append("postgres")
        log(f"PostgreSQL on port {self.postgres.port}")
        self.sink.start()
        self.started.append("sink")
        self.started.append("run-cluster.sh")
        self.script("run-cluster.sh", "start")
        self.started.append("run-roles.sh")
        self.script("run-roles.sh", "start")

    def stop(self) -> None:
        for what in reversed(self.started):
            try:
                if what == "postgres":
                    self.postgres.stop()
                elif what == "sink":
                    self.sink.stop()
                else:
                    self.script(what, "stop")
            except (RuntimeError, OSError, subprocess.SubprocessError) as error:  # the rest must still stop
                log(f"stopping {what}: {error!r}")

    def pids(self) -> dict[str, int | None]:
        """Each role's and server's process, by name."""
        found = {role: read_pid(Path(self.env["TRACKER_RUN_DIR"]) / f"{role}.pid") for role in ROLES}
        for node in ("node1", "node2", "node3"):
            found[f"nats {node}"] = read_pid(Path(self.env["TRACKER_NATS_DIR"]) / f"{node}.pid")
        found["postgres"] = read_pid(self.postgres.data_dir / "postmaster.pid")
        found["bench (HTTP client, SMTP server)"] = os.getpid()
        return found

    def cpu(self) -> dict[str, float]:
        tree = process_tree()
        return {name: cpu_seconds(pid, tree) if pid else 0.0 for name, pid in self.pids().items()}


def _accepts(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


async def mail_kinds(reader: Any) -> dict[str, int]:
    async with reader.connect() as conn:
        query = select(mail.c.kind, func.count().label("n")).group_by(mail.c.kind).order_by(mail.c.kind)
        return {row.kind: row.n for row in (await conn.execute(query)).all()}


async def run(
    args: argparse.Namespace, deployment: Deployment
) -> tuple[Phase, dict[str, float], float, dict[str, int]]:
    url = deployment.postgres.url
    setup = make_engine(url)
    try:
        facility_ids = await add_facilities(setup, args.facilities)
        await add_people(setup, facility_ids)
    finally:
        await setup.dispose()
    items = bench_items(load_catalog(), args.per_inspection)
    reader = make_engine(url)
    phase = Phase("scale-out", args.rate, args.seconds, args.per_inspection)
    try:
        async with Phone(f"http://127.0.0.1:{deployment.web_port}") as phone:
            await wait_for(phone.up, 60, "the web role", lambda: None)
            await phone.log_in()
            # One inspection first, through every role: the consumers exist and the processes are warm.
            warm = Phase("warm-up", 1, 1, args.per_inspection)
            await send_steadily(phone, warm, facility_ids, items, 0)
            await until_mailed(reader, warm, lambda: None, sunk=True, timeout=120)
            if not warm.sunk:
                raise RuntimeError("the warm-up inspection's order mail never arrived: see the roles' logs")
            before, began = deployment.cpu(), time.monotonic()
            log(f"{args.rate:g} inspections/s for {args.seconds:g} s")
            await send_steadily(phone, phase, facility_ids, items, 1)
            if phase.failed:
                log(f"{len(phase.failed)} POSTs failed, first: {phase.failed[0]}")
            await until_mailed(reader, phase, lambda: None, sunk=True, timeout=args.timeout)
            after, wall = deployment.cpu(), time.monotonic() - began
            kinds = await mail_kinds(reader)
    finally:
        await reader.dispose()
    return phase, {name: after[name] - before.get(name, 0.0) for name in after}, wall, kinds


def attached(deployment: Deployment) -> tuple[int, int]:
    """(mails received, of them with a PDF attached), from what the SMTP server holds."""
    received = deployment.sink.messages
    pdf = [
        m
        for m in received
        if any(part.get_content_type() == "application/pdf" for part in m.message.iter_attachments())
    ]
    return len(received), len(pdf)


def report(
    args: argparse.Namespace,
    phase: Phase,
    cpu: dict[str, float],
    wall: float,
    pdfs: tuple[int, int],
    kinds: dict[str, int],
) -> None:
    sent = len(phase.sent)
    print(
        f"scale-out (deploy/run-cluster.sh + deploy/run-roles.sh, PostgreSQL): POST /api/inspections, "
        f"{args.per_inspection} findings each, {args.rate:g}/s for {args.seconds:g} s; load average "
        f"{os.getloadavg()[0]:.1f} at the end"
    )
    print(
        f"  {sent} accepted, {len(phase.failed)} failed; {phase.ordered} ordered with their mail queued, "
        f"{len(phase.sunk)} received"
    )
    print(
        f"  mails received by the SMTP server (with the warm-up's): {pdfs[0]}, with a PDF attached: {pdfs[1]}"
    )
    print("  mail rows by kind: " + ", ".join(f"{kind} {count}" for kind, count in kinds.items()))
    if phase.sunk:
        span = max(phase.sent.values()) - min(phase.sent.values())
        print(
            f"  rate: {sent / max(span.total_seconds(), 1e-9):.1f} inspections/s sent, "
            f"{len(phase.sunk) / wall:.1f} order mails/s received over the {wall:.0f} s until the last"
        )
    for name, values in (
        ("POST -> order mail queued  ", phase.queued),
        ("POST -> order mail received", phase.sunk),
    ):
        if values:
            print(
                f"  {name}  p50 {ms(percentile(values, 50)):>8}, p90 {ms(percentile(values, 90)):>8}, "
                f"p99 {ms(percentile(values, 99)):>8}, max {ms(max(values)):>8}"
            )
    print(f"  CPU seconds over those {wall:.0f} s (a process with its children), {os.cpu_count()} cores:")
    for name, used in cpu.items():
        print(f"    {name:34} {used:7.1f} s  ({used / wall * 100:5.1f} % of a core)")
    if phase.sunk:
        print(f"p99 received {percentile(phase.sunk, 99):.2f} s (target <= 5 s)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=10, help="inspections a second")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--per-inspection", type=int, default=10, help="findings per inspection")
    parser.add_argument("--facilities", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for the last mail")
    parser.add_argument("--keep", type=Path, help="an empty folder to keep the logs and stores in")
    args = parser.parse_args()
    # The servers live with the tests' support code, beside the product rather than in it.
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    folder = args.keep.resolve() if args.keep else Path(tempfile.mkdtemp(prefix="tracker-scaleout-"))
    folder.mkdir(parents=True, exist_ok=True)
    deployment = Deployment(folder)
    try:
        deployment.start()
        phase, cpu, wall, kinds = asyncio.run(run(args, deployment))
        pdfs = attached(deployment)
    except KeyboardInterrupt:
        log("interrupted; stopping what was started")
        return 130
    finally:
        deployment.stop()
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    report(args, phase, cpu, wall, pdfs, kinds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
