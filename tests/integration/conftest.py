"""Fixtures for integration tests: real nats-server, PostgreSQL and SMTP server, no mocks."""

from __future__ import annotations

import contextlib
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

# `tests.support` lives beside the tests, not in the installed package; pytest's default import
# mode puts only this folder on sys.path, so add the project root (harmless if already there).
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.support import NatsServer, PostgresServer, SmtpRecorder  # noqa: E402 - after the path fix
from tests.support.fast import NO_SMTP, make_fast_stack  # noqa: E402
from tests.support.stack import Stack, add_facility, add_people, make_stack  # noqa: E402
from tracker import passwords  # noqa: E402

OpenStack = Callable[..., Awaitable[Stack]]


@pytest.fixture(autouse=True)
def cheap_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """Passwords hashed at bcrypt's lowest cost: these tests check who may log in, not what a guess costs
    (tests/unit/test_passwords.py holds the cost), and each hash at the real cost takes a tenth of a second."""
    monkeypatch.setattr(passwords, "ROUNDS", 4)


@pytest.fixture(scope="session", autouse=True)
def printers_stopped() -> Iterator[None]:
    """The printer processes this test process started end with it. An xdist worker leaves without waiting for
    its children, and the pool's processes (tracker.documents.printer) would stay behind, idle, for good."""
    yield
    from tracker.documents import printer

    with printer._pool_lock:
        pool, printer._pool = printer._pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """One real nats-server with JetStream for the whole session; use unique stream names."""
    with NatsServer(tmp_path_factory.mktemp("nats")) as server:
        yield server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server for the session; tests get their own databases."""
    with PostgresServer() as server:
        yield server


@pytest.fixture
def smtp_recorder() -> Iterator[SmtpRecorder]:
    """A real SMTP server on a free loopback port that records every message it accepts."""
    with SmtpRecorder() as recorder:
        yield recorder


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database per test: a SQLite file, or a new database on the PostgreSQL server (dropped
    after the test: the server's folder is in memory, and hundreds of tests' databases would fill it)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'tracker.db'}"
        return
    # Looked up lazily so that a run selecting only the SQLite cases never starts PostgreSQL.
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"t_{uuid.uuid4().hex[:16]}"
    yield server.create_database(name)
    server.drop_database(name)


# --- app fixtures below ---


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[NatsServer]:
    """A nats-server of this test's own: the streams and durable consumers of one test never meet another's."""
    with NatsServer(tmp_path / "nats") as server:
        yield server


@pytest.fixture
async def open_stack(tmp_path: Path, smtp_recorder: SmtpRecorder) -> AsyncIterator[OpenStack]:
    """The one way a test opens the whole product in-process; closed after the test. Options:

    fast      True: the reactions and the mailer called in line, no nats-server (tests/support/fast.py), on a
              SQLite file unless `database_url` is given; False: the worker, relay and mailer as tasks against a
              nats-server of the test's own (stopped after the stack), on `database_url`.
    facilities  codes, or (code, town) pairs, added in order (ids 1, 2 …); the first gets one person of each
              role (`add_people`) unless people=False. Empty: nobody and nothing.
    smtp      True: the test's SMTP recorder; False: an address where nothing listens.
    start     False: nothing runs until the test calls `stack.start(…)`; mailer=False: no mail goes out.
    settings  fields of Settings; any other keyword (clock, policy) goes to the Stack.
    """
    opened: list[Stack] = []
    servers = contextlib.ExitStack()

    async def open_(
        database_url: str | None = None,
        *,
        fast: bool = False,
        facilities: Sequence[str | tuple[str, str]] = ("F1",),
        people: bool = True,
        smtp: bool = True,
        start: bool = True,
        mailer: bool = True,
        **kwargs: Any,
    ) -> Stack:
        smtp_url = smtp_recorder.url if smtp else NO_SMTP
        if fast:
            url = database_url or f"sqlite+aiosqlite:///{tmp_path / 'tracker.db'}"
            stack: Stack = await make_fast_stack(tmp_path, url, smtp_url, **kwargs)
        else:
            assert database_url, "the real stack runs on the test's database_url"
            nats = servers.enter_context(NatsServer(tmp_path / f"nats-{len(opened)}"))
            stack = await make_stack(tmp_path, database_url, nats.url, smtp_url, **kwargs)
        opened.append(stack)
        for n, facility in enumerate(facilities):
            code, town = (facility, "汇龙镇") if isinstance(facility, str) else facility
            await add_facility(stack.engine, code, town=town)
            if n == 0 and people:
                await add_people(stack.engine, code, town=town)
        if start:
            await stack.start(mailer=mailer)
        return stack

    try:
        yield open_
    finally:
        for stack in reversed(opened):
            await stack.close()
        servers.close()
