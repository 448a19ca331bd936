"""The words of the monthly report and the dashboard: the county named as configured, a period's days both
included, and no claim of 动态清零 beyond what the figures say."""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tests.support.stack import default_catalog, prepared_engine
from tracker.config import ConfigError, load_settings
from tracker.documents import reports
from tracker.stats.periods import Period
from tracker.stats.query import Filter
from tracker.text.catalogue import translate


async def test_the_monthly_report_names_the_county_and_says_no_major_hazard_is_open_only_as_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKER_COUNTY_WORD", "全市")
    engine = await prepared_engine(f"sqlite+aiosqlite:///{tmp_path / 'tracker.db'}")
    try:
        now = datetime(2026, 12, 1, 2, tzinfo=UTC)
        d = await reports.gather(
            engine, Period.month(2026, 11), Filter(), now, default_catalog(), list_limit=None
        )
    finally:
        await engine.dispose()
    path = tmp_path / "report.pdf"
    path.write_bytes(reports.pdf(d, default_catalog(), now))
    text = re.sub(
        r"\s+",
        "",
        subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=True).stdout.decode(),
    )
    assert "2026年11月1日至11月30日" in text and "·全市" in text
    assert "截至统计时点，无未销号重大事故隐患。" in text and "动态清零" not in text
    assert re.sub(r"\s+", "", translate("zh", "desk.definitions")) in text  # the dashboard's definitions
    assert "首尾两日均计入" in text and "[起,止)" not in text
    assert "区镇" not in text and "一般隐患" not in text


def test_a_week_is_written_with_both_its_days() -> None:
    assert Period(date(2026, 11, 2), date(2026, 11, 9)).label() == "2026年11月2日至11月8日"


def test_the_county_word_is_one_of_the_known_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRACKER_COUNTY_WORD", raising=False)
    assert load_settings().county_word == "全县"
    monkeypatch.setenv("TRACKER_COUNTY_WORD", "全省")
    with pytest.raises(ConfigError, match="TRACKER_COUNTY_WORD"):
        load_settings()
    monkeypatch.setenv("TRACKER_COUNTY_WORD", "全市")
    monkeypatch.setenv("TRACKER_ORDER_PREFIX", "民 安〔")
    with pytest.raises(ConfigError, match="TRACKER_ORDER_PREFIX"):
        load_settings()


async def test_the_trends_end_with_the_week_and_month_holding_today(tmp_path: Path) -> None:
    engine = await prepared_engine(f"sqlite+aiosqlite:///{tmp_path / 'tracker.db'}")
    try:
        # Wednesday 9 December 2026, 10:00 in China; the period asked for is the whole year.
        now = datetime(2026, 12, 9, 2, tzinfo=UTC)
        d = await reports.gather(
            engine, Period(date(2026, 1, 1), date(2027, 1, 1)), Filter(), now, default_catalog()
        )
    finally:
        await engine.dispose()
    last_week, last_month = d.weeks[-1].period, d.months[-1].period
    assert (last_week.start, last_week.end) == (
        date(2026, 12, 7),
        date(2026, 12, 14),
    )  # no empty weeks to come
    assert (last_month.start, last_month.end) == (date(2026, 12, 1), date(2027, 1, 1))
    assert len(d.months) == 12 and all(b.period.start <= date(2026, 12, 9) for b in d.weeks)
