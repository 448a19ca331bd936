"""Logging in and out as an attacker would try it: guessing passwords, replaying a cookie after logout, and
posting the login and logout forms from another site. The real app over HTTP, on SQLite and PostgreSQL, with
the clock in the test's hand."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.support.stack import PASSWORD, Stack, login_token
from tracker.clock import FixedClock
from tracker.passwords import DUMMY_HASH, check_password
from tracker.service import logins
from tracker.web.app import create_app
from tracker.web.auth import COOKIE, csrf_token

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
WRONG = "wrong-password-9"


@pytest.fixture
async def stack(open_stack, database_url: str) -> Stack:
    return await open_stack(
        database_url, fast=True, smtp=False, start=False, facilities=("QD001",), clock=FixedClock(T0)
    )


def client_from(stack: Stack, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(stack.ctx), client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://tracker.test")


def later(stack: Stack, seconds: float) -> None:
    assert isinstance(stack.clock, FixedClock)
    stack.clock.at += timedelta(seconds=seconds)


async def api_login(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post("/api/token", json={"username": username, "password": password})


async def form_login(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    form = await client.get("/login")
    data = {"username": username, "password": password, "next": "/my", "login_token": login_token(form.text)}
    return await client.post("/login", data=data)


@pytest.mark.parametrize("login", [api_login, form_login], ids=["api", "page"])
async def test_it_throttles_twelve_wrong_passwords_then_lets_the_right_one_in_after_the_wait(
    stack: Stack, login, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="tracker.service.logins")
    statuses = [(await login(stack.client, "inspector", WRONG)).status_code for _ in range(12)]
    assert statuses == [401] * 5 + [429] * 7

    right = await login(stack.client, "inspector", PASSWORD)
    assert right.status_code == 429
    assert right.headers["Retry-After"] == "30"
    if login is form_login:
        assert "30" in right.text and 'name="password"' in right.text

    later(stack, 29)
    assert (await login(stack.client, "inspector", PASSWORD)).status_code == 429
    later(stack, 1)
    assert (await login(stack.client, "inspector", PASSWORD)).status_code in (200, 303)

    # The success cleared the account's failures: one more mistake is a plain 401, not a wait.
    assert (await login(stack.client, "inspector", WRONG)).status_code == 401

    failures = [r.getMessage() for r in caplog.records if "login failed" in r.getMessage()]
    assert len(failures) == 6 and all("'inspector'" in line for line in failures)
    assert not any(WRONG in r.getMessage() or PASSWORD in r.getMessage() for r in caplog.records)


async def test_failures_on_the_api_hold_the_login_page_back_too(stack: Stack) -> None:
    for _ in range(5):
        assert (await api_login(stack.client, "head", WRONG)).status_code == 401
    assert (await form_login(stack.client, "head", PASSWORD)).status_code == 429


async def test_the_wait_grows_with_each_failure_past_five(stack: Stack) -> None:
    waits = []
    for _ in range(5):
        await api_login(stack.client, "town", WRONG)
    for _ in range(4):
        refused = await api_login(stack.client, "town", WRONG)
        assert refused.status_code == 429
        waits.append(int(refused.headers["Retry-After"]))
        later(stack, waits[-1])
        assert (await api_login(stack.client, "town", WRONG)).status_code == 401
    assert waits == [30, 60, 120, 240]


async def test_guesses_sent_all_at_once_are_counted_as_if_one_by_one(stack: Stack) -> None:
    answers = await asyncio.gather(*(api_login(stack.client, "lead", WRONG) for _ in range(12)))
    assert sorted(a.status_code for a in answers) == [401] * 5 + [429] * 7


async def test_an_unknown_name_is_answered_as_a_known_one(stack: Stack) -> None:
    known = [(await api_login(stack.client, "chief", WRONG)).status_code for _ in range(7)]
    unknown = [(await api_login(stack.client, "nobody-here", WRONG)).status_code for _ in range(7)]
    assert known == unknown == [401] * 5 + [429] * 2


async def test_an_unknown_name_costs_one_bcrypt_check_as_a_known_one_does(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []

    def counting(password: str, hashed: str) -> bool:
        checked.append(hashed)
        return check_password(password, hashed)

    real = logins.password_matches
    monkeypatch.setattr(logins, "password_matches", lambda password, stored: real(password, stored, counting))
    assert (await api_login(stack.client, "nobody-here", WRONG)).status_code == 401
    assert (await api_login(stack.client, "chief", WRONG)).status_code == 401
    assert (await api_login(stack.client, "chief", PASSWORD)).status_code == 200
    assert len(checked) == 3 and checked[0] == DUMMY_HASH and checked[1] == checked[2] != DUMMY_HASH


async def test_one_address_guessing_many_names_waits_while_other_addresses_go_on(stack: Stack) -> None:
    attacker = client_from(stack, "198.51.100.7")
    office = client_from(stack, "203.0.113.20")
    try:
        for n in range(20):  # one guess per name: no account reaches its own limit
            assert (await api_login(attacker, f"guess-{n}", WRONG)).status_code == 401
        refused = await api_login(attacker, "lead", PASSWORD)
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "30"
        assert (await api_login(office, "lead", PASSWORD)).status_code == 200
    finally:
        await attacker.aclose()
        await office.aclose()


async def test_successful_logins_from_one_office_do_not_add_up_to_a_wait(stack: Stack) -> None:
    for _ in range(25):
        assert (await api_login(stack.client, "admin", PASSWORD)).status_code == 200


async def test_an_office_logging_in_all_day_still_has_its_old_mistakes_forgotten(stack: Stack) -> None:
    for n in range(19):
        assert (await api_login(stack.client, f"typo-{n}", WRONG)).status_code == 401
    for _ in range(7):  # people log in every ten minutes; none of that is a failure
        later(stack, 600)
        assert (await api_login(stack.client, "admin", PASSWORD)).status_code == 200
    # The nineteen are more than an hour old: one more mistake now is the first of a new count.
    assert (await api_login(stack.client, "typo-x", WRONG)).status_code == 401
    assert (await api_login(stack.client, "admin", PASSWORD)).status_code == 200


async def test_logout_ends_the_cookie_and_the_same_token_as_a_bearer(stack: Stack) -> None:
    assert (await form_login(stack.client, "inspector", PASSWORD)).status_code == 303
    session = stack.client.cookies[COOKIE]
    bearer = {"Authorization": f"Bearer {session}"}
    assert (await stack.client.get("/my")).status_code == 200
    assert (await stack.client.get("/api/facilities", headers=bearer)).status_code == 200

    csrf = csrf_token(stack.ctx.secret, session)
    out = await stack.client.post("/logout", data={"csrf": csrf})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert COOKIE not in stack.client.cookies

    stack.client.cookies.set(COOKIE, session)  # the old cookie, kept by whoever copied it
    assert (await stack.client.get("/my")).status_code == 401
    page = await stack.client.get("/my", headers={"Accept": "text/html"})
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    stack.client.cookies.clear()
    assert (await stack.client.get("/api/facilities", headers=bearer)).status_code == 401


async def test_logout_in_one_browser_leaves_the_phone_logged_in(stack: Stack) -> None:
    phone = await stack.token("inspector")
    assert (await form_login(stack.client, "inspector", PASSWORD)).status_code == 303
    csrf = csrf_token(stack.ctx.secret, stack.client.cookies[COOKIE])
    assert (await stack.client.post("/logout", data={"csrf": csrf})).status_code == 303
    assert (await stack.client.get("/api/facilities", headers=phone)).status_code == 200


async def test_logging_in_again_in_the_same_browser_ends_the_session_it_held(stack: Stack) -> None:
    assert (await form_login(stack.client, "inspector", PASSWORD)).status_code == 303
    first = stack.client.cookies[COOKIE]
    later(stack, 1)
    assert (await form_login(stack.client, "inspector", PASSWORD)).status_code == 303
    assert stack.client.cookies[COOKIE] != first
    old = {"Authorization": f"Bearer {first}"}
    assert (await stack.client.get("/api/facilities", headers=old)).status_code == 401
    assert (await stack.client.get("/my")).status_code == 200


async def test_a_session_ends_after_twelve_hours(stack: Stack) -> None:
    headers = await stack.token("inspector")
    later(stack, 12 * 3600 - 1)
    assert (await stack.client.get("/api/facilities", headers=headers)).status_code == 200
    later(stack, 1)
    assert (await stack.client.get("/api/facilities", headers=headers)).status_code == 401


async def test_logout_without_the_form_token_is_refused_and_logs_nobody_out(stack: Stack) -> None:
    assert (await form_login(stack.client, "inspector", PASSWORD)).status_code == 303
    for data in ({}, {"csrf": "0" * 40}):
        refused = await stack.client.post("/logout", data=data)
        assert refused.status_code == 403
    assert (await stack.client.get("/my")).status_code == 200


async def test_login_without_the_form_token_and_its_cookie_is_refused(stack: Stack) -> None:
    form = await stack.client.get("/login")
    token = login_token(form.text)
    good = {"username": "inspector", "password": PASSWORD, "next": "/my"}
    assert (await stack.client.post("/login", data=good)).status_code == 403
    assert (
        await stack.client.post("/login", data={**good, "login_token": "x." + "0" * 40})
    ).status_code == 403

    # A page on another site cannot read our cookie, and a value it planted in one is not ours.
    other = client_from(stack, "198.51.100.7")
    try:
        assert (await other.post("/login", data={**good, "login_token": token})).status_code == 403
        other.cookies.set("tracker_login", "planted.value")
        assert (await other.post("/login", data={**good, "login_token": "planted.value"})).status_code == 403
    finally:
        await other.aclose()
    assert COOKIE not in stack.client.cookies

    done = await stack.client.post("/login", data={**good, "login_token": token})
    assert done.status_code == 303 and done.headers["location"] == "/my"


async def test_the_logout_button_on_a_page_posts_the_form_token(stack: Stack) -> None:
    assert (await form_login(stack.client, "inspector", PASSWORD)).status_code == 303
    # Its own page, and a page it cannot find (the error page carries the navigation too); "/" sends it to /my.
    for path in ("/my", "/no-such-page"):
        page = await stack.client.get(path, headers={"Accept": "text/html"})
        expected = csrf_token(stack.ctx.secret, stack.client.cookies[COOKIE])
        assert (
            f'action="/logout" class="inline"><input type="hidden" name="csrf" value="{expected}">'
            in page.text
        )
