"""The random draw (双随机) as a pure function: reproducible from its seed, fair to the own-town rule, even in load."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from tracker.domain.draw import FacilityEntry, InspectorEntry, draw, how_many, seed_hash
from tracker.domain.errors import InvalidInput

TOWNS = ["汇龙镇", "南阳镇", "北新镇", "海复镇"]


def register(n: int = 20) -> list[FacilityEntry]:
    return [FacilityEntry(i, f"QD{i:03d}", f"机构{i}", TOWNS[i % 4], "nursing_home") for i in range(1, n + 1)]


def inspectors(n: int = 6) -> list[InspectorEntry]:
    return [InspectorEntry(100 + i, f"检查{i}", TOWNS[i % 4], f"3206{i:04d}") for i in range(n)]


def test_it_draws_the_same_from_the_same_seed_whatever_order_the_registers_come_in():
    first = draw("seed-1", register(), inspectors(), share="0.25", team_size=2)
    shuffled_places, shuffled_people = register(), inspectors()
    random.Random(7).shuffle(shuffled_places)
    random.Random(8).shuffle(shuffled_people)
    assert draw("seed-1", shuffled_places, shuffled_people, share="0.25", team_size=2) == first


def test_it_draws_differently_from_another_seed_or_another_register():
    first = draw("seed-1", register(), inspectors(), share="0.25", team_size=2)
    assert draw("seed-2", register(), inspectors(), share="0.25", team_size=2) != first
    assert draw("seed-1", register(21), inspectors(), share="0.25", team_size=2) != first


def test_it_draws_a_share_rounded_up_and_teams_of_the_size_asked():
    result = draw("s", register(30), inspectors(), share="0.1", team_size=3)
    assert len(result.checks) == 3  # 0.1 of 30, not 4 as a float would round
    assert all(len(c.inspector_ids) == 3 and len(set(c.inspector_ids)) == 3 for c in result.checks)
    assert len(draw("s", register(30), inspectors(), count=5).checks) == 5
    assert len(draw("s", register(9), inspectors(), share="0.25").checks) == 3


@pytest.mark.parametrize("seed", [str(n) for n in range(40)])
def test_it_never_sends_an_inspector_of_the_facilitys_own_town_while_others_can_go(seed):
    people = {p.id: p for p in inspectors()}
    places = {f.id: f for f in register()}
    for check in draw(seed, list(places.values()), list(people.values()), share="1", team_size=2).checks:
        assert all(people[i].town != places[check.facility_id].town for i in check.inspector_ids)
        assert not check.own_town


def test_it_sends_an_own_town_inspector_only_when_nobody_else_is_left():
    people = [InspectorEntry(1, "甲", "汇龙镇", "1"), InspectorEntry(2, "乙", "南阳镇", "2")]
    places = [FacilityEntry(1, "QD001", "汇龙镇敬老院", "汇龙镇", "nursing_home")]
    (check,) = draw("x", places, people, count=1, team_size=2).checks
    assert check.inspector_ids == (1, 2) and check.own_town
    (alone,) = draw("x", places, people, count=1, team_size=1).checks
    assert alone.inspector_ids == (2,) and not alone.own_town


def test_it_spreads_the_checks_evenly_over_the_inspectors():
    result = draw("even", register(24), inspectors(6), share="1", team_size=2)
    load = Counter(i for c in result.checks for i in c.inspector_ids)
    assert max(load.values()) - min(load.values()) <= 1, load


def test_it_refuses_a_team_larger_than_the_register_and_a_share_out_of_range():
    with pytest.raises(InvalidInput):
        draw("s", register(), inspectors(1), share="0.5", team_size=2)
    for share in ("0", "1.5", "abc"):
        with pytest.raises(InvalidInput):
            how_many(10, share, None)
    with pytest.raises(InvalidInput):
        how_many(10, "0.5", 3)


def test_the_seed_hash_is_its_sha256():
    assert seed_hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
