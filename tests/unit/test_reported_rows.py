"""The answer to a reported inspection is made from the values written (tracker.service.reporting._as_written),
not read back: it can only match a read while every column the insert leaves out has a default known here."""

from __future__ import annotations

from tracker.service.reporting import _UNWRITTEN
from tracker.store.tables import findings


def test_every_default_of_a_finding_the_database_would_give_is_known_to_the_answer() -> None:
    for column in findings.c:
        if column.server_default is not None or column.default is not None:
            assert column.default is not None and column.default.is_scalar, column.name
            assert _UNWRITTEN[column.name] == column.default.arg, column.name
