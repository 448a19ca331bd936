"""What a phone downloads: the first load of /inspect with its scripts and styles, and a finding with four photos,
on the inspector's finding page and on the facility head's order page, each at most 200 KB. The figures are
printed (run with -s to see them); the README keeps the last ones.

Sizes, not times: each answer's headers and body as they came over the wire (gzipped where the server gzips),
added up over every answer the browser got for the page, the service worker's own downloads included, on a
phone that never saw the site (no cache, no service worker yet)."""

from __future__ import annotations

import io
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlparse

import httpx
import pytest
from PIL import Image, ImageFilter
from playwright.sync_api import Browser, Page, Response

from tests.e2e.conftest import PASSWORD, PIPELINE_SECONDS, TIMEOUT_MS, VIEWPORT, Server, order_link
from tests.support.stack import login_token
from tracker.web.auth import COOKIE

pytestmark = pytest.mark.e2e
PAGE_BUDGET_BYTES = 200 * 1024
THUMBNAIL_MAX_BYTES = 30 * 1024


SERVICE_WORKER_READY = """async () => {
  if (!navigator.serviceWorker || !(await navigator.serviceWorker.getRegistration())) { return false; }
  await navigator.serviceWorker.ready;
  return true;
}"""


@dataclass
class Weight:
    """Every answer of one page load, as (path, bytes over the wire: headers and body as sent)."""

    answers: list[tuple[str, int]]

    @property
    def wire(self) -> int:
        return sum(size for _, size in self.answers)

    def table(self, title: str) -> str:
        lines = [f"{title}: {len(self.answers)} answers, {self.wire:,} bytes"]
        # 0: the service worker's copy came from the browser's cache, not over the wire again.
        return "\n".join(lines + [f"  {size:>9,}  {path}" for path, size in self.answers])


def phone_photo(seed: int) -> bytes:
    """A 1600 x 1200 JPEG (the size the pages shrink a camera's photo to before sending) with a phone photo's
    fine detail: about as heavy as one."""
    rng = random.Random(seed)
    image = Image.frombytes("RGB", (400, 300), rng.randbytes(400 * 300 * 3)).resize((1600, 1200))
    image = image.filter(ImageFilter.GaussianBlur(1))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=88)
    return out.getvalue()


def session_cookie(server: Server, username: str) -> str:
    """A session as the login form gives it, got without the browser: its first page is then really its first."""
    with httpx.Client(base_url=server.base_url, timeout=15) as client:
        form = client.get("/login")
        answer = client.post(
            "/login",
            data={
                "username": username,
                "password": PASSWORD,
                "login_token": login_token(form.text),
                "next": "/",
            },
        )
        assert answer.status_code == 303, answer.text
        return client.cookies[COOKIE]


def fresh_phone(browser: Browser, server: Server, username: str | None = None) -> Page:
    """A phone that never saw the site: no cache, no service worker; logged in if `username` is given."""
    context = browser.new_context(
        viewport=VIEWPORT, device_scale_factor=2, is_mobile=True, has_touch=True, locale="zh-CN"
    )
    context.set_default_timeout(TIMEOUT_MS)
    if username:
        context.add_cookies(
            [{"name": COOKIE, "value": session_cookie(server, username), "url": server.base_url}]
        )
    return context.new_page()


def weigh(page: Page, url: str, scroll: bool = False) -> Weight:
    """Load `url` and everything it brings (with `scroll`, the photos further down too) and weigh each answer."""
    answers: list[Response] = []

    def seen(answer: Response) -> None:
        answers.append(answer)

    page.context.on("response", seen)
    page.goto(url)
    page.wait_for_load_state("networkidle")
    if scroll:
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        page.wait_for_function("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
    # A logged-in page starts the service worker, which fetches its own copy of the static files as it installs.
    page.evaluate(SERVICE_WORKER_READY)
    page.wait_for_load_state("networkidle")
    page.context.remove_listener("response", seen)
    weighed = []
    for answer in answers:
        answer.finished()
        sizes = answer.request.sizes()
        path = urlparse(answer.url).path + (" (service worker)" if answer.request.service_worker else "")
        weighed.append((path, sizes["responseHeadersSize"] + sizes["responseBodySize"]))
    return Weight(weighed)


def finding_with_four_photos(server: Server) -> tuple[int, list[str]]:
    """A hazard at E2E03 reported through the API with four phone photos; its id and the photos' ids."""
    photo_ids = []
    for seed in range(4):
        sent = server.api(
            "POST", "/api/photos", "insp", files={"file": (f"p{seed}.jpg", phone_photo(seed), "image/jpeg")}
        )
        assert sent.status_code == 201, sent.text
        photo_ids.append(sent.json()["id"])
    [facility] = server.api("GET", "/api/facilities", "insp", params={"q": "E2E03"}).json()
    items = server.api(
        "GET", "/api/checklists", "insp", params={"facility_type": facility["type"], "category": "fire"}
    ).json()
    item = next(i for i in items if i["severity"] == "general")
    answer = server.api(
        "POST",
        "/api/inspections",
        "insp",
        json={
            "facility_id": facility["id"],
            "mode": "unannounced",
            "client_ref": f"e2e-{uuid.uuid4()}",
            "items": [
                {"item": item["code"], "result": "fail", "note": "疏散通道堆放杂物", "photos": photo_ids}
            ],
        },
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["findings"][0]["id"], photo_ids


def test_a_first_visit_to_inspect_weighs_at_most_200_kb(server: Server, browser: Browser) -> None:
    phone = fresh_phone(browser, server, "insp")
    weight = weigh(phone, f"{server.base_url}/inspect")
    print("\n" + weight.table("first load of /inspect"))
    paths = [path for path, _ in weight.answers]
    assert (
        "/inspect" in paths
        and any(p.endswith(".css") for p in paths)
        and any(p.endswith(".js") for p in paths)
    )
    assert weight.wire <= PAGE_BUDGET_BYTES, weight.table("first load of /inspect")


def test_a_finding_with_four_photos_weighs_at_most_200_kb_and_opens_each_photo_whole(
    server: Server, browser: Browser, new_page: Callable[[], Page]
) -> None:
    finding_id, photo_ids = finding_with_four_photos(server)
    full = sum(len(server.api("GET", f"/api/photos/{p}", "insp").content) for p in photo_ids)

    phone = fresh_phone(browser, server, "insp")
    weight = weigh(phone, f"{server.base_url}/findings/{finding_id}", scroll=True)
    print("\n" + weight.table(f"/findings/{finding_id} with four photos"))
    print(f"  the same four photos at full size: {full:,} bytes")
    thumbnails = {path: size for path, size in weight.answers if path.endswith("/thumbnail")}
    assert sorted(thumbnails) == sorted(f"/api/photos/{p}/thumbnail" for p in photo_ids)
    assert all(size <= THUMBNAIL_MAX_BYTES + 1024 for size in thumbnails.values()), thumbnails
    assert weight.wire <= PAGE_BUDGET_BYTES, weight.table("the finding page")

    # Shown at most 320 px wide; a tap opens the photo itself, whole.
    first = phone.locator("figure a:has(img)").first
    assert phone.evaluate("Math.max(...[...document.images].map(i => i.naturalWidth))") <= 320
    with phone.expect_response(lambda r: r.url.endswith(f"/api/photos/{photo_ids[0]}")) as opened:
        first.click()
    assert opened.value.ok and len(opened.value.body()) > THUMBNAIL_MAX_BYTES
    assert phone.evaluate("document.images[0].naturalWidth") == 1600

    # The facility head's order page, opened from the mail: the same four thumbnails, by the order's link.
    order_id = server.wait_for(
        lambda: server.api("GET", f"/api/findings/{finding_id}", "insp").json()["order_id"],
        timeout=PIPELINE_SECONDS,
        what=f"finding {finding_id} to be ordered",
    )
    link = order_link(server.order_mail("head3@facility.example.cn", order_id))
    head = fresh_phone(browser, server)
    weight = weigh(head, link, scroll=True)
    print("\n" + weight.table(f"/orders/{order_id} (the mailed link) with four photos"))
    thumbnails = {path for path, _ in weight.answers if path.endswith("/thumbnail")}
    assert thumbnails == {f"/orders/{order_id}/photos/{p}/thumbnail" for p in photo_ids}
    assert weight.wire <= PAGE_BUDGET_BYTES, weight.table("the order page")
