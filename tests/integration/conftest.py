"""Fixtures for integration tests: real nats-server, PostgreSQL and SMTP server, no mocks."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# `tests.support` lives beside the tests, not in the installed package; pytest's default import
# mode puts only this folder on sys.path, so add the project root (harmless if already there).
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.support import NatsServer, PostgresServer, SmtpRecorder  # noqa: E402 - after the path fix


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
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database per test: a SQLite file, or a new database on the PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'tracker.db'}"
    # Looked up lazily so that a run selecting only the SQLite cases never starts PostgreSQL.
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database(f"t_{uuid.uuid4().hex[:16]}")


# --- app fixtures below ---


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[NatsServer]:
    """A nats-server of this test's own: the streams and durable consumers of one test never meet another's."""
    with NatsServer(tmp_path / "nats") as server:
        yield server
