"""Publishing campaign checklists and finding which campaign items a facility sees on a given day.

A campaign (checklists/campaigns/*.yaml) is data; a publication is the bureau's decision to show it to
the facilities of some types from one day to another, both included, in China Standard Time. Several
publications may overlap; a withdrawn one no longer shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tracker.checklists.model import Catalog, Item
from tracker.store.tables import campaign_publications

# A campaign longer than this is a standing checklist, or a typo in a year.
MAX_DAYS = 366


class PublishError(ValueError):
    """The publication asked for makes no sense; the message says which option is wrong."""


@dataclass(frozen=True, slots=True)
class Publication:
    id: int
    campaign: str
    campaign_version: str
    facility_types: tuple[str, ...]
    starts_on: date
    ends_on: date
    published_at: datetime
    published_by: str
    withdrawn_at: datetime | None

    def active_on(self, day: date) -> bool:
        return self.withdrawn_at is None and self.starts_on <= day <= self.ends_on

    def ref(self, catalog: Catalog) -> dict[str, Any]:
        """How an API response names this publication of its campaign."""
        campaign = catalog.campaigns.get(self.campaign)
        return {
            "code": self.campaign,
            "zh": campaign.zh if campaign else self.campaign,
            "en": campaign.en if campaign else self.campaign,
            "version": self.campaign_version,
            "publication_id": self.id,
            "from": self.starts_on.isoformat(),
            "to": self.ends_on.isoformat(),
        }


def _publication(row: Any) -> Publication:
    return Publication(
        id=row.id,
        campaign=row.campaign,
        campaign_version=row.campaign_version,
        facility_types=tuple(row.facility_types),
        starts_on=row.starts_on,
        ends_on=row.ends_on,
        published_at=row.published_at,
        published_by=row.published_by,
        withdrawn_at=row.withdrawn_at,
    )


def default_window(catalog: Catalog, campaign: str, today: date) -> tuple[date, date]:
    """The campaign's usual season that has not ended yet as of `today`."""
    found = catalog.campaigns[campaign]
    for year in (today.year - 1, today.year, today.year + 1):
        start, end = found.season(year)
        if end >= today:
            return start, end
    raise AssertionError("unreachable: a season of next year always ends after today")


async def publish(
    engine: AsyncEngine,
    catalog: Catalog,
    campaign: str,
    starts_on: date,
    ends_on: date,
    facility_types: Sequence[str] | None,
    now: datetime,
    published_by: str = "",
) -> Publication:
    """Record that `campaign` is shown to `facility_types` (default: every type it is for) over the dates."""
    found = catalog.campaigns.get(campaign)
    if found is None:
        known = ", ".join(sorted(catalog.campaigns)) or "none"
        raise PublishError(f"CAMPAIGN: unknown campaign {campaign!r} (known: {known})")
    if ends_on < starts_on:
        raise PublishError(f"--to: {ends_on.isoformat()} is before --from {starts_on.isoformat()}")
    if (ends_on - starts_on).days + 1 > MAX_DAYS:
        raise PublishError(f"--to: a campaign runs at most {MAX_DAYS} days")
    types = list(dict.fromkeys(facility_types or found.facility_types))
    for code in types:
        if code not in catalog.facility_types:
            raise PublishError(f"--facility-type: unknown facility type {code!r}")
        if code not in found.facility_types:
            raise PublishError(f"--facility-type: campaign {campaign!r} is not for facility type {code!r}")
    async with engine.begin() as conn:
        new_id = (
            await conn.execute(
                insert(campaign_publications).values(
                    campaign=campaign,
                    campaign_version=found.version,
                    facility_types=types,
                    starts_on=starts_on,
                    ends_on=ends_on,
                    published_at=now,
                    published_by=published_by,
                )
            )
        ).inserted_primary_key[0]
        row = (
            await conn.execute(select(campaign_publications).where(campaign_publications.c.id == new_id))
        ).one()
    return _publication(row)


async def withdraw(engine: AsyncEngine, publication_id: int, now: datetime) -> Publication:
    """Stop showing a publication from now on; it stays on record."""
    async with engine.begin() as conn:
        await conn.execute(
            update(campaign_publications)
            .where(
                campaign_publications.c.id == publication_id, campaign_publications.c.withdrawn_at.is_(None)
            )
            .values(withdrawn_at=now)
        )
        row = (
            await conn.execute(
                select(campaign_publications).where(campaign_publications.c.id == publication_id)
            )
        ).first()
    if row is None:
        raise PublishError(f"ID: no publication with id {publication_id}")
    return _publication(row)


async def publications(conn: AsyncConnection, on: date | None = None) -> list[Publication]:
    """Every publication in id order, or only those showing on `on`."""
    query = select(campaign_publications).order_by(campaign_publications.c.id)
    if on is not None:
        query = query.where(
            campaign_publications.c.withdrawn_at.is_(None),
            campaign_publications.c.starts_on <= on,
            campaign_publications.c.ends_on >= on,
        )
    return [_publication(row) for row in (await conn.execute(query)).all()]


def visible_items(
    catalog: Catalog, active: Sequence[Publication], facility_type: str | None = None
) -> list[tuple[Item, list[Publication]]]:
    """The campaign items that `active` publications show, each with the publications showing it.

    With `facility_type`, only what a facility of that type sees: the publication must be for the type
    and the item must apply to it. Items come in publication order, then file order, each once.
    A publication of a campaign no longer in the files shows nothing.
    """
    shown: dict[str, tuple[Item, list[Publication]]] = {}
    for publication in active:
        if publication.campaign not in catalog.campaigns:
            continue
        types = (
            [facility_type]
            if facility_type is not None
            else [t for t in publication.facility_types if t in catalog.facility_types]
        )
        for ftype in types:
            if ftype not in publication.facility_types:
                continue
            for item in catalog.campaign_items(publication.campaign, ftype):
                entry = shown.setdefault(item.code, (item, []))
                if publication not in entry[1]:
                    entry[1].append(publication)
    return list(shown.values())
