"""How a person is named where people read it: their name (users.name), else their login."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Table, func


def shown_name(people: Table) -> ColumnElement[str]:
    """The name of a row of `users` (or an alias of it), falling back to the login when none was given."""
    return func.coalesce(func.nullif(people.c.name, ""), people.c.username)
