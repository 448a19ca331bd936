"""The `tracker` command: every role, and the operator's tasks."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
import yaml

from tracker import product
from tracker.config import ConfigError, Settings, keep_data_private, load_settings
from tracker.domain.model import Severity
from tracker.domain.time import shown

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from tracker.checklists import Catalog
    from tracker.checklists.campaigns import Publication

T = TypeVar("T")

app = typer.Typer(
    help=f"{product.NAME['en']} / {product.NAME['zh']}",
    no_args_is_help=True,
    # A role that dies says why in its log as a plain traceback, not in boxes drawn for a terminal.
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The database.", no_args_is_help=True)
facilities_app = typer.Typer(help="Facilities of the bureau.", no_args_is_help=True)
users_app = typer.Typer(help="People who log in.", no_args_is_help=True)
docs_app = typer.Typer(help="Generated documents.", no_args_is_help=True)
calendar_app = typer.Typer(help="The working-day calendar.", no_args_is_help=True)
checklists_app = typer.Typer(help="The checklists in checklists/*.yaml.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data.", no_args_is_help=True)
stats_app = typer.Typer(help="The dashboard's day book.", no_args_is_help=True)
certificates_app = typer.Typer(
    help="Each facility's register of what expires (证照台账).", no_args_is_help=True
)
deadletters_app = typer.Typer(
    help="Events a consumer gave up on, and sending them again.", no_args_is_help=True
)
for sub, name in (
    (db_app, "db"),
    (facilities_app, "facilities"),
    (users_app, "users"),
    (docs_app, "docs"),
    (calendar_app, "calendar"),
    (checklists_app, "checklists"),
    (demo_app, "demo"),
    (stats_app, "stats"),
    (deadletters_app, "deadletters"),
    (certificates_app, "certificates"),
):
    app.add_typer(sub, name=name)

Data = Annotated[
    Path | None, typer.Option("--data", help="Data folder [default: $TRACKER_DATA_DIR, else ./var]")
]


def settings_for(data: Path | None) -> Settings:
    try:
        settings = load_settings(data)
    except ConfigError as error:
        typer.secho(f"configuration error: {error}", fg="red", err=True)
        raise typer.Exit(2) from None
    try:
        keep_data_private(settings.data_dir)
    except PermissionError as error:  # a folder of someone else's: it works, but say it is not closed
        typer.secho(f"warning: cannot make {settings.data_dir} private: {error}", fg="yellow", err=True)
    return settings


def require_schema(settings: Settings) -> None:
    """Stop with a clear word when the database is missing its tables or is behind the code."""
    from tracker.store.migrate import current_revision, head_revision

    try:
        current = asyncio.run(current_revision(settings.db_url))
    except Exception as error:  # noqa: BLE001 - any connection failure is reported the same way
        typer.secho(f"cannot open the database {settings.db_url}: {error}", fg="red", err=True)
        raise typer.Exit(2) from None
    if current != head_revision():
        typer.secho(
            f"the database is {'empty' if current is None else 'at revision ' + current}; "
            "run `tracker db upgrade` first",
            fg="red",
            err=True,
        )
        raise typer.Exit(2)


def with_database(data: Path | None, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Run `work` against the data folder's database, migrated to the current schema, then let the engine go."""
    settings = settings_for(data)
    require_schema(settings)
    return _with_engine(settings, work)


def _with_engine(settings: Settings, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Run `work` against the settings' database, then let the engine go: the one place a command opens it.
    Called directly by a command that uses its settings, or checks its input, before the database is opened."""
    from tracker.store.db import make_engine

    async def main() -> T:
        engine = make_engine(settings.db_url)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def _role(main, *args) -> None:
    from tracker.checklists import ChecklistInvalid
    from tracker.entry import roles

    try:
        roles.run(lambda stop: main(*args[:1], stop, *args[1:]), role=main.__name__)
    except ConfigError as error:
        typer.secho(f"configuration error: {error}", fg="red", err=True)
        raise typer.Exit(2) from None
    except ChecklistInvalid as error:
        # Never start on half the checklists: say every problem and stop.
        for problem in error.problems:
            typer.secho(problem, fg="red", err=True)
        raise typer.Exit(2) from None


@stats_app.command("catch-up")
def stats_catch_up(data: Data = None) -> None:
    """Bring the day book up to a few minutes ago (the scheduler does this every 10 minutes)."""
    _stats(data, rebuild=False)


@stats_app.command("rebuild")
def stats_rebuild(data: Data = None) -> None:
    """Build the day book over again from the findings: after findings were loaded by other means than the
    loop. The dashboard reads the findings rows meanwhile."""
    _stats(data, rebuild=True)


def _stats(data: Path | None, rebuild: bool) -> None:
    import time

    from tracker.clock import SystemClock
    from tracker.stats import daybook

    settings = settings_for(data)
    require_schema(settings)

    now = SystemClock().now()
    started = time.perf_counter()
    through = _with_engine(
        settings, lambda engine: daybook.rebuild(engine, now) if rebuild else daybook.catch_up(engine, now)
    )
    took = time.perf_counter() - started
    if through is None:
        typer.echo("the day book was already up to date")
    else:
        typer.echo(f"the day book holds every day before {through} ({took:.1f} s)")


@deadletters_app.command("list")
def deadletters_list(
    every: bool = typer.Option(False, "--all", help="Also those already sent again"), data: Data = None
) -> None:
    """The events a consumer gave up on, oldest first, with the reason."""
    from tracker.domain.calendar import LOCAL_TZ
    from tracker.service import deadletters

    letters = with_database(data, lambda engine: deadletters.listed(engine, include_replayed=every))
    if not letters:
        typer.echo("no dead letters" if every else "no dead letters waiting")
    for letter in letters:
        when = letter.at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
        sent = (
            f"  sent again {letter.replayed_at.astimezone(LOCAL_TZ):%Y-%m-%d %H:%M}"
            if letter.replayed_at
            else ""
        )
        typer.echo(f"{letter.id}  {when}  {letter.consumer}  {letter.subject}{sent}")
        typer.echo(f"    {letter.reason[:300]}")


@deadletters_app.command("replay")
def deadletters_replay(
    ids: Annotated[list[int] | None, typer.Argument(help="Dead letters to send again (see `list`)")] = None,
    every: bool = typer.Option(False, "--all", help="Send every dead letter not sent again yet"),
    data: Data = None,
) -> None:
    """Publish dead letters' events again, once their cause is fixed: the consumer that gave up runs them, the
    others skip what they handled already."""
    from tracker.service import deadletters

    if bool(ids) == every:
        typer.secho("name the dead letters to send again, or give --all", fg="red", err=True)
        raise typer.Exit(2)
    settings = settings_for(data)
    require_schema(settings)
    try:
        servers = settings.nats_servers
    except ConfigError as error:
        typer.secho(f"configuration error: {error}", fg="red", err=True)
        raise typer.Exit(2) from None

    sent = _with_engine(
        settings,
        lambda engine: deadletters.replay(engine, servers, None if every else ids, datetime.now(UTC)),
    )
    typer.echo(f"sent again: {', '.join(map(str, sent)) if sent else 'nothing'}")
    missing = sorted(set(ids or ()) - set(sent))
    if missing:
        typer.secho(
            f"not found, or sent again already: {', '.join(map(str, missing))}", fg="yellow", err=True
        )
        raise typer.Exit(1)


@app.command()
def web(data: Data = None, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the pages and the JSON API."""
    from tracker.entry import roles

    _role(roles.web, settings_for(data), host, port)


@app.command()
def worker(data: Data = None) -> None:
    """Run the event handlers on durable JetStream consumers."""
    from tracker.entry import roles

    _role(roles.worker, settings_for(data))


@app.command()
def relay(data: Data = None) -> None:
    """Publish committed outbox rows to JetStream."""
    from tracker.entry import roles

    _role(roles.relay, settings_for(data))


@app.command()
def scheduler(data: Data = None) -> None:
    """Run the reminder and escalation sweeps (one active at a time, by lease)."""
    from tracker.entry import roles

    _role(roles.scheduler, settings_for(data))


@app.command()
def mailer(data: Data = None) -> None:
    """Deliver queued mail with retry and backoff."""
    from tracker.entry import roles

    _role(roles.mailer, settings_for(data))


@app.command()
def sink(data: Data = None, host: str = "127.0.0.1", port: int = 2525) -> None:
    """A local SMTP server keeping every message as an .eml file in <data>/mail."""
    from tracker.entry import roles

    _role(roles.sink, settings_for(data), host, port)


@app.command()
def up(
    data: Data = None,
    demo: bool = typer.Option(False, "--demo", help="Load demo data into an empty database"),
    port: int = typer.Option(8000, "--port", help="Port of the web pages and API"),
) -> None:
    """Start everything on this machine: nats-server, SQLite, mail sink and every role."""
    from tracker.entry.supervisor import Supervisor, pick_port, port_free, secret_key

    settings = settings_for(data)
    if not port_free(port):
        typer.secho(f"--port: {port} is in use; choose another with --port", fg="red", err=True)
        raise typer.Exit(2)
    # Free ports of the moment: two tracker instances on one machine must never share a broker.
    nats_port, smtp_port = pick_port(0), pick_port(0)
    os.environ.update(
        {
            "TRACKER_DATA_DIR": str(settings.data_dir.resolve()),
            # A password of this run's own: the broker listens on loopback, where every user of the host can
            # reach it (the supervisor gives it to nats-server in a file only we read).
            "TRACKER_NATS_URL": f"nats://tracker:{secrets.token_hex(16)}@127.0.0.1:{nats_port}",
            "TRACKER_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
            "TRACKER_SECRET_KEY": secret_key(settings.data_dir),
            "TRACKER_BASE_URL": os.environ.get("TRACKER_BASE_URL", f"http://127.0.0.1:{port}"),
        }
    )
    settings = settings_for(settings.data_dir.resolve())
    _upgrade(settings)
    notes: list[str] = []
    if demo:
        # The seed's warnings (a year's holidays not loaded yet) come after what the operator needs first.
        with _held("tracker", notes):
            seeded = _seed(settings)
    supervisor = Supervisor(settings, port, nats_port, smtp_port)
    supervisor.start()
    base = settings.base_url
    typer.echo(f"""tracker is running / 系统已启动: {product.NAME["zh"]} / {product.NAME["en"]}
  home (each login opens its own page)  {base}/
  dashboard / 统计                       {base}/dashboard
  inspection / 开始检查                   {base}/inspect
  work list, orders / 我的工作             {base}/my
  mail viewer (admin) / 邮件查看           {base}/admin/mail   (files in {settings.mail_dir})
  API docs / 接口文档                     {base}/docs
  NATS            nats://127.0.0.1:{nats_port}  (user tracker; JetStream data in {settings.data_dir / "jetstream"})
  database        {settings.db_url}
  logs            {settings.data_dir / "logs"}""")
    if demo:
        from tracker.entry.demo import demo_logins

        typer.echo("demo data loaded." if seeded else "database has data already; demo data not loaded.")
        typer.echo("\ndemo logins / 演示账号 (login opens → page):")
        for login in demo_logins():
            typer.echo(f"  {login.username:<14} {login.password:<16} {login.who:<36} → {base}{login.opens}")
    for note in dict.fromkeys(notes):
        typer.echo(f"\nnote / 提示: {note}")
    typer.echo("\nPress Ctrl-C to stop.")
    supervisor.watch()


@contextmanager
def _held(logger: str, into: list[str]) -> Iterator[None]:
    """Warnings of `logger` kept in `into` instead of printed, for the while."""

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            into.append(record.getMessage())

    target, keep = logging.getLogger(logger), Keep(logging.WARNING)
    propagate, target.propagate = target.propagate, False
    target.addHandler(keep)
    try:
        yield
    finally:
        target.removeHandler(keep)
        target.propagate = propagate


def _upgrade(settings: Settings) -> None:
    from tracker.store.migrate import upgrade

    upgrade(settings.db_url)


def _seed(settings: Settings) -> bool:
    from tracker.checklists import load_catalog
    from tracker.entry.demo import seed

    return _with_engine(settings, lambda engine: seed(engine, load_catalog(), datetime.now(UTC)))


@db_app.command("upgrade")
def db_upgrade(data: Data = None) -> None:
    """Create or migrate the database to the latest schema."""
    settings = settings_for(data)
    _upgrade(settings)
    typer.echo(f"database at head: {settings.db_url}")


@db_app.command("prune")
def db_prune(
    data: Data = None,
    dry_run: bool = typer.Option(False, "--dry-run", help="Count what would go, change nothing"),
) -> None:
    """Remove what is past keeping: published outbox rows and handled events older than
    TRACKER_EVENTS_KEEP_DAYS; sent or failed mail older than TRACKER_MAIL_KEEP_DAYS reduced to its record.
    The scheduler does the same every hour."""
    from tracker.clock import SystemClock
    from tracker.store.retention import Retention, prunable, prune

    settings = settings_for(data)
    require_schema(settings)
    retention, now = Retention.from_settings(settings), SystemClock().now()

    counts = _with_engine(
        settings,
        lambda engine: prunable(engine, retention, now) if dry_run else prune(engine, retention, now),
    )
    typer.echo("would go (--dry-run):" if dry_run else "pruned:")
    typer.echo(
        f"  outbox          {counts['outbox']:>10}  published rows older than {settings.events_keep_days:g} days"
    )
    typer.echo(
        f"  handled_events  {counts['handled_events']:>10}  records older than {settings.events_keep_days:g} days"
    )
    typer.echo(
        f"  mail            {counts['mail']:>10}  sent or failed messages older than {settings.mail_keep_days} days"
        " reduced to who, when, kind, subject, status"
    )


@demo_app.command("seed")
def demo_seed(data: Data = None) -> None:
    """Load demo data into an empty database."""
    settings = settings_for(data)
    _upgrade(settings)
    typer.echo("demo data loaded." if _seed(settings) else "database has data already.")


def _parse_time(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO time like 2025-03-01T09:00") from None
    if moment.tzinfo is None:
        from tracker.domain.calendar import LOCAL_TZ

        moment = moment.replace(tzinfo=LOCAL_TZ)  # an operator types local (China Standard) time
    return moment.astimezone(UTC)


@app.command()
def escalate(
    as_of: Annotated[str | None, typer.Option("--as-of", help="Local time, e.g. 2025-03-01T09:00")] = None,
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what is due; change nothing"),
    data: Data = None,
) -> None:
    """Run one reminder and escalation sweep as of any moment."""
    from tracker.domain.policy import PolicySettings
    from tracker.service.certificates import CertificateSweep, sweep_certificates
    from tracker.service.reporting import Notices
    from tracker.service.review_sweep import ReviewSweepResult, review_sweep
    from tracker.service.supervision_sweep import SupervisionSweep, sweep_supervisions
    from tracker.service.sweep import SweepResult, sweep

    settings = settings_for(data)
    require_schema(settings)
    catalog = _catalog_or_exit()
    moment = _parse_time(as_of) if as_of else datetime.now(UTC)

    async def sweeps(
        engine: AsyncEngine,
    ) -> tuple[SweepResult, ReviewSweepResult, SupervisionSweep, CertificateSweep]:
        return (
            await sweep(engine, PolicySettings(), moment, dry_run=dry_run),
            await review_sweep(engine, PolicySettings(), moment, settings.base_url, dry_run=dry_run),
            await sweep_supervisions(
                engine,
                PolicySettings(),
                moment,
                settings.base_url,
                settings.supervision_prefix,
                dry_run=dry_run,
            ),
            await sweep_certificates(
                engine,
                catalog,
                moment,
                settings.base_url,
                Notices(PolicySettings(), settings.bureau_name, settings.supervision_prefix),
                dry_run=dry_run,
            ),
        )

    result, reviews, majors, registers = _with_engine(settings, sweeps)
    verb = "due" if dry_run else "raised"
    typer.echo(
        f"as of {moment.isoformat()}: {len(result.reminded)} reminder(s) {verb}, "
        f"{len(result.escalated)} escalation(s) {verb}"
    )
    for finding_id, level in result.escalated:
        typer.echo(f"  finding {finding_id} -> level {level}")
    typer.echo(
        f"复查 (verification): {len(reviews.reminded)} reminder(s) {verb}, "
        f"{len(reviews.escalated)} escalation(s) {verb}"
    )
    typer.echo(
        f"重大事故隐患 stages: {len(majors.reminded)} reminder(s) {verb}, {len(majors.escalated)} escalation(s) "
        f"{verb}, {len(majors.progress_late)} progress report(s) late"
    )
    typer.echo(
        f"证照台账 (certificates): {len(registers.reminded)} reminder(s) {verb}, "
        f"{len(registers.lapsed)} lapse(s) {verb}"
    )


@app.command()
def report(
    month: Annotated[str | None, typer.Option("--month", help="The month, e.g. 2025-03")] = None,
    fmt: Annotated[str, typer.Option("--format", help="pdf, xlsx or json")] = "pdf",
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write here [default: report-<month>.<format>, ledger-<from>-<to>.xlsx]"),
    ] = None,
    town: Annotated[str | None, typer.Option("--town", help="Only this town")] = None,
    ledger: Annotated[
        bool, typer.Option("--ledger", help="The hazard ledger (隐患台账) as .xlsx, for --from .. --to")
    ] = False,
    first: Annotated[
        str | None, typer.Option("--from", help="With --ledger: the first day, e.g. 2026-11-02")
    ] = None,
    last: Annotated[
        str | None, typer.Option("--to", help="With --ledger: the last day, included, e.g. 2026-11-08")
    ] = None,
    upward: Annotated[
        bool, typer.Option("--upward", help="The figures sent upward, for --month or --quarter (xlsx or pdf)")
    ] = False,
    quarter: Annotated[str | None, typer.Option("--quarter", help="With --upward: e.g. 2027Q1")] = None,
    data: Data = None,
) -> None:
    """The monthly report (summary, charts, breakdowns, overdue and major hazards), as the dashboard shows it; or,
    with --ledger, the hazard ledger of the inspections made from --from to --to (both days included); or, with
    --upward, the figures sent upward for a month or a quarter."""
    from tracker.checklists import load_catalog
    from tracker.documents import reports
    from tracker.stats.periods import Period
    from tracker.stats.query import Filter

    # Said before any figure is counted: else the work is done and ends in a traceback.
    if out is not None and not out.parent.is_dir():
        raise typer.BadParameter(f"there is no folder {out.parent}", param_hint="--out")
    # An option of another kind of report is refused, not silently left out.
    if quarter is not None and not upward:
        raise typer.BadParameter("only with --upward", param_hint="--quarter")
    if (first is not None or last is not None) and not ledger:
        raise typer.BadParameter("only with --ledger", param_hint="--from/--to")
    if ledger:
        _ledger(first, last, town, out, data)
        return
    if upward:
        _upward(month, quarter, fmt, town, out, data)
        return
    if month is None:
        raise typer.BadParameter("give the month, e.g. --month 2026-11 (or --ledger --from D --to D)")
    if fmt not in ("pdf", "xlsx", "json"):
        raise typer.BadParameter("must be pdf, xlsx or json", param_hint="--format")
    try:
        period = Period.parse_month(month)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--month") from None
    settings = _report_settings(data, town)
    now = datetime.now(UTC)
    catalog = load_catalog()

    dashboard = _with_engine(
        settings,
        lambda engine: reports.gather(engine, period, Filter(town=town), now, catalog, list_limit=None),
    )
    target = out or Path(f"report-{month}{'-' + town if town else ''}.{fmt}")
    if fmt == "json":
        target.write_text(
            json.dumps(reports.to_json(dashboard), ensure_ascii=False, indent=2), encoding="utf-8"
        )
    elif fmt == "xlsx":
        about = reports.caption(period, town, period.as_of(now))
        target.write_bytes(reports.workbook(list(reports.all_tables(dashboard, catalog).values()), about))
    else:
        target.write_bytes(reports.pdf(dashboard, catalog, now))
    typer.echo(f"wrote {target}")


def _report_settings(data: Path | None, town: str | None) -> Settings:
    """A report's settings, its database current, and the town asked for one where facilities are: a misspelt
    town would give a report of zeros."""
    from sqlalchemy import select

    from tracker.store.tables import facilities

    settings = settings_for(data)
    require_schema(settings)
    if town is not None:

        async def towns(engine: AsyncEngine) -> set[str]:
            async with engine.connect() as conn:
                return set((await conn.execute(select(facilities.c.town).distinct())).scalars())

        known = _with_engine(settings, towns)
        if town not in known:
            raise typer.BadParameter(
                f"no facility is in {town}; the towns are {'、'.join(sorted(known)) or 'none yet'}",
                param_hint="--town",
            )
    return settings


def _upward(
    month: str | None, quarter: str | None, fmt: str, town: str | None, out: Path | None, data: Path | None
) -> None:
    from tracker.checklists import load_catalog
    from tracker.documents import upward
    from tracker.stats.periods import Period

    if (month is None) == (quarter is None):
        raise typer.BadParameter("give one of --month 2027-01 or --quarter 2027Q1", param_hint="--upward")
    if fmt not in ("pdf", "xlsx"):
        raise typer.BadParameter("must be pdf or xlsx", param_hint="--format")
    try:
        period = Period.parse_month(month) if month else upward.parse_quarter(quarter or "")
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--month" if month else "--quarter") from None
    settings = _report_settings(data, town)
    now = datetime.now(UTC)
    catalog = load_catalog()

    figures = _with_engine(settings, lambda engine: upward.gather_upward(engine, period, town, now, catalog))
    name = month or (quarter or "").upper()
    target = out or Path(f"upward-{name}{'-' + town if town else ''}.{fmt}")
    if fmt == "xlsx":
        target.write_bytes(upward.workbook(figures, catalog))
    else:
        target.write_bytes(upward.pdf(figures, catalog, now))
    typer.echo(f"wrote {target}")


def _ledger(
    first: str | None, last: str | None, town: str | None, out: Path | None, data: Path | None
) -> None:
    from tracker.checklists import load_catalog
    from tracker.documents import ledger
    from tracker.stats.periods import Period

    days = []
    for value, hint in ((first, "--from"), (last, "--to")):
        try:
            days.append(date.fromisoformat(value or ""))
        except ValueError:
            raise typer.BadParameter("a day like 2026-11-02 is needed", param_hint=hint) from None
    if days[1] < days[0]:
        raise typer.BadParameter("the last day comes before the first", param_hint="--to")
    period = Period(days[0], days[1] + timedelta(days=1))
    settings = _report_settings(data, town)
    catalog = load_catalog()

    book = _with_engine(
        settings, lambda engine: ledger.ledger(engine, period, town, catalog, settings.county_word)
    )
    target = out or Path(f"ledger-{days[0]}-{days[1]}{'-' + town if town else ''}.xlsx")
    target.write_bytes(ledger.workbook(book))
    typer.echo(f"wrote {target}: {len(book.rows)} row(s)")


@facilities_app.command("import")
def facilities_import(file: Path, data: Data = None) -> None:
    """Import facilities from CSV (code,name,type,town,head_name,head_email[,ownership,sector]); bad rows are
    reported by line. Ownership and sector left out take the defaults of the facility's type."""
    from tracker.checklists import load_catalog
    from tracker.service.admin import import_facilities

    settings = settings_for(data)
    require_schema(settings)
    if not file.is_file():
        typer.secho(f"{file}: no such file", fg="red", err=True)
        raise typer.Exit(2)

    report = _with_engine(settings, lambda engine: import_facilities(engine, load_catalog(), file))
    for problem in report.problems:
        typer.secho(f"{file}: {problem}", fg="yellow", err=True)
    typer.echo(f"{report.added} added, {report.skipped} already known, {len(report.problems)} rejected")
    if report.problems:
        raise typer.Exit(1)


PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin", help="Read the password from the first line of stdin instead of asking for it."
    ),
]


def _new_password(from_stdin: bool) -> str:
    """From stdin, or asked twice with the typing hidden; never from the command line, which other people on
    the machine (ps) and the shell's history would see."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


def _admin_task(data: Path | None, task: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Run one of tracker.service.admin's tasks against the database; a refusal ends the command with its reason."""
    try:
        return with_database(data, task)
    except ValueError as error:
        typer.secho(str(error), fg="red", err=True)
        raise typer.Exit(2) from None


@users_app.command("add")
def users_add(
    role: str = typer.Option(..., "--role"),
    username: str = typer.Option(..., "--username"),
    email: str | None = typer.Option(None, "--email"),
    facility: str | None = typer.Option(None, "--facility", help="Facility code, for a facility head"),
    town: str | None = typer.Option(None, "--town", help="Town, for a town officer"),
    name: str = typer.Option(
        "", "--name", help="The name pages and mail show (a facility head: the facility's head_name)"
    ),
    warrant_no: str | None = typer.Option(
        None, "--warrant-no", help="执法证号, printed on inspection records"
    ),
    sector: list[str] = typer.Option(
        [], "--sector", help="A sector a section chief or bureau lead answers for (repeatable)"
    ),
    password_stdin: PasswordStdin = False,
    data: Data = None,
) -> None:
    """Add a person who logs in; the password is asked for, or read from stdin."""
    from tracker.service.admin import add_user

    password = _new_password(password_stdin)
    user_id = _admin_task(
        data,
        lambda engine: add_user(
            engine,
            role=role,
            username=username,
            password=password,
            email=email,
            facility=facility,
            town=town,
            name=name,
            warrant_no=warrant_no,
            sectors=sector,
        ),
    )
    typer.echo(f"user {username} added (id {user_id})")


@users_app.command("passwd")
def users_passwd(username: str, password_stdin: PasswordStdin = False, data: Data = None) -> None:
    """Give a person a new password; every session they had ends at once."""
    from tracker.service.admin import set_password

    password = _new_password(password_stdin)
    ended = _admin_task(data, lambda engine: set_password(engine, username, password))
    typer.echo(f"password of {username} changed; {ended} session(s) ended")


@users_app.command("deactivate")
def users_deactivate(username: str, data: Data = None) -> None:
    """Stop a person from logging in; every session they had ends at once."""
    from tracker.service.admin import deactivate_user

    ended = _admin_task(data, lambda engine: deactivate_user(engine, username))
    typer.echo(f"user {username} deactivated; {ended} session(s) ended")


@calendar_app.command("load")
def calendar_load(file: Path, data: Data = None) -> None:
    """Load a year's official holiday schedule (YAML or JSON: year, holidays, workdays); it then takes precedence,
    and the estimated deadlines over that year are counted again (moved only later, the facilities mailed)."""
    from tracker.service.admin import load_calendar_year

    settings = settings_for(data)
    require_schema(settings)
    try:
        content = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        typer.secho(f"{file}: {error}", fg="red", err=True)
        raise typer.Exit(2) from None

    try:
        loaded = _with_engine(
            settings,
            lambda engine: load_calendar_year(
                engine,
                content if isinstance(content, dict) else {},
                datetime.now(UTC),
                base_url=settings.base_url,
            ),
        )
    except ValueError as error:
        typer.secho(f"{file}: {error}", fg="red", err=True)
        raise typer.Exit(2) from None
    schedule = loaded.schedule
    typer.echo(
        f"{schedule.year}: {len(schedule.holidays)} holiday(s), {len(schedule.workdays)} make-up "
        "working day(s) loaded"
    )
    facilities = len({m.facility_id for m in loaded.moved})
    typer.echo(
        f"{len(loaded.moved)} estimated deadline(s) moved later; {facilities} facility(ies) to be mailed"
    )


@docs_app.command("asyncapi")
def docs_asyncapi(
    out: Path | None = typer.Option(None, "--out", help="Write to this file (.yaml or .json)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The AsyncAPI document of the events, generated from the app."""
    from tracker.handlers.consuming import asyncapi_app

    schema = asyncapi_app().schema.to_specification()
    text = schema.to_json() if as_json or (out and out.suffix == ".json") else schema.to_yaml()
    if out:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}")
    else:
        typer.echo(text)


@checklists_app.command("validate")
def checklists_validate(directory: Path | None = typer.Argument(None)) -> None:
    """Check every checklist file; print each problem with file and line."""
    from tracker.checklists import ChecklistInvalid, load_catalog

    try:
        catalog = load_catalog(directory)
    except ChecklistInvalid as error:
        for problem in error.problems:
            typer.secho(problem, fg="red", err=True)
        raise typer.Exit(1) from None
    total = sum(len(c.items) for c in catalog.categories.values())
    older = sum(len(catalog.versions(code)) - 1 for code in catalog.categories)
    typer.echo(
        f"ok: {len(catalog.categories)} checklists, {total} items, {len(catalog.rules)} rules, "
        f"{len(catalog.campaigns)} campaigns" + (f", {older} other checklist version(s)" if older else "")
    )
    _validate_certificate_kinds(catalog, directory)


def _validate_certificate_kinds(catalog: Catalog, directory: Path | None) -> None:
    """The register's kinds (checklists/certificates/kinds.yaml), where the folder has them: each names an item."""
    from tracker.checklists import ChecklistInvalid
    from tracker.checklists.certificates import KINDS_FILE, load_kinds
    from tracker.checklists.loader import default_directory

    root = directory or default_directory()
    if not (root / KINDS_FILE).is_file():
        return
    try:
        kinds = load_kinds(catalog, root)
    except ChecklistInvalid as error:
        for problem in error.problems:
            typer.secho(problem, fg="red", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"ok: {len(kinds)} certificate kinds, each on a checklist item")


@checklists_app.command("show")
def checklists_show(
    what: str | None = typer.Argument(None, help="An item code, a category or a campaign"),
    facility_type: str | None = typer.Option(
        None, "--facility-type", help="Show the items as this facility type sees them, e.g. funeral_home"
    ),
) -> None:
    """Print checklist items readably, with the printed basis and the internal note for inspectors."""
    from tracker.checklists import load_catalog

    catalog = load_catalog()
    if facility_type is not None and facility_type not in catalog.facility_types:
        typer.secho(f"--facility-type: unknown facility type {facility_type!r}", fg="red", err=True)
        raise typer.Exit(2)
    if what and catalog.has(what):
        items = [catalog.item(what)]
    elif what and what in catalog.categories:
        items = catalog.items(category=what)
    elif what and what in catalog.campaigns:
        items = catalog.campaign_items(what)
    elif what:
        typer.secho(f"{what}: neither an item code, a category nor a campaign", fg="red", err=True)
        raise typer.Exit(2)
    else:
        items = catalog.items()
    if facility_type is not None:
        items = [item.for_facility_type(facility_type) for item in items if item.applies_to(facility_type)]
    for item in items:
        days = {s.value: item.deadline_days(s) for s in Severity}
        lines = [
            f"{item.code}  [{item.category}] {item.severity}  deadline {json.dumps(days)}"
            f"{'  STOP USE' if item.stop_use else ''}",
            f"  {item.zh}",
            f"  {item.en}",
            *_basis_lines(item.basis, item.basis_verified, item.basis_note, item.major_situation, "  "),
        ]
        for code, basis in item.by_facility_type.items():
            lines.append(f"  at {code}: {basis.severity}{'  STOP USE' if basis.stop_use else ''}")
            lines += _basis_lines(
                basis.basis, basis.basis_verified, basis.basis_note, basis.major_situation, "    "
            )
        typer.echo("\n".join(lines) + "\n")


def _basis_lines(basis: str, verified: bool, note: str, situation: str | None, indent: str) -> list[str]:
    """The printed basis, then what only inspectors see: whether it was checked, the situation, the note."""
    lines = [f"{indent}依据 basis (printed): {basis}{'' if verified else '  (not checked against the text)'}"]
    if situation:
        lines.append(
            f"{indent}重大事故隐患情形 situation: {situation}{'' if verified else ' (mapping not verified)'}"
        )
    if note:
        lines.append(f"{indent}内部说明 note (inspectors only): {note}")
    return lines


def _parse_day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date like 2026-06-01", param_hint=option) from None


def _catalog_or_exit() -> Catalog:
    from tracker.checklists import ChecklistInvalid, load_catalog

    try:
        return load_catalog()
    except ChecklistInvalid as error:
        for problem in error.problems:
            typer.secho(problem, fg="red", err=True)
        raise typer.Exit(1) from None


@checklists_app.command("publish")
def checklists_publish(
    campaign: Annotated[str, typer.Argument(help="A campaign of checklists/campaigns/, e.g. flood_season")],
    starts: Annotated[
        str | None, typer.Option("--from", help="First day, e.g. 2026-06-01 [default: the season's]")
    ] = None,
    ends: Annotated[
        str | None, typer.Option("--to", help="Last day, included [default: the season's]")
    ] = None,
    facility_type: Annotated[
        list[str] | None,
        typer.Option("--facility-type", help="Repeat for several [default: every type the campaign is for]"),
    ] = None,
    by: Annotated[str, typer.Option("--by", help="Who publishes, for the record")] = "",
    data: Data = None,
) -> None:
    """Show a campaign checklist to facilities of some types from one day to another."""
    from tracker.checklists.campaigns import PublishError, default_window, publish
    from tracker.checklists.model import local_today

    settings = settings_for(data)
    require_schema(settings)
    catalog = _catalog_or_exit()
    if campaign not in catalog.campaigns:
        typer.secho(
            f"CAMPAIGN: unknown campaign {campaign!r} (known: {', '.join(sorted(catalog.campaigns))})",
            fg="red",
            err=True,
        )
        raise typer.Exit(2)
    season = default_window(catalog, campaign, local_today())
    first = _parse_day(starts, "--from") if starts else season[0]
    last = _parse_day(ends, "--to") if ends else season[1]

    try:
        done = _with_engine(
            settings,
            lambda engine: publish(
                engine, catalog, campaign, first, last, facility_type or None, datetime.now(UTC), by
            ),
        )
    except PublishError as error:
        typer.secho(str(error), fg="red", err=True)
        raise typer.Exit(2) from None
    count = len({i.code for t in done.facility_types for i in catalog.campaign_items(campaign, t)})
    typer.echo(
        f"published {campaign} (version {done.campaign_version}) as publication {done.id}: {count} items, "
        f"{done.starts_on.isoformat()} to {done.ends_on.isoformat()}, for {', '.join(done.facility_types)}"
    )


@checklists_app.command("withdraw")
def checklists_withdraw(
    publication_id: Annotated[int, typer.Argument(help="The id printed by publish")], data: Data = None
) -> None:
    """Stop showing a published campaign; the publication stays on record."""
    from tracker.checklists.campaigns import PublishError, withdraw

    settings = settings_for(data)
    require_schema(settings)
    now = datetime.now(UTC)
    try:
        done = _with_engine(settings, lambda engine: withdraw(engine, publication_id, now))
    except PublishError as error:
        typer.secho(str(error), fg="red", err=True)
        raise typer.Exit(2) from None
    earlier = done.withdrawn_at
    if earlier is not None and (earlier if earlier.tzinfo else earlier.replace(tzinfo=UTC)) < now:
        typer.echo(f"publication {done.id} of {done.campaign} was already withdrawn, {shown(earlier)}")
    else:
        typer.echo(f"publication {done.id} of {done.campaign} withdrawn")


@checklists_app.command("publications")
def checklists_publications(data: Data = None) -> None:
    """List every campaign publication, active or not."""
    from tracker.checklists.campaigns import publications
    from tracker.checklists.model import local_today

    async def listed(engine: AsyncEngine) -> list[Publication]:
        async with engine.connect() as conn:
            return await publications(conn)

    today = local_today()
    found = with_database(data, listed)
    if not found:
        typer.echo("no publications yet")
    for pub in found:
        state = (
            "withdrawn" if pub.withdrawn_at else ("showing" if pub.active_on(today) else "not showing today")
        )
        typer.echo(
            f"{pub.id:>4}  {pub.campaign} {pub.campaign_version}  {pub.starts_on} .. {pub.ends_on}  "
            f"{state}  {', '.join(pub.facility_types)}"
        )


@checklists_app.command("export")
def checklists_export(
    facility_type: Annotated[str, typer.Option("--facility-type", help="e.g. nursing_home")],
    fmt: Annotated[str, typer.Option("--format", help="pdf or xlsx")],
    out: Annotated[Path, typer.Option("--out", help="File to write")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Use the checklist versions in effect on this day")
    ] = None,
) -> None:
    """A printable checklist (PDF) or a spreadsheet (Excel) for one facility type."""
    from tracker.checklists.export import export_pdf, export_xlsx

    catalog = _catalog_or_exit()
    if as_of:
        catalog = catalog.at(_parse_day(as_of, "--as-of"))
    if facility_type not in catalog.facility_types:
        typer.secho(
            f"--facility-type: unknown facility type {facility_type!r} "
            f"(known: {', '.join(catalog.facility_types)})",
            fg="red",
            err=True,
        )
        raise typer.Exit(2)
    if fmt not in ("pdf", "xlsx"):
        typer.secho(f"--format: {fmt!r} is neither pdf nor xlsx", fg="red", err=True)
        raise typer.Exit(2)
    out.parent.mkdir(parents=True, exist_ok=True)
    count = (export_pdf if fmt == "pdf" else export_xlsx)(catalog, facility_type, out)
    typer.echo(f"wrote {out}: {count} items for {facility_type}")


rules_app = typer.Typer(
    help="Rules over an inspection's failures (checklists/rules.yaml).", no_args_is_help=True
)
app.add_typer(rules_app, name="rules")


def _rules_run(data: Path | None, work):
    from tracker.domain.errors import InvalidInput

    try:
        return with_database(data, work)
    except InvalidInput as error:
        typer.secho(f"{error.field}: {error}", fg="red", err=True)
        raise typer.Exit(2) from None


@rules_app.command("list")
def rules_list(data: Data = None) -> None:
    """Every rule: binding (a standard, or a local document recorded) or advising only."""
    from tracker.service.composite import rule_states

    catalog = _catalog_or_exit()
    for state in _rules_run(data, lambda engine: rule_states(engine, catalog)):
        if state.backing == "standard":
            how = "binding: standard"
        elif state.document:
            how = f"binding: {state.document} from {state.effective.isoformat() if state.effective else '?'}"
        else:
            how = "advising only: no local document recorded"
        typer.echo(f"{state.code}  {state.kind}  {how}\n  {state.zh}")


@rules_app.command("adopt")
def rules_adopt(
    code: Annotated[str, typer.Argument(help="A locally backed rule, e.g. RULE-NIGHT-FIRE-01")],
    document: Annotated[str, typer.Option("--document", help="The adopting document's number")],
    effective: Annotated[str, typer.Option("--effective", help="First day it binds, e.g. 2026-12-01")],
    by: Annotated[str, typer.Option("--by", help="Who records it")] = "",
    data: Data = None,
) -> None:
    """Record the local document that makes a rule bind (grade) from a day on; until then it only advises."""
    from tracker.service.composite import adopt

    catalog = _catalog_or_exit()
    day = _parse_day(effective, "--effective")
    _rules_run(data, lambda engine: adopt(engine, catalog, code, document, day, by, datetime.now(UTC)))
    typer.echo(f"{code} binds from {day.isoformat()} under {document.strip()}")


@rules_app.command("referrals")
def rules_referrals(data: Data = None) -> None:
    """Findings referred to another agency, and its answer where recorded."""
    from tracker.service.composite import referral_list

    found = _rules_run(data, referral_list)
    if not found:
        typer.echo("no referrals yet")
    for r in found:
        answer = (
            f"answered {r.answered_at:%Y-%m-%d} by {r.answered_by}: {r.answer}" if r.answered_at else "open"
        )
        typer.echo(
            f"{r.id:>4}  finding {r.finding_id}  {r.agency}  referred {r.referred_at:%Y-%m-%d}  {answer}"
        )


@rules_app.command("answer")
def rules_answer(
    referral_id: Annotated[int, typer.Argument(help="The id `tracker rules referrals` shows")],
    answer: Annotated[str, typer.Option("--answer", help="What the agency determined")],
    by: Annotated[str, typer.Option("--by", help="Who records it")] = "",
    data: Data = None,
) -> None:
    """Record an agency's answer to a referral."""
    from tracker.service.composite import answer_referral

    _rules_run(data, lambda engine: answer_referral(engine, referral_id, answer, by, datetime.now(UTC)))
    typer.echo(f"referral {referral_id} answered")


@rules_app.command("notes")
def rules_notes(data: Data = None) -> None:
    """What advising rules said of inspections, for staff: never printed on an order or a mail."""
    from tracker.service.composite import advice_notes

    found = _rules_run(data, advice_notes)
    if not found:
        typer.echo("no advice notes yet")
    for n in found:
        typer.echo(f"inspection {n.inspection_id}  {n.rule_code}  {n.note}: {', '.join(n.item_codes)}")


@users_app.command("set")
def users_set(
    username: str,
    warrant_no: str | None = typer.Option(None, "--warrant-no", help="执法证号; an empty value clears it"),
    sector: list[str] = typer.Option(
        [], "--sector", help="The sectors they answer for, replacing those recorded (repeatable)"
    ),
    name: str | None = typer.Option(
        None, "--name", help="The name pages and mail show (张建国), not the login"
    ),
    town: str | None = typer.Option(
        None,
        "--town",
        help="Their town: a town officer's office, an inspector's home (the draw keeps them away)",
    ),
    data: Data = None,
) -> None:
    """Change what is recorded of a person: their name, enforcement warrant number (执法证号), sectors, town."""
    from tracker.service.admin import set_name, set_sectors, set_town, set_warrant_no

    if warrant_no is None and not sector and name is None and town is None:
        typer.secho(
            "nothing to change: give --name, --warrant-no, --sector and/or --town", fg="red", err=True
        )
        raise typer.Exit(2)
    if town is not None:
        _admin_task(data, lambda engine: set_town(engine, username, town))
        typer.echo(f"user {username}: town {town.strip() or 'cleared'}")
    if name is not None:
        _admin_task(data, lambda engine: set_name(engine, username, name))
        typer.echo(f"user {username}: name {name.strip()}")
    if warrant_no is not None:
        _admin_task(data, lambda engine: set_warrant_no(engine, username, warrant_no))
        typer.echo(f"user {username}: warrant number {warrant_no.strip() or 'cleared'}")
    if sector:
        _admin_task(data, lambda engine: set_sectors(engine, username, sector))
        typer.echo(f"user {username}: sectors {', '.join(sorted(set(sector)))}")


@facilities_app.command("set")
def facilities_set(
    code: str,
    ownership: str | None = typer.Option(
        None, "--ownership", help="bureau (局属), town (乡镇), private (民办)"
    ),
    sector: str | None = typer.Option(None, "--sector", help="elderly, children, social_affairs, relief"),
    data: Data = None,
) -> None:
    """Change who runs a facility or its sector; later escalations follow the new ladder."""
    from tracker.service.admin import set_facility

    _admin_task(data, lambda engine: set_facility(engine, code, ownership=ownership, sector=sector))
    typer.echo(f"facility {code}: updated")


@certificates_app.command("import")
def certificates_import(file: Path, data: Data = None) -> None:
    """Import register entries from CSV (facility,kind,label,number,expires_on; the facility by its code, the date
    YYYY-MM-DD). An entry of the same facility, kind and label is updated. One faulty line and nothing is
    imported: every fault is printed with its line."""
    from tracker.service.certificates import ImportRejected, import_csv

    settings = settings_for(data)
    require_schema(settings)
    catalog = _catalog_or_exit()
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        typer.secho(f"{file}: no such file", fg="red", err=True)
        raise typer.Exit(2) from None
    except UnicodeDecodeError:
        typer.secho(
            f"{file}: not UTF-8 text; in Excel, save it as 'CSV UTF-8' (逗号分隔, UTF-8)", fg="red", err=True
        )
        raise typer.Exit(2) from None
    except OSError as error:
        typer.secho(f"{file}: cannot read it: {error}", fg="red", err=True)
        raise typer.Exit(2) from None

    try:
        done = _with_engine(settings, lambda engine: import_csv(engine, catalog, text, datetime.now(UTC)))
    except ImportRejected as rejected:
        for problem in rejected.problems:
            typer.secho(f"{file}: {problem}", fg="red", err=True)
        typer.secho(f"nothing imported: {len(rejected.problems)} faulty line(s)", fg="red", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{done.added} added, {done.changed} changed, {done.unchanged} unchanged")


def _add_plans() -> None:
    # The plans' commands live in their own module; they read settings through this one.
    from tracker.entry.plans_cli import plans_app

    app.add_typer(plans_app, name="plans")


_add_plans()
