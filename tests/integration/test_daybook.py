"""The day book gives the same figures as the findings rows: on random findings whose whole life (found,
ordered, submitted, rejected, given more time, closed) is written to their rows and history, for past and
running months and weeks, every town and none, on SQLite and PostgreSQL; and it follows the days as they pass.
Every figure is compared through the public functions, read with the day book and from the rows alone
(exact_rows)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.stack import prepared_engine
from tracker.domain.calendar import LOCAL_TZ
from tracker.stats import daybook
from tracker.stats import query as q
from tracker.stats.periods import Period, local_day
from tracker.store.tables import facilities, findings, history, inspections, stats_state, stats_stocks, users

TOWNS = ("汇龙镇", "南阳镇", "吕四港镇")
KINDS = ("nursing_home", "meal_point", "funeral_home")
CATEGORIES = ("fire", "gas", "food")
MODES = ("unannounced", "routine", "self")
FIRST = date(2025, 1, 1)
# Now: mid-morning of 10 April 2025, local time.
NOW = datetime(2025, 4, 10, 10, 30, tzinfo=LOCAL_TZ).astimezone(UTC)
MIDNIGHT = datetime.combine(local_day(NOW), time(0), tzinfo=LOCAL_TZ).astimezone(UTC)


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=LOCAL_TZ).astimezone(UTC)


def end_of(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59), tzinfo=LOCAL_TZ).astimezone(UTC)


def life(rng: random.Random, n: int) -> tuple[dict[str, Any], list[tuple[datetime, str]]]:
    """One finding's row and its history, every event before NOW. Some events fall exactly on a local
    midnight, some today; some findings are rejected, some given more time."""
    span = (local_day(NOW) - FIRST).days
    day = FIRST + timedelta(days=rng.randrange(span + 1))
    reported = local(day, rng.choice((0, 8, 9, 15, 23)), rng.choice((0, 30)))
    if reported >= NOW:
        reported = MIDNIGHT + timedelta(minutes=rng.randrange(1, 600)) if rng.random() < 0.5 else MIDNIGHT
    facility = rng.randrange(1, 10)
    row: dict[str, Any] = {
        "id": n,
        "inspection_id": n,
        "facility_id": facility,
        "item_code": f"ITEM-{rng.randrange(6)}",
        "category": rng.choice(CATEGORIES),
        "item_zh": "隐患",
        "item_en": "hazard",
        "severity": "major" if rng.random() < 0.25 else "general",
        "status": "reported",
        "reported_at": reported,
        "town": TOWNS[facility % 3],
        "facility_type": KINDS[facility % 3],
        "mode": rng.choice(MODES),
        "is_repeat": rng.random() < 0.3,
        "round": 1,
    }
    events = [(reported, "reported")]

    def deadline(after: datetime) -> datetime:
        due_day = local_day(after) + timedelta(days=rng.choice((0, 1, 3, 7, 15)))
        return end_of(due_day) if rng.random() < 0.7 else local(due_day, 12)

    moment = reported + timedelta(minutes=rng.randrange(1, 240))
    if moment >= NOW:
        return row, events
    row.update(status="ordered", ordered_at=moment, due_at=deadline(moment))
    events.append((moment, "ordered"))
    while True:
        moment += timedelta(hours=rng.choice((1, 5, 30, 100, 400)))
        if moment >= NOW or rng.random() < 0.15:
            return row, events
        if rng.random() < 0.15:  # more time
            row["due_at"] = max(row["due_at"], moment) + timedelta(days=rng.choice((2, 5)))
            events.append((moment, "extension_decided"))
            continue
        row.update(status="submitted", submitted_at=moment)
        events.append((moment, "rectification_submitted"))
        moment += timedelta(hours=rng.choice((1, 20, 50)))
        if moment >= NOW:
            return row, events
        if rng.random() < 0.3:
            row.update(status="ordered", due_at=deadline(moment), round=row["round"] + 1)
            events.append((moment, "rejected"))
            continue
        row.update(status="closed", closed_at=moment)
        events.append((moment, "closed"))
        return row, events


async def populate(engine: AsyncEngine, count: int, seed: int) -> None:
    rng = random.Random(seed)
    async with engine.begin() as conn:
        await conn.execute(
            insert(facilities),
            [
                {
                    "id": i,
                    "code": f"F{i}",
                    "name": f"机构{i}",
                    "type": KINDS[i % 3],
                    "town": TOWNS[i % 3],
                    "head_name": "负责人",
                    "head_email": f"f{i}@example.cn",
                }
                for i in range(1, 10)
            ],
        )
        await conn.execute(
            insert(users).values(
                id=1, username="i", password_hash="x", role="inspector", name="李", active=True
            )
        )
        rows, logs = [], []
        for n in range(1, count + 1):
            row, events = life(rng, n)
            rows.append(row)
            logs += [{"finding_id": n, "at": at, "action": action, "data": {}} for at, action in events]
        await conn.execute(
            insert(inspections),
            [
                {
                    "id": r["id"],
                    "client_ref": f"r{r['id']}",
                    "facility_id": r["facility_id"],
                    "mode": r["mode"],
                    "inspector_id": 1,
                    "submitted_at": r["reported_at"],
                    "checklist_versions": {},
                }
                for r in rows
            ],
        )
        columns = ("ordered_at", "due_at", "submitted_at", "closed_at")
        await conn.execute(insert(findings), [dict.fromkeys(columns) | r for r in rows])
        await conn.execute(insert(history), logs)


PAST_MONTHS = [Period.month(2025, m) for m in (1, 2, 3)]
RUNNING_MONTH = Period.month(2025, 4)
PAST_WEEKS = [Period.week_of(date(2025, 3, 3)), Period.week_of(date(2025, 4, 1))]
RUNNING_WEEK = Period.week_of(local_day(NOW))
# Periods neither a week nor a month: the rows answer.
CUSTOM = [Period(date(2025, 2, 10), date(2025, 3, 17)), Period(date(2025, 4, 3), date(2025, 4, 11))]
FILTERS = [q.Filter(), *(q.Filter(town=t) for t in TOWNS)]
# Every figure reads the day book for all towns or one, narrowed to one value of one dimension or not.
TREND_FILTERS = [
    q.Filter(),
    q.Filter(town=TOWNS[1]),
    q.Filter(category="gas"),
    q.Filter(town=TOWNS[0], severity="major"),
    q.Filter(mode="self"),
    q.Filter(facility_type=KINDS[2]),
    q.Filter(facility_id=4),
]


async def assert_same_figures(engine: AsyncEngine, now: datetime, periods: list[Period]) -> None:
    async with engine.connect() as conn:
        for period in periods:
            for flt in [*FILTERS, *TREND_FILTERS[2:]]:
                if q.unit_of(period) is not None:
                    assert await q._book_answers(conn, period, flt, now) is not None, (
                        period,
                        flt,
                    )  # the day book answers
                await assert_same_breakdowns(conn, period, flt, now)
            for flt in TREND_FILTERS:
                assert await q.figures(conn, period, flt, now) == await q.figures(
                    conn, period, flt, now, exact_rows=True
                ), (period, flt)
                units = ("week", "month")
                assert await q.trends(conn, units, period, flt, 8) == await q.trends(
                    conn, units, period, flt, 8, exact_rows=True
                ), (period, flt)


async def assert_same_breakdowns(conn: Any, period: Period, flt: q.Filter, now: datetime) -> None:
    """Every breakdown and days to close equal the rows'."""
    where = (period, flt)
    for dimension in q.DIMENSIONS:
        book = await q.breakdown(conn, dimension, period, flt, now)
        rows = await q.breakdown(conn, dimension, period, flt, now, exact_rows=True)
        assert book == rows, (*where, dimension)
    assert await q.days_to_close(conn, period, flt, now) == await q.days_to_close(
        conn, period, flt, now, exact_rows=True
    ), where


@pytest.fixture
async def engine(database_url: str):
    engine = await prepared_engine(database_url)
    yield engine
    await engine.dispose()


async def test_it_gives_the_rows_figures_for_past_and_running_periods(engine: AsyncEngine):
    await populate(engine, 600, seed=11)
    assert await daybook.catch_up(engine, NOW) == local_day(NOW)
    # Something happened today: the counts below move away from the day's 00:00 stock.
    async with engine.connect() as conn:
        today = await conn.execute(select(history.c.action).where(history.c.at >= MIDNIGHT))
        assert {"rectification_submitted", "closed", "reported"} <= set(today.scalars())
    await assert_same_figures(engine, NOW, [*PAST_MONTHS, RUNNING_MONTH, *PAST_WEEKS, RUNNING_WEEK, *CUSTOM])


async def test_it_follows_the_day_as_findings_change_after_it_caught_up(engine: AsyncEngine):
    """Caught up at 00:05, then the day goes on: a finding overdue at midnight is submitted, one is given more
    time and one closes; the figures at 10:30 still match the rows. (A past month is not compared: the day
    book keeps the overdue count it took the day after, where the rows judge a finding given more time since
    by its new deadline.)"""
    await populate(engine, 400, seed=5)
    assert await daybook.catch_up(engine, MIDNIGHT + timedelta(minutes=5)) == local_day(NOW)
    async with engine.connect() as conn:
        overdue = q.overdue_at(NOW, present=True)
        ids = list(
            (await conn.execute(select(findings.c.id).where(overdue).order_by(findings.c.id))).scalars()
        )
        open_ = (
            await conn.execute(
                select(findings.c.id).where(findings.c.status == "submitted").order_by(findings.c.id)
            )
        ).scalars()
        closing = next(iter(open_))
    assert len(ids) >= 2
    later = MIDNIGHT + timedelta(hours=9)
    async with engine.begin() as conn:
        await conn.execute(
            update(findings).where(findings.c.id == ids[0]).values(status="submitted", submitted_at=later)
        )
        await conn.execute(
            update(findings)
            .where(findings.c.id == ids[1])
            .values(due_at=end_of(local_day(NOW) + timedelta(3)))
        )
        await conn.execute(
            update(findings).where(findings.c.id == closing).values(status="closed", closed_at=later)
        )
        await conn.execute(
            insert(history),
            [
                {"finding_id": ids[0], "at": later, "action": "rectification_submitted", "data": {}},
                {"finding_id": ids[1], "at": later, "action": "extension_decided", "data": {}},
                {"finding_id": closing, "at": later, "action": "closed", "data": {}},
            ],
        )
    await assert_same_figures(engine, NOW, [RUNNING_MONTH, RUNNING_WEEK])
    async with engine.connect() as conn:
        book = await q.figures(conn, RUNNING_MONTH, q.Filter(), NOW)
    assert book.counts["overdue"] == len(ids) - 2


async def test_it_counts_the_day_in_progress_from_the_rows_since_midnight(engine: AsyncEngine):
    """Caught up at 06:05: the day book holds the days before today and the stocks at 00:00; what happened since
    00:00 (up to 10:00) is read from the rows, some of it before the catch-up and some after. Overdue now is the
    snapshot's, moved by the findings changed since 00:00 and the deadlines passed since with no change."""
    await populate(engine, 600, seed=13)
    caught_up = MIDNIGHT + timedelta(hours=6, minutes=5)
    upto = caught_up - daybook.LAG
    closings = [upto, *[MIDNIGHT + timedelta(hours=8)] * 3]
    async with engine.begin() as conn:
        still_open = select(findings.c.id).where(
            findings.c.closed_at.is_(None), findings.c.reported_at < MIDNIGHT, findings.c.status == "ordered"
        )
        # The one closed at 06:00 and one found today before it are among the gas findings, which a narrowed
        # page counts.
        gas = (await conn.execute(still_open.where(findings.c.category == "gas").limit(1))).scalar_one()
        found_today = select(findings.c.id).where(
            findings.c.closed_at.is_(None),
            findings.c.reported_at >= MIDNIGHT,
            findings.c.reported_at < upto,
            findings.c.category == "gas",
        )
        gas_today = (await conn.execute(found_today.limit(1))).scalar_one()
        others = still_open.where(findings.c.id != gas).order_by(findings.c.id).limit(2)
        some = [gas, gas_today, *(await conn.execute(others)).scalars()]
        for i, closing in zip(some, closings, strict=True):
            await conn.execute(
                update(findings)
                .where(findings.c.id == i)
                .values(status="closed", submitted_at=closing, closed_at=closing)
            )
        await conn.execute(
            insert(history),
            [
                {"finding_id": i, "at": closing, "action": a, "data": {}}
                for i, closing in zip(some, closings, strict=True)
                for a in ("rectification_submitted", "closed")
            ],
        )
        # Deadlines passing today, of findings with no history since 00:00: one before 06:00 left alone, one
        # before 06:00 submitted at 08:00 (after the catch-up, below), and one at 07:00.
        quiet = (
            select(findings.c.id)
            .where(
                findings.c.status == "ordered",
                findings.c.reported_at < MIDNIGHT,
                findings.c.id.not_in(select(history.c.finding_id).where(history.c.at >= MIDNIGHT)),
                findings.c.id.not_in(some),
            )
            .order_by(findings.c.id)
        )
        passing = list((await conn.execute(quiet.limit(3))).scalars())
        deadlines = [MIDNIGHT + timedelta(hours=h) for h in (3, 4, 7)]
        for i, due in zip(passing, deadlines, strict=True):
            await conn.execute(update(findings).where(findings.c.id == i).values(due_at=due))
    assert await daybook.catch_up(engine, caught_up) == local_day(NOW)
    submitted = MIDNIGHT + timedelta(hours=8)
    async with engine.begin() as conn:
        await conn.execute(
            update(findings)
            .where(findings.c.id == passing[1])
            .values(status="submitted", submitted_at=submitted)
        )
        await conn.execute(
            insert(history).values(
                finding_id=passing[1], at=submitted, action="rectification_submitted", data={}
            )
        )
    await assert_same_figures(engine, NOW, [RUNNING_MONTH, RUNNING_WEEK, CUSTOM[1], PAST_MONTHS[2]])


async def test_catching_up_day_by_day_stores_what_one_rebuild_stores(engine: AsyncEngine):
    await populate(engine, 300, seed=3)
    day = date(2025, 3, 20)
    assert await daybook.catch_up(engine, local(day, 1)) == day
    assert await daybook.catch_up(engine, local(day, 2)) is None  # nothing new
    while day < local_day(NOW):
        day += timedelta(days=1)
        assert await daybook.catch_up(engine, local(day, 0, 5)) == day
        assert await daybook.catch_up(engine, local(day, 4)) is None
    stepped = await _stored(engine, day)
    await daybook.rebuild(engine, local(day, 4))
    assert await _stored(engine, day) == stepped


async def _stored(engine: AsyncEngine, through: date) -> dict[str, Any]:
    """What the day book holds; of the stock snapshots, those a rebuild takes too (the nightly ones of other days
    stay, as they were taken)."""
    kept = [d for d in _days() if q.snapshot_day(d)] + [through]
    async with engine.connect() as conn:
        out: dict[str, Any] = {}
        for table in daybook.TABLES:
            query = select(table)
            if table is stats_stocks:
                query = query.where(stats_stocks.c.day.in_(kept))
            rows = (await conn.execute(query)).all()
            out[table.name] = sorted(tuple(r) for r in rows)
        out["state"] = tuple((await conn.execute(select(stats_state))).one())
        return out


def _days() -> list[date]:
    return [FIRST + timedelta(days=n) for n in range((local_day(NOW) - FIRST).days + 1)]


async def test_a_change_stamped_before_what_it_holds_is_counted_again_at_the_next_catch_up(
    engine: AsyncEngine,
):
    """A clock set back: a finding closed at a moment three days ago, after the day book counted that day. The
    next catch-up counts the days from then on again, and the past weeks' and months' figures are the rows'."""
    await populate(engine, 200, seed=8)
    assert await daybook.catch_up(engine, NOW) == local_day(NOW)
    earlier = NOW - timedelta(days=3)
    async with engine.begin() as conn:
        still_open = select(findings.c.id).where(
            findings.c.closed_at.is_(None), findings.c.reported_at < earlier
        )
        closing = (await conn.execute(still_open.order_by(findings.c.id).limit(1))).scalar_one()
        await conn.execute(
            update(findings)
            .where(findings.c.id == closing)
            .values(status="closed", submitted_at=earlier, closed_at=earlier)
        )
        await conn.execute(insert(history).values(finding_id=closing, at=earlier, action="closed", data={}))
    assert await daybook.catch_up(engine, NOW) == local_day(NOW)
    week_of_it = Period.week_of(local_day(earlier))
    await assert_same_figures(engine, NOW, [week_of_it, PAST_MONTHS[2], RUNNING_MONTH])
