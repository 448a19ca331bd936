"""The random draw (双随机): which facilities are checked, and by which inspectors, from a seed anyone can replay.

The draw is a function of the seed, the two registers and the parameters alone: the registers are sorted by
code and id before anything is drawn, so the order they were read in does not matter, and the same inputs give
the same draw on any machine (random.Random seeded with a string is stable across Python versions 3.2+).
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from tracker.domain.errors import InvalidInput


@dataclass(frozen=True)
class FacilityEntry:
    id: int
    code: str
    name: str
    town: str
    type: str


@dataclass(frozen=True)
class InspectorEntry:
    id: int
    name: str
    town: str | None  # where they live or work; None where the register has none
    warrant_no: str | None  # 执法证号


@dataclass(frozen=True)
class DrawnCheck:
    facility_id: int
    inspector_ids: tuple[int, ...]  # the team, sorted by id
    own_town: bool = False  # an inspector of the facility's own town had to go: too few from elsewhere


@dataclass(frozen=True)
class Draw:
    checks: tuple[DrawnCheck, ...]  # by facility code


def seed_hash(seed: str) -> str:
    """The SHA-256 of the seed, recorded and shown before the draw so that the seed cannot be chosen after."""
    return hashlib.sha256(seed.encode("utf-8")).hexdigest()


def how_many(total: int, share: str | None, count: int | None) -> int:
    """How many facilities a share (e.g. "0.25", rounded up) or a number of `total` draws; at least one."""
    if (share is None) == (count is None):
        raise InvalidInput("share", "give a share or a number of facilities, not both")
    if count is not None:
        if count < 1:
            raise InvalidInput("count", "at least one facility")
        return min(count, total)
    try:
        fraction = Decimal(share or "")
    except InvalidOperation:
        raise InvalidInput("share", f"{share!r} is not a number") from None
    if not 0 < fraction <= 1:
        raise InvalidInput("share", "a share above 0 and at most 1, e.g. 0.25")
    # Decimal, not float: 0.1 of 30 is 3, not 4.
    return min(total, max(1, math.ceil(fraction * total)))


def draw(
    seed: str,
    facilities: list[FacilityEntry],
    inspectors: list[InspectorEntry],
    *,
    share: str | None = None,
    count: int | None = None,
    team_size: int = 2,
) -> Draw:
    """Draw facilities (a share or a number of them) and a team of `team_size` inspectors for each.

    Never an inspector of the facility's own town while another who is not can go; among those who may go,
    the least loaded first (ties broken by the draw), so that the checks spread evenly over the inspectors.
    """
    if team_size < 1:
        raise InvalidInput("team_size", "a team of at least one")
    if not facilities:
        raise InvalidInput("facilities", "no facility in scope")
    if len(inspectors) < team_size:
        raise InvalidInput(
            "team_size",
            f"a team of {team_size} needs {team_size} inspectors; the register has {len(inspectors)}",
        )
    rng = random.Random(seed)
    register = sorted(facilities, key=lambda f: f.code)
    people = sorted(inspectors, key=lambda p: p.id)
    chosen = sorted(rng.sample(register, how_many(len(register), share, count)), key=lambda f: f.code)
    load = {p.id: 0 for p in people}
    checks = []
    for facility in chosen:
        order = people[:]
        rng.shuffle(order)
        # Stable sorts: the least loaded first, the shuffle breaking ties.
        elsewhere = sorted((p for p in order if p.town != facility.town), key=lambda p: load[p.id])
        local = sorted((p for p in order if p.town == facility.town), key=lambda p: load[p.id])
        team = (elsewhere + local)[:team_size]
        for p in team:
            load[p.id] += 1
        checks.append(
            DrawnCheck(
                facility.id,
                tuple(sorted(p.id for p in team)),
                own_town=any(p.town == facility.town for p in team),
            )
        )
    return Draw(tuple(checks))


__all__ = ["Draw", "DrawnCheck", "FacilityEntry", "InspectorEntry", "draw", "how_many", "seed_hash"]
