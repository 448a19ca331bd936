"""Rows of an Excel sheet whose text stays text: a facility or a person named `=HYPERLINK(...)` is shown as that
name, never run as a formula, in every export."""

from __future__ import annotations

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


def append_row(sheet: Any, values: Iterable[Any]) -> None:
    """`sheet.append(values)`, every text cell kept as text."""
    sheet.append(list(values))
    for cell in sheet[sheet.max_row]:
        keep_as_text(cell)
