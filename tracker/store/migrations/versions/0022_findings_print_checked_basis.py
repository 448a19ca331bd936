"""findings keep the printed basis only: each row's basis is rewritten from the current checklists for its item
and its facility's type, so no order printed again carries "待核", "未核实" or the elderly-care standard at a
funeral home

A row whose item is no longer in the checklists keeps its text with every doubtful part cut out. Data only: the
schema does not change, and the old texts are not restored on downgrade (they were never fit to print).

Revision ID: 0022
Revises: 0019
"""

import re

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0019"
branch_labels = None
depends_on = None

_DOUBT = ("待核", "未核实", "可能属", "估算", "est.")


def _printable(text: str) -> str:
    """`text` without any bracketed remark or ；-separated part that holds a doubt."""
    text = re.sub(r"（[^（）]*）", lambda m: "" if _doubtful(m.group(0)) else m.group(0), text)
    return "；".join(part for part in text.split("；") if part.strip() and not _doubtful(part))


def _doubtful(text: str) -> bool:
    return any(marker in text.lower() for marker in _DOUBT)


def upgrade() -> None:
    from tracker.checklists import load_catalog

    catalog = load_catalog()
    bind = op.get_bind()
    pairs = bind.execute(sa.text("SELECT DISTINCT item_code, facility_type, basis FROM findings")).all()
    for code, facility_type, old in pairs:
        if catalog.has(code):
            new = catalog.item(code).for_facility_type(facility_type).basis
        else:
            new = _printable(old or "")
        if new != old:
            bind.execute(
                sa.text(
                    "UPDATE findings SET basis = :new"
                    " WHERE item_code = :code AND facility_type = :facility_type AND basis = :old"
                ),
                {"new": new, "code": code, "facility_type": facility_type, "old": old},
            )


def downgrade() -> None:
    pass
