"""Which Chinese typeface the order is set in, and a refusal to print without one."""

from __future__ import annotations

import pytest

from tracker.documents.printer import cjk_font


def test_the_first_chinese_typeface_installed_is_taken_whatever_its_case() -> None:
    assert cjk_font(["DejaVu Sans", "Source Han Sans SC", "WenQuanYi Micro Hei"]) == "WenQuanYi Micro Hei"
    assert cjk_font(["noto sans cjk sc", "DejaVu Sans"]) == "Noto Sans CJK SC"


def test_with_no_chinese_typeface_nothing_is_printed_and_the_error_says_what_to_install() -> None:
    with pytest.raises(RuntimeError, match="fonts-wqy-microhei"):
        cjk_font(["DejaVu Sans", "Libertinus Serif"])
