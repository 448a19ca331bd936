"""a client_ref is unique per submitter, not across everyone: the idempotency key is (inspector_id, client_ref)

Revision ID: 0016
Revises: 0022
"""

from alembic import op

revision = "0016"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inspections", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_inspections_client_ref"), type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_inspections_inspector_id_client_ref"), ["inspector_id", "client_ref"]
        )


def downgrade() -> None:
    # Fails if two people have used the same ref since: the older rule cannot hold those rows.
    with op.batch_alter_table("inspections", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_inspections_inspector_id_client_ref"), type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_inspections_client_ref"), ["client_ref"])
