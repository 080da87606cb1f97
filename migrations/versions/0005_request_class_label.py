"""Results requests keep the class printed on the extract (existing rows: NULL, the class is unknown).

Revision ID: 0005_request_class_label
Revises: 0004_admin
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005_request_class_label"
down_revision: str | Sequence[str] | None = "0004_admin"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("results_request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("class_label", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("results_request", schema=None) as batch_op:
        batch_op.drop_column("class_label")
