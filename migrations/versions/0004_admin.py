"""Web admin: one-time sign-in links and server-side sessions.

Revision ID: 0004_admin
Revises: 0003_consent
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004_admin"
down_revision: str | Sequence[str] | None = "0003_consent"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "admin_login_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_admin_login_token_account_id_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_login_token")),
    )
    with op.batch_alter_table("admin_login_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_admin_login_token_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_admin_login_token_token_hash"), ["token_hash"], unique=True)

    op.create_table(
        "admin_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_admin_session_account_id_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_session")),
    )
    with op.batch_alter_table("admin_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_admin_session_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_admin_session_session_hash"), ["session_hash"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("admin_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_admin_session_session_hash"))
        batch_op.drop_index(batch_op.f("ix_admin_session_account_id"))
    op.drop_table("admin_session")
    with op.batch_alter_table("admin_login_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_admin_login_token_token_hash"))
        batch_op.drop_index(batch_op.f("ix_admin_login_token_account_id"))
    op.drop_table("admin_login_token")
