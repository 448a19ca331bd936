"""The `tracker` command as an operator runs it: a real subprocess on a SQLite database in a data folder."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from tests.support.stack import (
    PASSWORD,
    add_facility,
    add_people,
    default_catalog,
    make_stack,
    prepared_engine,
)
from tracker.checklists.loader import default_directory
from tracker.domain.calendar import LOCAL_TZ
from tracker.domain.model import Actor, Role
from tracker.domain.policy import PolicySettings
from tracker.events.codec import encode
from tracker.events.schemas import CATALOGUE, FindingClosed
from tracker.service.loop import issue_order
from tracker.service.reporting import InspectionInput, ItemResult, report_inspection
from tracker.store.tables import findings, users

ROOT = Path(__file__).resolve().parents[2]


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without any TRACKER_* setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return {**env, **extra}


def tracker(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None, input: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracker", *map(str, args)],
        cwd=cwd,
        env=env or clean_env(),
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def rows(data: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(data / "tracker.db") as db:
        return db.execute(sql).fetchall()


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


def test_it_upgrades_the_database_twice_without_complaint(tmp_path: Path, data: Path) -> None:
    for _ in range(2):
        done = tracker("db", "upgrade", "--data", data, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert "database at head" in done.stdout
    assert rows(data, "SELECT count(*) FROM facilities") == [(0,)]


CSV = """\
code,name,type,town,head_name,head_email
A1,汇龙镇敬老院,nursing_home,汇龙镇,张三,a1@example.cn
A2,太空站,spaceship,汇龙镇,李四,a2@example.cn
A3,南阳镇敬老院,nursing_home,南阳镇,王五,not-an-email
A4,,nursing_home,汇龙镇,赵六,a4@example.cn
A1,汇龙镇敬老院（重复）,nursing_home,汇龙镇,张三,a1@example.cn
A5,启东市殡仪馆,funeral_home,汇龙镇,钱七,a5@example.cn
"""


def test_it_keeps_the_good_facility_rows_and_reports_each_bad_one_by_line(tmp_path: Path, data: Path) -> None:
    csv = tmp_path / "facilities.csv"
    csv.write_text(CSV, encoding="utf-8")
    assert tracker("db", "upgrade", "--data", data, cwd=tmp_path).returncode == 0

    first = tracker("facilities", "import", csv, "--data", data, cwd=tmp_path)
    assert first.returncode == 1
    assert "2 added, 0 already known, 4 rejected" in first.stdout
    problems = first.stderr.splitlines()
    expected = {3: "spaceship", 4: "not-an-email", 5: "name", 6: "A1"}
    for line, word in expected.items():
        assert any(f"line {line}:" in p and word in p for p in problems), (line, first.stderr)
    assert not any(f"line {line}:" in p for p in problems for line in (1, 2, 7)), first.stderr
    assert rows(data, "SELECT code, name FROM facilities ORDER BY code") == [
        ("A1", "汇龙镇敬老院"),
        ("A5", "启东市殡仪馆"),
    ]

    again = tracker("facilities", "import", csv, "--data", data, cwd=tmp_path)
    assert again.returncode == 1
    assert "0 added, 2 already known, 4 rejected" in again.stdout
    assert rows(data, "SELECT count(*) FROM facilities") == [(2,)]


async def test_it_refuses_a_bad_user_naming_the_option(tmp_path: Path, data: Path) -> None:
    data.mkdir()
    engine = await prepared_engine(f"sqlite+aiosqlite:///{data / 'tracker.db'}")
    await add_facility(engine, "F1")
    await engine.dispose()
    common = ("--password-stdin", "--data", data)
    cases = [
        (("--role", "wizard", "--username", "u1"), "--role"),
        (("--role", "facility_head", "--username", "u2"), "--facility"),
        (("--role", "facility_head", "--username", "u3", "--facility", "NOPE"), "--facility"),
    ]
    for args, option in cases:
        done = tracker("users", "add", *args, *common, cwd=tmp_path, input="long-enough-1\n")
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert option in done.stderr, (args, done.stderr)
    assert rows(data, "SELECT count(*) FROM users") == [(0,)]

    good = tracker(
        "users",
        "add",
        "--role",
        "facility_head",
        "--username",
        "head",
        "--facility",
        "F1",
        *common,
        cwd=tmp_path,
        input="long-enough-1\n",
    )
    assert good.returncode == 0, good.stderr
    assert rows(data, "SELECT username, role FROM users") == [("head", "facility_head")]


async def test_a_lead_is_added_with_sectors_and_a_facility_changes_hands(tmp_path: Path, data: Path) -> None:
    data.mkdir()
    engine = await prepared_engine(f"sqlite+aiosqlite:///{data / 'tracker.db'}")
    await add_facility(engine, "F1")
    await engine.dispose()
    lead = ("--role", "bureau_lead", "--username", "chen", "--sector", "elderly", "--sector", "children")
    done = tracker(
        "users", "add", *lead, "--password-stdin", "--data", data, cwd=tmp_path, input="long-enough-1\n"
    )
    assert done.returncode == 0, done.stderr
    sectors = (
        "SELECT sector FROM user_sectors JOIN users ON users.id = user_id WHERE username = 'chen' ORDER BY 1"
    )
    assert rows(data, sectors) == [("children",), ("elderly",)]

    done = tracker("users", "set", "chen", "--sector", "relief", "--data", data, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert rows(data, sectors) == [("relief",)]

    done = tracker("facilities", "set", "F1", "--ownership", "bureau", "--data", data, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = tracker("facilities", "set", "F1", "--ownership", "county", "--data", data, cwd=tmp_path)
    assert done.returncode == 2 and "--ownership" in done.stderr
    assert rows(data, "SELECT ownership FROM facilities WHERE code = 'F1'") == [("bureau",)]


async def test_it_takes_no_password_on_the_command_line_and_reads_one_from_stdin(
    tmp_path: Path, data: Path
) -> None:
    data.mkdir()
    stack = await make_stack(
        tmp_path,
        f"sqlite+aiosqlite:///{data / 'tracker.db'}",
        "nats://127.0.0.1:4222",
        "smtp://127.0.0.1:2525",
    )
    try:
        person = ("users", "add", "--role", "inspector", "--username", "li", "--data", data)
        refused = tracker(*person, "--password", "seen-by-ps-1", cwd=tmp_path)
        assert refused.returncode == 2 and "--password" in refused.stderr, refused.stderr
        short = tracker(*person, "--password-stdin", cwd=tmp_path, input="short\n")
        assert short.returncode == 2 and "at least 8 characters" in short.stderr
        assert rows(data, "SELECT count(*) FROM users") == [(0,)]

        added = tracker(*person, "--password-stdin", cwd=tmp_path, input="read-from-stdin-1\n")
        assert added.returncode == 0, added.stderr
        assert "read-from-stdin-1" not in added.stdout + added.stderr
        login = {"username": "li", "password": "read-from-stdin-1"}
        assert (await stack.client.post("/api/token", json=login)).status_code == 200
    finally:
        await stack.close()


def test_it_asks_for_the_password_twice_with_the_typing_hidden(tmp_path: Path, data: Path) -> None:
    from typer.testing import CliRunner

    from tracker.entry.cli import app
    from tracker.passwords import check_password

    assert tracker("db", "upgrade", "--data", data, cwd=tmp_path).returncode == 0
    runner = CliRunner(env={name: None for name in os.environ if name.startswith("TRACKER_")})
    done = runner.invoke(
        app,
        ["users", "add", "--role", "inspector", "--username", "li", "--data", str(data)],
        input="asked-for-1\nmistyped-1\nasked-for-2\nasked-for-2\n",
    )
    assert done.exit_code == 0, done.output
    assert "do not match" in done.output and "asked-for" not in done.output
    [(hashed,)] = rows(data, "SELECT password_hash FROM users WHERE username = 'li'")
    assert check_password("asked-for-2", hashed)


async def test_a_new_password_or_deactivation_by_the_cli_ends_that_persons_sessions(
    tmp_path: Path, data: Path
) -> None:
    data.mkdir()
    stack = await make_stack(
        tmp_path,
        f"sqlite+aiosqlite:///{data / 'tracker.db'}",
        "nats://127.0.0.1:4222",
        "smtp://127.0.0.1:2525",
    )
    try:
        await add_facility(stack.engine, "F1")
        await add_people(stack.engine, "F1")
        head, inspector, town = [await stack.token(name) for name in ("head", "inspector", "town")]
        again = await stack.token("head")  # a second session of the same person, say on a phone

        async def status(headers: dict[str, str]) -> int:
            return (await stack.client.get("/api/facilities", headers=headers)).status_code

        wrong = {"username": "head", "password": "forgotten-1"}
        for _ in range(5):  # they forgot it and asked the admin for a new one, which lets them in at once
            assert (await stack.client.post("/api/token", json=wrong)).status_code == 401
        changed = tracker(
            "users",
            "passwd",
            "head",
            "--password-stdin",
            "--data",
            data,
            cwd=tmp_path,
            input="brand-new-pass-1\n",
        )
        assert changed.returncode == 0, changed.stderr
        assert "password of head changed; 2 session(s) ended" in changed.stdout
        assert [await status(head), await status(again), await status(town)] == [401, 401, 200]
        old = {"username": "head", "password": PASSWORD}
        assert (await stack.client.post("/api/token", json=old)).status_code == 401
        new = {"username": "head", "password": "brand-new-pass-1"}
        assert (await stack.client.post("/api/token", json=new)).status_code == 200

        deactivated = tracker("users", "deactivate", "inspector", "--data", data, cwd=tmp_path)
        assert deactivated.returncode == 0, deactivated.stderr
        assert "user inspector deactivated; 1 session(s) ended" in deactivated.stdout
        assert [await status(inspector), await status(town)] == [401, 200]
        back = {"username": "inspector", "password": PASSWORD}
        assert (await stack.client.post("/api/token", json=back)).status_code == 401

        for command in (("passwd", "nobody", "--password-stdin"), ("deactivate", "nobody")):
            unknown = tracker("users", *command, "--data", data, cwd=tmp_path, input="brand-new-pass-1\n")
            assert unknown.returncode == 2 and "no user 'nobody'" in unknown.stderr
    finally:
        await stack.close()


async def test_it_records_an_inspectors_warrant_number(tmp_path: Path, data: Path) -> None:
    data.mkdir()
    engine = await prepared_engine(f"sqlite+aiosqlite:///{data / 'tracker.db'}")
    await engine.dispose()
    added = tracker(
        "users",
        "add",
        "--role",
        "inspector",
        "--username",
        "li",
        "--warrant-no",
        "32060001",
        "--password-stdin",
        "--data",
        data,
        cwd=tmp_path,
        input="long-enough-1\n",
    )
    assert added.returncode == 0, added.stderr
    assert rows(data, "SELECT warrant_no FROM users WHERE username = 'li'") == [("32060001",)]
    changed = tracker("users", "set", "li", "--warrant-no", "32060009", "--data", data, cwd=tmp_path)
    assert changed.returncode == 0, changed.stderr
    assert rows(data, "SELECT warrant_no FROM users WHERE username = 'li'") == [("32060009",)]
    nobody = tracker("users", "set", "zhao", "--warrant-no", "1", "--data", data, cwd=tmp_path)
    assert nobody.returncode == 2 and "zhao" in nobody.stderr


def test_a_person_is_named_by_the_cli_and_a_head_by_the_facilities_csv(tmp_path: Path, data: Path) -> None:
    csv = tmp_path / "facilities.csv"
    csv.write_text(
        "code,name,type,town,head_name,head_email\nA1,汇龙镇敬老院,nursing_home,汇龙镇,王建国,a1@example.cn\n",
        encoding="utf-8",
    )
    assert tracker("db", "upgrade", "--data", data, cwd=tmp_path).returncode == 0
    assert tracker("facilities", "import", csv, "--data", data, cwd=tmp_path).returncode == 0
    for args in (
        ("--role", "facility_head", "--username", "head-a1", "--facility", "A1"),
        ("--role", "inspector", "--username", "li"),
    ):
        added = tracker(
            "users", "add", *args, "--password-stdin", "--data", data, cwd=tmp_path, input="long-enough-1\n"
        )
        assert added.returncode == 0, added.stderr
    named = "SELECT username, name FROM users ORDER BY username"
    assert rows(data, named) == [("head-a1", "王建国"), ("li", "li")]

    changed = tracker("users", "set", "li", "--name", " 李明 ", "--data", data, cwd=tmp_path)
    assert changed.returncode == 0, changed.stderr
    assert rows(data, named) == [("head-a1", "王建国"), ("li", "李明")]
    blank = tracker("users", "set", "li", "--name", " ", "--data", data, cwd=tmp_path)
    assert blank.returncode == 2 and "--name" in blank.stderr
    assert rows(data, named)[1] == ("li", "李明")


async def test_it_escalates_an_overdue_finding_once_and_a_dry_run_changes_nothing(
    tmp_path: Path, data: Path
) -> None:
    data.mkdir()
    engine = await prepared_engine(f"sqlite+aiosqlite:///{data / 'tracker.db'}")
    try:
        await add_facility(engine, "F1")
        await add_people(engine, "F1")
        catalog = default_catalog()
        async with engine.connect() as conn:
            inspector_id = await conn.scalar(select(users.c.id).where(users.c.username == "inspector"))
        inspector = Actor(inspector_id, "inspector", Role.INSPECTOR, None, None)
        code = next(i.code for i in catalog.items(facility_type="nursing_home") if i.severity == "general")
        found_at = datetime(2025, 3, 3, 9, 0, tzinfo=LOCAL_TZ)
        reported = await report_inspection(
            engine,
            catalog,
            inspector,
            InspectionInput(1, "routine", "cli-1", [ItemResult(code, "fail")]),
            found_at,
        )
        async with engine.begin() as conn:
            await issue_order(conn, reported.inspection_id, PolicySettings(), found_at)
        [finding_id] = reported.finding_ids
        async with engine.connect() as conn:
            due_at = await conn.scalar(select(findings.c.due_at).where(findings.c.id == finding_id))
    finally:
        await engine.dispose()
    # The operator types local time: a day after the deadline passed.
    as_of = (
        (due_at.astimezone(LOCAL_TZ) + timedelta(days=1)).replace(tzinfo=None).isoformat(timespec="minutes")
    )

    def state() -> tuple[list[tuple], list[tuple], list[tuple]]:
        return (
            rows(data, "SELECT id, status, escalation_level, remind_at FROM findings"),
            rows(data, "SELECT subject FROM outbox ORDER BY id"),
            rows(data, "SELECT action FROM finding_history ORDER BY id"),
        )

    before = state()
    dry = tracker("escalate", "--as-of", as_of, "--dry-run", "--data", data, cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "1 escalation(s) due" in dry.stdout
    assert f"finding {finding_id} -> level 1" in dry.stdout
    assert state() == before

    run = tracker("escalate", "--as-of", as_of, "--data", data, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "1 escalation(s) raised" in run.stdout
    assert f"finding {finding_id} -> level 1" in run.stdout
    findings_after, outbox_after, history_after = state()
    assert [(f[1], f[2]) for f in findings_after] == [("ordered", 1)]
    assert outbox_after.count(("tracker.finding.escalated",)) == 1
    assert history_after.count(("escalated",)) == 1

    repeat = tracker("escalate", "--as-of", as_of, "--data", data, cwd=tmp_path)
    assert repeat.returncode == 0, repeat.stderr
    assert "0 reminder(s) raised, 0 escalation(s) raised" in repeat.stdout
    assert state() == (findings_after, outbox_after, history_after)


def test_it_documents_every_event_subject_in_asyncapi(tmp_path: Path) -> None:
    done = tracker("docs", "asyncapi", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    document = yaml.safe_load(done.stdout)
    assert str(document["asyncapi"]).startswith("3.")
    addresses = {channel["address"] for channel in document["channels"].values()}
    missing = {cls.subject() for cls in CATALOGUE.values()} - addresses
    assert not missing, f"events missing from the AsyncAPI document: {sorted(missing)}"
    assert all(subject.startswith("tracker.") for subject in (cls.subject() for cls in CATALOGUE.values()))
    # Each event's schema is the message on the wire: its fields and `type` naming it, nothing else.
    schemas = document["components"]["schemas"]
    for name, cls in CATALOGUE.items():
        schema = schemas[cls.__name__]
        assert schema["properties"]["type"]["const"] == name and "type" in schema["required"]
        assert set(schema["properties"]) == {*cls.model_fields, "type"}
        assert schema["additionalProperties"] is False
    closed = FindingClosed(finding_id=1, facility_id=2, verification_id=3)
    wire = json.loads(encode(closed))
    documented = schemas["FindingClosed"]
    assert set(wire) <= set(documented["properties"]) and set(documented["required"]) <= set(wire)


def test_it_loads_a_holiday_schedule_and_names_a_date_outside_the_year(tmp_path: Path, data: Path) -> None:
    assert tracker("db", "upgrade", "--data", data, cwd=tmp_path).returncode == 0
    good = tmp_path / "2027.yaml"
    good.write_text("year: 2027\nholidays: [2027-01-01, 2027-02-08, 2027-02-09]\nworkdays: [2027-02-06]\n")
    done = tracker("calendar", "load", good, "--data", data, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "2027: 3 holiday(s), 1 make-up working day(s) loaded" in done.stdout
    assert "0 estimated deadline(s) moved later; 0 facility(ies) to be mailed" in done.stdout
    assert [year for (year,) in rows(data, "SELECT year FROM calendar_years")] == [2027]

    bad = tmp_path / "2027-bad.yaml"
    bad.write_text("year: 2027\nholidays: [2027-01-01, 2028-01-03]\n")
    refused = tracker("calendar", "load", bad, "--data", data, cwd=tmp_path)
    assert refused.returncode == 2
    assert "2028-01-03" in refused.stderr and "outside the year 2027" in refused.stderr
    assert bad.name in refused.stderr


async def test_loading_a_schedule_moves_an_estimated_deadline_later_and_queues_the_facilitys_mail(
    tmp_path: Path, data: Path
) -> None:
    data.mkdir()
    engine = await prepared_engine(f"sqlite+aiosqlite:///{data / 'tracker.db'}")
    try:
        await add_facility(engine, "F1")
        await add_people(engine, "F1")
        async with engine.connect() as conn:
            inspector_id = await conn.scalar(select(users.c.id).where(users.c.username == "inspector"))
        ordered = datetime(2027, 1, 25, 10, 0, tzinfo=LOCAL_TZ)
        reported = await report_inspection(
            engine,
            default_catalog(),
            Actor(inspector_id, "inspector", Role.INSPECTOR, None, None),
            InspectionInput(
                1, "routine", "cli-2027", [ItemResult("BLDG-CRACK-01", "fail")]
            ),  # 10 working days
            ordered,
        )
        async with engine.begin() as conn:
            await issue_order(conn, reported.inspection_id, PolicySettings(), ordered)
    finally:
        await engine.dispose()
    assert rows(data, "SELECT due_day, due_estimated FROM findings") == [("2027-02-12", 1)]

    # Invented for the test: 2-5 to 2-14 off.
    schedule = tmp_path / "2027.yaml"
    schedule.write_text(
        "year: 2027\nholidays: [2027-01-01, 2027-02-05, 2027-02-08, 2027-02-09, 2027-02-10, 2027-02-11, 2027-02-12]\n"
    )
    env = clean_env(TRACKER_BASE_URL="https://mzj.example.cn")
    done = tracker("calendar", "load", schedule, "--data", data, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "1 estimated deadline(s) moved later; 1 facility(ies) to be mailed" in done.stdout
    assert rows(data, "SELECT due_day, due_estimated FROM findings") == [("2027-02-16", 0)]
    [(to, subject, text)] = rows(
        data, "SELECT to_addr, subject, text_body FROM mail WHERE kind = 'deadline_moved'"
    )
    assert to == "head-f1@example.cn" and "整改期限顺延" in subject
    assert (
        "原整改期限 2027年2月12日，顺延至 2027年2月16日" in text
        and "https://mzj.example.cn/findings/1" in text
    )


def test_it_validates_the_shipped_checklists_and_points_at_a_broken_line(tmp_path: Path) -> None:
    shipped = tracker("checklists", "validate", cwd=tmp_path)
    assert shipped.returncode == 0, shipped.stderr
    assert shipped.stdout.startswith("ok:")

    broken = tmp_path / "checklists"
    shutil.copytree(default_directory(), broken)
    lines = (broken / "fire.yaml").read_text(encoding="utf-8").splitlines(keepends=True)
    number = next(n for n, line in enumerate(lines, start=1) if line.strip().startswith("severity:"))
    lines[number - 1] = lines[number - 1].split("severity:")[0] + "severity: catastrophic\n"
    (broken / "fire.yaml").write_text("".join(lines), encoding="utf-8")

    done = tracker("checklists", "validate", broken, cwd=tmp_path)
    assert done.returncode == 1
    assert f"fire.yaml:{number}:" in done.stderr
    assert "catastrophic" in done.stderr


def test_it_stops_a_role_at_once_naming_a_bad_or_missing_setting(tmp_path: Path, data: Path) -> None:
    worker = tracker("worker", "--data", data, cwd=tmp_path, env=clean_env(TRACKER_NATS_URL="http://x"))
    assert worker.returncode == 2
    assert "TRACKER_NATS_URL" in worker.stderr

    mailer = tracker("mailer", "--data", data, cwd=tmp_path)
    assert mailer.returncode == 2
    assert "TRACKER_SMTP_URL" in mailer.stderr


def test_it_catches_the_day_book_up_once_and_rebuilds_it(tmp_path: Path, data: Path) -> None:
    assert tracker("db", "upgrade", "--data", data, cwd=tmp_path).returncode == 0
    first = tracker("stats", "catch-up", "--data", data, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "the day book holds every day before" in first.stdout
    again = tracker("stats", "catch-up", "--data", data, cwd=tmp_path)  # nothing new since
    assert again.returncode == 0 and "already up to date" in again.stdout
    rebuilt = tracker("stats", "rebuild", "--data", data, cwd=tmp_path)
    assert rebuilt.returncode == 0 and "holds every day before" in rebuilt.stdout
    assert len(rows(data, "SELECT through FROM stats_state")) == 1


def test_it_lists_dead_letters_and_asks_what_to_send_again(tmp_path: Path, data: Path) -> None:
    assert tracker("db", "upgrade", "--data", data, cwd=tmp_path).returncode == 0
    with sqlite3.connect(data / "tracker.db") as db:
        db.execute(
            "INSERT INTO dead_letters (consumer, subject, reason, payload, at) VALUES "
            "('mail_the_order', 'tracker.order.issued', 'failed 8 times, last: RuntimeError()', '{}', "
            "'2026-11-20 02:00:00.000000')"
        )
    listed = tracker("deadletters", "list", "--data", data, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "1  2026-11-20 10:00  mail_the_order  tracker.order.issued" in listed.stdout
    assert "failed 8 times" in listed.stdout
    neither = tracker("deadletters", "replay", "--data", data, cwd=tmp_path)
    assert neither.returncode == 2 and "--all" in neither.stderr
    no_broker = tracker("deadletters", "replay", "1", "--data", data, cwd=tmp_path)
    assert no_broker.returncode == 2 and "TRACKER_NATS_URL" in no_broker.stderr
    assert rows(data, "SELECT replayed_at FROM dead_letters") == [(None,)]


async def test_a_dry_run_reports_every_due_row_past_the_first_batch_as_the_sweep_then_raises_them(
    tmp_path: Path, data: Path
) -> None:
    data.mkdir()
    engine = await prepared_engine(f"sqlite+aiosqlite:///{data / 'tracker.db'}")
    try:
        await add_facility(engine, "F1")
        await add_people(engine, "F1")
        catalog = default_catalog()
        async with engine.connect() as conn:
            inspector_id = await conn.scalar(select(users.c.id).where(users.c.username == "inspector"))
        inspector = Actor(inspector_id, "inspector", Role.INSPECTOR, None, None)
        codes = [i.code for i in catalog.items(facility_type="nursing_home") if i.severity == "general"][:2]
        found_at = datetime(2025, 3, 3, 9, 0, tzinfo=LOCAL_TZ)
        reported = await report_inspection(
            engine,
            catalog,
            inspector,
            InspectionInput(1, "routine", "cli-many", [ItemResult(code, "fail") for code in codes]),
            found_at,
        )
        async with engine.begin() as conn:
            await issue_order(conn, reported.inspection_id, PolicySettings(), found_at)
    finally:
        await engine.dispose()
    # 1,300 open findings of the order, copies of its two: 650 due a reminder only, 650 due to escalate
    # (each more than one of the sweep's batches of 500).
    as_of = datetime(2025, 4, 1, 10, 0)
    due = (
        (as_of.replace(tzinfo=LOCAL_TZ) - timedelta(hours=1))
        .astimezone(UTC)
        .strftime("%Y-%m-%d %H:%M:%S.000000")
    )
    later = (
        (as_of.replace(tzinfo=LOCAL_TZ) + timedelta(days=3))
        .astimezone(UTC)
        .strftime("%Y-%m-%d %H:%M:%S.000000")
    )
    with sqlite3.connect(data / "tracker.db") as db:
        columns = [c[1] for c in db.execute("PRAGMA table_info(findings)") if c[1] != "id"]
        listed = ", ".join(columns)
        for _ in range(648):
            db.execute(
                f"INSERT INTO findings ({listed}) SELECT {listed} FROM findings WHERE id IN (SELECT min(id) FROM findings)"
            )
        assert db.execute("SELECT count(*) FROM findings").fetchone() == (650,)
        db.execute(f"INSERT INTO findings ({listed}) SELECT {listed} FROM findings")
        db.execute("UPDATE findings SET remind_at = ?, next_escalation_at = ? WHERE id % 2 = 0", (due, later))
        db.execute("UPDATE findings SET remind_at = ?, next_escalation_at = ? WHERE id % 2 = 1", (later, due))
    when = as_of.isoformat(timespec="minutes")
    before = rows(data, "SELECT * FROM findings ORDER BY id")

    dry = tracker("escalate", "--as-of", when, "--dry-run", "--data", data, cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "650 reminder(s) due, 650 escalation(s) due" in dry.stdout
    assert rows(data, "SELECT * FROM findings ORDER BY id") == before

    run = tracker("escalate", "--as-of", when, "--data", data, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "650 reminder(s) raised, 650 escalation(s) raised" in run.stdout
    # Every one of them once: one event each and, for each escalation, one history row.
    events = dict(rows(data, "SELECT subject, count(*) FROM outbox GROUP BY subject"))
    assert (events["tracker.finding.reminded"], events["tracker.finding.escalated"]) == (650, 650)
    assert rows(data, "SELECT count(*) FROM finding_history WHERE action = 'escalated'") == [(650,)]
    again = tracker("escalate", "--as-of", when, "--dry-run", "--data", data, cwd=tmp_path)
    assert "0 reminder(s) due, 0 escalation(s) due" in again.stdout
