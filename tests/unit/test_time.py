"""The one clock people read: China Standard Time, written 2026-12-06 22:26."""

from datetime import UTC, date, datetime, timedelta, timezone

from tracker.domain.time import local_day, local_midnight, shown


def test_it_shows_a_moment_in_china_time():
    assert shown(datetime(2026, 12, 6, 14, 26, 59, tzinfo=UTC)) == "2026-12-06 22:26"


def test_it_shows_a_moment_of_any_zone_and_an_iso_text_alike():
    new_york = timezone(timedelta(hours=-5))
    assert shown(datetime(2026, 12, 6, 9, 26, tzinfo=new_york)) == "2026-12-06 22:26"
    assert shown("2026-12-06T14:26:00+00:00") == "2026-12-06 22:26"


def test_it_reads_a_naive_moment_as_utc_and_shows_nothing_as_empty():
    assert shown(datetime(2026, 12, 6, 14, 26)) == "2026-12-06 22:26"
    assert shown(None) == "" and shown("") == ""


def test_the_local_day_turns_at_china_midnight():
    assert local_day(datetime(2026, 12, 6, 15, 59, tzinfo=UTC)) == date(2026, 12, 6)
    assert local_day(datetime(2026, 12, 6, 16, 0, tzinfo=UTC)) == date(2026, 12, 7)
    assert local_midnight(date(2026, 12, 7)) == datetime(2026, 12, 6, 16, 0, tzinfo=UTC)
    assert local_day(local_midnight(date(2026, 12, 7))) == date(2026, 12, 7)
