"""TRACKER_MAIL_FROM: the sender of every mail, shown by name (the bureau's) on the reader's phone."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from types import SimpleNamespace

import pytest

from tracker.config import ConfigError, load_settings
from tracker.mail.sender import build_message


def test_an_address_alone_comes_from_the_bureau_by_name(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TRACKER_MAIL_FROM", "anquan@mzj.example.cn")
    monkeypatch.setenv("TRACKER_BUREAU_NAME", "启东市民政局")
    assert load_settings().mail_sender == "启东市民政局 <anquan@mzj.example.cn>"


def test_a_name_given_with_the_address_is_kept(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TRACKER_MAIL_FROM", "启东市民政局安全科 <anquan@mzj.example.cn>")
    assert load_settings().mail_sender == "启东市民政局安全科 <anquan@mzj.example.cn>"


@pytest.mark.parametrize("value", ["启东市民政局", "a b@x.cn", "<>"])
def test_it_stops_at_start_on_what_is_not_an_address(monkeypatch: pytest.MonkeyPatch, value: str):
    monkeypatch.setenv("TRACKER_MAIL_FROM", value)
    with pytest.raises(ConfigError, match="TRACKER_MAIL_FROM"):
        load_settings()


def test_the_message_carries_the_name_and_a_message_id_of_the_senders_host():
    row = SimpleNamespace(
        id=5,
        to_addr="head@facility.example.cn",
        subject="【整改通知书】测试",
        created_at=datetime(2026, 12, 6, 14, 0, tzinfo=UTC),
        text_body="正文",
        html_body="<p>正文</p>",
    )
    message = build_message(row, "启东市民政局 <anquan@mzj.example.cn>")
    assert isinstance(message, EmailMessage)
    [sender] = message["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("启东市民政局", "anquan@mzj.example.cn")
    assert message["Message-ID"] == "<tracker-mail-5@mzj.example.cn>"
    assert b"=?utf-8?" in bytes(message) or "启东市民政局".encode() in bytes(message)
