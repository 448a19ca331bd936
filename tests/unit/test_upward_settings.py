"""TRACKER_UPWARD_EMAILS: the addresses a signed-off major hazard is filed to, read once at start."""

from __future__ import annotations

import pytest

from tracker.config import ConfigError, load_settings


def test_it_reads_a_comma_separated_list_each_address_once(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TRACKER_UPWARD_EMAILS", " aw@qidong.gov.cn, mzj@nantong.gov.cn,,aw@qidong.gov.cn ")
    assert load_settings().upward_recipients == ["aw@qidong.gov.cn", "mzj@nantong.gov.cn"]


def test_it_files_to_nobody_when_unset(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("TRACKER_UPWARD_EMAILS", raising=False)
    assert load_settings().upward_recipients == []


@pytest.mark.parametrize(
    "value", ["县安委办", "aw@qidong", "aw@qidong.gov.cn; mzj@nantong.gov.cn", "a b@x.cn"]
)
def test_it_stops_at_start_on_what_is_not_an_address(monkeypatch: pytest.MonkeyPatch, value: str):
    monkeypatch.setenv("TRACKER_UPWARD_EMAILS", value)
    with pytest.raises(ConfigError, match="TRACKER_UPWARD_EMAILS"):
        load_settings()
