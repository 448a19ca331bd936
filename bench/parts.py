"""What the pipeline bench's phases share: its figures' helpers, the data it reports against, and tracker's
roles run as child processes (`python -m tracker <role>`) or, for the worker, in the bench's own process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from tracker.checklists import Catalog, Item
from tracker.domain.model import Actor, Role
from tracker.passwords import hash_password
from tracker.service.context import Context
from tracker.service.reporting import InspectionInput, ItemResult
from tracker.store.tables import facilities, users

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-secret-key-0123456789-abcdefghij"
BASE_URL = "http://tracker.bench"
FACILITY_TYPE = "nursing_home"
TOWN = "汇龙镇"
PASSWORD = "bench-pass-123"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of `values` (not empty)."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def seconds(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds()


def ms(value: float) -> str:
    return f"{value * 1000:.0f} ms"


class Progress:
    """Logs to stderr each time a counter passes another tenth of its total."""

    def __init__(self, what: str, total: int) -> None:
        self.what = what
        self.total = total
        self.shown = 0

    def update(self, done: int) -> None:
        tenth = min(10, done * 10 // self.total) if self.total else 10
        if tenth > self.shown:
            self.shown = tenth
            log(f"{self.what}: {done}/{self.total} ({tenth * 10}%)")


# ----------------------------------------------------------------------------------------------------------
# Setup
# ----------------------------------------------------------------------------------------------------------


def bench_items(catalog: Catalog, k: int) -> list[Item]:
    """K general items of a nursing home that no composite rule touches: every finding stays general,
    so the pipeline is the plain one (no major alert mail) and every run does the same work."""
    in_rules: set[str] = set()
    for rule in catalog.rules:
        in_rules.update(rule.any_of_items)
        if isinstance(rule.raises, list):
            in_rules.update(rule.raises)
    items = [
        i
        for i in catalog.items(facility_type=FACILITY_TYPE)
        if i.severity == "general" and i.code not in in_rules
    ]
    if len(items) < k:
        raise SystemExit(
            f"--per-inspection {k}: only {len(items)} suitable checklist items for a {FACILITY_TYPE}"
        )
    return items[:k]


async def add_facilities(engine: AsyncEngine, count: int) -> list[int]:
    async with engine.begin() as conn:
        ids = []
        for n in range(1, count + 1):
            code = f"B{n:03d}"
            result = await conn.execute(
                insert(facilities).values(
                    code=code,
                    name=f"测试敬老院 {code}",
                    type=FACILITY_TYPE,
                    town=TOWN,
                    head_name=f"负责人{code}",
                    head_email=f"head-{code.lower()}@example.cn",
                )
            )
            ids.append(result.inserted_primary_key[0])
        return ids


async def add_people(engine: AsyncEngine, facility_ids: list[int]) -> Actor:
    """An inspector, a bureau lead and each facility's head; returns the inspector."""
    password_hash = hash_password(PASSWORD)  # hashed once and shared: nobody logs in here

    def person(username: str, role: Role, **extra: Any) -> dict[str, Any]:
        values = {
            "username": username,
            "password_hash": password_hash,
            "role": role.value,
            "name": username,
            "email": f"{username}@example.cn",
            "facility_id": None,
            "town": None,
            "active": True,
        }
        return values | extra

    async with engine.begin() as conn:
        inspector = await conn.execute(insert(users).values(person("inspector", Role.INSPECTOR)))
        await conn.execute(
            insert(users),
            [
                person("lead", Role.BUREAU_LEAD),
                *(
                    person(f"head{n}", Role.FACILITY_HEAD, facility_id=fid)
                    for n, fid in enumerate(facility_ids, 1)
                ),
            ],
        )
    return Actor(id=inspector.inserted_primary_key[0], username="inspector", role=Role.INSPECTOR)


def inspection(n: int, facility_id: int, items: list[Item]) -> InspectionInput:
    return InspectionInput(
        facility_id=facility_id,
        mode="routine",
        client_ref=f"bench-{n}",
        items=[
            ItemResult(item=i.code, result="fail", note=f"检查发现隐患 {n}-{j}") for j, i in enumerate(items)
        ],
    )


# ----------------------------------------------------------------------------------------------------------
# CPU seconds from /proc: a process and every process under it
# ----------------------------------------------------------------------------------------------------------

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # the fields after the command name, from `state` on


def process_tree() -> dict[int, list[int]]:
    """Each running process's children, by parent pid."""
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            tree.setdefault(int(fields[1]), []).append(int(entry.name))
    return tree


def cpu_seconds(pid: int, tree: dict[int, list[int]] | None = None) -> float:
    """User and system CPU of `pid` and, given the tree, its descendants, counting those already ended and
    waited for (the printer processes the mailer replaces) through the parent's cutime and cstime."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    if tree is None:
        return sum(int(f) for f in fields[11:13]) / TICKS  # its own utime and stime
    own = sum(int(f) for f in fields[11:15]) / TICKS  # utime, stime, cutime, cstime
    return own + sum(cpu_seconds(child, tree) for child in tree.get(pid, []))


# ----------------------------------------------------------------------------------------------------------
# Worker: `python -m tracker worker` as a child, or the broker in this process
# ----------------------------------------------------------------------------------------------------------


class InProcessWorker:
    def __init__(self, ctx: Context, servers: list[str], log_path: Path) -> None:
        self.ctx = ctx
        self.servers = servers
        self.log_path = log_path
        self.broker: Any = None
        self._log: IO[str] | None = None

    async def start(self) -> None:
        # Imported here: the other phases run the worker as a process.
        from tracker.handlers.consuming import start_broker

        self.broker = await start_broker(self.ctx, self.servers)
        # faststream's access logger writes to stdout; send it to a file so that it does not mix with figures.
        self._log = await asyncio.to_thread(self.log_path.open, "a", encoding="utf-8")
        for handler in logging.getLogger("faststream.access.nats").handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(self._log)

    def check(self) -> None:
        pass

    async def stop(self) -> None:
        if self.broker is not None:
            await self.broker.stop()
            self.broker = None
        if self._log is not None:
            self._log.close()
            self._log = None


class RoleProcess:
    """`python -m tracker <role> [args]` as a child process, its output in `log_path`."""

    def __init__(self, env: dict[str, str], log_path: Path, role: str = "worker", *args: str) -> None:
        self.env = env
        self.log_path = log_path
        self.command = [role, *args]
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    async def start(self) -> None:
        await asyncio.to_thread(self._spawn)
        assert self.process is not None
        log(f"{self.command[0]}: `python -m tracker {' '.join(self.command)}`, pid {self.process.pid}")

    def _spawn(self) -> None:
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tracker", *self.command],
            env=self.env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() takes what it started with it
        )

    def check(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the {self.command[0]} exited with code {self.process.returncode}:\n{tail}")

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)  # the role finishes what it holds and exits
            try:
                await asyncio.to_thread(process.wait, 20)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait, 10)
        if process is not None:
            # The mailer's PDF printers (a process pool) outlived it; whatever is left of the group goes too.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None


def role_env(database_url: str, nats_url: str, data_dir: Path, **more: str) -> dict[str, str]:
    """The environment tracker's roles read their settings from (tracker.config)."""
    env = dict(
        os.environ,
        TRACKER_DATABASE_URL=database_url,
        TRACKER_NATS_URL=nats_url,
        TRACKER_SECRET_KEY=SECRET,
        TRACKER_BASE_URL=BASE_URL,
        TRACKER_DATA_DIR=str(data_dir),
    )
    env.update({f"TRACKER_{name.upper()}": value for name, value in more.items()})
    return env


async def wait_for(
    predicate: Callable[[], Awaitable[bool]], timeout: float, what: str, check: Callable[[], None]
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        check()
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
