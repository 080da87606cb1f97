"""The append-only audit log of views, exports and changes of a child's data."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import created_at_field, enum_field


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = created_at_field()
    actor_account_id: int | None = Field(default=None, foreign_key="account.id", index=True)
    # Set when the actor has no account yet (e.g. someone guessing invite codes).
    actor_telegram_id: int | None = Field(default=None, sa_type=sa.BigInteger)
    action: str = Field(max_length=48, index=True)
    student_id: int | None = Field(default=None, index=True)  # no FK: the log outlives destroyed records
    object_type: str | None = Field(default=None, max_length=32)
    object_id: str | None = Field(default=None, max_length=64)
    allowed: bool = True
    channel: str = enum_field()
    details: str | None = Field(default=None, max_length=1000)
