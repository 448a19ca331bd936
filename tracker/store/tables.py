"""The tables. Times are stored as naive UTC and handed out as aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class DaysBetween(FunctionElement[int]):
    """Calendar days from the local (China Standard Time, UTC+8 all year) day of one stored UTC moment to that
    of another, worked out by the database: counting them in Python means parsing every moment first."""

    type = Integer()
    inherit_cache = True
    name = "days_between"


@compiles(DaysBetween, "sqlite")
def _days_between_sqlite(element: DaysBetween, compiler: Any, **kw: Any) -> str:
    first, last = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(julianday(date({last}, '+8 hours')) - julianday(date({first}, '+8 hours')) AS INTEGER)"


@compiles(DaysBetween, "postgresql")
def _days_between_postgresql(element: DaysBetween, compiler: Any, **kw: Any) -> str:
    first, last = (compiler.process(c, **kw) for c in element.clauses)
    return f"(CAST({last} + INTERVAL '8 hours' AS DATE) - CAST({first} + INTERVAL '8 hours' AS DATE))"


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

facilities = Table(
    "facilities",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(40), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("type", String(40), nullable=False),
    Column("town", String(60), nullable=False, index=True),
    Column("head_name", String(100), nullable=False),
    Column("head_email", String(200), nullable=False),
    # Who runs it (tracker.domain.model.Ownership) and its sector (Sector); they choose the ladder. Migration 0023.
    Column("ownership", String(20), nullable=False, server_default="town"),
    Column("sector", String(20), nullable=False, server_default="elderly"),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(80), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),
    Column("role", String(30), nullable=False),
    Column("name", String(100), nullable=False, default=""),
    Column("email", String(200)),
    Column("facility_id", ForeignKey("facilities.id")),
    Column("town", String(60)),
    Column("active", Boolean, nullable=False, default=True),
    # 执法证号: printed beside the inspector's name on the on-site record and the order (migration 0020).
    Column("warrant_no", String(40)),
)

# The sectors a section chief or bureau lead answers for; a lead may oversee several. Migration 0023.
user_sectors = Table(
    "user_sectors",
    metadata,
    Column("user_id", ForeignKey("users.id"), primary_key=True),
    Column("sector", String(20), primary_key=True, index=True),
)

inspections = Table(
    "inspections",
    metadata,
    Column("id", Integer, primary_key=True),
    # Indexed alone as well (migration 0037): a POST asks whether anyone sent its ref before.
    Column("client_ref", String(100), nullable=False, index=True),
    Column("facility_id", ForeignKey("facilities.id"), nullable=False, index=True),
    Column("mode", String(20), nullable=False),
    Column("inspector_id", ForeignKey("users.id"), nullable=False),
    Column("submitted_at", UTCDateTime, nullable=False),
    Column("checklist_versions", JSON, nullable=False, default=dict),
    # When the check began, taken on the phone and kept through an offline queue (null before migration 0020:
    # readers fall back to submitted_at); and the facility's person present, who signs the on-site record.
    Column("onsite_at", UTCDateTime),
    # A server default only: rows written by code older than this column (other migrations' data steps) get it too.
    Column("person_present", String(100), nullable=False, server_default=""),
    # A client_ref is its sender's idempotency key: another person's ref is another key.
    UniqueConstraint("inspector_id", "client_ref"),
)
# When a check took place, as coverage and the dashboard's count of items fixed on the spot read it (migration
# 0036): a month's checks, not every check of a town's facilities.
Index("ix_inspections_on_site", func.coalesce(inspections.c.onsite_at, inspections.c.submitted_at))

# Who made the check (migration 0020): the submitter at position 0, then the co-inspectors in the order chosen.
inspection_inspectors = Table(
    "inspection_inspectors",
    metadata,
    Column("inspection_id", ForeignKey("inspections.id"), nullable=False),
    Column("user_id", ForeignKey("users.id"), nullable=False),
    Column("position", Integer, nullable=False),
    PrimaryKeyConstraint("inspection_id", "user_id"),
)

inspection_items = Table(
    "inspection_items",
    metadata,
    Column("inspection_id", ForeignKey("inspections.id"), primary_key=True),
    Column("item_code", String(40), primary_key=True),
    # pass | fail | na | fixed (当场整改: fixed during the visit, a note required, no finding; migration 0020)
    Column("result", String(10), nullable=False),
    Column("note", Text, nullable=False, default=""),
)

# Photos of an item fixed during the visit: it has no finding to link them to (migration 0020).
inspection_item_photos = Table(
    "inspection_item_photos",
    metadata,
    Column("photo_id", ForeignKey("photos.id"), primary_key=True),
    Column("inspection_id", ForeignKey("inspections.id"), nullable=False, index=True),
    Column("item_code", String(40), nullable=False),
)

orders = Table(
    "orders",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("inspection_id", ForeignKey("inspections.id"), nullable=False),
    Column("facility_id", ForeignKey("facilities.id"), nullable=False),
    Column("issued_at", UTCDateTime, nullable=False),
    # The order's number of its year (local time): printed as <abbr>〔year〕number号, from order_numbers when
    # issued (migration 0021 numbered the orders issued before).
    Column("year", Integer),
    Column("number", Integer),
    UniqueConstraint("inspection_id", "facility_id"),
    Index("ix_orders_year_number", "year", "number", unique=True),
)

# The order's PDF as rendered (tracker.documents.kept): rendered once, then served by every send, retry and
# download while `printed`, the fingerprint of everything the document prints, still matches. In the database, not
# the data folder, so every role on every host reads the same one. Migration 0032.
order_documents = Table(
    "order_documents",
    metadata,
    Column("order_id", ForeignKey("orders.id"), primary_key=True, autoincrement=False),
    Column("printed", String(64), nullable=False),
    Column("filename", String(200), nullable=False),
    Column("pdf", LargeBinary, nullable=False),
    Column("rendered_at", UTCDateTime, nullable=False),
)

# The last order number given in each year: issuing an order counts it up in its own transaction, so two issuers
# at once get two numbers and the first order of a year is number 1 (migration 0021).
order_numbers = Table(
    "order_numbers",
    metadata,
    Column("year", Integer, primary_key=True, autoincrement=False),
    Column("last_number", Integer, nullable=False),
)

# What the dashboard's figures read besides the period columns: the covering indexes hold them all.
STATS_COLUMNS = (
    "closed_at",
    "due_at",
    "submitted_at",
    "status",
    "severity",
    "category",
    "facility_id",
    "town",
    "facility_type",
    "mode",
    "is_repeat",
)

findings = Table(
    "findings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("inspection_id", ForeignKey("inspections.id"), nullable=False, index=True),
    Column("facility_id", ForeignKey("facilities.id"), nullable=False, index=True),
    Column("order_id", ForeignKey("orders.id")),
    # The item's words are copied so an old finding keeps them when a checklist changes.
    Column("item_code", String(40), nullable=False),
    Column("category", String(40), nullable=False),
    Column("item_zh", Text, nullable=False),
    Column("item_en", Text, nullable=False),
    Column("basis", Text, nullable=False, default=""),
    Column("severity", String(10), nullable=False),
    Column("severity_rule", String(60)),
    # An item whose default grade is major, recorded as general: why (required), and the downgrade's state
    # (null: none asked; pending: it stays major until a section chief decides; approved; refused). Migration 0020.
    Column("severity_reason", Text),
    Column("downgrade", String(10)),
    Column("stop_use", Boolean, nullable=False, default=False),
    Column("description", Text, nullable=False, default=""),
    Column("status", String(12), nullable=False),
    Column("listed_for_supervision", Boolean, nullable=False, default=False),
    Column("owner_user_id", ForeignKey("users.id")),
    Column("owner_name", String(100)),
    Column("owner_email", String(200)),
    Column("deadline_days", Integer),
    Column("due_at", UTCDateTime),
    Column("due_day", Date),
    Column("due_estimated", Boolean, nullable=False, default=False),
    # What the running deadline was counted from, to count it again when an estimated year's schedule is loaded
    # (tracker.service.deadlines, migration 0027); null for a deadline set before 0027 with no start on record.
    Column("due_from", UTCDateTime),
    Column("due_workdays", Integer),
    Column("remind_at", UTCDateTime),
    Column("next_escalation_at", UTCDateTime),
    Column("escalation_level", Integer, nullable=False, default=0),
    # Each rejection opens a new round, so its reminder and escalation mail are new messages.
    Column("round", Integer, nullable=False, default=1),
    Column("reported_at", UTCDateTime, nullable=False),
    Column("ordered_at", UTCDateTime),
    Column("submitted_at", UTCDateTime),
    Column("closed_at", UTCDateTime),
    Column("closed_by", ForeignKey("users.id")),
    # Copies for the dashboard (tracker.stats, migration 0004), written with the finding and never changed: the
    # facility's town and type and the inspection's mode, and whether the same item had failed at the same
    # facility before (an earlier finding with this facility_id and item_code). They spare the stats queries
    # their joins, so the two indexes below cover them.
    Column("town", String(60), nullable=False),
    Column("facility_type", String(40), nullable=False),
    Column("mode", String(20), nullable=False),
    Column("is_repeat", Boolean, nullable=False, default=False),
    # The bureau's own 复查 deadline while a rectification waits for verification (set when it is submitted,
    # cleared when it is verified), its reminder to the inspector and its escalation (migration 0025).
    Column("review_due_at", UTCDateTime),
    Column("review_day", Date),
    Column("review_remind_at", UTCDateTime),
    Column("review_escalation_at", UTCDateTime),
    Column("review_level", Integer, nullable=False, default=0, server_default="0"),
    Index("ix_findings_due_escalation", "status", "next_escalation_at"),
    Index("ix_findings_review_reminder", "status", "review_remind_at"),
    Index("ix_findings_review_escalation", "status", "review_escalation_at"),
    Index("ix_findings_due_reminder", "status", "remind_at"),
    Index("ix_findings_status_facility", "status", "facility_id"),
    # For the dashboard (tracker.stats, migrations 0002 and 0004): period ranges, covering every column the
    # figures read, and repeat findings.
    Index("ix_findings_stats_reported", "reported_at", *STATS_COLUMNS),
    Index("ix_findings_stats_closed", "closed_at", "reported_at", *STATS_COLUMNS[1:]),
    Index("ix_findings_repeat", "facility_id", "item_code", "reported_at"),
    # The dashboard's lists, a page at a time: overdue at a past moment by deadline (the columns it checks are
    # read in the index, not from each candidate's row).
    Index("ix_findings_list_overdue", "due_at", "closed_at", "reported_at", "submitted_at", "status"),
    # Overdue now, oldest deadline first; and the majors, by report (migration 0036), with the page's filters, read
    # in the index as it walks (0038). On PostgreSQL, statistics of status and closed_at together (st_findings_open,
    # migration 0038) let a town's overdue list walk the first.
    Index("ix_findings_overdue", "status", "due_at"),
    Index(
        "ix_findings_major",
        *("reported_at", "closed_at", "town", "facility_type", "facility_id", "category", "mode"),
        sqlite_where=text("severity = 'major'"),
        postgresql_where=text("severity = 'major'"),
        postgresql_include=["id"],
    ),
)

# The day book (tracker.stats.daybook, migration 0036): what a week's or month's page reads instead of every finding,
# per town and value of one dimension (facility type, facility, category, severity, mode), of every finding
# (of_dim "") or of those with one value (of_dim, of_key) of a dimension: a page narrowed to it.
DAYBOOK_DIMENSIONS = ("facility_type", "facility", "category", "severity", "mode")
DAYBOOK_FLOWS = ("found", "found_major", "repeat", "repeat_major", "closed", "on_time", "closed_of_found")
DAYBOOK_STOCKS = ("open", "open_major", "overdue")


def _cells(
    name: str, period: tuple[Column[Any], ...], cell: tuple[Column[Any], ...], counts: tuple[str, ...]
) -> Table:
    # A page's cells are one range of the key: its period, then every finding's or its one value's, its town.
    return Table(
        name,
        metadata,
        *period,
        Column("of_dim", String(20), primary_key=True),
        Column("of_key", String(60), primary_key=True),
        Column("town", String(60), primary_key=True),
        *cell,
        *(Column(count, Integer, nullable=False) for count in counts),
    )


def _period() -> tuple[Column[Any], ...]:
    return (Column("unit", String(5), primary_key=True), Column("start", Date, primary_key=True))


def _dim_key() -> tuple[Column[Any], ...]:
    return (Column("dim", String(20), primary_key=True), Column("key", String(60), primary_key=True))


# The flows of each week (Monday first) and calendar month over its days before stats_state.through: stored once
# when it ends, and again each day while it runs.
stats_periods = _cells("stats_periods", _period(), _dim_key(), DAYBOOK_FLOWS)
# A trend's weeks or months of one value (migration 0038): by the key, each period's every town and dimension.
_p = stats_periods.c
Index("ix_stats_periods_trend", _p.unit, _p.of_dim, _p.of_key, _p.dim, _p.start, _p.key)
# The stock snapshot: open, open major and overdue at 00:00 of `day`.
stats_stocks = _cells("stats_stocks", (Column("day", Date, primary_key=True),), _dim_key(), DAYBOOK_STOCKS)
# How many findings closed in a week's or month's days before stats_state.through took `days` to close.
stats_close_days = _cells(
    "stats_close_days", _period(), (Column("days", Integer, primary_key=True),), ("closed",)
)
# The findings counted overdue in the snapshot at 00:00 of stats_state.through: with the day's history they give
# overdue now.
stats_overdue = Table("stats_overdue", metadata, Column("finding_id", Integer, primary_key=True))
# One row: the day book holds every day before `through`, and has seen the history and findings up to these ids.
stats_state = Table(
    "stats_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("through", Date, nullable=False),
    Column("history_id", Integer, nullable=False),
    Column("finding_id", Integer, nullable=False),
)

history = Table(
    "finding_history",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("finding_id", ForeignKey("findings.id"), nullable=False, index=True),
    Column("at", UTCDateTime, nullable=False),
    Column("action", String(30), nullable=False),
    Column("actor_id", ForeignKey("users.id")),
    Column("note", Text, nullable=False, default=""),
    Column("data", JSON, nullable=False, default=dict),
    Index("ix_finding_history_action_at", "action", "at"),
    # What changed today (tracker.stats.query, overdue now).
    Index("ix_finding_history_at", "at", "finding_id"),
)

photos = Table(
    "photos",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("content_type", String(40), nullable=False),
    Column("size", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("uploaded_by", ForeignKey("users.id"), nullable=False),
    Column("uploaded_at", UTCDateTime, nullable=False),
)

photo_links = Table(
    "photo_links",
    metadata,
    Column("photo_id", ForeignKey("photos.id"), primary_key=True),
    Column("finding_id", ForeignKey("findings.id"), primary_key=True, index=True),
    Column("stage", String(20), nullable=False),
)

rectifications = Table(
    "rectifications",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("finding_id", ForeignKey("findings.id"), nullable=False, index=True),
    Column("note", Text, nullable=False),
    Column("submitted_by", ForeignKey("users.id"), nullable=False),
    Column("submitted_at", UTCDateTime, nullable=False),
    # Its 复查 deadline and when it was verified: "复查超期" at any moment is read from these (migration 0025).
    Column("review_due_at", UTCDateTime),
    Column("reviewed_at", UTCDateTime),
    Index("ix_rectifications_review_due_at", "review_due_at"),
)

verifications = Table(
    "verifications",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("finding_id", ForeignKey("findings.id"), nullable=False, index=True),
    Column("accepted", Boolean, nullable=False),
    Column("note", Text, nullable=False),
    Column("verified_by", ForeignKey("users.id"), nullable=False),
    Column("verified_at", UTCDateTime, nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("subject", String(100), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("published_at", UTCDateTime, index=True),
)

handled_events = Table(
    "handled_events",
    metadata,
    Column("consumer", String(60), primary_key=True),
    Column("event_id", String(36), primary_key=True),
    # Indexed for pruning (tracker.store.retention), migration 0033.
    Column("handled_at", UTCDateTime, nullable=False, index=True),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("consumer", String(60), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    # When `tracker deadletters replay` published it again (null: not yet).
    Column("replayed_at", UTCDateTime),
)

mail = Table(
    "mail",
    metadata,
    Column("id", Integer, primary_key=True),
    # One message per (subject matter, recipient, kind): the unique key makes a second one impossible.
    Column("dedupe_key", String(300), nullable=False, unique=True),
    Column("kind", String(30), nullable=False),
    Column("about", String(60), nullable=False, index=True),
    Column("to_addr", String(200), nullable=False),
    Column("subject", Text, nullable=False),
    # Emptied (with `attachment`) after the audit period, TRACKER_MAIL_KEEP_DAYS (tracker.store.retention).
    Column("text_body", Text, nullable=False),
    Column("html_body", Text, nullable=False),
    Column("status", String(10), nullable=False, default="queued"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("claimed_until", UTCDateTime),
    Column("claimed_by", String(100)),
    Column("last_error", Text),
    # Indexed for reducing old mail to its record (tracker.store.retention), migration 0033.
    Column("created_at", UTCDateTime, nullable=False, index=True),
    Column("sent_at", UTCDateTime),
    # What the mailer attaches when it sends, rendered then and not in the transaction that queued the mail:
    # "order-pdf:<order id>" is the rectification order as PDF (tracker.documents.order). Migration 0005.
    Column("attachment", String(100)),
    Index("ix_mail_due", "status", "next_attempt_at"),
)

# A facility head's request for more time on one finding, and the inspector's side's decision on it.
# Migration 0005.
extension_requests = Table(
    "extension_requests",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("finding_id", ForeignKey("findings.id"), nullable=False, index=True),
    Column("days", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("requested_by", ForeignKey("users.id"), nullable=False),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("due_day_before", Date),
    Column("status", String(10), nullable=False, default="pending"),
    Column("decided_by", ForeignKey("users.id")),
    Column("decided_at", UTCDateTime),
    Column("decision_note", Text, nullable=False, default=""),
    Column("new_due_day", Date),
)

# An escalation action the bureau took on a finding (tracker.domain.actions): 催办, 约谈, 通报, 移送 (to whom),
# 责令停业整顿, 信用措施; the day it was taken, who recorded it, the note and the minutes or letter (photos).
# Migration 0025.
finding_actions = Table(
    "finding_actions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("finding_id", ForeignKey("findings.id"), nullable=False, index=True),
    Column("kind", String(20), nullable=False),
    Column("to_whom", String(200)),
    Column("note", Text, nullable=False),
    Column("on_day", Date, nullable=False),
    Column("at", UTCDateTime, nullable=False, index=True),
    Column("by_user", ForeignKey("users.id"), nullable=False),
    Column("photos", JSON, nullable=False, default=list),
)

# The last run of each scheduler job, with what it did: read by /metrics on any web process. Migration 0033.
job_runs = Table(
    "job_runs",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("finished_at", UTCDateTime, nullable=False),
    Column("seconds", Float, nullable=False),
    Column("counts", JSON, nullable=False),
)

leases = Table(
    "leases",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("holder", String(100), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

# Who is logged in: a person's token names its row, and ending the row ends the token at once, as cookie and as
# bearer alike. Migration 0017.
sessions = Table(
    "sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("user_id", ForeignKey("users.id"), nullable=False, index=True),
    Column("issued_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False, index=True),
)

# Failed logins counted per account and per client address (tracker.domain.throttle), where every web process
# sees them. The key is the kind and a digest of the name or address. Migration 0017.
login_failures = Table(
    "login_failures",
    metadata,
    Column("key", String(80), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_failed_at", UTCDateTime, nullable=False, index=True),
)

calendar_years = Table(
    "calendar_years",
    metadata,
    Column("year", Integer, primary_key=True),
    Column("schedule", JSON, nullable=False),
    Column("loaded_at", UTCDateTime, nullable=False),
)

# A campaign checklist published by the bureau: its items are shown to facilities of these types while
# today's date (China Standard Time) lies within starts_on..ends_on, both included.
campaign_publications = Table(
    "campaign_publications",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("campaign", String(60), nullable=False),
    Column("campaign_version", String(40), nullable=False),
    Column("facility_types", JSON, nullable=False),
    Column("starts_on", Date, nullable=False),
    Column("ends_on", Date, nullable=False),
    Column("published_at", UTCDateTime, nullable=False),
    Column("published_by", String(100), nullable=False, default=""),
    Column("withdrawn_at", UTCDateTime),
    Index("ix_campaign_publications_period", "starts_on", "ends_on"),
)

# Composite rules (tracker.service.composite, migration 0019). A finding a composite rule made for one inspection,
# and the element findings it was judged from, which keep their own grade.
finding_links = Table(
    "finding_links",
    metadata,
    Column("finding_id", ForeignKey("findings.id"), primary_key=True),
    Column("element_finding_id", ForeignKey("findings.id"), primary_key=True, index=True),
    Column("element", String(60), nullable=False),
)

# A finding referred to another agency for its formal determination (a suspected 重大火灾隐患 to the fire-rescue
# service), and that agency's answer once recorded.
referrals = Table(
    "referrals",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("finding_id", ForeignKey("findings.id"), nullable=False, unique=True),
    Column("agency", String(60), nullable=False),
    Column("referred_at", UTCDateTime, nullable=False),
    Column("answered_at", UTCDateTime),
    Column("answer", Text),
    Column("answered_by", String(100)),
)

# The local document that makes a locally backed rule bind from its effective day; without one the rule advises.
rule_adoptions = Table(
    "rule_adoptions",
    metadata,
    Column("rule_code", String(60), primary_key=True),
    Column("document", String(200), nullable=False),
    Column("effective", Date, nullable=False),
    Column("adopted_at", UTCDateTime, nullable=False),
    Column("adopted_by", String(100), nullable=False, default=""),
)

# What an advising rule said of an inspection, for staff only: never printed on a served document.
rule_notes = Table(
    "rule_notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("inspection_id", ForeignKey("inspections.id"), nullable=False, index=True),
    Column("rule_code", String(60), nullable=False),
    Column("note", Text, nullable=False),
    Column("item_codes", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# The major-hazard track (tracker.domain.supervision, migration 0024): one row per finding graded major, its
# 挂牌督办 notice (number of its year, printed <prefix>〔year〕number号), who judged it, the stage it is at and that
# stage's deadline with its reminder and escalation, and each step's who and when. A referral to the fire-rescue
# service lives in `referrals`; referred_to and referral_answer copy it here for the board.
supervisions = Table(
    "supervisions",
    metadata,
    Column("finding_id", ForeignKey("findings.id"), primary_key=True, autoincrement=False),
    Column("year", Integer, nullable=False),
    Column("number", Integer, nullable=False),
    Column("supervisor", String(100), nullable=False),
    # 包保领导: the bureau lead of the facility's sector when the notice was issued.
    Column("lead_id", ForeignKey("users.id")),
    Column("judged_by", ForeignKey("users.id")),
    Column("judged_at", UTCDateTime, nullable=False),
    Column("judged_basis", Text, nullable=False, default=""),
    Column("referred_to", String(60)),
    Column("referral_answer", Text),
    Column("stage", String(20), nullable=False),
    Column("stage_at", UTCDateTime, nullable=False),
    # The deadline of the stage's step (null at the rectification, which runs on the finding's own deadline, and
    # while a referral waits), its reminder, and the escalation level reached.
    Column("stage_due_at", UTCDateTime),
    Column("stage_remind_at", UTCDateTime),
    Column("stage_escalation_level", Integer, nullable=False, default=0),
    Column("stage_next_escalation_at", UTCDateTime),
    # When the next progress report is due (between the plan and the verified rectification), and whether the
    # facility was told it is late.
    Column("progress_due_at", UTCDateTime),
    Column("progress_overdue_told", Boolean, nullable=False, default=False),
    Column("plan", JSON),
    Column("plan_at", UTCDateTime),
    Column("plan_by", ForeignKey("users.id")),
    Column("interim_verified_at", UTCDateTime),
    Column("interim_verified_by", ForeignKey("users.id")),
    Column("interim_note", Text),
    Column("accepted_at", UTCDateTime),
    Column("accepted_by", ForeignKey("users.id")),
    Column("acceptance_note", Text),
    Column("signed_off_at", UTCDateTime),
    Column("signed_off_by", ForeignKey("users.id")),
    Column("signoff_note", Text),
    Index("ix_supervisions_year_number", "year", "number", unique=True),
    Index("ix_supervisions_stage", "stage"),
)

# The last notice number given in each year (as order_numbers).
supervision_numbers = Table(
    "supervision_numbers",
    metadata,
    Column("year", Integer, primary_key=True, autoincrement=False),
    Column("last_number", Integer, nullable=False),
)

# The facility's progress reports on a major hazard.
supervision_reports = Table(
    "supervision_reports",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("finding_id", ForeignKey("findings.id"), nullable=False, index=True),
    Column("at", UTCDateTime, nullable=False),
    Column("by_user", ForeignKey("users.id"), nullable=False),
    Column("note", Text, nullable=False),
)

# A closed major hazard filed upward (tracker.service.upward, migration 0028): once per finding, with the addresses
# the 销号 document was mailed to (TRACKER_UPWARD_EMAILS when it closed; empty when none was configured).
upward_filings = Table(
    "upward_filings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("finding_id", ForeignKey("findings.id"), nullable=False, unique=True),
    Column("filed_at", UTCDateTime, nullable=False),
    Column("recipients", JSON, nullable=False),
)

# Each facility's register of what expires (tracker.service.certificates, migration 0035): one row per (kind, label),
# e.g. the lift 1号梯's periodic inspection or one cook's health certificate. `stage` is how far its sweep has gone
# for the current expiry date (0 nothing yet, 1 the 30-day reminder, 2 the 7-day one, 3 lapsed and its finding
# raised, `finding_id`); a new date sets it back to 0.
certificates = Table(
    "certificates",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("facility_id", ForeignKey("facilities.id"), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("label", String(100), nullable=False),
    Column("number", String(60), nullable=False, server_default=""),
    Column("expires_on", Date, nullable=False),
    Column("stage", Integer, nullable=False, server_default="0"),
    Column("finding_id", ForeignKey("findings.id")),
    Column("updated_by", ForeignKey("users.id")),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("facility_id", "kind", "label"),
    Index("ix_certificates_stage_expires_on", "stage", "expires_on"),
)

# A plan of checks drawn at random (双随机, tracker.service.plans, migration 0034): its period, the facility type in
# scope, the seed's SHA-256 recorded before the draw, the seed, and the registers of facilities and inspectors as
# they were when drawn (`register`, with its own SHA-256), from which `tracker plans verify` draws it again. A
# drawn plan is sealed: facility heads and town officers never see it, an inspector only their own checks.
plans = Table(
    "plans",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("period_from", Date, nullable=False),
    Column("period_to", Date, nullable=False),
    Column("facility_type", String(40)),
    Column("share", String(10)),
    Column("count", Integer),
    Column("team_size", Integer, nullable=False),
    Column("created_by", String(100), nullable=False, default=""),
    Column("sealed", Boolean, nullable=False, default=True),
    Column("seed_hash", String(64), nullable=False),
    Column("seed", String(200), nullable=False),
    Column("register", JSON, nullable=False),
    Column("register_hash", String(64), nullable=False),
    Column("hash_recorded_at", UTCDateTime, nullable=False),
    Column("drawn_at", UTCDateTime),
    Column("closed_at", UTCDateTime),
    Column("closed_by", String(100)),
)

# One facility drawn in a plan; the first inspection of it submitted in the plan's period fulfils it.
planned_checks = Table(
    "planned_checks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("plan_id", ForeignKey("plans.id"), nullable=False),
    Column("facility_id", ForeignKey("facilities.id"), nullable=False),
    Column("own_town", Boolean, nullable=False, default=False),
    Column("inspection_id", ForeignKey("inspections.id")),
    Column("fulfilled_at", UTCDateTime),
    UniqueConstraint("plan_id", "facility_id"),
    Index("ix_planned_checks_facility_id_inspection_id", "facility_id", "inspection_id"),
)

# The team drawn for a planned check.
planned_check_inspectors = Table(
    "planned_check_inspectors",
    metadata,
    Column("check_id", ForeignKey("planned_checks.id"), primary_key=True),
    Column("user_id", ForeignKey("users.id"), primary_key=True, index=True),
)
