"""The HTML pages of the two people in the field: the inspector's phone and the facility head's order.

Writes from these pages are protected against cross-site requests twice: the session cookie is
SameSite=Strict, and every form carries a token derived from the session (`csrf_token`), which the
handlers here check; the inspection page's JavaScript calls the JSON API with the same value in the
X-CSRF-Token header, which `current_actor` requires for cookie-authenticated writes. The order page
opened from the mail is authorised by its signed token alone, which an attacker cannot know either.
"""

from __future__ import annotations

from fastapi import APIRouter

from tracker.web.pages import certificates, findings, inspect, language, orders, plans, self_report, work
from tracker.web.pages.common import error_page

__all__ = ["error_page", "router"]


router = APIRouter(include_in_schema=False)
for _module in (language, inspect, work, findings, orders, self_report, certificates, plans):
    router.include_router(_module.router)
