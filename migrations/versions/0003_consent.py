"""Notifications name the student they are about: consent withdrawal cancels them, retention destroys them.

Revision ID: 0003_consent
Revises: 0002_matrix
Create Date: 2026-12-03 16:45:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_consent"
down_revision: str | Sequence[str] | None = "0002_matrix"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.add_column(sa.Column("student_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_notification_student_id"), ["student_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_notification_student_id_student"), "student", ["student_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_notification_student_id_student"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_notification_student_id"))
        batch_op.drop_column("student_id")
