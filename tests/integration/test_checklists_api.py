"""GET /api/checklists against the FastAPI app and a real SQLite database: the files, their versions and
published campaigns. No worker, relay or mailer is started: this endpoint needs none of them."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.stack import Stack, add_facility, add_people, prepared_engine, settings_for
from tracker.checklists import load_catalog
from tracker.checklists.campaigns import PublishError, publish, withdraw
from tracker.checklists.loader import default_directory
from tracker.clock import FixedClock
from tracker.domain.calendar import LOCAL_TZ

ROOT = Path(__file__).resolve().parents[2]
# Noon in Beijing on a summer day, well inside the flood season.
SUMMER = datetime(2026, 7, 1, 12, tzinfo=LOCAL_TZ).astimezone(UTC)


def _sqlite(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'tracker.db'}"


async def _stack(tmp_path: Path, checklists: Path | None = None, at: datetime = SUMMER) -> Stack:
    url = _sqlite(tmp_path)
    stack = Stack(
        settings=settings_for(tmp_path, url, "nats://127.0.0.1:1", "smtp://127.0.0.1:1"),
        engine=await prepared_engine(url),
        catalog=load_catalog(checklists),
        clock=FixedClock(at),
    )
    await add_facility(stack.engine, "F1")
    await add_people(stack.engine, "F1")
    return stack


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    stack = await _stack(tmp_path)
    yield stack
    await stack.close()


async def _get(stack: Stack, **params: Any) -> list[dict[str, Any]]:
    response = await stack.client.get(
        "/api/checklists", params=params, headers=await stack.token("inspector")
    )
    assert response.status_code == 200, response.text
    return response.json()


# --- what the files say, read without the loader -----------------------------------------------------


def _days(value: Any) -> int:
    return 0 if value == "immediate" else int(value)


def _expected_from_files(directory: Path, facility_type: str | None = None) -> list[dict[str, Any]]:
    """Every item of the category files, in the shape the API serves an inspector, straight from the YAML; with
    `facility_type`, the basis and grade its `by_facility_type` gives that type (directly or by group)."""
    listing = yaml.safe_load((directory / "facility_types.yaml").read_text(encoding="utf-8"))
    types, groups = listing["facility_types"], listing.get("groups", {})
    result = []
    for path in sorted(directory.glob("*.yaml")):
        if path.name in {"facility_types.yaml", "rules.yaml", "frequencies.yaml"}:  # not categories
            continue
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for item in data["items"]:
            deadline = item["deadline"]
            general, major = (
                (deadline["general"], deadline["major"]) if isinstance(deadline, dict) else (deadline,) * 2
            )
            facility_types = item["facility_types"]
            if facility_types == ["all"]:
                facility_types = [t["code"] for t in types if data["category"] in t["checklists"]]
            hint = item.get("hint") or {"zh": "", "en": ""}
            overrides = item.get("by_facility_type", {})
            key = next((k for k in overrides if facility_type in groups.get(k, [k])), None)
            item = {**item, **overrides[key]} if facility_type and key else item
            result.append(
                {
                    "code": item["code"],
                    "category": data["category"],
                    "severity": item["severity"],
                    "text": {"zh": item["zh"], "en": item["en"]},
                    "hint": {"zh": hint["zh"], "en": hint["en"]},
                    "basis": item["basis"],
                    "basis_verified": item.get("basis_verified", False),
                    "basis_note": item.get("basis_note", ""),
                    "deadline_days": {"general": _days(general), "major": _days(major)},
                    "stop_use": item.get("stop_use", False),
                    "facility_types": facility_types,
                    "version": data["version"],
                }
            )
    return result


def _by_code(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    codes = [entry["code"] for entry in entries]
    assert len(codes) == len(set(codes)), "an item is listed twice"
    return {entry["code"]: entry for entry in entries}


# --- the standing checklists -------------------------------------------------------------------------


async def test_it_serves_exactly_what_the_files_hold(stack: Stack) -> None:
    expected = _expected_from_files(default_directory())
    assert len(expected) == 133
    assert _by_code(await _get(stack)) == _by_code(expected)


@pytest.mark.parametrize(
    "facility_type", ["nursing_home", "meal_point", "funeral_home", "cemetery", "child_welfare_institution"]
)
async def test_it_filters_by_facility_type(stack: Stack, facility_type: str) -> None:
    expected = [
        e
        for e in _expected_from_files(default_directory(), facility_type)
        if facility_type in e["facility_types"]
    ]
    served = await _get(stack, facility_type=facility_type)
    assert _by_code(served) == _by_code(expected)
    categories = {entry["category"] for entry in served}
    if facility_type == "funeral_home":
        assert "food" not in categories
    if facility_type == "meal_point":
        assert {"food", "gas"} <= categories


async def test_it_keeps_the_internal_note_from_a_facility_head(stack: Stack) -> None:
    params = {"facility_type": "funeral_home", "category": "special_equipment"}
    served = await stack.client.get("/api/checklists", params=params, headers=await stack.token("head"))
    assert served.status_code == 200
    entry = _by_code(served.json())["SE-REG-01"]
    assert "basis_note" not in entry and entry["basis"] == "《中华人民共和国特种设备安全法》"
    staff = _by_code(await _get(stack, **params))["SE-REG-01"]
    assert "SE-USEREG-01" in staff["basis_note"]


async def test_it_rejects_an_unknown_facility_type(stack: Stack) -> None:
    response = await stack.client.get(
        "/api/checklists", params={"facility_type": "hospital"}, headers=await stack.token("inspector")
    )
    assert response.status_code == 422
    assert "hospital" in response.text


async def test_it_keeps_the_list_unchanged_without_the_campaign_flag(stack: Stack) -> None:
    await publish(
        stack.engine, stack.catalog, "flood_season", date(2026, 6, 1), date(2026, 9, 30), None, SUMMER
    )
    plain = await _get(stack, facility_type="cemetery")
    assert all("campaigns" not in entry for entry in plain)
    assert not any(entry["code"].startswith("FLOOD-") for entry in plain)


# --- versions ------------------------------------------------------------------------------------------


async def test_it_serves_the_version_in_effect_on_the_clock_day(tmp_path: Path) -> None:
    checklists = tmp_path / "checklists"
    shutil.copytree(default_directory(), checklists)
    newer = (checklists / "fire.yaml").read_text(encoding="utf-8")
    newer = newer.replace('version: "2024.1"', 'version: "2026.2"').replace(
        "effective: 2024-01-01", "effective: 2026-08-01"
    )
    newer = newer.replace(
        "Safety exits or escape routes locked, blocked or occupied", "Exits locked or blocked (2026 wording)"
    )
    (checklists / "fire-2026.yaml").write_text(newer, encoding="utf-8")
    (tmp_path / "db").mkdir()
    stack = await _stack(tmp_path / "db", checklists, at=datetime(2026, 7, 31, 23, tzinfo=LOCAL_TZ))
    try:
        before = _by_code(await _get(stack, category="fire"))
        assert before["FIRE-EXIT-01"]["version"] == "2024.1"
        assert (
            before["FIRE-EXIT-01"]["text"]["en"]
            == "Safety exits or escape routes locked, blocked or occupied"
        )
        # Midnight in Beijing is still the evening before in UTC: the bureau's day counts.
        assert isinstance(stack.clock, FixedClock)
        stack.clock.at = datetime(2026, 8, 1, 0, 30, tzinfo=LOCAL_TZ)
        after = _by_code(await _get(stack, category="fire"))
        assert after["FIRE-EXIT-01"]["version"] == "2026.2"
        assert after["FIRE-EXIT-01"]["text"]["en"] == "Exits locked or blocked (2026 wording)"
        assert set(after) == set(before)
        assert stack.catalog.item("FIRE-EXIT-01", version="2024.1").en.startswith("Safety exits")
    finally:
        await stack.close()


# --- campaigns -----------------------------------------------------------------------------------------


async def test_it_shows_a_published_campaign_within_its_dates_only(stack: Stack) -> None:
    published = await publish(
        stack.engine, stack.catalog, "flood_season", date(2026, 6, 1), date(2026, 7, 1), ["cemetery"], SUMMER
    )
    flood = stack.catalog.campaigns["flood_season"]
    standing = {entry["code"] for entry in await _get(stack, facility_type="cemetery")}

    served = _by_code(await _get(stack, facility_type="cemetery", include_campaigns="true"))
    expected_codes = {i.code for i in stack.catalog.campaign_items("flood_season", "cemetery")}
    in_campaign = {code for code, entry in served.items() if entry["campaigns"]}
    assert in_campaign == expected_codes
    assert set(served) == standing | expected_codes
    own = served["FLOOD-ELEC-01"]
    assert own["category"] == "campaign:flood_season" and own["version"] == flood.version
    assert own["campaigns"] == [
        {
            "code": "flood_season",
            "zh": flood.zh,
            "en": flood.en,
            "version": flood.version,
            "publication_id": published.id,
            "from": "2026-06-01",
            "to": "2026-07-01",
        }
    ]
    # A referenced item is listed once, as the standing checklist words it, marked with the campaign.
    assert served["WX-FLOOD-01"]["text"]["zh"] == stack.catalog.item("WX-FLOOD-01").zh
    assert served["WX-FLOOD-01"]["campaigns"][0]["code"] == "flood_season"
    assert served["FIRE-EXIT-01"]["campaigns"] == []

    # Not for other facility types...
    nursing = await _get(stack, facility_type="nursing_home", include_campaigns="true")
    assert not any(entry["campaigns"] for entry in nursing)
    # ...and not after the last day (local time), nor before the first.
    assert isinstance(stack.clock, FixedClock)
    stack.clock.at = datetime(2026, 7, 2, 0, 1, tzinfo=LOCAL_TZ)
    after = await _get(stack, facility_type="cemetery", include_campaigns="true")
    assert {e["code"] for e in after} == standing and not any(e["campaigns"] for e in after)
    stack.clock.at = datetime(2026, 5, 31, 23, 59, tzinfo=LOCAL_TZ)
    assert not any(
        e["campaigns"] for e in await _get(stack, facility_type="cemetery", include_campaigns="true")
    )
    stack.clock.at = datetime(2026, 6, 1, 0, 0, tzinfo=LOCAL_TZ)
    assert any(e["campaigns"] for e in await _get(stack, facility_type="cemetery", include_campaigns="true"))

    # Withdrawn, it shows no more.
    await withdraw(stack.engine, published.id, SUMMER)
    assert not any(
        e["campaigns"] for e in await _get(stack, facility_type="cemetery", include_campaigns="true")
    )


async def test_it_lists_campaign_items_of_every_type_without_a_filter(stack: Stack) -> None:
    await publish(stack.engine, stack.catalog, "heat", date(2026, 6, 15), date(2026, 9, 15), None, SUMMER)
    await publish(
        stack.engine, stack.catalog, "flood_season", date(2026, 6, 1), date(2026, 9, 30), None, SUMMER
    )
    served = _by_code(await _get(stack, include_campaigns="true"))
    assert [c["code"] for c in served["WX-INFO-01"]["campaigns"]] == ["heat", "flood_season"]
    assert {"HEAT-WATCH-01", "HEAT-WORK-01", "FLOOD-DRILL-01"} <= set(served)
    own_heat = {code for code, e in served.items() if e["category"] == "campaign:heat"}
    assert own_heat == {"HEAT-WATCH-01", "HEAT-WORK-01"}
    only_heat = await _get(stack, include_campaigns="true", category="campaign:heat")
    assert {e["code"] for e in only_heat} == own_heat


async def test_it_refuses_a_publication_that_makes_no_sense(stack: Stack) -> None:
    catalog = stack.catalog
    with pytest.raises(PublishError, match="unknown campaign"):
        await publish(stack.engine, catalog, "snow", date(2026, 1, 1), date(2026, 1, 2), None, SUMMER)
    with pytest.raises(PublishError, match="--to: 2026-01-01 is before --from 2026-01-02"):
        await publish(stack.engine, catalog, "heat", date(2026, 1, 2), date(2026, 1, 1), None, SUMMER)
    with pytest.raises(PublishError, match="--facility-type: unknown facility type 'hospital'"):
        await publish(stack.engine, catalog, "heat", date(2026, 7, 1), date(2026, 7, 2), ["hospital"], SUMMER)
    with pytest.raises(PublishError, match="at most 366 days"):
        await publish(stack.engine, catalog, "heat", date(2026, 1, 1), date(2027, 6, 1), None, SUMMER)


def _tracker(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    command = [sys.executable, "-m", "tracker", "checklists", *args]
    return subprocess.run(
        command, check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


async def test_it_publishes_from_the_command_line(tmp_path: Path) -> None:
    command = ["publish", "cold_wave", "--data", str(tmp_path)]
    refused = await asyncio.to_thread(_tracker, *command)
    assert refused.returncode == 2 and "tracker db upgrade" in refused.stderr
    upgrade = [sys.executable, "-m", "tracker", "db", "upgrade", "--data", str(tmp_path)]
    await asyncio.to_thread(subprocess.run, upgrade, check=True, cwd=ROOT, capture_output=True, timeout=300)
    types = ["--facility-type", "nursing_home", "--facility-type", "meal_point", "--by", "安全科"]
    done = await asyncio.to_thread(_tracker, *command, "--from", "2026-06-20", "--to", "2026-07-10", *types)
    assert done.returncode == 0, done.stderr
    assert "published cold_wave" in done.stdout and "2026-06-20 to 2026-07-10" in done.stdout
    bad = await asyncio.to_thread(_tracker, *command, "--from", "2026-06-20", "--to", "2026-06-01")
    assert bad.returncode == 2 and "--to: 2026-06-01 is before --from 2026-06-20" in bad.stderr
    listed = await asyncio.to_thread(_tracker, "publications", "--data", str(tmp_path))
    assert listed.returncode == 0 and "cold_wave 2026.1  2026-06-20 .. 2026-07-10" in listed.stdout

    stack = await _stack(tmp_path)
    try:
        meal = _by_code(await _get(stack, facility_type="meal_point", include_campaigns="true"))
        assert {c for c, e in meal.items() if e["campaigns"]} == {
            i.code for i in stack.catalog.campaign_items("cold_wave", "meal_point")
        }
        assert meal["COLD-CO-01"]["campaigns"][0]["from"] == "2026-06-20"
        cemetery = await _get(stack, facility_type="cemetery", include_campaigns="true")
        assert not any(e["campaigns"] for e in cemetery)
    finally:
        await stack.close()
