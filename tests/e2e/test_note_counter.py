"""A text box with a limit says how much of it is used, and stops at the limit."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Server, login

pytestmark = pytest.mark.e2e


def test_the_self_report_note_counts_its_characters_and_stops_at_4000(
    server: Server, new_page: Callable[[], Page]
) -> None:
    page = new_page()
    login(page, server, "head1", "/self-report")
    note = page.locator("textarea[name=note]")
    counter = page.locator("#self-form textarea[name=note] + .counter")
    expect(counter).to_have_text("0 / 4000")
    note.fill("疏散通道堆放杂物")
    expect(counter).to_have_text("8 / 4000")
    note.fill("x" * 5000)  # typed or pasted, the box takes no more than its limit
    expect(counter).to_have_text("4000 / 4000")
    expect(counter).to_have_class("counter near")
    assert len(note.input_value()) == 4000
