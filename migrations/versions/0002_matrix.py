"""The audit log is append-only in the database itself: UPDATE and DELETE on audit_event abort.

Triggers are not part of the models (autogenerate neither sees nor compares them), so they live only
here. Careful: a later batch migration that recreates audit_event on SQLite drops its triggers with the
old table; such a migration must create them again (`create_triggers()` below).

Revision ID: 0002_matrix
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002_matrix"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MESSAGE = "audit_event is append-only"

SQLITE_UP = [
    f"""CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
    f"""CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS audit_event_no_update",
    "DROP TRIGGER IF EXISTS audit_event_no_delete",
]

POSTGRESQL_UP = [
    f"""CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION '{MESSAGE}'; END $$""",
    """CREATE TRIGGER audit_event_no_update_delete BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()""",
    # TRUNCATE bypasses row triggers.
    """CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only()""",
]
POSTGRESQL_DOWN = [
    "DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event",
    "DROP TRIGGER IF EXISTS audit_event_no_update_delete ON audit_event",
    "DROP FUNCTION IF EXISTS audit_event_append_only()",
]


def _statements(up: bool) -> list[str]:
    dialect = op.get_context().dialect.name  # works offline (--sql) too
    if dialect == "sqlite":
        return SQLITE_UP if up else SQLITE_DOWN
    if dialect == "postgresql":
        return POSTGRESQL_UP if up else POSTGRESQL_DOWN
    raise NotImplementedError(f"append-only audit_event is not written for {dialect}")


def create_triggers() -> None:
    for statement in _statements(up=True):
        op.execute(statement)


def upgrade() -> None:
    create_triggers()


def downgrade() -> None:
    for statement in _statements(up=False):
        op.execute(statement)
