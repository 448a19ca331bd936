"""How long a login must wait after failed attempts, per account and per client address."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Rule:
    """`free` failures cost nothing; the next one makes the following attempt wait `first_wait`, each one
    after that twice as long, at most `longest_wait`. Failures are forgotten once `forget_after` passes
    without one."""

    free: int
    first_wait: timedelta = timedelta(seconds=30)
    longest_wait: timedelta = timedelta(minutes=15)
    forget_after: timedelta = timedelta(hours=1)


# Several people share one office address, so the address may fail more often than one account.
ACCOUNT = Rule(free=5)
ADDRESS = Rule(free=20)
# A tally untouched this long has no effect under any rule, and may be dropped.
STALE_AFTER = max(max(rule.longest_wait, rule.forget_after) for rule in (ACCOUNT, ADDRESS))


@dataclass(frozen=True)
class Tally:
    failures: int
    last_failed_at: datetime


def wait_after(rule: Rule, failures: int) -> timedelta:
    """The wait imposed once `failures` failures are counted."""
    if failures < rule.free:
        return timedelta(0)
    return min(rule.first_wait * 2 ** min(failures - rule.free, 32), rule.longest_wait)


def counted(rule: Rule, tally: Tally | None, now: datetime) -> int:
    """The failures that still count at `now`."""
    if tally is None or now - tally.last_failed_at >= rule.forget_after:
        return 0
    return tally.failures


def after_failure(rule: Rule, tally: Tally | None, now: datetime) -> Tally:
    return Tally(counted(rule, tally, now) + 1, now)


def wait_left(rule: Rule, tally: Tally | None, now: datetime) -> timedelta:
    """How long the next attempt must still wait; zero when it may go ahead."""
    wait = wait_after(rule, counted(rule, tally, now))
    if tally is None or not wait:
        return timedelta(0)
    # Never more than the whole wait, even when another process's clock ran a little ahead of this one.
    return min(max(tally.last_failed_at + wait - now, timedelta(0)), wait)


def address_key(host: str | None) -> str:
    """The client address a tally is kept for: an IPv6 address by its /64, which one machine usually holds
    whole (counting each address would give it billions of tallies)."""
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return host or "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
