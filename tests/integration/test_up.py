"""`tracker up --demo`: the whole product on one machine, as a newcomer starts it and stops it with Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.support import free_port
from tests.support.stack import login_token
from tracker.entry.demo import PASSWORD, demo_logins

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
START_SECONDS = 90
STOP_SECONDS = 30


def clean_env() -> dict[str, str]:
    """The caller's environment without any TRACKER_* setting: `up` must need none."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def processes_using(data: Path) -> list[int]:
    """Every process whose command line names the data folder (the supervisor and all of its children)."""
    found = []
    marker = str(data).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue  # gone meanwhile
        if marker in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


class Up:
    """One `python -m tracker up` in a session of its own, its output in a file."""

    def __init__(
        self, data: Path, port: int, output: Path, demo: bool = True, env: dict[str, str] | None = None
    ) -> None:
        self.data, self.port, self.output = data, port, output
        self.base = f"http://127.0.0.1:{port}"
        argv = [sys.executable, "-m", "tracker", "up", "--data", str(data), "--port", str(port)]
        with output.open("wb") as sink:
            self.process = subprocess.Popen(
                [*argv, *(["--demo"] if demo else [])],
                cwd=data.parent,
                env={**clean_env(), **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def logs(self) -> str:
        parts = [f"--- output ---\n{self.text()}"]
        for log in sorted((self.data / "logs").glob("*.log")):
            parts.append(f"--- {log.name} ---\n{log.read_text(errors='replace')[-3000:]}")
        return "\n".join(parts)

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"tracker up exited with {self.process.returncode}\n{self.logs()}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        pytest.fail(f"/healthz did not answer 200 within {START_SECONDS} s\n{self.logs()}")

    def wait_output(self, text: str, seconds: float = 15) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if text in self.text():
                return self.text()
            time.sleep(0.2)
        pytest.fail(f"tracker up did not print {text!r} within {seconds} s\n{self.logs()}")

    def interrupt(self) -> int:
        """Ctrl-C: SIGINT to the supervisor; it must stop every child and exit by itself."""
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(f"tracker up did not exit within {STOP_SECONDS} s of SIGINT\n{self.logs()}")

    def kill_all(self) -> None:
        """After a failure: the supervisor and whatever it left behind, each by its pid."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pid in processes_using(self.data):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture
def data(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "tracker-data"
    yield folder
    for pid in processes_using(folder):  # a last guard: nothing of this test outlives it
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def token(client: httpx.Client, username: str) -> dict[str, str]:
    response = client.post("/api/token", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def wait_for(what: str, predicate: Callable[[], T], seconds: float = 60) -> T:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"timed out after {seconds} s waiting for {what}")


def test_it_runs_the_demo_stops_on_ctrl_c_and_keeps_the_data_for_the_next_start(
    tmp_path: Path, data: Path
) -> None:
    up = Up(data, free_port(), tmp_path / "up-1.txt")
    try:
        up.wait_healthy()
        printed = up.wait_output(demo_logins()[-1][0])
        assert "demo data loaded." in printed
        assert printed.startswith("tracker is running")  # a note (the next year's holidays) comes last
        assert (
            f"{up.base}/" in printed and f"{up.base}/admin/mail" in printed and f"{up.base}/docs" in printed
        )
        assert f"{up.base}/dashboard" in printed and f"{up.base}/inspect" in printed
        for login in demo_logins():
            assert re.search(
                rf"^\s*{re.escape(login.username)}\s+{re.escape(login.password)}\s.*→ {re.escape(up.base + login.opens)}$",
                printed,
                re.MULTILINE,
            ), login.username

        with httpx.Client(base_url=up.base, timeout=10) as api:
            lead = token(api, "lead")

            def swept() -> dict[str, Any] | None:
                listed = api.get("/api/findings", headers=lead, params={"limit": 1000})
                assert listed.status_code == 200, listed.text
                body = listed.json()
                overdue = [f for f in body["items"] if f["overdue"] and f["escalation_level"] >= 1]
                return body if overdue else None

            findings = wait_for("overdue demo findings escalated by the scheduler's sweep", swept)
            assert findings["total"] > 0
            facilities = api.get("/api/facilities", headers=token(api, "admin"))
            assert facilities.status_code == 200
            facility_count = len(facilities.json())
            assert facility_count > 0

        mail_dir = data / "mail"
        wait_for("the mail sink to keep .eml files", lambda: list(mail_dir.glob("*.eml")))

        with httpx.Client(
            base_url=up.base,
            timeout=10,
            follow_redirects=True,
            headers={"Accept": "text/html,application/xhtml+xml"},
        ) as browser:
            assert browser.get("/admin/mail").url.path == "/login"  # not logged in: sent to the login page
            form = browser.get("/login")
            assert form.status_code == 200 and 'name="password"' in form.text
            page = browser.post(
                "/login",
                data={
                    "username": "admin",
                    "password": PASSWORD,
                    "next": "/admin/mail",
                    "login_token": login_token(form.text),
                },
            )
            assert page.status_code == 200, page.text
            assert page.url.path == "/admin/mail"
            links = re.findall(r'href="/admin/mail/([^"/]+\.eml)"', page.text)
            assert links, page.text
            assert set(links) <= {p.name for p in mail_dir.glob("*.eml")}
            message = browser.get(f"/admin/mail/{links[0]}")
            assert message.status_code == 200
            assert "收件人:" in message.text and "@" in message.text  # in the reader's one language

        assert up.interrupt() == 0
        assert "stopped." in up.text()
        leftovers = processes_using(data)
        assert leftovers == [], f"processes still running after Ctrl-C: {leftovers}\n{up.logs()}"
    finally:
        up.kill_all()

    again = Up(data, free_port(), tmp_path / "up-2.txt")
    try:
        again.wait_healthy()
        printed = again.wait_output("Press Ctrl-C")
        assert "demo data not loaded" in printed
        with httpx.Client(base_url=again.base, timeout=10) as api:
            admin = token(api, "admin")
            assert len(api.get("/api/facilities", headers=admin).json()) == facility_count
            assert (
                api.get("/api/findings", headers=admin, params={"limit": 1}).json()["total"]
                == findings["total"]
            )
        assert again.interrupt() == 0
        assert processes_using(data) == []
    finally:
        again.kill_all()
