"""Photos: kept upright and without their metadata, each with a small thumbnail for lists and cards, and cleared
away when nothing came to use them."""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import os
import uuid
import weakref
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import delete, exists, insert, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tracker.domain.errors import DomainError, NotFound
from tracker.domain.model import Actor
from tracker.service.visibility import sees
from tracker.store.tables import (
    facilities,
    findings,
    inspection_item_photos,
    inspections,
    photo_links,
    photos,
)

log = logging.getLogger("tracker.photos")

MAX_PHOTO_BYTES = 10 * 1024 * 1024
# A 50-megapixel phone camera gives 8160 x 6120; a small file that claims far more is a decompression bomb.
MAX_PIXELS = 64_000_000
# An upload waits this long for the report, rectification or verification that links it.
UNLINKED_KEPT = timedelta(days=1)
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
# The minutes or letter of an escalation action may be a PDF besides a photo: kept as sent, served only as a download.
PDF = "application/pdf"
# What lists and cards show (at 120 CSS px, 240 on a phone's screen): a JPEG at most this wide and high and
# this heavy, so that a finding with four photos weighs a fraction of one full photo.
THUMBNAIL_EDGE = 320
THUMBNAIL_MAX_BYTES = 30 * 1024
THUMBNAIL_TYPE = "image/jpeg"
_THUMBNAIL_QUALITIES = (75, 60, 45, 30)
# Two photos decoded at a time per event loop: each may take a few hundred MB while it is open.
_decoding: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


class PhotoTooLarge(DomainError):
    status_code = 413


class NotAPhoto(DomainError):
    status_code = 415


def cleaned(data: bytes) -> tuple[bytes, str]:
    """The photo turned the way its camera meant it and encoded again, so that nothing of its metadata is
    kept: no EXIF (where it was taken, the camera's serial number), no XMP, no comments. Returns the new
    bytes and their content type."""
    try:
        # Only these decoders ever see an upload: Pillow's others (EPS calls Ghostscript) stay out of reach.
        with Image.open(io.BytesIO(data), formats=list(FORMATS)) as image:
            content_type = FORMATS[image.format or ""]
            if image.width * image.height > MAX_PIXELS:
                raise PhotoTooLarge(f"file: a photo may have at most {MAX_PIXELS // 1_000_000} megapixels")
            upright = ImageOps.exif_transpose(image)
            icc = image.info.get("icc_profile")
            # Pillow writes some of what it read back out (a JPEG's comment): keep only what draws the image.
            upright.info = {k: v for k, v in upright.info.items() if k == "transparency"}
            out = io.BytesIO()
            if image.format == "JPEG":
                upright.save(out, "JPEG", quality=90, optimize=True, icc_profile=icc)
            elif image.format == "PNG":
                upright.save(out, "PNG", optimize=True, icc_profile=icc)
            else:
                if upright.mode not in ("RGB", "RGBA"):
                    upright = upright.convert("RGBA")
                upright.save(out, "WEBP", quality=90, icc_profile=icc)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError):
        raise NotAPhoto("file: only JPEG, PNG or WebP photos are accepted") from None
    return out.getvalue(), content_type


def thumbnail(data: bytes) -> bytes:
    """A JPEG of a kept photo (already cleaned: upright, no metadata) at most THUMBNAIL_EDGE pixels wide and
    high and at most THUMBNAIL_MAX_BYTES, for lists and cards; transparency goes white, as on the page."""
    with Image.open(io.BytesIO(data), formats=list(FORMATS)) as image:
        # A JPEG decodes straight at a fraction of its size: a phone photo in tens of milliseconds, not hundreds.
        image.draft("RGB", (THUMBNAIL_EDGE, THUMBNAIL_EDGE))
        small = image.convert("RGBA")
    small.thumbnail((THUMBNAIL_EDGE, THUMBNAIL_EDGE), Image.Resampling.LANCZOS)
    flat = Image.new("RGB", small.size, "white")
    flat.paste(small, mask=small.getchannel("A"))
    out = b""
    for quality in _THUMBNAIL_QUALITIES:
        buffer = io.BytesIO()
        flat.save(buffer, "JPEG", quality=quality, optimize=True, progressive=True)
        out = buffer.getvalue()
        if len(out) <= THUMBNAIL_MAX_BYTES:
            return out
    # Noise no quality setting brings under the limit (a 320 px JPEG rarely passes 25 KB at 30): half the size.
    flat.thumbnail((THUMBNAIL_EDGE // 2, THUMBNAIL_EDGE // 2))
    buffer = io.BytesIO()
    flat.save(buffer, "JPEG", quality=_THUMBNAIL_QUALITIES[-1], optimize=True)
    return buffer.getvalue()


def thumbnail_path(photo_dir: Path, photo_id: str) -> Path:
    """Where a photo's thumbnail is kept: beside it, named after it, so that it needs no column of its own."""
    return photo_dir / f"{photo_id}.thumb"


def checked_pdf(data: bytes) -> bytes:
    """A PDF document as sent, if it looks like one whole: its header first and its end-of-file mark near the end.
    It cannot be cleaned like a photo; it is only ever served as a download (Content-Disposition: attachment)."""
    if not data.startswith(b"%PDF-") or b"%%EOF" not in data[-2048:]:
        raise NotAPhoto("file: only a PDF document or a JPEG, PNG or WebP photo is accepted")
    return data


async def store_photo(
    engine: AsyncEngine,
    photo_dir: Path,
    data: bytes,
    uploaded_by: int,
    now: datetime,
    *,
    allow_pdf: bool = False,
) -> str:
    """Keep one uploaded photo, cleaned (or, with `allow_pdf`, a PDF document as sent); returns its id. Unless
    a report, rectification, verification or action links it within a day, remove_unlinked clears it away."""
    if len(data) > MAX_PHOTO_BYTES:
        raise PhotoTooLarge(f"file: a photo may be at most {MAX_PHOTO_BYTES // (1024 * 1024)} MB")
    small = None
    if allow_pdf and data.startswith(b"%PDF-"):
        kept, content_type = checked_pdf(data), PDF
    else:
        kept, content_type, small = await _cleaned_off_loop(data)
    photo_id = str(uuid.uuid4())
    photo_dir.mkdir(parents=True, exist_ok=True)
    (photo_dir / photo_id).write_bytes(kept)
    if small is not None:
        thumbnail_path(photo_dir, photo_id).write_bytes(small)
    async with engine.begin() as conn:
        await conn.execute(
            insert(photos).values(
                id=photo_id,
                content_type=content_type,
                size=len(kept),
                sha256=hashlib.sha256(kept).hexdigest(),
                uploaded_by=uploaded_by,
                uploaded_at=now,
            )
        )
    return photo_id


def _cleaned_with_thumbnail(data: bytes) -> tuple[bytes, str, bytes]:
    kept, content_type = cleaned(data)
    return kept, content_type, thumbnail(kept)


async def _cleaned_off_loop(data: bytes) -> tuple[bytes, str, bytes]:
    # Decoding and encoding a phone photo takes a few hundred milliseconds: not on the event loop.
    async with _decoding.setdefault(asyncio.get_running_loop(), asyncio.Semaphore(2)):
        return await asyncio.to_thread(_cleaned_with_thumbnail, data)


async def thumbnail_file(photo_dir: Path, photo: Row[Any]) -> Path | None:
    """The thumbnail of a kept photo (a row of `photos`), made now if the photo came before thumbnails did;
    None for a PDF document, which has none."""
    if photo.content_type == PDF:
        return None
    path = thumbnail_path(photo_dir, photo.id)
    if not path.exists():
        data = (photo_dir / photo.id).read_bytes()
        async with _decoding.setdefault(asyncio.get_running_loop(), asyncio.Semaphore(2)):
            small = await asyncio.to_thread(thumbnail, data)
        # Two first requests at once each write their own file; the last rename wins, and both are whole.
        partial = path.with_name(f"{path.name}.{uuid.uuid4().hex}")
        partial.write_bytes(small)
        os.replace(partial, path)
    return path


async def visible_photo(conn: AsyncConnection, actor: Actor, photo_id: str) -> Row[Any]:
    """The photo (a row of `photos`) if `actor` may see it: the one who uploaded it, or anyone who may see a
    facility whose finding or fixed item it shows. Anyone else is told it does not exist."""
    photo = (await conn.execute(select(photos).where(photos.c.id == photo_id))).first()
    if photo is None:
        raise NotFound("no such photo")
    if photo.uploaded_by == actor.id:
        return photo
    linked = (
        await conn.execute(
            select(facilities.c.id, facilities.c.town)
            .join(findings, findings.c.facility_id == facilities.c.id)
            .join(photo_links, photo_links.c.finding_id == findings.c.id)
            .where(photo_links.c.photo_id == photo_id)
        )
    ).all()
    # A photo of an item fixed during the visit belongs to its inspection.
    linked += (
        await conn.execute(
            select(facilities.c.id, facilities.c.town)
            .join(inspections, inspections.c.facility_id == facilities.c.id)
            .join(inspection_item_photos, inspection_item_photos.c.inspection_id == inspections.c.id)
            .where(inspection_item_photos.c.photo_id == photo_id)
        )
    ).all()
    if not any(sees(actor, f) for f in linked):
        raise NotFound("no such photo")
    return photo


async def remove_unlinked(engine: AsyncEngine, photo_dir: Path, now: datetime) -> list[str]:
    """Delete the photos uploaded more than a day ago that no finding links to, rows and files; returns
    their ids. A link made at the same moment keeps its photo: the delete re-checks for links itself. A photo
    of an item fixed during the visit is its inspection's, and stays."""
    unlinked = (
        (photos.c.uploaded_at < now - UNLINKED_KEPT)
        & ~exists().where(photo_links.c.photo_id == photos.c.id)
        & ~exists().where(inspection_item_photos.c.photo_id == photos.c.id)
    )
    async with engine.begin() as conn:
        gone = list((await conn.execute(delete(photos).where(unlinked).returning(photos.c.id))).scalars())
    for photo_id in gone:
        (photo_dir / photo_id).unlink(missing_ok=True)
        thumbnail_path(photo_dir, photo_id).unlink(missing_ok=True)
    if gone:
        log.info("removed %d photos no finding used", len(gone))
    return gone
