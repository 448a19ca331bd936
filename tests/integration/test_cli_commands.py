"""Operator commands run as an operator runs them, on a SQLite data folder with a little crafted data: the monthly
report and the figures sent upward in each format, `db prune` and its dry run, withdrawing a campaign, the rules
commands' refusals and a certificate register imported by CSV. Each bad argument ends with a word naming it, a
non-zero exit code and nothing written.

The commands run in this process through typer's CliRunner (test_cli.py runs the other commands as subprocesses):
the same `app`, its exit codes and its output, without starting Python again for each."""

from __future__ import annotations

import asyncio
import io
import json
import os
import sqlite3
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import Result
from openpyxl import load_workbook
from sqlalchemy import insert
from typer.testing import CliRunner

from tests.integration.test_upward import enrich
from tests.support.rows import order_mail
from tests.support.stack import add_facility, default_catalog, prepared_engine
from tracker.checklists.model import local_today
from tracker.documents.reports import HEADER_ROW
from tracker.domain.model import Actor, Role
from tracker.entry.cli import app
from tracker.service.reporting import InspectionInput, ItemResult, report_inspection
from tracker.store.tables import handled_events, mail, outbox, users
from tracker.text.labels import METRIC_NAMES

# One report of each kind, as the refusals common to all three are tried.
EACH_KIND = [
    ("--month", "2025-03", "--format", "json"),
    ("--upward", "--quarter", "2025Q1", "--format", "xlsx"),
    ("--ledger", "--from", "2025-03-01", "--to", "2025-03-31"),
]


def tracker(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    """`tracker ARGS` with no TRACKER_* setting of the caller's but `env`; its stdout and stderr kept apart."""
    unset: dict[str, str | None] = {name: None for name in os.environ if name.startswith("TRACKER_")}
    return CliRunner().invoke(app, [str(a) for a in args], env={**unset, **(env or {})})


def rows(data: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(data / "tracker.db") as db:
        return db.execute(sql).fetchall()


def crafted(data: Path, *steps) -> Path:
    """A data folder whose database is at the head revision, with `steps(engine)` run on it."""

    async def build() -> None:
        data.mkdir(parents=True, exist_ok=True)
        engine = await prepared_engine(f"sqlite+aiosqlite:///{data / 'tracker.db'}")
        try:
            for step in steps:
                await step(engine)
        finally:
            await engine.dispose()

    asyncio.run(build())
    return data


def pdf_text(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, timeout=60, check=True
    ).stdout


@pytest.fixture(scope="module")
def march(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/integration/test_stats.py's findings of March 2025, as test_upward.py enriches them: 7 hazards found
    in the month (2 major), 3 of them closed, 2 items fixed on the spot, one 约谈 and one 移送. Only read."""
    return crafted(tmp_path_factory.mktemp("march") / "data", enrich)


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder, where a report goes when no --out is given."""
    folder = tmp_path / "here"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


# --- tracker report --month ----------------------------------------------------------------------------------------


def test_the_monthly_report_as_json_holds_the_months_figures(march: Path, here: Path) -> None:
    done = tracker("report", "--month", "2025-03", "--format", "json", "--data", march)
    assert done.exit_code == 0, done.output
    assert done.stdout.strip() == "wrote report-2025-03.json"
    report = json.loads((here / "report-2025-03.json").read_text(encoding="utf-8"))
    assert report["period"] == {"from": "2025-03-01", "to": "2025-04-01"}
    figures = report["figures"]
    assert figures["found"]["value"] == 7 and figures["found"]["previous"] == 2
    assert figures["found_major"]["value"] == 2 and figures["overdue"]["value"] == 2
    assert figures["closure_rate"]["value"] == pytest.approx(3 / 7)
    assert [row["id"] for row in report["open_major"]] == [4, 8]
    assert report["fixed_on_the_spot"] == 2

    # One town: 汇龙镇 holds F1 and F2, whose March hazards are 1 to 4.
    town = tracker("report", "--month", "2025-03", "--format", "json", "--town", "汇龙镇", "--data", march)
    assert town.exit_code == 0, town.output
    only = json.loads((here / "report-2025-03-汇龙镇.json").read_text(encoding="utf-8"))
    assert only["scope"]["town"] == "汇龙镇" and only["figures"]["found"]["value"] == 4


def test_the_monthly_report_as_a_workbook_and_a_pdf(march: Path, here: Path) -> None:
    out = here / "reports" / "march.xlsx"
    out.parent.mkdir()
    done = tracker("report", "--month", "2025-03", "--format", "xlsx", "--out", out, "--data", march)
    assert done.exit_code == 0, done.output
    assert done.stdout.strip() == f"wrote {out}"
    book = load_workbook(io.BytesIO(out.read_bytes()))
    summary = book["汇总"]
    assert summary["A1"].value.startswith("汇总") and "2025年3月1日至3月31日" in summary["A2"].value
    assert [c.value for c in summary[HEADER_ROW]] == ["指标", "Figure", "本期", "上期", "变化"]
    figures = {row[0]: row[2] for row in summary.iter_rows(min_row=HEADER_ROW + 1, values_only=True)}
    assert figures[METRIC_NAMES["found"][0]] == 7 and figures[METRIC_NAMES["open_major"][0]] == 2
    assert [c.value for c in book["重大事故隐患"]["A"][HEADER_ROW:]] == [4, 8]

    pdf = tracker("report", "--month", "2025-03", "--data", march)  # pdf is the default format
    assert pdf.exit_code == 0, pdf.output
    written = here / "report-2025-03.pdf"
    assert pdf.stdout.strip() == "wrote report-2025-03.pdf"
    assert written.read_bytes().startswith(b"%PDF")
    text = pdf_text(written)
    assert "安全隐患排查整改工作月报" in text and "2025年3月1日至3月31日" in text


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--month", "2025-13"), ("--month", "'2025-13' is not a month like 2025-03")),
        (("--month", "March"), ("--month", "'March' is not a month like 2025-03")),
        (("--month", "2025-03-01"), ("--month", "is not a month")),
        (("--month", "2025-03", "--format", "docx"), ("--format", "must be pdf, xlsx or json")),
        ((), ("give the month",)),
    ],
    ids=["month 13", "a word", "a day", "unknown format", "no month"],
)
def test_a_bad_month_or_format_is_refused_and_nothing_is_written(
    march: Path, here: Path, args: tuple[str, ...], says: tuple[str, ...]
) -> None:
    done = tracker("report", *args, "--data", march)
    assert done.exit_code == 2, done.output
    for word in says:
        assert word in done.stderr, done.stderr
    assert list(here.iterdir()) == []


@pytest.mark.parametrize("kind", EACH_KIND, ids=["monthly", "upward", "ledger"])
def test_an_out_file_in_a_missing_folder_is_refused_before_any_work(
    march: Path, here: Path, kind: tuple[str, ...]
) -> None:
    done = tracker("report", *kind, "--out", here / "nowhere" / "report.out", "--data", march)
    assert done.exit_code == 2, done.output
    assert "--out" in done.stderr and "there is no folder" in done.stderr
    assert done.exception is None or isinstance(done.exception, SystemExit)
    assert list(here.iterdir()) == []


@pytest.mark.parametrize("kind", EACH_KIND, ids=["monthly", "upward", "ledger"])
def test_a_misspelt_town_is_refused_with_the_towns_there_are_not_reported_as_zeros(
    march: Path, here: Path, kind: tuple[str, ...]
) -> None:
    done = tracker("report", *kind, "--town", "汇隆镇", "--data", march)
    assert done.exit_code == 2, done.output
    assert "no facility is in 汇隆镇" in done.stderr and "汇龙镇" in done.stderr
    assert list(here.iterdir()) == []


@pytest.mark.parametrize(
    "args",
    [
        ("--month", "2025-03", "--quarter", "2025Q9"),
        ("--month", "2025-03", "--from", "2025-03-01"),
        ("--upward", "--quarter", "2025Q1", "--to", "2025-03-31"),
    ],
    ids=["quarter without --upward", "from without --ledger", "to without --ledger"],
)
def test_an_option_of_another_kind_of_report_is_refused_not_left_out(
    march: Path, here: Path, args: tuple[str, ...]
) -> None:
    done = tracker("report", *args, "--data", march)
    assert done.exit_code == 2, done.output
    assert "only with --" in done.stderr
    assert list(here.iterdir()) == []


def test_a_report_of_a_data_folder_never_upgraded_says_what_to_run(tmp_path: Path, here: Path) -> None:
    done = tracker("report", "--month", "2025-03", "--data", tmp_path / "new")
    assert done.exit_code == 2
    assert "tracker db upgrade" in done.stderr
    assert list(here.iterdir()) == []


# --- tracker report --upward ---------------------------------------------------------------------------------------


def test_the_figures_sent_upward_for_a_month_as_a_workbook(march: Path, here: Path) -> None:
    done = tracker("report", "--upward", "--month", "2025-03", "--format", "xlsx", "--data", march)
    assert done.exit_code == 0, done.output
    assert done.stdout.strip() == "wrote upward-2025-03.xlsx"
    sheet = load_workbook(here / "upward-2025-03.xlsx")["上报汇总"]
    headers = [cell.value for cell in sheet[HEADER_ROW]]
    total = dict(zip(headers, [cell.value for cell in sheet[HEADER_ROW + 1]], strict=True))
    assert total["分组"] == "合计"
    assert (total["检查家次"], total["出动人次"], total["发现隐患"], total["其中重大事故隐患"]) == (
        6,
        6,
        7,
        2,
    )
    assert (total["当场整改"], total["约谈"], total["移送"]) == (2, 1, 1)


def test_the_figures_sent_upward_for_a_quarter_as_a_pdf(march: Path, here: Path) -> None:
    done = tracker("report", "--upward", "--quarter", "2025q1", "--format", "pdf", "--data", march)
    assert done.exit_code == 0, done.output
    written = here / "upward-2025Q1.pdf"
    assert done.stdout.strip() == "wrote upward-2025Q1.pdf"
    assert written.read_bytes().startswith(b"%PDF")
    text = pdf_text(written)
    assert "安全检查与隐患整改情况报告" in text and "2025年第1季度" in text
    assert "检查家次" in text and "未销号重大事故隐患清单" in text


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--quarter", "2025Q5"), ("--quarter", "'2025Q5' is not a quarter like 2027Q1")),
        (("--quarter", "2025-1"), ("--quarter", "is not a quarter")),
        (("--quarter", "Q1"), ("--quarter", "is not a quarter")),
        (("--month", "2025-00"), ("--month", "is not a month")),
        (("--month", "2025-03", "--quarter", "2025Q1"), ("--upward", "give one of")),
        ((), ("--upward", "give one of")),
        (("--quarter", "2025Q1", "--format", "json"), ("--format", "must be pdf or xlsx")),
    ],
    ids=["quarter 5", "a month-like quarter", "no year", "month 0", "both", "neither", "json"],
)
def test_an_unknown_quarter_or_month_upward_is_refused_and_nothing_is_written(
    march: Path, here: Path, args: tuple[str, ...], says: tuple[str, ...]
) -> None:
    done = tracker("report", "--upward", *args, "--data", march)
    assert done.exit_code == 2, done.output
    for word in says:
        assert word in done.stderr, done.stderr
    assert list(here.iterdir()) == []


# --- tracker db prune ----------------------------------------------------------------------------------------------


def test_a_dry_run_counts_what_would_go_and_the_prune_then_removes_it(tmp_path: Path) -> None:
    # Ages against the time the command reads (the system clock), past or within the default keeping
    # (TRACKER_EVENTS_KEEP_DAYS 30, TRACKER_MAIL_KEEP_DAYS 1095).
    now = datetime.now(UTC)
    old, recent, ancient = now - timedelta(days=40), now - timedelta(days=2), now - timedelta(days=1200)

    async def aged_rows(engine) -> None:
        async with engine.begin() as conn:
            await conn.execute(
                insert(outbox),
                [
                    {"event_id": event_id, "subject": "tracker.t", "payload": "{}"}
                    | {"created_at": created, "published_at": published}
                    for event_id, created, published in (
                        *((f"old-{i}", old, old) for i in range(3)),
                        ("unsent", old, None),  # the relay has yet to send it: never pruned
                        ("recent", recent, recent),
                    )
                ],
            )
            await conn.execute(
                insert(handled_events),
                [
                    {"consumer": "a", "event_id": "old-0", "handled_at": old},
                    {"consumer": "b", "event_id": "old-0", "handled_at": old},
                    {"consumer": "a", "event_id": "recent", "handled_at": recent},
                ],
            )
            await conn.execute(
                insert(mail),
                [
                    order_mail(key, status, created)
                    for key, status, created in (
                        ("sent-long-ago", "sent", ancient),
                        ("queued-long-ago", "queued", ancient),  # still to be tried: kept whole
                        ("sent-lately", "sent", recent),
                    )
                ],
            )

    data = crafted(tmp_path / "data", aged_rows)

    def state() -> tuple[list[tuple], list[tuple], list[tuple]]:
        return (
            rows(data, "SELECT event_id FROM outbox ORDER BY id"),
            rows(data, "SELECT consumer, event_id FROM handled_events ORDER BY consumer, event_id"),
            rows(data, "SELECT dedupe_key, text_body FROM mail ORDER BY id"),
        )

    before = state()
    dry = tracker("db", "prune", "--dry-run", "--data", data)
    assert dry.exit_code == 0, dry.output
    lines = dry.stdout.splitlines()
    assert lines[0] == "would go (--dry-run):"
    assert lines[1].split()[:2] == ["outbox", "3"] and "older than 30 days" in lines[1]
    assert lines[2].split()[:2] == ["handled_events", "2"]
    assert lines[3].split()[:2] == ["mail", "1"] and "older than 1095 days" in lines[3]
    assert state() == before

    pruned = tracker("db", "prune", "--data", data)
    assert pruned.exit_code == 0, pruned.output
    assert pruned.stdout.splitlines()[0] == "pruned:"
    assert [line.split()[:2] for line in pruned.stdout.splitlines()[1:]] == [
        ["outbox", "3"],
        ["handled_events", "2"],
        ["mail", "1"],
    ]
    events, handled, mails = state()
    assert events == [("unsent",), ("recent",)]
    assert handled == [("a", "recent")]
    # A mail row is never deleted: the old sent one keeps its record without its body.
    assert mails == [("sent-long-ago", ""), ("queued-long-ago", "正文"), ("sent-lately", "正文")]

    again = tracker("db", "prune", "--dry-run", "--data", data)
    assert [line.split()[1] for line in again.stdout.splitlines()[1:]] == ["0", "0", "0"]


def test_prune_refuses_a_keeping_shorter_than_the_stream_and_a_folder_never_upgraded(tmp_path: Path) -> None:
    async def one_old_event(engine) -> None:
        long_ago = datetime.now(UTC) - timedelta(days=40)
        async with engine.begin() as conn:
            await conn.execute(insert(handled_events).values(consumer="a", event_id="e", handled_at=long_ago))

    data = crafted(tmp_path / "data", one_old_event)
    for args in (("--dry-run",), ()):
        done = tracker("db", "prune", *args, "--data", data, env={"TRACKER_EVENTS_KEEP_DAYS": "3"})
        assert done.exit_code == 2, done.output
        assert "configuration error" in done.stderr and "TRACKER_EVENTS_KEEP_DAYS" in done.stderr
        assert rows(data, "SELECT event_id FROM handled_events") == [("e",)]

    empty = tracker("db", "prune", "--data", tmp_path / "never")
    assert empty.exit_code == 2 and "run `tracker db upgrade` first" in empty.stderr


# --- tracker checklists withdraw -----------------------------------------------------------------------------------


def test_a_withdrawn_campaign_stops_showing_and_stays_on_record(tmp_path: Path) -> None:
    from tracker.checklists.campaigns import publications
    from tracker.store.db import make_engine

    data = crafted(tmp_path / "data")
    today = local_today()
    window = ("--from", str(today - timedelta(days=1)), "--to", str(today + timedelta(days=30)))
    published = tracker("checklists", "publish", "flood_season", *window, "--by", "admin", "--data", data)
    assert published.exit_code == 0, published.output
    assert "as publication 1:" in published.stdout

    async def showing() -> list[str]:
        # What GET /api/checklists?include_campaigns=true reads: the publications showing today.
        engine = make_engine(f"sqlite+aiosqlite:///{data / 'tracker.db'}")
        try:
            async with engine.connect() as conn:
                return [p.campaign for p in await publications(conn, on=today)]
        finally:
            await engine.dispose()

    assert asyncio.run(showing()) == ["flood_season"]
    assert "  showing  " in tracker("checklists", "publications", "--data", data).stdout

    done = tracker("checklists", "withdraw", "1", "--data", data)
    assert done.exit_code == 0, done.output
    assert done.stdout.strip() == "publication 1 of flood_season withdrawn"
    assert asyncio.run(showing()) == []
    listed = tracker("checklists", "publications", "--data", data).stdout
    assert "flood_season" in listed and "  withdrawn  " in listed
    [(withdrawn_at,)] = rows(data, "SELECT withdrawn_at FROM campaign_publications WHERE id = 1")
    assert withdrawn_at is not None

    # Withdrawing again changes nothing: the first withdrawal's time stays.
    again = tracker("checklists", "withdraw", "1", "--data", data)
    assert again.exit_code == 0, again.output
    assert "publication 1 of flood_season was already withdrawn, 20" in again.stdout
    assert rows(data, "SELECT withdrawn_at FROM campaign_publications WHERE id = 1") == [(withdrawn_at,)]

    unknown = tracker("checklists", "withdraw", "9", "--data", data)
    assert unknown.exit_code == 2 and "no publication with id 9" in unknown.stderr
    not_a_number = tracker("checklists", "withdraw", "first", "--data", data)
    assert not_a_number.exit_code == 2 and "'first' is not a valid int" in not_a_number.stderr
    assert rows(data, "SELECT count(*) FROM campaign_publications") == [(1,)]


# --- tracker rules -------------------------------------------------------------------------------------------------
# test_composite_rules.py runs list, adopt, referrals, notes and answer once as subprocesses; here what they refuse,
# and an answer recorded once.


def test_an_empty_list_says_so_rather_than_printing_nothing(tmp_path: Path) -> None:
    data = crafted(tmp_path / "data")
    for args, says in (
        (("rules", "referrals"), "no referrals yet"),
        (("rules", "notes"), "no advice notes yet"),
        (("checklists", "publications"), "no publications yet"),
    ):
        done = tracker(*args, "--data", data)
        assert done.exit_code == 0 and done.stdout.strip() == says, done.output


def test_the_rules_commands_refuse_a_bad_argument_and_record_nothing(tmp_path: Path) -> None:
    data = crafted(tmp_path / "data")
    adopt = ("rules", "adopt", "RULE-NIGHT-FIRE-01", "--document", "启民发〔2026〕9号")
    cases = [
        ((*adopt, "--effective", "2026-13-01"), "'2026-13-01' is not a date like 2026-06-01"),
        (
            (*adopt, "--effective", "2026-12-01", "--document", " "),
            "document: the document number is required",
        ),
        (
            ("rules", "adopt", "RULE-NOPE-01", "--document", "x", "--effective", "2026-12-01"),
            "unknown rule 'RULE-NOPE-01'",
        ),
        (("rules", "adopt", "RULE-NIGHT-FIRE-01", "--effective", "2026-12-01"), "--document"),
        (("rules", "answer", "7", "--answer", "确认"), "no referral with id 7"),
        (("rules", "answer", "7", "--answer", " "), "the answer is required"),
        (("rules", "answer", "7"), "--answer"),
    ]
    for args, word in cases:
        done = tracker(*args, "--data", data)
        assert done.exit_code == 2, (args, done.output)
        assert word in done.stderr, (args, done.stderr)
    assert rows(data, "SELECT count(*) FROM rule_adoptions") == [(0,)]
    listed = tracker("rules", "list", "--data", data)
    assert listed.exit_code == 0, listed.output
    assert "RULE-NIGHT-FIRE-01  raise  advising only: no local document recorded" in listed.stdout

    adopted = tracker(*adopt, "--effective", "2026-12-01", "--by", "admin", "--data", data)
    assert adopted.exit_code == 0, adopted.output
    assert adopted.stdout.strip() == "RULE-NIGHT-FIRE-01 binds from 2026-12-01 under 启民发〔2026〕9号"
    assert "binding: 启民发〔2026〕9号 from 2026-12-01" in tracker("rules", "list", "--data", data).stdout

    for command in ("list", "referrals", "notes"):
        never = tracker("rules", command, "--data", tmp_path / "never")
        assert never.exit_code == 2 and "tracker db upgrade" in never.stderr, (command, never.output)


async def a_referred_composite_finding(engine) -> None:
    """Three elements of GB 35181's composite judgement failed at one home: one finding referred to 消防救援机构."""
    async with engine.begin() as conn:
        await conn.execute(
            insert(users).values(id=1, username="insp", password_hash="x", role="inspector", name="检查员")
        )
    home = await add_facility(engine, "H1")
    fails = [
        ItemResult(code, "fail", "现场发现") for code in ("FIRE-LANE-01", "FIRE-EXIT-01", "FIRE-AUTO-02")
    ]
    await report_inspection(
        engine,
        default_catalog(),
        Actor(id=1, username="insp", role=Role.INSPECTOR),
        InspectionInput(home, "unannounced", "cli-composite", fails),
        datetime(2026, 12, 7, 2, 0, tzinfo=UTC),  # GB 35181-2025 in force
    )


def test_a_referral_is_answered_once_from_the_command_line(tmp_path: Path) -> None:
    data = crafted(tmp_path / "data", a_referred_composite_finding)
    [(referral_id, finding_id)] = rows(data, "SELECT id, finding_id FROM referrals")
    listed = tracker("rules", "referrals", "--data", data)
    assert listed.exit_code == 0, listed.output
    assert f"finding {finding_id}  消防救援机构  referred 2026-12-07  open" in listed.stdout

    answer = ("rules", "answer", str(referral_id), "--by", "li", "--data", data)
    done = tracker(*answer, "--answer", "经消防救援机构判定为重大火灾隐患")
    assert done.exit_code == 0, done.output
    assert done.stdout.strip() == f"referral {referral_id} answered"
    assert "answered 20" in tracker("rules", "referrals", "--data", data).stdout

    twice = tracker(*answer, "--answer", "不构成重大火灾隐患")
    assert twice.exit_code == 2 and f"referral {referral_id} was answered already" in twice.stderr
    assert rows(data, "SELECT answer, answered_by FROM referrals") == [
        ("经消防救援机构判定为重大火灾隐患", "li")
    ]


# --- tracker certificates import -----------------------------------------------------------------------------------

GOOD = """facility,kind,label,number,expires_on
F1,lift_inspection,1号梯,T-2019-001,2026-12-15
F1,health_certificate,张三,JK-88,2027-03-01
F2,fire_system_test,主楼,,2027-05-31
"""

BAD = """facility,kind,label,number,expires_on
F1,lift_inspection,2号梯,T-2019-002,2026-12-20
F9,lift_inspection,1号梯,,2026-12-15
F1,boiler_inspection,1号炉,,15/12/2026
"""


async def two_homes(engine) -> None:
    await add_facility(engine, "F1")
    await add_facility(engine, "F2", town="南阳镇")


def test_a_certificate_register_is_imported_and_a_bad_file_refused_whole(tmp_path: Path) -> None:
    data = crafted(tmp_path / "data", two_homes)
    entries = "SELECT kind, label, number, expires_on FROM certificates ORDER BY id"
    register = tmp_path / "register.csv"
    register.write_text(GOOD, encoding="utf-8-sig")  # as Excel saves "CSV UTF-8": with a byte-order mark

    done = tracker("certificates", "import", register, "--data", data)
    assert done.exit_code == 0, done.output
    assert done.stdout.strip() == "3 added, 0 changed, 0 unchanged"
    assert rows(data, entries) == [
        ("lift_inspection", "1号梯", "T-2019-001", "2026-12-15"),
        ("health_certificate", "张三", "JK-88", "2027-03-01"),
        ("fire_system_test", "主楼", "", "2027-05-31"),
    ]

    register.write_text(GOOD.replace("2026-12-15", "2027-12-15"), encoding="utf-8")
    again = tracker("certificates", "import", register, "--data", data)
    assert again.exit_code == 0 and again.stdout.strip() == "0 added, 1 changed, 2 unchanged"
    before = rows(data, entries)

    bad = tmp_path / "bad.csv"
    bad.write_text(BAD, encoding="utf-8")
    refused = tracker("certificates", "import", bad, "--data", data)
    assert refused.exit_code == 1, refused.output
    problems = refused.stderr.splitlines()
    assert problems[0].startswith(f"{bad}: line 3: facility:") and "'F9'" in problems[0]
    assert problems[1].startswith(f"{bad}: line 4:") and "15/12/2026" in problems[1]
    assert problems[2] == "nothing imported: 2 faulty line(s)"
    assert refused.stdout == ""
    assert rows(data, entries) == before  # line 2 was good, and is not imported either

    header = tmp_path / "header.csv"
    header.write_text(
        "code,kind,label,number,expires\nF1,lift_inspection,3号梯,,2027-01-01\n", encoding="utf-8"
    )
    wrong_header = tracker("certificates", "import", header, "--data", data)
    assert wrong_header.exit_code == 1 and "line 1: the header must be" in wrong_header.stderr

    gbk = tmp_path / "gbk.csv"  # as Excel on a Chinese Windows saves plain "CSV"
    gbk.write_bytes(GOOD.encode("gbk"))
    not_utf8 = tracker("certificates", "import", gbk, "--data", data)
    assert not_utf8.exit_code == 2 and f"{gbk}: not UTF-8 text" in not_utf8.stderr
    assert "CSV UTF-8" in not_utf8.stderr  # what to do about it

    missing = tracker("certificates", "import", tmp_path / "nowhere.csv", "--data", data)
    assert missing.exit_code == 2 and "nowhere.csv: no such file" in missing.stderr
    assert rows(data, entries) == before
