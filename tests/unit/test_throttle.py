"""How long a login waits after failures: the rule, worked by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tracker.domain.throttle import (
    ACCOUNT,
    ADDRESS,
    STALE_AFTER,
    Rule,
    Tally,
    address_key,
    after_failure,
    wait_after,
    wait_left,
)

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
S = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("failures", "wait"),
    [
        (0, 0),
        (4, 0),
        (5, 30),  # the fifth failure makes the next attempt wait
        (6, 60),
        (7, 120),
        (8, 240),
        (9, 480),
        (10, 900),  # 960 capped at 15 minutes
        (50, 900),
        (10_000, 900),
    ],
)
def test_it_waits_longer_after_each_failure_past_five_up_to_fifteen_minutes(failures: int, wait: int) -> None:
    assert wait_after(ACCOUNT, failures) == wait * S


def test_an_address_may_fail_twenty_times_before_it_waits() -> None:
    assert wait_after(ADDRESS, 19) == timedelta(0)
    assert wait_after(ADDRESS, 20) == 30 * S


def test_it_counts_failures_until_an_hour_passes_without_one() -> None:
    tally = None
    for minute in range(0, 50, 10):  # five failures, ten minutes apart
        tally = after_failure(ACCOUNT, tally, T0 + timedelta(minutes=minute))
    assert tally == Tally(5, T0 + timedelta(minutes=40))
    quiet = T0 + timedelta(minutes=40, hours=1)
    assert after_failure(ACCOUNT, tally, quiet - S) == Tally(6, quiet - S)
    assert after_failure(ACCOUNT, tally, quiet) == Tally(1, quiet)


def test_the_wait_runs_from_the_last_failure() -> None:
    tally = Tally(6, T0)
    assert wait_left(ACCOUNT, tally, T0) == 60 * S
    assert wait_left(ACCOUNT, tally, T0 + 45 * S) == 15 * S
    assert wait_left(ACCOUNT, tally, T0 + 60 * S) == timedelta(0)
    assert wait_left(ACCOUNT, Tally(4, T0), T0) == timedelta(0)
    assert wait_left(ACCOUNT, None, T0) == timedelta(0)


def test_a_clock_behind_the_last_failure_waits_no_longer_than_the_whole_wait() -> None:
    # Another web process's clock may run a little ahead, and tests move the clock back.
    assert wait_left(ACCOUNT, Tally(6, T0), T0 - timedelta(hours=1)) == 60 * S
    assert wait_left(ACCOUNT, Tally(0, T0), T0 - timedelta(days=30)) == timedelta(0)
    assert wait_left(ACCOUNT, Tally(4, T0), T0 - S) == timedelta(0)


def test_a_tally_older_than_stale_after_holds_back_nothing_under_any_rule() -> None:
    for rule in (ACCOUNT, ADDRESS, Rule(free=1, longest_wait=timedelta(hours=3))):
        old = Tally(10_000, T0)
        later = T0 + max(STALE_AFTER, rule.longest_wait, rule.forget_after)
        assert wait_left(rule, old, later) == timedelta(0)
        assert after_failure(rule, old, later).failures == 1


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:fffe", "2001:db8:1:2::/64"),
        ("testclient", "testclient"),
        (None, "unknown"),
    ],
)
def test_an_ipv6_client_is_counted_by_its_slash_64(host: str | None, key: str) -> None:
    assert address_key(host) == key
