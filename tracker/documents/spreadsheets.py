"""Rows of an Excel sheet whose text stays text: a facility or a person named `=HYPERLINK(...)` is shown as that
name, never run as a formula, in every export."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

# What a spreadsheet reads as the start of a formula (tab and CR: some programs skip them and read on).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def keep_as_text(cell: Any) -> None:
    """A string that could be read as a formula is stored as a string, marked so that editing the cell in Excel
    does not turn it into one either (the cell's quotePrefix, Excel's leading apostrophe)."""
    if isinstance(cell.value, str) and cell.value.startswith(FORMULA_STARTS):
        cell.data_type = "s"
        cell.quotePrefix = True


# Control characters a workbook cannot hold (openpyxl refuses the whole file): a note typed with one on a phone
# must not break the bureau's export, so they become spaces.
UNWRITABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def writable(value: Any) -> Any:
    return UNWRITABLE.sub(" ", value) if isinstance(value, str) else value


def append_row(sheet: Any, values: Iterable[Any]) -> None:
    """`sheet.append(values)`, every text cell writable and kept as text."""
    sheet.append([writable(v) for v in values])
    for cell in sheet[sheet.max_row]:
        keep_as_text(cell)
